//! What the API server would refuse, decided without one: the checks `reconcile -f` runs on a
//! file before it calls AWS at all.
//!
//! A file is refused as a whole when any of its documents would be, and the refusal lists every
//! problem of every document, each with its field path. The checks, in order:
//!
//! 1. the YAML itself (`yaml`): at most [`MAX_INPUT_BYTES`], UTF-8, no duplicate mapping keys,
//!    no alias expansion or nesting beyond fixed bounds, so that reading a file takes bounded time
//!    and memory whatever it holds;
//! 2. the kind: `cognitosms.io/v1alpha1` `CognitoSmsConfig` or `CognitoSmsAccount`, `v1`
//!    `Secret` or `v1` `Namespace`;
//! 3. the object against its OpenAPI schema (`schema`): the CRD's `openAPIV3Schema` for the
//!    operator's resources, the Kubernetes schema for Secrets and Namespaces, with unknown fields
//!    refused as under `kubectl`'s default strict field validation;
//! 4. the CRD's CEL rules (`x-kubernetes-validations`);
//! 5. object metadata and Secret keys as the API server validates them (`metadata`);
//! 6. across the file, what the chart's admission policy refuses: a namespace listed by name in
//!    two `CognitoSmsAccount`s (`overlap`).
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

    /// A field the schema does not declare, which strict field validation refuses.
    fn unknown_field(path: impl Into<String>, name: &str) -> Self {
        Violation::new(path, format!("{UNKNOWN_FIELD}`{name}`"))
    }

    fn is_unknown_field(&self) -> bool {
        self.message.starts_with(UNKNOWN_FIELD)
    }
}

const UNKNOWN_FIELD: &str = "unknown field ";

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
    CognitoSmsAccount,
    Secret,
    Namespace,
}

impl Kind {
    fn of(object: &Value) -> Option<Kind> {
        let text = |field: &str| object.get(field).and_then(Value::as_str);
        match (text("apiVersion")?, text("kind")?) {
            ("cognitosms.io/v1alpha1", "CognitoSmsConfig") => Some(Kind::CognitoSmsConfig),
            ("cognitosms.io/v1alpha1", "CognitoSmsAccount") => Some(Kind::CognitoSmsAccount),
            ("v1", "Secret") => Some(Kind::Secret),
            ("v1", "Namespace") => Some(Kind::Namespace),
            _ => None,
        }
    }

    /// Whether objects of this kind live in a namespace. The API server drops the namespace a
    /// cluster-scoped object names.
    pub fn namespaced(self) -> bool {
        matches!(self, Kind::CognitoSmsConfig | Kind::Secret)
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

/// The documents of a file that the API server would accept: those of the kinds the one-shot
/// reads, and what the reader should know about the rest.
#[derive(Debug, Default)]
pub struct Reviewed {
    pub documents: Vec<Admitted>,
    /// Documents of other kinds, left unread, and statuses ignored, one line each.
    pub notes: Vec<String>,
}

/// Why one document of a file would be refused.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("document {index}: not valid YAML: {reason}")]
    Yaml { index: usize, reason: String },
    #[error(
        "document {index}: unsupported kind {api_version}/{kind}; expected cognitosms.io/v1alpha1 CognitoSmsConfig or CognitoSmsAccount, or v1 Secret or Namespace"
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
/// return them all, or every reason to refuse the file. Empty documents are skipped, and so are
/// documents of kinds outside this operator's group other than Secrets, with a note: the one-shot
/// neither reads nor checks them.
pub fn review(input: &[u8]) -> Result<Reviewed, Refusal> {
    let documents = yaml::documents(input)?;
    let mut reviewed = Reviewed::default();
    let mut errors = vec![];
    for (i, document) in documents.into_iter().enumerate() {
        let index = i + 1;
        let outcome = document
            .map_err(|reason| DocumentError::Yaml { index, reason })
            .and_then(|object| review_object(index, object, &mut reviewed.notes));
        match outcome {
            Ok(Some(doc)) => reviewed.documents.push(doc),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    errors.extend(listed_twice(&reviewed.documents));
    if errors.is_empty() {
        Ok(reviewed)
    } else {
        Err(Refusal::Documents(errors))
    }
}

/// Review document `index`; `None` for an empty document or one of a kind left unread (with a
/// note about it).
fn review_object(index: usize, mut object: Value, notes: &mut Vec<String>) -> Result<Option<Admitted>, DocumentError> {
    if object.is_null() {
        return Ok(None);
    }
    let text = |object: &Value, field: &str| object[field].as_str().unwrap_or("(none)").to_string();
    let Some(kind) = Kind::of(&object) else {
        let (api_version, kind) = (text(&object, "apiVersion"), text(&object, "kind"));
        if outside_reach(&object) {
            notes.push(format!(
                "document {index}: {api_version}/{kind} left unread and unchecked: reconcile -f reads CognitoSmsConfig, CognitoSmsAccount, Secret and Namespace documents only"
            ));
            return Ok(None);
        }
        return Err(DocumentError::UnsupportedKind {
            index,
            api_version,
            kind,
        });
    };
    // A resource is created without its status, which is written through its own subresource:
    // the API server ignores the status a new object carries. Checked apart, below.
    let status = match kind {
        Kind::Secret => None,
        _ => object.as_object_mut().and_then(|o| o.remove("status")),
    };
    if !kind.namespaced()
        && let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.remove("namespace");
    }
    let schema = schema::review(kind, &mut object);
    let metadata = metadata::review(kind, &object);
    let mut violations = schema.violations;
    violations.extend(metadata.violations);
    violations.extend(schema::review_rules(
        kind,
        &object,
        schema.blocks_cel || metadata.blocks_cel,
    ));
    if let Some(status) = status {
        match with_status(index, kind, object.clone(), status, notes) {
            Ok(whole) if violations.is_empty() => object = whole,
            Ok(_) => {}
            Err(unknown) => violations.extend(unknown),
        }
    }
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

/// The `CognitoSmsAccount`s of `documents` that list by name a namespace an earlier one lists,
/// refused as the chart's admission policy refuses the later of two such objects (see
/// [`listed_elsewhere`]).
fn listed_twice(documents: &[Admitted]) -> Vec<DocumentError> {
    let accounts: Vec<&Admitted> = documents.iter().filter(|d| d.kind == Kind::CognitoSmsAccount).collect();
    let name = |d: &Admitted| {
        d.object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let namespaces = |d: &Admitted| -> Vec<String> {
        d.object
            .pointer("/spec/namespaces")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(String::from))
            .collect()
    };
    let mut errors = vec![];
    for (i, account) in accounts.iter().enumerate() {
        let mine = namespaces(account);
        let refusals: Vec<Violation> = accounts[..i]
            .iter()
            .filter(|earlier| name(earlier) != name(account))
            .filter_map(|earlier| {
                let theirs = namespaces(earlier);
                let shared: Vec<String> = mine.iter().filter(|n| theirs.contains(n)).cloned().collect();
                (!shared.is_empty()).then(|| Violation::new("", listed_elsewhere(&shared, &name(earlier))))
            })
            .collect();
        if !refusals.is_empty() {
            errors.push(DocumentError::Invalid {
                index: account.index,
                kind: "CognitoSmsAccount".into(),
                name: clipped(name(account)),
                violations: refusals,
            });
        }
    }
    errors
}

/// Why a `CognitoSmsAccount` may not list `shared` by name: `other` lists them already. The
/// chart's `ValidatingAdmissionPolicy` builds the same message (`messageExpression`).
pub fn listed_elsewhere(shared: &[String], other: &str) -> String {
    let noun = if shared.len() == 1 { "namespace" } else { "namespaces" };
    format!(
        "{noun} {} already listed by CognitoSmsAccount {other}: a namespace may be listed by name in one CognitoSmsAccount only",
        shared.join(", ")
    )
}

/// Whether a document without a supported kind is of a kind the one-shot leaves to the cluster:
/// one that names an apiVersion and a kind outside this operator's group. (The API server serves
/// no other kind in the group, and refuses a document that names no kind.)
fn outside_reach(object: &Value) -> bool {
    let (Some(api_version), Some(kind)) = (object["apiVersion"].as_str(), object["kind"].as_str()) else {
        return false;
    };
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    let ours = <crate::crd::CognitoSmsConfig as kube::Resource>::group(&());
    !api_version.is_empty() && !kind.is_empty() && group != ours
}

/// Review the `status` that came with `object`. The API server resets the status of an object
/// it creates before validating it, but its strict decoding refuses unknown fields there first:
/// those are violations. Otherwise `object` comes back with `status` when the operator could have
/// written that status, else without it and with a note saying why, so that the one-shot starts
/// from a status only when it is one.
fn with_status(
    index: usize,
    kind: Kind,
    object: Value,
    status: Value,
    notes: &mut Vec<String>,
) -> Result<Value, Vec<Violation>> {
    let mut whole = object.clone();
    whole["status"] = status;
    let (unknown, problems): (Vec<Violation>, Vec<Violation>) = schema::review(kind, &mut whole)
        .violations
        .into_iter()
        .filter(|v| v.path == "status" || v.path.starts_with("status.") || v.path.starts_with("status["))
        .partition(Violation::is_unknown_field);
    if !unknown.is_empty() {
        return Err(unknown);
    }
    if problems.is_empty() {
        return Ok(whole);
    }
    notes.push(format!(
        "document {index}: status ignored, as the API server ignores it on creation: {}",
        list(&problems)
    ));
    Ok(object)
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
pub(crate) mod corpus;
