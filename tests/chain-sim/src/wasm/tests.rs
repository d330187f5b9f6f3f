//! Host-function unit tests, one group per kind of import, plus the engine's
//! instruction budget. Expected values come from the standards (hash test
//! vectors, curve generators) or from signing with independent crates.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::host::{CallContext, HostError, HostState, PromiseResult, ReturnData, StorageView};
use super::vm::{CallError, ContractCode};

fn ctx(is_view: bool) -> CallContext {
    CallContext {
        current_account_id: "contract.test".into(),
        signer_account_id: "alice.test".into(),
        signer_account_pk: [&[0u8][..], &[7u8; 32]].concat(),
        predecessor_account_id: "bob.test".into(),
        input: b"{\"x\":1}".to_vec(),
        block_height: 77,
        block_timestamp_ns: 123,
        epoch_height: 3,
        account_balance: 1000,
        attached_deposit: 5,
        prepaid_gas: 100,
        storage_usage: 10,
        promise_results: vec![PromiseResult::Successful(b"ok".to_vec()), PromiseResult::Failed],
        is_view,
    }
}

fn state() -> HostState {
    HostState::new(ctx(false), StorageView::default(), Arc::new(BTreeSet::new()))
}

/// Guest memory with `data` at offset 0 and room after it.
fn memory(data: &[u8]) -> Vec<u8> {
    let mut m = data.to_vec();
    m.resize(4096, 0);
    m
}

#[test]
fn registers_read_length_and_register_inputs() {
    let mut s = state();
    let mut m = memory(&[]);
    assert_eq!(s.register_len(1), u64::MAX);
    assert_eq!(s.read_register(&mut m, 1, 0), Err(HostError::InvalidRegisterId { register_id: 1 }));
    s.input(1).unwrap();
    assert_eq!(s.register_len(1), 7);
    s.read_register(&mut m, 1, 100).unwrap();
    assert_eq!(&m[100..107], b"{\"x\":1}");
    assert_eq!(s.read_register(&mut m, 1, 4093), Err(HostError::MemoryAccessViolation));
    // len == u64::MAX: the pointer names a register.
    assert_eq!(s.bytes(&m, 1, u64::MAX).unwrap(), b"{\"x\":1}");
    assert_eq!(s.bytes(&m, 9, u64::MAX), Err(HostError::InvalidRegisterId { register_id: 9 }));
    assert_eq!(s.bytes(&m, u64::MAX - 1, 5), Err(HostError::MemoryAccessViolation));
}

#[test]
fn context_functions_and_view_prohibitions() {
    let mut s = state();
    let mut m = memory(&[]);
    s.current_account_id(0).unwrap();
    s.signer_account_id(1).unwrap();
    s.predecessor_account_id(2).unwrap();
    s.signer_account_pk(3).unwrap();
    assert_eq!(s.registers[&0], b"contract.test");
    assert_eq!(s.registers[&1], b"alice.test");
    assert_eq!(s.registers[&2], b"bob.test");
    assert_eq!(s.registers[&3].len(), 33);
    s.attached_deposit(&mut m, 0).unwrap();
    assert_eq!(u128::from_le_bytes(m[..16].try_into().unwrap()), 5);
    s.account_balance(&mut m, 16).unwrap();
    assert_eq!(u128::from_le_bytes(m[16..32].try_into().unwrap()), 1005, "balance includes the attached deposit");
    assert_eq!(s.prepaid_gas(), Ok(100));
    let mut v = HostState::new(ctx(true), StorageView::default(), Arc::default());
    assert!(matches!(v.signer_account_id(0), Err(HostError::ProhibitedInView { .. })));
    assert!(matches!(v.predecessor_account_id(0), Err(HostError::ProhibitedInView { .. })));
    assert!(matches!(v.prepaid_gas(), Err(HostError::ProhibitedInView { .. })));
    assert!(v.current_account_id(0).is_ok());
}

#[test]
fn storage_return_codes_eviction_and_usage() {
    let mut s = state();
    let m = memory(b"keyvalue1value22");
    assert_eq!(s.storage_has_key(&m, 3, 0), Ok(0));
    assert_eq!(s.storage_read(&m, 3, 0, 1), Ok(0));
    assert_eq!(s.storage_write(&m, (3, 0), (6, 3), 1), Ok(0));
    assert_eq!(s.storage_usage, 10 + 3 + 6 + 40);
    assert_eq!(s.storage_write(&m, (3, 0), (7, 9), 1), Ok(1));
    assert_eq!(s.registers[&1], b"value1", "evicted value in the register");
    assert_eq!(s.storage_read(&m, 3, 0, 2), Ok(1));
    assert_eq!(s.registers[&2], b"value22");
    assert_eq!(s.storage_remove(&m, 3, 0, 3), Ok(1));
    assert_eq!(s.registers[&3], b"value22");
    assert_eq!(s.storage_has_key(&m, 3, 0), Ok(0));
    assert_eq!(s.storage_remove(&m, 3, 0, 3), Ok(0));
    assert_eq!(s.storage_usage, 10);
    let long = memory(&[b'k'; 2049]);
    assert_eq!(s.storage_write(&long, (2049, 0), (1, 0), 1), Err(HostError::KeyLengthExceeded { length: 2049 }));
    let mut v = HostState::new(ctx(true), StorageView::default(), Arc::default());
    assert!(matches!(v.storage_write(&m, (3, 0), (1, 0), 1), Err(HostError::ProhibitedInView { .. })));
    assert!(matches!(v.storage_remove(&m, 3, 0, 1), Err(HostError::ProhibitedInView { .. })));
    assert_eq!(v.storage_read(&m, 3, 0, 1), Ok(0));
}

#[test]
fn logs_panics_and_return_value() {
    let mut s = state();
    let m = memory(b"hello\0\xff\xfe");
    s.log_utf8(&m, 5, 0).unwrap();
    s.log_utf8(&m, u64::MAX, 0).unwrap();
    assert_eq!(s.logs, vec!["hello", "hello"]);
    assert_eq!(s.log_utf8(&m, 2, 6), Err(HostError::BadUtf8));
    assert_eq!(s.panic_utf8(&m, 5, 0), HostError::GuestPanic { panic_msg: "hello".into() });
    for _ in 2..100 {
        s.log_utf8(&m, 1, 0).unwrap();
    }
    assert_eq!(s.log_utf8(&m, 1, 0), Err(HostError::NumberOfLogsExceeded));
    let mut t = state();
    let big = vec![b'a'; 16_385];
    assert!(matches!(t.log_utf8(&big, 16_385, 0), Err(HostError::TotalLogLengthExceeded { .. })));
    t.value_return(&m, 5, 0).unwrap();
    assert_eq!(t.return_data, ReturnData::Value(b"hello".to_vec()));
    // AssemblyScript abort: UTF-16 strings with their byte length before them.
    let mut a = vec![0u8; 64];
    a[0..4].copy_from_slice(&4u32.to_le_bytes());
    a[4..8].copy_from_slice(&[b'h', 0, b'i', 0]);
    a[8..12].copy_from_slice(&2u32.to_le_bytes());
    a[12..14].copy_from_slice(&[b'f', 0]);
    let e = t.abort(&a, 4, 12, 3, 9);
    assert_eq!(e, HostError::GuestPanic { panic_msg: "hi, filename: \"f\" line: 3 col: 9".into() });
    assert_eq!(t.abort(&a, 2, 12, 0, 0), HostError::BadUtf16);
}

#[test]
fn sha256_and_keccak256_match_standard_vectors() {
    let mut s = state();
    let m = memory(b"abc");
    s.sha256(&m, 3, 0, 1).unwrap();
    assert_eq!(
        crate::hex::encode(&s.registers[&1]),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    s.keccak256(&m, 0, 0, 2).unwrap();
    assert_eq!(
        crate::hex::encode(&s.registers[&2]),
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    );
}

#[test]
fn ed25519_verify_accepts_valid_and_rejects_others() {
    use ed25519_dalek::Signer;
    let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let sig = key.sign(b"message").to_bytes();
    let pk = key.verifying_key().to_bytes();
    let mut data = sig.to_vec();
    data.extend_from_slice(&pk);
    data.extend_from_slice(b"message");
    let s = state();
    let m = memory(&data);
    assert_eq!(s.ed25519_verify(&m, (64, 0), (7, 96), (32, 64)), Ok(1));
    assert_eq!(s.ed25519_verify(&m, (64, 0), (6, 96), (32, 64)), Ok(0));
    assert!(matches!(
        s.ed25519_verify(&m, (63, 0), (7, 96), (32, 64)),
        Err(HostError::Ed25519VerifyInvalidInput { .. })
    ));
    assert!(matches!(
        s.ed25519_verify(&m, (64, 0), (7, 96), (31, 64)),
        Err(HostError::Ed25519VerifyInvalidInput { .. })
    ));
}

#[test]
fn ecrecover_recovers_the_signing_key() {
    use k256::ecdsa::SigningKey;
    let key = SigningKey::from_slice(&[3u8; 32]).unwrap();
    let hash = [5u8; 32];
    let (sig, recid) = key.sign_prehash_recoverable(&hash).unwrap();
    let mut data = hash.to_vec();
    data.extend_from_slice(&sig.to_bytes());
    let m = memory(&data);
    let mut s = state();
    assert_eq!(s.ecrecover(&m, (32, 0), (64, 32), u64::from(recid.to_byte()), 1, 4), Ok(1));
    let expected = key.verifying_key().to_encoded_point(false);
    assert_eq!(s.registers[&4], &expected.as_bytes()[1..]);
    // The high-s twin recovers with flag 0 and is refused with flag 1.
    let high_s = k256::ecdsa::Signature::from_scalars(sig.r(), -*sig.s()).unwrap();
    let mut twin = hash.to_vec();
    twin.extend_from_slice(&high_s.to_bytes());
    let m2 = memory(&twin);
    let flipped = u64::from(recid.to_byte() ^ 1);
    assert_eq!(s.ecrecover(&m2, (32, 0), (64, 32), flipped, 1, 5), Ok(0));
    assert_eq!(s.ecrecover(&m2, (32, 0), (64, 32), flipped, 0, 5), Ok(1));
    assert_eq!(s.registers[&5], &expected.as_bytes()[1..]);
    assert!(matches!(s.ecrecover(&m, (32, 0), (64, 32), 4, 0, 4), Err(HostError::ECRecoverError { .. })));
    assert!(matches!(s.ecrecover(&m, (31, 0), (64, 32), 0, 0, 4), Err(HostError::ECRecoverError { .. })));
    assert!(matches!(s.ecrecover(&m, (32, 0), (64, 32), 0, 2, 4), Err(HostError::ECRecoverError { .. })));
}

#[test]
fn bls12381_decompress_and_pairing_check() {
    use bls12_381::{G1Affine, G2Affine};
    let g1 = G1Affine::generator();
    let g2 = G2Affine::generator();
    let mut s = state();
    let m = memory(&[g1.to_compressed().as_slice(), g2.to_compressed().as_slice()].concat());
    assert_eq!(s.bls12381_decompress(&m, false, 48, 0, 1), Ok(0));
    assert_eq!(s.registers[&1], g1.to_uncompressed());
    assert_eq!(s.bls12381_decompress(&m, true, 96, 48, 2), Ok(0));
    assert_eq!(s.registers[&2], g2.to_uncompressed());
    assert_eq!(s.bls12381_decompress(&m, false, 47, 0, 1), Err(HostError::Bls12381InvalidInput));
    let mut bad = g1.to_compressed();
    bad[0] &= 0x7f; // compression flag cleared: not a compressed point
    assert_eq!(s.bls12381_decompress(&memory(&bad), false, 48, 0, 3), Ok(1));
    assert!(!s.registers.contains_key(&3));
    let neg_g1 = -g1;
    let balanced =
        [g1.to_uncompressed().as_slice(), &g2.to_uncompressed(), &neg_g1.to_uncompressed(), &g2.to_uncompressed()]
            .concat();
    assert_eq!(s.bls12381_pairing_check(&memory(&balanced), 576, 0), Ok(0));
    let single = [g1.to_uncompressed().as_slice(), &g2.to_uncompressed()].concat();
    assert_eq!(s.bls12381_pairing_check(&memory(&single), 288, 0), Ok(2));
    let mut off_curve = single.clone();
    off_curve[95] ^= 1;
    assert_eq!(s.bls12381_pairing_check(&memory(&off_curve), 288, 0), Ok(1));
    assert_eq!(s.bls12381_pairing_check(&memory(&single), 287, 0), Err(HostError::Bls12381InvalidInput));
}

#[test]
fn promises_batches_then_and_return() {
    let mut s = state();
    let mut m = memory(b"other.testcallbackargs");
    m[100..116].copy_from_slice(&7u128.to_le_bytes());
    let a = s.promise_batch_create(&m, 10, 0).unwrap();
    s.promise_batch_action_function_call_weight(&m, a, (8, 10), (4, 18), 100, 40, 0).unwrap();
    s.promise_batch_action_transfer(&m, a, 100).unwrap();
    let b = s.promise_batch_create(&m, 10, 0).unwrap();
    m[200..208].copy_from_slice(&a.to_le_bytes());
    m[208..216].copy_from_slice(&b.to_le_bytes());
    let joint = s.promise_and(&m, 200, 2).unwrap();
    let then = s.promise_batch_then(&m, joint, 10, 0).unwrap();
    assert_eq!(s.receipts[2].depends_on, vec![0, 1]);
    assert_eq!(s.promise_batch_action_transfer(&m, joint, 100), Err(HostError::CannotAppendActionToJointPromise));
    assert_eq!(s.promise_return(joint), Err(HostError::CannotReturnJointPromise));
    assert_eq!(s.promise_return(99), Err(HostError::InvalidPromiseIndex { promise_idx: 99 }));
    s.promise_return(then).unwrap();
    assert_eq!(s.return_data, ReturnData::Receipt(2));
    assert_eq!(s.balance, 1005 - 7 - 7);
    assert_eq!(s.gas_attached, 40);
    // Attached gas beyond the prepaid 100 fails.
    assert_eq!(
        s.promise_batch_action_function_call_weight(&m, a, (8, 10), (4, 18), 100, 61, 0),
        Err(HostError::GasExceeded)
    );
    let bad = memory(b"Bad Id");
    assert_eq!(s.promise_batch_create(&bad, 6, 0), Err(HostError::InvalidAccountId));
}

#[test]
fn promise_results_seen_by_callbacks() {
    let mut s = state();
    assert_eq!(s.promise_results_count(), Ok(2));
    assert_eq!(s.promise_result(0, 1), Ok(1));
    assert_eq!(s.registers[&1], b"ok");
    assert_eq!(s.promise_result(1, 2), Ok(2));
    assert_eq!(s.promise_result(2, 2), Err(HostError::InvalidPromiseResultIndex { result_idx: 2 }));
}

#[test]
fn yields_create_a_token_and_resume_once() {
    let mut s = state();
    let m = memory(b"on_resume{}");
    let p = s.promise_yield_create(&m, (9, 0), (2, 9), 50, 0, 7).unwrap();
    let token = s.registers[&7].clone();
    assert_eq!(token.len(), 32);
    assert_eq!(s.receipts[p as usize].receiver_id, "contract.test");
    let mut m2 = memory(&token);
    m2[32..35].copy_from_slice(b"sig");
    assert_eq!(s.promise_yield_resume(&m2, (32, 0), (3, 32)), Ok(1));
    assert_eq!(s.promise_yield_resume(&m2, (32, 0), (3, 32)), Ok(0), "second resume");
    assert_eq!(s.resumed, vec![(token.clone().try_into().unwrap(), b"sig".to_vec())]);
    let unknown = memory(&[1u8; 32]);
    assert_eq!(s.promise_yield_resume(&unknown, (32, 0), (0, 0)), Ok(0));
    assert_eq!(s.promise_yield_resume(&unknown, (31, 0), (0, 0)), Err(HostError::DataIdMalformed));
    let big = vec![0u8; 2048];
    assert_eq!(s.promise_yield_resume(&big, (32, 0), (1025, 32)), Err(HostError::YieldPayloadLength { length: 1025 }));
    assert_eq!(s.promise_yield_create(&m, (0, 0), (2, 9), 0, 0, 7), Err(HostError::EmptyMethodName));
    let mut v = HostState::new(ctx(true), StorageView::default(), Arc::default());
    assert!(matches!(v.promise_yield_create(&m, (9, 0), (2, 9), 0, 0, 7), Err(HostError::ProhibitedInView { .. })));
}

/// `(module (memory (export "memory") 1) (func (export "run") (loop (br 0))))`
const INFINITE_LOOP: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
    0x03, 0x02, 0x01, 0x00, // function 0: type 0
    0x05, 0x03, 0x01, 0x00, 0x01, // memory: min 1 page
    0x07, 0x10, 0x02, 0x03, b'r', b'u', b'n', 0x00, 0x00, 0x06, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 0x00, 0x0a,
    0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop { br 0 }
];

#[test]
fn instruction_budget_ends_a_runaway_call() {
    let code = ContractCode::load(INFINITE_LOOP).unwrap();
    let started = std::time::Instant::now();
    let result = code.call("run", state(), 5_000_000);
    assert_eq!(result.error, Some(CallError::BudgetExhausted { budget: 5_000_000 }));
    assert_eq!(result.instructions, 5_000_000);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let missing = code.call("nope", state(), 1000);
    assert_eq!(missing.error, Some(CallError::MethodNotFound("nope".into())));
}
