//! A user pool and its SMS configuration, on either path, as far as this operator manages them.
//! Pure: the AWS adapter translates Cognito's types into these.

use std::fmt;

use std::collections::BTreeMap;

use crate::crd::DeliveryPath;

/// A user pool as read from Cognito, as far as the operator looks at it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPool {
    pub id: String,
    pub arn: Option<String>,
    /// What the operator manages of its `SmsConfiguration`; `None` when it has none.
    pub sms: Option<SmsConfig>,
    pub tags: BTreeMap<String, String>,
    /// Cognito's own diagnosis of the pool's SMS (`SmsConfigurationFailure`), when it gives one.
    pub sms_configuration_failure: Option<String>,
}

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
