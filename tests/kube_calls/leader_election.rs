//! Leader election on a Lease, call by call.

use super::*;
use cognito_sms_operator::leader::{Elector, LeaseSettings};
use k8s_openapi::api::coordination::v1::Lease;

fn settings() -> LeaseSettings {
    LeaseSettings {
        name: "cso".into(),
        namespace: "operators".into(),
        identity: "pod-a".into(),
        lease_duration: Duration::from_millis(2000),
        renew_deadline: Duration::from_millis(1000),
        retry_period: Duration::from_millis(200),
    }
}

fn respond(send: tower_test::mock::SendResponse<Response<Body>>, status: u16, body: Value) {
    send.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap(),
    );
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"})
}

#[tokio::test]
async fn a_free_lease_is_taken_renewed_and_released_on_shutdown() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let (lead_tx, mut leading) = tokio::sync::watch::channel(false);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let elector = tokio::spawn(Elector::new(client, settings()).run(lead_tx, stop));
    const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/operators/leases";

    // No Lease yet: create it, holding it.
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(
        (req.method().as_str(), req.uri().path()),
        ("GET", format!("{LEASE}/cso").as_str())
    );
    assert_permitted(req.method(), &req.uri().to_string());
    respond(send, 404, not_found());
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!((req.method().as_str(), req.uri().path()), ("POST", LEASE));
    assert_permitted(req.method(), &req.uri().to_string());
    let mut lease: Lease = serde_json::from_slice(&req.into_body().collect_bytes().await.unwrap()).unwrap();
    assert_eq!(lease.spec.as_ref().unwrap().holder_identity.as_deref(), Some("pod-a"));
    lease.metadata.resource_version = Some("1".into());
    respond(send, 201, serde_json::to_value(&lease).unwrap());
    leading.wait_for(|l| *l).await.unwrap();

    // Renew with the resourceVersion read.
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req.method(), Method::GET);
    respond(send, 200, serde_json::to_value(&lease).unwrap());
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req.method(), Method::PUT);
    assert_permitted(req.method(), &req.uri().to_string());
    let renewed: Lease = serde_json::from_slice(&req.into_body().collect_bytes().await.unwrap()).unwrap();
    assert_eq!(
        renewed.metadata.resource_version.as_deref(),
        Some("1"),
        "optimistic concurrency"
    );
    assert!(renewed.spec.as_ref().unwrap().renew_time >= lease.spec.as_ref().unwrap().renew_time);
    lease = renewed;
    lease.metadata.resource_version = Some("2".into());
    respond(send, 200, serde_json::to_value(&lease).unwrap());

    // Shutdown: leadership ends and the Lease is released for the standby.
    stop_tx.send(true).unwrap();
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req.method(), Method::GET);
    respond(send, 200, serde_json::to_value(&lease).unwrap());
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req.method(), Method::PUT);
    let released: Lease = serde_json::from_slice(&req.into_body().collect_bytes().await.unwrap()).unwrap();
    assert_eq!(released.spec.as_ref().unwrap().holder_identity, None);
    respond(send, 200, serde_json::to_value(&released).unwrap());
    elector.await.unwrap();
    assert!(!*leading.borrow());
}

#[tokio::test]
async fn a_leader_that_cannot_renew_stops_leading_within_the_renew_deadline() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let (lead_tx, mut leading) = tokio::sync::watch::channel(false);
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(Elector::new(client, settings()).run(lead_tx, stop));
    let (_, send) = handle.next_request().await.unwrap();
    respond(send, 404, not_found());
    let (req, send) = handle.next_request().await.unwrap();
    let lease: Value = serde_json::from_slice(&req.into_body().collect_bytes().await.unwrap()).unwrap();
    respond(send, 201, lease);
    leading.wait_for(|l| *l).await.unwrap();
    let since = std::time::Instant::now();

    // The API server stops answering well.
    let errors = tokio::spawn(async move {
        while let Some((_, send)) = handle.next_request().await {
            respond(
                send,
                500,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500, "message": "down"}),
            );
        }
    });
    leading.wait_for(|l| !*l).await.unwrap();
    let took = since.elapsed();
    assert!(
        took < Duration::from_millis(2000),
        "deposed itself before anyone may take over: {took:?}"
    );
    assert!(
        took >= Duration::from_millis(800),
        "but not before the renew deadline: {took:?}"
    );
    errors.abort();
}

/// A leader whose API server stops answering stops writing at the renew deadline itself, not
/// at its next check of it: the whole gap to the lease duration is the standby's margin.
#[tokio::test]
async fn a_leader_cut_off_stops_at_the_renew_deadline_not_later() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let (lead_tx, mut leading) = tokio::sync::watch::channel(false);
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let slow_checks = LeaseSettings {
        retry_period: Duration::from_millis(400),
        ..settings()
    };
    tokio::spawn(Elector::new(client, slow_checks).run(lead_tx, stop));
    let (_, send) = handle.next_request().await.unwrap();
    let renewal_began = std::time::Instant::now();
    respond(send, 404, not_found());
    let (req, send) = handle.next_request().await.unwrap();
    let lease: Value = serde_json::from_slice(&req.into_body().collect_bytes().await.unwrap()).unwrap();
    respond(send, 201, lease);
    leading.wait_for(|l| *l).await.unwrap();

    // From now on the API server holds every request without answering.
    let held = tokio::spawn(async move {
        let mut pending = vec![];
        while let Some(request) = handle.next_request().await {
            pending.push(request);
        }
    });
    leading.wait_for(|l| !*l).await.unwrap();
    let took = renewal_began.elapsed();
    assert!(
        took <= Duration::from_millis(1150),
        "stopped {took:?} after the renewal began; the renew deadline is 1 s and a standby may start at 2 s"
    );
    assert!(took >= Duration::from_millis(950), "not before the deadline: {took:?}");
    held.abort();
}

#[tokio::test]
async fn a_live_holder_is_followed_and_an_expired_one_replaced() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let (lead_tx, mut leading) = tokio::sync::watch::channel(false);
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(Elector::new(client, settings()).run(lead_tx, stop));
    let held_by_b = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "cso", "namespace": "operators", "resourceVersion": "7"},
        "spec": {"holderIdentity": "pod-b", "leaseDurationSeconds": 1, "renewTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": 3}
    });
    let started = std::time::Instant::now();
    // pod-b never renews: the same record is served until pod-a takes over.
    let taken = loop {
        let (req, send) = handle.next_request().await.unwrap();
        match req.method().as_str() {
            "GET" => respond(send, 200, held_by_b.clone()),
            "PUT" => {
                let body: Value = serde_json::from_slice(&req.into_body().collect_bytes().await.unwrap()).unwrap();
                respond(send, 200, body.clone());
                break body;
            }
            m => panic!("unexpected {m}"),
        }
    };
    assert!(
        started.elapsed() >= Duration::from_millis(2000),
        "waited a whole lease duration"
    );
    assert_eq!(taken["spec"]["holderIdentity"], "pod-a");
    assert_eq!(taken["spec"]["leaseTransitions"], 4);
    assert_eq!(taken["metadata"]["resourceVersion"], "7");
    leading.wait_for(|l| *l).await.unwrap();
}
