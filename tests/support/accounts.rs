//! Other AWS accounts in the emulator: each with an administrator the tests act as, the role the
//! operator assumes there, and its user pools. One emulator serves every account; credentials
//! from STS act in the account of the role they were issued for.

use aws_sdk_iam::config::Credentials;
use serde_json::{Value, json};

use super::{ACCOUNT, Emulator};

/// An AWS account other than the operator's own.
pub struct OtherAccount {
    pub id: String,
    config: aws_config::SdkConfig,
}

/// The trust policy of a role the operator's own account may assume, with session tags, and
/// with `external_id` when given.
pub fn trusting_the_operator(external_id: Option<&str>) -> Value {
    let mut statement = json!({
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
    });
    if let Some(id) = external_id {
        statement["Condition"] = json!({"StringEquals": {"sts:ExternalId": id}});
    }
    json!({"Version": "2012-10-17", "Statement": [statement]})
}

impl Emulator {
    /// Account `id`, with an administrator role made by the emulator and assumed from the
    /// operator's account, as an organisation's access role is.
    pub async fn account(&self, id: &str) -> OtherAccount {
        let admin = self.create_role(id, "test-admin", trusting_the_operator(None));
        let sts = aws_sdk_sts::Client::new(&self.sdk_config("us-east-1").await);
        let out = sts
            .assume_role()
            .role_arn(&admin)
            .role_session_name("tests")
            .send()
            .await
            .expect("the tests assume the account's admin role");
        let c = out.credentials().expect("credentials");
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "tests",
        );
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .load()
            .await;
        OtherAccount { id: id.into(), config }
    }

    /// A role made straight in account `account`'s IAM, as its administrator would; its ARN.
    pub fn create_role(&self, account: &str, name: &str, trust: Value) -> String {
        let body = json!({"account": account, "roleName": name, "assumeRolePolicyDocument": trust});
        self.control("POST", "/iam/role", Some(body))["arn"]
            .as_str()
            .expect("the role's ARN")
            .to_string()
    }
}

impl OtherAccount {
    fn in_region(&self, region: &str) -> aws_config::SdkConfig {
        self.config
            .to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build()
    }

    /// The role the operator assumes in this account, trusting the operator's account (with
    /// `external_id` when given); its ARN.
    pub fn operator_role(&self, emu: &Emulator, name: &str, external_id: Option<&str>) -> String {
        emu.create_role(&self.id, name, trusting_the_operator(external_id))
    }

    pub async fn create_pool(&self, region: &str, name: &str) -> String {
        let cognito = aws_sdk_cognitoidentityprovider::Client::new(&self.in_region(region));
        let out = cognito
            .create_user_pool()
            .pool_name(name)
            .send()
            .await
            .expect("create pool");
        out.user_pool().and_then(|p| p.id()).expect("pool id").to_string()
    }

    /// The SNS caller ARN a pool of this account sends SMS with, if any.
    pub async fn sns_caller_arn(&self, region: &str, pool: &str) -> Option<String> {
        let cognito = aws_sdk_cognitoidentityprovider::Client::new(&self.in_region(region));
        let out = cognito
            .describe_user_pool()
            .user_pool_id(pool)
            .send()
            .await
            .expect("the pool");
        out.user_pool()
            .and_then(|p| p.sms_configuration())
            .map(|s| s.sns_caller_arn().to_string())
    }

    /// The names of the roles of this account.
    pub async fn roles(&self) -> Vec<String> {
        let iam = aws_sdk_iam::Client::new(&self.config);
        let out = iam.list_roles().send().await.expect("list roles");
        out.roles().iter().map(|r| r.role_name().to_string()).collect()
    }
}
