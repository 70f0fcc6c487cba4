//! cognito-sms-operator: keeps the IAM role, SNS region and `SmsConfiguration` of Amazon Cognito
//! user pools in the shape `CognitoSmsConfig` resources ask for.
//!
//! Three crates, top down: this one drives (`controller`, `oneshot`, `server`) the reconcile
//! pipeline (`reconcile`: observe → plan → execute); `cognito-sms-aws` holds the thin AWS
//! adapters the pipeline reads and writes through; `cognito-sms-core` holds every decision (the
//! resource types, the desired state, the plan, the conditions) and takes no clients. The core's
//! and the adapters' modules are re-exported here under their own names, for the binary and the
//! tests.
#![forbid(unsafe_code)]

pub use cognito_sms_aws::{self as aws, account_cache};
pub use cognito_sms_core::{account, conditions, crd, desired, plan, policy, regions, tenancy, testing};

pub mod acting;
pub mod admission;
pub mod controller;
pub mod leader;
pub mod metrics;
pub mod oneshot;
pub mod reconcile;
pub mod server;
pub mod telemetry;
