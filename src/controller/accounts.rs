//! The `CognitoSmsAccount`s' own status: whether the operator can assume the role, whether
//! another account selects the same namespaces, and how many resources act through it. Written
//! by the leader, only when it changes; an installation that watches some namespaces only writes
//! the status of the accounts that select one of them.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::watch;

use super::{Context, MANAGER};
use crate::crd::{CognitoSmsAccount, CognitoSmsConfig};
use crate::plan::tenancy::account_status;

/// How often an account's status is brought up to date when nothing about it changes: the
/// number of resources it serves, and whether its role can still be assumed (from the session
/// held, so this costs no STS call but once an hour).
const REFRESH: Duration = Duration::from_secs(60);

struct Accounts {
    ctx: Arc<Context>,
    /// The resources of every watch scope.
    resources: Vec<Store<CognitoSmsConfig>>,
}

/// Keep every `CognitoSmsAccount`'s status up to date until `stop`.
pub async fn control(ctx: Arc<Context>, resources: Vec<Store<CognitoSmsConfig>>, stop: watch::Receiver<bool>) {
    let api: Api<CognitoSmsAccount> = Api::all(ctx.client.clone());
    let mut stop = stop;
    // Any account or namespace change may start or end an overlap between accounts: all are
    // looked at again (there are few).
    let moves = ctx.tenancy.moves().map(|_| ());
    Controller::new(api, watcher::Config::default().any_semantic())
        .reconcile_all_on(moves)
        .graceful_shutdown_on(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .run(reconcile, error_policy, Arc::new(Accounts { ctx, resources }))
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "account status not written");
            }
        })
        .await;
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

async fn reconcile(account: Arc<CognitoSmsAccount>, accounts: Arc<Accounts>) -> Result<Action, Error> {
    let ctx = &accounts.ctx;
    ctx.tenancy.ready().await;
    let watched = &ctx.settings.namespaces;
    if !watched.is_empty() && !watched.iter().any(|ns| ctx.tenancy.selects(&account, ns)) {
        // Another installation's, or nobody's yet: its status is not this one's to write.
        return Ok(Action::requeue(REFRESH));
    }
    let name = account.name_any();
    let resources = accounts
        .resources
        .iter()
        .flat_map(|store| store.state())
        .filter(|r| {
            r.status
                .as_ref()
                .and_then(|s| s.account.as_ref())
                .and_then(|a| a.selected_by.as_deref())
                == Some(name.as_str())
        })
        .count();
    let found = ctx.tenancy.findings(&account, resources, false).await;
    let status = account_status(&account, &found, Timestamp::now());
    if account.status.as_ref() != Some(&status) {
        let patch = json!({
            "apiVersion": CognitoSmsAccount::api_version(&()),
            "kind": CognitoSmsAccount::kind(&()),
            "status": status,
        });
        let api: Api<CognitoSmsAccount> = Api::all(ctx.client.clone());
        api.patch_status(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&patch))
            .await?;
    }
    Ok(Action::requeue(REFRESH))
}

fn error_policy(_: Arc<CognitoSmsAccount>, error: &Error, _: Arc<Accounts>) -> Action {
    tracing::warn!(error = %error, "could not write an account's status");
    Action::requeue(REFRESH)
}
