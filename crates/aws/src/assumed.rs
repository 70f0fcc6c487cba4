//! Acting in other AWS accounts: roles assumed through STS by the operator's own identity, one
//! session per (role, namespace), its credentials kept and renewed before they expire, and the
//! rate limits of each account shared by every session in it.
//!
//! aws-config's `AssumeRoleProvider` would make the STS calls itself, out of sight: here each
//! `AssumeRole` goes through [`Aws::call`] like any other call, so it is rate limited, counted
//! and its error classified, and a refusal reaches the resource's condition as it is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, error::CredentialsError, future};

use crate::account_cache::FAILURE_TTL;
use crate::limits::Limits;
use crate::{Aws, AwsError, ErrorKind};

/// How long a session lasts: STS's default, which every role allows.
const SESSION: Duration = Duration::from_secs(3600);
/// Renew a session this long before it expires, so that no call is made with credentials about
/// to lapse.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// One role to assume, as the operator asks STS for it.
#[derive(Clone, PartialEq, Eq)]
pub struct AssumeRole {
    pub role_arn: String,
    /// The account of the role: its calls share that account's rate limits.
    pub account_id: String,
    /// Kept in memory only, to renew the session; never printed.
    pub external_id: Option<String>,
    pub session_name: String,
    pub tags: Vec<(String, String)>,
}

impl std::fmt::Debug for AssumeRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssumeRole")
            .field("role_arn", &self.role_arn)
            .field("external_id", &self.external_id.as_ref().map(|_| "<redacted>"))
            .field("session_name", &self.session_name)
            .field("tags", &self.tags)
            .finish()
    }
}

enum Held {
    Valid(Credentials),
    /// The last attempt failed: its error is answered for `FAILURE_TTL`, so that the resources of
    /// a namespace whose role cannot be assumed do not each ask STS again.
    Failed(AwsError, Instant),
}

/// The credentials of one session, made and renewed by the operator's own identity.
struct Session {
    operator: Aws,
    role: AssumeRole,
    held: tokio::sync::Mutex<Option<Held>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Valid credentials, from STS when those held expire within `RENEW_BEFORE`.
    async fn credentials(&self) -> Result<Credentials, AwsError> {
        let mut held = self.held.lock().await;
        match &*held {
            Some(Held::Valid(c)) if c.expiry().is_none_or(|e| e > SystemTime::now() + RENEW_BEFORE) => {
                return Ok(c.clone());
            }
            Some(Held::Failed(e, at)) if at.elapsed() < FAILURE_TTL => return Err(e.clone()),
            _ => {}
        }
        let fresh = self.assume().await;
        *held = Some(match &fresh {
            Ok(c) => Held::Valid(c.clone()),
            Err(e) => Held::Failed(e.clone(), Instant::now()),
        });
        fresh
    }

    async fn assume(&self) -> Result<Credentials, AwsError> {
        let role = &self.role;
        let tags = role
            .tags
            .iter()
            .map(|(k, v)| aws_sdk_sts::types::Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                AwsError::new(
                    "sts",
                    "AssumeRole",
                    ErrorKind::InvalidRequest,
                    "InvalidTag",
                    e.to_string(),
                )
            })?;
        let request = self
            .operator
            .sts
            .assume_role()
            .role_arn(&role.role_arn)
            .role_session_name(&role.session_name)
            .set_external_id(role.external_id.clone())
            .set_tags((!tags.is_empty()).then_some(tags))
            .duration_seconds(SESSION.as_secs() as i32)
            .send();
        let out = self.operator.call("sts", "AssumeRole", request).await?;
        let missing = || {
            AwsError::new(
                "sts",
                "AssumeRole",
                ErrorKind::Other,
                "MissingCredentials",
                "AssumeRole returned no credentials",
            )
        };
        let c = out.credentials().ok_or_else(missing)?;
        let expiry = SystemTime::try_from(*c.expiration()).map_err(|_| missing())?;
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            Some(expiry),
            "cognito-sms-operator-assume-role",
        ))
    }
}

/// The SDK's view of a session.
#[derive(Debug, Clone)]
struct Provider(Arc<Session>);

impl ProvideCredentials for Provider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(
            async move { self.0.credentials().await.map_err(CredentialsError::provider_error) },
        )
    }
}

/// A session, by (role ARN, session name), and the clients acting in it.
type Sessions = HashMap<(String, String), (Arc<Session>, Aws)>;

/// The operator's own identity and every role it assumes for the resources of other accounts.
pub struct Accounts {
    operator: Aws,
    /// The rate limits of each account reached through an assumed role, by account ID.
    limits: Mutex<HashMap<String, Arc<Limits>>>,
    /// Sessions by (role ARN, session name); one asked for differently (a new external ID or new
    /// tags) replaces the one held.
    sessions: Mutex<Sessions>,
}

impl Accounts {
    pub fn new(operator: Aws) -> Self {
        Self {
            operator,
            limits: Mutex::default(),
            sessions: Mutex::default(),
        }
    }

    /// The operator's own identity.
    pub fn operator(&self) -> &Aws {
        &self.operator
    }

    /// Clients acting as `role`, once its credentials are valid: a session already held is
    /// reused until it is about to expire, so STS is asked once an hour per session, however
    /// many resources and reconciles use it.
    pub async fn assume(&self, role: &AssumeRole) -> Result<Aws, AwsError> {
        let (session, aws) = self.session(role);
        session.credentials().await?;
        Ok(aws)
    }

    fn session(&self, role: &AssumeRole) -> (Arc<Session>, Aws) {
        let key = (role.role_arn.clone(), role.session_name.clone());
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((session, aws)) = sessions.get(&key)
            && session.role == *role
        {
            return (session.clone(), aws.clone());
        }
        let session = Arc::new(Session {
            operator: self.operator.clone(),
            role: role.clone(),
            held: tokio::sync::Mutex::default(),
        });
        let limits = self.limits_of(&role.account_id);
        let config = self
            .operator
            .config
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(Provider(session.clone())))
            .build();
        let aws = Aws::acting_in(config, limits, self.operator.calls.clone(), &role.account_id);
        sessions.insert(key, (session.clone(), aws.clone()));
        (session, aws)
    }

    fn limits_of(&self, account_id: &str) -> Arc<Limits> {
        let mut limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        limits
            .entry(account_id.to_string())
            .or_insert_with(|| Arc::new(Limits::new(self.operator.limits.budgets().clone())))
            .clone()
    }

    /// The rate limits of every account acted in so far: the operator's own (with an empty ID)
    /// first, then each account reached through a role, by account ID.
    pub fn limits(&self) -> Vec<(String, Arc<Limits>)> {
        let mut all = vec![(String::new(), self.operator.limits.clone())];
        let mut others: Vec<(String, Arc<Limits>)> = self
            .limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(id, l)| (id.clone(), l.clone()))
            .collect();
        others.sort_by(|a, b| a.0.cmp(&b.0));
        all.extend(others);
        all
    }

    /// How many sessions are held, and for how many accounts.
    pub fn held(&self) -> (usize, usize) {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner()).len();
        let accounts = self.limits.lock().unwrap_or_else(|p| p.into_inner()).len();
        (sessions, accounts)
    }
}
