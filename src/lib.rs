//! cognito-sms-operator: keeps the IAM role, SNS region and `SmsConfiguration` of Amazon Cognito
//! user pools in the shape `CognitoSmsConfig` resources ask for.
#![forbid(unsafe_code)]

pub mod aws;
pub mod conditions;
pub mod controller;
pub mod crd;
pub mod desired;
pub mod leader;
pub mod metrics;
pub mod oneshot;
pub mod policy;
pub mod reconcile;
pub mod regions;
pub mod server;
pub mod sns;
pub mod sns_cache;
pub mod telemetry;
