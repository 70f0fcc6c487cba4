//! SNS: what it says of the account's SMS sandbox and spend limit in a region, shown beside End
//! User Messaging's answers where they differ.

use super::{Aws, AwsError};

pub struct Sns<'a> {
    pub(super) aws: &'a Aws,
    pub(super) client: aws_sdk_sns::Client,
    pub(super) region: String,
}

impl Sns<'_> {
    pub async fn in_sandbox(&self) -> Result<bool, AwsError> {
        let out = self
            .aws
            .call_in(
                &self.region,
                "sns",
                "GetSMSSandboxAccountStatus",
                self.client.get_sms_sandbox_account_status().send(),
            )
            .await?;
        Ok(out.is_in_sandbox())
    }

    pub async fn monthly_spend_limit(&self) -> Result<Option<String>, AwsError> {
        let req = self.client.get_sms_attributes().attributes("MonthlySpendLimit").send();
        let out = self.aws.call_in(&self.region, "sns", "GetSMSAttributes", req).await?;
        Ok(out.attributes().and_then(|a| a.get("MonthlySpendLimit")).cloned())
    }
}
