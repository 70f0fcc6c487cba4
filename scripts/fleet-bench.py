"""The fleet benchmark behind scripts/bench: N user pools and N CognitoSmsConfig resources, the
operator's release binary in cluster mode, and the AWS emulator throttling every quota category
at AWS's default rate (15 requests per second per account and region for each Cognito category;
15 per second per API for IAM, STS, SNS and End User Messaging). The Kubernetes API is the
project's stand-in, or with --real-cluster a real control plane (scripts/cluster, a cluster of
its own for the run), with the chart installed by Helm and the operator running as the chart's
ServiceAccount.

Phases, for each N:
  1. idle: the operator leads on an empty cluster for a few seconds (its resident memory);
  2. convergence: N pools and resources exist, then the operator starts; until the API shows
     every resource Ready (the operator's whole CPU time since it started, divided by N, is what
     a fleet's first convergence costs);
  3. steady: the leader's periodic resyncs, until every resource has been resynced
     `--steady-passes` more times;
  4. failover: a standby replica waits on the Lease; the leader is stopped (SIGTERM), the standby
     takes over and reconciles everything once (a restart, as a new leader sees it).
Then one table row per N, and the details as JSON with --json.

With --accounts K, each N is a fleet of K AWS accounts of N pools each instead: one
CognitoSmsAccount per account maps a namespace of its own to a role the emulator made there, the
emulator throttles each account on its own, and the run measures the convergence (until all K x N
resources are Ready, against the quota floor of one account, 3N/15 s, since accounts proceed in
parallel) and one steady resync of everything, with the STS calls made.
"""

import argparse
import concurrent.futures
from http.client import HTTPSConnection
import glob
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUP, VERSION, PLURAL = "cognitosms.io", "v1alpha1", "cognitosmsconfigs"
NAMESPACE, REGION = "fleet", "us-east-1"
# The account of the emulator's default credentials, which the operator acts as.
OPERATOR_ACCOUNT = "123456789012"
# Cognito's categories allow 15 requests a second; TagResource and UntagResource, 5 an account.
AWS_DEFAULT_RATES = {"cognito-idp:*": 15, "cognito-idp:TagResource": 5, "cognito-idp:UntagResource": 5,
                     "iam:*": 15, "sts:*": 15, "sns:*": 15, "sms-voice:*": 15}
READ_PREFIXES = ("Get", "Describe", "List")
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
READY = 'cognito_sms_resources{ready="true"}'
# Seconds between the benchmark's scrapes of /metrics while it waits. A scrape's CPU counts in the
# operator's; Prometheus usually scrapes every 15 to 60 s.
SCRAPE_EVERY = 1.0


def http(method, url, body=None, timeout=120):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
    return json.loads(raw) if raw and raw[:1] in (b"{", b"[") else raw.decode()


class Process:
    """A child process whose output goes to a file, announcing itself with a line."""

    def __init__(self, name, argv, workdir, env=None, stdin=None, announce=None):
        self.name = name
        self.log = open(os.path.join(workdir, f"{name}.log"), "w+")
        self.out = os.path.join(workdir, f"{name}.out")
        with open(self.out, "w") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=self.log, stdin=stdin,
                                         env={**os.environ, **(env or {})}, cwd=ROOT)
        self.announced = self.await_line(announce) if announce else None

    def await_line(self, pattern, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.out) as f:
                for line in f:
                    m = re.search(pattern, line)
                    if m:
                        return m.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.log.seek(0)
        sys.exit(f"{self.name} did not announce {pattern!r}:\n{self.log.read()[-4000:]}")

    @property
    def pid(self):
        return self.proc.pid

    def cpu_seconds(self):
        fields = open(f"/proc/{self.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def memory_kib(self, field):
        for line in open(f"/proc/{self.pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class RssSampler(threading.Thread):
    """The largest resident set seen since the last reset, sampled every 100 ms."""

    def __init__(self, process):
        super().__init__(daemon=True)
        self.process, self.peak, self.running = process, 0, True
        self.start()

    def run(self):
        while self.running and self.process.proc.poll() is None:
            try:
                self.peak = max(self.peak, self.process.memory_kib("VmRSS"))
            except (FileNotFoundError, ProcessLookupError):
                return
            time.sleep(0.1)

    def reset(self):
        self.peak = self.process.memory_kib("VmRSS")


def metrics(port):
    """The operator's /metrics as {name{labels}: value}."""
    out = {}
    for line in http("GET", f"http://127.0.0.1:{port}/metrics").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def total(m, name):
    return sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))


class StandIn:
    """The project's Kubernetes API stand-in, which counts the requests it serves."""

    def __init__(self, args, workdir):
        self.kubeconfig = os.path.join(workdir, "kubeconfig")
        self.operator_kubeconfig = self.kubeconfig
        crds = sorted(glob.glob(os.path.join(ROOT, "crds", "*.yaml")))
        self.process = Process("standin", [args.standin, "--kubeconfig", self.kubeconfig, *crds], workdir,
                               announce=r"^listening on (\S+)")
        self.url = self.process.announced
        self.lease = []
        self.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": NAMESPACE}})

    def request(self, method, path, body=None):
        return http(method, self.url + path, body)

    def writes(self):
        """Successful writes by resource since the last clear, the Lease's renewals apart."""
        out = {}
        for c in http("GET", f"{self.url}/_standin/counts")["counts"]:
            if c["verb"] in WRITE_VERBS and c["code"] < 300 and "leases" not in c["resource"]:
                key = f"{c['verb']} {c['resource']}"
                out[key] = out.get(key, 0) + c["count"]
        return out

    def clear(self):
        http("DELETE", f"{self.url}/_standin/requests")

    def server_usage(self):
        return {"standin": (self.process.cpu_seconds(), self.process.memory_kib("VmRSS"))}

    def close(self):
        self.process.stop(signal.SIGKILL)


class RealCluster:
    """A real control plane of its own (scripts/cluster --name bench), with the CRD applied by
    kubectl, the chart installed by Helm, and the operator running as the chart's ServiceAccount.
    The operator's writes are read from the API server's audit log."""

    RELEASE = "cognito-sms-operator"

    def __init__(self, args, workdir):
        cluster = [os.path.join(ROOT, "scripts/cluster")]
        self.down = cluster + ["down", "--name", "bench"] + (["--kube", args.kube] if args.kube else [])
        subprocess.run(self.down, check=True)
        up = cluster + ["up", "--name", "bench"] + (["--kube", args.kube] if args.kube else [])
        self.state = subprocess.run(up, check=True, capture_output=True, text=True).stdout.split()[-1]
        self.kubeconfig = os.path.join(self.state, "kubeconfig")
        self.bin = open(os.path.join(self.state, "bin")).read().strip()
        self.url = f"127.0.0.1:{open(os.path.join(self.state, 'apiserver.port')).read().strip()}"
        self.tls = ssl.create_default_context(cafile=os.path.join(self.state, "pki/ca.crt"))
        self.tls.load_cert_chain(os.path.join(self.state, "pki/admin.crt"), os.path.join(self.state, "pki/admin.key"))
        self.local = threading.local()
        self.tool("kubectl", "apply", "--server-side", "-f", os.path.join(ROOT, "crds"))
        self.tool("kubectl", "wait", "--for=condition=Established", "crd/cognitosmsconfigs.cognitosms.io")
        self.tool("helm", "install", self.RELEASE, os.path.join(ROOT, "charts/cognito-sms-operator"),
                  "--namespace", self.RELEASE, "--create-namespace", "--set", "crds.install=false")
        self.tool("kubectl", "create", "namespace", NAMESPACE)
        token = self.tool("kubectl", "create", "token", self.RELEASE, "-n", self.RELEASE, "--duration=24h").strip()
        self.operator_kubeconfig = os.path.join(workdir, "operator.kubeconfig")
        with open(self.operator_kubeconfig, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "Config",
                       "clusters": [{"name": "bench", "cluster": {
                           "server": f"https://{self.url}",
                           "certificate-authority": os.path.join(self.state, "pki/ca.crt")}}],
                       "users": [{"name": "operator", "user": {"token": token}}],
                       # The release's namespace, as a Pod's ServiceAccount has it: the
                       # operator keeps its own Secret there, where the chart grants it.
                       "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "operator",
                                                                  "namespace": self.RELEASE}}],
                       "current-context": "bench"}, f)
        self.lease = ["--lease-namespace", self.RELEASE, "--lease-name", self.RELEASE]
        self.audited = 0
        self.pids = {name: int(open(os.path.join(self.state, f"{name}.pid")).read())
                     for name in ("etcd", "kube-apiserver", "kube-controller-manager")}

    def tool(self, name, *args):
        env = {**os.environ, "KUBECONFIG": self.kubeconfig,
               "KUBECACHEDIR": os.path.join(self.state, "kubectl-cache"),
               "HELM_CONFIG_HOME": os.path.join(self.state, "helm")}
        return subprocess.run([os.path.join(self.bin, name), *args], check=True, capture_output=True,
                              text=True, env=env).stdout

    def request(self, method, path, body=None):
        """One request as the cluster's administrator, on a connection kept per thread."""
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = HTTPSConnection(self.url, context=self.tls, timeout=120)
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        if response.status >= 300:
            sys.exit(f"{method} {path}: {response.status} {raw[:500]!r}")
        return json.loads(raw)

    def audit(self):
        with open(os.path.join(self.state, "audit.log")) as f:
            return [json.loads(line) for line in f]

    def writes(self):
        """The operator's successful writes by resource since the last clear, the Lease's apart."""
        out = {}
        for e in self.audit()[self.audited:]:
            ref, code = e.get("objectRef", {}), e.get("responseStatus", {}).get("code", 0)
            if e["verb"] in WRITE_VERBS and code < 300 and ref.get("resource") != "leases":
                key = f"{e['verb']} {ref.get('resource')}" + (f"/{ref['subresource']}" if ref.get("subresource") else "")
                out[key] = out.get(key, 0) + 1
        return out

    def clear(self):
        self.audited = len(self.audit())

    def server_usage(self):
        """CPU seconds and resident KiB of each of the control plane's processes."""
        out = {}
        for name, pid in self.pids.items():
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            rss = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS:"))
            out[name] = ((int(fields[11]) + int(fields[12])) / CLK_TCK, rss)
        return out

    def close(self):
        subprocess.run(self.down, check=False)


class Bench:
    def __init__(self, args, n, workdir):
        self.args, self.n, self.workdir = args, n, workdir
        self.emulator = Process("emulator", [os.path.join(ROOT, ".venv/bin/python"), "tests/emulator/server.py",
                                             "--port", "0"], workdir, stdin=subprocess.PIPE,
                                announce=r"^listening on (\S+)")
        self.aws = self.emulator.announced
        self.kube = RealCluster(args, workdir) if args.real_cluster else StandIn(args, workdir)
        self.ports = iter(range(args.port, args.port + 100))
        self.operators = []

    def close(self):
        for p in self.operators:
            p.stop(signal.SIGKILL)
        self.kube.close()
        self.emulator.proc.stdin.close()
        self.emulator.stop()

    # -- AWS emulator ----------------------------------------------------------------------------
    def calls(self):
        return http("GET", f"{self.aws}/_emulator/calls")

    def throttled(self):
        return http("GET", f"{self.aws}/_emulator/throttle")["throttled"]

    def clear_aws(self):
        http("DELETE", f"{self.aws}/_emulator/calls")

    # -- Kubernetes ------------------------------------------------------------------------------
    def resources_path(self, namespace=NAMESPACE):
        return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"

    def create_resources(self, pools, namespace=NAMESPACE):
        def create(i_pool):
            i, pool = i_pool
            self.kube.request("POST", self.resources_path(namespace), {
                "apiVersion": f"{GROUP}/{VERSION}", "kind": "CognitoSmsConfig",
                "metadata": {"name": f"pool-{i:05d}", "namespace": namespace},
                "spec": {"userPoolId": pool, "role": {"managed": {}}},
            })
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            list(ex.map(create, enumerate(pools)))

    def ready_in_api(self):
        items = self.kube.request("GET", f"/apis/{GROUP}/{VERSION}/{PLURAL}")["items"]
        ready = sum(1 for o in items for c in o.get("status", {}).get("conditions", [])
                    if c["type"] == "Ready" and c["status"] == "True")
        return ready, len(items)

    # -- the operator ----------------------------------------------------------------------------
    def start_operator(self, identity):
        port = next(self.ports)
        env = {"KUBECONFIG": self.kube.operator_kubeconfig, "AWS_ENDPOINT_URL": self.aws,
               "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": REGION,
               "AWS_EC2_METADATA_DISABLED": "true"}
        argv = [self.args.operator, "run", "--http-addr", f"127.0.0.1:{port}", "--leader-election",
                "--identity", identity, "--resync-period", self.args.resync, "--log-format", "json",
                "--log-level", "warn", *self.kube.lease]
        p = Process(identity, argv, self.workdir, env=env)
        p.port = port
        self.operators.append(p)
        self.await_metrics(p)
        return p

    def await_metrics(self, p, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return metrics(p.port)
            except OSError:
                time.sleep(0.1)
        sys.exit(f"{p.name} serves no metrics; see {p.log.name}")

    def await_leader(self, p, timeout=60):
        deadline = time.monotonic() + timeout
        while metrics(p.port).get("cognito_sms_leader", 0) != 1:
            if time.monotonic() > deadline:
                sys.exit(f"{p.name} did not become leader")
            time.sleep(0.1)

    def await_ready(self, p, count, started, each_scrape=lambda: None):
        """Until `p`'s metrics show `count` resources Ready; the seconds since `started`."""
        while True:
            ready = metrics(p.port).get(READY, 0)
            each_scrape()
            if ready >= count:
                return time.monotonic() - started
            if p.proc.poll() is not None or time.monotonic() - started > self.args.timeout:
                sys.exit(f"convergence: {ready:.0f} of {count} Ready; see {p.log.name}")
            time.sleep(SCRAPE_EVERY)

    def await_reconciles(self, p, count, what):
        """Until `p` has finished `count` reconciles and none waits; the time it took."""
        started = time.monotonic()
        while True:
            m = metrics(p.port)
            done = total(m, "cognito_sms_reconciles_total")
            if done >= count and m.get("cognito_sms_reconcile_queue_depth", 0) == 0 \
                    and m.get("cognito_sms_reconciles_in_flight", 0) == 0:
                return time.monotonic() - started, m
            if p.proc.poll() is not None:
                sys.exit(f"{p.name} exited during {what}; see {p.log.name}")
            if time.monotonic() - started > self.args.timeout:
                sys.exit(f"{what}: {done:.0f} of {count} reconciles after {self.args.timeout}s")
            time.sleep(SCRAPE_EVERY)

    # -- the phases ------------------------------------------------------------------------------
    def run(self):
        n, row = self.n, {"pools": self.n}
        http("POST", f"{self.aws}/_emulator/throttle", {"rates": AWS_DEFAULT_RATES})

        leader = self.start_operator("replica-a")
        self.await_leader(leader)
        time.sleep(5)
        row["idle_rss_mib"] = leader.memory_kib("VmRSS") / 1024
        leader.stop()
        self.operators.remove(leader)

        pools = http("POST", f"{self.aws}/_emulator/cognito/pools", {"region": REGION, "count": n})["userPoolIds"]
        self.create_resources(pools)
        self.clear_aws()
        self.kube.clear()

        # Convergence.
        server0 = self.kube.server_usage()
        server_peak = {}
        started = time.monotonic()
        leader = self.start_operator("replica-b")
        rss = RssSampler(leader)
        cpu0 = leader.cpu_seconds()

        def sample_server():
            for name, (_, kib) in self.kube.server_usage().items():
                server_peak[name] = max(server_peak.get(name, 0), kib)
        row["ready_s"] = self.await_ready(leader, n, started, sample_server)
        # Everything the process did from its start to the fleet's being Ready: start-up, the
        # watches, every reconcile, status write, Event and Lease renewal.
        row["cpu_ms_per_pool_to_ready"] = leader.cpu_seconds() * 1000 / n
        server = self.kube.server_usage()
        row["server"] = {name: {"cpu_s": cpu - server0[name][0], "peak_rss_mib": server_peak[name] / 1024}
                         for name, (cpu, _) in server.items()}
        ready, listed = self.ready_in_api()
        if ready != n or listed != n:
            sys.exit(f"the metrics said all Ready, the API says {ready} of {listed}")
        row["quota_floor_s"] = n / 15
        row["ratio"] = row["ready_s"] / row["quota_floor_s"]
        _, m = self.await_reconciles(leader, n, "convergence")
        reconciles = total(m, "cognito_sms_reconciles_total")
        row["converge_reconciles"] = reconciles
        row["cpu_ms_per_reconcile"] = (leader.cpu_seconds() - cpu0) * 1000 / reconciles
        row["peak_rss_mib"] = rss.peak / 1024
        calls = self.calls()
        row["aws_calls_per_resource"] = len(calls) / n
        row["aws_calls"] = count_by_action(calls)
        row["throttled"] = self.throttled()
        row["reconciles_by_outcome"] = {k: v for k, v in m.items() if k.startswith("cognito_sms_reconciles_total")}

        # Steady: the leader's own periodic resyncs of what it converged.
        self.clear_aws()
        self.kube.clear()
        rss.reset()
        throttled0 = sum(self.throttled().values())
        cpu0, done0 = leader.cpu_seconds(), total(m, "cognito_sms_reconciles_total")
        started = time.monotonic()
        passes = self.args.steady_passes
        _, m = self.await_reconciles(leader, done0 + passes * n, "steady resyncs")
        row["steady_passes"] = passes
        row["steady_s"] = time.monotonic() - started
        steady = total(m, "cognito_sms_reconciles_total") - done0
        row["steady_cpu_ms_per_reconcile"] = (leader.cpu_seconds() - cpu0) * 1000 / steady
        row["steady_rss_mib"] = rss.peak / 1024
        calls = self.calls()
        row["steady_aws_reads_per_resync"] = sum(1 for c in calls if is_read(c)) / steady
        row["steady_aws_writes"] = count_by_action([c for c in calls if not is_read(c)])
        row["steady_kube_writes"] = self.kube.writes()
        row["steady_throttled"] = sum(self.throttled().values()) - throttled0

        # Failover: a standby takes over from the leader and reconciles everything once.
        standby = self.start_operator("replica-c")
        time.sleep(3)
        row["standby_rss_mib"] = standby.memory_kib("VmRSS") / 1024
        self.clear_aws()
        self.kube.clear()
        throttled0 = sum(self.throttled().values())
        started = time.monotonic()
        leader.stop()
        self.await_leader(standby)
        rss = RssSampler(standby)
        self.await_reconciles(standby, n, "failover")
        row["failover_s"] = time.monotonic() - started
        row["failover_rss_mib"] = rss.peak / 1024
        row["failover_throttled"] = sum(self.throttled().values()) - throttled0
        calls = self.calls()
        row["failover_aws_reads_per_resource"] = sum(1 for c in calls if is_read(c)) / n
        row["failover_aws_writes"] = count_by_action([c for c in calls if not is_read(c)])
        row["failover_kube_writes"] = self.kube.writes()
        return row


class Accounts(Bench):
    """K accounts of N pools each (--accounts): each with the role the operator assumes there,
    a namespace of its own, and the CognitoSmsAccount mapping one to the other."""

    def account_ids(self):
        return [f"{222222222222 + i:012d}" for i in range(self.args.accounts)]

    def create_account(self, i, account):
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OPERATOR_ACCOUNT}:root"},
            "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
        role = http("POST", f"{self.aws}/_emulator/iam/role",
                    {"account": account, "roleName": "cognito-sms-operator", "assumeRolePolicyDocument": trust})["arn"]
        namespace = f"{NAMESPACE}-{i}"
        self.kube.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                          "metadata": {"name": namespace}})
        self.kube.request("POST", f"/apis/{GROUP}/{VERSION}/cognitosmsaccounts", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "CognitoSmsAccount",
            "metadata": {"name": f"account-{i}"}, "spec": {"roleArn": role, "namespaces": [namespace]}})
        pools = http("POST", f"{self.aws}/_emulator/cognito/pools",
                     {"region": REGION, "count": self.n, "account": account})["userPoolIds"]
        self.create_resources(pools, namespace)

    def run(self):
        n, accounts = self.n, self.account_ids()
        total_pools = n * len(accounts)
        row = {"accounts": len(accounts), "pools": n, "resources": total_pools}
        http("POST", f"{self.aws}/_emulator/throttle", {"rates": AWS_DEFAULT_RATES})
        for i, account in enumerate(accounts):
            self.create_account(i, account)
        self.clear_aws()
        self.kube.clear()

        # Convergence: every account's pools at once.
        started = time.monotonic()
        emulator_cpu0 = self.emulator.cpu_seconds()
        leader = self.start_operator("replica-a")
        rss = RssSampler(leader)
        row["ready_s"] = self.await_ready(leader, total_pools, started)
        # The emulator serves every account in one Python process (one interpreter lock): its CPU
        # time over the convergence shows whether it, not the quotas, set the pace.
        row["emulator_cpu_s"] = self.emulator.cpu_seconds() - emulator_cpu0
        row["cpu_ms_per_pool_to_ready"] = leader.cpu_seconds() * 1000 / total_pools
        ready, listed = self.ready_in_api()
        if ready != total_pools or listed != total_pools:
            sys.exit(f"the metrics said all Ready, the API says {ready} of {listed}")
        # One account's floor: a new pool takes three UserPoolRead tokens (the read that plans,
        # the list of its Regions, and the read just before the update), of AWS's 15 a second.
        row["quota_floor_s"] = 3 * n / 15
        row["ratio"] = row["ready_s"] / row["quota_floor_s"]
        _, m = self.await_reconciles(leader, total_pools, "convergence")
        row["converge_reconciles"] = total(m, "cognito_sms_reconciles_total")
        row["peak_rss_mib"] = rss.peak / 1024
        calls = self.calls()
        row["throttled"] = self.throttled()
        row["sts_calls"] = sum(1 for c in calls if c["service"] == "sts")
        row["aws_calls_per_resource"] = len(calls) / total_pools
        by_account = {}
        for c in calls:
            by_account[c["account"]] = by_account.get(c["account"], 0) + 1
        row["aws_calls_by_account"] = dict(sorted(by_account.items()))
        row["operator_account_calls"] = count_by_action([c for c in calls if c["account"] == OPERATOR_ACCOUNT])

        # One resync of everything: the sessions held serve it, STS is not asked again.
        self.clear_aws()
        throttled0 = sum(self.throttled().values())
        done0 = total(m, "cognito_sms_reconciles_total")
        started = time.monotonic()
        self.await_reconciles(leader, done0 + total_pools, "a steady resync")
        row["steady_s"] = time.monotonic() - started
        calls = self.calls()
        row["steady_sts_calls"] = sum(1 for c in calls if c["service"] == "sts")
        row["steady_aws_writes"] = count_by_action([c for c in calls if not is_read(c) and c["service"] != "sts"])
        row["steady_throttled"] = sum(self.throttled().values()) - throttled0
        return row


def accounts_table(rows):
    lines = ["| accounts x pools | all Ready | one account's quota floor 3N/15 | ratio | throttled calls "
             "| STS calls (converging, one resync of all) | AWS calls per resource | peak RSS "
             "| CPU per pool, start to all Ready | emulator CPU while converging | writes in the resync |",
             "|" + "---|" * 11]
    for r in rows:
        throttled = sum(r["throttled"].values())
        lines.append(
            f"| {r['accounts']} x {r['pools']:,} | {r['ready_s']:.1f} s | {r['quota_floor_s']:.1f} s | {r['ratio']:.2f} "
            f"| {throttled}, then {r['steady_throttled']} | {r['sts_calls']}, {r['steady_sts_calls']} "
            f"| {r['aws_calls_per_resource']:.2f} | {r['peak_rss_mib']:.1f} MiB | {r['cpu_ms_per_pool_to_ready']:.2f} ms "
            f"| {r.get('emulator_cpu_s', 0):.1f} s | {sum(r['steady_aws_writes'].values())} |")
    return "\n".join(lines)


def is_read(call):
    return call["action"].startswith(READ_PREFIXES)


def count_by_action(calls):
    out = {}
    for c in calls:
        key = f"{c['service']}:{c['action']}" + (" (throttled)" if c.get("throttled") else "")
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def table(rows):
    header = ("| pools | all Ready | quota floor N/15 | ratio | throttled calls | AWS calls per resource "
              "| peak RSS | CPU per reconcile | CPU per pool, start to all Ready | steady RSS | CPU per steady resync "
              "| writes over steady resyncs (AWS / Kubernetes) | failover: time, throttled, writes | idle RSS |")
    lines = [header, "|" + "---|" * 14]
    for r in rows:
        throttled = sum(r["throttled"].values())
        by_op = ", ".join(f"{k} {v}" for k, v in r["throttled"].items()) or "none"
        failover_writes = sum(r["failover_aws_writes"].values()) + sum(r["failover_kube_writes"].values())
        lines.append(
            f"| {r['pools']:,} | {r['ready_s']:.1f} s | {r['quota_floor_s']:.1f} s | {r['ratio']:.2f} "
            f"| {throttled} ({by_op}) | {r['aws_calls_per_resource']:.2f} | {r['peak_rss_mib']:.1f} MiB "
            f"| {r['cpu_ms_per_reconcile']:.2f} ms | {r['cpu_ms_per_pool_to_ready']:.2f} ms "
            f"| {r['steady_rss_mib']:.1f} MiB "
            f"| {r['steady_cpu_ms_per_reconcile']:.2f} ms "
            f"| {sum(r['steady_aws_writes'].values())} / {sum(r['steady_kube_writes'].values())} "
            f"({r['steady_passes']} pass{'' if r['steady_passes'] == 1 else 'es'}) | {r['failover_s']:.0f} s, {r['failover_throttled']}, "
            f"{failover_writes} | {r['idle_rss_mib']:.1f} MiB |")
    servers = [r for r in rows if r.get("server")]
    if servers:
        lines += ["", "| pools | the API server's side while converging: CPU, peak RSS |", "|---|---|"]
        for r in servers:
            usage = ", ".join(f"{name} {u['cpu_s']:.1f} s, {u['peak_rss_mib']:.0f} MiB" for name, u in r["server"].items())
            lines.append(f"| {r['pools']:,} | {usage} |")
    return "\n".join(lines)


def positive(text):
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return n


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pools", type=int, action="append", help="N (repeat); default 100 and 1000")
    parser.add_argument("--resync", default="60s", help="--resync-period of the operator (default 60s)")
    parser.add_argument("--steady-passes", type=positive, default=2,
                        help="resyncs of every resource to measure in steady state (at least 1)")
    parser.add_argument("--operator", default=os.path.join(ROOT, "target/release/cognito-sms-operator"))
    parser.add_argument("--standin", default=os.path.join(ROOT, "target/release/kube-standin"))
    parser.add_argument("--real-cluster", action="store_true",
                        help="run on a real control plane (scripts/cluster) instead of the stand-in")
    parser.add_argument("--kube", help="with --real-cluster: the Kubernetes version (default: the newest built)")
    parser.add_argument("--port", type=int, default=18080, help="first port for the operators' /metrics")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds any phase may take")
    parser.add_argument("--json", help="write every measurement to this file")
    parser.add_argument("--table", help="print the table of the measurements in this --json file, and run nothing")
    parser.add_argument("--keep", action="store_true", help="keep the logs of the last run")
    parser.add_argument("--accounts", type=positive,
                        help="K AWS accounts of N pools each, each mapped by a CognitoSmsAccount")
    args = parser.parse_args()
    if args.table:
        with open(args.table) as f:
            rows = json.load(f)
        print(accounts_table(rows) if rows and "accounts" in rows[0] else table(rows))
        return
    rows = []
    for n in args.pools or [100, 1000]:
        workdir = tempfile.mkdtemp(prefix=f"fleet-bench-{n}-")
        print(f"==> {n} pools (logs in {workdir})", file=sys.stderr)
        bench = (Accounts if args.accounts else Bench)(args, n, workdir)
        try:
            row = bench.run()
        finally:
            bench.close()
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=2)
        if not args.keep:
            subprocess.run(["rm", "-rf", workdir], check=False)
    print(accounts_table(rows) if args.accounts else table(rows))


if __name__ == "__main__":
    main()
