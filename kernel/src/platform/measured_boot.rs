//! What the image measures about itself, and the log of it.
//!
//! Definitions (digests, event names, payload encodings) live in the
//! `tdsigner-measure` crate so that the image and the verifier share one
//! source; this module only extends RTMRs through the platform and keeps the
//! log the image serves in `/public_data`.
//!
//! Order of extensions at boot ([`measure_config`], right after the command
//! line parsed and before any secret exists):
//! - **RTMR2** ← `tdsigner.rtmr2` (EV_EFI_ACTION), one fixed event, the same
//!   on every node and launch (`tdsigner_measure::cmdline::rtmr2_event`), so
//!   MRTD and RTMR0-2 can be allowlisted per release. The command line holds
//!   per-node values and is not extended into RTMR2. A command line that does
//!   not parse halts the image before anything is measured or fetched.
//! - **RTMR3** ← dstack-V1 runtime events, in this order:
//!   `tdsigner.image-version`, `tdsigner.config` (the canonical command line,
//!   `NodeConfig::canonical`), `tdsigner.policy` (`NodeConfig::policy_payload`),
//!   then `tdsigner.key-source`, `tdsigner.store-generation`,
//!   [`tdsigner.provider-tcb`], `tdsigner.boot-done`. Everything before the
//!   store generation is the same on every boot of the same image and config,
//!   which a key provider that binds keys to RTMR3 relies on.
//!
//! The served log starts with the firmware's own events (RTMR0-2, from its
//! CCEL log, [`start_with_firmware_log`]), so a verifier replays all four
//! RTMRs from it; without a CCEL table that part is empty and
//! [`firmware_note`] says why.

use alloc::string::String;
use alloc::vec::Vec;

use spin::Mutex;
use tdsigner_measure::event::{EventLog, EventLogEntry};

use crate::platform::{self, PlatformError};

static LOG: Mutex<Option<EventLog>> = Mutex::new(None);
static FIRMWARE_NOTE: spin::Once<String> = spin::Once::new();

/// Starts the log with the firmware's events (already extended by the firmware) and records
/// the one-line note on them that every output carries. Call before any [`extend`].
pub fn start_with_firmware_log(events: Vec<EventLogEntry>, note: String) -> Result<(), MeasureError> {
    let log = EventLog::with_firmware_events(events).map_err(|_| MeasureError::Log)?;
    let mut slot = LOG.lock();
    if slot.is_some() {
        return Err(MeasureError::Log);
    }
    *slot = Some(log);
    FIRMWARE_NOTE.call_once(|| note);
    Ok(())
}

/// Where the firmware's part of the served log came from (or why it is empty).
pub fn firmware_note() -> &'static str {
    FIRMWARE_NOTE.get().map_or("not read", String::as_str)
}

/// Why an extension failed.
#[derive(Debug)]
pub enum MeasureError {
    Platform(PlatformError),
    /// The entry is not one the log accepts (bad index or name).
    Log,
}

impl core::fmt::Display for MeasureError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MeasureError::Platform(e) => write!(f, "{e}"),
            MeasureError::Log => write!(f, "event rejected by the event log"),
        }
    }
}

/// Extends the entry's RTMR with its digest and appends it to the log.
pub fn extend(entry: EventLogEntry) -> Result<(), MeasureError> {
    platform::get().extend_rtmr(entry.imr as usize, &entry.digest).map_err(MeasureError::Platform)?;
    let mut log = LOG.lock();
    log.get_or_insert_with(EventLog::new).record(entry).map_err(|_| MeasureError::Log)?;
    Ok(())
}

/// Extends a dstack-V1 runtime event into RTMR3.
pub fn extend_runtime(name: &str, payload: &[u8]) -> Result<(), MeasureError> {
    let entry = EventLogEntry::runtime(name, payload).map_err(|_| MeasureError::Log)?;
    extend(entry)
}

/// Extends the launch measurements of an accepted configuration: the fixed
/// RTMR2 event, then RTMR3 image version, canonical config and policy.
pub fn measure_config(config: &tdsigner_node::config::NodeConfig) -> Result<(), MeasureError> {
    let version = tdsigner_node::VERSION;
    extend(tdsigner_measure::cmdline::rtmr2_event())?;
    extend(tdsigner_measure::names::image_version(version))?;
    extend(tdsigner_measure::names::config(&config.canonical()))?;
    extend(tdsigner_measure::names::policy(&config.policy_payload(version)))
}

/// The event log as JSON (an array in the `tcb_info.json` `event_log` shape).
pub fn events_json() -> String {
    LOG.lock().as_ref().map_or_else(|| String::from("[]"), EventLog::to_json)
}
