//! Verification codes in Secrets, with least privilege: the operator reads Secrets only in the
//! namespaces that granted it, watches their metadata only in namespaces whose resources verify
//! sandbox numbers, and tells a team that has not granted it access the exact command that does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::channel::mpsc;
use futures::{SinkExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::task::AbortHandle;

use crate::account::Code;
use crate::reconcile::{SecretCode, SecretError, SecretSource};

/// Who the operator is, to name in the command that grants it a namespace's Secrets.
#[derive(Debug, Clone, clap::Args)]
pub struct SecretGrant {
    /// The ClusterRole that lets the operator read Secrets, which a team binds in its own
    /// namespace to hand it verification codes (the Helm chart ships it).
    #[arg(
        long = "secret-reader-cluster-role",
        value_name = "NAME",
        env = "SECRET_READER_CLUSTER_ROLE",
        default_value = "cognito-sms-operator-verification-codes"
    )]
    pub cluster_role: String,
    /// The operator's ServiceAccount, as `namespace:name`.
    #[arg(long = "service-account", value_name = "NAMESPACE:NAME", env = "SERVICE_ACCOUNT")]
    pub service_account: Option<String>,
}

impl Default for SecretGrant {
    fn default() -> Self {
        Self {
            cluster_role: "cognito-sms-operator-verification-codes".into(),
            service_account: None,
        }
    }
}

impl SecretGrant {
    /// What to run so that the operator may read the Secrets of namespace `ns`.
    pub fn command(&self, ns: &str) -> String {
        let account = self
            .service_account
            .as_deref()
            .unwrap_or("<operator-namespace>:<operator-service-account>");
        format!(
            "kubectl create rolebinding cognito-sms-verification-codes -n {ns} --clusterrole={} --serviceaccount={account}",
            self.cluster_role
        )
    }
}

/// Verification codes from Secrets in one namespace, read when a number waits for its code.
pub struct KubeSecrets {
    api: Api<Secret>,
    namespace: String,
    grant: Arc<SecretGrant>,
}

impl KubeSecrets {
    pub fn new(client: Client, namespace: &str, grant: Arc<SecretGrant>) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            grant,
        }
    }
}

impl SecretSource for KubeSecrets {
    async fn code(&self, name: &str, key: &str) -> Result<Option<SecretCode>, SecretError> {
        let secret = self.api.get_opt(name).await.map_err(|e| match e {
            kube::Error::Api(s) if s.code == 403 => SecretError {
                message: format!(
                    "the operator may not read Secrets in namespace {ns} ({} {}); grant it: {}",
                    s.code,
                    s.reason,
                    self.grant.command(&self.namespace),
                    ns = self.namespace,
                ),
                forbidden: true,
            },
            kube::Error::Api(s) => format!("{} ({})", s.reason, s.code).into(),
            other => other.to_string().into(),
        })?;
        let Some(secret) = secret else { return Ok(None) };
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned());
        Ok(value.as_deref().and_then(Code::new).map(|code| SecretCode {
            code,
            version: secret.metadata.resource_version.clone(),
        }))
    }
}

type SecretEvent = Result<PartialObjectMeta<Secret>, watcher::Error>;

/// Watches of Secret metadata, one per namespace where a resource verifies sandbox numbers, so
/// that a code put into a Secret is acted on at once. The operator never lists or watches Secrets
/// across the cluster, and reads a Secret's data only when a number waits for its code. Dropping
/// this stops every watch.
pub(super) struct SecretWatches {
    client: Client,
    changes: mpsc::Sender<SecretEvent>,
    watching: Mutex<HashMap<String, AbortHandle>>,
}

impl SecretWatches {
    /// The watches, and the stream of the Secrets they see change.
    pub(super) fn new(client: Client) -> (Arc<Self>, impl Stream<Item = SecretEvent> + Send + 'static) {
        let (changes, seen) = mpsc::channel(256);
        let watches = Arc::new(Self {
            client,
            changes,
            watching: Mutex::default(),
        });
        (watches, seen)
    }

    /// Watch `namespace` while `wanted` (a resource there verifies sandbox numbers), stop
    /// watching it when not.
    pub(super) fn follow(&self, namespace: &str, wanted: bool) {
        let mut watching = self.watching.lock().unwrap_or_else(|p| p.into_inner());
        match (wanted, watching.contains_key(namespace)) {
            (true, false) => {
                let task = tokio::spawn(watch_namespace(
                    self.client.clone(),
                    namespace.to_string(),
                    self.changes.clone(),
                ));
                watching.insert(namespace.to_string(), task.abort_handle());
            }
            (false, true) => {
                if let Some(task) = watching.remove(namespace) {
                    task.abort();
                }
            }
            _ => {}
        }
    }

    /// Stop watching every namespace no longer `wanted`.
    pub(super) fn retain(&self, wanted: impl Fn(&str) -> bool) {
        let mut watching = self.watching.lock().unwrap_or_else(|p| p.into_inner());
        watching.retain(|ns, task| {
            let keep = wanted(ns);
            if !keep {
                task.abort();
            }
            keep
        });
    }

    /// The namespaces watched now.
    #[cfg(test)]
    pub(super) fn namespaces(&self) -> Vec<String> {
        let watching = self.watching.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<String> = watching.keys().cloned().collect();
        all.sort();
        all
    }
}

impl Drop for SecretWatches {
    fn drop(&mut self) {
        let watching = self.watching.get_mut().unwrap_or_else(|p| p.into_inner());
        for (_, task) in watching.drain() {
            task.abort();
        }
    }
}

/// Forward the Secrets of `ns` that change until the controller stops listening. A namespace that
/// has not granted access is retried with the watcher's backoff; the resources there say how to
/// grant it.
async fn watch_namespace(client: Client, ns: String, mut changes: mpsc::Sender<SecretEvent>) {
    let api: Api<PartialObjectMeta<Secret>> = Api::namespaced(client, &ns);
    let mut seen = std::pin::pin!(
        watcher(api, watcher::Config::default())
            .default_backoff()
            .touched_objects()
    );
    while let Some(event) = seen.next().await {
        match event {
            Ok(secret) => {
                if changes.send(Ok(secret)).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::warn!(namespace = %ns, error = %e, "cannot watch Secrets in this namespace; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_grant_command_names_the_namespace_role_and_account() {
        let grant = SecretGrant {
            cluster_role: "cso-verification-codes".into(),
            service_account: Some("operators:cso".into()),
        };
        assert_eq!(
            grant.command("team-a"),
            "kubectl create rolebinding cognito-sms-verification-codes -n team-a \
             --clusterrole=cso-verification-codes --serviceaccount=operators:cso"
        );
    }

    type Handle = tower_test::mock::Handle<http::Request<kube::client::Body>, http::Response<kube::client::Body>>;

    fn client() -> (Client, Handle) {
        let (service, handle) = tower_test::mock::pair();
        (Client::new(service, "default"), handle)
    }

    /// Answer the next request with a 403 as an API server refuses a ServiceAccount; its path.
    async fn forbid(mut handle: Handle) -> String {
        let (request, send) = handle.next_request().await.expect("a request");
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
            "code": 403, "message": "secrets \"codes\" is forbidden"});
        send.send_response(
            http::Response::builder()
                .status(403)
                .body(kube::client::Body::from(serde_json::to_vec(&status).unwrap()))
                .unwrap(),
        );
        request.uri().path().to_string()
    }

    #[tokio::test]
    async fn a_namespace_that_did_not_grant_access_is_told_the_command_that_does() {
        let (client, handle) = client();
        let grant = Arc::new(SecretGrant {
            cluster_role: "cso-verification-codes".into(),
            service_account: Some("operators:cso".into()),
        });
        let served = tokio::spawn(forbid(handle));
        let why = KubeSecrets::new(client, "team-a", grant.clone())
            .code("codes", "k")
            .await
            .unwrap_err();
        assert_eq!(served.await.unwrap(), "/api/v1/namespaces/team-a/secrets/codes");
        assert!(why.message.contains(&grant.command("team-a")), "{why}");
        assert!(why.message.contains("403 Forbidden"), "{why}");
        assert!(why.forbidden, "a refusal needs a person");
    }

    #[tokio::test]
    async fn namespaces_are_watched_while_wanted() {
        let (watches, _seen) = SecretWatches::new(client().0);
        watches.follow("team-a", true);
        watches.follow("team-b", false);
        watches.follow("team-c", true);
        assert_eq!(watches.namespaces(), ["team-a", "team-c"]);
        watches.follow("team-a", false);
        assert_eq!(watches.namespaces(), ["team-c"]);
        watches.retain(|ns| ns != "team-c");
        assert!(watches.namespaces().is_empty());
    }
}
