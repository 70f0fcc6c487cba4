//! The Kubernetes API access the operator needs, as `cognito-sms-operator permissions` prints it
//! and the Helm chart grants it.

use serde_json::json;

/// Kubernetes API access the operator needs in every namespace it watches, as (API group,
/// resource, verbs). The Helm chart's RBAC rules are checked against this list and
/// `SECRET_PERMISSIONS`, and the mock API tests check every call against both.
pub const KUBE_PERMISSIONS: &[(&str, &str, &[&str])] = &[
    // Watch the resources; add and remove the finalizer (JSON patch).
    ("cognitosms.io", "cognitosmsconfigs", &["get", "list", "watch", "patch"]),
    // Write status (server-side apply).
    ("cognitosms.io", "cognitosmsconfigs/status", &["patch"]),
    // Needed where OwnerReferencesPermissionEnforcement guards finalizer changes.
    ("cognitosms.io", "cognitosmsconfigs/finalizers", &["update"]),
    // Publish events and update their series.
    ("events.k8s.io", "events", &["create", "patch"]),
    // Leader election.
    ("coordination.k8s.io", "leases", &["get", "create", "update"]),
];

/// Kubernetes API access the operator needs only in namespaces whose resources verify sandbox
/// numbers, and only where the namespace granted it: watch Secret metadata to act on a new code
/// at once, and read a Secret when a number waits for its code.
pub const SECRET_PERMISSIONS: &[(&str, &str, &[&str])] = &[("", "secrets", &["get", "list", "watch"])];

/// Kubernetes API access the operator needs across the cluster to choose each resource's AWS
/// account: the `CognitoSmsAccount`s and their status, and the namespaces' labels.
pub const ACCOUNT_PERMISSIONS: &[(&str, &str, &[&str])] = &[
    ("cognitosms.io", "cognitosmsaccounts", &["get", "list", "watch"]),
    ("cognitosms.io", "cognitosmsaccounts/status", &["patch"]),
    ("", "namespaces", &["list", "watch"]),
];

/// Kubernetes API access the operator needs in its own namespace to read the external IDs of
/// the `CognitoSmsAccount`s: `get` on each Secret they name (the chart grants it by name).
pub const EXTERNAL_ID_PERMISSIONS: &[(&str, &str, &[&str])] = &[("", "secrets", &["get"])];

/// Kubernetes API access the operator needs to name its installation when `--installation` is
/// not given: the `kube-system` namespace, whose uid is the cluster's identity.
pub const INSTALLATION_PERMISSIONS: &[(&str, &str, &[&str])] = &[("", "namespaces", &["get"])];

/// Kubernetes API access the operator needs in its own namespace: read the Secret holding this
/// installation's key for phone-number identifiers, and create it on first start.
pub const NUMBER_ID_KEY_PERMISSIONS: &[(&str, &str, &[&str])] = &[("", "secrets", &["get", "create"])];

/// The lists of permissions, as `cognito-sms-operator permissions` prints them.
pub fn permissions() -> serde_json::Value {
    let rules = |list: &[(&str, &str, &[&str])]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|(group, resource, verbs)| json!({"apiGroup": group, "resource": resource, "verbs": verbs}))
            .collect()
    };
    json!({
        "kubernetes": rules(KUBE_PERMISSIONS),
        "verificationCodes": rules(SECRET_PERMISSIONS),
        "installation": rules(INSTALLATION_PERMISSIONS),
        "numberIdKey": rules(NUMBER_ID_KEY_PERMISSIONS),
        "accounts": rules(ACCOUNT_PERMISSIONS),
        "externalIds": rules(EXTERNAL_ID_PERMISSIONS),
    })
}
