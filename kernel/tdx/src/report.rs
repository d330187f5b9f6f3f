//! Buffers the TDX module reads or writes by GPA, with the spec's alignments,
//! and field access into TDREPORT_STRUCT.
//!
//! Spec: Intel TDX Module v1.5 ABI Specification, "TDREPORT_STRUCT",
//! "REPORTMACSTRUCT", "TDINFO_STRUCT" (layout), "TDG.MR.REPORT Leaf"
//! (TDREPORT_STRUCT 1024-byte aligned, REPORTDATA 64-byte aligned) and
//! "TDG.MR.RTMR.EXTEND Leaf" (48-byte extension data, 64-byte aligned).

/// Size of TDREPORT_STRUCT.
pub const TDREPORT_LEN: usize = 1024;

/// Byte offsets of the TDREPORT_STRUCT fields this crate exposes. The report
/// is REPORTMACSTRUCT (256 bytes) ‖ TEE_TCB_INFO (239) ‖ reserved (17) ‖
/// TDINFO_STRUCT (512).
pub mod offsets {
    /// REPORTMACSTRUCT.REPORTTYPE (4 bytes: type, subtype, version, reserved).
    pub const REPORT_TYPE: usize = 0;
    /// REPORTMACSTRUCT.REPORTDATA (64 bytes), after REPORTTYPE (4), reserved
    /// (12), CPUSVN (16), TEE_TCB_INFO_HASH (48), TEE_INFO_HASH (48).
    pub const REPORT_DATA: usize = 128;
    /// REPORTMACSTRUCT.MAC (32 bytes), after REPORTDATA and 32 reserved bytes.
    pub const MAC: usize = 224;
    /// TEE_TCB_INFO (239 bytes).
    pub const TEE_TCB_INFO: usize = 256;
    /// TDINFO_STRUCT (512 bytes).
    pub const TD_INFO: usize = 512;
    /// TDINFO.ATTRIBUTES (8 bytes, little-endian).
    pub const ATTRIBUTES: usize = TD_INFO;
    /// TDINFO.XFAM (8 bytes).
    pub const XFAM: usize = TD_INFO + 8;
    /// TDINFO.MRTD (48 bytes).
    pub const MRTD: usize = TD_INFO + 16;
    /// TDINFO.MRCONFIGID (48 bytes).
    pub const MRCONFIGID: usize = MRTD + 48;
    /// TDINFO.MROWNER (48 bytes).
    pub const MROWNER: usize = MRCONFIGID + 48;
    /// TDINFO.MROWNERCONFIG (48 bytes).
    pub const MROWNERCONFIG: usize = MROWNER + 48;
    /// TDINFO.RTMR `0` (4 × 48 bytes follow).
    pub const RTMR0: usize = MROWNERCONFIG + 48;
    /// TDINFO.SERVTD_HASH (48 bytes).
    pub const SERVTD_HASH: usize = RTMR0 + 4 * 48;
}

/// REPORTDATA for TDG.MR.REPORT: 64 caller-chosen bytes, 64-byte aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct ReportData(pub [u8; 64]);

/// The 48-byte digest TDG.MR.RTMR.EXTEND folds into an RTMR, 64-byte aligned
/// (the type is 64 bytes long because of that alignment; the module reads 48).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct RtmrExtendData(pub [u8; 48]);

/// A TDREPORT_STRUCT buffer, 1024-byte aligned, as TDG.MR.REPORT writes it.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(1024))]
pub struct TdReport(pub [u8; TDREPORT_LEN]);

const _: () = assert!(core::mem::size_of::<TdReport>() == TDREPORT_LEN);
const _: () = assert!(core::mem::align_of::<TdReport>() == 1024);
const _: () = assert!(core::mem::align_of::<ReportData>() == 64);
const _: () = assert!(core::mem::align_of::<RtmrExtendData>() == 64);
const _: () = assert!(offsets::SERVTD_HASH + 48 + 64 == TDREPORT_LEN);

impl core::fmt::Debug for TdReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // A report is not secret, but 1024 bytes of Debug output helps nobody.
        f.debug_struct("TdReport")
            .field("report_type", &self.report_type())
            .finish_non_exhaustive()
    }
}

impl Default for TdReport {
    fn default() -> Self {
        Self::zeroed()
    }
}

/// Copies `N` bytes at constant offset `OFFSET` out of the report; the
/// compile-time assertion makes the range provably inside the array.
fn field<const OFFSET: usize, const N: usize>(bytes: &[u8; TDREPORT_LEN]) -> [u8; N] {
    const { assert!(OFFSET + N <= TDREPORT_LEN) };
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[OFFSET..OFFSET + N]);
    out
}

impl TdReport {
    /// An all-zero buffer to pass to [`crate::mr_report`].
    pub const fn zeroed() -> Self {
        TdReport([0; TDREPORT_LEN])
    }

    /// The raw 1024 bytes (what GetQuote takes as its input message).
    pub const fn as_bytes(&self) -> &[u8; TDREPORT_LEN] {
        &self.0
    }

    /// REPORTTYPE: type (0x81 = TDX), subtype, version, reserved.
    pub fn report_type(&self) -> [u8; 4] {
        field::<{ offsets::REPORT_TYPE }, 4>(&self.0)
    }

    /// The REPORTDATA the report binds.
    pub fn report_data(&self) -> [u8; 64] {
        field::<{ offsets::REPORT_DATA }, 64>(&self.0)
    }

    /// TDINFO.ATTRIBUTES.
    pub fn attributes(&self) -> u64 {
        u64::from_le_bytes(field::<{ offsets::ATTRIBUTES }, 8>(&self.0))
    }

    /// TDINFO.XFAM.
    pub fn xfam(&self) -> u64 {
        u64::from_le_bytes(field::<{ offsets::XFAM }, 8>(&self.0))
    }

    /// TDINFO.MRTD: the build-time measurement of the TD.
    pub fn mrtd(&self) -> [u8; 48] {
        field::<{ offsets::MRTD }, 48>(&self.0)
    }

    /// TDINFO.MRCONFIGID.
    pub fn mr_config_id(&self) -> [u8; 48] {
        field::<{ offsets::MRCONFIGID }, 48>(&self.0)
    }

    /// TDINFO.RTMR `0..4`.
    pub fn rtmrs(&self) -> [[u8; 48]; 4] {
        [
            field::<{ offsets::RTMR0 }, 48>(&self.0),
            field::<{ offsets::RTMR0 + 48 }, 48>(&self.0),
            field::<{ offsets::RTMR0 + 96 }, 48>(&self.0),
            field::<{ offsets::RTMR0 + 144 }, 48>(&self.0),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_match_spec_layout() {
        // REPORTMACSTRUCT is 256 bytes; REPORTDATA follows 128 bytes of header
        // and hashes; TDINFO starts after TEE_TCB_INFO (239) + 17 reserved.
        assert_eq!(offsets::REPORT_DATA, 4 + 12 + 16 + 48 + 48);
        assert_eq!(offsets::MAC + 32, 256);
        assert_eq!(offsets::TD_INFO, 256 + 239 + 17);
        assert_eq!(offsets::MRTD, 528);
        assert_eq!(offsets::RTMR0, 720);
        assert_eq!(offsets::SERVTD_HASH, 912);
    }

    #[test]
    fn accessors_read_their_fields() {
        let mut bytes = [0u8; TDREPORT_LEN];
        bytes[0] = 0x81;
        for (i, b) in bytes[128..192].iter_mut().enumerate() {
            *b = i as u8;
        }
        bytes[512..520].copy_from_slice(&0x1000_0000u64.to_le_bytes());
        bytes[520..528].copy_from_slice(&0xe7u64.to_le_bytes());
        bytes[528..576].fill(0xaa);
        bytes[576..624].fill(0xcc);
        for (k, chunk) in bytes[720..912].chunks_mut(48).enumerate() {
            chunk.fill(k as u8 + 1);
        }
        let report = TdReport(bytes);
        assert_eq!(report.report_type(), [0x81, 0, 0, 0]);
        let rd = report.report_data();
        assert_eq!(rd[0], 0);
        assert_eq!(rd[63], 63);
        assert_eq!(report.attributes(), 0x1000_0000);
        assert_eq!(report.xfam(), 0xe7);
        assert_eq!(report.mrtd(), [0xaa; 48]);
        assert_eq!(report.mr_config_id(), [0xcc; 48]);
        assert_eq!(report.rtmrs(), [[1; 48], [2; 48], [3; 48], [4; 48]]);
        assert_eq!(report.as_bytes(), &bytes);
    }

    #[test]
    fn wrapper_sizes() {
        assert_eq!(core::mem::size_of::<ReportData>(), 64);
        assert_eq!(core::mem::size_of::<RtmrExtendData>(), 64);
        let boxed = std::boxed::Box::new(TdReport::zeroed());
        assert_eq!((&*boxed as *const TdReport as usize) % 1024, 0);
    }
}
