//! Cognito user pools: read a pool, and rewrite its SMS configuration without losing any other
//! setting.

use aws_sdk_cognitoidentityprovider::operation::update_user_pool::builders::UpdateUserPoolFluentBuilder;
use aws_sdk_cognitoidentityprovider::types::{
    AdminCreateUserConfigType, CloudWatchLogsConfigurationType, EumsSmsConfigurationType, EventSourceName,
    FirehoseConfigurationType, LogConfigurationType, LogLevel, S3ConfigurationType, SmsConfigurationType, UserPoolType,
};

use std::collections::BTreeMap;

use super::{Aws, AwsError, ErrorKind, optional};
use cognito_sms_core::desired::{
    DirectSms, LogConfiguration, LogDestination, Replica, ReplicaRole, ReplicaStatus, SmsConfig, UserPool,
};

/// At most this many pages of `ListUserPoolReplicas` are read: a pool has a primary and at most one
/// secondary, so more pages mean a service that never stops paging.
const MAX_REPLICA_PAGES: usize = 10;

pub struct Cognito<'a> {
    pub(super) aws: &'a Aws,
    pub(super) client: aws_sdk_cognitoidentityprovider::Client,
    pub(super) region: String,
}

/// UpdateUserPool resets every setting it is not sent. This copies every updatable setting of
/// `pool`, as DescribeUserPool returned it, into the request; only `SmsConfiguration` is replaced.
pub fn with_every_setting_of(
    req: UpdateUserPoolFluentBuilder,
    pool: &UserPoolType,
    sms: SmsConfigurationType,
) -> UpdateUserPoolFluentBuilder {
    let auto_verified = pool.auto_verified_attributes.clone();
    req.user_pool_id(pool.id().unwrap_or_default())
        .set_policies(pool.policies.clone())
        .set_deletion_protection(pool.deletion_protection.clone())
        .set_lambda_config(pool.lambda_config.clone())
        .set_auto_verified_attributes(auto_verified)
        .set_sms_verification_message(pool.sms_verification_message.clone())
        .set_email_verification_message(pool.email_verification_message.clone())
        .set_email_verification_subject(pool.email_verification_subject.clone())
        .set_verification_message_template(pool.verification_message_template.clone())
        .set_sms_authentication_message(pool.sms_authentication_message.clone())
        .set_user_attribute_update_settings(pool.user_attribute_update_settings.clone())
        .set_mfa_configuration(pool.mfa_configuration.clone())
        .set_device_configuration(pool.device_configuration.clone())
        .set_email_configuration(pool.email_configuration.clone())
        .sms_configuration(sms)
        .set_user_pool_tags(pool.user_pool_tags.clone())
        .set_admin_create_user_config(admin_create_user_config(pool))
        .set_user_pool_add_ons(pool.user_pool_add_ons.clone())
        .set_account_recovery_setting(pool.account_recovery_setting.clone())
        .set_pool_name(pool.name.clone())
        .set_user_pool_tier(pool.user_pool_tier.clone())
        .set_key_configuration(pool.key_configuration.clone())
        .set_issuer_configuration(pool.issuer_configuration.clone())
        .set_acr_configuration(pool.acr_configuration.clone())
}

/// DescribeUserPool still returns the deprecated `UnusedAccountValidityDays`, and UpdateUserPool
/// refuses it beside `PasswordPolicy.TemporaryPasswordValidityDays`: send it back only when the
/// password policy does not carry the same setting.
fn admin_create_user_config(pool: &UserPoolType) -> Option<AdminCreateUserConfigType> {
    let cfg = pool.admin_create_user_config()?;
    let temporary_validity_set = pool
        .policies()
        .and_then(|p| p.password_policy())
        .is_some_and(|p| p.temporary_password_validity_days() > 0);
    let unused = (!temporary_validity_set && cfg.unused_account_validity_days() > 0)
        .then_some(cfg.unused_account_validity_days());
    Some(
        AdminCreateUserConfigType::builder()
            .allow_admin_create_user_only(cfg.allow_admin_create_user_only())
            .set_unused_account_validity_days(unused)
            .set_invite_message_template(cfg.invite_message_template().cloned())
            .build(),
    )
}

/// The pool's `SmsConfiguration` for `desired`: the SNS fields, or `EumsSms` for the direct path
/// (setting one clears the other, as Cognito documents).
pub fn sms_configuration(desired: &SmsConfig) -> SmsConfigurationType {
    let Some(direct) = &desired.direct else {
        return SmsConfigurationType::builder()
            .sns_caller_arn(&desired.caller_arn)
            .set_external_id(desired.external_id.clone())
            .set_sns_region(desired.region.clone())
            .build();
    };
    let eums = EumsSmsConfigurationType::builder()
        .caller_arn(&desired.caller_arn)
        .set_external_id(desired.external_id.clone())
        .set_region(desired.region.clone())
        .set_origination_identity(direct.origination_identity.clone())
        .set_configuration_set_name(direct.configuration_set.clone())
        .set_in_entity_id(direct.in_entity_id.clone())
        .set_in_template_id(direct.in_template_id.clone())
        .build();
    let mut sms = SmsConfigurationType::builder().build();
    sms.eums_sms = eums.ok();
    sms
}

/// The operator's view of a pool as Cognito describes it.
pub fn user_pool_of(pool: &UserPoolType) -> UserPool {
    UserPool {
        id: pool.id().unwrap_or_default().to_string(),
        arn: pool.arn().map(String::from),
        sms: sms_config_of(pool),
        tags: pool
            .user_pool_tags()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        sms_configuration_failure: pool
            .sms_configuration_failure()
            .filter(|f| !f.is_empty())
            .map(String::from),
    }
}

/// What the operator manages of a pool's `SmsConfiguration`, on whichever path it is; `None`
/// when the pool has none.
fn sms_config_of(pool: &UserPoolType) -> Option<SmsConfig> {
    let sms = pool.sms_configuration()?;
    if let Some(eums) = sms.eums_sms() {
        return Some(SmsConfig {
            caller_arn: eums.caller_arn().to_string(),
            external_id: eums.external_id().map(String::from),
            region: eums.region().map(String::from),
            direct: Some(DirectSms {
                origination_identity: eums.origination_identity().map(String::from),
                configuration_set: eums.configuration_set_name().map(String::from),
                in_entity_id: eums.in_entity_id().map(String::from),
                in_template_id: eums.in_template_id().map(String::from),
            }),
        });
    }
    (!sms.sns_caller_arn().is_empty()).then(|| SmsConfig {
        caller_arn: sms.sns_caller_arn().to_string(),
        external_id: sms.external_id().map(String::from),
        region: sms.sns_region().map(String::from),
        direct: None,
    })
}

impl Cognito<'_> {
    /// The Regions of pool `id` (the primary, and its secondary if it has one), following
    /// `NextToken` (the SDK has no paginator for it); `None` when the pool does not exist.
    pub async fn replicas(&self, id: &str) -> Result<Option<Vec<Replica>>, AwsError> {
        let mut replicas = vec![];
        let mut token = None;
        for _ in 0..MAX_REPLICA_PAGES {
            let req = self
                .client
                .list_user_pool_replicas()
                .user_pool_id(id)
                .set_next_token(token.take())
                .send();
            let Some(page) = optional(
                self.aws
                    .call_in(&self.region, "cognito-idp", "ListUserPoolReplicas", req)
                    .await,
            )?
            else {
                return Ok(None);
            };
            replicas.extend(page.user_pool_replicas().iter().map(|r| Replica {
                region: r.region_name().unwrap_or_default().to_string(),
                role: match r.role() {
                    Some(aws_sdk_cognitoidentityprovider::types::ReplicaRoleType::Secondary) => ReplicaRole::Secondary,
                    _ => ReplicaRole::Primary,
                },
                status: ReplicaStatus::parse(r.status().map(|s| s.as_str()).unwrap_or_default()),
                arn: r.user_pool_arn().unwrap_or_default().to_string(),
            }));
            match page.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(Some(replicas)),
            }
        }
        Err(AwsError::new(
            "cognito-idp",
            "ListUserPoolReplicas",
            ErrorKind::InvalidRequest,
            "TooManyPages",
            format!("user pool {id} lists replicas over more than {MAX_REPLICA_PAGES} pages"),
        ))
    }

    /// The pool, as far as the operator looks at it.
    pub async fn user_pool(&self, id: &str) -> Result<Option<UserPool>, AwsError> {
        Ok(self.describe_user_pool(id).await?.as_ref().map(user_pool_of))
    }

    async fn describe_user_pool(&self, id: &str) -> Result<Option<UserPoolType>, AwsError> {
        let req = self.client.describe_user_pool().user_pool_id(id).send();
        Ok(optional(
            self.aws
                .call_in(&self.region, "cognito-idp", "DescribeUserPool", req)
                .await,
        )?
        .and_then(|o| o.user_pool))
    }

    /// The pool's log configurations (`GetLogDeliveryConfiguration`); `None` when the pool is
    /// gone.
    pub async fn log_configurations(&self, id: &str) -> Result<Option<Vec<LogConfiguration>>, AwsError> {
        let req = self.client.get_log_delivery_configuration().user_pool_id(id).send();
        let Some(out) = optional(
            self.aws
                .call_in(&self.region, "cognito-idp", "GetLogDeliveryConfiguration", req)
                .await,
        )?
        else {
            return Ok(None);
        };
        let configurations = out
            .log_delivery_configuration()
            .map(|d| d.log_configurations().iter().map(from_sdk).collect())
            .unwrap_or_default();
        Ok(Some(configurations))
    }

    /// Replace the pool's log configurations with `configurations` (`SetLogDeliveryConfiguration`
    /// replaces every one: the caller sends back those it keeps).
    pub async fn set_log_configurations(&self, id: &str, configurations: &[LogConfiguration]) -> Result<(), AwsError> {
        let sdk: Vec<LogConfigurationType> = configurations.iter().map(to_sdk).collect::<Result<_, _>>()?;
        let req = self
            .client
            .set_log_delivery_configuration()
            .user_pool_id(id)
            .set_log_configurations(Some(sdk))
            .send();
        self.aws
            .call_in(&self.region, "cognito-idp", "SetLogDeliveryConfiguration", req)
            .await
            .map(drop)
    }

    /// Add `tags` to the pool (`TagResource`; the pool's other tags stay).
    pub async fn tag_resource(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
        let req = self
            .client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags.clone().into_iter().collect()))
            .send();
        self.aws
            .call_in(&self.region, "cognito-idp", "TagResource", req)
            .await
            .map(drop)
    }

    /// Remove the tags with `keys` from the pool.
    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        let req = self
            .client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send();
        self.aws
            .call_in(&self.region, "cognito-idp", "UntagResource", req)
            .await
            .map(drop)
    }

    /// Point the pool's SMS at `desired`, sending every other setting back unchanged.
    ///
    /// The pool is read again just before the write: settings changed since the reconcile read
    /// it (a console or Terraform edit while the reconcile wrote IAM, tested the configuration or
    /// waited for the rate limiter) are sent back as they are now, not reverted to what was
    /// read. `add_tags` (the operator's ownership record) join the pool's tags.
    pub async fn update_sms_configuration(
        &self,
        id: &str,
        desired: &SmsConfig,
        add_tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        let Some(mut pool) = self.describe_user_pool(id).await? else {
            return Err(AwsError::new(
                "cognito-idp",
                "UpdateUserPool",
                ErrorKind::NotFound,
                "ResourceNotFoundException",
                format!("user pool {id} no longer exists"),
            ));
        };
        if !add_tags.is_empty() {
            let tags = add_tags.iter().map(|(k, v)| (k.clone(), v.clone()));
            pool.user_pool_tags.get_or_insert_default().extend(tags);
        }
        let req = with_every_setting_of(self.client.update_user_pool(), &pool, sms_configuration(desired));
        self.aws
            .call_in(&self.region, "cognito-idp", "UpdateUserPool", req.send())
            .await
            .map(drop)
    }

    /// Rewrite the `SmsConfiguration` of pool `id`'s secondary in this client's Region. A
    /// secondary keeps its own regional settings (email, Lambda triggers, tags), read here just
    /// before the write; its global settings must be sent exactly as the primary has them, so
    /// they are read from the primary, through `primary`.
    pub async fn update_replica_sms_configuration(
        &self,
        primary: &Cognito<'_>,
        id: &str,
        desired: &SmsConfig,
    ) -> Result<(), AwsError> {
        let gone = |region: &str| {
            AwsError::new(
                "cognito-idp",
                "UpdateUserPool",
                ErrorKind::NotFound,
                "ResourceNotFoundException",
                format!("user pool {id} no longer exists in {region}"),
            )
        };
        let replica = self.describe_user_pool(id).await?.ok_or_else(|| gone(&self.region))?;
        let mut pool = primary
            .describe_user_pool(id)
            .await?
            .ok_or_else(|| gone(&primary.region))?;
        pool.email_configuration = replica.email_configuration;
        pool.lambda_config = replica.lambda_config;
        pool.user_pool_tags = replica.user_pool_tags;
        let req = with_every_setting_of(self.client.update_user_pool(), &pool, sms_configuration(desired));
        self.aws
            .call_in(&self.region, "cognito-idp", "UpdateUserPool", req.send())
            .await
            .map(drop)
    }
}

fn from_sdk(c: &LogConfigurationType) -> LogConfiguration {
    let destination = if let Some(arn) = c.cloud_watch_logs_configuration().and_then(|d| d.log_group_arn()) {
        LogDestination::CloudWatchLogs(arn.to_string())
    } else if let Some(arn) = c.s3_configuration().and_then(|d| d.bucket_arn()) {
        LogDestination::S3(arn.to_string())
    } else if let Some(arn) = c.firehose_configuration().and_then(|d| d.stream_arn()) {
        LogDestination::Firehose(arn.to_string())
    } else {
        LogDestination::Unknown
    };
    LogConfiguration {
        event_source: c.event_source().as_str().to_string(),
        log_level: c.log_level().as_str().to_string(),
        destination,
    }
}

fn to_sdk(c: &LogConfiguration) -> Result<LogConfigurationType, AwsError> {
    let builder = LogConfigurationType::builder()
        .event_source(EventSourceName::from(c.event_source.as_str()))
        .log_level(LogLevel::from(c.log_level.as_str()));
    let builder = match &c.destination {
        LogDestination::CloudWatchLogs(arn) => builder
            .cloud_watch_logs_configuration(CloudWatchLogsConfigurationType::builder().log_group_arn(arn).build()),
        LogDestination::S3(arn) => builder.s3_configuration(S3ConfigurationType::builder().bucket_arn(arn).build()),
        LogDestination::Firehose(arn) => {
            builder.firehose_configuration(FirehoseConfigurationType::builder().stream_arn(arn).build())
        }
        LogDestination::Unknown => builder,
    };
    builder.build().map_err(|e| {
        AwsError::new(
            "cognito-idp",
            "SetLogDeliveryConfiguration",
            ErrorKind::InvalidRequest,
            "InvalidLogConfiguration",
            e.to_string(),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_cognitoidentityprovider::types::builders::UserPoolTypeBuilder;
    use aws_sdk_cognitoidentityprovider::types::*;

    use super::*;

    /// A pool with every updatable setting present.
    fn full_pool() -> UserPoolType {
        with_account_settings(UserPoolType::builder())
            .id("eu-west-1_Abc")
            .name("pool")
            .policies(
                UserPoolPolicyType::builder()
                    .password_policy(
                        PasswordPolicyType::builder()
                            .minimum_length(12)
                            .temporary_password_validity_days(3)
                            .build(),
                    )
                    .build(),
            )
            .deletion_protection(DeletionProtectionType::Active)
            .lambda_config(
                LambdaConfigType::builder()
                    .pre_sign_up("arn:aws:lambda:eu-west-1:123456789012:function:f")
                    .build(),
            )
            .auto_verified_attributes(VerifiedAttributeType::Email)
            .sms_verification_message("code {####}")
            .email_verification_message("code {####}")
            .email_verification_subject("subject")
            .verification_message_template(
                VerificationMessageTemplateType::builder()
                    .sms_message("code {####}")
                    .build(),
            )
            .sms_authentication_message("auth {####}")
            .user_attribute_update_settings(
                UserAttributeUpdateSettingsType::builder()
                    .attributes_require_verification_before_update(VerifiedAttributeType::Email)
                    .build(),
            )
            .mfa_configuration(UserPoolMfaType::Optional)
            .device_configuration(
                DeviceConfigurationType::builder()
                    .challenge_required_on_new_device(true)
                    .build(),
            )
            .email_configuration(
                EmailConfigurationType::builder()
                    .email_sending_account(EmailSendingAccountType::CognitoDefault)
                    .build(),
            )
            .build()
    }

    /// The settings of `full_pool` from its SMS configuration on.
    fn with_account_settings(pool: UserPoolTypeBuilder) -> UserPoolTypeBuilder {
        pool.sms_configuration(SmsConfigurationType::builder().sns_caller_arn("arn:old").build())
            .user_pool_tags("team", "identity")
            .admin_create_user_config(
                AdminCreateUserConfigType::builder()
                    .allow_admin_create_user_only(true)
                    .unused_account_validity_days(7)
                    .build(),
            )
            .user_pool_add_ons(
                UserPoolAddOnsType::builder()
                    .advanced_security_mode(AdvancedSecurityModeType::Audit)
                    .build()
                    .unwrap(),
            )
            .account_recovery_setting(
                AccountRecoverySettingType::builder()
                    .recovery_mechanisms(
                        RecoveryOptionType::builder()
                            .priority(1)
                            .name(RecoveryOptionNameType::VerifiedEmail)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .user_pool_tier(UserPoolTierType::Essentials)
            .key_configuration(KeyConfigurationType::builder().build())
            .issuer_configuration(IssuerConfigurationType::builder().build())
            .set_acr_configuration(Some(HashMap::new()))
    }

    /// `(name, value)` pairs of a `Debug`-printed struct's own fields.
    fn top_level_fields(debug: &str) -> Vec<(&str, &str)> {
        let Some(open) = debug.find('{') else {
            return vec![];
        };
        let body = &debug[open + 1..debug.rfind('}').unwrap_or(debug.len())];
        let (mut fields, mut depth, mut start) = (vec![], 0i32, 0);
        for (i, c) in body.char_indices() {
            match c {
                '{' | '[' | '(' => depth += 1,
                '}' | ']' | ')' => depth -= 1,
                ',' if depth == 0 => {
                    fields.push(&body[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        fields.push(&body[start..]);
        fields
            .into_iter()
            .filter_map(|f| f.split_once(": ").map(|(k, v)| (k.trim(), v.trim())))
            .collect()
    }

    fn client() -> aws_sdk_cognitoidentityprovider::Client {
        let conf = aws_sdk_cognitoidentityprovider::Config::builder()
            .behavior_version(aws_sdk_cognitoidentityprovider::config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        aws_sdk_cognitoidentityprovider::Client::from_conf(conf)
    }

    #[test]
    fn update_request_carries_every_setting() {
        let pool = full_pool();
        let sms = SmsConfig {
            caller_arn: "arn:new".into(),
            external_id: Some("x".into()),
            region: None,
            direct: None,
        };
        let req = with_every_setting_of(client().update_user_pool(), &pool, sms_configuration(&sms));
        // Every field of the request is set: a field the SDK adds later shows up here as None.
        let debug = format!("{:?}", req.as_input());
        let unset: Vec<&str> = top_level_fields(&debug)
            .into_iter()
            .filter(|(_, v)| !v.starts_with("Some("))
            .map(|(k, _)| k)
            .collect();
        assert!(
            unset.is_empty(),
            "UpdateUserPool request leaves settings out: {unset:?}"
        );
        let input = req.as_input();
        assert_eq!(
            input.get_sms_configuration().as_ref().unwrap().sns_caller_arn(),
            "arn:new"
        );
        assert_eq!(input.get_policies().as_ref(), pool.policies());
        assert_eq!(input.get_lambda_config().as_ref(), pool.lambda_config());
    }

    #[test]
    fn unused_account_validity_dropped_only_beside_temporary_password_validity() {
        let pool = full_pool();
        assert_eq!(
            admin_create_user_config(&pool).unwrap().unused_account_validity_days(),
            0
        );
        let legacy = UserPoolType::builder()
            .admin_create_user_config(
                AdminCreateUserConfigType::builder()
                    .unused_account_validity_days(7)
                    .build(),
            )
            .build();
        assert_eq!(
            admin_create_user_config(&legacy)
                .unwrap()
                .unused_account_validity_days(),
            7
        );
    }

    #[test]
    fn sms_config_read_from_pool() {
        let pool = user_pool_of(&full_pool());
        assert_eq!(pool.sms.unwrap().caller_arn, "arn:old");
        assert_eq!(pool.tags.get("team").map(String::as_str), Some("identity"));
        assert_eq!(user_pool_of(&UserPoolType::builder().build()).sms, None);
    }

    #[test]
    fn either_path_is_read_from_the_pool() {
        let eums = EumsSmsConfigurationType::builder()
            .caller_arn("arn:role")
            .region("eu-west-1")
            .origination_identity("arn:id")
            .build()
            .unwrap();
        let direct = UserPoolType::builder()
            .sms_configuration(SmsConfigurationType::builder().eums_sms(eums).build())
            .build();
        let read = sms_config_of(&direct).unwrap();
        assert_eq!(read.path(), cognito_sms_core::crd::DeliveryPath::EndUserMessaging);
        assert_eq!(read.direct.unwrap().origination_identity.as_deref(), Some("arn:id"));
        let sns = UserPoolType::builder()
            .sms_configuration(
                SmsConfigurationType::builder()
                    .sns_caller_arn("arn:role")
                    .sns_region("eu-west-1")
                    .build(),
            )
            .build();
        assert_eq!(
            sms_config_of(&sns).unwrap().path(),
            cognito_sms_core::crd::DeliveryPath::Sns
        );
    }
}
