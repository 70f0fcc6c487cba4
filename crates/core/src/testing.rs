//! Builders for `CognitoSmsConfig` resources, shared by the unit and integration tests so that
//! every test makes them one way: `resource("app", json!({...})).in_namespace("team").finalized()`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use crate::account::NumberIds;
use crate::crd::{CognitoSmsConfig, CognitoSmsConfigStatus, FINALIZER, SandboxPhoneNumber, SecretKeyRef};
use crate::desired::{DesiredRole, ObservedRole, role_arn};

/// Resource `apps/<name>` with `spec`, as the API server would return it: uid `uid-<name>`,
/// generation 1.
///
/// # Panics
/// When `spec` is not a valid spec, so that a test's typo fails the test.
pub fn resource(name: &str, spec: Value) -> CognitoSmsConfig {
    serde_json::from_value(json!({
        "apiVersion": "cognitosms.io/v1alpha1",
        "kind": "CognitoSmsConfig",
        "metadata": {
            "name": name,
            "namespace": "apps",
            "uid": format!("uid-{name}"),
            "generation": 1,
        },
        "spec": spec,
    }))
    .expect("a valid CognitoSmsConfig spec")
}

/// A sandbox number whose code is read from key `k` of Secret `codes`.
pub fn sandbox_number(number: &str) -> SandboxPhoneNumber {
    SandboxPhoneNumber {
        phone_number: number.into(),
        region: None,
        language_code: None,
        verification_code_ref: SecretKeyRef {
            name: "codes".into(),
            key: "k".into(),
        },
    }
}

/// Builder steps on a resource from [`resource`].
pub trait ResourceFixture: Sized {
    fn in_namespace(self, namespace: &str) -> Self;
    /// As after the operator added its finalizer.
    fn finalized(self) -> Self;
    /// As after `kubectl delete`: a deletion timestamp, the finalizer still present.
    fn deleting(self) -> Self;
    fn with_status(self, status: CognitoSmsConfigStatus) -> Self;
    /// As a manifest a user writes: no uid, generation or resourceVersion.
    fn unsubmitted(self) -> Self;
}

impl ResourceFixture for CognitoSmsConfig {
    fn in_namespace(mut self, namespace: &str) -> Self {
        self.metadata.namespace = Some(namespace.into());
        self
    }

    fn finalized(mut self) -> Self {
        self.metadata.finalizers = Some(vec![FINALIZER.into()]);
        self
    }

    fn deleting(self) -> Self {
        let mut res = self.finalized();
        res.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
        res
    }

    fn with_status(mut self, status: CognitoSmsConfigStatus) -> Self {
        self.status = Some(status);
        self
    }

    fn unsubmitted(mut self) -> Self {
        self.metadata.uid = None;
        self.metadata.generation = None;
        self.metadata.resource_version = None;
        self
    }
}

/// The identifiers the tests' installation gives numbers.
pub fn number_ids() -> NumberIds {
    NumberIds::new(b"the tests' installation key")
}

/// An identifier AWS might give `number`'s resources, for the tests' fixtures.
pub fn aws_id(number: &str) -> String {
    crate::account::unkeyed_id(number)
}

/// The role as IAM holds it right after it was created from `desired`.
pub fn as_created(desired: &DesiredRole, account_id: &str) -> ObservedRole {
    ObservedRole {
        name: desired.name.clone(),
        arn: role_arn("aws", account_id, &desired.path, &desired.name),
        path: desired.path.clone(),
        trust_policy: desired.trust_policy.clone(),
        permissions_boundary: desired.permissions_boundary.clone(),
        tags: desired.tags.clone(),
    }
}
