//! IAM policy documents: build the ones the operator wants, parse what IAM returns, compare them
//! by meaning rather than by text, and say precisely what a user-supplied role lacks. Pure.

use std::fmt;

use serde_json::{Map, Value, json};

pub const COGNITO_PRINCIPAL: &str = "cognito-idp.amazonaws.com";
pub const POLICY_VERSION: &str = "2012-10-17";

#[derive(Debug, thiserror::Error)]
#[error("policy document is not valid JSON: {0}")]
pub struct PolicyParseError(#[from] serde_json::Error);

/// Parse a policy document as IAM returns it. `GetRole` and `GetRolePolicy` return documents
/// percent-encoded (RFC 3986); other calls and tools return them as plain JSON.
pub fn parse_document(raw: &str) -> Result<Value, PolicyParseError> {
    match serde_json::from_str(raw) {
        Ok(v) => Ok(v),
        Err(plain_err) => {
            let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
            serde_json::from_str(&decoded).map_err(|_| PolicyParseError(plain_err))
        }
    }
}

/// The trust policy of a managed role: only Cognito, only on behalf of this account and the given
/// pool ARNs (or wildcards: one per Region of a multi-Region pool), and only with the external ID
/// when one is set. A single ARN is written as a string, as before pools had Regions.
pub fn trust_policy(account_id: &str, source_arns: &[String], external_id: Option<&str>) -> Value {
    let source_arn = match source_arns {
        [one] => json!(one),
        several => json!(several),
    };
    let mut string_equals = json!({ "aws:SourceAccount": account_id });
    if let Some(id) = external_id {
        string_equals["sts:ExternalId"] = json!(id);
    }
    json!({
        "Version": POLICY_VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": COGNITO_PRINCIPAL },
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": string_equals,
                "ArnLike": { "aws:SourceArn": source_arn }
            }
        }]
    })
}

/// The action Cognito calls to send SMS through SNS.
pub const SNS_PUBLISH: &str = "sns:Publish";
/// The action Cognito calls to send SMS directly through AWS End User Messaging SMS.
pub const SEND_TEXT_MESSAGE: &str = "sms-voice:SendTextMessage";

/// The managed role's inline policy on the SNS path: `sns:Publish`, which is all Cognito needs.
pub fn publish_policy() -> Value {
    allow_only(SNS_PUBLISH, json!("*"))
}

/// The managed role's inline policy on the direct path: `sms-voice:SendTextMessage` on
/// `resource`, the origination identity's ARN (or every identity of the account in the pool's
/// region when the resource names none).
/// A single resource is written as a string, as before pools had Regions.
pub fn send_text_policy(resources: &[String]) -> Value {
    match resources {
        [one] => allow_only(SEND_TEXT_MESSAGE, json!(one)),
        several => allow_only(SEND_TEXT_MESSAGE, json!(several)),
    }
}

fn allow_only(action: &str, resource: Value) -> Value {
    json!({
        "Version": POLICY_VERSION,
        "Statement": [{ "Effect": "Allow", "Action": action, "Resource": resource }]
    })
}

/// Every origination identity of `account` in `region`: the narrowest scope of the direct path
/// without a named identity, since End User Messaging may then send from any of them.
pub fn identities_in_region(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:sms-voice:{region}:{account}:*")
}

/// Two documents grant the same thing: equal after normalisation.
pub fn equivalent(a: &Value, b: &Value) -> bool {
    normalize(a) == normalize(b)
}

/// A canonical form: `Statement` always an array, sorted; every value list (Action, Resource,
/// principal values, condition values) a sorted, de-duplicated array; action names lower-cased
/// (IAM matches them case-insensitively); `"Principal": "*"` as `{"AWS": ["*"]}`; a missing
/// `Version` as IAM's default. Key order never matters for JSON objects.
pub fn normalize(doc: &Value) -> Value {
    let Some(obj) = doc.as_object() else {
        return doc.clone();
    };
    let mut out = Map::new();
    out.insert(
        "Version".into(),
        obj.get("Version").cloned().unwrap_or_else(|| json!("2008-10-17")),
    );
    if let Some(id) = obj.get("Id") {
        out.insert("Id".into(), id.clone());
    }
    let mut statements: Vec<Value> = as_list(obj.get("Statement")).iter().map(normalize_statement).collect();
    statements.sort_by_key(|s| s.to_string());
    statements.dedup();
    out.insert("Statement".into(), Value::Array(statements));
    Value::Object(out)
}

fn normalize_statement(stmt: &Value) -> Value {
    let Some(obj) = stmt.as_object() else {
        return stmt.clone();
    };
    let mut out = Map::new();
    for (key, value) in obj {
        let v = match key.as_str() {
            "Action" | "NotAction" => string_set(value, true),
            "Resource" | "NotResource" => string_set(value, false),
            "Principal" | "NotPrincipal" => normalize_principal(value),
            "Condition" => normalize_condition(value),
            _ => value.clone(),
        };
        out.insert(key.clone(), v);
    }
    Value::Object(out)
}

fn normalize_principal(value: &Value) -> Value {
    match value {
        Value::String(s) if s == "*" => json!({ "AWS": ["*"] }),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), string_set(v, false))).collect()),
        other => other.clone(),
    }
}

fn normalize_condition(value: &Value) -> Value {
    let Some(ops) = value.as_object() else {
        return value.clone();
    };
    Value::Object(
        ops.iter()
            .map(|(op, keys)| {
                let keys = match keys.as_object() {
                    // Condition keys are case-insensitive in IAM.
                    Some(k) => Value::Object(
                        k.iter()
                            .map(|(key, v)| (key.to_ascii_lowercase(), string_set(v, false)))
                            .collect(),
                    ),
                    None => keys.clone(),
                };
                (op.clone(), keys)
            })
            .collect(),
    )
}

fn string_set(value: &Value, lowercase: bool) -> Value {
    let mut items: Vec<String> = as_list(Some(value))
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .map(|s| if lowercase { s.to_ascii_lowercase() } else { s })
        .collect();
    items.sort();
    items.dedup();
    Value::Array(items.into_iter().map(Value::String).collect())
}

fn as_list(value: Option<&Value>) -> Vec<Value> {
    match value {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    }
}

/// IAM-style wildcard match: `*` any run of characters, `?` one character. Case-sensitive.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    wildmatch::WildMatch::new(pattern).matches(text)
}

fn action_matches(pattern: &str, action: &str) -> bool {
    wildmatch::WildMatch::new_case_insensitive(pattern).matches(action)
}

/// Something a user-supplied role's trust policy lacks for Cognito to use it safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustGap {
    /// No statement allows Cognito to assume the role.
    NoCognitoStatement,
    /// The confused-deputy condition on the account is missing.
    MissingSourceAccount { account_id: String },
    /// The confused-deputy condition on the pool ARN is missing.
    MissingSourceArn { pool_arn: String },
    /// The `aws:SourceArn` condition does not match this pool.
    SourceArnExcludesPool { pool_arn: String, found: Vec<String> },
    /// The trust policy requires a different external ID than the one the pool will send.
    ExternalIdMismatch {
        expected: Option<String>,
        found: Vec<String>,
    },
    /// A `Deny` statement refuses Cognito the role for this pool (an explicit Deny wins).
    Denied { sid: Option<String> },
}

impl fmt::Display for TrustGap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustGap::NoCognitoStatement => write!(
                f,
                "no statement allows Principal Service {COGNITO_PRINCIPAL} to sts:AssumeRole"
            ),
            TrustGap::MissingSourceAccount { account_id } => {
                write!(f, "add condition StringEquals aws:SourceAccount = {account_id}")
            }
            TrustGap::MissingSourceArn { pool_arn } => {
                write!(f, "add condition ArnLike aws:SourceArn = {pool_arn}")
            }
            TrustGap::SourceArnExcludesPool { pool_arn, found } => write!(
                f,
                "condition aws:SourceArn ({}) does not match {pool_arn}",
                found.join(", ")
            ),
            TrustGap::ExternalIdMismatch {
                expected: Some(e),
                found,
            } if found.is_empty() => {
                write!(f, "add condition StringEquals sts:ExternalId = {e}")
            }
            TrustGap::ExternalIdMismatch {
                expected: Some(e),
                found,
            } => write!(
                f,
                "condition sts:ExternalId requires {} but spec.externalId is {e}",
                found.join(", ")
            ),
            TrustGap::Denied { sid } => write!(
                f,
                "a Deny statement{} refuses {COGNITO_PRINCIPAL} sts:AssumeRole for this pool; an explicit Deny wins \
                 over any Allow",
                sid.as_deref().map(|s| format!(" ({s})")).unwrap_or_default()
            ),
            TrustGap::ExternalIdMismatch { expected: None, found } => write!(
                f,
                "the trust policy requires sts:ExternalId {}: set spec.externalId to it",
                found.join(", ")
            ),
        }
    }
}

/// Condition values for `key` under any of `operators` (operator and key names case-insensitive;
/// `...IfExists` variants count).
fn condition_values(stmt: &Value, operators: &[&str], key: &str) -> Option<Vec<String>> {
    let cond = stmt.get("Condition")?.as_object()?;
    let mut found: Option<Vec<String>> = None;
    for (op, keys) in cond {
        let op = op.trim_end_matches("IfExists").to_ascii_lowercase();
        if !operators.iter().any(|o| o.eq_ignore_ascii_case(&op)) {
            continue;
        }
        for (k, v) in keys.as_object().into_iter().flatten() {
            if k.eq_ignore_ascii_case(key) {
                let values = as_list(Some(v));
                found
                    .get_or_insert_with(Vec::new)
                    .extend(values.iter().filter_map(|x| x.as_str().map(String::from)));
            }
        }
    }
    found
}

/// Whether `text` satisfies every condition on `key` in `stmt` under `operators`, each operator
/// with IAM's meaning: `...Equals` compares exactly (`ArnEquals` excepted, which IAM matches like
/// `ArnLike`), `...Like` matches `*` and `?`, `...Not...` negates. `None` when no condition of
/// those operators names `key`.
fn condition_holds(stmt: &Value, operators: &[&str], key: &str, text: &str) -> Option<bool> {
    let cond = stmt.get("Condition")?.as_object()?;
    let mut holds = None;
    for (op, keys) in cond {
        let op = op.trim_end_matches("IfExists");
        if !operators.iter().any(|o| o.eq_ignore_ascii_case(op)) {
            continue;
        }
        let op = op.to_ascii_lowercase();
        let negated = op.contains("not");
        let glob = op.ends_with("like") || op.starts_with("arn");
        let ignore_case = op.ends_with("ignorecase");
        for (k, v) in keys.as_object().into_iter().flatten() {
            if !k.eq_ignore_ascii_case(key) {
                continue;
            }
            let any = as_list(Some(v))
                .iter()
                .filter_map(Value::as_str)
                .any(|p| match (glob, ignore_case) {
                    (true, _) => glob_match(p, text),
                    (false, true) => p.eq_ignore_ascii_case(text),
                    (false, false) => p == text,
                });
            holds = Some(holds.unwrap_or(true) && (any != negated));
        }
    }
    holds
}

/// Whether `stmt` names Cognito's service principal (or everyone) and covers `sts:AssumeRole`.
fn names_cognito_assume_role(stmt: &Value) -> bool {
    let principal_ok = match stmt.get("Principal") {
        Some(Value::Object(p)) => p.iter().any(|(k, v)| {
            as_list(Some(v))
                .iter()
                .any(|s| (k == "Service" && s == COGNITO_PRINCIPAL) || s == "*")
        }),
        Some(Value::String(s)) => s == "*",
        _ => false,
    };
    let action_ok = as_list(stmt.get("Action"))
        .iter()
        .filter_map(Value::as_str)
        .any(|a| action_matches(a, "sts:AssumeRole"));
    principal_ok && action_ok
}

fn allows_cognito_assume_role(stmt: &Value) -> bool {
    stmt.get("Effect").and_then(Value::as_str) == Some("Allow") && names_cognito_assume_role(stmt)
}

/// The condition operators a `Deny` statement is evaluated with.
const KNOWN_OPERATORS: [&str; 10] = [
    "StringEquals",
    "StringNotEquals",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnNotEquals",
    "ArnLike",
    "ArnNotLike",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
];

/// Whether a `Deny` statement refuses Cognito the role for this pool (in the Region of
/// `pool_arn`). A Deny whose conditions all bear on the source account, the source ARN and the
/// external ID is evaluated; one with any other condition key or operator cannot be evaluated here
/// and is taken not to apply.
fn denies(stmt: &Value, account_id: &str, pool_arn: &str, external_id: Option<&str>) -> bool {
    if stmt.get("Effect").and_then(Value::as_str) != Some("Deny") || !names_cognito_assume_role(stmt) {
        return false;
    }
    let Some(cond) = stmt.get("Condition").and_then(Value::as_object) else {
        return true;
    };
    let context = [
        ("aws:SourceAccount", Some(account_id)),
        ("aws:SourceArn", Some(pool_arn)),
        ("sts:ExternalId", external_id),
    ];
    for (op, keys) in cond {
        let known = KNOWN_OPERATORS
            .iter()
            .any(|o| o.eq_ignore_ascii_case(op.trim_end_matches("IfExists")));
        for k in keys.as_object().into_iter().flatten().map(|(k, _)| k) {
            let Some((_, value)) = context.iter().find(|(c, _)| c.eq_ignore_ascii_case(k)) else {
                return false;
            };
            let Some(value) = value else { return false };
            if !known || condition_holds(stmt, &[op.trim_end_matches("IfExists")], k, value) != Some(true) {
                return false;
            }
        }
    }
    true
}

/// What the trust policy of a user-supplied role lacks so that Cognito can assume it for every
/// one of `pool_arns` (a multi-Region pool's ARN in each of its Regions), with the confused-deputy
/// conditions and the external ID the pool will send. Empty when nothing is missing.
pub fn trust_gaps(doc: &Value, account_id: &str, pool_arns: &[String], external_id: Option<&str>) -> Vec<TrustGap> {
    let statements: Vec<Value> = as_list(doc.get("Statement"))
        .into_iter()
        .filter(allows_cognito_assume_role)
        .collect();
    let mut best: Option<Vec<TrustGap>> = None;
    for stmt in &statements {
        let mut gaps = vec![];
        let account_ops = ["StringEquals", "StringLike"];
        if condition_holds(stmt, &account_ops, "aws:SourceAccount", account_id) != Some(true) {
            gaps.push(TrustGap::MissingSourceAccount {
                account_id: account_id.into(),
            });
        }
        let arn_ops = ["ArnLike", "ArnEquals", "StringLike", "StringEquals"];
        for pool_arn in pool_arns {
            match condition_holds(stmt, &arn_ops, "aws:SourceArn", pool_arn) {
                None => gaps.push(TrustGap::MissingSourceArn {
                    pool_arn: pool_arn.clone(),
                }),
                Some(false) => gaps.push(TrustGap::SourceArnExcludesPool {
                    pool_arn: pool_arn.clone(),
                    found: condition_values(stmt, &arn_ops, "aws:SourceArn").unwrap_or_default(),
                }),
                Some(true) => {}
            }
        }
        let id_ops = ["StringEquals", "StringLike"];
        let required = condition_values(stmt, &id_ops, "sts:ExternalId");
        let holds = external_id.and_then(|e| condition_holds(stmt, &id_ops, "sts:ExternalId", e));
        match (required, external_id) {
            (None, _) => {}
            (Some(_), Some(_)) if holds == Some(true) => {}
            (Some(v), e) => gaps.push(TrustGap::ExternalIdMismatch {
                expected: e.map(String::from),
                found: v,
            }),
        }
        if best.as_ref().is_none_or(|b| gaps.len() < b.len()) {
            best = Some(gaps);
        }
    }
    let mut gaps = best.unwrap_or_else(|| vec![TrustGap::NoCognitoStatement]);
    let denied = as_list(doc.get("Statement"))
        .into_iter()
        .find(|s| pool_arns.iter().any(|arn| denies(s, account_id, arn, external_id)));
    if let Some(deny) = denied {
        gaps.push(TrustGap::Denied {
            sid: deny.get("Sid").and_then(Value::as_str).map(String::from),
        });
    }
    gaps
}

/// The external ID a trust policy requires of Cognito, if any.
pub fn external_id_of(doc: &Value) -> Option<String> {
    as_list(doc.get("Statement"))
        .iter()
        .filter(|s| allows_cognito_assume_role(s))
        .find_map(|s| condition_values(s, &["StringEquals"], "sts:ExternalId"))
        .and_then(|v| v.into_iter().next())
}

/// Whether a set of identity policies lets the role call `sns:Publish` on any resource.
pub fn allows_sns_publish(docs: &[Value]) -> bool {
    allows(docs, SNS_PUBLISH, "*")
}

/// Whether a set of identity policies lets the role call `action` on `resource`. A statement's
/// `Resource` patterns must cover `resource` (IAM wildcards; a `resource` that is itself a
/// wildcard is covered only by patterns at least as wide). An explicit Deny wins. Conditions on
/// Allow statements are assumed to hold; permission boundaries and SCPs are outside what a role's
/// own policies show.
pub fn allows(docs: &[Value], action: &str, resource: &str) -> bool {
    let statements: Vec<Value> = docs.iter().flat_map(|d| as_list(d.get("Statement"))).collect();
    let covers_action = |stmt: &Value| {
        let by_action = as_list(stmt.get("Action"))
            .iter()
            .filter_map(Value::as_str)
            .any(|a| action_matches(a, action));
        let by_not_action = stmt.get("NotAction").is_some_and(|na| {
            !as_list(Some(na))
                .iter()
                .filter_map(Value::as_str)
                .any(|a| action_matches(a, action))
        });
        by_action || by_not_action
    };
    let covers_resource = |stmt: &Value| {
        as_list(stmt.get("Resource"))
            .iter()
            .filter_map(Value::as_str)
            .any(|pattern| glob_match(pattern, resource))
    };
    let effect = |stmt: &Value, e: &str| stmt.get("Effect").and_then(Value::as_str) == Some(e);
    let denied = statements
        .iter()
        .any(|s| effect(s, "Deny") && covers_action(s) && covers_resource(s));
    let allowed = statements
        .iter()
        .any(|s| effect(s, "Allow") && covers_action(s) && covers_resource(s));
    allowed && !denied
}

#[cfg(test)]
mod tests;
