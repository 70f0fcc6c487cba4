//! docs/iam-policy.json grants every AWS action the code calls, and nothing else.

use std::collections::BTreeSet;

use serde_json::Value;

/// Actions AWS checks without the operator calling them by name: UpdateUserPool with an
/// SnsCallerArn requires iam:PassRole on that role, AssumeRole with session tags
/// sts:TagSession, and SetLogDeliveryConfiguration to a log group the CloudWatch Logs delivery
/// actions, with which AWS sets up the delivery and the log group's resource policy.
const IMPLIED: &[&str] = &[
    "iam:PassRole",
    "sts:TagSession",
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

#[test]
fn the_policy_grants_nothing_the_code_does_not_need() {
    let called = actions_called();
    let (granted, _) = actions_granted();
    let extra: Vec<_> = granted
        .iter()
        .filter(|a| !called.contains(*a) && !IMPLIED.contains(&a.as_str()))
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
