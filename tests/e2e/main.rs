//! End to end: the real `cognito-sms-operator run` process, a real Kubernetes control plane (with
//! the chart installed by Helm and the operator running as its ServiceAccount) and the AWS
//! emulator, driven only through the Kubernetes API, as a user would.

mod accounts;
mod admission;
mod direct_path;
mod protect;
mod regions;
mod replicas;
mod status_and_secrets;
#[path = "../support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use cognito_sms_operator::policy;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::cluster::*;
use support::*;

async fn events(c: &Cluster) -> Vec<k8s_openapi::api::events::v1::Event> {
    c.api().list(&ListParams::default()).await.unwrap().items
}

/// 1. A new resource becomes Ready and AWS is exactly as specified.
#[tokio::test]
async fn a_created_resource_becomes_ready_with_aws_as_specified() {
    let c = Cluster::start().await;
    let pool = create_pool(&c.emu, "eu-west-1", "app").await;
    let op = c.operator(&["--resync-period", "10m"]);
    c.create("app", json!({"userPoolId": pool})).await;

    let res = wait_ready(&c, &op, "app").await;

    let status = res.status.unwrap();
    let role = format!("cognito-sms-{pool}");
    let pool_arn = format!("arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/{pool}");
    let external_id = status.external_id.clone().unwrap();
    assert_eq!(
        c.emu.trust_policy(&role).await,
        policy::trust_policy(ACCOUNT, std::slice::from_ref(&pool_arn), Some(&external_id))
    );
    let sms = c.emu.sms_configuration("eu-west-1", &pool).await.unwrap();
    assert_eq!(
        sms.sns_caller_arn(),
        format!("arn:aws:iam::{ACCOUNT}:role/service-role/{role}")
    );
    assert_eq!(
        (sms.external_id(), sms.sns_region()),
        (Some(external_id.as_str()), Some("eu-west-1"))
    );
    let finalizers = c
        .csms()
        .get("app")
        .await
        .unwrap()
        .metadata
        .finalizers
        .unwrap_or_default();
    assert_eq!(
        finalizers,
        Vec::<String>::new(),
        "deleting it would change nothing in AWS (Retain): no finalizer"
    );
    let reasons: Vec<String> = events(&c).await.iter().filter_map(|e| e.reason.clone()).collect();
    for r in ["RoleCreated", "PermissionsPolicyUpdated", "SmsConfigurationUpdated"] {
        assert!(reasons.iter().any(|x| x == r), "event {r} in {reasons:?}");
    }
}

/// 2. The sandbox flow: Pending, the code from the SMS put into the Secret, Verified, driven by
/// the Secret watch alone (the resync period is far away).
#[tokio::test]
async fn the_sandbox_flow_completes_on_the_secret_watch() {
    sandbox_flow(json!({})).await;
}

/// 2b. The same on the direct path: the sandbox is End User Messaging's on both.
#[tokio::test]
async fn the_sandbox_flow_on_the_direct_path() {
    sandbox_flow(json!({"endUserMessaging": {"originationIdentity": "+18885550199"}})).await;
}

async fn sandbox_flow(extra: Value) {
    let c = Cluster::start().await;
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    // End User Messaging texts codes to US numbers from a US identity of the account.
    c.emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [{"phoneNumber": "+18885550199", "type": "TOLL_FREE"}]}),
    );
    let op = c.operator(&["--resync-period", "10m"]);
    let number = "+14255550100";
    let mut spec = json!({"userPoolId": pool, "sandboxPhoneNumbers": [
        {"phoneNumber": number, "verificationCodeRef": {"name": "sms-codes", "key": "qa"}}]});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    c.create("app", spec).await;
    let api = c.csms();
    eventually(&op, Duration::from_secs(20), "number Pending", || {
        let api = api.clone();
        async move {
            let r = api.get("app").await.ok()?;
            let n = r.status?.sandbox_phone_numbers.first()?.clone();
            (n.reason == "CodeSent").then_some(())
        }
    })
    .await;

    let (_, text) = c
        .emu
        .sms_messages()
        .into_iter()
        .rfind(|(to, _)| to == number)
        .expect("the SMS");
    let code = text.rsplit(' ').next().unwrap().to_string();
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "sms-codes"}, "stringData": {"qa": code}})).unwrap();
    let started = Instant::now();
    c.api::<Secret>().create(&PostParams::default(), &secret).await.unwrap();

    eventually(&op, Duration::from_secs(5), "number Verified after the Secret", || {
        let api = api.clone();
        async move {
            let r = api.get("app").await.ok()?;
            (status_of(&r, "PhoneNumbersVerified").as_deref() == Some("True")).then_some(())
        }
    })
    .await;
    println!("verified {:?} after the Secret was written", started.elapsed());
    let log = op.log();
    assert!(!log.contains(&code), "the code never reaches the log");
}

/// 3. Spec changes reach AWS and observedGeneration follows.
#[tokio::test]
async fn spec_changes_reach_aws_and_observed_generation_follows() {
    let c = Cluster::start().await;
    let pool = create_pool(&c.emu, "eu-central-1", "app").await;
    let op = c.operator(&["--resync-period", "10m"]);
    c.create("app", json!({"userPoolId": pool})).await;
    wait_ready(&c, &op, "app").await;

    let change = json!({"spec": {"snsRegion": "eu-west-1", "externalId": "chosen-id",
        "role": {"managed": {"sourceArnScope": "AllUserPoolsInRegion"}}}});
    c.csms()
        .patch("app", &PatchParams::default(), &Patch::Merge(&change))
        .await
        .unwrap();
    let res = wait_ready(&c, &op, "app").await;

    assert_eq!(res.metadata.generation, Some(2));
    assert_eq!(res.status.as_ref().unwrap().observed_generation, Some(2));
    assert!(
        res.status
            .as_ref()
            .unwrap()
            .conditions
            .iter()
            .all(|c| c.observed_generation == Some(2))
    );
    let sms = c.emu.sms_configuration("eu-central-1", &pool).await.unwrap();
    assert_eq!(
        (sms.sns_region(), sms.external_id()),
        (Some("eu-west-1"), Some("chosen-id"))
    );
    let wildcard = format!("arn:aws:cognito-idp:eu-central-1:{ACCOUNT}:userpool/*");
    assert_eq!(
        c.emu.trust_policy(&format!("cognito-sms-{pool}")).await,
        policy::trust_policy(ACCOUNT, std::slice::from_ref(&wildcard), Some("chosen-id"))
    );
}

/// 4. Drift made in AWS is repaired within one resync period.
#[tokio::test]
async fn drift_in_aws_is_repaired_within_a_resync_period() {
    let c = Cluster::start().await;
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    let op = c.operator(&["--resync-period", "2s"]);
    c.create("app", json!({"userPoolId": pool})).await;
    wait_ready(&c, &op, "app").await;
    let role = format!("cognito-sms-{pool}");
    let good_trust = c.emu.trust_policy(&role).await;
    let good_sms = c.emu.sms_configuration("us-east-1", &pool).await.unwrap();

    let loose = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "cognito-idp.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    c.emu
        .iam()
        .await
        .update_assume_role_policy()
        .role_name(&role)
        .policy_document(loose.to_string())
        .send()
        .await
        .unwrap();
    c.emu
        .point_pool_at("us-east-1", &pool, "arn:aws:iam::123456789012:role/other")
        .await;
    let drifted = Instant::now();

    let emu = &c.emu;
    eventually(&op, Duration::from_secs(5), "drift repaired", || {
        let (role, pool, good_trust, good_sms) = (role.clone(), pool.clone(), good_trust.clone(), good_sms.clone());
        async move {
            let ok = emu.trust_policy(&role).await == good_trust
                && emu.sms_configuration("us-east-1", &pool).await.as_ref() == Some(&good_sms);
            ok.then_some(())
        }
    })
    .await;
    assert!(
        drifted.elapsed() < Duration::from_secs(4),
        "within one resync period (2s) and a reconcile"
    );
}

/// 5. Deleting with Retain leaves AWS alone; with Delete the role goes once the pool no longer
/// uses it, and is kept with a Warning while it does. Neither blocks the deletion.
#[tokio::test]
async fn deletion_with_retain_and_with_delete() {
    let c = Cluster::start().await;
    let kept_pool = create_pool(&c.emu, "us-east-1", "kept").await;
    let moved_pool = create_pool(&c.emu, "us-east-1", "moved").await;
    let in_use_pool = create_pool(&c.emu, "us-east-1", "inuse").await;
    let op = c.operator(&["--resync-period", "10m"]);
    let api = c.csms();
    api.create(
        &PostParams::default(),
        &manifest("kept", json!({"userPoolId": kept_pool})),
    )
    .await
    .unwrap();
    api.create(
        &PostParams::default(),
        &manifest("moved", json!({"userPoolId": moved_pool, "deletionPolicy": "Delete"})),
    )
    .await
    .unwrap();
    api.create(
        &PostParams::default(),
        &manifest("inuse", json!({"userPoolId": in_use_pool, "deletionPolicy": "Delete"})),
    )
    .await
    .unwrap();
    for n in ["kept", "moved", "inuse"] {
        wait_ready(&c, &op, n).await;
    }
    for (n, finalizers) in [
        ("kept", vec![]),
        ("moved", vec!["cognitosms.io/cleanup"]),
        ("inuse", vec!["cognitosms.io/cleanup"]),
    ] {
        let held = api.get(n).await.unwrap().metadata.finalizers.unwrap_or_default();
        assert_eq!(held, finalizers, "{n}");
    }
    gauges_settle(&op, 3).await;
    // The team moves one pool to another role; the operator is not told (resync is far away).
    c.emu
        .point_pool_at("us-east-1", &moved_pool, "arn:aws:iam::123456789012:role/other")
        .await;

    for n in ["kept", "moved", "inuse"] {
        api.delete(n, &DeleteParams::default()).await.unwrap();
    }
    eventually(&op, Duration::from_secs(20), "all three deleted", || {
        let api = api.clone();
        async move {
            api.list(&ListParams::default())
                .await
                .ok()
                .filter(|l| l.items.is_empty())
                .map(|_| ())
        }
    })
    .await;
    gauges_settle(&op, 0).await;

    let role_exists = |pool: String| {
        let iam = c.emu.iam();
        async move {
            iam.await
                .get_role()
                .role_name(format!("cognito-sms-{pool}"))
                .send()
                .await
                .is_ok()
        }
    };
    assert!(role_exists(kept_pool.clone()).await, "Retain keeps the role");
    assert!(
        !role_exists(moved_pool.clone()).await,
        "Delete deletes a role no pool uses"
    );
    assert!(
        role_exists(in_use_pool.clone()).await,
        "Delete keeps a role the pool still uses"
    );
    assert!(
        c.emu.sms_configuration("us-east-1", &kept_pool).await.is_some(),
        "the pool is never changed on deletion"
    );
    let warnings: Vec<_> = events(&c)
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("RoleRetained"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].type_.as_deref(), Some("Warning"));
    assert_eq!(
        warnings[0].regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("inuse")
    );
}

/// The readiness and queue gauges, which the metrics keep up to date from the watch, settle on
/// `ready` Ready resources, none of them waiting or running.
async fn gauges_settle(op: &Operator, ready: u32) {
    let want = [
        ("cognito_sms_resources{ready=\"true\"}", ready),
        ("cognito_sms_resources{ready=\"false\"}", 0),
        ("cognito_sms_resources{ready=\"unknown\"}", 0),
        ("cognito_sms_reconcile_queue_depth", 0),
        ("cognito_sms_reconciles_in_flight", 0),
    ];
    eventually(op, Duration::from_secs(10), "the gauges settle", || async {
        let text = op.metrics().await;
        let value = |series: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse::<f64>().ok())
        };
        want.iter()
            .all(|(series, n)| value(series) == Some(f64::from(*n)))
            .then_some(())
    })
    .await;
}
