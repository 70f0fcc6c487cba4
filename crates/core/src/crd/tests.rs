//! The CRD as generated, and the admission rules it carries.

use super::*;
use serde_json::json;

#[test]
fn the_charts_crd_template_matches_the_types() {
    let committed = std::fs::read_to_string(format!("{}/../../{CHART_CRD_TEMPLATE}", env!("CARGO_MANIFEST_DIR")))
        .expect("the chart's CRD template exists");
    assert!(
        committed == crd_helm_template(),
        "{CHART_CRD_TEMPLATE} is stale: run `cargo run -q -- crd --helm-template > {CHART_CRD_TEMPLATE}`"
    );
}

fn resource(spec: serde_json::Value) -> CognitoSmsConfig {
    crate::testing::resource("a", spec)
}

#[test]
fn crds_folder_matches_the_types() {
    for crd in crds() {
        let name = crd.metadata.name.clone().unwrap();
        let kind = &crd.spec.names.kind;
        let path = format!("{}/../../crds/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            committed == crd_yaml_of(&crd),
            "crds/ is stale: run `cargo run -q -- crd --kind {kind} > crds/{name}.yaml`"
        );
    }
}

#[test]
fn defaults_are_a_managed_role_retained_on_delete() {
    let r = resource(json!({"userPoolId": "eu-west-1_Abc"}));
    assert_eq!(r.spec.role, RoleSpec::default());
    assert_eq!(r.spec.deletion_policy, DeletionPolicy::Retain);
    assert!(r.validate_cel().is_ok());
}

#[test]
fn admission_rules_reject_what_reconcile_would_reject() {
    let ok = resource(json!({"userPoolId": "eu-central-1_Abc", "snsRegion": "eu-west-1"}));
    assert!(ok.validate_cel().is_ok());
    let seoul = resource(json!({"userPoolId": "ap-northeast-2_Abc", "snsRegion": "ap-northeast-2"}));
    let err = seoul.validate_cel().unwrap_err().to_string();
    assert!(
        err.contains("snsRegion ap-northeast-2 cannot be used by user pool ap-northeast-2_Abc"),
        "{err}"
    );
    let unlisted = resource(json!({"userPoolId": "ap-northeast-3_Abc", "snsRegion": "ap-northeast-3"}));
    assert!(unlisted.validate_cel().is_ok());
    let unlisted_bad = resource(json!({"userPoolId": "ap-northeast-3_Abc", "snsRegion": "us-east-1"}));
    assert!(unlisted_bad.validate_cel().is_err());
}

/// The CRD's CEL rules, compiled once, as a function of a resource.
fn admission() -> impl Fn(&CognitoSmsConfig) -> bool {
    let crd = CognitoSmsConfig::crd();
    let schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref(),
    )
    .unwrap();
    let compiled = kube::core::cel::compile_schema(&schema);
    move |res| {
        let object = serde_json::to_value(res).unwrap();
        kube::core::cel::Validator::new()
            .validate_compiled(&compiled, &object, None)
            .is_ok()
    }
}

#[test]
fn admission_rule_matches_the_table_for_every_row() {
    let admits = admission();
    for row in crate::regions::TABLE {
        for candidate in crate::regions::TABLE.iter().map(|r| r.cognito) {
            let r = resource(json!({"userPoolId": format!("{}_Abc", row.cognito), "snsRegion": candidate}));
            assert_eq!(
                admits(&r),
                row.sns.contains(&candidate),
                "pool in {} with snsRegion {candidate}",
                row.cognito
            );
        }
    }
}

#[test]
fn the_direct_path_is_refused_where_the_guide_says() {
    let cases = [
        (json!({"userPoolId": "eu-west-1_Abc", "endUserMessaging": {}}), None),
        (
            json!({"userPoolId": "eu-west-1_Abc", "snsRegion": "eu-west-1", "endUserMessaging": {}}),
            Some("snsRegion chooses the SNS region, but with endUserMessaging"),
        ),
        (
            json!({"userPoolId": "ap-southeast-7_Abc", "endUserMessaging": {}}),
            Some("not available for pools in ap-southeast-7, ap-east-1, ap-southeast-5"),
        ),
        (
            json!({"userPoolId": "ap-east-1_Abc", "endUserMessaging": {}}),
            Some("not available for pools in"),
        ),
        (
            json!({"userPoolId": "ap-southeast-5_Abc", "endUserMessaging": {}}),
            Some("not available for pools in"),
        ),
        (
            json!({"userPoolId": "ap-south-1_Abc", "destinationCountries": ["IN"], "endUserMessaging": {}}),
            Some("sending to India (IN) directly through End User Messaging needs the DLT IDs"),
        ),
        (
            json!({"userPoolId": "ap-south-1_Abc", "destinationCountries": ["IN"],
                   "endUserMessaging": {"indiaDlt": {"entityId": "1101", "templateId": "1107"}}}),
            None,
        ),
        (json!({"userPoolId": "ap-southeast-5_Abc"}), None),
    ];
    for (spec, refusal) in cases {
        let result = resource(spec.clone()).validate_cel();
        match refusal {
            None => assert!(result.is_ok(), "{spec}: {result:?}"),
            Some(why) => {
                let err = result.expect_err(why).to_string();
                assert!(err.contains(why), "{spec}: {err}");
            }
        }
    }
}

#[test]
fn both_role_kinds_are_rejected() {
    let r = resource(json!({
        "userPoolId": "eu-west-1_Abc",
        "role": {"managed": {}, "existing": {"roleArn": "arn:aws:iam::123456789012:role/x"}}
    }));
    let err = r.validate_cel().unwrap_err().to_string();
    assert!(
        err.contains("set either role.managed or role.existing, not both"),
        "{err}"
    );
}

#[test]
fn reserved_tag_prefixes_are_rejected() {
    let r = resource(json!({
        "userPoolId": "eu-west-1_Abc",
        "role": {"managed": {"tags": {"cognitosms.io/name": "x"}}}
    }));
    assert!(r.validate_cel().is_err());
}

#[test]
fn every_form_of_origination_identity_passes_the_schema_and_nothing_else() {
    let crd = serde_json::to_value(CognitoSmsConfig::crd()).unwrap();
    let pattern = crd
        .pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/endUserMessaging/properties/originationIdentity/pattern")
        .and_then(|p| p.as_str())
        .expect("the schema has a pattern for originationIdentity");
    let re = regex_lite::Regex::new(pattern).unwrap();
    for good in [
        "+12065550100",
        "phone-0123456789abcdef0123456789abcdef",
        "pool-0123456789abcdef",
        "MyBrand/GB",
        "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-0123",
        "arn:aws:sms-voice:us-east-1:123456789012:pool/pool-0123",
        "arn:aws:sms-voice:us-east-1:123456789012:sender-id/MyBrand/GB",
    ] {
        assert!(re.is_match(good), "{good}");
    }
    for bad in [
        "12065550100",
        "+1206555010a",
        "MyBrand",
        "MyBrand/gb",
        "ThisSenderIdIsTooLong/GB",
        "arn:aws:sns:us-east-1:123456789012:topic",
        "arn:aws:sms-voice:us-east-1:123456789012:configuration-set/x",
    ] {
        assert!(!re.is_match(bad), "{bad}");
    }
}

/// `kubectl explain` shows these: on both paths End User Messaging texts the codes and holds the
/// spend limit, so the docs must not send users looking in SNS.
#[test]
fn the_sandbox_and_spend_docs_name_end_user_messaging_not_sns() {
    let crd = serde_json::to_value(CognitoSmsConfig::crd()).unwrap();
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    let numbers = &spec["sandboxPhoneNumbers"];
    let docs = [
        ("sandboxPhoneNumbers", &numbers["description"]),
        (
            "languageCode",
            &numbers["items"]["properties"]["languageCode"]["description"],
        ),
        (
            "verificationCodeRef",
            &numbers["items"]["properties"]["verificationCodeRef"]["description"],
        ),
        (
            "minimumMonthlySpendLimitUSD",
            &spec["minimumMonthlySpendLimitUSD"]["description"],
        ),
    ];
    for (field, doc) in docs {
        let doc = doc.as_str().unwrap_or_else(|| panic!("{field} has a description"));
        assert!(
            !doc.contains("SNS to text") && !doc.contains("SNS texted") && !doc.contains("SNS's"),
            "{field}: {doc}"
        );
    }
    let numbers = numbers["description"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        numbers.contains("End User Messaging SMS text a one-time code"),
        "{numbers}"
    );
}
