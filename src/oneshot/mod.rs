//! `reconcile -f FILE`: reconcile the resources in a YAML file once against AWS, without
//! Kubernetes, with the same code the controller runs, and print them with their status.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

use std::collections::HashSet;

use crate::account::{Code, NumberIds};
use crate::account_cache::AccountCache;
use crate::admission::{self, Admitted, Kind};
use crate::aws::Aws;
use crate::conditions::ConditionStatus;
use crate::crd::CognitoSmsConfig;
use crate::desired::Change;
use crate::reconcile::{self, Env, Mode, SecretCode, SecretError, SecretSource};

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
}

/// The objects a one-shot file holds.
#[derive(Debug, Default)]
pub struct Input {
    pub resources: Vec<CognitoSmsConfig>,
    /// Secrets the resources reference, as a cluster would hold them.
    pub secrets: Vec<Secret>,
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
        }
    }
    if parsed.resources.is_empty() {
        return Err(InputError::Empty);
    }
    Ok(parsed)
}

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

/// Reconcile every resource in the file once, as `installation`, each within `deadline` (past it
/// the resource reports `ReconcileTimedOut`). Resources sharing an SNS region share one read of
/// the account's SNS state, as in the controller. Of the resources naming one user pool, the
/// first in the file manages it; the others report `PoolClaimed` and change nothing.
///
/// Status identifies phone numbers under a key made for this run: the statuses of a file are
/// ignored (see [`parse`]), and a key kept nowhere cannot be used to test guesses later.
pub async fn reconcile_all(
    aws: &Aws,
    input: Input,
    mode: Mode,
    deadline: std::time::Duration,
    installation: &str,
) -> Vec<Reconciled> {
    let cache = AccountCache::new(std::time::Duration::from_secs(3600));
    let number_ids = NumberIds::ephemeral();
    let mut out = vec![];
    for (i, resource) in input.resources.iter().enumerate() {
        let manager = input.resources[..i]
            .iter()
            .find(|other| other.spec.user_pool_id == resource.spec.user_pool_id)
            .map(|other| crate::desired::Owner::of(other).to_string());
        let region = reconcile::sms_region_of(resource);
        let claimed: HashSet<String> = input
            .resources
            .iter()
            .enumerate()
            .filter(|(j, other)| *j != i && region.is_some() && reconcile::sms_region_of(other) == region)
            .flat_map(|(_, other)| other.spec.sandbox_phone_numbers.iter().map(|n| n.phone_number.clone()))
            .collect();
        let secrets = FileSecrets {
            secrets: &input.secrets,
            namespace: resource.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
        };
        let env = Env::aws(aws, &cache, &secrets, &claimed, installation, &number_ids).with_pool_managed_by(manager);
        let report = reconcile::sync_within(&env, resource, mode, Timestamp::now(), deadline).await;
        let mut resource = resource.clone();
        resource.status = Some(report.status);
        out.push(Reconciled {
            resource,
            changes: report.changes,
        });
    }
    out
}

/// The resources as YAML documents; each preceded by comment lines listing the AWS changes made
/// (or, in a dry run, that would be made), so the output stays valid YAML.
pub fn render(results: &[Reconciled], mode: Mode) -> String {
    let mut text = String::new();
    for r in results {
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
        text.push_str(&serde_norway::to_string(&r.resource).unwrap_or_else(|e| format!("# cannot render: {e}\n")));
    }
    text
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
