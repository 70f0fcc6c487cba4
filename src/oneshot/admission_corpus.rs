//! Every rule refused, one input each (the corpus), what the cluster accepts admitted, and the
//! YAML hazards refused in bounded time.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::admission::*;
use crate::oneshot::{self, InputError};

fn refusal(input: &[u8]) -> Refusal {
    match oneshot::parse(input) {
        Err(InputError::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn every_corpus_entry_is_refused_with_its_field_path() {
    let entries = corpus::invalid();
    assert!(entries.len() >= 50, "{} entries", entries.len());
    for entry in entries {
        let error = oneshot::parse(&entry.input).expect_err(&entry.file);
        let message = error.to_string();
        assert!(
            message.contains(&entry.expect),
            "{} ({}): expected {:?} in:\n{message}",
            entry.file,
            entry.rule,
            entry.expect
        );
        if let Some(path) = &entry.path {
            let InputError::Refused(refusal) = &error else {
                panic!("{}: {error:?}", entry.file)
            };
            assert!(
                refusal.paths().contains(&path.as_str()),
                "{} ({}): no violation at {path} in {:?}",
                entry.file,
                entry.rule,
                refusal.paths()
            );
        }
    }
}

#[test]
fn every_valid_corpus_entry_is_admitted_with_its_note() {
    let entries = corpus::valid();
    assert!(!entries.is_empty());
    for entry in entries {
        let input = oneshot::parse(&entry.input).unwrap_or_else(|e| panic!("{}: {e}", entry.file));
        if entry.expect.is_empty() {
            assert_eq!(input.notes, Vec::<String>::new(), "{}", entry.file);
            continue;
        }
        assert!(
            input.notes.iter().any(|n| n.contains(&entry.expect)),
            "{} ({}): expected {:?} in {:?}",
            entry.file,
            entry.rule,
            entry.expect,
            input.notes
        );
    }
}

#[test]
fn a_tagged_value_is_read_as_the_value() {
    let input = oneshot::parse(
        b"apiVersion: cognitosms.io/v1alpha1
kind: CognitoSmsConfig
metadata: {name: app}
spec: {userPoolId: !pool eu-west-1_Abc, destinationCountries: !list [US]}
",
    )
    .unwrap();
    let spec = &input.resources[0].spec;
    assert_eq!(spec.user_pool_id, "eu-west-1_Abc");
    assert_eq!(spec.destination_countries, ["US"]);
}

#[test]
fn the_examples_are_admitted() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut all = vec![];
    for file in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()) {
        let text = std::fs::read(&file).unwrap();
        let reviewed = review(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(reviewed.documents.len(), 1, "{}", file.display());
        assert_eq!(reviewed.notes, Vec::<String>::new(), "{}", file.display());
        all.extend(text);
        all.extend(b"\n---\n");
    }
    let input = oneshot::parse(&all).unwrap();
    assert_eq!((input.resources.len(), input.secrets.len()), (4, 1));
}

#[test]
fn what_the_cluster_accepts_is_admitted_as_it_would_store_it() {
    let admitted = review(
        br#"
apiVersion: cognitosms.io/v1alpha1
kind: CognitoSmsConfig
metadata:
  name: app.v2
  labels: {app.kubernetes.io/name: storefront, empty: "", 1: one}
  annotations: {Example.com/Note: "any text at all"}
  finalizers: [cognitosms.io/cleanup]
spec:
  userPoolId: &pool eu-west-1_Abc
  externalId: null
  deletionPolicy: null
  role: null
  destinationCountries: null
  sandboxPhoneNumbers:
  - {phoneNumber: "+14255550100", languageCode: null, verificationCodeRef: &ref {name: codes, key: qa.phone}}
  - {phoneNumber: "+14255550101", verificationCodeRef: *ref}
---
---
apiVersion: v1
kind: Secret
metadata: {name: codes}
data: {qa.phone: MTIzNDU2}
stringData: {other_key: "654321"}
"#,
    )
    .unwrap()
    .documents;
    assert_eq!(admitted.len(), 2);
    assert_eq!((admitted[0].index, admitted[1].index), (1, 3));
    let spec = &admitted[0].object["spec"];
    assert_eq!(spec["deletionPolicy"], json!("Retain"), "a null takes the default");
    assert_eq!(spec["role"], json!({}));
    assert_eq!(spec["externalId"], json!(null), "nullable: the null stays");
    assert!(spec.get("destinationCountries").is_none(), "no default: the null goes");
    assert_eq!(admitted[0].object["metadata"]["labels"]["1"], json!("one"));
}

#[test]
fn every_problem_of_every_document_is_listed() {
    let refusal = refusal(
        b"apiVersion: cognitosms.io/v1alpha1
kind: CognitoSmsConfig
metadata: {name: Bad}
spec: {userPoolId: nope, snsRegion: US, extra: 1}
---
apiVersion: cognitosms.io/v1alpha1
kind: CognitoSmsConfig
metadata: {name: fine}
spec: {userPoolId: eu-west-1_Abc}
---
apiVersion: v1
kind: Secret
metadata: {name: codes}
data: {a: '!'}
",
    );
    assert_eq!(
        refusal.paths(),
        [
            "spec.snsRegion",
            "spec.userPoolId",
            "spec.extra",
            "metadata.name",
            "spec.snsRegion",
            "data.a"
        ],
        "the pattern and the CEL rule both fail for snsRegion, as in the cluster"
    );
    let message = refusal.to_string();
    assert!(
        message.starts_with("document 1: CognitoSmsConfig Bad: 5 problems:\n  - spec.snsRegion: "),
        "{message}"
    );
    assert!(
        message.contains("\ndocument 3: Secret codes: data.a: \"!\" is not valid base64"),
        "{message}"
    );
    assert!(!message.contains("document 2"), "{message}");
}

#[test]
fn cel_rules_wait_for_the_schema_as_in_the_cluster() {
    let message = refusal(
        b"apiVersion: cognitosms.io/v1alpha1
kind: CognitoSmsConfig
metadata: {name: a}
spec: {userPoolId: 42, destinationCountries: [us]}
",
    )
    .to_string();
    assert!(
        message.contains("spec.userPoolId: 42 is not of type string"),
        "{message}"
    );
    assert!(message.contains("some validation rules were not checked"), "{message}");
    assert!(!message.contains("ISO 3166-1"), "{message}");
}

/// Inputs that would take unbounded time or memory if read naively.
fn hazards() -> Vec<(String, Vec<u8>)> {
    let at_limit = |unit: &str| unit.repeat(MAX_INPUT_BYTES / unit.len()).into_bytes();
    let mut cases: Vec<(String, Vec<u8>)> = corpus::invalid()
        .into_iter()
        .filter(|e| e.file.contains("-yaml-"))
        .map(|e| (e.file, e.input))
        .collect();
    cases.extend([
        ("over the size limit".into(), vec![b'#'; MAX_INPUT_BYTES + 1]),
        ("1 MiB of flow sequences".into(), at_limit("[")),
        ("1 MiB of flow mappings".into(), at_limit("{a: ")),
        ("1 MiB of block sequences".into(), at_limit("- ")),
        ("1 MiB of duplicate keys".into(), at_limit("a: 1\n")),
    ]);
    let row = vec!["x"; 10_000].join(",");
    let aliases = vec!["*r"; 50_000].join(",");
    cases.push((
        "10k items aliased 50k times".into(),
        format!("a: &r [{row}]\nb: [{aliases}]\n").into_bytes(),
    ));
    cases
}

#[test]
fn yaml_hazards_are_refused_quickly() {
    for (name, input) in hazards() {
        let start = Instant::now();
        let outcome = review(&input);
        let elapsed = start.elapsed();
        assert!(outcome.is_err(), "{name} is refused");
        assert!(elapsed < Duration::from_secs(2), "{name}: {elapsed:?}");
    }
}

#[test]
fn the_size_limit_is_inclusive() {
    let padding = MAX_INPUT_BYTES - 80;
    let mut input = format!("{}\n", "#".repeat(padding)).into_bytes();
    input.extend(b"apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n");
    input.resize(MAX_INPUT_BYTES, b'\n');
    assert!(review(&input).is_ok());
    input.push(b'\n');
    assert!(matches!(
        review(&input),
        Err(Refusal::Input(InputProblem::TooLarge { .. }))
    ));
}

#[test]
fn documents_of_other_kinds_are_left_unread_with_a_note() {
    let reviewed = review(
        b"apiVersion: cognitosms.io/v1alpha1
kind: CognitoSmsConfig
metadata: {name: app}
spec: {userPoolId: eu-west-1_Abc}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: anything, labels: {bad key: x}}
",
    )
    .unwrap();
    assert_eq!(reviewed.documents.len(), 1);
    assert_eq!(
        reviewed.notes,
        [
            "document 2: apps/v1/Deployment left unread and unchecked: reconcile -f reads CognitoSmsConfig, CognitoSmsAccount, Secret and Namespace documents only"
        ]
    );
    // Another kind of this operator's group is one the API server does not serve.
    let refusal = refusal(
        b"apiVersion: cognitosms.io/v1alpha1
kind: CognitoSmsPolicy
metadata: {name: app}
",
    );
    assert!(refusal.to_string().contains("unsupported kind"), "{refusal}");
}

#[test]
fn a_status_the_operator_could_not_have_written_is_ignored_with_a_note() {
    let resource = |status: &str| {
        format!(
            "apiVersion: cognitosms.io/v1alpha1
kind: CognitoSmsConfig
metadata: {{name: app}}
spec: {{userPoolId: eu-west-1_Abc}}
status: {status}
"
        )
    };
    let kept = review(resource("{externalId: kept-id}").as_bytes()).unwrap();
    assert_eq!(kept.documents[0].object["status"]["externalId"], json!("kept-id"));
    assert!(kept.notes.is_empty());

    let ignored = review(resource("{deliveryPath: Carrier pigeon, externalId: kept-id}").as_bytes()).unwrap();
    assert!(ignored.documents[0].object.get("status").is_none());
    assert_eq!(ignored.notes.len(), 1);
    assert!(
        ignored.notes[0]
            .starts_with("document 1: status ignored, as the API server ignores it on creation: status.deliveryPath"),
        "{}",
        ignored.notes[0]
    );
}
