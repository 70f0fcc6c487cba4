//! The stand-in under fleet-like load: thousands of custom resources created quickly, a finalizer
//! added to each (as kube's finalizer helper does it, with a JSON patch `test`), and their status
//! applied several times, while watches are open (a raw watch, a metadata-only one, and kube's
//! watcher and reflector configured as the operator runs them) and lists run alongside.
//!
//! `watches_keep_up_under_load` checks, at a few hundred objects, that no watch loses, repeats
//! or reorders an event and that the reflector ends up with the server's state.
//! `fleet_benchmark` (ignored; `cargo test -p testkit --release --test load -- --ignored
//! --nocapture`) does the same with 5,000 objects (`STANDIN_LOAD_OBJECTS`) against the
//! `kube-standin` binary in its own process, and prints throughput, latencies, watch lag, and
//! the server's CPU time and memory.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

#[path = "../common/mod.rs"]
mod common;
mod report;
use common::*;
use report::*;

/// How much load to make.
#[derive(Clone, Copy)]
struct Load {
    objects: usize,
    namespaces: usize,
    status_rounds: usize,
    concurrency: usize,
}

/// `(namespace, name)`.
type Name = (String, String);

/// What the writers saw: when each resourceVersion was acknowledged, and each object's last one.
#[derive(Default)]
struct Acks {
    at: Mutex<HashMap<u64, Instant>>,
    last: Mutex<HashMap<Name, u64>>,
    latencies: Mutex<BTreeMap<&'static str, Vec<Duration>>>,
    failures: Mutex<BTreeMap<&'static str, usize>>,
}

impl Acks {
    fn ack(&self, verb: &'static str, started: Instant, obj: &DynamicObject) {
        let now = Instant::now();
        let rv = rv_of(obj);
        self.at.lock().unwrap().insert(rv, now);
        let key = (obj.namespace().unwrap_or_default(), obj.name_any());
        let mut last = self.last.lock().unwrap();
        let entry = last.entry(key).or_default();
        *entry = (*entry).max(rv);
        drop(last);
        self.latency(verb, now - started);
    }

    fn latency(&self, verb: &'static str, d: Duration) {
        self.latencies.lock().unwrap().entry(verb).or_default().push(d);
    }

    fn fail(&self, verb: &'static str) {
        *self.failures.lock().unwrap().entry(verb).or_default() += 1;
    }
}

fn rv_of(obj: &DynamicObject) -> u64 {
    obj.resource_version().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// What one raw watch saw: each event's resourceVersion and arrival, and what went wrong.
#[derive(Default)]
struct Seen {
    events: Mutex<Vec<(u64, Instant)>>,
    reordered: AtomicUsize,
    restarts: AtomicUsize,
    expired: AtomicUsize,
    /// Notified once the watch is open.
    ready: Arc<tokio::sync::Notify>,
}

/// Watch every object from now on, as `metadata_only` or whole, resuming where a watch ends.
async fn record(api: Api<DynamicObject>, metadata_only: bool, seen: Arc<Seen>, stop: Arc<AtomicBool>) {
    let wp = WatchParams::default().timeout(290);
    let mut rv = "0".to_string();
    let mut ready = Some(seen.ready.clone());
    while !stop.load(Ordering::Relaxed) {
        let stream = if metadata_only {
            api.watch_metadata(&wp, &rv)
                .await
                .map(|s| s.map_ok(|e| seen_as(e, rv_meta)).boxed())
        } else {
            api.watch(&wp, &rv)
                .await
                .map(|s| s.map_ok(|e| seen_as(e, |o| rv_of(&o))).boxed())
        };
        let Ok(mut stream) = stream else { continue };
        if let Some(ready) = ready.take() {
            ready.notify_one();
        }
        while let Some(e) = stream.next().await {
            match e {
                Ok(WatchEvent::Added(v) | WatchEvent::Modified(v) | WatchEvent::Deleted(v)) => {
                    let mut events = seen.events.lock().unwrap();
                    if events.last().is_some_and(|(last, _)| *last >= v) {
                        seen.reordered.fetch_add(1, Ordering::Relaxed);
                    }
                    events.push((v, Instant::now()));
                    rv = v.to_string();
                }
                Ok(WatchEvent::Bookmark(b)) => rv = b.metadata.resource_version,
                Ok(WatchEvent::Error(e)) if e.code == 410 => {
                    seen.expired.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                _ => {}
            }
        }
        seen.restarts.fetch_add(1, Ordering::Relaxed);
    }
}

/// A watch event with its object reduced to its resourceVersion.
fn seen_as<K>(e: WatchEvent<K>, rv: impl Fn(K) -> u64) -> WatchEvent<u64> {
    match e {
        WatchEvent::Added(o) => WatchEvent::Added(rv(o)),
        WatchEvent::Modified(o) => WatchEvent::Modified(rv(o)),
        WatchEvent::Deleted(o) => WatchEvent::Deleted(rv(o)),
        WatchEvent::Bookmark(b) => WatchEvent::Bookmark(b),
        WatchEvent::Error(e) => WatchEvent::Error(e),
    }
}

fn rv_meta(m: kube::core::PartialObjectMeta<DynamicObject>) -> u64 {
    m.metadata.resource_version.and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The operator's watch: kube's watcher (any semantic, pages of 500) feeding a reflector.
fn reflect(api: Api<DynamicObject>, relists: Arc<AtomicUsize>) -> reflector::Store<DynamicObject> {
    let writer = reflector::store::Writer::new(csms_resource());
    let reader = writer.as_reader();
    let relists2 = relists.clone();
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .reflect(writer)
        .inspect(move |e| {
            if matches!(e, Ok(watcher::Event::Init)) {
                relists2.fetch_add(1, Ordering::Relaxed);
            }
        });
    tokio::spawn(stream.for_each(|_| async {}));
    reader
}

/// Run `f` on `0..n`, `concurrency` at a time.
async fn each<F, Fut>(n: usize, concurrency: usize, f: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    futures::stream::iter(0..n)
        .map(f)
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
}

fn target(load: Load, i: usize) -> (String, String) {
    (format!("ns-{}", i % load.namespaces), format!("pool-{i:05}"))
}

/// The phases of the load.
#[derive(Clone, Copy)]
enum Phase {
    /// Create every object.
    Create,
    /// Add a finalizer to each.
    Finalize,
    /// Apply the status of each, for the round given.
    Status(usize),
}

/// Run one phase of `load`; returns how long it took.
async fn phase(client: &Client, load: Load, acks: &Arc<Acks>, phase: Phase) -> Duration {
    let ar = csms_resource();
    let n = match phase {
        Phase::Create | Phase::Finalize | Phase::Status(_) => load.objects,
    };
    let started = Instant::now();
    each(n, load.concurrency, |i| {
        let (ns, name) = target(load, i % load.objects);
        let api = Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &ar);
        let acks = acks.clone();
        async move {
            match phase {
                Phase::Create => create(&api, &name, i, &acks).await,
                Phase::Finalize => add_finalizer(&api, &name, &acks).await,
                Phase::Status(round) => apply_status(&api, &name, round, &acks).await,
            }
        }
    })
    .await;
    started.elapsed()
}

async fn create(api: &Api<DynamicObject>, name: &str, i: usize, acks: &Acks) {
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cognitosms.io/v1alpha1", "kind": "CognitoSmsConfig",
        "metadata": {"name": name, "labels": {"shard": (i % 4).to_string()}},
        "spec": {"userPoolId": "eu-west-1_Abc"}
    }))
    .unwrap();
    let started = Instant::now();
    match api.create(&PostParams::default(), &obj).await {
        Ok(o) => acks.ack("create", started, &o),
        Err(_) => acks.fail("create"),
    }
}

/// Add a finalizer as kube's finalizer helper does.
async fn add_finalizer(api: &Api<DynamicObject>, name: &str, acks: &Acks) {
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["cognitosms.io/cleanup"]}
    ]))
    .unwrap();
    let started = Instant::now();
    match api
        .patch(name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
    {
        Ok(o) => acks.ack("patch (json)", started, &o),
        Err(_) => acks.fail("patch (json)"),
    }
}

/// Apply the status as the operator does: server-side apply of the whole status, forced.
async fn apply_status(api: &Api<DynamicObject>, name: &str, round: usize, acks: &Acks) {
    let status = json!({
        "apiVersion": "cognitosms.io/v1alpha1", "kind": "CognitoSmsConfig",
        "status": {"observedGeneration": 1, "lastSyncTime": format!("2025-01-01T00:00:{:02}Z", round % 60)}
    });
    let started = Instant::now();
    let pp = PatchParams::apply("cognito-sms-operator").force();
    match api.patch_status(name, &pp, &Patch::Apply(&status)).await {
        Ok(o) => acks.ack("patch (status apply)", started, &o),
        Err(_) => acks.fail("patch (status apply)"),
    }
}

/// List everything, whole and in pages of 500, until `stop`; pages are checked for duplicates.
async fn lister(api: Api<DynamicObject>, acks: Arc<Acks>, stop: Arc<AtomicBool>) -> usize {
    let mut inconsistent = 0;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        if api.list(&ListParams::default()).await.is_ok() {
            acks.latency("list (all)", started.elapsed());
        }
        let mut names = HashSet::new();
        let (mut token, mut rvs) = (None::<String>, HashSet::new());
        loop {
            let mut lp = ListParams::default().limit(500);
            lp.continue_token = token.clone();
            let started = Instant::now();
            let Ok(page) = api.list(&lp).await else { break };
            acks.latency("list (page of 500)", started.elapsed());
            rvs.insert(page.metadata.resource_version.clone());
            inconsistent += page.items.iter().filter(|o| !names.insert(o.name_any())).count();
            token = page.metadata.continue_.filter(|c| !c.is_empty());
            if token.is_none() {
                break;
            }
        }
        inconsistent += rvs.len().saturating_sub(1);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    inconsistent
}

/// How long after the last write until `store` holds every object at its last acknowledged
/// resourceVersion, or, if it has not within `limit`, how many objects it has missing or stale.
async fn converged(store: &reflector::Store<DynamicObject>, acks: &Acks, limit: Duration) -> Result<Duration, usize> {
    let started = Instant::now();
    let last = acks.last.lock().unwrap().clone();
    loop {
        let in_store: HashMap<Name, u64> = store
            .state()
            .iter()
            .map(|o| ((o.namespace().unwrap_or_default(), o.name_any()), rv_of(o)))
            .collect();
        let stale = last.iter().filter(|(k, rv)| in_store.get(*k) != Some(*rv)).count();
        if stale == 0 && in_store.len() == last.len() {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            return Err(stale);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How long after the last write until `seen` has the last acknowledged resourceVersion.
async fn drained(seen: &Seen, acks: &Acks, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let last = acks.at.lock().unwrap().keys().copied().max().unwrap_or(0);
    while started.elapsed() < limit {
        if seen.events.lock().unwrap().last().is_some_and(|(rv, _)| *rv >= last) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// What a run measured.
struct Report {
    phases: Vec<(&'static str, Duration)>,
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    failures: BTreeMap<&'static str, usize>,
    watches: Vec<WatchReport>,
    /// The reflector running from the start, and the one started before the status phase.
    reflectors_converged: [Result<Duration, usize>; 2],
    relists: usize,
    inconsistent_pages: usize,
    writes: usize,
    last_rv: u64,
}

struct WatchReport {
    name: &'static str,
    events: usize,
    missing: usize,
    reordered: usize,
    restarts: usize,
    expired: usize,
    drained: Option<Duration>,
    lag: Vec<Duration>,
    events_per_second: f64,
}

fn watch_report(name: &'static str, seen: &Seen, acks: &Acks, drained: Option<Duration>) -> WatchReport {
    let events = seen.events.lock().unwrap();
    let at = acks.at.lock().unwrap();
    let got: HashSet<u64> = events.iter().map(|(rv, _)| *rv).collect();
    let mut lag: Vec<Duration> = events
        .iter()
        .filter_map(|(rv, t)| at.get(rv).map(|a| t.saturating_duration_since(*a)))
        .collect();
    lag.sort();
    let span = match (events.first(), events.last()) {
        (Some((_, a)), Some((_, b))) => (*b - *a).as_secs_f64().max(1e-3),
        _ => 1.0,
    };
    WatchReport {
        name,
        events: events.len(),
        missing: at.keys().filter(|rv| !got.contains(rv)).count(),
        reordered: seen.reordered.load(Ordering::Relaxed),
        restarts: seen.restarts.load(Ordering::Relaxed),
        expired: seen.expired.load(Ordering::Relaxed),
        drained,
        lag,
        events_per_second: events.len() as f64 / span,
    }
}

/// Make `load` against the server at `url` and measure.
async fn run(url: &str, load: Load) -> Report {
    let client = client_for(url);
    let all = Api::<DynamicObject>::all_with(client.clone(), &csms_resource());
    let (stop, acks) = (Arc::new(AtomicBool::new(false)), Arc::new(Acks::default()));
    let (whole, meta) = (Arc::new(Seen::default()), Arc::new(Seen::default()));
    tokio::spawn(record(all.clone(), false, whole.clone(), stop.clone()));
    tokio::spawn(record(all.clone(), true, meta.clone(), stop.clone()));
    // Changes start once the watches are open, so that each sees every one as it happens.
    whole.ready.notified().await;
    meta.ready.notified().await;
    let relists = Arc::new(AtomicUsize::new(0));
    let store = reflect(all.clone(), relists.clone());
    store.wait_until_ready().await.unwrap();
    let lists = tokio::spawn(lister(all.clone(), acks.clone(), stop.clone()));
    let mut phases = vec![
        ("create", phase(&client, load, &acks, Phase::Create).await),
        (
            "finalizer (json patch)",
            phase(&client, load, &acks, Phase::Finalize).await,
        ),
    ];
    let mut late = None;
    let mut status = Duration::ZERO;
    for round in 0..load.status_rounds {
        if round + 1 == load.status_rounds {
            // An operator starting now (a restart, a new leader): it lists every object, in
            // pages, while each one's status changes for the last time.
            late = Some(reflect(all.clone(), Arc::new(AtomicUsize::new(0))));
        }
        status += phase(&client, load, &acks, Phase::Status(round)).await;
    }
    phases.push(("status (apply)", status));
    let limit = Duration::from_secs(60);
    let (whole_drained, meta_drained) = (drained(&whole, &acks, limit).await, drained(&meta, &acks, limit).await);
    let late = late.expect("at least one status round");
    let reflectors_converged = [
        converged(&store, &acks, limit).await,
        converged(&late, &acks, limit).await,
    ];
    stop.store(true, Ordering::Relaxed);
    let inconsistent_pages = lists.await.unwrap();
    let (writes, last_rv) = {
        let at = acks.at.lock().unwrap();
        (at.len(), at.keys().copied().max().unwrap_or(0))
    };
    Report {
        phases,
        latencies: std::mem::take(&mut *acks.latencies.lock().unwrap()),
        failures: acks.failures.lock().unwrap().clone(),
        watches: vec![
            watch_report("watch", &whole, &acks, whole_drained),
            watch_report("watch (metadata)", &meta, &acks, meta_drained),
        ],
        reflectors_converged,
        relists: relists.load(Ordering::Relaxed),
        inconsistent_pages,
        writes,
        last_rv,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: minutes, prints numbers"]
async fn fleet_benchmark() {
    use std::io::BufRead;
    let objects = std::env::var("STANDIN_LOAD_OBJECTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5000);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kube-standin"))
        .args(crds())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    // Keep reading what it prints, so that it never writes to a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let url = line.trim().trim_start_matches("listening on ").to_string();
    let load = Load {
        objects,
        namespaces: 20,
        status_rounds: 4,
        concurrency: 32,
    };
    let mut report = run(&url, load).await;
    print(&mut report);
    print_server_side(&url).await;
    print_stream_rates(&url, objects, report.last_rv, 20_000).await;
    let (cpu, rss, hwm) = process_usage(child.id());
    println!(
        "server: cpu {cpu:.2?}, rss {} MiB, peak rss {} MiB",
        rss / 1024,
        hwm / 1024
    );
    let _ = child.kill();
    let _ = child.wait();
}
