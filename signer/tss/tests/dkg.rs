mod common;
use common::*;
use tdsigner_tss::{Presign, ProtocolError, Sign, SignRequest};

fn req() -> SignRequest {
    SignRequest {
        msg_hash: [0x42; 32],
        tweak: tdsigner_tss::near::derive_tweak("a.near", "p").unwrap(),
        entropy: [1; 32],
    }
}

fn sign_verifies(shares: &[tdsigner_tss::KeyShare], signers: &[u32], seed: u64) {
    let presigs = presign(shares, &ids(signers), seed);
    let r = req();
    let sig = sign(shares, presigs, &r, seed);
    let derived = tdsigner_tss::sign::derived_public_key(&shares[0].public_key(), &r.tweak);
    assert!(sig.verify(&derived, &r.msg_hash));
}

#[test]
fn keygen_agrees_on_key() {
    for (n, t) in [(3, 1), (3, 3), (5, 3), (8, 5)] {
        let shares = keygen(n, t, n as u64 * 10 + t as u64);
        let pk = shares[0].public_key();
        assert!(shares
            .iter()
            .all(|s| s.public_key() == pk && s.public == shares[0].public));
        assert_eq!(shares[0].public.epoch, 0);
    }
}

#[test]
fn reshare_8_of_5_to_9_of_6_keeps_key() {
    let old = keygen(8, 5, 41);
    let new = reshare(
        &old,
        &[0, 1, 2, 3, 4, 5, 6, 7],
        &[0, 1, 2, 3, 4, 5, 6, 7, 8],
        6,
        42,
    );
    assert_eq!(new.len(), 9);
    assert_eq!(new[0].public_key(), old[0].public_key());
    assert_eq!(new[0].public.threshold, 6);
    assert_eq!(new[0].public.epoch, 1);
    assert_ne!(new[0].sharing_id(), old[0].sharing_id());
    sign_verifies(&new, &[0, 2, 4, 6, 7, 8], 43);
}

#[test]
fn reshare_5_of_3_to_4_of_3_with_a_subset_of_dealers() {
    let old = keygen(5, 3, 51);
    // Participant 4 leaves; only three old holders (1, 3, 4) deal.
    let new = reshare(&old, &[1, 3, 4], &[0, 1, 2, 3], 3, 52);
    assert_eq!(new.len(), 4);
    assert_eq!(new[0].public_key(), old[0].public_key());
    sign_verifies(&new, &[0, 2, 3], 53);
}

#[test]
fn reshare_rejects_too_few_dealers() {
    let old = keygen(3, 2, 55);
    let mut r = rng(1);
    let res = tdsigner_tss::Dkg::reshare(
        [0; 32],
        &old[0].public,
        &ids(&[0]),
        Some(&old[0]),
        &ids(&[0, 1]),
        2,
        old[0].me,
        &mut r,
    );
    assert!(matches!(res, Err(ProtocolError::BadInput(_))));
}

#[test]
fn refresh_changes_every_share_and_refuses_old_material() {
    let old = keygen(3, 2, 61);
    let set = ids(&[0, 1, 2]);
    // Material made under the old sharing.
    let old_presigs = presign(&old, &set, 62);
    let mut old_triples = triples(&old, &set, 2, 63);
    let new = refresh(&old, 64);
    assert_eq!(new[0].public_key(), old[0].public_key());
    assert_ne!(new[0].sharing_id(), old[0].sharing_id());
    for (o, n) in old.iter().zip(&new) {
        assert_eq!(o.me, n.me);
        // Different share commitments mean different secret shares.
        assert_ne!(
            o.public.share_commitment(o.me),
            n.public.share_commitment(n.me)
        );
        assert_ne!(&o.to_bytes()[..], &n.to_bytes()[..]);
    }
    for (ps, key) in old_presigs.into_iter().zip(&new) {
        let res = Sign::new([9; 32], key, ps, req(), set.as_slice()[0]);
        assert!(
            matches!(res, Err(ProtocolError::BadInput(_))),
            "old presignature must be refused"
        );
    }
    for (v, key) in old_triples.iter_mut().zip(&new) {
        let t1 = v.pop().unwrap();
        let t0 = v.pop().unwrap();
        assert!(
            matches!(
                Presign::new([8; 32], key, t0, t1),
                Err(ProtocolError::BadInput(_))
            ),
            "old triples must be refused"
        );
    }
    sign_verifies(&new, &[0, 1, 2], 65);
}
