//! Discovery, as clients read it before anything else: `/version`, `/api`, `/apis`, and each
//! group version's resource list. Not aggregated discovery, not OpenAPI.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::resource::{ResourceType, Served, group_version};

/// The answer to `GET` on `/version`, `/api` or `/apis`.
pub(crate) fn fixed(path: &str, types: &[Arc<Served>]) -> Option<Value> {
    match path {
        "/version" => Some(json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64"})),
        "/api" => Some(json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})),
        "/apis" => Some(group_list(types)),
        _ => None,
    }
}

fn group_list(types: &[Arc<Served>]) -> Value {
    let mut groups: BTreeMap<&str, &str> = BTreeMap::new();
    for t in types.iter().filter(|t| !t.group.is_empty()) {
        groups.insert(&t.group, &t.version);
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(g, v)| {
            let gv = json!({"groupVersion": group_version(g, v), "version": v});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// The `APIResourceList` of `/api/VERSION` or `/apis/GROUP/VERSION`, for those paths.
pub(crate) fn resource_list(types: &[Arc<Served>], parts: &[&str]) -> Option<Value> {
    let (group, version) = match parts {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return None,
    };
    let resources: Vec<Value> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .flat_map(|t| resources(t))
        .collect();
    let group_version = group_version(group, version);
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}))
}

/// A type's entries in its resource list: itself, and its status subresource if it has one.
fn resources(t: &ResourceType) -> Vec<Value> {
    let verbs = json!(["create", "delete", "get", "list", "patch", "update", "watch"]);
    let mut r = vec![json!({
        "name": t.plural, "singularName": t.kind.to_lowercase(), "namespaced": t.namespaced,
        "kind": t.kind, "verbs": verbs, "shortNames": t.short_names
    })];
    if t.status_subresource {
        r.push(
            json!({"name": format!("{}/status", t.plural), "singularName": "", "namespaced": t.namespaced,
            "kind": t.kind, "verbs": ["get", "patch", "update"]}),
        );
    }
    r
}
