//! PCI configuration access and device discovery.
//!
//! Configuration space is reached through the legacy port mechanism
//! (0xCF8/0xCFC) via the platform's port I/O, which under TDX is an explicit
//! TDVMCALL. Only bus 0 is scanned: QEMU's q35 machine puts the virtio devices
//! this image uses on the root bus.

use alloc::vec::Vec;

use virtio_drivers::transport::pci::bus::{
    Command, ConfigurationAccess, DeviceFunction, PciRoot,
};
use virtio_drivers::transport::pci::virtio_device_type;
use virtio_drivers::transport::DeviceType;

use crate::platform;

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;

/// Configuration mechanism #1 over I/O ports.
pub struct PortCam;

fn address(df: DeviceFunction, offset: u8) -> u32 {
    0x8000_0000
        | (u32::from(df.bus) << 16)
        | (u32::from(df.device) << 11)
        | (u32::from(df.function) << 8)
        | u32::from(offset & 0xfc)
}

impl ConfigurationAccess for PortCam {
    fn read_word(&self, df: DeviceFunction, offset: u8) -> u32 {
        let p = platform::get();
        p.io_write32(CONFIG_ADDRESS, address(df, offset));
        p.io_read32(CONFIG_DATA)
    }

    fn write_word(&mut self, df: DeviceFunction, offset: u8, data: u32) {
        let p = platform::get();
        p.io_write32(CONFIG_ADDRESS, address(df, offset));
        p.io_write32(CONFIG_DATA, data);
    }

    unsafe fn unsafe_clone(&self) -> Self {
        PortCam
    }
}

/// A virtio device found on the bus.
pub struct VirtioFunction {
    pub function: DeviceFunction,
    pub device_type: DeviceType,
}

/// Scans bus 0 for virtio devices and enables memory decoding and bus
/// mastering on each.
pub fn scan_virtio(root: &mut PciRoot<PortCam>) -> Vec<VirtioFunction> {
    let found: Vec<VirtioFunction> = root
        .enumerate_bus(0)
        .filter_map(|(function, info)| {
            virtio_device_type(&info).map(|device_type| VirtioFunction { function, device_type })
        })
        .collect();
    for f in &found {
        let (_, command) = root.get_status_command(f.function);
        root.set_command(f.function, command | Command::MEMORY_SPACE | Command::BUS_MASTER);
    }
    found
}
