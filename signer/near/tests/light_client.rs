//! Fixture chains main_0→1→2 and test_0→1→2, tampering, the stricter stake rule
//! and state persistence.

mod common;

use common::{lc, lc_json};
use tdsigner_near::hash::CryptoHash;
use tdsigner_near::light_client::{check_approvals, EpochProducers, HeaderError, LightClientState};
use tdsigner_near::types::{bp_hash, BpHashLayout, LightClientBlock};
use tdsigner_near::view::{light_client_block_from_value, parse_light_client_block};

fn block(name: &str) -> LightClientBlock {
    parse_light_client_block(&lc(name)).unwrap()
}

fn chain(prefix: &str) -> (LightClientState, Vec<LightClientBlock>) {
    let first = block(&format!("{prefix}_0.json"));
    let state = LightClientState::from_trusted_block(&first).unwrap();
    (state, vec![block(&format!("{prefix}_1.json")), block(&format!("{prefix}_2.json"))])
}

#[test]
fn fixture_hashes_link_as_recorded() {
    // Each fixture's body hashes to the next fixture's last_block_hash where they were chained.
    let main0 = block("main_0.json");
    let main1_req = lc_json("main_1.json")["last_block_hash"].as_str().unwrap().to_string();
    assert_eq!(main0.hash().to_base58(), main1_req);
    assert_eq!(main0.hash().to_base58(), "B35Jn6mLXACRcsf6PATMixqgzqJZd71JaNh1LScJjFuJ");
}

#[test]
fn mainnet_chain_verifies() {
    let (mut state, blocks) = chain("main");
    for b in &blocks {
        let adv = state.advance(b).unwrap();
        assert!(adv.epoch_changed);
    }
    assert_eq!(state.head_height(), 86716292);
    assert_eq!(state.head_hash().to_base58(), "3tyxRRBgbYTo5DYd1LpX3EZtEiRYbDAAji6kcsf9QRge");
}

#[test]
fn testnet_chain_verifies() {
    let (mut state, blocks) = chain("test");
    for b in &blocks {
        state.advance(b).unwrap();
    }
    assert_eq!(state.head_height(), 154741176);
    assert_eq!(state.head_hash().to_base58(), "ByF6ngJ7WB9ZyYpDH3BzoY3PAbCbcc3ejKRPC2zRXUrQ");
}

#[test]
fn main_2_has_trailing_approval_ignored() {
    let (mut state, blocks) = chain("main");
    state.advance(&blocks[0]).unwrap();
    let producers = state.next_producers().unwrap().producers.clone();
    assert_eq!(producers.len(), 100);
    assert_eq!(blocks[1].approvals_after_next.len(), 101);
    let tally = check_approvals(&blocks[1], &producers).unwrap();
    assert!(tally.approved * 3 > tally.total * 2);
    // A garbage 101st entry is still ignored.
    let mut b = blocks[1].clone();
    if let Some(last) = b.approvals_after_next.last_mut() {
        *last = Some(tdsigner_near::crypto::Signature::Ed25519([7u8; 64]));
    }
    check_approvals(&b, &producers).unwrap();
}

#[test]
fn tampered_signature_byte_is_rejected() {
    let (state, blocks) = chain("main");
    let mut b = blocks[0].clone();
    let idx = b.approvals_after_next.iter().position(Option::is_some).unwrap();
    if let Some(tdsigner_near::crypto::Signature::Ed25519(s)) = &mut b.approvals_after_next[idx] {
        s[10] ^= 1;
    }
    assert!(matches!(state.verify(&b), Err(HeaderError::InvalidSignature { index, .. }) if index == idx));
}

#[test]
fn dropped_approvals_are_rejected_even_where_zip_only_sum_would_pass() {
    let (state, blocks) = chain("main");
    let producers = state.next_producers().unwrap().producers.clone();
    let full = &blocks[0];
    // Find a prefix whose approvals exceed 2/3 of the *prefix* stake (what a
    // zip-only implementation sums) yet not 2/3 of the whole set.
    let mut found = None;
    for k in 1..full.approvals_after_next.len() {
        let (mut tot, mut app) = (0u128, 0u128);
        for (sig, p) in full.approvals_after_next[..k].iter().zip(&producers) {
            tot += p.stake;
            if sig.is_some() {
                app += p.stake;
            }
        }
        let whole: u128 = producers.iter().map(|p| p.stake).sum();
        if app * 3 > tot * 2 && app * 3 <= whole * 2 {
            found = Some(k);
            break;
        }
    }
    let k = found.expect("a truncation that fools a zip-only sum exists in main_1");
    let mut b = full.clone();
    b.approvals_after_next.truncate(k);
    assert!(matches!(state.verify(&b), Err(HeaderError::InsufficientStake { .. })));
    // Dropping approvals by nulling them is rejected the same way.
    let mut b = full.clone();
    for a in b.approvals_after_next.iter_mut().skip(5) {
        *a = None;
    }
    assert!(matches!(state.verify(&b), Err(HeaderError::InsufficientStake { .. })));
}

#[test]
fn altered_next_bps_is_rejected() {
    let (state, blocks) = chain("main");
    let mut b = blocks[0].clone();
    if let Some(bps) = &mut b.next_bps {
        bps[3].stake += 1;
    }
    assert!(matches!(state.verify(&b), Err(HeaderError::NextBpsMismatch { .. })));
    let mut b = blocks[0].clone();
    b.next_bps = None;
    assert!(matches!(state.verify(&b), Err(HeaderError::MissingNextBps)));
}

#[test]
fn wrong_head_is_rejected() {
    // main_2 against main_0's state: epoch is two ahead.
    let (state, blocks) = chain("main");
    assert!(matches!(state.verify(&blocks[1]), Err(HeaderError::UnknownEpoch { .. })));
    // Replaying the head, or an older block, is rejected.
    let mut state = state;
    state.advance(&blocks[0]).unwrap();
    assert!(matches!(state.verify(&blocks[0]), Err(HeaderError::NotNewer { .. })));
    // Testnet block against the mainnet head.
    let t1 = block("test_1.json");
    assert!(matches!(state.verify(&t1), Err(HeaderError::UnknownEpoch { .. })));
}

#[test]
fn altered_inner_lite_breaks_signatures() {
    let (state, blocks) = chain("main");
    let mut b = blocks[0].clone();
    b.inner_lite.outcome_root = CryptoHash([1; 32]);
    assert!(matches!(state.verify(&b), Err(HeaderError::InvalidSignature { .. })));
}

#[test]
fn next_bp_hash_both_layouts_distinct() {
    let b = block("main_0.json");
    let bps = b.next_bps.clone().unwrap();
    assert_eq!(bp_hash(&bps, BpHashLayout::Versioned), b.inner_lite.next_bp_hash);
    assert_ne!(bp_hash(&bps, BpHashLayout::Legacy), b.inner_lite.next_bp_hash);
}

#[test]
fn state_persists_and_resumes() {
    let (mut state, blocks) = chain("main");
    let bytes = state.to_bytes();
    let mut resumed = LightClientState::from_bytes(&bytes).unwrap();
    assert_eq!(resumed, state);
    state.advance(&blocks[0]).unwrap();
    resumed.advance(&blocks[0]).unwrap();
    let bytes = resumed.to_bytes();
    let mut resumed = LightClientState::from_bytes(&bytes).unwrap();
    resumed.advance(&blocks[1]).unwrap();
    assert_eq!(resumed.head_height(), 86716292);
    // Truncations and trailing bytes are typed errors.
    for cut in [0, 1, 50, bytes.len() - 1] {
        assert!(LightClientState::from_bytes(&bytes[..cut]).is_err());
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(LightClientState::from_bytes(&extra).is_err());
}

#[test]
fn trusted_header_with_given_producers() {
    // verify-block style: head = main_0 header, BPS = main_0.next_bps, NEW = main_1.
    let first = block("main_0.json");
    let epoch = EpochProducers { epoch_id: first.inner_lite.next_epoch_id, producers: first.next_bps.clone().unwrap() };
    let state = LightClientState::from_trusted_header(first.header(), epoch).unwrap();
    state.verify(&block("main_1.json")).unwrap();
}

#[test]
fn envelope_forms_parse_identically() {
    let body = lc_json("main_1.json")["body"].clone();
    let env = serde_json::json!({"jsonrpc": "2.0", "id": "x", "result": body.clone()});
    let a = light_client_block_from_value(body).unwrap();
    let b = light_client_block_from_value(env).unwrap();
    let c = parse_light_client_block(&lc("main_1.json")).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
}
