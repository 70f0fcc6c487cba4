//! What the API server would refuse, decided without one: the checks `reconcile -f` runs on a
//! file before it calls AWS at all.
//!
//! A file is refused as a whole when any of its documents would be, and the refusal lists every
//! problem of every document, each with its field path. The checks, in order:
//!
//! 1. the YAML itself (`yaml`): at most [`MAX_INPUT_BYTES`], UTF-8, no duplicate mapping keys,
//!    no alias expansion or nesting beyond fixed bounds, so that reading a file takes bounded time
//!    and memory whatever it holds;
//! 2. the kind: `cognitosms.io/v1alpha1` `CognitoSmsConfig` or `v1` `Secret`;
//! 3. the object against its OpenAPI schema (`schema`): the CRD's `openAPIV3Schema` for
//!    resources, the Kubernetes `Secret` schema for Secrets, with unknown fields refused as under
//!    `kubectl`'s default strict field validation;
//! 4. the CRD's CEL rules (`x-kubernetes-validations`);
//! 5. object metadata and Secret keys as the API server validates them (`metadata`).
//!
//! Nothing here takes a client; the schemas are compiled once per process.

use serde_json::Value;

mod metadata;
mod schema;
mod yaml;

pub use yaml::{InputProblem, MAX_INPUT_BYTES};

/// One reason an object would be refused: where, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field, as the API server names it: `spec.sandboxPhoneNumbers[0].phoneNumber`,
    /// `metadata.labels[app.kubernetes.io/name]`; empty for the object as a whole.
    pub path: String,
    pub message: String,
}

impl Violation {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The kinds a one-shot file may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    CognitoSmsConfig,
    Secret,
}

impl Kind {
    fn of(object: &Value) -> Option<Kind> {
        let text = |field: &str| object.get(field).and_then(Value::as_str);
        match (text("apiVersion")?, text("kind")?) {
            ("cognitosms.io/v1alpha1", "CognitoSmsConfig") => Some(Kind::CognitoSmsConfig),
            ("v1", "Secret") => Some(Kind::Secret),
            _ => None,
        }
    }
}

/// A document the API server would accept, as it would store it: null values the schema does
/// not allow removed or replaced by the field's default.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// Position of the document in the file, from 1.
    pub index: usize,
    pub kind: Kind,
    pub object: Value,
}

/// Why one document of a file would be refused.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("document {index}: not valid YAML: {reason}")]
    Yaml { index: usize, reason: String },
    #[error(
        "document {index}: unsupported kind {api_version}/{kind}; expected cognitosms.io/v1alpha1 CognitoSmsConfig or v1 Secret"
    )]
    UnsupportedKind {
        index: usize,
        api_version: String,
        kind: String,
    },
    #[error("document {index}: {kind} {name}: {}", list(violations))]
    Invalid {
        index: usize,
        kind: String,
        name: String,
        violations: Vec<Violation>,
    },
}

impl DocumentError {
    /// The field paths this document is refused for (none for YAML and kind errors).
    pub fn paths(&self) -> Vec<&str> {
        match self {
            DocumentError::Invalid { violations, .. } => violations.iter().map(|v| v.path.as_str()).collect(),
            _ => vec![],
        }
    }
}

/// One line for a single problem, a bulleted list for several.
fn list(violations: &[Violation]) -> String {
    match violations {
        [one] => one.to_string(),
        many => many.iter().fold(format!("{} problems:", many.len()), |text, v| {
            format!("{text}\n  - {v}")
        }),
    }
}

/// Why a file is refused: a problem with the input as a whole, or every refused document.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Input(#[from] InputProblem),
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Documents(Vec<DocumentError>),
}

impl Refusal {
    /// Every field path the file is refused for.
    pub fn paths(&self) -> Vec<&str> {
        match self {
            Refusal::Input(_) => vec![],
            Refusal::Documents(errors) => errors.iter().flat_map(DocumentError::paths).collect(),
        }
    }
}

/// Review a multi-document YAML file as the API server would review each of its objects, and
/// return them all, or every reason to refuse the file. Empty documents are skipped.
pub fn review(input: &[u8]) -> Result<Vec<Admitted>, Refusal> {
    let documents = yaml::documents(input)?;
    let mut admitted = vec![];
    let mut errors = vec![];
    for (i, document) in documents.into_iter().enumerate() {
        let index = i + 1;
        let outcome = document
            .map_err(|reason| DocumentError::Yaml { index, reason })
            .and_then(|object| review_object(index, object));
        match outcome {
            Ok(Some(doc)) => admitted.push(doc),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(admitted)
    } else {
        Err(Refusal::Documents(errors))
    }
}

/// Review document `index`; `None` for an empty document.
fn review_object(index: usize, mut object: Value) -> Result<Option<Admitted>, DocumentError> {
    if object.is_null() {
        return Ok(None);
    }
    let text = |object: &Value, field: &str| object[field].as_str().unwrap_or("(none)").to_string();
    let Some(kind) = Kind::of(&object) else {
        return Err(DocumentError::UnsupportedKind {
            index,
            api_version: text(&object, "apiVersion"),
            kind: text(&object, "kind"),
        });
    };
    let mut violations = schema::review(kind, &mut object);
    violations.extend(metadata::review(kind, &object));
    if violations.is_empty() {
        return Ok(Some(Admitted { index, kind, object }));
    }
    let name = object.pointer("/metadata/name").and_then(Value::as_str);
    Err(DocumentError::Invalid {
        index,
        kind: text(&object, "kind"),
        name: name.map_or_else(|| "(unnamed)".into(), |n| clipped(n.to_string())),
        violations,
    })
}

/// A value as JSON, cut short past 64 characters.
fn shown(value: &Value) -> String {
    clipped(value.to_string())
}

/// `text`, cut short past 64 characters.
fn clipped(text: String) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// Field `name` of the object at `path`, as the API server writes it: `spec.role`, or
/// bracketed when the name is not an identifier: `metadata.labels[app.kubernetes.io/name]`.
fn child(path: &str, name: &str) -> String {
    let identifier = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match (path.is_empty(), identifier) {
        (_, false) => format!("{path}[{name}]"),
        (true, true) => name.to_string(),
        (false, true) => format!("{path}.{name}"),
    }
}

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod tests;
