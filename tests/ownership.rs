//! One manager per user pool, end to end on the real control plane: two namespaces that name the
//! same pool, and two installations of the operator sharing one AWS account. The pool flips
//! between them on no resync: each flip would make Cognito send a charged test SMS.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use cognito_sms_operator::crd::CognitoSmsConfig;
use cognito_sms_operator::desired::{TAG_INSTALLATION, TAG_NAME, TAG_NAMESPACE};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;
use support::cluster::*;
use support::control_plane::TestNamespace;
use support::*;

fn calls_of(emu: &Emulator, action: &str) -> usize {
    emu.calls().iter().filter(|(_, a)| a == action).count()
}

async fn pool_tags(emu: &Emulator, pool: &str) -> HashMap<String, String> {
    pool_but_sms(emu, "eu-west-1", pool)
        .await
        .user_pool_tags
        .unwrap_or_default()
}

/// The `Ready` condition of `name` in `api`, once its reason is `reason`.
async fn ready_with(op: &Operator, api: &Api<CognitoSmsConfig>, name: &str, reason: &str) -> (String, String) {
    eventually(
        op,
        Duration::from_secs(30),
        &format!("{name} Ready with reason {reason}"),
        || {
            let api = api.clone();
            async move {
                let r = api.get_opt(name).await.ok().flatten()?;
                let ready = r.condition("Ready")?;
                (ready.reason == reason).then(|| (ready.status.clone(), ready.message.clone()))
            }
        },
    )
    .await
}

/// A second namespace of the test's, whose Secrets the operator may read.
fn second_namespace(c: &Cluster) -> TestNamespace {
    let ns = TestNamespace::create(c.plane(), "e2e");
    let command = c.secret_grant().command(&ns.name);
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    c.plane().kubectl(&args);
    ns
}

/// Resyncs of the manager, seen in AWS: each reads the pool once.
async fn wait_resyncs(c: &Cluster, op: &Operator, count: usize) {
    let start = calls_of(&c.emu, "DescribeUserPool");
    eventually(op, Duration::from_secs(30), &format!("{count} resyncs"), || {
        let done = calls_of(&c.emu, "DescribeUserPool") >= start + count;
        async move { done.then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn two_namespaces_naming_one_pool_one_manages_it_and_the_next_takes_over() {
    let c = Cluster::start().await;
    let other = second_namespace(&c);
    let pool = create_pool(&c.emu, "eu-west-1", "app").await;
    let op = c.operator(&["--resync-period", "2s", "--namespace", &other.name]);
    c.create("app", json!({"userPoolId": pool})).await;
    wait_ready(&c, &op, "app").await;

    let theirs: Api<CognitoSmsConfig> = Api::namespaced(c.client.clone(), &other.name);
    theirs
        .create(
            &PostParams::default(),
            &manifest("intruder", json!({"userPoolId": pool})),
        )
        .await
        .unwrap();
    let (status, message) = ready_with(&op, &theirs, "intruder", "PoolClaimed").await;
    assert_eq!(status, "False");
    assert!(message.contains(&format!("managed by {}/app", c.ns)), "{message}");

    wait_resyncs(&c, &op, 4).await;
    assert_eq!(
        calls_of(&c.emu, "UpdateUserPool"),
        1,
        "the pool was configured once, by its manager, over several resyncs: {:?}",
        c.emu.write_calls()
    );
    let tags = pool_tags(&c.emu, &pool).await;
    assert_eq!(
        (tags[TAG_NAMESPACE].as_str(), tags[TAG_NAME].as_str()),
        (c.ns.as_str(), "app")
    );
    assert!(!tags[TAG_INSTALLATION].is_empty(), "{tags:?}");
    let intruder = theirs.get("intruder").await.unwrap();
    let status = intruder.status.unwrap_or_default();
    assert_eq!(
        (status.managed_user_pool_id, status.role_arn),
        (None, None),
        "the other resource touched nothing"
    );

    // The manager goes (with Retain, as it was created); the other resource takes the pool over,
    // and the role the pool sends with along with it: no change to the pool's SMS settings.
    c.csms().delete("app", &DeleteParams::default()).await.unwrap();
    let (status, _) = ready_with(&op, &theirs, "intruder", "Ready").await;
    assert_eq!(status, "True");
    let tags = pool_tags(&c.emu, &pool).await;
    assert_eq!(
        (tags[TAG_NAMESPACE].as_str(), tags[TAG_NAME].as_str()),
        (other.name.as_str(), "intruder")
    );
    assert_eq!(calls_of(&c.emu, "UpdateUserPool"), 1, "no test SMS for the handover");
    let role_tags = c.emu.role_tags(&format!("cognito-sms-{pool}")).await;
    assert_eq!(role_tags[TAG_NAMESPACE], other.name, "the role went with the pool");
}

#[tokio::test]
async fn two_installations_sharing_an_account_never_fight_over_a_pool() {
    let c = Cluster::start().await;
    let other = second_namespace(&c);
    let pool = create_pool(&c.emu, "eu-west-1", "app").await;
    // The first installation is named by default (the cluster's identity); the second as a
    // rebuilt cluster would be, by hand.
    let first = c.operator(&["--resync-period", "2s"]);
    c.create("app", json!({"userPoolId": pool})).await;
    wait_ready(&c, &first, "app").await;
    let installation = pool_tags(&c.emu, &pool).await[TAG_INSTALLATION].clone();

    let second = c.operator_in(
        &other.name,
        &["--resync-period", "2s", "--installation", "cluster-b"],
        &[],
        &[],
    );
    let theirs: Api<CognitoSmsConfig> = Api::namespaced(c.client.clone(), &other.name);
    let spec = json!({"userPoolId": pool, "role": {"managed": {"name": "cognito-sms-cluster-b"}}});
    theirs
        .create(&PostParams::default(), &manifest("app", spec))
        .await
        .unwrap();
    let (status, message) = ready_with(&second, &theirs, "app", "PoolOwnedElsewhere").await;
    assert_eq!(status, "False");
    assert!(
        message.contains(&format!("resource {}/app of installation {installation}", c.ns)),
        "{message}"
    );
    assert!(message.contains("untag-resource"), "{message}");
    wait_resyncs(&c, &first, 6).await;
    assert_eq!(calls_of(&c.emu, "UpdateUserPool"), 1, "{:?}", c.emu.write_calls());
    assert!(
        c.emu.role_tags("cognito-sms-cluster-b").await.is_empty(),
        "the second installation created no role"
    );

    // The handover the message describes: the first installation's resource goes, then the
    // pool's record. The second installation takes the pool; the first leaves it alone.
    c.csms().delete("app", &DeleteParams::default()).await.unwrap();
    drop(first);
    let untag = message.split("aws cognito-idp untag-resource ").nth(1).unwrap();
    let mut words = untag.split_whitespace();
    assert_eq!(words.next(), Some("--resource-arn"));
    let arn = words.next().unwrap().to_string();
    assert_eq!(words.next(), Some("--tag-keys"));
    let keys: Vec<String> = words.map(String::from).collect();
    c.emu
        .cognito("eu-west-1")
        .await
        .untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys))
        .send()
        .await
        .unwrap();
    let (status, _) = ready_with(&second, &theirs, "app", "Ready").await;
    assert_eq!(status, "True");
    let tags = pool_tags(&c.emu, &pool).await;
    assert_eq!(
        (tags[TAG_INSTALLATION].as_str(), tags[TAG_NAMESPACE].as_str()),
        ("cluster-b", other.name.as_str())
    );
    assert_eq!(calls_of(&c.emu, "UpdateUserPool"), 2, "one configuration each");
}
