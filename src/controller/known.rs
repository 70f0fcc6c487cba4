//! The status this leader last computed for each resource. The operator decides from a
//! resource's previous status (whether it texted a number a code, added it, acted on a request
//! for new codes), so it must never decide from an older one. Each reconcile reads the resource
//! from the API server (a new one, with no status at all, comes whole from the watch), but a
//! status write can fail after AWS was changed, and then the status computed last is the truth:
//! it is kept here until the cluster shows it (the watch delivers it) or the next one replaces it.
//! Only the leader writes status, and each leadership term starts afresh from the cluster.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use crate::crd::{CognitoSmsConfig, CognitoSmsConfigStatus};

#[derive(Default)]
pub(super) struct KnownStatuses(Mutex<HashMap<ObjectRef<CognitoSmsConfig>, (String, CognitoSmsConfigStatus)>>);

impl KnownStatuses {
    /// `obj` with the status computed last for it in this term, if any (and if `obj` is the same
    /// object, not one recreated under its name). Once the cluster shows that status, it is
    /// forgotten here.
    pub(super) fn latest(&self, obj: Arc<CognitoSmsConfig>) -> Arc<CognitoSmsConfig> {
        let key = ObjectRef::from_obj(obj.as_ref());
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match known.get(&key) {
            Some((uid, status)) if obj.uid().as_ref() == Some(uid) && obj.status.as_ref() != Some(status) => {
                let mut newer = (*obj).clone();
                newer.status = Some(status.clone());
                Arc::new(newer)
            }
            Some(_) => {
                known.remove(&key);
                obj
            }
            None => obj,
        }
    }

    /// How many statuses are kept: those the cluster does not show yet.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether a status computed for `obj` (this object, not one recreated under its name) is
    /// kept here, not yet shown by the cluster.
    pub(super) fn holds(&self, obj: &CognitoSmsConfig) -> bool {
        let known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        known
            .get(&ObjectRef::from_obj(obj))
            .is_some_and(|(uid, _)| obj.uid().as_ref() == Some(uid))
    }

    pub(super) fn remember(&self, obj: &CognitoSmsConfig, status: &CognitoSmsConfigStatus) {
        let Some(uid) = obj.uid() else { return };
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        known.insert(ObjectRef::from_obj(obj), (uid, status.clone()));
    }

    /// The watch delivered `obj`: once it shows the status kept for it, the status is forgotten,
    /// so that only statuses the cluster does not show yet take memory.
    pub(super) fn seen(&self, obj: &CognitoSmsConfig) {
        let key = ObjectRef::from_obj(obj);
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if known
            .get(&key)
            .is_some_and(|(_, status)| obj.status.as_ref() == Some(status))
        {
            known.remove(&key);
        }
    }

    pub(super) fn forget(&self, obj: &CognitoSmsConfig) {
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        known.remove(&ObjectRef::from_obj(obj));
    }

    /// Forget everything: a new leadership term reads status from the cluster.
    pub(super) fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ResourceFixture, resource};
    use serde_json::json;

    fn obj(uid: &str, external_id: &str) -> Arc<CognitoSmsConfig> {
        let mut obj = resource("app", json!({"userPoolId": "us-east-1_Abc"})).in_namespace("apps");
        obj.metadata.uid = Some(uid.into());
        obj.status = Some(CognitoSmsConfigStatus {
            external_id: Some(external_id.into()),
            ..Default::default()
        });
        Arc::new(obj)
    }

    fn last_sync(obj: &CognitoSmsConfig) -> String {
        obj.status.as_ref().unwrap().external_id.clone().unwrap()
    }

    #[test]
    fn the_status_computed_last_wins_over_a_lagging_cache() {
        let known = KnownStatuses::default();
        let stale = obj("u1", "old");
        assert_eq!(
            last_sync(&known.latest(stale.clone())),
            "old",
            "nothing known: the cluster's"
        );
        known.remember(&stale, obj("u1", "new").status.as_ref().unwrap());
        assert_eq!(last_sync(&known.latest(stale.clone())), "new");
        assert_eq!(
            last_sync(&known.latest(obj("u2", "other"))),
            "other",
            "a recreated object starts from its own status"
        );
        known.clear();
        assert_eq!(last_sync(&known.latest(stale.clone())), "old");
    }

    #[test]
    fn a_status_is_held_for_the_object_it_was_computed_for() {
        let known = KnownStatuses::default();
        let first = obj("u1", "old");
        assert!(!known.holds(&first));
        known.remember(&first, obj("u1", "new").status.as_ref().unwrap());
        assert!(known.holds(&first));
        assert!(!known.holds(&obj("u2", "old")), "not for one recreated under its name");
        known.forget(&first);
        assert!(!known.holds(&first));
    }

    #[test]
    fn a_status_the_cluster_shows_is_forgotten() {
        let known = KnownStatuses::default();
        let current = obj("u1", "new");
        known.remember(&current, current.status.as_ref().unwrap());
        assert_eq!(last_sync(&known.latest(current)), "new");
        assert_eq!(known.len(), 0, "the cache caught up");
    }

    #[test]
    fn a_status_is_forgotten_once_the_watch_shows_it() {
        let known = KnownStatuses::default();
        let obj = obj("u1", "old");
        let computed = CognitoSmsConfigStatus {
            external_id: Some("new".into()),
            ..Default::default()
        };
        known.remember(&obj, &computed);
        known.seen(&obj);
        assert_eq!(known.len(), 1, "the watch still shows the old status");
        let mut caught_up = (*obj).clone();
        caught_up.status = Some(computed);
        known.seen(&caught_up);
        assert_eq!(known.len(), 0);
    }
}
