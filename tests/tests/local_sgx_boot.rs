//! The `local-sgx` sealing-key source against the EMULATED SGX local key
//! provider (`tdsigner_tests::key_provider`):
//! - in process (fast, not ignored): `tdsigner_node::bootstrap` over a real
//!   TCP connection with emulated TD quotes;
//! - the real image under QEMU TCG (ignored like the other image tests): the
//!   image fetches the EMULATED SGX collateral over HTTP and verifies the
//!   provider's quote with `sgx_dcap` against the emulated root; first boot
//!   formats, a reboot reopens the same store, another pinned MRENCLAVE is
//!   refused, collateral that fails its signature or evaluation-number check
//!   is refused, an unreachable provider halts with one line.
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
