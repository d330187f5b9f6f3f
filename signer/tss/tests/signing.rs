mod common;
use common::*;
use k256::ecdsa::signature::hazmat::PrehashVerifier;
use tdsigner_tss::near;
use tdsigner_tss::SignRequest;

fn check_cluster(n: u32, t: usize, signers: &[u32], seed: u64) {
    let shares = keygen(n, t, seed);
    let set = ids(signers);
    let presigs = presign(&shares, &set, seed);
    let tweak = near::derive_tweak("alice.near", "ethereum-1").unwrap();
    let req = SignRequest {
        msg_hash: [seed as u8; 32],
        tweak,
        entropy: [9; 32],
    };
    let sig = sign(&shares, presigs, &req, seed);
    let root = shares[0].public_key();
    let derived = near::derive_public_key(&root, "alice.near", "ethereum-1").unwrap();
    assert!(sig.verify(&derived, &req.msg_hash));
    // Independent check with k256's verifier and recovery.
    let vk = k256::ecdsa::VerifyingKey::from_affine(derived).unwrap();
    let ksig = k256::ecdsa::Signature::from_scalars(sig.r().to_bytes(), sig.s.to_bytes()).unwrap();
    assert!(ksig.normalize_s().is_none(), "s must be low");
    vk.verify_prehash(&req.msg_hash, &ksig).unwrap();
    assert_eq!(sig.recover(&req.msg_hash), Some(derived));
}

#[test]
fn cluster_3_of_2() {
    check_cluster(3, 2, &[0, 2], 11);
}

#[test]
fn cluster_3_of_3() {
    check_cluster(3, 3, &[0, 1, 2], 14);
}

#[test]
fn cluster_5_of_3() {
    check_cluster(5, 3, &[1, 2, 4], 12);
}

#[test]
fn cluster_5_of_4_with_all_signers() {
    check_cluster(5, 4, &[0, 1, 2, 3, 4], 15);
}

/// n = 8, t = 5: keygen among all 8, signing by a threshold subset (the 8-party triple run is
/// exercised by the bench; in a debug build it costs about a minute).
#[test]
fn cluster_8_of_5() {
    check_cluster(8, 5, &[1, 3, 4, 6, 7], 13);
}

/// Property: any delivery order gives a valid signature (the network RNG picks the order).
#[test]
fn random_delivery_orders() {
    for seed in 100..106u64 {
        check_cluster(3, 2, &[0, 1, 2], seed);
    }
}

#[test]
fn shares_round_trip_through_bytes() {
    let shares = keygen(3, 2, 21);
    for s in &shares {
        let back = tdsigner_tss::KeyShare::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back.public, s.public);
        assert_eq!(back.me, s.me);
    }
    let set = ids(&[0, 1]);
    let tr = triples(&shares, &set, 1, 22);
    let t = &tr[0][0];
    let back = tdsigner_tss::TripleShare::from_bytes(&t.to_bytes()).unwrap();
    assert_eq!(back.id, t.id);
    let mut bad = t.to_bytes().to_vec();
    let len = bad.len();
    bad[len - 40] ^= 1;
    assert!(tdsigner_tss::TripleShare::from_bytes(&bad).is_err());
    let ps = presign(&shares, &set, 23);
    let back = tdsigner_tss::PresignatureShare::from_bytes(&ps[0].to_bytes()).unwrap();
    assert_eq!(back.id, ps[0].id);
    assert_eq!(back.big_r, ps[0].big_r);
    // A share stored under one participant cannot be passed off as a wrong one.
    let mut bytes = shares[0].to_bytes().to_vec();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    assert!(tdsigner_tss::KeyShare::from_bytes(&bytes).is_err());
}

#[test]
fn derived_keys_match_independent_computation() {
    use k256::elliptic_curve::sec1::ToEncodedPoint;
    use sha3::{Digest, Sha3_256};
    let root_secret = k256::SecretKey::from_slice(&[7u8; 32]).unwrap();
    let root = *root_secret.public_key().as_affine();
    for (pred, path) in [
        ("alice.near", ""),
        ("bob.testnet", "ethereum-1"),
        ("v1.signer", "a,b"),
        ("x", "ü/🦀"),
    ] {
        // Independent: private-key arithmetic through k256's NonZeroScalar, then its public key.
        let h: [u8; 32] = Sha3_256::digest(format!(
            "near-mpc-recovery v0.1.0 epsilon derivation:{pred},{path}"
        ))
        .into();
        let tweak = k256::NonZeroScalar::try_from(&h[..]).unwrap();
        let derived_secret =
            k256::NonZeroScalar::new(*root_secret.to_nonzero_scalar() + *tweak).unwrap();
        let expected = k256::PublicKey::from_secret_scalar(&derived_secret);
        let ours = near::derive_public_key(&root, pred, path).unwrap();
        assert_eq!(
            ours.to_encoded_point(false),
            expected.as_affine().to_encoded_point(false)
        );
        // And the NEAR string round-trips.
        let s = near::public_key_string(&ours);
        assert_eq!(near::parse_public_key_string(&s).unwrap(), ours);
    }
}

#[test]
fn signature_response_json_shape() {
    let shares = keygen(3, 2, 31);
    let set = ids(&[0, 1]);
    let presigs = presign(&shares, &set, 31);
    let req = SignRequest {
        msg_hash: [0xab; 32],
        tweak: k256::Scalar::ZERO,
        entropy: [0; 32],
    };
    let sig = sign(&shares, presigs, &req, 31);
    let json = near::signature_response_json(&sig);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["scheme"], "Secp256k1");
    let r = v["big_r"]["affine_point"].as_str().unwrap();
    let s = v["s"]["scalar"].as_str().unwrap();
    assert_eq!(r.len(), 66);
    assert!(r.starts_with("02") || r.starts_with("03"));
    assert_eq!(s.len(), 64);
    assert_eq!(v["recovery_id"].as_u64().unwrap(), sig.recovery_id as u64);
    assert_eq!(v.as_object().unwrap().len(), 4);
    assert!(sig.verify(&shares[0].public_key(), &req.msg_hash));
}
