//! End to end: the real `cognito-sms-operator run` process, a real Kubernetes control plane (with
//! the chart installed by Helm and the operator running as its ServiceAccount) and the AWS
//! emulator, driven only through the Kubernetes API, as a user would.

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
        policy::trust_policy(ACCOUNT, &pool_arn, Some(&external_id))
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
        policy::trust_policy(ACCOUNT, &wildcard, Some("chosen-id"))
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

/// 6. Killed between creating the role and updating the pool, then restarted: it converges,
/// creates no second role, and loses no pool setting.
#[tokio::test]
async fn a_restart_mid_reconcile_converges_without_duplicates_or_loss() {
    let c = Cluster::start().await;
    let cognito = c.emu.cognito("us-east-1").await;
    let created = cognito
        .create_user_pool()
        .pool_name("app")
        .deletion_protection(aws_sdk_cognitoidentityprovider::types::DeletionProtectionType::Active)
        .mfa_configuration(aws_sdk_cognitoidentityprovider::types::UserPoolMfaType::Optional)
        .lambda_config(
            aws_sdk_cognitoidentityprovider::types::LambdaConfigType::builder()
                .pre_sign_up("arn:aws:lambda:us-east-1:123456789012:function:f")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let pool = created.user_pool().unwrap().id().unwrap().to_string();
    let before = cognito
        .describe_user_pool()
        .user_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .user_pool()
        .unwrap()
        .clone();
    // The pool update keeps failing, so the operator is caught after the role exists.
    c.emu.inject_fault(
        "cognito-idp",
        "UpdateUserPool",
        "InvalidSmsRoleTrustRelationshipException",
        1000,
    );
    let mut op = c.operator(&["--resync-period", "10m"]);
    c.create("app", json!({"userPoolId": pool})).await;
    let emu = &c.emu;
    eventually(
        &op,
        Duration::from_secs(20),
        "role created, pool update attempted",
        || async move {
            let calls = emu.calls();
            let created = calls.iter().any(|(_, a)| a == "CreateRole");
            let tried = calls.iter().any(|(_, a)| a == "UpdateUserPool");
            (created && tried).then_some(())
        },
    )
    .await;
    op.kill();
    c.emu.clear_faults();

    let op = c.operator(&["--resync-period", "10m"]);
    let res = wait_ready(&c, &op, "app").await;

    let creates = c.emu.calls().iter().filter(|(_, a)| a == "CreateRole").count();
    assert_eq!(creates, 1, "no second role");
    let after = cognito
        .describe_user_pool()
        .user_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .user_pool()
        .unwrap()
        .clone();
    assert_eq!(after.deletion_protection(), before.deletion_protection());
    assert_eq!(after.mfa_configuration(), before.mfa_configuration());
    assert_eq!(after.lambda_config(), before.lambda_config());
    assert_eq!(
        after.sms_configuration().map(|s| s.sns_caller_arn().to_string()),
        res.status.unwrap().role_arn
    );
}

/// 7. Two replicas: only the Lease holder reconciles; killing it hands over within the lease
/// duration.
#[tokio::test]
async fn two_replicas_one_leader_and_a_handover() {
    let c = Cluster::start().await;
    let pool_a = create_pool(&c.emu, "us-east-1", "a").await;
    let pool_b = create_pool(&c.emu, "us-east-1", "b").await;
    let lease = c.lease().await;
    let mut election = lease.args();
    election.extend([
        "--lease-duration",
        "3s",
        "--renew-deadline",
        "2s",
        "--retry-period",
        "500ms",
        "--resync-period",
        "10m",
    ]);
    let mut first = c.operator(&[&election[..], &["--identity", "first"]].concat());
    eventually(&first, Duration::from_secs(10), "first leads", || async {
        first.leads().await.then_some(())
    })
    .await;
    let second = c.operator(&[&election[..], &["--identity", "second"]].concat());
    let first_leads = eventually(&first, Duration::from_secs(10), "a leader", || async {
        first.leads().await.then_some(true)
    })
    .await;
    assert!(first_leads);
    c.create("a", json!({"userPoolId": pool_a})).await;
    wait_ready(&c, &first, "a").await;
    assert!(!second.leads().await, "one leader");
    assert!(
        !second
            .metrics()
            .await
            .lines()
            .any(|l| l.starts_with("cognito_sms_reconciles_total")),
        "the standby reconciles nothing"
    );

    first.kill();
    let killed = Instant::now();
    eventually(&second, Duration::from_secs(10), "second takes over", || async {
        second.leads().await.then_some(())
    })
    .await;
    let handover = killed.elapsed();
    println!("handover took {handover:?}");
    assert!(
        handover < Duration::from_secs(3) + Duration::from_millis(1500),
        "within the lease duration (+ one retry): {handover:?}"
    );
    c.create("b", json!({"userPoolId": pool_b})).await;
    wait_ready(&c, &second, "b").await;
    let held: Lease = Api::namespaced(c.client.clone(), lease.namespace)
        .get(lease.name)
        .await
        .unwrap();
    assert_eq!(held.spec.unwrap().holder_identity.as_deref(), Some("second"));
}

/// 8. Invalid resources are rejected at admission with the schema's message.
#[tokio::test]
async fn invalid_resources_are_rejected_at_admission() {
    let c = Cluster::start().await;
    let err = c
        .csms()
        .create(
            &PostParams::default(),
            &manifest(
                "bad",
                json!({"userPoolId": "ap-northeast-2_Abc", "snsRegion": "ap-northeast-2"}),
            ),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("an API error")
    };
    assert_eq!(status.code, 422);
    assert!(
        status
            .message
            .contains("snsRegion ap-northeast-2 cannot be used by user pool ap-northeast-2_Abc"),
        "{}",
        status.message
    );
    assert!(c.csms().get_opt("bad").await.unwrap().is_none());
}

/// 10. The guide's refusals for the direct path, at admission.
#[tokio::test]
async fn the_direct_path_is_refused_at_admission_where_the_guide_says() {
    let c = Cluster::start().await;
    let cases = [
        (
            json!({"userPoolId": "eu-west-1_Abc", "snsRegion": "eu-west-1", "endUserMessaging": {}}),
            "snsRegion chooses the SNS region, but with endUserMessaging",
        ),
        (
            json!({"userPoolId": "ap-southeast-7_Abc", "endUserMessaging": {}}),
            "End User Messaging SMS direct path is not available for pools in ap-southeast-7",
        ),
        (
            json!({"userPoolId": "ap-east-1_Abc", "endUserMessaging": {}}),
            "not available for pools in",
        ),
        (
            json!({"userPoolId": "ap-southeast-5_Abc", "endUserMessaging": {}}),
            "not available for pools in",
        ),
        (
            json!({"userPoolId": "ap-south-1_Abc", "destinationCountries": ["IN"], "endUserMessaging": {}}),
            "needs the DLT IDs",
        ),
    ];
    for (spec, message) in cases {
        let err = c
            .csms()
            .create(&PostParams::default(), &manifest("bad", spec.clone()))
            .await
            .unwrap_err();
        let kube::Error::Api(status) = err else {
            panic!("an API error for {spec}")
        };
        assert_eq!(status.code, 422, "{spec}");
        assert!(status.message.contains(message), "{spec}: {}", status.message);
    }
    assert!(c.csms().get_opt("bad").await.unwrap().is_none());
}

/// 11. The direct path end to end: created with the role scoped to the identity, a failed test
/// send reported, then Ready once the identity is active; Cognito's diagnosis shown; switched to
/// SNS and back; a resync that finds nothing to do writes nothing.
#[tokio::test]
async fn the_direct_path_from_creation_to_switching_back_and_forth() {
    let c = Cluster::start().await;
    let sender = "+12065550100";
    c.emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [{"phoneNumber": sender, "type": "TEN_DLC", "status": "PENDING"}]}),
    );
    c.emu
        .sms_voice_account("us-east-1", json!({"tier": "PRODUCTION", "spendLimit": 50}));
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    let op = c.operator(&["--resync-period", "1s"]);
    c.create("app", json!({
        "userPoolId": pool,
        "destinationCountries": ["US"],
        "endUserMessaging": {"originationIdentity": sender},
        "sandboxPhoneNumbers": [{"phoneNumber": "+14255550100", "verificationCodeRef": {"name": "codes", "key": "qa"}}],
    }))
    .await;
    let api = c.csms();
    let reason_of = |type_: &'static str| {
        let api = api.clone();
        move || {
            let api = api.clone();
            async move {
                let r = api.get("app").await.ok()?;
                r.condition(type_).map(|c| c.reason.clone())
            }
        }
    };
    eventually(&op, Duration::from_secs(20), "the failed test send", {
        let reason = reason_of("UserPoolConfigured");
        move || {
            let reason = reason.clone();
            async move { (reason().await? == "TestMessageFailed").then_some(()) }
        }
    })
    .await;
    assert_eq!(c.emu.sms_configuration("us-east-1", &pool).await, None, "untouched");

    c.emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [{"phoneNumber": sender, "type": "TEN_DLC"}]}),
    );
    let ready = wait_ready(&c, &op, "app").await;
    let identity = ready.status.as_ref().unwrap().origination_identity_arn.clone().unwrap();
    let sms = c.emu.sms_configuration("us-east-1", &pool).await.unwrap();
    assert_eq!(sms.eums_sms().unwrap().origination_identity(), Some(identity.as_str()));
    let role = format!("cognito-sms-{pool}");
    let iam = c.emu.iam().await;
    let permission = iam
        .get_role_policy()
        .role_name(&role)
        .policy_name("cognito-sms-send-text")
        .send()
        .await
        .unwrap();
    assert_eq!(
        policy::parse_document(permission.policy_document()).unwrap(),
        policy::send_text_policy(&identity)
    );

    // Resyncs every second find nothing to do: no AWS write.
    c.emu.clear_calls();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(c.emu.write_calls(), vec![], "resyncs write nothing");

    c.emu
        .set_sms_configuration_failure("us-east-1", &pool, Some("InvalidSmsRoleAccessPolicyException"));
    eventually(&op, Duration::from_secs(10), "Cognito's diagnosis", {
        let reason = reason_of("RoleReady");
        move || {
            let reason = reason.clone();
            async move { (reason().await? == "CognitoReportsSmsConfigurationFailure").then_some(()) }
        }
    })
    .await;
    c.emu.set_sms_configuration_failure("us-east-1", &pool, None);
    eventually(&op, Duration::from_secs(10), "the diagnosis cleared", {
        let reason = reason_of("RoleReady");
        move || {
            let reason = reason.clone();
            async move { (reason().await? == "RoleInSync").then_some(()) }
        }
    })
    .await;

    let switch = |direct: Option<Value>| {
        let api = api.clone();
        async move {
            let patch = json!({"spec": {"endUserMessaging": direct}});
            api.patch("app", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
        }
    };
    switch(None).await;
    eventually(&op, Duration::from_secs(20), "the pool on SNS", || {
        let emu = &c.emu;
        let pool = pool.clone();
        async move {
            let sms = emu.sms_configuration("us-east-1", &pool).await?;
            (sms.eums_sms().is_none() && !sms.sns_caller_arn().is_empty()).then_some(())
        }
    })
    .await;
    switch(Some(json!({"originationIdentity": sender}))).await;
    eventually(&op, Duration::from_secs(20), "the pool direct again", || {
        let emu = &c.emu;
        let pool = pool.clone();
        async move {
            let sms = emu.sms_configuration("us-east-1", &pool).await?;
            sms.eums_sms().map(drop)
        }
    })
    .await;
    let policies = iam.list_role_policies().role_name(&role).send().await.unwrap();
    assert_eq!(
        policies.policy_names(),
        ["cognito-sms-send-text"],
        "nothing of the SNS path left"
    );
}

/// A namespace that has not let the operator read its Secrets: the API server refuses with a
/// real 403 (RBAC), the number's condition gives the exact command that grants access, the
/// operator does not storm the API server, and a grant is picked up without being asked again.
#[tokio::test]
async fn a_namespace_without_secret_access_is_told_how_to_grant_it() {
    let c = Cluster::start_without_secret_access().await;
    c.emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [{"phoneNumber": "+18885550199", "type": "TOLL_FREE"}]}),
    );
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    let op = c.operator(&["--resync-period", "1s"]);
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "codes"}, "stringData": {"qa": "000000"}})).unwrap();
    c.api::<Secret>().create(&PostParams::default(), &secret).await.unwrap();
    let from = c.plane().audit().len();
    let started = Instant::now();
    c.create(
        "app",
        json!({"userPoolId": pool, "sandboxPhoneNumbers": [
            {"phoneNumber": "+14255550100", "verificationCodeRef": {"name": "codes", "key": "qa"}}]}),
    )
    .await;
    let command = c.secret_grant().command(&c.ns);
    let api = c.csms();
    let message = eventually(&op, Duration::from_secs(20), "SecretUnreadable", || {
        let api = api.clone();
        async move {
            let r = api.get("app").await.ok()?;
            let c = r.condition("PhoneNumbersVerified")?;
            (c.reason == "SecretUnreadable").then(|| c.message.clone())
        }
    })
    .await;
    assert!(message.contains(&command), "{message}");
    assert!(message.contains("403 Forbidden"), "{message}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let secret_requests: Vec<_> = c
        .operator_requests(from)
        .into_iter()
        .filter(|r| r.resource == "secrets")
        .collect();
    assert!(
        secret_requests.iter().all(|r| r.code == 403),
        "every Secret request refused: {secret_requests:?}"
    );
    let rate = secret_requests.len() as f64 / started.elapsed().as_secs_f64();
    assert!(
        rate < 5.0,
        "{} Secret requests in {:?}",
        secret_requests.len(),
        started.elapsed()
    );

    // The team runs the command; the operator reads the code without being asked again.
    c.grant_secret_access();
    eventually(&op, Duration::from_secs(20), "the code read", || {
        let api = api.clone();
        async move {
            let r = api.get("app").await.ok()?;
            let reason = r.condition("PhoneNumbersVerified")?.reason.clone();
            (reason != "SecretUnreadable").then_some(())
        }
    })
    .await;
    println!(
        "| Secrets forbidden (403) in the namespace | {} Secret requests | {rate:.1} | | hold |",
        secret_requests.len()
    );
}

/// The Lease taken over while a reconcile waits on AWS: once the operator sees it lost the Lease
/// it writes nothing more, to Kubernetes or AWS, and it leads and reconciles again when the
/// Lease is free.
#[tokio::test]
async fn a_leader_that_loses_the_lease_mid_reconcile_stops_writing() {
    let c = Cluster::start().await;
    let pool = create_customised_pool(&c.emu, "us-east-1").await;
    let retry = Duration::from_millis(500);
    let lease = c.lease().await;
    let mut election = lease.args();
    election.extend([
        "--identity",
        "leader",
        "--lease-duration",
        "3s",
        "--renew-deadline",
        "2s",
        "--retry-period",
        "500ms",
    ]);
    let op = c.operator(&election);
    eventually(&op, Duration::from_secs(20), "leads", || async {
        op.leads().await.then_some(())
    })
    .await;
    // The reconcile creates the role, then waits on AWS for its next call.
    c.emu.hold_after("CreateRole", true);
    c.create("app", json!({"userPoolId": pool})).await;
    eventually(&op, Duration::from_secs(20), "the reconcile waits on AWS", || async {
        c.emu.hold_triggered().then_some(())
    })
    .await;

    // Another replica takes the Lease over.
    let leases: Api<Lease> = Api::namespaced(c.client.clone(), lease.namespace);
    let mut held = leases.get(lease.name).await.unwrap();
    let spec = held.spec.as_mut().unwrap();
    spec.holder_identity = Some("usurper".into());
    spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    leases.replace(lease.name, &PostParams::default(), &held).await.unwrap();
    let lost = Instant::now();
    eventually(&op, Duration::from_secs(20), "the leader steps down", || async {
        (!op.leads().await).then_some(())
    })
    .await;
    let noticed = lost.elapsed();
    assert!(noticed <= retry * 3, "noticed within a retry period or so: {noticed:?}");
    let from = c.plane().audit().len();
    let aws_calls = c.emu.calls().len();
    c.emu.release_hold();
    tokio::time::sleep(Duration::from_secs(2)).await;

    let writes: Vec<String> = c
        .operator_requests(from)
        .iter()
        .filter(|r| r.is_write())
        .map(|r| format!("{} {}", r.verb, r.resource))
        .collect();
    assert!(
        writes.is_empty(),
        "Kubernetes writes after losing the Lease: {writes:?}"
    );
    let after: Vec<String> = c.emu.calls()[aws_calls..].iter().map(|(_, a)| a.clone()).collect();
    assert!(
        after.len() <= 1,
        "only the AWS call already sent when the Lease was lost may be served: {after:?}"
    );

    // The usurper never renews: the operator takes the Lease back and finishes.
    wait_ready(&c, &op, "app").await;
    assert_eq!(
        c.emu.calls().iter().filter(|(_, a)| a == "CreateRole").count(),
        1,
        "one role"
    );
    println!(
        "| Lease taken over mid-reconcile | noticed after {noticed:?}; {} Kubernetes writes and {} AWS calls after | | {:.1} s | hold |",
        writes.len(),
        after.len(),
        lost.elapsed().as_secs_f64()
    );
}

/// Status goes through the status subresource by server-side apply, owned by the operator's
/// field manager alone; a message longer than an Event may carry reaches the Event cut to 1 KiB
/// with an ellipsis, and the condition whole.
#[tokio::test]
async fn status_is_applied_by_its_own_manager_and_long_messages_fit_events() {
    let c = Cluster::start().await;
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    let op = c.operator(&["--resync-period", "1s"]);
    c.create("app", json!({"userPoolId": pool})).await;
    wait_ready(&c, &op, "app").await;

    let res = c.csms().get("app").await.unwrap();
    let managers = res.metadata.managed_fields.unwrap_or_default();
    let status: Vec<_> = managers
        .iter()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .collect();
    assert_eq!(status.len(), 1, "{managers:?}");
    assert_eq!(status[0].manager.as_deref(), Some("cognito-sms-operator"));
    assert_eq!(status[0].operation.as_deref(), Some("Apply"));
    let spec_owned_by_operator = managers.iter().any(|m| {
        m.manager.as_deref() == Some("cognito-sms-operator")
            && m.fields_v1.as_ref().is_some_and(|f| f.0.get("f:spec").is_some())
    });
    assert!(!spec_owned_by_operator, "the spec is the user's: {managers:?}");

    // Cognito's own diagnosis of the pool, far longer than an Event's note may be.
    let diagnosis = format!(
        "InvalidSmsRoleAccessPolicyException: {}",
        "the role cannot publish. ".repeat(200)
    );
    c.emu
        .set_sms_configuration_failure("us-east-1", &pool, Some(&diagnosis));
    let api = c.csms();
    let (role, ready) = eventually(&op, Duration::from_secs(20), "Cognito's diagnosis", || {
        let api = api.clone();
        async move {
            let r = api.get("app").await.ok()?;
            let role = r.condition("RoleReady")?;
            let ready = r.condition("Ready")?;
            (role.reason == "CognitoReportsSmsConfigurationFailure")
                .then(|| (role.message.clone(), ready.message.clone()))
        }
    })
    .await;
    assert!(
        role.len() > 4096,
        "the condition keeps the whole message: {}",
        role.len()
    );
    assert!(role.contains(diagnosis.trim()), "{role}");
    let warning = eventually(&op, Duration::from_secs(20), "the Warning", || async {
        events(&c)
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("CognitoReportsSmsConfigurationFailure"))
    })
    .await;
    let note = warning.note.unwrap();
    assert!(note.len() <= 1024, "{}", note.len());
    assert!(note.ends_with('…'), "{note}");
    assert!(ready.len() > 1024, "{ready}");
    assert!(ready.starts_with(note.trim_end_matches('…')), "{note}\n{ready}");
}
