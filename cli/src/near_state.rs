//! `tdsigner near verify-state` and `verify-chunk-roots`: nearcore state proofs and shard state
//! roots checked offline, on answers an operator or verifier captured from any endpoint.

use std::path::Path;

use serde_json::json;
use tdsigner_near::chunk_roots::{self, HeaderHashCheck};
use tdsigner_near::hash::CryptoHash;
use tdsigner_near::state_view::{self, hex};

use crate::near::{read_max, Outcome};

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A 32-byte root as base58 or as 64 hex digits (either case).
pub(crate) fn parse_root(text: &str) -> Result<CryptoHash, String> {
    if text.len() == 64 && text.bytes().all(|c| c.is_ascii_hexdigit()) {
        let mut out = [0u8; 32];
        for (i, pair) in text.as_bytes().chunks(2).enumerate() {
            let s = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
            out[i] = u8::from_str_radix(s, 16).map_err(|e| e.to_string())?;
        }
        return Ok(CryptoHash(out));
    }
    CryptoHash::from_base58(text).map_err(|e| format!("not 64 hex digits nor base58: {e}"))
}

pub(crate) fn verify_state(root: &str, account: &str, prefix_b64: Option<&str>, path: &Path) -> Result<String, Outcome> {
    let state_root = parse_root(root).map_err(|e| Outcome::Malformed(format!("--state-root: {e}")))?;
    let prefix = match prefix_b64 {
        None => None,
        Some(p) => {
            use base64::Engine;
            Some(
                base64::engine::general_purpose::STANDARD
                    .decode(p)
                    .map_err(|_| Outcome::Malformed("--prefix-base64: invalid base64".into()))?,
            )
        }
    };
    let bytes = read_max(path, state_view::MAX_VIEW_STATE_BYTES)?;
    let answer = state_view::parse_view_state(&bytes).map_err(|e| Outcome::Malformed(format!("{}: {e}", path.display())))?;
    let verdicts = state_view::verify_values(&state_root, account, &answer)
        .map_err(|e| Outcome::Malformed(format!("--account-id: {e}")))?;
    let complete = prefix.as_ref().map(|p| state_view::verify_complete(&state_root, account, p, &answer));
    let values: Vec<_> = verdicts
        .iter()
        .map(|v| {
            let mut o = json!({
                "key": b64(&v.key),
                "key_hex": hex(&v.key),
                "value": b64(&v.value),
                "proven": v.result.is_ok(),
            });
            if let Err(e) = &v.result {
                o["error"] = json!(e.to_string());
            }
            o
        })
        .collect();
    let mut report = json!({
        "state_root": state_root.to_base58(),
        "account_id": account,
        "proof_nodes": answer.proof.len(),
        "proof_bytes": answer.proof.iter().map(Vec::len).sum::<usize>(),
        "values": values,
    });
    if let Some(c) = &complete {
        report["prefix"] = json!(prefix_b64);
        report["complete"] = json!(c.is_ok());
        if let Err(e) = c {
            report["complete_error"] = json!(e.to_string());
        }
    }
    let text = serde_json::to_string_pretty(&report).map_err(|e| Outcome::Malformed(e.to_string()))?;
    let unproven = verdicts.iter().filter(|v| v.result.is_err()).count();
    if unproven > 0 {
        println!("{text}");
        return Err(Outcome::Rejected(format!("{unproven} of {} values not proven", verdicts.len())));
    }
    match complete {
        Some(Err(e)) => {
            println!("{text}");
            Err(Outcome::Rejected(format!("key list not proven complete: {e}")))
        }
        None if verdicts.is_empty() => {
            println!("{text}");
            Err(Outcome::Rejected("no values to prove (pass --prefix-base64 to prove the prefix empty)".into()))
        }
        _ => Ok(text),
    }
}

pub(crate) fn verify_chunk_roots(path: &Path) -> Result<String, Outcome> {
    let bytes = read_max(path, chunk_roots::MAX_BLOCK_BYTES)?;
    let block = chunk_roots::parse_block_roots(&bytes).map_err(|e| Outcome::Malformed(format!("{}: {e}", path.display())))?;
    let r = chunk_roots::check_block_roots(&block);
    let header = match &r.header_hash {
        HeaderHashCheck::Matches(layout) => format!("header re-hashes to its hash ({layout:?} layout)"),
        HeaderHashCheck::NotAllFields(why) => format!("header hash NOT checked (header lacks fields: {why})"),
        HeaderHashCheck::Mismatch(why) => format!("header hash mismatch: {why}"),
    };
    let summary = format!(
        "block {} height {}: {} chunks, state roots merklize to {} (header prev_state_root {}); {}",
        block.hash,
        block.height,
        block.chunks.len(),
        r.computed,
        r.claimed,
        header
    );
    if r.ok() {
        Ok(summary)
    } else {
        Err(Outcome::Rejected(summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn data(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../signer/near/tests/data").join(name)
    }

    fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
        let p = std::env::temp_dir().join(format!("tdsigner-near-state-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    const LOCKUP: &str = "c3e5988357bc5ffe511fff286e03d05505a76bc1.lockup.near";
    const ROOT_A: &str = "EAf6x6aQ79pQ5c21Q9NhsF3Jf64hwjPVqQmgNDydDV5W";

    #[test]
    fn roots_parse_as_base58_or_hex() {
        let h = parse_root(ROOT_A).unwrap();
        let hex_text: String = h.0.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(parse_root(&hex_text).unwrap(), h);
        assert!(parse_root("zz").is_err());
    }

    #[test]
    fn verify_state_on_real_mainnet_answers() {
        let a = data("view_state_mainnet_lockup_a.json");
        let out = verify_state(ROOT_A, LOCKUP, None, &a).ok().unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["values"][0]["proven"], true);
        assert_eq!(v["values"][0]["key"], "U1RBVEU=");
        assert!(verify_state(ROOT_A, LOCKUP, Some("U1RBVEU="), &a).is_ok());
        // Wrong root: rejected; wrong account: rejected; unreadable inputs: malformed.
        let other = "6qexGgUPQCQCkqfNu9td1mSZpxzZBd2G2sHwTor31U8S";
        assert!(matches!(verify_state(other, LOCKUP, None, &a), Err(Outcome::Rejected(_))));
        assert!(matches!(verify_state(ROOT_A, "lockup.near", None, &a), Err(Outcome::Rejected(_))));
        assert!(matches!(verify_state("nope", LOCKUP, None, &a), Err(Outcome::Malformed(_))));
        let garbage = tmp("garbage.json", b"{\"values\": 3}");
        assert!(matches!(verify_state(ROOT_A, LOCKUP, None, &garbage), Err(Outcome::Malformed(_))));
        // A tampered value: rejected.
        let text = std::fs::read_to_string(&a).unwrap();
        let tampered = tmp("tampered.json", text.replacen("CgAAAGlsbGlh", "CgAAAGlsbGli", 1).as_bytes());
        assert!(matches!(verify_state(ROOT_A, LOCKUP, None, &tampered), Err(Outcome::Rejected(_))));
    }

    #[test]
    fn verify_chunk_roots_on_a_real_testnet_block() {
        let b = data("block_testnet_187310138.json");
        let line = verify_chunk_roots(&b).ok().unwrap();
        assert!(line.contains("header re-hashes"), "{line}");
        let text = std::fs::read_to_string(&b).unwrap();
        let swapped = tmp("swapped.json", text.replace("cRMk2zd2bWC1oBfGowgMTpqW9L5SNG2FeE72yT1wpQA", "GkcYxyvnet4nvL7LFdbKxiscFBpe5WSzy5g2pW58LSRs").as_bytes());
        assert!(matches!(verify_chunk_roots(&swapped), Err(Outcome::Rejected(_))));
        let garbage = tmp("block-garbage.json", b"[]");
        assert!(matches!(verify_chunk_roots(&garbage), Err(Outcome::Malformed(_))));
    }
}
