//! Status ownership, long messages in Events, and namespaces that grant no Secret access.

use super::*;

/// A namespace that has not let the operator read its Secrets: the API server refuses with a
/// real 403 (RBAC), the number's condition gives the exact command that grants access, the
/// operator does not storm the API server, and a grant is picked up without being asked again.
#[tokio::test]
async fn a_namespace_without_secret_access_is_told_how_to_grant_it() {
    let c = Cluster::start_without_secret_access().await;
    c.emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [{"phoneNumber": "+18885550199", "type": "TOLL_FREE"}]}),
    );
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    let op = c.operator(&["--resync-period", "1s"]);
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "codes"}, "stringData": {"qa": "000000"}})).unwrap();
    c.api::<Secret>().create(&PostParams::default(), &secret).await.unwrap();
    let from = c.plane().audit().len();
    let started = Instant::now();
    c.create(
        "app",
        json!({"userPoolId": pool, "sandboxPhoneNumbers": [
            {"phoneNumber": "+14255550100", "verificationCodeRef": {"name": "codes", "key": "qa"}}]}),
    )
    .await;
    let command = c.secret_grant().command(&c.ns);
    let api = c.csms();
    let message = eventually(&op, Duration::from_secs(20), "SecretUnreadable", || {
        let api = api.clone();
        async move {
            let r = api.get("app").await.ok()?;
            let c = r.condition("PhoneNumbersVerified")?;
            (c.reason == "SecretUnreadable").then(|| c.message.clone())
        }
    })
    .await;
    assert!(message.contains(&command), "{message}");
    assert!(message.contains("403 Forbidden"), "{message}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let secret_requests: Vec<_> = c
        .operator_requests(from)
        .into_iter()
        .filter(|r| r.resource == "secrets")
        .collect();
    assert!(
        secret_requests.iter().all(|r| r.code == 403),
        "every Secret request refused: {secret_requests:?}"
    );
    let rate = secret_requests.len() as f64 / started.elapsed().as_secs_f64();
    assert!(
        rate < 5.0,
        "{} Secret requests in {:?}",
        secret_requests.len(),
        started.elapsed()
    );

    // The team runs the command; the operator reads the code without being asked again.
    c.grant_secret_access();
    eventually(&op, Duration::from_secs(20), "the code read", || {
        let api = api.clone();
        async move {
            let r = api.get("app").await.ok()?;
            let reason = r.condition("PhoneNumbersVerified")?.reason.clone();
            (reason != "SecretUnreadable").then_some(())
        }
    })
    .await;
    println!(
        "| Secrets forbidden (403) in the namespace | {} Secret requests | {rate:.1} | | hold |",
        secret_requests.len()
    );
}

/// Status goes through the status subresource by server-side apply, owned by the operator's
/// field manager alone; a message longer than an Event may carry reaches the Event cut to 1 KiB
/// with an ellipsis, and the condition whole.
#[tokio::test]
async fn status_is_applied_by_its_own_manager_and_long_messages_fit_events() {
    let c = Cluster::start().await;
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    let op = c.operator(&["--resync-period", "1s"]);
    c.create("app", json!({"userPoolId": pool})).await;
    wait_ready(&c, &op, "app").await;

    let res = c.csms().get("app").await.unwrap();
    let managers = res.metadata.managed_fields.unwrap_or_default();
    let status: Vec<_> = managers
        .iter()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .collect();
    assert_eq!(status.len(), 1, "{managers:?}");
    assert_eq!(status[0].manager.as_deref(), Some("cognito-sms-operator"));
    assert_eq!(status[0].operation.as_deref(), Some("Apply"));
    let spec_owned_by_operator = managers.iter().any(|m| {
        m.manager.as_deref() == Some("cognito-sms-operator")
            && m.fields_v1.as_ref().is_some_and(|f| f.0.get("f:spec").is_some())
    });
    assert!(!spec_owned_by_operator, "the spec is the user's: {managers:?}");

    // Cognito's own diagnosis of the pool, far longer than an Event's note may be.
    let diagnosis = format!(
        "InvalidSmsRoleAccessPolicyException: {}",
        "the role cannot publish. ".repeat(200)
    );
    c.emu
        .set_sms_configuration_failure("us-east-1", &pool, Some(&diagnosis));
    let api = c.csms();
    let (role, ready) = eventually(&op, Duration::from_secs(20), "Cognito's diagnosis", || {
        let api = api.clone();
        async move {
            let r = api.get("app").await.ok()?;
            let role = r.condition("RoleReady")?;
            let ready = r.condition("Ready")?;
            (role.reason == "CognitoReportsSmsConfigurationFailure")
                .then(|| (role.message.clone(), ready.message.clone()))
        }
    })
    .await;
    assert!(
        role.len() > 4096,
        "the condition keeps the whole message: {}",
        role.len()
    );
    assert!(role.contains(diagnosis.trim()), "{role}");
    let warning = eventually(&op, Duration::from_secs(20), "the Warning", || async {
        events(&c)
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("CognitoReportsSmsConfigurationFailure"))
    })
    .await;
    let note = warning.note.unwrap();
    assert!(note.len() <= 1024, "{}", note.len());
    assert!(note.ends_with('…'), "{note}");
    assert!(ready.len() > 1024, "{ready}");
    assert!(ready.starts_with(note.trim_end_matches('…')), "{note}\n{ready}");
}
