//! What the stand-in's tests share: a stand-in serving the operator's real CRD from `crds/`, a
//! kube client for it, the custom resource through kube's dynamic API, and raw HTTP.

// Each test file uses its own part of these.
#![allow(dead_code)]

use std::path::PathBuf;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};
use serde_json::{Value, json};
use testkit::StandIn;

/// The CRD files of the repository.
pub fn crds() -> Vec<PathBuf> {
    testkit::crd_files(&PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../crds")))
}

pub async fn standin() -> (StandIn, Client) {
    let s = StandIn::start(&crds()).await.unwrap();
    let client = client_for(&s.url());
    (s, client)
}

pub fn client_for(url: &str) -> Client {
    Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap()
}

/// The operator's custom resource, as kube's dynamic API sees it.
pub fn csms_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("cognitosms.io", "v1alpha1", "CognitoSmsConfig");
    ApiResource::from_gvk_with_plural(&gvk, "cognitosmsconfigs")
}

pub fn csms_api(client: Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client, namespace, &csms_resource())
}

pub fn csms(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "cognitosms.io/v1alpha1", "kind": "CognitoSmsConfig",
        "metadata": {"name": name}, "spec": spec
    }))
    .unwrap()
}

pub fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other}"),
    }
}

/// An HTTP response as raw HTTP sees it: status, headers of interest, and the JSON body.
#[derive(Debug)]
pub struct Raw {
    pub code: u16,
    pub retry_after: Option<String>,
    pub body: Value,
}

/// `method` on `url` with a JSON `body` (sent as it is, so that it may be anything) and
/// `content_type`, through plain HTTP rather than kube's client, which would retry or refuse.
pub async fn raw(method: &str, url: String, content_type: &str, body: Option<String>) -> Raw {
    let (method, content_type) = (method.to_string(), content_type.to_string());
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let request = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(&url)
            .header("Content-Type", content_type)
            .body(body.unwrap_or_default())
            .unwrap();
        let mut response = agent.run(request).unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Raw {
            code: response.status().as_u16(),
            retry_after,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    })
    .await
    .unwrap()
}
