//! The receipt executor on a small hand-written contract: `promise_and` of a
//! call to a native contract and a call to an account without code, a
//! `promise_then` callback reading both results, `promise_return` of the
//! callback, a failed call leaving no trace, and the instruction budget
//! inside a transaction.

use tdsigner_chain_sim::wasm::{
    ContractCode, ContractRuntime, FunctionCallTx, NativeContract, RuntimeConfig, TxStatus,
};

const CONTRACT: &str = r#"
(module
  (import "env" "promise_batch_create" (func $create (param i64 i64) (result i64)))
  (import "env" "promise_batch_action_function_call" (func $fcall (param i64 i64 i64 i64 i64 i64 i64)))
  (import "env" "promise_batch_then" (func $then (param i64 i64 i64) (result i64)))
  (import "env" "promise_and" (func $and (param i64 i64) (result i64)))
  (import "env" "promise_return" (func $return (param i64)))
  (import "env" "promise_result" (func $result (param i64 i64) (result i64)))
  (import "env" "promise_results_count" (func $count (result i64)))
  (import "env" "read_register" (func $read (param i64 i64)))
  (import "env" "value_return" (func $value_return (param i64 i64)))
  (import "env" "storage_write" (func $write (param i64 i64 i64 i64 i64) (result i64)))
  (import "env" "storage_has_key" (func $has (param i64 i64) (result i64)))
  (import "env" "panic_utf8" (func $panic (param i64 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "native.test")
  (data (i32.const 16) "echo")
  (data (i32.const 32) "self.test")
  (data (i32.const 48) "callback")
  (data (i32.const 64) "missing.test")
  (data (i32.const 96) "boom")
  (func (export "fan_out")
    (local $a i64) (local $b i64) (local $cb i64)
    (local.set $a (call $create (i64.const 11) (i64.const 0)))
    (call $fcall (local.get $a) (i64.const 4) (i64.const 16) (i64.const 4) (i64.const 16) (i64.const 128) (i64.const 1000))
    (local.set $b (call $create (i64.const 12) (i64.const 64)))
    (call $fcall (local.get $b) (i64.const 4) (i64.const 16) (i64.const 0) (i64.const 0) (i64.const 128) (i64.const 1000))
    (i64.store (i32.const 256) (local.get $a))
    (i64.store (i32.const 264) (local.get $b))
    (local.set $cb (call $then (call $and (i64.const 256) (i64.const 2)) (i64.const 9) (i64.const 32)))
    (call $fcall (local.get $cb) (i64.const 8) (i64.const 48) (i64.const 0) (i64.const 0) (i64.const 128) (i64.const 1000))
    (call $return (local.get $cb)))
  (func (export "callback")
    (i64.store8 (i32.const 512) (call $count))
    (i64.store8 (i32.const 513) (call $result (i64.const 0) (i64.const 1)))
    (i64.store8 (i32.const 514) (call $result (i64.const 1) (i64.const 2)))
    (call $read (i64.const 1) (i64.const 515))
    (call $value_return (i64.const 7) (i64.const 512)))
  (func (export "write_then_panic")
    (drop (call $write (i64.const 4) (i64.const 16) (i64.const 4) (i64.const 16) (i64.const 0)))
    (drop (call $create (i64.const 11) (i64.const 0)))
    (call $panic (i64.const 4) (i64.const 96)))
  (func (export "has_echo")
    (i64.store8 (i32.const 600) (call $has (i64.const 4) (i64.const 16)))
    (call $value_return (i64.const 1) (i64.const 600)))
  (func (export "spin") (loop (br 0))))
"#;

/// Returns its arguments.
struct Echo;

impl NativeContract for Echo {
    fn call(&mut self, method: &str, args: &[u8], _predecessor: &str) -> Result<Vec<u8>, String> {
        match method {
            "echo" => Ok(args.to_vec()),
            other => Err(format!("MethodNotFound {other}")),
        }
    }
}

fn runtime() -> ContractRuntime {
    let wasm = wat::parse_str(CONTRACT).unwrap();
    let config =
        RuntimeConfig { contract_account: "self.test".into(), fuel_per_call: 1_000_000, ..RuntimeConfig::default() };
    let mut rt = ContractRuntime::new(ContractCode::load(&wasm).unwrap(), config);
    rt.register_native("native.test", Box::new(Echo));
    rt
}

fn call(rt: &mut ContractRuntime, method: &str) -> u64 {
    rt.submit(FunctionCallTx {
        signer_id: "user.test".into(),
        signer_pk: vec![0; 33],
        method: method.into(),
        args: Vec::new(),
        deposit: 0,
        gas: 300_000_000_000_000,
    })
}

#[test]
fn joint_promise_results_reach_the_callback_and_its_value_is_the_tx_result() {
    let mut rt = runtime();
    let t = call(&mut rt, "fan_out");
    // count 2; echo Successful (1); missing.test Failed (2); echo's data.
    assert_eq!(rt.tx_status(t), TxStatus::Success(vec![2, 1, 2, b'e', b'c', b'h', b'o']));
    let receivers: Vec<&str> = rt.outcomes.iter().map(|o| o.receiver_id.as_str()).collect();
    assert_eq!(receivers, ["self.test", "native.test", "missing.test", "self.test"]);
    assert!(
        matches!(&rt.outcomes[2].outcome, tdsigner_chain_sim::wasm::Outcome::Failure(e) if e.contains("CodeDoesNotExist"))
    );
}

#[test]
fn a_failed_call_keeps_neither_state_nor_receipts() {
    let mut rt = runtime();
    let t = call(&mut rt, "write_then_panic");
    assert_eq!(rt.tx_status(t), TxStatus::Failure("Smart contract panicked: boom".into()));
    assert_eq!(rt.outcomes.len(), 1, "the created receipt was dropped");
    assert_eq!(rt.view("has_echo", b"").unwrap().value, vec![0]);
}

#[test]
fn a_runaway_transaction_ends_with_the_budget_error() {
    let mut rt = runtime();
    let t = call(&mut rt, "spin");
    assert_eq!(rt.tx_status(t), TxStatus::Failure("instruction budget of 1000000 exhausted".into()));
    assert_eq!(rt.outcomes[0].instructions, 1_000_000);
}
