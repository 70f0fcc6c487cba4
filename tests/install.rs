//! Installing on a real cluster: the API server accepts the CRD of `crds/` (its structural schema
//! and every CEL rule within the cost budget) and `kubectl explain` shows the field docs; the real
//! Helm CLI installs, upgrades (with a changed CRD) and uninstalls the chart; and the chart's
//! ServiceAccount may do exactly what the operator needs, no more.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use support::control_plane::{
    ControlPlane, EXTERNAL_ID_SECRET, RELEASE, SECRET_READER, SERVICE_ACCOUNT, TestNamespace, repo,
};

const CRD: &str = "cognitosmsconfigs.cognitosms.io";
const ACCOUNT_CRD: &str = "cognitosmsaccounts.cognitosms.io";

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The CRDs of `crds/`, applied with kubectl by the test harness, are established, and their schemas
/// structural: the API server compiled every CEL rule within its cost budget, or it would have
/// refused the CRD.
#[test]
fn the_api_server_accepts_the_crds_and_explains_their_fields() {
    let plane = ControlPlane::get();
    for (name, plural) in [(CRD, "cognitosmsconfigs"), (ACCOUNT_CRD, "cognitosmsaccounts")] {
        accepted_and_explained(plane, name, plural);
    }
    let managed = plane.kubectl(&["explain", "cognitosmsconfigs.spec.role.managed.sourceArnScope"]);
    assert!(managed.contains("AllUserPoolsInRegion"), "{managed}");
}

fn accepted_and_explained(plane: &ControlPlane, name: &str, plural: &str) {
    let crd = json(&plane.kubectl(&["get", "crd", name, "-o", "json"]));
    let conditions: Vec<(String, String)> = crd["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["type"].as_str().unwrap().into(), c["status"].as_str().unwrap().into()))
        .collect();
    for want in ["Established", "NamesAccepted"] {
        assert!(
            conditions.contains(&(want.into(), "True".into())),
            "{want}: {conditions:?}"
        );
    }
    assert!(
        !conditions.iter().any(|(t, _)| t == "NonStructuralSchema"),
        "{conditions:?}"
    );
    let local: Value =
        serde_norway::from_str(&std::fs::read_to_string(repo().join(format!("crds/{name}.yaml"))).unwrap()).unwrap();
    let schema = &local["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let rules = count_rules(schema);
    assert!(rules > 0, "the CRD has CEL rules");
    assert_eq!(
        count_rules(&crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]),
        rules,
        "the API server keeps every CEL rule"
    );

    // `kubectl explain` reads the published OpenAPI: every spec field with its documentation.
    let explained = plane.kubectl(&["explain", &format!("{plural}.spec")]);
    let spec = &schema["properties"]["spec"]["properties"];
    for (field, definition) in spec.as_object().unwrap() {
        assert!(explained.contains(field.as_str()), "{field} in:\n{explained}");
        let doc = definition["description"].as_str().unwrap();
        let first_words: String = doc.split_whitespace().take(6).collect::<Vec<_>>().join(" ");
        let shown: String = explained.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            shown.contains(&first_words),
            "{field}'s doc ({first_words}) in:\n{explained}"
        );
    }
}

fn count_rules(schema: &Value) -> usize {
    match schema {
        Value::Object(map) => {
            let here = map
                .get("x-kubernetes-validations")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            here + map.values().map(count_rules).sum::<usize>()
        }
        Value::Array(items) => items.iter().map(count_rules).sum(),
        _ => 0,
    }
}

/// The real Helm CLI on a cluster of its own (the shared cluster's CRD was applied with kubectl):
/// install, upgrade to a chart whose CRD changed (Helm updates the CRD, the user's resources
/// stay), and uninstall, which keeps the CRD and the resources as the chart documents and removes
/// everything else of the release.
#[test]
fn helm_installs_upgrades_and_uninstalls_the_chart() {
    let plane = ControlPlane::separate("helm");
    let result = std::panic::catch_unwind(|| helm_lifecycle(&plane));
    plane.down();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn helm_lifecycle(plane: &ControlPlane) {
    let chart = repo().join("charts/cognito-sms-operator");
    let chart = chart.to_str().unwrap();
    let installed = plane.helm(&[
        "install",
        "cso",
        chart,
        "--namespace",
        "operators",
        "--create-namespace",
    ]);
    assert!(installed.contains("STATUS: deployed"), "{installed}");
    let release_objects = [
        "deployment/cso-cognito-sms-operator",
        "serviceaccount/cso-cognito-sms-operator",
        "service/cso-cognito-sms-operator-metrics",
        "poddisruptionbudget/cso-cognito-sms-operator",
        "role/cso-cognito-sms-operator-leader-election",
        "rolebinding/cso-cognito-sms-operator-leader-election",
    ];
    let cluster_objects = [
        "clusterrole/cso-cognito-sms-operator",
        "clusterrolebinding/cso-cognito-sms-operator",
        "clusterrole/cso-cognito-sms-operator-verification-codes",
    ];
    for object in release_objects {
        plane.kubectl(&["get", "-n", "operators", object]);
    }
    for object in cluster_objects {
        plane.kubectl(&["get", object]);
    }
    let crd = json(&plane.kubectl(&["get", "crd", CRD, "-o", "json"]));
    assert_eq!(crd["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm");
    assert_eq!(crd["metadata"]["annotations"]["helm.sh/resource-policy"], "keep");
    plane.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        &format!("crd/{CRD}"),
    ]);
    plane.kubectl(&["create", "namespace", "identity"]);
    let example = repo().join("examples/managed-role.yaml");
    plane.kubectl(&["apply", "-f", example.to_str().unwrap()]);

    // The next chart version documents a new spec field: Helm updates the CRD in place.
    let next = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("charts/cognito-sms-operator"), next.path());
    let template = next.path().join("templates/crd.yaml");
    let text = std::fs::read_to_string(&template).unwrap();
    let anchor = "              deletionPolicy:\n";
    assert!(text.contains(anchor), "the CRD template has deletionPolicy");
    let added = "              upgradeProbe:\n                description: A field the next chart version adds.\n                type: string\n";
    std::fs::write(&template, text.replacen(anchor, &format!("{added}{anchor}"), 1)).unwrap();
    let chart_yaml = next.path().join("Chart.yaml");
    let meta = std::fs::read_to_string(&chart_yaml).unwrap();
    std::fs::write(&chart_yaml, meta.replace("version: 0.1.0", "version: 0.1.1")).unwrap();
    let upgraded = plane.helm(&[
        "upgrade",
        "cso",
        next.path().to_str().unwrap(),
        "--namespace",
        "operators",
    ]);
    assert!(upgraded.contains("REVISION: 2"), "{upgraded}");
    let crd = json(&plane.kubectl(&["get", "crd", CRD, "-o", "json"]));
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    assert_eq!(spec["upgradeProbe"]["type"], "string", "the CRD was upgraded");
    plane.kubectl(&["get", "csms", "-n", "identity", "storefront"]);
    // The API server publishes the new schema to OpenAPI shortly after the CRD changes.
    let explained = (0..60)
        .find_map(|_| {
            let out = plane.kubectl_output(&["explain", "cognitosmsconfigs.spec.upgradeProbe"]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if text.contains("A field the next chart version adds") {
                return Some(text);
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
            None
        })
        .expect("kubectl explain shows the new field within 30 s");
    assert!(explained.contains("<string>"), "{explained}");

    let uninstalled = plane.helm(&["uninstall", "cso", "--namespace", "operators"]);
    assert!(uninstalled.contains("uninstalled"), "{uninstalled}");
    for object in release_objects {
        let out = plane.kubectl_output(&["get", "-n", "operators", object]);
        assert!(!out.status.success(), "{object} removed");
    }
    for object in cluster_objects {
        let out = plane.kubectl_output(&["get", object]);
        assert!(!out.status.success(), "{object} removed");
    }
    plane.kubectl(&["get", "crd", CRD]);
    plane.kubectl(&["get", "csms", "-n", "identity", "storefront"]);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// One line of `kubectl auth can-i --list`: resource (or non-resource URLs), names, verbs.
type Rule = (String, String, String, String);

/// What `user` may do in `namespace`, as `kubectl auth can-i --list` reports it.
fn can_i(plane: &ControlPlane, user: &str, namespace: &str) -> BTreeSet<Rule> {
    let out = plane.kubectl(&["auth", "can-i", "--list", "--as", user, "-n", namespace]);
    out.lines()
        .skip(1)
        .map(|line| {
            // The resource (empty for non-resource URLs), then three bracketed columns: URLs,
            // names, verbs.
            let mut columns: Vec<String> = vec![];
            let mut rest = line.trim_end();
            for _ in 0..3 {
                let open = rest
                    .rfind('[')
                    .unwrap_or_else(|| panic!("a bracketed column in {line:?}"));
                columns.insert(0, rest[open..].to_string());
                rest = rest[..open].trim_end();
            }
            (
                rest.trim().to_string(),
                columns[0].clone(),
                columns[1].clone(),
                columns[2].clone(),
            )
        })
        .collect()
}

fn rule(resource: &str, names: &str, verbs: &str) -> Rule {
    (resource.into(), "[]".into(), format!("[{names}]"), format!("[{verbs}]"))
}

/// The chart's ServiceAccount, minus what every ServiceAccount may do (discovery, reviews of its
/// own access), may do exactly this: in any namespace, watch and patch the resources, write their
/// status and finalizers and publish Events, and read the kube-system namespace (which names the
/// installation); read Secrets only where a namespace granted it; hold its one Lease and keep
/// its one key Secret in its own namespace. A chart change that widens it fails here.
#[test]
fn the_service_account_may_do_exactly_what_the_operator_needs() {
    let plane = ControlPlane::get();
    let anyone = TestNamespace::create(plane, "rbac");
    plane.kubectl(&["create", "serviceaccount", "nobody", "-n", &anyone.name]);
    let baseline = can_i(
        plane,
        &format!("system:serviceaccount:{}:nobody", anyone.name),
        &anyone.name,
    );
    let operator = format!("system:serviceaccount:{RELEASE}:{SERVICE_ACCOUNT}");
    let granted = TestNamespace::create(plane, "rbac-granted");
    plane.kubectl(&[
        "create",
        "rolebinding",
        "cognito-sms-verification-codes",
        "-n",
        &granted.name,
        &format!("--clusterrole={SECRET_READER}"),
        &format!("--serviceaccount={RELEASE}:{SERVICE_ACCOUNT}"),
    ]);
    let everywhere = [
        rule("cognitosmsconfigs.cognitosms.io", "", "get list watch patch"),
        rule("cognitosmsconfigs.cognitosms.io/status", "", "patch"),
        rule("cognitosmsconfigs.cognitosms.io/finalizers", "", "update"),
        rule("events.events.k8s.io", "", "create patch"),
        rule("namespaces", "kube-system", "get"),
        rule("cognitosmsaccounts.cognitosms.io", "", "get list watch"),
        rule("cognitosmsaccounts.cognitosms.io/status", "", "patch"),
        rule("namespaces", "", "list watch"),
    ];
    let secrets = rule("secrets", "", "get list watch");
    let own = [
        rule("leases.coordination.k8s.io", "", "create"),
        rule("leases.coordination.k8s.io", RELEASE, "get update"),
        rule("secrets", "", "create"),
        rule("secrets", &format!("{RELEASE}-number-id-key"), "get"),
        rule("secrets", EXTERNAL_ID_SECRET, "get"),
    ];
    let cases: [(&str, Vec<Rule>); 3] = [
        (&anyone.name, everywhere.to_vec()),
        (&granted.name, [&everywhere[..], &[secrets]].concat()),
        (RELEASE, [&everywhere[..], &own[..]].concat()),
    ];
    for (namespace, want) in cases {
        let has: BTreeSet<Rule> = can_i(plane, &operator, namespace)
            .difference(&baseline)
            .cloned()
            .collect();
        let want: BTreeSet<Rule> = want.into_iter().collect();
        assert_eq!(has, want, "in namespace {namespace}");
    }
}
