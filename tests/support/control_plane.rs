//! The real Kubernetes control plane of `scripts/cluster`: etcd, kube-apiserver and a trimmed
//! kube-controller-manager, built from their Go modules. One runs per checkout and Kubernetes
//! version; the first test that needs it starts it (or `scripts/test` does, and says where in
//! `COGNITO_SMS_TEST_CLUSTER`), and every test after reuses it, each in a namespace of its own.
//!
//! The operator's CRD is applied with kubectl, as `crds/` documents, and the chart is installed
//! with Helm (without its copy of the CRD). The operator runs as the chart's ServiceAccount, with a
//! token from the TokenRequest API: what it may do is exactly what the chart grants.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;

/// The Helm release the tests install, in a namespace of the same name.
pub const RELEASE: &str = "cognito-sms-operator";
/// The chart's ServiceAccount for that release, and the user its tokens authenticate as.
pub const SERVICE_ACCOUNT: &str = "cognito-sms-operator";
pub const OPERATOR_USER: &str = "system:serviceaccount:cognito-sms-operator:cognito-sms-operator";
/// The ClusterRole a namespace binds to let the operator read its verification codes.
pub const SECRET_READER: &str = "cognito-sms-operator-verification-codes";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct ControlPlane {
    /// Where `scripts/cluster` keeps this cluster: certificates, logs, the audit log.
    pub state: PathBuf,
    /// kubectl, helm and the control plane's programs.
    pub bin: PathBuf,
    /// The cluster administrator's kubeconfig.
    pub kubeconfig: PathBuf,
    /// A kubeconfig whose user is the chart's ServiceAccount.
    pub operator_kubeconfig: PathBuf,
    /// The name of a cluster started with `separate`.
    name: Option<String>,
}

static PLANE: OnceLock<ControlPlane> = OnceLock::new();

impl ControlPlane {
    /// The control plane, started if need be, with the CRD and the chart installed.
    pub fn get() -> &'static ControlPlane {
        PLANE.get_or_init(|| {
            let state = match std::env::var_os("COGNITO_SMS_TEST_CLUSTER") {
                Some(dir) => PathBuf::from(dir),
                None => start("up", &[]),
            };
            let bin = PathBuf::from(read(&state.join("bin")).trim());
            let mut plane = ControlPlane {
                kubeconfig: state.join("kubeconfig"),
                operator_kubeconfig: PathBuf::new(),
                bin,
                state,
                name: None,
            };
            plane.install();
            plane.operator_kubeconfig = plane.service_account_kubeconfig(RELEASE, SERVICE_ACCOUNT);
            plane
        })
    }

    /// Start another cluster, named `name`, for a test that needs one of its own (installing the
    /// chart's CRD with Helm, which the shared cluster's CRD would clash with). `down` stops it.
    pub fn separate(name: &str) -> ControlPlane {
        let version = Self::get().version();
        // One left running by a test run that was cut short would hold that run's state.
        run(Command::new(repo().join("scripts/cluster")).args(["down", "--kube", &version, "--name", name]));
        let state = start("up", &["--kube", &version, "--name", name]);
        ControlPlane {
            bin: PathBuf::from(read(&state.join("bin")).trim()),
            kubeconfig: state.join("kubeconfig"),
            operator_kubeconfig: PathBuf::new(),
            state,
            name: Some(name.to_string()),
        }
    }

    /// Stop a cluster from `separate` and delete its state.
    pub fn down(&self) {
        let name = self
            .name
            .as_deref()
            .expect("only a separate cluster is stopped by a test");
        run(Command::new(repo().join("scripts/cluster")).args(["down", "--kube", &self.version(), "--name", name]));
    }

    /// The Kubernetes version, as `scripts/cluster` names it (`1.37.2`).
    pub fn version(&self) -> String {
        let dir = self.state.file_name().unwrap().to_string_lossy().to_string();
        dir.split('-').next().unwrap().to_string()
    }

    /// The minor version, e.g. 37.
    pub fn minor(&self) -> u32 {
        self.version().split('.').nth(1).unwrap().parse().unwrap()
    }

    /// `kubectl` as the cluster administrator; fails the test when it fails.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = self.kubectl_output(args);
        assert!(
            out.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `kubectl` as the cluster administrator, whatever its outcome.
    pub fn kubectl_output(&self, args: &[&str]) -> Output {
        self.command("kubectl").args(args).output().expect("run kubectl")
    }

    /// `helm`, as the cluster administrator; fails the test when it fails.
    pub fn helm(&self, args: &[&str]) -> String {
        let out = self.command("helm").args(args).output().expect("run helm");
        assert!(
            out.status.success(),
            "helm {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// One of the cluster's programs, pointed at it, with kubectl's cache and Helm's home its own.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        let helm = self.state.join("helm");
        command
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.state.join("kubectl-cache"))
            .env("HELM_CONFIG_HOME", helm.join("config"))
            .env("HELM_CACHE_HOME", helm.join("cache"))
            .env("HELM_DATA_HOME", helm.join("data"));
        command
    }

    /// A client with the cluster administrator's rights.
    pub async fn admin(&self) -> Client {
        client(&self.kubeconfig).await
    }

    /// The CRD applied with kubectl and the chart installed with Helm (without its copy of the
    /// CRD), unless this cluster has them as they are in the checkout. Serialized between test
    /// processes by a lock file.
    fn install(&self) {
        let lock = File::create(self.state.join(".install.lock")).unwrap();
        lock.lock().unwrap();
        let stamp = self.state.join("installed");
        let want = checkout_stamp();
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
            return;
        }
        let crds = repo().join("crds");
        self.kubectl(&["apply", "--server-side", "-f", crds.to_str().unwrap()]);
        self.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/cognitosmsconfigs.cognitosms.io",
            "crd/cognitosmsaccounts.cognitosms.io",
        ]);
        let chart = repo().join("charts/cognito-sms-operator");
        self.helm(&[
            "upgrade",
            "--install",
            RELEASE,
            chart.to_str().unwrap(),
            "--namespace",
            RELEASE,
            "--create-namespace",
            "--set",
            "crds.install=false",
            "--set",
            &format!("accounts.externalIdSecrets={{{EXTERNAL_ID_SECRET}}}"),
        ]);
        std::fs::write(stamp, want).unwrap();
    }

    /// A kubeconfig that authenticates as ServiceAccount `namespace/name`, with a token from the
    /// TokenRequest API (valid for a day: longer than any test run).
    pub fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> PathBuf {
        let token = self.kubectl(&["create", "token", name, "-n", namespace, "--duration=24h"]);
        let admin: Value = serde_norway::from_str(&read(&self.kubeconfig)).unwrap();
        let cluster = &admin["clusters"][0]["cluster"];
        let file = self
            .state
            .join(format!("{namespace}.{name}.{}.kubeconfig", std::process::id()));
        let config = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": cluster}],
            "users": [{"name": name, "user": {"token": token.trim()}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": name}}],
            "current-context": "test",
        });
        std::fs::write(&file, serde_norway::to_string(&config).unwrap()).unwrap();
        file
    }

    /// Every request of a ServiceAccount outside kube-system (the operator's) that the API
    /// server answered so far, in the order it answered them.
    pub fn audit(&self) -> Vec<Audited> {
        let log = std::fs::read_to_string(self.state.join("audit.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|e| {
                let text = |pointer: &str| e.pointer(pointer).and_then(Value::as_str).unwrap_or("").to_string();
                let subresource = text("/objectRef/subresource");
                let mut resource = text("/objectRef/resource");
                if !subresource.is_empty() {
                    resource = format!("{resource}/{subresource}");
                }
                Audited {
                    user: text("/user/username"),
                    verb: text("/verb"),
                    resource,
                    namespace: text("/objectRef/namespace"),
                    name: text("/objectRef/name"),
                    code: e.pointer("/responseStatus/code").and_then(Value::as_u64).unwrap_or(0) as u16,
                }
            })
            .collect()
    }
}

/// One request the API server audited.
#[derive(Debug, Clone)]
pub struct Audited {
    pub user: String,
    /// As the API server's authorization names it: `get`, `list`, `watch`, `create`, `patch`...
    pub verb: String,
    /// `cognitosmsconfigs`, `cognitosmsconfigs/status`...
    pub resource: String,
    pub namespace: String,
    pub name: String,
    pub code: u16,
}

impl Audited {
    pub fn is_write(&self) -> bool {
        !matches!(self.verb.as_str(), "get" | "list" | "watch")
    }
}

/// A client for the user of `kubeconfig`.
pub async fn client(kubeconfig: &Path) -> Client {
    let config = Kubeconfig::read_from(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(config, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

/// A namespace of one test's own, deleted (in the background) when dropped. Its resources lose
/// their finalizers first: the test's operator is gone, and the namespace would otherwise never
/// finish terminating, with the namespace controller retrying it for as long as the cluster runs.
/// The Secret, in the release namespace, holding the external IDs of the tests'
/// `CognitoSmsAccount`s (one key per test), which the chart lets the operator read.
pub const EXTERNAL_ID_SECRET: &str = "cognito-sms-e2e-external-ids";

pub struct TestNamespace {
    pub name: String,
}

impl TestNamespace {
    pub fn create(plane: &ControlPlane, prefix: &str) -> Self {
        let name = format!("{prefix}-{:08x}", rand::random::<u32>());
        plane.kubectl(&["create", "namespace", &name]);
        TestNamespace { name }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let Some(plane) = PLANE.get() else { return };
        let names = plane.kubectl_output(&["get", "cognitosmsconfigs", "-n", &self.name, "-o", "name"]);
        for name in String::from_utf8_lossy(&names.stdout).lines() {
            let _ = plane.kubectl_output(&[
                "patch",
                "-n",
                &self.name,
                name,
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ]);
        }
        let _ = plane.kubectl_output(&["delete", "namespace", &self.name, "--wait=false"]);
    }
}

/// `scripts/cluster <command> <args>`, whose last line of output is the cluster's state directory.
fn start(command: &str, args: &[&str]) -> PathBuf {
    let out = run(Command::new(repo().join("scripts/cluster")).arg(command).args(args));
    PathBuf::from(out.lines().last().expect("scripts/cluster names the cluster").trim())
}

fn run(command: &mut Command) -> String {
    let out = command.output().expect("run scripts/cluster");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the installation depends on in the checkout: the CRD and the chart's files.
fn checkout_stamp() -> String {
    use sha2::{Digest, Sha256};
    let mut files = vec![];
    let mut dirs = vec![repo().join("crds"), repo().join("charts/cognito-sms-operator")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hash = Sha256::new();
    // The values the chart is installed with.
    hash.update(EXTERNAL_ID_SECRET.as_bytes());
    for file in files {
        hash.update(file.to_string_lossy().as_bytes());
        hash.update(std::fs::read(&file).unwrap());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
