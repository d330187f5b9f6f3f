//! DMA for virtio: a fixed pool of shared memory and bounce buffers.
//!
//! Under TDX the host cannot read private memory, so nothing the device
//! touches may live outside the pool the platform converted to shared at
//! boot. Virtqueues are allocated from the pool; driver buffers are copied
//! into pool pages on `share` and back on `unshare` (bounce buffering). The
//! emulated platform uses the same path, so CI exercises it.
//!
//! Addresses follow [`tdsigner_kernel::dma`]: devices get the plain GPA, the
//! kernel uses the pool's upper-half CPU alias, and only the page tables and
//! the GetQuote argument carry the shared bit.

use core::ptr::NonNull;

use spin::Mutex;
use tdsigner_kernel::dma::DmaWindow;
use tdsigner_kernel::page_pool::PagePool;
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

struct DmaPool {
    window: DmaWindow,
    pages: PagePool,
}

static POOL: Mutex<Option<DmaPool>> = Mutex::new(None);

/// Hands the shared, alias-mapped window to the virtio layer.
pub fn init(window: DmaWindow) {
    *POOL.lock() = Some(DmaPool { window, pages: PagePool::new((window.len() / PAGE_SIZE as u64) as usize) });
}

/// The pool's window, once [`init`] ran.
pub fn window() -> Option<DmaWindow> {
    POOL.lock().as_ref().map(|p| p.window)
}

/// Pages in use and capacity, for the boot log and metrics.
pub fn usage() -> (usize, usize) {
    POOL.lock().as_ref().map_or((0, 0), |p| (p.pages.in_use(), p.pages.capacity()))
}

/// Allocates zeroed pages; returns (offset in the window, CPU pointer).
fn alloc_pages(pages: usize) -> (DmaWindow, u64, NonNull<u8>) {
    let mut guard = POOL.lock();
    let Some(pool) = guard.as_mut() else {
        crate::platform::fatal::fatal(format_args!("virtio DMA used before the pool was set up"));
    };
    let first = match pool.pages.alloc(pages.max(1)) {
        Ok(Some(first)) => first,
        _ => crate::platform::fatal::fatal(format_args!("virtio DMA pool exhausted ({pages} pages requested)")),
    };
    let offset = (first * PAGE_SIZE) as u64;
    let cpu = pool.window.cpu_addr(offset);
    // SAFETY: the pages belong to the pool, are mapped at their CPU alias,
    // and were just allocated to this caller alone; zeroing them is what
    // `Hal` requires.
    unsafe { core::ptr::write_bytes(cpu as *mut u8, 0, pages.max(1) * PAGE_SIZE) };
    let Some(ptr) = NonNull::new(cpu as *mut u8) else {
        crate::platform::fatal::fatal(format_args!("DMA pool alias at address 0"));
    };
    (pool.window, offset, ptr)
}

fn free_offset(offset: u64, pages: usize) -> Result<(), ()> {
    let mut guard = POOL.lock();
    let pool = guard.as_mut().ok_or(())?;
    pool.pages.free((offset / PAGE_SIZE as u64) as usize, pages.max(1)).map_err(|_| ())
}

fn device_offset(paddr: PhysAddr, len: usize) -> Option<u64> {
    window()?.device_offset(paddr, len as u64)
}

/// Takes `pages` zeroed pages of shared memory for the kernel's own use (the
/// GetQuote buffer). Returns (host GPA, with the shared bit, as GetQuote
/// wants it; kernel pointer).
pub fn alloc_shared_pages(pages: usize) -> (u64, NonNull<u8>) {
    let (window, offset, ptr) = alloc_pages(pages);
    (window.host_gpa(offset), ptr)
}

/// Returns pages taken with [`alloc_shared_pages`].
pub fn free_shared_pages(host_gpa: u64, pages: usize) {
    let offset = window().and_then(|w| w.host_gpa_offset(host_gpa, (pages * PAGE_SIZE) as u64));
    if offset.ok_or(()).and_then(|o| free_offset(o, pages)).is_err() {
        crate::platform::fatal::fatal(format_args!("freeing shared pages {host_gpa:#x} that were not allocated"));
    }
}

fn pages_for(len: usize) -> usize {
    len.div_ceil(PAGE_SIZE).max(1)
}

/// The `virtio-drivers` HAL of this kernel.
pub struct KernelHal;

// SAFETY: dma_alloc returns zeroed, page-aligned pool pages owned by the
// caller until dma_dealloc; share returns a device address of a pool copy
// valid until unshare; the pool is mapped for the kernel's whole life.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let (window, offset, ptr) = alloc_pages(pages);
        (window.device_addr(offset), ptr)
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        match device_offset(paddr, pages * PAGE_SIZE).ok_or(()).and_then(|o| free_offset(o, pages)) {
            Ok(()) => 0,
            Err(()) => -1,
        }
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        // Only used by virtio-drivers' own transports, which this kernel does
        // not use; MMIO is identity mapped anyway.
        match NonNull::new(paddr as *mut u8) {
            Some(p) => p,
            None => crate::platform::fatal::fatal(format_args!("MMIO at address 0")),
        }
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let len = buffer.len();
        let (window, offset, bounce) = alloc_pages(pages_for(len));
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: `buffer` is valid for `len` bytes (virtio-drivers'
            // contract) and the bounce pages hold at least `len` bytes.
            unsafe { core::ptr::copy_nonoverlapping(buffer.as_ptr() as *const u8, bounce.as_ptr(), len) };
        }
        window.device_addr(offset)
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let len = buffer.len();
        let Some((window, offset)) = window().and_then(|w| Some((w, w.device_offset(paddr, len as u64)?))) else {
            crate::platform::fatal::fatal(format_args!("virtio unshare of an unknown buffer {paddr:#x}"));
        };
        if direction != BufferDirection::DriverToDevice {
            let bounce = window.cpu_addr(offset) as *const u8;
            // SAFETY: `paddr` came from `share` for this buffer, so the bounce
            // pages are live, mapped at their alias and hold `len` bytes;
            // `buffer` is writable.
            unsafe { core::ptr::copy_nonoverlapping(bounce, buffer.as_ptr() as *mut u8, len) };
        }
        if free_offset(offset, pages_for(len)).is_err() {
            crate::platform::fatal::fatal(format_args!("virtio unshare of an unknown buffer {paddr:#x}"));
        }
    }
}
