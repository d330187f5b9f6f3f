//! CPU tables: our own GDT (with a TSS whose IST gives the double-fault and
//! machine-check handlers known-good stacks) and IDT.
//!
//! Every exception is fatal and reported on the console with the faulting
//! RIP; the kernel has no user space and no recoverable faults. Vector 20
//! (#VE) belongs to the platform backend. Vector [`TIMER_VECTOR`] is the APIC
//! timer that wakes the idle loop; every other vector from 32 up is
//! acknowledged (EOI) and ignored, so an interrupt the firmware left pending
//! at the first `sti` is harmless.
//!
//! **Layer: arch** (CPU and memory, above `platform`). This module owns the
//! descriptor tables and interrupt vectors; [`apic`] the idle timer,
//! [`paging`] the kernel's page tables, [`heap`] the allocator. It may use
//! `platform` only.

pub mod apic;
pub mod heap;
pub mod paging;

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::control::Cr2;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// The kernel stack's guard page, recorded by boot when it reserves the stack.
static STACK_GUARD_PAGE: AtomicU64 = AtomicU64::new(u64::MAX);

/// Records the kernel stack's guard page (the lowest page of its region), so
/// a page fault there is named a stack overflow.
pub fn set_stack_guard(page: u64) {
    STACK_GUARD_PAGE.store(page, Ordering::Relaxed);
}

/// Whether `addr` falls in the kernel stack's guard page.
fn is_stack_guard(addr: u64) -> bool {
    let guard = STACK_GUARD_PAGE.load(Ordering::Relaxed);
    addr >= guard && addr < guard + 4096
}

/// IST slot used by #DF.
const DOUBLE_FAULT_IST: u16 = 0;
/// IST slot used by #MC and NMI.
const MACHINE_CHECK_IST: u16 = 1;
const IST_STACK_SIZE: usize = 64 * 1024;

/// The first vector that is not a CPU exception.
const FIRST_EXTERNAL_VECTOR: u8 = 32;
/// APIC timer vector.
pub const TIMER_VECTOR: u8 = 0x30;
/// APIC spurious-interrupt vector.
pub const SPURIOUS_VECTOR: u8 = 0xff;

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(GlobalDescriptorTable, SegmentSelector, SegmentSelector)> = Once::new();
static IDT: Once<InterruptDescriptorTable> = Once::new();

fn ist_stack() -> VirtAddr {
    let stack: &'static mut [u8] = Box::leak(alloc::vec![0u8; IST_STACK_SIZE].into_boxed_slice());
    // Stacks grow down; keep the top 16-byte aligned.
    let top = stack.as_ptr() as u64 + IST_STACK_SIZE as u64;
    VirtAddr::new(top & !0xf)
}

/// Loads GDT, TSS and IDT. `ve_entry` is the platform's #VE entry point, if
/// it has one (TDX); otherwise a #VE is a fatal exception.
pub fn init(ve_entry: Option<u64>) {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        tss.interrupt_stack_table[DOUBLE_FAULT_IST as usize] = ist_stack();
        tss.interrupt_stack_table[MACHINE_CHECK_IST as usize] = ist_stack();
        tss
    });
    let (gdt, code, tss_sel) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let tss_sel = gdt.append(Descriptor::tss_segment(tss));
        (gdt, code, tss_sel)
    });
    gdt.load();
    // SAFETY: the selectors come from the GDT just loaded; a null data
    // selector is valid in 64-bit mode for ring 0.
    unsafe {
        CS::set_reg(*code);
        SS::set_reg(SegmentSelector(0));
        DS::set_reg(SegmentSelector(0));
        ES::set_reg(SegmentSelector(0));
        load_tss(*tss_sel);
    }

    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        idt.divide_error.set_handler_fn(divide_error);
        idt.debug.set_handler_fn(debug);
        idt.breakpoint.set_handler_fn(breakpoint);
        idt.overflow.set_handler_fn(overflow);
        idt.bound_range_exceeded.set_handler_fn(bound_range);
        idt.invalid_opcode.set_handler_fn(invalid_opcode);
        idt.device_not_available.set_handler_fn(device_not_available);
        idt.invalid_tss.set_handler_fn(invalid_tss);
        idt.segment_not_present.set_handler_fn(segment_not_present);
        idt.stack_segment_fault.set_handler_fn(stack_segment);
        idt.general_protection_fault.set_handler_fn(general_protection);
        idt.page_fault.set_handler_fn(page_fault);
        idt.x87_floating_point.set_handler_fn(x87);
        idt.alignment_check.set_handler_fn(alignment_check);
        idt.simd_floating_point.set_handler_fn(simd);
        idt.cp_protection_exception.set_handler_fn(control_protection);
        // SAFETY: the IST slots were filled in the TSS above.
        unsafe {
            idt.double_fault.set_handler_fn(double_fault).set_stack_index(DOUBLE_FAULT_IST);
            idt.machine_check.set_handler_fn(machine_check).set_stack_index(MACHINE_CHECK_IST);
            idt.non_maskable_interrupt.set_handler_fn(nmi).set_stack_index(MACHINE_CHECK_IST);
        }
        match ve_entry {
            // SAFETY: the platform's entry stub follows the interrupt-gate
            // calling convention for a vector without an error code.
            Some(addr) => unsafe {
                idt.virtualization.set_handler_addr(VirtAddr::new(addr));
            },
            None => {
                idt.virtualization.set_handler_fn(virtualization);
            }
        }
        // Any external vector a firmware left pending (or a stray device
        // raises) is acknowledged and ignored: none of them is fatal.
        for vector in FIRST_EXTERNAL_VECTOR..=u8::MAX {
            idt[vector].set_handler_fn(acknowledge_interrupt);
        }
        idt[TIMER_VECTOR].set_handler_fn(timer);
        idt[SPURIOUS_VECTOR].set_handler_fn(spurious);
        idt
    });
    idt.load();
}

fn die(name: &str, frame: &InterruptStackFrame, code: Option<u64>) -> ! {
    crate::platform::fatal::fatal(format_args!(
        "CPU exception {name} at rip={:#x} rsp={:#x} error_code={}",
        frame.instruction_pointer.as_u64(),
        frame.stack_pointer.as_u64(),
        code.map_or(-1i64, |c| c as i64)
    ))
}

macro_rules! fatal_handler {
    ($name:ident, $label:literal) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame) {
            die($label, &frame, None)
        }
    };
    ($name:ident, $label:literal, code) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame, code: u64) {
            die($label, &frame, Some(code))
        }
    };
}

fatal_handler!(divide_error, "#DE");
fatal_handler!(debug, "#DB");
fatal_handler!(nmi, "NMI");
fatal_handler!(breakpoint, "#BP");
fatal_handler!(overflow, "#OF");
fatal_handler!(bound_range, "#BR");
fatal_handler!(invalid_opcode, "#UD");
fatal_handler!(device_not_available, "#NM");
fatal_handler!(invalid_tss, "#TS", code);
fatal_handler!(segment_not_present, "#NP", code);
fatal_handler!(stack_segment, "#SS", code);
fatal_handler!(general_protection, "#GP", code);
fatal_handler!(x87, "#MF");
fatal_handler!(alignment_check, "#AC", code);
fatal_handler!(simd, "#XM");
fatal_handler!(control_protection, "#CP", code);
fatal_handler!(virtualization, "#VE (not a TDX guest)");

extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, code: u64) -> ! {
    die("#DF", &frame, Some(code))
}

extern "x86-interrupt" fn machine_check(frame: InterruptStackFrame) -> ! {
    die("#MC", &frame, None)
}

extern "x86-interrupt" fn page_fault(frame: InterruptStackFrame, code: PageFaultErrorCode) {
    let addr = Cr2::read_raw();
    crate::platform::fatal::fatal(format_args!(
        "CPU exception #PF at rip={:#x} address={:#x} ({:?}){}",
        frame.instruction_pointer.as_u64(),
        addr,
        code,
        if is_stack_guard(addr) { " — kernel stack overflow" } else { "" }
    ))
}

extern "x86-interrupt" fn timer(_frame: InterruptStackFrame) {
    watchdog_tick();
    crate::arch::apic::end_of_interrupt();
}

/// The one call that must not outlive its deadline, while [`with_watchdog`] runs it.
static WATCHDOG: spin::Mutex<Option<(&'static str, u64)>> = spin::Mutex::new(None);

/// Runs `call`, a wait this kernel cannot bound itself (a crate's blocking loop), with
/// interrupts open and the APIC timer armed: if it has not returned `deadline_ms` from
/// now, the timer interrupt ends the guest with one line naming `what`. The timer's
/// handler only acknowledges the APIC otherwise, so opening interrupts here is safe.
pub fn with_watchdog<R>(what: &'static str, deadline_ms: u64, call: impl FnOnce() -> R) -> R {
    let at = crate::platform::clock::now_ms().saturating_add(deadline_ms);
    *WATCHDOG.lock() = Some((what, at));
    apic::arm_us(deadline_ms.saturating_mul(1000));
    x86_64::instructions::interrupts::enable();
    let result = call();
    x86_64::instructions::interrupts::disable();
    *WATCHDOG.lock() = None;
    result
}

/// From the timer interrupt: past a watched call's deadline, fatal; before it, re-arm.
fn watchdog_tick() {
    // The lock is only held briefly with interrupts closed, never while the call runs.
    let Some(guard) = WATCHDOG.try_lock() else { return };
    let Some((what, at)) = *guard else { return };
    drop(guard);
    let now = crate::platform::clock::now_ms();
    if now >= at {
        crate::platform::fatal::fatal(format_args!("{what}: not completed within its deadline (watchdog)"));
    }
    apic::arm_us((at - now).saturating_mul(1000));
}

/// Interrupts the default handler acknowledged (boot log, self-check).
pub static STRAY_INTERRUPTS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

extern "x86-interrupt" fn acknowledge_interrupt(_frame: InterruptStackFrame) {
    STRAY_INTERRUPTS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    crate::arch::apic::end_of_interrupt();
}

extern "x86-interrupt" fn spurious(_frame: InterruptStackFrame) {}
