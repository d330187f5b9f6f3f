//! Runs the deployed contract as NEAR runs an account's receipts: a
//! transaction's function call becomes a receipt; receipts the contract
//! creates (`promise_batch_*`, `promise_then`, `promise_and`, yields) run once
//! every receipt they depend on has a result; a yield's callback runs when
//! `promise_yield_resume` supplies its data or, `yield_timeout_blocks` blocks
//! after its creation, with a failed promise result. State changes, balance
//! and created receipts of a failed call are dropped. Accounts other than
//! the contract accept transfers; function calls to them fail unless a
//! [`NativeContract`] is registered under that account.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::host::{Action, CallContext, HostState, PromiseResult, ReturnData, StorageView};
use super::vm::{CallError, ContractCode, DEFAULT_FUEL};

/// nearcore's storage price: 10^19 yoctoNEAR per byte.
pub const STORAGE_PRICE_PER_BYTE: u128 = 10_000_000_000_000_000_000;
/// Receipts executed per run before the rest wait for the next block.
const MAX_RECEIPTS_PER_RUN: usize = 10_000;

/// A contract the simulator implements natively (e.g. a quote verifier).
pub trait NativeContract: Send {
    /// Runs `method`; `Ok` is the return value, `Err` the failure message.
    fn call(&mut self, method: &str, args: &[u8], predecessor: &str) -> Result<Vec<u8>, String>;
}

/// Parameters of the runtime.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    pub contract_account: String,
    pub contract_balance: u128,
    pub genesis_height: u64,
    pub genesis_timestamp_ns: u64,
    pub block_time_ns: u64,
    pub epoch_length: u64,
    /// nearcore's `yield_timeout_length_in_blocks` (200 on mainnet).
    pub yield_timeout_blocks: u64,
    pub fuel_per_call: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            contract_account: "v1.signer-sim.test".to_string(),
            contract_balance: 1_000 * 10u128.pow(24),
            genesis_height: 1000,
            genesis_timestamp_ns: 1_700_000_000_000_000_000,
            block_time_ns: 1_000_000_000,
            epoch_length: 20,
            yield_timeout_blocks: 200,
            fuel_per_call: DEFAULT_FUEL,
        }
    }
}

/// A function-call transaction to the contract.
#[derive(Clone, Debug)]
pub struct FunctionCallTx {
    pub signer_id: String,
    /// Borsh `PublicKey` of the signing access key.
    pub signer_pk: Vec<u8>,
    pub method: String,
    pub args: Vec<u8>,
    pub deposit: u128,
    pub gas: u64,
}

/// An action receipt for the contract account.
#[derive(Clone, Debug)]
pub struct IncomingReceipt {
    pub predecessor_id: String,
    pub signer_id: String,
    /// Borsh `PublicKey` of the key that signed the transaction.
    pub signer_pk: Vec<u8>,
    pub actions: Vec<Action>,
}

/// How one receipt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Value(Vec<u8>),
    /// The result is that of another receipt (`promise_return`).
    Receipt(u64),
    Failure(String),
}

/// One executed receipt, in execution order.
#[derive(Clone, Debug)]
pub struct ReceiptOutcome {
    pub receipt_id: u64,
    pub tx: u64,
    pub receiver_id: String,
    pub predecessor_id: String,
    pub methods: Vec<String>,
    /// The receipt's function calls (method, args), in order.
    pub calls: Vec<(String, Vec<u8>)>,
    pub logs: Vec<String>,
    pub outcome: Outcome,
    /// Receipts this one created (kept only if it succeeded).
    pub created: Vec<u64>,
    pub instructions: u64,
    pub height: u64,
}

/// Final status of a transaction (following `promise_return` chains).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxStatus {
    Pending,
    Success(Vec<u8>),
    Failure(String),
}

#[derive(Clone, Debug)]
struct Receipt {
    tx: u64,
    receiver_id: String,
    predecessor_id: String,
    signer_id: String,
    signer_pk: Vec<u8>,
    actions: Vec<Action>,
    inputs: Vec<[u8; 32]>,
    outputs: Vec<[u8; 32]>,
}

/// The deployed contract, its account, and the receipts in flight.
pub struct ContractRuntime {
    code: ContractCode,
    pub config: RuntimeConfig,
    storage: Arc<BTreeMap<Vec<u8>, Vec<u8>>>,
    pub balance: u128,
    pub storage_usage: u64,
    pub height: u64,
    pub timestamp_ns: u64,
    waiting: BTreeMap<u64, Receipt>,
    data: BTreeMap<[u8; 32], PromiseResult>,
    /// Open yields: data id → height at which they time out.
    yields: BTreeMap<[u8; 32], u64>,
    next_id: u64,
    first_receipt_of_tx: BTreeMap<u64, u64>,
    results: BTreeMap<u64, Outcome>,
    pub outcomes: Vec<ReceiptOutcome>,
    /// Balances credited to other accounts by transfers.
    pub credited: BTreeMap<String, u128>,
    natives: BTreeMap<String, Box<dyn NativeContract>>,
    /// Receipts created by the receipt being committed.
    last_created: Vec<u64>,
}

/// Result of a view call.
#[derive(Clone, Debug)]
pub struct ViewResult {
    pub value: Vec<u8>,
    pub logs: Vec<String>,
    pub instructions: u64,
}

impl ContractRuntime {
    /// The committed storage (raw contract keys → values).
    pub fn storage(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.storage
    }

    pub fn new(code: ContractCode, config: RuntimeConfig) -> Self {
        ContractRuntime {
            code,
            balance: config.contract_balance,
            storage_usage: 0,
            height: config.genesis_height,
            timestamp_ns: config.genesis_timestamp_ns,
            config,
            storage: Arc::default(),
            waiting: BTreeMap::new(),
            data: BTreeMap::new(),
            yields: BTreeMap::new(),
            next_id: 1,
            first_receipt_of_tx: BTreeMap::new(),
            results: BTreeMap::new(),
            outcomes: Vec::new(),
            credited: BTreeMap::new(),
            natives: BTreeMap::new(),
            last_created: Vec::new(),
        }
    }

    pub fn code(&self) -> &ContractCode {
        &self.code
    }

    pub fn register_native(&mut self, account_id: &str, contract: Box<dyn NativeContract>) {
        self.natives.insert(account_id.to_string(), contract);
    }

    fn context(
        &self,
        receipt: &Receipt,
        input: Vec<u8>,
        deposit: u128,
        gas: u64,
        results: Vec<PromiseResult>,
    ) -> CallContext {
        CallContext {
            current_account_id: self.config.contract_account.clone(),
            signer_account_id: receipt.signer_id.clone(),
            signer_account_pk: receipt.signer_pk.clone(),
            predecessor_account_id: receipt.predecessor_id.clone(),
            input,
            block_height: self.height,
            block_timestamp_ns: self.timestamp_ns,
            epoch_height: (self.height - self.config.genesis_height) / self.config.epoch_length.max(1),
            account_balance: self.balance,
            attached_deposit: deposit,
            prepaid_gas: gas,
            storage_usage: self.storage_usage,
            promise_results: results,
            is_view: false,
        }
    }

    /// A view call: no signer, no state change, promises prohibited.
    pub fn view(&self, method: &str, args: &[u8]) -> Result<ViewResult, CallError> {
        let ctx = CallContext {
            current_account_id: self.config.contract_account.clone(),
            signer_account_id: String::new(),
            signer_account_pk: Vec::new(),
            predecessor_account_id: String::new(),
            input: args.to_vec(),
            block_height: self.height,
            block_timestamp_ns: self.timestamp_ns,
            epoch_height: (self.height - self.config.genesis_height) / self.config.epoch_length.max(1),
            account_balance: self.balance,
            attached_deposit: 0,
            prepaid_gas: 0,
            storage_usage: self.storage_usage,
            promise_results: Vec::new(),
            is_view: true,
        };
        let storage = StorageView { committed: Arc::clone(&self.storage), changes: BTreeMap::new() };
        let state = HostState::new(ctx, storage, Arc::default());
        let result = self.code.call(method, state, self.config.fuel_per_call);
        if let Some(error) = result.error {
            return Err(error);
        }
        let value = match result.state.return_data {
            ReturnData::Value(v) => v,
            _ => Vec::new(),
        };
        Ok(ViewResult { value, logs: result.state.logs, instructions: result.instructions })
    }

    /// Submits a transaction; its receipts run at once (and later, for
    /// those waiting on yields). Returns the transaction's id.
    pub fn submit(&mut self, tx: FunctionCallTx) -> u64 {
        let action =
            Action::FunctionCall { method: tx.method, args: tx.args, deposit: tx.deposit, gas: tx.gas, gas_weight: 0 };
        self.submit_receipt(IncomingReceipt {
            predecessor_id: tx.signer_id.clone(),
            signer_id: tx.signer_id,
            signer_pk: tx.signer_pk,
            actions: vec![action],
        })
    }

    /// An action receipt arriving at the contract account (from a
    /// transaction or another account); it runs at once, with every receipt
    /// that becomes ready. Returns the id of its transaction (and of the
    /// receipt itself: [`Self::first_receipt`]).
    pub fn submit_receipt(&mut self, incoming: IncomingReceipt) -> u64 {
        let tx_id = self.next_id;
        let receipt = Receipt {
            tx: tx_id,
            receiver_id: self.config.contract_account.clone(),
            predecessor_id: incoming.predecessor_id,
            signer_id: incoming.signer_id,
            signer_pk: incoming.signer_pk,
            actions: incoming.actions,
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
        let id = self.enqueue(receipt);
        self.first_receipt_of_tx.insert(tx_id, id);
        self.run_ready();
        tx_id
    }

    /// The receipt a submitted transaction converted into.
    pub fn first_receipt(&self, tx: u64) -> Option<u64> {
        self.first_receipt_of_tx.get(&tx).copied()
    }

    /// Moves to the block at `height` (time `timestamp_ns`): yields due by
    /// then get a failed result and every ready receipt runs.
    pub fn enter_block(&mut self, height: u64, timestamp_ns: u64) {
        self.height = self.height.max(height);
        self.timestamp_ns = self.timestamp_ns.max(timestamp_ns);
        let expired: Vec<[u8; 32]> = self.yields.iter().filter(|(_, h)| **h <= self.height).map(|(d, _)| *d).collect();
        for data_id in expired {
            self.yields.remove(&data_id);
            self.data.insert(data_id, PromiseResult::Failed);
        }
        self.run_ready();
    }

    /// Balances credited to other accounts since the last call (transfers,
    /// refunds), for the chain to apply.
    pub fn take_credited(&mut self) -> BTreeMap<String, u128> {
        std::mem::take(&mut self.credited)
    }

    fn enqueue(&mut self, receipt: Receipt) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.waiting.insert(id, receipt);
        id
    }

    /// Produces `n` blocks: time advances, expired yields get a failed
    /// result, ready receipts run.
    pub fn produce_blocks(&mut self, n: u64) {
        for _ in 0..n {
            self.enter_block(self.height + 1, self.timestamp_ns + self.config.block_time_ns);
        }
    }

    /// Open yields (data id, timeout height).
    pub fn open_yields(&self) -> Vec<([u8; 32], u64)> {
        self.yields.iter().map(|(d, h)| (*d, *h)).collect()
    }

    /// Function-call actions of receipts still waiting (method, args).
    pub fn waiting_calls(&self) -> Vec<(String, Vec<u8>)> {
        let calls = self.waiting.values().flat_map(|r| r.actions.iter());
        calls
            .filter_map(|a| match a {
                Action::FunctionCall { method, args, .. } => Some((method.clone(), args.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn tx_status(&self, tx: u64) -> TxStatus {
        let Some(mut id) = self.first_receipt_of_tx.get(&tx).copied() else {
            return TxStatus::Failure("unknown transaction".to_string());
        };
        for _ in 0..MAX_RECEIPTS_PER_RUN {
            match self.results.get(&id) {
                None => return TxStatus::Pending,
                Some(Outcome::Value(v)) => return TxStatus::Success(v.clone()),
                Some(Outcome::Failure(e)) => return TxStatus::Failure(e.clone()),
                Some(Outcome::Receipt(next)) => id = *next,
            }
        }
        TxStatus::Failure("promise_return chain too long".to_string())
    }

    /// Logs of every receipt of `tx` executed so far.
    pub fn tx_logs(&self, tx: u64) -> Vec<String> {
        self.outcomes.iter().filter(|o| o.tx == tx).flat_map(|o| o.logs.iter().cloned()).collect()
    }

    fn run_ready(&mut self) {
        for _ in 0..MAX_RECEIPTS_PER_RUN {
            let ready = self
                .waiting
                .iter()
                .find(|(_, r)| r.inputs.iter().all(|d| self.data.contains_key(d)))
                .map(|(id, _)| *id);
            let Some(id) = ready else { return };
            let Some(receipt) = self.waiting.remove(&id) else { return };
            self.execute(id, receipt);
        }
    }

    fn execute(&mut self, id: u64, receipt: Receipt) {
        self.last_created.clear();
        let results: Vec<PromiseResult> =
            receipt.inputs.iter().map(|d| self.data.remove(d).unwrap_or(PromiseResult::Failed)).collect();
        let (outcome, logs, instructions) = if receipt.receiver_id == self.config.contract_account {
            self.execute_on_contract(id, &receipt, results)
        } else {
            (self.execute_elsewhere(&receipt), Vec::new(), 0)
        };
        if matches!(outcome, Outcome::Failure(_)) {
            // A failed receipt's deposits go back to its predecessor (NEAR
            // does this with a refund receipt).
            let deposits: u128 = receipt.actions.iter().map(deposit_of).sum();
            if deposits > 0 {
                *self.credited.entry(receipt.predecessor_id.clone()).or_default() += deposits;
            }
        }
        self.finish(id, receipt, outcome, logs, instructions);
    }

    fn finish(&mut self, id: u64, receipt: Receipt, outcome: Outcome, logs: Vec<String>, instructions: u64) {
        match &outcome {
            Outcome::Value(v) => {
                for d in &receipt.outputs {
                    self.data.insert(*d, PromiseResult::Successful(v.clone()));
                }
            }
            Outcome::Failure(_) => {
                for d in &receipt.outputs {
                    self.data.insert(*d, PromiseResult::Failed);
                }
            }
            Outcome::Receipt(next) => {
                if let Some(r) = self.waiting.get_mut(next) {
                    r.outputs.extend(receipt.outputs.iter().copied());
                }
            }
        }
        let calls: Vec<(String, Vec<u8>)> = receipt
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::FunctionCall { method, args, .. } => Some((method.clone(), args.clone())),
                _ => None,
            })
            .collect();
        let methods = calls.iter().map(|(m, _)| m.clone()).collect();
        let created = std::mem::take(&mut self.last_created);
        self.results.insert(id, outcome.clone());
        self.outcomes.push(ReceiptOutcome {
            receipt_id: id,
            tx: receipt.tx,
            receiver_id: receipt.receiver_id,
            predecessor_id: receipt.predecessor_id,
            methods,
            calls,
            logs,
            outcome,
            created,
            instructions,
            height: self.height,
        });
    }

    /// Transfers are credited only if every action of the receipt succeeds.
    fn execute_elsewhere(&mut self, receipt: &Receipt) -> Outcome {
        let mut last = Vec::new();
        let mut credit = 0u128;
        for action in &receipt.actions {
            match action {
                Action::Transfer { deposit } => credit = credit.saturating_add(*deposit),
                Action::FunctionCall { method, args, deposit, .. } => {
                    let Some(native) = self.natives.get_mut(&receipt.receiver_id) else {
                        return Outcome::Failure(format!("CodeDoesNotExist {{ account_id: {} }}", receipt.receiver_id));
                    };
                    match native.call(method, args, &receipt.predecessor_id) {
                        Ok(v) => last = v,
                        Err(e) => return Outcome::Failure(e),
                    }
                    credit = credit.saturating_add(*deposit);
                }
                other => return Outcome::Failure(format!("action not supported by the simulator: {other:?}")),
            }
        }
        if credit > 0 {
            *self.credited.entry(receipt.receiver_id.clone()).or_default() += credit;
        }
        Outcome::Value(last)
    }
}

fn deposit_of(action: &Action) -> u128 {
    match action {
        Action::Transfer { deposit } | Action::FunctionCall { deposit, .. } => *deposit,
        Action::TransferToGasKey { deposit, .. } => *deposit,
        _ => 0,
    }
}

mod contract_receipt;
