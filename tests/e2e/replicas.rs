//! Restarts, replicas and leadership: no duplicate, no loss, no write without the Lease.

use super::*;

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
