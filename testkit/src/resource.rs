//! The kinds of object the stand-in serves: the built-in types it knows and the custom resources
//! read from CRD files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube::core::cel::CompiledSchema;
use serde_json::Value;

/// One kind of object the stand-in serves.
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    /// The CRD's `openAPIV3Schema`, for custom resources.
    pub schema: Option<Value>,
    pub status_subresource: bool,
    pub printer_columns: Vec<Value>,
}

impl ResourceType {
    pub(crate) fn api_version(&self) -> String {
        group_version(&self.group, &self.version)
    }

    /// `group/plural`: the first part of the key objects of this type are stored under, and what
    /// their watch events are recorded for.
    pub(crate) fn store_prefix(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    fn builtin(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            kind: kind.into(),
            namespaced,
            short_names: vec![],
            schema: None,
            status_subresource: false,
            printer_columns: vec![],
        }
    }

    /// A type from a CustomResourceDefinition document (its first served version).
    pub fn from_crd(crd: &Value) -> Option<Self> {
        let spec = crd.get("spec")?;
        let v = spec["versions"]
            .as_array()?
            .iter()
            .find(|v| v["served"].as_bool().unwrap_or(true))?;
        Some(Self {
            group: spec["group"].as_str()?.into(),
            version: v["name"].as_str()?.into(),
            plural: spec["names"]["plural"].as_str()?.into(),
            kind: spec["names"]["kind"].as_str()?.into(),
            namespaced: spec["scope"] == "Namespaced",
            short_names: spec["names"]["shortNames"]
                .as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                .unwrap_or_default(),
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            status_subresource: v.pointer("/subresources/status").is_some(),
            printer_columns: v["additionalPrinterColumns"].as_array().cloned().unwrap_or_default(),
        })
    }
}

/// A type as served: its definition, and its schema's CEL rules compiled once. It reads as its
/// [`ResourceType`].
#[derive(Debug)]
pub(crate) struct Served {
    rt: ResourceType,
    pub(crate) rules: Option<CompiledSchema>,
}

impl Served {
    pub(crate) fn new(rt: ResourceType) -> Arc<Self> {
        let rules = rt.schema.as_ref().map(kube::core::cel::compile_schema);
        Arc::new(Self { rt, rules })
    }
}

impl std::ops::Deref for Served {
    type Target = ResourceType;

    fn deref(&self) -> &ResourceType {
        &self.rt
    }
}

/// `v1` for the core group, `group/version` otherwise.
pub(crate) fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// The built-in types, then one type per CustomResourceDefinition found in `crd_files`.
pub(crate) fn load_types(crd_files: &[PathBuf]) -> std::io::Result<Vec<ResourceType>> {
    let mut types = vec![
        ResourceType::builtin("", "v1", "secrets", "Secret", true),
        ResourceType::builtin("", "v1", "namespaces", "Namespace", false),
        ResourceType::builtin("", "v1", "events", "Event", true),
        ResourceType::builtin("events.k8s.io", "v1", "events", "Event", true),
        ResourceType::builtin("coordination.k8s.io", "v1", "leases", "Lease", true),
    ];
    for file in crd_files {
        let text = std::fs::read_to_string(file)?;
        for doc in serde_norway::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc).map_err(std::io::Error::other)?;
            if v["kind"] == "CustomResourceDefinition"
                && let Some(t) = ResourceType::from_crd(&v)
            {
                types.push(t);
            }
        }
    }
    Ok(types)
}

/// The CRD files of a repository's `crds/` folder.
pub fn crd_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
