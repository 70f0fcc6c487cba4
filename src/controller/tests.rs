use super::*;
use crate::testing::resource;

/// An empty name would record no installation on the pools: each resync would then find
/// its pool unclaimed and tag it again.
#[test]
fn an_empty_installation_name_is_refused() {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Run {
        #[command(flatten)]
        settings: Settings,
    }
    assert!(Run::try_parse_from(["run", "--installation", ""]).is_err());
    let named = Run::try_parse_from(["run", "--installation", "cluster-a"]).unwrap();
    assert_eq!(named.settings.installation.as_deref(), Some("cluster-a"));
}

#[test]
fn backoff_grows_is_capped_and_jittered() {
    let b = Backoff {
        base: Duration::from_secs(2),
        max: Duration::from_secs(300),
    };
    for attempt in 1..=30 {
        let d = b.delay(attempt);
        let ceiling = Duration::from_secs(2)
            .saturating_mul(1 << (attempt - 1).min(20))
            .min(b.max);
        assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
    }
    let spread: std::collections::HashSet<_> = (0..20).map(|_| b.delay(5)).collect();
    assert!(spread.len() > 1, "jitter spreads retries");
}

#[test]
fn status_writes_do_not_trigger_reconciles() {
    let mut obj = resource("a", json!({"userPoolId": "eu-west-1_Abc"}));
    obj.metadata.resource_version = Some("1".into());
    let mut with_status = obj.clone();
    with_status.status = Some(Default::default());
    with_status.metadata.resource_version = Some("2".into());
    assert_eq!(reconcile_worthy(&obj), reconcile_worthy(&with_status));
    let mut newer = obj.clone();
    newer.metadata.generation = Some(2);
    assert_ne!(reconcile_worthy(&obj), reconcile_worthy(&newer));
    let mut finalized = obj.clone();
    finalized.metadata.finalizers = Some(vec![crate::crd::FINALIZER.into()]);
    assert_eq!(
        reconcile_worthy(&obj),
        reconcile_worthy(&finalized),
        "adding the finalizer does not come back as a reconcile"
    );
    let mut deleting = obj.clone();
    deleting.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::now()));
    assert_ne!(reconcile_worthy(&obj), reconcile_worthy(&deleting));
}

#[test]
fn errors_are_reported_by_their_cause() {
    let aws = AwsError::new(
        "iam",
        "DeleteRole",
        crate::aws::ErrorKind::Unavailable,
        "ServiceUnavailable",
        "try later",
    );
    let cleanup = Error::Cleanup(aws);
    assert_eq!(cleanup.category(), "aws_cleanup");
    assert!(
        cleanup.to_string().starts_with("cleanup in AWS: iam DeleteRole failed"),
        "{cleanup}"
    );
    let apply = Error::Kube(kube::Error::LinesCodecMaxLineLengthExceeded);
    assert_eq!(apply.category(), "kubernetes");
    let add = Error::Finalizer {
        action: "add",
        source: kube::Error::LinesCodecMaxLineLengthExceeded,
    };
    assert_eq!(add.category(), "kubernetes");
    assert!(add.to_string().starts_with("cannot add the finalizer"), "{add}");
    assert_eq!(Error::MissingNamespace.category(), "invalid_object");
}
