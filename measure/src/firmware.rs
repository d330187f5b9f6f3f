//! The firmware's own RTMR0/RTMR1 events for a tdsigner launch: what TDVF (OvmfPkg/IntelTdx)
//! measures when QEMU boots a UEFI PE with `-kernel`. Two generations of edk2 differ in RTMR0
//! ([`FirmwareVariant`]); RTMR1 is the same for both.
//!
//! RTMR0 of [`FirmwareVariant::Pre202505`] (edk2-stable202502 and the 2024 snapshots), in order:
//! 1. TD HOB — SHA-384 of the HOB list QEMU builds ([`crate::tdvf::td_hob`]), EV_EFI_HANDOFF_TABLES2;
//! 2. CFV — SHA-384 of the configuration firmware volume ([`crate::tdvf::Tdvf::cfv_digest`]),
//!    EV_EFI_PLATFORM_FIRMWARE_BLOB2;
//! 3. the Secure Boot policy variables SecureBoot, PK, KEK (EFI global variable GUID) and db,
//!    dbx (image security database GUID), each absent (VariableDataLength 0): SHA-384 of
//!    UEFI_VARIABLE_DATA (GUID ‖ name length u64 ‖ data length u64 ‖ UTF-16 name),
//!    EV_EFI_VARIABLE_DRIVER_CONFIG;
//! 4. separator: SHA-384(00 00 00 00), EV_SEPARATOR;
//! 5. ACPI: `etc/table-loader` then each allocated blob ([`crate::acpi`]), EV_PLATFORM_CONFIG_FLAGS;
//! 6. BootOrder = {0x0000}: SHA-384(00 00), EV_EFI_VARIABLE_BOOT;
//! 7. Boot0000 = OVMF's UiApp boot-manager entry: SHA-384 of its EFI_LOAD_OPTION
//!    ([`uiapp_load_option`]), EV_EFI_VARIABLE_BOOT.
//!
//! RTMR0 of [`FirmwareVariant::Stable202505`] (edk2-stable202505 and later) has four more events
//! and measures the boot variables as EV_EFI_VARIABLE_BOOT2 over the variable data:
//! TD HOB, CFV, fw_cfg `BootMenu` (u16 0: SHA-384(00 00)), fw_cfg `bootorder` (QEMU's list for
//! `-kernel` on q35 with fw_cfg DMA: `/rom@genroms/linuxboot_dma.bin\0`), SecureBoot, PK, KEK, db,
//! dbx, separator, ACPI × 3, EV_EFI_VARIABLE_AUTHORITY (a constant of that OVMF build),
//! BootOrder = {0x0000, 0x0001}, Boot0000 = BootManagerMenuApp (0x109), Boot0001 = "EFI Firmware
//! Setup" = UiApp (0x101). The order, the fw_cfg inputs and the load-option bytes are dstack-mr's
//! (github.com/Dstack-TEE/dstack commits a304dd96 and 5aac58fa, 2026-05-11, modelled on the event
//! log of a dstack 0.5.10 CVM on edk2-stable202505; dstack dropped the variant again in
//! 4cc8516f). The BootOrder/Boot0000/Boot0001 digests are pinned in the tests against the
//! digests dstack captured from that log.
//!
//! RTMR1, in order:
//! 1. the image: edk2 Authenticode SHA-384 of the PE as QEMU serves it ([`crate::pe`]),
//!    EV_EFI_BOOT_SERVICES_APPLICATION;
//! 2. EV_EFI_ACTION "Calling EFI Application from Boot Option";
//! 3. separator SHA-384(00 00 00 00);
//! 4. when the image calls ExitBootServices (successfully, once): EV_EFI_ACTION
//!    "Exit Boot Services Invocation" and "Exit Boot Services Returned with Success".
//!
//! Every digest rule and the order above is pinned in tests against the real event log in
//! `shared/fixtures/near-mpc/tcb_info.json` (a dstack VM on edk2-stable202502 TDVF).

use crate::event::{
    EV_EFI_ACTION, EV_EFI_BOOT_SERVICES_APPLICATION, EV_EFI_HANDOFF_TABLES2, EV_EFI_PLATFORM_FIRMWARE_BLOB2,
    EV_EFI_VARIABLE_AUTHORITY, EV_EFI_VARIABLE_BOOT, EV_EFI_VARIABLE_BOOT2, EV_EFI_VARIABLE_DRIVER_CONFIG,
    EV_PLATFORM_CONFIG_FLAGS, EV_SEPARATOR,
};
use crate::rtmr::{sha384, Sha384Digest};
use crate::tdvf::guid_bytes;

/// EFI_GLOBAL_VARIABLE 8BE4DF61-93CA-11D2-AA0D-00E098032B8C.
pub const EFI_GLOBAL_VARIABLE_GUID: [u8; 16] =
    guid_bytes(0x8be4df61, 0x93ca, 0x11d2, [0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c]);
/// EFI_IMAGE_SECURITY_DATABASE_GUID D719B2CB-3D3A-4596-A3BC-DAD00E67656F.
pub const IMAGE_SECURITY_DATABASE_GUID: [u8; 16] =
    guid_bytes(0xd719b2cb, 0x3d3a, 0x4596, [0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f]);
/// OVMF DXEFV firmware-volume name 7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1 (OvmfPkg/IntelTdx/IntelTdxX64.fdf).
pub const DXEFV_NAME_GUID: [u8; 16] =
    guid_bytes(0x7cb8bdc9, 0xf8eb, 0x4f34, [0xaa, 0xea, 0x3e, 0xe4, 0xaf, 0x65, 0x16, 0xa1]);
/// UiApp FILE_GUID 462CAA21-7614-4503-836E-8AB6F4662331 (MdeModulePkg/Application/UiApp/UiApp.inf).
pub const UIAPP_FILE_GUID: [u8; 16] =
    guid_bytes(0x462caa21, 0x7614, 0x4503, [0x83, 0x6e, 0x8a, 0xb6, 0xf4, 0x66, 0x23, 0x31]);

/// BootManagerMenuApp FILE_GUID EEC25BDC-67F2-4D95-B1D5-F81B2039D11D
/// (MdeModulePkg/Application/BootManagerMenuApp/BootManagerMenuApp.inf).
pub const BOOT_MANAGER_MENU_APP_FILE_GUID: [u8; 16] =
    guid_bytes(0xeec25bdc, 0x67f2, 0x4d95, [0xb1, 0xd5, 0xf8, 0x1b, 0x20, 0x39, 0xd1, 0x1d]);

/// QEMU's fw_cfg `bootorder` for `-kernel` on q35 (fw_cfg DMA on): the one option ROM QEMU
/// adds with bootindex 0, NUL-terminated. Another device with a bootindex changes it.
pub const QEMU_KERNEL_BOOTORDER: &[u8] = b"/rom@genroms/linuxboot_dma.bin\0";

/// The EV_EFI_VARIABLE_AUTHORITY digest edk2-stable202505 OVMF logs during BDS with secure
/// boot off. Its payload is OVMF-internal; the value is the one dstack-mr carries for its
/// stable202505 OVMF build (Dstack-TEE/dstack a304dd96, captured from a 0.5.10 CVM's log).
/// Not derived here: a different build of the same edk2 tag may log another value.
pub const STABLE202505_VARIABLE_AUTHORITY_DIGEST: &str =
    "fb66919801f1dfc9c4c273b6a739380790cb0fd3cb706a42f6ac050510ebc8618e7fba53a1564522f5c6f0dc9e1f41a6";

/// Which edk2 generation's RTMR0 event sequence to expect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirmwareVariant {
    /// edk2 before stable202505 (13 RTMR0 events; what measure/tdvf/build-tdvf.sh builds).
    Pre202505,
    /// edk2-stable202505 and later (17 RTMR0 events).
    Stable202505,
}

impl FirmwareVariant {
    /// The name used on the command line and in outputs.
    pub fn name(self) -> &'static str {
        match self {
            FirmwareVariant::Pre202505 => "pre202505",
            FirmwareVariant::Stable202505 => "stable202505",
        }
    }

    /// Parses [`FirmwareVariant::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "pre202505" => Some(FirmwareVariant::Pre202505),
            "stable202505" => Some(FirmwareVariant::Stable202505),
            _ => None,
        }
    }
}

/// Firmware builds whose variant is known by their SHA-256: (sha256 hex, variant, what).
pub const KNOWN_FIRMWARE: &[(&str, FirmwareVariant, &str)] = &[(
    "dde58759f152f8d546e247a46d953a5ef903f37258e0e54e8a381ff88da5a010",
    FirmwareVariant::Pre202505,
    "measure/tdvf/build-tdvf.sh (Debian edk2 2025.02-8+deb13u1 = edk2-stable202502)",
)];

/// The variant of a known firmware build, by SHA-256 of the file.
pub fn known_firmware_variant(firmware: &[u8]) -> Option<(FirmwareVariant, &'static str)> {
    use sha2::{Digest, Sha256};
    let digest = crate::hex::encode(&Sha256::digest(firmware));
    KNOWN_FIRMWARE.iter().find(|(sha, _, _)| *sha == digest).map(|&(_, variant, what)| (variant, what))
}

/// EV_EFI_ACTION strings.
pub const CALLING_EFI_APPLICATION: &str = "Calling EFI Application from Boot Option";
pub const EXIT_BOOT_SERVICES_INVOCATION: &str = "Exit Boot Services Invocation";
pub const EXIT_BOOT_SERVICES_SUCCEEDED: &str = "Exit Boot Services Returned with Success";

/// One expected event: register, type, digest, and what was measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedEvent {
    pub imr: u32,
    pub event_type: u32,
    pub digest: Sha384Digest,
    pub what: String,
}

impl ExpectedEvent {
    fn new(imr: u32, event_type: u32, digest: Sha384Digest, what: impl Into<String>) -> Self {
        Self { imr, event_type, digest, what: what.into() }
    }
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// UEFI_VARIABLE_DATA: GUID ‖ UnicodeNameLength (chars, u64) ‖ VariableDataLength (u64) ‖
/// UTF-16LE name (no NUL) ‖ data.
pub fn uefi_variable_data(guid: &[u8; 16], name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + 2 * name.len() + data.len());
    out.extend_from_slice(guid);
    out.extend_from_slice(&(name.encode_utf16().count() as u64).to_le_bytes());
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(&utf16le(name));
    out.extend_from_slice(data);
    out
}

/// OVMF's Boot0000 (UiApp) EFI_LOAD_OPTION: attributes ACTIVE|HIDDEN|CATEGORY_APP (0x109),
/// FilePathListLength 44, description "UiApp" (UTF-16, NUL-terminated), device path
/// FvVol(DXEFV) / FvFile(UiApp) / End.
pub fn uiapp_load_option() -> Vec<u8> {
    fv_app_load_option(0x109, "UiApp", &UIAPP_FILE_GUID)
}

/// The secure-boot policy variable events (secure boot not configured: all absent).
pub fn secure_boot_variable_events() -> Vec<ExpectedEvent> {
    [
        (EFI_GLOBAL_VARIABLE_GUID, "SecureBoot"),
        (EFI_GLOBAL_VARIABLE_GUID, "PK"),
        (EFI_GLOBAL_VARIABLE_GUID, "KEK"),
        (IMAGE_SECURITY_DATABASE_GUID, "db"),
        (IMAGE_SECURITY_DATABASE_GUID, "dbx"),
    ]
    .iter()
    .map(|(guid, name)| {
        ExpectedEvent::new(
            0,
            EV_EFI_VARIABLE_DRIVER_CONFIG,
            sha384(&uefi_variable_data(guid, name, &[])),
            format!("variable {name} (absent)"),
        )
    })
    .collect()
}

/// SHA-384 of the 4-byte zero separator.
pub fn separator_digest() -> Sha384Digest {
    sha384(&[0, 0, 0, 0])
}

/// An EFI_LOAD_OPTION for an application in OVMF's DXEFV: attributes, FilePathListLength,
/// NUL-terminated UTF-16 description, FvVol(DXEFV) / FvFile(file) / End, no optional data.
pub fn fv_app_load_option(attributes: u32, description: &str, file_guid: &[u8; 16]) -> Vec<u8> {
    let mut path = Vec::with_capacity(44);
    path.extend_from_slice(&[0x04, 0x07, 0x14, 0x00]); // MEDIA_PIWG_FW_VOL_DP, length 20
    path.extend_from_slice(&DXEFV_NAME_GUID);
    path.extend_from_slice(&[0x04, 0x06, 0x14, 0x00]); // MEDIA_PIWG_FW_FILE_DP, length 20
    path.extend_from_slice(file_guid);
    path.extend_from_slice(&[0x7f, 0xff, 0x04, 0x00]); // END_ENTIRE_DEVICE_PATH
    let mut out = Vec::new();
    out.extend_from_slice(&attributes.to_le_bytes());
    out.extend_from_slice(&(path.len() as u16).to_le_bytes());
    out.extend_from_slice(&utf16le(description));
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&path);
    out
}

/// RTMR0 events from their inputs, for the firmware generation `variant`.
pub fn rtmr0_events(
    td_hob_digest: Sha384Digest,
    cfv_digest: Sha384Digest,
    acpi: &[crate::acpi::AcpiMeasurement],
    variant: FirmwareVariant,
) -> Vec<ExpectedEvent> {
    let mut events = vec![
        ExpectedEvent::new(0, EV_EFI_HANDOFF_TABLES2, td_hob_digest, "TD HOB"),
        ExpectedEvent::new(0, EV_EFI_PLATFORM_FIRMWARE_BLOB2, cfv_digest, "CFV (configuration firmware volume)"),
    ];
    if variant == FirmwareVariant::Stable202505 {
        events.push(ExpectedEvent::new(0, EV_PLATFORM_CONFIG_FLAGS, sha384(&[0, 0]), "QEMU FW CFG BootMenu = 0"));
        events.push(ExpectedEvent::new(
            0,
            EV_PLATFORM_CONFIG_FLAGS,
            sha384(QEMU_KERNEL_BOOTORDER),
            "QEMU FW CFG bootorder = /rom@genroms/linuxboot_dma.bin",
        ));
    }
    events.extend(secure_boot_variable_events());
    events.push(ExpectedEvent::new(0, EV_SEPARATOR, separator_digest(), "separator"));
    for m in acpi {
        events.push(ExpectedEvent::new(0, EV_PLATFORM_CONFIG_FLAGS, m.digest, format!("ACPI DATA {}", m.file)));
    }
    match variant {
        FirmwareVariant::Pre202505 => {
            events.push(ExpectedEvent::new(0, EV_EFI_VARIABLE_BOOT, sha384(&[0, 0]), "BootOrder = 0000"));
            events.push(ExpectedEvent::new(0, EV_EFI_VARIABLE_BOOT, sha384(&uiapp_load_option()), "Boot0000 = UiApp"));
        }
        FirmwareVariant::Stable202505 => {
            let authority = crate::hex::decode_array::<48>(STABLE202505_VARIABLE_AUTHORITY_DIGEST).unwrap_or([0; 48]);
            events.push(ExpectedEvent::new(0, EV_EFI_VARIABLE_AUTHORITY, authority, "variable authority (OVMF constant)"));
            events.push(ExpectedEvent::new(0, EV_EFI_VARIABLE_BOOT2, sha384(&[0, 0, 1, 0]), "BootOrder = 0000,0001"));
            let boot0000 = fv_app_load_option(0x109, "BootManagerMenuApp", &BOOT_MANAGER_MENU_APP_FILE_GUID);
            events.push(ExpectedEvent::new(0, EV_EFI_VARIABLE_BOOT2, sha384(&boot0000), "Boot0000 = BootManagerMenuApp"));
            let boot0001 = fv_app_load_option(0x101, "EFI Firmware Setup", &UIAPP_FILE_GUID);
            events.push(ExpectedEvent::new(0, EV_EFI_VARIABLE_BOOT2, sha384(&boot0001), "Boot0001 = EFI Firmware Setup (UiApp)"));
        }
    }
    events
}

/// RTMR1 events for an image with Authenticode digest `image_digest`.
pub fn rtmr1_events(image_digest: Sha384Digest, exit_boot_services: bool) -> Vec<ExpectedEvent> {
    let mut events = vec![
        ExpectedEvent::new(1, EV_EFI_BOOT_SERVICES_APPLICATION, image_digest, "image (Authenticode SHA-384)"),
        ExpectedEvent::new(1, EV_EFI_ACTION, sha384(CALLING_EFI_APPLICATION.as_bytes()), CALLING_EFI_APPLICATION),
        ExpectedEvent::new(1, EV_SEPARATOR, separator_digest(), "separator"),
    ];
    if exit_boot_services {
        for action in [EXIT_BOOT_SERVICES_INVOCATION, EXIT_BOOT_SERVICES_SUCCEEDED] {
            events.push(ExpectedEvent::new(1, EV_EFI_ACTION, sha384(action.as_bytes()), action));
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::AcpiMeasurement;
    use crate::hex;

    fn acpi3() -> Vec<AcpiMeasurement> {
        ["etc/table-loader", "etc/acpi/rsdp", "etc/acpi/tables"]
            .iter()
            .enumerate()
            .map(|(i, f)| AcpiMeasurement { file: (*f).into(), digest: [i as u8 + 1; 48] })
            .collect()
    }

    // Reference digests dstack-mr carried as constants before deriving them (Dstack-TEE/dstack
    // a304dd96 "support edk2-stable202505 OVMF event layout": captured from the event log of a
    // dstack 0.5.10 CVM on edk2-stable202505 OVMF), and its pre-202505 Boot0000 constant
    // (dstack-mr src/tdvf.rs, captured from dstack ≤ 0.5.8 logs).
    const REF_202505_BOOT_ORDER: &str =
        "52b9a02de946b947364b57d8210c63113b9058996e2a3ba7cead54af11ae0873b085d1e52bc01e4febe57ca05ca1332b";
    const REF_202505_BOOT0000: &str =
        "5068e6a9ded2a1c3a8ebb5d26004410ea8670742d8f444c5c3d161b76c66fa23a7b1d2fb3f9840570b675384b5818f2d";
    const REF_202505_BOOT0001: &str =
        "dd424f2eeb35f3e8a2c2f50f6cc87ff90b7577e92ce63e13a22869d07d104fd5ea9800e6e4f12c5058fc4eaa78374f20";
    const REF_PRE202505_BOOT0000: &str =
        "23ada07f5261f12f34a0bd8e46760962d6b4d576a416f1fea1c64bc656b1d28eacf7047ae6e967c58fd2a98bfa74c298";

    #[test]
    fn stable202505_boot_variables_match_the_captured_log_digests() {
        let events = rtmr0_events([0xaa; 48], [0xbb; 48], &acpi3(), FirmwareVariant::Stable202505);
        assert_eq!(events.len(), 17);
        let tail: Vec<String> = events[14..].iter().map(|e| hex::encode(&e.digest)).collect();
        assert_eq!(tail, [REF_202505_BOOT_ORDER, REF_202505_BOOT0000, REF_202505_BOOT0001]);
        assert_eq!(hex::encode(&events[13].digest), STABLE202505_VARIABLE_AUTHORITY_DIGEST);
        assert_eq!(events[13].event_type, EV_EFI_VARIABLE_AUTHORITY);
        assert_eq!(events[2].digest, sha384(&[0, 0]));
        assert_eq!(events[3].digest, sha384(b"/rom@genroms/linuxboot_dma.bin\0"));
        // The shared part keeps its order: HOB, CFV, (fw_cfg ×2), variables, separator, ACPI.
        let pre = rtmr0_events([0xaa; 48], [0xbb; 48], &acpi3(), FirmwareVariant::Pre202505);
        assert_eq!(pre.len(), 13);
        assert_eq!(pre[..2], events[..2]);
        assert_eq!(pre[2..11], events[4..13]);
        assert_eq!(hex::encode(&pre[12].digest), REF_PRE202505_BOOT0000);
        let fold = |l: &[ExpectedEvent]| crate::rtmr::fold(l.iter().map(|e| &e.digest));
        assert_ne!(fold(&pre), fold(&events));
    }

    #[test]
    fn variant_names_round_trip_and_the_pinned_build_is_known() {
        for v in [FirmwareVariant::Pre202505, FirmwareVariant::Stable202505] {
            assert_eq!(FirmwareVariant::from_name(v.name()), Some(v));
        }
        assert_eq!(FirmwareVariant::from_name("stable202502"), None);
        assert_eq!(known_firmware_variant(b"not a firmware"), None);
    }
}
