//! Documents built, parsed, compared by meaning, and checked for gaps.

use super::*;

const ACCOUNT: &str = "123456789012";
const POOL: &str = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Abc";

#[test]
fn trust_policy_is_the_guides_example() {
    let doc = trust_policy(ACCOUNT, &[POOL.to_string()], None);
    let guide: Value = serde_json::from_str(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"cognito-idp.amazonaws.com"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"aws:SourceAccount":"{ACCOUNT}"}},"ArnLike":{{"aws:SourceArn":"{POOL}"}}}}}}]}}"#
    ))
    .unwrap();
    assert_eq!(doc, guide);
    assert!(trust_gaps(&doc, ACCOUNT, &[POOL.to_string()], None).is_empty());
}

#[test]
fn trust_policy_with_external_id() {
    let doc = trust_policy(ACCOUNT, &[POOL.to_string()], Some("ext-1"));
    assert_eq!(
        doc["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        "ext-1"
    );
    assert!(trust_gaps(&doc, ACCOUNT, &[POOL.to_string()], Some("ext-1")).is_empty());
    assert_eq!(
        trust_gaps(&doc, ACCOUNT, &[POOL.to_string()], Some("other")),
        vec![TrustGap::ExternalIdMismatch {
            expected: Some("other".into()),
            found: vec!["ext-1".into()]
        }]
    );
}

#[test]
fn equivalent_ignores_key_order_single_vs_array_and_case_of_actions() {
    let a = trust_policy(ACCOUNT, &[POOL.to_string()], Some("x"));
    let b: Value = serde_json::from_str(&format!(
        r#"{{"Statement":{{"Condition":{{"ArnLike":{{"AWS:SourceArn":["{POOL}"]}},"StringEquals":{{"sts:ExternalId":["x"],"aws:SourceAccount":"{ACCOUNT}"}}}},"Action":["STS:AssumeRole"],"Principal":{{"Service":["cognito-idp.amazonaws.com"]}},"Effect":"Allow"}},"Version":"2012-10-17"}}"#
    ))
    .unwrap();
    assert!(equivalent(&a, &b));
}

#[test]
fn equivalent_sees_real_differences() {
    let a = trust_policy(ACCOUNT, &[POOL.to_string()], None);
    assert!(!equivalent(&a, &trust_policy(ACCOUNT, &[POOL.to_string()], Some("x"))));
    assert!(!equivalent(
        &a,
        &trust_policy("210987654321", &[POOL.to_string()], None)
    ));
    let wildcard = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/*";
    assert!(!equivalent(&a, &trust_policy(ACCOUNT, &[wildcard.to_string()], None)));
    let mut extra = a.clone();
    extra["Statement"]
        .as_array_mut()
        .unwrap()
        .push(json!({"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}));
    assert!(!equivalent(&a, &extra));
    assert!(!equivalent(
        &publish_policy(),
        &json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sns:*","Resource":"*"}]})
    ));
}

#[test]
fn missing_version_is_iams_default() {
    let a = json!({"Statement":[{"Effect":"Allow","Action":"sns:Publish","Resource":"*"}]});
    assert!(!equivalent(&a, &publish_policy()));
    assert!(equivalent(
        &a,
        &json!({"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"sns:Publish","Resource":["*"]}})
    ));
}

#[test]
fn parses_percent_encoded_documents() {
    let doc = publish_policy();
    let encoded: String =
        percent_encoding::utf8_percent_encode(&doc.to_string(), percent_encoding::NON_ALPHANUMERIC).to_string();
    assert!(encoded.starts_with("%7B"));
    assert_eq!(parse_document(&encoded).unwrap(), doc);
    assert_eq!(parse_document(&doc.to_string()).unwrap(), doc);
    assert!(parse_document("%7Bnot json").is_err());
}

#[test]
fn glob() {
    assert!(glob_match("arn:aws:cognito-idp:*:123456789012:userpool/*", POOL));
    assert!(glob_match("*", ""));
    assert!(glob_match("a?c", "abc"));
    assert!(!glob_match("arn:aws:cognito-idp:us-east-1:*", POOL));
    assert!(!glob_match("abc", "abcd"));
}

#[test]
fn gaps_of_a_bare_trust_policy() {
    let bare = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cognito-idp.amazonaws.com"},"Action":"sts:AssumeRole"}]});
    let gaps = trust_gaps(&bare, ACCOUNT, &[POOL.to_string()], None);
    assert_eq!(
        gaps,
        vec![
            TrustGap::MissingSourceAccount {
                account_id: ACCOUNT.into()
            },
            TrustGap::MissingSourceArn { pool_arn: POOL.into() }
        ]
    );
    assert_eq!(
        gaps[0].to_string(),
        "add condition StringEquals aws:SourceAccount = 123456789012"
    );
}

#[test]
fn string_equals_is_exact_and_an_explicit_deny_wins() {
    let mut exact = trust_policy(ACCOUNT, &[POOL.to_string()], None);
    exact["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"] = json!("1234*");
    assert_eq!(
        trust_gaps(&exact, ACCOUNT, &[POOL.to_string()], None),
        vec![TrustGap::MissingSourceAccount {
            account_id: ACCOUNT.into()
        }],
        "StringEquals does not expand wildcards"
    );
    let mut like = trust_policy(ACCOUNT, &[POOL.to_string()], None);
    let cond = like["Statement"][0]["Condition"].as_object_mut().unwrap();
    cond.remove("StringEquals");
    cond.insert("StringLike".into(), json!({"aws:SourceAccount": "1234*"}));
    assert!(
        trust_gaps(&like, ACCOUNT, &[POOL.to_string()], None).is_empty(),
        "StringLike does"
    );

    let allow = trust_policy(ACCOUNT, &[POOL.to_string()], None)["Statement"][0].clone();
    let deny_all = json!({"Sid": "NoCognito", "Effect": "Deny", "Principal": {"Service": COGNITO_PRINCIPAL}, "Action": "sts:AssumeRole"});
    let doc = json!({"Version": "2012-10-17", "Statement": [allow.clone(), deny_all]});
    let gaps = trust_gaps(&doc, ACCOUNT, &[POOL.to_string()], None);
    assert_eq!(
        gaps,
        vec![TrustGap::Denied {
            sid: Some("NoCognito".into())
        }]
    );
    assert!(gaps[0].to_string().contains("explicit Deny wins"), "{}", gaps[0]);

    // The usual guard: deny any other account. It does not apply to this pool's account.
    let guard = json!({"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole",
        "Condition": {"StringNotEquals": {"aws:SourceAccount": ACCOUNT}}});
    let doc = json!({"Statement": [allow.clone(), guard.clone()]});
    assert!(trust_gaps(&doc, ACCOUNT, &[POOL.to_string()], None).is_empty());
    assert_eq!(
        trust_gaps(&doc, "210987654321", &[POOL.replace(ACCOUNT, "210987654321")], None).last(),
        Some(&TrustGap::Denied { sid: None })
    );
    // A Deny on a key this analysis cannot evaluate is taken not to apply.
    let other = json!({"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}});
    let doc = json!({"Statement": [allow, other]});
    assert!(trust_gaps(&doc, ACCOUNT, &[POOL.to_string()], None).is_empty());
}

#[test]
fn gaps_when_cognito_is_not_trusted_or_another_pool_is() {
    let lambda = json!({"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]});
    assert_eq!(
        trust_gaps(&lambda, ACCOUNT, &[POOL.to_string()], None),
        vec![TrustGap::NoCognitoStatement]
    );
    let other = trust_policy(
        ACCOUNT,
        &["arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Other".to_string()],
        None,
    );
    assert!(matches!(
        trust_gaps(&other, ACCOUNT, &[POOL.to_string()], None)[..],
        [TrustGap::SourceArnExcludesPool { .. }]
    ));
    let wildcard = trust_policy(
        ACCOUNT,
        &["arn:aws:cognito-idp:eu-west-1:123456789012:userpool/*".to_string()],
        None,
    );
    assert!(trust_gaps(&wildcard, ACCOUNT, &[POOL.to_string()], None).is_empty());
    let needs_id = trust_policy(ACCOUNT, &[POOL.to_string()], Some("abc"));
    let gaps = trust_gaps(&needs_id, ACCOUNT, &[POOL.to_string()], None);
    assert_eq!(
        gaps[0].to_string(),
        "the trust policy requires sts:ExternalId abc: set spec.externalId to it"
    );
}

#[test]
fn publish_permission_checks() {
    assert!(allows_sns_publish(&[publish_policy()]));
    assert!(allows_sns_publish(&[
        json!({"Statement":{"Effect":"Allow","Action":"sns:*","Resource":"*"}})
    ]));
    assert!(allows_sns_publish(&[
        json!({"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}})
    ]));
    assert!(!allows_sns_publish(&[]));
    assert!(!allows_sns_publish(&[
        json!({"Statement":{"Effect":"Allow","Action":"sns:Subscribe","Resource":"*"}})
    ]));
    assert!(!allows_sns_publish(&[
        json!({"Statement":{"Effect":"Allow","Action":"sns:Publish","Resource":"arn:aws:sns:eu-west-1:123456789012:topic"}})
    ]));
    assert!(!allows_sns_publish(&[
        publish_policy(),
        json!({"Statement":{"Effect":"Deny","Action":"sns:*","Resource":"*"}})
    ]));
}

#[test]
fn send_text_permission_is_checked_against_the_identity() {
    let arn = "arn:aws:sms-voice:eu-west-1:123456789012:phone-number/phone-abc";
    let region = identities_in_region("aws", "eu-west-1", "123456789012");
    assert!(allows(&[send_text_policy(&[arn.to_string()])], SEND_TEXT_MESSAGE, arn));
    assert!(allows(
        &[send_text_policy(&[region.to_string()])],
        SEND_TEXT_MESSAGE,
        arn
    ));
    assert!(allows(
        &[send_text_policy(&[region.to_string()])],
        SEND_TEXT_MESSAGE,
        &region
    ));
    assert!(
        !allows(&[send_text_policy(&[arn.to_string()])], SEND_TEXT_MESSAGE, &region),
        "a policy scoped to one identity does not cover every identity"
    );
    let other = "arn:aws:sms-voice:eu-west-1:123456789012:phone-number/phone-other";
    assert!(!allows(
        &[send_text_policy(&[other.to_string()])],
        SEND_TEXT_MESSAGE,
        arn
    ));
    assert!(!allows(&[publish_policy()], SEND_TEXT_MESSAGE, arn));
    let deny = json!({"Statement":{"Effect":"Deny","Action":"sms-voice:*","Resource":"*"}});
    assert!(!allows(
        &[send_text_policy(&[arn.to_string()]), deny],
        SEND_TEXT_MESSAGE,
        arn
    ));
}

#[test]
fn a_multi_region_pool_s_trust_lists_its_arn_in_every_region() {
    let replica = POOL.replace("eu-west-1:", "us-west-2:");
    let both = [POOL.to_string(), replica.clone()];
    let doc = trust_policy(ACCOUNT, &both, None);
    assert_eq!(
        doc["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"],
        json!([POOL, replica])
    );
    assert!(trust_gaps(&doc, ACCOUNT, &both, None).is_empty());
    let single = trust_policy(ACCOUNT, &[POOL.to_string()], None);
    assert_eq!(
        single["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"],
        json!(POOL),
        "one Region, one string"
    );
    assert_eq!(
        trust_gaps(&single, ACCOUNT, &both, None),
        vec![TrustGap::SourceArnExcludesPool {
            pool_arn: replica,
            found: vec![POOL.to_string()]
        }],
        "a role trusting the primary alone cannot send from the replica"
    );
}
