//! The reconcile pipeline driven through an in-memory AWS account: every branch of observe,
//! plan and execute, in milliseconds and without the emulator (the emulator tests in `tests/`
//! check the adapters' fidelity).

mod direct;
mod numbers;
mod owner;
mod pool;
mod remember;
mod role;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::{Env, Mode, Reads, SecretCode, SecretError, SyncReport, Writes, sync};
use crate::account::{AccountSms, Code, Destination, Listed, NumberAt, SnsView};
use crate::aws::{AwsError, ErrorKind};
use crate::conditions::{ConditionStatus, types};
use crate::crd::{CognitoSmsConfig, SecretKeyRef};
use crate::desired::{
    Change, ObservedRole, PUBLISH_POLICY_NAME, Replica, ReplicaRole, ReplicaStatus, SmsConfig, UserPool,
};
use crate::policy;
use crate::testing::{ResourceFixture, resource};

pub(super) const ACCOUNT: &str = "123456789012";
pub(super) const POOL: &str = "eu-west-1_Abc";
pub(super) const ROLE: &str = "cognito-sms-eu-west-1_Abc";
/// The installation of the operator the tests reconcile as.
pub(super) const INSTALLATION: &str = "cluster-a/operators";
/// How that installation identifies phone numbers in status.
pub(super) static IDS: std::sync::LazyLock<crate::account::NumberIds> =
    std::sync::LazyLock::new(crate::testing::number_ids);

pub(super) fn pool_arn() -> String {
    format!("arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/{POOL}")
}

pub(super) fn role_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/service-role/{ROLE}")
}

/// An End User Messaging error with its `Reason`.
pub(super) fn aws_error_because(code: &str, reason: &str) -> AwsError {
    AwsError {
        reason: Some(reason.into()),
        ..aws_error(code)
    }
}

pub(super) fn aws_error(code: &str) -> AwsError {
    AwsError::new(
        "test",
        "Test",
        crate::aws::error::kind_of_code(code),
        code,
        format!("{code} from the test"),
    )
}

/// Which writes never answer.
pub(super) type Hangs = dyn Fn(&Change) -> bool + Send + Sync;

/// One AWS account and region in memory. Writes change it, so a second reconcile sees what the
/// first one did. Reads and writes can be made to fail.
#[derive(Default)]
pub(super) struct World {
    pub account_error: Option<AwsError>,
    /// Policy documents of existing roles, by role name.
    pub documents: HashMap<String, Vec<Value>>,
    /// The Secret holding each number's code, by Secret name.
    pub codes: HashMap<String, Result<SecretCode, SecretError>>,
    /// Reads that fail, by operation: "DescribeUserPool", "GetRole", "GetRolePolicy", ...
    pub failing_reads: HashMap<&'static str, AwsError>,
    /// Writes that fail, by the change's event reason.
    pub failing_writes: HashMap<&'static str, AwsError>,
    /// Writes that never answer.
    pub hanging_writes: Option<Box<Hangs>>,
    /// What writes change.
    pub state: Mutex<State>,
    log: Mutex<Vec<String>>,
}

/// The part of the account that writes change, and the writes made.
#[derive(Default)]
pub(super) struct State {
    pub pool: Option<UserPool>,
    pub roles: HashMap<String, ObservedRole>,
    /// Inline policies of the managed role, by policy name.
    pub inline: HashMap<String, Value>,
    pub account: Option<AccountSms>,
    /// The tags of verified destination numbers, by ARN.
    pub number_tags: HashMap<String, BTreeMap<String, String>>,
    /// The pool's log configurations.
    pub log_configurations: Vec<crate::desired::LogConfiguration>,
    pub changes: Vec<Change>,
    pub forgotten: usize,
}

impl World {
    /// A pool with default settings that `apps/app` of this installation manages, the account in
    /// the sandbox with the new-account spend limit.
    pub fn new() -> Self {
        let owner = crate::desired::Owner::of(&app(json!({})));
        let tags = crate::desired::pool_tags(INSTALLATION, &owner);
        let pool = UserPool {
            id: POOL.into(),
            arn: Some(pool_arn()),
            tags,
            ..Default::default()
        };
        let state = State {
            pool: Some(pool),
            account: Some(AccountSms {
                in_sandbox: true,
                tier: Some("SANDBOXED".into()),
                monthly_spend_limit: Some("1".into()),
                identities: vec![],
                configuration_sets: Default::default(),
                configuration_set_protect: Default::default(),
                default_protect: None,
                destinations: BTreeMap::new(),
                sns: SnsView::default(),
                spend: Ok(Default::default()),
            }),
            ..Default::default()
        };
        World {
            state: Mutex::new(state),
            ..Default::default()
        }
    }

    /// The changeable part of the world, to shape it before a test.
    pub fn set(&mut self) -> &mut State {
        self.state.get_mut().unwrap()
    }

    /// Clear the logs of reads and writes.
    pub fn forget_calls(&self) {
        self.log.lock().unwrap().clear();
        self.state.lock().unwrap().changes.clear();
    }

    pub fn reads(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn writes(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state.changes.iter().map(|c| c.event_reason().to_string()).collect()
    }

    pub fn forgotten(&self) -> usize {
        self.state.lock().unwrap().forgotten
    }

    fn read<T>(&self, op: &'static str, value: T) -> Result<T, AwsError> {
        self.log.lock().unwrap().push(op.to_string());
        match self.failing_reads.get(op) {
            Some(e) => Err(e.clone()),
            None => Ok(value),
        }
    }

    /// Reconcile `res` once against this world and keep the status on it, as the API server
    /// would.
    pub async fn sync(&self, res: &mut CognitoSmsConfig, mode: Mode) -> SyncReport {
        self.sync_claimed(res, mode, &HashSet::new()).await
    }

    pub async fn sync_claimed(
        &self,
        res: &mut CognitoSmsConfig,
        mode: Mode,
        claimed: &HashSet<NumberAt>,
    ) -> SyncReport {
        self.sync_as(res, mode, claimed, INSTALLATION, None).await
    }

    /// Reconcile as `installation`, for a resource whose pool `managed_by` manages (when not
    /// `None`).
    pub async fn sync_as(
        &self,
        res: &mut CognitoSmsConfig,
        mode: Mode,
        claimed: &HashSet<NumberAt>,
        installation: &str,
        managed_by: Option<&str>,
    ) -> SyncReport {
        let env = Env {
            reads: self,
            writes: self,
            claimed_elsewhere: claimed,
            installation,
            number_ids: &IDS,
            pool_managed_by: managed_by.map(String::from),
            acting: crate::plan::tenancy::Acting::OperatorIdentity,
        };
        let report = sync(&env, res, mode, Timestamp::from_second(1_800_000_000).unwrap()).await;
        res.status = Some(report.status.clone());
        report
    }

    /// What a reconcile of this installation works with in this world, claiming no numbers.
    pub fn env(&self) -> Env<'_, &World, &World> {
        static NONE: std::sync::LazyLock<HashSet<NumberAt>> = std::sync::LazyLock::new(HashSet::new);
        Env {
            reads: self,
            writes: self,
            claimed_elsewhere: &NONE,
            installation: INSTALLATION,
            number_ids: &IDS,
            pool_managed_by: None,
            acting: crate::plan::tenancy::Acting::OperatorIdentity,
        }
    }
}

impl Reads for World {
    async fn account_id(&self) -> Result<String, AwsError> {
        self.log.lock().unwrap().push("GetCallerIdentity".into());
        match &self.account_error {
            Some(e) => Err(e.clone()),
            None => Ok(ACCOUNT.into()),
        }
    }
    async fn user_pool(&self, _region: &str, id: &str) -> Result<Option<UserPool>, AwsError> {
        let pool = self.state.lock().unwrap().pool.clone().filter(|p| p.id == id);
        self.read("DescribeUserPool", pool)
    }
    // The world models no protect configuration: the emulator's tests cover them.
    async fn protect_configurations(&self, _region: &str) -> Result<Vec<(String, String)>, AwsError> {
        Ok(vec![])
    }
    async fn protect_rules(&self, _region: &str, _id: &str) -> Result<Option<crate::account::CountryRules>, AwsError> {
        Ok(None)
    }
    async fn log_delivery(
        &self,
        _region: &str,
        id: &str,
    ) -> Result<Option<Vec<crate::desired::LogConfiguration>>, AwsError> {
        let state = self.state.lock().unwrap();
        let found = state
            .pool
            .as_ref()
            .filter(|p| p.id == id)
            .map(|_| state.log_configurations.clone());
        drop(state);
        self.read("GetLogDeliveryConfiguration", found)
    }
    async fn replicas(&self, region: &str, id: &str) -> Result<Option<Vec<Replica>>, AwsError> {
        let pool = self.state.lock().unwrap().pool.clone().filter(|p| p.id == id);
        // A pool of one Region: its primary alone.
        let replicas = pool.map(|p| {
            vec![Replica {
                region: region.into(),
                role: ReplicaRole::Primary,
                status: ReplicaStatus::Active,
                arn: p.arn.unwrap_or_default(),
            }]
        });
        self.read("ListUserPoolReplicas", replicas)
    }
    async fn role(&self, name: &str) -> Result<Option<ObservedRole>, AwsError> {
        let role = self.state.lock().unwrap().roles.get(name).cloned();
        self.read("GetRole", role)
    }
    async fn inline_policy(&self, _role: &str, policy: &str) -> Result<Option<Value>, AwsError> {
        let doc = self.state.lock().unwrap().inline.get(policy).cloned();
        self.read("GetRolePolicy", doc)
    }
    async fn role_policies(&self, role: &str) -> Result<Vec<Value>, AwsError> {
        self.read(
            "ListRolePolicies",
            self.documents.get(role).cloned().unwrap_or_default(),
        )
    }
    async fn account_sms(&self, _account: &str, _region: &str) -> Result<Arc<AccountSms>, AwsError> {
        let account = self
            .state
            .lock()
            .unwrap()
            .account
            .clone()
            .expect("the world has an account");
        self.read("AccountSms", Arc::new(account))
    }
    async fn code(&self, secret: &SecretKeyRef) -> Result<Option<SecretCode>, SecretError> {
        self.log.lock().unwrap().push(format!("Secret/{}", secret.name));
        self.codes.get(&secret.name).cloned().transpose()
    }
    async fn sms_voice_tags(&self, _region: &str, arn: &str) -> Result<Option<BTreeMap<String, String>>, AwsError> {
        let tags = self.state.lock().unwrap().number_tags.get(arn).cloned();
        self.read("ListTagsForResource", tags)
    }
    fn forget_account_sms(&self, _account: &str, _region: &str) {
        self.state.lock().unwrap().forgotten += 1;
    }
}

impl Writes for World {
    async fn apply(&self, change: &Change) -> Result<(), AwsError> {
        if let Some(e) = self.failing_writes.get(change.event_reason()) {
            return Err(e.clone());
        }
        if self.hanging_writes.as_ref().is_some_and(|hangs| hangs(change)) {
            std::future::pending::<()>().await;
        }
        let mut state = self.state.lock().unwrap();
        state.apply(change);
        state.changes.push(change.clone());
        Ok(())
    }
}

impl State {
    /// What AWS would do with `change`.
    fn apply(&mut self, change: &Change) {
        match change {
            Change::CreateRole { role } => {
                self.roles
                    .insert(role.name.clone(), crate::testing::as_created(role, ACCOUNT));
            }
            Change::UpdateTrustPolicy { role_name, document } => self.role(role_name).trust_policy = document.clone(),
            Change::PutPermissionsPolicy {
                policy_name, document, ..
            } => {
                self.inline.insert(policy_name.to_string(), document.clone());
            }
            Change::DeletePermissionsPolicy { policy_name, .. } => {
                self.inline.remove(*policy_name);
            }
            Change::PutPermissionsBoundary { role_name, policy_arn } => {
                self.role(role_name).permissions_boundary = Some(policy_arn.clone());
            }
            Change::DeletePermissionsBoundary { role_name } => self.role(role_name).permissions_boundary = None,
            Change::TagRole { role_name, tags } => self.role(role_name).tags.extend(tags.clone()),
            Change::DeleteRole { role_name } => {
                self.roles.remove(role_name);
            }
            Change::TagUserPool { tags, .. } => {
                let pool = self.pool.as_mut().expect("the pool exists");
                pool.tags.extend(tags.clone());
            }
            Change::UntagUserPool { keys, .. } => {
                if let Some(pool) = self.pool.as_mut() {
                    pool.tags.retain(|k, _| !keys.contains(k));
                }
            }
            Change::UpdateSmsConfiguration { to, add_tags, .. } => {
                let pool = self.pool.as_mut().expect("the pool exists");
                pool.sms = Some(to.clone());
                pool.tags.extend(add_tags.clone());
            }
            Change::UpdateReplicaSmsConfiguration { .. } => panic!("the world's pools have no replica"),
            Change::SetLogDelivery { to, .. } => self.log_configurations = to.clone(),
            Change::CreateProtectConfiguration { .. }
            | Change::UpdateProtectRules { .. }
            | Change::CreateConfigurationSet { .. }
            | Change::AssociateProtectConfiguration { .. }
            | Change::DisassociateProtectConfiguration { .. }
            | Change::DeleteProtectConfiguration { .. } => panic!("the world models no protect configuration"),
            Change::TestSendText(_) | Change::SendVerificationCode { .. } => {}
            Change::AddSandboxNumber { number, tags, .. } => {
                let id = format!("vdn-{}", crate::testing::aws_id(number));
                let arn = format!("arn:aws:sms-voice:eu-west-1:{ACCOUNT}:verified-destination-number/{id}");
                self.number_tags.insert(arn.clone(), tags.clone());
                self.numbers().insert(
                    number.clone(),
                    Destination {
                        id,
                        arn,
                        state: Listed::Pending,
                    },
                );
            }
            Change::VerifySandboxNumber { number, .. } => {
                if let Some(d) = self.numbers().get_mut(number) {
                    d.state = Listed::Verified;
                }
            }
            Change::RemoveSandboxNumber { number, .. } => {
                self.numbers().remove(number);
            }
        }
    }

    fn role(&mut self, name: &str) -> &mut ObservedRole {
        self.roles.get_mut(name).expect("the role exists")
    }

    pub fn numbers(&mut self) -> &mut BTreeMap<String, Destination> {
        &mut self.account.as_mut().expect("the world has an account").destinations
    }
}

/// A role as the operator creates it for `apps/app` and the pool, with external ID `ext`.
pub(super) fn owned_role() -> ObservedRole {
    let tags = crate::desired::Owner::of(&resource("app", json!({"userPoolId": POOL}))).tags();
    ObservedRole {
        name: ROLE.into(),
        arn: role_arn(),
        path: "/service-role/".into(),
        trust_policy: policy::trust_policy(ACCOUNT, &[pool_arn()], Some("ext")),
        permissions_boundary: None,
        tags,
    }
}

/// A world where the managed role of `apps/app` and the pool are already in shape.
pub(super) fn converged() -> World {
    let mut w = World::new();
    let state = w.set();
    state.roles.insert(ROLE.into(), owned_role());
    state
        .inline
        .insert(PUBLISH_POLICY_NAME.into(), policy::publish_policy());
    let sms = SmsConfig {
        caller_arn: role_arn(),
        external_id: Some("ext".into()),
        region: Some("eu-west-1".into()),
        direct: None,
    };
    if let Some(pool) = state.pool.as_mut() {
        pool.sms = Some(sms);
    }
    w
}

/// The resource `apps/app` for the pool, with `extra` merged into its spec.
pub(super) fn app(extra: Value) -> CognitoSmsConfig {
    let mut spec = json!({"userPoolId": POOL});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    resource("app", spec)
}

/// `(status, reason)` of condition `type_`.
pub(super) fn condition(res: &CognitoSmsConfig, type_: &str) -> (ConditionStatus, String) {
    let c = res.condition(type_).unwrap_or_else(|| panic!("condition {type_}"));
    (ConditionStatus::of(c), c.reason.clone())
}

pub(super) fn ready(res: &CognitoSmsConfig) -> (ConditionStatus, String) {
    condition(res, types::READY)
}

pub(super) fn reasons(report: &SyncReport) -> Vec<&'static str> {
    report.changes.iter().map(Change::event_reason).collect()
}

pub(super) fn secret_code(code: &str, version: &str) -> Result<SecretCode, SecretError> {
    Ok(SecretCode {
        code: Code::new(code).unwrap(),
        version: Some(version.into()),
    })
}

pub(super) fn listed(world: &mut World, number: &str, state: Listed) {
    let id = format!("vdn-{}", crate::testing::aws_id(number));
    let arn = format!("arn:aws:sms-voice:eu-west-1:{ACCOUNT}:verified-destination-number/{id}");
    world
        .set()
        .numbers()
        .insert(number.into(), Destination { id, arn, state });
}
