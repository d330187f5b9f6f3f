//! The guest program: from a running machine to a serving node.
//!
//! Order matters and is fixed:
//! 1. platform backend (CPUID 0x21), console, CPU tables, page tables;
//! 2. banner (version + platform);
//! 3. config parsed strictly; any error is one line on the console and a
//!    clean power-off;
//! 4. measured: RTMR2 the fixed launch event, RTMR3 image version, canonical
//!    config and policy (`measured_boot::measure_config`);
//! 5. hardware RNG (refuse to start without one), APIC timer;
//! 6. PCI scan → virtio-blk (boot counter) and virtio-net (smoltcp);
//! 7. secrets (`tdsigner_node::bootstrap`): key-source event into RTMR3, the
//!    sealing key (for `local-sgx`: after the network has an address, a TD
//!    quote and one exchange with the host's key provider, see `keysource`),
//!    sealed store, store generation into RTMR3;
//! 8. the main loop: poll the stack, serve `/health` and `/public_data`, run
//!    the optional connectivity probe, sleep until the next deadline.
//!
//! **Layer: the program** (the top). [`runtime`] is the node's environment,
//! [`keysource`] the sealing-key transport, [`chain_time`] the boot-time RPC
//! walk, [`attest`] quotes, [`probe`] the connectivity probe. It may use every
//! layer below; nothing below uses it.

pub mod attest;
pub mod chain_time;
pub mod keysource;
pub mod probe;
pub mod runtime;

use alloc::boxed::Box;
use alloc::vec::Vec;


use tdsigner_node::bootstrap::{ConfiguredSource, NoTransport, RefuseProviderQuotes};
use tdsigner_node::chain_time::{verified_chain_head, WalkLimits};
use tdsigner_node::config::{KeySourceConfig, NodeConfig};
use tdsigner_node::provider_quote::{collateral_check_time, DcapProviderQuoteVerifier, PinnedRoot};
use tdsigner_node::health::{Health, PlatformKind};
use tdsigner_node::http::{Method, RequestHead, Response};
use tdsigner_node::public_data::{NodePublic, PublicData};
use virtio_drivers::transport::pci::bus::PciRoot;
use virtio_drivers::transport::DeviceType;

use crate::boot::{BootInfo, MAX_LOAD_OPTIONS};
use crate::platform::fatal::fatal;
use crate::net::Network;
use crate::drivers::pci::PortCam;
use crate::drivers::virtio::transport::PlatformPciTransport;
use crate::arch::{self, apic, paging};
use crate::drivers::{disk, pci, virtio};
use crate::net::http_fetch;
use crate::platform::{self, clock, measured_boot, rng};

/// Largest SGX collateral JSON fetched (Intel's is about 14 KiB).
const MAX_COLLATERAL_LEN: usize = tdsigner_measure::sgx_dcap::collateral::MAX_COLLATERAL_LEN;
/// The whole collateral fetch, however the server paces its bytes.
const COLLATERAL_TIMEOUT_MS: u64 = 60_000;

/// Starts the served event log with the firmware's events and logs where they came from.
fn start_event_log(
    kind: PlatformKind,
    log: Result<Option<tdsigner_kernel::ccel::FirmwareLog>, tdsigner_kernel::ccel::FirmwareLogError>,
) {
    let (events, note) = firmware_log_note(kind, log);
    kprintln!("firmware event log: {note}");
    if let Err(e) = measured_boot::start_with_firmware_log(events, note) {
        fatal(format_args!("firmware event log: {e}"));
    }
}

/// The firmware's events for the served log and the one line every output says about them.
fn firmware_log_note(
    kind: PlatformKind,
    log: Result<Option<tdsigner_kernel::ccel::FirmwareLog>, tdsigner_kernel::ccel::FirmwareLogError>,
) -> (Vec<tdsigner_measure::event::EventLogEntry>, alloc::string::String) {
    let platform = match kind {
        PlatformKind::Emulated => "emulated",
        PlatformKind::Tdx => "tdx",
    };
    match log {
        Ok(Some(log)) => {
            let mut per = [0usize; 4];
            for e in &log.events {
                if let Some(n) = per.get_mut(e.imr as usize) {
                    *n += 1;
                }
            }
            let note = alloc::format!(
                "ccel: {} events (RTMR0 {}, RTMR1 {}, RTMR2 {}) from the log area at {:#x} ({} bytes), first in event_log{}",
                log.events.len(), per[0], per[1], per[2], log.table.lasa, log.table.laml,
                if kind == PlatformKind::Emulated { " (emulated: not measured by a TDX module)" } else { "" }
            );
            (log.events, note)
        }
        Ok(None) if kind == PlatformKind::Emulated => (Vec::new(), "none (emulated: no CCEL table)".into()),
        Ok(None) => (Vec::new(), "none (tdx: the firmware publishes no CCEL table; RTMR0-2 cannot be replayed from event_log)".into()),
        Err(e) => (Vec::new(), alloc::format!("none ({platform}: CCEL unusable: {e}; RTMR0-2 cannot be replayed from event_log)")),
    }
}

fn mib(bytes: u64) -> u64 {
    bytes / (1024 * 1024)
}

/// The sealed store's window on the data disk, for the rest of the kernel's life.
type Window = &'static mut disk::StoreWindow;
/// What the secrets step leaves: the opened store and the node identity.
type Booted = tdsigner_node::bootstrap::Booted<'static, disk::StoreWindow>;

/// Entered on the kernel stack right after ExitBootServices (`boot::enter`
/// calls it). Each step below is one stage of the sequence in the module doc.
pub fn start(mut info: BootInfo) -> ! {
    let platform = init_machine(&info);
    let kind = platform.kind();
    // The served log starts with the firmware's events (RTMR0-2), before anything of ours.
    start_event_log(kind, core::mem::replace(&mut info.firmware_log, Ok(None)));
    let config = measured_config(&info);
    let mut rng = rng_and_timer(kind);
    let (disk, boot_count, mut net) = devices(&config, &mut rng);
    let window: Window = Box::leak(Box::new(disk::StoreWindow::new(Box::leak(Box::new(disk)))));
    // The light-client trust anchor (measured config), decoded once.
    let trust_anchor = config.signer.as_ref().map(|s| {
        tdsigner_near::LightClientState::from_bytes(&s.trust)
            .unwrap_or_else(|e| fatal(format_args!("config: trust is not a light-client state: {e:?}")))
    });
    let (booted, walked_head) = secrets(&info, kind, &config, window, trust_anchor.as_ref(), &mut net, &mut rng);
    let node_public = announce(kind, &config, &booted, &net);
    let ctx = HttpContext { kind, debug_td: platform.is_debug_td(), boot_count, node_public: &node_public };
    let probe = config.probe.clone().map(probe::Probe::new);
    let Some(signer) = config.signer.clone() else {
        // No signer configuration: serve /health and /public_data only.
        serve_only(net, &ctx, probe, config.http_port)
    };
    // Start from the head verified at boot if there is one (the store's own state
    // wins if it is newer; the scan cursor is kept either way).
    let Some(trusted) = walked_head.or(trust_anchor) else { fatal(format_args!("config: signer without trust")) };
    run_signer(&info, &config, &signer, booted, trusted, net, rng, &ctx, probe)
}

/// Platform backend, console, CPU tables, page tables and the shared DMA pool; then the banner.
fn init_machine(info: &BootInfo) -> &'static platform::Platform {
    let platform = match platform::init() {
        Ok(p) => p,
        Err(e) => {
            // Without a platform there is no safe console (under TDX port I/O
            // would #VE with no handler yet): report through the VMM if this
            // is a TD, then power off.
            if tdsigner_tdx::is_td() {
                tdsigner_tdx::tdvmcall::report_fatal_error(&alloc::format!("tdsigner: platform: {e}"));
            }
            crate::platform::fatal::power_off()
        }
    };
    crate::platform::console::init();
    arch::init(platform::ve_entry());
    let dma = tdsigner_kernel::dma::DmaWindow::new(info.dma_pool.0, info.dma_pool.1 - info.dma_pool.0, platform.shared_bit())
        .unwrap_or_else(|e| fatal(format_args!("DMA pool: {e:?}")));
    let layout = paging::Layout { table_pool: info.table_pool, identity: &info.memory_map, dma, guard_page: info.stack.0 };
    let tables = paging::install(&layout).unwrap_or_else(|e| fatal(format_args!("page tables: {e:?}")));
    if let Err(e) = platform.convert_to_shared(info.dma_pool.0, info.dma_pool.1 - info.dma_pool.0) {
        fatal(format_args!("DMA pool conversion: {e}"));
    }
    virtio::hal::init(dma);
    banner(info, platform, &dma, &tables);
    platform
}

fn banner(info: &BootInfo, platform: &platform::Platform, dma: &tdsigner_kernel::dma::DmaWindow, tables: &paging::Installed) {
    let kind = platform.kind();
    kprintln!(
        "tdsigner {} platform={}{}",
        tdsigner_node::VERSION,
        kind.name(),
        match kind {
            PlatformKind::Emulated => " (NOT a TDX guest: measurements and attestation are emulated)",
            PlatformKind::Tdx if platform.is_debug_td() => " (DEBUG TD: the host can read this guest; not for production)",
            PlatformKind::Tdx => "",
        }
    );
    kprintln!(
        "memory: {} MiB conventional, heap {} MiB, DMA pool {} MiB; tsc {} MHz ({})",
        mib(info.conventional_bytes),
        mib(info.heap.1 - info.heap.0),
        mib(info.dma_pool.1 - info.dma_pool.0),
        info.tsc_hz / 1_000_000,
        info.tsc_calibration
    );
    kprintln!(
        "dma: devices get GPA {:#x}..{:#x}; the CPU uses its alias {:#x} (identity unmapped), host GPA bit {:#x}; {}-level paging{}",
        dma.device_addr(0),
        dma.device_addr(dma.len()),
        dma.cpu_addr(0),
        dma.shared_bit(),
        if tables.five_level { 5 } else { 4 },
        if tables.unmapped_high > 0 { " (memory at or above 2^47 left unmapped)" } else { "" }
    );
}

/// The configuration, parsed strictly and measured before any secret exists: RTMR2 gets the
/// fixed launch event (nothing per node), RTMR3 the canonical config and the policy
/// (measured_boot docs).
fn measured_config(info: &BootInfo) -> NodeConfig {
    let (config, _) = load_config(info);
    if let Err(e) = measured_boot::measure_config(&config) {
        fatal(format_args!("cannot measure the configuration: {e}"));
    }
    platform::refuse_unsafe_config(&config).unwrap_or_else(|e| fatal(format_args!("config: {e}")));
    kprintln!("config: accepted and measured (RTMR2 fixed launch event; RTMR3 image version, canonical config, policy)");
    config
}

/// The hardware RNG (no start without one) and the APIC timer.
fn rng_and_timer(kind: PlatformKind) -> rng::HardwareRng {
    let rng = match rng::HardwareRng::detect() {
        Ok(r) => r,
        Err(_) => fatal(format_args!("no hardware RNG (neither RDSEED nor RDRAND): refusing to start")),
    };
    let ticks = apic::init();
    kprintln!("rng: {}; apic timer: {} ticks/ms", rng.source().name(), ticks);
    if kind == PlatformKind::Emulated {
        // What a firmware interrupt pending at the first `sti` would do.
        if !apic::check_stray_interrupt() {
            fatal(format_args!("interrupts: a stray vector {:#x} was not delivered", apic::STRAY_TEST_VECTOR));
        }
        kprintln!("interrupts: stray vector {:#x} acknowledged by the default handler", apic::STRAY_TEST_VECTOR);
    }
    rng
}

/// PCI scan, the data disk (and its boot counter) and the network. The network comes up
/// before the secrets: a `local-sgx` key source needs it.
fn devices(config: &NodeConfig, rng: &mut rng::HardwareRng) -> (disk::Disk, u64, Network) {
    let mut root = PciRoot::new(PortCam);
    let functions = pci::scan_virtio(&mut root);
    let find = |t: DeviceType| functions.iter().find(|f| f.device_type == t);
    let Some(blk_fn) = find(DeviceType::Block) else {
        fatal(format_args!("no virtio-blk data disk found"));
    };
    let Some(net_fn) = find(DeviceType::Network) else {
        fatal(format_args!("no virtio-net device found"));
    };
    let blk_transport = PlatformPciTransport::new(&mut root, blk_fn.function, DeviceType::Block)
        .unwrap_or_else(|e| fatal(format_args!("virtio-blk transport: {e:?}")));
    let net_transport = PlatformPciTransport::new(&mut root, net_fn.function, DeviceType::Network)
        .unwrap_or_else(|e| fatal(format_args!("virtio-net transport: {e:?}")));

    let mut disk = disk::Disk::new(blk_transport).unwrap_or_else(|e| fatal(format_args!("{e}")));
    let boot_count = disk.count_boot().unwrap_or_else(|e| fatal(format_args!("boot counter: {e}")));
    kprintln!("disk: {} MiB, boot_count={}", disk.sectors() / 2048, boot_count);

    let mut seed = [0u8; 8];
    rng.fill(&mut seed);
    let net = Network::new(net_transport, config.net, config.dns, config.http_port, u64::from_le_bytes(seed))
        .unwrap_or_else(|e| fatal(format_args!("{e}")));
    let mac = net.mac();
    kprintln!(
        "net: virtio-net mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, {}",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
        match config.net {
            tdsigner_node::config::NetConfig::Dhcp => "waiting for DHCP",
            tdsigner_node::config::NetConfig::Static { .. } => "static address",
        }
    );
    (disk, boot_count, net)
}

/// RTMR3 extensions the store makes while it opens (key-source event, generation).
fn extend_event(ev: &tdsigner_store::RuntimeEvent) -> Result<(), measured_boot::MeasureError> {
    measured_boot::extend_runtime(ev.name, &ev.payload)
}

/// The sealing key, the sealed store and the node identity (`tdsigner_node::bootstrap`);
/// with `local-sgx`, also the chain head the boot walk verified.
fn secrets(
    info: &BootInfo,
    kind: PlatformKind,
    config: &NodeConfig,
    window: Window,
    trust_anchor: Option<&tdsigner_near::LightClientState>,
    net: &mut Network,
    rng: &mut rng::HardwareRng,
) -> (Booted, Option<tdsigner_near::LightClientState>) {
    let (booted, walked_head) = match &config.key_source {
        KeySourceConfig::Test(_) => {
            let mut source = ConfiguredSource::new(&config.key_source, RefuseProviderQuotes, &mut *rng)
                .unwrap_or_else(|e| fatal(format_args!("{e}")));
            let booted = tdsigner_node::bootstrap::bootstrap_with(
                window,
                &mut source,
                &mut NoTransport,
                &config.account,
                rng,
                &mut extend_event,
            );
            (booted, None)
        }
        KeySourceConfig::LocalSgx { .. } => local_sgx_secrets(info, kind, config, window, trust_anchor, net, rng),
    };
    let booted = booted.unwrap_or_else(|e| fatal(format_args!("{e}")));
    if let Err(e) = measured_boot::extend(tdsigner_measure::names::boot_done()) {
        fatal(format_args!("cannot extend RTMR3: {e}"));
    }
    (booted, walked_head)
}

/// `local-sgx`: the chain head for a check time the host cannot move, the provider's
/// collateral, then the sealing-key exchange with the host's key provider.
fn local_sgx_secrets(
    info: &BootInfo,
    kind: PlatformKind,
    config: &NodeConfig,
    window: Window,
    trust_anchor: Option<&tdsigner_near::LightClientState>,
    net: &mut Network,
    rng: &mut rng::HardwareRng,
) -> (Result<Booted, tdsigner_node::bootstrap::BootError>, Option<tdsigner_near::LightClientState>) {
    let KeySourceConfig::LocalSgx { provider, collateral, min_tcb_evaluation_data_number, tcb_accept, .. } = &config.key_source
    else {
        fatal(format_args!("sealing key source: local-sgx expected"))
    };
    keysource::wait_for_network(net).unwrap_or_else(|e| fatal(format_args!("sealing key source: local-sgx: {e}")));
    let chain_head = boot_chain_head(info, kind, config, trust_anchor, net);
    // The collateral comes from the host; its Intel signatures are what make it count.
    let body = http_fetch::http_get(net, &collateral.endpoint, &collateral.path, MAX_COLLATERAL_LEN, COLLATERAL_TIMEOUT_MS)
        .unwrap_or_else(|e| fatal(format_args!("sealing key source: local-sgx: collateral: {e}")));
    let parsed = tdsigner_measure::sgx_dcap::parse_collateral_json(&body)
        .unwrap_or_else(|e| fatal(format_args!("sealing key source: local-sgx: collateral from {collateral}: {e}")));
    let host_clock = info.wall_clock.map(|(secs, at_ms)| secs + (clock::now_ms().saturating_sub(at_ms)) / 1000);
    let anchor_nanos = trust_anchor.map(|state| state.head().inner_lite.timestamp);
    // The walk's bound plus the time since it ended (monotonic clock).
    let chain_secs =
        chain_head.as_ref().map(|(head, at_ms)| head.lower_bound_secs() + clock::now_ms().saturating_sub(*at_ms) / 1000);
    let at = collateral_check_time(host_clock, anchor_nanos, chain_secs);
    let verifier = match kind {
        PlatformKind::Tdx => DcapProviderQuoteVerifier::intel(parsed, at.unix_secs, *min_tcb_evaluation_data_number, *tcb_accept),
        PlatformKind::Emulated => DcapProviderQuoteVerifier::emulated(parsed, at.unix_secs, *min_tcb_evaluation_data_number, *tcb_accept)
            .unwrap_or_else(|e| fatal(format_args!("sealing key source: local-sgx: {e}"))),
    };
    kprintln!(
        "key source: local-sgx via {provider}; collateral {} bytes from {collateral}; provider quote checked against the {} at {} ({}), tcb_eval_min={}, accepted TCB {}",
        body.len(),
        verifier.root().describe(),
        at.unix_secs,
        at.source,
        min_tcb_evaluation_data_number,
        tcb_accept
    );
    let mut source =
        ConfiguredSource::new(&config.key_source, &verifier, &mut *rng).unwrap_or_else(|e| fatal(format_args!("{e}")));
    let mut transport = keysource::ProviderTransport::new(net, provider.clone());
    let booted =
        tdsigner_node::bootstrap::bootstrap_with(window, &mut source, &mut transport, &config.account, rng, &mut extend_event);
    if booted.is_ok() {
        record_provider_verdict(&verifier, &at, chain_head.as_ref().map(|(h, _)| h));
    } else {
        log_provider_verdict(&verifier);
    }
    (booted, chain_head.map(|(h, _)| h.state))
}

/// In signer mode, a time the host cannot move: the light client walked from the trust
/// anchor to the chain's head. No fallback: a host that blocks RPC would choose it, and a
/// signer without RPC cannot sign anyway. Returns the head and when the walk ended.
fn boot_chain_head(
    info: &BootInfo,
    kind: PlatformKind,
    config: &NodeConfig,
    trust_anchor: Option<&tdsigner_near::LightClientState>,
    net: &mut Network,
) -> Option<(tdsigner_node::chain_time::ChainHead, u64)> {
    let (Some(signer), Some(anchor)) = (&config.signer, trust_anchor) else {
        // Without RPC only the host's clock and the floors are left, and on TDX the
        // host picks the clock: old CRLs would pass. Emulated runs say so instead.
        if kind == PlatformKind::Tdx {
            fatal(format_args!(
                "sealing key source: local-sgx: on TDX it needs signer mode (rpc= and trust=) for a check time the host cannot move"
            ));
        }
        return None;
    };
    let tls = runtime::RpcTls::new(info.wall_clock, certificate_time_floor(anchor));
    let mut rpc = chain_time::BootRpc { net, urls: &signer.rpc, tls };
    let https = rpc.https();
    // On TDX the host is the adversary: an endpoint it cannot impersonate must end the walk.
    let require_https = kind == PlatformKind::Tdx;
    let head = verified_chain_head(&mut rpc, &https, require_https, anchor.clone(), WalkLimits::default(), &mut clock::now_ms)
        .unwrap_or_else(|e| fatal(format_args!("sealing key source: local-sgx: chain head: {e}")));
    kprintln!(
        "key source: verified chain head at height {} ({}), block time {}, {} blocks in {} rpc calls from the trust anchor at height {}; ended by endpoint {} ({})",
        head.state.head_height(),
        head.state.head_hash(),
        head.head_secs(),
        head.steps,
        head.calls,
        anchor.head_height(),
        head.ended_by,
        if head.authenticated { "https" } else { "plain HTTP only: the host could have answered for it" }
    );
    Some((head, clock::now_ms()))
}

/// Logs the provider quote's verdict, if the exchange got as far as checking one.
fn log_provider_verdict(verifier: &DcapProviderQuoteVerifier) {
    if let Some(v) = verifier.last_verdict() {
        kprintln!(
            "key source: provider quote verified ({}): TCB {} (platform {}, QE {}), tcbEvaluationDataNumber {}, FMSPC {}, advisories [{}], collateral valid until {}",
            verifier.root().describe(),
            v.status,
            v.platform_status,
            v.qe_status,
            v.tcb_evaluation_data_number,
            tdsigner_measure::hex::encode(&v.fmspc),
            v.advisory_ids.join(","),
            v.valid_until
        );
    }
}

/// After a successful exchange: the verdict logged and extended into RTMR3.
fn record_provider_verdict(
    verifier: &DcapProviderQuoteVerifier,
    at: &tdsigner_node::provider_quote::CheckTime,
    chain_head: Option<&tdsigner_node::chain_time::ChainHead>,
) {
    log_provider_verdict(verifier);
    let Some(v) = verifier.last_verdict() else { return };
    let head_id = chain_head.map(|h| (h.state.head_height(), alloc::format!("{}", h.state.head_hash())));
    let event = tdsigner_measure::names::provider_tcb(
        &v,
        verifier.root() == PinnedRoot::Emulated,
        at.unix_secs,
        at.tag,
        head_id.as_ref().map(|(height, hash)| (*height, hash.as_str())),
    );
    if let Err(e) = measured_boot::extend(event) {
        fatal(format_args!("cannot extend RTMR3: {e}"));
    }
}

/// Logs the store and identity, takes the quote, and returns what `/public_data` serves.
fn announce(kind: PlatformKind, config: &NodeConfig, booted: &Booted, net: &Network) -> NodePublicOwned {
    let identity = &booted.identity;
    let report_data = tdsigner_measure::report_data::report_data_v1(&identity.tls_public(), &identity.account_public());
    kprintln!(
        "store: {} (generation {}, key source {}{}); identity {}",
        if booted.formatted { "formatted a blank disk" } else { "opened" },
        booted.store.generation(),
        booted.key_source,
        match (booted.key_source, kind) {
            ("test", _) => ": TEST KEY, not for production",
            (_, PlatformKind::Emulated) => ": EMULATED provider, not for production",
            _ => "",
        },
        if booted.identity_created { "created" } else { "loaded" }
    );
    if let Some(report) = &booted.open_report {
        if report.other_slot_fault.is_some() || report.uncommitted_tail {
            kprintln!("store: open found crash traces: {report:?}");
        }
    }
    let (dma_used, dma_pages) = virtio::hal::usage();
    kprintln!("dma: {dma_used} of {dma_pages} shared pages in use");
    if let Some(ip) = net.ipv4() {
        log_ipv4(ip, config.http_port);
    }
    let quote = match attest::quote(&report_data) {
        Ok(q) => {
            kprintln!("attestation: {} quote of {} bytes over report_data v1", kind.name(), q.len());
            Some(q)
        }
        Err(e) => {
            kprintln!("attestation: no quote: {e}");
            None
        }
    };
    NodePublicOwned {
        account_id: config.account.clone(),
        account_public_key: identity.account_public(),
        tls_public_key: identity.tls_public(),
        key_source: booted.key_source,
        store_generation: booted.store.generation(),
        report_data,
        quote,
    }
}

/// Without a signer configuration: serve `/health` and `/public_data` (and the probe) forever.
fn serve_only(mut net: Network, ctx: &HttpContext, mut probe: Option<probe::Probe>, http_port: u16) -> ! {
    loop {
        if let Some(p) = probe.as_mut() {
            p.step(&mut net);
        }
        let changed = net.poll_stack();
        net.serve(&mut |h: &RequestHead| route(h, ctx, None));
        if changed {
            log_network(&net, http_port);
        }
        let delay = net.poll_delay().total_micros().min(10_000);
        if delay > 0 {
            apic::sleep_us(delay);
        }
    }
}

/// Signer mode: wait for an address, start the runtime and the node, then run them.
#[allow(clippy::too_many_arguments)]
fn run_signer(
    info: &BootInfo,
    config: &NodeConfig,
    signer: &tdsigner_node::config::SignerConfig,
    booted: Booted,
    trusted: tdsigner_near::LightClientState,
    mut net: Network,
    rng: rng::HardwareRng,
    ctx: &HttpContext,
    probe: Option<probe::Probe>,
) -> ! {
    // The node needs an address before it can reach RPC.
    while net.ipv4().is_none() {
        let changed = net.poll_stack();
        net.serve(&mut |h: &RequestHead| route(h, ctx, None));
        if changed {
            log_network(&net, config.http_port);
        }
        apic::sleep_us(net.poll_delay().total_micros().clamp(1, 10_000));
    }
    let tls = runtime::RpcTls::new(info.wall_clock, certificate_time_floor(&trusted));
    let tls_seed = zeroize::Zeroizing::new(booted.identity.tls_key().to_bytes());
    let mut rt = runtime::Runtime::new(
        net,
        rng,
        signer.rpc.clone(),
        signer.p2p_port,
        tls_seed,
        tls,
        attest::platform_attestation,
    )
    .unwrap_or_else(|e| fatal(format_args!("p2p listener: {e}")));
    let mut machine = tdsigner_node::machine::MachineConfig::new(config.account.clone(), signer.contract.clone());
    signer.apply(&mut machine, ctx.kind == PlatformKind::Tdx);
    kprintln!(
        "signer: protocol runs abort after {} ms silent or {} ms total; triple batch {}, triples {}..{}, presignatures {}..{}; requests kept {} blocks",
        machine.protocol_idle_ms,
        machine.protocol_max_ms,
        machine.triple_batch,
        machine.triples_low,
        machine.triples_high,
        machine.presignatures_low,
        machine.presignatures_high,
        machine.request_max_age_blocks
    );
    let node = tdsigner_node::machine::Node::new(machine, booted.store, &booted.identity, trusted, &mut rt)
        .unwrap_or_else(|e| fatal(format_args!("node: {e}")));
    kprintln!("signer: contract {} via {} rpc endpoint(s); p2p on port {}", signer.contract, signer.rpc.len(), signer.p2p_port);
    signer_loop(node, rt, ctx, probe)
}

/// The signer's main loop: pump the runtime, serve HTTP, poll the node when due, idle.
fn signer_loop(mut node: SignerNode, mut rt: runtime::Runtime, ctx: &HttpContext, mut probe: Option<probe::Probe>) -> ! {
    let mut next_poll = 0u64;
    loop {
        let mut busy = rt.pump();
        if let Some(p) = probe.as_mut() {
            p.step(&mut rt.net);
        }
        {
            let (net, p2p) = rt.split_for_http();
            let view = NodeView { node: &node, p2p };
            net.serve(&mut |h: &RequestHead| route(h, ctx, Some(&view)));
        }
        let now = clock::now_ms();
        if now >= next_poll {
            next_poll = node.poll(&mut rt).at_ms;
            busy = true;
        }
        if !busy {
            let until_poll = next_poll.saturating_sub(clock::now_ms()) * 1000;
            let delay = rt.net.poll_delay().total_micros().min(until_poll).min(10_000);
            if delay > 0 {
                apic::sleep_us(delay);
            }
        }
    }
}

/// The earliest time RPC certificates are checked at, whatever the host's
/// clock says: the source floor, and the block time of a verified light-client
/// head (the trust anchor, or the head walked to at boot) less the allowance.
fn certificate_time_floor(head: &tdsigner_near::LightClientState) -> u64 {
    (head.head().inner_lite.timestamp / 1_000_000_000)
        .saturating_sub(tdsigner_node::chain_time::CHAIN_TIME_ALLOWANCE_SECS)
        .max(tdsigner_node::provider_quote::SOURCE_TIME_FLOOR_UNIX)
}

/// The node's live state for `/public_data` and `/metrics`.
/// The signer-mode node, over the sealed store's disk window.
type SignerNode = tdsigner_node::machine::Node<&'static mut disk::StoreWindow>;

struct NodeView<'a> {
    node: &'a SignerNode,
    p2p: runtime::P2pMetricsView<'a>,
}

/// What the HTTP routes read.
struct HttpContext<'a> {
    kind: PlatformKind,
    /// A DEBUG TD: /health and /public_data say so.
    debug_td: bool,
    boot_count: u64,
    node_public: &'a NodePublicOwned,
}

fn route(head: &RequestHead, ctx: &HttpContext, node: Option<&NodeView>) -> Response {
    if head.has_body {
        return Response::error(413);
    }
    match (head.method, head.target) {
        (Method::Get | Method::Head, "/health") => Response::json(
            200,
            Health { platform: ctx.kind, debug_td: ctx.debug_td, uptime_ms: clock::now_ms(), boot_count: ctx.boot_count }
                .to_json(),
        ),
        (Method::Get | Method::Head, "/public_data") => {
            let status = node.map(|n| n.node.status().to_json());
            match public_data(ctx, status.as_deref()) {
                Ok(body) => Response::json(200, body),
                Err(e) => {
                    kprintln!("public_data: {e}");
                    Response::error(500)
                }
            }
        }
        (Method::Get | Method::Head, "/metrics") => {
            use core::fmt::Write;
            let mut text = alloc::string::String::new();
            let (dma_used, dma_pages) = virtio::hal::usage();
            let (heap_size, heap_in_use, heap_peak) = crate::arch::heap::usage();
            let _ = write!(
                text,
                "# TYPE tdsigner_uptime_ms gauge\ntdsigner_uptime_ms {}\n# TYPE tdsigner_boot_count gauge\ntdsigner_boot_count {}\n# TYPE tdsigner_dma_pages_in_use gauge\ntdsigner_dma_pages_in_use {dma_used}\n# TYPE tdsigner_dma_pages gauge\ntdsigner_dma_pages {dma_pages}\n",
                clock::now_ms(),
                ctx.boot_count
            );
            let _ = write!(
                text,
                "# HELP tdsigner_heap_bytes Kernel heap size.\n# TYPE tdsigner_heap_bytes gauge\ntdsigner_heap_bytes {heap_size}\n# HELP tdsigner_heap_in_use_bytes Bytes requested by live allocations.\n# TYPE tdsigner_heap_in_use_bytes gauge\ntdsigner_heap_in_use_bytes {heap_in_use}\n# HELP tdsigner_heap_peak_bytes High-water mark of tdsigner_heap_in_use_bytes since boot.\n# TYPE tdsigner_heap_peak_bytes gauge\ntdsigner_heap_peak_bytes {heap_peak}\n"
            );
            if let Some(n) = node {
                n.node.metrics().render_prometheus(&mut text);
                n.p2p.render(&mut text);
            }
            Response { status: 200, content_type: "text/plain; version=0.0.4", body: text.into_bytes() }
        }
        (Method::Get | Method::Head, _) => Response::error(404),
        _ => Response::error(405),
    }
}

fn log_network(net: &Network, port: u16) {
    match net.ipv4() {
        Some(ip) => log_ipv4(ip, port),
        None => kprintln!("net: DHCP lease lost"),
    }
}

/// What `/public_data` says about the node itself.
struct NodePublicOwned {
    account_id: alloc::string::String,
    account_public_key: [u8; 32],
    tls_public_key: [u8; 32],
    key_source: &'static str,
    store_generation: u64,
    report_data: [u8; 64],
    quote: Option<Vec<u8>>,
}

/// The `/public_data` body: RTMRs from the emulated registers, or MRTD and
/// RTMRs from a fresh TDREPORT under TDX, the image's event log and the
/// node's public identity.
fn public_data(ctx: &HttpContext, status_json: Option<&str>) -> Result<Vec<u8>, platform::PlatformError> {
    let node = ctx.node_public;
    let p = platform::get();
    let (mrtd, rtmrs) = match p.emulated_rtmrs() {
        Some(rtmrs) => (None, rtmrs),
        None => {
            let report = platform::td_report(&[0u8; 64])?;
            (Some(report.mrtd()), report.rtmrs())
        }
    };
    let events = measured_boot::events_json();
    let node = NodePublic {
        account_id: &node.account_id,
        account_public_key: node.account_public_key,
        tls_public_key: node.tls_public_key,
        key_source: node.key_source,
        store_generation: node.store_generation,
        report_data: node.report_data,
        quote: node.quote.as_deref(),
    };
    Ok(PublicData {
        platform: ctx.kind,
        debug_td: ctx.debug_td,
        firmware_event_log: measured_boot::firmware_note(),
        mrtd,
        rtmrs,
        event_log_json: &events,
        node: Some(node),
        status_json,
    }
    .to_json())
}

fn log_ipv4(ip: crate::net::Ipv4State, port: u16) {
    kprintln!(
        "net: ipv4 {}/{} gateway {:?} dns {:?}; serving http on port {} (GET /health)",
        ip.address, ip.prefix_len, ip.gateway, ip.dns, port
    );
}

fn load_config(info: &BootInfo) -> (NodeConfig, alloc::string::String) {
    if info.load_options_len > MAX_LOAD_OPTIONS {
        fatal(format_args!(
            "config: load options are {} bytes, limit {}",
            info.load_options_len, MAX_LOAD_OPTIONS
        ));
    }
    let mut text: Vec<u8> = alloc::vec![0u8; MAX_LOAD_OPTIONS];
    let len = tdsigner_kernel::utf16::decode_load_options(&info.load_options, &mut text)
        .unwrap_or_else(|e| fatal(format_args!("config: command line is not valid UTF-16: {e:?}")));
    let text = core::str::from_utf8(&text[..len])
        .unwrap_or_else(|_| fatal(format_args!("config: command line is not valid UTF-8")));
    let config = NodeConfig::parse(text).unwrap_or_else(|e| fatal(format_args!("config: {e}")));
    (config, alloc::string::String::from(text))
}
