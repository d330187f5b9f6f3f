//! Figures for the P2P layer over in-memory connections, each next to a plain-rustls baseline in
//! the same run (same RustCrypto provider, TLS 1.3 only, same key exchange and suite order):
//!
//! - handshake: two managers from the first `Tick` to `PeerUp` on both sides (mutual RFC 7250
//!   TLS + hello); our bare `TlsSession` pair (mutual TLS only); baseline: buffered rustls with
//!   an X.509 ed25519 server certificate verified by WebPKI, no client authentication.
//! - throughput: one direction, 1 KiB and 64 KiB messages through `Manager::send` → bytes →
//!   `Deliver` (framing, sequence numbers, acknowledgements, routing included); baseline: the
//!   same payloads written into a buffered rustls client and read out of the server.
//!
//! Run: `cargo bench -p tdsigner-p2p --bench p2p_figures` (env `P2P_BENCH_QUICK=1` for a short
//! run). Medians over alternating iterations are printed.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tdsigner_p2p::tls::{client_config, server_config, TlsSession};
use tdsigner_p2p::{
    AccountId, Action, Channel, Config, ConnId, Event, Manager, NodeKey, Participant,
    ParticipantId, ParticipantSet, PeerAddr, SendError,
};

fn seed(i: u32) -> [u8; 32] {
    let mut s = [0x11u8; 32];
    s[..4].copy_from_slice(&i.to_le_bytes());
    s
}

fn set2() -> ParticipantSet {
    ParticipantSet::new(
        (0..2)
            .map(|i| Participant {
                id: ParticipantId(i),
                account: AccountId::parse(&format!("n{i}.near")).unwrap(),
                tls_key: NodeKey::from_seed(&seed(i)).public_key(),
                addr: PeerAddr::new(&format!("10.0.0.{}", i + 1), 3000).unwrap(),
            })
            .collect(),
    )
    .unwrap()
}

/// Two managers joined by an in-memory link. Node 0 dials node 1.
struct Pair {
    m: [Manager<ChaCha8Rng>; 2],
    pipe: [Vec<u8>; 2],
    up: [bool; 2],
    delivered: usize,
    delivered_bytes: usize,
    now: u64,
}

const CONN: [ConnId; 2] = [ConnId(1), ConnId(2)];

impl Pair {
    fn new() -> Pair {
        let set = set2();
        let mk = |i: u32| {
            Manager::new(
                ParticipantId(i),
                NodeKey::from_seed(&seed(i)),
                set.clone(),
                Config::default(),
                ChaCha8Rng::seed_from_u64(i as u64),
                0,
            )
            .unwrap()
        };
        Pair {
            m: [mk(0), mk(1)],
            pipe: [Vec::new(), Vec::new()],
            up: [false; 2],
            delivered: 0,
            delivered_bytes: 0,
            now: 0,
        }
    }

    fn apply(&mut self, side: usize, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Connect { dial, .. } => {
                    let acc = self.m[1].handle_event(self.now, Event::Accepted { conn: CONN[1] });
                    self.apply(1, acc);
                    let con = self.m[0].handle_event(
                        self.now,
                        Event::Connected {
                            dial,
                            conn: CONN[0],
                        },
                    );
                    self.apply(0, con);
                }
                Action::Send { bytes, .. } => self.pipe[side].extend_from_slice(&bytes),
                Action::Deliver(msg) => {
                    self.delivered += 1;
                    self.delivered_bytes += msg.payload.len();
                }
                Action::PeerUp(_) => self.up[side] = true,
                Action::Close { reason, .. } => panic!("closed: {reason:?}"),
                Action::PeerDown(_) => panic!("peer down"),
            }
        }
    }

    /// Moves bytes both ways until both pipes are empty.
    fn pump(&mut self) {
        while !self.pipe[0].is_empty() || !self.pipe[1].is_empty() {
            for side in 0..2 {
                if !self.pipe[side].is_empty() {
                    let bytes = std::mem::take(&mut self.pipe[side]);
                    let acts = self.m[1 - side].handle_event(
                        self.now,
                        Event::Received {
                            conn: CONN[1 - side],
                            bytes: &bytes,
                        },
                    );
                    self.apply(1 - side, acts);
                }
            }
        }
    }

    fn connect(&mut self) {
        let acts = self.m[0].handle_event(self.now, Event::Tick);
        self.apply(0, acts);
        self.pump();
        assert!(self.up[0] && self.up[1], "handshake completed");
    }

    fn send(&mut self, payload: &[u8]) {
        loop {
            match self.m[0].send(
                self.now,
                ParticipantId(1),
                Channel::COORDINATION,
                [0; 32],
                payload.to_vec(),
            ) {
                Ok(acts) => {
                    self.apply(0, acts);
                    self.pump();
                    return;
                }
                Err(SendError::QueueFull { .. }) => {
                    self.now += 1;
                    let acts = self.m[1].handle_event(self.now, Event::Tick);
                    self.apply(1, acts);
                    self.pump();
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}

/// Configurations are built once, as in a running node (the manager builds its client config
/// per dial, which stays inside its figure).
fn tls_configs() -> (Arc<rustls::ClientConfig>, Arc<rustls::ServerConfig>) {
    let (a, b) = (
        Arc::new(NodeKey::from_seed(&seed(0))),
        Arc::new(NodeKey::from_seed(&seed(1))),
    );
    (
        client_config(&a, b.public_key()).unwrap(),
        server_config(&b, [a.public_key()]).unwrap(),
    )
}

fn ours_tls_handshake(ccfg: &Arc<rustls::ClientConfig>, scfg: &Arc<rustls::ServerConfig>) {
    let mut c = TlsSession::client(ccfg).unwrap();
    let mut s = TlsSession::server(scfg).unwrap();
    for _ in 0..8 {
        let x = c.take_outgoing();
        if !x.is_empty() {
            s.receive(&x).unwrap();
        }
        let y = s.take_outgoing();
        if !y.is_empty() {
            c.receive(&y).unwrap();
        }
        if c.is_established() && s.is_established() && !c.has_outgoing() && !s.has_outgoing() {
            break;
        }
    }
    assert!(c.is_established() && s.is_established());
}

/// The baseline: buffered rustls, same provider, server-authenticated with X.509.
struct Baseline {
    client_cfg: Arc<rustls::ClientConfig>,
    server_cfg: Arc<rustls::ServerConfig>,
}

impl Baseline {
    fn new() -> Baseline {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["peer.test".to_string()])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
        // The same provider and suite order as ours.
        let provider = tdsigner_p2p::tls::provider();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(kp.serialize_der().into());
        let server_cfg = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let mut client_cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client_cfg.resumption = rustls::client::Resumption::disabled();
        Baseline {
            client_cfg: Arc::new(client_cfg),
            server_cfg: Arc::new(server_cfg),
        }
    }

    fn connect(&self) -> (rustls::ClientConnection, rustls::ServerConnection) {
        let mut c =
            rustls::ClientConnection::new(self.client_cfg.clone(), "peer.test".try_into().unwrap())
                .unwrap();
        let mut s = rustls::ServerConnection::new(self.server_cfg.clone()).unwrap();
        while c.is_handshaking() || s.is_handshaking() || c.wants_write() || s.wants_write() {
            shuttle(&mut c, &mut s);
            shuttle(&mut s, &mut c);
        }
        (c, s)
    }
}

fn shuttle<A, B, DA, DB>(from: &mut A, to: &mut B)
where
    A: std::ops::DerefMut<Target = rustls::ConnectionCommon<DA>>,
    B: std::ops::DerefMut<Target = rustls::ConnectionCommon<DB>>,
    DA: rustls::SideData,
    DB: rustls::SideData,
{
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let mut rd = &buf[..];
    while !rd.is_empty() {
        to.read_tls(&mut rd).unwrap();
        to.process_new_packets().unwrap();
    }
}

fn baseline_handshake(b: &Baseline) {
    let _ = b.connect();
}

fn ours_throughput(payload: &[u8], count: usize) -> (Duration, Duration) {
    let mut p = Pair::new();
    p.connect();
    let d = measure(|| {
        for _ in 0..count {
            p.send(payload);
        }
    });
    assert_eq!(p.delivered, count);
    assert_eq!(p.delivered_bytes, count * payload.len());
    d
}

fn baseline_throughput(b: &Baseline, payload: &[u8], count: usize) -> (Duration, Duration) {
    let (mut c, mut s) = b.connect();
    c.set_buffer_limit(None);
    let mut sink = vec![0u8; payload.len().max(16 * 1024)];
    let mut got = 0usize;
    let mut wire = Vec::new();
    let d = measure(|| {
        for _ in 0..count {
            c.writer().write_all(payload).unwrap();
            wire.clear();
            while c.wants_write() {
                c.write_tls(&mut wire).unwrap();
            }
            // Feed the server and drain its plaintext as it goes (rustls bounds what it buffers).
            let mut rd = &wire[..];
            while !rd.is_empty() {
                s.read_tls(&mut rd).unwrap();
                s.process_new_packets().unwrap();
                loop {
                    match s.reader().read(&mut sink) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }
    });
    assert_eq!(got, count * payload.len());
    d
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// CPU time of this thread (user + system, from /proc, 10 ms resolution on Linux); the machine
/// is shared, so CPU time is steadier than wall time. `None` where /proc is unavailable.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Runs `f` and returns (wall, cpu) time; cpu falls back to wall.
fn measure(f: impl FnOnce()) -> (Duration, Duration) {
    let c0 = thread_cpu();
    let t = Instant::now();
    f();
    let wall = t.elapsed();
    let cpu = match (c0, thread_cpu()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => wall,
    };
    (wall, cpu)
}

fn main() {
    rerun_with_glibc_tunables();
    println!(
        "allocator: glibc {}",
        if std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some() {
            "with heap trimming off (see source)"
        } else {
            "defaults"
        }
    );
    let quick = std::env::var_os("P2P_BENCH_QUICK").is_some();
    // For profiling one side: P2P_BENCH_ONLY=ours|baseline runs the throughput of that side only
    // (P2P_BENCH_SIZE bytes per message, default 64 KiB).
    if let Ok(only) = std::env::var("P2P_BENCH_ONLY") {
        return profile_one_side(&only);
    }
    let baseline = Baseline::new();
    handshake_figures(&baseline, quick);
    throughput_figures(&baseline, quick);
}

/// Re-runs this binary with glibc's heap trimming off unless it already runs so (see below).
fn rerun_with_glibc_tunables() {
    // glibc returns the top of the heap to the kernel whenever more than 128 KiB there is free,
    // so a loop that frees and reallocates ~64 KiB buffers (ours hands each TLS output buffer to
    // the caller) pays page faults on every message: a host allocator artefact the image's
    // allocator does not have. Both sides therefore run with trimming off, by re-running this
    // binary with glibc's tunables set; P2P_BENCH_GLIBC_DEFAULTS=1 keeps the defaults.
    if std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_none()
        && std::env::var_os("P2P_BENCH_GLIBC_DEFAULTS").is_none()
    {
        let status = std::process::Command::new(std::env::current_exe().expect("own path"))
            .args(std::env::args_os().skip(1))
            .env("MALLOC_TRIM_THRESHOLD_", "268435456")
            .env("MALLOC_MMAP_THRESHOLD_", "268435456")
            .status()
            .expect("re-run with glibc tunables");
        std::process::exit(status.code().unwrap_or(1));
    }
}

fn profile_one_side(only: &str) {
    let baseline = Baseline::new();
    let size: usize = std::env::var("P2P_BENCH_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64 * 1024);
    let count = (32 << 20) / size;
    let payload = vec![0x5au8; size];
    for _ in 0..5 {
        let (w, _) = if only == "ours" {
            ours_throughput(&payload, count)
        } else {
            baseline_throughput(&baseline, &payload, count)
        };
        println!("{only}: {:.1} MiB/s", mib_s(count * size, w));
    }
}

fn handshake_figures(baseline: &Baseline, quick: bool) {
    // Which suite both sides negotiate (same provider order for ours and the baseline).
    {
        let (c, _) = baseline.connect();
        println!(
            "negotiated suite (same provider and suite order for ours and the baseline): {:?}",
            c.negotiated_cipher_suite().map(|s| s.suite())
        );
    }

    let (ccfg, scfg) = tls_configs();
    let samples = if quick { 5 } else { 15 };
    let batch = 20u32;
    let (mut mgr, mut tls, mut base) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..samples {
        let mut pairs: Vec<Pair> = (0..batch).map(|_| Pair::new()).collect();
        mgr.push(measure(|| pairs.iter_mut().for_each(Pair::connect)));
        tls.push(measure(|| {
            (0..batch).for_each(|_| ours_tls_handshake(&ccfg, &scfg))
        }));
        base.push(measure(|| {
            (0..batch).for_each(|_| baseline_handshake(baseline))
        }));
    }
    // Handshakes are short: wall time (the /proc CPU clock ticks at 10 ms), median and minimum.
    println!("\nhandshake, per handshake, wall time over {samples} batches of {batch} (in memory, both sides on one thread)");
    println!(
        "  {:<46} {:>10} {:>10} {:>14}",
        "", "median ms", "min ms", "ratio med/min"
    );
    let wall = |v: &[(Duration, Duration)]| {
        let w: Vec<Duration> = v.iter().map(|x| x.0 / batch).collect();
        (median(w.clone()), w.into_iter().min().unwrap())
    };
    let (bm, bn) = wall(&base);
    for (label, v) in [
        ("manager pair: mutual RPK TLS 1.3 + hello", &mgr),
        ("TlsSession pair: mutual RPK TLS 1.3", &tls),
    ] {
        let (m, n) = wall(v);
        println!(
            "  {:<46} {:>10.3} {:>10.3} {:>8.2} / {:.2}",
            label,
            ms(m),
            ms(n),
            ratio(m, bm),
            ratio(n, bn)
        );
    }
    println!(
        "  {:<46} {:>10.3} {:>10.3}",
        "baseline: buffered rustls, X.509 server auth",
        ms(bm),
        ms(bn)
    );

}

fn throughput_figures(baseline: &Baseline, quick: bool) {
    let total: usize = if quick { 8 << 20 } else { 64 << 20 };
    let iters = if quick { 3 } else { 5 };
    println!("\nthroughput, one direction, {} MiB per run (median of {iters}); MiB/s from CPU time (wall in brackets)", total >> 20);
    for size in [1024usize, 64 * 1024] {
        let payload = vec![0x5au8; size];
        let count = total / size;
        let (mut ours, mut base) = (Vec::new(), Vec::new());
        for _ in 0..iters {
            ours.push(ours_throughput(&payload, count));
            base.push(baseline_throughput(baseline, &payload, count));
        }
        let (ow, oc) = split_median(&ours, 1);
        let (bw, bc) = split_median(&base, 1);
        println!(
            "  {:>5} B messages: ours {:>7.1} [{:>6.1}] MiB/s, {:>7.0} msg/s | baseline {:>7.1} [{:>6.1}] MiB/s | CPU-time ratio ours/baseline {:.2} (wall {:.2})",
            size,
            mib_s(total, oc),
            mib_s(total, ow),
            count as f64 / oc.as_secs_f64(),
            mib_s(total, bc),
            mib_s(total, bw),
            ratio(oc, bc),
            ratio(ow, bw)
        );
    }
}

/// Medians of wall and CPU time, divided by `per`.
fn split_median(v: &[(Duration, Duration)], per: u32) -> (Duration, Duration) {
    let w = median(v.iter().map(|x| x.0).collect()) / per;
    let c = median(v.iter().map(|x| x.1).collect()) / per;
    (w, c)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn mib_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}
