//! Thin adapters over the AWS SDK: one module per service, each call counted, errors classified,
//! "not found" returned as `None`. No decisions are made here.
#![forbid(unsafe_code)]

pub mod account_cache;
pub mod assumed;
pub mod cloudwatch;
pub mod cognito;
pub mod error;
pub mod iam;
pub mod limits;
pub mod sms_voice;
pub mod sns;
pub mod sts;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::ProvideErrorKind;
use tokio::sync::OnceCell;

pub use error::{AwsError, ErrorKind};
pub use limits::Limits;

/// How long AWS calls may take and how often they are tried; each field is also a flag.
///
/// The SDK sets no timeout of its own: without these, an endpoint that accepts a connection and
/// never answers would hold a reconcile forever.
#[derive(Debug, Clone, clap::Args)]
pub struct AwsSettings {
    /// How long to wait for a connection (TCP and TLS) to an AWS endpoint.
    #[arg(long = "aws-connect-timeout", value_name = "DURATION", default_value = "3s", value_parser = humantime::parse_duration, env = "AWS_CONNECT_TIMEOUT")]
    pub connect_timeout: Duration,
    /// How long one attempt of an AWS call may take, the answer included.
    #[arg(long = "aws-attempt-timeout", value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration, env = "AWS_ATTEMPT_TIMEOUT")]
    pub attempt_timeout: Duration,
    /// How long one AWS call may take in all, its retries included.
    #[arg(long = "aws-call-timeout", value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration, env = "AWS_CALL_TIMEOUT")]
    pub call_timeout: Duration,
    /// Attempts per AWS call (the first and its retries) on errors worth retrying at once:
    /// throttling, server errors, broken connections, timeouts.
    #[arg(
        long = "aws-max-attempts",
        value_name = "N",
        default_value = "3",
        env = "AWS_MAX_ATTEMPTS"
    )]
    pub max_attempts: u32,
    /// A budget in requests per second for one quota category of AWS, as
    /// `SERVICE:CATEGORY=RATE` (`cognito-idp:UserPoolRead=8`), or for each category of a service
    /// (`iam:*=5`); repeat for several. The defaults keep below AWS's default quotas: Cognito
    /// `UserPoolRead` and `UserPoolUpdate` 13 (of 15) per region, each IAM API 13, the rest 5.
    /// Lower them when other tools share the account's quotas.
    #[arg(
        long = "aws-rate-limit",
        value_name = "SERVICE:CATEGORY=RATE",
        env = "AWS_RATE_LIMITS",
        value_delimiter = ',',
        value_parser = rate_limit
    )]
    pub rate_limits: Vec<String>,
}

fn rate_limit(s: &str) -> Result<String, String> {
    limits::Budgets::with(&[s.to_string()]).map(|_| s.to_string())
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            max_attempts: 3,
            rate_limits: vec![],
        }
    }
}

impl AwsSettings {
    /// The SDK configuration loader with these timeouts and retries.
    pub fn apply(&self, loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
        // No read timeout: the attempt timeout already bounds a silent connection, and a read
        // timeout re-arms a timer on every read of every response.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.call_timeout)
            .build();
        let retries = aws_config::retry::RetryConfig::standard().with_max_attempts(self.max_attempts.max(1));
        // The attempt and read timeouts above already end a stalled response; the SDK's own
        // stalled-stream protection would only add a throughput monitor and its timer to every
        // call, which the operator's small requests and responses pay for in CPU.
        let stalled = aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled();
        loader
            .timeout_config(timeouts)
            .retry_config(retries)
            .stalled_stream_protection(stalled)
    }

    /// The rate-limit budgets: the defaults with the flags' overrides.
    pub fn budgets(&self) -> limits::Budgets {
        limits::Budgets::with(&self.rate_limits).expect("each budget was checked when parsed")
    }
}

/// Every operation the operator calls, by service; the rate limits know them by these names.
pub(crate) const OPERATIONS: &[(&str, &str)] = &[
    ("sts", "GetCallerIdentity"),
    ("sts", "AssumeRole"),
    ("cognito-idp", "DescribeUserPool"),
    ("cognito-idp", "ListUserPoolReplicas"),
    ("cognito-idp", "UpdateUserPool"),
    ("cognito-idp", "TagResource"),
    ("cognito-idp", "UntagResource"),
    ("cognito-idp", "GetLogDeliveryConfiguration"),
    ("cognito-idp", "SetLogDeliveryConfiguration"),
    ("iam", "GetRole"),
    ("iam", "GetRolePolicy"),
    ("iam", "ListRolePolicies"),
    ("iam", "ListAttachedRolePolicies"),
    ("iam", "GetPolicy"),
    ("iam", "GetPolicyVersion"),
    ("iam", "CreateRole"),
    ("iam", "UpdateAssumeRolePolicy"),
    ("iam", "PutRolePolicy"),
    ("iam", "DeleteRolePolicy"),
    ("iam", "PutRolePermissionsBoundary"),
    ("iam", "DeleteRolePermissionsBoundary"),
    ("iam", "TagRole"),
    ("iam", "DeleteRole"),
    ("sns", "GetSMSAttributes"),
    ("sns", "GetSMSSandboxAccountStatus"),
    ("sms-voice", "DescribeAccountAttributes"),
    ("sms-voice", "DescribeSpendLimits"),
    ("sms-voice", "DescribePhoneNumbers"),
    ("sms-voice", "DescribeSenderIds"),
    ("sms-voice", "DescribePools"),
    ("sms-voice", "ListPoolOriginationIdentities"),
    ("sms-voice", "DescribeConfigurationSets"),
    ("sms-voice", "DescribeVerifiedDestinationNumbers"),
    ("sms-voice", "ListTagsForResource"),
    ("sms-voice", "CreateVerifiedDestinationNumber"),
    ("sms-voice", "SendDestinationNumberVerificationCode"),
    ("sms-voice", "VerifyDestinationNumber"),
    ("sms-voice", "DeleteVerifiedDestinationNumber"),
    ("sms-voice", "SendTextMessage"),
    ("sms-voice", "GetProtectConfigurationCountryRuleSet"),
    ("sms-voice", "DescribeProtectConfigurations"),
    ("sms-voice", "CreateProtectConfiguration"),
    ("sms-voice", "UpdateProtectConfigurationCountryRuleSet"),
    ("sms-voice", "CreateConfigurationSet"),
    ("sms-voice", "AssociateProtectConfiguration"),
    ("sms-voice", "DisassociateProtectConfiguration"),
    ("sms-voice", "DeleteProtectConfiguration"),
    ("cloudwatch", "GetMetricData"),
];

/// IAM and STS are global: their buckets are not per region.
const GLOBAL: &str = "global";

/// Counts of AWS calls by (service, operation, outcome); outcome is `ok` or an `ErrorKind` label.
#[derive(Debug, Default)]
pub struct CallCounts(Mutex<BTreeMap<(&'static str, &'static str, &'static str), u64>>);

impl CallCounts {
    fn record(&self, service: &'static str, operation: &'static str, outcome: &'static str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((service, operation, outcome)).or_default() += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<(&'static str, &'static str, &'static str), u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Clients of one service, one per region, made on first use.
struct Regional<C>(Mutex<HashMap<String, C>>);

impl<C> Default for Regional<C> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<C: Clone> Regional<C> {
    fn get(&self, region: &str, make: impl FnOnce(aws_config::Region) -> C) -> C {
        let mut clients = self.0.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.to_string())
            .or_insert_with(|| make(aws_config::Region::new(region.to_string())))
            .clone()
    }
}

/// AWS clients for one set of credentials. IAM and STS are global; Cognito and SNS clients are
/// per region, since a pool's region comes from its id and the SNS region from the spec.
#[derive(Clone)]
pub struct Aws {
    config: aws_config::SdkConfig,
    iam: aws_sdk_iam::Client,
    sts: aws_sdk_sts::Client,
    cognito: Arc<Regional<aws_sdk_cognitoidentityprovider::Client>>,
    sns: Arc<Regional<aws_sdk_sns::Client>>,
    sms_voice: Arc<Regional<aws_sdk_pinpointsmsvoicev2::Client>>,
    cloudwatch: Arc<Regional<aws_sdk_cloudwatch::Client>>,
    account_id: Arc<OnceCell<String>>,
    pub calls: Arc<CallCounts>,
    pub limits: Arc<Limits>,
}

impl Aws {
    /// Credentials, region and endpoints from the SDK's default chain (environment, profile,
    /// web identity for IRSA, container and instance metadata), so `AWS_ENDPOINT_URL` and the
    /// per-service `AWS_ENDPOINT_URL_*` variables apply; the timeouts and retries of `settings`.
    pub async fn from_env_with(settings: &AwsSettings) -> Self {
        let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        Self::with_limits(settings.apply(loader).load().await, Limits::new(settings.budgets()))
    }

    /// Clients for `config` with the default rate limits.
    pub fn new(config: aws_config::SdkConfig) -> Self {
        Self::with_limits(config, Limits::default())
    }

    pub fn with_limits(config: aws_config::SdkConfig, limits: Limits) -> Self {
        Self::built(config, Arc::new(limits), Arc::default(), Arc::default())
    }

    /// Clients for `config`, whose credentials act in `account_id`, within that account's
    /// `limits`, counting calls in `calls`.
    pub(crate) fn acting_in(
        config: aws_config::SdkConfig,
        limits: Arc<Limits>,
        calls: Arc<CallCounts>,
        account_id: &str,
    ) -> Self {
        let known = Arc::new(OnceCell::new_with(Some(account_id.to_string())));
        Self::built(config, limits, calls, known)
    }

    fn built(
        config: aws_config::SdkConfig,
        limits: Arc<Limits>,
        calls: Arc<CallCounts>,
        account_id: Arc<OnceCell<String>>,
    ) -> Self {
        let iam = aws_sdk_iam::config::Builder::from(&config)
            .interceptor(Self::feedback(&limits, "iam", GLOBAL))
            .build();
        let sts = aws_sdk_sts::config::Builder::from(&config)
            .interceptor(Self::feedback(&limits, "sts", GLOBAL))
            .build();
        Self {
            iam: aws_sdk_iam::Client::from_conf(iam),
            sts: aws_sdk_sts::Client::from_conf(sts),
            cognito: Arc::default(),
            sns: Arc::default(),
            sms_voice: Arc::default(),
            cloudwatch: Arc::default(),
            account_id,
            calls,
            limits,
            config,
        }
    }

    fn feedback(limits: &Arc<Limits>, service: &'static str, region: &str) -> limits::QuotaFeedback {
        limits::QuotaFeedback {
            limits: limits.clone(),
            service,
            region: region.to_string(),
        }
    }

    pub fn iam(&self) -> iam::Iam<'_> {
        iam::Iam {
            aws: self,
            client: &self.iam,
        }
    }

    pub fn cognito(&self, region: &str) -> cognito::Cognito<'_> {
        let client = self.cognito.get(region, |r| {
            let conf = aws_sdk_cognitoidentityprovider::config::Builder::from(&self.config)
                .region(r)
                .interceptor(Self::feedback(&self.limits, "cognito-idp", region))
                .build();
            aws_sdk_cognitoidentityprovider::Client::from_conf(conf)
        });
        cognito::Cognito {
            aws: self,
            client,
            region: region.to_string(),
        }
    }

    pub fn sns(&self, region: &str) -> sns::Sns<'_> {
        let client = self.sns.get(region, |r| {
            let conf = aws_sdk_sns::config::Builder::from(&self.config)
                .region(r)
                .interceptor(Self::feedback(&self.limits, "sns", region))
                .build();
            aws_sdk_sns::Client::from_conf(conf)
        });
        sns::Sns {
            aws: self,
            client,
            region: region.to_string(),
        }
    }

    pub fn cloudwatch(&self, region: &str) -> cloudwatch::CloudWatch<'_> {
        let client = self.cloudwatch.get(region, |r| {
            let conf = aws_sdk_cloudwatch::config::Builder::from(&self.config)
                .region(r)
                .interceptor(Self::feedback(&self.limits, "cloudwatch", region))
                .build();
            aws_sdk_cloudwatch::Client::from_conf(conf)
        });
        cloudwatch::CloudWatch {
            aws: self,
            client,
            region: region.to_string(),
        }
    }

    pub fn sms_voice(&self, region: &str) -> sms_voice::SmsVoice<'_> {
        let client = self.sms_voice.get(region, |r| {
            let conf = aws_sdk_pinpointsmsvoicev2::config::Builder::from(&self.config)
                .region(r)
                .interceptor(Self::feedback(&self.limits, "sms-voice", region))
                .build();
            aws_sdk_pinpointsmsvoicev2::Client::from_conf(conf)
        });
        sms_voice::SmsVoice {
            aws: self,
            client,
            region: region.to_string(),
        }
    }

    /// The account the credentials belong to; asked once, then cached.
    pub async fn account_id(&self) -> Result<String, AwsError> {
        self.account_id
            .get_or_try_init(|| sts::caller_account(self, &self.sts))
            .await
            .cloned()
    }

    /// Run one SDK call of a global service (IAM, STS) within its rate limit, count it, and
    /// classify its error.
    pub(crate) async fn call<T, E>(
        &self,
        service: &'static str,
        operation: &'static str,
        request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<T, AwsError>
    where
        E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + Send + Sync + 'static,
    {
        self.call_in(GLOBAL, service, operation, request).await
    }

    /// [`Aws::call`] for a regional service. The request is sent only once a token is there.
    pub(crate) async fn call_in<T, E>(
        &self,
        region: &str,
        service: &'static str,
        operation: &'static str,
        request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<T, AwsError>
    where
        E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + Send + Sync + 'static,
    {
        self.limits.acquire(region, service, operation).await;
        self.outcome(service, operation, request.await)
    }

    /// Every page of a paginated SDK call of a regional service (one request each, each within
    /// the rate limit and counted), in order.
    pub(crate) async fn pages_in<T, E>(
        &self,
        region: &str,
        service: &'static str,
        operation: &'static str,
        mut pages: aws_smithy_async::future::pagination_stream::PaginationStream<Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<Vec<T>, AwsError>
    where
        E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + Send + Sync + 'static,
    {
        // Whether another page follows shows only when the stream is polled, which sends its
        // request: the first page waits for a token, each later one takes a token as it goes.
        let mut all = vec![];
        self.limits.acquire(region, service, operation).await;
        while let Some(page) = pages.next().await {
            if !all.is_empty() {
                self.limits.spent(region, service, operation);
            }
            all.push(self.outcome(service, operation, page)?);
        }
        Ok(all)
    }

    /// [`Aws::pages_in`] for a global service.
    pub(crate) async fn pages<T, E>(
        &self,
        service: &'static str,
        operation: &'static str,
        pages: aws_smithy_async::future::pagination_stream::PaginationStream<Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<Vec<T>, AwsError>
    where
        E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + Send + Sync + 'static,
    {
        self.pages_in(GLOBAL, service, operation, pages).await
    }

    fn outcome<T, E>(
        &self,
        service: &'static str,
        operation: &'static str,
        result: Result<T, SdkError<E, HttpResponse>>,
    ) -> Result<T, AwsError>
    where
        E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + Send + Sync + 'static,
    {
        match result {
            Ok(v) => {
                self.calls.record(service, operation, "ok");
                tracing::debug!(service, operation, "aws call");
                Ok(v)
            }
            Err(e) => {
                let err = error::from_sdk(service, operation, e);
                self.calls.record(service, operation, err.kind.as_str());
                tracing::debug!(service, operation, kind = %err.kind, code = %err.code, "aws call failed");
                Err(err)
            }
        }
    }
}

/// `Ok(None)` for "not found", everything else unchanged.
pub(crate) fn optional<T>(result: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}
