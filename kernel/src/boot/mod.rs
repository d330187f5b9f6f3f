//! UEFI entry and the hand-over from firmware to kernel.
//!
//! While boot services exist the kernel: copies its load options (the
//! command line), calibrates the TSC, and reserves every region it will ever
//! use — heap, DMA pool, stack, page-table pool — as LOADER_DATA, so after
//! ExitBootServices it never touches memory the firmware's map did not give
//! it. It then exits boot services, keeps the final memory map for the page
//! tables, switches to its own stack and enters the program `main.rs` passed in.
//!
//! Memory allocated through boot services is already accepted by TDVF, so no
//! TDX page acceptance is needed for anything the kernel uses.
//!
//! **Layer: boot** (the UEFI phase, above `arch` and `platform`). It may use
//! those two; it knows nothing of the program it starts: `main.rs` hands it
//! the entry point.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr::NonNull;

use uefi::boot::{self, AllocateType, MemoryType};
use uefi::mem::memory_map::MemoryMap;
use uefi::proto::loaded_image::LoadedImage;
use uefi::Status;

use tdsigner_kernel::ccel::{FirmwareLog, FirmwareLogError};

use crate::platform::clock;

const PAGE: u64 = 4096;
const SIZE_2M: u64 = 2 * 1024 * 1024;
/// The DMA (shared-memory) pool: virtqueues and bounce buffers.
pub const DMA_POOL_SIZE: u64 = 4 * 1024 * 1024;
/// The kernel stack region; its lowest page is the guard.
const STACK_REGION: u64 = 2 * 1024 * 1024;
/// Longest load options copied (bytes of UTF-16). Longer ones are still
/// measured in full and then refused by the config parser.
pub const MAX_LOAD_OPTIONS: usize = 16 * 1024;
const HEAP_MIN: u64 = 16 * 1024 * 1024;
const HEAP_MAX: u64 = 1024 * 1024 * 1024;
/// Left to the firmware for the allocations ExitBootServices itself makes.
const HEAP_SLACK: u64 = 4 * 1024 * 1024;

/// The program boot hands the machine to, on the kernel stack right after
/// ExitBootServices (`main.rs` passes `guest::start`).
pub type Program = fn(BootInfo) -> !;

/// Everything the kernel learnt and reserved during boot.
pub struct BootInfo {
    /// Load options exactly as the firmware gave them (at most
    /// [`MAX_LOAD_OPTIONS`] bytes; see `load_options_len`).
    pub load_options: Vec<u8>,
    /// Their full length.
    pub load_options_len: usize,
    pub tsc_hz: u64,
    pub tsc_calibration: clock::Calibration,
    pub heap: (u64, u64),
    pub dma_pool: (u64, u64),
    pub stack: (u64, u64),
    pub table_pool: (u64, u64),
    /// Every range in the final UEFI memory map.
    pub memory_map: Vec<(u64, u64)>,
    /// Conventional (usable) RAM the firmware reported, in bytes.
    pub conventional_bytes: u64,
    /// The firmware's CC event log (ACPI `CCEL`), read right after ExitBootServices so that
    /// it holds the firmware's ExitBootServices events; `Ok(None)` if there is no CCEL table.
    pub firmware_log: Result<Option<FirmwareLog>, FirmwareLogError>,
    /// Unix seconds from the firmware's RTC (host-controlled: used only for
    /// TLS certificate validity windows) and the monotonic ms it was read at.
    pub wall_clock: Option<(u64, u64)>,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// days-from-civil algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The RTC as Unix seconds, if the firmware has a plausible time.
fn rtc_unix_seconds() -> Option<u64> {
    let t = uefi::runtime::get_time().ok()?;
    if !(2000..=2200).contains(&t.year()) {
        return None;
    }
    let days = days_from_civil(i64::from(t.year()), u32::from(t.month()), u32::from(t.day()));
    let secs = days * 86_400 + i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second());
    u64::try_from(secs).ok()
}

/// Writes one line through the firmware console (only before
/// ExitBootServices) and powers off, like every other fatal path: returning to
/// the firmware would let it try other boot options.
fn early_error(msg: &str) -> Status {
    uefi::system::with_stdout(|out| {
        use core::fmt::Write;
        let _ = writeln!(out, "tdsigner: fatal: {msg}");
    });
    uefi::runtime::reset(uefi::runtime::ResetType::SHUTDOWN, Status::ABORTED, None)
}

/// Reserves `size` bytes aligned to `align` below `max_addr`, returning the
/// aligned start. Slack before and after is given back to the firmware.
fn reserve(size: u64, align: u64, max_addr: Option<u64>) -> Option<u64> {
    let total_pages = ((size + align) / PAGE) as usize;
    let ty = match max_addr {
        Some(a) => AllocateType::MaxAddress(a),
        None => AllocateType::AnyPages,
    };
    let base = boot::allocate_pages(ty, MemoryType::LOADER_DATA, total_pages).ok()?.as_ptr() as u64;
    let start = (base + align - 1) & !(align - 1);
    let end = start + size;
    let alloc_end = base + total_pages as u64 * PAGE;
    // SAFETY: both slack ranges are page-aligned parts of the allocation
    // just made and are not used by the kernel.
    unsafe {
        if start > base {
            let _ = boot::free_pages(NonNull::new_unchecked(base as *mut u8), ((start - base) / PAGE) as usize);
        }
        if alloc_end > end {
            let _ = boot::free_pages(NonNull::new_unchecked(end as *mut u8), ((alloc_end - end) / PAGE) as usize);
        }
    }
    Some(start)
}

/// The largest conventional region, all conventional RAM, and the page-table
/// pages the identity map of the whole map (unaccepted memory included) needs.
fn memory_map_figures() -> Result<(u64, u64, u64), Status> {
    let map = boot::memory_map(MemoryType::LOADER_DATA).map_err(|e| e.status())?;
    let mut largest = 0;
    let mut total = 0;
    for d in map.entries().filter(|d| d.ty == MemoryType::CONVENTIONAL) {
        largest = largest.max(d.page_count * PAGE);
        total += d.page_count * PAGE;
    }
    let ranges = map.entries().map(|d| (d.phys_start, d.phys_start.saturating_add(d.page_count.saturating_mul(PAGE))));
    // Slack: the final map (after this call's own allocations) may split ranges.
    let table_pages = tdsigner_kernel::table_budget::table_pages(ranges) + 16;
    Ok((largest, total, table_pages))
}

/// The UEFI phase, called from the image's entry point: never returns on
/// success (it ends in `program`), returns only an error status it already
/// printed.
pub fn enter(program: Program) -> Status {
    let (tsc_hz, tsc_calibration) = clock::calibrate();
    let wall_clock = rtc_unix_seconds().map(|secs| (secs, clock::now_ms()));

    let Ok((largest, conventional_bytes, table_pages)) = memory_map_figures() else {
        return early_error("cannot read the UEFI memory map");
    };
    // Fixed reservations first, then the heap takes most of what is left.
    let Some(dma_start) = reserve(DMA_POOL_SIZE, SIZE_2M, Some(0xffff_ffff)) else {
        return early_error("cannot reserve the DMA pool below 4 GiB");
    };
    let Some(stack_start) = reserve(STACK_REGION, SIZE_2M, None) else {
        return early_error("cannot reserve the kernel stack");
    };
    let Some(tables_start) = reserve(table_pages * PAGE, PAGE, None) else {
        return early_error("cannot reserve page-table pages");
    };
    // The fixed reservations may come out of the largest region, and the
    // heap's own 2 MiB alignment needs up to 2 MiB of slack.
    let heap_size = largest
        .saturating_sub(DMA_POOL_SIZE + STACK_REGION + table_pages * PAGE + HEAP_SLACK + SIZE_2M)
        .min(HEAP_MAX)
        & !(SIZE_2M - 1);
    if heap_size < HEAP_MIN {
        return early_error("not enough memory for the heap (need at least 16 MiB free)");
    }
    let Some(heap_start) = reserve(heap_size, SIZE_2M, None) else {
        return early_error("cannot reserve the heap");
    };
    // SAFETY: the region was just reserved as LOADER_DATA for the kernel alone.
    if unsafe { crate::arch::heap::init(heap_start as *mut u8, heap_size as usize) }.is_err() {
        return early_error("heap initialisation failed");
    }

    let (load_options, load_options_len) = {
        let Ok(image) = boot::open_protocol_exclusive::<LoadedImage>(boot::image_handle()) else {
            return early_error("cannot open the LoadedImage protocol");
        };
        let raw = image.load_options_as_bytes().unwrap_or(&[]);
        (raw[..raw.len().min(MAX_LOAD_OPTIONS)].to_vec(), raw.len())
    };

    let rsdp = clock::rsdp_address();

    // SAFETY: nothing holds boot-services resources past this point (the
    // LoadedImage protocol was closed above) and the kernel never calls boot
    // services again.
    let final_map = unsafe { boot::exit_boot_services(None) };
    let memory_map: Vec<(u64, u64)> =
        final_map.entries().map(|d| (d.phys_start, d.phys_start + d.page_count * PAGE)).collect();
    let firmware_log = read_firmware_log(rsdp, &final_map);

    let info = Box::new(BootInfo {
        load_options,
        load_options_len,
        tsc_hz,
        tsc_calibration,
        heap: (heap_start, heap_start + heap_size),
        dma_pool: (dma_start, dma_start + DMA_POOL_SIZE),
        stack: (stack_start, stack_start + STACK_REGION),
        table_pool: (tables_start, tables_start + table_pages * PAGE),
        memory_map,
        conventional_bytes,
        wall_clock,
        firmware_log,
    });
    crate::arch::set_stack_guard(stack_start);
    let stack_top = stack_start + STACK_REGION;
    let info = Box::into_raw(info);
    // SAFETY: the stack region is reserved kernel memory and its top is
    // 16-byte aligned, as the System V ABI wants before `call`; `kernel_entry`
    // never returns, so abandoning the firmware stack is fine.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "xor ebp, ebp",
            "call {entry}",
            "ud2",
            top = in(reg) stack_top,
            entry = sym kernel_entry,
            in("rdi") info,
            in("rsi") program,
            options(noreturn)
        );
    }
}

/// Copies and parses the firmware's CC event log through the ACPI `CCEL` table. Runs after
/// ExitBootServices (TDVF logs its ExitBootServices events then), still on the firmware's
/// identity-mapped page tables; reads only memory the final map types as ACPI reclaim or NVS
/// (TDVF allocates the log area as EfiACPIMemoryNVS).
fn read_firmware_log(
    rsdp: Option<u64>,
    map: &uefi::mem::memory_map::MemoryMapOwned,
) -> Result<Option<FirmwareLog>, FirmwareLogError> {
    let Some(rsdp) = rsdp else { return Ok(None) };
    let acpi: Vec<(u64, u64)> = map
        .entries()
        .filter(|d| d.ty == MemoryType::ACPI_RECLAIM || d.ty == MemoryType::ACPI_NON_VOLATILE)
        .map(|d| (d.phys_start, d.phys_start.saturating_add(d.page_count.saturating_mul(PAGE))))
        .collect();
    let mut read = |addr: u64, buf: &mut [u8]| -> bool {
        let Some(end) = addr.checked_add(buf.len() as u64) else { return false };
        if !acpi.iter().any(|(s, e)| *s <= addr && end <= *e) {
            return false;
        }
        // SAFETY: [addr, end) lies inside one range the final UEFI memory map types as ACPI
        // reclaim or NVS: firmware memory that stays identity-mapped by the firmware's page
        // tables (still active) and that nothing writes any more after ExitBootServices;
        // `buf` is a distinct, writable buffer of the same length.
        unsafe { core::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len()) };
        true
    };
    tdsigner_kernel::ccel::read_firmware_log(&mut read, rsdp)
}

// `program` is a Rust fn pointer passed through our own `call` in `rsi`; nothing foreign calls this.
#[allow(improper_ctypes_definitions)]
extern "sysv64" fn kernel_entry(info: *mut BootInfo, program: Program) -> ! {
    // SAFETY: `info` is the Box leaked just before the stack switch.
    let info = unsafe { Box::from_raw(info) };
    program(*info)
}
