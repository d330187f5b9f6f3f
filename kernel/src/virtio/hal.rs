//! DMA for virtio: a fixed pool of shared memory and bounce buffers.
//!
//! Under TDX the host cannot read private memory, so nothing the device
//! touches may live outside the pool the platform converted to shared at
//! boot. Virtqueues are allocated from the pool; driver buffers are copied
//! into pool pages on `share` and back on `unshare` (bounce buffering). The
//! emulated platform uses the same path, so CI exercises it.
//!
//! Device-visible addresses carry the shared bit (GPA | shared); the kernel
//! accesses the same pages through their identity (private-looking) virtual
//! addresses, which the page tables map to the shared alias.

use core::ptr::NonNull;

use spin::Mutex;
use tdsigner_kernel::page_pool::PagePool;
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

struct DmaPool {
    base: u64,
    shared_bit: u64,
    pages: PagePool,
}

static POOL: Mutex<Option<DmaPool>> = Mutex::new(None);

/// Hands the shared region `[base, base + len)` to the virtio layer.
pub fn init(base: u64, len: u64, shared_bit: u64) {
    *POOL.lock() = Some(DmaPool { base, shared_bit, pages: PagePool::new((len / PAGE_SIZE as u64) as usize) });
}

/// Pages in use and capacity, for the boot log and metrics.
pub fn usage() -> (usize, usize) {
    POOL.lock().as_ref().map_or((0, 0), |p| (p.pages.in_use(), p.pages.capacity()))
}

fn alloc_pages(pages: usize) -> (PhysAddr, NonNull<u8>) {
    let mut guard = POOL.lock();
    let Some(pool) = guard.as_mut() else {
        crate::guest::fatal(format_args!("virtio DMA used before the pool was set up"));
    };
    let first = match pool.pages.alloc(pages.max(1)) {
        Ok(Some(first)) => first,
        _ => crate::guest::fatal(format_args!("virtio DMA pool exhausted ({pages} pages requested)")),
    };
    let vaddr = pool.base + (first * PAGE_SIZE) as u64;
    // SAFETY: the pages belong to the pool, are mapped, and were just
    // allocated to this caller alone; zeroing them is what `Hal` requires.
    unsafe { core::ptr::write_bytes(vaddr as *mut u8, 0, pages.max(1) * PAGE_SIZE) };
    let Some(ptr) = NonNull::new(vaddr as *mut u8) else {
        crate::guest::fatal(format_args!("DMA pool at address 0"));
    };
    (vaddr | pool.shared_bit, ptr)
}

fn free_pages(paddr: PhysAddr, pages: usize) -> Result<(), ()> {
    let mut guard = POOL.lock();
    let pool = guard.as_mut().ok_or(())?;
    let vaddr = paddr & !pool.shared_bit;
    let offset = vaddr.checked_sub(pool.base).ok_or(())?;
    pool.pages.free((offset / PAGE_SIZE as u64) as usize, pages.max(1)).map_err(|_| ())
}

/// Takes `pages` zeroed pages of shared memory for the kernel's own use (e.g.
/// the GetQuote buffer). Returns (device/host-visible address with the shared
/// bit, kernel virtual address).
pub fn alloc_shared_pages(pages: usize) -> (u64, NonNull<u8>) {
    alloc_pages(pages)
}

/// Returns pages taken with [`alloc_shared_pages`].
pub fn free_shared_pages(device_addr: u64, pages: usize) {
    if free_pages(device_addr, pages).is_err() {
        crate::guest::fatal(format_args!("freeing shared pages {device_addr:#x} that were not allocated"));
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
        alloc_pages(pages)
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        match free_pages(paddr, pages) {
            Ok(()) => 0,
            Err(()) => -1,
        }
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        // Only used by virtio-drivers' own transports, which this kernel does
        // not use; MMIO is identity mapped anyway.
        match NonNull::new(paddr as *mut u8) {
            Some(p) => p,
            None => crate::guest::fatal(format_args!("MMIO at address 0")),
        }
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let len = buffer.len();
        let (paddr, bounce) = alloc_pages(pages_for(len));
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: `buffer` is valid for `len` bytes (virtio-drivers'
            // contract) and the bounce pages hold at least `len` bytes.
            unsafe { core::ptr::copy_nonoverlapping(buffer.as_ptr() as *const u8, bounce.as_ptr(), len) };
        }
        paddr
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let len = buffer.len();
        if direction != BufferDirection::DriverToDevice {
            let shared_bit = POOL.lock().as_ref().map_or(0, |p| p.shared_bit);
            let bounce = (paddr & !shared_bit) as *const u8;
            // SAFETY: `paddr` came from `share` for this buffer, so the bounce
            // pages are live and hold `len` bytes; `buffer` is writable.
            unsafe { core::ptr::copy_nonoverlapping(bounce, buffer.as_ptr() as *mut u8, len) };
        }
        if free_pages(paddr, pages_for(len)).is_err() {
            crate::guest::fatal(format_args!("virtio unshare of an unknown buffer {paddr:#x}"));
        }
    }
}
