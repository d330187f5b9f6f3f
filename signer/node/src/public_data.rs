//! The `GET /public_data` document: what anyone may learn about this node
//! to decide whether to trust it.
//!
//! Fields: version, platform, `debug_td` (a DEBUG TD: the host can read and
//! change its memory), `firmware_event_log` (where the firmware's events in
//! `event_log` came from, or why there are none), RTMR values (read from the emulated registers,
//! or from a fresh TDREPORT under TDX, together with MRTD), the event log of
//! everything the image extended itself (near/mpc `tcb_info.json`
//! `event_log` shape, produced by `tdsigner-measure`), and the node: its
//! account id, account and P2P TLS public keys as NEAR key strings, the
//! sealing-key source, the sealed store's generation and the report_data v1
//! that binds the keys. The quote joins this document with the attestation
//! work.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::health::PlatformKind;

/// The node's public identity.
pub struct NodePublic<'a> {
    pub account_id: &'a str,
    pub account_public_key: [u8; 32],
    pub tls_public_key: [u8; 32],
    /// `test`, `local-sgx`, ...
    pub key_source: &'a str,
    pub store_generation: u64,
    /// near/mpc report_data v1 over the two keys.
    pub report_data: [u8; 64],
    /// The platform's quote over `report_data` (TD quote v4; emulated quotes
    /// are signed by the public EMULATED test chain), if one was obtained.
    pub quote: Option<&'a [u8]>,
}

/// Inputs of the document.
pub struct PublicData<'a> {
    pub platform: PlatformKind,
    /// A DEBUG TD (TDATTRIBUTES.DEBUG).
    pub debug_td: bool,
    /// One line on the firmware's part of `event_log` (CCEL found, or none and why).
    pub firmware_event_log: &'a str,
    /// MRTD, when the platform can report it (TDX).
    pub mrtd: Option<[u8; 48]>,
    /// RTMR0..3.
    pub rtmrs: [[u8; 48]; 4],
    /// The event log, already a JSON array.
    pub event_log_json: &'a str,
    /// The node, once its identity is loaded.
    pub node: Option<NodePublic<'a>>,
    /// The signer state machine's status (already JSON), in signer mode.
    pub status_json: Option<&'a str>,
}

fn ed25519_text(key: &[u8; 32]) -> String {
    tdsigner_near::crypto::PublicKey::Ed25519(*key).to_text()
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
            "{{\"version\":\"{}\",\"platform\":\"{name}\",\"attestation\":\"{name}\",\"debug_td\":{},\"firmware_event_log\":",
            crate::VERSION,
            self.debug_td
        );
        json_string(&mut s, self.firmware_event_log);
        s.push(',');
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
        s.push_str(",\"node\":");
        match &self.node {
            None => s.push_str("null"),
            Some(n) => {
                s.push_str("{\"account_id\":");
                json_string(&mut s, n.account_id);
                let _ = write!(
                    s,
                    ",\"account_public_key\":\"{}\",\"tls_public_key\":\"{}\",\"key_source\":",
                    ed25519_text(&n.account_public_key),
                    ed25519_text(&n.tls_public_key)
                );
                json_string(&mut s, n.key_source);
                let _ = write!(s, ",\"store_generation\":{},\"report_data\":\"", n.store_generation);
                hex(&mut s, &n.report_data);
                s.push_str("\",\"quote\":");
                match n.quote {
                    Some(q) => {
                        s.push('"');
                        hex(&mut s, q);
                        s.push('"');
                    }
                    None => s.push_str("null"),
                }
                s.push('}');
            }
        }
        s.push_str(",\"signer\":");
        s.push_str(self.status_json.unwrap_or("null"));
        s.push_str(",\"event_log\":");
        s.push_str(self.event_log_json);
        s.push('}');
        s.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let node = NodePublic {
            account_id: "node0.test",
            account_public_key: [0; 32],
            tls_public_key: [1; 32],
            key_source: "test",
            store_generation: 7,
            report_data: [2; 64],
            quote: Some(&[0xab, 0xcd]),
        };
        let doc = PublicData {
            platform: PlatformKind::Emulated,
            debug_td: false,
            firmware_event_log: "none (emulated: no CCEL table)",
            mrtd: None,
            rtmrs: [[0; 48]; 4],
            event_log_json: "[]",
            node: Some(node),
            status_json: None,
        };
        let json = String::from_utf8(doc.to_json()).unwrap();
        assert!(json.starts_with(&alloc::format!(
            "{{\"version\":\"{}\",\"platform\":\"emulated\",\"attestation\":\"emulated\",\"debug_td\":false,\"firmware_event_log\":\"none (emulated: no CCEL table)\",\"mrtd\":null,\"rtmr0\":\"{}\"",
            crate::VERSION,
            "00".repeat(48)
        )));
        assert!(json.contains(
            "\"node\":{\"account_id\":\"node0.test\",\"account_public_key\":\"ed25519:11111111111111111111111111111111\","
        ));
        assert!(json.contains("\"key_source\":\"test\",\"store_generation\":7,"));
        assert!(json.contains("\"quote\":\"abcd\"}"));
        assert!(json.ends_with(",\"signer\":null,\"event_log\":[]}"));
        let debug = PublicData { platform: PlatformKind::Tdx, debug_td: true, firmware_event_log: "ccel", node: None, ..doc };
        let json = String::from_utf8(debug.to_json()).unwrap();
        assert!(json.contains("\"platform\":\"tdx\",\"attestation\":\"tdx\",\"debug_td\":true,\"firmware_event_log\":\"ccel\","), "{json}");
    }

    #[test]
    fn escapes_strings() {
        let mut s = String::new();
        json_string(&mut s, "a\"b\\c\n");
        assert_eq!(s, "\"a\\\"b\\\\c\\u000a\"");
    }
}
