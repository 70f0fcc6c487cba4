//! Watches as the API server serves them: `410` as a `Status` for every kind of watch,
//! selectors that objects enter and leave, bookmarks at the server's resourceVersion, clients
//! that fall far behind, and pauses.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio::sync::watch;

mod common;
use common::*;

async fn create(api: &Api<Secret>, name: &str, labels: serde_json::Value) -> Secret {
    let s: Secret = serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
    api.create(&PostParams::default(), &s).await.unwrap()
}

async fn relabel(api: &Api<Secret>, name: &str, labels: serde_json::Value) -> Secret {
    let patch = json!({"metadata": {"labels": labels}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_metadata_only_watch_that_is_too_old_gets_the_410_status() {
    let (s, client) = standin().await;
    let api: Api<Secret> = Api::namespaced(client, "apps");
    let rv = create(&api, "a", json!({})).await.resource_version().unwrap();
    create(&api, "b", json!({})).await;
    s.compact();
    create(&api, "c", json!({})).await;
    let events: Vec<_> = api
        .watch_metadata(&WatchParams::default().timeout(1), &rv)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        matches!(&events[..], [WatchEvent::Error(e)] if e.code == 410 && e.reason == "Expired"),
        "{events:?}"
    );
}

/// The events of a watch until its timeout, bookmarks left out, as `(type, name, team label,
/// resourceVersion)`.
async fn events(api: &Api<Secret>, wp: &WatchParams, rv: &str) -> Vec<(&'static str, String, String, String)> {
    let stream = api.watch(wp, rv).await.unwrap();
    let events: Vec<WatchEvent<Secret>> = stream.try_collect().await.unwrap();
    let seen = |t: &'static str, s: &Secret| {
        let team = s.labels().get("team").cloned().unwrap_or_default();
        Some((t, s.name_any(), team, s.resource_version().unwrap()))
    };
    events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Added(s) => seen("ADDED", s),
            WatchEvent::Modified(s) => seen("MODIFIED", s),
            WatchEvent::Deleted(s) => seen("DELETED", s),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn selected_watches_see_objects_enter_and_leave_the_selection() {
    let (_s, client) = standin().await;
    let api: Api<Secret> = Api::namespaced(client, "apps");
    let start = create(&api, "unrelated", json!({})).await.resource_version().unwrap();
    let wp = WatchParams::default().labels("team=a").timeout(2);
    let live = tokio::spawn({
        let (api, wp) = (api.clone(), wp.clone());
        async move { events(&api, &wp, "0").await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    create(&api, "x", json!({"team": "b"})).await;
    let entered = relabel(&api, "x", json!({"team": "a"}))
        .await
        .resource_version()
        .unwrap();
    let changed = relabel(&api, "x", json!({"other": "1"}))
        .await
        .resource_version()
        .unwrap();
    let left = relabel(&api, "x", json!({"team": "b"}))
        .await
        .resource_version()
        .unwrap();
    api.delete("x", &Default::default()).await.unwrap();

    let expected = vec![
        ("ADDED", "x".to_string(), "a".to_string(), entered),
        ("MODIFIED", "x".to_string(), "a".to_string(), changed),
        // Its last state that matched, at the resourceVersion of the change.
        ("DELETED", "x".to_string(), "a".to_string(), left),
    ];
    assert_eq!(live.await.unwrap(), expected, "live");
    let wp = WatchParams::default().labels("team=a").timeout(1);
    assert_eq!(events(&api, &wp, &start).await, expected, "replayed from the history");
}

#[tokio::test]
async fn bookmarks_carry_the_servers_resource_version() {
    let (s, client) = standin().await;
    let api: Api<Secret> = Api::namespaced(client, "apps");
    let before = create(&api, "first", json!({})).await.resource_version().unwrap();
    let wp = WatchParams::default().labels("team=nobody").timeout(5);
    let mut stream = api.watch(&wp, &before).await.unwrap().boxed();
    let mut last = String::new();
    for i in 0..3 {
        last = create(&api, &format!("s{i}"), json!({}))
            .await
            .resource_version()
            .unwrap();
    }
    // The watch sent none of those, but its bookmarks move past them.
    let bookmark = loop {
        match stream.next().await.expect("a bookmark").unwrap() {
            WatchEvent::Bookmark(b) if b.metadata.resource_version == last => break b.metadata.resource_version,
            WatchEvent::Bookmark(_) => continue,
            other => panic!("{other:?}"),
        }
    };
    s.compact();
    create(&api, "after", json!({})).await;
    let wp = WatchParams::default().labels("team=nobody").timeout(1);
    let resumed: Vec<_> = api.watch(&wp, &bookmark).await.unwrap().try_collect().await.unwrap();
    assert!(
        resumed.iter().all(|e| matches!(e, WatchEvent::Bookmark(_))),
        "resuming from the bookmark needs nothing compacted: {resumed:?}"
    );
    let stale: Vec<_> = api.watch(&wp, &before).await.unwrap().try_collect().await.unwrap();
    assert!(
        matches!(&stale[..], [WatchEvent::Error(e)] if e.code == 410),
        "{stale:?}"
    );
}

/// Every Secret in `apps` as the server has it: name and resourceVersion.
fn server_state(s: &testkit::StandIn, names: usize) -> Vec<(String, String)> {
    (0..names)
        .map(|i| format!("s{i}"))
        .filter_map(|n| {
            let o = s.object("/secrets", "apps", &n)?;
            Some((n, o["metadata"]["resourceVersion"].as_str()?.to_string()))
        })
        .collect()
}

/// kube's watcher and reflector, as the operator runs them, behind a gate that stops the client
/// reading while it is closed; with the count of (re)lists.
async fn gated_reflector(api: &Api<Secret>) -> (Store<Secret>, watch::Sender<bool>, Arc<AtomicUsize>) {
    let (gate, gate_rx) = watch::channel(true);
    let relists = Arc::new(AtomicUsize::new(0));
    let writer = reflector::store::Writer::<Secret>::default();
    let store = writer.as_reader();
    let counted = relists.clone();
    let stream = watcher(api.clone(), watcher::Config::default().any_semantic())
        .default_backoff()
        .then(move |e| {
            let mut gate = gate_rx.clone();
            async move {
                let _ = gate.wait_for(|open| *open).await;
                e
            }
        })
        .inspect(move |e| {
            if matches!(e, Ok(watcher::Event::Init)) {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        })
        .reflect(writer);
    tokio::spawn(stream.for_each(|_| async {}));
    store.wait_until_ready().await.unwrap();
    (store, gate, relists)
}

/// What `store` holds: names and resourceVersions, in the order of the names' numbers.
fn reflected(store: &Store<Secret>) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = store
        .state()
        .iter()
        .map(|o| (o.name_any(), o.resource_version().unwrap()))
        .collect();
    found.sort_by_key(|(n, _)| n[1..].parse::<usize>().unwrap());
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_far_behind_is_closed_and_still_ends_up_with_the_full_state() {
    let (s, client) = standin().await;
    let api: Api<Secret> = Api::namespaced(client, "apps");
    let (store, gate, relists) = gated_reflector(&api).await;

    // Far more changes than a watch may fall behind by, while the client reads nothing.
    gate.send_replace(false);
    let names = 50;
    let payload = "x".repeat(8 << 10);
    futures::stream::iter(0..6000)
        .for_each_concurrent(16, |i| {
            let (api, name) = (api.clone(), format!("s{}", i % names));
            let data = json!({"round": format!("{i}{payload}")});
            async move {
                if i < names {
                    create(&api, &name, json!({})).await;
                }
                let patch = json!({"metadata": {"annotations": data}});
                let _ = api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await;
            }
        })
        .await;
    s.compact();
    gate.send_replace(true);

    let expected = server_state(&s, names);
    let deadline = Instant::now() + Duration::from_secs(60);
    while reflected(&store) != expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reflected(&store), expected, "the reflector has the full state");
    let stats = s.stats();
    assert!(stats.watches.closed_lagging >= 1, "the watch was closed: {stats:?}");
    assert!(relists.load(Ordering::Relaxed) >= 2, "and the client relisted");
}

#[tokio::test]
async fn a_pause_stalls_open_watches_too() {
    let (s, client) = standin().await;
    let api: Api<Secret> = Api::namespaced(client, "apps");
    let mut stream = api
        .watch(&WatchParams::default().timeout(10), "0")
        .await
        .unwrap()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(3), stream.next())
        .await
        .unwrap();
    assert!(matches!(first, Some(Ok(WatchEvent::Bookmark(_)))), "{first:?}");
    s.pause(Duration::from_millis(2500));
    let paused = Instant::now();
    let next = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap();
    assert!(matches!(next, Some(Ok(WatchEvent::Bookmark(_)))), "{next:?}");
    assert!(
        paused.elapsed() >= Duration::from_millis(2400),
        "nothing during the pause: {:?}",
        paused.elapsed()
    );

    // A watch whose timeout passes during a pause ends, having sent nothing.
    let mut stream = api
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .unwrap()
        .boxed();
    s.pause(Duration::from_secs(4));
    let paused = Instant::now();
    assert!(stream.next().await.is_none(), "ended without an event");
    assert!(
        paused.elapsed() < Duration::from_secs(3),
        "at its timeout: {:?}",
        paused.elapsed()
    );
    s.pause(Duration::ZERO);
}
