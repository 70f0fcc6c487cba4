//! Table output, as `kubectl get` asks for it: the CRD's printer columns (or name and age), their
//! values found with the JSONPath forms printer columns use, and dates shown as ages.

use std::sync::LazyLock;

use serde_json::{Value, json};

use crate::object::meta_only;
use crate::resource::ResourceType;

/// `kubectl get` output: the CRD's printer columns, or name and age.
pub(crate) fn table(rt: &ResourceType, items: &[&Value]) -> Value {
    let (columns, paths) = columns(rt);
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            cells.extend(paths.iter().zip(&columns[1..]).map(|(p, c)| {
                let v = json_path(o, p);
                if c["type"] == "date" { age(&v) } else { v }
            }));
            json!({"cells": cells, "object": meta_only(o)})
        })
        .collect();
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "Table", "metadata": {}, "columnDefinitions": columns, "rows": rows})
}

/// The column definitions, `Name` first, and the JSONPath of each column after it.
fn columns(rt: &ResourceType) -> (Vec<Value>, Vec<String>) {
    let mut columns = vec![json!({"name": "Name", "type": "string", "format": "name", "priority": 0})];
    let mut paths = vec![];
    for c in &rt.printer_columns {
        columns.push(json!({"name": c["name"], "type": c["type"], "format": "", "priority": c["priority"].as_i64().unwrap_or(0)}));
        paths.push(c["jsonPath"].as_str().unwrap_or("").to_string());
    }
    if rt.printer_columns.is_empty() {
        columns.push(json!({"name": "Age", "type": "date", "format": "", "priority": 0}));
        paths.push(".metadata.creationTimestamp".into());
    }
    (columns, paths)
}

/// A timestamp as kubectl shows an age: `42s`, `5m`, `3h`, `2d`.
fn age(v: &Value) -> Value {
    let Some(then) = v.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()) else {
        return Value::Null;
    };
    let secs = (jiff::Timestamp::now().as_second() - then.as_second()).max(0);
    let text = match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    };
    json!(text)
}

/// `list[?(@.key=="value")]rest`, in single or double quotes.
static FILTER: LazyLock<regex_lite::Regex> =
    LazyLock::new(|| regex_lite::Regex::new(r#"^(.*)\[\?\(@\.(\w+)==["'](.*?)["']\)\](.*)$"#).expect("valid regex"));

/// The JSONPath forms printer columns use: `.a.b` and `.a.b[?(@.k=="v")].c`.
fn json_path(obj: &Value, path: &str) -> Value {
    if let Some(c) = FILTER.captures(path) {
        let list = walk(obj, &c[1]);
        let found = list
            .as_array()
            .and_then(|a| a.iter().find(|e| e[&c[2]].as_str() == Some(&c[3])).cloned());
        return found.map(|f| walk(&f, &c[4])).unwrap_or(Value::Null);
    }
    walk(obj, path)
}

/// The value at a dotted path (`.a.b`), or null.
fn walk(v: &Value, path: &str) -> Value {
    path.trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .fold(v.clone(), |cur, seg| cur[seg].clone())
}
