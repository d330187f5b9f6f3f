//! tdsigner-kernel: the unikernel that is the whole TDX guest.
//!
//! It is a UEFI application (PE32+) so that TDVF on a TDX host and OVMF in CI
//! load the same bytes through QEMU `-kernel`. The source is in layers; each
//! folder's module doc says what it owns and what it may use, and imports only
//! point down (`tests/layers.rs` checks it):
//!
//! ```text
//!   guest/     the program: startup steps, node runtime, key source, routes
//!     ↓
//!   net/       smoltcp, blocking TCP client, HTTP fetch
//!     ↓
//!   drivers/   PCI, virtio (transport + DMA), disk
//!     ↓
//!   boot/      UEFI phase: load options, reservations, ExitBootServices
//!     ↓
//!   arch/      descriptor tables, interrupts, APIC timer, paging, heap
//!     ↓
//!   platform/  TDX or emulated backend, console, fatal, clock, RNG, RTMRs
//! ```
//!
//! At run time data flows boot → platform → drivers → net → node: this file
//! hands `boot` the program to start, so boot never names the layer above.
//!
//! Only `x86_64-unknown-uefi` builds the real image; on other targets this
//! file is an empty program so host `cargo build --workspace` works.
#![cfg_attr(target_os = "uefi", no_std, no_main, feature(abi_x86_interrupt))]

#[cfg(not(target_os = "uefi"))]
fn main() {
    eprintln!("tdsigner-kernel is a UEFI image: build it with `tdsigner build`");
    std::process::exit(2);
}

#[cfg(target_os = "uefi")]
extern crate alloc;

// `platform` first: its console module defines `kprintln!` for every layer.
#[cfg(target_os = "uefi")]
#[macro_use]
mod platform;

#[cfg(target_os = "uefi")]
mod arch;
#[cfg(target_os = "uefi")]
mod boot;
#[cfg(target_os = "uefi")]
mod drivers;
#[cfg(target_os = "uefi")]
mod guest;
#[cfg(target_os = "uefi")]
mod net;

/// The image's entry point: the UEFI phase, then the program.
#[cfg(target_os = "uefi")]
#[uefi::entry]
fn efi_main() -> uefi::Status {
    boot::enter(guest::start)
}

#[cfg(target_os = "uefi")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    platform::fatal::fatal(format_args!("panic: {info}"))
}
