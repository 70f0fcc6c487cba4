//! Metrics, TLS and the whole controller process.

use super::*;

/// After a reconcile, /metrics serves every expected series, and no label carries a resource
/// name, a pool id or error text.
#[tokio::test]
async fn metrics_are_scraped_after_a_reconcile_with_bounded_labels() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let obj = resource("app", json!({"userPoolId": pool}));
    let (ctx, handle) = context(emu.aws().await).await;
    let server = serve(handle, obj.clone(), 4);
    run(&obj, ctx.clone()).await.unwrap();
    server.await.unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let health = Arc::new(cognito_sms_operator::server::Health::default());
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(cognito_sms_operator::server::serve(
        listener,
        cognito_sms_operator::server::router(health.clone(), ctx.metrics.clone()),
        stop,
    ));
    let get = |path: &'static str| {
        let url = format!("http://{addr}{path}");
        tokio::task::spawn_blocking(move || {
            let mut r = ureq::get(&url)
                .config()
                .http_status_as_error(false)
                .build()
                .call()
                .unwrap();
            (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
        })
    };
    assert_eq!(get("/healthz").await.unwrap().0, 200);
    assert_eq!(get("/readyz").await.unwrap().0, 503, "not ready until told so");
    health.set_ready(true);
    assert_eq!(get("/readyz").await.unwrap().0, 200);
    let (status, text) = get("/metrics").await.unwrap();
    assert_eq!(status, 200);

    for series in [
        "cognito_sms_reconciles_total{outcome=\"Ready\"} 1",
        "cognito_sms_reconcile_duration_seconds_count 1",
        "cognito_sms_aws_calls_total{service=\"iam\",operation=\"CreateRole\",outcome=\"ok\"} 1",
        "cognito_sms_aws_calls_total{service=\"cognito-idp\",operation=\"UpdateUserPool\",outcome=\"ok\"} 1",
        "cognito_sms_aws_calls_total{service=\"sns\",operation=\"GetSMSSandboxAccountStatus\",outcome=\"ok\"} 1",
        "cognito_sms_sns_cache_misses_total 1",
        "cognito_sms_leader 0",
        "cognito_sms_resources{ready=\"true\"}",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(series)),
            "missing {series} in\n{text}"
        );
    }
    let label_values = regex_lite::Regex::new(r#"=\"([^\"]*)\""#).unwrap();
    let allowed_values = regex_lite::Regex::new(r"^([A-Za-z]+|[a-z-]+|[0-9.+Inf]+|ok|[a-z_]+)$").unwrap();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        for v in label_values.captures_iter(line) {
            assert!(
                allowed_values.is_match(&v[1]),
                "unbounded label value {:?} in {line}",
                &v[1]
            );
            assert!(
                !v[1].contains(&pool) && &v[1] != "app",
                "resource identity in a label: {line}"
            );
        }
    }
}

/// The AWS SDK and kube share one TLS crypto provider: building a client for an HTTPS API server
/// must not find two and give up.
#[tokio::test]
async fn a_client_for_an_https_api_server_can_be_built() {
    let config = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
    assert!(kube::Client::try_from(config).is_ok());
}

/// The whole controller process without leader election: it lists and watches once, becomes
/// ready, stays quiet while nothing changes, and stops when asked.
#[tokio::test]
async fn the_controller_starts_idles_quietly_and_stops() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = requests.clone();
    let api = tokio::spawn(async move {
        let mut open_watches = vec![];
        while let Some((req, send)) = handle.next_request().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let uri = req.uri().to_string();
            assert_permitted(req.method(), &uri);
            if uri.contains("watch=true") {
                open_watches.push(send); // an idle watch: no events
                continue;
            }
            let list = if uri.contains("/secrets") || uri.contains("/namespaces") {
                json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "5"}, "items": []})
            } else if uri.contains("/cognitosmsaccounts") {
                json!({"kind": "CognitoSmsAccountList", "apiVersion": "cognitosms.io/v1alpha1", "metadata": {"resourceVersion": "5"}, "items": []})
            } else {
                json!({"kind": "CognitoSmsConfigList", "apiVersion": "cognitosms.io/v1alpha1", "metadata": {"resourceVersion": "5"}, "items": []})
            };
            send.send_response(
                Response::builder()
                    .body(Body::from(serde_json::to_vec(&list).unwrap()))
                    .unwrap(),
            );
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(controller::run_until(
        client,
        unreachable_aws().await,
        settings(),
        None,
        listener,
        async {
            let _ = stop_rx.await;
        },
    ));

    let ready = async {
        loop {
            let url = format!("http://{addr}/readyz");
            let status = tokio::task::spawn_blocking(move || {
                ureq::get(&url)
                    .config()
                    .http_status_as_error(false)
                    .build()
                    .call()
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
            .await
            .unwrap();
            if status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .expect("ready once the watches are established");
    let after_start = requests.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = requests.load(std::sync::atomic::Ordering::SeqCst) - after_start;
    assert!(
        after_start <= 4,
        "one list and one watch per resource type: {after_start}"
    );
    assert_eq!(idle, 0, "no API calls while nothing changes");

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("stops when asked")
        .unwrap();
    api.abort();
}
