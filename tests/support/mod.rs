//! Test harness: the AWS emulator (moto plus the project's extension), one per test, and helpers
//! to shape and inspect it.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_iam::config::Credentials;
use cognito_sms_operator::account::Code;
use cognito_sms_operator::account::NumberIds;
use cognito_sms_operator::account_cache::AccountCache;
use cognito_sms_operator::aws::{Aws, AwsSettings};
use cognito_sms_operator::crd::CognitoSmsConfig;
use cognito_sms_operator::reconcile::{
    self, AwsReads, AwsWrites, Env, Mode, SecretCode, SecretError, SecretSource, SyncReport,
};
#[allow(unused_imports)] // not every test binary builds resources
pub use cognito_sms_operator::testing::resource;
use serde_json::{Value, json};

pub mod accounts;
pub mod cluster;
pub mod control_plane;
pub mod proxy;

pub const ACCOUNT: &str = "123456789012";
/// The installation of the operator the emulator tests reconcile as.
pub const INSTALLATION: &str = "cluster-a/operators";

/// The AWS emulator as a child process. It exits when this value is dropped or when the test
/// process dies (it watches its stdin).
pub struct Emulator {
    child: Child,
    _stdin: ChildStdin,
    pub endpoint: String,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Emulator {
    pub fn start() -> Self {
        let python = std::env::var_os("EMULATOR_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join(".venv/bin/python"));
        assert!(
            python.exists(),
            "the AWS emulator's Python ({}) is missing: run ./scripts/test, which installs it",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(repo().join("tests/emulator/server.py"))
            .args(["--port", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the AWS emulator");
        let stdin = child.stdin.take().expect("emulator stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("emulator stdout"))
            .read_line(&mut line)
            .expect("read the emulator's address");
        let endpoint = line
            .trim()
            .strip_prefix("listening on ")
            .expect("emulator announces its address")
            .to_string();
        Self {
            child,
            _stdin: stdin,
            endpoint,
        }
    }

    pub async fn sdk_config(&self, region: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .load()
            .await
    }

    /// The operator's AWS handle, pointed at the emulator.
    pub async fn aws(&self) -> Aws {
        Aws::new(self.sdk_config("us-east-1").await)
    }

    /// The operator's AWS handle with `settings`' timeouts and retries, calling `endpoint` (the
    /// emulator, or a proxy in front of it).
    pub async fn aws_via(&self, endpoint: &str, settings: &AwsSettings) -> Aws {
        let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"));
        Aws::new(settings.apply(loader).load().await)
    }

    pub async fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk_config("us-east-1").await)
    }

    pub async fn cognito(&self, region: &str) -> aws_sdk_cognitoidentityprovider::Client {
        aws_sdk_cognitoidentityprovider::Client::new(&self.sdk_config(region).await)
    }

    /// Environment for running the binary against the emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// Replicate `pool`, a pool of `primary`, to `secondary`, as its owner would.
    pub async fn replicate(&self, primary: &str, pool: &str, secondary: &str) {
        self.cognito(primary)
            .await
            .create_user_pool_replica()
            .user_pool_id(pool)
            .region_name(secondary)
            .send()
            .await
            .expect("the pool is replicated");
    }

    /// Set a replica's status, or how long new replicas are CREATING and the page size of
    /// ListUserPoolReplicas (tests/emulator/cognito_replicas.py).
    pub fn replicas(&self, settings: Value) -> Value {
        self.control("POST", "/cognito/replica", Some(settings))
    }

    fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/_emulator{path}", self.endpoint);
        let response = match (method, body) {
            ("GET", _) => ureq::get(&url).call(),
            ("DELETE", _) => ureq::delete(&url).call(),
            (_, Some(b)) => ureq::post(&url).send_json(b),
            (_, None) => ureq::post(&url).send_empty(),
        };
        response
            .expect("emulator control call")
            .body_mut()
            .read_json()
            .expect("emulator answers JSON")
    }

    /// Every AWS call the emulator served, in order: (service, action).
    pub fn calls(&self) -> Vec<(String, String)> {
        self.control("GET", "/calls", None)
            .as_array()
            .expect("calls")
            .iter()
            .map(|c| {
                (
                    c["service"].as_str().unwrap().to_string(),
                    c["action"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    pub fn clear_calls(&self) {
        self.control("DELETE", "/calls", None);
    }

    /// Calls that change AWS state. The operator calls SendTextMessage only as a dry run (the
    /// direct-path tests check that nothing is sent), so it does not count.
    pub fn write_calls(&self) -> Vec<(String, String)> {
        const READ_PREFIXES: [&str; 4] = ["Get", "List", "Describe", "Check"];
        self.calls()
            .into_iter()
            .filter(|(_, a)| !READ_PREFIXES.iter().any(|p| a.starts_with(p)) && a != "SendTextMessage")
            .collect()
    }

    /// Make the next `count` calls of `service` `action` fail with AWS error `code`.
    pub fn inject_fault(&self, service: &str, action: &str, code: &str, count: u32) {
        self.control(
            "POST",
            "/faults",
            Some(json!({"service": service, "action": action, "code": code, "count": count, "message": "injected"})),
        );
    }

    /// How many injected faults have been answered so far.
    pub fn faults_answered(&self) -> u64 {
        let faults = self.control("GET", "/faults", None);
        faults
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|f| f["count"].as_u64().unwrap_or(0) - f["remaining"].as_u64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Make AWS refuse calls signed with these access keys, as it refuses expired credentials.
    pub fn expire_credentials(&self, access_keys: &[String]) {
        self.control("POST", "/credentials", Some(json!({"expired": access_keys})));
    }

    /// Let the next successful call of `action` take effect, then hold every later call (and,
    /// with `answer` false, that call's own answer) until `release_hold`.
    pub fn hold_after(&self, action: &str, answer: bool) {
        self.control("POST", "/hold", Some(json!({"action": action, "answer": answer})));
    }

    /// Whether the held action has taken effect.
    pub fn hold_triggered(&self) -> bool {
        self.control("GET", "/hold", None)["triggered"]
            .as_bool()
            .unwrap_or(false)
    }

    pub fn release_hold(&self) {
        self.control("DELETE", "/hold", None);
    }

    /// Drop every injected fault.
    pub fn clear_faults(&self) {
        self.control("DELETE", "/faults", None);
    }

    /// Read or shape an account's SNS SMS state in a region.
    pub fn sns_account(&self, region: &str, changes: Value) -> Value {
        let mut body = changes;
        body["account"] = json!(ACCOUNT);
        body["region"] = json!(region);
        self.control("POST", "/sns/account", Some(body))
    }

    /// Read or shape an account's End User Messaging state in a region, apart from SNS.
    pub fn sms_voice_account(&self, region: &str, changes: Value) -> Value {
        let mut body = changes;
        body["account"] = json!(ACCOUNT);
        body["region"] = json!(region);
        self.control("POST", "/sms-voice/account", Some(body))
    }

    /// Create a CloudWatch Logs log group in `region`, as the account's admin would; its ARN.
    pub fn log_group(&self, region: &str, name: &str) -> String {
        let body = json!({"account": ACCOUNT, "region": region, "name": name});
        self.control("POST", "/logs/group", Some(body))["arn"]
            .as_str()
            .expect("the log group's ARN")
            .to_string()
    }

    /// The pool's log configurations, as `GetLogDeliveryConfiguration` returns them.
    pub async fn log_configurations(
        &self,
        region: &str,
        pool: &str,
    ) -> Vec<aws_sdk_cognitoidentityprovider::types::LogConfigurationType> {
        self.cognito(region)
            .await
            .get_log_delivery_configuration()
            .user_pool_id(pool)
            .send()
            .await
            .expect("the pool's log delivery")
            .log_delivery_configuration()
            .map(|d| d.log_configurations().to_vec())
            .unwrap_or_default()
    }

    /// Make DescribeUserPool report `failure` as the pool's SmsConfigurationFailure (`None`: none).
    pub fn set_sms_configuration_failure(&self, region: &str, pool: &str, failure: Option<&str>) {
        let body = json!({"account": ACCOUNT, "region": region, "userPoolId": pool, "failure": failure});
        self.control("POST", "/cognito/sms-failure", Some(body));
    }

    /// SMS messages the emulator delivered: (phone number, text).
    pub fn sms_messages(&self) -> Vec<(String, String)> {
        let data: Value = ureq::get(&format!("{}/moto-api/data.json", self.endpoint))
            .call()
            .expect("moto data")
            .body_mut()
            .read_json()
            .expect("moto data is JSON");
        data["sns"]["SMS"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|m| {
                        (
                            m["phone_number"].as_str().unwrap_or("").into(),
                            m["message"].as_str().unwrap_or("").into(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Throttle as AWS does at these rates, in requests per second, in every account and region:
    /// keys "service:name", e.g. `json!({"cognito-idp:UserPoolRead": 15, "iam:*": 15})` (see
    /// tests/emulator/server.py). Replaces the rates set before.
    pub fn throttle(&self, rates: Value) {
        self.control("POST", "/throttle", Some(json!({ "rates": rates })));
    }

    /// The calls throttling refused so far, by "service:Action" (e.g. "cognito-idp:DescribeUserPool").
    pub fn throttled(&self) -> std::collections::BTreeMap<String, u64> {
        let view = self.control("GET", "/throttle", None);
        view["throttled"]
            .as_object()
            .expect("throttled calls")
            .iter()
            .map(|(call, count)| (call.clone(), count.as_u64().expect("a count")))
            .collect()
    }

    /// `count` user pools with default settings in `region`, created in the emulator's state
    /// directly (no AWS call, no throttling); their ids.
    pub fn create_pools(&self, region: &str, count: usize) -> Vec<String> {
        let body = json!({"account": ACCOUNT, "region": region, "count": count});
        self.control("POST", "/cognito/pools", Some(body))["userPoolIds"]
            .as_array()
            .expect("user pool ids")
            .iter()
            .map(|id| id.as_str().expect("a user pool id").to_string())
            .collect()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    /// A role's trust policy, parsed.
    /// The tags of IAM role `role`; none when there is no such role.
    pub async fn role_tags(&self, role: &str) -> std::collections::HashMap<String, String> {
        match self.iam().await.list_role_tags().role_name(role).send().await {
            Ok(out) => out
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            Err(_) => Default::default(),
        }
    }

    pub async fn trust_policy(&self, role: &str) -> Value {
        let out = self
            .iam()
            .await
            .get_role()
            .role_name(role)
            .send()
            .await
            .expect("the role exists");
        let raw = out
            .role()
            .and_then(|r| r.assume_role_policy_document())
            .expect("a trust policy");
        cognito_sms_operator::policy::parse_document(raw).expect("a JSON document")
    }

    /// A pool's SMS configuration.
    pub async fn sms_configuration(
        &self,
        region: &str,
        pool: &str,
    ) -> Option<aws_sdk_cognitoidentityprovider::types::SmsConfigurationType> {
        let out = self
            .cognito(region)
            .await
            .describe_user_pool()
            .user_pool_id(pool)
            .send()
            .await
            .expect("the pool");
        out.user_pool().and_then(|p| p.sms_configuration()).cloned()
    }

    /// Point a pool's SMS at another role by hand, as a person in the console would (an
    /// UpdateUserPool sending only SmsConfiguration).
    pub async fn point_pool_at(&self, region: &str, pool: &str, role_arn: &str) {
        let sms = aws_sdk_cognitoidentityprovider::types::SmsConfigurationType::builder()
            .sns_caller_arn(role_arn)
            .build();
        self.cognito(region)
            .await
            .update_user_pool()
            .user_pool_id(pool)
            .sms_configuration(sms)
            .send()
            .await
            .expect("update");
    }
}

/// A user pool with default settings; returns its id.
pub async fn create_pool(emu: &Emulator, region: &str, name: &str) -> String {
    let out = emu
        .cognito(region)
        .await
        .create_user_pool()
        .pool_name(name)
        .send()
        .await
        .expect("create pool");
    out.user_pool().and_then(|p| p.id()).expect("pool id").to_string()
}

/// `(status, reason)` of a condition.
pub fn condition(res: &CognitoSmsConfig, type_: &str) -> (String, String, String) {
    let c = res
        .condition(type_)
        .unwrap_or_else(|| panic!("condition {type_} present"));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

/// Secrets as a test sets them: (name, key) → value, each write a new version.
#[derive(Default)]
pub struct TestSecrets(Mutex<HashMap<(String, String), (String, u64)>>);

impl TestSecrets {
    pub fn set(&self, name: &str, key: &str, value: &str) {
        let mut map = self.0.lock().unwrap();
        let version = map.values().map(|(_, v)| *v).max().unwrap_or(0) + 1;
        map.insert((name.into(), key.into()), (value.into(), version));
    }
}

impl SecretSource for TestSecrets {
    async fn code(&self, name: &str, key: &str) -> Result<Option<SecretCode>, SecretError> {
        let map = self.0.lock().unwrap();
        Ok(map
            .get(&(name.to_string(), key.to_string()))
            .and_then(|(value, version)| {
                Code::new(value).map(|code| SecretCode {
                    code,
                    version: Some(version.to_string()),
                })
            }))
    }
}

/// What the controller gives a reconcile, for tests: AWS at the emulator, a shared SNS cache,
/// Secrets and the numbers other resources claim.
pub struct Harness {
    pub aws: Aws,
    pub cache: AccountCache,
    pub secrets: TestSecrets,
    pub claimed: HashSet<cognito_sms_operator::account::NumberAt>,
    pub number_ids: NumberIds,
}

impl Harness {
    pub async fn new(emu: &Emulator) -> Self {
        Self::with_ttl(emu, Duration::from_secs(300)).await
    }

    pub async fn with_ttl(emu: &Emulator, ttl: Duration) -> Self {
        Self {
            aws: emu.aws().await,
            cache: AccountCache::new(ttl),
            secrets: TestSecrets::default(),
            claimed: HashSet::new(),
            number_ids: NumberIds::new(b"the tests' installation key"),
        }
    }

    pub fn env(&self) -> Env<'_, AwsReads<'_, TestSecrets>, AwsWrites<'_>> {
        Env::aws(
            &self.aws,
            &self.cache,
            &self.secrets,
            &self.claimed,
            INSTALLATION,
            &self.number_ids,
        )
    }

    /// Reconcile once and keep the new status on the resource, as the API server would.
    pub async fn reconcile(&self, res: &mut CognitoSmsConfig) -> SyncReport {
        let report = reconcile::sync(&self.env(), res, Mode::Apply, k8s_openapi::jiff::Timestamp::now()).await;
        res.status = Some(report.status.clone());
        report
    }
}

/// A Lambda trigger of the customised pool.
pub const CUSTOMISED_LAMBDA: &str = "arn:aws:lambda:eu-west-2:123456789012:function:pre-sign-up";

/// A pool with many settings besides SMS, all of which UpdateUserPool would reset if it were not
/// sent them back; returns its id.
pub async fn create_customised_pool(emu: &Emulator, region: &str) -> String {
    use aws_sdk_cognitoidentityprovider::types::*;
    let lambda = CUSTOMISED_LAMBDA;
    let created = emu
        .cognito(region)
        .await
        .create_user_pool()
        .pool_name("customised")
        .policies(
            UserPoolPolicyType::builder()
                .password_policy(
                    PasswordPolicyType::builder()
                        .minimum_length(14)
                        .require_symbols(false)
                        .require_numbers(true)
                        .require_uppercase(true)
                        .require_lowercase(false)
                        .temporary_password_validity_days(2)
                        .build(),
                )
                .build(),
        )
        .auto_verified_attributes(VerifiedAttributeType::PhoneNumber)
        .auto_verified_attributes(VerifiedAttributeType::Email)
        .mfa_configuration(UserPoolMfaType::Optional)
        .verification_message_template(
            VerificationMessageTemplateType::builder()
                .sms_message("Your code: {####}")
                .email_message("Code {####} for you")
                .email_subject("Verify your address")
                .default_email_option(DefaultEmailOptionType::ConfirmWithCode)
                .build(),
        )
        .sms_authentication_message("Sign-in code {####}")
        .deletion_protection(DeletionProtectionType::Active)
        .user_pool_tags("team", "identity")
        .user_pool_tags("cost-center", "42")
        .lambda_config(
            LambdaConfigType::builder()
                .pre_sign_up(lambda)
                .post_confirmation(lambda)
                .build(),
        )
        .account_recovery_setting(
            AccountRecoverySettingType::builder()
                .recovery_mechanisms(
                    RecoveryOptionType::builder()
                        .priority(1)
                        .name(RecoveryOptionNameType::VerifiedPhoneNumber)
                        .build()
                        .unwrap(),
                )
                .recovery_mechanisms(
                    RecoveryOptionType::builder()
                        .priority(2)
                        .name(RecoveryOptionNameType::VerifiedEmail)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .admin_create_user_config(
            AdminCreateUserConfigType::builder()
                .allow_admin_create_user_only(true)
                .build(),
        )
        .device_configuration(
            DeviceConfigurationType::builder()
                .challenge_required_on_new_device(true)
                .build(),
        )
        .send()
        .await
        .expect("create a customised pool");
    created.user_pool().and_then(|p| p.id()).expect("pool id").to_string()
}

/// Everything DescribeUserPool says of a pool but its SMS configuration (and the timestamp a write
/// moves), to show that nothing else changed.
pub async fn pool_but_sms(
    emu: &Emulator,
    region: &str,
    pool: &str,
) -> aws_sdk_cognitoidentityprovider::types::UserPoolType {
    let out = emu
        .cognito(region)
        .await
        .describe_user_pool()
        .user_pool_id(pool)
        .send()
        .await
        .expect("the pool");
    let mut pool = out.user_pool().expect("a pool").clone();
    pool.sms_configuration = None;
    pool.sms_configuration_failure = None;
    pool.last_modified_date = None;
    pool
}
