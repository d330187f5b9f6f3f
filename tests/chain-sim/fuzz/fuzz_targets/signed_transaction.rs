#![no_main]
//! `borsh(SignedTransaction)` from the network: decoding never panics, is
//! canonical (what decodes re-encodes to the same bytes), and a decoded
//! transaction can be checked against a runtime.
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tdsigner_chain_sim::account::ShardLayout;
use tdsigner_chain_sim::contract::{ContractConfig, SignerContract};
use tdsigner_chain_sim::runtime::Runtime;
use tdsigner_chain_sim::tx::decode_signed_transaction;
use tdsigner_chain_sim::RequireNonEmptyQuote;

fuzz_target!(|data: &[u8]| {
    let Ok(st) = decode_signed_transaction(data) else { return };
    assert_eq!(st.to_bytes(), data);
    let contract = SignerContract::new("v1.signer-sim.test".into(), ContractConfig::default(), Arc::new(RequireNonEmptyQuote));
    let rt = Runtime::new(contract, ShardLayout::spread(4));
    let _ = rt.check_tx(&st, Some(1000), 1001);
});
