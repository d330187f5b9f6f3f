#![no_main]
//! NEAR host functions called by a hostile contract: arbitrary guest memory
//! and arbitrary arguments (pointers, lengths, register ids, promise
//! indices) never panic; every failure is a `HostError`.
use std::collections::BTreeSet;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tdsigner_chain_sim::wasm::host::{CallContext, HostState, PromiseResult, StorageView};

const MEMORY: usize = 1024;

fn arg(bytes: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(chunk) = bytes.get(i * 8..i * 8 + 8) {
        b.copy_from_slice(chunk);
    }
    let v = u64::from_le_bytes(b);
    // Mostly small values so pointers land in memory; sometimes the extremes.
    match v >> 62 {
        0 | 1 => v % (MEMORY as u64 + 64),
        2 => v % 8,
        _ => v,
    }
}

fuzz_target!(|data: &[u8]| {
    let (memory, ops) = data.split_at(data.len().min(MEMORY));
    let mut mem = memory.to_vec();
    mem.resize(MEMORY, 0);
    let ctx = CallContext {
        current_account_id: "c.test".into(),
        signer_account_id: "s.test".into(),
        signer_account_pk: vec![0; 33],
        predecessor_account_id: "p.test".into(),
        input: b"{}".to_vec(),
        block_height: 1,
        block_timestamp_ns: 1,
        epoch_height: 1,
        account_balance: 1 << 100,
        attached_deposit: 1,
        prepaid_gas: 1 << 50,
        storage_usage: 0,
        promise_results: vec![PromiseResult::Successful(vec![1]), PromiseResult::Failed],
        is_view: ops.first().is_some_and(|b| b & 1 == 1),
    };
    let mut s = HostState::new(ctx, StorageView::default(), Arc::new(BTreeSet::new()));
    for op in ops.chunks(1 + 8 * 7) {
        let a = |i| arg(&op[1..], i);
        let m = &mut mem;
        let _ = match op[0] % 26 {
            0 => s.read_register(m, a(0), a(1)).map(|_| 0),
            1 => Ok(s.register_len(a(0))),
            2 => s.value_return(m, a(0), a(1)).map(|_| 0),
            3 => s.log_utf8(m, a(0), a(1)).map(|_| 0),
            4 => Err(s.panic_utf8(m, a(0), a(1))),
            5 => s.storage_write(m, (a(0), a(1)), (a(2), a(3)), a(4)),
            6 => s.storage_read(m, a(0), a(1), a(2)),
            7 => s.storage_remove(m, a(0), a(1), a(2)),
            8 => s.storage_has_key(m, a(0), a(1)),
            9 => s.sha256(m, a(0), a(1), a(2)).map(|_| 0),
            10 => s.ed25519_verify(m, (a(0), a(1)), (a(2), a(3)), (a(4), a(5))),
            11 => s.ecrecover(m, (a(0), a(1)), (a(2), a(3)), a(4), a(5), a(6)),
            12 => s.bls12381_decompress(m, a(0) & 1 == 1, a(1), a(2), a(3)),
            13 => s.bls12381_pairing_check(m, a(0), a(1)),
            14 => s.promise_batch_create(m, a(0), a(1)),
            15 => s.promise_batch_then(m, a(0), a(1), a(2)),
            16 => s.promise_and(m, a(0), a(1)),
            17 => s
                .promise_batch_action_function_call_weight(m, a(0), (a(1), a(2)), (a(3), a(4)), a(5), a(6), 1)
                .map(|_| 0),
            18 => s.promise_batch_action_transfer(m, a(0), a(1)).map(|_| 0),
            19 => s.promise_yield_create(m, (a(0), a(1)), (a(2), a(3)), a(4), a(5), a(6)),
            20 => s.promise_yield_resume(m, (a(0), a(1)), (a(2), a(3))).map(u64::from),
            21 => s.promise_result(a(0), a(1)),
            22 => s.promise_return(a(0)).map(|_| 0),
            23 => s.attached_deposit(m, a(0)).map(|_| 0),
            24 => s.function_call_key(m, a(0), (a(1), a(2)), (a(3), a(4))).map(|_| 0),
            _ => Err(s.abort(m, a(0) as u32, a(1) as u32, 0, 0)),
        };
    }
});
