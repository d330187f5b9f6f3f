//! What the image measures about itself, and the log of it.
//!
//! The firmware measures the image (RTMR1, Authenticode of the PE) but not
//! the command line of a non-Linux PE, so the image does it, before parsing:
//!
//! - **RTMR2** ← SHA-384 over the load options up to and including the first
//!   UTF-16 NUL unit; if there is no NUL, over the load options followed by
//!   `00 00`. For a well-formed command line `S` this is
//!   `SHA-384(UTF-16LE(S) ‖ 00 00)` — the digest the Linux EFI stub extends
//!   for its command line, so measure/ computes RTMR2 the same way for both.
//!
//! Every extension is appended to an in-memory event log (RTMR index, digest,
//! name, payload) that is served with the quote.

use alloc::vec::Vec;

use sha2::{Digest, Sha384};
use spin::Mutex;

use crate::platform::{self, PlatformError};

/// RTMR the command line goes into.
pub const CMDLINE_RTMR: usize = 2;

/// One logged extension.
#[derive(Clone)]
pub struct LoggedEvent {
    pub rtmr: usize,
    pub digest: [u8; 48],
    pub name: &'static str,
    pub payload: Vec<u8>,
}

static LOG: Mutex<Vec<LoggedEvent>> = Mutex::new(Vec::new());

/// The command-line digest defined in the module docs.
pub fn cmdline_digest(load_options: &[u8]) -> [u8; 48] {
    let mut h = Sha384::new();
    let nul_unit = load_options.chunks_exact(2).position(|u| u == [0, 0]);
    match nul_unit {
        Some(i) => h.update(&load_options[..(i + 1) * 2]),
        None => {
            h.update(load_options);
            h.update([0u8, 0u8]);
        }
    }
    h.finalize().into()
}

/// Extends `rtmr` with `digest` and logs it.
pub fn extend(rtmr: usize, name: &'static str, digest: [u8; 48], payload: Vec<u8>) -> Result<(), PlatformError> {
    platform::get().extend_rtmr(rtmr, &digest)?;
    LOG.lock().push(LoggedEvent { rtmr, digest, name, payload });
    Ok(())
}

/// A copy of the event log.
pub fn events() -> Vec<LoggedEvent> {
    LOG.lock().clone()
}
