//! RTMR2: the image's fixed launch event ([`rtmr2_event`]), and the command-line digests.
//!
//! **What the image extends into RTMR2 (since measurement scheme 1):** one event, the same on
//! every node and every launch: EV_EFI_ACTION, name `tdsigner.rtmr2`, payload the ASCII text
//! [`RTMR2_STATEMENT`], digest SHA-384(payload). So RTMR2 = [`rtmr2_value`] =
//! SHA-384(48 zero bytes ‖ SHA-384([`RTMR2_STATEMENT`])), a constant of the measurement scheme,
//! recorded in image-build's `out/manifest.json`. The command line holds per-node values
//! (account, RPC, trust anchor, key source); it goes to RTMR3 as the canonical
//! `tdsigner.config` and the `tdsigner.policy` events ([`crate::names`]), so MRTD and RTMR0-2 are
//! the same for every node of a release on one launch shape and a network can allowlist them.
//!
//! The rest of this module is the earlier scheme, kept for verifiers of older images and for
//! comparing with dstack/Linux logs:
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

/// Name of the image's RTMR2 event.
pub const RTMR2_EVENT_NAME: &str = "tdsigner.rtmr2";
/// Payload of the image's RTMR2 event (ASCII, no terminator). Changing it changes RTMR2 for
/// every node, which is the point: it names the measurement scheme.
pub const RTMR2_STATEMENT: &str =
    "tdsigner measurement scheme 1: RTMR2 holds no per-node value; the configuration is in RTMR3 (tdsigner.config, tdsigner.policy)";

/// The image's only RTMR2 event: EV_EFI_ACTION, [`RTMR2_EVENT_NAME`], payload
/// [`RTMR2_STATEMENT`], digest SHA-384(payload) (so a replay recomputes it).
pub fn rtmr2_event() -> EventLogEntry {
    EventLogEntry {
        imr: CMDLINE_RTMR,
        event_type: crate::event::EV_EFI_ACTION,
        digest: crate::rtmr::sha384(RTMR2_STATEMENT.as_bytes()),
        event: alloc::string::String::from(RTMR2_EVENT_NAME),
        event_payload: Vec::from(RTMR2_STATEMENT.as_bytes()),
    }
}

/// RTMR2 of every tdsigner launch: [`rtmr2_event`] extended into a zero register.
pub fn rtmr2_value() -> Sha384Digest {
    crate::rtmr::fold([rtmr2_event().digest].iter())
}

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
    fn rtmr2_is_one_fixed_self_describing_event() {
        let e = rtmr2_event();
        assert_eq!((e.imr, e.event_type), (2, crate::event::EV_EFI_ACTION));
        assert_eq!(e.derived_digest(0), Ok(Some(e.digest)));
        // The documented constant: SHA-384(48 zero bytes ‖ SHA-384(statement)).
        let mut pre = alloc::vec![0u8; 48];
        pre.extend_from_slice(&sha384(RTMR2_STATEMENT.as_bytes()));
        assert_eq!(rtmr2_value(), sha384(&pre));
        assert_eq!(
            crate::hex::encode(&rtmr2_value()),
            RTMR2_VALUE_HEX,
            "RTMR2 changed: update measure/README.md and every pinned copy"
        );
        let replayed = crate::event::replay(&[e]).unwrap_or_else(|_| unreachable!());
        assert_eq!(replayed.rtmr[2], rtmr2_value());
    }

    /// The value documented in measure/README.md.
    const RTMR2_VALUE_HEX: &str = "70b62fcb35380741c544297e3787664e1e931ad2db7ba537649bf229b1e0788afb3bb10080a8ae555d2d411a26d72bd3";

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
