//! Reads and writes are as consistent as the API server's: a patch applies to the object as it
//! is when applied, and a paged list reads one snapshot.

use futures::future::join_all;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, ObjectList, Patch, PatchParams, PostParams, VersionMatch};
use kube::{Api, ResourceExt};
use serde_json::json;

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_all_apply_to_the_current_object() {
    let (_s, client) = standin().await;
    let api = csms_api(client, "apps");
    let mut obj = csms("a", json!({"userPoolId": "eu-west-1_Abc"}));
    obj.metadata.labels = Some([("first".to_string(), "x".to_string())].into());
    api.create(&PostParams::default(), &obj).await.unwrap();

    let pp = PatchParams::default();
    let merges = (0..40).map(|i| {
        let (api, pp) = (api.clone(), pp.clone());
        async move {
            let patch = json!({"metadata": {"labels": {format!("merge{i}"): "x"}}});
            api.patch("a", &pp, &Patch::Merge(&patch)).await
        }
    });
    let json_patches = (0..40).map(|i| {
        let (api, pp) = (api.clone(), pp.clone());
        async move {
            let patch = json!([{"op": "add", "path": format!("/metadata/labels/json{i}"), "value": "x"}]);
            let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
            api.patch("a", &pp, &Patch::<()>::Json(patch)).await
        }
    });
    let (merged, patched) = tokio::join!(join_all(merges), join_all(json_patches));
    for r in merged.into_iter().chain(patched) {
        r.expect("no patch conflicts: each applies to the object as it is then");
    }
    let labels = api.get("a").await.unwrap().labels().clone();
    assert_eq!(labels.len(), 81, "no write is lost: {labels:?}");

    // A patch naming an old resourceVersion is the client's own precondition: it conflicts.
    let stale = json!({"metadata": {"resourceVersion": "1", "labels": {"late": "x"}}});
    let err = api_error(api.patch("a", &pp, &Patch::Merge(&stale)).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
}

async fn secret(api: &Api<Secret>, name: &str) {
    let s: Secret = serde_json::from_value(json!({"metadata": {"name": name, "labels": {"v": "1"}}})).unwrap();
    api.create(&PostParams::default(), &s).await.unwrap();
}

/// The names on the pages after `first`, each checked to be of `first`'s snapshot, in which
/// `s5` is labelled `v=1`.
async fn rest_of_the_list(api: &Api<Secret>, first: &ObjectList<Secret>) -> Vec<String> {
    let mut names = vec![];
    let mut token = first.metadata.continue_.clone();
    while let Some(t) = token.filter(|t| !t.is_empty()) {
        let page = api
            .list(&ListParams::default().limit(4).continue_token(&t))
            .await
            .unwrap();
        assert_eq!(
            page.metadata.resource_version, first.metadata.resource_version,
            "every page is the snapshot"
        );
        for item in page.items.iter().filter(|i| i.name_any() == "s5") {
            assert_eq!(item.labels()["v"], "1", "as it was at the snapshot");
        }
        names.extend(page.items.iter().map(|s| s.name_any()));
        token = page.metadata.continue_;
    }
    names
}

#[tokio::test]
async fn paged_lists_read_one_snapshot() {
    let (s, client) = standin().await;
    let api: Api<Secret> = Api::namespaced(client, "apps");
    for i in 0..10 {
        secret(&api, &format!("s{i}")).await;
    }
    let first = api.list(&ListParams::default().limit(4)).await.unwrap();
    let snapshot = first.metadata.resource_version.clone().unwrap();
    assert_eq!(first.metadata.remaining_item_count, Some(6));

    // Changes after the first page: none shows in the rest of the list.
    let relabel = json!({"metadata": {"labels": {"v": "2"}}});
    api.patch("s5", &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .unwrap();
    api.delete("s6", &Default::default()).await.unwrap();
    secret(&api, "s4a").await;

    let mut names: Vec<String> = first.items.iter().map(|s| s.name_any()).collect();
    names.extend(rest_of_the_list(&api, &first).await);
    let expected: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    assert_eq!(names, expected);

    // The same snapshot, asked for by its resourceVersion.
    let exact = ListParams::default().at(&snapshot).matching(VersionMatch::Exact);
    assert_eq!(api.list(&exact).await.unwrap().items.len(), 10);
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        10,
        "now: s4a, not s6"
    );

    // Once the history it needs is compacted, the snapshot is gone.
    s.compact();
    let token = first.metadata.continue_.unwrap();
    let err = api_error(
        api.list(&ListParams::default().limit(4).continue_token(&token))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (410, "Expired"));
    let err = api_error(api.list(&exact).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (410, "Expired"));
}
