//! Chain data parsers: participant URL (and host:port), NEAR ed25519 key text, account id, and
//! a raw SubjectPublicKeyInfo. Input fields are separated by 0xff bytes. No panic; accepted
//! values print back to a form that parses to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tdsigner_p2p::identity::{AccountId, Participant, PeerAddr, TlsPublicKey};

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|b| *b == 0xff);
    let url = fields
        .next()
        .and_then(|b| core::str::from_utf8(b).ok())
        .unwrap_or("");
    let key = fields
        .next()
        .and_then(|b| core::str::from_utf8(b).ok())
        .unwrap_or("");
    let account = fields
        .next()
        .and_then(|b| core::str::from_utf8(b).ok())
        .unwrap_or("");
    if let Ok(a) = PeerAddr::parse_chain_url(url) {
        assert_eq!(PeerAddr::parse_host_port(&a.to_string()), Ok(a));
    }
    if let Ok(a) = PeerAddr::parse_host_port(url) {
        assert_eq!(PeerAddr::parse_host_port(&a.to_string()), Ok(a));
    }
    if let Ok(k) = TlsPublicKey::parse_near(key) {
        assert_eq!(TlsPublicKey::parse_near(&k.to_string()), Ok(k));
        assert_eq!(TlsPublicKey::from_spki_der(&k.spki_der()), Some(k));
    }
    if let Ok(a) = AccountId::parse(account) {
        assert_eq!(a.as_str(), account);
    }
    if let Some(k) = TlsPublicKey::from_spki_der(data) {
        assert_eq!(&k.spki_der()[..], data);
    }
    let _ = Participant::from_chain(1, account, url, key);
});
