//! The real image under QEMU TCG: boot, /health, /public_data, boot counter
//! across restarts, and refusal of bad config. Every QEMU started here is
//! stopped by its PID (the `Node` guard), with bounded waits.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use sha2::{Digest, Sha384};
use tdsigner_cli::launch::{self, LaunchOptions, Node};
use tdsigner_tests::support::{repo_root as root, test_image as image, free_port};

const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
/// Node identity and the public TEST sealing key every test config carries.
const ID: &str = "account=node0.tdsigner.test key_source=test:7474747474747474747474747474747474747474747474747474747474747474";

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = root().join("target/test-runs").join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

fn launch_opts(scratch: &Scratch, cmdline: Option<&str>, memory: &str) -> LaunchOptions {
    LaunchOptions {
        source_root: root(),
        image: image(),
        disk: scratch.0.join("disk.img"),
        log: scratch.0.join("serial.log"),
        http_port: free_port(),
        memory: memory.to_string(),
        cmdline: cmdline.map(str::to_string),
        p2p_port: None,
    }
}

fn boot(opts: &LaunchOptions) -> (Node, serde_json::Value) {
    let node = launch::start(opts).expect("start qemu");
    let health = match node.wait_for_health(BOOT_TIMEOUT) {
        Ok(h) => h,
        Err(e) => panic!("{e}\nserial:\n{}", node.serial()),
    };
    let json: serde_json::Value = serde_json::from_slice(&health.body).expect("health is JSON");
    (node, json)
}

/// The devices run as a TD gets them (run-emulated.sh: iommu_platform=on,
/// disable-legacy=on): each accepted VIRTIO_F_ACCESS_PLATFORM, and the CPU
/// reached the rings through the DMA pool's alias, not at the address the
/// device was given (which carries no TDX shared bit either).
fn assert_confidential_virtio(serial: &str) {
    for device in ["virtio-blk", "virtio-net"] {
        let features = serial
            .lines()
            .find(|l| l.starts_with(&format!("{device}: features offered ")))
            .unwrap_or_else(|| panic!("no {device} feature line:\n{serial}"));
        let accepted = features.split(", accepted ").nth(1).unwrap_or_default();
        assert!(accepted.contains("VERSION_1, ACCESS_PLATFORM"), "{device} did not accept ACCESS_PLATFORM: {features}");
        let queue = serial
            .lines()
            .find(|l| l.starts_with(&format!("{device}: queue 0: rings at device address ")))
            .unwrap_or_else(|| panic!("no {device} queue line:\n{serial}"));
        let hex = |after: &str| {
            let digits = queue.split(after).nth(1).and_then(|r| r.split(|c: char| c == ',' || c == ' ').next()).unwrap_or("");
            u64::from_str_radix(digits.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("{queue}"))
        };
        let (device_addr, cpu_addr) = (hex("device address "), hex("CPU alias "));
        assert!(device_addr < 1 << 32, "{device}: the device got {device_addr:#x}, not a plain GPA below 4 GiB: {queue}");
        assert!(cpu_addr >= 0xffff_8000_0000_0000, "{device}: the CPU did not use the upper-half alias: {queue}");
    }
    assert!(
        serial.contains("the CPU uses its alias 0xffff800000000000 (identity unmapped), host GPA bit 0x0"),
        "no DMA alias line:\n{serial}"
    );
}

#[test]
#[ignore = "builds the image and boots QEMU; run with --ignored (CI does)"]
fn boots_serves_health_and_counts_boots_across_restarts() {
    let scratch = Scratch::new("boot");
    let cmdline = format!("net=dhcp http=8080 {ID}");
    let cmdline = cmdline.as_str();
    let opts = launch_opts(&scratch, Some(cmdline), "256M");

    let (mut node, health) = boot(&opts);
    let serial = node.serial();
    assert!(serial.contains("tdsigner 0.1.0 platform=emulated (NOT a TDX guest"), "banner missing:\n{serial}");
    // Without CPUID 0x15 the TSC is calibrated against the ACPI PM timer QEMU's FADT names,
    // and the two measurements agree closely (a Stall-based fallback would say so instead).
    let calibration = serial.lines().find(|l| l.contains("tsc ")).unwrap_or_default();
    assert!(calibration.contains("(ACPI PM timer at port 0x"), "TSC not calibrated against the PM timer: {calibration}");
    let ppm: u64 = calibration
        .split("two measurements ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX);
    assert!(ppm <= 1000, "{calibration}");
    assert_confidential_virtio(&serial);
    // An interrupt nobody asked for (as a firmware may leave pending) is acknowledged, not fatal.
    assert!(serial.contains("interrupts: stray vector 0x41 acknowledged by the default handler"), "{serial}");
    // OVMF has no CCEL table: the firmware's part of the served log is empty, and says why.
    assert!(serial.contains("firmware event log: none (emulated: no CCEL table)"), "{serial}");
    assert_eq!(health["platform"], "emulated");
    assert_eq!(health["attestation"], "emulated");
    assert_eq!(health["debug_td"], false);
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["boot_count"], 1);
    assert!(health["uptime_ms"].as_u64().is_some());

    // RTMR2 is the fixed launch event (measurement scheme 1), reproduced here independently:
    // nothing in it depends on this node's command line.
    let public = tdsigner_cli::http::get(node.http, "/public_data", Duration::from_secs(5)).expect("public_data");
    assert_eq!(public.status, 200);
    let public: serde_json::Value = serde_json::from_slice(&public.body).expect("public_data JSON");
    let statement = tdsigner_measure::cmdline::RTMR2_STATEMENT.as_bytes();
    let mut rtmr2 = Sha384::new();
    rtmr2.update([0u8; 48]);
    rtmr2.update(Sha384::digest(statement));
    assert_eq!(public["rtmr2"], hex::encode(rtmr2.finalize()));
    assert_eq!(public["rtmr2"], tdsigner_measure::hex::encode(&tdsigner_measure::cmdline::rtmr2_value()));
    assert_eq!(public["firmware_event_log"], "none (emulated: no CCEL table)");
    assert_eq!(public["debug_td"], false);
    let log = public["event_log"].as_array().expect("event log");
    assert_eq!(log[0]["imr"], 2);
    assert_eq!(log[0]["event"], "tdsigner.rtmr2");
    assert_eq!(log[0]["event_payload"], hex::encode(statement));
    let names: Vec<&str> = log.iter().skip(1).map(|e| e["event"].as_str().unwrap_or("")).collect();
    assert_eq!(
        names,
        [
            "tdsigner.image-version",
            "tdsigner.config",
            "tdsigner.policy",
            "tdsigner.key-source",
            "tdsigner.store-generation",
            "tdsigner.boot-done"
        ]
    );
    // The launch events are what `tdsigner measure policy --cmdline` predicts for this command line.
    let config = tdsigner_node::config::NodeConfig::parse(cmdline).expect("config");
    assert_eq!(log[2]["event_payload"], hex::encode(config.canonical()));
    assert_eq!(log[3]["event_payload"], hex::encode(config.policy_payload(env!("CARGO_PKG_VERSION"))));
    // RTMR3 replays from the log: every runtime digest recomputed from its payload.
    let mut rtmr3 = [0u8; 48];
    for e in &log[1..] {
        let payload = hex::decode(e["event_payload"].as_str().unwrap_or("")).expect("hex payload");
        let mut pre = Vec::new();
        pre.extend_from_slice(&0x0800_0001u32.to_le_bytes());
        pre.push(b':');
        pre.extend_from_slice(e["event"].as_str().unwrap_or("").as_bytes());
        pre.push(b':');
        pre.extend_from_slice(&payload);
        let digest = Sha384::digest(&pre);
        assert_eq!(e["digest"], hex::encode(digest), "digest of {}", e["event"]);
        let mut h = Sha384::new();
        h.update(rtmr3);
        h.update(digest);
        rtmr3.copy_from_slice(&h.finalize());
    }
    assert_eq!(public["rtmr3"], hex::encode(rtmr3));
    assert_eq!(log[4]["event_payload"], hex::encode(b"test"), "key source must say test");
    assert_eq!(public["attestation"], "emulated");
    let node_json = &public["node"];
    assert_eq!(node_json["account_id"], "node0.tdsigner.test");
    assert_eq!(node_json["key_source"], "test");
    assert!(node_json["tls_public_key"].as_str().unwrap_or("").starts_with("ed25519:"));
    let tls_key_first_boot = node_json["tls_public_key"].clone();

    // The quote: a TD quote v4 that verifies against the EMULATED test root
    // with exactly these RTMRs and report_data, and is refused under Intel's root.
    let quote = hex::decode(node_json["quote"].as_str().expect("quote present")).expect("quote hex");
    let expected_json = serde_json::json!({
        "mrtd": "00".repeat(48),
        "rtmr2": public["rtmr2"],
        "rtmr3": public["rtmr3"],
        "report_data": node_json["report_data"],
    });
    let expected = tdsigner_measure::verify::ExpectedValues::parse(expected_json.to_string().as_bytes()).expect("expected");
    let pki = tdsigner_measure::testpki::EmulatedPki::generate().expect("emulated pki");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let emulated_root = tdsigner_measure::verify::TrustRoot::Der(pki.root_der.clone());
    let outcome = tdsigner_measure::verify::verify_quote(&quote, &pki.collateral, &emulated_root, now, &expected);
    assert!(outcome.accepted(), "emulated quote rejected: {}", outcome.to_json());
    let intel = tdsigner_measure::verify::verify_quote(
        &quote,
        &pki.collateral,
        &tdsigner_measure::verify::TrustRoot::IntelProduction,
        now,
        &expected,
    );
    assert!(!intel.accepted(), "an emulated quote must not verify under Intel's root");

    let missing = tdsigner_cli::http::get(node.http, "/nope", Duration::from_secs(5)).expect("404");
    assert_eq!(missing.status, 404);

    node.stop();
    assert!(!launch::pid_alive(node.pid), "QEMU {} still running after stop", node.pid);

    // Same disk, new QEMU: the counter goes up.
    let opts2 = LaunchOptions { http_port: free_port(), ..opts.clone() };
    let (mut node2, health2) = boot(&opts2);
    assert_eq!(health2["boot_count"], 2, "serial:\n{}", node2.serial());
    // The sealed store reopened: same node identity.
    let public2 = tdsigner_cli::http::get(node2.http, "/public_data", Duration::from_secs(5)).expect("public_data");
    let public2: serde_json::Value = serde_json::from_slice(&public2.body).expect("public_data JSON");
    assert_eq!(public2["node"]["tls_public_key"], tls_key_first_boot, "identity changed across a reboot");
    assert!(node2.serial().contains("store: opened"), "{}", node2.serial());
    node2.stop();

    // Another sealing key on the same disk: refused, disk untouched, machine off.
    let other_key = format!("net=dhcp http=8080 account=node0.tdsigner.test key_source=test:{}", "55".repeat(32));
    let opts3 = LaunchOptions { http_port: free_port(), cmdline: Some(other_key), ..opts2.clone() };
    let mut node3 = launch::start(&opts3).expect("start qemu");
    assert!(node3.wait_for_exit(BOOT_TIMEOUT), "QEMU kept running with the wrong key:\n{}", node3.serial());
    let serial3 = node3.serial();
    assert!(
        serial3.contains("tdsigner: fatal: sealed store does not open (disk left untouched)"),
        "{serial3}"
    );
    // And the right key still opens it with the same identity.
    let opts4 = LaunchOptions { http_port: free_port(), ..opts2 };
    let (mut node4, _) = boot(&opts4);
    let public4 = tdsigner_cli::http::get(node4.http, "/public_data", Duration::from_secs(5)).expect("public_data");
    let public4: serde_json::Value = serde_json::from_slice(&public4.body).expect("public_data JSON");
    assert_eq!(public4["node"]["tls_public_key"], tls_key_first_boot);
    node4.stop();
}

#[test]
#[ignore = "builds the image and boots QEMU; run with --ignored (CI does)"]
fn bad_config_halts_with_one_clear_line() {
    for (name, cmdline, expected) in [
        ("missing-key", "net=dhcp", "tdsigner: fatal: config: required key `http` missing"),
        ("unknown-key", "net=dhcp http=8080 debug=1", "tdsigner: fatal: config: unknown key `debug`"),
        ("bad-value", "net=static ip=10.0.2.15/40 http=8080", "tdsigner: fatal: config: bad value for `ip`"),
        ("no-key-source", "net=dhcp http=8080 account=node0.tdsigner.test", "tdsigner: fatal: config: required key `key_source` missing"),
    ] {
        let scratch = Scratch::new(name);
        let cmdline = if name == "no-key-source" { cmdline.to_string() } else { format!("{cmdline} {ID}") };
        let opts = launch_opts(&scratch, Some(&cmdline), "256M");
        let mut node = launch::start(&opts).expect("start qemu");
        let exited = node.wait_for_exit(BOOT_TIMEOUT);
        let serial = node.serial();
        node.stop();
        assert!(exited, "{name}: QEMU did not power off after a config error:\n{serial}");
        let fatal: Vec<&str> = serial.lines().filter(|l| l.contains("fatal")).collect();
        assert_eq!(fatal.len(), 1, "{name}: expected exactly one fatal line:\n{serial}");
        assert!(fatal[0].starts_with(expected), "{name}: got {:?}, want prefix {expected:?}", fatal[0]);
        // The refused command line was still measured before it was parsed.
        assert!(serial.contains("platform=emulated"), "{name}: no banner:\n{serial}");
    }
}

/// A one-record DNS responder on 127.0.0.1:53 (which QEMU user-net exposes
/// to the guest as 10.0.2.2:53): answers every A query for `name` with
/// 10.0.2.2 and counts the queries it saw.
fn spawn_dns_stub(name: &'static str) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let socket = std::net::UdpSocket::bind("127.0.0.1:53")
        .expect("bind 127.0.0.1:53 for the DNS stub (needs root or CAP_NET_BIND_SERVICE)");
    socket.set_read_timeout(Some(Duration::from_secs(120))).expect("timeout");
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            let q = &buf[..n];
            if q.len() < 17 {
                continue;
            }
            // Question name: length-prefixed labels from byte 12.
            let mut labels = Vec::new();
            let mut i = 12;
            while i < q.len() && q[i] != 0 {
                let len = q[i] as usize;
                let Some(label) = q.get(i + 1..i + 1 + len) else { break };
                labels.push(String::from_utf8_lossy(label).into_owned());
                i += 1 + len;
            }
            let question_end = i + 5; // NUL + QTYPE + QCLASS
            if question_end > q.len() || labels.join(".") != name {
                continue;
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let mut answer = Vec::new();
            answer.extend_from_slice(&q[..2]); // id
            answer.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
            answer.extend_from_slice(&q[12..question_end]);
            answer.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 2, 2]);
            let _ = socket.send_to(&answer, peer);
        }
    });
    seen
}

#[test]
#[ignore = "builds the image and boots QEMU; run with --ignored (CI does)"]
fn probe_resolves_a_name_and_opens_a_tcp_connection() {
    use std::sync::atomic::Ordering;
    let queries = spawn_dns_stub("rpc.tdsigner.test");
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    let scratch = Scratch::new("probe");
    let cmdline = format!("net=dhcp http=8080 dns=10.0.2.2 probe=rpc.tdsigner.test:{port} {ID}");
    let opts = launch_opts(&scratch, Some(&cmdline), "256M");
    let (mut node, _) = boot(&opts);
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let accepted = loop {
        match listener.accept() {
            Ok((_, peer)) => break Some(peer),
            Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => break None,
        }
    };
    std::thread::sleep(Duration::from_millis(500));
    let serial = node.serial();
    node.stop();
    assert!(accepted.is_some(), "the guest never connected:\n{serial}");
    assert!(queries.load(Ordering::SeqCst) >= 1, "no DNS query reached the stub");
    assert!(serial.contains("probe: rpc.tdsigner.test resolved to 10.0.2.2"), "{serial}");
    assert!(serial.contains(&format!("probe: tcp connected to 10.0.2.2:{port}")), "{serial}");
}
