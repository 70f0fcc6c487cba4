//! A cluster for end-to-end tests: a Kubernetes API, the AWS emulator, and the real operator
//! binary run against both, driven through the Kubernetes API as a user would.
//!
//! The Kubernetes API is the real control plane (`Cluster::start`), in a namespace of the test's
//! own, with the operator running as the chart's ServiceAccount; or, for the faults a real API
//! server cannot be made to produce on demand, the project's stand-in (`Cluster::stand_in`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cognito_sms_operator::controller::SecretGrant;
use cognito_sms_operator::crd::CognitoSmsConfig;
use cognito_sms_operator::testing::ResourceFixture;
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::Value;
use testkit::StandIn;

use super::control_plane::{
    Audited, ControlPlane, OPERATOR_USER, RELEASE, SECRET_READER, SERVICE_ACCOUNT, TestNamespace,
};
use super::{Emulator, resource};

enum Kube {
    Real {
        plane: &'static ControlPlane,
        _namespace: TestNamespace,
        /// Whether the test means the operator to be refused something.
        refusals_expected: bool,
    },
    StandIn(StandIn),
}

pub struct Cluster {
    kube: Kube,
    pub emu: Emulator,
    /// A client with the cluster administrator's rights: the user of the tests.
    pub client: Client,
    /// The namespace the test's resources live in.
    pub ns: String,
}

impl Cluster {
    /// The real control plane, in a new namespace that lets the operator read its Secrets (as a
    /// team that verifies sandbox numbers grants it).
    ///
    /// The chart's RBAC must be enough for everything the test has the operator do: when the test
    /// ends, no request of the operator's in its namespace was refused.
    pub async fn start() -> Self {
        let c = Self::real(false).await;
        c.grant_secret_access();
        c
    }

    /// The real control plane, in a new namespace that has not let the operator read its
    /// Secrets: the operator's requests for them are refused.
    pub async fn start_without_secret_access() -> Self {
        Self::real(true).await
    }

    async fn real(refusals_expected: bool) -> Self {
        let plane = ControlPlane::get();
        let namespace = TestNamespace::create(plane, "e2e");
        Self {
            ns: namespace.name.clone(),
            client: plane.admin().await,
            kube: Kube::Real {
                plane,
                _namespace: namespace,
                refusals_expected,
            },
            emu: Emulator::start(),
        }
    }

    /// The project's API stand-in, namespace `apps`.
    pub async fn stand_in() -> Self {
        let crds = testkit::crd_files(&PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/crds")));
        let standin = StandIn::start(&crds).await.unwrap();
        let client = Client::try_from(kube::Config::new(standin.url().parse().unwrap())).unwrap();
        // The namespace the resources live in exists, as on any cluster: its labels choose the
        // AWS account.
        let ns: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "apps"}})).unwrap();
        Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
        Self {
            kube: Kube::StandIn(standin),
            emu: Emulator::start(),
            client,
            ns: "apps".into(),
        }
    }

    /// The stand-in, for the tests that make it fail on purpose.
    pub fn standin(&self) -> &StandIn {
        match &self.kube {
            Kube::StandIn(s) => s,
            Kube::Real { .. } => panic!("a real cluster has no stand-in"),
        }
    }

    /// The real control plane.
    pub fn plane(&self) -> &'static ControlPlane {
        match &self.kube {
            Kube::Real { plane, .. } => plane,
            Kube::StandIn(_) => panic!("the stand-in is no control plane"),
        }
    }

    pub fn csms(&self) -> Api<CognitoSmsConfig> {
        self.api()
    }

    /// Objects of kind `K` in the test's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Create a resource in the test's namespace, as `kubectl apply` would.
    pub async fn create(&self, name: &str, spec: Value) {
        self.csms()
            .create(&PostParams::default(), &manifest(name, spec))
            .await
            .unwrap();
    }

    /// Who the chart's operator is, to name in the command that grants it a namespace's Secrets.
    pub fn secret_grant(&self) -> SecretGrant {
        SecretGrant {
            cluster_role: SECRET_READER.into(),
            service_account: Some(format!("{RELEASE}:{SERVICE_ACCOUNT}")),
        }
    }

    /// Let the operator read the namespace's Secrets, with the command its conditions give.
    pub fn grant_secret_access(&self) {
        if let Kube::Real { plane, .. } = &self.kube {
            let command = self.secret_grant().command(&self.ns);
            let args: Vec<&str> = command.split_whitespace().skip(1).collect();
            plane.kubectl(&args);
        }
    }

    /// The key the operator identifies phone numbers with, from the Secret it keeps in its own
    /// namespace (the release namespace on the real cluster, as the chart sets it).
    pub async fn number_ids(&self) -> Option<cognito_sms_operator::account::NumberIds> {
        let namespace = match &self.kube {
            Kube::Real { .. } => RELEASE,
            Kube::StandIn(_) => "default",
        };
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = secrets.get_opt(&format!("{RELEASE}-number-id-key")).await.unwrap()?;
        assert_eq!(secret.immutable, Some(true), "the key never changes");
        let data = secret.data?;
        Some(cognito_sms_operator::account::NumberIds::new(&data.get("key")?.0))
    }

    /// The Lease for leader election: on the real cluster, the one the chart lets the operator
    /// hold (in its release namespace, named after the release), which tests take turns with.
    pub async fn lease(&self) -> LeaseTurn {
        static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let (namespace, name) = match &self.kube {
            Kube::Real { .. } => (RELEASE, RELEASE),
            Kube::StandIn(_) => ("ops", "cognito-sms-operator"),
        };
        LeaseTurn {
            _turn: TURN.lock().await,
            namespace,
            name,
        }
    }

    /// The requests the operator made in the test's namespace that the real API server answered,
    /// from position `from` of its audit log on (`self.plane().audit().len()` marks a position).
    pub fn operator_requests(&self, from: usize) -> Vec<Audited> {
        self.plane().audit()[from..]
            .iter()
            .filter(|r| r.user == OPERATOR_USER && r.namespace == self.ns)
            .cloned()
            .collect()
    }

    pub fn operator(&self, args: &[&str]) -> Operator {
        self.operator_with(args, &[], &[])
    }

    /// The operator with `args`, its environment changed by `env` (set) and `unset`. On the real
    /// cluster it watches the test's namespace only, as the chart's ServiceAccount.
    pub fn operator_with(&self, args: &[&str], env: &[(&str, String)], unset: &[&str]) -> Operator {
        self.operator_in(&self.ns, args, env, unset)
    }

    /// The operator as `operator_with` runs it, watching `namespace` on the real cluster.
    pub fn operator_in(&self, namespace: &str, args: &[&str], env: &[(&str, String)], unset: &[&str]) -> Operator {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_cognito-sms-operator"));
        command
            .args([
                "run",
                "--http-addr",
                &format!("127.0.0.1:{port}"),
                "--backoff-base",
                "200ms",
                "--backoff-max",
                "2s",
            ])
            .args([
                "--sns-cache-ttl",
                "1s",
                "--log-level",
                "info,cognito_sms_operator=debug",
            ])
            .envs(self.emu.env())
            .env_remove("RUST_LOG");
        match &self.kube {
            Kube::Real { plane, .. } => {
                let grant = self.secret_grant();
                command
                    .args(["--namespace", namespace])
                    .env("KUBECONFIG", &plane.operator_kubeconfig)
                    // As the chart's Deployment: the key of the phone-number identifiers is in
                    // the release namespace, where the chart lets the operator keep it.
                    .env("POD_NAMESPACE", RELEASE)
                    .env("SERVICE_ACCOUNT", grant.service_account.unwrap())
                    .env("SECRET_READER_CLUSTER_ROLE", grant.cluster_role);
            }
            Kube::StandIn(standin) => {
                command.env("KUBECONFIG", &standin.kubeconfig);
            }
        }
        command
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap());
        for name in unset {
            command.env_remove(name);
        }
        let child = command.spawn().unwrap();
        Operator {
            child,
            http: ([127, 0, 0, 1], port).into(),
            log,
        }
    }
}

/// A test's turn with the Lease the operator elects its leader with.
pub struct LeaseTurn {
    _turn: tokio::sync::MutexGuard<'static, ()>,
    pub namespace: &'static str,
    pub name: &'static str,
}

impl LeaseTurn {
    /// The operator's flags for leader election on this Lease.
    pub fn args(&self) -> Vec<&'static str> {
        vec![
            "--leader-election",
            "--lease-namespace",
            self.namespace,
            "--lease-name",
            self.name,
        ]
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let Kube::Real {
            plane,
            refusals_expected: false,
            ..
        } = &self.kube
        else {
            return;
        };
        if std::thread::panicking() {
            return;
        }
        let refused: Vec<Audited> = plane
            .audit()
            .into_iter()
            .filter(|r| r.user == OPERATOR_USER && r.namespace == self.ns && r.code == 403)
            .collect();
        assert!(refused.is_empty(), "the chart's RBAC refused the operator: {refused:?}");
    }
}

pub struct Operator {
    child: Child,
    http: SocketAddr,
    log: tempfile::NamedTempFile,
}

impl Operator {
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stop it as Kubernetes stops a Pod: SIGTERM, then wait for it to exit.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    pub async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.http);
        tokio::task::spawn_blocking(move || match ureq::get(&url).call() {
            Ok(mut r) => r.body_mut().read_to_string().unwrap_or_default(),
            Err(_) => String::new(),
        })
        .await
        .unwrap()
    }

    pub async fn leads(&self) -> bool {
        self.metrics().await.lines().any(|l| l == "cognito_sms_leader 1")
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Poll until `check` returns Some, or fail after `limit` with what the operator logged.
pub async fn eventually<T, F, Fut>(op: &Operator, limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > limit {
            panic!("{what}: not within {limit:?}; operator log:\n{}", op.log());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn status_of(res: &CognitoSmsConfig, type_: &str) -> Option<String> {
    res.condition(type_).map(|c| c.status.clone())
}

pub async fn wait_ready(c: &Cluster, op: &Operator, name: &str) -> CognitoSmsConfig {
    let api = c.csms();
    eventually(op, Duration::from_secs(20), &format!("{name} Ready"), || {
        let api = api.clone();
        async move {
            let r = api.get_opt(name).await.ok().flatten()?;
            let current = r.status.as_ref()?.observed_generation == r.metadata.generation;
            (current && status_of(&r, "Ready").as_deref() == Some("True")).then_some(r)
        }
    })
    .await
}

/// The resource as a user writes it, before the API server has seen it: in no namespace, so
/// that it is created in the one it is sent to.
pub fn manifest(name: &str, spec: Value) -> CognitoSmsConfig {
    let mut manifest = resource(name, spec).unsubmitted();
    manifest.metadata.namespace = None;
    manifest
}
