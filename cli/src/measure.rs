//! `tdsigner measure …`: TDX measurements — replay an event log, compute a launch's expected
//! MRTD/RTMR0-2, verify quotes, and produce the EMULATED test PKI and quotes.
//!
//! Exit codes of the verifier commands: 0 = accepted / equal, 1 = rejected / not equal,
//! 2 = unreadable or malformed input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use tdsigner_measure::acpi::AcpiInput;
use tdsigner_measure::emulated::{self, EmulatedQuotingEnclave};
use tdsigner_measure::hex;
use tdsigner_measure::launch::{measure_launch, parse_memory_size, LaunchConfig};
use tdsigner_measure::tcb_info::TcbInfo;
use tdsigner_measure::tdvf::PageAddOrder;
use tdsigner_measure::testpki::EmulatedPki;
use tdsigner_measure::verify::{self, ExpectedValues, TrustRoot};

const MAX_FILE: u64 = 256 * 1024 * 1024;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Replay a tcb_info.json event log; print computed rtmr0-3 as JSON. Exit 0 if they equal
    /// the file's values (and no event's digest contradicts its payload), 1 if not, 2 if
    /// unreadable.
    Replay {
        /// tcb_info.json (near/mpc / dstack shape).
        file: PathBuf,
    },
    /// Compute the expected {mrtd, rtmr0, rtmr1, rtmr2} of a launch (QEMU TDX, TDVF as -bios,
    /// the image as -kernel with -append CMDLINE).
    Image {
        /// TDVF firmware (e.g. from measure/tdvf/build-tdvf.sh).
        #[arg(long)]
        firmware: PathBuf,
        /// The tdsigner UEFI PE.
        #[arg(long)]
        image: PathBuf,
        /// The -append string.
        #[arg(long, default_value = "")]
        cmdline: String,
        /// vCPUs (checked against the ACPI MADT when --acpi-dir is given).
        #[arg(long)]
        cpus: u32,
        /// Guest memory: bytes or with K/M/G/T suffix.
        #[arg(long)]
        memory: String,
        /// Directory with QEMU's fw_cfg ACPI files: table-loader and the files it allocates
        /// (etc/acpi/rsdp, etc/acpi/tables).
        #[arg(long, conflicts_with = "acpi_digests")]
        acpi_dir: Option<PathBuf>,
        /// Comma-separated SHA-384 digests of the "ACPI DATA" events, in order (from the event
        /// log of a launch with the same host configuration).
        #[arg(long)]
        acpi_digests: Option<String>,
        /// Page-add order of the host's QEMU: single-pass (QEMU ≥ 9, default) or two-pass (8.x).
        #[arg(long, default_value = "single-pass")]
        page_add_order: String,
        /// The image does not call ExitBootServices (omits the two RTMR1 EBS events).
        #[arg(long)]
        no_exit_boot_services: bool,
        /// The host's QEMU predates "x86/loader: only patch linux kernels" (before 9.0/9.1,
        /// unless backported) and rewrites bytes 0x20-0x23 (and vga= at 0x1FA) of the image.
        #[arg(long)]
        legacy_header_patch: bool,
    },
    /// Verify a TD quote with dcap-qvl and compare with expected values. Exit 0 accepted,
    /// 1 rejected, 2 unreadable.
    VerifyQuote {
        /// Quote file (binary, or hex text).
        #[arg(long)]
        quote: PathBuf,
        /// Collateral JSON (dcap-qvl QuoteCollateralV3). Without it only --root emulated works
        /// (the emulated collateral is generated); nothing is fetched from the network.
        #[arg(long)]
        collateral: Option<PathBuf>,
        /// Expected-values JSON (mrtd, rtmr0-3, report_data / report_data_v1, accepted_tcb_status).
        #[arg(long)]
        expected: PathBuf,
        /// Trust root: `intel` (default), `emulated`, or a DER/PEM certificate file.
        #[arg(long, default_value = "intel")]
        root: String,
        /// Verification time, Unix seconds (default: now).
        #[arg(long)]
        now: Option<u64>,
        /// An event log to check against the quote (tcb_info.json, or a bare `event_log`
        /// array): its replay must give the quote's rtmr0-3 and every recomputable digest must
        /// match its payload.
        #[arg(long)]
        event_log: Option<PathBuf>,
    },
    /// Check an SGX quote (the `local-sgx` key provider's) and the collateral you will serve the
    /// image, with the image's own verifier (`sgx_dcap`) and the same policy inputs as the
    /// `key_source` config. Prints the verdict as JSON. Exit 0 accepted, 1 refused, 2 unreadable.
    VerifySgxQuote {
        /// SGX quote v3 file (binary, or hex text).
        #[arg(long)]
        quote: PathBuf,
        /// Collateral JSON (dcap-qvl QuoteCollateralV3 shape, what the image fetches). With
        /// `--root emulated` and no file, the EMULATED SGX collateral is generated.
        #[arg(long)]
        collateral: Option<PathBuf>,
        /// Trust root: `intel` (default, what TDX images pin) or `emulated`.
        #[arg(long, default_value = "intel")]
        root: String,
        /// Check time, Unix seconds (default: now).
        #[arg(long)]
        now: Option<u64>,
        /// Least tcbEvaluationDataNumber (the config's `tcb_eval_min`).
        #[arg(long, default_value_t = 1)]
        tcb_eval_min: u32,
        /// Accepted TCB statuses, comma-separated (the config's `tcb_accept`).
        #[arg(long, default_value = "UpToDate")]
        tcb_accept: String,
    },
    /// Write the EMULATED test PKI (root_ca.der/pem, pck_chain.pem, collateral.json,
    /// sgx_collateral.json) to DIR.
    EmulatedPki {
        #[arg(long)]
        out: PathBuf,
    },
    /// Produce an EMULATED quote (test PKI, not Intel) for the measurements in a JSON file
    /// (mrtd and rtmr0-3; missing registers are zero).
    EmulatedQuote {
        /// JSON with mrtd, rtmr0..rtmr3 (e.g. `measure image` output or tcb_info.json).
        #[arg(long)]
        measurements: PathBuf,
        /// report_data, 128 hex digits (default: zero).
        #[arg(long)]
        report_data: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_FILE {
        return Err(format!("{}: larger than {MAX_FILE} bytes", path.display()));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn print_json(v: &serde_json::Value) {
    use std::io::Write;
    // A closed pipe (e.g. `| head`) is not an error worth a panic.
    let _ = writeln!(std::io::stdout().lock(), "{}", serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()));
}

fn unreadable(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

pub fn run(cmd: Command) -> ExitCode {
    match cmd {
        Command::Replay { file } => replay(&file),
        Command::Image {
            firmware,
            image,
            cmdline,
            cpus,
            memory,
            acpi_dir,
            acpi_digests,
            page_add_order,
            no_exit_boot_services,
            legacy_header_patch,
        } => image_cmd(ImageArgs {
            firmware,
            image,
            cmdline,
            cpus,
            memory,
            acpi_dir,
            acpi_digests,
            page_add_order,
            exit_boot_services: !no_exit_boot_services,
            legacy_header_patch,
        }),
        Command::VerifyQuote { quote, collateral, expected, root, now, event_log } => {
            verify_quote(&quote, collateral.as_deref(), &expected, &root, now, event_log.as_deref())
        }
        Command::VerifySgxQuote { quote, collateral, root, now, tcb_eval_min, tcb_accept } => {
            verify_sgx_quote(&quote, collateral.as_deref(), &root, now, tcb_eval_min, &tcb_accept)
        }
        Command::EmulatedPki { out } => match EmulatedPki::generate().and_then(|p| p.write_to(&out)) {
            Ok(()) => {
                eprintln!("wrote EMULATED test PKI (not Intel) to {}", out.display());
                ExitCode::SUCCESS
            }
            Err(e) => unreadable(e),
        },
        Command::EmulatedQuote { measurements, report_data, out } => {
            emulated_quote(&measurements, report_data.as_deref(), &out)
        }
    }
}

fn replay(file: &Path) -> ExitCode {
    let text = match read(file) {
        Ok(t) => t,
        Err(e) => return unreadable(e),
    };
    let info = match TcbInfo::parse(&text) {
        Ok(i) => i,
        Err(e) => return unreadable(e),
    };
    match info.replay() {
        Ok(report) => {
            print_json(&report.to_json());
            if report.all_match() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => unreadable(e),
    }
}

struct ImageArgs {
    firmware: PathBuf,
    image: PathBuf,
    cmdline: String,
    cpus: u32,
    memory: String,
    acpi_dir: Option<PathBuf>,
    acpi_digests: Option<String>,
    page_add_order: String,
    exit_boot_services: bool,
    legacy_header_patch: bool,
}

fn image_cmd(a: ImageArgs) -> ExitCode {
    let firmware = match read(&a.firmware) {
        Ok(b) => b,
        Err(e) => return unreadable(e),
    };
    let image = match read(&a.image) {
        Ok(b) => b,
        Err(e) => return unreadable(e),
    };
    let Some(memory) = parse_memory_size(&a.memory) else {
        return unreadable(format!("--memory {}: not a size", a.memory));
    };
    let order = match a.page_add_order.as_str() {
        "single-pass" => PageAddOrder::SinglePass,
        "two-pass" => PageAddOrder::TwoPass,
        other => return unreadable(format!("--page-add-order {other}: single-pass or two-pass")),
    };
    let acpi = match (&a.acpi_dir, &a.acpi_digests) {
        (Some(dir), None) => match AcpiInput::from_dir(dir) {
            Ok(x) => x,
            Err(e) => return unreadable(e),
        },
        (None, Some(list)) => {
            let mut digests = Vec::new();
            for part in list.split(',') {
                match hex::decode_array::<48>(part.trim()) {
                    Ok(d) => digests.push(d),
                    Err(e) => return unreadable(format!("--acpi-digests: {e}")),
                }
            }
            AcpiInput::Digests(digests)
        }
        _ => {
            return unreadable(
                "one of --acpi-dir or --acpi-digests is required: QEMU's ACPI tables are measured into RTMR0 \
                 and depend on the host configuration (see measure/README.md)",
            )
        }
    };
    let config = LaunchConfig {
        firmware: &firmware,
        image: &image,
        cmdline: a.cmdline.as_bytes(),
        cpus: a.cpus,
        memory,
        acpi,
        page_add_order: order,
        exit_boot_services: a.exit_boot_services,
        legacy_header_patch: a.legacy_header_patch,
    };
    match measure_launch(&config) {
        Ok(m) => {
            print_json(&m.to_json(&config));
            ExitCode::SUCCESS
        }
        Err(e) => unreadable(e),
    }
}

/// Binary quote, or hex text (whitespace ignored).
fn decode_quote(bytes: Vec<u8>) -> Vec<u8> {
    let text: String = match std::str::from_utf8(&bytes) {
        Ok(t) => t.chars().filter(|c| !c.is_whitespace()).collect(),
        Err(_) => return bytes,
    };
    match hex::decode(&text) {
        Ok(decoded) if !decoded.is_empty() => decoded,
        _ => bytes,
    }
}

fn load_root(root: &str) -> Result<TrustRoot, String> {
    match root {
        "intel" => Ok(TrustRoot::IntelProduction),
        "emulated" => EmulatedPki::generate().map(|p| TrustRoot::Der(p.root_der)).map_err(|e| e.to_string()),
        path => {
            let bytes = read(Path::new(path))?;
            if bytes.starts_with(b"-----BEGIN") {
                let text = String::from_utf8_lossy(&bytes);
                let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
                base64_decode(&body).ok_or_else(|| format!("{path}: bad PEM"))
                    .map(TrustRoot::Der)
            } else {
                Ok(TrustRoot::Der(bytes))
            }
        }
    }
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Event-log entries from a tcb_info.json or a bare event-log array.
fn load_event_log(path: &Path) -> Result<Vec<tdsigner_measure::event::EventLogEntry>, String> {
    let bytes = read(path)?;
    if let Ok(info) = TcbInfo::parse(&bytes) {
        return Ok(info.event_log);
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    tdsigner_measure::event::parse_event_log_json(text).map_err(|e| format!("{}: {e}", path.display()))
}

fn verify_quote(
    quote: &Path,
    collateral: Option<&Path>,
    expected: &Path,
    root: &str,
    now: Option<u64>,
    event_log: Option<&Path>,
) -> ExitCode {
    let quote = match read(quote) {
        Ok(b) => decode_quote(b),
        Err(e) => return unreadable(e),
    };
    let expected = match read(expected).map_err(|e| e.to_string()).and_then(|t| ExpectedValues::parse(&t).map_err(|e| e.to_string())) {
        Ok(e) => e,
        Err(e) => return unreadable(e),
    };
    let trust = match load_root(root) {
        Ok(r) => r,
        Err(e) => return unreadable(e),
    };
    let collateral = match collateral {
        Some(path) => match read(path).map_err(|e| e.to_string()).and_then(|t| verify::parse_collateral(&t).map_err(|e| e.to_string())) {
            Ok(c) => c,
            Err(e) => return unreadable(e),
        },
        None if root == "emulated" => match EmulatedPki::generate() {
            Ok(p) => p.collateral,
            Err(e) => return unreadable(e),
        },
        None => return unreadable("--collateral is required (collateral is never fetched from the network)"),
    };
    let log = match event_log.map(load_event_log).transpose() {
        Ok(l) => l,
        Err(e) => return unreadable(e),
    };
    let now = now.unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
    let mut outcome = verify::verify_quote(&quote, &collateral, &trust, now, &expected);
    if let Some(log) = &log {
        verify::check_event_log(&mut outcome, log);
    }
    print_json(&outcome.to_json());
    if outcome.accepted() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn verify_sgx_quote(quote: &Path, collateral: Option<&Path>, root: &str, now: Option<u64>, min: u32, accept: &str) -> ExitCode {
    use tdsigner_measure::sgx_dcap::{parse_collateral_json, verify_sgx_quote, Policy, TcbStatus, TcbStatusSet};
    let quote = match read(quote) {
        Ok(b) => decode_quote(b),
        Err(e) => return unreadable(e),
    };
    let root_der = match root {
        "intel" => tdsigner_measure::sgx_dcap::INTEL_SGX_ROOT_CA_DER.to_vec(),
        "emulated" => match emulated::root_ca_der() {
            Some(d) => d,
            None => return unreadable("the committed emulated PCK chain does not decode"),
        },
        other => return unreadable(format!("--root must be intel or emulated, not {other:?}")),
    };
    let collateral_json = match collateral {
        Some(path) => match read(path) {
            Ok(b) => b,
            Err(e) => return unreadable(e),
        },
        None if root == "emulated" => match EmulatedPki::generate() {
            Ok(p) => p.sgx_collateral_json().into_bytes(),
            Err(e) => return unreadable(e),
        },
        None => return unreadable("--collateral is required (collateral is never fetched from the network)"),
    };
    let collateral = match parse_collateral_json(&collateral_json) {
        Ok(c) => c,
        Err(e) => return unreadable(e),
    };
    let mut set = TcbStatusSet::empty();
    for name in accept.split(',') {
        match TcbStatus::from_name(name).map(|s| set.insert(s)) {
            Some(Ok(())) => {}
            _ => return unreadable(format!("--tcb-accept: {name:?} is not an acceptable TCB status name")),
        }
    }
    let now = now.unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
    let policy = Policy { root_ca_der: &root_der, now_secs: now, min_tcb_evaluation_data_number: min, accept: set };
    match verify_sgx_quote(&quote, &collateral, &policy) {
        Ok(v) => {
            print_json(&serde_json::json!({
                "accepted": true,
                "root": if root == "emulated" { "EMULATED test root, not Intel's" } else { "Intel SGX Root CA" },
                "checked_at": now,
                "status": v.status.name(),
                "platform_status": v.platform_status.name(),
                "qe_status": v.qe_status.name(),
                "advisory_ids": v.advisory_ids,
                "tcb_evaluation_data_number": v.tcb_evaluation_data_number,
                "fmspc": hex::encode(&v.fmspc),
                "collateral_valid_until": v.valid_until,
                "mr_enclave": hex::encode(&v.report.mr_enclave),
                "mr_signer": hex::encode(&v.report.mr_signer),
                "report_data": hex::encode(&v.report.report_data),
            }));
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_json(&serde_json::json!({ "accepted": false, "checked_at": now, "reason": e.to_string() }));
            ExitCode::from(1)
        }
    }
}

fn emulated_quote(measurements: &Path, report_data: Option<&str>, out: &Path) -> ExitCode {
    let text = match read(measurements) {
        Ok(t) => t,
        Err(e) => return unreadable(e),
    };
    let value: serde_json::Value = match serde_json::from_slice(&text) {
        Ok(v) => v,
        Err(e) => return unreadable(format!("{}: {e}", measurements.display())),
    };
    let field = |name: &str| -> Result<[u8; 48], String> {
        match value.get(name).and_then(|v| v.as_str()) {
            Some(h) => hex::decode_array::<48>(h).map_err(|e| format!("{name}: {e}")),
            None => Ok([0; 48]),
        }
    };
    let regs = (|| Ok::<_, String>((field("mrtd")?, [field("rtmr0")?, field("rtmr1")?, field("rtmr2")?, field("rtmr3")?])))();
    let (mrtd, rtmr) = match regs {
        Ok(r) => r,
        Err(e) => return unreadable(e),
    };
    let rd = match report_data.map(hex::decode_array::<64>).transpose() {
        Ok(r) => r.unwrap_or([0; 64]),
        Err(e) => return unreadable(format!("--report-data: {e}")),
    };
    let body = emulated::td_report_body(mrtd, rtmr, rd);
    let quote = match EmulatedQuotingEnclave::new().and_then(|qe| qe.quote(&body)) {
        Ok(q) => q,
        Err(e) => return unreadable(e),
    };
    match std::fs::write(out, quote) {
        Ok(()) => {
            eprintln!("wrote EMULATED quote (test PKI, not Intel) to {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => unreadable(format!("{}: {e}", out.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_sgx_quote_exit_codes() {
        let dir = std::env::temp_dir().join(format!("tdsigner-verify-sgx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let quote = emulated::sgx_quote([1; 32], [2; 32], [3; 64]).unwrap();
        let good = dir.join("quote.bin");
        std::fs::write(&good, &quote).unwrap();
        let mut tampered = quote.clone();
        tampered[200] ^= 1;
        let bad = dir.join("tampered.bin");
        std::fs::write(&bad, &tampered).unwrap();
        let now = Some(1_767_225_600);
        assert_eq!(verify_sgx_quote(&good, None, "emulated", now, 1, "UpToDate"), ExitCode::SUCCESS);
        assert_eq!(verify_sgx_quote(&bad, None, "emulated", now, 1, "UpToDate"), ExitCode::from(1));
        assert_eq!(verify_sgx_quote(&good, None, "emulated", now, 2, "UpToDate"), ExitCode::from(1), "stale collateral");
        assert_eq!(verify_sgx_quote(&good, None, "intel", now, 1, "UpToDate"), ExitCode::from(2), "no collateral given");
        assert_eq!(verify_sgx_quote(&good, None, "emulated", now, 1, "Revoked"), ExitCode::from(2));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
