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

/// near's own messages of one run each (`ts-oracle`, recorded with router.py --log-dir): CaitSith
/// presign (participant 0: λe_i, (α_i, β_i)), CaitSith sign (a follower's s_i), robust presign
/// (participant 0: four private evaluation packages, (R_i, w_i), W_i), robust sign (a follower's
/// share), CKD and CKD-PV (a follower's (Y, C)). Each decodes as its kind under the expected
/// header and re-encodes to exactly the recorded bytes; truncations are refused.
#[test]
fn recorded_near_ecdsa_and_ckd_messages() {
    use tdsigner_tss::near_compat::ckd::CkdOutput;
    use tdsigner_tss::near_compat::ecdsa::{decode_scalar, decode_scalar_pair, write_scalar};
    use tdsigner_tss::near_compat::msgpack::Writer;
    use tdsigner_tss::near_compat::robust::{decode_evaluations, decode_point, decode_r_and_w};
    let msgs = messages(include_str!("vectors/near_ecdsa_ckd_messages.txt"));
    assert_eq!(msgs.len(), 12);
    let split = |i: usize, wp: u64| {
        let (h, payload) = Header::split(&msgs[i]).unwrap();
        assert_eq!(h, Header::new(ChannelTag::shared(), wp), "message {i}");
        payload
    };
    let scalars = |values: &[k256::Scalar], tuple: bool| {
        let mut w = Writer::new();
        if tuple {
            w.array(values.len());
        }
        values.iter().for_each(|s| write_scalar(&mut w, s));
        w.into_vec()
    };
    for (i, wp) in [(0, 0), (2, 0), (9, 0)] {
        let s = decode_scalar(split(i, wp)).unwrap();
        assert_eq!(scalars(&[s], false), split(i, wp));
    }
    let (a, b) = decode_scalar_pair(split(1, 1)).unwrap();
    assert_eq!(scalars(&[a, b], true), split(1, 1));
    for i in 3..7 {
        let ev = decode_evaluations(split(i, 0)).unwrap();
        assert_eq!(scalars(&ev, true), split(i, 0));
    }
    let (r, w) = decode_r_and_w(split(7, 1)).unwrap();
    let mut enc = Writer::new();
    enc.array(2);
    enc.byte_array(&Secp256k1::point_to_bytes(&r).unwrap());
    write_scalar(&mut enc, &w);
    assert_eq!(enc.as_slice(), split(7, 1));
    let big_w = decode_point(split(8, 2)).unwrap();
    let mut enc = Writer::new();
    enc.byte_array(&Secp256k1::point_to_bytes(&big_w).unwrap());
    assert_eq!(enc.as_slice(), split(8, 2));
    for i in [10, 11] {
        let o = CkdOutput::decode(split(i, 0)).unwrap();
        let mut enc = Writer::new();
        o.encode(&mut enc);
        assert_eq!(enc.as_slice(), split(i, 0));
    }
    for msg in &msgs {
        let payload = &msg[40..];
        for cut in 0..payload.len() {
            let p = &payload[..cut];
            assert!(decode_scalar(p).is_err() && decode_scalar_pair(p).is_err());
            assert!(decode_evaluations(p).is_err() && decode_r_and_w(p).is_err());
            assert!(decode_point(p).is_err() && CkdOutput::decode(p).is_err());
        }
    }
}
