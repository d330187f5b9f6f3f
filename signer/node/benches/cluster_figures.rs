//! Cluster figures on the host: N nodes (threads, real P2P over loopback TLS, sealed stores
//! on tmpfs) against the in-process chain simulator. Prints keygen time, then submits a burst
//! of sign requests and prints end-to-end latency (user transaction submitted → `respond`
//! recorded by the contract) and throughput, for N=4 t=3 and N=8 t=5.
//!
//! `cargo bench -p tdsigner-node --bench cluster_figures` (optional args: requests per
//! configuration, block time in ms). The figures are dominated by block production (a request
//! needs its receipt executed, the outcome committed and a light-client head above it) and by
//! the 2 shared cores; there is no runnable peer implementation to compare against here.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok())))
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn no_tune(_: &mut tdsigner_node::machine::MachineConfig) {}

fn run(n: usize, t: u64, requests: usize, block_ms: u64) {
    let sim = sim(block_ms, None);
    let mut c = Cluster::new(sim, n, no_tune);
    let start = Instant::now();
    c.start_with_keygen(n, t, Duration::from_secs(180));
    let keygen = start.elapsed();
    c.create_user();
    // Let the pools fill before the burst (steady state), as a running cluster would have.
    std::thread::sleep(Duration::from_secs(5));
    let burst = Instant::now();
    let mut submitted = Vec::new();
    for k in 0..requests {
        let id = c.submit(k);
        submitted.push((id, burst.elapsed()));
    }
    let ids: Vec<String> = submitted.iter().map(|(i, _)| i.clone()).collect();
    let mut answered: Vec<Option<Duration>> = vec![None; ids.len()];
    let deadline = Instant::now() + Duration::from_secs(300);
    while answered.iter().any(Option::is_none) && Instant::now() < deadline {
        let recs = c.requests();
        for (j, id) in ids.iter().enumerate() {
            if answered[j].is_none() && recs.iter().any(|r| r["request_id"] == *id && r["status"] == "responded") {
                answered[j] = Some(burst.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let total = burst.elapsed();
    let mut lat: Vec<f64> = answered.iter().zip(&submitted).filter_map(|(a, (_, s))| a.map(|a| (a - *s).as_secs_f64() * 1000.0)).collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let done = lat.len();
    let last = answered.iter().flatten().max().copied().unwrap_or(total);
    println!(
        "N={n} t={t} blocks={block_ms}ms: keygen {:.1} s; {done}/{requests} answered; latency p50 {:.0} ms p95 {:.0} ms max {:.0} ms; throughput {:.2} signatures/s; process peak RSS {} MiB",
        keygen.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.95),
        lat.last().copied().unwrap_or(0.0),
        done as f64 / last.as_secs_f64().max(1e-9),
        rss_kib() / 1024
    );
    let runs: Vec<String> = (0..n)
        .map(|i| {
            let m = c.snapshot(i).metrics;
            format!(
                "{}:{}t/{}p/{}s",
                i,
                m.protocols_completed.get("triples").copied().unwrap_or(0),
                m.protocols_completed.get("presign").copied().unwrap_or(0),
                m.protocols_completed.get("sign").copied().unwrap_or(0)
            )
        })
        .collect();
    println!("  runs per node (triple batches/presignatures/signatures): {}", runs.join(" "));
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let block_ms: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    run(4, 3, requests, block_ms);
    run(8, 5, requests, block_ms);
}
