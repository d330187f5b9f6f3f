//! The firmware's own RTMR0/RTMR1 events for a tdsigner launch: what TDVF (edk2-stable202502,
//! OvmfPkg/IntelTdx) measures when QEMU boots a UEFI PE with `-kernel`.
//!
//! RTMR0, in order:
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
    EV_EFI_VARIABLE_BOOT, EV_EFI_VARIABLE_DRIVER_CONFIG, EV_PLATFORM_CONFIG_FLAGS, EV_SEPARATOR,
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
    let mut path = Vec::with_capacity(44);
    path.extend_from_slice(&[0x04, 0x07, 0x14, 0x00]); // MEDIA_PIWG_FW_VOL_DP, length 20
    path.extend_from_slice(&DXEFV_NAME_GUID);
    path.extend_from_slice(&[0x04, 0x06, 0x14, 0x00]); // MEDIA_PIWG_FW_FILE_DP, length 20
    path.extend_from_slice(&UIAPP_FILE_GUID);
    path.extend_from_slice(&[0x7f, 0xff, 0x04, 0x00]); // END_ENTIRE_DEVICE_PATH
    let mut out = Vec::new();
    out.extend_from_slice(&0x0000_0109u32.to_le_bytes());
    out.extend_from_slice(&(path.len() as u16).to_le_bytes());
    out.extend_from_slice(&utf16le("UiApp\0"));
    out.extend_from_slice(&path);
    out
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

/// RTMR0 events from their inputs.
pub fn rtmr0_events(
    td_hob_digest: Sha384Digest,
    cfv_digest: Sha384Digest,
    acpi: &[crate::acpi::AcpiMeasurement],
) -> Vec<ExpectedEvent> {
    let mut events = vec![
        ExpectedEvent::new(0, EV_EFI_HANDOFF_TABLES2, td_hob_digest, "TD HOB"),
        ExpectedEvent::new(0, EV_EFI_PLATFORM_FIRMWARE_BLOB2, cfv_digest, "CFV (configuration firmware volume)"),
    ];
    events.extend(secure_boot_variable_events());
    events.push(ExpectedEvent::new(0, EV_SEPARATOR, separator_digest(), "separator"));
    for m in acpi {
        events.push(ExpectedEvent::new(0, EV_PLATFORM_CONFIG_FLAGS, m.digest, format!("ACPI DATA {}", m.file)));
    }
    events.push(ExpectedEvent::new(0, EV_EFI_VARIABLE_BOOT, sha384(&[0, 0]), "BootOrder = 0000"));
    events.push(ExpectedEvent::new(0, EV_EFI_VARIABLE_BOOT, sha384(&uiapp_load_option()), "Boot0000 = UiApp"));
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
