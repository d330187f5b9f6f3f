//! The attestation check of `submit_participant_info`, as a replaceable
//! policy.
//!
//! The real near/mpc contract verifies a dstack/TDX quote (via a verifier
//! contract) and binds it to the node's TLS and account keys. The simulator
//! does NOT verify quotes yet: it calls an [`AttestationVerifier`], and the
//! default, [`RequireNonEmptyQuote`], only requires a `Dstack` attestation
//! with a non-empty hex quote. Connecting tdsigner-measure's quote verification
//! (for emulated quotes) is the lead's integration step: implement the trait
//! (the submission carries the quote bytes, the TLS key and the account key, so
//! `report_data` can be checked) and pass it in [`crate::SimConfig`].

use std::fmt;

use serde_json::Value;

use crate::keys::PublicKey;

/// What a node submitted, with the identity the contract binds it to.
pub struct AttestationSubmission<'a> {
    pub account_id: &'a str,
    /// The key that signed the `submit_participant_info` transaction.
    pub account_public_key: &'a PublicKey,
    pub tls_public_key: &'a PublicKey,
    /// The `proposed_participant_attestation` argument as sent.
    pub attestation: &'a Value,
    /// `Dstack.quote` decoded from hex, if present and well-formed.
    pub quote: Option<&'a [u8]>,
    pub block_height: u64,
    pub block_timestamp_ns: u64,
}

/// An accepted attestation: what the contract stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedAttestation {
    /// Which policy accepted it (shown by `get_attestation`).
    pub verified_by: String,
    /// Seconds since the epoch after which it is no longer valid, if known.
    pub expiry_timestamp_seconds: Option<u64>,
}

/// Why an attestation was refused (becomes the transaction's failure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestationRejected(pub String);

impl fmt::Display for AttestationRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid TEE remote attestation: {}", self.0)
    }
}

/// A policy deciding whether a submitted attestation is accepted.
pub trait AttestationVerifier: Send + Sync {
    fn verify(&self, submission: &AttestationSubmission<'_>) -> Result<AcceptedAttestation, AttestationRejected>;
}

/// Default policy: a `Dstack` attestation whose `quote` is non-empty hex.
/// Quote verification itself is pending (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct RequireNonEmptyQuote;

impl AttestationVerifier for RequireNonEmptyQuote {
    fn verify(&self, s: &AttestationSubmission<'_>) -> Result<AcceptedAttestation, AttestationRejected> {
        if s.attestation.get("Dstack").is_none() {
            return Err(AttestationRejected("only Dstack attestations are accepted by the simulator".into()));
        }
        match s.quote {
            Some(q) if !q.is_empty() => Ok(AcceptedAttestation {
                verified_by: "require-non-empty-quote (quote NOT verified)".into(),
                expiry_timestamp_seconds: None,
            }),
            Some(_) => Err(AttestationRejected("empty quote".into())),
            None => Err(AttestationRejected("missing or non-hex quote".into())),
        }
    }
}

/// Decodes `Dstack.quote` (hex) from an attestation argument.
pub fn dstack_quote(attestation: &Value) -> Option<Vec<u8>> {
    let text = attestation.get("Dstack")?.get("quote")?.as_str()?;
    crate::hex::decode(text)
}
