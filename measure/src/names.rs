//! The RTMR3 runtime events tdsigner extends, with their names and payload encodings.
//!
//! Every event is a dstack-V1 runtime event ([`crate::event::EV_DSTACK_RUNTIME`], RTMR3), so
//! near/mpc-style verifiers replay them like dstack's own. Names carry the `tdsigner.` prefix.
//!
//! | name | payload | who emits |
//! |---|---|---|
//! | `tdsigner.image-version` | UTF-8 version string of the image | kernel, first |
//! | `tdsigner.config-hash` | 32 bytes: SHA-256 of the launch configuration (the UTF-8 command line) | kernel |
//! | `tdsigner.key-source` | UTF-8 text the sealing-key source gives (`test`, or the local-sgx provider policy) | store (`signer/store` events) |
//! | `tdsigner.store-generation` | 24 bytes: store id (16) ‖ generation u64 big-endian | store (`signer/store` events) |
//! | `tdsigner.provider-tcb` | UTF-8 verdict on the `local-sgx` provider's SGX quote, see [`provider_tcb`] (only with `local-sgx`) | kernel |
//! | `tdsigner.boot-done` | empty: everything before this was measured during boot | kernel, last boot event |
//!
//! An event extended after `tdsigner.boot-done` is a run-time change and a verifier's policy
//! decides what it accepts there.

use crate::event::EventLogEntry;

/// Prefix of every tdsigner runtime event name.
pub const PREFIX: &str = "tdsigner.";
/// Image version (payload: UTF-8).
pub const IMAGE_VERSION: &str = "tdsigner.image-version";
/// Launch configuration hash (payload: 32-byte SHA-256).
pub const CONFIG_HASH: &str = "tdsigner.config-hash";
/// Sealing-key source (payload: UTF-8 source id).
pub const KEY_SOURCE: &str = "tdsigner.key-source";
/// Store generation (payload: store id ‖ u64 big-endian generation).
pub const STORE_GENERATION: &str = "tdsigner.store-generation";
/// Verdict on the `local-sgx` key provider's SGX quote (payload: UTF-8, see [`provider_tcb`]).
pub const PROVIDER_TCB: &str = "tdsigner.provider-tcb";
/// End of boot measurements (payload: empty).
pub const BOOT_DONE: &str = "tdsigner.boot-done";

/// All names above, in the order the image emits them (`PROVIDER_TCB` only with `local-sgx`).
pub const ALL: [&str; 6] = [IMAGE_VERSION, CONFIG_HASH, KEY_SOURCE, STORE_GENERATION, PROVIDER_TCB, BOOT_DONE];

/// `tdsigner.image-version` event.
pub fn image_version(version: &str) -> EventLogEntry {
    EventLogEntry::runtime_trusted_name(IMAGE_VERSION, version.as_bytes())
}

/// `tdsigner.config-hash` event.
pub fn config_hash(sha256_of_config: &[u8; 32]) -> EventLogEntry {
    EventLogEntry::runtime_trusted_name(CONFIG_HASH, sha256_of_config)
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
}
