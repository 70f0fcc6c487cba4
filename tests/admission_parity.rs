//! The one-shot validator of `reconcile -f` against the real API server: every document of the
//! input corpus (`tests/corpus/invalid/`, `tests/corpus/valid/`) and every example (`examples/`)
//! goes to both. Both
//! must give the same verdict (both refuse it, or both accept it), and for each refused document
//! both must name the same field paths. Where they differ, the API server is right.
//!
//! The API server's side: each document of the file goes to the API server as it is written (as
//! YAML), to be created as a server-side dry run with strict field validation, kubectl's default.
//! (kubectl itself converts YAML to JSON before it sends it, and so hides some of what the API
//! server would refuse, such as a key given twice.)

mod support;

#[path = "../src/admission/corpus.rs"]
#[allow(dead_code)] // the rule, path and message the corpus expects are the validator's own tests'
mod corpus;

use std::collections::BTreeSet;

use cognito_sms_operator::admission::{self, DocumentError, Refusal};
use kube::core::GroupVersionKind;
use kube::discovery::{Discovery, Scope};
use serde_json::Value;
use support::control_plane::{ControlPlane, client};

/// One side's answer for a file.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Accepted,
    /// Refused, with the field paths named (none for input that is not even read).
    Refused(BTreeSet<String>),
}

/// What the one-shot validator says of `input`.
fn oneshot(input: &[u8]) -> Verdict {
    match admission::review(input) {
        Ok(_) => Verdict::Accepted,
        Err(refusal @ Refusal::Input(_)) => {
            assert!(refusal.paths().is_empty());
            Verdict::Refused(BTreeSet::new())
        }
        Err(Refusal::Documents(errors)) => {
            Verdict::Refused(errors.iter().flat_map(DocumentError::paths).map(String::from).collect())
        }
    }
}

/// What the API server says of `input`: each YAML document of it, as written, created as a
/// server-side dry run with strict field validation (kubectl's default); the file is refused
/// when any document is.
async fn api_server(client: &kube::Client, discovery: &Discovery, input: &[u8]) -> (Verdict, String) {
    let mut paths = BTreeSet::new();
    let mut messages = vec![];
    for document in documents(input) {
        if let Some(status) = create_dry_run(client, discovery, &document).await {
            messages.push(status["message"].as_str().unwrap_or_default().to_string());
            paths.extend(field_paths(&status));
        }
    }
    if messages.is_empty() {
        (Verdict::Accepted, String::new())
    } else {
        (Verdict::Refused(paths), messages.join(" | "))
    }
}

/// The documents of a multi-document YAML file, as written, leaving out those with nothing but
/// comments and blank lines (as kubectl does).
fn documents(input: &[u8]) -> Vec<Vec<u8>> {
    let mut documents = vec![vec![]];
    for line in input.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b"---") {
            documents.push(vec![]);
        } else {
            documents.last_mut().unwrap().extend_from_slice(line);
        }
    }
    documents
        .into_iter()
        .filter(|d| {
            String::from_utf8_lossy(d)
                .lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

/// Send `document` to where its apiVersion, kind and namespace say, as a server-side dry run
/// with strict field validation; the API server's `Status` when it refuses. A document the test
/// cannot read its kind from goes to the CognitoSmsConfig collection, for the API server to say
/// what is wrong with it.
async fn create_dry_run(client: &kube::Client, discovery: &Discovery, document: &[u8]) -> Option<Value> {
    let parsed = routing_fields(document);
    let text = |pointer: &str| parsed.pointer(pointer).and_then(Value::as_str).map(String::from);
    let namespace = text("/metadata/namespace").unwrap_or_else(|| "default".into());
    let (api_version, kind) = (text("/apiVersion"), text("/kind"));
    let collection = match (api_version.as_deref(), kind.as_deref()) {
        (Some(api_version), Some(kind)) => {
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let Some((resource, capabilities)) = discovery.resolve_gvk(&GroupVersionKind::gvk(group, version, kind))
            else {
                // As kubectl says: the API server serves no such kind.
                return Some(
                    serde_json::json!({"message": format!("no matches for kind {kind} in version {api_version}")}),
                );
            };
            let prefix = if group.is_empty() {
                "/api".to_string()
            } else {
                format!("/apis/{group}")
            };
            match capabilities.scope {
                Scope::Namespaced => format!("{prefix}/{version}/namespaces/{namespace}/{}", resource.plural),
                Scope::Cluster => format!("{prefix}/{version}/{}", resource.plural),
            }
        }
        _ => format!("/apis/cognitosms.io/v1alpha1/namespaces/{namespace}/cognitosmsconfigs"),
    };
    let request = http::Request::post(format!("{collection}?dryRun=All&fieldValidation=Strict"))
        .header("Content-Type", "application/yaml")
        .body(document.to_vec())
        .unwrap();
    match client.request::<Value>(request).await {
        Ok(_) => None,
        Err(kube::Error::Api(status)) => Some(serde_json::to_value(status).unwrap()),
        Err(other) => panic!("the API server did not answer: {other}"),
    }
}

/// The document as JSON, for its apiVersion, kind and namespace, with any YAML tags dropped (the
/// API server reads a tagged scalar as the scalar); null when it is not YAML.
fn routing_fields(document: &[u8]) -> Value {
    fn untagged(value: serde_norway::Value) -> serde_norway::Value {
        match value {
            serde_norway::Value::Tagged(tagged) => untagged(tagged.value),
            serde_norway::Value::Mapping(map) => {
                serde_norway::Value::Mapping(map.into_iter().map(|(k, v)| (untagged(k), untagged(v))).collect())
            }
            serde_norway::Value::Sequence(items) => {
                serde_norway::Value::Sequence(items.into_iter().map(untagged).collect())
            }
            other => other,
        }
    }
    serde_norway::from_slice::<serde_norway::Value>(document)
        .ok()
        .and_then(|v| serde_json::to_value(untagged(v)).ok())
        .unwrap_or(Value::Null)
}

/// The field paths a refusal names: its causes' fields (a cause about the object as a whole,
/// which the API server writes `<nil>`, as the empty path); the fields strict decoding found
/// unknown, which it names in its message (`unknown field "spec.extra"`); or, when the object's
/// namespace does not exist, `metadata.namespace`. A document the API server cannot decode
/// otherwise (400, no causes) names none.
fn field_paths(status: &Value) -> Vec<String> {
    if status["code"] == 404 && status["details"]["kind"] == "namespaces" {
        return vec!["metadata.namespace".into()];
    }
    let mut paths: Vec<String> = status["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["field"].as_str())
        .map(|f| if f == "<nil>" { String::new() } else { f.to_string() })
        .collect();
    let message = status["message"].as_str().unwrap_or_default();
    if let Some((_, strict)) = message.split_once("strict decoding error: ") {
        for part in strict.split(", ") {
            if let Some(field) = part.strip_prefix("unknown field \"") {
                paths.push(field.trim_end_matches('"').to_string());
            }
        }
    }
    paths
}

#[tokio::test]
async fn the_oneshot_validator_refuses_exactly_what_the_api_server_refuses() {
    let plane = ControlPlane::get();
    let client = client(&plane.kubeconfig).await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    // The namespace the corpus and the examples name.
    let _ = plane.kubectl_output(&["create", "namespace", "identity"]);

    let mut differences = vec![];
    let (mut refused, mut accepted, mut same_paths, mut undecodable) = (0, 0, 0, 0);
    let mut inputs: Vec<(String, Vec<u8>, bool)> = corpus::invalid()
        .into_iter()
        .map(|e| (format!("invalid/{}", e.file), e.input, false))
        .collect();
    inputs.extend(
        corpus::valid()
            .into_iter()
            .map(|e| (format!("valid/{}", e.file), e.input, true)),
    );
    let examples = support::control_plane::repo().join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let name = format!("examples/{}", file.file_name().unwrap().to_string_lossy());
        inputs.push((name, std::fs::read(&file).unwrap(), true));
    }
    for (name, input, valid) in &inputs {
        let ours = oneshot(input);
        let (theirs, why) = api_server(&client, &discovery, input).await;
        println!("{name}: reconcile -f {ours:?}; API server {theirs:?} {why}");
        match (&ours, &theirs) {
            (Verdict::Accepted, Verdict::Accepted) => accepted += 1,
            (Verdict::Refused(a), Verdict::Refused(b)) => {
                refused += 1;
                if a == b {
                    same_paths += 1;
                } else if b.is_empty() {
                    // The API server could not decode the document, and says why in prose only.
                    undecodable += 1;
                } else {
                    differences.push(format!(
                        "{name}: paths differ: reconcile -f {a:?}, API server {b:?} ({why})"
                    ));
                }
            }
            _ => differences.push(format!("{name}: reconcile -f {ours:?}, API server {theirs:?} ({why})")),
        }
        if *valid {
            assert_eq!(theirs, Verdict::Accepted, "{name}: {why}");
        }
    }
    println!(
        "{} inputs: {refused} refused by both ({same_paths} naming the same field paths, {undecodable} that the \
         API server could not decode and names no field for), {accepted} accepted by both, {} differences",
        inputs.len(),
        differences.len()
    );
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
