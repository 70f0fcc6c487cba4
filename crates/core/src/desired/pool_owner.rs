//! Who manages a user pool's SMS, as recorded on the pool itself in tags, so that two
//! installations of the operator (two clusters, or a cluster rebuilt) never fight over a pool.
//! Within one installation the oldest resource that names a pool owns it (see the controller's
//! index); the tags say which installation, and which resource of it, holds the pool. Pure.

use std::collections::BTreeMap;

use super::{MANAGER, Owner, TAG_MANAGED_BY, TAG_NAME, TAG_NAMESPACE};

/// The installation of the operator that manages a pool's SMS.
pub const TAG_INSTALLATION: &str = "cognitosms.io/installation";

/// The tags this operator keeps on a user pool it manages. `UpdateUserPool` replaces the tags it
/// is sent, so these are written with `TagResource` and sent back with every update.
pub const POOL_TAG_KEYS: [&str; 4] = [TAG_MANAGED_BY, TAG_INSTALLATION, TAG_NAMESPACE, TAG_NAME];

/// The tags that say `owner`, of `installation`, manages a pool.
pub fn pool_tags(installation: &str, owner: &Owner) -> BTreeMap<String, String> {
    BTreeMap::from([
        (TAG_MANAGED_BY.to_string(), MANAGER.to_string()),
        (TAG_INSTALLATION.to_string(), installation.to_string()),
        (TAG_NAMESPACE.to_string(), owner.namespace.clone()),
        (TAG_NAME.to_string(), owner.name.clone()),
    ])
}

/// Whose a user pool is, judged by its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolOwnership {
    /// Tagged for this resource of this installation.
    Ours,
    /// No installation of the operator has recorded itself on the pool: adopt it, as pools
    /// configured before ownership was recorded (or by hand) are.
    Unclaimed,
    /// Tagged for another resource (`namespace/name`) of this installation. The installation's
    /// own rule (the oldest resource naming the pool) already chose this one, so it takes over.
    OtherResource(String),
    /// Managed by another installation: not touched.
    OtherInstallation {
        installation: String,
        /// `namespace/name` of the resource there, when the tags say.
        resource: Option<String>,
    },
}

impl PoolOwnership {
    /// Whether this installation may write to the pool.
    pub fn is_ours_to_manage(&self) -> bool {
        !matches!(self, PoolOwnership::OtherInstallation { .. })
    }
}

/// Whose the pool with `tags` is, for `owner` of `installation`.
pub fn pool_ownership(tags: &BTreeMap<String, String>, installation: &str, owner: &Owner) -> PoolOwnership {
    let tag = |key: &str| tags.get(key).map(String::as_str);
    let Some(theirs) = tag(TAG_INSTALLATION).filter(|i| !i.is_empty()) else {
        return PoolOwnership::Unclaimed;
    };
    let resource = match (tag(TAG_NAMESPACE), tag(TAG_NAME)) {
        (Some(ns), Some(name)) => Some(format!("{ns}/{name}")),
        _ => None,
    };
    if theirs != installation {
        return PoolOwnership::OtherInstallation {
            installation: theirs.to_string(),
            resource,
        };
    }
    match resource {
        Some(r) if r == owner.to_string() => PoolOwnership::Ours,
        Some(r) => PoolOwnership::OtherResource(r),
        None => PoolOwnership::OtherResource(String::new()),
    }
}

/// The resource of this installation (`namespace/name`) that the pool's tags say managed it
/// before `owner`, when `owner` is taking it over: that resource's role goes with the pool.
pub fn predecessor(tags: &BTreeMap<String, String>, installation: &str, owner: &Owner) -> Option<String> {
    match pool_ownership(tags, installation, owner) {
        PoolOwnership::OtherResource(previous) if !previous.is_empty() => Some(previous),
        _ => None,
    }
}

/// The message of a resource whose pool another installation manages: who, and how to hand the
/// pool over.
pub fn owned_elsewhere_message(
    user_pool_id: &str,
    pool_arn: &str,
    installation: &str,
    resource: Option<&str>,
) -> String {
    let by = match resource {
        Some(r) => format!("resource {r} of installation {installation}"),
        None => format!("installation {installation}"),
    };
    format!(
        "user pool {user_pool_id} is managed by another installation of cognito-sms-operator ({by}); this resource \
         leaves it untouched. To hand the pool over, delete that resource there first (or point it at another \
         pool), then remove the pool's record of it: aws cognito-idp untag-resource --resource-arn {pool_arn} \
         --tag-keys {}",
        POOL_TAG_KEYS.join(" ")
    )
}

/// The message of a resource that names a pool another resource of this installation owns.
pub fn claimed_message(user_pool_id: &str, owner: &str) -> String {
    format!(
        "user pool {user_pool_id} is managed by {owner}, the oldest resource naming it; this resource makes no change \
         in AWS. Delete one of the two, or point this one at another pool; it takes over on its next reconcile \
         once {owner} is gone"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(ns: &str, name: &str) -> Owner {
        Owner {
            namespace: ns.into(),
            name: name.into(),
            uid: Some("u".into()),
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_pool_is_judged_by_its_installation_then_its_resource() {
        let me = owner("team-a", "sms");
        let mine = pool_tags("cluster-1", &me);
        assert_eq!(pool_ownership(&mine, "cluster-1", &me), PoolOwnership::Ours);
        assert_eq!(
            pool_ownership(&BTreeMap::new(), "cluster-1", &me),
            PoolOwnership::Unclaimed
        );
        let team = tags(&[("team", "identity"), (TAG_INSTALLATION, "")]);
        assert_eq!(pool_ownership(&team, "cluster-1", &me), PoolOwnership::Unclaimed);
        assert_eq!(
            pool_ownership(&mine, "cluster-1", &owner("team-b", "sms")),
            PoolOwnership::OtherResource("team-a/sms".into())
        );
        let elsewhere = pool_ownership(&mine, "cluster-2", &me);
        assert_eq!(
            elsewhere,
            PoolOwnership::OtherInstallation {
                installation: "cluster-1".into(),
                resource: Some("team-a/sms".into())
            }
        );
        assert!(!elsewhere.is_ours_to_manage());
        assert!(PoolOwnership::Unclaimed.is_ours_to_manage());
    }

    #[test]
    fn the_messages_say_who_owns_the_pool_and_how_to_hand_it_over() {
        let arn = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Abc";
        let m = owned_elsewhere_message("eu-west-1_Abc", arn, "cluster-1", Some("team-a/sms"));
        assert!(m.contains("resource team-a/sms of installation cluster-1"), "{m}");
        assert!(
            m.contains(&format!(
                "untag-resource --resource-arn {arn} --tag-keys cognitosms.io/managed-by"
            )),
            "{m}"
        );
        let m = claimed_message("eu-west-1_Abc", "team-a/sms");
        assert!(m.contains("managed by team-a/sms"), "{m}");
    }
}
