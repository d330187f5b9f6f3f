//! Event-log entries in the JSON shape of near/mpc's `tcb_info.json` (`event_log` array), the
//! dstack V1 runtime-event digest, and replay of a log into RTMR values.
//!
//! JSON shape of one entry (all fields required):
//! `{"imr": 3, "event_type": 134217729, "digest": "<96 hex>", "event": "<name>", "event_payload": "<hex>"}`
//! where `imr` is the RTMR index 0-3 and `event_payload` is hex of the raw payload bytes.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::rtmr::{sha384, sha384_parts, Rtmr, Sha384Digest};

/// dstack's runtime event type (RTMR3), whose digest is recomputed from name and payload.
pub const EV_DSTACK_RUNTIME: u32 = 0x0800_0001;
/// TCG EV_SEPARATOR.
pub const EV_SEPARATOR: u32 = 0x0000_0004;
/// TCG EV_IPL (measurements by the loaded image itself).
pub const EV_IPL: u32 = 0x0000_000d;
/// Name of the image's RTMR2 command-line event (EV_IPL, payload = the measured bytes).
pub const KERNEL_CMDLINE_EVENT: &str = "kernel-cmdline";
/// TCG EV_EVENT_TAG (the Linux EFI stub logs its LoadOptions/initrd measurements as these).
pub const EV_EVENT_TAG: u32 = 0x0000_0006;
/// TCG EV_PLATFORM_CONFIG_FLAGS (OVMF logs the QEMU ACPI blobs as "ACPI DATA").
pub const EV_PLATFORM_CONFIG_FLAGS: u32 = 0x0000_000a;
/// TCG EV_EFI_VARIABLE_DRIVER_CONFIG.
pub const EV_EFI_VARIABLE_DRIVER_CONFIG: u32 = 0x8000_0001;
/// TCG EV_EFI_VARIABLE_BOOT.
pub const EV_EFI_VARIABLE_BOOT: u32 = 0x8000_0002;
/// TCG EV_EFI_BOOT_SERVICES_APPLICATION.
pub const EV_EFI_BOOT_SERVICES_APPLICATION: u32 = 0x8000_0003;
/// TCG EV_EFI_ACTION.
pub const EV_EFI_ACTION: u32 = 0x8000_0007;
/// TCG EV_EFI_PLATFORM_FIRMWARE_BLOB2.
pub const EV_EFI_PLATFORM_FIRMWARE_BLOB2: u32 = 0x8000_000a;
/// TCG EV_EFI_HANDOFF_TABLES2.
pub const EV_EFI_HANDOFF_TABLES2: u32 = 0x8000_000b;
/// TCG EV_EFI_VARIABLE_BOOT2 (edk2 ≥ stable202505 logs BootOrder/Boot#### as these).
pub const EV_EFI_VARIABLE_BOOT2: u32 = 0x8000_000c;
/// TCG EV_EFI_VARIABLE_AUTHORITY.
pub const EV_EFI_VARIABLE_AUTHORITY: u32 = 0x8000_00e0;

/// Number of RTMRs.
pub const RTMR_COUNT: usize = 4;
/// Longest event name [`EventLogEntry::runtime`] accepts.
pub const MAX_RUNTIME_NAME_LEN: usize = 128;

/// Why an event (or a log) was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventError {
    /// `imr` is not an RTMR index (0-3).
    ImrOutOfRange { index: usize, imr: u32 },
    /// A runtime event name that is empty, too long, or contains a byte outside printable
    /// ASCII or a `:` (which would make the `type:name:payload` digest input ambiguous).
    InvalidRuntimeName,
    /// An EV_EFI_VARIABLE_BOOT payload that is not a well-formed UEFI_VARIABLE_DATA.
    MalformedVariableData { index: usize },
    /// [`EventLog::record`] was given an entry whose logged digest differs from the one its
    /// payload determines.
    DigestMismatch { index: usize },
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventError::ImrOutOfRange { index, imr } => {
                write!(f, "event {index}: imr {imr} is not an RTMR index (0-3)")
            }
            EventError::InvalidRuntimeName => write!(
                f,
                "runtime event name must be 1-{MAX_RUNTIME_NAME_LEN} printable ASCII bytes without ':'"
            ),
            EventError::MalformedVariableData { index } => {
                write!(f, "event {index}: EV_EFI_VARIABLE_BOOT payload is not a UEFI_VARIABLE_DATA")
            }
            EventError::DigestMismatch { index } => {
                write!(f, "event {index}: logged digest differs from the digest of its payload")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EventError {}

/// The dstack V1 runtime-event digest:
/// `SHA-384(0x08000001 as u32 little-endian ‖ ":" ‖ name ‖ ":" ‖ payload)`.
pub fn runtime_event_digest(name: &str, payload: &[u8]) -> Sha384Digest {
    runtime_event_digest_typed(EV_DSTACK_RUNTIME, name, payload)
}

fn runtime_event_digest_typed(event_type: u32, name: &str, payload: &[u8]) -> Sha384Digest {
    sha384_parts(&[&event_type.to_le_bytes(), b":", name.as_bytes(), b":", payload])
}

fn valid_runtime_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_RUNTIME_NAME_LEN
        && name.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b':')
}

/// One event-log entry.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventLogEntry {
    /// RTMR index (0-3).
    pub imr: u32,
    /// TCG event type, or [`EV_DSTACK_RUNTIME`].
    pub event_type: u32,
    /// The digest extended into the RTMR.
    #[serde(with = "crate::hex::serde_digest_hex")]
    pub digest: Sha384Digest,
    /// Event name (runtime events), empty for firmware events.
    pub event: String,
    /// Raw event data (what the firmware logs, or the runtime payload).
    #[serde(with = "crate::hex::serde_bytes_hex")]
    pub event_payload: Vec<u8>,
}

/// How [`EventLogEntry::derived_digest`] knows an entry's digest.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DigestSource {
    /// Recomputed from name and payload (dstack runtime events).
    RuntimeEvent,
    /// SHA-384 of the whole payload (separators, EFI actions, driver-config variables, the
    /// image's `kernel-cmdline` EV_IPL event).
    PayloadHash,
    /// SHA-384 of the variable data inside a UEFI_VARIABLE_DATA payload (boot variables).
    VariableData,
    /// Not derivable from the log: the measured bytes are not in it (firmware volumes, HOBs,
    /// ACPI tables, PE images, the command line). Replay has to take the logged digest.
    Logged,
}

impl EventLogEntry {
    /// A dstack-V1 runtime event for RTMR3 with its digest computed. The name must be 1-128
    /// printable ASCII bytes without `:`; the tdsigner names are in [`crate::names`].
    pub fn runtime(name: &str, payload: &[u8]) -> Result<Self, EventError> {
        if !valid_runtime_name(name) {
            return Err(EventError::InvalidRuntimeName);
        }
        Ok(Self::runtime_trusted_name(name, payload))
    }

    /// [`Self::runtime`] for names known valid at compile time.
    pub(crate) fn runtime_trusted_name(name: &str, payload: &[u8]) -> Self {
        Self {
            imr: 3,
            event_type: EV_DSTACK_RUNTIME,
            digest: runtime_event_digest(name, payload),
            event: String::from(name),
            event_payload: Vec::from(payload),
        }
    }

    /// Where this entry's digest comes from.
    pub fn digest_source(&self) -> DigestSource {
        match self.event_type {
            EV_DSTACK_RUNTIME => DigestSource::RuntimeEvent,
            EV_SEPARATOR | EV_EFI_ACTION | EV_EFI_VARIABLE_DRIVER_CONFIG => DigestSource::PayloadHash,
            // tdsigner's own command-line event carries exactly the hashed bytes.
            EV_IPL if self.event == KERNEL_CMDLINE_EVENT => DigestSource::PayloadHash,
            EV_EFI_VARIABLE_BOOT => DigestSource::VariableData,
            _ => DigestSource::Logged,
        }
    }

    /// The digest this entry's payload determines, or `None` when the log does not carry the
    /// measured bytes ([`DigestSource::Logged`]). `index` is only used in errors.
    pub fn derived_digest(&self, index: usize) -> Result<Option<Sha384Digest>, EventError> {
        Ok(match self.digest_source() {
            DigestSource::RuntimeEvent => Some(runtime_event_digest_typed(
                self.event_type,
                &self.event,
                &self.event_payload,
            )),
            DigestSource::PayloadHash => Some(sha384(&self.event_payload)),
            DigestSource::VariableData => {
                let data = uefi_variable_data(&self.event_payload)
                    .ok_or(EventError::MalformedVariableData { index })?;
                Some(sha384(data))
            }
            DigestSource::Logged => None,
        })
    }

    /// Writes this entry as one JSON object (the `tcb_info.json` shape).
    pub fn write_json(&self, out: &mut String) {
        // serde_json cannot fail on this type (string keys, no maps with non-string keys).
        if let Ok(text) = serde_json::to_string(self) {
            out.push_str(&text);
        }
    }
}

/// The `VariableData` part of a UEFI_VARIABLE_DATA payload:
/// `VariableName GUID (16) ‖ UnicodeNameLength u64 ‖ VariableDataLength u64 ‖ name (UTF-16) ‖ data`.
pub fn uefi_variable_data(payload: &[u8]) -> Option<&[u8]> {
    let name_chars = u64::from_le_bytes(payload.get(16..24)?.try_into().ok()?);
    let data_len = u64::from_le_bytes(payload.get(24..32)?.try_into().ok()?);
    let name_bytes = usize::try_from(name_chars).ok()?.checked_mul(2)?;
    let data_start = 32usize.checked_add(name_bytes)?;
    let data_end = data_start.checked_add(usize::try_from(data_len).ok()?)?;
    if data_end != payload.len() {
        return None;
    }
    payload.get(data_start..data_end)
}

/// Outcome of replaying one entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReplayedEntry {
    /// Where the digest used for the fold came from.
    pub source: DigestSource,
    /// Whether the logged digest equals the derived one (always true for [`DigestSource::Logged`]).
    pub logged_digest_consistent: bool,
}

/// Result of [`replay`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Replay {
    /// RTMR0-3 as the log determines them.
    pub rtmr: [Sha384Digest; RTMR_COUNT],
    /// Per-entry outcome, in log order.
    pub entries: Vec<ReplayedEntry>,
}

impl Replay {
    /// Entries whose logged digest contradicts their payload.
    pub fn inconsistent_entries(&self) -> impl Iterator<Item = usize> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.logged_digest_consistent)
            .map(|(i, _)| i)
    }
}

/// Folds a log per RTMR. Where the payload determines the digest, the derived digest is folded
/// (not the logged one), so an edited payload changes the result; other entries fold their
/// logged digest.
pub fn replay(entries: &[EventLogEntry]) -> Result<Replay, EventError> {
    let mut registers = [Rtmr::new(); RTMR_COUNT];
    let mut outcomes = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let register = usize::try_from(entry.imr)
            .ok()
            .and_then(|i| registers.get_mut(i))
            .ok_or(EventError::ImrOutOfRange { index, imr: entry.imr })?;
        let derived = entry.derived_digest(index)?;
        let digest = derived.unwrap_or(entry.digest);
        register.extend(&digest);
        outcomes.push(ReplayedEntry {
            source: entry.digest_source(),
            logged_digest_consistent: digest == entry.digest,
        });
    }
    Ok(Replay { rtmr: registers.map(|r| r.value()), entries: outcomes })
}

/// An in-memory event log that mirrors the RTMRs it describes (what the image keeps and serves
/// with its quote).
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    entries: Vec<EventLogEntry>,
    registers: [Rtmr; RTMR_COUNT],
}

impl EventLog {
    /// An empty log with all mirrored registers at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// A log that starts with the firmware's own events (from its CCEL log), in firmware order,
    /// which the image's events then follow. The firmware already extended these into the
    /// RTMRs, so they are taken as logged: only `imr` is checked (0-3), not whether each digest
    /// matches its payload (a verifier's replay reports any that do not).
    pub fn with_firmware_events(events: Vec<EventLogEntry>) -> Result<Self, EventError> {
        let mut log = Self::new();
        for (index, entry) in events.iter().enumerate() {
            let register = usize::try_from(entry.imr)
                .ok()
                .and_then(|i| log.registers.get_mut(i))
                .ok_or(EventError::ImrOutOfRange { index, imr: entry.imr })?;
            register.extend(&entry.digest);
        }
        log.entries = events;
        Ok(log)
    }

    /// Appends `entry` and extends the mirrored register. Returns the digest the caller must
    /// extend into the real RTMR `entry.imr`. Rejects an entry whose digest contradicts its
    /// payload or whose `imr` is not 0-3.
    pub fn record(&mut self, entry: EventLogEntry) -> Result<Sha384Digest, EventError> {
        let index = self.entries.len();
        let register = usize::try_from(entry.imr)
            .ok()
            .and_then(|i| self.registers.get_mut(i))
            .ok_or(EventError::ImrOutOfRange { index, imr: entry.imr })?;
        if let Some(derived) = entry.derived_digest(index)? {
            if derived != entry.digest {
                return Err(EventError::DigestMismatch { index });
            }
        }
        register.extend(&entry.digest);
        let digest = entry.digest;
        self.entries.push(entry);
        Ok(digest)
    }

    /// The entries in log order. (Firmware events from the boot, e.g. RTMR0/1, can be added with
    /// [`Self::record`] too; the mirror then tracks those registers as well.)
    pub fn entries(&self) -> &[EventLogEntry] {
        &self.entries
    }

    /// The mirrored value of RTMR `index` (0-3).
    pub fn rtmr(&self, index: usize) -> Option<Sha384Digest> {
        self.registers.get(index).map(|r| r.value())
    }

    /// The log as a JSON array (the `event_log` value of `tcb_info.json`).
    pub fn to_json(&self) -> String {
        let mut out = String::from("[");
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            entry.write_json(&mut out);
        }
        out.push(']');
        out
    }
}

/// Parses a JSON array of entries (the `event_log` value), bounded by the input length.
pub fn parse_event_log_json(text: &str) -> Result<Vec<EventLogEntry>, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_digest_matches_definition() {
        let mut input = Vec::new();
        input.extend_from_slice(&0x0800_0001u32.to_le_bytes());
        input.extend_from_slice(b":tdsigner.key-source:test");
        assert_eq!(runtime_event_digest("tdsigner.key-source", b"test"), sha384(&input));
    }

    #[test]
    fn runtime_names_are_validated() {
        assert!(EventLogEntry::runtime("tdsigner.x", b"").is_ok());
        for bad in ["", "a:b", "has space", "\u{e9}"] {
            assert_eq!(EventLogEntry::runtime(bad, b""), Err(EventError::InvalidRuntimeName));
        }
        let long = "a".repeat(MAX_RUNTIME_NAME_LEN + 1);
        assert_eq!(EventLogEntry::runtime(&long, b""), Err(EventError::InvalidRuntimeName));
    }

    #[test]
    fn log_records_and_serializes() {
        let mut log = EventLog::new();
        let e = EventLogEntry::runtime("tdsigner.a", b"\x01\x02").unwrap_or_else(|_| unreachable!());
        let d = log.record(e.clone()).unwrap_or_else(|_| unreachable!());
        assert_eq!(d, e.digest);
        assert_eq!(log.rtmr(3), Some(crate::rtmr::fold([&d])));
        assert_eq!(log.rtmr(0), Some([0; 48]));
        let json = log.to_json();
        let parsed = parse_event_log_json(&json).unwrap_or_else(|_| unreachable!());
        assert_eq!(parsed, alloc::vec![e.clone()]);
        let mut forged = e;
        forged.event_payload = alloc::vec![9];
        assert_eq!(log.record(forged), Err(EventError::DigestMismatch { index: 1 }));
        let mut bad_imr = EventLogEntry::runtime("x", b"").unwrap_or_else(|_| unreachable!());
        bad_imr.imr = 4;
        assert_eq!(log.record(bad_imr), Err(EventError::ImrOutOfRange { index: 1, imr: 4 }));
    }

    #[test]
    fn firmware_events_come_first_and_are_kept_as_logged() {
        let mut fw = EventLogEntry::runtime("fw", b"").unwrap_or_else(|_| unreachable!());
        fw.imr = 1;
        fw.event_type = EV_EFI_PLATFORM_FIRMWARE_BLOB2;
        let mut log = EventLog::with_firmware_events(alloc::vec![fw.clone()]).unwrap_or_else(|_| unreachable!());
        assert_eq!(log.rtmr(1), Some(crate::rtmr::fold([&fw.digest])));
        let own = EventLogEntry::runtime("tdsigner.a", b"").unwrap_or_else(|_| unreachable!());
        log.record(own.clone()).unwrap_or_else(|_| unreachable!());
        assert_eq!(log.entries(), &[fw.clone(), own][..]);
        let mut bad = fw;
        bad.imr = 7;
        assert_eq!(EventLog::with_firmware_events(alloc::vec![bad]).err(), Some(EventError::ImrOutOfRange { index: 0, imr: 7 }));
    }

    #[test]
    fn variable_data_bounds() {
        let mut p = alloc::vec![0u8; 32];
        p[16] = 1; // one UTF-16 char of name
        p[24] = 2; // two data bytes
        p.extend_from_slice(&[b'A', 0, 7, 8]);
        assert_eq!(uefi_variable_data(&p), Some(&[7u8, 8][..]));
        p.push(0);
        assert_eq!(uefi_variable_data(&p), None);
        p[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(uefi_variable_data(&p), None);
        assert_eq!(uefi_variable_data(&[0u8; 10]), None);
    }
}
