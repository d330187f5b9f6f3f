//! What the image measures about itself, and the log of it.
//!
//! The firmware measures the image (RTMR1, Authenticode of the PE) but not
//! the command line of a non-Linux PE, so the image does it, before parsing:
//!
//! - **RTMR2** ← SHA-384 of the *measured command-line bytes*: the load
//!   options up to and including the first UTF-16 NUL unit, or, if there is
//!   no NUL, the load options followed by `00 00`. For a well-formed command
//!   line `S` these bytes are `UTF-16LE(S) ‖ 00 00`, the same digest input the
//!   Linux EFI stub uses for its command line, so `measure` computes RTMR2 the
//!   same way for both. Logged as event type 13 (EV_IPL), name
//!   `kernel-cmdline`, payload = the measured bytes.
//!
//! Every extension is appended to an in-memory event log served in
//! `/public_data`; a verifier recomputes each digest from its payload.

use alloc::string::String;
use alloc::vec::Vec;

use sha2::{Digest, Sha384};
use spin::Mutex;
use tdsigner_node::public_data::EventLogEntry;

use crate::platform::{self, PlatformError};

/// RTMR the command line goes into.
pub const CMDLINE_RTMR: u32 = 2;
/// TCG EV_IPL: measurements by the boot loader / OS image itself.
pub const EV_IPL: u32 = 13;

static LOG: Mutex<Vec<EventLogEntry>> = Mutex::new(Vec::new());

/// The bytes the command-line digest covers (see the module docs).
pub fn cmdline_measured_bytes(load_options: &[u8]) -> Vec<u8> {
    match load_options.chunks_exact(2).position(|u| u == [0, 0]) {
        Some(i) => load_options[..(i + 1) * 2].to_vec(),
        None => {
            let mut bytes = load_options.to_vec();
            bytes.extend_from_slice(&[0, 0]);
            bytes
        }
    }
}

/// Extends `rtmr` with SHA-384(`payload`) and logs the event.
pub fn extend(rtmr: u32, event_type: u32, name: &str, payload: Vec<u8>) -> Result<(), PlatformError> {
    let digest: [u8; 48] = Sha384::digest(&payload).into();
    platform::get().extend_rtmr(rtmr as usize, &digest)?;
    LOG.lock().push(EventLogEntry { imr: rtmr, event_type, digest, event: String::from(name), payload });
    Ok(())
}

/// A copy of the event log.
pub fn events() -> Vec<EventLogEntry> {
    LOG.lock().clone()
}
