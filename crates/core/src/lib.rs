//! The decisions of cognito-sms-operator, with no I/O: the `CognitoSmsConfig` resource types,
//! the region table, the policy documents, the desired AWS state parsed from a spec, the account's
//! SMS findings, and the plan that turns what was observed into the changes to make and, from
//! their outcomes, into the next status and its conditions.
//!
//! Nothing here depends on an AWS SDK or a Kubernetes client: the clock, randomness and every
//! observation come in as values, so the whole decision logic is testable with plain `#[test]`s.
#![forbid(unsafe_code)]

pub mod account;
pub mod conditions;
pub mod crd;
pub mod desired;
pub mod error;
pub mod plan;
pub mod policy;
pub mod regions;
pub mod tenancy;
pub mod testing;
