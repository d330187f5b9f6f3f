//! The RTMR2 measurement of the image's kernel command line.
//!
//! The image follows the Linux EFI stub: it measures its `EFI_LOADED_IMAGE_PROTOCOL.LoadOptions`
//! into PCR 9, which TDX maps to RTMR2, as an EV_EVENT_TAG event.
//!
//! Exact bytes hashed: let `cmdline` be the LoadOptions string up to (not including) its first
//! UTF-16 NUL (or all of it when there is none). The digest is
//! `SHA-384(UTF-16LE(cmdline) ‖ 00 00)`.
//!
//! With QEMU `-kernel IMAGE -append S`, OVMF/TDVF builds LoadOptions by widening every byte of
//! `S` to a UTF-16 code unit and appending a NUL (plus ` initrd=initrd` when `-initrd` is given;
//! tdsigner boots without initrd), so the digest equals [`cmdline_digest`]`(S)`; for ASCII
//! `S` that is SHA-384 of UTF-16LE(S) ‖ 00 00, the value dstack-mr computes for a Linux cmdline.
//!
//! The image logs it as [`cmdline_event`]: type EV_IPL (13), name `kernel-cmdline`, payload =
//! exactly the hashed bytes (`UTF-16LE(cmdline) ‖ 00 00`), so a verifier recomputes the digest from
//! the log and reads the command line there. [`load_options_event`] is the shape the Linux EFI
//! stub logs instead (EV_EVENT_TAG with a tagged-event payload that does not carry the command
//! line), kept for comparing with dstack logs.

use alloc::vec::Vec;
use core::fmt;

use sha2::{Digest, Sha384};

use crate::event::{EventLogEntry, EV_EVENT_TAG, EV_IPL, KERNEL_CMDLINE_EVENT};
use crate::rtmr::Sha384Digest;

/// RTMR index of the command-line event.
pub const CMDLINE_RTMR: u32 = 2;
/// Linux's tagged-event id for the LoadOptions measurement.
pub const LOAD_OPTIONS_TAGGED_EVENT_ID: u32 = 0x8F3B_22ED;
/// Tagged-event data of the LoadOptions measurement.
pub const LOAD_OPTIONS_TAGGED_EVENT_DATA: &[u8] = b"LOADED_IMAGE::LoadOptions\0";

/// Why LoadOptions could not be measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmdlineError {
    /// LoadOptions of odd byte length cannot be UTF-16.
    OddLength(usize),
}

impl fmt::Display for CmdlineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdlineError::OddLength(n) => write!(f, "LoadOptions has odd length {n}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CmdlineError {}

/// RTMR2 digest from the raw LoadOptions bytes (`LoadOptionsSize` bytes at `LoadOptions`).
pub fn cmdline_digest_from_load_options(load_options: &[u8]) -> Result<Sha384Digest, CmdlineError> {
    if !load_options.len().is_multiple_of(2) {
        return Err(CmdlineError::OddLength(load_options.len()));
    }
    let mut hasher = Sha384::new();
    for unit in load_options.chunks_exact(2) {
        if unit == [0, 0] {
            break;
        }
        hasher.update(unit);
    }
    hasher.update([0u8, 0]);
    Ok(hasher.finalize().into())
}

/// RTMR2 digest for a QEMU `-append` string given as bytes: each byte widened to one UTF-16
/// unit (what OVMF does), cut at the first NUL byte, then `00 00`.
pub fn cmdline_digest(cmdline: &[u8]) -> Sha384Digest {
    let mut hasher = Sha384::new();
    for &b in cmdline {
        if b == 0 {
            break;
        }
        hasher.update([b, 0]);
    }
    hasher.update([0u8, 0]);
    hasher.finalize().into()
}

/// The bytes the RTMR2 digest covers: LoadOptions up to and including the first UTF-16 NUL,
/// or all of them followed by `00 00` when there is none (an odd trailing byte is an error).
pub fn cmdline_measured_bytes(load_options: &[u8]) -> Result<Vec<u8>, CmdlineError> {
    if !load_options.len().is_multiple_of(2) {
        return Err(CmdlineError::OddLength(load_options.len()));
    }
    let mut out = Vec::with_capacity(load_options.len() + 2);
    for unit in load_options.chunks_exact(2) {
        if unit == [0, 0] {
            break;
        }
        out.extend_from_slice(unit);
    }
    out.extend_from_slice(&[0, 0]);
    Ok(out)
}

/// The image's RTMR2 event for its LoadOptions: EV_IPL, `kernel-cmdline`, payload = the
/// measured bytes, digest = SHA-384(payload) = [`cmdline_digest_from_load_options`].
pub fn cmdline_event(load_options: &[u8]) -> Result<EventLogEntry, CmdlineError> {
    let payload = cmdline_measured_bytes(load_options)?;
    Ok(EventLogEntry {
        imr: CMDLINE_RTMR,
        event_type: EV_IPL,
        digest: crate::rtmr::sha384(&payload),
        event: alloc::string::String::from(KERNEL_CMDLINE_EVENT),
        event_payload: payload,
    })
}

/// The Linux EFI stub's event-log entry for a LoadOptions measurement with `digest`.
pub fn load_options_event(digest: Sha384Digest) -> EventLogEntry {
    let mut payload = Vec::with_capacity(8 + LOAD_OPTIONS_TAGGED_EVENT_DATA.len());
    payload.extend_from_slice(&LOAD_OPTIONS_TAGGED_EVENT_ID.to_le_bytes());
    // 26 bytes: fits u32 by construction.
    payload.extend_from_slice(&(LOAD_OPTIONS_TAGGED_EVENT_DATA.len() as u32).to_le_bytes());
    payload.extend_from_slice(LOAD_OPTIONS_TAGGED_EVENT_DATA);
    EventLogEntry {
        imr: CMDLINE_RTMR,
        event_type: EV_EVENT_TAG,
        digest,
        event: alloc::string::String::new(),
        event_payload: payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmr::sha384;

    fn utf16z(s: &str) -> Vec<u8> {
        let mut v: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        v.extend_from_slice(&[0, 0]);
        v
    }

    #[test]
    fn load_options_and_append_string_agree() {
        let s = "console=ttyS0 tdsigner.config=abc";
        let expected = sha384(&utf16z(s));
        assert_eq!(cmdline_digest(s.as_bytes()), expected);
        // LoadOptions as OVMF builds them: UTF-16 + NUL.
        assert_eq!(cmdline_digest_from_load_options(&utf16z(s)), Ok(expected));
        // Without the NUL, and with trailing garbage after the NUL: same string, same digest.
        let mut no_nul = utf16z(s);
        no_nul.truncate(no_nul.len() - 2);
        assert_eq!(cmdline_digest_from_load_options(&no_nul), Ok(expected));
        let mut garbage = utf16z(s);
        garbage.extend_from_slice(&[0x41, 0, 0, 0]);
        assert_eq!(cmdline_digest_from_load_options(&garbage), Ok(expected));
        assert_eq!(cmdline_digest_from_load_options(&[1, 2, 3]), Err(CmdlineError::OddLength(3)));
        // Empty command line: just the terminator.
        assert_eq!(cmdline_digest(b""), sha384(&[0, 0]));
        assert_eq!(cmdline_digest_from_load_options(&[]), Ok(sha384(&[0, 0])));
    }

    #[test]
    fn cmdline_event_is_self_describing() {
        let s = "tdsigner.config=x";
        let e = cmdline_event(&utf16z(s)).unwrap_or_else(|_| unreachable!());
        assert_eq!(e.event_payload, utf16z(s));
        assert_eq!(Ok(e.digest), cmdline_digest_from_load_options(&utf16z(s)));
        assert_eq!(e.digest, cmdline_digest(s.as_bytes()));
        assert_eq!(e.derived_digest(0), Ok(Some(e.digest)));
        let mut log = crate::event::EventLog::new();
        assert!(log.record(e.clone()).is_ok());
        let mut forged = e;
        forged.event_payload = utf16z("tdsigner.config=y");
        assert!(log.record(forged).is_err());
        assert_eq!(cmdline_measured_bytes(&[]).ok(), Some(alloc::vec![0, 0]));
    }

    #[test]
    fn event_payload_matches_linux_stub_layout() {
        // The payload the Linux EFI stub logs (as seen in a real dstack event log).
        let e = load_options_event([0; 48]);
        assert_eq!(
            crate::hex::encode(&e.event_payload),
            "ed223b8f1a0000004c4f414445445f494d4147453a3a4c6f61644f7074696f6e7300"
        );
        assert_eq!((e.imr, e.event_type), (2, 6));
    }
}
