//! Verification codes in Secrets, with least privilege: the operator reads Secrets only in the
//! namespaces that granted it, watches their metadata only in namespaces whose resources verify
//! sandbox numbers, and tells a team that has not granted it access the exact command that does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::channel::mpsc;
use futures::{SinkExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::task::AbortHandle;

use crate::account::Code;
use crate::crd::CognitoSmsConfig;
use crate::reconcile::{SecretCode, SecretSource};

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
    async fn code(&self, name: &str, key: &str) -> Result<Option<SecretCode>, String> {
        let secret = self.api.get_opt(name).await.map_err(|e| match e {
            kube::Error::Api(s) if s.code == 403 => format!(
                "the operator may not read Secrets in namespace {ns} ({} {}); grant it: {}",
                s.code,
                s.reason,
                self.grant.command(&self.namespace),
                ns = self.namespace,
            ),
            kube::Error::Api(s) => format!("{} ({})", s.reason, s.code),
            other => other.to_string(),
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

    /// Watch `obj`'s namespace if it verifies sandbox numbers; stop watching a namespace where no
    /// resource in `store` does any more.
    pub(super) fn follow(&self, obj: &CognitoSmsConfig, store: &Store<CognitoSmsConfig>) {
        let Some(ns) = obj.namespace() else { return };
        let mut watching = self.watching.lock().unwrap_or_else(|p| p.into_inner());
        // A resource being deleted needs no more codes: its cleanup only removes numbers.
        let needs_codes =
            |r: &CognitoSmsConfig| r.metadata.deletion_timestamp.is_none() && !r.spec.sandbox_phone_numbers.is_empty();
        let wanted = needs_codes(obj)
            || (watching.contains_key(&ns)
                && store
                    .state()
                    .iter()
                    .any(|r| r.namespace().as_deref() == Some(&ns) && needs_codes(r)));
        match (wanted, watching.contains_key(&ns)) {
            (true, false) => {
                let task = tokio::spawn(watch_namespace(self.client.clone(), ns.clone(), self.changes.clone()));
                watching.insert(ns, task.abort_handle());
            }
            (false, true) => {
                if let Some(task) = watching.remove(&ns) {
                    task.abort();
                }
            }
            _ => {}
        }
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
    use crate::testing::{ResourceFixture, resource};
    use kube::runtime::reflector;
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
        assert!(why.contains(&grant.command("team-a")), "{why}");
        assert!(why.contains("403 Forbidden"), "{why}");
    }

    fn with_numbers(ns: &str, name: &str, numbers: bool) -> CognitoSmsConfig {
        let numbers: Vec<_> = if numbers {
            vec![json!({"phoneNumber": "+14255550100", "verificationCodeRef": {"name": "codes", "key": "k"}})]
        } else {
            vec![]
        };
        resource(
            name,
            json!({"userPoolId": "us-east-1_Abc", "sandboxPhoneNumbers": numbers}),
        )
        .in_namespace(ns)
    }

    #[tokio::test]
    async fn only_namespaces_that_verify_numbers_are_watched() {
        let (watches, _seen) = SecretWatches::new(client().0);
        let (store, mut writer) = reflector::store();
        let a = with_numbers("team-a", "app", true);
        let b = with_numbers("team-b", "app", false);
        for obj in [&a, &b] {
            writer.apply_watcher_event(&watcher::Event::Apply(obj.clone()));
            watches.follow(obj, &store);
        }
        assert_eq!(watches.namespaces(), ["team-a"]);

        let other = with_numbers("team-a", "other", true);
        writer.apply_watcher_event(&watcher::Event::Apply(other.clone()));
        let done = with_numbers("team-a", "app", false);
        writer.apply_watcher_event(&watcher::Event::Apply(done.clone()));
        watches.follow(&done, &store);
        assert_eq!(
            watches.namespaces(),
            ["team-a"],
            "another resource there still needs codes"
        );

        let other_done = with_numbers("team-a", "other", false);
        writer.apply_watcher_event(&watcher::Event::Apply(other_done.clone()));
        watches.follow(&other_done, &store);
        assert!(watches.namespaces().is_empty());
    }
}
