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
use tdsigner_measure::firmware::FirmwareVariant;
use tdsigner_measure::hex;
use tdsigner_measure::launch::{measure_launch, parse_memory_size, LaunchConfig};
use tdsigner_measure::tcb_info::TcbInfo;
use tdsigner_measure::tdvf::PageAddOrder;
use tdsigner_measure::testpki::EmulatedPki;
use tdsigner_measure::event::EventLogEntry;
use tdsigner_measure::launch_policy::{check_launch_policy, LaunchEvents, LaunchPolicy};
use tdsigner_measure::verify::{self, ExpectedValues, TrustRoot};
use tdsigner_node::config::NodeConfig;

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
        /// The -append string. It reaches no register unless --legacy-header-patch (then RTMR1,
        /// through its length): RTMR2 is the image's fixed launch event, and the configuration
        /// is measured into RTMR3 (see `measure policy`).
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
        /// The firmware's edk2 generation, which fixes the RTMR0 event sequence: `pre202505`
        /// (13 events; edk2-stable202502, what measure/tdvf/build-tdvf.sh builds) or
        /// `stable202505` (17 events; edk2-stable202505 and later). Default `auto`: the variant
        /// of a known firmware build (by SHA-256), else pre202505. The output's
        /// launch.firmware_variant(_source) says which was assumed and why.
        #[arg(long, default_value = "auto")]
        firmware_variant: String,
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
        /// It must pin mrtd, rtmr0, rtmr1 and rtmr2 (else any image passes), unless
        /// --allow-unpinned.
        #[arg(long)]
        expected: PathBuf,
        /// Accept an expected-values file that leaves some of mrtd, rtmr0, rtmr1, rtmr2 unpinned;
        /// the output then names them under "unpinned".
        #[arg(long)]
        allow_unpinned: bool,
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
        /// Policy file (`measure policy` output): rtmr2 must be the fixed launch value and the
        /// log's RTMR3 must start with an allowlisted image version and policy (and the pinned
        /// config, if the file pins one), with config and policy agreeing. Needs --event-log.
        #[arg(long, requires = "event_log")]
        policy: Option<PathBuf>,
    },
    /// Print what a node launched with CMDLINE measures before any secret exists: the fixed
    /// RTMR2 and the RTMR3 launch events (image version, canonical config, policy) with their
    /// digests, as a policy file for `verify-quote --policy`. Its `pinned_config_digest` is per
    /// node; remove it to allowlist every node of the network with this policy. Exit 0, or 2
    /// when the command line does not parse.
    Policy {
        /// The node's -append command line.
        #[arg(long)]
        cmdline: String,
        /// Image version (default: this tool's, the same workspace version the image carries).
        #[arg(long)]
        image_version: Option<String>,
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
            firmware_variant,
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
            firmware_variant,
        }),
        Command::Policy { cmdline, image_version } => {
            match policy_json(&cmdline, image_version.as_deref().unwrap_or(env!("CARGO_PKG_VERSION"))) {
                Ok(json) => {
                    print_json(&json);
                    ExitCode::SUCCESS
                }
                Err(e) => unreadable(e),
            }
        }
        Command::VerifyQuote { quote, collateral, expected, allow_unpinned, root, now, event_log, policy } => {
            let args = VerifyQuoteArgs {
                quote: &quote,
                collateral: collateral.as_deref(),
                expected: &expected,
                allow_unpinned,
                root: &root,
                now,
                event_log: event_log.as_deref(),
                policy: policy.as_deref(),
            };
            verify_quote(&args)
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
    firmware_variant: String,
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
    let firmware_variant = match a.firmware_variant.as_str() {
        "auto" => None,
        name => match FirmwareVariant::from_name(name) {
            Some(v) => Some(v),
            None => return unreadable(format!("--firmware-variant {name}: auto, pre202505 or stable202505")),
        },
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
        firmware_variant,
    };
    match measure_launch(&config) {
        Ok(m) => {
            eprintln!("firmware variant: {} ({})", m.firmware_variant.name(), m.firmware_variant_source);
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

/// Inputs of `measure verify-quote`.
struct VerifyQuoteArgs<'a> {
    quote: &'a Path,
    collateral: Option<&'a Path>,
    expected: &'a Path,
    allow_unpinned: bool,
    root: &'a str,
    now: Option<u64>,
    event_log: Option<&'a Path>,
    policy: Option<&'a Path>,
}

fn verify_quote(args: &VerifyQuoteArgs<'_>) -> ExitCode {
    match verify_quote_outcome(args) {
        Ok((json, accepted)) => {
            print_json(&json);
            if accepted {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => unreadable(e),
    }
}

/// The verdict JSON and whether it accepts; `Err` when the inputs are unusable (exit 2).
fn verify_quote_outcome(args: &VerifyQuoteArgs<'_>) -> Result<(serde_json::Value, bool), String> {
    let quote = decode_quote(read(args.quote)?);
    let expected = ExpectedValues::parse(&read(args.expected)?).map_err(|e| e.to_string())?;
    let unpinned = expected.unpinned_launch_registers();
    if !unpinned.is_empty() && !args.allow_unpinned {
        return Err(format!(
            "{}: pins no {} — any image, firmware or launch would pass; pin mrtd, rtmr0, rtmr1 and rtmr2 \
             (e.g. from `tdsigner measure image` or out/manifest.json) or pass --allow-unpinned",
            args.expected.display(),
            unpinned.join(", ")
        ));
    }
    let trust = load_root(args.root)?;
    let collateral = match args.collateral {
        Some(path) => verify::parse_collateral(&read(path)?).map_err(|e| e.to_string())?,
        None if args.root == "emulated" => EmulatedPki::generate().map_err(|e| e.to_string())?.collateral,
        None => return Err("--collateral is required (collateral is never fetched from the network)".into()),
    };
    let log = args.event_log.map(load_event_log).transpose()?;
    let policy = match args.policy {
        Some(path) => Some(LaunchPolicy::parse(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))?),
        None => None,
    };
    if policy.is_some() && log.is_none() {
        return Err("--policy needs --event-log (the RTMR3 launch events are read from it)".into());
    }
    let now = args.now.unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
    let mut outcome = verify::verify_quote(&quote, &collateral, &trust, now, &expected);
    if let Some(log) = &log {
        verify::check_event_log(&mut outcome, log);
    }
    let launch = match (&policy, &log) {
        (Some(policy), Some(log)) => check_policy(&mut outcome, log, policy),
        _ => None,
    };
    let mut json = outcome.to_json();
    if let (Some(events), Some(map)) = (launch, json.as_object_mut()) {
        map.insert(
            "launch_policy".into(),
            serde_json::json!({ "image_version": events.image_version, "config": events.config, "policy": events.policy }),
        );
    }
    if !unpinned.is_empty() {
        eprintln!("warning: --allow-unpinned: {} not pinned; any value passes", unpinned.join(", "));
        if let Some(map) = json.as_object_mut() {
            map.insert("unpinned".into(), serde_json::json!(unpinned));
            map.insert(
                "unpinned_note".into(),
                serde_json::json!("--allow-unpinned: these registers were not compared; any image, firmware or launch passes them"),
            );
        }
    }
    Ok((json, outcome.accepted()))
}

/// [`check_launch_policy`], then that the logged config is canonical and the logged policy is
/// the one it implies (so an allowlisted policy cannot sit beside a config that says otherwise).
fn check_policy(outcome: &mut verify::VerifyOutcome, log: &[EventLogEntry], policy: &LaunchPolicy) -> Option<LaunchEvents> {
    let events = check_launch_policy(outcome, log, policy)?;
    match NodeConfig::parse(&events.config) {
        Err(e) => outcome.failures.push(format!("tdsigner.config does not parse: {e}")),
        Ok(config) => {
            if config.canonical() != events.config {
                outcome.failures.push("tdsigner.config is not in canonical form".into());
            }
            if config.policy_payload(&events.image_version) != events.policy {
                outcome.failures.push("tdsigner.policy is not the policy tdsigner.config implies".into());
            }
        }
    }
    Some(events)
}

/// One event as JSON (the event-log shape) plus its payload as text.
fn event_json(e: &EventLogEntry) -> serde_json::Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(map) = v.as_object_mut() {
        map.insert("payload_text".into(), String::from_utf8_lossy(&e.event_payload).into());
    }
    v
}

/// `measure policy`: the launch measurements of a configuration, as a policy file.
fn policy_json(cmdline: &str, image_version: &str) -> Result<serde_json::Value, String> {
    use tdsigner_measure::names;
    let config = NodeConfig::parse(cmdline).map_err(|e| format!("--cmdline: {e}"))?;
    let canonical = config.canonical();
    let policy = config.policy_payload(image_version);
    let version_event = names::image_version(image_version);
    let config_event = names::config(&canonical);
    let policy_event = names::policy(&policy);
    let rtmr2 = tdsigner_measure::cmdline::rtmr2_event();
    Ok(serde_json::json!({
        "measurement_scheme": tdsigner_measure::launch_policy::MEASUREMENT_SCHEME,
        "rtmr2": hex::encode(&tdsigner_measure::cmdline::rtmr2_value()),
        "allowed": [{
            "image_version": image_version,
            "image_version_digest": hex::encode(&version_event.digest),
            "policy": policy,
            "policy_digest": hex::encode(&policy_event.digest),
        }],
        "pinned_config_digest": hex::encode(&config_event.digest),
        "config": canonical,
        "rtmr2_event": event_json(&rtmr2),
        "rtmr3_launch_events": [event_json(&version_event), event_json(&config_event), event_json(&policy_event)],
        "note": "RTMR3 continues per boot with tdsigner.key-source, tdsigner.store-generation, [tdsigner.provider-tcb], \
                 tdsigner.boot-done. pinned_config_digest is this node's; remove it to allowlist every node with this policy.",
    }))
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

    /// An EMULATED quote for fixed measurements, its report_data, and a scratch directory.
    fn emulated_quote_fixture(tag: &str) -> (PathBuf, PathBuf, [u8; 64]) {
        let dir = std::env::temp_dir().join(format!("tdsigner-verify-td-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rd = [7u8; 64];
        let body = emulated::td_report_body([1; 48], [[2; 48], [3; 48], [4; 48], [5; 48]], rd);
        let quote = EmulatedQuotingEnclave::new().and_then(|qe| qe.quote(&body)).unwrap();
        let path = dir.join("quote.bin");
        std::fs::write(&path, quote).unwrap();
        (dir, path, rd)
    }

    fn args<'a>(quote: &'a Path, expected: &'a Path, allow_unpinned: bool) -> VerifyQuoteArgs<'a> {
        VerifyQuoteArgs {
            quote,
            collateral: None,
            expected,
            allow_unpinned,
            root: "emulated",
            now: Some(1_767_225_600),
            event_log: None,
            policy: None,
        }
    }

    #[test]
    fn verify_quote_refuses_expected_values_that_pin_no_launch() {
        let (dir, quote, rd) = emulated_quote_fixture("unpinned");
        let only_report_data = dir.join("report_data_only.json");
        std::fs::write(&only_report_data, format!("{{\"report_data\":\"{}\"}}", hex::encode(&rd))).unwrap();
        let refused = verify_quote_outcome(&args(&quote, &only_report_data, false));
        let reason = refused.expect_err("a report_data-only file must be refused");
        assert!(reason.contains("mrtd, rtmr0, rtmr1, rtmr2") && reason.contains("--allow-unpinned"), "{reason}");
        assert_eq!(verify_quote(&args(&quote, &only_report_data, false)), ExitCode::from(2));

        let (json, accepted) = verify_quote_outcome(&args(&quote, &only_report_data, true)).unwrap();
        assert!(accepted, "{json}");
        assert_eq!(json["unpinned"], serde_json::json!(["mrtd", "rtmr0", "rtmr1", "rtmr2"]));
        assert!(json["unpinned_note"].as_str().unwrap_or("").contains("--allow-unpinned"));

        // Pinning some but not all launch registers is still refused, naming the rest.
        let partial = dir.join("partial.json");
        let h = |b: u8| hex::encode(&[b; 48]);
        std::fs::write(&partial, format!("{{\"mrtd\":\"{}\",\"rtmr0\":\"{}\"}}", h(1), h(2))).unwrap();
        let reason = verify_quote_outcome(&args(&quote, &partial, false)).expect_err("partial pin");
        assert!(reason.contains("pins no rtmr1, rtmr2"), "{reason}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn verify_quote_accepts_a_pinned_file_and_names_nothing_unpinned() {
        let (dir, quote, rd) = emulated_quote_fixture("pinned");
        let h = |b: u8| hex::encode(&[b; 48]);
        let pinned = dir.join("pinned.json");
        let text = format!(
            "{{\"mrtd\":\"{}\",\"rtmr0\":\"{}\",\"rtmr1\":\"{}\",\"rtmr2\":\"{}\",\"report_data\":\"{}\"}}",
            h(1), h(2), h(3), h(4), hex::encode(&rd)
        );
        std::fs::write(&pinned, text).unwrap();
        let (json, accepted) = verify_quote_outcome(&args(&quote, &pinned, false)).unwrap();
        assert!(accepted, "{json}");
        assert!(json.get("unpinned").is_none());
        // A pinned file with a wrong rtmr2 rejects (exit 1), --allow-unpinned or not.
        let wrong = dir.join("wrong.json");
        std::fs::write(
            &wrong,
            format!("{{\"mrtd\":\"{}\",\"rtmr0\":\"{}\",\"rtmr1\":\"{}\",\"rtmr2\":\"{}\"}}", h(1), h(2), h(3), h(9)),
        )
        .unwrap();
        assert_eq!(verify_quote(&args(&quote, &wrong, false)), ExitCode::from(1));
        assert_eq!(verify_quote(&args(&quote, &wrong, true)), ExitCode::from(1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    const NODE: &str = "net=dhcp http=8080 account=node0.tdsigner.test contract=c.test rpc=https://rpc.example.test p2p=9000 trust=00ff \
                        key_source=test:7474747474747474747474747474747474747474747474747474747474747474";

    /// A node's boot log under measurement scheme 1, with `policy_text` as its policy event.
    fn scheme1_log(config: &str, policy_text: &str) -> Vec<EventLogEntry> {
        use tdsigner_measure::names;
        vec![
            tdsigner_measure::cmdline::rtmr2_event(),
            names::image_version("0.1.0"),
            names::config(config),
            names::policy(policy_text),
            names::key_source("test"),
            names::boot_done(),
        ]
    }

    /// Writes quote, expected values and event log for `log`; returns their paths.
    fn scheme1_files(dir: &Path, log: &[EventLogEntry]) -> (PathBuf, PathBuf, PathBuf) {
        let replay = tdsigner_measure::event::replay(log).unwrap();
        let body = emulated::td_report_body([1; 48], replay.rtmr, [0; 64]);
        let quote = EmulatedQuotingEnclave::new().and_then(|qe| qe.quote(&body)).unwrap();
        let (q, e, l) = (dir.join("q.bin"), dir.join("expected.json"), dir.join("log.json"));
        std::fs::write(&q, quote).unwrap();
        let h = |d: &[u8; 48]| hex::encode(d);
        let expected = serde_json::json!({"mrtd": h(&[1; 48]), "rtmr0": h(&replay.rtmr[0]), "rtmr1": h(&replay.rtmr[1]), "rtmr2": h(&replay.rtmr[2])});
        std::fs::write(&e, expected.to_string()).unwrap();
        std::fs::write(&l, serde_json::to_string(log).unwrap()).unwrap();
        (q, e, l)
    }

    fn with_policy<'a>(q: &'a Path, e: &'a Path, l: &'a Path, p: &'a Path) -> VerifyQuoteArgs<'a> {
        VerifyQuoteArgs { event_log: Some(l), policy: Some(p), ..args(q, e, false) }
    }

    #[test]
    fn policy_allowlists_the_launch_events_of_a_configuration() {
        let dir = std::env::temp_dir().join(format!("tdsigner-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = policy_json(NODE, "0.1.0").unwrap();
        let config = NodeConfig::parse(NODE).unwrap();
        assert_eq!(file["config"], config.canonical());
        assert_eq!(file["rtmr3_launch_events"][2]["payload_text"], config.policy_payload("0.1.0"));
        let policy_path = dir.join("policy.json");
        std::fs::write(&policy_path, file.to_string()).unwrap();

        // The node itself: accepted, and the output names what was checked.
        let good = scheme1_log(&config.canonical(), &config.policy_payload("0.1.0"));
        let (q, e, l) = scheme1_files(&dir, &good);
        let (json, accepted) = verify_quote_outcome(&with_policy(&q, &e, &l, &policy_path)).unwrap();
        assert!(accepted, "{json}");
        assert_eq!(json["launch_policy"]["config"], config.canonical());

        // Another contract: a policy the file does not allow.
        let other = NodeConfig::parse(&NODE.replace("contract=c.test", "contract=d.test")).unwrap();
        let bad = scheme1_log(&other.canonical(), &other.policy_payload("0.1.0"));
        let (q, e, l) = scheme1_files(&dir, &bad);
        let (json, accepted) = verify_quote_outcome(&with_policy(&q, &e, &l, &policy_path)).unwrap();
        assert!(!accepted, "{json}");
        assert_eq!(verify_quote(&with_policy(&q, &e, &l, &policy_path)), ExitCode::from(1));

        // An allowlisted policy event beside a config that implies another policy.
        let mixed = scheme1_log(&other.canonical(), &config.policy_payload("0.1.0"));
        let (q, e, l) = scheme1_files(&dir, &mixed);
        let (json, accepted) = verify_quote_outcome(&with_policy(&q, &e, &l, &policy_path)).unwrap();
        assert!(!accepted);
        let failures = json["failures"].to_string();
        assert!(failures.contains("not the policy tdsigner.config implies"), "{failures}");

        // Without the per-node pin, a second node of the same network passes.
        let mut network = file.clone();
        network.as_object_mut().unwrap().remove("pinned_config_digest");
        std::fs::write(&policy_path, network.to_string()).unwrap();
        let node1 = NodeConfig::parse(&NODE.replace("node0", "node1")).unwrap();
        let second = scheme1_log(&node1.canonical(), &node1.policy_payload("0.1.0"));
        let (q, e, l) = scheme1_files(&dir, &second);
        let (json, accepted) = verify_quote_outcome(&with_policy(&q, &e, &l, &policy_path)).unwrap();
        assert!(accepted, "{json}");
        assert!(policy_json("net=dhcp", "0.1.0").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

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
