//! No request breaks the stand-in: bodies the API server cannot decode get its `400 BadRequest`,
//! text of any script is shown in messages, and the server serves on afterwards.

use kube::api::{ListParams, PostParams};
use serde_json::json;

mod common;
use common::*;

/// A tag value of `n` ASCII letters then accented ones: shown in messages cut at 57 characters,
/// which for some `n` falls inside a two-byte character.
fn accented(n: usize) -> String {
    "a".repeat(n) + &"é".repeat(10)
}

#[tokio::test]
async fn text_with_multibyte_characters_is_cut_at_character_boundaries() {
    let (_s, client) = standin().await;
    let api = csms_api(client, "apps");
    let tags: serde_json::Map<String, serde_json::Value> =
        (40..56).map(|n| (format!("k{n}"), json!(accented(n)))).collect();
    let spec = json!({"userPoolId": "eu-west-1_Abc", "role": {"managed": {"tags": tags}}});
    let created = api.create(&PostParams::default(), &csms("tagged", spec)).await.unwrap();
    assert_eq!(
        created.data["spec"]["role"]["managed"]["tags"]["k55"],
        json!(accented(55))
    );

    // Shown in a rejection, cut short with "..." (after the quote and "eu-west-1_").
    for n in 40..46 {
        let spec = json!({"userPoolId": format!("eu-west-1_{}", accented(n))});
        let err = api_error(
            api.create(&PostParams::default(), &csms("bad", spec))
                .await
                .unwrap_err(),
        );
        assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"), "{}", err.message);
        assert!(err.message.contains("é...: should match"), "{}", err.message);
    }
}

#[tokio::test]
async fn bodies_that_are_not_objects_get_400_and_the_server_serves_on() {
    let (s, client) = standin().await;
    let api = csms_api(client, "apps");
    api.create(
        &PostParams::default(),
        &csms("a", json!({"userPoolId": "eu-west-1_Abc"})),
    )
    .await
    .unwrap();
    let base = format!(
        "{}/apis/cognitosms.io/v1alpha1/namespaces/apps/cognitosmsconfigs",
        s.url()
    );
    let one = format!("{base}/a");
    let cases = [
        ("POST", base.clone(), "application/json", "[]"),
        ("POST", base.clone(), "application/json", r#"{"metadata": "x"}"#),
        ("POST", base.clone(), "application/json", "not json: [ {"),
        ("PUT", one.clone(), "application/json", r#""x""#),
        ("PUT", one.clone(), "application/json", r#"{"metadata": ["x"]}"#),
        ("PATCH", one.clone(), "application/merge-patch+json", r#""x""#),
        (
            "PATCH",
            one.clone(),
            "application/merge-patch+json",
            r#"{"metadata": 1}"#,
        ),
        ("PATCH", one.clone(), "application/strategic-merge-patch+json", "[1]"),
        ("PATCH", one.clone(), "application/json-patch+json", r#""x""#),
        (
            "PATCH",
            one.clone(),
            "application/json-patch+json",
            r#"[{"op": "replace", "path": "", "value": "x"}]"#,
        ),
        (
            "PATCH",
            one.clone(),
            "application/json-patch+json",
            r#"[{"op": "replace", "path": "/metadata", "value": 7}]"#,
        ),
        ("PATCH", format!("{one}/status"), "application/apply-patch+yaml", "- a"),
    ];
    for (method, url, content_type, body) in cases {
        let r = raw(method, url, content_type, Some(body.to_string())).await;
        assert_eq!(r.code, 400, "{method} {body}: {r:?}");
        assert_eq!(
            (r.body["kind"].as_str(), r.body["reason"].as_str()),
            (Some("Status"), Some("BadRequest")),
            "{r:?}"
        );
    }
    let listed = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1, "the server serves on, with the object unchanged");
    assert_eq!(listed.items[0].data["spec"]["userPoolId"], "eu-west-1_Abc");
}
