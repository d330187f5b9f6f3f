//! The monotonic clock: the TSC, calibrated once at boot.
//!
//! Calibration prefers CPUID leaf 0x15 (the TDX module reports the virtual
//! TSC frequency there). Otherwise (the emulated platform) the TSC is measured
//! against the ACPI PM timer the firmware's FADT names: two readings 25 ms
//! apart, each bracketed by TSC reads and the narrowest bracket of many kept,
//! so a host that preempts the vCPU cannot stretch the interval unseen; twice,
//! and the two must agree. Failing that, against the firmware's
//! Stall() while boot services still exist. A host that deschedules the vCPU
//! can only make a Stall look longer (it never returns early, but the TSC read
//! after it can be late), so each length is measured several times and the
//! shortest kept; short windows are the likeliest to fit between two
//! preemptions. Two lengths (1 ms and 3 ms) are used and the frequency taken
//! from their difference, which cancels the fixed cost of calling Stall.
//! History: one 20 ms window overestimated the frequency by up to 2x with eight
//! TCG guests booting on two cores (guest clocks ran at half speed); the
//! shortest of seven 10 ms windows still erred by up to 13%. Time never goes backwards: it is
//! derived from a counter that only increases on one vCPU.

use core::sync::atomic::{AtomicU64, Ordering};

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects and is available on every x86_64 CPU
    // this image supports; TDX guests may execute it (it is not trapped).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// How the frequency was determined, for the boot log.
#[derive(Clone, Copy)]
pub enum Calibration {
    /// CPUID leaf 0x15.
    Cpuid,
    /// Measured against UEFI Stall(): the shortest of `windows` 1 ms and of `windows` 3 ms
    /// windows; the longest 3 ms window was `spread_permille` per mille longer than the
    /// shortest (a large spread means a busy host).
    FirmwareStall { windows: u32, spread_permille: u64 },
    /// Measured against the ACPI PM timer at this I/O port; the two measurements differed
    /// by `disagreement_ppm`, and the widest bracket kept was `bracket_ticks` TSC ticks.
    AcpiPmTimer { port: u16, disagreement_ppm: u64, bracket_ticks: u64 },
}

impl core::fmt::Display for Calibration {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Calibration::Cpuid => f.write_str("CPUID 0x15"),
            Calibration::FirmwareStall { windows, spread_permille } => {
                write!(f, "firmware Stall, shortest of {windows} per length, spread {spread_permille} per mille")
            }
            Calibration::AcpiPmTimer { port, disagreement_ppm, bracket_ticks } => {
                write!(f, "ACPI PM timer at port {port:#x}, two measurements {disagreement_ppm} ppm apart, bracket {bracket_ticks} ticks")
            }
        }
    }
}

/// The RSDP the firmware publishes (ACPI 2.0 entry preferred).
pub fn rsdp_address() -> Option<u64> {
    use uefi::table::cfg::ConfigTableEntry;
    uefi::system::with_config_table(|t| {
        let find = |g| t.iter().find(|e| e.guid == g).map(|e| e.address as u64);
        find(ConfigTableEntry::ACPI2_GUID).or_else(|| find(ConfigTableEntry::ACPI_GUID))
    })
}

/// Most ACPI memory ranges remembered (OVMF has a handful).
const MAX_ACPI_RANGES: usize = 32;

/// Ranges of firmware memory that hold ACPI tables (reclaim and NVS), from the memory map.
/// No heap yet at this point of boot: a fixed array.
fn acpi_ranges() -> ([(u64, u64); MAX_ACPI_RANGES], usize) {
    use uefi::boot::MemoryType;
    use uefi::mem::memory_map::MemoryMap;
    let mut out = ([(0u64, 0u64); MAX_ACPI_RANGES], 0usize);
    let Ok(map) = uefi::boot::memory_map(MemoryType::LOADER_DATA) else { return out };
    for d in map.entries().filter(|d| d.ty == MemoryType::ACPI_RECLAIM || d.ty == MemoryType::ACPI_NON_VOLATILE) {
        if out.1 == MAX_ACPI_RANGES {
            break;
        }
        out.0[out.1] = (d.phys_start, d.phys_start.saturating_add(d.page_count.saturating_mul(4096)));
        out.1 += 1;
    }
    out
}

fn read_pm_timer(port: u16) -> u32 {
    let mut p = x86_64::instructions::port::PortReadOnly::<u32>::new(port);
    // SAFETY: the port is the PM timer the firmware's FADT names; reading it has no side
    // effects. Only used on the emulated platform (no CPUID 0x15), never in a TD, where
    // port I/O would raise #VE.
    unsafe { p.read() }
}

/// One PM-timer reading with the TSC at that moment: the narrowest of 32 brackets
/// (TSC, port read, TSC). Returns (TSC at the bracket's middle, timer, bracket width).
fn bracketed_reading(port: u16) -> (u64, u32, u64) {
    let mut best = (0, 0, u64::MAX);
    for _ in 0..32 {
        let a = rdtsc();
        let pm = read_pm_timer(port);
        let b = rdtsc();
        let width = b.wrapping_sub(a);
        if width < best.2 {
            best = (a + width / 2, pm, width);
        }
    }
    best
}

/// TSC frequency over `ms` milliseconds of PM timer, and the wider of the two brackets.
fn measure_against_pm_timer(t: tdsigner_kernel::acpi_pm::PmTimer, ms: u64) -> Option<(u64, u64)> {
    use tdsigner_kernel::acpi_pm::{tsc_hz, PM_TIMER_HZ};
    let mask: u64 = if t.bits >= 32 { u64::from(u32::MAX) } else { (1 << t.bits) - 1 };
    let want = PM_TIMER_HZ * ms / 1000;
    let (tsc0, pm0, w0) = bracketed_reading(t.port);
    // Bounded: 25 ms of a 3.58 MHz counter is ~90,000 ticks; a timer that does not move
    // (a broken port) ends the loop after this many reads.
    for _ in 0..50_000_000u64 {
        if (u64::from(read_pm_timer(t.port)).wrapping_sub(u64::from(pm0)) & mask) >= want {
            let (tsc1, pm1, w1) = bracketed_reading(t.port);
            return tsc_hz(tsc0, pm0, tsc1, pm1, t.bits).map(|hz| (hz, w0.max(w1)));
        }
        core::hint::spin_loop();
    }
    None
}

fn calibrate_pm_timer() -> Option<(u64, Calibration)> {
    let rsdp = rsdp_address()?;
    let (ranges, count) = acpi_ranges();
    let mut read = |addr: u64, buf: &mut [u8]| -> bool {
        let Some(end) = addr.checked_add(buf.len() as u64) else { return false };
        if !ranges[..count].iter().any(|(s, e)| *s <= addr && end <= *e) {
            return false;
        }
        // SAFETY: [addr, end) lies inside firmware memory the UEFI memory map types as ACPI
        // (reclaim or NVS), which boot services keep identity-mapped and nothing else
        // writes during boot; `buf` is a distinct, writable buffer of the same length.
        unsafe { core::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len()) };
        true
    };
    let timer = tdsigner_kernel::acpi_pm::find_pm_timer(&mut read, rsdp).ok()?;
    // Two measurements must agree to 0.1%: a preemption longer than the counter's wrap
    // (4.7 s at 24 bits) inside one would not be seen by its brackets.
    for _ in 0..3 {
        let (a, wa) = measure_against_pm_timer(timer, 25)?;
        let (b, wb) = measure_against_pm_timer(timer, 25)?;
        let ppm = a.abs_diff(b).saturating_mul(1_000_000) / a.max(1);
        if ppm <= 1000 {
            let hz = (a / 2 + b / 2).max(1);
            return Some((hz, Calibration::AcpiPmTimer { port: timer.port, disagreement_ppm: ppm, bracket_ticks: wa.max(wb) }));
        }
    }
    None
}

/// Calibrates the TSC. Must run before ExitBootServices (it may call Stall).
pub fn calibrate() -> (u64, Calibration) {
    TSC_AT_BOOT.store(rdtsc(), Ordering::Relaxed);
    let max_leaf = core::arch::x86_64::__cpuid(0).eax;
    if max_leaf >= 0x15 {
        let l = core::arch::x86_64::__cpuid(0x15);
        if l.eax != 0 && l.ebx != 0 && l.ecx != 0 {
            let hz = u64::from(l.ecx) * u64::from(l.ebx) / u64::from(l.eax);
            if hz > 0 {
                TSC_HZ.store(hz, Ordering::Relaxed);
                return (hz, Calibration::Cpuid);
            }
        }
    }
    if let Some((hz, how)) = calibrate_pm_timer() {
        TSC_HZ.store(hz, Ordering::Relaxed);
        return (hz, how);
    }
    const SHORT_US: u64 = 1_000;
    const LONG_US: u64 = 3_000;
    const WINDOWS: u32 = 10;
    let window = |us: u64| {
        let start = rdtsc();
        uefi::boot::stall(core::time::Duration::from_micros(us));
        rdtsc().wrapping_sub(start)
    };
    let (mut short, mut long, mut longest) = (u64::MAX, u64::MAX, 0u64);
    for _ in 0..WINDOWS {
        short = short.min(window(SHORT_US));
        let l = window(LONG_US);
        long = long.min(l);
        longest = longest.max(l);
    }
    let hz = if long > short {
        (long - short).saturating_mul(1_000_000 / (LONG_US - SHORT_US))
    } else {
        // Cannot happen with a working Stall; the long window alone is still an estimate.
        long.saturating_mul(1_000_000 / LONG_US)
    }
    .max(1);
    TSC_HZ.store(hz, Ordering::Relaxed);
    let spread_permille = (u128::from(longest - long) * 1000 / u128::from(long.max(1))) as u64;
    (hz, Calibration::FirmwareStall { windows: WINDOWS, spread_permille })
}

/// TSC frequency in Hz.
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed).max(1)
}

/// Nanoseconds since the image started.
pub fn now_ns() -> u64 {
    let ticks = rdtsc().wrapping_sub(TSC_AT_BOOT.load(Ordering::Relaxed));
    (u128::from(ticks) * 1_000_000_000 / u128::from(tsc_hz())) as u64
}

/// Milliseconds since the image started.
pub fn now_ms() -> u64 {
    now_ns() / 1_000_000
}

/// TSC ticks for a duration in microseconds.
pub fn us_to_ticks(us: u64) -> u64 {
    (u128::from(us) * u128::from(tsc_hz()) / 1_000_000) as u64
}
