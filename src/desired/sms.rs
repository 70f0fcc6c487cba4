//! The pool's SMS configuration, on either path, as far as this operator manages it. Pure.

use std::fmt;

use aws_sdk_cognitoidentityprovider::types::UserPoolType;

use crate::crd::DeliveryPath;

/// The pool's `SmsConfiguration`: the role and external ID, and the SNS region (SNS path) or
/// the End User Messaging settings (direct path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsConfig {
    /// `SnsCallerArn`, or `EumsSms.CallerArn`.
    pub caller_arn: String,
    pub external_id: Option<String>,
    /// `SnsRegion`, or `EumsSms.Region`.
    pub region: Option<String>,
    /// The direct path's settings; `None` for SNS.
    pub direct: Option<DirectSms>,
}

/// `EumsSms`, beside the caller, external ID and region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectSms {
    pub origination_identity: Option<String>,
    pub configuration_set: Option<String>,
    pub in_entity_id: Option<String>,
    pub in_template_id: Option<String>,
}

impl SmsConfig {
    /// What the operator manages of a pool's `SmsConfiguration`, on whichever path it is;
    /// `None` when the pool has none.
    pub fn of_pool(pool: &UserPoolType) -> Option<Self> {
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

    pub fn path(&self) -> DeliveryPath {
        match self.direct {
            Some(_) => DeliveryPath::EndUserMessaging,
            None => DeliveryPath::Sns,
        }
    }
}

/// Shown in events and dry runs; the external ID and DLT IDs are only said to be set.
impl fmt::Display for SmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "(set)" } else { "(none)" };
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        match &self.direct {
            None => write!(
                f,
                "SnsCallerArn={} ExternalId={} SnsRegion={}",
                self.caller_arn,
                set(&self.external_id),
                or_none(&self.region)
            ),
            Some(d) => write!(
                f,
                "EumsSms CallerArn={} ExternalId={} Region={} OriginationIdentity={} ConfigurationSetName={} \
                 InEntityId={} InTemplateId={}",
                self.caller_arn,
                set(&self.external_id),
                or_none(&self.region),
                or_none(&d.origination_identity),
                or_none(&d.configuration_set),
                set(&d.in_entity_id),
                set(&d.in_template_id)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cognitoidentityprovider::types::{EumsSmsConfigurationType, SmsConfigurationType};

    use super::*;

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
        let read = SmsConfig::of_pool(&direct).unwrap();
        assert_eq!(read.path(), DeliveryPath::EndUserMessaging);
        assert_eq!(read.direct.unwrap().origination_identity.as_deref(), Some("arn:id"));
        let sns = UserPoolType::builder()
            .sms_configuration(
                SmsConfigurationType::builder()
                    .sns_caller_arn("arn:role")
                    .sns_region("eu-west-1")
                    .build(),
            )
            .build();
        assert_eq!(SmsConfig::of_pool(&sns).unwrap().path(), DeliveryPath::Sns);
        assert_eq!(SmsConfig::of_pool(&UserPoolType::builder().build()), None);
    }
}
