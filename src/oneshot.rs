//! `reconcile -f FILE`: reconcile the resources in a YAML file once against AWS, without
//! Kubernetes, with the same code the controller runs, and print them with their status.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;

use std::collections::HashSet;

use crate::account::Code;
use crate::account_cache::AccountCache;
use crate::aws::Aws;
use crate::conditions::ConditionStatus;
use crate::crd::CognitoSmsConfig;
use crate::desired::Change;
use crate::reconcile::{self, Env, Mode, SecretCode, SecretSource};
use crate::regions;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("document {index}: not valid YAML: {source}")]
    Yaml { index: usize, source: serde_yaml::Error },
    #[error("document {index}: {kind} {name}: {message}")]
    Invalid {
        index: usize,
        kind: String,
        name: String,
        message: String,
    },
    #[error(
        "document {index}: unsupported kind {api_version}/{kind}; expected cognitosms.io/v1alpha1 CognitoSmsConfig or v1 Secret"
    )]
    UnsupportedKind {
        index: usize,
        api_version: String,
        kind: String,
    },
    #[error("no CognitoSmsConfig in the input")]
    Empty,
}

/// The objects a one-shot file holds.
#[derive(Debug, Default)]
pub struct Input {
    pub resources: Vec<CognitoSmsConfig>,
    /// Secrets the resources reference, as a cluster would hold them.
    pub secrets: Vec<Secret>,
}

/// Parse and validate a multi-document YAML file as the API server would at admission: kinds,
/// field types, the schema's CEL rules.
pub fn parse(text: &str) -> Result<Input, InputError> {
    let mut input = Input::default();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        let value = serde_json::Value::deserialize(doc).map_err(|source| InputError::Yaml { index, source })?;
        if !value.is_null() {
            add_document(&mut input, index, value)?;
        }
    }
    if input.resources.is_empty() {
        return Err(InputError::Empty);
    }
    Ok(input)
}

/// Add document number `index` of the file to `input`, or say why it cannot be.
fn add_document(input: &mut Input, index: usize, value: serde_json::Value) -> Result<(), InputError> {
    let text = |pointer: &str| value.pointer(pointer).and_then(|v| v.as_str()).map(String::from);
    let api_version = text("/apiVersion").unwrap_or_default();
    let kind = text("/kind").unwrap_or_default();
    let invalid = |message: String| InputError::Invalid {
        index,
        kind: kind.clone(),
        name: text("/metadata/name").unwrap_or_else(|| "(unnamed)".into()),
        message,
    };
    match (api_version.as_str(), kind.as_str()) {
        ("cognitosms.io/v1alpha1", "CognitoSmsConfig") => {
            let res = admit(value.clone()).map_err(invalid)?;
            input.resources.push(res);
        }
        ("v1", "Secret") => {
            let secret: Secret = serde_json::from_value(value.clone()).map_err(|e| invalid(e.to_string()))?;
            input.secrets.push(secret);
        }
        _ => {
            return Err(InputError::UnsupportedKind {
                index,
                api_version,
                kind,
            });
        }
    }
    Ok(())
}

/// A resource as the API server would admit it, with the defaults it would set.
fn admit(value: serde_json::Value) -> Result<CognitoSmsConfig, String> {
    let mut res: CognitoSmsConfig = serde_json::from_value(value).map_err(|e| e.to_string())?;
    if res.metadata.name.is_none() {
        return Err("metadata.name is required".into());
    }
    res.validate_cel().map_err(|e| e.to_string())?;
    if regions::pool_region(&res.spec.user_pool_id).is_none() {
        return Err(regions::RegionError::MalformedUserPoolId(res.spec.user_pool_id.clone()).to_string());
    }
    res.metadata.namespace.get_or_insert_with(|| "default".into());
    res.metadata.generation.get_or_insert(1);
    Ok(res)
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
    async fn code(&self, name: &str, key: &str) -> Result<Option<SecretCode>, String> {
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

/// Reconcile every resource in the file once. Resources sharing an SNS region share one read of
/// the account's SNS state, as in the controller.
pub async fn reconcile_all(aws: &Aws, input: Input, mode: Mode) -> Vec<Reconciled> {
    let cache = AccountCache::new(std::time::Duration::from_secs(3600));
    let mut out = vec![];
    for (i, resource) in input.resources.iter().enumerate() {
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
        let env = Env::aws(aws, &cache, &secrets, &claimed);
        let report = reconcile::sync(&env, resource, mode, Timestamp::now()).await;
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
        text.push_str(&serde_yaml::to_string(&r.resource).unwrap_or_else(|e| format!("# cannot render: {e}\n")));
    }
    text
}

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
stringData: {"+15555550100": "123456"}
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
            ("kind: Pod\napiVersion: v1\n", "unsupported kind v1/Pod"),
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
