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

fn ours_manager_handshake() -> Duration {
    let mut p = Pair::new();
    let t = Instant::now();
    p.connect();
    t.elapsed()
}

fn ours_tls_handshake() -> Duration {
    let (a, b) = (
        Arc::new(NodeKey::from_seed(&seed(0))),
        Arc::new(NodeKey::from_seed(&seed(1))),
    );
    let ccfg = client_config(&a, b.public_key()).unwrap();
    let scfg = server_config(&b, [a.public_key()]).unwrap();
    let t = Instant::now();
    let mut c = TlsSession::client(&ccfg).unwrap();
    let mut s = TlsSession::server(&scfg).unwrap();
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
    t.elapsed()
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
        let provider = Arc::new(rustls::crypto::CryptoProvider {
            cipher_suites: rustls_rustcrypto::provider()
                .cipher_suites
                .into_iter()
                .filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls13(_)))
                .collect(),
            ..rustls_rustcrypto::provider()
        });
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

fn baseline_handshake(b: &Baseline) -> Duration {
    let t = Instant::now();
    let _ = b.connect();
    t.elapsed()
}

fn ours_throughput(payload: &[u8], count: usize) -> Duration {
    let mut p = Pair::new();
    p.connect();
    let t = Instant::now();
    for _ in 0..count {
        p.send(payload);
    }
    let d = t.elapsed();
    assert_eq!(p.delivered, count);
    assert_eq!(p.delivered_bytes, count * payload.len());
    d
}

fn baseline_throughput(b: &Baseline, payload: &[u8], count: usize) -> Duration {
    let (mut c, mut s) = b.connect();
    c.set_buffer_limit(None);
    let mut sink = vec![0u8; payload.len().max(16 * 1024)];
    let mut got = 0usize;
    let t = Instant::now();
    let mut wire = Vec::new();
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
    let d = t.elapsed();
    assert_eq!(got, count * payload.len());
    d
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::var_os("P2P_BENCH_QUICK").is_some();
    let baseline = Baseline::new();
    // Which suite both sides negotiate (same provider order for ours and the baseline).
    {
        let (c, _) = baseline.connect();
        println!(
            "negotiated suite (baseline and ours share the provider order): {:?}",
            c.negotiated_cipher_suite().map(|s| s.suite())
        );
    }

    let hs_iters = if quick { 10 } else { 60 };
    let (mut mgr, mut tls, mut base) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..hs_iters {
        mgr.push(ours_manager_handshake());
        tls.push(ours_tls_handshake());
        base.push(baseline_handshake(&baseline));
    }
    let (mgr, tls, base) = (median(mgr), median(tls), median(base));
    println!("\nhandshake (median of {hs_iters}, in-memory, both sides' CPU on one thread)");
    println!(
        "  manager pair, mutual RPK TLS 1.3 + hello : {:>9.3} ms   ratio vs baseline {:.2}",
        ms(mgr),
        ratio(mgr, base)
    );
    println!(
        "  TlsSession pair, mutual RPK TLS 1.3      : {:>9.3} ms   ratio vs baseline {:.2}",
        ms(tls),
        ratio(tls, base)
    );
    println!(
        "  baseline: rustls buffered, X.509 server  : {:>9.3} ms",
        ms(base)
    );

    let total: usize = if quick { 8 << 20 } else { 64 << 20 };
    let iters = if quick { 3 } else { 5 };
    println!(
        "\nthroughput, one direction, {} MiB per run (median of {iters})",
        total >> 20
    );
    for size in [1024usize, 64 * 1024] {
        let payload = vec![0x5au8; size];
        let count = total / size;
        let (mut ours, mut base) = (Vec::new(), Vec::new());
        for _ in 0..iters {
            ours.push(ours_throughput(&payload, count));
            base.push(baseline_throughput(&baseline, &payload, count));
        }
        let (o, b) = (median(ours), median(base));
        println!(
            "  {:>5} B messages: ours {:>8.1} MiB/s {:>9.0} msg/s | baseline {:>8.1} MiB/s {:>9.0} msg/s | time ratio ours/baseline {:.2}",
            size,
            mib_s(total, o),
            count as f64 / o.as_secs_f64(),
            mib_s(total, b),
            count as f64 / b.as_secs_f64(),
            ratio(o, b)
        );
    }
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
