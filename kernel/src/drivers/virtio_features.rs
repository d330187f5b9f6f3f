//! virtio feature negotiation on top of what `virtio-drivers` asks for.
//!
//! `virtio-drivers` negotiates only the bits its device types know, and none
//! of them includes VIRTIO_F_ACCESS_PLATFORM (bit 33). A confidential guest
//! must accept it: QEMU forces `iommu_platform=on` on every virtio device of
//! a TD, and refuses FEATURES_OK from a VERSION_1 driver that does not
//! accept it. Accepting it is right here because every buffer the device sees
//! is already a bounce buffer in the shared pool, at its plain GPA.

use core::fmt;

/// VIRTIO_F_VERSION_1 (virtio 1.2 §6).
pub const VERSION_1: u64 = 1 << 32;
/// VIRTIO_F_ACCESS_PLATFORM (virtio 1.2 §6).
pub const ACCESS_PLATFORM: u64 = 1 << 33;

/// The features the driver writes: what `virtio-drivers` chose (never more
/// than the device offered), plus ACCESS_PLATFORM when offered.
pub fn driver_features(offered: u64, chosen: u64) -> u64 {
    (chosen & offered) | (offered & ACCESS_PLATFORM)
}

/// `0x…` and the names of the transport bits that matter here.
pub struct Describe(pub u64);

impl fmt::Display for Describe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x} (", self.0)?;
        let mut first = true;
        for (bit, name) in [(VERSION_1, "VERSION_1"), (ACCESS_PLATFORM, "ACCESS_PLATFORM")] {
            if self.0 & bit != 0 {
                write!(f, "{}{name}", if first { "" } else { ", " })?;
                first = false;
            }
        }
        if first {
            write!(f, "legacy, no ACCESS_PLATFORM")?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_platform_is_accepted_when_offered() {
        // QEMU virtio-blk with iommu_platform=on, disable-legacy=on offers
        // VERSION_1 | ACCESS_PLATFORM besides its device bits.
        let offered = VERSION_1 | ACCESS_PLATFORM | (1 << 9) | (1 << 28);
        let chosen = VERSION_1 | (1 << 9) | (1 << 5);
        assert_eq!(driver_features(offered, chosen), VERSION_1 | ACCESS_PLATFORM | (1 << 9));
    }

    #[test]
    fn nothing_the_device_did_not_offer() {
        assert_eq!(driver_features(VERSION_1, VERSION_1 | ACCESS_PLATFORM), VERSION_1);
        assert_eq!(driver_features(0, u64::MAX), 0);
    }

    #[test]
    fn describes_the_bits() {
        assert_eq!(alloc::format!("{}", Describe(VERSION_1 | ACCESS_PLATFORM | 1)), "0x300000001 (VERSION_1, ACCESS_PLATFORM)");
        assert_eq!(alloc::format!("{}", Describe(VERSION_1)), "0x100000000 (VERSION_1)");
        assert_eq!(alloc::format!("{}", Describe(0)), "0x0 (legacy, no ACCESS_PLATFORM)");
    }
}
