//! The kernel heap: one region reserved from UEFI before ExitBootServices,
//! managed by talc. Allocation failure is fatal (the alloc error handler
//! panics), which the panic handler reports on the console.
//!
//! Every allocation is also counted (bytes in use, high-water mark), so
//! `/metrics` can say how much of the heap a node really needs: that is what
//! the smallest workable `-m` is derived from.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

use talc::{ErrOnOom, Span, Talc, Talck};

static TALC: Talck<spin::Mutex<()>, ErrOnOom> = Talc::new(ErrOnOom).lock();
static CLAIMED: AtomicUsize = AtomicUsize::new(0);
static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// talc behind byte counters.
struct Counted;

#[global_allocator]
static ALLOCATOR: Counted = Counted;

fn grew(by: usize) {
    let now = IN_USE.fetch_add(by, Ordering::Relaxed).saturating_add(by);
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(by: usize) {
    IN_USE.fetch_sub(by, Ordering::Relaxed);
}

// SAFETY: every method forwards to talc's GlobalAlloc with the caller's
// arguments unchanged, so talc's guarantees are ours; the counters only
// observe sizes of successful calls.
unsafe impl GlobalAlloc for Counted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's (valid, non-zero-size) layout.
        let p = unsafe { TALC.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { TALC.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block this allocator (= talc) returned, with its layout.
        unsafe { TALC.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller passes a block talc returned, its layout and a valid new size.
        let p = unsafe { TALC.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

/// Hands `size` bytes at `base` to the allocator.
///
/// # Safety
/// The region must be RAM owned by the kernel for the rest of its life and
/// not used for anything else.
pub unsafe fn init(base: *mut u8, size: usize) -> Result<(), ()> {
    // SAFETY: the caller guarantees exclusive ownership of the region.
    let claimed = unsafe { TALC.lock().claim(Span::from_base_size(base, size)) }.map(|_| ());
    if claimed.is_ok() {
        CLAIMED.store(size, Ordering::Relaxed);
    }
    claimed
}

/// Heap figures in bytes: (size, requested by live allocations, high-water mark of that).
/// Allocator metadata and alignment padding are not in the last two.
pub fn usage() -> (usize, usize, usize) {
    (CLAIMED.load(Ordering::Relaxed), IN_USE.load(Ordering::Relaxed), PEAK.load(Ordering::Relaxed))
}
