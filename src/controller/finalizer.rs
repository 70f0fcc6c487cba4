//! The cleanup finalizer, held only while deleting the resource has something to do in AWS.
//!
//! With `deletionPolicy: Delete`, deleting the resource deletes the managed role and the sandbox
//! numbers it added, so the finalizer is in place before the first change in AWS, and released
//! once the policy is applied. With `Retain` (the default) deleting the resource changes nothing
//! in AWS: the resource carries no finalizer, and deleting it is immediate. A resource whose
//! policy changes gains or loses the finalizer on its next reconcile.
//!
//! The patches are JSON patches that test the list they change, as kube's finalizer helper
//! sends them, so that a concurrent change of the finalizers makes them fail instead of losing
//! it.

use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::crd::{CognitoSmsConfig, DeletionPolicy, FINALIZER};

/// Whether deleting `obj` has something to do in AWS.
pub(super) fn wanted(obj: &CognitoSmsConfig) -> bool {
    obj.spec.deletion_policy == DeletionPolicy::Delete
}

/// Where `obj` holds the finalizer in its list, if it does.
pub(super) fn position(obj: &CognitoSmsConfig) -> Option<usize> {
    obj.finalizers().iter().position(|f| f == FINALIZER)
}

/// The patch that appends the finalizer to the list `obj` has.
fn adding(obj: &CognitoSmsConfig) -> Value {
    match &obj.metadata.finalizers {
        None => json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
        ]),
        Some(list) => json!([
            {"op": "test", "path": "/metadata/finalizers", "value": list},
            {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER},
        ]),
    }
}

/// The patch that removes the finalizer from position `at` of the list.
fn removing(at: usize) -> Value {
    let path = format!("/metadata/finalizers/{at}");
    json!([
        {"op": "test", "path": path, "value": FINALIZER},
        {"op": "remove", "path": path},
    ])
}

/// Add the finalizer; the resource as the API server then has it.
pub(super) async fn add(api: &Api<CognitoSmsConfig>, obj: &CognitoSmsConfig) -> Result<CognitoSmsConfig, kube::Error> {
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Json::<()>(serde_json::from_value(adding(obj)).expect("a JSON patch")),
    )
    .await
}

/// Remove the finalizer from position `at`; the resource as the API server then has it (gone,
/// when it was being deleted and this was the last finalizer).
pub(super) async fn remove(
    api: &Api<CognitoSmsConfig>,
    obj: &CognitoSmsConfig,
    at: usize,
) -> Result<CognitoSmsConfig, kube::Error> {
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Json::<()>(serde_json::from_value(removing(at)).expect("a JSON patch")),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ResourceFixture, resource};

    #[test]
    fn only_a_resource_whose_deletion_changes_aws_wants_the_finalizer() {
        let retain = resource("a", json!({"userPoolId": "eu-west-1_Abc"}));
        let delete = resource("a", json!({"userPoolId": "eu-west-1_Abc", "deletionPolicy": "Delete"}));
        assert!(!wanted(&retain));
        assert!(wanted(&delete));
        assert_eq!(position(&retain), None);
        assert_eq!(position(&retain.finalized()), Some(0));
    }

    #[test]
    fn the_patches_test_the_list_they_change() {
        let mut obj = resource("a", json!({"userPoolId": "eu-west-1_Abc"}));
        assert_eq!(
            adding(&obj),
            json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
                   {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}])
        );
        obj.metadata.finalizers = Some(vec!["other.io/keep".into()]);
        assert_eq!(
            adding(&obj),
            json!([{"op": "test", "path": "/metadata/finalizers", "value": ["other.io/keep"]},
                   {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}])
        );
        assert_eq!(
            removing(1),
            json!([{"op": "test", "path": "/metadata/finalizers/1", "value": FINALIZER},
                   {"op": "remove", "path": "/metadata/finalizers/1"}])
        );
    }
}
