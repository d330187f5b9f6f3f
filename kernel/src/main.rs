//! tdsigner-kernel: the unikernel that is the whole TDX guest.
//!
//! It is a UEFI application (PE32+) so that TDVF on a TDX host and OVMF in CI
//! load the same bytes through QEMU `-kernel`. Control flows one way:
//! boot → platform → net → signer, and no module reaches back up:
//!
//! - [`boot`]: UEFI entry, load options, TSC calibration, memory reservation,
//!   ExitBootServices, switch to our own stack;
//! - [`platform`]: the backend chosen by CPUID leaf 0x21 (`tdx` or
//!   `emulated`): port/MMIO access, shared memory, RTMRs, halting;
//! - [`arch`], [`paging`], [`heap`], [`apic`], [`clock`], [`rng`],
//!   [`console`]: the machine;
//! - [`pci`], [`virtio`], [`disk`], [`net`]: devices and the smoltcp stack;
//! - [`measured_boot`]: what the image extends into RTMRs, with its event log;
//! - [`attest`]: quotes (TDX GetQuote, or the emulated quoting enclave);
//! - [`blocking_tcp`]: the blocking client steps (resolve, connect, send,
//!   receive, close) under deadlines; [`http_fetch`]: a bounded HTTP GET on
//!   them (collateral);
//! - [`runtime`]: the node's environment (RPC, P2P, quotes) over smoltcp;
//!   [`chain_time`]: its RPC calls before the node exists (the light-client
//!   walk that bounds the collateral check time);
//! - [`guest`]: the program — measured config, boot counter, `/health`, and
//!   in signer mode the node state machine.
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

#[cfg(target_os = "uefi")]
#[macro_use]
mod console;

#[cfg(target_os = "uefi")]
mod apic;
#[cfg(target_os = "uefi")]
mod attest;
#[cfg(target_os = "uefi")]
mod arch;
#[cfg(target_os = "uefi")]
mod blocking_tcp;
#[cfg(target_os = "uefi")]
mod boot;
#[cfg(target_os = "uefi")]
mod chain_time;
#[cfg(target_os = "uefi")]
mod clock;
#[cfg(target_os = "uefi")]
mod disk;
#[cfg(target_os = "uefi")]
mod guest;
#[cfg(target_os = "uefi")]
mod heap;
#[cfg(target_os = "uefi")]
mod http_fetch;
#[cfg(target_os = "uefi")]
mod keysource;
#[cfg(target_os = "uefi")]
mod measured_boot;
#[cfg(target_os = "uefi")]
mod net;
#[cfg(target_os = "uefi")]
mod paging;
#[cfg(target_os = "uefi")]
mod pci;
#[cfg(target_os = "uefi")]
mod platform;
#[cfg(target_os = "uefi")]
mod probe;
#[cfg(target_os = "uefi")]
mod rng;
#[cfg(target_os = "uefi")]
mod runtime;
#[cfg(target_os = "uefi")]
mod virtio;
