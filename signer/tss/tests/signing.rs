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
    let req = SignRequest { msg_hash: [seed as u8; 32], tweak, entropy: [9; 32] };
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
fn cluster_5_of_3() {
    check_cluster(5, 3, &[1, 2, 4], 12);
}
