//! `cognito-sms-operator reconcile -f`: the real binary, configured only through the AWS SDK's
//! standard environment variables, against the AWS emulator.

mod support;

use std::process::{Command, Output};

use cognito_sms_operator::crd::CognitoSmsConfig;
use support::*;

fn oneshot(emu: &Emulator, yaml: &str, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input.yaml");
    std::fs::write(&file, yaml).unwrap();
    Command::new(env!("CARGO_BIN_EXE_cognito-sms-operator"))
        .args(["reconcile", "-f"])
        .arg(&file)
        .args(extra)
        .envs(emu.env())
        .env_remove("RUST_LOG")
        .output()
        .expect("run the binary")
}

fn parse_output(out: &Output) -> Vec<CognitoSmsConfig> {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("stdout is the resources as YAML"))
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
