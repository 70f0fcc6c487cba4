//! SNS (and AWS End User Messaging SMS for number types): the account's SMS state in a region,
//! and the sandbox destination number calls.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sns::types::{LanguageCodeString, SmsSandboxPhoneNumberVerificationStatus};

use super::{Aws, AwsError};
use crate::account::{Code, Listed, NumberType, OriginationNumber};

pub struct Sns<'a> {
    pub(super) aws: &'a Aws,
    pub(super) client: aws_sdk_sns::Client,
    pub(super) sms_voice: aws_sdk_pinpointsmsvoicev2::Client,
}

impl Sns<'_> {
    pub async fn in_sandbox(&self) -> Result<bool, AwsError> {
        let out = self
            .aws
            .call(
                "sns",
                "GetSMSSandboxAccountStatus",
                self.client.get_sms_sandbox_account_status().send(),
            )
            .await?;
        Ok(out.is_in_sandbox())
    }

    pub async fn monthly_spend_limit(&self) -> Result<Option<String>, AwsError> {
        let req = self.client.get_sms_attributes().attributes("MonthlySpendLimit").send();
        let out = self.aws.call("sns", "GetSMSAttributes", req).await?;
        Ok(out.attributes().and_then(|a| a.get("MonthlySpendLimit")).cloned())
    }

    /// Every origination number of the account in the region (all pages), without types.
    pub async fn origination_numbers(&self) -> Result<Vec<OriginationNumber>, AwsError> {
        let pages = self.client.list_origination_numbers().into_paginator().send();
        let pages = self.aws.pages("sns", "ListOriginationNumbers", pages).await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.phone_numbers())
            .filter_map(|n| {
                Some(OriginationNumber {
                    number: n.phone_number()?.to_string(),
                    country: n.iso2_country_code().map(String::from),
                    route: n.route_type().map(|r| r.as_str().to_string()),
                    capabilities: n.number_capabilities().iter().map(|c| c.as_str().to_string()).collect(),
                    status: n.status().map(String::from),
                    number_type: None,
                })
            })
            .collect())
    }

    /// Number types from AWS End User Messaging SMS (DescribePhoneNumbers), all pages.
    pub async fn number_types(&self) -> Result<HashMap<String, (NumberType, OriginationNumber)>, AwsError> {
        use aws_sdk_pinpointsmsvoicev2::types::NumberType as V2;
        let pages = self.sms_voice.describe_phone_numbers().into_paginator().send();
        let pages = self.aws.pages("sms-voice", "DescribePhoneNumbers", pages).await?;
        let mut types = HashMap::new();
        for n in pages.iter().flat_map(|p| p.phone_numbers()) {
            let t = match n.number_type() {
                V2::ShortCode => NumberType::ShortCode,
                V2::TenDlc => NumberType::TenDlc,
                V2::TollFree => NumberType::TollFree,
                V2::Simulator => NumberType::Simulator,
                _ => NumberType::LongCode,
            };
            let number = OriginationNumber {
                number: n.phone_number().to_string(),
                country: Some(n.iso_country_code().to_string()),
                route: Some(n.message_type().as_str().to_string()),
                capabilities: n.number_capabilities().iter().map(|c| c.as_str().to_string()).collect(),
                status: Some(n.status().as_str().to_string()),
                number_type: Some(t),
            };
            types.insert(n.phone_number().to_string(), (t, number));
        }
        Ok(types)
    }

    /// The sandbox destination numbers and their verification state, all pages.
    pub async fn sandbox_numbers(&self) -> Result<BTreeMap<String, Listed>, AwsError> {
        let pages = self.client.list_sms_sandbox_phone_numbers().into_paginator().send();
        let pages = self.aws.pages("sns", "ListSMSSandboxPhoneNumbers", pages).await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.phone_numbers())
            .filter_map(|n| {
                let state = match n.status() {
                    Some(SmsSandboxPhoneNumberVerificationStatus::Verified) => Listed::Verified,
                    _ => Listed::Pending,
                };
                Some((n.phone_number()?.to_string(), state))
            })
            .collect())
    }

    /// Add a destination number; SNS texts it a one-time code.
    pub async fn create_sandbox_number(&self, number: &str, language: Option<&str>) -> Result<(), AwsError> {
        let req = self
            .client
            .create_sms_sandbox_phone_number()
            .phone_number(number)
            .set_language_code(language.map(LanguageCodeString::from))
            .send();
        self.aws.call("sns", "CreateSMSSandboxPhoneNumber", req).await.map(drop)
    }

    pub async fn verify_sandbox_number(&self, number: &str, code: &Code) -> Result<(), AwsError> {
        let req = self
            .client
            .verify_sms_sandbox_phone_number()
            .phone_number(number)
            .one_time_password(code.reveal())
            .send();
        self.aws.call("sns", "VerifySMSSandboxPhoneNumber", req).await.map(drop)
    }

    pub async fn delete_sandbox_number(&self, number: &str) -> Result<(), AwsError> {
        let req = self
            .client
            .delete_sms_sandbox_phone_number()
            .phone_number(number)
            .send();
        self.aws.call("sns", "DeleteSMSSandboxPhoneNumber", req).await.map(drop)
    }
}
