//! Many AWS accounts from one installation, on the real control plane: `CognitoSmsAccount`s map
//! the test's namespaces to roles in other accounts of the emulator.

use std::collections::BTreeMap;
use std::time::Duration;

use cognito_sms_operator::crd::{CognitoSmsAccount, CognitoSmsConfig};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::support::accounts::OtherAccount;
use super::support::cluster::*;
use super::support::control_plane::{ControlPlane, EXTERNAL_ID_SECRET, RELEASE, TestNamespace};

/// `CognitoSmsAccount`s a test made, deleted when it ends: they are cluster-wide.
struct Accounts {
    api: Api<CognitoSmsAccount>,
    plane: &'static ControlPlane,
    names: Vec<String>,
}

impl Accounts {
    fn new(c: &Cluster) -> Self {
        Self {
            api: Api::all(c.client.clone()),
            plane: c.plane(),
            names: vec![],
        }
    }

    async fn create(&mut self, name: &str, spec: Value) {
        let account: CognitoSmsAccount =
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
        self.api.create(&PostParams::default(), &account).await.unwrap();
        self.names.push(name.into());
    }

    async fn patch(&self, name: &str, spec: Value) {
        let patch = json!({"spec": spec});
        self.api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }

    /// An account's `Ready` condition (status, reason, message) and `status.resources`, once the
    /// operator has reported on its current spec.
    async fn ready(&self, name: &str) -> Option<(String, String, String, Option<u32>)> {
        let a = self.api.get(name).await.ok()?;
        let status = a.status?;
        if status.observed_generation != a.metadata.generation {
            return None;
        }
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        Some((
            ready.status.clone(),
            ready.reason.clone(),
            ready.message.clone(),
            status.resources,
        ))
    }
}

impl Drop for Accounts {
    fn drop(&mut self) {
        // kubectl, not the test's client: its connection is served by the runtime this blocks.
        for name in &self.names {
            let _ = self
                .plane
                .kubectl_output(&["delete", "cognitosmsaccount", name, "--wait=false"]);
        }
    }
}

/// Put the external ID of the test's account into the Secret the chart lets the operator read,
/// under a key of the test's own.
async fn external_id(c: &Cluster, key: &str, value: &str) {
    let secrets: Api<Secret> = Api::namespaced(c.client.clone(), RELEASE);
    let secret = Secret {
        data: Some(BTreeMap::from([(
            key.to_string(),
            ByteString(value.as_bytes().to_vec()),
        )])),
        ..Default::default()
    };
    let mut patch = serde_json::to_value(&secret).unwrap();
    patch["apiVersion"] = json!("v1");
    patch["kind"] = json!("Secret");
    patch["metadata"] = json!({"name": EXTERNAL_ID_SECRET});
    secrets
        .patch(EXTERNAL_ID_SECRET, &PatchParams::apply(key), &Patch::Apply(&patch))
        .await
        .unwrap();
}

async fn create_in(c: &Cluster, namespace: &str, name: &str, spec: Value) {
    let api: Api<CognitoSmsConfig> = Api::namespaced(c.client.clone(), namespace);
    api.create(&PostParams::default(), &manifest(name, spec)).await.unwrap();
}

/// The resource's `Ready` (status, reason) once it describes its current spec.
async fn ready_of(c: &Cluster, namespace: &str, name: &str) -> Option<(String, String, CognitoSmsConfig)> {
    let api: Api<CognitoSmsConfig> = Api::namespaced(c.client.clone(), namespace);
    let r = api.get(name).await.ok()?;
    let ready = r.condition("Ready")?.clone();
    (r.status.as_ref()?.observed_generation == r.metadata.generation).then_some((ready.status, ready.reason, r))
}

async fn until_reason(c: &Cluster, op: &Operator, namespace: &str, reason: &str) -> CognitoSmsConfig {
    eventually(
        op,
        Duration::from_secs(30),
        &format!("{namespace}/app {reason}"),
        || async {
            ready_of(c, namespace, "app")
                .await
                .filter(|(_, r, _)| r == reason)
                .map(|(_, _, res)| res)
        },
    )
    .await
}

fn role_in(account: &OtherAccount, pool: &str) -> String {
    format!("arn:aws:iam::{}:role/service-role/cognito-sms-{pool}", account.id)
}

/// Two namespaces mapped to two accounts, one by name (with an external ID), one by a label:
/// each pool is configured in its own account by a role created there, and each account reports
/// that its role is assumed and one resource uses it.
#[tokio::test]
async fn two_namespaces_act_in_two_accounts() {
    let c = Cluster::start().await;
    let other = TestNamespace::create(c.plane(), "e2e");
    let payments = c.emu.account("222222222222").await;
    let shop = c.emu.account("333333333333").await;
    let ext = format!("ext-{}", c.ns);
    let payments_role = payments.operator_role(&c.emu, "cognito-sms-operator", Some(&ext));
    let shop_role = shop.operator_role(&c.emu, "cognito-sms-operator", None);
    external_id(&c, &c.ns, &ext).await;
    let label = json!({"metadata": {"labels": {"e2e-account": c.ns}}});
    Api::<Namespace>::all(c.client.clone())
        .patch(&other.name, &PatchParams::default(), &Patch::Merge(&label))
        .await
        .unwrap();
    let mut accounts = Accounts::new(&c);
    let by_name = format!("{}-payments", c.ns);
    let by_label = format!("{}-shop", c.ns);
    accounts
        .create(
            &by_name,
            json!({"roleArn": payments_role, "namespaces": [c.ns],
                   "externalIdSecretRef": {"name": EXTERNAL_ID_SECRET, "key": c.ns}}),
        )
        .await;
    accounts
        .create(
            &by_label,
            json!({"roleArn": shop_role, "namespaceSelector": {"matchLabels": {"e2e-account": c.ns}}}),
        )
        .await;
    let payments_pool = payments.create_pool("eu-west-1", "payments").await;
    let shop_pool = shop.create_pool("us-east-1", "shop").await;

    let op = c.operator(&["--namespace", &other.name, "--resync-period", "10m"]);
    create_in(&c, &c.ns, "app", json!({"userPoolId": payments_pool})).await;
    create_in(&c, &other.name, "app", json!({"userPoolId": shop_pool})).await;
    let mine = until_reason(&c, &op, &c.ns, "Ready").await;
    let theirs = until_reason(&c, &op, &other.name, "Ready").await;

    assert_eq!(
        payments.sns_caller_arn("eu-west-1", &payments_pool).await,
        Some(role_in(&payments, &payments_pool))
    );
    assert_eq!(
        shop.sns_caller_arn("us-east-1", &shop_pool).await,
        Some(role_in(&shop, &shop_pool))
    );
    let selected = mine.status.unwrap().account.unwrap();
    assert_eq!(
        (
            selected.account_id.as_deref(),
            selected.selected_by.as_deref(),
            selected.role_arn.as_deref()
        ),
        (
            Some("222222222222"),
            Some(by_name.as_str()),
            Some(payments_role.as_str())
        )
    );
    assert_eq!(theirs.status.unwrap().account_id.as_deref(), Some("333333333333"));
    for name in [&by_name, &by_label] {
        let (status, reason, _, resources) = eventually(&op, Duration::from_secs(30), name, || async {
            accounts.ready(name).await.filter(|(_, _, _, n)| *n == Some(1))
        })
        .await;
        assert_eq!((status.as_str(), reason.as_str()), ("True", "RoleAssumed"), "{name}");
        assert_eq!(resources, Some(1));
    }
    let listed = c.plane().kubectl(&["get", "csms", "-n", &c.ns]);
    assert!(
        listed.contains("ACCOUNT") && listed.contains("222222222222"),
        "{listed}"
    );
    assert!(!op.log().contains(&ext), "the external ID is never logged");
}

/// With the operator's own identity turned off: an unmapped namespace makes no AWS call; a role
/// that cannot be assumed is reported on the resource and on the account; a changed role ARN
/// takes effect; a second account selecting the namespace stops every write.
#[tokio::test]
async fn unmapped_refused_changed_and_conflicting_accounts() {
    let c = Cluster::start().await;
    let payments = c.emu.account("222222222222").await;
    let wants_an_external_id = payments.operator_role(&c.emu, "needs-external-id", Some("not-given"));
    let trusting = payments.operator_role(&c.emu, "cognito-sms-operator", None);
    let pool = payments.create_pool("eu-west-1", "payments").await;
    c.emu.clear_calls();
    let op = c.operator(&["--allow-operator-identity=false", "--resync-period", "10m"]);

    create_in(&c, &c.ns, "app", json!({"userPoolId": pool})).await;
    let unmapped = until_reason(&c, &op, &c.ns, "NoAccount").await;
    let message = &unmapped.condition("Ready").unwrap().message;
    assert!(
        message.contains(&c.ns) && message.contains("platform admin"),
        "{message}"
    );
    assert!(c.emu.calls().is_empty(), "no AWS call: {:?}", c.emu.calls());

    let mut accounts = Accounts::new(&c);
    let name = format!("{}-payments", c.ns);
    accounts
        .create(&name, json!({"roleArn": wants_an_external_id, "namespaces": [c.ns]}))
        .await;
    let refused = until_reason(&c, &op, &c.ns, "AssumeRoleFailed").await;
    let message = &refused.condition("AccountSelected").unwrap().message;
    assert!(
        message.contains(&wants_an_external_id) && message.contains("AccessDenied"),
        "{message}"
    );
    let (status, reason, _, _) = eventually(&op, Duration::from_secs(30), "the account's status", || async {
        accounts.ready(&name).await
    })
    .await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "AssumeRoleFailed"));
    assert!(
        !c.emu.calls().iter().any(|(s, _)| s != "sts"),
        "nothing but STS was asked: {:?}",
        c.emu.calls()
    );

    accounts.patch(&name, json!({"roleArn": trusting})).await;
    until_reason(&c, &op, &c.ns, "Ready").await;
    assert_eq!(
        payments.sns_caller_arn("eu-west-1", &pool).await,
        Some(role_in(&payments, &pool))
    );

    // Listed by name in a second account: the chart's admission policy refuses it, with the
    // message `reconcile -f` gives.
    let second = format!("{}-shop", c.ns);
    let by_name: CognitoSmsAccount = serde_json::from_value(
        json!({"metadata": {"name": second}, "spec": {"roleArn": trusting, "namespaces": [c.ns]}}),
    )
    .unwrap();
    let Err(kube::Error::Api(refused)) = accounts.api.create(&PostParams::default(), &by_name).await else {
        panic!("a namespace listed by name in two accounts is refused");
    };
    assert_eq!(refused.code, 422, "{refused:?}");
    let expected = cognito_sms_operator::admission::listed_elsewhere(std::slice::from_ref(&c.ns), &name);
    assert!(refused.message.ends_with(&expected), "{}", refused.message);
    // Selected by a label too: nothing can refuse that; both accounts' resources wait.
    accounts
        .create(
            &second,
            json!({"roleArn": trusting, "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": c.ns}}}),
        )
        .await;
    let conflict = until_reason(&c, &op, &c.ns, "AccountConflict").await;
    let message = &conflict.condition("Ready").unwrap().message;
    assert!(message.contains(&name) && message.contains(&second), "{message}");
    let writes_before = c.emu.write_calls().len();
    let (status, _, message, _) = eventually(&op, Duration::from_secs(30), "the conflict on the account", || async {
        accounts
            .ready(&name)
            .await
            .filter(|(_, r, _, _)| r == "AccountConflict")
    })
    .await;
    assert_eq!(status, "False");
    assert!(message.contains(&second), "{message}");
    // A resync later: still no write in any account.
    c.csms()
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {"cognitosms.io/resend-verification-codes": "1"}}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(c.emu.write_calls().len(), writes_before, "{:?}", c.emu.write_calls());
}
