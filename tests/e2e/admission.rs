//! What the real API server refuses at admission.

use super::*;

/// 8. Invalid resources are rejected at admission with the schema's message.
#[tokio::test]
async fn invalid_resources_are_rejected_at_admission() {
    let c = Cluster::start().await;
    let err = c
        .csms()
        .create(
            &PostParams::default(),
            &manifest(
                "bad",
                json!({"userPoolId": "ap-northeast-2_Abc", "snsRegion": "ap-northeast-2"}),
            ),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("an API error")
    };
    assert_eq!(status.code, 422);
    assert!(
        status
            .message
            .contains("snsRegion ap-northeast-2 cannot be used by user pool ap-northeast-2_Abc"),
        "{}",
        status.message
    );
    assert!(c.csms().get_opt("bad").await.unwrap().is_none());
}

/// 10. The guide's refusals for the direct path, at admission.
#[tokio::test]
async fn the_direct_path_is_refused_at_admission_where_the_guide_says() {
    let c = Cluster::start().await;
    let cases = [
        (
            json!({"userPoolId": "eu-west-1_Abc", "snsRegion": "eu-west-1", "endUserMessaging": {}}),
            "snsRegion chooses the SNS region, but with endUserMessaging",
        ),
        (
            json!({"userPoolId": "ap-southeast-7_Abc", "endUserMessaging": {}}),
            "End User Messaging SMS direct path is not available for pools in ap-southeast-7",
        ),
        (
            json!({"userPoolId": "ap-east-1_Abc", "endUserMessaging": {}}),
            "not available for pools in",
        ),
        (
            json!({"userPoolId": "ap-southeast-5_Abc", "endUserMessaging": {}}),
            "not available for pools in",
        ),
        (
            json!({"userPoolId": "ap-south-1_Abc", "destinationCountries": ["IN"], "endUserMessaging": {}}),
            "needs the DLT IDs",
        ),
    ];
    for (spec, message) in cases {
        let err = c
            .csms()
            .create(&PostParams::default(), &manifest("bad", spec.clone()))
            .await
            .unwrap_err();
        let kube::Error::Api(status) = err else {
            panic!("an API error for {spec}")
        };
        assert_eq!(status.code, 422, "{spec}");
        assert!(status.message.contains(message), "{spec}: {}", status.message);
    }
    assert!(c.csms().get_opt("bad").await.unwrap().is_none());
}
