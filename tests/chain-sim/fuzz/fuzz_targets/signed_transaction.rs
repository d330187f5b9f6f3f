#![no_main]
//! `borsh(SignedTransaction)` from the network: decoding never panics, is
//! canonical (what decodes re-encodes to the same bytes), and a decoded
//! transaction can be checked against a runtime.
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tdsigner_chain_sim::account::ShardLayout;
use tdsigner_chain_sim::chain::default_contract_fixtures;
use tdsigner_chain_sim::contract_account::ContractAccount;
use tdsigner_chain_sim::runtime::{ContractEngine, Runtime};
use tdsigner_chain_sim::tx::decode_signed_transaction;
use tdsigner_chain_sim::wasm::deployed::ContractChoice;
use tdsigner_chain_sim::wasm::RuntimeConfig;

/// A runtime with the deployed 3.14.1 binary on the contract account (loaded once).
fn runtime() -> &'static std::sync::Mutex<Runtime> {
    static RT: OnceLock<std::sync::Mutex<Runtime>> = OnceLock::new();
    RT.get_or_init(|| {
        let account = ContractAccount::load("v1.signer-sim.test".into(), &ContractChoice::parse("3.14.1"), &default_contract_fixtures(), RuntimeConfig::default())
            .unwrap_or_else(|e| panic!("{e}"));
        std::sync::Mutex::new(Runtime::new(ContractEngine::Deployed(Box::new(account)), ShardLayout::spread(4)))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(st) = decode_signed_transaction(data) else { return };
    assert_eq!(st.to_bytes(), data);
    let rt = runtime().lock().unwrap_or_else(|p| p.into_inner());
    let _ = rt.check_tx(&st, Some(1000), 1001);
});
