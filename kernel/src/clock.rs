//! The monotonic clock: the TSC, calibrated once at boot.
//!
//! Calibration prefers CPUID leaf 0x15 (the TDX module reports the virtual
//! TSC frequency there); otherwise the TSC is measured against the firmware's
//! Stall() while boot services still exist, over several windows, keeping the
//! shortest: a host that deschedules the vCPU can only make a window look
//! longer (Stall never returns early, but the TSC read after it can be late),
//! so the shortest window is the closest to the truth. One window was not
//! enough: with eight TCG guests booting on two cores, single 20 ms windows
//! overestimated the frequency by up to 2x and guest clocks ran at half speed. Time never goes backwards: it is
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
    /// Measured against UEFI Stall(): the shortest of `windows` windows; the longest was
    /// `spread_permille` per mille longer (a large spread means a busy host).
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
    const WINDOW_US: u64 = 10_000;
    const WINDOWS: u32 = 7;
    let (mut shortest, mut longest) = (u64::MAX, 0u64);
    for _ in 0..WINDOWS {
        let start = rdtsc();
        uefi::boot::stall(core::time::Duration::from_micros(WINDOW_US));
        let ticks = rdtsc().wrapping_sub(start);
        shortest = shortest.min(ticks);
        longest = longest.max(ticks);
    }
    let shortest = shortest.max(1);
    let hz = shortest.saturating_mul(1_000_000 / WINDOW_US).max(1);
    TSC_HZ.store(hz, Ordering::Relaxed);
    let spread_permille = (u128::from(longest - shortest) * 1000 / u128::from(shortest)) as u64;
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
