//! Lookups across the watched resources: which resources read a Secret, and which sandbox
//! numbers other resources list.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::crd::CognitoSmsConfig;
use crate::reconcile;

/// Sandbox numbers listed by the other resources that use the same SNS region (the operator
/// works in one AWS account, so the same region means the same sandbox list).
pub(super) fn claimed_by_others(stores: &[Store<CognitoSmsConfig>], obj: &CognitoSmsConfig) -> HashSet<String> {
    let Some(region) = reconcile::sms_region_of(obj) else {
        return HashSet::new();
    };
    let me = ObjectRef::from_obj(obj);
    stores
        .iter()
        .flat_map(|s| s.state())
        .filter(|other| ObjectRef::from_obj(other.as_ref()) != me)
        .filter(|other| reconcile::sms_region_of(other).as_deref() == Some(region.as_str()))
        .flat_map(|other| {
            other
                .spec
                .sandbox_phone_numbers
                .iter()
                .map(|n| n.phone_number.clone())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The resources that take verification codes from `secret`.
pub(super) fn referencing(
    store: &Store<CognitoSmsConfig>,
    secret: &PartialObjectMeta<Secret>,
) -> Vec<ObjectRef<CognitoSmsConfig>> {
    let (ns, name) = (secret.namespace(), secret.name_any());
    store
        .state()
        .iter()
        .filter(|r| r.namespace() == ns)
        .filter(|r| {
            r.spec
                .sandbox_phone_numbers
                .iter()
                .any(|n| n.verification_code_ref.name == name)
        })
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ResourceFixture, resource};
    use kube::runtime::{reflector, watcher};
    use serde_json::json;

    fn obj(ns: &str, name: &str, pool: &str, numbers: &[(&str, &str)]) -> CognitoSmsConfig {
        let numbers: Vec<_> = numbers
            .iter()
            .map(|(n, secret)| json!({"phoneNumber": n, "verificationCodeRef": {"name": secret, "key": "code"}}))
            .collect();
        resource(name, json!({"userPoolId": pool, "sandboxPhoneNumbers": numbers})).in_namespace(ns)
    }

    fn store_of(objs: &[CognitoSmsConfig]) -> Store<CognitoSmsConfig> {
        let (reader, mut writer) = reflector::store();
        for o in objs {
            writer.apply_watcher_event(&watcher::Event::Apply(o.clone()));
        }
        reader
    }

    #[test]
    fn a_secret_change_wakes_the_resources_that_read_it() {
        let a = obj("apps", "a", "us-east-1_A", &[("+15550000001", "codes")]);
        let b = obj("apps", "b", "us-east-1_B", &[("+15550000002", "other")]);
        let c = obj("team", "c", "us-east-1_C", &[("+15550000003", "codes")]);
        let store = store_of(&[a.clone(), b, c]);
        let mut secret = PartialObjectMeta::<Secret>::default();
        secret.metadata.name = Some("codes".into());
        secret.metadata.namespace = Some("apps".into());
        assert_eq!(referencing(&store, &secret), vec![ObjectRef::from_obj(&a)]);
    }

    #[test]
    fn numbers_claimed_by_other_resources_in_the_same_region() {
        let a = obj("apps", "a", "us-east-1_A", &[("+15550000001", "s")]);
        let b = obj("apps", "b", "us-east-1_B", &[("+15550000002", "s")]);
        let c = obj("team", "c", "eu-west-1_C", &[("+15550000003", "s")]);
        let stores = [store_of(&[a.clone(), b, c])];
        assert_eq!(
            claimed_by_others(&stores, &a),
            HashSet::from(["+15550000002".to_string()])
        );
    }
}
