//! The `local-sgx` sealing-key source against the EMULATED SGX local key
//! provider (`tdsigner_tests::key_provider`):
//! - in process (fast, not ignored): `tdsigner_node::bootstrap` over a real
//!   TCP connection with emulated TD quotes;
//! - the real image under QEMU TCG (ignored like the other image tests):
//!   first boot formats, a reboot reopens the same store, another pinned
//!   MRENCLAVE is refused, an unreachable provider halts with one line.
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
use tdsigner_node::provider_quote::EmulatedProviderQuoteVerifier;
use tdsigner_store::device::MemDevice;
use tdsigner_store::RuntimeEvent;
use tdsigner_tests::key_provider::EmulatedKeyProvider;
use tdsigner_tests::support::{repo_root as root, test_image as image, free_port};

const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
const PINNED: [u8; 32] = [0xA1; 32];
const OTHER: [u8; 32] = [0xB2; 32];
const SGX_SEALING_KEY: [u8; 16] = [0x5E; 16];

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
    let mut source = ConfiguredSource::new(&config, EmulatedProviderQuoteVerifier, &mut rng)?;
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

fn cmdline(port: u16, pin: &[u8; 32]) -> String {
    format!("net=dhcp http=8080 account=node0.tdsigner.test key_source=local-sgx:10.0.2.2:{port};mrenclave={};collateral=10.0.2.2:1/collateral.json;tcb_eval_min=1", hex(pin))
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
    let dir = scratch("local-sgx");
    let first = opts(&dir, cmdline(provider.port, &PINNED));

    let (mut node, public) = boot(&first);
    let serial = node.serial();
    assert!(serial.contains("key source: local-sgx via 10.0.2.2"), "{serial}");
    assert!(serial.contains("store: formatted a blank disk"), "{serial}");
    assert!(serial.contains("key source local-sgx: EMULATED provider"), "{serial}");
    assert_eq!(public["node"]["key_source"], "local-sgx");
    assert_eq!(public["attestation"], "emulated");
    let log = public["event_log"].as_array().expect("event log");
    let key_source = log.iter().find(|e| e["event"] == "tdsigner.key-source").expect("key-source event");
    assert_eq!(key_source["event_payload"], hex(format!("local-sgx;mrenclave={}", hex(&PINNED)).as_bytes()));
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
    let third = LaunchOptions { http_port: free_port(), cmdline: Some(cmdline(provider.port, &OTHER)), ..first.clone() };
    expect_halt(&third, "provider enclave is not in the pinned set");

    // No provider listening: one clear line, clean power-off.
    let closed = free_port();
    let fourth = LaunchOptions { http_port: free_port(), cmdline: Some(cmdline(closed, &PINNED)), ..first };
    expect_halt(&fourth, "cannot reach the key provider");
}
