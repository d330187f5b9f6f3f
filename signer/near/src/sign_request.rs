//! Proven sign requests. A candidate may come from anywhere (any RPC method);
//! it becomes a [`SignRequest`] only from a [`ProvenOutcome`] (an outcome
//! proven against a verified head) that:
//!
//! 1. was executed by the signer contract (`executor_id`),
//! 2. ended in `SuccessReceiptId(id)` — the contract created the yield, so its
//!    preconditions (domain, deposit, gas, payload validity) passed; `id` is the
//!    request id the MPC nodes key on,
//! 3. carries exactly one `sign: predecessor=…, request=…` log, which the
//!    contract writes from `env::predecessor_account_id()` and the call
//!    arguments; it is parsed strictly and must re-render byte for byte,
//! 4. comes with [`Entropy`] derived from the same proof (the executing
//!    block's `random_value`, committed through its re-hashed header).
//!
//! Log format: near/mpc 3.10+ (`SignRequestArgs { path, payload, domain_id }`
//! with `BoundedVec` payloads). Earlier contract versions log a different
//! `Debug` shape and are rejected (withheld), not guessed.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use sha3::{Digest, Sha3_256};

use crate::hash::CryptoHash;
use crate::header::Entropy;
use crate::proof::{ExecutionStatus, ProvenOutcome};
use crate::view::is_valid_account_id;

/// Longest derivation path accepted (the contract has no own bound; logs cap at 16 KiB).
pub const MAX_PATH_BYTES: usize = 4096;
/// near/mpc's bound on EdDSA payloads.
pub const MAX_EDDSA_PAYLOAD: usize = 1232;

/// What to sign.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Payload {
    /// A 32-byte secp256k1 message hash, a valid scalar (< n).
    Ecdsa([u8; 32]),
    /// Up to 1232 bytes for EdDSA.
    Eddsa(Vec<u8>),
}

/// A sign request proven on chain.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignRequest {
    /// The yield id (`SuccessReceiptId`): the id the MPC nodes agree on.
    pub request_id: CryptoHash,
    /// The receipt that executed `sign`.
    pub receipt_id: CryptoHash,
    /// Account that called `sign` (tweak input).
    pub predecessor: String,
    /// Derivation path (tweak input).
    pub path: String,
    pub payload: Payload,
    pub domain_id: u64,
    /// `SHA3-256("near-mpc-recovery v0.1.0 epsilon derivation:" ‖ predecessor ‖ "," ‖ path)`.
    pub tweak: [u8; 32],
    /// Presignature rerandomization entropy: the executing block's random_value.
    pub entropy: [u8; 32],
    /// Block whose random_value is the entropy.
    pub entropy_block: CryptoHash,
    /// Block whose header commits the outcome (proven under the head).
    pub proven_in: CryptoHash,
}

/// Why a proven outcome is not an actionable sign request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignRequestError {
    WrongExecutor,
    /// Status is not SuccessReceiptId (failed, or not a yield).
    NotYielded,
    /// No `sign: ` log, or more than one.
    SignLogCount { found: usize },
    /// The log does not parse at `offset` (bytes into the log).
    MalformedLog { offset: usize, expected: &'static str },
    /// The log parses but does not re-render identically.
    NonCanonicalLog,
    InvalidPredecessor,
    PathTooLong,
    /// ECDSA payload not a scalar below the curve order, or wrong length.
    InvalidPayload,
    /// Entropy derived for a different proof.
    EntropyMismatch,
}

impl fmt::Display for SignRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongExecutor => f.write_str("outcome not executed by the signer contract"),
            Self::NotYielded => f.write_str("outcome status is not SuccessReceiptId"),
            Self::SignLogCount { found } => write!(f, "{found} sign logs (need exactly 1)"),
            Self::MalformedLog { offset, expected } => write!(f, "sign log malformed at byte {offset}: expected {expected}"),
            Self::NonCanonicalLog => f.write_str("sign log does not re-render identically"),
            Self::InvalidPredecessor => f.write_str("invalid predecessor account id"),
            Self::PathTooLong => f.write_str("derivation path too long"),
            Self::InvalidPayload => f.write_str("invalid payload"),
            Self::EntropyMismatch => f.write_str("entropy was derived for another proof"),
        }
    }
}

/// near/mpc's tweak derivation.
pub fn derive_tweak(predecessor: &str, path: &str) -> [u8; 32] {
    let mut h = Sha3_256::new();
    h.update(b"near-mpc-recovery v0.1.0 epsilon derivation:");
    h.update(predecessor.as_bytes());
    h.update(b",");
    h.update(path.as_bytes());
    h.finalize().into()
}

/// secp256k1 group order, big-endian.
const SECP256K1_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
    0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// The parsed `sign:` log.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignLog {
    pub predecessor: String,
    pub path: String,
    pub payload: Payload,
    pub domain_id: u64,
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }
    fn err(&self, expected: &'static str) -> SignRequestError {
        SignRequestError::MalformedLog { offset: self.pos, expected }
    }
    fn lit(&mut self, l: &'static str) -> Result<(), SignRequestError> {
        if self.rest().starts_with(l) {
            self.pos += l.len();
            Ok(())
        } else {
            Err(self.err(l))
        }
    }
    fn try_lit(&mut self, l: &str) -> bool {
        if self.rest().starts_with(l) {
            self.pos += l.len();
            true
        } else {
            false
        }
    }
    fn u64(&mut self) -> Result<u64, SignRequestError> {
        let digits = self.rest().bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 20 {
            return Err(self.err("decimal integer"));
        }
        let v = self.rest().get(..digits).and_then(|d| d.parse().ok()).ok_or(self.err("decimal integer"))?;
        self.pos += digits;
        Ok(v)
    }
    /// A Rust `Debug` string literal (`"..."` with `\\ \" \' \n \r \t \0 \u{..}`).
    fn debug_str(&mut self, max: usize) -> Result<String, SignRequestError> {
        self.lit("\"")?;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        loop {
            let Some((i, c)) = chars.next() else { return Err(self.err("closing quote")) };
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => {
                    let Some((_, e)) = chars.next() else { return Err(self.err("escape")) };
                    let decoded = match e {
                        '\\' => '\\',
                        '"' => '"',
                        '\'' => '\'',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        '0' => '\0',
                        'u' => {
                            if chars.next().map(|(_, c)| c) != Some('{') {
                                return Err(self.err("\\u{"));
                            }
                            let mut v: u32 = 0;
                            let mut n = 0;
                            loop {
                                let Some((_, h)) = chars.next() else { return Err(self.err("}")) };
                                if h == '}' {
                                    break;
                                }
                                let d = h.to_digit(16).ok_or(self.err("hex digit"))?;
                                n += 1;
                                if n > 6 {
                                    return Err(self.err("at most 6 hex digits"));
                                }
                                v = v * 16 + d;
                            }
                            char::from_u32(v).ok_or(self.err("unicode scalar"))?
                        }
                        _ => return Err(self.err("known escape")),
                    };
                    out.push(decoded);
                }
                c => out.push(c),
            }
            if out.len() > max {
                return Err(SignRequestError::PathTooLong);
            }
        }
    }
}

/// Parses `sign: predecessor=AccountId("…"), request=SignRequestArgs { path:
/// "…", payload: Ecdsa(BoundedVec { inner: [..], witness: NonEmpty(()) }),
/// domain_id: DomainId(N) }` and checks it re-renders to the same text.
pub fn parse_sign_log(log: &str) -> Result<SignLog, SignRequestError> {
    let mut c = Cursor { s: log, pos: 0 };
    c.lit("sign: predecessor=")?;
    let wrapped = c.try_lit("AccountId(");
    let predecessor = c.debug_str(64)?;
    if wrapped {
        c.lit(")")?;
    }
    if !is_valid_account_id(&predecessor) {
        return Err(SignRequestError::InvalidPredecessor);
    }
    c.lit(", request=SignRequestArgs { path: ")?;
    let path = c.debug_str(MAX_PATH_BYTES)?;
    c.lit(", payload: ")?;
    let ecdsa = if c.try_lit("Ecdsa(") {
        true
    } else {
        c.lit("Eddsa(")?;
        false
    };
    c.lit("BoundedVec { inner: [")?;
    let mut bytes = Vec::new();
    if !c.try_lit("]") {
        loop {
            let v = c.u64()?;
            let b = u8::try_from(v).map_err(|_| c.err("byte value"))?;
            bytes.push(b);
            if bytes.len() > MAX_EDDSA_PAYLOAD {
                return Err(SignRequestError::InvalidPayload);
            }
            if c.try_lit("]") {
                break;
            }
            c.lit(", ")?;
        }
    }
    c.lit(", witness: ")?;
    let witness = if c.try_lit("NonEmpty(())") { "NonEmpty" } else {
        c.lit("PossiblyEmpty(())")?;
        "PossiblyEmpty"
    };
    c.lit(" })")?;
    c.lit(", domain_id: DomainId(")?;
    let domain_id = c.u64()?;
    c.lit(") }")?;
    if !c.rest().is_empty() {
        return Err(c.err("end of log"));
    }
    let payload = if ecdsa {
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| SignRequestError::InvalidPayload)?;
        if arr >= SECP256K1_N {
            return Err(SignRequestError::InvalidPayload);
        }
        Payload::Ecdsa(arr)
    } else {
        Payload::Eddsa(bytes.clone())
    };
    // Canonical form: the contract's own Debug output must come back exactly.
    let rendered = format!(
        "sign: predecessor={}{:?}{}, request=SignRequestArgs {{ path: {:?}, payload: {}(BoundedVec {{ inner: {:?}, witness: {}(()) }}), domain_id: DomainId({}) }}",
        if wrapped { "AccountId(" } else { "" },
        predecessor,
        if wrapped { ")" } else { "" },
        path,
        if ecdsa { "Ecdsa" } else { "Eddsa" },
        bytes,
        witness,
        domain_id
    );
    if rendered != log {
        return Err(SignRequestError::NonCanonicalLog);
    }
    Ok(SignLog { predecessor, path, payload, domain_id })
}

/// Turns a proven outcome into a sign request, or says why not.
pub fn sign_request_from_proof(proven: &ProvenOutcome, signer_contract: &str, entropy: &Entropy) -> Result<SignRequest, SignRequestError> {
    if proven.outcome.executor_id != signer_contract {
        return Err(SignRequestError::WrongExecutor);
    }
    let ExecutionStatus::SuccessReceiptId(request_id) = proven.outcome.status else {
        return Err(SignRequestError::NotYielded);
    };
    let sign_logs: Vec<&String> = proven.outcome.logs.iter().filter(|l| l.starts_with("sign: ")).collect();
    let [log] = sign_logs.as_slice() else { return Err(SignRequestError::SignLogCount { found: sign_logs.len() }) };
    let parsed = parse_sign_log(log)?;
    // The caller must have derived the entropy from this very proof's block.
    if entropy.for_block != proven.block_hash {
        return Err(SignRequestError::EntropyMismatch);
    }
    Ok(SignRequest {
        request_id,
        receipt_id: proven.id,
        tweak: derive_tweak(&parsed.predecessor, &parsed.path),
        predecessor: parsed.predecessor,
        path: parsed.path,
        payload: parsed.payload,
        domain_id: parsed.domain_id,
        entropy: entropy.random_value,
        entropy_block: entropy.block_hash,
        proven_in: proven.block_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn log_for(pred: &str, path: &str, payload: &[u8], domain: u64) -> String {
        format!(
            "sign: predecessor=AccountId({pred:?}), request=SignRequestArgs {{ path: {path:?}, payload: Ecdsa(BoundedVec {{ inner: {payload:?}, witness: NonEmpty(()) }}), domain_id: DomainId({domain}) }}"
        )
    }

    #[test]
    fn tweak_matches_near_mpc_vector() {
        let t = derive_tweak("dwefqwg", "frwewegwegweg");
        let hex: String = t.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "ad2d6fc1f445a1b43830415e7e6e3d03cd077673047848a085f130c24f53ee00");
    }

    #[test]
    fn parses_canonical_log() {
        let l = log_for("alice.near", "eth/1", &[7u8; 32], 0);
        let p = parse_sign_log(&l).unwrap();
        assert_eq!(p.predecessor, "alice.near");
        assert_eq!(p.path, "eth/1");
        assert_eq!(p.payload, Payload::Ecdsa([7u8; 32]));
        assert_eq!(p.domain_id, 0);
    }

    #[test]
    fn escaped_path_cannot_inject_fields() {
        let evil = "x\", payload: Ecdsa(BoundedVec { inner: [1], witness: NonEmpty(()) }), domain_id: DomainId(9) } \\ \n é \u{7f}";
        let l = log_for("bob.near", evil, &[1u8; 32], 3);
        let p = parse_sign_log(&l).unwrap();
        assert_eq!(p.path, evil);
        assert_eq!(p.domain_id, 3);
    }

    #[test]
    fn rejects_malformed_and_noncanonical() {
        let good = log_for("alice.near", "p", &[7u8; 32], 1);
        assert!(parse_sign_log(&good.replace("DomainId(1)", "DomainId(01)")).is_err());
        assert!(parse_sign_log(&good.replace(", witness", ",  witness")).is_err());
        assert!(parse_sign_log(&(good.clone() + " ")).is_err());
        assert!(parse_sign_log(&good[..good.len() - 3]).is_err());
        assert!(parse_sign_log(&log_for("Alice", "p", &[7u8; 32], 1)).is_err());
        assert!(parse_sign_log(&log_for("alice.near", "p", &[7u8; 31], 1)).is_err());
        assert_eq!(parse_sign_log(&log_for("alice.near", "p", &[0xffu8; 32], 1)), Err(SignRequestError::InvalidPayload));
        // The pre-3.10 shape is withheld, not guessed.
        let old = "sign: predecessor=AccountId(\"a.near\"), request=SignRequestArgs { path: \"p\", payload_v2: Some(Ecdsa(Bytes(\"07\"))), deprecated_payload: None, domain_id: Some(DomainId(0)), deprecated_key_version: None }";
        assert!(parse_sign_log(old).is_err());
        assert!(parse_sign_log(&"x".to_string()).is_err());
    }
}
