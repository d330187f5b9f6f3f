//! Node identities and the participant set.
//!
//! This module owns what the chain says about each node (participant id, NEAR account, ed25519
//! TLS public key, P2P endpoint from the registered URL), the validation of a whole set — a set
//! with a duplicate id, account, key or endpoint is refused, naming the duplicate — and this
//! node's own secret TLS key.
//!
//! Everything here is parsed from chain data, which is hostile: every parser is bounded and
//! returns a typed error.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use tdsigner_tss::{ParticipantId, ParticipantList};

/// DER prefix of an ed25519 `SubjectPublicKeyInfo` (RFC 8410): SEQUENCE { SEQUENCE { OID
/// 1.3.101.112 }, BIT STRING (0 unused bits) }, followed by the 32 key bytes. This is the whole
/// "certificate" a peer presents (RFC 7250 raw public key).
pub const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// Length of an ed25519 `SubjectPublicKeyInfo`.
pub const ED25519_SPKI_LEN: usize = 44;
/// The most participants a set may hold (the threshold engine's bound).
pub const MAX_PARTICIPANTS: usize = tdsigner_tss::participants::MAX_PARTICIPANTS;
/// Longest URL accepted from the chain.
pub const MAX_URL_LEN: usize = 512;
/// Longest host name accepted (DNS limit).
pub const MAX_HOST_LEN: usize = 253;

/// Why a key could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The text is not `ed25519:<base58>`.
    NotEd25519,
    /// The base58 part does not decode to exactly 32 bytes.
    BadEncoding,
    /// The bytes are not a valid curve point.
    NotOnCurve,
    /// The point has small order (a key anyone can sign for).
    Weak,
}

/// A node's ed25519 TLS public key, as registered on chain (`tls_public_key`).
///
/// Only valid, non-weak points are representable.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TlsPublicKey([u8; 32]);

impl TlsPublicKey {
    /// Checks that `bytes` is a usable ed25519 public key.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        let vk = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::NotOnCurve)?;
        if vk.is_weak() {
            return Err(KeyError::Weak);
        }
        Ok(TlsPublicKey(bytes))
    }

    /// Parses NEAR's text form `ed25519:<base58 of 32 bytes>`.
    pub fn parse_near(text: &str) -> Result<Self, KeyError> {
        let b58 = text.strip_prefix("ed25519:").ok_or(KeyError::NotEd25519)?;
        // 32 bytes are at most 44 base58 digits; refuse long input before decoding it.
        if b58.is_empty() || b58.len() > 44 {
            return Err(KeyError::BadEncoding);
        }
        let mut out = [0u8; 32];
        let n = bs58::decode(b58)
            .onto(&mut out[..])
            .map_err(|_| KeyError::BadEncoding)?;
        if n != 32 {
            return Err(KeyError::BadEncoding);
        }
        Self::from_bytes(out)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The DER `SubjectPublicKeyInfo` presented in the TLS handshake.
    pub fn spki_der(&self) -> [u8; ED25519_SPKI_LEN] {
        let mut out = [0u8; ED25519_SPKI_LEN];
        out[..12].copy_from_slice(&ED25519_SPKI_PREFIX);
        out[12..].copy_from_slice(&self.0);
        out
    }

    /// Reads a key from a DER `SubjectPublicKeyInfo`; only the exact ed25519 encoding is accepted.
    pub fn from_spki_der(der: &[u8]) -> Option<Self> {
        if der.len() != ED25519_SPKI_LEN {
            return None;
        }
        let (prefix, key) = der.split_at(ED25519_SPKI_PREFIX.len());
        if prefix != ED25519_SPKI_PREFIX {
            return None;
        }
        let bytes: [u8; 32] = key.try_into().ok()?;
        Self::from_bytes(bytes).ok()
    }

    pub(crate) fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0).ok()
    }
}

impl fmt::Display for TlsPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519:{}", bs58::encode(&self.0).into_string())
    }
}

impl fmt::Debug for TlsPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// This node's secret TLS key. The key bytes are zeroized on drop (ed25519-dalek's
/// `ZeroizeOnDrop`) and never printed.
pub struct NodeKey {
    signing: SigningKey,
}

impl NodeKey {
    /// The key whose 32-byte secret seed is `seed` (RFC 8032).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        NodeKey {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// The public half, as it is registered on chain.
    pub fn public_key(&self) -> TlsPublicKey {
        TlsPublicKey(self.signing.verifying_key().to_bytes())
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// Why an account id was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountError {
    /// Shorter than 2 or longer than 64 bytes.
    BadLength(usize),
    /// A character outside `a-z 0-9 - _ .`, a separator at either end, or two separators in a row.
    BadCharacter(usize),
}

/// A NEAR account id (validated with NEAR's rules: 2..=64 of `a-z 0-9`, separated by single
/// `-`, `_` or `.`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(text: &str) -> Result<Self, AccountError> {
        let b = text.as_bytes();
        if b.len() < 2 || b.len() > 64 {
            return Err(AccountError::BadLength(b.len()));
        }
        let mut prev_sep = true; // a separator may not come first
        for (i, &c) in b.iter().enumerate() {
            let sep = matches!(c, b'-' | b'_' | b'.');
            let ok = c.is_ascii_lowercase() || c.is_ascii_digit() || sep;
            if !ok || (sep && prev_sep) {
                return Err(AccountError::BadCharacter(i));
            }
            prev_sep = sep;
        }
        if prev_sep {
            return Err(AccountError::BadCharacter(b.len() - 1));
        }
        Ok(AccountId(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.0)
    }
}

/// Why a URL or `host:port` was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddrError {
    /// Longer than [`MAX_URL_LEN`].
    TooLong(usize),
    /// Not `http://` or `https://`.
    BadScheme,
    /// `user@` in the authority (never meaningful for a P2P endpoint).
    UserInfo,
    /// Empty host, a character outside a DNS name / IPv4 / bracketed IPv6, or a host too long.
    BadHost,
    /// A port that is not a number in 1..=65535, or none where one is needed.
    BadPort,
}

/// A P2P endpoint: host (DNS name, IPv4 or IPv6 literal without brackets; lower case) and port.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerAddr {
    host: String,
    port: u16,
}

impl PeerAddr {
    /// Parses the URL a participant registered on chain (`ParticipantInfo.url`), the way
    /// near/mpc reads it: `http(s)://host[:port][/...]`, the port defaulting to the scheme's.
    pub fn parse_chain_url(url: &str) -> Result<Self, AddrError> {
        if url.len() > MAX_URL_LEN {
            return Err(AddrError::TooLong(url.len()));
        }
        let (rest, default_port) = if let Some(r) = strip_prefix_ignore_case(url, "https://") {
            (r, 443)
        } else if let Some(r) = strip_prefix_ignore_case(url, "http://") {
            (r, 80)
        } else {
            return Err(AddrError::BadScheme);
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = rest.get(..end).unwrap_or("");
        if authority.contains('@') {
            return Err(AddrError::UserInfo);
        }
        Self::parse_authority(authority, Some(default_port))
    }

    /// Parses `host:port` (IPv6 in brackets).
    pub fn parse_host_port(text: &str) -> Result<Self, AddrError> {
        if text.len() > MAX_URL_LEN {
            return Err(AddrError::TooLong(text.len()));
        }
        Self::parse_authority(text, None)
    }

    /// A validated endpoint from parts.
    pub fn new(host: &str, port: u16) -> Result<Self, AddrError> {
        if port == 0 {
            return Err(AddrError::BadPort);
        }
        let host = if host.contains(':') {
            validate_ipv6(host)?
        } else {
            validate_host(host)?
        };
        Ok(PeerAddr { host, port })
    }

    fn parse_authority(authority: &str, default_port: Option<u16>) -> Result<Self, AddrError> {
        let (host, port_text) = if let Some(after) = authority.strip_prefix('[') {
            let close = after.find(']').ok_or(AddrError::BadHost)?;
            let host = after.get(..close).ok_or(AddrError::BadHost)?;
            let tail = after.get(close + 1..).unwrap_or("");
            let port = match tail.strip_prefix(':') {
                Some(p) => Some(p),
                None if tail.is_empty() => None,
                None => return Err(AddrError::BadHost),
            };
            (validate_ipv6(host)?, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (validate_host(h)?, Some(p)),
                None => (validate_host(authority)?, None),
            }
        };
        let port = match (port_text, default_port) {
            (Some(p), _) => parse_port(p)?,
            (None, Some(d)) => d,
            (None, None) => return Err(AddrError::BadPort),
        };
        Ok(PeerAddr { host, port })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

fn parse_port(p: &str) -> Result<u16, AddrError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|c| c.is_ascii_digit()) {
        return Err(AddrError::BadPort);
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(AddrError::BadPort),
        Ok(v) => Ok(v),
    }
}

/// A DNS name or IPv4 literal: letters, digits, `-` and `.`, lower-cased so that two spellings
/// of one endpoint compare equal.
fn validate_host(h: &str) -> Result<String, AddrError> {
    if h.is_empty() || h.len() > MAX_HOST_LEN || h.starts_with('.') || h.starts_with('-') {
        return Err(AddrError::BadHost);
    }
    if !h
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
    {
        return Err(AddrError::BadHost);
    }
    if h.contains("..") {
        return Err(AddrError::BadHost);
    }
    // A trailing dot names the same host; drop it so duplicates are caught.
    let h = h.strip_suffix('.').unwrap_or(h);
    if h.is_empty() {
        return Err(AddrError::BadHost);
    }
    Ok(h.to_ascii_lowercase())
}

/// An IPv6 literal (no zone), kept in its canonical compressed form so that spellings compare.
fn validate_ipv6(h: &str) -> Result<String, AddrError> {
    let groups = parse_ipv6(h).ok_or(AddrError::BadHost)?;
    Ok(format_ipv6(&groups))
}

fn parse_ipv6(h: &str) -> Option<[u16; 8]> {
    if h.is_empty() || h.len() > 45 {
        return None;
    }
    let parse_groups = |s: &str| -> Option<Vec<u16>> {
        if s.is_empty() {
            return Some(Vec::new());
        }
        let mut v = Vec::new();
        for g in s.split(':') {
            if g.is_empty() || g.len() > 4 || !g.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            v.push(u16::from_str_radix(g, 16).ok()?);
        }
        Some(v)
    };
    let mut out = [0u16; 8];
    match h.split_once("::") {
        Some((head, tail)) => {
            let a = parse_groups(head)?;
            let b = parse_groups(tail)?;
            if a.len() + b.len() > 7 {
                return None;
            }
            for (i, g) in a.iter().enumerate() {
                *out.get_mut(i)? = *g;
            }
            let start = 8 - b.len();
            for (i, g) in b.iter().enumerate() {
                *out.get_mut(start + i)? = *g;
            }
        }
        None => {
            let a = parse_groups(h)?;
            if a.len() != 8 {
                return None;
            }
            out.copy_from_slice(&a);
        }
    }
    Some(out)
}

fn format_ipv6(g: &[u16; 8]) -> String {
    use core::fmt::Write;
    // Longest run of zero groups (length >= 2) is compressed, first one on ties (RFC 5952).
    let (mut best_start, mut best_len) = (8usize, 0usize);
    let mut i = 0;
    while i < 8 {
        if g[i] == 0 {
            let start = i;
            while i < 8 && g[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best_start = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    if best_len < 2 {
        best_start = 8;
        best_len = 0;
    }
    let mut s = String::new();
    let mut i = 0;
    while i < 8 {
        if i == best_start {
            s.push_str("::");
            i += best_len;
            continue;
        }
        if i > 0 && i != best_start + best_len {
            s.push(':');
        }
        let _ = write!(s, "{:x}", g[i]);
        i += 1;
    }
    s
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerAddr({self})")
    }
}

/// One node as registered on chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    pub id: ParticipantId,
    pub account: AccountId,
    pub tls_key: TlsPublicKey,
    pub addr: PeerAddr,
}

/// Which field of a chain entry was unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParticipantError {
    Account {
        id: ParticipantId,
        error: AccountError,
    },
    Key {
        id: ParticipantId,
        error: KeyError,
    },
    Url {
        id: ParticipantId,
        error: AddrError,
    },
}

impl Participant {
    /// Builds a participant from the contract's fields: participant id, account id, and
    /// `ParticipantInfo { url, tls_public_key }` (key in NEAR text form).
    pub fn from_chain(
        id: u32,
        account: &str,
        url: &str,
        tls_public_key: &str,
    ) -> Result<Self, ParticipantError> {
        let pid = ParticipantId(id);
        Ok(Participant {
            id: pid,
            account: AccountId::parse(account)
                .map_err(|error| ParticipantError::Account { id: pid, error })?,
            tls_key: TlsPublicKey::parse_near(tls_public_key)
                .map_err(|error| ParticipantError::Key { id: pid, error })?,
            addr: PeerAddr::parse_chain_url(url)
                .map_err(|error| ParticipantError::Url { id: pid, error })?,
        })
    }
}

/// Why a participant set was refused. Duplicates name both participants and the shared value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetError {
    Empty,
    TooMany {
        len: usize,
        max: usize,
    },
    /// `u32::MAX` means "everyone" on the threshold engine's wire.
    ReservedId,
    DuplicateId {
        id: ParticipantId,
    },
    DuplicateAccount {
        account: AccountId,
        first: ParticipantId,
        second: ParticipantId,
    },
    DuplicateKey {
        key: TlsPublicKey,
        first: ParticipantId,
        second: ParticipantId,
    },
    DuplicateAddr {
        addr: PeerAddr,
        first: ParticipantId,
        second: ParticipantId,
    },
}

/// A validated participant set: ids, accounts, TLS keys and endpoints are each unique.
/// Sorted by participant id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantSet {
    members: Vec<Participant>,
}

impl ParticipantSet {
    /// Validates a set. Refuses duplicate ids, accounts, TLS keys and endpoints (two URLs that
    /// name the same host and port are the same endpoint); the error names the first duplicate
    /// found and the two participants sharing it.
    pub fn new(mut members: Vec<Participant>) -> Result<Self, SetError> {
        if members.is_empty() {
            return Err(SetError::Empty);
        }
        if members.len() > MAX_PARTICIPANTS {
            return Err(SetError::TooMany {
                len: members.len(),
                max: MAX_PARTICIPANTS,
            });
        }
        members.sort_by_key(|p| p.id);
        for w in members.windows(2) {
            if let [a, b] = w {
                if a.id == b.id {
                    return Err(SetError::DuplicateId { id: a.id });
                }
            }
        }
        if members.iter().any(|p| p.id.0 == u32::MAX) {
            return Err(SetError::ReservedId);
        }
        // Each check sorts references by the field and compares neighbours: O(n log n).
        if let Some((a, b)) = first_duplicate(&members, |p| &p.account) {
            return Err(SetError::DuplicateAccount {
                account: a.account.clone(),
                first: a.id,
                second: b.id,
            });
        }
        if let Some((a, b)) = first_duplicate(&members, |p| &p.tls_key) {
            return Err(SetError::DuplicateKey {
                key: a.tls_key,
                first: a.id,
                second: b.id,
            });
        }
        if let Some((a, b)) = first_duplicate(&members, |p| &p.addr) {
            return Err(SetError::DuplicateAddr {
                addr: a.addr.clone(),
                first: a.id,
                second: b.id,
            });
        }
        Ok(ParticipantSet { members })
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Participant> {
        self.members.iter()
    }

    pub fn get(&self, id: ParticipantId) -> Option<&Participant> {
        self.members
            .binary_search_by_key(&id, |p| p.id)
            .ok()
            .and_then(|i| self.members.get(i))
    }

    pub fn contains(&self, id: ParticipantId) -> bool {
        self.get(id).is_some()
    }

    /// The participant registered with this TLS key.
    pub fn by_key(&self, key: &TlsPublicKey) -> Option<&Participant> {
        self.members.iter().find(|p| &p.tls_key == key)
    }

    /// The ids, as the threshold engine's participant list.
    pub fn ids(&self) -> Option<ParticipantList> {
        let ids: Vec<ParticipantId> = self.members.iter().map(|p| p.id).collect();
        ParticipantList::new(&ids)
    }
}

/// The first pair (in field order) of members sharing a field value, ordered by id.
fn first_duplicate<'a, K: Ord + ?Sized + 'a>(
    members: &'a [Participant],
    key: impl Fn(&'a Participant) -> &'a K,
) -> Option<(&'a Participant, &'a Participant)> {
    let mut refs: Vec<&Participant> = members.iter().collect();
    refs.sort_by(|a, b| key(a).cmp(key(b)).then(a.id.cmp(&b.id)));
    refs.windows(2).find_map(|w| match w {
        [a, b] if key(a) == key(b) => Some((*a, *b)),
        _ => None,
    })
}

impl fmt::Display for SetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::Empty => write!(f, "empty participant set"),
            SetError::TooMany { len, max } => write!(f, "{len} participants, at most {max}"),
            SetError::ReservedId => write!(f, "participant id u32::MAX is reserved"),
            SetError::DuplicateId { id } => write!(f, "duplicate {id}"),
            SetError::DuplicateAccount {
                account,
                first,
                second,
            } => {
                write!(f, "{first} and {second} share account {account}")
            }
            SetError::DuplicateKey { key, first, second } => {
                write!(f, "{first} and {second} share TLS key {key}")
            }
            SetError::DuplicateAddr {
                addr,
                first,
                second,
            } => write!(f, "{first} and {second} share endpoint {addr}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SetError {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn key(seed: u8) -> TlsPublicKey {
        NodeKey::from_seed(&[seed; 32]).public_key()
    }

    fn part(id: u32, account: &str, url: &str, seed: u8) -> Participant {
        Participant {
            id: ParticipantId(id),
            account: AccountId::parse(account).unwrap(),
            tls_key: key(seed),
            addr: PeerAddr::parse_chain_url(url).unwrap(),
        }
    }

    #[test]
    fn chain_urls_parse_like_near_mpc() {
        let a = PeerAddr::parse_chain_url("http://10.101.0.56:3000").unwrap();
        assert_eq!((a.host(), a.port()), ("10.101.0.56", 3000));
        let b = PeerAddr::parse_chain_url("https://Node-1.Example.ORG/path?q").unwrap();
        assert_eq!((b.host(), b.port()), ("node-1.example.org", 443));
        let c = PeerAddr::parse_chain_url("http://[2001:DB8:0:0:0:0:0:1]:80").unwrap();
        assert_eq!(c.host(), "2001:db8::1");
        assert_eq!(c.to_string(), "[2001:db8::1]:80");
        assert_eq!(
            PeerAddr::parse_chain_url("http://:3000"),
            Err(AddrError::BadHost)
        );
        assert_eq!(
            PeerAddr::parse_chain_url("10.101.0.122:3000"),
            Err(AddrError::BadScheme)
        );
        assert_eq!(
            PeerAddr::parse_chain_url("http://u@h:1"),
            Err(AddrError::UserInfo)
        );
        assert_eq!(
            PeerAddr::parse_chain_url("http://h:0"),
            Err(AddrError::BadPort)
        );
        assert_eq!(
            PeerAddr::parse_chain_url("http://h:65536"),
            Err(AddrError::BadPort)
        );
        assert_eq!(PeerAddr::parse_host_port("h"), Err(AddrError::BadPort));
        assert_eq!(PeerAddr::parse_host_port("h:7").unwrap().to_string(), "h:7");
        assert_eq!(
            PeerAddr::parse_host_port("h.:7").unwrap().to_string(),
            "h:7"
        );
        // Found by the chain_participant fuzz target: "x.." lost one dot and kept the other.
        assert_eq!(PeerAddr::parse_host_port("x..:7"), Err(AddrError::BadHost));
    }

    #[test]
    fn near_key_text_round_trips_and_weak_keys_are_refused() {
        let k = key(7);
        assert_eq!(TlsPublicKey::parse_near(&k.to_string()), Ok(k));
        assert_eq!(
            TlsPublicKey::parse_near("secp256k1:abc"),
            Err(KeyError::NotEd25519)
        );
        assert_eq!(
            TlsPublicKey::parse_near("ed25519:0OIl"),
            Err(KeyError::BadEncoding)
        );
        // The identity point (small order).
        let mut ident = [0u8; 32];
        ident[0] = 1;
        assert_eq!(TlsPublicKey::from_bytes(ident), Err(KeyError::Weak));
        assert_eq!(TlsPublicKey::from_spki_der(&k.spki_der()), Some(k));
        let mut bad = k.spki_der();
        bad[5] ^= 1;
        assert_eq!(TlsPublicKey::from_spki_der(&bad), None);
    }

    #[test]
    fn account_rules() {
        assert!(AccountId::parse("alice.near").is_ok());
        assert!(AccountId::parse("a").is_err());
        assert!(AccountId::parse("Alice.near").is_err());
        assert!(AccountId::parse("a..b").is_err());
        assert!(AccountId::parse(".ab").is_err());
        assert!(AccountId::parse("ab-").is_err());
    }

    #[test]
    fn sets_with_duplicates_are_refused_naming_the_duplicate() {
        let ok = vec![
            part(0, "a.near", "http://h0:1", 1),
            part(1, "b.near", "http://h1:1", 2),
        ];
        assert_eq!(ParticipantSet::new(ok.clone()).unwrap().len(), 2);

        let mut dup_key = ok.clone();
        dup_key.push(part(2, "c.near", "http://h2:1", 1));
        assert_eq!(
            ParticipantSet::new(dup_key),
            Err(SetError::DuplicateKey {
                key: key(1),
                first: ParticipantId(0),
                second: ParticipantId(2)
            })
        );

        // Same endpoint spelled differently (case, default port).
        let mut dup_url = ok.clone();
        dup_url.push(part(2, "c.near", "HTTP://H1:1/", 3));
        let e = ParticipantSet::new(dup_url).unwrap_err();
        assert!(
            matches!(
                e,
                SetError::DuplicateAddr {
                    first: ParticipantId(1),
                    second: ParticipantId(2),
                    ..
                }
            ),
            "{e:?}"
        );
        let mut dup_port = vec![
            part(0, "a.near", "http://h:80", 1),
            part(1, "b.near", "http://h", 2),
        ];
        dup_port.reverse();
        assert!(matches!(
            ParticipantSet::new(dup_port),
            Err(SetError::DuplicateAddr { .. })
        ));

        let mut dup_id = ok.clone();
        dup_id.push(part(1, "c.near", "http://h2:1", 3));
        assert_eq!(
            ParticipantSet::new(dup_id),
            Err(SetError::DuplicateId {
                id: ParticipantId(1)
            })
        );

        let mut dup_acct = ok.clone();
        dup_acct.push(part(2, "a.near", "http://h2:1", 3));
        assert!(matches!(
            ParticipantSet::new(dup_acct),
            Err(SetError::DuplicateAccount { .. })
        ));

        assert_eq!(ParticipantSet::new(vec![]), Err(SetError::Empty));
        assert_eq!(
            ParticipantSet::new(vec![part(u32::MAX, "a.near", "http://h:1", 1)]),
            Err(SetError::ReservedId)
        );
    }

    #[test]
    fn from_chain_names_the_bad_field() {
        let k = key(3).to_string();
        assert!(Participant::from_chain(4, "n.near", "http://1.2.3.4:80", &k).is_ok());
        assert!(matches!(
            Participant::from_chain(4, "n.near", "ftp://x", &k),
            Err(ParticipantError::Url {
                id: ParticipantId(4),
                error: AddrError::BadScheme
            })
        ));
        assert!(matches!(
            Participant::from_chain(4, "N", "http://x", &k),
            Err(ParticipantError::Account { .. })
        ));
        assert!(matches!(
            Participant::from_chain(4, "n.near", "http://x", "ed25519:1"),
            Err(ParticipantError::Key { .. })
        ));
    }
}
