//! The RTMR3 runtime events tdsigner extends, with their names and payload encodings.
//!
//! Every event is a dstack-V1 runtime event ([`crate::event::EV_DSTACK_RUNTIME`], RTMR3), so
//! near/mpc-style verifiers replay them like dstack's own. Names carry the `tdsigner.` prefix.
//!
//! | name | payload | who emits |
//! |---|---|---|
//! | `tdsigner.image-version` | UTF-8 version string of the image | kernel, first |
//! | `tdsigner.config` | the canonical configuration: UTF-8 command line, see below | kernel, second |
//! | `tdsigner.policy` | the network policy the configuration implies, see [`Policy::encode`] | kernel, third |
//! | `tdsigner.key-source` | UTF-8 text the sealing-key source gives (`test`, or the local-sgx provider policy) | store (`signer/store` events) |
//! | `tdsigner.store-generation` | 24 bytes: store id (16) ‖ generation u64 big-endian | store (`signer/store` events) |
//! | `tdsigner.provider-tcb` | UTF-8 verdict on the `local-sgx` provider's SGX quote, see [`provider_tcb`] (only with `local-sgx`) | kernel |
//! | `tdsigner.boot-done` | empty: everything before this was measured during boot | kernel, last boot event |
//!
//! An event extended after `tdsigner.boot-done` is a run-time change and a verifier's policy
//! decides what it accepts there.
//!
//! The first three are extended before any secret exists (before the sealing key is fetched or
//! the store opened), so a quote's RTMR3 always starts with them.
//!
//! **Canonical configuration** (`tdsigner.config`): the parsed command line written back as a
//! command line — `key=value` tokens, one ASCII space between them, keys in the fixed order of
//! the config grammar (`tdsigner_node::config`), each value in one spelling (decimal without
//! leading zeros, lowercase hex, addresses dotted-quad). It parses to the same configuration, and
//! two command lines that configure the same node give the same bytes. Per node: it holds the
//! account and (with `key_source=test`) the test key.
//!
//! **Policy** (`tdsigner.policy`): what a network allowlists — the same for every node of one
//! release and network. See [`Policy::encode`].

use crate::event::EventLogEntry;

/// Prefix of every tdsigner runtime event name.
pub const PREFIX: &str = "tdsigner.";
/// Image version (payload: UTF-8).
pub const IMAGE_VERSION: &str = "tdsigner.image-version";
/// The canonical configuration (payload: UTF-8 canonical command line).
pub const CONFIG: &str = "tdsigner.config";
/// The network policy (payload: [`Policy::encode`]).
pub const POLICY: &str = "tdsigner.policy";
/// Sealing-key source (payload: UTF-8 source id).
pub const KEY_SOURCE: &str = "tdsigner.key-source";
/// Store generation (payload: store id ‖ u64 big-endian generation).
pub const STORE_GENERATION: &str = "tdsigner.store-generation";
/// Verdict on the `local-sgx` key provider's SGX quote (payload: UTF-8, see [`provider_tcb`]).
pub const PROVIDER_TCB: &str = "tdsigner.provider-tcb";
/// End of boot measurements (payload: empty).
pub const BOOT_DONE: &str = "tdsigner.boot-done";

/// All names above, in the order the image emits them (`PROVIDER_TCB` only with `local-sgx`).
pub const ALL: [&str; 7] = [IMAGE_VERSION, CONFIG, POLICY, KEY_SOURCE, STORE_GENERATION, PROVIDER_TCB, BOOT_DONE];

/// Version of the [`Policy`] encoding (its first line).
pub const POLICY_ENCODING_VERSION: u32 = 1;

/// The sealing-key source as a policy states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySourcePolicy<'a> {
    /// `key_source=test:…`: the host knows the key.
    Test,
    /// `key_source=local-sgx:…`: the provider enclaves the node accepts and the collateral floor.
    LocalSgx {
        /// Pinned MRENCLAVEs, in config order.
        mr_enclaves: &'a [[u8; 32]],
        /// The least `tcbEvaluationDataNumber`.
        tcb_eval_min: u32,
        /// Accepted TCB statuses, as the config spells them (comma-separated, canonical order).
        tcb_accept: &'a str,
    },
}

/// What a network allowlists about a node's configuration: everything that must be the same
/// on every node of one release and network, nothing that differs per node (no account, no
/// addresses, no ports, no key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy<'a> {
    /// The image version (`tdsigner.image-version`).
    pub image_version: &'a str,
    /// The signer contract's account (`None` outside signer mode).
    pub contract: Option<&'a str>,
    /// SHA-256 of the light-client trust anchor bytes (`None` outside signer mode).
    pub trust_anchor_sha256: Option<[u8; 32]>,
    /// The sealing-key source.
    pub key_source: KeySourcePolicy<'a>,
    /// RPC endpoint URLs, in config order (empty outside signer mode).
    pub rpc: &'a [&'a str],
}

impl Policy<'_> {
    /// The canonical encoding: UTF-8 lines `key=value`, each ending in `\n`, exactly these keys
    /// in this order (`-` where a value is absent):
    ///
    /// ```text
    /// tdsigner-policy=1
    /// image_version=<version>
    /// contract=<account id | ->
    /// trust_anchor_sha256=<64 lowercase hex | ->
    /// key_source=<test | local-sgx>
    /// mrenclave=<64 lowercase hex>[,<64 lowercase hex>…] | -
    /// tcb_eval_min=<decimal | ->
    /// tcb_accept=<status>[,<status>…] | -
    /// rpc=<url>[,<url>…] | -
    /// ```
    ///
    /// Config values are printable ASCII without spaces (the config grammar), so no value holds
    /// a newline and the encoding is unambiguous.
    pub fn encode(&self) -> alloc::string::String {
        use core::fmt::Write;
        let mut out = alloc::string::String::new();
        let hex_or_dash = |v: Option<&[u8]>| v.map_or_else(|| alloc::string::String::from("-"), crate::hex::encode);
        let (kind, enclaves, tcb_min, tcb_accept) = match &self.key_source {
            KeySourcePolicy::Test => ("test", alloc::string::String::from("-"), alloc::string::String::from("-"), "-"),
            KeySourcePolicy::LocalSgx { mr_enclaves, tcb_eval_min, tcb_accept } => (
                "local-sgx",
                mr_enclaves.iter().map(|m| crate::hex::encode(m)).collect::<alloc::vec::Vec<_>>().join(","),
                alloc::format!("{tcb_eval_min}"),
                *tcb_accept,
            ),
        };
        let rpc = if self.rpc.is_empty() { alloc::string::String::from("-") } else { self.rpc.join(",") };
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "tdsigner-policy={POLICY_ENCODING_VERSION}\nimage_version={}\ncontract={}\ntrust_anchor_sha256={}\n\
             key_source={kind}\nmrenclave={enclaves}\ntcb_eval_min={tcb_min}\ntcb_accept={tcb_accept}\nrpc={rpc}\n",
            self.image_version,
            self.contract.unwrap_or("-"),
            hex_or_dash(self.trust_anchor_sha256.as_ref().map(|d| &d[..])),
        );
        out
    }
}

/// `tdsigner.config` event for a canonical configuration.
pub fn config(canonical_config: &str) -> EventLogEntry {
    EventLogEntry::runtime_trusted_name(CONFIG, canonical_config.as_bytes())
}

/// `tdsigner.policy` event for an encoded policy ([`Policy::encode`]).
pub fn policy(encoded_policy: &str) -> EventLogEntry {
    EventLogEntry::runtime_trusted_name(POLICY, encoded_policy.as_bytes())
}

/// `tdsigner.image-version` event.
pub fn image_version(version: &str) -> EventLogEntry {
    EventLogEntry::runtime_trusted_name(IMAGE_VERSION, version.as_bytes())
}

/// `tdsigner.key-source` event.
pub fn key_source(source_id: &str) -> EventLogEntry {
    EventLogEntry::runtime_trusted_name(KEY_SOURCE, source_id.as_bytes())
}

/// `tdsigner.store-generation` event: payload = `store_id ‖ generation (u64 big-endian)`, the
/// encoding signer/store defines (`RuntimeEvent::store_generation`).
pub fn store_generation(store_id: &[u8; 16], generation: u64) -> EventLogEntry {
    let mut payload = [0u8; 24];
    let (id, generation_bytes) = payload.split_at_mut(16);
    id.copy_from_slice(store_id);
    generation_bytes.copy_from_slice(&generation.to_be_bytes());
    EventLogEntry::runtime_trusted_name(STORE_GENERATION, &payload)
}

/// `tdsigner.provider-tcb` event: what the image learnt verifying the key provider's SGX
/// quote, so a verifier of this TD sees the platform its sealing key came from, and which
/// time the collateral was checked at. Payload:
/// `root=<intel|emulated>;status=<TCB status>;platform=<status>;qe=<status>;tcb_eval=<n>;fmspc=<12 hex>;checked_at=<unix secs>;time=<floor|anchor|chain|host>`,
/// then `;chain_head=<height>:<base58 hash>` when a light-client walk bounded the time.
pub fn provider_tcb(
    verdict: &crate::sgx_dcap::VerifiedSgxQuote,
    emulated_root: bool,
    checked_at: u64,
    time_source: &str,
    chain_head: Option<(u64, &str)>,
) -> EventLogEntry {
    let mut payload = alloc::format!(
        "root={};status={};platform={};qe={};tcb_eval={};fmspc={};checked_at={checked_at};time={time_source}",
        if emulated_root { "emulated" } else { "intel" },
        verdict.status,
        verdict.platform_status,
        verdict.qe_status,
        verdict.tcb_evaluation_data_number,
        crate::hex::encode(&verdict.fmspc),
    );
    if let Some((height, hash)) = chain_head {
        payload.push_str(&alloc::format!(";chain_head={height}:{hash}"));
    }
    EventLogEntry::runtime_trusted_name(PROVIDER_TCB, payload.as_bytes())
}

/// `tdsigner.boot-done` event.
pub fn boot_done() -> EventLogEntry {
    EventLogEntry::runtime_trusted_name(BOOT_DONE, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::runtime_event_digest;

    #[test]
    fn names_are_valid_and_prefixed() {
        for name in ALL {
            assert!(name.starts_with(PREFIX));
            assert!(EventLogEntry::runtime(name, b"").is_ok(), "{name}");
        }
    }

    #[test]
    fn helpers_encode_payloads() {
        let e = store_generation(&[7; 16], 0x0102);
        let mut expected = [7u8; 24];
        expected[16..].copy_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(e.event_payload, expected);
        assert_eq!(e.digest, runtime_event_digest(STORE_GENERATION, &expected));
        assert_eq!(e.imr, 3);
        assert!(boot_done().event_payload.is_empty());
        assert_eq!(key_source("test").event_payload, b"test");
    }

    #[test]
    fn policy_encoding_is_the_documented_text() {
        let rpc = ["https://rpc.testnet.near.org", "http://10.0.2.2:3030"];
        let enclaves = [[0xab; 32], [0x01; 32]];
        let p = Policy {
            image_version: "0.1.0",
            contract: Some("v1.signer.testnet"),
            trust_anchor_sha256: Some([0x11; 32]),
            key_source: KeySourcePolicy::LocalSgx { mr_enclaves: &enclaves, tcb_eval_min: 17, tcb_accept: "UpToDate" },
            rpc: &rpc,
        };
        let expected = alloc::format!(
            "tdsigner-policy=1\nimage_version=0.1.0\ncontract=v1.signer.testnet\ntrust_anchor_sha256={}\n\
             key_source=local-sgx\nmrenclave={},{}\ntcb_eval_min=17\ntcb_accept=UpToDate\n\
             rpc=https://rpc.testnet.near.org,http://10.0.2.2:3030\n",
            "11".repeat(32),
            "ab".repeat(32),
            "01".repeat(32)
        );
        assert_eq!(p.encode(), expected);
        let e = policy(&p.encode());
        assert_eq!((e.imr, e.event.as_str()), (3, POLICY));
        assert_eq!(e.digest, runtime_event_digest(POLICY, expected.as_bytes()));
        let bare = Policy { image_version: "0.1.0", contract: None, trust_anchor_sha256: None, key_source: KeySourcePolicy::Test, rpc: &[] };
        assert_eq!(
            bare.encode(),
            "tdsigner-policy=1\nimage_version=0.1.0\ncontract=-\ntrust_anchor_sha256=-\nkey_source=test\nmrenclave=-\n\
             tcb_eval_min=-\ntcb_accept=-\nrpc=-\n"
        );
        assert_eq!(config("net=dhcp http=8080").event_payload, b"net=dhcp http=8080");
    }
}
