//! The `GET /public_data` document: what anyone may learn about this node
//! to decide whether to trust it.
//!
//! Today: version, platform, RTMR values (read from the emulated registers,
//! or from a fresh TDREPORT under TDX, together with MRTD) and the event log
//! of everything the image extended itself, in the shape of near/mpc's
//! `tcb_info.json` `event_log` entries (`imr`, `event_type`, `digest`,
//! `event`, `event_payload` as hex). The quote, the node's keys and the store
//! generation join this document when attestation and the signer land.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::health::PlatformKind;

/// One event the image extended into an RTMR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventLogEntry {
    /// RTMR index (2 or 3).
    pub imr: u32,
    /// TCG event type.
    pub event_type: u32,
    /// The digest extended.
    pub digest: [u8; 48],
    /// Event name.
    pub event: String,
    /// The bytes the digest was computed from.
    pub payload: Vec<u8>,
}

/// Inputs of the document.
pub struct PublicData<'a> {
    pub platform: PlatformKind,
    /// MRTD, when the platform can report it (TDX).
    pub mrtd: Option<[u8; 48]>,
    /// RTMR0..3.
    pub rtmrs: [[u8; 48]; 4],
    pub event_log: &'a [EventLogEntry],
}

fn hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

/// Writes `s` as a JSON string literal.
pub fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl PublicData<'_> {
    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        let mut s = String::new();
        let name = self.platform.name();
        let _ = write!(
            s,
            "{{\"version\":\"{}\",\"platform\":\"{name}\",\"attestation\":\"{name}\",",
            crate::VERSION
        );
        s.push_str("\"mrtd\":");
        match &self.mrtd {
            Some(m) => {
                s.push('"');
                hex(&mut s, m);
                s.push('"');
            }
            None => s.push_str("null"),
        }
        for (i, rtmr) in self.rtmrs.iter().enumerate() {
            let _ = write!(s, ",\"rtmr{i}\":\"");
            hex(&mut s, rtmr);
            s.push('"');
        }
        s.push_str(",\"event_log\":[");
        for (i, e) in self.event_log.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{{\"imr\":{},\"event_type\":{},\"digest\":\"", e.imr, e.event_type);
            hex(&mut s, &e.digest);
            s.push_str("\",\"event\":");
            json_string(&mut s, &e.event);
            s.push_str(",\"event_payload\":\"");
            hex(&mut s, &e.payload);
            s.push_str("\"}");
        }
        s.push_str("]}");
        s.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let log = [EventLogEntry {
            imr: 2,
            event_type: 13,
            digest: [0xab; 48],
            event: "kernel-cmdline".into(),
            payload: alloc::vec![0x61, 0x00, 0x00, 0x00],
        }];
        let doc = PublicData { platform: PlatformKind::Emulated, mrtd: None, rtmrs: [[0; 48]; 4], event_log: &log };
        let json = String::from_utf8(doc.to_json()).unwrap();
        assert!(json.starts_with(&alloc::format!(
            "{{\"version\":\"{}\",\"platform\":\"emulated\",\"attestation\":\"emulated\",\"mrtd\":null,\"rtmr0\":\"{}\"",
            crate::VERSION,
            "00".repeat(48)
        )));
        assert!(json.ends_with(&alloc::format!(
            "\"event_log\":[{{\"imr\":2,\"event_type\":13,\"digest\":\"{}\",\"event\":\"kernel-cmdline\",\"event_payload\":\"61000000\"}}]}}",
            "ab".repeat(48)
        )));
    }

    #[test]
    fn escapes_strings() {
        let mut s = String::new();
        json_string(&mut s, "a\"b\\c\n");
        assert_eq!(s, "\"a\\\"b\\\\c\\u000a\"");
    }
}
