//! near/mpc's `tcb_info.json` (dstack's TCB info): reading it and replaying its event log.
//!
//! Only the fields a replay needs are read (`mrtd`, `rtmr0`-`rtmr3`, `event_log`); others
//! (`app_compose`, `os_image_hash`, ...) are ignored.

use std::fmt;

use serde::Deserialize;

use crate::event::{replay, DigestSource, EventError, EventLogEntry, Replay};
use crate::hex;
use crate::rtmr::Sha384Digest;

/// Largest tcb_info.json read (the real one is ~10 KiB).
pub const MAX_TCB_INFO_LEN: usize = 16 * 1024 * 1024;
/// Most events accepted.
pub const MAX_EVENTS: usize = 65_536;

/// The parts of tcb_info.json a replay uses.
#[derive(Clone, Debug, Deserialize)]
pub struct TcbInfo {
    #[serde(with = "crate::hex::serde_digest_hex")]
    pub mrtd: Sha384Digest,
    #[serde(with = "crate::hex::serde_digest_hex")]
    pub rtmr0: Sha384Digest,
    #[serde(with = "crate::hex::serde_digest_hex")]
    pub rtmr1: Sha384Digest,
    #[serde(with = "crate::hex::serde_digest_hex")]
    pub rtmr2: Sha384Digest,
    #[serde(with = "crate::hex::serde_digest_hex")]
    pub rtmr3: Sha384Digest,
    pub event_log: Vec<EventLogEntry>,
}

/// Why a tcb_info.json could not be used.
#[derive(Debug)]
pub enum TcbInfoError {
    TooLarge(usize),
    Json(serde_json::Error),
    TooManyEvents(usize),
    Event(EventError),
}

impl fmt::Display for TcbInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcbInfoError::TooLarge(n) => write!(f, "tcb_info of {n} bytes exceeds {MAX_TCB_INFO_LEN}"),
            TcbInfoError::Json(e) => write!(f, "tcb_info JSON: {e}"),
            TcbInfoError::TooManyEvents(n) => write!(f, "{n} events exceed {MAX_EVENTS}"),
            TcbInfoError::Event(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TcbInfoError {}

impl TcbInfo {
    /// Parses tcb_info.json text.
    pub fn parse(text: &[u8]) -> Result<Self, TcbInfoError> {
        if text.len() > MAX_TCB_INFO_LEN {
            return Err(TcbInfoError::TooLarge(text.len()));
        }
        let info: TcbInfo = serde_json::from_slice(text).map_err(TcbInfoError::Json)?;
        if info.event_log.len() > MAX_EVENTS {
            return Err(TcbInfoError::TooManyEvents(info.event_log.len()));
        }
        Ok(info)
    }

    /// The RTMR values the file states.
    pub fn stated_rtmrs(&self) -> [Sha384Digest; 4] {
        [self.rtmr0, self.rtmr1, self.rtmr2, self.rtmr3]
    }

    /// Replays the event log and compares with the stated values.
    pub fn replay(&self) -> Result<ReplayReport, TcbInfoError> {
        let replay = replay(&self.event_log).map_err(TcbInfoError::Event)?;
        Ok(ReplayReport::new(replay, self.stated_rtmrs()))
    }
}

/// A replay next to the values it is checked against.
#[derive(Clone, Debug)]
pub struct ReplayReport {
    pub replay: Replay,
    pub stated: [Sha384Digest; 4],
}

impl ReplayReport {
    fn new(replay: Replay, stated: [Sha384Digest; 4]) -> Self {
        Self { replay, stated }
    }

    /// Per register: computed == stated.
    pub fn matches(&self) -> [bool; 4] {
        let mut out = [false; 4];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = self.replay.rtmr.get(i) == self.stated.get(i);
        }
        out
    }

    /// All four registers match and no entry's digest contradicts its payload.
    pub fn all_match(&self) -> bool {
        self.matches().iter().all(|&m| m) && self.replay.inconsistent_entries().next().is_none()
    }

    /// The report as JSON: computed `rtmr0`-`rtmr3`, per-register match flags, and how many
    /// digests were recomputed from payloads versus taken from the log.
    pub fn to_json(&self) -> serde_json::Value {
        let count = |s: DigestSource| self.replay.entries.iter().filter(|e| e.source == s).count();
        let matches = self.matches();
        serde_json::json!({
            "rtmr0": hex::encode(&self.replay.rtmr[0]),
            "rtmr1": hex::encode(&self.replay.rtmr[1]),
            "rtmr2": hex::encode(&self.replay.rtmr[2]),
            "rtmr3": hex::encode(&self.replay.rtmr[3]),
            "match": {
                "rtmr0": matches[0],
                "rtmr1": matches[1],
                "rtmr2": matches[2],
                "rtmr3": matches[3],
            },
            "events": self.replay.entries.len(),
            "digests_recomputed_from_payload": count(DigestSource::RuntimeEvent)
                + count(DigestSource::PayloadHash)
                + count(DigestSource::VariableData),
            "digests_taken_from_log": count(DigestSource::Logged),
            "inconsistent_events": self.replay.inconsistent_entries().collect::<Vec<_>>(),
        })
    }
}
