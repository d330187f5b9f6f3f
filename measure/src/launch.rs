//! Expected MRTD and RTMR0-2 of a tdsigner launch, computed from the build output and a stated
//! launch configuration (`tdsigner measure image`, image-build's manifest).
//!
//! The launch is QEMU with TDX (`-object tdx-guest`, q35), TDVF as `-bios`, and the tdsigner
//! UEFI PE as `-kernel` with `-append CMDLINE`, no `-initrd`, no `-shim`.
//!
//! * MRTD: [`crate::tdvf::Tdvf::mrtd`] with the page-add order of the host's QEMU.
//! * RTMR0: [`crate::firmware::rtmr0_events`] — TD HOB (from memory size and the TDVF
//!   sections), CFV (from the firmware), secure-boot variables, separator, ACPI (host input),
//!   BootOrder, Boot0000; edk2 ≥ stable202505 adds four events
//!   ([`crate::firmware::FirmwareVariant`]). [`LaunchConfig::firmware_variant`] `None` picks the
//!   variant of a known firmware build (by SHA-256), else assumes pre-202505, and the result
//!   says which it assumed and why.
//! * RTMR1: [`crate::firmware::rtmr1_events`] — the PE exactly as QEMU hands it to TDVF. QEMU
//!   rewrites a Linux setup header ("HdrS" at 0x202) before serving the kernel on QEMU ≤ 10.1;
//!   this module refuses images with that signature (and images QEMU would boot as multiboot)
//!   instead of modelling that rewrite. A file without "HdrS" (protocol 0) is served unchanged
//!   since QEMU commit "x86/loader: only patch linux kernels" (April 2024, QEMU 9.0/9.1, also
//!   backported by some distributions). Older QEMU (e.g. 8.2) patches even such a file:
//!   bytes 0x20-0x21 = 0xA33F and 0x22-0x23 = 0xA000 - ((len(cmdline) + 16) & !15) (little
//!   endian), plus the `vga=` mode at 0x1FA; [`LaunchConfig::legacy_header_patch`] selects that
//!   ([`qemu_served_image`]). Under such a QEMU, RTMR1 depends on the command line's length.
//! * RTMR2: the image's one fixed launch event ([`crate::cmdline::rtmr2_event`]), the same for
//!   every command line (measurement scheme 1: the configuration goes to RTMR3). The `-append`
//!   string still reaches RTMR1 under [`LaunchConfig::legacy_header_patch`].
//!
//! Inputs that have to come from the host and cannot be derived from the build: the ACPI blobs
//! (or their digests), the QEMU version's page-add order, and whether the image calls
//! ExitBootServices. vCPUs only reach the measurements through the ACPI tables; when the raw
//! tables are given, their MADT is checked against the stated vCPU count.

use std::fmt;

use crate::acpi::{AcpiError, AcpiInput};
use crate::cmdline::rtmr2_event;
use crate::firmware::{known_firmware_variant, rtmr0_events, rtmr1_events, ExpectedEvent, FirmwareVariant};
use crate::hex;
use crate::pe::{authenticode_sha384, PeError};
use crate::rtmr::{fold, sha384, Sha384Digest};
use crate::tdvf::{PageAddOrder, Tdvf, TdvfError};

/// A launch configuration.
#[derive(Clone, Debug)]
pub struct LaunchConfig<'a> {
    pub firmware: &'a [u8],
    pub image: &'a [u8],
    /// The QEMU `-append` string.
    pub cmdline: &'a [u8],
    pub cpus: u32,
    /// Guest RAM in bytes.
    pub memory: u64,
    pub acpi: AcpiInput,
    pub page_add_order: PageAddOrder,
    /// Whether the image calls ExitBootServices (adds two RTMR1 events).
    pub exit_boot_services: bool,
    /// The host's QEMU predates "x86/loader: only patch linux kernels" and patches the DOS
    /// header of a non-Linux image (see the module docs).
    pub legacy_header_patch: bool,
    /// The edk2 generation's RTMR0 sequence; `None` = by the firmware's SHA-256 if known, else
    /// pre-202505 (stated in the result).
    pub firmware_variant: Option<FirmwareVariant>,
}

/// Why a launch could not be measured.
#[derive(Debug)]
pub enum LaunchError {
    Firmware(TdvfError),
    Image(PeError),
    Acpi(AcpiError),
    /// The image carries a Linux setup header, whose QEMU rewrite this calculator does not model.
    LinuxSetupHeader,
    /// QEMU would load the image as a multiboot kernel, not through TDVF.
    Multiboot,
    /// QEMU would refuse the image (setup size from byte 0x1f1 larger than the file).
    SetupLargerThanImage,
    /// The stated vCPU count differs from the MADT of the supplied ACPI tables.
    CpuCountMismatch { stated: u32, madt: usize },
    /// The cmdline contains a NUL byte (QEMU takes C strings).
    CmdlineNul,
    /// QEMU would reject the `vga=` value in the command line.
    BadVgaMode,
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LaunchError::Firmware(e) => write!(f, "firmware: {e}"),
            LaunchError::Image(e) => write!(f, "image: {e}"),
            LaunchError::Acpi(e) => write!(f, "ACPI: {e}"),
            LaunchError::LinuxSetupHeader => write!(
                f,
                "image has a Linux setup header (HdrS); QEMU's header rewrite is not modelled here"
            ),
            LaunchError::Multiboot => write!(f, "image carries a multiboot header; QEMU would not boot it via TDVF"),
            LaunchError::SetupLargerThanImage => write!(f, "QEMU would reject the image: setup size exceeds file size"),
            LaunchError::CpuCountMismatch { stated, madt } => {
                write!(f, "--cpus {stated} but the ACPI MADT lists {madt} enabled processors")
            }
            LaunchError::CmdlineNul => write!(f, "command line contains a NUL byte"),
            LaunchError::BadVgaMode => write!(f, "QEMU rejects the vga= value of this command line"),
        }
    }
}

impl std::error::Error for LaunchError {}

/// Checks QEMU's x86 direct-boot handling of `image` (hw/i386/x86-common.c, x86_load_linux):
/// the file must not look like a Linux bzImage or a multiboot kernel, and the setup size QEMU
/// derives from byte 0x1f1 must fit the file.
pub fn check_qemu_direct_boot(image: &[u8]) -> Result<(), LaunchError> {
    if image.get(0x202..0x206) == Some(b"HdrS") {
        return Err(LaunchError::LinuxSetupHeader);
    }
    // Multiboot: magic 0x1BADB002 at a 4-byte aligned offset in the first 8 KiB with
    // magic + flags + checksum == 0 (mod 2^32).
    let scan_end = image.len().min(8192).saturating_sub(48);
    let mut at = 0;
    while at < scan_end {
        let word = |o: usize| image.get(at + o..at + o + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
        if let (Some(magic), Some(flags), Some(sum)) = (word(0), word(4), word(8)) {
            if magic == 0x1BAD_B002 && magic.wrapping_add(flags).wrapping_add(sum) == 0 {
                return Err(LaunchError::Multiboot);
            }
        }
        at += 4;
    }
    let setup_sects = image.get(0x1f1).copied().unwrap_or(0);
    let setup_sects = if setup_sects == 0 { 4 } else { usize::from(setup_sects) };
    if (setup_sects + 1) * 512 > image.len() {
        return Err(LaunchError::SetupLargerThanImage);
    }
    Ok(())
}

/// QEMU's `vga=` handling (x86_load_linux): `normal`, `ext`, `ask`, or an unsigned number in C
/// notation (decimal, 0x hex, 0 octal) ending at a space or the end.
fn vga_mode(cmdline: &[u8]) -> Result<Option<u16>, LaunchError> {
    let Some(at) = cmdline.windows(4).position(|w| w == b"vga=") else {
        return Ok(None);
    };
    let value = cmdline.get(at + 4..).unwrap_or(&[]);
    for (word, mode) in [(&b"normal"[..], 0xffffu16), (b"ext", 0xfffe), (b"ask", 0xfffd)] {
        if value.starts_with(word) {
            return Ok(Some(mode));
        }
    }
    let end = value.iter().position(|&b| b == b' ').unwrap_or(value.len());
    let text = std::str::from_utf8(value.get(..end).unwrap_or(&[])).map_err(|_| LaunchError::BadVgaMode)?;
    let parsed = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16)
    } else if text.len() > 1 && text.starts_with('0') {
        u32::from_str_radix(text.get(1..).unwrap_or(""), 8)
    } else {
        text.parse::<u32>()
    };
    // QEMU stores the value with stw (16 bits).
    parsed.map(|v| Some(v as u16)).map_err(|_| LaunchError::BadVgaMode)
}

/// The bytes QEMU serves TDVF for `-kernel image -append cmdline`: the file itself, or with
/// `legacy_header_patch` the pre-April-2024 rewrite of a non-Linux image's header fields.
pub fn qemu_served_image(image: &[u8], cmdline: &[u8], legacy_header_patch: bool) -> Result<Vec<u8>, LaunchError> {
    check_qemu_direct_boot(image)?;
    let mut served = image.to_vec();
    if legacy_header_patch {
        let cmdline_size = (cmdline.len() + 16) & !15;
        let offset = 0xa000usize.checked_sub(cmdline_size).ok_or(LaunchError::CmdlineNul)?;
        // check_qemu_direct_boot guaranteed at least 2560 bytes.
        let [m0, m1] = 0xA33Fu16.to_le_bytes();
        let [o0, o1] = (offset as u16).to_le_bytes();
        if let Some(b) = served.get_mut(0x20..0x24) {
            b.copy_from_slice(&[m0, m1, o0, o1]);
        }
        if let Some(mode) = vga_mode(cmdline)? {
            if let Some(b) = served.get_mut(0x1fa..0x1fc) {
                b.copy_from_slice(&mode.to_le_bytes());
            }
        }
    }
    Ok(served)
}

/// Expected launch measurements with their event digests.
#[derive(Clone, Debug)]
pub struct LaunchMeasurements {
    pub mrtd: Sha384Digest,
    pub rtmr0: Sha384Digest,
    pub rtmr1: Sha384Digest,
    pub rtmr2: Sha384Digest,
    pub events: Vec<ExpectedEvent>,
    /// Whether the vCPU count could be checked against ACPI tables.
    pub cpus_checked: bool,
    /// The RTMR0 event sequence assumed, and why.
    pub firmware_variant: FirmwareVariant,
    pub firmware_variant_source: String,
}

impl LaunchMeasurements {
    /// `{mrtd, rtmr0, rtmr1, rtmr2}` plus the event list and provenance notes.
    pub fn to_json(&self, config: &LaunchConfig<'_>) -> serde_json::Value {
        let events: Vec<serde_json::Value> = self
            .events
            .iter()
            .map(|e| {
                serde_json::json!({
                    "imr": e.imr,
                    "event_type": e.event_type,
                    "digest": hex::encode(&e.digest),
                    "what": e.what,
                })
            })
            .collect();
        serde_json::json!({
            "mrtd": hex::encode(&self.mrtd),
            "rtmr0": hex::encode(&self.rtmr0),
            "rtmr1": hex::encode(&self.rtmr1),
            "rtmr2": hex::encode(&self.rtmr2),
            "launch": {
                "cpus": config.cpus,
                "cpus_checked_against_acpi": self.cpus_checked,
                "memory": config.memory,
                "cmdline": String::from_utf8_lossy(config.cmdline),
                "page_add_order": match config.page_add_order {
                    PageAddOrder::SinglePass => "single-pass",
                    PageAddOrder::TwoPass => "two-pass",
                },
                "exit_boot_services": config.exit_boot_services,
                "legacy_header_patch": config.legacy_header_patch,
                "firmware_variant": self.firmware_variant.name(),
                "firmware_variant_source": self.firmware_variant_source,
                "firmware_sha384": hex::encode(&sha384(config.firmware)),
                "image_sha384": hex::encode(&sha384(config.image)),
            },
            "events": events,
        })
    }
}

/// Computes MRTD and RTMR0-2 for `config`.
pub fn measure_launch(config: &LaunchConfig<'_>) -> Result<LaunchMeasurements, LaunchError> {
    if config.cmdline.contains(&0) {
        return Err(LaunchError::CmdlineNul);
    }
    let tdvf = Tdvf::parse(config.firmware).map_err(LaunchError::Firmware)?;
    let mrtd = tdvf.mrtd(config.page_add_order);
    let td_hob = tdvf.td_hob(config.memory).map_err(LaunchError::Firmware)?;
    let cfv = tdvf.cfv_digest().map_err(LaunchError::Firmware)?;

    let madt = config.acpi.madt_cpu_count().map_err(LaunchError::Acpi)?;
    if let Some(count) = madt {
        if usize::try_from(config.cpus).ok() != Some(count) {
            return Err(LaunchError::CpuCountMismatch { stated: config.cpus, madt: count });
        }
    }
    let acpi = config.acpi.measurements().map_err(LaunchError::Acpi)?;

    let served = qemu_served_image(config.image, config.cmdline, config.legacy_header_patch)?;
    let (image_digest, _info) = authenticode_sha384(&served).map_err(LaunchError::Image)?;

    let (variant, variant_source) = resolve_firmware_variant(config);
    let rtmr0_list = rtmr0_events(sha384(&td_hob), cfv, &acpi, variant);
    let rtmr1_list = rtmr1_events(image_digest, config.exit_boot_services);
    let fixed = rtmr2_event();
    let rtmr2_list = vec![ExpectedEvent {
        imr: 2,
        event_type: fixed.event_type,
        digest: fixed.digest,
        what: format!("{}: fixed launch event, extended by the image (no per-node value)", fixed.event),
    }];
    let rtmr0 = fold(rtmr0_list.iter().map(|e| &e.digest));
    let rtmr1 = fold(rtmr1_list.iter().map(|e| &e.digest));
    let rtmr2 = fold(rtmr2_list.iter().map(|e| &e.digest));
    let mut events = rtmr0_list;
    events.extend(rtmr1_list);
    events.extend(rtmr2_list);
    Ok(LaunchMeasurements {
        mrtd,
        rtmr0,
        rtmr1,
        rtmr2,
        events,
        cpus_checked: madt.is_some(),
        firmware_variant: variant,
        firmware_variant_source: variant_source,
    })
}

/// The firmware variant to model and a sentence saying where it came from.
fn resolve_firmware_variant(config: &LaunchConfig<'_>) -> (FirmwareVariant, String) {
    match (config.firmware_variant, known_firmware_variant(config.firmware)) {
        (Some(v), _) => (v, "stated (--firmware-variant)".into()),
        (None, Some((v, what))) => (v, format!("known firmware build (SHA-256): {what}")),
        (None, None) => (
            FirmwareVariant::Pre202505,
            "ASSUMED: firmware not recognised; pre202505 is the default, pass --firmware-variant stable202505 \
             for edk2-stable202505 or later"
                .into(),
        ),
    }
}

/// Parses a memory size: bytes, or a number with suffix K, M, G, T (binary units), e.g. `2G`.
pub fn parse_memory_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let suffixes = [('K', 10u32), ('M', 20), ('G', 30), ('T', 40)];
    let (digits, shift) = suffixes
        .iter()
        .find_map(|&(c, shift)| {
            text.strip_suffix(c).or_else(|| text.strip_suffix(c.to_ascii_lowercase())).map(|d| (d, shift))
        })
        .unwrap_or((text, 0));
    let value: u64 = digits.parse().ok()?;
    value.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory_size("2G"), Some(2 << 30));
        assert_eq!(parse_memory_size("512M"), Some(512 << 20));
        assert_eq!(parse_memory_size("4096"), Some(4096));
        assert_eq!(parse_memory_size("x"), None);
        assert_eq!(parse_memory_size("99999999999T"), None);
    }

    #[test]
    fn legacy_header_patch_bytes() {
        let img = vec![0u8; 4096];
        assert_eq!(qemu_served_image(&img, b"x", false).ok(), Some(img.clone()));
        let patched = qemu_served_image(&img, b"console=ttyS0", true).unwrap_or_default();
        // cmdline_size = (13 + 16) & !15 = 16; offset = 0xa000 - 16 = 0x9ff0.
        assert_eq!(&patched[0x20..0x24], &[0x3f, 0xa3, 0xf0, 0x9f]);
        assert_eq!(patched[0x24..], img[0x24..]);
        let vga = qemu_served_image(&img, b"a vga=0x317 b", true).unwrap_or_default();
        assert_eq!(&vga[0x1fa..0x1fc], &[0x17, 0x03]);
        let vga = qemu_served_image(&img, b"vga=ask", true).unwrap_or_default();
        assert_eq!(&vga[0x1fa..0x1fc], &[0xfd, 0xff]);
        assert!(matches!(qemu_served_image(&img, b"vga=foo", true), Err(LaunchError::BadVgaMode)));
    }

    #[test]
    fn direct_boot_checks() {
        let mut img = vec![0u8; 4096];
        assert!(check_qemu_direct_boot(&img).is_ok());
        img[0x202..0x206].copy_from_slice(b"HdrS");
        assert!(matches!(check_qemu_direct_boot(&img), Err(LaunchError::LinuxSetupHeader)));
        let mut mb = vec![0u8; 4096];
        let flags = 0u32;
        let sum = 0u32.wrapping_sub(0x1BAD_B002u32.wrapping_add(flags));
        mb[64..68].copy_from_slice(&0x1BAD_B002u32.to_le_bytes());
        mb[72..76].copy_from_slice(&sum.to_le_bytes());
        assert!(matches!(check_qemu_direct_boot(&mb), Err(LaunchError::Multiboot)));
        assert!(matches!(check_qemu_direct_boot(&[0u8; 1000]), Err(LaunchError::SetupLargerThanImage)));
    }
}
