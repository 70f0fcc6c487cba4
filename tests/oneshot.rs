//! `cognito-sms-operator reconcile -f`: the real binary, configured only through the AWS SDK's
//! standard environment variables, against the AWS emulator.

mod support;

#[path = "../src/admission/corpus.rs"]
mod corpus;

use std::io::Write as _;

use serde::Deserialize as _;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cognito_sms_operator::admission::MAX_INPUT_BYTES;
use cognito_sms_operator::crd::CognitoSmsConfig;
use support::*;

fn binary(emu: &Emulator) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cognito-sms-operator"));
    command.envs(emu.env()).env_remove("RUST_LOG");
    command
}

fn oneshot(emu: &Emulator, input: &(impl AsRef<[u8]> + ?Sized), extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input.yaml");
    std::fs::write(&file, input.as_ref()).unwrap();
    binary(emu)
        .args(["reconcile", "-f"])
        .arg(&file)
        .args(extra)
        .output()
        .expect("run the binary")
}

/// The resources of the output (which goes on with the file's accounts and namespaces).
fn parse_output(out: &Output) -> Vec<CognitoSmsConfig> {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| serde_json::Value::deserialize(doc).expect("stdout is YAML"))
        .filter(|doc| doc["kind"] == "CognitoSmsConfig")
        .map(|doc| serde_json::from_value(doc).expect("the resources are CognitoSmsConfigs"))
        .collect()
}

fn manifest(pool: &str) -> String {
    format!(
        "apiVersion: cognitosms.io/v1alpha1\nkind: CognitoSmsConfig\nmetadata:\n  name: app\n  namespace: identity\nspec:\n  userPoolId: {pool}\n"
    )
}

#[tokio::test]
async fn dry_run_prints_the_plan_and_writes_nothing() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    emu.clear_calls();

    let out = oneshot(&emu, &manifest(&pool), &["--dry-run"]);

    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("# identity/app: would make 3 change(s) in AWS\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("#   - create IAM role /service-role/cognito-sms-{pool}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("#   - set SmsConfiguration of user pool {pool}")),
        "{stdout}"
    );
    assert_eq!(emu.write_calls(), vec![], "a dry run writes nothing");
    let res = &parse_output(&out)[0];
    assert_eq!(condition(res, "Ready").1, "ChangesPending");
}

#[tokio::test]
async fn reconcile_applies_and_its_output_is_a_valid_next_input() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;

    let out = oneshot(&emu, &manifest(&pool), &[]);

    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let res = &parse_output(&out)[0];
    assert_eq!(condition(res, "Ready").0, "True", "{:?}", res.status);
    let status = res.status.as_ref().unwrap();
    assert_eq!(
        status.role_arn.as_deref(),
        Some(format!("arn:aws:iam::{ACCOUNT}:role/service-role/cognito-sms-{pool}").as_str())
    );

    // The printed resource, status included, reconciles again with no change and the same
    // external ID.
    emu.clear_calls();
    let again = oneshot(&emu, &String::from_utf8(out.stdout.clone()).unwrap(), &[]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("# identity/app: made 0 change(s) in AWS\n"));
    assert_eq!(emu.write_calls(), vec![]);
    assert_eq!(
        parse_output(&again)[0].status.as_ref().unwrap().external_id,
        status.external_id
    );
}

#[tokio::test]
async fn bad_input_exits_non_zero_with_the_reason() {
    let emu = Emulator::start();
    let cases = [
        (
            "spec:\n  userPoolId: ap-northeast-2_Abc\n  snsRegion: ap-northeast-2\n",
            "snsRegion ap-northeast-2 cannot be used by user pool ap-northeast-2_Abc",
        ),
        ("spec:\n  snsRegion: us-east-1\n", "missing field `userPoolId`"),
        (
            "spec:\n  userPoolId: us-east-1_Abc\n  deletionPolicy: Sometimes\n",
            "unknown variant `Sometimes`",
        ),
    ];
    for (spec, expected) in cases {
        let yaml =
            format!("apiVersion: cognitosms.io/v1alpha1\nkind: CognitoSmsConfig\nmetadata:\n  name: bad\n{spec}");
        let out = oneshot(&emu, &yaml, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{spec}: {stderr}");
        assert!(stderr.contains(expected), "{spec}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    assert_eq!(emu.calls(), vec![], "bad input never reaches AWS");
}

#[tokio::test]
async fn a_missing_pool_still_completes_with_a_clear_condition() {
    let emu = Emulator::start();

    let out = oneshot(&emu, &manifest("eu-west-1_Nope"), &[]);

    assert!(
        out.status.success(),
        "the reconcile completed; the conditions say what is wrong"
    );
    let res = &parse_output(&out)[0];
    let (status, reason, message) = condition(res, "UserPoolConfigured");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "UserPoolNotFound"));
    assert!(message.contains("create it or fix spec.userPoolId"), "{message}");
}

#[tokio::test]
async fn every_invalid_corpus_entry_exits_2_naming_the_field_before_any_aws_call() {
    let emu = Emulator::start();
    let entries = corpus::invalid();
    let start = Instant::now();
    for entry in &entries {
        let out = oneshot(&emu, &entry.input, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("{} ({})", entry.file, entry.rule);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains(&entry.expect),
            "{what}: expected {:?} in {stderr}",
            entry.expect
        );
        if let Some(path) = &entry.path {
            assert!(stderr.contains(path.as_str()), "{what}: expected {path} in {stderr}");
        }
        assert!(out.stdout.is_empty(), "{what}");
    }
    eprintln!(
        "{} corpus entries refused by the binary in {:?}",
        entries.len(),
        start.elapsed()
    );
    assert_eq!(emu.calls(), vec![], "no corpus entry reaches AWS");
}

#[tokio::test]
async fn every_valid_corpus_entry_is_reconciled_with_its_note() {
    let emu = Emulator::start();
    for entry in corpus::valid() {
        let out = oneshot(&emu, &entry.input, &["--dry-run"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("{} ({})", entry.file, entry.rule);
        assert!(out.status.success(), "{what}: {stderr}");
        assert!(
            stderr.contains(&entry.expect),
            "{what}: expected {:?} in {stderr}",
            entry.expect
        );
        assert_eq!(parse_output(&out).len(), 1, "{what}");
    }
}

#[tokio::test]
async fn input_past_the_size_limit_is_refused_without_reading_it_all() {
    let emu = Emulator::start();
    let over = vec![b'#'; MAX_INPUT_BYTES + 1];
    let out = oneshot(&emu, &over, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("input is larger than 1048576 bytes"));

    // An endless stdin: the binary reads one byte past the limit, refuses, and exits.
    let start = Instant::now();
    let mut child = binary(&emu)
        .args(["reconcile", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'#'; 1 << 16];
        let mut written = 0usize;
        while written < 256 << 20 && stdin.write_all(&chunk).is_ok() {
            written += chunk.len();
        }
        written
    });
    let out = child.wait_with_output().unwrap();
    let written = writer.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("input is larger than 1048576 bytes"));
    assert!(
        written < 8 << 20,
        "the binary stopped reading: {written} bytes were taken"
    );
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    assert_eq!(emu.calls(), vec![]);
}

#[tokio::test]
async fn the_examples_pass_as_one_file() {
    let emu = Emulator::start();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let all: Vec<String> = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();

    let out = oneshot(&emu, &all.join("\n---\n"), &["--dry-run"]);

    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let names: Vec<_> = parse_output(&out)
        .into_iter()
        .map(|r| r.metadata.name.unwrap())
        .collect();
    assert_eq!(names, ["checkout", "partner-portal", "storefront", "sign-in"]);
    assert_eq!(emu.write_calls(), vec![], "a dry run writes nothing");
}

/// An AWS endpoint that accepts connections and never answers: the one-shot run ends within its
/// call timeouts with a condition saying so, instead of hanging.
#[tokio::test(flavor = "multi_thread")]
async fn a_never_answering_endpoint_ends_with_a_timed_out_condition() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let proxy = support::proxy::FaultProxy::start(&emu.endpoint).await;
    proxy.set(support::proxy::Fault::Hang, None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input.yaml");
    std::fs::write(&file, manifest(&pool)).unwrap();
    let args = [
        "--aws-attempt-timeout",
        "300ms",
        "--aws-call-timeout",
        "1s",
        "--reconcile-timeout",
        "5s",
    ];
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        binary(&emu)
            .args(["reconcile", "-f"])
            .arg(&file)
            .args(args)
            .env("AWS_ENDPOINT_URL", &proxy.endpoint)
            .output()
            .expect("run the binary")
    })
    .await
    .unwrap();
    let took = started.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        took < std::time::Duration::from_secs(8),
        "bounded by the deadline, took {took:?}"
    );
    let res = &parse_output(&out)[0];
    let (status, reason, message) = condition(res, "Ready");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "AwsTimedOut"),
        "{message}"
    );
    println!("never-answering endpoint, one-shot: exit after {took:?}");
}

#[tokio::test]
async fn a_file_with_accounts_acts_in_each_namespace_s_account() {
    let emu = Emulator::start();
    let payments = emu.account("222222222222").await;
    let payments_role = payments.operator_role(&emu, "cognito-sms-operator", Some("payments-ext-7"));
    let batch = emu.account("333333333333").await;
    let batch_role = batch.operator_role(&emu, "cognito-sms-operator", None);
    let payments_pool = payments.create_pool("eu-west-1", "payments").await;
    let batch_pool = batch.create_pool("eu-west-1", "batch").await;
    let stray_pool = create_pool(&emu, "eu-west-1", "stray").await;
    let input = format!(
        r#"
apiVersion: cognitosms.io/v1alpha1
kind: CognitoSmsConfig
metadata: {{name: app, namespace: payments}}
spec: {{userPoolId: {payments_pool}}}
---
apiVersion: cognitosms.io/v1alpha1
kind: CognitoSmsConfig
metadata: {{name: app, namespace: batch}}
spec: {{userPoolId: {batch_pool}}}
---
apiVersion: cognitosms.io/v1alpha1
kind: CognitoSmsConfig
metadata: {{name: app, namespace: stray}}
spec: {{userPoolId: {stray_pool}}}
---
apiVersion: cognitosms.io/v1alpha1
kind: CognitoSmsAccount
metadata: {{name: payments-prod}}
spec:
  roleArn: {payments_role}
  externalIdSecretRef: {{name: external-ids, key: payments}}
  namespaces: [payments]
---
apiVersion: cognitosms.io/v1alpha1
kind: CognitoSmsAccount
metadata: {{name: batch-prod}}
spec:
  roleArn: {batch_role}
  namespaceSelector: {{matchLabels: {{aws-account: batch-prod}}}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: batch, labels: {{aws-account: batch-prod}}}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: payments}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: stray}}
---
apiVersion: v1
kind: Secret
metadata: {{name: external-ids, namespace: cognito-sms-operator}}
stringData: {{payments: payments-ext-7}}
"#
    );
    emu.clear_calls();
    let flags = [
        "--allow-operator-identity=false",
        "--operator-namespace=cognito-sms-operator",
    ];

    let out = oneshot(&emu, &input, &flags);

    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("payments-ext-7"), "the external ID is never printed");
    let resources = parse_output(&out);
    let by_namespace = |ns: &str| {
        resources
            .iter()
            .find(|r| r.metadata.namespace.as_deref() == Some(ns))
            .unwrap_or_else(|| panic!("{ns} in {stdout}"))
    };
    for (ns, account, pool) in [("payments", &payments, &payments_pool), ("batch", &batch, &batch_pool)] {
        let res = by_namespace(ns);
        assert_eq!(condition(res, "Ready").0, "True", "{ns}: {:?}", res.status);
        assert_eq!(condition(res, "AccountSelected").1, "AccountMapped");
        assert_eq!(
            account.sns_caller_arn("eu-west-1", pool).await,
            Some(format!(
                "arn:aws:iam::{}:role/service-role/cognito-sms-{pool}",
                account.id
            )),
            "{ns}'s pool sends with a role made in its own account"
        );
    }
    let stray = by_namespace("stray");
    assert_eq!(condition(stray, "Ready").1, "NoAccount");
    assert_eq!(
        emu.sms_configuration("eu-west-1", &stray_pool).await,
        None,
        "an unmapped namespace changes nothing in the run's own account"
    );
    assert!(
        stdout
            .contains("# CognitoSmsAccount payments-prod: 1 resource(s) act through it\n#   Ready=True (RoleAssumed)"),
        "{stdout}"
    );
    let assumed = emu
        .calls()
        .iter()
        .filter(|(s, a)| s == "sts" && a == "AssumeRole")
        .count();
    assert_eq!(assumed, 2, "one STS call per account: {:?}", emu.calls());

    // The output, accounts and namespaces included, acts in the same accounts again; the
    // external ID comes back from the Secret, which is not printed.
    emu.clear_calls();
    let again_input = format!(
        "{stdout}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: external-ids, namespace: cognito-sms-operator}}\nstringData: {{payments: payments-ext-7}}\n"
    );
    let again = oneshot(&emu, &again_input, &flags);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let again_out = String::from_utf8_lossy(&again.stdout);
    assert!(
        again_out.contains("# payments/app: made 0 change(s) in AWS\n"),
        "{again_out}"
    );
    assert!(
        again_out.contains("# batch/app: made 0 change(s) in AWS\n"),
        "{again_out}"
    );
    let writes: Vec<_> = emu.write_calls().into_iter().filter(|(s, _)| s != "sts").collect();
    assert_eq!(writes, vec![], "nothing written; only the two roles assumed again");
}

#[tokio::test]
async fn a_file_whose_accounts_cannot_be_told_apart_is_refused_before_any_aws_call() {
    let emu = Emulator::start();
    let resource = "apiVersion: cognitosms.io/v1alpha1\nkind: CognitoSmsConfig\nmetadata: {name: app, namespace: payments}\nspec: {userPoolId: eu-west-1_Abc}\n";
    let account = |name: &str, selection: &str| {
        format!(
            "---\napiVersion: cognitosms.io/v1alpha1\nkind: CognitoSmsAccount\nmetadata: {{name: {name}}}\nspec:\n  roleArn: arn:aws:iam::222222222222:role/ops\n  {selection}\n"
        )
    };
    let cases = [
        (
            format!(
                "{resource}{}{}",
                account("a", "namespaces: [payments]"),
                account("b", "namespaces: [payments, other]")
            ),
            "document 3: CognitoSmsAccount b: namespace payments already listed by CognitoSmsAccount a",
        ),
        (
            format!(
                "{resource}{}",
                account("a", "namespaceSelector: {matchLabels: {team: pay}}")
            ),
            "CognitoSmsAccount a selects namespaces by their labels, and the input has no Namespace payments",
        ),
    ];
    for (input, expected) in cases {
        emu.clear_calls();
        let out = oneshot(&emu, &input, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(emu.calls().is_empty());
    }
}
