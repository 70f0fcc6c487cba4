//! When each resource is next due, for the queue metrics: how many reconciles run, how many
//! resources wait for their turn, and how long ago the least recently synced one was synced.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::crd::CognitoSmsConfig;
use crate::metrics::Queue;

/// A resource's key in the schedule: its uid, so that a resource recreated under the same name
/// starts afresh.
fn key(obj: &CognitoSmsConfig) -> &str {
    obj.metadata.uid.as_deref().unwrap_or_default()
}

/// The share of a region's `UserPoolRead` budget that resyncs may spend when nothing changes,
/// leaving the rest for changes, retries and the account's other clients.
pub const RESYNC_READ_SHARE: f64 = 0.5;

/// The `UserPoolRead` calls one resync of a converged resource makes in its pool's region:
/// `DescribeUserPool` and `ListUserPoolReplicas`.
pub const USER_POOL_READS_PER_RESYNC: usize = 2;

/// How often a resource is resynced: the configured period, made longer when resyncing every
/// one of the `pools` resources of its region that often would read their user pools faster than
/// [`RESYNC_READ_SHARE`] of the region's `read_budget` (requests per second) allows.
pub fn resync_period(configured: Duration, pools: usize, read_budget: f64) -> Duration {
    let reads = (pools * USER_POOL_READS_PER_RESYNC) as f64;
    let floor = reads / (RESYNC_READ_SHARE * read_budget);
    if floor.is_finite() && floor > configured.as_secs_f64() {
        Duration::from_secs_f64(floor.ceil())
    } else {
        configured
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Due {
    /// Not reconciled since the operator started: waiting for its first turn.
    New,
    Running,
    At(Instant),
    /// Until something changes.
    Idle,
}

/// One watched resource's place in the schedule.
#[derive(Debug, Clone, Copy)]
struct Slot {
    due: Due,
    /// When it was last compared with AWS to the end.
    synced: Option<Instant>,
}

/// Every watched resource, by uid, and when it is due. The watch adds and removes resources;
/// reconciles only move the ones it holds, so a reconcile that ends after its resource is gone
/// leaves nothing behind. A scrape reads the slots alone, never the watched objects.
#[derive(Debug, Default)]
pub struct Schedule(Mutex<HashMap<String, Slot>>);

impl Schedule {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Slot>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn update(&self, obj: &CognitoSmsConfig, f: impl FnOnce(&mut Slot)) {
        self.with(|m| m.get_mut(key(obj)).map(f));
    }

    /// The watch sees the resource with this uid; one it already held keeps its place.
    pub(super) fn watch(&self, uid: &str) {
        self.with(|m| {
            if !m.contains_key(uid) {
                m.insert(
                    uid.to_owned(),
                    Slot {
                        due: Due::New,
                        synced: None,
                    },
                );
            }
        });
    }

    /// The watch no longer sees the resource with this uid.
    pub(super) fn unwatch(&self, uid: &str) {
        self.with(|m| m.remove(uid));
    }

    pub(super) fn started(&self, obj: &CognitoSmsConfig) {
        self.update(obj, |s| s.due = Due::Running);
    }

    /// The reconcile synced the resource; it is due again in `after`.
    pub(super) fn synced(&self, obj: &CognitoSmsConfig, after: Duration) {
        let now = Instant::now();
        self.update(obj, |s| {
            *s = Slot {
                due: Due::At(now + after),
                synced: Some(now),
            }
        });
    }

    /// The reconcile failed; it is tried again in `after`.
    pub(super) fn retry(&self, obj: &CognitoSmsConfig, after: Duration) {
        let due = Due::At(Instant::now() + after);
        self.update(obj, |s| s.due = due);
    }

    /// The reconcile ended: a resource still marked running waits for a change.
    pub(super) fn finished(&self, obj: &CognitoSmsConfig) {
        self.update(obj, |s| {
            if s.due == Due::Running {
                s.due = Due::Idle;
            }
        });
    }

    /// The queue now: one pass over the slots, whatever the number of resources.
    pub fn queue(&self) -> Queue {
        let now = Instant::now();
        self.with(|m| {
            let mut q = Queue::default();
            let mut oldest: Option<Instant> = None;
            for slot in m.values() {
                match slot.due {
                    Due::Running => q.running += 1,
                    Due::New => q.waiting += 1,
                    Due::At(at) if at <= now => q.waiting += 1,
                    Due::At(_) | Due::Idle => {}
                }
                if let Some(at) = slot.synced {
                    oldest = Some(oldest.map_or(at, |o| o.min(at)));
                }
            }
            q.oldest_sync_age = oldest.map_or(0.0, |at| now.duration_since(at).as_secs_f64());
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

    fn watched(s: &Schedule, objs: &[&CognitoSmsConfig]) {
        for o in objs {
            s.watch(key(o));
        }
    }

    #[test]
    fn counts_running_waiting_and_the_oldest_sync() {
        let s = Schedule::default();
        let (a, b, c, d) = (obj("a"), obj("b"), obj("c"), obj("d"));
        watched(&s, &[&a, &b, &c, &d]);
        s.started(&a);
        s.synced(&b, Duration::from_secs(600));
        s.retry(&c, Duration::ZERO);
        let q = s.queue();
        assert_eq!((q.running, q.waiting), (1, 2), "c is due, d never ran");
        assert!(q.oldest_sync_age < 1.0);
        s.finished(&a);
        s.finished(&b);
        let q = s.queue();
        assert_eq!((q.running, q.waiting), (0, 2), "a waits for a change, b for its resync");
    }

    #[test]
    fn a_resource_the_watch_no_longer_sees_leaves_the_queue_even_mid_reconcile() {
        let s = Schedule::default();
        let (a, b) = (obj("a"), obj("b"));
        watched(&s, &[&a, &b]);
        s.started(&a);
        s.unwatch(key(&a));
        s.retry(&a, Duration::ZERO);
        s.finished(&a);
        assert_eq!(
            (s.queue().running, s.queue().waiting),
            (0, 1),
            "only b, never reconciled"
        );
        s.synced(&b, Duration::from_secs(600));
        watched(&s, &[&b]);
        assert_eq!(s.queue().waiting, 0, "seeing b again keeps its place");
        s.unwatch(key(&b));
        assert_eq!(s.queue(), Queue::default());
    }

    #[test]
    fn the_oldest_sync_is_the_least_recent_one() {
        let s = Schedule::default();
        let (a, b) = (obj("a"), obj("b"));
        watched(&s, &[&a, &b]);
        s.synced(&a, Duration::from_secs(600));
        let gap = Duration::from_millis(20);
        std::thread::sleep(gap);
        s.synced(&b, Duration::from_secs(600));
        let between = Instant::now();
        let with_a = s.queue().oldest_sync_age;
        assert!(with_a >= gap.as_secs_f64(), "{with_a}");
        s.unwatch(key(&a));
        let only_b = s.queue().oldest_sync_age;
        // b was synced at least `gap` after a; the clock moved on by `between.elapsed()`.
        assert!(
            only_b <= with_a - gap.as_secs_f64() + between.elapsed().as_secs_f64(),
            "{only_b} against {with_a}"
        );
    }

    #[test]
    fn resyncs_of_many_pools_spend_at_most_half_the_read_budget() {
        let ten_minutes = Duration::from_secs(600);
        assert_eq!(
            resync_period(ten_minutes, 1000, 13.0),
            ten_minutes,
            "1000 pools: 3.3 reads/s"
        );
        // 5000 pools every 10 minutes would make 16.7 reads a second (two a pool); half of 13 is
        // 6.5.
        assert_eq!(resync_period(ten_minutes, 5000, 13.0), Duration::from_secs(1539));
        assert_eq!(resync_period(ten_minutes, 5000, 52.0), Duration::from_secs(600));
        assert_eq!(resync_period(Duration::from_secs(30), 0, 13.0), Duration::from_secs(30));
    }
}
