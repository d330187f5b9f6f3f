//! Node bootstrap: sealing key → RTMR3 → sealed store → node identity.
//!
//! The order is fixed because of what each step makes measurable:
//! 1. the sealing-key source is chosen from the (already measured) config and
//!    its `tdsigner.key-source` event is extended into RTMR3 *before* the
//!    source runs, so a verifier sees e.g. `test` in the event log and a
//!    `local-sgx` provider derives its key from measurements that include it;
//!    the source is then driven to completion through a [`KeyTransport`]
//!    (quotes and the provider connection are the kernel's);
//! 2. the store is opened with that key, bound to the node's account id; a
//!    blank disk is formatted, any other failure is fatal (never reformat: a
//!    host could otherwise wipe the node's secrets by corrupting one sector);
//! 3. the store's generation is extended as `tdsigner.store-generation`;
//! 4. the node identity — its NEAR account key and its P2P TLS key, both
//!    ed25519 — is read from the store, or created from the hardware RNG on
//!    first boot and committed before it is used.
//!
//! Nothing else is extended into RTMR3 between the key-source event and the
//! end of the key exchange: a `local-sgx` provider derives the key from RTMR3
//! at quote time, which must therefore be the same on every boot.
//!
//! The caller supplies the RTMR extension (platform), the RNG and the
//! transport; this module does no I/O of its own beyond the block device.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::SigningKey;
use rand_core::CryptoRngCore;
use tdsigner_store::keysource::{
    KeySourceInput, KeySourceStep, LocalSgxKeySource, LocalSgxPolicy, ProviderQuoteVerifier, TestKeySource,
};
use tdsigner_store::{
    BlockDevice, FormatOptions, OpenOptions, OpenReport, RecordKind, RuntimeEvent, SealingKey, SealingKeySource,
    Store, StoreError,
};
use zeroize::Zeroizing;

use crate::config::KeySourceConfig;

/// Store record holding the node identity (id = [`IDENTITY_ID`]).
pub const IDENTITY_RECORD: RecordKind = RecordKind(1);
/// Record id of the identity.
pub const IDENTITY_ID: &[u8] = b"node-identity";
const IDENTITY_FORMAT: u8 = 1;
const IDENTITY_LEN: usize = 1 + 32 + 32;

/// The node's long-term keys. Zeroized on drop (ed25519-dalek's `zeroize`).
pub struct NodeIdentity {
    account: SigningKey,
    tls: SigningKey,
}

impl fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("account_public", &self.account.verifying_key())
            .field("tls_public", &self.tls.verifying_key())
            .finish()
    }
}

impl NodeIdentity {
    fn generate(rng: &mut impl CryptoRngCore) -> NodeIdentity {
        NodeIdentity { account: SigningKey::generate(rng), tls: SigningKey::generate(rng) }
    }

    fn encode(&self) -> Zeroizing<[u8; IDENTITY_LEN]> {
        let mut out = Zeroizing::new([0u8; IDENTITY_LEN]);
        out[0] = IDENTITY_FORMAT;
        out[1..33].copy_from_slice(self.account.as_bytes());
        out[33..65].copy_from_slice(self.tls.as_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<NodeIdentity, BootError> {
        if bytes.len() != IDENTITY_LEN || bytes[0] != IDENTITY_FORMAT {
            return Err(BootError::BadIdentityRecord);
        }
        let mut account = Zeroizing::new([0u8; 32]);
        let mut tls = Zeroizing::new([0u8; 32]);
        account.copy_from_slice(&bytes[1..33]);
        tls.copy_from_slice(&bytes[33..65]);
        Ok(NodeIdentity { account: SigningKey::from_bytes(&account), tls: SigningKey::from_bytes(&tls) })
    }

    /// The NEAR account's function-call key (ed25519).
    pub fn account_key(&self) -> &SigningKey {
        &self.account
    }

    /// The P2P TLS key (ed25519), registered on chain as `tls_public_key`.
    pub fn tls_key(&self) -> &SigningKey {
        &self.tls
    }

    /// Public halves, for `/public_data` and report_data.
    pub fn account_public(&self) -> [u8; 32] {
        self.account.verifying_key().to_bytes()
    }

    /// See [`NodeIdentity::account_public`].
    pub fn tls_public(&self) -> [u8; 32] {
        self.tls.verifying_key().to_bytes()
    }
}

/// Why the node could not boot its secrets.
#[derive(Debug)]
pub enum BootError {
    /// The key source failed.
    KeySource(String),
    /// Extending a measurement failed (the platform said why).
    Measure(String),
    /// The store could not be opened; the disk is left untouched.
    Open(StoreError),
    /// Formatting a blank disk failed.
    Format(StoreError),
    /// Writing the new identity failed.
    Persist(StoreError),
    /// The identity record exists but is not one this version wrote.
    BadIdentityRecord,
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::KeySource(e) => write!(f, "sealing key source: {e}"),
            BootError::Measure(e) => write!(f, "measurement: {e}"),
            BootError::Open(e) => write!(f, "sealed store does not open (disk left untouched): {e}"),
            BootError::Format(e) => write!(f, "formatting the blank disk: {e}"),
            BootError::Persist(e) => write!(f, "storing the new node identity: {e}"),
            BootError::BadIdentityRecord => write!(f, "the stored node identity has an unknown format"),
        }
    }
}

/// What bootstrap produced.
pub struct Booted<'a, D: BlockDevice> {
    pub store: Store<&'a mut D>,
    pub identity: NodeIdentity,
    /// Name of the key source (`test`, ...), for public data.
    pub key_source: &'static str,
    /// Whether this boot formatted a blank disk.
    pub formatted: bool,
    /// Whether this boot created the identity.
    pub identity_created: bool,
    /// What opening found (None when formatted).
    pub open_report: Option<OpenReport>,
}

/// What a key source needs from the outside world: quotes and one connection
/// to its key provider. Every call is bounded in time by the implementation;
/// an error aborts the key exchange (no retry with a weaker source).
pub trait KeyTransport {
    /// A TD quote over exactly `report_data`.
    fn quote(&mut self, report_data: &[u8; 64]) -> Result<Vec<u8>, String>;
    /// Sends `bytes` to the provider (connecting on first use).
    fn send(&mut self, bytes: &[u8]) -> Result<(), String>;
    /// Reads the next bytes from the provider: at least one byte, at most a
    /// bounded chunk; an error on timeout or when the provider closes.
    fn receive(&mut self) -> Result<Vec<u8>, String>;
}

/// For sources that need no transport (`test`): every call fails.
pub struct NoTransport;

impl KeyTransport for NoTransport {
    fn quote(&mut self, _: &[u8; 64]) -> Result<Vec<u8>, String> {
        Err(String::from("this key source has no quote service"))
    }
    fn send(&mut self, _: &[u8]) -> Result<(), String> {
        Err(String::from("this key source has no provider connection"))
    }
    fn receive(&mut self) -> Result<Vec<u8>, String> {
        Err(String::from("this key source has no provider connection"))
    }
}

/// The configured source, built. `verifier` checks a `local-sgx` provider's
/// quote (the kernel picks it by platform; see `provider_quote`).
pub enum ConfiguredSource<V> {
    Test(TestKeySource),
    LocalSgx(LocalSgxKeySource<V>),
}

impl<V: ProviderQuoteVerifier> ConfiguredSource<V> {
    /// Builds the source `config` names. A fresh X25519 key pair for
    /// `local-sgx` comes from `rng`.
    pub fn new(config: &KeySourceConfig, verifier: V, rng: &mut impl CryptoRngCore) -> Result<Self, BootError> {
        Ok(match config {
            KeySourceConfig::Test(key) => ConfiguredSource::Test(TestKeySource::new(**key)),
            KeySourceConfig::LocalSgx { mr_enclaves, .. } => ConfiguredSource::LocalSgx(
                LocalSgxKeySource::new(LocalSgxPolicy { allowed_mr_enclaves: mr_enclaves.clone() }, verifier, rng)
                    .map_err(|e| BootError::KeySource(alloc::format!("{e}")))?,
            ),
        })
    }

    fn source(&mut self) -> &mut dyn SealingKeySource {
        match self {
            ConfiguredSource::Test(s) => s,
            ConfiguredSource::LocalSgx(s) => s,
        }
    }
}

/// Most state-machine steps one key exchange may take (a response frame
/// arrives in bounded chunks, so a provider trickling bytes is cut off by the
/// transport's deadline long before this; it only guards against a loop).
const MAX_KEY_SOURCE_STEPS: usize = 1 << 20;

/// Extends the source's event, then drives it to its key.
fn unseal_key<E: fmt::Display>(
    source: &mut dyn SealingKeySource,
    transport: &mut dyn KeyTransport,
    extend: &mut dyn FnMut(&RuntimeEvent) -> Result<(), E>,
) -> Result<SealingKey, BootError> {
    extend(&source.event()).map_err(|e| BootError::Measure(alloc::format!("{e}")))?;
    let name = source.kind().name();
    let fail = |what: &str, e: &dyn fmt::Display| BootError::KeySource(alloc::format!("{name}: {what}: {e}"));
    let mut quote_buf;
    let mut received;
    let mut input = KeySourceInput::Start;
    for _ in 0..MAX_KEY_SOURCE_STEPS {
        let step = source.step(input).map_err(|e| fail("refused", &e))?;
        input = match step {
            KeySourceStep::Ready(key) => return Ok(key),
            KeySourceStep::NeedQuote { report_data } => {
                quote_buf = transport.quote(&report_data).map_err(|e| fail("TD quote", &e))?;
                KeySourceInput::Quote(&quote_buf)
            }
            KeySourceStep::Transmit(bytes) => {
                transport.send(&bytes).map_err(|e| fail("provider", &e))?;
                received = transport.receive().map_err(|e| fail("provider", &e))?;
                KeySourceInput::Received(&received)
            }
            KeySourceStep::NeedMoreBytes => {
                received = transport.receive().map_err(|e| fail("provider", &e))?;
                KeySourceInput::Received(&received)
            }
        };
    }
    Err(BootError::KeySource(alloc::format!("{name}: key exchange did not finish")))
}

/// Runs the bootstrap sequence with the `test` source (no transport).
/// `extend` must extend RTMR3 with the dstack runtime-event digest of the
/// event and log it.
pub fn bootstrap<'a, D: BlockDevice, E: fmt::Display>(
    dev: &'a mut D,
    key_source: &KeySourceConfig,
    account: &str,
    rng: &mut impl CryptoRngCore,
    extend: &mut dyn FnMut(&RuntimeEvent) -> Result<(), E>,
) -> Result<Booted<'a, D>, BootError> {
    let mut source = ConfiguredSource::new(key_source, RefuseProviderQuotes, rng)?;
    bootstrap_with(dev, &mut source, &mut NoTransport, account, rng, extend)
}

/// A verifier that accepts nothing (for callers that have none).
pub struct RefuseProviderQuotes;

impl ProviderQuoteVerifier for RefuseProviderQuotes {
    fn verify_sgx_quote(&self, _: &[u8]) -> Result<tdsigner_store::keysource::VerifiedSgxReport, String> {
        Err(String::from("no provider quote verifier on this platform"))
    }
}

/// Runs the bootstrap sequence with a built source and its transport.
pub fn bootstrap_with<'a, D: BlockDevice, E: fmt::Display, V: ProviderQuoteVerifier>(
    dev: &'a mut D,
    source: &mut ConfiguredSource<V>,
    transport: &mut dyn KeyTransport,
    account: &str,
    rng: &mut impl CryptoRngCore,
    extend: &mut dyn FnMut(&RuntimeEvent) -> Result<(), E>,
) -> Result<Booted<'a, D>, BootError> {
    let source = source.source();
    let kind = source.kind().name();
    let key = unseal_key(source, transport, extend)?;

    let identity_bytes = account.as_bytes();
    let blank = Store::<&mut D>::is_blank(&mut &mut *dev).map_err(BootError::Open)?;
    let (mut store, formatted, open_report) = if blank {
        let store = Store::format(dev, &key, identity_bytes, FormatOptions::default(), rng).map_err(BootError::Format)?;
        (store, true, None)
    } else {
        let (store, report) =
            Store::open(dev, &key, identity_bytes, OpenOptions::default(), rng).map_err(BootError::Open)?;
        (store, false, Some(report))
    };

    let (identity, identity_created) = match store.get(IDENTITY_RECORD, IDENTITY_ID) {
        Some(bytes) => (NodeIdentity::decode(bytes.expose())?, false),
        None => {
            let identity = NodeIdentity::generate(rng);
            store.put(IDENTITY_RECORD, IDENTITY_ID, identity.encode().as_slice()).map_err(BootError::Persist)?;
            (identity, true)
        }
    };
    // The generation after any write of this boot is what is measured.
    extend(&store.generation_event()).map_err(|e| BootError::Measure(alloc::format!("{e}")))?;
    Ok(Booted { store, identity, key_source: kind, formatted, identity_created, open_report })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use tdsigner_store::device::MemDevice;

    use crate::test_rng::Rng;

    fn test_key(b: u8) -> KeySourceConfig {
        KeySourceConfig::Test(Zeroizing::new([b; 32]))
    }

    fn boot(dev: &mut MemDevice, key: u8, account: &str, seed: u64) -> Result<(Vec<RuntimeEvent>, [u8; 32], bool, bool), BootError> {
        let mut events = Vec::new();
        let mut rng = Rng(seed);
        let booted = bootstrap(dev, &test_key(key), account, &mut rng, &mut |e: &RuntimeEvent| {
            events.push(e.clone());
            Ok::<(), &str>(())
        })?;
        Ok((events, booted.identity.tls_public(), booted.formatted, booted.identity_created))
    }

    #[test]
    fn first_boot_formats_and_creates_identity_then_reopens_it() {
        let mut dev = MemDevice::new(4096);
        let (events, tls1, formatted, created) = boot(&mut dev, 7, "node0.test", 1).unwrap();
        assert!(formatted && created);
        assert_eq!(events[0].name, "tdsigner.key-source");
        assert_eq!(events[0].payload, b"test");
        assert_eq!(events[1].name, "tdsigner.store-generation");
        let (events2, tls2, formatted2, created2) = boot(&mut dev, 7, "node0.test", 2).unwrap();
        assert!(!formatted2 && !created2);
        assert_eq!(tls1, tls2, "identity must survive a reboot");
        let (_, g1) = RuntimeEvent::parse_store_generation(&events[1].payload).unwrap();
        let (_, g2) = RuntimeEvent::parse_store_generation(&events2[1].payload).unwrap();
        assert!(g2 >= g1);
    }

    #[test]
    fn wrong_key_or_account_never_reformats() {
        let mut dev = MemDevice::new(4096);
        boot(&mut dev, 7, "node0.test", 1).unwrap();
        assert!(matches!(boot(&mut dev, 8, "node0.test", 3), Err(BootError::Open(_))));
        assert!(matches!(boot(&mut dev, 7, "node1.test", 3), Err(BootError::Open(_))));
        // Still the original store afterwards.
        let (_, _, formatted, created) = boot(&mut dev, 7, "node0.test", 4).unwrap();
        assert!(!formatted && !created);
    }

    #[test]
    fn local_sgx_without_transport_fails_before_the_disk_is_touched() {
        let mut dev = MemDevice::new(4096);
        let config = KeySourceConfig::LocalSgx {
            provider: crate::config::Endpoint { host: crate::config::Host::Name("kp.test".into()), port: 3443 },
            mr_enclaves: alloc::vec![[1; 32]],
            collateral: crate::config::HttpResource {
                endpoint: crate::config::Endpoint { host: crate::config::Host::Name("kp.test".into()), port: 1 },
                path: "/collateral.json".into(),
            },
            min_tcb_evaluation_data_number: 1,
            tcb_accept: tdsigner_measure::sgx_dcap::TcbStatusSet::UP_TO_DATE_ONLY,
        };
        let mut events = Vec::new();
        let result = bootstrap(&mut dev, &config, "node0.test", &mut Rng(5), &mut |e: &RuntimeEvent| {
            events.push(e.clone());
            Ok::<(), &str>(())
        });
        match result {
            Err(BootError::KeySource(e)) => assert!(e.starts_with("local-sgx: TD quote:"), "{e}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("local-sgx without a transport produced a key"),
        }
        // The event was extended first; nothing after it; the disk is still blank.
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].payload, alloc::format!("local-sgx;mrenclave={}", "01".repeat(32)).into_bytes());
        assert!(Store::<&mut MemDevice>::is_blank(&mut &mut dev).unwrap());
    }

    #[test]
    fn debug_shows_only_public_keys() {
        let id = NodeIdentity::generate(&mut Rng(9));
        let dbg = alloc::format!("{id:?}");
        assert!(dbg.contains("account_public") && !dbg.contains("secret"));
    }
}
