//! The kernel heap: one region reserved from UEFI before ExitBootServices,
//! managed by talc. Allocation failure is fatal (the alloc error handler
//! panics), which the panic handler reports on the console.

use talc::{ErrOnOom, Span, Talc, Talck};

#[global_allocator]
static ALLOCATOR: Talck<spin::Mutex<()>, ErrOnOom> = Talc::new(ErrOnOom).lock();

/// Hands `size` bytes at `base` to the allocator.
///
/// # Safety
/// The region must be RAM owned by the kernel for the rest of its life and
/// not used for anything else.
pub unsafe fn init(base: *mut u8, size: usize) -> Result<(), ()> {
    // SAFETY: the caller guarantees exclusive ownership of the region.
    unsafe { ALLOCATOR.lock().claim(Span::from_base_size(base, size)) }.map(|_| ())
}
