//! What fault-injection tests and benchmarks use: faults with the API server's reasons, held
//! requests, faults by verb and subresource, the request log and counts, and the HTTP controls.

use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;
use testkit::Fault;

mod common;
use common::*;

#[tokio::test]
async fn injected_faults_carry_the_api_servers_reasons() {
    let (s, _client) = standin().await;
    let url = format!("{}/api/v1/namespaces/apps/secrets", s.url());
    let cases = [
        (409, "Conflict"),
        (410, "Expired"),
        (429, "TooManyRequests"),
        (500, "InternalError"),
        (503, "ServiceUnavailable"),
        (504, "Timeout"),
    ];
    for (code, reason) in cases {
        s.inject("list", "secrets", code, 1);
        let r = raw("GET", url.clone(), "application/json", None).await;
        assert_eq!(r.code, code);
        assert_eq!(
            (r.body["code"].as_u64(), r.body["reason"].as_str()),
            (Some(code.into()), Some(reason)),
            "{r:?}"
        );
        if code == 429 {
            assert_eq!(r.retry_after.as_deref(), Some("1"));
            assert_eq!(r.body["details"]["retryAfterSeconds"], 1);
        }
    }
    assert_eq!(
        raw("GET", url, "application/json", None).await.code,
        200,
        "each only once"
    );
}

#[tokio::test]
async fn faults_match_verbs_and_subresources_until_cleared() {
    let (s, client) = standin().await;
    let api = csms_api(client, "apps");
    api.create(
        &PostParams::default(),
        &csms("a", json!({"userPoolId": "eu-west-1_Abc"})),
    )
    .await
    .unwrap();
    s.inject_fault(Fault::failing("patch", "cognitosmsconfigs/status", 500));
    let status = json!({"status": {"observedGeneration": 1}});
    for _ in 0..3 {
        let err = api_error(
            api.patch_status("a", &PatchParams::default(), &Patch::Merge(&status))
                .await
                .unwrap_err(),
        );
        assert_eq!((err.code, err.reason.as_str()), (500, "InternalError"));
    }
    let labels = json!({"metadata": {"labels": {"x": "1"}}});
    api.patch("a", &PatchParams::default(), &Patch::Merge(&labels))
        .await
        .expect("the main resource is not affected");
    s.clear_faults();
    api.patch_status("a", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

#[tokio::test]
async fn hanging_faults_hold_lists_and_watches() {
    let (s, client) = standin().await;
    let api = csms_api(client, "apps");
    s.inject_fault(Fault::hanging("list", "cognitosmsconfigs", Duration::from_millis(1200)).times(1));
    let started = Instant::now();
    api.list(&ListParams::default()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );

    // A client that waits less gives up.
    let mut config = kube::Config::new(s.url().parse().unwrap());
    config.read_timeout = Some(Duration::from_millis(300));
    let impatient = csms_api(Client::try_from(config).unwrap(), "apps");
    s.inject_fault(Fault::hanging("list", "cognitosmsconfigs", Duration::from_secs(2)).times(1));
    let err = impatient.list(&ListParams::default()).await.unwrap_err();
    assert!(!matches!(err, kube::Error::Api(_)), "a timeout, not an answer: {err}");

    // Over HTTP: hold the next watch, then fail it.
    let fault = json!({"verb": "watch", "resource": "cognitosmsconfigs", "hang_ms": 800, "status": 503, "count": 1});
    let r = raw(
        "POST",
        format!("{}/_standin/faults", s.url()),
        "application/json",
        Some(fault.to_string()),
    )
    .await;
    assert_eq!(r.code, 200, "{r:?}");
    let started = Instant::now();
    let url = format!(
        "{}/apis/cognitosms.io/v1alpha1/cognitosmsconfigs?watch=true&timeoutSeconds=1",
        s.url()
    );
    let r = raw("GET", url.clone(), "application/json", None).await;
    assert_eq!((r.code, r.body["reason"].as_str()), (503, Some("ServiceUnavailable")));
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert_eq!(raw("GET", url, "application/json", None).await.code, 200, "only once");
    let _ = api.watch(&WatchParams::default().timeout(1), "0").await.unwrap();
}

/// A kube client for `s` that identifies as `identity`.
async fn client_as(s: &testkit::StandIn, identity: &str) -> Client {
    let kubeconfig = Kubeconfig::read_from(s.kubeconfig_as(identity).unwrap()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

#[tokio::test]
async fn the_request_log_attributes_requests_to_clients() {
    let (s, _) = standin().await;
    let api = csms_api(client_as(&s, "replica-a").await, "apps");
    api.create(
        &PostParams::default(),
        &csms("a", json!({"userPoolId": "eu-west-1_Abc"})),
    )
    .await
    .unwrap();
    let status = json!({"status": {"observedGeneration": 1}});
    api.patch_status("a", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let other = csms_api(client_as(&s, "replica-b").await, "apps");
    other.get("a").await.unwrap();
    let conflict = json!({"metadata": {"resourceVersion": "1"}, "spec": {"snsRegion": "eu-west-1"}});
    other
        .patch("a", &PatchParams::default(), &Patch::Merge(&conflict))
        .await
        .unwrap_err();

    let log = s.requests();
    let seen: Vec<String> = log
        .iter()
        .map(|r| {
            let name = r.name.as_deref().unwrap_or("-");
            let who = r.identity.as_deref().unwrap_or("-");
            format!("{} {} {name} {} {who}", r.verb, r.full_resource(), r.code)
        })
        .collect();
    assert_eq!(
        seen,
        [
            "create cognitosms.io/cognitosmsconfigs - 201 replica-a",
            "patch cognitosms.io/cognitosmsconfigs/status a 200 replica-a",
            "get cognitosms.io/cognitosmsconfigs a 200 replica-b",
            "patch cognitosms.io/cognitosmsconfigs a 409 replica-b",
        ]
    );
    assert!(
        log.iter()
            .all(|r| r.group == "cognitosms.io" && r.namespace.as_deref() == Some("apps"))
    );
    assert!(log.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    let writes = s.writes();
    assert_eq!(writes.get("cognitosms.io/cognitosmsconfigs"), Some(&1), "{writes:?}");
    assert_eq!(writes.get("cognitosms.io/cognitosmsconfigs/status"), Some(&1));

    s.clear_requests();
    assert!(s.requests().is_empty() && s.writes().is_empty());
}

#[tokio::test]
async fn the_controls_serve_the_log_counts_and_stats_over_http() {
    let (s, client) = standin().await;
    let api = csms_api(client, "apps");
    api.create(
        &PostParams::default(),
        &csms("a", json!({"userPoolId": "eu-west-1_Abc"})),
    )
    .await
    .unwrap();
    let conflict = json!({"metadata": {"resourceVersion": "0"}});
    api.patch("a", &PatchParams::default(), &Patch::Merge(&conflict))
        .await
        .unwrap_err();
    let r = raw("GET", format!("{}/_standin/requests?since_ms=0", s.url()), "", None).await;
    assert_eq!(r.body["requests"].as_array().map(Vec::len), Some(2), "{r:?}");
    let listed = raw("GET", format!("{}/api/v1/namespaces/apps/secrets", s.url()), "", None).await;
    assert_eq!(listed.code, 200);
    let last = s.requests().pop().unwrap();
    assert!(
        last.user_agent.as_deref().is_some_and(|u| u.starts_with("ureq")),
        "{last:?}"
    );
    let counts = raw("GET", format!("{}/_standin/counts", s.url()), "", None).await;
    let conflicts = counts.body["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == 409)
        .cloned();
    assert_eq!(conflicts.unwrap()["resource"], "cognitosms.io/cognitosmsconfigs");
    let stats = raw("GET", format!("{}/_standin/stats", s.url()), "", None).await;
    // The resource, and the namespaces `default` and `kube-system` every cluster has.
    assert_eq!(stats.body["objects"], 3, "{stats:?}");
    let r = raw("DELETE", format!("{}/_standin/requests", s.url()), "", None).await;
    assert_eq!(r.code, 200);
    assert!(s.requests().is_empty() && s.writes().is_empty());
}

#[tokio::test]
async fn every_matching_fault_applies() {
    let (s, client) = standin().await;
    let api = csms_api(client, "apps");
    api.create(
        &PostParams::default(),
        &csms("a", json!({"userPoolId": "eu-west-1_Abc"})),
    )
    .await
    .unwrap();
    // Latency on everything, as from etcd, and a conflict on the next get.
    s.inject_fault(Fault::hanging("*", "*", Duration::from_millis(300)));
    s.inject("get", "cognitosmsconfigs", 409, 1);
    let started = Instant::now();
    let err = api_error(api.get("a").await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    api.get("a").await.expect("the conflict was used up");
    assert!(started.elapsed() >= Duration::from_millis(300), "the latency was not");
    s.clear_faults();
    let started = Instant::now();
    api.get("a").await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(300));
}
