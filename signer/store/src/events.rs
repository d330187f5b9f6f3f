//! Runtime events the image extends into RTMR3 and serves in its event log. This crate only names
//! them and builds their payloads; computing the digest (dstack V1 format) and extending RTMR3 is
//! the kernel's job.

use alloc::vec::Vec;

/// Event naming the sealing-key source, extended before the key is requested.
pub const KEY_SOURCE_EVENT: &str = "tdsigner.key-source";
/// Event carrying the store generation the node booted with, extended right after the store opens.
pub const STORE_GENERATION_EVENT: &str = "tdsigner.store-generation";

/// One RTMR3 event: a name and its payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeEvent {
    pub name: &'static str,
    pub payload: Vec<u8>,
}

impl RuntimeEvent {
    /// `tdsigner.store-generation`: payload = store id (16 bytes) ‖ generation (u64 big-endian).
    pub fn store_generation(store_id: &[u8; 16], generation: u64) -> Self {
        let mut payload = Vec::with_capacity(24);
        payload.extend_from_slice(store_id);
        payload.extend_from_slice(&generation.to_be_bytes());
        Self {
            name: STORE_GENERATION_EVENT,
            payload,
        }
    }

    /// Parses a `tdsigner.store-generation` payload (for verifiers): (store id, generation).
    pub fn parse_store_generation(payload: &[u8]) -> Option<([u8; 16], u64)> {
        if payload.len() != 24 {
            return None;
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&payload[..16]);
        let mut generation = [0u8; 8];
        generation.copy_from_slice(&payload[16..]);
        Some((id, u64::from_be_bytes(generation)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_generation_payload_round_trips() {
        let e = RuntimeEvent::store_generation(&[7; 16], 0x0102_0304_0506_0708);
        assert_eq!(e.name, "tdsigner.store-generation");
        assert_eq!(&e.payload[16..], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            RuntimeEvent::parse_store_generation(&e.payload),
            Some(([7; 16], 0x0102_0304_0506_0708))
        );
        assert_eq!(RuntimeEvent::parse_store_generation(&e.payload[1..]), None);
    }
}
