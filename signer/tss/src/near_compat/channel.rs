//! Message headers and the incoming buffer. Every message near's protocols exchange starts with
//! a 40-byte header: a 32-byte channel tag and the waitpoint as a little-endian `u64`, followed
//! by the MessagePack payload. Tags are SHA-256 chains under one domain string: the shared root,
//! a private root per unordered pair of participants, and numbered children of any tag.
//! Incoming messages are queued per header; the number of distinct headers a run will ever
//! hold is bounded per protocol, exactly like near's buffer, so a peer cannot make us buffer
//! messages for arbitrarily many (channel, waitpoint) pairs.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use sha2::{Digest, Sha256};

use super::error::ProtocolError;

const TAG_DOMAIN: &[u8] = b"Near threshold signatures channel tags";

/// Length of the header in front of every payload.
pub const HEADER_LEN: usize = 40;

/// A 32-byte channel tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChannelTag(pub [u8; 32]);

impl ChannelTag {
    /// The channel all participants share (every protocol except triples uses only this one).
    pub fn shared() -> Self {
        let mut h = Sha256::new();
        h.update(TAG_DOMAIN);
        h.update(b"root shared");
        Self(h.finalize().into())
    }

    /// The two-party channel of `{a, b}` (order does not matter).
    pub fn private(a: u32, b: u32) -> Self {
        let (lo, hi) = (a.min(b), a.max(b));
        let mut h = Sha256::new();
        h.update(TAG_DOMAIN);
        h.update(b"root private");
        h.update(b"p0");
        h.update(lo.to_le_bytes());
        h.update(b"p1");
        h.update(hi.to_le_bytes());
        Self(h.finalize().into())
    }

    /// Child number `i` of this channel.
    pub fn child(&self, i: u64) -> Self {
        let mut h = Sha256::new();
        h.update(TAG_DOMAIN);
        h.update(b"parent");
        h.update(self.0);
        h.update(b"i");
        h.update(i.to_le_bytes());
        Self(h.finalize().into())
    }
}

/// (channel, waitpoint): which point of which sub-protocol a message belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Header {
    pub channel: ChannelTag,
    pub waitpoint: u64,
}

impl Header {
    pub fn new(channel: ChannelTag, waitpoint: u64) -> Self {
        Self { channel, waitpoint }
    }

    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..32].copy_from_slice(&self.channel.0);
        out[32..].copy_from_slice(&self.waitpoint.to_le_bytes());
        out
    }

    /// Splits a message into its header and payload; `None` if shorter than the header.
    pub fn split(message: &[u8]) -> Option<(Header, &[u8])> {
        let (head, payload) = message.split_at_checked(HEADER_LEN)?;
        let mut tag = [0u8; 32];
        tag.copy_from_slice(&head[..32]);
        let mut wp = [0u8; 8];
        wp.copy_from_slice(&head[32..]);
        Some((
            Header::new(ChannelTag(tag), u64::from_le_bytes(wp)),
            payload,
        ))
    }
}

/// Incoming messages queued per header, in arrival order per header.
pub struct Inbox {
    capacity: usize,
    queues: BTreeMap<Header, VecDeque<(u32, Vec<u8>)>>,
}

impl Inbox {
    /// An inbox that will hold at most `capacity` distinct headers over the whole run.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            queues: BTreeMap::new(),
        }
    }

    /// Queues `message` from `from`; refuses short messages and headers beyond the capacity.
    pub fn push(&mut self, from: u32, message: Vec<u8>) -> Result<(), ProtocolError> {
        let Some((header, _)) = Header::split(&message) else {
            return Err(ProtocolError::MessageTooShort {
                from,
                len: message.len(),
            });
        };
        self.slot(header, from)?.push_back((from, message));
        Ok(())
    }

    fn slot(
        &mut self,
        header: Header,
        from: u32,
    ) -> Result<&mut VecDeque<(u32, Vec<u8>)>, ProtocolError> {
        let len = self.queues.len();
        if !self.queues.contains_key(&header) && len >= self.capacity {
            return Err(ProtocolError::BufferFull {
                from,
                capacity: self.capacity,
            });
        }
        Ok(self.queues.entry(header).or_default())
    }

    /// The oldest queued message for `header`, with its payload offset past the header.
    /// Waiting on a header counts towards the capacity, as near's buffer does.
    pub fn pop(&mut self, header: Header) -> Option<(u32, Vec<u8>)> {
        if !self.queues.contains_key(&header) && self.queues.len() < self.capacity {
            self.queues.insert(header, VecDeque::new());
        }
        self.queues.get_mut(&header)?.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_root_matches_near() {
        let hex: alloc::string::String = ChannelTag::shared()
            .0
            .iter()
            .map(|b| alloc::format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "440103a922b55c636c48c039dc72955f83736fc89fcf8f025169ff3c7e51043a"
        );
    }

    #[test]
    fn inbox_bounds_distinct_headers() {
        let mut inbox = Inbox::new(2);
        let msg = |wp: u64| Header::new(ChannelTag::shared(), wp).to_bytes().to_vec();
        inbox.push(1, msg(0)).unwrap();
        inbox.push(1, msg(1)).unwrap();
        inbox.push(2, msg(1)).unwrap();
        assert!(matches!(
            inbox.push(1, msg(2)),
            Err(ProtocolError::BufferFull { capacity: 2, .. })
        ));
        assert!(matches!(
            inbox.push(1, vec![0u8; 39]),
            Err(ProtocolError::MessageTooShort { len: 39, .. })
        ));
        assert_eq!(
            inbox.pop(Header::new(ChannelTag::shared(), 1)).unwrap().0,
            1
        );
    }
}
