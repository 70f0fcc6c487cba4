//! What a load run measured, printed: throughput, latencies, watch lag, and the server's own use.

use super::*;

pub(super) fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub(super) fn print(report: &mut Report) {
    println!(
        "writes acknowledged: {}, failures: {:?}",
        report.writes, report.failures
    );
    for (phase, d) in &report.phases {
        println!("phase {phase}: {d:.2?}");
    }
    for (verb, l) in report.latencies.iter_mut() {
        l.sort();
        let rate = l.len() as f64 / l.iter().sum::<Duration>().as_secs_f64().max(1e-9);
        println!(
            "{verb}: n={} p50={:.2?} p99={:.2?} max={:.2?} (serial rate {rate:.0}/s)",
            l.len(),
            pct(l, 0.5),
            pct(l, 0.99),
            pct(l, 1.0)
        );
    }
    for w in &report.watches {
        println!(
            "{}: events={} missing={} reordered={} restarts={} expired={} drained after last write={:?} \
             lag p50={:.2?} p99={:.2?} max={:.2?} delivered {:.0} events/s",
            w.name,
            w.events,
            w.missing,
            w.reordered,
            w.restarts,
            w.expired,
            w.drained,
            pct(&w.lag, 0.5),
            pct(&w.lag, 0.99),
            pct(&w.lag, 1.0),
            w.events_per_second
        );
    }
    println!(
        "reflectors converged after the last write (or objects stale): {:?} (the one started late: {:?}), \
         relists={}; list pages inconsistent: {}",
        report.reflectors_converged[0], report.reflectors_converged[1], report.relists, report.inconsistent_pages
    );
}

/// How fast the server streams a watch of the custom resources from `rv` (`0`: the current
/// state), read as raw lines so that the client's parsing does not count: lines and time taken
/// for the first `expected`, or the error line that ended it.
pub(super) async fn stream_rate(url: &str, rv: u64, expected: usize) -> Result<(usize, Duration), String> {
    use std::io::BufRead;
    let url = format!(
        "{url}/apis/cognitosms.io/v1alpha1/cognitosmsconfigs?watch=true&resourceVersion={rv}&timeoutSeconds=60"
    );
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let response = ureq::get(&url).call().map_err(|e| e.to_string())?;
        let lines = std::io::BufReader::new(response.into_body().into_reader()).lines();
        let mut n = 0;
        for line in lines.map_while(Result::ok) {
            if line.starts_with("{\"type\":\"ERROR\"") {
                return Err(line.chars().take(200).collect());
            }
            n += 1;
            if n == expected {
                break;
            }
        }
        Ok((n, started.elapsed()))
    })
    .await
    .unwrap()
}

/// Print how fast watches stream the current state and a replay of the last `replayed` changes.
pub(super) async fn print_stream_rates(url: &str, objects: usize, last_rv: u64, replayed: usize) {
    for (what, rv, n) in [
        ("current state", 0, objects),
        ("replay", last_rv.saturating_sub(replayed as u64), replayed),
    ] {
        match stream_rate(url, rv, n).await {
            Ok((n, d)) => println!(
                "watch streams {what}: {n} events in {d:.2?}: {:.0} events/s",
                n as f64 / d.as_secs_f64()
            ),
            Err(e) => println!("watch streams {what}: {e}"),
        }
    }
}

/// What the server says of the run: its latencies per verb (from the request log, so without
/// the client's time) and its statistics.
pub(super) async fn print_server_side(url: &str) {
    let log = raw("GET", format!("{url}/_standin/requests"), "", None).await.body;
    let mut by_verb: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for r in log["requests"].as_array().into_iter().flatten() {
        let verb = format!(
            "{} {}",
            r["verb"].as_str().unwrap_or(""),
            r["subresource"].as_str().unwrap_or("")
        );
        let latency = Duration::from_micros(r["latency_us"].as_u64().unwrap_or(0));
        by_verb.entry(verb.trim().to_string()).or_default().push(latency);
    }
    for (verb, l) in by_verb.iter_mut() {
        l.sort();
        let (p50, p99, max) = (pct(l, 0.5), pct(l, 0.99), pct(l, 1.0));
        println!(
            "server-side {verb}: n={} p50={p50:.2?} p99={p99:.2?} max={max:.2?}",
            l.len()
        );
    }
    let stats = raw("GET", format!("{url}/_standin/stats"), "", None).await.body;
    println!("server stats: {stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(super) async fn watches_keep_up_under_load() {
    let standin = testkit::StandIn::start(&crds()).await.unwrap();
    let load = Load {
        objects: 300,
        namespaces: 3,
        status_rounds: 3,
        concurrency: 16,
    };
    let mut report = run(&standin.url(), load).await;
    print(&mut report);
    print_server_side(&standin.url()).await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    for w in &report.watches {
        assert_eq!((w.missing, w.reordered, w.expired), (0, 0, 0), "{}", w.name);
    }
    assert!(
        report.reflectors_converged.iter().all(Result::is_ok),
        "the reflectors caught up"
    );
    assert_eq!(report.inconsistent_pages, 0, "paged lists are consistent snapshots");
}

/// The server's CPU time and peak memory, from `/proc`.
pub(super) fn process_usage(pid: u32) -> (Duration, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    (Duration::from_millis(ticks * 10), kb("VmRSS:"), kb("VmHWM:"))
}
