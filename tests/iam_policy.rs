//! docs/iam-policy.json grants every AWS action the code calls, and nothing else.

use std::collections::BTreeSet;

use serde_json::Value;

/// What AWS also authorizes when the operator makes these calls as it makes them: their
/// "dependent actions" in the Service Authorization Reference (the pages for AWS STS, IAM,
/// Amazon Cognito User Pools and AWS End User Messaging SMS and Voice V2). AssumeRole carries
/// session tags, CreateRole and the End User Messaging creates carry the operator's tags, and
/// UpdateUserPool passes the role and sends the pool's tags back.
const DEPENDENT: &[(&str, &[&str])] = &[
    ("sts:AssumeRole", &["sts:TagSession"]),
    ("iam:CreateRole", &["iam:TagRole"]),
    (
        "cognito-idp:UpdateUserPool",
        &["cognito-idp:TagResource", "cognito-idp:UntagResource", "iam:PassRole"],
    ),
    ("sms-voice:CreateVerifiedDestinationNumber", &["sms-voice:TagResource"]),
    ("sms-voice:CreateProtectConfiguration", &["sms-voice:TagResource"]),
    ("sms-voice:CreateConfigurationSet", &["sms-voice:TagResource"]),
];

/// Actions AWS checks that no call names, beyond [`DEPENDENT`]: SetLogDeliveryConfiguration to
/// a log group needs the CloudWatch Logs delivery actions, with which AWS sets up the delivery
/// and the log group's resource policy.
const IMPLIED: &[&str] = &[
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
];

/// `service:Operation` for every `call("service", "Operation", ...)`, `pages(...)` and their
/// regional `call_in(&self.region, ...)` / `pages_in(...)` in the AWS adapters.
fn actions_called() -> BTreeSet<String> {
    let re =
        regex_lite::Regex::new(r#"\.(?:call|pages)(?:_in)?\(\s*(?:&self\.region,\s*)?"([a-z-]+)",\s*"([A-Za-z]+)""#)
            .unwrap();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/aws/src");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for c in re.captures_iter(&text) {
            found.insert(format!("{}:{}", &c[1], &c[2]));
        }
    }
    found
}

fn actions_granted() -> (BTreeSet<String>, Value) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/iam-policy.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut granted = BTreeSet::new();
    for stmt in doc["Statement"].as_array().unwrap() {
        assert_eq!(stmt["Effect"], "Allow");
        match &stmt["Action"] {
            Value::String(a) => {
                granted.insert(a.clone());
            }
            Value::Array(all) => granted.extend(all.iter().map(|a| a.as_str().unwrap().to_string())),
            other => panic!("unexpected Action {other}"),
        }
    }
    (granted, doc)
}

#[test]
fn the_policy_grants_every_action_the_code_calls() {
    let called = actions_called();
    assert!(called.len() >= 20, "the scan found the call sites: {called:?}");
    let (granted, _) = actions_granted();
    let missing: Vec<_> = called.iter().filter(|a| !granted.contains(*a)).collect();
    assert!(missing.is_empty(), "docs/iam-policy.json lacks {missing:?}");
}

/// The dependent actions of the calls the code makes.
fn dependent_actions(called: &BTreeSet<String>) -> BTreeSet<&'static str> {
    DEPENDENT
        .iter()
        .filter(|(action, _)| called.contains(*action))
        .flat_map(|(_, dependent)| dependent.iter().copied())
        .collect()
}

#[test]
fn the_policy_grants_what_aws_checks_along_with_each_call() {
    let called = actions_called();
    let (granted, _) = actions_granted();
    for (action, _) in DEPENDENT {
        assert!(
            called.contains(*action),
            "{action} is no longer called: drop it from DEPENDENT"
        );
    }
    let missing: Vec<_> = dependent_actions(&called)
        .into_iter()
        .filter(|a| !granted.contains(*a))
        .collect();
    assert!(missing.is_empty(), "docs/iam-policy.json lacks {missing:?}");
}

/// Whether some statement allows `action` to a request carrying `tag_keys`. Conditions other
/// than a `ForAllValues:StringLike` on `aws:TagKeys` count as unmet, so a statement whose
/// conditions this cannot judge never allows anything here.
fn allows(doc: &Value, action: &str, tag_keys: &[&str]) -> bool {
    let glob = |pattern: &str, key: &str| match pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => key == pattern,
    };
    doc["Statement"].as_array().unwrap().iter().any(|stmt| {
        let names = match &stmt["Action"] {
            Value::String(a) => a == action,
            Value::Array(all) => all.iter().any(|a| a == action),
            _ => false,
        };
        let conditions_met = match stmt.get("Condition").and_then(Value::as_object) {
            None => true,
            Some(conditions) => conditions.iter().all(|(operator, keys)| {
                let keys = keys.as_object().unwrap();
                operator == "ForAllValues:StringLike"
                    && keys.len() == 1
                    && keys.get("aws:TagKeys").is_some_and(|patterns| {
                        let patterns: Vec<&str> = match patterns {
                            Value::String(p) => vec![p.as_str()],
                            Value::Array(all) => all.iter().filter_map(Value::as_str).collect(),
                            _ => vec![],
                        };
                        tag_keys.iter().all(|k| patterns.iter().any(|p| glob(p, k)))
                    })
            }),
        };
        names && conditions_met
    })
}

#[test]
fn an_update_may_send_back_tags_that_are_not_the_operators() {
    // UpdateUserPool resets the tags it is not sent, so the operator sends every tag the pool
    // has, and AWS authorizes them as TagResource and UntagResource: a grant limited to the
    // operator's own keys would refuse every update of a pool that carries tags of its own.
    let (_, doc) = actions_granted();
    let sent = ["team", "cost-center", "cognitosms.io/managed-by", "cognitosms.io/name"];
    for action in ["cognito-idp:TagResource", "cognito-idp:UntagResource"] {
        assert!(allows(&doc, action, &sent), "{action} with the pool's own tags");
    }
}

#[test]
fn end_user_messaging_tags_are_the_operators_own_only() {
    let (_, doc) = actions_granted();
    let ours = [
        "cognitosms.io/managed-by",
        "cognitosms.io/namespace",
        "cognitosms.io/name",
        "cognitosms.io/uid",
    ];
    assert!(allows(&doc, "sms-voice:TagResource", &ours));
    assert!(!allows(&doc, "sms-voice:TagResource", &["team"]));
    assert!(allows(&doc, "sts:TagSession", &ours));
    assert!(!allows(&doc, "sts:TagSession", &["team"]));
}

#[test]
fn the_policy_grants_nothing_the_code_does_not_need() {
    let called = actions_called();
    let (granted, _) = actions_granted();
    let dependent = dependent_actions(&called);
    let extra: Vec<_> = granted
        .iter()
        .filter(|a| !called.contains(*a) && !dependent.contains(a.as_str()) && !IMPLIED.contains(&a.as_str()))
        .collect();
    assert!(extra.is_empty(), "docs/iam-policy.json grants unused {extra:?}");
    assert!(!granted.iter().any(|a| a.contains('*')), "no wildcard actions");
}

#[test]
fn iam_writes_are_limited_to_the_managed_role_path_and_pass_role_to_cognito() {
    let (_, doc) = actions_granted();
    for stmt in doc["Statement"].as_array().unwrap() {
        let actions: Vec<String> = match &stmt["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
            _ => vec![],
        };
        let writes_iam = actions.iter().any(|a| {
            a.starts_with("iam:")
                && !["Get", "List"]
                    .iter()
                    .any(|p| a.trim_start_matches("iam:").starts_with(p))
        });
        if writes_iam {
            assert_eq!(
                stmt["Resource"], "arn:aws:iam::*:role/service-role/cognito-sms-*",
                "{stmt}"
            );
        }
        if actions.iter().any(|a| a == "iam:PassRole") {
            assert_eq!(
                stmt["Condition"]["StringEquals"]["iam:PassedToService"],
                "cognito-idp.amazonaws.com"
            );
        }
        if actions.iter().any(|a| a.starts_with("cognito-idp:")) {
            assert_eq!(stmt["Resource"], "arn:aws:cognito-idp:*:*:userpool/*");
        }
        let sns_write = actions
            .iter()
            .any(|a| a.starts_with("sns:") && !a.contains(":Get") && !a.contains(":List"));
        if sns_write {
            assert!(
                actions.iter().all(|a| a.contains("SMSSandboxPhoneNumber")),
                "SNS writes are sandbox number calls only: {actions:?}"
            );
        }
    }
}
