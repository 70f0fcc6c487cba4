//! One reconcile of one `CognitoSmsConfig` against AWS: observe → desired → diff → act → status.
//! Shared by the controller and the one-shot command; knows nothing of Kubernetes clients.

use std::collections::HashSet;
use std::future::Future;

use aws_sdk_cognitoidentityprovider::types::UserPoolType;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::aws::{Aws, AwsError, cognito, iam::role_name_from_arn};
use crate::conditions::{self, Finding, Findings, SmsFindings, Status, reasons};
use crate::crd::{
    CognitoSmsConfig, CognitoSmsConfigStatus, DeletionPolicy, ExistingRole, ManagedRole, SandboxNumberState,
    SandboxNumberStatus, SandboxPhoneNumber, SandboxState,
};
use crate::desired::{self, Change, Owner, Ownership, SmsConfig};
use crate::sns::{self, AccountSms, Code, NumberStep, mask, number_id};
use crate::sns_cache::SnsCache;
use crate::{policy, regions};

/// A verification code read from a Secret, with the Secret's version.
#[derive(Debug, Clone)]
pub struct SecretCode {
    pub code: Code,
    /// `metadata.resourceVersion` of the Secret, when it has one.
    pub version: Option<String>,
}

/// Where verification codes come from: the cluster's Secrets, or those in a one-shot file.
pub trait SecretSource: Sync {
    /// The code at `key` of Secret `name` in the resource's namespace; `None` while the Secret or
    /// the key does not exist or is empty; `Err` with a reason when it cannot be read.
    fn code(&self, name: &str, key: &str) -> impl Future<Output = Result<Option<SecretCode>, String>> + Send;
}

/// What a reconcile works with besides the resource itself.
pub struct Env<'a, S> {
    pub aws: &'a Aws,
    pub sns: &'a SnsCache,
    pub secrets: &'a S,
    /// Sandbox numbers that other resources using the same SNS region list.
    pub claimed_elsewhere: &'a HashSet<String>,
}

/// Whether changes are made or only planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    DryRun,
}

/// When to look again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// Everything that could be done is done, or only a person can make progress: come back on
    /// the resync period to catch drift.
    Resync,
    /// Something that fixes itself (IAM propagation, throttling, a pool not yet created): retry
    /// with backoff.
    Backoff,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: CognitoSmsConfigStatus,
    /// Changes made (or, in a dry run, that would be made), in order.
    pub changes: Vec<Change>,
    pub requeue: Requeue,
}

impl Outcome {
    /// The first failing check, for a Warning event.
    pub fn problem(&self) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
        self.status
            .conditions
            .iter()
            .find(|c| c.type_ == conditions::types::READY && c.status != "True")
    }
}

/// The Kubernetes identity a resource's AWS objects are tagged with.
pub fn owner_of(res: &CognitoSmsConfig) -> Owner {
    Owner {
        namespace: res.namespace().unwrap_or_else(|| "default".into()),
        name: res.name_any(),
        uid: res.uid(),
    }
}

/// A new external ID: 128 random bits, hex.
pub fn generate_external_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// What reconcile learned so far; turned into status at the end whatever path it took.
struct Progress {
    status: CognitoSmsConfigStatus,
    changes: Vec<Change>,
    requeue: Requeue,
}

impl Progress {
    fn failed_on(&mut self, err: &AwsError) -> Finding {
        if !err.kind.is_terminal() {
            self.requeue = Requeue::Backoff;
        }
        let finding = Finding::failed(err.kind.reason(), err.to_string());
        if err.kind == crate::aws::ErrorKind::IamPropagation {
            Finding {
                status: Status::Unknown,
                ..finding
            }
        } else {
            finding
        }
    }
}

fn waiting(reason: &'static str, message: &str) -> Finding {
    Finding::unknown(reason, message)
}

/// Reconcile `res` once. Never fails: every problem ends up as a condition in the returned status.
pub async fn reconcile<S: SecretSource>(
    env: &Env<'_, S>,
    res: &CognitoSmsConfig,
    mode: Mode,
    now: Timestamp,
) -> Outcome {
    let previous = res.status.clone().unwrap_or_default();
    let mut p = Progress {
        status: CognitoSmsConfigStatus {
            external_id: previous.external_id.clone(),
            ..Default::default()
        },
        changes: vec![],
        requeue: Requeue::Resync,
    };
    let (findings, sms) = run(env, res, mode, now, &mut p).await;
    p.status.observed_generation = res.metadata.generation;
    p.status.last_sync_time = Some(now.round(k8s_openapi::jiff::Unit::Second).unwrap_or(now).to_string());
    p.status.conditions = conditions::conditions(&findings, &sms, &previous.conditions, res.metadata.generation, now);
    Outcome {
        status: p.status,
        changes: p.changes,
        requeue: p.requeue,
    }
}

/// The SNS region for a spec, when the spec is valid.
pub fn sns_region_of(res: &CognitoSmsConfig) -> Option<String> {
    regions::resolve_sns_region(&res.spec.user_pool_id, res.spec.sns_region.as_deref()).ok()
}

async fn run<S: SecretSource>(
    env: &Env<'_, S>,
    res: &CognitoSmsConfig,
    mode: Mode,
    now: Timestamp,
    p: &mut Progress,
) -> (Findings, SmsFindings) {
    let spec = &res.spec;
    let invalid = |msg: &str| waiting(reasons::INVALID_SPEC, msg);

    // The region table first: nothing is read or written for a resource that cannot be valid.
    let sns_region = match regions::resolve_sns_region(&spec.user_pool_id, spec.sns_region.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            let reason = match e {
                regions::RegionError::MalformedUserPoolId(_) => reasons::INVALID_USER_POOL_ID,
                regions::RegionError::NotAllowed { .. } => reasons::SNS_REGION_NOT_ALLOWED,
            };
            let findings = Findings {
                sns_region: Finding::failed(reason, e.to_string()),
                role: invalid("fix the spec first"),
                user_pool: invalid("fix the spec first"),
            };
            return (
                findings,
                SmsFindings::unknown(sns::reasons::NOT_CHECKED, "fix the spec first"),
            );
        }
    };
    let pool_region = regions::pool_region(&spec.user_pool_id).unwrap_or_default().to_string();
    p.status.sns_region = Some(sns_region.clone());
    let region_ok = Finding::ok(
        reasons::SNS_REGION_ALLOWED,
        format!("SNS region {sns_region} may be used by pools in {pool_region}"),
    );

    let account_id = match env.aws.account_id().await {
        Ok(a) => a,
        Err(e) => {
            let f = p.failed_on(&e);
            let findings = Findings {
                sns_region: region_ok,
                role: f.clone(),
                user_pool: f.clone(),
            };
            let sms = SmsFindings {
                sandbox: f.clone(),
                phone_numbers: f.clone(),
                origination: f.clone(),
                spend_limit: f,
            };
            return (findings, sms);
        }
    };
    p.status.account_id = Some(account_id.clone());

    let findings = configure(env.aws, res, &pool_region, &sns_region, &account_id, region_ok, mode, p).await;
    let sms = observe_sms(env, res, &account_id, &sns_region, mode, now, p).await;
    (findings, sms)
}

/// Steps 1, 2 and 7 of the guide: the role and the pool's SMS configuration.
#[allow(clippy::too_many_arguments)]
async fn configure(
    aws: &Aws,
    res: &CognitoSmsConfig,
    pool_region: &str,
    sns_region: &str,
    account_id: &str,
    region_ok: Finding,
    mode: Mode,
    p: &mut Progress,
) -> Findings {
    let spec = &res.spec;
    let invalid = |msg: &str| waiting(reasons::INVALID_SPEC, msg);
    if spec.role.managed.is_some() && spec.role.existing.is_some() {
        let msg = "set either role.managed or role.existing, not both";
        return Findings {
            sns_region: region_ok,
            role: Finding::failed(reasons::INVALID_SPEC, msg),
            user_pool: invalid(msg),
        };
    }

    let pool = match aws.cognito(pool_region).describe_user_pool(&spec.user_pool_id).await {
        Ok(Some(pool)) => pool,
        Ok(None) => {
            p.requeue = Requeue::Backoff;
            return Findings {
                sns_region: region_ok,
                role: waiting(reasons::WAITING_FOR_USER_POOL, "waiting for the user pool to exist"),
                user_pool: Finding::failed(
                    reasons::USER_POOL_NOT_FOUND,
                    format!(
                        "user pool {} not found in {pool_region} for account {account_id}: create it or fix spec.userPoolId",
                        spec.user_pool_id
                    ),
                ),
            };
        }
        Err(e) => {
            let f = p.failed_on(&e);
            return Findings {
                sns_region: region_ok,
                role: waiting(reasons::WAITING_FOR_USER_POOL, "waiting to read the user pool"),
                user_pool: f,
            };
        }
    };
    let pool_arn = pool.arn().map(String::from).unwrap_or_else(|| {
        format!(
            "arn:aws:cognito-idp:{pool_region}:{account_id}:userpool/{}",
            spec.user_pool_id
        )
    });
    p.status.user_pool_arn = Some(pool_arn.clone());

    let role = match (&spec.role.existing, &spec.role.managed) {
        (Some(existing), _) => check_existing_role(aws, existing, res, account_id, &pool_arn, p).await,
        (None, managed) => {
            let managed = managed.clone().unwrap_or_default();
            ensure_managed_role(aws, &managed, res, account_id, &pool_arn, mode, p).await
        }
    };
    let (role_finding, role_arn) = match role {
        RoleResult::Ready(finding, arn) | RoleResult::Planned(finding, arn) => (finding, arn),
        RoleResult::NotReady(finding) => {
            return Findings {
                sns_region: region_ok,
                role: finding,
                user_pool: waiting(reasons::WAITING_FOR_ROLE, "waiting for the IAM role to be ready"),
            };
        }
    };
    p.status.role_arn = Some(role_arn.clone());

    let desired_sms = SmsConfig {
        sns_caller_arn: role_arn,
        external_id: p.status.external_id.clone(),
        sns_region: Some(sns_region.to_string()),
    };
    let user_pool = ensure_sms_configuration(aws, &pool, pool_region, desired_sms, mode, p).await;
    Findings {
        sns_region: region_ok,
        role: role_finding,
        user_pool,
    }
}

/// Steps 2 to 6 of the guide, as SNS sees the account in the SNS region: sandbox, spend limit,
/// origination identities, and the sandbox destination numbers of this resource.
async fn observe_sms<S: SecretSource>(
    env: &Env<'_, S>,
    res: &CognitoSmsConfig,
    account_id: &str,
    region: &str,
    mode: Mode,
    now: Timestamp,
    p: &mut Progress,
) -> SmsFindings {
    let account = match env.sns.get(env.aws, account_id, region).await {
        Ok(a) => a,
        Err(e) => {
            let f = p.failed_on(&e);
            return SmsFindings {
                sandbox: f.clone(),
                phone_numbers: f.clone(),
                origination: f.clone(),
                spend_limit: f,
            };
        }
    };
    let checked_at = account.checked_at.unwrap_or(now);
    p.status.sandbox = Some(SandboxState {
        in_sandbox: account.in_sandbox,
        checked_at: checked_at
            .round(k8s_openapi::jiff::Unit::Second)
            .unwrap_or(checked_at)
            .to_string(),
    });
    p.status.monthly_spend_limit_usd = account.monthly_spend_limit.clone();
    p.status.origination_identities = sns::identities(&account);
    let numbers = ensure_sandbox_numbers(env, res, account_id, region, &account, mode, p).await;
    let phone_numbers = sns::numbers_finding(account.in_sandbox, &numbers);
    p.status.sandbox_phone_numbers = numbers;
    SmsFindings {
        sandbox: sns::sandbox_finding(account.in_sandbox, region),
        phone_numbers,
        origination: sns::origination_finding(&account, &res.spec.destination_countries, region),
        spend_limit: sns::spend_finding(
            account.monthly_spend_limit.as_deref(),
            res.spec.minimum_monthly_spend_limit_usd.as_deref(),
            region,
        ),
    }
}

fn number_status(
    number: &str,
    state: SandboxNumberState,
    reason: &str,
    message: String,
    added_by_operator: bool,
) -> SandboxNumberStatus {
    SandboxNumberStatus {
        id: number_id(number),
        phone_number: mask(number),
        state,
        reason: reason.to_string(),
        message,
        added_by_operator,
        rejected_secret_version: None,
    }
}

/// Add, verify and remove sandbox destination numbers; returns their status.
async fn ensure_sandbox_numbers<S: SecretSource>(
    env: &Env<'_, S>,
    res: &CognitoSmsConfig,
    account_id: &str,
    region: &str,
    account: &AccountSms,
    mode: Mode,
    p: &mut Progress,
) -> Vec<SandboxNumberStatus> {
    let previous = res
        .status
        .as_ref()
        .map(|s| s.sandbox_phone_numbers.clone())
        .unwrap_or_default();
    let prev = |number: &str| previous.iter().find(|s| s.id == number_id(number));
    let ns = res.namespace().unwrap_or_else(|| "default".into());
    let where_ = |n: &SandboxPhoneNumber| {
        format!(
            "Secret {ns}/{} under key {}",
            n.verification_code_ref.name, n.verification_code_ref.key
        )
    };
    let sns_api = env.aws.sns(region);
    let mut out = vec![];
    let mut wrote = false;
    let steps = sns::number_steps(
        &res.spec.sandbox_phone_numbers,
        &account.sandbox_numbers,
        &previous,
        env.claimed_elsewhere,
    );
    for step in steps {
        match step {
            NumberStep::Done(n) => {
                let added = prev(&n.phone_number).is_some_and(|s| s.added_by_operator);
                out.push(number_status(
                    &n.phone_number,
                    SandboxNumberState::Verified,
                    sns::reasons::VERIFIED,
                    "verified with SNS".into(),
                    added,
                ));
            }
            NumberStep::Add(n) => {
                let language = n.language_code.map(|l| l.as_str().to_string());
                let change = Change::AddSandboxNumber {
                    region: region.to_string(),
                    number: n.phone_number.clone(),
                    language: language.clone(),
                };
                let sent = format!(
                    "SNS texted a verification code to {}: put it in {}",
                    mask(&n.phone_number),
                    where_(&n)
                );
                if mode == Mode::DryRun {
                    p.changes.push(change);
                    let msg = format!(
                        "dry run, not applied: would ask SNS to text a verification code to {}, to be put in {}",
                        mask(&n.phone_number),
                        where_(&n)
                    );
                    out.push(number_status(
                        &n.phone_number,
                        SandboxNumberState::Pending,
                        reasons::CHANGES_PENDING,
                        msg,
                        true,
                    ));
                    continue;
                }
                match sns_api
                    .create_sandbox_number(&n.phone_number, language.as_deref())
                    .await
                {
                    Ok(()) => {
                        wrote = true;
                        p.changes.push(change);
                        out.push(number_status(
                            &n.phone_number,
                            SandboxNumberState::Pending,
                            sns::reasons::CODE_SENT,
                            sent,
                            true,
                        ));
                    }
                    Err(e) => {
                        p.failed_on(&e);
                        let msg = format!("SNS refused to add the number: {}: {}", e.code, e.message);
                        out.push(number_status(
                            &n.phone_number,
                            SandboxNumberState::Failed,
                            &e.code,
                            msg,
                            false,
                        ));
                    }
                }
            }
            NumberStep::Verify(n) => {
                let before = prev(&n.phone_number);
                let added = before.is_some_and(|s| s.added_by_operator);
                let status = verify_number(env, &sns_api, &n, before, &where_(&n), region, mode, &mut wrote, p).await;
                out.push(SandboxNumberStatus {
                    added_by_operator: added,
                    ..status
                });
            }
            NumberStep::Remove(number) => {
                let change = Change::RemoveSandboxNumber {
                    region: region.to_string(),
                    number: number.clone(),
                };
                if mode == Mode::DryRun {
                    p.changes.push(change);
                    let msg = "dry run, not applied: dropped from the spec".to_string();
                    out.push(number_status(
                        &number,
                        SandboxNumberState::Removing,
                        reasons::CHANGES_PENDING,
                        msg,
                        true,
                    ));
                    continue;
                }
                match sns_api.delete_sandbox_number(&number).await {
                    Ok(()) => {
                        wrote = true;
                        p.changes.push(change);
                    }
                    Err(e) if e.is_not_found() => wrote = true,
                    Err(e) => {
                        // SNS refuses within 24 hours of the last attempt to add or verify the number:
                        // keep it in status and try again on a later resync.
                        let msg = if e.code == "UserError" {
                            format!(
                                "SNS refused to remove it yet ({}); retrying on the next resync",
                                e.message
                            )
                        } else {
                            p.failed_on(&e);
                            format!("SNS refused to remove it: {}: {}", e.code, e.message)
                        };
                        out.push(number_status(
                            &number,
                            SandboxNumberState::Removing,
                            sns::reasons::REMOVAL_REFUSED,
                            msg,
                            true,
                        ));
                    }
                }
            }
        }
    }
    if wrote {
        env.sns.invalidate(account_id, region);
    }
    out
}

/// A Pending number: verify it when its Secret holds a code SNS has not already refused.
#[allow(clippy::too_many_arguments)]
async fn verify_number<S: SecretSource>(
    env: &Env<'_, S>,
    sns_api: &crate::aws::sns::Sns<'_>,
    n: &SandboxPhoneNumber,
    before: Option<&SandboxNumberStatus>,
    where_: &str,
    region: &str,
    mode: Mode,
    wrote: &mut bool,
    p: &mut Progress,
) -> SandboxNumberStatus {
    let number = &n.phone_number;
    let pending =
        |reason: &str, message: String| number_status(number, SandboxNumberState::Pending, reason, message, false);
    let secret = match env
        .secrets
        .code(&n.verification_code_ref.name, &n.verification_code_ref.key)
        .await
    {
        Ok(Some(s)) => s,
        Ok(None) => {
            let msg = format!(
                "waiting for the code SNS texted to {}: put it in {where_}",
                mask(number)
            );
            return pending(sns::reasons::AWAITING_CODE, msg);
        }
        Err(why) => {
            p.requeue = Requeue::Backoff;
            let msg = format!("cannot read {where_}: {why}");
            return number_status(
                number,
                SandboxNumberState::Failed,
                sns::reasons::SECRET_UNREADABLE,
                msg,
                false,
            );
        }
    };
    let rejected = before.and_then(|b| b.rejected_secret_version.clone());
    let refused = |version: Option<String>| SandboxNumberStatus {
        rejected_secret_version: version,
        ..number_status(
            number,
            SandboxNumberState::Failed,
            sns::reasons::CODE_REJECTED,
            format!(
                "SNS did not accept the code in {where_}: put the code from the latest SMS to {} there",
                mask(number)
            ),
            false,
        )
    };
    if rejected.is_some() && rejected == secret.version {
        return refused(rejected);
    }
    let change = Change::VerifySandboxNumber {
        region: region.to_string(),
        number: number.clone(),
    };
    if mode == Mode::DryRun {
        p.changes.push(change);
        return pending(
            reasons::CHANGES_PENDING,
            format!("dry run, not applied: would verify with the code in {where_}"),
        );
    }
    match sns_api.verify_sandbox_number(number, &secret.code).await {
        Ok(()) => {
            *wrote = true;
            p.changes.push(change);
            number_status(
                number,
                SandboxNumberState::Verified,
                sns::reasons::VERIFIED,
                "verified with SNS".into(),
                false,
            )
        }
        // A refused code leaves the sandbox list as it was: nothing to invalidate.
        Err(e) if e.code == "VerificationException" => refused(secret.version),
        Err(e) => {
            p.failed_on(&e);
            let msg = format!("SNS could not verify it: {}: {}", e.code, e.message);
            number_status(number, SandboxNumberState::Failed, &e.code, msg, false)
        }
    }
}

enum RoleResult {
    /// The role Cognito should use, with its finding.
    Ready(Finding, String),
    /// A dry run found role changes; planning goes on as if they were made.
    Planned(Finding, String),
    NotReady(Finding),
}

async fn ensure_managed_role(
    aws: &Aws,
    managed: &ManagedRole,
    res: &CognitoSmsConfig,
    account_id: &str,
    pool_arn: &str,
    mode: Mode,
    p: &mut Progress,
) -> RoleResult {
    let owner = owner_of(res);
    let name = desired::role_name(managed, &res.spec.user_pool_id);
    let path = desired::role_path(managed);
    let iam = aws.iam();

    let observed = match iam.get_role(&name).await {
        Ok(o) => o,
        Err(e) => return RoleResult::NotReady(p.failed_on(&e)),
    };
    if let Some(role) = &observed {
        match desired::ownership(&role.tags, &owner) {
            Ownership::Ours => {}
            Ownership::OtherResource(other) => {
                return RoleResult::NotReady(Finding::failed(
                    reasons::ROLE_NAME_CONFLICT,
                    format!("IAM role {name} is managed for {other}: set spec.role.managed.name to another name"),
                ));
            }
            Ownership::Foreign => {
                return RoleResult::NotReady(Finding::failed(
                    reasons::ROLE_NAME_CONFLICT,
                    format!(
                        "IAM role {name} already exists and was not created by this operator; it is left untouched: \
                         set spec.role.managed.name to another name, or use it with spec.role.existing.roleArn"
                    ),
                ));
            }
        }
        if role.path != path {
            return RoleResult::NotReady(Finding::failed(
                reasons::ROLE_PATH_MISMATCH,
                format!(
                    "IAM role {name} exists at path {} but spec asks for {path}; IAM cannot move a role: \
                     restore the path in the spec or delete the role",
                    role.path
                ),
            ));
        }
    }

    let in_trust = observed.as_ref().and_then(|r| policy::external_id_of(&r.trust_policy));
    p.status.external_id = desired::external_id(
        &res.spec,
        true,
        p.status.external_id.as_deref(),
        in_trust.as_deref(),
        generate_external_id,
    );
    let desired_role = desired::desired_role(
        managed,
        &res.spec.user_pool_id,
        account_id,
        pool_arn,
        p.status.external_id.as_deref(),
        &owner,
    );

    let publish = match &observed {
        Some(_) => match iam.get_role_policy(&name, desired::PUBLISH_POLICY_NAME).await {
            Ok(doc) => doc,
            Err(e) => return RoleResult::NotReady(p.failed_on(&e)),
        },
        None => None,
    };
    let changes = desired::role_changes(&desired_role, observed.as_ref().map(|r| (r, publish.as_ref())));
    let mut arn = observed
        .as_ref()
        .map(|r| r.arn.clone())
        .unwrap_or_else(|| desired::role_arn(desired::partition_of(pool_arn), account_id, &path, &name));

    for change in changes {
        if mode == Mode::Apply {
            let result = match &change {
                Change::CreateRole { role } => iam.create_role(role).await.map(|created| {
                    if !created.is_empty() {
                        arn = created;
                    }
                }),
                Change::UpdateTrustPolicy { role_name, document } => iam.update_trust_policy(role_name, document).await,
                Change::PutPublishPolicy { role_name, document } => iam.put_publish_policy(role_name, document).await,
                Change::PutPermissionsBoundary { role_name, policy_arn } => {
                    iam.put_permissions_boundary(role_name, policy_arn).await
                }
                Change::DeletePermissionsBoundary { role_name } => iam.delete_permissions_boundary(role_name).await,
                Change::TagRole { role_name, tags } => iam.tag_role(role_name, tags).await,
                _ => Ok(()),
            };
            if let Err(e) = result {
                return RoleResult::NotReady(p.failed_on(&e));
            }
        }
        p.changes.push(change);
    }
    if mode == Mode::DryRun && !p.changes.is_empty() {
        return RoleResult::Planned(pending(&p.changes), arn);
    }
    let scope = desired::source_arn(managed.source_arn_scope, pool_arn);
    RoleResult::Ready(
        Finding::ok(
            reasons::ROLE_IN_SYNC,
            format!("IAM role {arn} lets Cognito ({scope}) call sns:Publish"),
        ),
        arn,
    )
}

fn pending(changes: &[Change]) -> Finding {
    Finding::unknown(
        reasons::CHANGES_PENDING,
        format!(
            "dry run, not applied: {}",
            changes.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        ),
    )
}

async fn check_existing_role(
    aws: &Aws,
    existing: &ExistingRole,
    res: &CognitoSmsConfig,
    account_id: &str,
    pool_arn: &str,
    p: &mut Progress,
) -> RoleResult {
    let arn = &existing.role_arn;
    p.status.external_id = res.spec.external_id.clone();
    let arn_account = arn.split(':').nth(4).unwrap_or_default();
    if arn_account != account_id {
        return RoleResult::NotReady(Finding::failed(
            reasons::ROLE_NOT_FOUND,
            format!(
                "role {arn} is in account {arn_account}, but the user pool and the operator's credentials are in {account_id}"
            ),
        ));
    }
    let Some(name) = role_name_from_arn(arn) else {
        return RoleResult::NotReady(Finding::failed(
            reasons::INVALID_SPEC,
            format!("{arn} is not an IAM role ARN"),
        ));
    };
    let iam = aws.iam();
    let role = match iam.get_role(name).await {
        Ok(Some(role)) if role.arn == *arn => role,
        Ok(Some(role)) => {
            return RoleResult::NotReady(Finding::failed(
                reasons::ROLE_NOT_FOUND,
                format!(
                    "role {arn} not found; a role named {name} exists as {}: fix spec.role.existing.roleArn",
                    role.arn
                ),
            ));
        }
        Ok(None) => {
            return RoleResult::NotReady(Finding::failed(
                reasons::ROLE_NOT_FOUND,
                format!("role {arn} not found: create it or fix spec.role.existing.roleArn"),
            ));
        }
        Err(e) => return RoleResult::NotReady(p.failed_on(&e)),
    };
    let gaps = policy::trust_gaps(
        &role.trust_policy,
        account_id,
        pool_arn,
        res.spec.external_id.as_deref(),
    );
    let docs = match iam.role_policy_documents(name).await {
        Ok(d) => d,
        Err(e) => return RoleResult::NotReady(p.failed_on(&e)),
    };
    let can_publish = policy::allows_sns_publish(&docs);
    let mut problems: Vec<String> = gaps.iter().map(|g| format!("trust policy: {g}")).collect();
    if !can_publish {
        problems.push("permissions: no policy of the role allows sns:Publish on Resource \"*\"".into());
    }
    if problems.is_empty() {
        return RoleResult::Ready(
            Finding::ok(
                reasons::ROLE_VALID,
                format!("role {arn} trusts Cognito for this pool and allows sns:Publish"),
            ),
            arn.clone(),
        );
    }
    let reason = if gaps.is_empty() {
        reasons::PERMISSIONS_INCOMPLETE
    } else {
        reasons::TRUST_POLICY_INCOMPLETE
    };
    RoleResult::NotReady(Finding::failed(
        reason,
        format!(
            "role {arn} is not usable as it is (the operator never changes it): {}",
            problems.join("; ")
        ),
    ))
}

async fn ensure_sms_configuration(
    aws: &Aws,
    pool: &UserPoolType,
    pool_region: &str,
    desired_sms: SmsConfig,
    mode: Mode,
    p: &mut Progress,
) -> Finding {
    let pool_id = pool.id().unwrap_or_default();
    if cognito::uses_end_user_messaging(pool) {
        return Finding::failed(
            reasons::SMS_THROUGH_END_USER_MESSAGING,
            format!(
                "user pool {pool_id} sends SMS through AWS End User Messaging SMS; this resource would replace that with \
                 SNS, so nothing was changed: remove the pool's End User Messaging configuration or delete this resource"
            ),
        );
    }
    let current = cognito::sms_config_of(pool);
    let in_sync = Finding::ok(
        reasons::SMS_CONFIGURATION_IN_SYNC,
        format!(
            "user pool {pool_id} sends SMS as {} through SNS in {}",
            desired_sms.sns_caller_arn,
            desired_sms.sns_region.as_deref().unwrap_or_default()
        ),
    );
    let Some(change) = desired::sms_configuration_change(pool_id, current.as_ref(), &desired_sms) else {
        return in_sync;
    };
    if mode == Mode::DryRun {
        p.changes.push(change);
        return pending(std::slice::from_ref(p.changes.last().expect("just pushed")));
    }
    match aws
        .cognito(pool_region)
        .update_sms_configuration(pool, &desired_sms)
        .await
    {
        Ok(()) => {
            p.changes.push(change);
            in_sync
        }
        Err(e) if e.kind == crate::aws::ErrorKind::IamPropagation => {
            p.requeue = Requeue::Backoff;
            Finding::unknown(
                reasons::IAM_PROPAGATION_PENDING,
                format!(
                    "Cognito cannot use role {} yet ({}): IAM changes take a little while to propagate, retrying; \
                     if this persists, check the role's trust policy and sns:Publish permission",
                    desired_sms.sns_caller_arn, e.code
                ),
            )
        }
        Err(e) => p.failed_on(&e),
    }
}

/// What deleting the resource did in AWS.
#[derive(Debug, Clone, Default)]
pub struct CleanupOutcome {
    pub changes: Vec<Change>,
    /// Things deliberately left in AWS, for Warning events.
    pub kept: Vec<(&'static str, String)>,
}

pub const ROLE_RETAINED: &str = "RoleRetained";
pub const NUMBER_RETAINED: &str = "SandboxNumberRetained";

/// Apply the deletion policy. Idempotent, and never blocked by an invalid spec: what cannot be
/// identified is left alone and reported. With `Delete`: the managed role, once the pool no
/// longer uses it, and the sandbox numbers this resource added that no other resource lists.
pub async fn cleanup<S: SecretSource>(
    env: &Env<'_, S>,
    res: &CognitoSmsConfig,
    mode: Mode,
) -> Result<CleanupOutcome, AwsError> {
    let mut out = CleanupOutcome::default();
    if res.spec.deletion_policy == DeletionPolicy::Retain {
        return Ok(out);
    }
    remove_added_numbers(env, res, mode, &mut out).await?;
    if res.spec.role.existing.is_none() {
        delete_managed_role(env.aws, res, mode, &mut out).await?;
    }
    Ok(out)
}

async fn remove_added_numbers<S: SecretSource>(
    env: &Env<'_, S>,
    res: &CognitoSmsConfig,
    mode: Mode,
    out: &mut CleanupOutcome,
) -> Result<(), AwsError> {
    let (Some(region), Some(status)) = (sns_region_of(res), res.status.as_ref()) else {
        return Ok(());
    };
    let ours: Vec<&str> = res
        .spec
        .sandbox_phone_numbers
        .iter()
        .map(|n| n.phone_number.as_str())
        .filter(|n| {
            status
                .sandbox_phone_numbers
                .iter()
                .any(|s| s.id == number_id(n) && s.added_by_operator)
        })
        .filter(|n| !env.claimed_elsewhere.contains(*n))
        .collect();
    if ours.is_empty() {
        return Ok(());
    }
    let sns_api = env.aws.sns(&region);
    for number in ours {
        let change = Change::RemoveSandboxNumber {
            region: region.clone(),
            number: number.to_string(),
        };
        if mode == Mode::DryRun {
            out.changes.push(change);
            continue;
        }
        match sns_api.delete_sandbox_number(number).await {
            Ok(()) => out.changes.push(change),
            Err(e) if e.is_not_found() => {}
            Err(e) if e.code == "UserError" => out.kept.push((
                NUMBER_RETAINED,
                format!(
                    "{} was left in the SMS sandbox in {region}: {}",
                    mask(number),
                    e.message
                ),
            )),
            Err(e) => return Err(e),
        }
    }
    if let Some(account) = &status.account_id {
        env.sns.invalidate(account, &region);
    }
    Ok(())
}

async fn delete_managed_role(
    aws: &Aws,
    res: &CognitoSmsConfig,
    mode: Mode,
    out: &mut CleanupOutcome,
) -> Result<(), AwsError> {
    let spec = &res.spec;
    let managed = spec.role.managed.clone().unwrap_or_default();
    let name = desired::role_name(&managed, &spec.user_pool_id);
    let Some(role) = aws.iam().get_role(&name).await? else {
        return Ok(());
    };
    if desired::ownership(&role.tags, &owner_of(res)) != Ownership::Ours {
        let note = format!("IAM role {name} is not owned by this resource and was left in place");
        out.kept.push((ROLE_RETAINED, note));
        return Ok(());
    }
    if let Some(pool_region) = regions::pool_region(&spec.user_pool_id) {
        let pool = aws.cognito(pool_region).describe_user_pool(&spec.user_pool_id).await?;
        if pool
            .as_ref()
            .and_then(cognito::sms_config_of)
            .is_some_and(|c| c.sns_caller_arn == role.arn)
        {
            let note = format!(
                "IAM role {} was kept: user pool {} still sends SMS with it; point the pool at another role, then \
                 delete the role",
                role.arn, spec.user_pool_id
            );
            out.kept.push((ROLE_RETAINED, note));
            return Ok(());
        }
    }
    let change = Change::DeleteRole {
        role_name: name.clone(),
    };
    if mode == Mode::Apply {
        aws.iam().delete_role(&name).await?;
    }
    out.changes.push(change);
    Ok(())
}
