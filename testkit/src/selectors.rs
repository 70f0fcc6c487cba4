//! Label and field selectors, for lists and watches, parsed once per request.

use std::collections::BTreeMap;

use serde_json::Value;

/// A request's `labelSelector` and `fieldSelector`: equality-based label selectors (`a=b`,
/// `a==b`, `a!=b`, `a`, `!a`) and field selectors (`=`, `==`, `!=`) on any dotted field path
/// (`metadata.name`, `involvedObject.uid`, ...). Set-based label selectors (`in`, `notin`) are
/// not supported.
#[derive(Debug, Default)]
pub(crate) struct Selector {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
}

/// One comma-separated part of a selector.
#[derive(Debug)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
    /// A field requirement without a value, which nothing passes.
    Never(String),
}

impl Requirement {
    fn parse(text: &str) -> Self {
        if let Some((k, v)) = text.split_once("!=") {
            Self::NotEquals(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = text.split_once('=') {
            Self::Equals(k.trim().into(), v.trim_start_matches('=').trim().into())
        } else if let Some(k) = text.strip_prefix('!') {
            Self::Absent(k.trim().into())
        } else {
            Self::Exists(text.trim().into())
        }
    }

    /// Whether the value found for this requirement's key passes it.
    fn passes(&self, found: Option<&Value>) -> bool {
        match self {
            Self::Equals(_, v) => found.and_then(Value::as_str) == Some(v),
            Self::NotEquals(_, v) => found.and_then(Value::as_str) != Some(v),
            Self::Exists(_) => found.is_some(),
            Self::Absent(_) => found.is_none(),
            Self::Never(_) => false,
        }
    }

    fn key(&self) -> &str {
        match self {
            Self::Equals(k, _) | Self::NotEquals(k, _) | Self::Exists(k) | Self::Absent(k) | Self::Never(k) => k,
        }
    }
}

impl Selector {
    pub(crate) fn from_query(q: &BTreeMap<String, String>) -> Self {
        let parse = |name: &str| {
            let text = q.get(name).map(String::as_str).unwrap_or_default();
            text.split(',')
                .filter(|c| !c.trim().is_empty())
                .map(Requirement::parse)
                .collect()
        };
        let fields: Vec<Requirement> = parse("fieldSelector");
        Self {
            labels: parse("labelSelector"),
            // Field selectors compare values: a bare key selects nothing.
            fields: fields
                .into_iter()
                .map(|r| match r {
                    Requirement::Exists(k) | Requirement::Absent(k) => Requirement::Never(k),
                    other => other,
                })
                .collect(),
        }
    }

    /// Whether the selector selects everything.
    pub(crate) fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// Whether `obj` passes every requirement.
    pub(crate) fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        self.labels.iter().all(|r| r.passes(labels.get(r.key())))
            && self.fields.iter().all(|r| {
                // Any dotted field path, e.g. metadata.name or involvedObject.uid.
                let found = r.key().split('.').try_fold(obj, |cur, seg| cur.get(seg));
                r.passes(found.filter(|v| !v.is_null()))
            })
    }
}
