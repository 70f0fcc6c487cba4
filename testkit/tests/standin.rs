//! The Kubernetes API stand-in follows the API server's semantics for everything the operator and
//! kubectl touch. Driven through kube's own client, with the operator's real CRD from `crds/`.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::PartialObjectMeta;
use serde_json::{Value, json};

mod common;
use common::*;

#[tokio::test]
async fn invalid_resources_are_rejected_with_422_and_the_schemas_message() {
    let (_s, client) = standin().await;
    let api = csms_api(client, "apps");
    let pp = PostParams::default();
    let cases = [
        (json!({"userPoolId": "nope"}), "should match"),
        (
            json!({"userPoolId": "ap-northeast-2_Abc", "snsRegion": "ap-northeast-2"}),
            "snsRegion ap-northeast-2 cannot be used by user pool ap-northeast-2_Abc",
        ),
        (
            json!({"userPoolId": "eu-west-1_Abc", "deletionPolicy": "Sometimes"}),
            "Unsupported value",
        ),
        (
            json!({"userPoolId": "eu-west-1_Abc", "role": {"managed": {}, "existing": {"roleArn": "arn:aws:iam::123456789012:role/x"}}}),
            "set either role.managed or role.existing",
        ),
    ];
    for (spec, expected) in cases {
        // Sent as raw JSON: a typed client would refuse some of these itself.
        let obj = csms("bad", spec.clone());
        let err = api_error(api.create(&pp, &obj).await.unwrap_err());
        assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"), "{spec}");
        assert!(err.message.contains(expected), "{spec}: {}", err.message);
    }
    let too_many: Vec<_> = (0..11)
        .map(|i| json!({"phoneNumber": format!("+1425555010{i}"), "verificationCodeRef": {"name": "c", "key": format!("k{i}")}}))
        .collect();
    let err = api_error(
        api.create(
            &pp,
            &csms(
                "many",
                json!({"userPoolId": "eu-west-1_Abc", "sandboxPhoneNumbers": too_many}),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(err.message.contains("must have at most 10 items"), "{}", err.message);
}

#[tokio::test]
async fn defaults_are_applied_and_unknown_fields_pruned() {
    let (s, client) = standin().await;
    drop(client);
    let obj = csms("a", json!({"userPoolId": "eu-west-1_Abc"}));
    let mut body = serde_json::to_value(&obj).unwrap();
    body["spec"]["bogus"] = json!(1);
    let url = format!(
        "{}/apis/cognitosms.io/v1alpha1/namespaces/apps/cognitosmsconfigs",
        s.url()
    );
    let created: Value = tokio::task::spawn_blocking(move || {
        ureq::post(&url)
            .send_json(&body)
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(created["spec"]["deletionPolicy"], "Retain", "default applied");
    assert!(created["spec"].get("bogus").is_none(), "unknown field pruned");
    assert_eq!(created["metadata"]["generation"], 1);
    assert!(created["metadata"]["uid"].is_string() && created["metadata"]["creationTimestamp"].is_string());
    assert_eq!(
        s.object("cognitosms.io/cognitosmsconfigs", "apps", "a").unwrap()["spec"]["deletionPolicy"],
        "Retain"
    );
}

#[tokio::test]
async fn stale_updates_conflict_and_generation_follows_the_spec_only() {
    let (_s, client) = standin().await;
    let api = csms_api(client, "apps");
    let created = api
        .create(
            &PostParams::default(),
            &csms("a", json!({"userPoolId": "eu-west-1_Abc"})),
        )
        .await
        .unwrap();
    let rv1 = created.metadata.resource_version.clone().unwrap();

    let mut labelled = created.clone();
    labelled.metadata.labels = Some([("team".to_string(), "id".to_string())].into());
    let labelled = api.replace("a", &PostParams::default(), &labelled).await.unwrap();
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "metadata changes do not bump generation"
    );
    assert_ne!(labelled.metadata.resource_version.as_deref(), Some(rv1.as_str()));

    let mut stale = created.clone();
    stale.data["spec"]["snsRegion"] = json!("eu-west-1");
    let err = api_error(api.replace("a", &PostParams::default(), &stale).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));

    let mut fresh = labelled.clone();
    fresh.data["spec"]["snsRegion"] = json!("eu-west-1");
    let updated = api.replace("a", &PostParams::default(), &fresh).await.unwrap();
    assert_eq!(updated.metadata.generation, Some(2), "spec changes do");

    let status = json!({"status": {"snsRegion": "eu-west-1", "observedGeneration": 2}});
    let after = api
        .patch_status("a", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(after.metadata.generation, Some(2), "status writes do not");
}

#[tokio::test]
async fn the_status_subresource_separates_spec_and_status() {
    let (_s, client) = standin().await;
    let api = csms_api(client, "apps");
    let mut obj = csms("a", json!({"userPoolId": "eu-west-1_Abc"}));
    obj.data["status"] = json!({"snsRegion": "ignored-on-create"});
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert!(created.data["status"].is_null(), "status is ignored on create");

    let both = json!({"spec": {"snsRegion": "eu-west-1"}, "status": {"snsRegion": "eu-west-1"}});
    let main = api
        .patch("a", &PatchParams::default(), &Patch::Merge(&both))
        .await
        .unwrap();
    assert_eq!(main.data["spec"]["snsRegion"].as_str(), Some("eu-west-1"));
    assert!(main.data["status"].is_null(), "writes to the resource ignore status");

    let both = json!({"spec": {"snsRegion": "us-east-1"}, "status": {"snsRegion": "eu-west-1"}});
    let status = api
        .patch_status("a", &PatchParams::default(), &Patch::Merge(&both))
        .await
        .unwrap();
    assert_eq!(
        status.data["spec"]["snsRegion"].as_str(),
        Some("eu-west-1"),
        "writes to /status ignore the rest"
    );
    assert_eq!(status.data["status"]["snsRegion"].as_str(), Some("eu-west-1"));

    // Server-side apply of the whole status by its one manager replaces it.
    let applied = json!({"apiVersion": "cognitosms.io/v1alpha1", "kind": "CognitoSmsConfig", "status": {"accountId": "123456789012"}});
    let after = api
        .patch_status("a", &PatchParams::apply("op").force(), &Patch::Apply(&applied))
        .await
        .unwrap();
    let st = after.data.get("status").filter(|s| !s.is_null()).expect("a status");
    assert_eq!(
        (st["accountId"].as_str(), &st["snsRegion"]),
        (Some("123456789012"), &Value::Null)
    );
}

#[tokio::test]
async fn json_patch_tests_and_finalizers_hold_deletion() {
    let (s, client) = standin().await;
    let api = csms_api(client, "apps");
    api.create(
        &PostParams::default(),
        &csms("a", json!({"userPoolId": "eu-west-1_Abc"})),
    )
    .await
    .unwrap();

    let failing: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": ["other"]},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}
    ]))
    .unwrap();
    let err = api_error(
        api.patch("a", &PatchParams::default(), &Patch::<()>::Json(failing))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    let add: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["cognitosms.io/cleanup"]}
    ]))
    .unwrap();
    api.patch("a", &PatchParams::default(), &Patch::<()>::Json(add))
        .await
        .unwrap();

    api.delete("a", &DeleteParams::default()).await.unwrap();
    let marked = api.get("a").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some(), "marked, not gone");
    assert_eq!(marked.metadata.generation, Some(2));

    let remove: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": ["cognitosms.io/cleanup"]},
        {"op": "remove", "path": "/metadata/finalizers/0"}
    ]))
    .unwrap();
    api.patch("a", &PatchParams::default(), &Patch::<()>::Json(remove))
        .await
        .unwrap();
    assert!(
        api.get_opt("a").await.unwrap().is_none(),
        "gone with its last finalizer"
    );
    assert!(s.object("cognitosms.io/cognitosmsconfigs", "apps", "a").is_none());
}

#[tokio::test]
async fn lists_page_and_select() {
    let (_s, client) = standin().await;
    let api: Api<Secret> = Api::namespaced(client.clone(), "apps");
    for i in 0..5 {
        let s: Secret = serde_json::from_value(json!({"metadata": {"name": format!("s{i}"), "labels": {"parity": if i % 2 == 0 { "even" } else { "odd" }}}})).unwrap();
        api.create(&PostParams::default(), &s).await.unwrap();
    }
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let token = first.metadata.continue_.clone().expect("a continue token");
    let rest = api
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 3);
    assert!(rest.metadata.continue_.is_none());
    let even = api.list(&ListParams::default().labels("parity=even")).await.unwrap();
    assert_eq!(even.items.len(), 3);
    let named = api
        .list(&ListParams::default().fields("metadata.name=s4"))
        .await
        .unwrap();
    assert_eq!(named.items.len(), 1);
    let metadata_only: Api<PartialObjectMeta<Secret>> = Api::namespaced(client, "apps");
    let metas = metadata_only.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(metas.items.len(), 5);
}

/// Every event of a watch from `rv` that times out after a second.
async fn watch_to_the_end(api: &Api<Secret>, rv: &str) -> Vec<WatchEvent<Secret>> {
    api.watch(&WatchParams::default().timeout(1), rv)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

/// A watch event's `type`.
fn event_type<K>(e: &WatchEvent<K>) -> &'static str {
    match e {
        WatchEvent::Added(_) => "ADDED",
        WatchEvent::Modified(_) => "MODIFIED",
        WatchEvent::Deleted(_) => "DELETED",
        WatchEvent::Bookmark(_) => "BOOKMARK",
        WatchEvent::Error(_) => "ERROR",
    }
}

#[tokio::test]
async fn watches_resume_bookmark_expire_and_time_out() {
    let (s, client) = standin().await;
    let api: Api<Secret> = Api::namespaced(client, "apps");
    let created = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap(),
        )
        .await
        .unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();
    let patch = json!({"metadata": {"labels": {"x": "1"}}});
    api.patch("a", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();

    // From a resourceVersion: what came after it, in order.
    let events = watch_to_the_end(&api, &rv).await;
    let kinds: Vec<&str> = events.iter().map(event_type).filter(|k| *k != "BOOKMARK").collect();
    assert_eq!(kinds, ["MODIFIED", "DELETED"], "and the watch ended at its timeout");

    // Bookmarks.
    let mut stream = api
        .watch(&WatchParams::default().timeout(3), "0")
        .await
        .unwrap()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(3), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(first, WatchEvent::Bookmark(_)));

    // Too old.
    s.compact();
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "b"}})).unwrap(),
    )
    .await
    .unwrap();
    let events = watch_to_the_end(&api, &rv).await;
    assert!(
        matches!(&events[..], [WatchEvent::Error(e)] if e.code == 410),
        "{events:?}"
    );
}

#[tokio::test]
async fn injected_faults_and_dropped_watches() {
    let (s, client) = standin().await;
    let api: Api<Secret> = Api::namespaced(client, "apps");
    // kube's client retries 503s by itself; a 500 reaches the caller.
    s.inject("list", "secrets", 500, 1);
    let err = api_error(api.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(err.code, 500);
    assert!(api.list(&ListParams::default()).await.is_ok(), "only the next one");

    let mut stream = api
        .watch(&WatchParams::default().timeout(30), "0")
        .await
        .unwrap()
        .boxed();
    s.drop_watches();
    let ended = async {
        while let Some(e) = stream.next().await {
            assert!(matches!(e, Ok(WatchEvent::Bookmark(_))), "{e:?}");
        }
    };
    tokio::time::timeout(Duration::from_secs(5), ended)
        .await
        .expect("the watch ended");
}

#[tokio::test]
async fn discovery_leases_and_events_for_kube_clients() {
    let (_s, client) = standin().await;
    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    let groups: Vec<String> = discovery.groups().map(|g| g.name().to_string()).collect();
    for g in ["cognitosms.io", "coordination.k8s.io", "events.k8s.io"] {
        assert!(groups.contains(&g.to_string()), "{groups:?}");
    }
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), "ops");
    let lease = serde_json::from_value(json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}})).unwrap();
    leases.create(&PostParams::default(), &lease).await.unwrap();
    assert_eq!(
        leases.get("l").await.unwrap().spec.unwrap().holder_identity.as_deref(),
        Some("a")
    );
}

/// kubectl itself: apply without OpenAPI validation, get with the printer columns, describe.
#[tokio::test]
async fn kubectl_works_against_it() {
    if std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        panic!("kubectl is not installed");
    }
    let (s, _client) = standin().await;
    let kubeconfig = s.kubeconfig.clone();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/existing-role.yaml");
    let run = move |args: Vec<&'static str>| {
        let kubeconfig = kubeconfig.clone();
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(&args)
                .output()
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
            )
        })
    };
    let (ok, out) = run(vec!["apply", "--validate=false", "-f", example]).await.unwrap();
    assert!(ok, "{out}");
    let (ok, out) = run(vec!["get", "csms", "-n", "identity"]).await.unwrap();
    assert!(ok, "{out}");
    assert!(
        out.contains("POOL") && out.contains("SNS REGION") && out.contains("partner-portal"),
        "{out}"
    );
    assert!(out.contains("eu-central-1_EXAMPLE02"), "{out}");
    let (ok, out) = run(vec!["describe", "csms", "-n", "identity", "partner-portal"])
        .await
        .unwrap();
    assert!(ok, "{out}");
    assert!(out.contains("User Pool Id:") || out.contains("userPoolId"), "{out}");
}

#[tokio::test]
async fn secret_string_data_is_folded_into_data() {
    let (_s, client) = standin().await;
    let api: Api<Secret> = Api::namespaced(client, "apps");
    let s: Secret =
        serde_json::from_value(json!({"metadata": {"name": "codes"}, "stringData": {"qa": "123456"}})).unwrap();
    let created = api.create(&PostParams::default(), &s).await.unwrap();
    assert!(created.string_data.is_none(), "stringData is write-only");
    assert_eq!(created.data.unwrap()["qa"].0, b"123456");
}

/// Events written as `events.k8s.io/v1` are listed as core Events too, with the field selectors
/// `kubectl describe` uses.
#[tokio::test]
async fn events_are_visible_as_core_events() {
    let (_s, client) = standin().await;
    let api = csms_api(client.clone(), "apps");
    let obj = api
        .create(
            &PostParams::default(),
            &csms("a", json!({"userPoolId": "eu-west-1_Abc"})),
        )
        .await
        .unwrap();
    let recorder = kube::runtime::events::Recorder::new(client.clone(), "tests".into());
    let event = kube::runtime::events::Event {
        type_: kube::runtime::events::EventType::Warning,
        reason: "Something".into(),
        note: Some("a note".into()),
        action: "Test".into(),
        secondary: None,
    };
    recorder
        .publish(&event, &kube::Resource::object_ref(&obj, &csms_resource()))
        .await
        .unwrap();
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client, "apps");
    let uid = obj.metadata.uid.clone().unwrap();
    let found = core
        .list(&ListParams::default().fields(&format!("involvedObject.name=a,involvedObject.uid={uid}")))
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].message.as_deref(), Some("a note"));
    assert_eq!(found.items[0].reason.as_deref(), Some("Something"));
    let none = core
        .list(&ListParams::default().fields("involvedObject.name=b"))
        .await
        .unwrap();
    assert!(none.items.is_empty());
}

/// An Event's note is at most 1 KiB, as the API server enforces it.
#[tokio::test]
async fn an_event_note_longer_than_1_kib_is_refused() {
    let (_s, client) = standin().await;
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, "apps");
    let event = |name: &str, note: String| {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "test",
            "reportingInstance": "test",
            "action": "Test",
            "reason": "Test",
            "type": "Normal",
            "note": note,
        }))
        .unwrap()
    };
    api.create(&PostParams::default(), &event("fits", "x".repeat(1024)))
        .await
        .unwrap();
    let err = api_error(
        api.create(&PostParams::default(), &event("long", "x".repeat(1025)))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(err.message.contains("note: Too long"), "{}", err.message);
}

/// The namespaces every cluster has are real objects with uids (an operator names its
/// installation by kube-system's), as the API server serves them; any other namespace a test
/// names exists.
#[tokio::test]
async fn the_clusters_own_namespaces_have_uids() {
    let (_s, client) = standin().await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    let system = namespaces.get("kube-system").await.unwrap();
    let default = namespaces.get("default").await.unwrap();
    let uid = |ns: &k8s_openapi::api::core::v1::Namespace| ns.metadata.uid.clone().unwrap_or_default();
    assert!(!uid(&system).is_empty() && uid(&system) != uid(&default));
    assert_eq!(
        uid(&namespaces.get("kube-system").await.unwrap()),
        uid(&system),
        "stable"
    );
    assert!(namespaces.get("apps").await.is_ok(), "a namespace a test names exists");
}
