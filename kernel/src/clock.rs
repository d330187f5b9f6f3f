//! The monotonic clock: the TSC, calibrated once at boot.
//!
//! Calibration prefers CPUID leaf 0x15 (the TDX module reports the virtual
//! TSC frequency there); otherwise the TSC is measured against the firmware's
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
#[derive(Clone, Copy, Debug)]
pub enum Calibration {
    /// CPUID leaf 0x15.
    Cpuid,
    /// Measured against UEFI Stall(): the shortest of `windows` 1 ms and of `windows` 3 ms
    /// windows; the longest 3 ms window was `spread_permille` per mille longer than the
    /// shortest (a large spread means a busy host).
    FirmwareStall { windows: u32, spread_permille: u64 },
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
