//! A cluster for end-to-end tests: the Kubernetes API stand-in, the AWS emulator, and the real
//! operator binary run against both, driven through the Kubernetes API as a user would.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cognito_sms_operator::crd::CognitoSmsConfig;
use cognito_sms_operator::testing::ResourceFixture;
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::Value;
use testkit::StandIn;

use super::{Emulator, resource};

pub struct Cluster {
    pub standin: StandIn,
    pub emu: Emulator,
    pub client: Client,
}

impl Cluster {
    pub async fn start() -> Self {
        let crds = testkit::crd_files(&PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/crds")));
        let standin = StandIn::start(&crds).await.unwrap();
        let client = Client::try_from(kube::Config::new(standin.url().parse().unwrap())).unwrap();
        Self {
            standin,
            emu: Emulator::start(),
            client,
        }
    }

    pub fn csms(&self) -> Api<CognitoSmsConfig> {
        Api::namespaced(self.client.clone(), "apps")
    }

    /// Create a resource in namespace `apps`, as `kubectl apply` would.
    pub async fn create(&self, name: &str, spec: Value) {
        self.csms()
            .create(&PostParams::default(), &manifest(name, spec))
            .await
            .unwrap();
    }

    pub fn operator(&self, args: &[&str]) -> Operator {
        self.operator_with(args, &[], &[])
    }

    /// The operator with `args`, its AWS environment changed by `env` (set) and `unset`.
    pub fn operator_with(&self, args: &[&str], env: &[(&str, String)], unset: &[&str]) -> Operator {
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
            .args(args)
            .env("KUBECONFIG", &self.standin.kubeconfig)
            .envs(self.emu.env())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env_remove("RUST_LOG")
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

/// The resource as a user writes it, before the API server has seen it.
pub fn manifest(name: &str, spec: Value) -> CognitoSmsConfig {
    resource(name, spec).unsubmitted()
}
