//! cognito-sms-operator: keeps the IAM role, SNS region and `SmsConfiguration` of Amazon Cognito
//! user pools in the shape `CognitoSmsConfig` resources ask for.
//!
//! Layers, top down: the drivers (`controller`, `oneshot`) run the reconcile pipeline
//! (`reconcile`: observe → plan → execute), which reads and writes AWS through the thin adapters
//! in `aws`; the pure modules below them (`crd`, `regions`, `policy`, `desired`, `account`,
//! `conditions`) take no clients.
#![forbid(unsafe_code)]

pub mod account;
pub mod account_cache;
pub mod admission;
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
pub mod telemetry;
pub mod testing;
