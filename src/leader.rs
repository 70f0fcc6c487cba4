//! Leader election on a `coordination.k8s.io/v1` Lease, so that several replicas can run and
//! only one reconciles.
//!
//! The algorithm is client-go's: the holder renews the Lease every retry period; a candidate takes
//! it over once it has seen the same record, unrenewed, for a whole lease duration (measured on
//! its own clock, so clock skew between nodes does not matter); updates carry the Lease's
//! resourceVersion, so two candidates cannot both win. A leader that has not renewed within the
//! renew deadline (shorter than the lease duration) considers itself deposed at once, before any
//! other replica may take over.
//!
//! Written here rather than taken from a crate: `kube-leader-election` targets kube 4, and
//! `kube-lease-manager` (0.13, for kube 5) keeps reporting leadership while its renewals fail, so
//! a leader cut off from the API server would go on writing to AWS after a standby took over.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::time::Instant;

/// The Lease and its timing; each field is also a flag of `cognito-sms-operator run`.
#[derive(Debug, Clone, clap::Args)]
pub struct LeaseSettings {
    /// Name of the Lease.
    #[arg(long = "lease-name", default_value = "cognito-sms-operator")]
    pub name: String,
    /// Namespace of the Lease: the operator's own.
    #[arg(long = "lease-namespace", env = "POD_NAMESPACE", default_value = "default")]
    pub namespace: String,
    /// This replica's identity in the Lease; defaults to the Pod name.
    #[arg(long, env = "POD_NAME", default_value_t = random_identity(), hide_default_value = true)]
    pub identity: String,
    /// How long a Lease stays valid without renewal before a standby takes over.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it stops reconciling.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub renew_deadline: Duration,
    /// How often the Lease is renewed or, by a standby, checked.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = humantime::parse_duration)]
    pub retry_period: Duration,
}

impl LeaseSettings {
    /// Whether the timings can work: a renewal must fit in the deadline, and the deadline must
    /// pass before a standby may take over.
    pub fn is_consistent(&self) -> bool {
        self.retry_period < self.renew_deadline && self.renew_deadline < self.lease_duration
    }
}

fn random_identity() -> String {
    format!("cognito-sms-operator-{:08x}", rand::random::<u32>())
}

/// What a candidate does on one tick, given the Lease as last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Renew,
    Acquire,
    Follow,
}

/// The part of a Lease that tells whether its holder is alive.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    holder: Option<String>,
    renew_time: Option<Timestamp>,
    transitions: i32,
}

impl Record {
    fn of(lease: &Lease) -> Self {
        let spec = lease.spec.clone().unwrap_or_default();
        Self {
            holder: spec.holder_identity.filter(|h| !h.is_empty()),
            renew_time: spec.renew_time.map(|t| t.0),
            transitions: spec.lease_transitions.unwrap_or(0),
        }
    }
}

/// Decide a tick. `unchanged_for` is how long this candidate has seen the current record without
/// any renewal.
pub fn decide(identity: &str, holder: Option<&str>, unchanged_for: Duration, lease_duration: Duration) -> Step {
    match holder {
        Some(h) if h == identity => Step::Renew,
        None => Step::Acquire,
        Some(_) if unchanged_for >= lease_duration => Step::Acquire,
        Some(_) => Step::Follow,
    }
}

pub struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
    observed: Option<(Record, Instant)>,
    last_renewal: Option<Instant>,
}

impl Elector {
    pub fn new(client: Client, settings: LeaseSettings) -> Self {
        Self {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            observed: None,
            last_renewal: None,
        }
    }

    fn spec(&self, acquire: Option<Timestamp>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.settings.identity.clone()),
            lease_duration_seconds: Some(self.settings.lease_duration.as_secs().max(1) as i32),
            acquire_time: acquire.map(MicroTime),
            renew_time: Some(MicroTime(Timestamp::now())),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }

    /// One round trip with the API server. `Ok(true)` when this replica holds the Lease after it.
    async fn tick(&mut self) -> Result<bool, kube::Error> {
        let now = Instant::now();
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    ..Default::default()
                },
                spec: Some(self.spec(Some(Timestamp::now()), 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let record = Record::of(&lease);
        let since = match &self.observed {
            Some((seen, at)) if *seen == record => *at,
            _ => now,
        };
        self.observed = Some((record.clone(), since));
        let step = decide(
            &self.settings.identity,
            record.holder.as_deref(),
            now - since,
            self.settings.lease_duration,
        );
        let spec = match step {
            Step::Follow => return Ok(false),
            Step::Renew => {
                let acquired = lease.spec.as_ref().and_then(|s| s.acquire_time.clone()).map(|t| t.0);
                self.spec(acquired.or(Some(Timestamp::now())), record.transitions)
            }
            Step::Acquire => self.spec(Some(Timestamp::now()), record.transitions + 1),
        };
        lease.spec = Some(spec);
        // resourceVersion travels with the object: a concurrent change makes this a 409.
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                if step == Step::Acquire {
                    tracing::info!(identity = %self.settings.identity, "acquired the leader lease");
                }
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Give the Lease up, if held, so a standby takes over without waiting for it to expire.
    async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.settings.name).await else {
            return;
        };
        if Record::of(&lease).holder.as_deref() != Some(self.settings.identity.as_str()) {
            return;
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(Timestamp::now()));
        }
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(identity = %self.settings.identity, "released the leader lease"),
            Err(e) => tracing::warn!(error = %e, "could not release the leader lease; it expires by itself"),
        }
    }

    /// Campaign and renew until `shutdown` turns true, publishing leadership on `leading`; then
    /// release the Lease. Leadership is lost the moment the last renewal is older than the renew
    /// deadline, whatever the reason (deposed, API server unreachable, slow).
    pub async fn run(mut self, leading: watch::Sender<bool>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let started = Instant::now();
            let lose_at = self.lose_at();
            // Leadership ends at the renew deadline itself, even in the middle of a round trip
            // or a wait, not at the next check: a standby may take over `lease_duration` after
            // the last renewal, so the margin is `lease_duration - renew_deadline` (5 s by default).
            let ticked = tokio::select! {
                ticked = tokio::time::timeout(self.settings.retry_period, self.tick()) => Some(ticked),
                _ = until(lose_at) => None,
            };
            match ticked {
                Some(Ok(Ok(true))) => self.last_renewal = Some(started),
                Some(Ok(Ok(false))) => self.last_renewal = None,
                Some(Ok(Err(e))) => tracing::warn!(error = %e, "leader lease round trip failed"),
                Some(Err(_)) => tracing::warn!("leader lease round trip timed out"),
                None => tracing::warn!("leader lease not renewed within the renew deadline"),
            }
            self.publish(&leading);
            tokio::select! {
                _ = tokio::time::sleep(self.settings.retry_period) => {}
                _ = until(self.lose_at()) => self.publish(&leading),
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        leading.send_replace(false);
        self.release().await;
    }

    /// When leadership ends unless the Lease is renewed: the renew deadline after the start of
    /// the last successful renewal.
    fn lose_at(&self) -> Option<Instant> {
        self.last_renewal.map(|at| at + self.settings.renew_deadline)
    }

    /// Publish whether this replica leads now.
    fn publish(&self, leading: &watch::Sender<bool>) {
        let lead = self.lose_at().is_some_and(|at| Instant::now() < at);
        leading.send_if_modified(|was| {
            let changed = *was != lead;
            if changed && !lead {
                tracing::warn!(identity = %self.settings.identity, "lost the leader lease: stopping all writes");
            }
            *was = lead;
            changed
        });
    }
}

/// Wait until `at`, or for ever.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(15);

    #[test]
    fn the_holder_renews() {
        assert_eq!(decide("a", Some("a"), Duration::from_secs(100), D), Step::Renew);
    }

    #[test]
    fn a_free_lease_is_taken() {
        assert_eq!(decide("a", None, Duration::ZERO, D), Step::Acquire);
    }

    #[test]
    fn a_live_holder_is_followed_and_a_silent_one_replaced() {
        assert_eq!(decide("a", Some("b"), Duration::from_secs(14), D), Step::Follow);
        assert_eq!(decide("a", Some("b"), Duration::from_secs(15), D), Step::Acquire);
    }
}
