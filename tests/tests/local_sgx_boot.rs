//! The `local-sgx` sealing-key source against the EMULATED SGX local key
//! provider (`tdsigner_tests::key_provider`):
//! - in process (fast, not ignored): `tdsigner_node::bootstrap` over a real
//!   TCP connection with emulated TD quotes;
//! - the real image under QEMU TCG (ignored like the other image tests): the
//!   image fetches the EMULATED SGX collateral over HTTP and verifies the
//!   provider's quote with `sgx_dcap` against the emulated root; first boot
//!   formats, a reboot reopens the same store, another pinned MRENCLAVE is
//!   refused, collateral that fails its signature or evaluation-number check
//!   is refused, an unreachable provider halts with one line;
//! - the same in signer mode against the chain simulator (QEMU): before the
//!   key exchange the image walks its light client from the trust anchor to
//!   the chain's head, and checks the collateral at that head's time (minus
//!   the allowance) when it is later than the host's clock; a chain past the
//!   collateral's validity halts the boot, and so does unreachable RPC.
//!
//! Every QEMU started here is stopped by its PID (the `Node` guard), with
//! bounded waits.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tdsigner_cli::launch::{self, LaunchOptions, Node};
use tdsigner_node::bootstrap::{bootstrap_with, BootError, ConfiguredSource, KeyTransport};
use tdsigner_node::config::{Endpoint, Host, HttpResource, KeySourceConfig};
use tdsigner_node::provider_quote::DcapProviderQuoteVerifier;
use tdsigner_store::device::MemDevice;
use tdsigner_store::RuntimeEvent;
use tdsigner_tests::collateral_server::StaticHttpServer;
use tdsigner_tests::key_provider::EmulatedKeyProvider;
use tdsigner_tests::support::{repo_root as root, test_image as image, free_port};

const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
const PINNED: [u8; 32] = [0xA1; 32];
const OTHER: [u8; 32] = [0xB2; 32];
const SGX_SEALING_KEY: [u8; 16] = [0x5E; 16];

/// 2026-01-01: inside the emulated PKI's validity.
const NOW_2026: u64 = 1_767_225_600;

/// The EMULATED SGX collateral (dcap-qvl's JSON shape) the provider's quotes verify with.
fn emulated_collateral() -> String {
    tdsigner_measure::testpki::EmulatedPki::generate().expect("emulated PKI").sgx_collateral_json()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The in-process TD side: emulated TD quotes over the given RTMRs, one TCP
/// connection to the provider.
struct HostTransport {
    rtmrs: [[u8; 48]; 4],
    port: u16,
    conn: Option<TcpStream>,
}

impl KeyTransport for HostTransport {
    fn quote(&mut self, report_data: &[u8; 64]) -> Result<Vec<u8>, String> {
        let body = tdsigner_measure::emulated::td_report_body([0; 48], self.rtmrs, *report_data);
        let qe = tdsigner_measure::emulated::EmulatedQuotingEnclave::new().map_err(|e| e.to_string())?;
        qe.quote(&body).map_err(|e| e.to_string())
    }
    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        s.write_all(bytes).map_err(|e| e.to_string())?;
        self.conn = Some(s);
        Ok(())
    }
    fn receive(&mut self) -> Result<Vec<u8>, String> {
        let s = self.conn.as_mut().ok_or("not connected")?;
        let mut buf = vec![0u8; 1000];
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("provider closed".into());
        }
        buf.truncate(n);
        Ok(buf)
    }
}

fn in_process_boot(dev: &mut MemDevice, pins: &[[u8; 32]], port: u16, rtmr3: u8) -> Result<(Vec<RuntimeEvent>, [u8; 32], bool), BootError> {
    let config = KeySourceConfig::LocalSgx {
        provider: Endpoint { host: Host::Ipv4(std::net::Ipv4Addr::LOCALHOST), port },
        mr_enclaves: pins.to_vec(),
        collateral: HttpResource {
            endpoint: Endpoint { host: Host::Ipv4(std::net::Ipv4Addr::LOCALHOST), port: 1 },
            path: "/collateral.json".into(),
        },
        min_tcb_evaluation_data_number: 1,
        tcb_accept: tdsigner_measure::sgx_dcap::TcbStatusSet::UP_TO_DATE_ONLY,
    };
    let mut rng = rand_core::OsRng;
    let collateral = tdsigner_measure::sgx_dcap::parse_collateral_json(emulated_collateral().as_bytes()).expect("collateral");
    let verifier = DcapProviderQuoteVerifier::emulated(collateral, NOW_2026, 1, tdsigner_measure::sgx_dcap::TcbStatusSet::UP_TO_DATE_ONLY)
        .expect("emulated root");
    let mut source = ConfiguredSource::new(&config, verifier, &mut rng)?;
    let mut transport = HostTransport { rtmrs: [[0; 48], [0; 48], [2; 48], [rtmr3; 48]], port, conn: None };
    let mut events = Vec::new();
    let booted = bootstrap_with(dev, &mut source, &mut transport, "node0.tdsigner.test", &mut rng, &mut |e: &RuntimeEvent| {
        events.push(e.clone());
        Ok::<(), String>(())
    })?;
    assert_eq!(booted.key_source, "local-sgx");
    Ok((events, booted.identity.tls_public(), booted.formatted))
}

#[test]
fn in_process_key_release_reopens_the_store_and_refuses_other_enclaves() {
    let provider = EmulatedKeyProvider::spawn(PINNED, SGX_SEALING_KEY).expect("provider");
    let mut dev = MemDevice::new(4096);
    let (events, tls, formatted) = in_process_boot(&mut dev, &[PINNED], provider.port, 3).expect("first boot");
    assert!(formatted);
    assert_eq!(events[0].name, "tdsigner.key-source");
    assert_eq!(events[0].payload, format!("local-sgx;mrenclave={}", hex(&PINNED)).into_bytes());
    assert_eq!(events[1].name, "tdsigner.store-generation");
    // Same measurements, fresh X25519 key: same sealing key, same store.
    let (_, tls2, formatted2) = in_process_boot(&mut dev, &[OTHER, PINNED], provider.port, 3).expect("second boot");
    assert!(!formatted2);
    assert_eq!(tls, tls2);
    assert_eq!(provider.log.released.load(Ordering::SeqCst), 2);
    // Another RTMR3 (another config): another key, the store does not open.
    assert!(matches!(in_process_boot(&mut dev, &[PINNED], provider.port, 4), Err(BootError::Open(_))));
    // A provider enclave that is not pinned: refused before the store is touched.
    match in_process_boot(&mut dev, &[OTHER], provider.port, 3) {
        Err(BootError::KeySource(e)) => assert!(e.contains("not in the pinned set"), "{e}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("an unpinned provider was accepted"),
    }
    // A TD quote that does not verify (not signed by the emulated chain): the provider refuses.
    let mut bad = HostTransport { rtmrs: [[0; 48]; 4], port: provider.port, conn: None };
    let truncated = tdsigner_tests::key_provider::answer(b"{\"quote\":[4,0,2,0,129,0,0,0]}", PINNED, &SGX_SEALING_KEY)
        .expect_err("a truncated quote must be refused");
    assert!(truncated.starts_with("TD quote"), "{truncated}");
    let q = bad.quote(&[7; 64]).expect("quote");
    let mut tampered = q.clone();
    tampered[48 + 520] ^= 1; // report_data, under the attestation signature
    let json = serde_json::to_vec(&serde_json::json!({ "quote": tampered })).expect("json");
    let refused =
        tdsigner_tests::key_provider::answer(&json, PINNED, &SGX_SEALING_KEY).expect_err("tampered quote refused");
    assert!(refused.contains("TD quote rejected"), "{refused}");
}

fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target/test-runs").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn opts(dir: &std::path::Path, cmdline: String) -> LaunchOptions {
    LaunchOptions {
        source_root: root(),
        image: image(),
        disk: dir.join("disk.img"),
        log: dir.join("serial.log"),
        http_port: free_port(),
        memory: "256M".to_string(),
        cmdline: Some(cmdline),
        p2p_port: None,
    }
}

fn cmdline(port: u16, pin: &[u8; 32], collateral_port: u16, tcb_eval_min: u32) -> String {
    format!(
        "net=dhcp http=8080 account=node0.tdsigner.test key_source=local-sgx:10.0.2.2:{port};mrenclave={};collateral=10.0.2.2:{collateral_port}/collateral.json;tcb_eval_min={tcb_eval_min}",
        hex(pin)
    )
}

fn boot(o: &LaunchOptions) -> (Node, serde_json::Value) {
    let node = launch::start(o).expect("start qemu");
    if let Err(e) = node.wait_for_health(BOOT_TIMEOUT) {
        panic!("{e}\nserial:\n{}", node.serial());
    }
    let public = tdsigner_cli::http::get(node.http, "/public_data", Duration::from_secs(5)).expect("public_data");
    assert_eq!(public.status, 200);
    let public = serde_json::from_slice(&public.body).expect("public_data JSON");
    (node, public)
}

/// Boots, expects a clean power-off with exactly one fatal line containing `expected`.
fn expect_halt(o: &LaunchOptions, expected: &str) {
    let mut node = launch::start(o).expect("start qemu");
    let exited = node.wait_for_exit(BOOT_TIMEOUT);
    let serial = node.serial();
    node.stop();
    assert!(exited, "QEMU kept running:\n{serial}");
    let fatal: Vec<&str> = serial.lines().filter(|l| l.contains("fatal")).collect();
    assert_eq!(fatal.len(), 1, "expected exactly one fatal line:\n{serial}");
    assert!(fatal[0].starts_with("tdsigner: fatal: sealing key source: local-sgx"), "{}", fatal[0]);
    assert!(fatal[0].contains(expected), "got {:?}, want {expected:?}", fatal[0]);
}

#[test]
#[ignore = "builds the image and boots QEMU; run with --ignored (CI does)"]
fn image_unseals_with_the_emulated_provider_and_refuses_others() {
    let provider = EmulatedKeyProvider::spawn(PINNED, SGX_SEALING_KEY).expect("provider");
    let collateral = StaticHttpServer::spawn("/collateral.json", emulated_collateral().into_bytes()).expect("collateral server");
    let dir = scratch("local-sgx");
    let first = opts(&dir, cmdline(provider.port, &PINNED, collateral.port, 1));

    let (mut node, public) = boot(&first);
    let serial = node.serial();
    assert!(serial.contains("key source: local-sgx via 10.0.2.2"), "{serial}");
    assert!(serial.contains("provider quote checked against the EMULATED test root, not Intel's"), "{serial}");
    assert!(
        serial.contains("key source: provider quote verified (EMULATED test root, not Intel's): TCB UpToDate (platform UpToDate, QE UpToDate), tcbEvaluationDataNumber 1, FMSPC 454d554c4154"),
        "{serial}"
    );
    assert_eq!(collateral.served.load(Ordering::SeqCst), 1);
    assert!(serial.contains("store: formatted a blank disk"), "{serial}");
    assert!(serial.contains("key source local-sgx: EMULATED provider"), "{serial}");
    assert_eq!(public["node"]["key_source"], "local-sgx");
    assert_eq!(public["attestation"], "emulated");
    let log = public["event_log"].as_array().expect("event log");
    let key_source = log.iter().find(|e| e["event"] == "tdsigner.key-source").expect("key-source event");
    assert_eq!(key_source["event_payload"], hex(format!("local-sgx;mrenclave={}", hex(&PINNED)).as_bytes()));
    let tcb = log.iter().find(|e| e["event"] == "tdsigner.provider-tcb").expect("provider-tcb event");
    let payload = String::from_utf8(
        (0..tcb["event_payload"].as_str().expect("hex").len() / 2)
            .map(|i| u8::from_str_radix(&tcb["event_payload"].as_str().unwrap_or("")[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect(),
    )
    .expect("utf-8 payload");
    assert!(
        payload.starts_with("root=emulated;status=UpToDate;platform=UpToDate;qe=UpToDate;tcb_eval=1;fmspc=454d554c4154;checked_at="),
        "{payload}"
    );
    let tls = public["node"]["tls_public_key"].clone();
    node.stop();
    assert_eq!(provider.log.released.load(Ordering::SeqCst), 1, "refused: {:?}", provider.log.refused.lock().map(|r| r.clone()));

    // Same disk, same config: the provider releases the same key, the store opens.
    let second = LaunchOptions { http_port: free_port(), ..first.clone() };
    let (mut node, public) = boot(&second);
    let serial = node.serial();
    node.stop();
    assert!(serial.contains("store: opened"), "{serial}");
    assert_eq!(public["node"]["tls_public_key"], tls, "identity changed across a reboot");
    assert_eq!(provider.log.released.load(Ordering::SeqCst), 2);

    // A config pinning another provider build: refused, nothing opened.
    let third = LaunchOptions { http_port: free_port(), cmdline: Some(cmdline(provider.port, &OTHER, collateral.port, 1)), ..first.clone() };
    expect_halt(&third, "provider enclave is not in the pinned set");

    // Collateral older than the configured evaluation number: refused before any key is used.
    let stale = LaunchOptions { http_port: free_port(), cmdline: Some(cmdline(provider.port, &PINNED, collateral.port, 2)), ..first.clone() };
    expect_halt(&stale, "tcbEvaluationDataNumber 1, below the configured minimum 2");

    // Collateral whose signed TCB info was edited: its signature fails.
    let forged = emulated_collateral().replacen("OutOfDate", "UpToDate", 1);
    let forged_server = StaticHttpServer::spawn("/collateral.json", forged.into_bytes()).expect("collateral server");
    let fifth = LaunchOptions { http_port: free_port(), cmdline: Some(cmdline(provider.port, &PINNED, forged_server.port, 1)), ..first.clone() };
    expect_halt(&fifth, "TCB info signature does not verify");

    // No collateral server: one clear line.
    let no_collateral = LaunchOptions { http_port: free_port(), cmdline: Some(cmdline(provider.port, &PINNED, free_port(), 1)), ..first.clone() };
    expect_halt(&no_collateral, "collateral: cannot reach the collateral server");

    // No provider listening: one clear line, clean power-off.
    let closed = free_port();
    let fourth = LaunchOptions { http_port: free_port(), cmdline: Some(cmdline(closed, &PINNED, collateral.port, 1)), ..first };
    expect_halt(&fourth, "cannot reach the key provider");
}

/// 2040-01-01T00:00:00Z: a chain time later than this host's clock, inside the
/// emulated PKI's validity.
const GENESIS_2040: u64 = 2_208_988_800;
/// 2049-12-30T23:00:00Z: an hour before the emulated collateral's nextUpdate
/// (2049-12-31T00:00:00Z). With minute blocks the trust anchor (23 blocks in)
/// is still inside the window and the head four epochs later is past it: only
/// the walk can make the boot refuse the collateral.
const GENESIS_EXPIRY_EVE: u64 = 2_524_518_000;
const SIM_CONTRACT: &str = "v1.signer-sim.test";
const SIM_EPOCH: u64 = 20;
/// Block timestamps a minute apart (blocks are produced on demand, so this is
/// only their times): four epochs span 80 minutes, more than the allowance.
const SIM_BLOCK_TIME_MS: u64 = 60_000;

/// A simulator that produces blocks only when told, with the given genesis time; the
/// trust anchor (hex) taken at its light-client head, then `epochs` more epochs produced.
fn chain_at(genesis_secs: u64, epochs: u64) -> (tdsigner_chain_sim::Simulator, String) {
    use tdsigner_chain_sim::chain::ChainConfig;
    use tdsigner_chain_sim::{ListenConfig, SimConfig, Simulator};
    let chain = ChainConfig {
        seed: 11,
        epoch_length: SIM_EPOCH,
        block_time_ms: SIM_BLOCK_TIME_MS,
        genesis_timestamp_ns: genesis_secs * 1_000_000_000,
        contract_account: SIM_CONTRACT.into(),
        ..ChainConfig::default()
    };
    let listen = vec![ListenConfig { addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)), hostile: Vec::new() }];
    let sim = Simulator::start(SimConfig { chain, listen, auto_produce: false, ..SimConfig::default() }).expect("simulator");
    sim.produce_blocks(SIM_EPOCH + 5);
    let v = sim.call(0, "sim_trusted_start", serde_json::json!({})).expect("sim_trusted_start");
    let set = |ids: &str, ps: &str| tdsigner_near::light_client::EpochProducers {
        epoch_id: tdsigner_near::CryptoHash::from_base58(v[ids].as_str().expect(ids)).expect(ids),
        producers: tdsigner_near::view::producers_from_value(v[ps].clone()).expect(ps),
    };
    let header = tdsigner_near::view::header_lite_from_value(v["header"].clone()).expect("header");
    let anchor = tdsigner_near::LightClientState::from_trusted_header_and_next(
        header,
        set("epoch_id", "producers"),
        set("next_epoch_id", "next_producers"),
    )
    .expect("anchor");
    sim.produce_blocks(epochs * SIM_EPOCH);
    (sim, hex(&anchor.to_bytes()))
}

fn signer_cmdline(provider: u16, collateral: u16, rpc_port: u16, trust_hex: &str) -> String {
    format!(
        "{} contract={SIM_CONTRACT} rpc=http://10.0.2.2:{rpc_port} p2p=7000 trust={trust_hex}",
        cmdline(provider, &PINNED, collateral, 1)
    )
}

fn event_payload(public: &serde_json::Value, name: &str) -> String {
    let log = public["event_log"].as_array().expect("event log");
    let e = log.iter().find(|e| e["event"] == name).unwrap_or_else(|| panic!("no {name} event"));
    let h = e["event_payload"].as_str().expect("hex");
    String::from_utf8((0..h.len() / 2).map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap_or(0)).collect())
        .expect("utf-8 payload")
}

#[test]
#[ignore = "builds the image and boots QEMU; run with --ignored (CI does)"]
fn signer_mode_checks_collateral_at_the_verified_chain_head() {
    let provider = EmulatedKeyProvider::spawn(PINNED, SGX_SEALING_KEY).expect("provider");
    let collateral = StaticHttpServer::spawn("/collateral.json", emulated_collateral().into_bytes()).expect("collateral server");

    // A chain in 2040, four epochs past the anchor: the walk ends at its head, and the
    // collateral is checked at the head's time minus the allowance (the host says 2026).
    let (sim, trust) = chain_at(GENESIS_2040, 4);
    let head = sim.call(0, "sim_trusted_start", serde_json::json!({})).expect("head");
    let (head_height, head_hash) = (head["height"].as_u64().expect("height"), head["block_hash"].as_str().expect("hash").to_string());
    let head_secs = head["header"]["inner_lite"]["timestamp"].as_u64().expect("timestamp") / 1_000_000_000;
    let rpc_port = sim.addrs()[0].port();
    let dir = scratch("local-sgx-chain");
    let o = opts(&dir, signer_cmdline(provider.port, collateral.port, rpc_port, &trust));
    let (mut node, public) = boot(&o);
    let serial = node.serial();
    node.stop();
    let walked = format!("key source: verified chain head at height {head_height} ({head_hash}), block time {head_secs},");
    assert!(serial.contains(&walked), "want {walked:?} in:\n{serial}");
    assert!(serial.contains("ended by endpoint 0 (plain HTTP only: the host could have answered for it)"), "{serial}");
    let steps: u32 = serial
        .split(&walked)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("steps in the log");
    assert!((3..=5).contains(&steps), "{steps} steps for four epochs:\n{serial}");
    let checked_at = head_secs - tdsigner_node::chain_time::CHAIN_TIME_ALLOWANCE_SECS;
    assert!(serial.contains("(verified chain head)"), "{serial}");
    let payload = event_payload(&public, "tdsigner.provider-tcb");
    let expected_tail = format!(";time=chain;chain_head={head_height}:{head_hash}");
    assert!(payload.ends_with(&expected_tail), "{payload}");
    let at: u64 = payload
        .split(";checked_at=")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .and_then(|n| n.parse().ok())
        .expect("checked_at");
    assert!(at >= checked_at && at < checked_at + 120, "checked_at {at}, head bound {checked_at}");
    assert_eq!(public["node"]["key_source"], "local-sgx");
    drop(sim);

    // A chain whose head is past the collateral's validity (the anchor is not): the boot
    // halts before the key is used (the provider's answer carries it with its quote, so
    // refusing that quote is the first moment the image can refuse).
    let (sim, trust) = chain_at(GENESIS_EXPIRY_EVE, 4);
    let late = LaunchOptions {
        http_port: free_port(),
        disk: dir.join("disk-expired.img"),
        cmdline: Some(signer_cmdline(provider.port, collateral.port, sim.addrs()[0].port(), &trust)),
        ..o.clone()
    };
    expect_halt(&late, "expired");
    drop(sim);

    // No RPC: no check time the host cannot move, so the provider is never asked.
    let released = provider.log.released.load(Ordering::SeqCst);
    let (_sim, trust) = chain_at(GENESIS_2040, 1);
    let no_rpc = LaunchOptions {
        http_port: free_port(),
        disk: dir.join("disk-norpc.img"),
        cmdline: Some(signer_cmdline(provider.port, collateral.port, free_port(), &trust)),
        ..o
    };
    expect_halt(&no_rpc, "chain head: no endpoint confirmed the chain's head");
    assert_eq!(provider.log.released.load(Ordering::SeqCst), released, "the provider was asked without a verified time");
}
