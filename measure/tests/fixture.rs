//! Pins the measurement rules against the real TDX event log in
//! ../shared/fixtures/near-mpc/tcb_info.json (a dstack VM running near/mpc, TDVF from
//! edk2-stable202502, QEMU -kernel direct boot, 64 GiB).

mod common;

use tdsigner_measure::cmdline::load_options_event;
use tdsigner_measure::event::{
    replay, uefi_variable_data, DigestSource, EventLogEntry, EV_DSTACK_RUNTIME, EV_EFI_ACTION,
    EV_EFI_BOOT_SERVICES_APPLICATION, EV_EVENT_TAG,
};
use tdsigner_measure::firmware::{
    rtmr0_events, rtmr1_events, FirmwareVariant, secure_boot_variable_events, separator_digest, uiapp_load_option,
    uefi_variable_data as build_variable_data, EFI_GLOBAL_VARIABLE_GUID, IMAGE_SECURITY_DATABASE_GUID,
};
use tdsigner_measure::acpi::AcpiMeasurement;
use tdsigner_measure::rtmr::fold;
use tdsigner_measure::tcb_info::TcbInfo;
use tdsigner_measure::tdvf::{td_hob, Section, SectionType};
use tdsigner_measure::{hex, sha384};

fn info() -> TcbInfo {
    TcbInfo::parse(&common::tcb_info_bytes()).expect("fixture parses")
}

fn json_value() -> serde_json::Value {
    serde_json::from_slice(&common::tcb_info_bytes()).expect("fixture JSON")
}

fn replay_value(v: &serde_json::Value) -> Result<bool, String> {
    let text = serde_json::to_vec(v).map_err(|e| e.to_string())?;
    let info = TcbInfo::parse(&text).map_err(|e| e.to_string())?;
    info.replay().map(|r| r.all_match()).map_err(|e| e.to_string())
}

#[test]
fn fixture_replays_to_its_rtmrs() {
    let info = info();
    let report = info.replay().expect("replay");
    assert_eq!(report.matches(), [true; 4]);
    assert!(report.all_match());
    // 21 digests are recomputed from payloads (9 runtime events, 5 secure-boot variables,
    // 2 boot variables, 2 separators, 3 EFI actions); 8 are only in the log.
    let recomputed = report.replay.entries.iter().filter(|e| e.source != DigestSource::Logged).count();
    assert_eq!((report.replay.entries.len(), recomputed), (29, 21));
}

#[test]
fn tampered_copies_fail() {
    let original = json_value();
    assert_eq!(replay_value(&original), Ok(true));

    // 1. A runtime event's payload (compose-hash) edited: the recomputed digest no longer folds
    //    to rtmr3 and the entry is reported inconsistent.
    let mut v = original.clone();
    let log = v["event_log"].as_array_mut().expect("array");
    let i = log.iter().position(|e| e["event"] == "compose-hash").expect("compose-hash event");
    log[i]["event_payload"] = serde_json::Value::String("00".repeat(32));
    assert_eq!(replay_value(&v), Ok(false));

    // 2. A digest that is only in the log (the kernel image) edited.
    let mut v = original.clone();
    let log = v["event_log"].as_array_mut().expect("array");
    let i = log.iter().position(|e| e["event_type"] == EV_EFI_BOOT_SERVICES_APPLICATION).expect("image event");
    log[i]["digest"] = serde_json::Value::String("11".repeat(48));
    assert_eq!(replay_value(&v), Ok(false));

    // 3. A stated register edited.
    let mut v = original.clone();
    v["rtmr1"] = serde_json::Value::String("22".repeat(48));
    assert_eq!(replay_value(&v), Ok(false));

    // 4. An event dropped.
    let mut v = original.clone();
    v["event_log"].as_array_mut().expect("array").remove(3);
    assert_eq!(replay_value(&v), Ok(false));

    // 5. Two runtime events swapped (order matters).
    let mut v = original.clone();
    let log = v["event_log"].as_array_mut().expect("array");
    let n = log.len();
    log.swap(n - 1, n - 2);
    assert_eq!(replay_value(&v), Ok(false));

    // 6. Only a logged digest of a recomputable event edited (payload intact): inconsistent.
    let mut v = original.clone();
    let log = v["event_log"].as_array_mut().expect("array");
    let i = log.iter().position(|e| e["event_type"] == EV_EFI_ACTION).expect("action");
    log[i]["digest"] = serde_json::Value::String("33".repeat(48));
    assert_eq!(replay_value(&v), Ok(false));

    // 7. Malformed: imr out of range, bad hex.
    let mut v = original.clone();
    v["event_log"][0]["imr"] = serde_json::json!(4);
    assert!(replay_value(&v).is_err());
    let mut v = original;
    v["event_log"][0]["digest"] = serde_json::Value::String("zz".into());
    assert!(replay_value(&v).is_err());
}

fn rtmr0(info: &TcbInfo) -> Vec<&EventLogEntry> {
    info.event_log.iter().filter(|e| e.imr == 0).collect()
}

/// TD HOB: dstack's TDVF (and ours, see tdvf_build.rs) has TEMP_MEM 0x800000+0x6000,
/// TD_HOB 0x809000+0x2000, TEMP_MEM 0x80b000+0x2000 and 0x810000+0x10000.
#[test]
fn td_hob_rule_matches_real_log_at_64_gib() {
    let s = |gpa, size, t| Section {
        data_offset: 0,
        raw_data_size: 0,
        memory_address: gpa,
        memory_data_size: size,
        section_type: t,
        attributes: 0,
    };
    let sections = [
        s(0x81_0000, 0x1_0000, SectionType::TempMem),
        s(0x80_b000, 0x2000, SectionType::TempMem),
        s(0x80_9000, 0x2000, SectionType::TdHob),
        s(0x80_0000, 0x6000, SectionType::TempMem),
    ];
    let info = info();
    let hob = td_hob(&sections, 64 << 30).expect("hob");
    assert_eq!(sha384(&hob), rtmr0(&info)[0].digest);
    // The HOB event's payload names the HOB's address (UEFI_HANDOFF_TABLE_POINTERS2 "TdxTable").
    assert_eq!(&rtmr0(&info)[0].event_payload[34..42], &0x80_9000u64.to_le_bytes());
    // Other sizes give other HOBs (the memory size is measured).
    assert_ne!(sha384(&td_hob(&sections, 32 << 30).expect("hob")), rtmr0(&info)[0].digest);
    assert_ne!(sha384(&td_hob(&sections, 2 << 30).expect("hob")), rtmr0(&info)[0].digest);
}

#[test]
fn secure_boot_variables_separator_and_boot_variables_match() {
    let info = info();
    let r0 = rtmr0(&info);
    let vars = secure_boot_variable_events();
    let names = [
        (EFI_GLOBAL_VARIABLE_GUID, "SecureBoot"),
        (EFI_GLOBAL_VARIABLE_GUID, "PK"),
        (EFI_GLOBAL_VARIABLE_GUID, "KEK"),
        (IMAGE_SECURITY_DATABASE_GUID, "db"),
        (IMAGE_SECURITY_DATABASE_GUID, "dbx"),
    ];
    for (i, (var, (guid, name))) in vars.iter().zip(names).enumerate() {
        let logged = r0[2 + i];
        assert_eq!(var.digest, logged.digest, "{name}");
        assert_eq!(build_variable_data(&guid, name, &[]), logged.event_payload, "{name} payload");
    }
    assert_eq!(separator_digest(), r0[7].digest);
    // BootOrder = {0000}; Boot0000 = UiApp.
    assert_eq!(uefi_variable_data(&r0[11].event_payload), Some(&[0u8, 0][..]));
    assert_eq!(sha384(&[0, 0]), r0[11].digest);
    assert_eq!(uefi_variable_data(&r0[12].event_payload), Some(&uiapp_load_option()[..]));
    assert_eq!(sha384(&uiapp_load_option()), r0[12].digest);
}

#[test]
fn rtmr0_sequence_rebuilds_the_real_register() {
    let info = info();
    let r0 = rtmr0(&info);
    // Inputs that are not derivable without the host's files come from the log: the TD HOB and
    // CFV digests (derived from firmware + memory elsewhere), and the three ACPI blobs.
    let acpi: Vec<AcpiMeasurement> = r0[8..11]
        .iter()
        .map(|e| AcpiMeasurement { file: "from log".into(), digest: e.digest })
        .collect();
    let events = rtmr0_events(r0[0].digest, r0[1].digest, &acpi, FirmwareVariant::Pre202505);
    assert_eq!(events.len(), r0.len());
    for (ours, real) in events.iter().zip(&r0) {
        assert_eq!((ours.imr, ours.event_type, ours.digest), (real.imr, real.event_type, real.digest), "{}", ours.what);
    }
    assert_eq!(fold(events.iter().map(|e| &e.digest)), info.rtmr0);
    // The edk2 ≥ stable202505 sequence does not describe this (edk2-stable202502) log.
    let newer = rtmr0_events(r0[0].digest, r0[1].digest, &acpi, FirmwareVariant::Stable202505);
    assert_ne!(fold(newer.iter().map(|e| &e.digest)), info.rtmr0);
}

#[test]
fn rtmr1_sequence_rebuilds_the_real_register() {
    let info = info();
    let r1: Vec<&EventLogEntry> = info.event_log.iter().filter(|e| e.imr == 1).collect();
    let image_digest = r1[0].digest;
    let events = rtmr1_events(image_digest, true);
    assert_eq!(events.len(), r1.len());
    for (ours, real) in events.iter().zip(&r1) {
        assert_eq!((ours.event_type, ours.digest), (real.event_type, real.digest), "{}", ours.what);
    }
    assert_eq!(fold(events.iter().map(|e| &e.digest)), info.rtmr1);
    assert_ne!(fold(rtmr1_events(image_digest, false).iter().map(|e| &e.digest)), info.rtmr1);
}

#[test]
fn cmdline_event_has_the_linux_stub_shape() {
    let info = info();
    let r2: Vec<&EventLogEntry> = info.event_log.iter().filter(|e| e.imr == 2).collect();
    let ours = load_options_event(r2[0].digest);
    assert_eq!((ours.imr, ours.event_type), (2, EV_EVENT_TAG));
    assert_eq!(ours.event_payload, r2[0].event_payload);
    assert_eq!(ours, *r2[0]);
}

#[test]
fn runtime_events_recompute() {
    let info = info();
    for e in info.event_log.iter().filter(|e| e.event_type == EV_DSTACK_RUNTIME) {
        assert_eq!(tdsigner_measure::event::runtime_event_digest(&e.event, &e.event_payload), e.digest, "{}", e.event);
    }
    let r3: Vec<EventLogEntry> = info.event_log.iter().filter(|e| e.imr == 3).cloned().collect();
    assert_eq!(replay(&r3).expect("replay").rtmr[3], info.rtmr3);
    // The served-log JSON shape round-trips through the writer.
    let mut log = tdsigner_measure::event::EventLog::new();
    for e in &info.event_log {
        log.record(e.clone()).expect("consistent entries record");
    }
    assert_eq!(log.rtmr(3), Some(info.rtmr3));
    assert_eq!(log.rtmr(0), Some(info.rtmr0));
    let parsed = tdsigner_measure::event::parse_event_log_json(&log.to_json()).expect("json");
    assert_eq!(parsed, info.event_log);
    assert_eq!(hex::encode(&info.rtmr3).len(), 96);
}

#[test]
fn binary_event_log_round_trip_of_the_real_firmware_events() {
    use tdsigner_measure::ccel::{encode_event_log, parse_event_log};
    let info = info();
    let firmware: Vec<EventLogEntry> = info.event_log.iter().filter(|e| e.imr < 3).cloned().collect();
    let parsed = parse_event_log(&encode_event_log(&firmware)).expect("parse");
    assert_eq!(parsed, firmware);
    let r = replay(&parsed).expect("replay");
    assert_eq!((r.rtmr[0], r.rtmr[1], r.rtmr[2]), (info.rtmr0, info.rtmr1, info.rtmr2));
}
