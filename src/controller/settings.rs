//! How the controller reconciles: the flags of `cognito-sms-operator run`.

use std::time::Duration;

use super::SecretGrant;
use crate::account::NumberIds;

/// Exponential backoff with full jitter, per object.
///
/// Kept rather than taken from `backon` or kube's watcher backoff: those are iterators that would
/// have to be stored per object, while this is a pure function of the object's failure count.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Backoff {
    /// First retry delay after a recoverable failure; doubles per attempt, with jitter.
    #[arg(long = "backoff-base", value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub base: Duration,
    /// Longest retry delay after recoverable failures.
    #[arg(long = "backoff-max", value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub max: Duration,
}

impl Backoff {
    /// Delay before the `attempt`-th retry (1-based): uniformly random in [d/2, d] where
    /// d = min(base * 2^(attempt-1), max), so retries spread out and never storm.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.max);
        let half = capped / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// How the controller reconciles; each field is also a flag of `cognito-sms-operator run`.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Namespace to watch; repeat for several. All namespaces when absent.
    #[arg(
        long = "namespace",
        value_name = "NAMESPACE",
        env = "WATCH_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,
    /// How often each resource is compared with AWS when nothing changes, to repair drift. With
    /// many pools in a region it is lengthened so that resyncs read user pools at no more than
    /// half the region's `UserPoolRead` budget (5,000 pools at the default budget: 770s).
    #[arg(long = "resync-period", value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration, env = "RESYNC_PERIOD")]
    pub resync: Duration,
    #[command(flatten)]
    pub backoff: Backoff,
    /// The longest one reconcile may take; past it the resource reports `ReconcileTimedOut` and
    /// is retried with backoff. A backstop behind the AWS calls' own timeouts.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = humantime::parse_duration, env = "RECONCILE_TIMEOUT")]
    pub reconcile_timeout: Duration,
    /// How long the account's SNS state in a region (sandbox, spend limit, origination and
    /// sandbox numbers) is shared by all resources before SNS is asked again.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration, env = "SNS_CACHE_TTL")]
    pub sns_cache_ttl: Duration,
    /// At most this many reconciles run at once in each AWS account (the operator's own, and each
    /// CognitoSmsAccount's); the others wait their turn. Bounds the memory and the AWS calls in
    /// flight however many resources come due together, and lets every account proceed while
    /// another waits for its quota.
    #[arg(long, value_name = "N", default_value = "10", env = "MAX_CONCURRENT_RECONCILES", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_reconciles: u16,
    #[command(flatten)]
    pub secret_grant: SecretGrant,
    /// The name this installation of the operator records on each user pool it manages (tag
    /// `cognitosms.io/installation`), so that two installations never manage the same pool. By
    /// default the cluster's identity (the uid of its `kube-system` namespace) and the operator's
    /// namespace. Set it to take over the pools of a cluster this one replaces.
    #[arg(long, value_name = "NAME", env = "INSTALLATION", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub installation: Option<String>,
    /// The Secret, in the operator's namespace, holding this installation's key for the
    /// phone-number identifiers in status (data key `key`). Created with a random key when it
    /// does not exist. Replacing the key changes every identifier; status keeps no record of a
    /// number under the old key, so delete the Secret only between installations.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "cognito-sms-operator-number-id-key",
        env = "NUMBER_ID_KEY_SECRET"
    )]
    pub number_id_key_secret: String,
    /// Whether resources of a namespace no `CognitoSmsAccount` selects act with the operator's
    /// own AWS identity. Turn it off on a multi-tenant cluster: such resources then report
    /// `NoAccount` and make no AWS call.
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        action = clap::ArgAction::Set,
        env = "ALLOW_OPERATOR_IDENTITY"
    )]
    pub allow_operator_identity: bool,
    /// The identifiers under this installation's key, once read from that Secret.
    #[arg(skip)]
    pub number_ids: Option<NumberIds>,
}
