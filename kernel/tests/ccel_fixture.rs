//! The served event log against a real TDX boot: the firmware events of the near/mpc node's
//! `tcb_info.json` (dstack, real TDX hardware; `../shared/fixtures/near-mpc/`) are laid out as
//! TDVF lays out its CCEL log area, found through an ACPI walk, parsed, and served as the image
//! serves them (firmware events, then the image's own RTMR3 events, as JSON). Replaying that JSON
//! must give the fixture's real RTMR0-3.
//!
//! What is real here: every digest, event type and payload, and the registers they must fold to.
//! What is ours: the binary framing, written from TDVF's description (edk2 OvmfPkg/Tcg/TdTcg2Dxe
//! `SetupCcEventLog`: a TCG_PCR_EVENT Spec ID header with PCRIndex 1 and SHA-384 only, then
//! TCG_PCR_EVENT2 records with MrIndex = RTMR + 1, the rest of the area 0xFF); no binary CCEL dump
//! from a TD is available here.

use std::collections::BTreeMap;

use tdsigner_kernel::ccel::read_firmware_log;
use tdsigner_measure::event::{parse_event_log_json, replay, EventLog, EventLogEntry};

const SHA384: u16 = 0x000c;
const LAML: usize = 0x10000;

fn fixture() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/near-mpc/tcb_info.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn hex48(v: &serde_json::Value) -> [u8; 48] {
    let s = v.as_str().unwrap();
    let mut out = [0u8; 48];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// A log area as TDVF writes it.
fn tdvf_log_area(events: &[EventLogEntry]) -> Vec<u8> {
    let mut spec = b"Spec ID Event03\0".to_vec();
    spec.extend_from_slice(&0u32.to_le_bytes()); // platform class
    spec.extend_from_slice(&[0, 2, 0, 2]); // TPM2 spec 2.0, errata 0, uintnSize 2 (UINT64)
    spec.extend_from_slice(&1u32.to_le_bytes());
    spec.extend_from_slice(&SHA384.to_le_bytes());
    spec.extend_from_slice(&48u16.to_le_bytes());
    spec.push(0);
    let mut a = Vec::new();
    a.extend_from_slice(&1u32.to_le_bytes()); // "PCRIndex 0 maps to MrIndex 1"
    a.extend_from_slice(&3u32.to_le_bytes()); // EV_NO_ACTION
    a.extend_from_slice(&[0; 20]);
    a.extend_from_slice(&(spec.len() as u32).to_le_bytes());
    a.extend_from_slice(&spec);
    let mut record = |mr: u32, ty: u32, digest: &[u8; 48], data: &[u8]| {
        a.extend_from_slice(&mr.to_le_bytes());
        a.extend_from_slice(&ty.to_le_bytes());
        a.extend_from_slice(&1u32.to_le_bytes());
        a.extend_from_slice(&SHA384.to_le_bytes());
        a.extend_from_slice(digest);
        a.extend_from_slice(&(data.len() as u32).to_le_bytes());
        a.extend_from_slice(data);
    };
    // An EV_NO_ACTION record (as for a TCG 800-155 platform id event): logged, not extended.
    record(0, 3, &[0; 48], b"platform id");
    for e in events {
        record(e.imr + 1, e.event_type, &e.digest, &e.event_payload);
    }
    a.resize(LAML, 0xff);
    a
}

fn acpi_memory(log: Vec<u8>) -> BTreeMap<u64, Vec<u8>> {
    fn table(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; 36];
        t[..4].copy_from_slice(sig);
        t[8] = 1;
        t.extend_from_slice(body);
        let len = t.len() as u32;
        t[4..8].copy_from_slice(&len.to_le_bytes());
        let sum = t.iter().fold(0u8, |a, x| a.wrapping_add(*x));
        t[9] = 0u8.wrapping_sub(sum);
        t
    }
    let lasa = 0x7e00_0000u64;
    let mut ccel = vec![2u8, 0, 0, 0];
    ccel.extend_from_slice(&(LAML as u64).to_le_bytes());
    ccel.extend_from_slice(&lasa.to_le_bytes());
    let mut rsdp = vec![0u8; 36];
    rsdp[..8].copy_from_slice(b"RSD PTR ");
    rsdp[15] = 2;
    rsdp[20..24].copy_from_slice(&36u32.to_le_bytes());
    rsdp[24..32].copy_from_slice(&0x2000u64.to_le_bytes());
    let s20 = rsdp[..20].iter().fold(0u8, |a, x| a.wrapping_add(*x));
    rsdp[8] = 0u8.wrapping_sub(s20);
    let s36 = rsdp.iter().fold(0u8, |a, x| a.wrapping_add(*x));
    rsdp[32] = 0u8.wrapping_sub(s36);
    let mut xsdt = Vec::new();
    for a in [0x3000u64, 0x4000, 0x5000] {
        xsdt.extend_from_slice(&a.to_le_bytes());
    }
    BTreeMap::from([
        (0x1000, rsdp),
        (0x2000, table(b"XSDT", &xsdt)),
        (0x3000, table(b"FACP", &[0u8; 240])),
        (0x4000, table(b"APIC", &[0u8; 8])),
        (0x5000, table(b"CCEL", &ccel)),
        (lasa, log),
    ])
}

#[test]
fn served_log_replays_the_real_rtmrs() {
    let tcb = fixture();
    let all: Vec<EventLogEntry> = parse_event_log_json(&tcb["event_log"].to_string()).unwrap();
    let (firmware, runtime): (Vec<_>, Vec<_>) = all.into_iter().partition(|e| e.imr < 3);
    assert_eq!((firmware.len(), runtime.len()), (20, 9), "the fixture's shape changed");

    let memory = acpi_memory(tdvf_log_area(&firmware));
    let mut read = |addr: u64, buf: &mut [u8]| match memory.get(&addr) {
        Some(t) if t.len() >= buf.len() => {
            buf.copy_from_slice(&t[..buf.len()]);
            true
        }
        _ => false,
    };
    let log = read_firmware_log(&mut read, 0x1000).unwrap().expect("a CCEL table");
    assert_eq!(log.events, firmware, "the CCEL parse changed an event");

    // What the image does: start the log with the firmware's events, record its own after them.
    let mut served = EventLog::with_firmware_events(log.events).unwrap();
    for e in runtime {
        served.record(e).unwrap();
    }
    let replayed = replay(&parse_event_log_json(&served.to_json()).unwrap()).unwrap();
    for (i, name) in ["rtmr0", "rtmr1", "rtmr2", "rtmr3"].into_iter().enumerate() {
        assert_eq!(replayed.rtmr[i], hex48(&tcb[name]), "{name}");
        assert_eq!(served.rtmr(i), Some(hex48(&tcb[name])), "mirror {name}");
    }
    assert_eq!(replayed.inconsistent_entries().count(), 0);
}
