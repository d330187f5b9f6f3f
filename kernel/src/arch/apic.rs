//! The local APIC timer, used only to wake the idle loop.
//!
//! The image polls its devices; between polls it arms a one-shot timer for
//! the next deadline smoltcp reports and halts, so an idle node costs the host
//! almost nothing. The timer's rate is measured against the TSC at boot.
//! Register access follows the mode the firmware left: x2APIC (MSRs; always
//! the case in a TD, where a trapping MSR becomes a #VE the TDX layer
//! emulates) or xAPIC (MMIO at the base in IA32_APIC_BASE, through the
//! platform).

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::{SPURIOUS_VECTOR, TIMER_VECTOR};
use crate::platform::{self, clock};

const IA32_APIC_BASE: u32 = 0x1b;
const REG_EOI: u64 = 0xb0;
const REG_SVR: u64 = 0xf0;
const REG_LVT_TIMER: u64 = 0x320;
const REG_INITIAL_COUNT: u64 = 0x380;
const REG_CURRENT_COUNT: u64 = 0x390;
const REG_DIVIDE: u64 = 0x3e0;
const LVT_MASKED: u32 = 1 << 16;
const DIVIDE_BY_16: u32 = 0b0011;

const APIC_BASE_X2APIC_ENABLED: u64 = 1 << 10;
const X2APIC_MSR_BASE: u32 = 0x800;

/// xAPIC MMIO base, or [`X2APIC`] when registers are MSRs.
static BASE: AtomicU64 = AtomicU64::new(0);
const X2APIC: u64 = u64::MAX;
static TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);

fn write(reg: u64, value: u32) {
    let base = BASE.load(Ordering::Relaxed);
    if base == X2APIC {
        let mut msr = x86_64::registers::model_specific::Msr::new(X2APIC_MSR_BASE + (reg >> 4) as u32);
        // SAFETY: x2APIC mode is enabled (checked in init) and `reg` is one of
        // the timer/EOI/SVR registers, whose MSRs exist in that mode.
        unsafe { msr.write(u64::from(value)) };
    } else {
        // SAFETY: `base` is the APIC page from IA32_APIC_BASE, identity-mapped
        // by paging; registers are 32-bit and 16-byte aligned.
        unsafe { platform::get().mmio_write(base + reg, 4, u64::from(value)) }
    }
}

fn read(reg: u64) -> u32 {
    let base = BASE.load(Ordering::Relaxed);
    if base == X2APIC {
        let msr = x86_64::registers::model_specific::Msr::new(X2APIC_MSR_BASE + (reg >> 4) as u32);
        // SAFETY: as in `write`.
        unsafe { msr.read() as u32 }
    } else {
        // SAFETY: as in `write`.
        unsafe { platform::get().mmio_read(base + reg, 4) as u32 }
    }
}

/// Enables the APIC and measures the timer rate. Returns ticks per ms.
pub fn init() -> u64 {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU with an APIC.
    let apic_base = unsafe { x86_64::registers::model_specific::Msr::new(IA32_APIC_BASE).read() };
    let base = if apic_base & APIC_BASE_X2APIC_ENABLED != 0 { X2APIC } else { apic_base & 0xf_ffff_f000 };
    BASE.store(base, Ordering::Relaxed);
    write(REG_SVR, 0x100 | u32::from(SPURIOUS_VECTOR));
    write(REG_DIVIDE, DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    write(REG_INITIAL_COUNT, u32::MAX);
    let start = clock::rdtsc();
    let window = clock::us_to_ticks(10_000);
    while clock::rdtsc().wrapping_sub(start) < window {
        core::hint::spin_loop();
    }
    let elapsed = u32::MAX - read(REG_CURRENT_COUNT);
    write(REG_INITIAL_COUNT, 0);
    let per_ms = (u64::from(elapsed) / 10).max(1);
    TICKS_PER_MS.store(per_ms, Ordering::Relaxed);
    write(REG_LVT_TIMER, u32::from(TIMER_VECTOR)); // one-shot, unmasked
    per_ms
}

/// A vector no device and no handler of ours uses.
pub const STRAY_TEST_VECTOR: u8 = 0x41;
const REG_ICR_LOW: u64 = 0x300;
const REG_ICR_HIGH: u64 = 0x310;
const ICR_SELF: u32 = 0b01 << 18;
const X2APIC_SELF_IPI: u32 = 0x83f;

/// Emulated platform only: sends this CPU an interrupt on
/// [`STRAY_TEST_VECTOR`], as a firmware may leave one pending, and reports
/// whether the default handler acknowledged it (without one the CPU would
/// raise #NP, which is fatal).
pub fn check_stray_interrupt() -> bool {
    let before = crate::arch::STRAY_INTERRUPTS.load(Ordering::Relaxed);
    if BASE.load(Ordering::Relaxed) == X2APIC {
        let mut msr = x86_64::registers::model_specific::Msr::new(X2APIC_SELF_IPI);
        // SAFETY: SELF_IPI exists in x2APIC mode; it only queues the vector.
        unsafe { msr.write(u64::from(STRAY_TEST_VECTOR)) };
    } else {
        write(REG_ICR_HIGH, 0);
        write(REG_ICR_LOW, ICR_SELF | u32::from(STRAY_TEST_VECTOR));
    }
    // Interrupts open for up to 1 ms: the pending vector is delivered first.
    sleep_us(1000);
    crate::arch::STRAY_INTERRUPTS.load(Ordering::Relaxed) > before
}

/// Acknowledges the current interrupt.
pub fn end_of_interrupt() {
    write(REG_EOI, 0);
}

/// Halts until roughly `us` microseconds have passed or another interrupt
/// arrives.
pub fn sleep_us(us: u64) {
    arm_us(us);
    platform::get().wait_for_interrupt();
}

/// Arms the one-shot timer to fire in about `us` microseconds (at most one
/// full count of the timer; a watchdog that fires early re-arms).
pub fn arm_us(us: u64) {
    let ticks = (TICKS_PER_MS.load(Ordering::Relaxed).saturating_mul(us) / 1000).clamp(1, u64::from(u32::MAX));
    write(REG_INITIAL_COUNT, ticks as u32);
}
