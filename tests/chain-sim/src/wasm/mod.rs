//! The deployed `v1.signer` contract, executed: a NEAR host-function runtime
//! on the wasmi engine (issue #15, step 1). The RPC simulator's contract
//! account runs it through [`crate::contract_account`].
//!
//! - [`host`]: the call's state and the semantics of NEAR's `env` imports
//!   (registers, storage, context, logs, hashes and signatures);
//! - [`promises`]: receipts, callbacks and yields created by a call;
//! - [`crypto`]: sha256/keccak256 aside, the signature and BLS12-381 functions;
//! - [`imports`]: binds all of them to the engine;
//! - [`vm`]: a compiled binary and one budgeted call;
//! - [`executor`]: receipts, yields with timeouts, transaction status;
//! - [`deployed`]: which binary (3.14.0, 3.14.1 or a path), sha256-checked.
//!
//! Not priced: host-function gas. Each call is bounded by an instruction
//! budget ([`vm::DEFAULT_FUEL`]) and the gas attached to created receipts
//! must fit in the call's prepaid gas.

pub mod crypto;
pub mod deployed;
pub mod executor;
pub mod host;
pub mod imports;
pub mod promises;
pub mod vm;

pub use executor::{
    ContractRuntime, FunctionCallTx, IncomingReceipt, NativeContract, Outcome, ReceiptOutcome, RuntimeConfig, TxStatus, ViewResult,
};
pub use host::{CallContext, HostError, HostState, PromiseResult};
pub use vm::{CallError, ContractCode, LoadError};

#[cfg(test)]
mod tests;
