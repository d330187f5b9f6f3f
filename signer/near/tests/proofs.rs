//! old.json/new.json outcome proofs against the head root both fold to, and
//! tampering.

mod common;

use common::lc;
use tdsigner_near::hash::CryptoHash;
use tdsigner_near::proof::{BlockProof, ProofError};
use tdsigner_near::view::parse_execution_proof;

/// The block_merkle_root of the light-client head the two testnet proofs were
/// requested against. Both proofs fold independently to this value; it is also
/// the root near/near-light-client's tests use for these fixtures.
const HEAD_ROOT: &str = "WWrLWbWHwSmjtTn5oBZPYgRCuCYn6fkYVa4yhPWNK4L";

fn root() -> CryptoHash {
    CryptoHash::from_base58(HEAD_ROOT).unwrap()
}

#[test]
fn fixture_proofs_verify() {
    for name in ["old.json", "new.json"] {
        let p = parse_execution_proof(&lc(name)).unwrap();
        let proven = p.verify(&root()).unwrap();
        assert_eq!(proven.outcome.executor_id, "cdk.topgunbakugo.testnet");
        assert_eq!(proven.block_hash, p.outcome_proof.block_hash);
    }
}

#[test]
fn altered_outcome_log_is_rejected() {
    let mut p = parse_execution_proof(&lc("old.json")).unwrap();
    p.outcome_proof.outcome.logs[0].push('!');
    assert!(matches!(p.verify(&root()), Err(ProofError::OutcomeRootMismatch { .. })));
    let mut p = parse_execution_proof(&lc("old.json")).unwrap();
    p.outcome_proof.outcome.logs.push(String::from("sign: extra"));
    assert!(matches!(p.verify(&root()), Err(ProofError::OutcomeRootMismatch { .. })));
    let mut p = parse_execution_proof(&lc("old.json")).unwrap();
    p.outcome_proof.outcome.executor_id = String::from("v1.signer");
    assert!(matches!(p.verify(&root()), Err(ProofError::OutcomeRootMismatch { .. })));
    let mut p = parse_execution_proof(&lc("old.json")).unwrap();
    p.outcome_proof.outcome.gas_burnt += 1;
    assert!(matches!(p.verify(&root()), Err(ProofError::OutcomeRootMismatch { .. })));
}

#[test]
fn wrong_head_is_rejected() {
    let p = parse_execution_proof(&lc("new.json")).unwrap();
    let other = p.block_header_lite.inner_lite.block_merkle_root;
    assert!(matches!(p.verify(&other), Err(ProofError::NotUnderHead { .. })));
}

#[test]
fn altered_header_is_rejected() {
    let mut p = parse_execution_proof(&lc("new.json")).unwrap();
    p.block_header_lite.inner_lite.height += 1;
    assert!(matches!(p.verify(&root()), Err(ProofError::BlockHashMismatch { .. })));
    let mut p = parse_execution_proof(&lc("new.json")).unwrap();
    p.block_header_lite.inner_lite.outcome_root = CryptoHash([0; 32]);
    assert!(matches!(p.verify(&root()), Err(ProofError::OutcomeRootMismatch { .. })));
    let mut p = parse_execution_proof(&lc("new.json")).unwrap();
    p.block_proof.pop();
    assert!(matches!(p.verify(&root()), Err(ProofError::NotUnderHead { .. })));
}

#[test]
fn block_proof_form() {
    // The block part of an outcome proof is exactly a block proof.
    let p = parse_execution_proof(&lc("old.json")).unwrap();
    let bp = BlockProof { block_header_lite: p.block_header_lite.clone(), proof: p.block_proof.clone() };
    let h = bp.verify(&root(), Some(&p.outcome_proof.block_hash)).unwrap();
    assert_eq!(h.to_base58(), "CKymwud3BMkyDTnENanADfk9UiBeyHVWvkJWh5XXphZz");
    assert!(matches!(bp.verify(&root(), Some(&CryptoHash([2; 32]))), Err(ProofError::WrongBlock { .. })));
}
