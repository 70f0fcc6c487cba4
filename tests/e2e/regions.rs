//! Multi-Region user pools: a secondary added after the pool was configured gets its SMS within a
//! resync period, an INACTIVE one too, a failover finds it ready, and a removed one leaves the
//! role's trust as it was.

use super::*;
use aws_sdk_cognitoidentityprovider::types::SmsConfigurationType;

/// The secondary's SNS settings, once it has some.
async fn west(c: &Cluster, pool: &str) -> Option<(String, Option<String>)> {
    let sms = c.emu.sms_configuration("us-west-2", pool).await?;
    Some((sms.sns_caller_arn().to_string(), sms.sns_region().map(String::from)))
}

async fn set_replica_status(c: &Cluster, pool: &str, status: &str) {
    c.emu
        .cognito("us-east-1")
        .await
        .update_user_pool_replica()
        .user_pool_id(pool)
        .region_name("us-west-2")
        .status(status.into())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_replica_added_later_is_configured_within_a_resync_period_and_through_a_failover() {
    let c = Cluster::start().await;
    c.emu.replicas(json!({"createSeconds": 0, "deleteSeconds": 0}));
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    let resync = Duration::from_secs(3);
    let op = c.operator(&["--resync-period", "3s"]);
    c.create("app", json!({"userPoolId": pool})).await;
    let res = wait_ready(&c, &op, "app").await;
    assert_eq!(res.condition("ReplicasConfigured").unwrap().reason, "NoReplicas");
    let role_arn = res.status.unwrap().role_arn.unwrap();

    // A replica added to the configured pool.
    c.emu.replicate("us-east-1", &pool, "us-west-2").await;
    let added = Instant::now();
    let configured = eventually(&op, Duration::from_secs(20), "the secondary configured", || {
        west(&c, &pool)
    })
    .await;
    let took = added.elapsed();
    eprintln!("a replica added later was configured {took:?} after it was created (resync period {resync:?})");
    assert!(took < resync * 2, "within one resync period and a reconcile: {took:?}");
    assert_eq!(configured, (role_arn.clone(), Some("us-west-2".into())));
    let configured = configured.clone();
    let trust = c.emu.trust_policy(&format!("cognito-sms-{pool}")).await;
    assert_eq!(
        trust["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"],
        json!([
            format!("arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/{pool}"),
            format!("arn:aws:cognito-idp:us-west-2:{ACCOUNT}:userpool/{pool}")
        ])
    );
    let res = eventually(&op, Duration::from_secs(10), "status.regions", || async {
        let r = c.csms().get("app").await.ok()?;
        (r.status.as_ref()?.regions.len() == 2).then_some(r)
    })
    .await;
    assert!(res.status.unwrap().regions.iter().all(|r| r.configured));
    let appeared = eventually(&op, Duration::from_secs(10), "the ReplicaAppeared Event", || async {
        events(&c)
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("ReplicaAppeared"))
    })
    .await;
    assert!(appeared.note.unwrap_or_default().contains("us-west-2"));

    // INACTIVE, someone points its SMS at another role (sending every other setting back): it is
    // configured again while inactive, so that a failover finds it ready.
    set_replica_status(&c, &pool, "INACTIVE").await;
    let cognito = c.emu.cognito("us-west-2").await;
    let replica = pool_but_sms(&c.emu, "us-west-2", &pool).await;
    let other = SmsConfigurationType::builder()
        .sns_caller_arn(format!("arn:aws:iam::{ACCOUNT}:role/other"))
        .build();
    cognito_sms_operator::aws::cognito::with_every_setting_of(cognito.update_user_pool(), &replica, other)
        .send()
        .await
        .unwrap();
    assert_ne!(west(&c, &pool).await, Some(configured.clone()));
    let again = eventually(
        &op,
        Duration::from_secs(20),
        "the INACTIVE secondary configured again",
        || async { west(&c, &pool).await.filter(|w| *w == configured) },
    )
    .await;
    assert_eq!(again, configured);

    // The failover drill: the secondary becomes ACTIVE, and its SMS were already in place.
    c.emu.clear_calls();
    set_replica_status(&c, &pool, "ACTIVE").await;
    tokio::time::sleep(resync * 2).await;
    assert_eq!(west(&c, &pool).await, Some((role_arn, Some("us-west-2".into()))));
    let writes: Vec<_> = c
        .emu
        .write_calls()
        .into_iter()
        .filter(|(_, a)| a != "UpdateUserPoolReplica")
        .collect();
    assert_eq!(writes, vec![], "nothing to write after the failover");

    // Removed: the trust goes back to the primary's ARN alone, and an Event says so.
    set_replica_status(&c, &pool, "INACTIVE").await;
    c.emu
        .cognito("us-east-1")
        .await
        .delete_user_pool_replica()
        .user_pool_id(&pool)
        .region_name("us-west-2")
        .send()
        .await
        .unwrap();
    let pool_arn = format!("arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/{pool}");
    eventually(
        &op,
        Duration::from_secs(20),
        "the trust without the secondary",
        || async {
            let trust = c.emu.trust_policy(&format!("cognito-sms-{pool}")).await;
            (trust["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"] == json!(pool_arn)).then_some(())
        },
    )
    .await;
    eventually(&op, Duration::from_secs(10), "the ReplicaGone Event", || async {
        events(&c)
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("ReplicaGone"))
    })
    .await;
}

/// The direct path: the secondary sends from its own Region's identity, which the spec names for
/// it; without it, the condition says what to add.
#[tokio::test]
async fn a_direct_path_secondary_sends_from_the_identity_named_for_its_region() {
    let c = Cluster::start().await;
    for (region, number) in [("us-east-1", "+12065550100"), ("us-west-2", "+12065550199")] {
        c.emu.sns_account(
            region,
            json!({"originationNumbers": [{"phoneNumber": number, "type": "TEN_DLC"}]}),
        );
    }
    c.emu.replicas(json!({"createSeconds": 0}));
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    c.emu.replicate("us-east-1", &pool, "us-west-2").await;
    let op = c.operator(&["--resync-period", "10m"]);
    let primary_only = json!({"userPoolId": pool, "endUserMessaging": {"originationIdentity": "+12065550100"}});
    c.create("app", primary_only).await;

    let needed = eventually(&op, Duration::from_secs(20), "IdentityNeededInRegion", || async {
        let r = c.csms().get("app").await.ok()?;
        let condition = r.condition("ReplicasConfigured")?.clone();
        (condition.reason == "IdentityNeededInRegion").then_some(condition)
    })
    .await;
    assert!(needed.message.contains("us-west-2"), "{}", needed.message);

    let replicas = json!({"spec": {"replicas": [
        {"region": "us-west-2", "endUserMessaging": {"originationIdentity": "+12065550199"}}
    ]}});
    c.csms()
        .patch("app", &PatchParams::default(), &Patch::Merge(&replicas))
        .await
        .unwrap();
    let res = eventually(&op, Duration::from_secs(20), "the secondary configured", || async {
        let r = c.csms().get("app").await.ok()?;
        let current = r.status.as_ref()?.observed_generation == r.metadata.generation;
        (current && r.condition("ReplicasConfigured")?.status == "True").then_some(r)
    })
    .await;
    let west = c.emu.sms_configuration("us-west-2", &pool).await.unwrap();
    let eums = west.eums_sms().expect("the direct path in us-west-2");
    assert_eq!(eums.region(), Some("us-west-2"));
    assert!(
        eums.origination_identity().unwrap_or_default().contains(":us-west-2:"),
        "{eums:?}"
    );
    let regions = res.status.unwrap().regions;
    assert!(regions.iter().all(|r| r.configured), "{regions:?}");
}
