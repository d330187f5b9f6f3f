//! The `local-sgx` source: client side of the SGX local key provider that dstack deployments run
//! on TDX hosts (`gramine-sealing-key-provider`, maintained today as dstack's
//! `local-key-provider`), wire- and crypto-compatible with it.
//!
//! Protocol, as established from the provider's and dstack's public source (see docs/DESIGN.md):
//! 1. The TD draws an X25519 key pair and asks for a TD quote whose report_data is
//!    `public key (32) ‖ zeros (32)`.
//! 2. It sends `u32 BE length ‖ {"quote":[b0,b1,...]}` (JSON, bytes as a number array) to the
//!    provider (TCP, by default port 3443 on the host; behind dstack's VMM the same two byte
//!    strings travel in its host API `GetSealingKey` call instead).
//! 3. The provider verifies the TD quote with DCAP, checks that its own SGX quote and the TD quote
//!    come from the same quoting enclave (same platform), and derives
//!    `k = SHA-256(SGX MRENCLAVE sealing key ‖ MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ RTMR3)` from the
//!    TD quote's measurements.
//! 4. It answers `u32 BE length ‖ {"encrypted_key":[...],"provider_quote":[...]}` where
//!    `encrypted_key` is a libsodium sealed box of `k` to the TD's public key and `provider_quote`
//!    is an SGX quote whose report_data is `SHA-256(encrypted_key) ‖ zeros`.
//! 5. The TD verifies the SGX quote (DCAP, via [`ProviderQuoteVerifier`]), requires its MRENCLAVE
//!    to be one pinned in configuration, checks the hash binding, opens the box, and derives its
//!    sealing key from `k` with HKDF.
//!
//! `k` depends on RTMR3 *at quote time*, so everything extended into RTMR3 before the request must
//! be the same on every boot (image version, config hash, key source); the store generation is
//! extended only after the store is open.

use alloc::string::String;
use alloc::vec::Vec;

use crypto_box::SecretKey;
use rand_core::CryptoRngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{
    hex_lower, input_name, sealing_key_from, KeySourceError, KeySourceInput, KeySourceKind,
    KeySourceStep, SealingKeySource,
};
use crate::events::{RuntimeEvent, KEY_SOURCE_EVENT};

/// Largest TD quote sent (the provider's own limit).
pub const MAX_TD_QUOTE: usize = 1024 * 1024;
/// Largest response frame accepted (the provider's own frame limit).
pub const MAX_RESPONSE_FRAME: u32 = 8 * 1024 * 1024;
/// A sealed box of a 32-byte key: ephemeral public key (32) ‖ ciphertext (32) ‖ tag (16).
pub const ENCRYPTED_KEY_LEN: usize = 32 + 32 + 16;
/// An SGX quote with certification data is a few KiB; anything past this is not one.
const MAX_PROVIDER_QUOTE: usize = 64 * 1024;

/// The provider's answer, as it appears on the wire (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProviderResponse {
    pub encrypted_key: Vec<u8>,
    pub provider_quote: Vec<u8>,
}

impl ProviderResponse {
    /// Parses the JSON body of a response frame (hostile bytes).
    pub fn from_json(body: &[u8]) -> Result<Self, KeySourceError> {
        serde_json::from_slice(body).map_err(|e| KeySourceError::MalformedResponse {
            line: e.line(),
            column: e.column(),
        })
    }
}

/// The fields of a verified SGX quote's report body the source needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSgxReport {
    pub mr_enclave: [u8; 32],
    pub mr_signer: [u8; 32],
    pub isv_prod_id: u16,
    pub isv_svn: u16,
    pub report_data: [u8; 64],
}

/// Verifies the provider's SGX quote: signature chain to a pinned root, collateral, TCB policy.
/// Only a verified report may be returned. The image's is
/// `tdsigner_node::provider_quote::DcapProviderQuoteVerifier` (Intel's root on TDX, the
/// EMULATED test root on the emulated platform).
pub trait ProviderQuoteVerifier {
    fn verify_sgx_quote(&self, quote: &[u8]) -> Result<VerifiedSgxReport, String>;
}

/// A borrowed verifier verifies the same way (the caller keeps it to read its verdict).
impl<V: ProviderQuoteVerifier + ?Sized> ProviderQuoteVerifier for &V {
    fn verify_sgx_quote(&self, quote: &[u8]) -> Result<VerifiedSgxReport, String> {
        (**self).verify_sgx_quote(quote)
    }
}

/// Which providers the TD accepts a key from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSgxPolicy {
    /// MRENCLAVE values of provider builds this configuration trusts (a released, reproducible
    /// provider build's measurement). Required: without a pin, any enclave the host runs could
    /// hand the TD a key the host knows.
    pub allowed_mr_enclaves: Vec<[u8; 32]>,
}

enum State {
    Start,
    AwaitQuote,
    AwaitResponse { buf: Vec<u8> },
    Done,
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Start => "start",
            State::AwaitQuote => "await-quote",
            State::AwaitResponse { .. } => "await-response",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// Client of the SGX local key provider (sans-IO).
pub struct LocalSgxKeySource<V> {
    policy: LocalSgxPolicy,
    verifier: V,
    secret: SecretKey,
    state: State,
    provider_mr_enclave: Option<[u8; 32]>,
}

impl<V> core::fmt::Debug for LocalSgxKeySource<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalSgxKeySource")
            .field("state", &self.state.name())
            .field(
                "allowed_mr_enclaves",
                &self.policy.allowed_mr_enclaves.len(),
            )
            .finish_non_exhaustive()
    }
}

impl<V: ProviderQuoteVerifier> LocalSgxKeySource<V> {
    /// A fresh client with a new X25519 key pair drawn from `rng`.
    pub fn new(
        policy: LocalSgxPolicy,
        verifier: V,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, KeySourceError> {
        if policy.allowed_mr_enclaves.is_empty() {
            return Err(KeySourceError::EmptyPolicy);
        }
        let mut policy = policy;
        policy.allowed_mr_enclaves.sort_unstable();
        policy.allowed_mr_enclaves.dedup();
        Ok(Self {
            policy,
            verifier,
            secret: SecretKey::generate(rng),
            state: State::Start,
            provider_mr_enclave: None,
        })
    }

    /// The report_data the TD quote must carry: X25519 public key ‖ zeros.
    pub fn report_data(&self) -> [u8; 64] {
        let mut rd = [0u8; 64];
        rd[..32].copy_from_slice(self.secret.public_key().as_bytes());
        rd
    }

    /// MRENCLAVE of the provider that released the key (after success), for public data.
    pub fn provider_mr_enclave(&self) -> Option<[u8; 32]> {
        self.provider_mr_enclave
    }

    fn on_quote(&mut self, quote: &[u8]) -> Result<KeySourceStep, KeySourceError> {
        if quote.is_empty() || quote.len() > MAX_TD_QUOTE {
            return Err(KeySourceError::QuoteSize {
                len: quote.len(),
                max: MAX_TD_QUOTE,
            });
        }
        if td_quote_report_data(quote)? != self.report_data() {
            return Err(KeySourceError::QuoteReportDataMismatch);
        }
        Ok(KeySourceStep::Transmit(encode_request(quote)))
    }

    /// Accumulates response bytes; returns the frame's total length once it is complete.
    /// The buffer never grows past the frame its length prefix announces.
    fn on_bytes(buf: &mut Vec<u8>, bytes: &[u8]) -> Result<Option<usize>, KeySourceError> {
        let mut rest = bytes;
        while buf.len() < 4 {
            let Some((&first, tail)) = rest.split_first() else {
                return Ok(None);
            };
            buf.push(first);
            rest = tail;
        }
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if len == 0 || len > MAX_RESPONSE_FRAME {
            return Err(KeySourceError::FrameLength {
                len,
                max: MAX_RESPONSE_FRAME,
            });
        }
        let total = 4 + len as usize;
        let want = total - buf.len();
        if rest.len() > want {
            return Err(KeySourceError::TrailingBytes {
                extra: rest.len() - want,
            });
        }
        buf.extend_from_slice(rest);
        Ok((buf.len() == total).then_some(total))
    }

    fn on_response(&mut self, body: &[u8]) -> Result<KeySourceStep, KeySourceError> {
        let response = ProviderResponse::from_json(body)?;
        if response.encrypted_key.len() != ENCRYPTED_KEY_LEN {
            return Err(KeySourceError::EncryptedKeyLength {
                len: response.encrypted_key.len(),
                expected: ENCRYPTED_KEY_LEN,
            });
        }
        if response.provider_quote.is_empty() || response.provider_quote.len() > MAX_PROVIDER_QUOTE
        {
            return Err(KeySourceError::ProviderQuoteSize {
                len: response.provider_quote.len(),
                max: MAX_PROVIDER_QUOTE,
            });
        }
        let report = self
            .verifier
            .verify_sgx_quote(&response.provider_quote)
            .map_err(|reason| KeySourceError::ProviderQuoteRejected { reason })?;
        if self
            .policy
            .allowed_mr_enclaves
            .binary_search(&report.mr_enclave)
            .is_err()
        {
            return Err(KeySourceError::UntrustedProvider {
                mr_enclave: report.mr_enclave,
            });
        }
        let digest: [u8; 32] = Sha256::digest(&response.encrypted_key).into();
        if report.report_data[..32] != digest || report.report_data[32..].iter().any(|&b| b != 0) {
            return Err(KeySourceError::KeyBindingMismatch);
        }
        let key = Zeroizing::new(
            self.secret
                .unseal(&response.encrypted_key)
                .map_err(|_| KeySourceError::DecryptFailed)?,
        );
        if key.len() != 32 {
            return Err(KeySourceError::KeyLength { len: key.len() });
        }
        self.provider_mr_enclave = Some(report.mr_enclave);
        Ok(KeySourceStep::Ready(sealing_key_from(
            b"tdsigner/key-source/local-sgx/v1",
            &key,
            &report.mr_enclave,
        )))
    }
}

impl<V: ProviderQuoteVerifier> SealingKeySource for LocalSgxKeySource<V> {
    fn kind(&self) -> KeySourceKind {
        KeySourceKind::LocalSgx
    }

    /// Payload: `local-sgx;mrenclave=<hex>[,<hex>...]` (pinned set, sorted) — fixed by config.
    fn event(&self) -> RuntimeEvent {
        let mut text = String::from("local-sgx;mrenclave=");
        for (i, mr) in self.policy.allowed_mr_enclaves.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&hex_lower(mr));
        }
        RuntimeEvent {
            name: KEY_SOURCE_EVENT,
            payload: text.into_bytes(),
        }
    }

    fn step(&mut self, input: KeySourceInput<'_>) -> Result<KeySourceStep, KeySourceError> {
        let state = core::mem::replace(&mut self.state, State::Failed);
        let result = match (state, input) {
            (State::Start, KeySourceInput::Start) => {
                self.state = State::AwaitQuote;
                return Ok(KeySourceStep::NeedQuote {
                    report_data: self.report_data(),
                });
            }
            (State::AwaitQuote, KeySourceInput::Quote(q)) => self.on_quote(q).inspect(|_| {
                self.state = State::AwaitResponse { buf: Vec::new() };
            }),
            (State::AwaitResponse { mut buf }, KeySourceInput::Received(bytes)) => {
                match Self::on_bytes(&mut buf, bytes) {
                    Ok(None) => {
                        self.state = State::AwaitResponse { buf };
                        return Ok(KeySourceStep::NeedMoreBytes);
                    }
                    Ok(Some(total)) => self
                        .on_response(&buf[4..total])
                        .inspect(|_| self.state = State::Done),
                    Err(e) => Err(e),
                }
            }
            (state, input) => Err(KeySourceError::UnexpectedInput {
                state: state.name(),
                input: input_name(&input),
            }),
        };
        // On error the state stays Failed: a key exchange is not resumed half-way.
        result
    }
}

/// `u32 BE length ‖ {"quote":[...]}`, exactly what the provider's JSON reader expects.
pub(crate) fn encode_request(quote: &[u8]) -> Vec<u8> {
    let mut json = Vec::with_capacity(12 + quote.len() * 4);
    json.extend_from_slice(b"{\"quote\":[");
    for (i, b) in quote.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        let mut digits = [0u8; 3];
        let mut n = *b;
        let mut k = 3;
        loop {
            k -= 1;
            digits[k] = b'0' + n % 10;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        json.extend_from_slice(&digits[k..]);
    }
    json.extend_from_slice(b"]}");
    let mut frame = Vec::with_capacity(4 + json.len());
    frame.extend_from_slice(&(json.len() as u32).to_be_bytes());
    frame.extend_from_slice(&json);
    frame
}

/// report_data of a TDX quote (v4: header 48 + TD report body, report_data at body offset 520;
/// v5: a 6-byte body descriptor precedes the body).
fn td_quote_report_data(quote: &[u8]) -> Result<[u8; 64], KeySourceError> {
    let version = match quote.get(..2) {
        Some(v) => u16::from_le_bytes([v[0], v[1]]),
        None => return Err(KeySourceError::UnsupportedQuote { version: 0 }),
    };
    let tee_type = quote
        .get(4..8)
        .map(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]));
    let at = match (version, tee_type) {
        (4, Some(0x81)) => 48 + 520,
        (5, Some(0x81)) => 48 + 6 + 520,
        _ => return Err(KeySourceError::UnsupportedQuote { version }),
    };
    let mut rd = [0u8; 64];
    rd.copy_from_slice(quote.get(at..at + 64).ok_or(KeySourceError::QuoteSize {
        len: quote.len(),
        max: MAX_TD_QUOTE,
    })?);
    Ok(rd)
}
