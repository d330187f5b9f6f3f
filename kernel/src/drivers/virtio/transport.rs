//! A virtio 1.x PCI transport whose register accesses go through the
//! platform instead of plain pointers.
//!
//! `virtio-drivers`' own PCI transport dereferences BAR memory directly. In a
//! TD that would raise a #VE per access and force the kernel to decode MMIO
//! instructions; here every access is an explicit platform MMIO call (a
//! TDVMCALL under TDX, a volatile access when emulated), so the #VE handler
//! stays small. Capability parsing follows the virtio 1.2 spec, §4.1.4
//! ("Virtio Structure PCI Capabilities"); all values read from the device are
//! bounds-checked against its BARs before use.
//!
//! Beyond register access the transport enforces what a TD needs:
//! - VIRTIO_F_ACCESS_PLATFORM is accepted when offered
//!   ([`tdsigner_kernel::virtio_features`]), and the status is read back after
//!   FEATURES_OK and DRIVER_OK: a refusal halts with one line naming the device;
//! - every queue address must be a device address of the DMA pool (plain
//!   GPA, no shared bit, never the CPU alias);
//! - `virtio-drivers` spins without limit in its blocking calls (block
//!   requests, net send), and skips notifying the device when the used ring
//!   asks it to (a flag a host can set). The kernel uses its non-blocking calls
//!   for reads, writes and transmits and waits itself, under
//!   [`wait_for_device`]; in addition, after notifying a synchronous queue the
//!   transport waits for the device under the same deadline
//!   ([`DEVICE_DEADLINE_MS`]), halting early when the device asks for a reset.
//!   Either ends in one fatal line naming the device.

use core::fmt;
use core::mem::{align_of, size_of};

use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction, PciRoot};

use crate::drivers::pci::PortCam;
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use tdsigner_kernel::virtio_features::{driver_features, Describe};

use crate::arch::paging;
use crate::platform::{self, clock};

/// How long a device may take to complete a synchronous request before the
/// kernel halts naming it.
pub const DEVICE_DEADLINE_MS: u64 = 30_000;
/// Waits until `done` says the device completed the request, or halts at
/// [`DEVICE_DEADLINE_MS`] with one line naming the device and the request.
pub fn wait_for_device(device: &str, what: &str, mut done: impl FnMut() -> bool) {
    let start = clock::now_ms();
    while !done() {
        if clock::now_ms().saturating_sub(start) > DEVICE_DEADLINE_MS {
            crate::platform::fatal::fatal(format_args!("{device}: {what} not completed within {DEVICE_DEADLINE_MS} ms"));
        }
        core::hint::spin_loop();
    }
}

/// Queues per device this transport tracks (blk: 1, net: 2).
const MAX_QUEUES: usize = 2;

const PCI_CAP_ID_VENDOR: u8 = 0x09;
const CAP_COMMON_CFG: u8 = 1;
const CAP_NOTIFY_CFG: u8 = 2;
const CAP_ISR_CFG: u8 = 3;
const CAP_DEVICE_CFG: u8 = 4;
// Offsets within `struct virtio_pci_cap`.
const CAP_BAR: u8 = 4;
const CAP_OFFSET: u8 = 8;
const CAP_LENGTH: u8 = 12;
const CAP_NOTIFY_MULTIPLIER: u8 = 16;

// Offsets within `struct virtio_pci_common_cfg` (§4.1.4.3).
const DEVICE_FEATURE_SELECT: u64 = 0x00;
const DEVICE_FEATURE: u64 = 0x04;
const DRIVER_FEATURE_SELECT: u64 = 0x08;
const DRIVER_FEATURE: u64 = 0x0c;
const DEVICE_STATUS: u64 = 0x14;
const CONFIG_GENERATION: u64 = 0x15;
const QUEUE_SELECT: u64 = 0x16;
const QUEUE_SIZE: u64 = 0x18;
const QUEUE_ENABLE: u64 = 0x1c;
const QUEUE_NOTIFY_OFF: u64 = 0x1e;
const QUEUE_DESC: u64 = 0x20;
const QUEUE_DRIVER: u64 = 0x28;
const QUEUE_DEVICE: u64 = 0x30;
const COMMON_CFG_LEN: u32 = 0x38;

/// Why a device could not be driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// A required capability is absent.
    MissingCapability(u8),
    /// A capability names a BAR that is absent, I/O, or unassigned.
    BadBar(u8),
    /// A structure does not fit inside its BAR, or is misaligned.
    OutOfBar(u8),
    /// The notify multiplier is odd (the spec requires an even value).
    BadNotifyMultiplier(u32),
    /// Mapping the BAR failed.
    Map,
}

/// A structure inside a BAR: its guest-physical address and length.
#[derive(Clone, Copy, Debug)]
struct Region {
    gpa: u64,
    len: u64,
}

impl Region {
    fn read(&self, offset: u64, width: u8) -> u64 {
        debug_assert!(offset + u64::from(width) <= self.len);
        // SAFETY: `gpa` lies in a memory BAR of a device this kernel owns,
        // mapped by `paging`, and the offset/width stay inside the structure
        // (checked at construction and by callers).
        unsafe { platform::get().mmio_read(self.gpa + offset, width) }
    }

    fn write(&self, offset: u64, width: u8, value: u64) {
        debug_assert!(offset + u64::from(width) <= self.len);
        // SAFETY: as in `read`.
        unsafe { platform::get().mmio_write(self.gpa + offset, width, value) }
    }
}

/// The transport for one virtio PCI function.
pub struct PlatformPciTransport {
    device_type: DeviceType,
    common: Region,
    notify: Region,
    notify_multiplier: u32,
    isr: Region,
    device_cfg: Option<Region>,
    /// "virtio-blk" / "virtio-net", for log and fatal lines.
    name: &'static str,
    /// Features the device offered, once read.
    offered: u64,
    /// Features this driver wrote.
    accepted: u64,
    /// CPU addresses of each tracked queue's avail.idx and used.idx.
    rings: [Option<(u64, u64)>; MAX_QUEUES],
}

/// The queue whose requests `virtio-drivers` waits for without a bound.
fn synchronous_queue(device_type: DeviceType) -> Option<u16> {
    match device_type {
        DeviceType::Block => Some(0),
        DeviceType::Network => Some(1), // transmitq
        _ => None,
    }
}

fn device_name(device_type: DeviceType) -> &'static str {
    match device_type {
        DeviceType::Block => "virtio-blk",
        DeviceType::Network => "virtio-net",
        _ => "virtio",
    }
}

struct CapInfo {
    bar: u8,
    offset: u32,
    length: u32,
}

fn region(
    root: &mut PciRoot<PortCam>,
    df: DeviceFunction,
    cap: &CapInfo,
    cfg_type: u8,
    min_len: u32,
    align: u64,
) -> Result<Region, TransportError> {
    let bar = root
        .bar_info(df, cap.bar)
        .ok()
        .flatten()
        .ok_or(TransportError::BadBar(cap.bar))?;
    let (address, size) = bar.memory_address_size().ok_or(TransportError::BadBar(cap.bar))?;
    if address == 0 {
        return Err(TransportError::BadBar(cap.bar));
    }
    let end = u64::from(cap.offset) + u64::from(cap.length);
    if end > size || cap.length < min_len {
        return Err(TransportError::OutOfBar(cfg_type));
    }
    let gpa = address.checked_add(u64::from(cap.offset)).ok_or(TransportError::OutOfBar(cfg_type))?;
    if gpa % align != 0 {
        return Err(TransportError::OutOfBar(cfg_type));
    }
    // Under TDX, MMIO is a TDVMCALL naming the GPA: nothing to map.
    if address >= 4 << 30 && platform::get().kind() == tdsigner_node::health::PlatformKind::Emulated {
        paging::map_mmio(address, size).map_err(|_| TransportError::Map)?;
    }
    Ok(Region { gpa, len: u64::from(cap.length) })
}

impl PlatformPciTransport {
    /// Parses the function's virtio capabilities.
    pub fn new(
        root: &mut PciRoot<PortCam>,
        df: DeviceFunction,
        device_type: DeviceType,
    ) -> Result<Self, TransportError> {
        let mut caps: [Option<CapInfo>; 5] = [None, None, None, None, None];
        let mut notify_multiplier = 0;
        let found: alloc::vec::Vec<_> = root.capabilities(df).collect();
        for cap in found {
            if cap.id != PCI_CAP_ID_VENDOR {
                continue;
            }
            let cap_len = cap.private_header as u8;
            let cfg_type = (cap.private_header >> 8) as u8;
            if cap_len < 16 || !(CAP_COMMON_CFG..=CAP_DEVICE_CFG).contains(&cfg_type) {
                continue;
            }
            if caps[cfg_type as usize].is_some() {
                continue; // the spec says use the first of each type
            }
            // PortCam is stateless, so a second handle reads the capability body.
            let read = |_: &PciRoot<PortCam>, off: u8| PortCam.read_word(df, cap.offset.wrapping_add(off));
            let info = CapInfo {
                bar: read(root, CAP_BAR) as u8,
                offset: read(root, CAP_OFFSET),
                length: read(root, CAP_LENGTH),
            };
            if cfg_type == CAP_NOTIFY_CFG {
                if cap_len < 20 {
                    continue;
                }
                notify_multiplier = read(root, CAP_NOTIFY_MULTIPLIER);
            }
            caps[cfg_type as usize] = Some(info);
        }
        let take = |t: u8, caps: &mut [Option<CapInfo>; 5]| caps[t as usize].take().ok_or(TransportError::MissingCapability(t));
        let common_cap = take(CAP_COMMON_CFG, &mut caps)?;
        let notify_cap = take(CAP_NOTIFY_CFG, &mut caps)?;
        let isr_cap = take(CAP_ISR_CFG, &mut caps)?;
        if notify_multiplier % 2 != 0 {
            return Err(TransportError::BadNotifyMultiplier(notify_multiplier));
        }
        let common = region(root, df, &common_cap, CAP_COMMON_CFG, COMMON_CFG_LEN, 4)?;
        let notify = region(root, df, &notify_cap, CAP_NOTIFY_CFG, 2, 2)?;
        let isr = region(root, df, &isr_cap, CAP_ISR_CFG, 1, 1)?;
        let device_cfg = match caps[CAP_DEVICE_CFG as usize].take() {
            Some(cap) => Some(region(root, df, &cap, CAP_DEVICE_CFG, 1, 4)?),
            None => None,
        };
        Ok(PlatformPciTransport {
            device_type,
            common,
            notify,
            notify_multiplier,
            isr,
            device_cfg,
            name: device_name(device_type),
            offered: 0,
            accepted: 0,
            rings: [None; MAX_QUEUES],
        })
    }

    fn select_queue(&mut self, queue: u16) {
        self.common.write(QUEUE_SELECT, 2, u64::from(queue));
    }

    /// Halts with one line naming this device.
    fn fail(&self, what: fmt::Arguments) -> ! {
        let status = self.common.read(DEVICE_STATUS, 1);
        crate::platform::fatal::fatal(format_args!("{}: {what} (device status {status:#x})", self.name))
    }

    /// Reads the status back after setting `wanted` bits; a device that
    /// refused them (or asks for a reset) halts the kernel.
    fn check_status(&self, wanted: DeviceStatus) {
        let status = self.get_status();
        if status.contains(DeviceStatus::DEVICE_NEEDS_RESET) || status.contains(DeviceStatus::FAILED) {
            self.fail(format_args!("device failed after status {:#x}", wanted.bits()));
        }
        if !status.contains(wanted) {
            self.fail(format_args!(
                "device refused status {:#x}; features offered {}, accepted {}",
                wanted.bits(),
                Describe(self.offered),
                Describe(self.accepted)
            ));
        }
    }

    /// Waits until the device has consumed every request made available on
    /// `queue` (used.idx reaches avail.idx), or halts at the deadline.
    fn wait_for_device(&self, queue: u16) {
        let Some(Some((avail_idx, used_idx))) = self.rings.get(usize::from(queue)) else { return };
        let start = clock::now_ms();
        for spins in 0u64.. {
            // SAFETY: both are u16 fields of rings this device's queue owns,
            // inside the pool, mapped at their CPU alias for the kernel's life.
            let (avail, used) =
                unsafe { (core::ptr::read_volatile(*avail_idx as *const u16), core::ptr::read_volatile(*used_idx as *const u16)) };
            if avail == used {
                return;
            }
            // A device that could not use the request (QEMU: "Cannot map
            // desc") sets DEVICE_NEEDS_RESET and never answers: stop at once.
            if spins % 4096 == 4095 && self.get_status().contains(DeviceStatus::DEVICE_NEEDS_RESET) {
                self.fail(format_args!("queue {queue}: the device needs a reset (avail {avail}, used {used})"));
            }
            if clock::now_ms().saturating_sub(start) > DEVICE_DEADLINE_MS {
                self.fail(format_args!(
                    "queue {queue} made no progress for {DEVICE_DEADLINE_MS} ms (avail {avail}, used {used})"
                ));
            }
            core::hint::spin_loop();
        }
    }
}

impl Transport for PlatformPciTransport {
    fn device_type(&self) -> DeviceType {
        self.device_type
    }

    fn read_device_features(&mut self) -> u64 {
        self.common.write(DEVICE_FEATURE_SELECT, 4, 0);
        let low = self.common.read(DEVICE_FEATURE, 4);
        self.common.write(DEVICE_FEATURE_SELECT, 4, 1);
        let high = self.common.read(DEVICE_FEATURE, 4);
        self.offered = (high << 32) | low;
        self.offered
    }

    fn write_driver_features(&mut self, chosen: u64) {
        let features = driver_features(self.offered, chosen);
        self.accepted = features;
        self.common.write(DRIVER_FEATURE_SELECT, 4, 0);
        self.common.write(DRIVER_FEATURE, 4, features & 0xffff_ffff);
        self.common.write(DRIVER_FEATURE_SELECT, 4, 1);
        self.common.write(DRIVER_FEATURE, 4, features >> 32);
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.select_queue(queue);
        self.common.read(QUEUE_SIZE, 2) as u32
    }

    fn notify(&mut self, queue: u16) {
        self.select_queue(queue);
        let notify_off = self.common.read(QUEUE_NOTIFY_OFF, 2);
        let offset = notify_off * u64::from(self.notify_multiplier);
        if offset + 2 <= self.notify.len {
            self.notify.write(offset, 2, u64::from(queue));
            if synchronous_queue(self.device_type) == Some(queue) {
                self.wait_for_device(queue);
            }
        } else {
            crate::platform::fatal::fatal(format_args!("virtio notify offset {offset:#x} outside its region"));
        }
    }

    fn get_status(&self) -> DeviceStatus {
        DeviceStatus::from_bits_truncate(self.common.read(DEVICE_STATUS, 1) as u32)
    }

    fn set_status(&mut self, status: DeviceStatus) {
        self.common.write(DEVICE_STATUS, 1, u64::from(status.bits() as u8));
        if status.contains(DeviceStatus::DRIVER_OK) {
            self.check_status(status);
        } else if status.contains(DeviceStatus::FEATURES_OK) {
            self.check_status(status);
            kprintln!("{}: features offered {}, accepted {}", self.name, Describe(self.offered), Describe(self.accepted));
        }
    }

    fn set_guest_page_size(&mut self, _guest_page_size: u32) {}

    fn requires_legacy_layout(&self) -> bool {
        false
    }

    fn queue_set(&mut self, queue: u16, size: u32, descriptors: PhysAddr, driver_area: PhysAddr, device_area: PhysAddr) {
        let Some(window) = crate::drivers::virtio::hal::window() else { self.fail(format_args!("queue set up before the DMA pool")) };
        let mut cpu = [0u64; 3];
        for (slot, addr) in cpu.iter_mut().zip([descriptors, driver_area, device_area]) {
            match window.device_offset(addr, 4) {
                Some(offset) => *slot = window.cpu_addr(offset),
                None => self.fail(format_args!("queue {queue} address {addr:#x} is not a device address of the DMA pool")),
            }
        }
        if let Some(ring) = self.rings.get_mut(usize::from(queue)) {
            // avail.idx and used.idx follow their 16-bit flags (§2.7.6, §2.7.8).
            *ring = Some((cpu[1] + 2, cpu[2] + 2));
        }
        kprintln!("{}: queue {queue}: rings at device address {descriptors:#x}, CPU alias {:#x}", self.name, cpu[0]);
        self.select_queue(queue);
        self.common.write(QUEUE_SIZE, 2, u64::from(size));
        for (offset, value) in [(QUEUE_DESC, descriptors), (QUEUE_DRIVER, driver_area), (QUEUE_DEVICE, device_area)] {
            // 64-bit fields are written as two 32-bit halves, low first (§4.1.3.1).
            self.common.write(offset, 4, value & 0xffff_ffff);
            self.common.write(offset + 4, 4, value >> 32);
        }
        self.common.write(QUEUE_ENABLE, 2, 1);
    }

    fn queue_unset(&mut self, _queue: u16) {
        // A PCI queue cannot be disabled once enabled; a device reset does it.
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.select_queue(queue);
        self.common.read(QUEUE_ENABLE, 2) == 1
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        InterruptStatus::from_bits_truncate(self.isr.read(0, 1) as u32)
    }

    fn read_config_generation(&self) -> u32 {
        self.common.read(CONFIG_GENERATION, 1) as u32
    }

    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, Error> {
        let cfg = self.device_cfg.ok_or(Error::ConfigSpaceMissing)?;
        let size = size_of::<T>();
        if offset.checked_add(size).is_none_or(|end| end as u64 > cfg.len) {
            return Err(Error::ConfigSpaceTooSmall);
        }
        // Access width follows the field's alignment, as §4.1.3.1 requires.
        let width = align_of::<T>().clamp(1, 4);
        if offset % width != 0 {
            return Err(Error::InvalidParam);
        }
        let mut value = T::new_zeroed();
        let bytes = value.as_mut_bytes();
        let mut at = 0;
        while at < size {
            let w = width.min(size - at);
            let v = cfg.read((offset + at) as u64, w as u8);
            bytes[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
            at += w;
        }
        Ok(value)
    }

    fn write_config_space<T: IntoBytes + Immutable>(&mut self, offset: usize, value: T) -> Result<(), Error> {
        let cfg = self.device_cfg.ok_or(Error::ConfigSpaceMissing)?;
        let size = size_of::<T>();
        if offset.checked_add(size).is_none_or(|end| end as u64 > cfg.len) {
            return Err(Error::ConfigSpaceTooSmall);
        }
        let width = align_of::<T>().clamp(1, 4);
        if offset % width != 0 {
            return Err(Error::InvalidParam);
        }
        let bytes = value.as_bytes();
        let mut at = 0;
        while at < size {
            let w = width.min(size - at);
            let mut le = [0u8; 8];
            le[..w].copy_from_slice(&bytes[at..at + w]);
            cfg.write((offset + at) as u64, w as u8, u64::from_le_bytes(le));
            at += w;
        }
        Ok(())
    }
}
