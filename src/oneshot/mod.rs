//! `reconcile -f FILE`: reconcile the resources in a YAML file once against AWS, without
//! Kubernetes, with the same code the controller runs, and print them with their status.

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

use std::collections::{BTreeMap, HashSet};

use crate::account::{Code, NumberAt, NumberIds};
use crate::account_cache::AccountCache;
use crate::acting::{ExternalIds, Tenancy};
use crate::admission::{self, Admitted, Kind};
use crate::aws::Aws;
use crate::conditions::ConditionStatus;
use crate::crd::{CognitoSmsAccount, CognitoSmsConfig};
use crate::desired::Change;
use crate::plan::tenancy::{account_status, not_acting};
use crate::reconcile::{self, Env, Mode, SecretCode, SecretError, SecretSource};
use crate::tenancy::Selection;

/// Why a file cannot be reconciled.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// What the API server would refuse, every problem of the file.
    #[error(transparent)]
    Refused(#[from] admission::Refusal),
    /// An admitted object the operator's types still cannot hold.
    #[error("document {index}: {message}")]
    Invalid { index: usize, message: String },
    #[error("no CognitoSmsConfig in the input")]
    Empty,
    /// A resource's namespace that an account may select by its labels, which the file does not
    /// give: which account the resource acts in cannot be known.
    #[error(
        "CognitoSmsConfig {namespace}/{name}: CognitoSmsAccount {account} selects namespaces by their labels, and \
         the input has no Namespace {namespace}: add the Namespace document, with its labels, so that the account \
         the resource acts in is known"
    )]
    NamespaceUnknown {
        namespace: String,
        name: String,
        account: String,
    },
}

/// The objects a one-shot file holds.
#[derive(Debug, Default)]
pub struct Input {
    pub resources: Vec<CognitoSmsConfig>,
    /// Secrets the resources and the accounts reference, as a cluster would hold them.
    pub secrets: Vec<Secret>,
    /// Which AWS account the resources of which namespaces act in, as in a cluster.
    pub accounts: Vec<CognitoSmsAccount>,
    /// The namespaces, for the accounts that select them by label.
    pub namespaces: Vec<Namespace>,
    /// What the reader of the file should know: documents left unread, statuses ignored.
    pub notes: Vec<String>,
}

/// Parse a multi-document YAML file and admit its objects as the API server would (see
/// [`admission`]: size, YAML, kinds, schema, CEL rules, metadata). Every document is checked
/// before any is returned, so a file with one bad document yields nothing but the reasons.
pub fn parse(input: impl AsRef<[u8]>) -> Result<Input, InputError> {
    let reviewed = admission::review(input.as_ref())?;
    let mut parsed = Input {
        notes: reviewed.notes,
        ..Input::default()
    };
    for document in reviewed.documents {
        match document.kind {
            Kind::CognitoSmsConfig => {
                let mut res: CognitoSmsConfig = typed(document)?;
                in_namespace(&mut res.metadata);
                res.metadata.generation.get_or_insert(1);
                parsed.resources.push(res);
            }
            Kind::Secret => {
                let mut secret: Secret = typed(document)?;
                in_namespace(&mut secret.metadata);
                parsed.secrets.push(secret);
            }
            Kind::CognitoSmsAccount => parsed.accounts.push(typed(document)?),
            Kind::Namespace => {
                let mut namespace: Namespace = typed(document)?;
                // As the API server labels every namespace, for selectors to match it by name.
                let name = namespace.metadata.name.clone().unwrap_or_default();
                namespace
                    .metadata
                    .labels
                    .get_or_insert_default()
                    .insert(NAME_LABEL.into(), name);
                parsed.namespaces.push(namespace);
            }
        }
    }
    if parsed.resources.is_empty() {
        return Err(InputError::Empty);
    }
    if let Some(account) = parsed.accounts.iter().find(|a| a.spec.namespace_selector.is_some()) {
        let given = |ns: &str| parsed.namespaces.iter().any(|n| n.metadata.name.as_deref() == Some(ns));
        if let Some(res) = parsed
            .resources
            .iter()
            .find(|r| !given(r.metadata.namespace.as_deref().unwrap_or_default()))
        {
            return Err(InputError::NamespaceUnknown {
                namespace: res.metadata.namespace.clone().unwrap_or_default(),
                name: res.metadata.name.clone().unwrap_or_default(),
                account: account.metadata.name.clone().unwrap_or_default(),
            });
        }
    }
    Ok(parsed)
}

/// The label the API server gives every namespace: its name.
const NAME_LABEL: &str = "kubernetes.io/metadata.name";

fn typed<T: serde::de::DeserializeOwned>(document: Admitted) -> Result<T, InputError> {
    serde_json::from_value(document.object).map_err(|e| InputError::Invalid {
        index: document.index,
        message: e.to_string(),
    })
}

/// Put an object without a namespace where a request without one puts it: `default`.
fn in_namespace(metadata: &mut ObjectMeta) {
    if metadata.namespace.as_deref().is_none_or(str::is_empty) {
        metadata.namespace = Some("default".into());
    }
}

/// One resource after its reconcile.
pub struct Reconciled {
    pub resource: CognitoSmsConfig,
    pub changes: Vec<Change>,
}

/// What a run did: the resources after their reconcile, the accounts with the status a cluster's
/// operator would give them, and the namespaces as given.
pub struct Output {
    pub resources: Vec<Reconciled>,
    pub accounts: Vec<CognitoSmsAccount>,
    pub namespaces: Vec<Namespace>,
}

/// How a run acts.
#[derive(Debug, Clone)]
pub struct Run {
    pub mode: Mode,
    /// The longest one resource's reconcile may take; past it the resource reports
    /// `ReconcileTimedOut`.
    pub deadline: std::time::Duration,
    /// The installation this run acts as (see [`INSTALLATION`]).
    pub installation: String,
    /// Whether resources no `CognitoSmsAccount` of the file selects act with the run's own
    /// credentials.
    pub allow_operator_identity: bool,
    /// The namespace whose Secrets (in the file) hold the accounts' external IDs, as the
    /// operator's namespace does in a cluster.
    pub operator_namespace: String,
}

/// Verification codes from the Secrets in the same file (`data` or `stringData`).
pub struct FileSecrets<'a> {
    secrets: &'a [Secret],
    namespace: String,
}

impl SecretSource for FileSecrets<'_> {
    async fn code(&self, name: &str, key: &str) -> Result<Option<SecretCode>, SecretError> {
        let secret = self.secrets.iter().find(|s| {
            s.metadata.name.as_deref() == Some(name)
                && s.metadata.namespace.as_deref().unwrap_or("default") == self.namespace
        });
        let Some(secret) = secret else { return Ok(None) };
        let value = secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(key).cloned())
            .or_else(|| {
                secret
                    .data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            });
        Ok(value.as_deref().and_then(Code::new).map(|code| SecretCode {
            code,
            version: secret.metadata.resource_version.clone(),
        }))
    }
}

/// The installation a one-shot run records on the pools it manages unless told otherwise: the
/// pools a cluster manages are then left to the cluster.
pub const INSTALLATION: &str = "reconcile-f";

/// Reconcile every resource in the file once, as `run` says. Each resource acts in the account
/// the file's `CognitoSmsAccount`s select for its namespace, as in a cluster, with the run's own
/// credentials assuming the account's role. Resources sharing an account and an SNS region share
/// one read of the account's SNS state, as in the controller. Of the resources naming one user
/// pool in one account, the first in the file manages it; the others report `PoolClaimed` and
/// change nothing.
///
/// Status identifies phone numbers under a key made for this run: the statuses of a file are
/// ignored (see [`parse`]), and a key kept nowhere cannot be used to test guesses later.
pub async fn reconcile_all(aws: &Aws, input: Input, run: &Run) -> Output {
    let labelled: Vec<(String, BTreeMap<String, String>)> = input
        .namespaces
        .iter()
        .map(|n| {
            (
                n.metadata.name.clone().unwrap_or_default(),
                n.metadata.labels.clone().unwrap_or_default(),
            )
        })
        .collect();
    // A namespace the file does not give exists all the same (no account selects it by label).
    let mut namespaces: Vec<(&str, BTreeMap<String, String>)> =
        labelled.iter().map(|(n, l)| (n.as_str(), l.clone())).collect();
    for res in &input.resources {
        let ns = res.metadata.namespace.as_deref().unwrap_or_default();
        if !namespaces.iter().any(|(n, _)| *n == ns) {
            namespaces.push((ns, BTreeMap::from([(NAME_LABEL.to_string(), ns.to_string())])));
        }
    }
    let tenancy = Tenancy::fixed(
        aws.clone(),
        input.accounts.clone(),
        &namespaces,
        run.allow_operator_identity,
        ExternalIds::Listed {
            namespace: run.operator_namespace.clone(),
            secrets: input.secrets.clone(),
        },
        &run.installation,
    );
    // Keyed by account and region: accounts never share what is cached.
    let cache = AccountCache::new(std::time::Duration::from_secs(3600));
    let number_ids = NumberIds::ephemeral();
    let mut out = vec![];
    let mut acted_by: Vec<Option<String>> = vec![];
    for (i, resource) in input.resources.iter().enumerate() {
        let report = match tenancy.acting_for(resource).await {
            Err(why) => not_acting(resource, &why, Timestamp::now()),
            Ok((aws, acting)) => {
                // The pools and numbers of other resources count only where they act: the same
                // pool ID in two accounts is two pools.
                let account = account_key(&tenancy, resource);
                let same_account = |other: &CognitoSmsConfig| account_key(&tenancy, other) == account;
                let manager = input.resources[..i]
                    .iter()
                    .find(|other| other.spec.user_pool_id == resource.spec.user_pool_id && same_account(other))
                    .map(|other| crate::desired::Owner::of(other).to_string());
                let claimed: HashSet<NumberAt> = input
                    .resources
                    .iter()
                    .enumerate()
                    .filter(|(j, other)| *j != i && same_account(other))
                    .flat_map(|(_, other)| reconcile::numbers_of(other))
                    .collect();
                let secrets = FileSecrets {
                    secrets: &input.secrets,
                    namespace: resource.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
                };
                let env = Env::aws(&aws, &cache, &secrets, &claimed, &run.installation, &number_ids)
                    .with_pool_managed_by(manager)
                    .acting(acting);
                reconcile::sync_within(&env, resource, run.mode, Timestamp::now(), run.deadline).await
            }
        };
        let mut resource = resource.clone();
        resource.status = Some(report.status);
        acted_by.push(selected_by(&resource));
        out.push(Reconciled {
            resource,
            changes: report.changes,
        });
    }
    let mut accounts = vec![];
    for account in &input.accounts {
        let name = account.metadata.name.as_deref();
        let serving = acted_by.iter().filter(|by| by.as_deref() == name).count();
        let found = tenancy.findings(account, serving, serving > 0).await;
        let mut account = account.clone();
        account.status = Some(account_status(&account, &found, Timestamp::now()));
        accounts.push(account);
    }
    Output {
        resources: out,
        accounts,
        namespaces: input.namespaces,
    }
}

/// Which AWS account `res` acts in, as far as the file tells: the account ID of the role its
/// namespace is mapped to, or empty for the run's own identity (and for a resource that does not
/// act at all).
fn account_key(tenancy: &Tenancy, res: &CognitoSmsConfig) -> String {
    match tenancy.selection(res.metadata.namespace.as_deref().unwrap_or_default()) {
        Ok(Selection::Mapped(mapping)) => mapping.account_id,
        _ => String::new(),
    }
}

/// The `CognitoSmsAccount` a reconciled resource acted through, if it acted through one.
fn selected_by(res: &CognitoSmsConfig) -> Option<String> {
    let status = res.status.as_ref()?;
    let acted = status
        .conditions
        .iter()
        .any(|c| c.type_ == crate::conditions::types::ACCOUNT_SELECTED && c.status == "True");
    acted.then(|| status.account.as_ref()?.selected_by.clone()).flatten()
}

/// The resources as YAML documents; each preceded by comment lines listing the AWS changes made
/// (or, in a dry run, that would be made), so the output stays valid YAML. Then the accounts
/// with their status and the namespaces, so that the output, given again, acts in the same
/// accounts. (Secrets are left out: their values are not to be printed.)
pub fn render(output: &Output, mode: Mode) -> String {
    let mut text = String::new();
    for r in &output.resources {
        let name = format!(
            "{}/{}",
            r.resource.metadata.namespace.as_deref().unwrap_or("default"),
            r.resource.metadata.name.as_deref().unwrap_or_default()
        );
        let verb = if mode == Mode::DryRun { "would make" } else { "made" };
        text.push_str(&format!("# {name}: {verb} {} change(s) in AWS\n", r.changes.len()));
        for c in &r.changes {
            text.push_str(&format!("#   - {c}\n"));
        }
        text.push_str("# conditions:\n");
        for c in r.resource.status.iter().flat_map(|s| &s.conditions) {
            let detail = if ConditionStatus::of(c) == ConditionStatus::True {
                String::new()
            } else {
                format!(": {}", c.message)
            };
            text.push_str(&format!("#   {}={} ({}){detail}\n", c.type_, c.status, c.reason));
        }
        text.push_str("---\n");
        text.push_str(&yaml(&r.resource));
    }
    for account in &output.accounts {
        let status = account.status.clone().unwrap_or_default();
        text.push_str(&format!(
            "# CognitoSmsAccount {}: {} resource(s) act through it\n",
            account.metadata.name.as_deref().unwrap_or_default(),
            status.resources.unwrap_or_default()
        ));
        for c in &status.conditions {
            text.push_str(&format!("#   {}={} ({}): {}\n", c.type_, c.status, c.reason, c.message));
        }
        text.push_str("---\n");
        text.push_str(&yaml(account));
    }
    for namespace in &output.namespaces {
        text.push_str("---\n");
        text.push_str(&yaml(namespace));
    }
    text
}

fn yaml(object: &impl serde::Serialize) -> String {
    serde_norway::to_string(object).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
}

/// What the API server refuses, refused here too: the admission corpus through [`parse`].
#[cfg(test)]
mod admission_corpus;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resources_and_secrets() {
        let input = parse(
            r#"
apiVersion: cognitosms.io/v1alpha1
kind: CognitoSmsConfig
metadata: {name: app}
spec: {userPoolId: eu-west-1_Abc}
---
apiVersion: v1
kind: Secret
metadata: {name: codes}
stringData: {qa-phone: "123456"}
"#,
        )
        .unwrap();
        assert_eq!(input.resources.len(), 1);
        assert_eq!(input.resources[0].metadata.namespace.as_deref(), Some("default"));
        assert_eq!(input.secrets.len(), 1);
    }

    #[test]
    fn bad_input_is_refused_with_the_reason() {
        let cases = [
            ("kind: Pod\napiVersion: v1\n", "no CognitoSmsConfig"),
            (
                "kind: Widget\napiVersion: cognitosms.io/v1alpha1\n",
                "unsupported kind cognitosms.io/v1alpha1/Widget",
            ),
            (
                "apiVersion: cognitosms.io/v1alpha1\nkind: CognitoSmsConfig\nmetadata: {name: a}\nspec: {}\n",
                "missing field `userPoolId`",
            ),
            (
                "apiVersion: cognitosms.io/v1alpha1\nkind: CognitoSmsConfig\nmetadata: {name: a}\nspec: {userPoolId: ap-northeast-2_A, snsRegion: ap-northeast-2}\n",
                "snsRegion ap-northeast-2 cannot be used by user pool ap-northeast-2_A",
            ),
            (
                "apiVersion: cognitosms.io/v1alpha1\nkind: CognitoSmsConfig\nmetadata: {name: a}\nspec: {userPoolId: nope}\n",
                "not of the form",
            ),
            ("a: [\n", "not valid YAML"),
            ("", "no CognitoSmsConfig"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
