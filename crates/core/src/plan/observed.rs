//! What one reconcile observed, as the plan takes it: every read's result, a value each.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::account::protect::OwnedProtect;
use crate::account::{AccountSms, Code, NumberAt};
use crate::desired::{LogConfiguration, ObservedRole, Replica, UserPool};
use crate::error::AwsError;

/// A verification code read from a Secret, with the Secret's version.
#[derive(Debug, Clone)]
pub struct SecretCode {
    pub code: Code,
    /// `metadata.resourceVersion` of the Secret, when it has one.
    pub version: Option<String>,
}

/// Why a Secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretError {
    pub message: String,
    /// The operator may not read it: only a person can change that (by granting access), so it
    /// is not retried with backoff.
    pub forbidden: bool,
}

impl From<String> for SecretError {
    fn from(message: String) -> Self {
        SecretError {
            message,
            forbidden: false,
        }
    }
}

impl From<&str> for SecretError {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result of one read that may have been skipped because an earlier read made it pointless.
#[derive(Debug, Clone)]
pub enum Read<T> {
    Skipped,
    Found(T),
    /// AWS says it does not exist.
    Absent,
    Failed(AwsError),
}

impl<T> From<Result<Option<T>, AwsError>> for Read<T> {
    fn from(result: Result<Option<T>, AwsError>) -> Self {
        match result {
            Ok(Some(v)) => Read::Found(v),
            Ok(None) => Read::Absent,
            Err(e) => Read::Failed(e),
        }
    }
}

impl<T> From<Result<T, AwsError>> for Read<T> {
    fn from(result: Result<T, AwsError>) -> Self {
        match result {
            Ok(v) => Read::Found(v),
            Err(e) => Read::Failed(e),
        }
    }
}

/// The role as read: the managed role and its inline permissions policy (none when absent), or
/// the existing role and every policy document in effect on it.
#[derive(Debug, Clone)]
pub struct RoleReads {
    pub role: Read<ObservedRole>,
    pub policies: Read<Vec<Value>>,
    /// Whether the managed role still has the other delivery path's policy; read only when the
    /// resource's last status does not show it on the path the spec asks for.
    pub stale_policy: Read<bool>,
}

impl Observed {
    /// The account's SMS state in `region`, as read.
    pub fn account_in(&self, region: &str, primary_region: &str) -> Option<&AccountSms> {
        let read = if region == primary_region {
            &self.account_sms
        } else {
            self.replica_accounts.get(region)?
        };
        match read {
            Read::Found(account) => Some(account),
            _ => None,
        }
    }
}

/// Everything one reconcile read, once the account is known.
#[derive(Debug, Clone)]
pub struct Observed {
    pub account_id: String,
    pub pool: Read<UserPool>,
    /// The pool's Regions (`ListUserPoolReplicas`), read once the pool is read and this
    /// installation's to manage.
    pub replicas: Read<Vec<Replica>>,
    /// Each secondary that takes an update now (`ACTIVE` or `INACTIVE`), with the pool as read in
    /// its own Region.
    pub replica_pools: Vec<(Replica, Read<UserPool>)>,
    /// The account's SMS state in each region a secondary sends through or this resource's
    /// sandbox numbers are verified in, other than the primary's (which is `account_sms`), by
    /// region.
    pub replica_accounts: BTreeMap<String, Read<Arc<AccountSms>>>,
    pub role: RoleReads,
    /// This resource's protect configuration (`None`: it has none), read on the direct path with
    /// protection, or while status records one.
    pub protect: Read<Option<OwnedProtect>>,
    /// The pool's log configurations in each Region where the spec asks for delivery logs or
    /// status records that this resource set them, by Region.
    pub log_delivery: BTreeMap<String, Read<Vec<LogConfiguration>>>,
    pub account_sms: Read<Arc<AccountSms>>,
    /// The code in the Secret of every number its region's sandbox lists as pending verification.
    pub codes: BTreeMap<NumberAt, Result<Option<SecretCode>, SecretError>>,
    /// The tags of each listed number the account has but status holds no record of (a crash
    /// between adding it and writing status), by number: they say whether this resource added
    /// it. A number whose tags cannot be read is left out, so it is not taken for this one's.
    pub number_tags: BTreeMap<NumberAt, BTreeMap<String, String>>,
}
