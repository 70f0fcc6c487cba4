//! When each resource is next due, for the queue metrics: how many reconciles run, how many
//! resources wait for their turn, and how long ago the least recently synced one was synced.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::crd::CognitoSmsConfig;

/// A resource's key in the schedule: its uid, so that a scrape looks resources up without
/// allocating, and a resource recreated under the same name starts afresh.
fn key(obj: &CognitoSmsConfig) -> &str {
    obj.metadata.uid.as_deref().unwrap_or_default()
}

/// The share of a region's `UserPoolRead` budget that resyncs may spend when nothing changes,
/// leaving the rest for changes, retries and the account's other clients.
pub const RESYNC_READ_SHARE: f64 = 0.5;

/// How often a resource is resynced: the configured period, made longer when resyncing every
/// one of the `pools` resources of its region that often would read their user pools faster than
/// [`RESYNC_READ_SHARE`] of the region's `read_budget` (requests per second) allows.
pub fn resync_period(configured: Duration, pools: usize, read_budget: f64) -> Duration {
    let floor = pools as f64 / (RESYNC_READ_SHARE * read_budget);
    if floor.is_finite() && floor > configured.as_secs_f64() {
        Duration::from_secs_f64(floor.ceil())
    } else {
        configured
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Due {
    Running,
    At(Instant),
    /// Until something changes.
    Idle,
}

/// The queue as the metrics show it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Queue {
    pub running: i64,
    /// Resources due (or never reconciled in this term) and not running: waiting for a slot.
    pub waiting: i64,
    /// Seconds since the least recently synced resource was synced (0 when none was yet).
    pub oldest_sync_age: f64,
}

#[derive(Debug, Default)]
pub struct Schedule(Mutex<HashMap<String, (Due, Option<Instant>)>>);

impl Schedule {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, (Due, Option<Instant>)>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(super) fn started(&self, obj: &CognitoSmsConfig) {
        self.with(|m| m.entry(key(obj).to_owned()).or_insert((Due::Idle, None)).0 = Due::Running);
    }

    /// The reconcile synced the resource; it is due again in `after`.
    pub(super) fn synced(&self, obj: &CognitoSmsConfig, after: Duration) {
        let now = Instant::now();
        self.with(|m| m.insert(key(obj).to_owned(), (Due::At(now + after), Some(now))));
    }

    /// The reconcile failed; it is tried again in `after`.
    pub(super) fn retry(&self, obj: &CognitoSmsConfig, after: Duration) {
        let due = Due::At(Instant::now() + after);
        self.with(|m| m.entry(key(obj).to_owned()).or_insert((due, None)).0 = due);
    }

    /// The reconcile ended: a resource still marked running waits for a change.
    pub(super) fn finished(&self, obj: &CognitoSmsConfig) {
        self.with(|m| {
            if let Some(entry) = m.get_mut(key(obj))
                && entry.0 == Due::Running
            {
                entry.0 = Due::Idle;
            }
        });
    }

    pub(super) fn forget(&self, obj: &CognitoSmsConfig) {
        self.with(|m| m.remove(key(obj)));
    }

    /// The queue of `resources`, the ones watched now.
    pub fn queue<'a>(&self, resources: impl Iterator<Item = &'a CognitoSmsConfig>) -> Queue {
        let now = Instant::now();
        self.with(|m| {
            let mut q = Queue::default();
            for r in resources {
                let (due, synced) = m.get(key(r)).copied().unwrap_or((Due::At(now), None));
                match due {
                    Due::Running => q.running += 1,
                    Due::At(at) if at <= now => q.waiting += 1,
                    Due::At(_) | Due::Idle => {}
                }
                if let Some(at) = synced {
                    q.oldest_sync_age = q.oldest_sync_age.max(now.duration_since(at).as_secs_f64());
                }
            }
            q
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ResourceFixture, resource};
    use serde_json::json;

    fn obj(name: &str) -> CognitoSmsConfig {
        resource(name, json!({"userPoolId": "us-east-1_Abc"})).in_namespace("apps")
    }

    #[test]
    fn counts_running_waiting_and_the_oldest_sync() {
        let s = Schedule::default();
        let (a, b, c, d) = (obj("a"), obj("b"), obj("c"), obj("d"));
        s.started(&a);
        s.synced(&b, Duration::from_secs(600));
        s.retry(&c, Duration::ZERO);
        let all = [&a, &b, &c, &d];
        let q = s.queue(all.into_iter());
        assert_eq!((q.running, q.waiting), (1, 2), "c is due, d never ran");
        assert!(q.oldest_sync_age < 1.0);
        s.finished(&a);
        s.finished(&b);
        let q = s.queue(all.into_iter());
        assert_eq!((q.running, q.waiting), (0, 2), "a waits for a change, b for its resync");
    }

    #[test]
    fn resyncs_of_many_pools_spend_at_most_half_the_read_budget() {
        let ten_minutes = Duration::from_secs(600);
        assert_eq!(
            resync_period(ten_minutes, 1000, 13.0),
            ten_minutes,
            "1000 pools: 1.7 reads/s"
        );
        // 5000 pools every 10 minutes would read 8.3 pools a second; half of 13 is 6.5.
        assert_eq!(resync_period(ten_minutes, 5000, 13.0), Duration::from_secs(770));
        assert_eq!(resync_period(ten_minutes, 5000, 26.0), Duration::from_secs(600));
        assert_eq!(resync_period(Duration::from_secs(30), 0, 13.0), Duration::from_secs(30));
    }
}
