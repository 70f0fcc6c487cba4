//! AWS End User Messaging SMS (`pinpoint-sms-voice-v2`, IAM prefix `sms-voice`): the account's
//! SMS state in a region, its verified destination numbers, and a dry-run send.

use std::collections::BTreeMap;

use aws_sdk_pinpointsmsvoicev2::types::{
    AccountAttributeName, DestinationCountryParameterKey, LanguageCode, NumberCapability, NumberType as V2,
    ProtectConfigurationCountryRuleSetInformation, ProtectStatus, SpendLimitName, VerificationChannel,
    VerificationStatus,
};

use super::{Aws, AwsError};
use cognito_sms_core::account::{
    Code, CountryRules, Destination, Identity, IdentityKind, Listed, NumberType, PoolMember,
};
use cognito_sms_core::desired::TestMessage;

/// A request the SDK could not build, as the call's error.
fn invalid(operation: &'static str, e: impl std::fmt::Display) -> AwsError {
    AwsError::new(
        "sms-voice",
        operation,
        super::ErrorKind::InvalidRequest,
        "InvalidRequest",
        e.to_string(),
    )
}

/// Tags as the SDK takes them.
fn sdk_tags(
    tags: &BTreeMap<String, String>,
    operation: &'static str,
) -> Result<Vec<aws_sdk_pinpointsmsvoicev2::types::Tag>, AwsError> {
    tags.iter()
        .map(|(k, v)| {
            aws_sdk_pinpointsmsvoicev2::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(operation, e))
}

pub struct SmsVoice<'a> {
    pub(super) aws: &'a Aws,
    pub(super) client: aws_sdk_pinpointsmsvoicev2::Client,
    pub(super) region: String,
}

fn strings<T: AsRef<str>>(items: &[T]) -> Vec<String> {
    items.iter().map(|i| i.as_ref().to_string()).collect()
}

/// End User Messaging's code for a language the CRD names as SNS did (`en-US`, `kr-KR`, ...).
fn language(code: &str) -> LanguageCode {
    match code {
        "kr-KR" => LanguageCode::KoKr,
        other => LanguageCode::from(other.replace('-', "_").to_uppercase().as_str()),
    }
}

/// The limit AWS holds the account to: the one set (`EnforcedLimit`) only when `Overridden`,
/// otherwise the account's maximum (`MaxLimit`).
fn limit_in_force(limit: &aws_sdk_pinpointsmsvoicev2::types::SpendLimit) -> i64 {
    if limit.overridden() {
        limit.enforced_limit()
    } else {
        limit.max_limit()
    }
}

impl SmsVoice<'_> {
    /// The account's tier (`ACCOUNT_TIER`) and default protect configuration
    /// (`DEFAULT_PROTECT_CONFIGURATION_ID`), as End User Messaging reports them, where it does.
    pub async fn account_attributes(&self) -> Result<(Option<String>, Option<String>), AwsError> {
        let pages = self.client.describe_account_attributes().into_paginator().send();
        let pages = self
            .aws
            .pages_in(&self.region, "sms-voice", "DescribeAccountAttributes", pages)
            .await?;
        let value = |name: AccountAttributeName| {
            pages
                .iter()
                .flat_map(|p| p.account_attributes())
                .find(|a| *a.name() == name)
                .map(|a| a.value().to_string())
        };
        Ok((
            value(AccountAttributeName::AccountTier),
            value(AccountAttributeName::DefaultProtectConfigurationId),
        ))
    }

    /// The text message monthly spend limit in force, in US dollars.
    pub async fn text_spend_limit(&self) -> Result<Option<String>, AwsError> {
        let pages = self.client.describe_spend_limits().into_paginator().send();
        let pages = self
            .aws
            .pages_in(&self.region, "sms-voice", "DescribeSpendLimits", pages)
            .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.spend_limits())
            .find(|l| *l.name() == SpendLimitName::TextMessageMonthlySpendLimit)
            .map(|l| limit_in_force(l).to_string()))
    }

    pub async fn phone_numbers(&self) -> Result<Vec<Identity>, AwsError> {
        let pages = self.client.describe_phone_numbers().into_paginator().send();
        let pages = self
            .aws
            .pages_in(&self.region, "sms-voice", "DescribePhoneNumbers", pages)
            .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.phone_numbers())
            .map(|n| {
                let number_type = match n.number_type() {
                    V2::ShortCode => NumberType::ShortCode,
                    V2::TenDlc => NumberType::TenDlc,
                    V2::TollFree => NumberType::TollFree,
                    V2::Simulator => NumberType::Simulator,
                    _ => NumberType::LongCode,
                };
                Identity {
                    kind: IdentityKind::PhoneNumber(number_type),
                    arn: n.phone_number_arn().to_string(),
                    id: n.phone_number_id().unwrap_or(n.phone_number()).to_string(),
                    number: Some(n.phone_number().to_string()),
                    country: Some(n.iso_country_code().to_string()),
                    message_type: Some(n.message_type().as_str().to_string()),
                    capabilities: strings(n.number_capabilities()),
                    status: Some(n.status().as_str().to_string()),
                }
            })
            .collect())
    }

    pub async fn sender_ids(&self) -> Result<Vec<Identity>, AwsError> {
        let pages = self.client.describe_sender_ids().into_paginator().send();
        let pages = self
            .aws
            .pages_in(&self.region, "sms-voice", "DescribeSenderIds", pages)
            .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.sender_ids())
            .map(|s| Identity {
                kind: IdentityKind::SenderId,
                arn: s.sender_id_arn().to_string(),
                id: s.sender_id().to_string(),
                number: None,
                country: Some(s.iso_country_code().to_string()),
                message_type: s.message_types().first().map(|t| t.as_str().to_string()),
                capabilities: vec!["SMS".into()],
                status: None,
            })
            .collect())
    }

    /// The account's pools, each with what its phone numbers and sender IDs can do.
    pub async fn pools(&self) -> Result<Vec<Identity>, AwsError> {
        let pages = self.client.describe_pools().into_paginator().send();
        let pages = self
            .aws
            .pages_in(&self.region, "sms-voice", "DescribePools", pages)
            .await?;
        let mut pools = vec![];
        for p in pages.iter().flat_map(|p| p.pools()) {
            pools.push(Identity {
                kind: IdentityKind::Pool {
                    members: self.pool_members(p.pool_id()).await?,
                },
                arn: p.pool_arn().to_string(),
                id: p.pool_id().to_string(),
                number: None,
                country: None,
                message_type: Some(p.message_type().as_str().to_string()),
                capabilities: vec![],
                status: Some(p.status().as_str().to_string()),
            });
        }
        Ok(pools)
    }

    async fn pool_members(&self, pool_id: &str) -> Result<Vec<PoolMember>, AwsError> {
        let pages = self
            .client
            .list_pool_origination_identities()
            .pool_id(pool_id)
            .into_paginator()
            .send();
        let pages = self
            .aws
            .pages_in(&self.region, "sms-voice", "ListPoolOriginationIdentities", pages)
            .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.origination_identities())
            .map(|m| PoolMember {
                country: Some(m.iso_country_code().to_string()),
                capabilities: strings(m.number_capabilities()),
            })
            .collect())
    }

    /// The configuration sets by name, each with its protect configuration, if it has one.
    pub async fn configuration_sets(&self) -> Result<BTreeMap<String, Option<String>>, AwsError> {
        let pages = self.client.describe_configuration_sets().into_paginator().send();
        let pages = self
            .aws
            .pages_in(&self.region, "sms-voice", "DescribeConfigurationSets", pages)
            .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.configuration_sets())
            .map(|c| {
                let protect = c.protect_configuration_id().filter(|p| !p.is_empty()).map(String::from);
                (c.configuration_set_name().to_string(), protect)
            })
            .collect())
    }

    /// The SMS rules of protect configuration `id`, by country; `None` when it is gone.
    pub async fn protect_rules(&self, id: &str) -> Result<Option<CountryRules>, AwsError> {
        let req = self
            .client
            .get_protect_configuration_country_rule_set()
            .protect_configuration_id(id)
            .number_capability(NumberCapability::Sms)
            .send();
        let out = super::optional(
            self.aws
                .call_in(&self.region, "sms-voice", "GetProtectConfigurationCountryRuleSet", req)
                .await,
        )?;
        Ok(out.map(|o| {
            o.country_rule_set()
                .iter()
                .map(|(country, rule)| (country.clone(), rule.protect_status().as_str().to_string()))
                .collect()
        }))
    }

    /// Every protect configuration of the account in the region: (ID, ARN).
    pub async fn protect_configurations(&self) -> Result<Vec<(String, String)>, AwsError> {
        let pages = self.client.describe_protect_configurations().into_paginator().send();
        let pages = self
            .aws
            .pages_in(&self.region, "sms-voice", "DescribeProtectConfigurations", pages)
            .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.protect_configurations())
            .map(|c| {
                (
                    c.protect_configuration_id().to_string(),
                    c.protect_configuration_arn().to_string(),
                )
            })
            .collect())
    }

    /// Create a protect configuration tagged with `tags`; its ID.
    pub async fn create_protect_configuration(&self, tags: &BTreeMap<String, String>) -> Result<String, AwsError> {
        let tags = sdk_tags(tags, "CreateProtectConfiguration")?;
        let req = self.client.create_protect_configuration().set_tags(Some(tags)).send();
        let out = self
            .aws
            .call_in(&self.region, "sms-voice", "CreateProtectConfiguration", req)
            .await?;
        Ok(out.protect_configuration_id().to_string())
    }

    /// Set the SMS rule of each country of `updates` on protect configuration `id`.
    pub async fn update_protect_rules(&self, id: &str, updates: &CountryRules) -> Result<(), AwsError> {
        let mut rules = std::collections::HashMap::new();
        for (country, rule) in updates {
            let info = ProtectConfigurationCountryRuleSetInformation::builder()
                .protect_status(ProtectStatus::from(rule.as_str()))
                .build()
                .map_err(|e| invalid("UpdateProtectConfigurationCountryRuleSet", e))?;
            rules.insert(country.clone(), info);
        }
        let req = self
            .client
            .update_protect_configuration_country_rule_set()
            .protect_configuration_id(id)
            .number_capability(NumberCapability::Sms)
            .set_country_rule_set_updates(Some(rules))
            .send();
        self.aws
            .call_in(
                &self.region,
                "sms-voice",
                "UpdateProtectConfigurationCountryRuleSet",
                req,
            )
            .await
            .map(drop)
    }

    /// Create configuration set `name`, tagged with `tags`.
    pub async fn create_configuration_set(&self, name: &str, tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
        let tags = sdk_tags(tags, "CreateConfigurationSet")?;
        let req = self
            .client
            .create_configuration_set()
            .configuration_set_name(name)
            .set_tags(Some(tags))
            .send();
        self.aws
            .call_in(&self.region, "sms-voice", "CreateConfigurationSet", req)
            .await
            .map(drop)
    }

    pub async fn associate_protect_configuration(&self, id: &str, configuration_set: &str) -> Result<(), AwsError> {
        let req = self
            .client
            .associate_protect_configuration()
            .protect_configuration_id(id)
            .configuration_set_name(configuration_set)
            .send();
        self.aws
            .call_in(&self.region, "sms-voice", "AssociateProtectConfiguration", req)
            .await
            .map(drop)
    }

    pub async fn disassociate_protect_configuration(&self, id: &str, configuration_set: &str) -> Result<(), AwsError> {
        let req = self
            .client
            .disassociate_protect_configuration()
            .protect_configuration_id(id)
            .configuration_set_name(configuration_set)
            .send();
        self.aws
            .call_in(&self.region, "sms-voice", "DisassociateProtectConfiguration", req)
            .await
            .map(drop)
    }

    pub async fn delete_protect_configuration(&self, id: &str) -> Result<(), AwsError> {
        let req = self
            .client
            .delete_protect_configuration()
            .protect_configuration_id(id)
            .send();
        self.aws
            .call_in(&self.region, "sms-voice", "DeleteProtectConfiguration", req)
            .await
            .map(drop)
    }

    /// The verified destination numbers (pending or verified), by number.
    pub async fn destinations(&self) -> Result<BTreeMap<String, Destination>, AwsError> {
        let pages = self
            .client
            .describe_verified_destination_numbers()
            .into_paginator()
            .send();
        let pages = self
            .aws
            .pages_in(&self.region, "sms-voice", "DescribeVerifiedDestinationNumbers", pages)
            .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.verified_destination_numbers())
            .map(|d| {
                let state = match d.status() {
                    VerificationStatus::Verified => Listed::Verified,
                    _ => Listed::Pending,
                };
                let id = d.verified_destination_number_id().to_string();
                let arn = d.verified_destination_number_arn().to_string();
                (d.destination_phone_number().to_string(), Destination { id, arn, state })
            })
            .collect())
    }

    /// Add a destination number, tagged with `tags`, and have End User Messaging text it a
    /// code. When the number is added but the code cannot be sent, the error is the sending call's.
    pub async fn add_destination(
        &self,
        number: &str,
        language: Option<&str>,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        let tags = sdk_tags(tags, "CreateVerifiedDestinationNumber")?;
        let req = self
            .client
            .create_verified_destination_number()
            .destination_phone_number(number)
            .set_tags(Some(tags))
            .send();
        let created = self
            .aws
            .call_in(&self.region, "sms-voice", "CreateVerifiedDestinationNumber", req)
            .await?;
        self.send_code(created.verified_destination_number_id(), language).await
    }

    /// The tags of a resource (a verified destination number) by its ARN; `None` when it is gone.
    pub async fn tags_of(&self, arn: &str) -> Result<Option<BTreeMap<String, String>>, AwsError> {
        let req = self.client.list_tags_for_resource().resource_arn(arn).send();
        let out = super::optional(
            self.aws
                .call_in(&self.region, "sms-voice", "ListTagsForResource", req)
                .await,
        )?;
        Ok(out.map(|o| {
            o.tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect()
        }))
    }

    pub async fn send_code(&self, id: &str, language_code: Option<&str>) -> Result<(), AwsError> {
        let req = self
            .client
            .send_destination_number_verification_code()
            .verified_destination_number_id(id)
            .verification_channel(VerificationChannel::Text)
            .set_language_code(language_code.map(language))
            // A retried send can text the number a second code: try once, and let the caller
            // treat an unanswered attempt as perhaps sent.
            .customize()
            .config_override(
                aws_sdk_pinpointsmsvoicev2::config::Builder::default()
                    .retry_config(aws_config::retry::RetryConfig::disabled()),
            )
            .send();
        self.aws
            .call_in(&self.region, "sms-voice", "SendDestinationNumberVerificationCode", req)
            .await
            .map(drop)
    }

    pub async fn verify_destination(&self, id: &str, code: &Code) -> Result<(), AwsError> {
        let req = self
            .client
            .verify_destination_number()
            .verified_destination_number_id(id)
            .verification_code(code.reveal())
            .send();
        self.aws
            .call_in(&self.region, "sms-voice", "VerifyDestinationNumber", req)
            .await
            .map(drop)
    }

    pub async fn delete_destination(&self, id: &str) -> Result<(), AwsError> {
        let req = self
            .client
            .delete_verified_destination_number()
            .verified_destination_number_id(id)
            .send();
        self.aws
            .call_in(&self.region, "sms-voice", "DeleteVerifiedDestinationNumber", req)
            .await
            .map(drop)
    }

    /// `SendTextMessage` with `DryRun`: every check End User Messaging makes, nothing sent.
    pub async fn test_send(&self, message: &TestMessage) -> Result<(), AwsError> {
        let mut req = self
            .client
            .send_text_message()
            .destination_phone_number(&message.destination)
            .set_origination_identity(message.origination_identity.clone())
            .set_configuration_set_name(message.configuration_set.clone())
            .message_body("cognito-sms-operator: test before assigning this configuration to a user pool")
            .dry_run(true);
        if let Some((entity, template)) = &message.india_dlt {
            req = req
                .destination_country_parameters(DestinationCountryParameterKey::InEntityId, entity)
                .destination_country_parameters(DestinationCountryParameterKey::InTemplateId, template);
        }
        self.aws
            .call_in(&self.region, "sms-voice", "SendTextMessage", req.send())
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_pinpointsmsvoicev2::types::{SpendLimit, SpendLimitName};

    fn limit(enforced: i64, max: i64, overridden: bool) -> SpendLimit {
        SpendLimit::builder()
            .name(SpendLimitName::TextMessageMonthlySpendLimit)
            .enforced_limit(enforced)
            .max_limit(max)
            .overridden(overridden)
            .build()
            .unwrap()
    }

    #[test]
    fn the_limit_set_counts_only_when_it_overrides_the_maximum() {
        assert_eq!(super::limit_in_force(&limit(10, 100, true)), 10);
        assert_eq!(super::limit_in_force(&limit(10, 100, false)), 100);
    }
}
