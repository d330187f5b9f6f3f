//! The firmware's confidential-computing event log: found through the ACPI `CCEL` table,
//! copied out of firmware memory and parsed into event-log entries for RTMR0-2.
//!
//! TDVF (edk2 OvmfPkg/Tcg/TdTcg2Dxe) allocates the log area as EfiACPIMemoryNVS, fills it with
//! 0xFF, writes the TCG2 "crypto agile" log into it (format: `tdsigner_measure::ccel`) and
//! publishes its address and size in the `CCEL` table. The area outlives ExitBootServices, and
//! the firmware's last two RTMR1 events ("Exit Boot Services Invocation" / "… Returned with
//! Success") are written during ExitBootServices, so the kernel reads it *after* that call.
//!
//! `CCEL` table layout (edk2 MdePkg/Include/Protocol/CcMeasurement.h,
//! `EFI_CC_EVENTLOG_ACPI_TABLE`, packed; ACPI 6.5 §5.2.34): the 36-byte ACPI header with
//! signature `CCEL` and revision 1, then CcType u8 (2 = TDX) at 36, CcSubType u8 at 37, a
//! reserved u16 at 38, LAML u64 (log area minimum length) at 40, LASA u64 (log area start
//! address) at 48: 56 bytes.
//!
//! Everything here comes from the host's firmware: every length and address is checked, the
//! log is read only where `read` allows (the kernel allows ACPI reclaim/NVS memory only), and
//! nothing panics.

use alloc::vec::Vec;
use core::fmt;

use tdsigner_measure::ccel::{parse_event_log, CcelError};
use tdsigner_measure::event::EventLogEntry;

use crate::acpi_pm::{find_table, AcpiError, MAX_TABLE_LEN};

/// The table's signature.
pub const CCEL_SIGNATURE: &[u8; 4] = b"CCEL";
/// Length of `EFI_CC_EVENTLOG_ACPI_TABLE`.
pub const CCEL_TABLE_LEN: usize = 56;
/// `EFI_CC_TYPE_TDX`.
pub const CC_TYPE_TDX: u8 = 2;
/// Largest log area read (TDVF's default PcdTcgLogAreaMinLen is 64 KiB).
pub const MAX_LOG_AREA: u64 = 4 * 1024 * 1024;

/// What the `CCEL` table says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CcelTable {
    pub cc_type: u8,
    pub cc_subtype: u8,
    /// Log area minimum length (the size of the area).
    pub laml: u64,
    /// Log area start address.
    pub lasa: u64,
}

/// Why the firmware's event log could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirmwareLogError {
    /// The ACPI walk failed (RSDP, root table or the CCEL table's header/checksum).
    Acpi(AcpiError),
    /// The CCEL table is shorter than 56 bytes.
    ShortTable { len: usize },
    /// LAML is zero or above [`MAX_LOG_AREA`].
    BadLength { laml: u64 },
    /// LASA is zero or LASA + LAML overflows.
    BadAddress { lasa: u64 },
    /// The log area is not inside memory the kernel may read (firmware ACPI memory).
    Unreadable { lasa: u64, laml: u64 },
    /// The log itself is malformed.
    Log(CcelError),
}

impl fmt::Display for FirmwareLogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FirmwareLogError::Acpi(e) => write!(f, "ACPI tables: {e:?}"),
            FirmwareLogError::ShortTable { len } => write!(f, "CCEL table is {len} bytes, need {CCEL_TABLE_LEN}"),
            FirmwareLogError::BadLength { laml } => write!(f, "CCEL log area length {laml} is 0 or above {MAX_LOG_AREA}"),
            FirmwareLogError::BadAddress { lasa } => write!(f, "CCEL log area address {lasa:#x} is 0 or wraps"),
            FirmwareLogError::Unreadable { lasa, laml } => {
                write!(f, "CCEL log area {lasa:#x}+{laml:#x} is not in firmware ACPI memory")
            }
            FirmwareLogError::Log(e) => write!(f, "CCEL log: {e}"),
        }
    }
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off.checked_add(8)?)?.try_into().ok()?))
}

/// Parses a whole `CCEL` table (header already checked by the ACPI walk) and checks LAML/LASA.
pub fn parse_ccel_table(table: &[u8]) -> Result<CcelTable, FirmwareLogError> {
    let short = FirmwareLogError::ShortTable { len: table.len() };
    if table.len() < CCEL_TABLE_LEN || table.get(..4) != Some(&CCEL_SIGNATURE[..]) {
        return Err(short);
    }
    let (Some(&cc_type), Some(&cc_subtype), Some(laml), Some(lasa)) =
        (table.get(36), table.get(37), u64_at(table, 40), u64_at(table, 48))
    else {
        return Err(short);
    };
    if laml == 0 || laml > MAX_LOG_AREA {
        return Err(FirmwareLogError::BadLength { laml });
    }
    if lasa == 0 || lasa.checked_add(laml).is_none() {
        return Err(FirmwareLogError::BadAddress { lasa });
    }
    Ok(CcelTable { cc_type, cc_subtype, laml, lasa })
}

/// The firmware's event log as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirmwareLog {
    pub table: CcelTable,
    /// The measured records (EV_NO_ACTION dropped), in log order.
    pub events: Vec<EventLogEntry>,
}

/// Finds the `CCEL` table from the RSDP, copies the log area with `read` and parses it.
/// `Ok(None)`: the firmware publishes no `CCEL` table (OVMF without TDX).
pub fn read_firmware_log(
    read: &mut dyn FnMut(u64, &mut [u8]) -> bool,
    rsdp_addr: u64,
) -> Result<Option<FirmwareLog>, FirmwareLogError> {
    let mut buf = [0u8; MAX_TABLE_LEN];
    let Some(len) = find_table(read, rsdp_addr, CCEL_SIGNATURE, &mut buf).map_err(FirmwareLogError::Acpi)? else {
        return Ok(None);
    };
    let table = parse_ccel_table(buf.get(..len).unwrap_or(&[]))?;
    let unreadable = FirmwareLogError::Unreadable { lasa: table.lasa, laml: table.laml };
    let area_len = usize::try_from(table.laml).map_err(|_| unreadable)?;
    let mut area = Vec::new();
    area.try_reserve_exact(area_len).map_err(|_| unreadable)?;
    area.resize(area_len, 0);
    if !read(table.lasa, &mut area) {
        return Err(unreadable);
    }
    let events = parse_event_log(&area).map_err(FirmwareLogError::Log)?;
    Ok(Some(FirmwareLog { table, events }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use tdsigner_measure::ccel::encode_event_log;

    fn fix_checksum(t: &mut [u8], at: usize) {
        t[at] = 0;
        let sum = t.iter().fold(0u8, |a, x| a.wrapping_add(*x));
        t[at] = 0u8.wrapping_sub(sum);
    }

    fn table(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; 36];
        t[..4].copy_from_slice(sig);
        t[8] = 1;
        t.extend_from_slice(body);
        let len = t.len() as u32;
        t[4..8].copy_from_slice(&len.to_le_bytes());
        fix_checksum(&mut t, 9);
        t
    }

    fn ccel_body(laml: u64, lasa: u64) -> Vec<u8> {
        let mut b = vec![CC_TYPE_TDX, 0, 0, 0];
        b.extend_from_slice(&laml.to_le_bytes());
        b.extend_from_slice(&lasa.to_le_bytes());
        b
    }

    /// RSDP v2 at 0x1000 → XSDT at 0x2000 → [APIC at 0x3000, CCEL at 0x4000]; log at 0x10000.
    fn memory(ccel: Option<Vec<u8>>, log: Vec<u8>) -> BTreeMap<u64, Vec<u8>> {
        let mut m = BTreeMap::new();
        let mut rsdp = vec![0u8; 36];
        rsdp[..8].copy_from_slice(b"RSD PTR ");
        rsdp[15] = 2;
        rsdp[20..24].copy_from_slice(&36u32.to_le_bytes());
        rsdp[24..32].copy_from_slice(&0x2000u64.to_le_bytes());
        fix_checksum(&mut rsdp[..20], 8);
        fix_checksum(&mut rsdp, 32);
        m.insert(0x1000, rsdp);
        let mut entries = 0x3000u64.to_le_bytes().to_vec();
        if ccel.is_some() {
            entries.extend_from_slice(&0x4000u64.to_le_bytes());
        }
        m.insert(0x2000, table(b"XSDT", &entries));
        m.insert(0x3000, table(b"APIC", &[0u8; 8]));
        if let Some(c) = ccel {
            m.insert(0x4000, c);
        }
        m.insert(0x10000, log);
        m
    }

    fn reader(m: &BTreeMap<u64, Vec<u8>>) -> impl FnMut(u64, &mut [u8]) -> bool + '_ {
        move |addr, buf| match m.get(&addr) {
            Some(t) if t.len() >= buf.len() => {
                buf.copy_from_slice(&t[..buf.len()]);
                true
            }
            _ => false,
        }
    }

    fn event(imr: u32, payload: &[u8]) -> EventLogEntry {
        EventLogEntry {
            imr,
            event_type: tdsigner_measure::event::EV_SEPARATOR,
            digest: tdsigner_measure::sha384(payload),
            event: String::new(),
            event_payload: payload.to_vec(),
        }
    }

    /// A log area as TDVF leaves it: the log, then 0xFF up to LAML.
    fn area(events: &[EventLogEntry], laml: usize) -> Vec<u8> {
        let mut a = encode_event_log(events);
        a.resize(laml, 0xff);
        a
    }

    #[test]
    fn layout_pinned_to_edk2() {
        // EFI_CC_EVENTLOG_ACPI_TABLE (edk2 MdePkg/Include/Protocol/CcMeasurement.h, pack(1)):
        // header 36, CcType {Type, SubType} 2, Rsvd u16, Laml u64, Lasa u64 = 56 bytes; TDX = 2.
        let t = table(b"CCEL", &ccel_body(0x10000, 0x7f00_0000));
        assert_eq!(t.len(), CCEL_TABLE_LEN);
        assert_eq!(&t[40..48], &0x10000u64.to_le_bytes());
        assert_eq!(&t[48..56], &0x7f00_0000u64.to_le_bytes());
        assert_eq!(
            parse_ccel_table(&t),
            Ok(CcelTable { cc_type: 2, cc_subtype: 0, laml: 0x10000, lasa: 0x7f00_0000 })
        );
    }

    #[test]
    fn reads_the_log_through_the_acpi_walk() {
        let events = vec![event(0, &[0; 4]), event(1, b"a"), event(2, b"b")];
        let m = memory(Some(table(b"CCEL", &ccel_body(0x1000, 0x10000))), area(&events, 0x1000));
        let log = read_firmware_log(&mut reader(&m), 0x1000).unwrap().unwrap();
        assert_eq!(log.events, events);
        assert_eq!(log.table.lasa, 0x10000);
        // No CCEL table: not an error, just no log (the emulated platform's OVMF).
        let m = memory(None, Vec::new());
        assert_eq!(read_firmware_log(&mut reader(&m), 0x1000), Ok(None));
    }

    #[test]
    fn refuses_hostile_tables() {
        let log = area(&[event(0, b"x")], 0x1000);
        let cases: [(Vec<u8>, FirmwareLogError); 5] = [
            (table(b"CCEL", &ccel_body(0, 0x10000)), FirmwareLogError::BadLength { laml: 0 }),
            (table(b"CCEL", &ccel_body(MAX_LOG_AREA + 1, 0x10000)), FirmwareLogError::BadLength { laml: MAX_LOG_AREA + 1 }),
            (table(b"CCEL", &ccel_body(0x1000, u64::MAX - 0x10)), FirmwareLogError::BadAddress { lasa: u64::MAX - 0x10 }),
            (table(b"CCEL", &ccel_body(0x1000, 0)), FirmwareLogError::BadAddress { lasa: 0 }),
            // LASA beyond memory (or outside what `read` allows).
            (table(b"CCEL", &ccel_body(0x1000, 0x20000)), FirmwareLogError::Unreadable { lasa: 0x20000, laml: 0x1000 }),
        ];
        for (t, want) in cases {
            assert_eq!(read_firmware_log(&mut reader(&memory(Some(t), log.clone())), 0x1000), Err(want));
        }
        // LAML larger than the area that is there.
        let m = memory(Some(table(b"CCEL", &ccel_body(0x2000, 0x10000))), log.clone());
        assert!(matches!(read_firmware_log(&mut reader(&m), 0x1000), Err(FirmwareLogError::Unreadable { .. })));
        // Truncated table (header length says 40).
        let m = memory(Some(table(b"CCEL", &[2, 0, 0, 0])), log.clone());
        assert_eq!(read_firmware_log(&mut reader(&m), 0x1000), Err(FirmwareLogError::ShortTable { len: 40 }));
        // Bad checksum.
        let mut t = table(b"CCEL", &ccel_body(0x1000, 0x10000));
        t[50] ^= 1;
        let m = memory(Some(t), log.clone());
        assert_eq!(
            read_firmware_log(&mut reader(&m), 0x1000),
            Err(FirmwareLogError::Acpi(AcpiError::BadTable { signature: *b"CCEL" }))
        );
        // A log that is not a TCG2 log.
        let m = memory(Some(table(b"CCEL", &ccel_body(0x1000, 0x10000))), vec![0x55; 0x1000]);
        assert!(matches!(read_firmware_log(&mut reader(&m), 0x1000), Err(FirmwareLogError::Log(_))));
    }

    #[test]
    fn never_panics_on_damaged_input() {
        // Every byte of the table and of the log head changed, and every truncation (the fuzz
        // target `ccel_acpi` covers arbitrary input).
        let good_t = table(b"CCEL", &ccel_body(0x200, 0x10000));
        let good_log = area(&[event(0, b"x"), event(2, b"y")], 0x200);
        for i in 0..good_t.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut t = good_t.clone();
                t[i] = v;
                let _ = parse_ccel_table(&t);
                let _ = read_firmware_log(&mut reader(&memory(Some(t), good_log.clone())), 0x1000);
            }
            let _ = parse_ccel_table(&good_t[..i]);
        }
        for i in 0..good_log.len() {
            let mut l = good_log.clone();
            l[i] ^= 0xa5;
            let _ = read_firmware_log(&mut reader(&memory(Some(good_t.clone()), l)), 0x1000);
            let _ = read_firmware_log(&mut reader(&memory(Some(good_t.clone()), good_log[..i].to_vec())), 0x1000);
        }
    }
}
