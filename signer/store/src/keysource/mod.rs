//! Sealing-key sources: where the store's root key comes from, behind one sans-IO trait.
//!
//! A source is a small state machine. The kernel drives it: it extends the source's
//! [`SealingKeySource::event`] into RTMR3 *before* starting it (so the key source is part of what
//! the node attests and of the measurements a key provider derives from), then feeds it
//! [`KeySourceInput`]s and acts on each [`KeySourceStep`] (get a quote, send bytes, read more)
//! until it yields the key. Transport and quoting are the kernel's; nothing here does I/O.
//!
//! Sources:
//! - [`TestKeySource`] (`test`): key from configuration, for CI and emulated launches. Its name is
//!   in RTMR3 and in the node's public data, so no production verifier can mistake it.
//! - [`LocalSgxKeySource`] (`local-sgx`): the SGX local key provider dstack deployments run
//!   (`gramine-sealing-key-provider`, now dstack's `local-key-provider`), wire-compatible.

#[cfg(feature = "local-sgx")]
mod local_sgx;

#[cfg(feature = "local-sgx")]
pub use local_sgx::{
    LocalSgxKeySource, LocalSgxPolicy, ProviderQuoteVerifier, ProviderResponse, VerifiedSgxReport,
    ENCRYPTED_KEY_LEN, MAX_RESPONSE_FRAME, MAX_TD_QUOTE,
};

use alloc::string::String;
use alloc::vec::Vec;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::events::{RuntimeEvent, KEY_SOURCE_EVENT};
use crate::secret::SealingKey;

/// Which kind of source produced the sealing key. Its [`name`](Self::name) is what goes into RTMR3
/// and public data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySourceKind {
    /// Key from configuration: no confidentiality against the host. Never production.
    Test,
    /// Key released by the host's SGX local key provider, bound to this TD's measurements.
    LocalSgx,
}

impl KeySourceKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Test => "test",
            Self::LocalSgx => "local-sgx",
        }
    }

    /// Whether a production verifier may accept a node using this source.
    pub fn is_production(self) -> bool {
        matches!(self, Self::LocalSgx)
    }
}

/// What the kernel feeds a source.
#[derive(Debug, Clone, Copy)]
pub enum KeySourceInput<'a> {
    /// Begin.
    Start,
    /// The TD quote asked for by [`KeySourceStep::NeedQuote`].
    Quote(&'a [u8]),
    /// Bytes received from the key provider (any chunking).
    Received(&'a [u8]),
}

/// What a source asks the kernel to do next.
#[derive(Debug)]
pub enum KeySourceStep {
    /// Obtain a TD quote (TDREPORT → GetQuote) with exactly this report_data, feed it back as
    /// [`KeySourceInput::Quote`]. This quote is only for the key provider; it is not the node's
    /// published attestation (whose report_data follows near/mpc).
    NeedQuote { report_data: [u8; 64] },
    /// Open a connection to the key provider, send these bytes, then feed what comes back as
    /// [`KeySourceInput::Received`].
    Transmit(Vec<u8>),
    /// Keep reading from the provider.
    NeedMoreBytes,
    /// Done.
    Ready(SealingKey),
}

/// Errors of key sources.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySourceError {
    #[error("input {input} is not expected in state {state}")]
    UnexpectedInput {
        state: &'static str,
        input: &'static str,
    },
    #[error("test key in config must be 64 hex digits")]
    InvalidConfigKey,
    #[error("TD quote is {len} bytes; allowed 1..={max}")]
    QuoteSize { len: usize, max: usize },
    #[error("TD quote version {version} is not a TDX quote this source understands")]
    UnsupportedQuote { version: u16 },
    #[error("TD quote carries different report_data than requested")]
    QuoteReportDataMismatch,
    #[error("provider frame length {len} outside 1..={max}")]
    FrameLength { len: u32, max: u32 },
    #[error("provider sent {extra} bytes after its response frame")]
    TrailingBytes { extra: usize },
    #[error("provider response is not the expected JSON (line {line}, column {column})")]
    MalformedResponse { line: usize, column: usize },
    #[error("encrypted key is {len} bytes, expected {expected}")]
    EncryptedKeyLength { len: usize, expected: usize },
    #[error("provider quote is {len} bytes, allowed 1..={max}")]
    ProviderQuoteSize { len: usize, max: usize },
    #[error("provider quote rejected: {reason}")]
    ProviderQuoteRejected { reason: String },
    #[error("provider enclave is not in the pinned set")]
    UntrustedProvider { mr_enclave: [u8; 32] },
    #[error("provider quote does not bind the encrypted key (report_data mismatch)")]
    KeyBindingMismatch,
    #[error("encrypted key does not open with this TD's key")]
    DecryptFailed,
    #[error("provider key is {len} bytes, expected 32")]
    KeyLength { len: usize },
    #[error("policy pins no provider enclave")]
    EmptyPolicy,
}

/// A sealing-key source.
pub trait SealingKeySource {
    fn kind(&self) -> KeySourceKind;

    /// The RTMR3 event (`tdsigner.key-source`) to extend before [`KeySourceInput::Start`]. Its
    /// payload depends only on configuration, so it is the same on every boot.
    fn event(&self) -> RuntimeEvent;

    /// Advances the state machine.
    fn step(&mut self, input: KeySourceInput<'_>) -> Result<KeySourceStep, KeySourceError>;
}

/// HKDF-SHA256 from key-source material to the sealing key, with a per-source salt so the same
/// input bytes from two sources never give the same store keys.
fn sealing_key_from(salt: &[u8], ikm: &[u8], info: &[u8]) -> SealingKey {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is within HKDF's limit; expand cannot fail.
    let _ = hk.expand(info, out.as_mut());
    SealingKey::from_bytes(*out)
}

#[cfg_attr(not(feature = "local-sgx"), allow(dead_code))]
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The `test` source: the key comes from configuration.
pub struct TestKeySource {
    config_key: Zeroizing<[u8; 32]>,
    done: bool,
}

impl core::fmt::Debug for TestKeySource {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TestKeySource")
            .field("config_key", &"<redacted>")
            .finish()
    }
}

impl TestKeySource {
    pub fn new(config_key: [u8; 32]) -> Self {
        Self {
            config_key: Zeroizing::new(config_key),
            done: false,
        }
    }

    /// From 64 hex digits (upper or lower case), as written in a config file.
    pub fn from_hex(hex: &str) -> Result<Self, KeySourceError> {
        let h = hex.trim().as_bytes();
        if h.len() != 64 {
            return Err(KeySourceError::InvalidConfigKey);
        }
        let mut key = Zeroizing::new([0u8; 32]);
        for (i, pair) in h.chunks_exact(2).enumerate() {
            let digit = |c: u8| {
                (c as char)
                    .to_digit(16)
                    .ok_or(KeySourceError::InvalidConfigKey)
            };
            key[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Ok(Self::new(*key))
    }
}

impl SealingKeySource for TestKeySource {
    fn kind(&self) -> KeySourceKind {
        KeySourceKind::Test
    }

    fn event(&self) -> RuntimeEvent {
        RuntimeEvent {
            name: KEY_SOURCE_EVENT,
            payload: KeySourceKind::Test.name().as_bytes().to_vec(),
        }
    }

    fn step(&mut self, input: KeySourceInput<'_>) -> Result<KeySourceStep, KeySourceError> {
        match input {
            KeySourceInput::Start if !self.done => {
                self.done = true;
                Ok(KeySourceStep::Ready(sealing_key_from(
                    b"tdsigner/key-source/test/v1",
                    self.config_key.as_ref(),
                    b"sealing-key",
                )))
            }
            other => Err(KeySourceError::UnexpectedInput {
                state: if self.done { "done" } else { "start" },
                input: input_name(&other),
            }),
        }
    }
}

pub(crate) fn input_name(input: &KeySourceInput<'_>) -> &'static str {
    match input {
        KeySourceInput::Start => "start",
        KeySourceInput::Quote(_) => "quote",
        KeySourceInput::Received(_) => "received",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_source_is_labelled_and_deterministic() {
        let mut a = TestKeySource::from_hex(&"11".repeat(32)).unwrap();
        let mut b = TestKeySource::new([0x11; 32]);
        assert_eq!(a.event().name, "tdsigner.key-source");
        assert_eq!(a.event().payload, b"test");
        assert!(!a.kind().is_production());
        let (KeySourceStep::Ready(ka), KeySourceStep::Ready(kb)) = (
            a.step(KeySourceInput::Start).unwrap(),
            b.step(KeySourceInput::Start).unwrap(),
        ) else {
            panic!("test source must be ready at once");
        };
        assert_eq!(ka.expose(), kb.expose());
        // The sealing key is derived, never the config bytes themselves.
        assert_ne!(ka.expose(), &[0x11; 32]);
        assert!(matches!(
            a.step(KeySourceInput::Start),
            Err(KeySourceError::UnexpectedInput { .. })
        ));
        assert!(TestKeySource::from_hex("zz").is_err());
        assert!(TestKeySource::from_hex(&"g1".repeat(32)).is_err());
    }
}
