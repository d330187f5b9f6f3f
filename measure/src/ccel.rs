//! The firmware's binary event log (TCG2 "crypto agile" format, as TDVF writes it into the
//! area the ACPI CCEL table points to), converted into [`EventLogEntry`]s.
//!
//! Layout: a first legacy event (`pcr u32, type u32 = EV_NO_ACTION (3), sha1 digest [20],
//! size u32, TCG_EfiSpecIDEvent`) declaring the digest algorithms and their sizes, then
//! TCG_PCR_EVENT2 records: `mr_index u32, type u32, digest count u32, (alg u16, digest)*,
//! size u32, event data`. For confidential-computing logs the first field is the CC
//! measurement-register index: 1-4 = RTMR0-3 (0 = MRTD, never extended at run time). The log
//! ends at the end of the buffer or where the next record starts with 0xFFFFFFFF or 0 in both
//! index and type (unused log area). EV_NO_ACTION records are informational and skipped.
//!
//! Only the SHA-384 digest (algorithm 0x000C) of each record is kept; a record without one is
//! rejected. Not yet checked against a real CCEL dump: the tests build logs by this description.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::event::EventLogEntry;

/// TCG algorithm id of SHA-384.
pub const TPM_ALG_SHA384: u16 = 0x000c;
/// TCG EV_NO_ACTION.
pub const EV_NO_ACTION: u32 = 3;
/// Most records accepted.
pub const MAX_EVENTS: usize = 4096;
/// Largest event data accepted per record.
pub const MAX_EVENT_DATA: usize = 1 << 20;
const MAX_ALGORITHMS: usize = 8;

/// Why a binary event log was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CcelError {
    /// Ran out of bytes inside a record starting at `at`.
    Truncated { at: usize },
    /// The first record is not a Spec ID event ("Spec ID Event03").
    NoSpecIdEvent,
    /// The Spec ID event lists no or too many algorithms, or a zero/oversized digest size.
    BadAlgorithms,
    /// A record names an algorithm the Spec ID event did not declare.
    UnknownAlgorithm { at: usize, alg: u16 },
    /// A record without a SHA-384 digest.
    NoSha384 { at: usize },
    /// A record for an index other than RTMR0-3 (CC index 1-4).
    BadIndex { at: usize, index: u32 },
    TooManyEvents,
    EventTooLarge { at: usize },
}

impl fmt::Display for CcelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CcelError::Truncated { at } => write!(f, "event log truncated in the record at {at}"),
            CcelError::NoSpecIdEvent => write!(f, "event log does not start with a Spec ID event"),
            CcelError::BadAlgorithms => write!(f, "Spec ID event declares no usable digest algorithms"),
            CcelError::UnknownAlgorithm { at, alg } => write!(f, "record at {at}: undeclared algorithm {alg:#06x}"),
            CcelError::NoSha384 { at } => write!(f, "record at {at}: no SHA-384 digest"),
            CcelError::BadIndex { at, index } => write!(f, "record at {at}: measurement index {index} is not RTMR0-3"),
            CcelError::TooManyEvents => write!(f, "more than {MAX_EVENTS} records"),
            CcelError::EventTooLarge { at } => write!(f, "record at {at}: event data larger than {MAX_EVENT_DATA}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CcelError {}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    record: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CcelError> {
        let end = self.pos.checked_add(n).ok_or(CcelError::Truncated { at: self.record })?;
        let out = self.bytes.get(self.pos..end).ok_or(CcelError::Truncated { at: self.record })?;
        self.pos = end;
        Ok(out)
    }
    fn u16(&mut self) -> Result<u16, CcelError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b.first().copied().unwrap_or(0), b.get(1).copied().unwrap_or(0)]))
    }
    fn u32(&mut self) -> Result<u32, CcelError> {
        let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| CcelError::Truncated { at: self.record })?;
        Ok(u32::from_le_bytes(b))
    }
}

/// Parses the log; returns the measured (non-EV_NO_ACTION) records as event-log entries with
/// `imr` = RTMR index and an empty `event` name.
pub fn parse_event_log(bytes: &[u8]) -> Result<Vec<EventLogEntry>, CcelError> {
    let mut c = Cursor { bytes, pos: 0, record: 0 };
    // Legacy first record.
    let _pcr = c.u32()?;
    let kind = c.u32()?;
    let _sha1 = c.take(20)?;
    let size = usize::try_from(c.u32()?).map_err(|_| CcelError::NoSpecIdEvent)?;
    let spec = c.take(size)?;
    if kind != EV_NO_ACTION || spec.get(..16) != Some(b"Spec ID Event03\0") {
        return Err(CcelError::NoSpecIdEvent);
    }
    // platformClass u32, minor u8, major u8, errata u8, uintnSize u8, count u32, then pairs.
    let count = spec
        .get(24..28)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or(CcelError::NoSpecIdEvent)?;
    let count = usize::try_from(count).map_err(|_| CcelError::BadAlgorithms)?;
    if count == 0 || count > MAX_ALGORITHMS {
        return Err(CcelError::BadAlgorithms);
    }
    let mut algorithms: Vec<(u16, usize)> = Vec::with_capacity(count);
    for i in 0..count {
        let pair = spec.get(28 + 4 * i..32 + 4 * i).ok_or(CcelError::NoSpecIdEvent)?;
        let alg = u16::from_le_bytes([pair.first().copied().unwrap_or(0), pair.get(1).copied().unwrap_or(0)]);
        let len = usize::from(u16::from_le_bytes([pair.get(2).copied().unwrap_or(0), pair.get(3).copied().unwrap_or(0)]));
        if len == 0 || len > 64 {
            return Err(CcelError::BadAlgorithms);
        }
        algorithms.push((alg, len));
    }

    let mut out = Vec::new();
    let mut records = 0usize;
    while c.pos < bytes.len() {
        c.record = c.pos;
        let rest = bytes.get(c.pos..).unwrap_or(&[]);
        let head = rest.get(..8).unwrap_or(rest);
        if head.iter().all(|&b| b == 0xff) || head.iter().all(|&b| b == 0) {
            break;
        }
        records += 1;
        if records > MAX_EVENTS {
            return Err(CcelError::TooManyEvents);
        }
        let at = c.record;
        let index = c.u32()?;
        let event_type = c.u32()?;
        let digests = usize::try_from(c.u32()?).map_err(|_| CcelError::BadAlgorithms)?;
        if digests > MAX_ALGORITHMS {
            return Err(CcelError::BadAlgorithms);
        }
        let mut sha384 = None;
        for _ in 0..digests {
            let alg = c.u16()?;
            let len = algorithms
                .iter()
                .find(|(a, _)| *a == alg)
                .map(|&(_, l)| l)
                .ok_or(CcelError::UnknownAlgorithm { at, alg })?;
            let digest = c.take(len)?;
            if alg == TPM_ALG_SHA384 {
                sha384 = digest.try_into().ok();
            }
        }
        let size = usize::try_from(c.u32()?).map_err(|_| CcelError::EventTooLarge { at })?;
        if size > MAX_EVENT_DATA {
            return Err(CcelError::EventTooLarge { at });
        }
        let data = c.take(size)?;
        if event_type == EV_NO_ACTION {
            continue;
        }
        let digest: [u8; 48] = sha384.ok_or(CcelError::NoSha384 { at })?;
        let imr = match index {
            1..=4 => index - 1,
            other => return Err(CcelError::BadIndex { at, index: other }),
        };
        out.push(EventLogEntry { imr, event_type, digest, event: String::new(), event_payload: Vec::from(data) });
    }
    Ok(out)
}

/// Encodes entries in the same format (SHA-384 only), for tests and for tools that want to hand
/// a log to software expecting the binary form.
pub fn encode_event_log(entries: &[EventLogEntry]) -> Vec<u8> {
    let mut spec = Vec::new();
    spec.extend_from_slice(b"Spec ID Event03\0");
    spec.extend_from_slice(&0u32.to_le_bytes()); // platform class
    spec.extend_from_slice(&[0, 2, 0, 2]); // spec version 2.0 errata 0, uintn size 2 (64-bit)
    spec.extend_from_slice(&1u32.to_le_bytes());
    spec.extend_from_slice(&TPM_ALG_SHA384.to_le_bytes());
    spec.extend_from_slice(&48u16.to_le_bytes());
    spec.push(0); // vendor info size
    let mut out = Vec::new();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&EV_NO_ACTION.to_le_bytes());
    out.extend_from_slice(&[0; 20]);
    out.extend_from_slice(&(spec.len() as u32).to_le_bytes());
    out.extend_from_slice(&spec);
    for e in entries {
        out.extend_from_slice(&e.imr.saturating_add(1).to_le_bytes());
        out.extend_from_slice(&e.event_type.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&TPM_ALG_SHA384.to_le_bytes());
        out.extend_from_slice(&e.digest);
        out.extend_from_slice(&(e.event_payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&e.event_payload);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EV_SEPARATOR;

    fn entry(imr: u32, payload: &[u8]) -> EventLogEntry {
        EventLogEntry {
            imr,
            event_type: EV_SEPARATOR,
            digest: crate::rtmr::sha384(payload),
            event: String::new(),
            event_payload: Vec::from(payload),
        }
    }

    #[test]
    fn round_trip_padding_and_truncation() {
        let entries = alloc::vec![entry(0, &[0, 0, 0, 0]), entry(1, b"x")];
        let mut log = encode_event_log(&entries);
        assert_eq!(parse_event_log(&log), Ok(entries.clone()));
        log.extend_from_slice(&[0xff; 64]); // unused log area
        assert_eq!(parse_event_log(&log), Ok(entries.clone()));
        let clean = encode_event_log(&entries);
        for cut in 0..clean.len() {
            let r = parse_event_log(&clean[..cut]);
            assert!(r.is_err() || r.as_ref().map(|v| v.len() < 2).unwrap_or(false), "cut {cut}");
        }
        let mut bad_index = encode_event_log(&[entry(0, b"y")]);
        let first = bad_index.len() - (4 + 4 + 4 + 2 + 48 + 4 + 1);
        bad_index[first..first + 4].copy_from_slice(&9u32.to_le_bytes());
        assert!(matches!(parse_event_log(&bad_index), Err(CcelError::BadIndex { index: 9, .. })));
    }
}
