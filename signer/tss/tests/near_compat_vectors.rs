//! Decoding of messages recorded from near's own implementation (`ts-oracle`, near/mpc
//! threshold-signatures at b0b6b716): participant 0's keygen traffic (n = 3, t = 2) on
//! secp256k1 and ed25519, one message per DKG waitpoint. Each must decode to what it is and,
//! where we produce the same message kind, re-encode to exactly the recorded bytes.

use tdsigner_tss::near_compat::channel::{ChannelTag, Header};
use tdsigner_tss::near_compat::dkg::{decode_commitment_vote, decode_hash, decode_share};
use tdsigner_tss::near_compat::echo::{decode_vote, encode_vote, Vote};
use tdsigner_tss::near_compat::{Curve, Ed25519, Secp256k1};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The message bytes of each recorded `SEND_*` line.
fn messages(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .map(|l| hex(l.rsplit(' ').next().unwrap()))
        .collect()
}

fn check<C: Curve>(text: &str) {
    let msgs = messages(text);
    assert_eq!(msgs.len(), 5);
    let split = |i: usize, wp: u64| {
        let (h, payload) = Header::split(&msgs[i]).unwrap();
        assert_eq!(h, Header::new(ChannelTag::shared(), wp));
        payload
    };

    let (sid, vote) = decode_vote::<[u8; 32]>(split(0, 0)).unwrap();
    assert!(matches!(vote, Vote::Send(_)) && sid == 0);
    assert_eq!(
        encode_vote(Header::new(ChannelTag::shared(), 0), sid, &vote),
        msgs[0]
    );

    decode_hash(split(1, 1)).unwrap();

    let (sid, vote) = decode_commitment_vote::<C>(split(2, 2)).unwrap();
    let Vote::Send(c) = &vote else {
        panic!("expected Send")
    };
    assert_eq!((sid, c.coefficients.len(), c.proof.is_some()), (0, 2, true));
    assert_eq!(
        encode_vote(Header::new(ChannelTag::shared(), 2), sid, &vote),
        msgs[2]
    );

    decode_share::<C>(split(3, 3)).unwrap();

    let (sid, vote) = decode_vote::<(bool, [u8; 32])>(split(4, 4)).unwrap();
    assert!(matches!(vote, Vote::Send((true, _))) && sid == 0);
    assert_eq!(
        encode_vote(Header::new(ChannelTag::shared(), 4), sid, &vote),
        msgs[4]
    );

    // Every strict prefix of every payload is refused (never a panic).
    for msg in &msgs {
        let payload = &msg[40..];
        for cut in 0..payload.len() {
            assert!(decode_commitment_vote::<C>(&payload[..cut]).is_err());
            assert!(decode_vote::<[u8; 32]>(&payload[..cut]).is_err());
        }
    }
}

#[test]
fn recorded_near_keygen_messages_secp256k1() {
    check::<Secp256k1>(include_str!("vectors/near_dkg_secp256k1_p0.txt"));
}

#[test]
fn recorded_near_keygen_messages_ed25519() {
    check::<Ed25519>(include_str!("vectors/near_dkg_ed25519_p0.txt"));
}

/// near's FROST v1 traffic (2-of-2, leader 1, message "hello"): follower 0's commitments and
/// signature share, and the leader's signing package. Each re-encodes to the recorded bytes.
#[test]
fn recorded_near_eddsa_sign_messages() {
    use tdsigner_tss::near_compat::eddsa::{
        decode_commitments, decode_signature_share, SigningPackage,
    };
    use tdsigner_tss::near_compat::msgpack::Writer;
    let msgs = messages(include_str!("vectors/near_eddsa_sign_2of2.txt"));
    let payload = |i: usize, wp: u64| {
        let (h, p) = Header::split(&msgs[i]).unwrap();
        assert_eq!(h, Header::new(ChannelTag::shared(), wp));
        p.to_vec()
    };
    let commitments = decode_commitments(&payload(0, 0)).unwrap();
    decode_signature_share(&payload(1, 1)).unwrap();
    let package = SigningPackage::decode(&payload(2, 1)).unwrap();
    assert_eq!(package.message, b"hello");
    assert_eq!(
        package
            .commitments
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        [0, 1]
    );
    assert_eq!(package.commitments[0].1, commitments);
    let mut w = Writer::with_prefix(&Header::new(ChannelTag::shared(), 1).to_bytes());
    package.encode(&mut w);
    assert_eq!(w.into_vec(), msgs[2]);
    let p = payload(2, 1);
    for cut in 0..p.len() {
        assert!(SigningPackage::decode(&p[..cut]).is_err());
    }
}
