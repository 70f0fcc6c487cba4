//! Where SNS and End User Messaging disagree, the spend limit, dry runs, deletion, the one-shot command, and the account's limits.

use super::*;

#[tokio::test]
async fn where_sns_and_end_user_messaging_disagree_the_condition_says_so() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    emu.sms_voice_account("us-east-1", json!({"tier": "PRODUCTION", "spendLimit": 50}));
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut res = resource("app", json!({"userPoolId": pool}));

    h.reconcile(&mut res).await;

    let (status, _, message) = condition(&res, types::SANDBOX_EXITED);
    assert_eq!(status, "True", "End User Messaging's tier applies");
    assert!(
        message.contains("SNS GetSMSSandboxAccountStatus says the account is in the sandbox"),
        "{message}"
    );
    let (status, _, message) = condition(&res, types::SPEND_LIMIT_SUFFICIENT);
    assert_eq!(status, "True");
    assert!(
        message.contains("SNS GetSMSAttributes reports MonthlySpendLimit 1"),
        "{message}"
    );
}

#[tokio::test]
async fn the_new_account_spend_limit_is_not_sufficient() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "eu-west-1", "app").await;
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut res = resource("app", json!({"userPoolId": pool}));

    h.reconcile(&mut res).await;
    let (status, reason, message) = condition(&res, types::SPEND_LIMIT_SUFFICIENT);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "SpendLimitTooLow"));
    assert!(message.contains("USD 1, the new-account quota"), "{message}");
    assert_eq!(
        res.status.as_ref().unwrap().monthly_spend_limit_usd.as_deref(),
        Some("1")
    );

    res.spec.minimum_monthly_spend_limit_usd = Some("50".into());
    emu.sns_account("eu-west-1", json!({"monthlySpendLimit": "20"}));
    h.reconcile(&mut res).await;
    assert!(
        condition(&res, types::SPEND_LIMIT_SUFFICIENT)
            .2
            .contains("USD 20, below the USD 50 asked for")
    );

    emu.sns_account("eu-west-1", json!({"monthlySpendLimit": "50"}));
    h.reconcile(&mut res).await;
    assert_eq!(condition(&res, types::SPEND_LIMIT_SUFFICIENT).0, "True");
}

#[tokio::test]
async fn a_dry_run_adds_no_number() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    can_text_us(&emu);
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let res = with_numbers(&pool, &[NUMBER]);
    emu.clear_calls();

    let outcome = reconcile::sync(&h.env(), &res, Mode::DryRun, k8s_openapi::jiff::Timestamp::now()).await;

    assert!(
        outcome
            .changes
            .iter()
            .any(|c| matches!(c, Change::AddSandboxNumber { .. }))
    );
    assert_eq!(emu.write_calls(), vec![]);
    assert!(emu.sms_messages().is_empty());
}

#[tokio::test]
async fn deleting_with_the_delete_policy_removes_the_numbers_it_added() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    can_text_us(&emu);
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut res = with_numbers(&pool, &[NUMBER]);
    res.spec.deletion_policy = cognito_sms_operator::crd::DeletionPolicy::Delete;
    h.reconcile(&mut res).await;
    emu.sns_account("us-east-1", json!({"advanceClockSeconds": 25 * 3600}));

    let out = reconcile::cleanup(&h.env(), &res, Mode::Apply).await.unwrap();

    assert!(
        out.changes
            .iter()
            .any(|c| matches!(c, Change::RemoveSandboxNumber { .. }))
    );
    assert!(
        emu.sms_voice_account("us-east-1", json!({}))["verifiedNumbers"]
            .get(NUMBER)
            .is_none()
    );
}

/// The one-shot mode takes the Secret from the same file; the code never appears in its output
/// or its logs, even at trace level.
#[tokio::test]
async fn one_shot_verification_with_the_secret_in_the_file_and_no_code_in_any_output() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    can_text_us(&emu);
    let manifest = format!(
        "apiVersion: cognitosms.io/v1alpha1\nkind: CognitoSmsConfig\nmetadata: {{name: app, namespace: identity}}\n\
         spec:\n  userPoolId: {pool}\n  sandboxPhoneNumbers:\n  - phoneNumber: \"{NUMBER}\"\n    \
         verificationCodeRef: {{name: sms-codes, key: phone}}\n"
    );
    let run = |yaml: String| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("in.yaml");
        std::fs::write(&file, yaml).unwrap();
        Command::new(env!("CARGO_BIN_EXE_cognito-sms-operator"))
            .args(["reconcile", "--log-level", "trace", "-f"])
            .arg(&file)
            .envs(emu.env())
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let secret = |code: &str| {
        format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: sms-codes, namespace: identity}}\nstringData:\n  phone: \"{code}\"\n"
        )
    };

    let first = run(manifest.clone());
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout).contains("reason: CodeSent"));

    // A distinctive wrong code first: it goes to End User Messaging, and must show up nowhere.
    let wrong = "98765432";
    let second = run(format!("{}{}", String::from_utf8_lossy(&first.stdout), secret(wrong)));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&second.stdout),
        String::from_utf8_lossy(&second.stderr),
    );
    assert!(second.status.success(), "{stderr}");
    assert!(stdout.contains("reason: CodeRejected"), "{stdout}");
    assert!(
        stderr.contains("VerifyDestinationNumber") || stderr.len() > 1000,
        "trace logging is on"
    );
    assert!(
        !stdout.contains(wrong) && !stderr.contains(wrong),
        "the code leaked into the output or logs"
    );

    let code = code_texted_to(&emu, NUMBER);
    let third = run(format!("{}{}", String::from_utf8_lossy(&second.stdout), secret(&code)));
    let stdout = String::from_utf8_lossy(&third.stdout);
    assert!(stdout.contains("state: Verified"), "{stdout}");
    assert!(stdout.contains("verify +*******0100 in the SMS sandbox"), "{stdout}");
}

/// N resources in one region, each reconciled twice within the TTL: the account-level calls stay
/// at one set (9 calls) whatever N is.
#[tokio::test]
async fn account_level_calls_do_not_grow_with_the_number_of_resources() {
    let emu = Emulator::start();
    let mut measured = vec![];
    for n in [1usize, 10, 25] {
        let h = Harness::with_ttl(&emu, Duration::from_secs(300)).await;
        let mut resources = vec![];
        for i in 0..n {
            let pool = create_pool(&emu, "eu-west-1", &format!("p{n}-{i}")).await;
            resources.push(resource(&format!("r{n}-{i}"), json!({"userPoolId": pool})));
        }
        emu.clear_calls();
        for _ in 0..2 {
            for r in resources.iter_mut() {
                h.reconcile(r).await;
            }
        }
        measured.push((n, account_level_calls(&emu).len()));
    }
    println!("resources → account-level calls per TTL: {measured:?}");
    let one_set = ACCOUNT_LEVEL.len();
    assert_eq!(measured, [(1, one_set), (10, one_set), (25, one_set)]);
}

/// End User Messaging allows 10 verified destination numbers per account and region; the 11th is
/// refused and the number reports why, without failing the rest of the resource.
#[tokio::test]
async fn the_eleventh_sandbox_number_is_refused_with_the_reason() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    can_text_us(&emu);
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    for i in 0..10 {
        let eum = h.aws.sms_voice("us-east-1");
        eum.add_destination(&format!("+1425555020{i}"), None, &Default::default())
            .await
            .unwrap();
    }
    let mut res = with_numbers(&pool, &[NUMBER]);

    let outcome = h.reconcile(&mut res).await;

    let (state, reason, message) = number_state(&res, "0100");
    assert_eq!(
        (state, reason.as_str()),
        (SandboxNumberState::Failed, "ServiceQuotaExceededException")
    );
    assert!(
        message.contains("VERIFIED_DESTINATION_NUMBERS_PER_ACCOUNT") || message.contains("10"),
        "{message}"
    );
    assert_eq!(condition(&res, types::PHONE_NUMBERS_VERIFIED).0, "False");
    assert_eq!(
        condition(&res, types::READY).0,
        "True",
        "the pool is configured all the same"
    );
    assert!(
        !outcome
            .changes
            .iter()
            .any(|c| matches!(c, Change::AddSandboxNumber { .. }))
    );
}

/// DescribePhoneNumbers is paginated: every page is read.
#[tokio::test]
async fn every_page_of_origination_numbers_is_read() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let numbers: Vec<_> = (0..35)
        .map(|i| json!({"phoneNumber": format!("+1206555{i:04}"), "type": "TOLL_FREE"}))
        .collect();
    emu.sns_account("us-east-1", json!({"originationNumbers": numbers}));
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut res = resource("app", json!({"userPoolId": pool, "destinationCountries": ["US"]}));
    emu.clear_calls();

    h.reconcile(&mut res).await;

    let identities = &res.status.as_ref().unwrap().origination_identities;
    assert_eq!(identities.len(), 35);
    assert!(identities.iter().all(|i| i.type_ == "TollFree"));
    let calls = emu.calls();
    assert_eq!(
        calls.iter().filter(|(_, a)| a == "DescribePhoneNumbers").count(),
        4,
        "10 + 10 + 10 + 5"
    );
}

/// The month's spend as CloudWatch reports it, against the limit: SNS's metric on the SNS path,
/// End User Messaging's on the direct path, each read with the account's state.
#[tokio::test]
async fn spend_past_the_warning_share_of_the_limit_turns_spend_headroom_false() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    emu.sms_voice_account("us-east-1", json!({"spendLimit": 10}));
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut res = resource("app", json!({"userPoolId": pool}));
    let spend = |res: &CognitoSmsConfig| {
        let row = &res.status.as_ref().unwrap().spend[0];
        (
            row.region.clone(),
            row.spent_usd.clone(),
            row.limit_usd.clone(),
            row.percent,
        )
    };

    h.reconcile(&mut res).await;
    assert_eq!(spend(&res), ("us-east-1".into(), "0.00".into(), "10.00".into(), 0));
    let (status, reason, _) = condition(&res, types::SPEND_HEADROOM);
    assert_eq!((status.as_str(), reason.as_str()), ("True", "SpendBelowWarning"));

    emu.sns_account("us-east-1", json!({"spentThisMonth": 8.25}));
    emu.sms_voice_account("us-east-1", json!({"spentThisMonth": 1.5}));
    h.reconcile(&mut res).await;
    assert_eq!(spend(&res), ("us-east-1".into(), "8.25".into(), "10.00".into(), 82));
    let (status, reason, message) = condition(&res, types::SPEND_HEADROOM);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "SpendNearLimit"));
    assert!(
        message.contains("USD 8.25 of the USD 10.00 monthly SMS spend limit spent this month in us-east-1 (82%"),
        "{message}"
    );
    assert_eq!(condition(&res, types::READY).0, "True", "a warning, not a failure");

    // Raised to 90%, or on the direct path, where End User Messaging's metric counts.
    res.spec.spend_warning_percent = Some(90);
    h.reconcile(&mut res).await;
    assert_eq!(condition(&res, types::SPEND_HEADROOM).0, "True");
    res.spec.spend_warning_percent = None;
    res.spec.end_user_messaging = Some(Default::default());
    h.reconcile(&mut res).await;
    assert_eq!(spend(&res).1, "1.50");
    assert_eq!(condition(&res, types::SPEND_HEADROOM).0, "True");
}

/// Without permission to read CloudWatch, only the warning is unknown.
#[tokio::test]
async fn an_unreadable_spend_leaves_only_spend_headroom_unknown() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    emu.sms_voice_account("us-east-1", json!({"tier": "PRODUCTION", "spendLimit": 10}));
    emu.inject_fault("cloudwatch", "GetMetricData", "AccessDenied", 1);
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut res = resource("app", json!({"userPoolId": pool}));

    h.reconcile(&mut res).await;

    let (status, reason, message) = condition(&res, types::SPEND_HEADROOM);
    assert_eq!((status.as_str(), reason.as_str()), ("Unknown", "SpendUnknown"));
    assert!(
        message.contains("allow the operator cloudwatch:GetMetricData"),
        "{message}"
    );
    assert_eq!(condition(&res, types::SANDBOX_EXITED).0, "True");
    assert!(res.status.as_ref().unwrap().spend.is_empty());
}
