"""The Helm chart, rendered offline with Helm's own library (helm-python-sdk): lint, schema,
Kubernetes validation of every manifest at the lowest supported Kubernetes version, RBAC equal
to what the code calls, and the CRD identical to crds/."""

import json
import os
import re
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from helm_python.chart import Chart, lint

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "cognito-sms-operator"
LOWEST_KUBERNETES = "1.33.0"
BINARY = Path(os.environ.get("OPERATOR_BIN", ROOT / "target" / "debug" / "cognito-sms-operator"))

COMBINATIONS = {
    "defaults": {},
    "namespaced-rbac": {"watchNamespaces": ["identity", "payments"]},
    "verification-codes": {"verificationCodes": {"namespaces": ["team-a", "team-b"]}},
    "service-monitor": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    "crd-skipped": {"crds": {"install": False}},
    "irsa": {"aws": {"roleArn": "arn:aws:iam::123456789012:role/cognito-sms-operator", "region": "eu-west-1"}},
    "single-replica": {"replicaCount": 1, "leaderElection": {"enabled": False}},
    "named-installation": {"installation": "cluster-a/operators"},
    "external-ids": {"accounts": {"allowOperatorIdentity": False, "externalIdSecrets": ["payments-prod-external-id"]}},
    "shared-quotas": {"aws": {"rateLimits": {"cognito-idp:UserPoolRead": 5, "iam:*": 2.5}},
                      "maxConcurrentReconciles": 4},
}


def render(values=None, namespace="operators"):
    chart = Chart.load(str(CHART))
    out = chart.render(values or {}, name="cso", namespace=namespace, is_install=True)
    docs = []
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("combo", COMBINATIONS)
def test_renders_lints_and_validates(combo):
    values = COMBINATIONS[combo]
    report = lint(str(CHART), values, strict=True, kube_version=f"v{LOWEST_KUBERNETES}", namespace="operators")
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert problems == [], problems
    docs = render(values)
    assert docs
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            # A custom resource: no bundled schema; checked in test_service_monitor.
            continue
        kubernetes_validate.validate(doc, LOWEST_KUBERNETES, strict=True)


def test_default_resources():
    kinds = sorted(d["kind"] for d in render())
    assert kinds == sorted([
        "ClusterRole", "ClusterRole", "ClusterRole", "ClusterRole", "ClusterRoleBinding", "ClusterRoleBinding",
        "ClusterRoleBinding",
        "CustomResourceDefinition", "CustomResourceDefinition", "Deployment",
        "PodDisruptionBudget", "Role", "Role", "RoleBinding", "RoleBinding", "Service", "ServiceAccount",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    ])


def test_deployment_is_hardened_and_highly_available():
    (dep,) = by_kind(render(), "Deployment")
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    assert spec["replicas"] == 2
    assert "--leader-election" in c["args"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["resources"]["requests"] and c["resources"]["limits"]
    assert {t["topologyKey"] for t in pod["topologySpreadConstraints"]} == {
        "kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    env = {e["name"] for e in c["env"]}
    assert {"POD_NAME", "POD_NAMESPACE"} <= env
    (pdb,) = by_kind(render(), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1


def permissions(kind=("kubernetes", "verificationCodes", "installation", "numberIdKey", "accounts")):
    """What the operator says it calls: in the namespaces it watches ("kubernetes"), for
    verification codes in namespaces that grant it ("verificationCodes"), to name its
    installation ("installation": the kube-system namespace), for the key of the phone-number
    identifiers ("numberIdKey", in its own namespace), to choose each resource's AWS account
    ("accounts") and to read the accounts' external IDs ("externalIds", in its own namespace)."""
    out = json.loads(subprocess.run([str(BINARY), "permissions"], check=True, capture_output=True, text=True).stdout)
    kinds = (kind,) if isinstance(kind, str) else kind
    needed = {}
    for k in kinds:
        for p in out[k]:
            needed.setdefault((p["apiGroup"], p["resource"]), set()).update(p["verbs"])
    return needed


def granted(rule_docs):
    rules = {}
    for doc in rule_docs:
        for rule in doc["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    rules.setdefault((group, resource), set()).update(rule["verbs"])
    return rules


@pytest.mark.parametrize("combo", ["defaults", "namespaced-rbac", "verification-codes", "named-installation",
                                   "external-ids"])
def test_rbac_is_exactly_what_the_code_calls(combo):
    values = COMBINATIONS[combo]
    docs = render(values)
    kinds = ["kubernetes", "verificationCodes", "numberIdKey", "accounts"]
    if "installation" not in values:
        kinds.append("installation")
    if values.get("accounts", {}).get("externalIdSecrets"):
        kinds.append("externalIds")
    needed = permissions(tuple(kinds))
    roles = by_kind(docs, "ClusterRole") + by_kind(docs, "Role")
    assert granted(roles) == needed
    for binding in by_kind(docs, "ClusterRoleBinding") + by_kind(docs, "RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "cso-cognito-sms-operator",
                                        "namespace": "operators"}]


def test_the_installation_is_named_by_the_cluster_or_by_the_values():
    (role,) = [r for r in by_kind(render(), "ClusterRole") if r["metadata"]["name"].endswith("-installation")]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["kube-system"],
                              "verbs": ["get"]}]
    docs = render(COMBINATIONS["named-installation"])
    assert not [r for r in by_kind(docs, "ClusterRole") if r["metadata"]["name"].endswith("-installation")]
    (dep,) = by_kind(docs, "Deployment")
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["INSTALLATION"] == "cluster-a/operators"


@pytest.mark.parametrize("values,secret", [({}, "cso-cognito-sms-operator-number-id-key"),
                                           ({"numberIdKey": {"secretName": "ids"}}, "ids")])
def test_the_number_id_key_is_one_secret_in_the_release_namespace(values, secret):
    docs = render(values)
    (role,) = [r for r in by_kind(docs, "Role") if r["metadata"]["name"].endswith("-number-id-key")]
    assert role["metadata"]["namespace"] == "operators"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret], "verbs": ["get"]},
    ]
    (dep,) = by_kind(docs, "Deployment")
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["NUMBER_ID_KEY_SECRET"] == secret


def test_namespaced_rbac_reads_secrets_only_in_watched_namespaces():
    docs = render(COMBINATIONS["namespaced-rbac"])
    assert [r["metadata"]["name"] for r in by_kind(docs, "ClusterRole")] == [
        "cso-cognito-sms-operator-installation", "cso-cognito-sms-operator-accounts"]
    secret_namespaces = {
        r["metadata"]["namespace"] for r in by_kind(docs, "Role")
        if any("secrets" in rule["resources"] for rule in r["rules"])
        and not r["metadata"]["name"].endswith("-number-id-key")
    }
    assert secret_namespaces == {"identity", "payments"}
    (dep,) = by_kind(docs, "Deployment")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=identity" in args and "--namespace=payments" in args
    leases = [r for r in by_kind(docs, "Role") if r["metadata"]["name"].endswith("leader-election")]
    assert [r["metadata"]["namespace"] for r in leases] == ["operators"]


@pytest.mark.parametrize("combo", ["defaults", "verification-codes"])
def test_cluster_wide_install_reads_secrets_only_where_granted(combo):
    values = COMBINATIONS[combo]
    docs = render(values)
    cluster_roles = {r["metadata"]["name"]: r for r in by_kind(docs, "ClusterRole")}
    for binding in by_kind(docs, "ClusterRoleBinding"):
        bound = granted([cluster_roles[binding["roleRef"]["name"]]])
        assert ("", "secrets") not in bound, "no cluster-wide Secret access"
    reader = cluster_roles["cso-cognito-sms-operator-verification-codes"]
    assert granted([reader]) == permissions("verificationCodes")
    bindings = [b for b in by_kind(docs, "RoleBinding") if b["roleRef"]["name"] == reader["metadata"]["name"]]
    assert all(b["roleRef"]["kind"] == "ClusterRole" for b in bindings)
    assert sorted(b["metadata"]["namespace"] for b in bindings) == values.get("verificationCodes", {}).get(
        "namespaces", [])
    (dep,) = by_kind(docs, "Deployment")
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SECRET_READER_CLUSTER_ROLE"] == reader["metadata"]["name"]
    assert env["SERVICE_ACCOUNT"] == "operators:cso-cognito-sms-operator"


def test_the_grant_command_the_operator_prints_works_with_the_chart():
    """The command in a SecretUnreadable condition names the chart's ClusterRole and account."""
    (dep,) = by_kind(render(), "Deployment")
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    help_text = subprocess.run([str(BINARY), "run", "--help"], check=True, capture_output=True, text=True).stdout
    assert "SECRET_READER_CLUSTER_ROLE" in help_text and "SERVICE_ACCOUNT" in help_text
    notes = Chart.load(str(CHART)).render({}, name="cso", namespace="operators", is_install=True)
    notes = next(text for path, text in notes.items() if path.endswith("NOTES.txt"))
    assert f"--clusterrole={env['SECRET_READER_CLUSTER_ROLE']}" in notes
    assert "--serviceaccount=operators:cso-cognito-sms-operator" in notes


def test_every_rbac_rule_says_why():
    text = (CHART / "templates" / "_helpers.tpl").read_text() + (CHART / "templates" / "rbac.yaml").read_text()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("- apiGroups:"):
            assert lines[i - 1].strip().startswith("#"), f"rule without a comment: {line!r}"


def test_crds_ship_identical_to_crds_folder_and_survive_uninstall():
    crds = by_kind(render(), "CustomResourceDefinition")
    assert sorted(c["metadata"]["name"] for c in crds) == sorted(p.stem for p in (ROOT / "crds").glob("*.yaml"))
    for crd in crds:
        path = ROOT / "crds" / f"{crd['metadata']['name']}.yaml"
        committed = next(d for d in yaml.safe_load_all(path.read_text()) if d)
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        crd["metadata"].pop("annotations")
        assert crd == committed
    assert by_kind(render(COMBINATIONS["crd-skipped"]), "CustomResourceDefinition") == []


def test_irsa_annotation():
    (sa,) = by_kind(render(COMBINATIONS["irsa"]), "ServiceAccount")
    assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/cognito-sms-operator"}
    (dep,) = by_kind(render(COMBINATIONS["irsa"]), "Deployment")
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AWS_REGION"] == "eu-west-1"


def test_service_monitor():
    docs = render(COMBINATIONS["service-monitor"])
    (sm,) = by_kind(docs, "ServiceMonitor")
    (svc,) = by_kind(docs, "Service")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    assert sm["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    assert all(svc["spec"]["selector"][k] == v for k, v in sm["spec"]["selector"]["matchLabels"].items())
    assert by_kind(render(), "ServiceMonitor") == []


@pytest.mark.parametrize("bad", [
    {"bogus": 1},
    {"replicaCount": "two"},
    {"image": {"repository": "x", "tagg": "1"}},
    {"leaderElection": {"leaseDuration": 15}},
    {"aws": {"region": "Frankfurt"}},
    {"aws": {"rateLimits": {"cognito-idp:UserPoolRead": 0}}},
    {"aws": {"rateLimits": {"UserPoolRead": 5}}},
    {"aws": {"rateLimits": {"cognito-idp:UserPoolRead": "fast"}}},
    {"maxConcurrentReconciles": 0},
])
def test_schema_rejects_unknown_keys_and_wrong_types(bad):
    with pytest.raises(Exception):
        Chart.load(str(CHART)).validate_schema(bad)


def test_rate_limits_and_concurrency_become_flags():
    (dep,) = by_kind(render(COMBINATIONS["shared-quotas"]), "Deployment")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--max-concurrent-reconciles=4" in args
    assert {a for a in args if a.startswith("--aws-rate-limit=")} == {
        "--aws-rate-limit=cognito-idp:UserPoolRead=5", "--aws-rate-limit=iam:*=2.5"}
    (dep,) = by_kind(render(), "Deployment")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--max-concurrent-reconciles=10" in args
    assert not [a for a in args if a.startswith("--aws-rate-limit")], "the defaults are the operator's"


def test_several_replicas_need_leader_election():
    with pytest.raises(Exception, match="leaderElection.enabled"):
        render({"leaderElection": {"enabled": False}})


def test_every_value_is_documented():
    lines = (CHART / "values.yaml").read_text().splitlines()

    def documented(i):
        j = i - 1
        while j >= 0 and lines[j].strip().startswith("#") and not lines[j].strip().startswith("# --"):
            j -= 1
        return j >= 0 and lines[j].strip().startswith("# --")

    def parent(i):
        indent = len(lines[i]) - len(lines[i].lstrip())
        for j in range(i - 1, -1, -1):
            if lines[j].strip() and not lines[j].strip().startswith("#"):
                if len(lines[j]) - len(lines[j].lstrip()) < indent:
                    return j
        return None

    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)([A-Za-z][A-Za-z0-9]*):(.*)$", line)
        if not m or not m.group(3).strip():
            continue  # a parent key; its children carry the documentation
        k = i
        while k is not None and not documented(k):
            k = parent(k)
        assert k is not None, f"values.yaml: {line.strip()!r} has no '# --' comment"


def test_external_ids_are_read_by_name_in_the_release_namespace_only():
    docs = render(COMBINATIONS["external-ids"])
    (role,) = [r for r in by_kind(docs, "Role") if r["metadata"]["name"].endswith("-external-ids")]
    assert role["metadata"]["namespace"] == "operators"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"],
                              "resourceNames": ["payments-prod-external-id"], "verbs": ["get"]}]
    (dep,) = by_kind(docs, "Deployment")
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ALLOW_OPERATOR_IDENTITY"] == "false"
    assert not [r for r in by_kind(render(), "Role") if r["metadata"]["name"].endswith("-external-ids")]
