//! Accounts, access keys, transaction checks and receipt execution.
//!
//! Transactions are checked as nearcore checks them (signature over
//! `sha256(borsh(tx))` with the transaction's key, signer and access key
//! exist, `nonce > access_key.nonce`, `nonce < (height+1)·1e6`, function-call
//! key permissions, recent `block_hash`, balance, action limits). A valid
//! transaction becomes an action receipt for its receiver, executed in a
//! later block; the signer contract's yields become callback receipts when
//! resumed or timed out.
//!
//! Simplifications (documented in the README): gas is a fixed amount per
//! action; unused prepaid gas and refunded deposits are credited directly
//! instead of through refund receipts; only FunctionCall, Transfer, AddKey and
//! DeleteKey execute (other actions fail with an `UnsupportedBySimulator`
//! action error).

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use crate::account::{is_valid_account_id, ShardLayout};
use crate::borsh::Encoder;
use crate::contract::{CallContext, SignerContract};
use crate::contract_account::ContractAccount;
use crate::hash::Hash;
use crate::keys::PublicKey;
use crate::tx::{Action, Permission, SignedTransaction, MAX_METHOD_NAME, MAX_TX_BYTES};

/// Gas price (yoctoNEAR per gas), constant in the simulator.
pub const GAS_PRICE: u128 = 100_000_000;
/// Gas burnt converting a transaction into a receipt.
pub const TX_CONVERSION_GAS: u64 = 2_428_000_000_000;
/// Gas burnt by one function call (at most the prepaid gas).
pub const FUNCTION_CALL_GAS: u64 = 5_000_000_000_000;
/// Gas burnt by any other action.
pub const ACTION_GAS: u64 = 200_000_000_000;
/// nearcore's `max_total_prepaid_gas` (300 TGas).
pub const MAX_PREPAID_GAS: u64 = 300_000_000_000_000;
/// nearcore's `ACCESS_KEY_NONCE_RANGE_MULTIPLIER`.
pub const NONCE_MULTIPLIER: u64 = 1_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKey {
    pub nonce: u64,
    pub permission: Permission,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    pub balance: u128,
    pub keys: BTreeMap<PublicKey, AccessKey>,
}

/// nearcore's `InvalidTxError` (the variants the simulator produces).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidTx {
    InvalidSignerId { signer_id: String },
    InvalidReceiverId { receiver_id: String },
    SignerDoesNotExist { signer_id: String },
    AccessKeyNotFound { account_id: String, public_key: PublicKey },
    ReceiverMismatch { tx_receiver: String, ak_receiver: String },
    MethodNameMismatch { method_name: String },
    RequiresFullAccess,
    DepositWithFunctionCall,
    InvalidNonce { tx_nonce: u64, ak_nonce: u64 },
    NonceTooLarge { tx_nonce: u64, upper_bound: u64 },
    InvalidSignature,
    NotEnoughBalance { signer_id: String, balance: u128, cost: u128 },
    Expired,
    CostOverflow,
    TransactionSizeExceeded { size: u64, limit: u64 },
    TotalPrepaidGasExceeded { total_prepaid_gas: u64, limit: u64 },
    FunctionCallMethodNameLengthExceeded { length: u64, limit: u64 },
    EmptyActions,
}

impl InvalidTx {
    /// The `InvalidTxError` JSON value.
    pub fn to_json(&self) -> Value {
        match self {
            Self::InvalidSignerId { signer_id } => json!({"InvalidSignerId": {"signer_id": signer_id}}),
            Self::InvalidReceiverId { receiver_id } => json!({"InvalidReceiverId": {"receiver_id": receiver_id}}),
            Self::SignerDoesNotExist { signer_id } => json!({"SignerDoesNotExist": {"signer_id": signer_id}}),
            Self::AccessKeyNotFound { account_id, public_key } => {
                json!({"InvalidAccessKeyError": {"AccessKeyNotFound": {"account_id": account_id, "public_key": public_key.to_text()}}})
            }
            Self::ReceiverMismatch { tx_receiver, ak_receiver } => {
                json!({"InvalidAccessKeyError": {"ReceiverMismatch": {"tx_receiver": tx_receiver, "ak_receiver": ak_receiver}}})
            }
            Self::MethodNameMismatch { method_name } => json!({"InvalidAccessKeyError": {"MethodNameMismatch": {"method_name": method_name}}}),
            Self::RequiresFullAccess => json!({"InvalidAccessKeyError": "RequiresFullAccess"}),
            Self::DepositWithFunctionCall => json!({"InvalidAccessKeyError": "DepositWithFunctionCall"}),
            Self::InvalidNonce { tx_nonce, ak_nonce } => json!({"InvalidNonce": {"tx_nonce": tx_nonce, "ak_nonce": ak_nonce}}),
            Self::NonceTooLarge { tx_nonce, upper_bound } => json!({"NonceTooLarge": {"tx_nonce": tx_nonce, "upper_bound": upper_bound}}),
            Self::InvalidSignature => json!("InvalidSignature"),
            Self::NotEnoughBalance { signer_id, balance, cost } => {
                json!({"NotEnoughBalance": {"signer_id": signer_id, "balance": balance.to_string(), "cost": cost.to_string()}})
            }
            Self::Expired => json!("Expired"),
            Self::CostOverflow => json!("CostOverflow"),
            Self::TransactionSizeExceeded { size, limit } => json!({"TransactionSizeExceeded": {"size": size, "limit": limit}}),
            Self::TotalPrepaidGasExceeded { total_prepaid_gas, limit } => {
                json!({"ActionsValidation": {"TotalPrepaidGasExceeded": {"total_prepaid_gas": total_prepaid_gas, "limit": limit}}})
            }
            Self::FunctionCallMethodNameLengthExceeded { length, limit } => {
                json!({"ActionsValidation": {"FunctionCallMethodNameLengthExceeded": {"length": length, "limit": limit}}})
            }
            Self::EmptyActions => json!({"ActionsValidation": "EmptyActions"}),
        }
    }

    /// `TxExecutionError` wrapping: `{"InvalidTxError": …}`.
    pub fn to_tx_execution_error(&self) -> Value {
        json!({"InvalidTxError": self.to_json()})
    }
}

/// Execution status as committed in outcomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutcomeStatus {
    Unknown,
    /// The `TxExecutionError` JSON (only the tag is committed).
    Failure(Value),
    SuccessValue(Vec<u8>),
    SuccessReceiptId(Hash),
}

/// An execution outcome (transaction or receipt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub logs: Vec<String>,
    pub receipt_ids: Vec<Hash>,
    pub gas_burnt: u64,
    pub tokens_burnt: u128,
    pub executor_id: String,
    pub status: OutcomeStatus,
}

impl Outcome {
    /// `borsh(PartialExecutionOutcome)`: receipt_ids, gas_burnt,
    /// tokens_burnt, executor_id, status (Unknown 0, Failure 1,
    /// SuccessValue 2 + bytes, SuccessReceiptId 3 + hash).
    pub fn partial_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.len(self.receipt_ids.len());
        for r in &self.receipt_ids {
            e.raw(&r.0);
        }
        e.u64(self.gas_burnt).u128(self.tokens_burnt).string(&self.executor_id);
        match &self.status {
            OutcomeStatus::Unknown => e.u8(0),
            OutcomeStatus::Failure(_) => e.u8(1),
            OutcomeStatus::SuccessValue(v) => e.u8(2).bytes(v),
            OutcomeStatus::SuccessReceiptId(h) => e.u8(3).raw(&h.0),
        };
        e.finish()
    }

    /// The Merkle leaf: `sha256(borsh(Vec<CryptoHash>[id, sha256(partial), sha256(log)…]))`.
    pub fn leaf(&self, id: &Hash) -> Hash {
        let mut e = Encoder::new();
        e.len(2 + self.logs.len()).raw(&id.0).raw(&Hash::digest(&self.partial_bytes()).0);
        for log in &self.logs {
            e.raw(&Hash::digest(log.as_bytes()).0);
        }
        Hash::digest(&e.bytes)
    }

    pub fn status_json(&self) -> Value {
        use base64::Engine;
        match &self.status {
            OutcomeStatus::Unknown => json!("Unknown"),
            OutcomeStatus::Failure(e) => json!({"Failure": e}),
            OutcomeStatus::SuccessValue(v) => json!({"SuccessValue": base64::engine::general_purpose::STANDARD.encode(v)}),
            OutcomeStatus::SuccessReceiptId(h) => json!({"SuccessReceiptId": h.to_base58()}),
        }
    }

    /// `ExecutionOutcomeView`.
    pub fn to_json(&self) -> Value {
        json!({
            "logs": self.logs,
            "receipt_ids": self.receipt_ids.iter().map(Hash::to_base58).collect::<Vec<_>>(),
            "gas_burnt": self.gas_burnt,
            "tokens_burnt": self.tokens_burnt.to_string(),
            "executor_id": self.executor_id,
            "status": self.status_json(),
            "metadata": {"version": 3, "gas_profile": []},
        })
    }
}

/// What a receipt carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiptBody {
    Action { signer_id: String, signer_public_key: PublicKey, gas_price: u128, actions: Vec<Action> },
    /// The callback of a yield: resumed with `response`, or timed out (`None`).
    YieldCallback { data_id: Hash, response: Option<Vec<u8>> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub id: Hash,
    pub predecessor_id: String,
    pub receiver_id: String,
    /// The transaction this receipt descends from.
    pub origin_tx: Hash,
    pub body: ReceiptBody,
}

impl Receipt {
    /// `ReceiptView`.
    pub fn to_json(&self) -> Value {
        use base64::Engine;
        let receipt = match &self.body {
            ReceiptBody::Action { signer_id, signer_public_key, gas_price, actions } => json!({"Action": {
                "signer_id": signer_id,
                "signer_public_key": signer_public_key.to_text(),
                "gas_price": gas_price.to_string(),
                "output_data_receivers": [],
                "input_data_ids": [],
                "actions": actions.iter().map(action_json).collect::<Vec<_>>(),
                "is_promise_yield": false,
            }}),
            ReceiptBody::YieldCallback { data_id, response } => json!({"Data": {
                "data_id": data_id.to_base58(),
                "data": response.as_ref().map(|r| base64::engine::general_purpose::STANDARD.encode(r)),
                "is_promise_resume": true,
            }}),
        };
        json!({"predecessor_id": self.predecessor_id, "receiver_id": self.receiver_id, "receipt_id": self.id.to_base58(), "receipt": receipt, "priority": 0})
    }
}

/// `ActionView` JSON.
pub fn action_json(a: &Action) -> Value {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match a {
        Action::CreateAccount => json!("CreateAccount"),
        Action::DeployContract { code } => json!({"DeployContract": {"code": b64(&Hash::digest(code).0)}}),
        Action::FunctionCall { method_name, args, gas, deposit } => {
            json!({"FunctionCall": {"method_name": method_name, "args": b64(args), "gas": gas, "deposit": deposit.to_string()}})
        }
        Action::Transfer { deposit } => json!({"Transfer": {"deposit": deposit.to_string()}}),
        Action::Stake { stake, public_key } => json!({"Stake": {"stake": stake.to_string(), "public_key": public_key.to_text()}}),
        Action::AddKey { public_key, nonce, permission } => {
            json!({"AddKey": {"public_key": public_key.to_text(), "access_key": {"nonce": nonce, "permission": permission_json(permission)}}})
        }
        Action::DeleteKey { public_key } => json!({"DeleteKey": {"public_key": public_key.to_text()}}),
        Action::DeleteAccount { beneficiary_id } => json!({"DeleteAccount": {"beneficiary_id": beneficiary_id}}),
    }
}

pub fn permission_json(p: &Permission) -> Value {
    match p {
        Permission::FullAccess => json!("FullAccess"),
        Permission::FunctionCall { allowance, receiver_id, method_names } => json!({"FunctionCall": {
            "allowance": allowance.map(|a| a.to_string()),
            "receiver_id": receiver_id,
            "method_names": method_names,
        }}),
    }
}

fn action_error(index: usize, kind: Value) -> OutcomeStatus {
    OutcomeStatus::Failure(json!({"ActionError": {"index": index, "kind": kind}}))
}

fn panicked(index: usize, msg: &str) -> OutcomeStatus {
    action_error(index, json!({"FunctionCallError": {"ExecutionError": format!("Smart contract panicked: {msg}")}}))
}

/// A yield waiting for `respond` or its timeout.
#[derive(Clone, Debug)]
struct PostponedYield {
    yield_receipt_id: Hash,
    origin_tx: Hash,
    done: bool,
}

/// Block context of an execution.
#[derive(Clone, Copy, Debug)]
pub struct ExecContext {
    pub height: u64,
    pub timestamp_ns: u64,
}

/// What runs on the contract account.
pub enum ContractEngine {
    /// near/mpc's deployed binary, executed (the default).
    Deployed(Box<ContractAccount>),
    /// The hand-written model (`--contract model`), kept only for consumers
    /// not yet moved to the deployed binary.
    Model(Box<SignerContract>),
}

/// The state machine behind the chain.
pub struct Runtime {
    pub accounts: BTreeMap<String, Account>,
    pub contract_id: String,
    pub contract: ContractEngine,
    pub layout: ShardLayout,
    yields: HashMap<Hash, PostponedYield>,
    timeouts: BTreeMap<u64, Vec<Hash>>,
    /// Receipts the deployed binary executed besides the one applied
    /// (callbacks, yields, transfers), for the chain to record.
    pub executed_inline: Vec<(Receipt, Outcome)>,
}

/// The receipt id a transaction converts into.
pub fn tx_receipt_id(tx_hash: &Hash) -> Hash {
    Hash::digest_parts(&[b"tx-receipt", &tx_hash.0])
}

impl Runtime {
    pub fn new(contract: ContractEngine, layout: ShardLayout) -> Self {
        let contract_id = match &contract {
            ContractEngine::Deployed(c) => c.account_id.clone(),
            ContractEngine::Model(m) => m.account_id.clone(),
        };
        let mut accounts = BTreeMap::new();
        let balance = match &contract {
            ContractEngine::Deployed(c) => c.balance(),
            ContractEngine::Model(_) => 1_000_000 * 10u128.pow(24),
        };
        accounts.insert(contract_id.clone(), Account { balance, keys: BTreeMap::new() });
        Self { accounts, contract_id, contract, layout, yields: HashMap::new(), timeouts: BTreeMap::new(), executed_inline: Vec::new() }
    }

    /// The model, if the chain runs it.
    pub fn model(&self) -> Option<&SignerContract> {
        match &self.contract {
            ContractEngine::Model(m) => Some(m),
            ContractEngine::Deployed(_) => None,
        }
    }

    pub fn model_mut(&mut self) -> Option<&mut SignerContract> {
        match &mut self.contract {
            ContractEngine::Model(m) => Some(m),
            ContractEngine::Deployed(_) => None,
        }
    }

    /// The deployed binary, if the chain runs it.
    pub fn deployed(&self) -> Option<&ContractAccount> {
        match &self.contract {
            ContractEngine::Deployed(c) => Some(c),
            ContractEngine::Model(_) => None,
        }
    }

    /// The deployed binary's committed storage (the model keeps none).
    pub fn contract_storage(&self) -> Option<&std::collections::BTreeMap<Vec<u8>, Vec<u8>>> {
        self.deployed().map(ContractAccount::storage)
    }

    /// A view call on the contract (`Err`: the panic message).
    pub fn view(&self, method: &str, args: &[u8]) -> Result<Vec<u8>, String> {
        match &self.contract {
            ContractEngine::Deployed(c) => c.view(method, args),
            ContractEngine::Model(m) => m.view(method, args, "system"),
        }
    }

    /// The deployed binary enters a new block (yield timeouts); its
    /// executions are queued in `executed_inline`.
    pub fn enter_block(&mut self, ctx: ExecContext) {
        if let ContractEngine::Deployed(c) = &mut self.contract {
            let (executed, credits) = c.enter_block(ctx);
            self.executed_inline.extend(executed.into_iter().map(|e| (e.receipt, e.outcome)));
            self.apply_credits(credits);
        }
    }

    fn apply_credits(&mut self, credits: Vec<(String, u128)>) {
        for (account, amount) in credits {
            self.credit(&account, amount);
        }
        if let ContractEngine::Deployed(c) = &self.contract {
            let balance = c.balance();
            if let Some(a) = self.accounts.get_mut(&self.contract_id) {
                a.balance = balance;
            }
        }
    }

    /// A receipt for the deployed binary: its own outcome; the other
    /// receipts it executed go to `executed_inline`.
    fn apply_on_deployed(&mut self, r: &Receipt, signer_id: &str, signer_pk: &PublicKey, actions: &[Action], ctx: ExecContext) -> Option<Outcome> {
        let ContractEngine::Deployed(c) = &mut self.contract else { return None };
        let (executed, credits) = c.apply(r, signer_id, signer_pk, actions, ctx);
        let mut own = None;
        for e in executed {
            if e.receipt.id == r.id && own.is_none() {
                own = Some(e.outcome);
            } else {
                self.executed_inline.push((e.receipt, e.outcome));
            }
        }
        self.apply_credits(credits);
        let mut outcome = own.unwrap_or_else(|| Outcome {
            logs: Vec::new(),
            receipt_ids: Vec::new(),
            gas_burnt: ACTION_GAS,
            tokens_burnt: u128::from(ACTION_GAS) * GAS_PRICE,
            executor_id: r.receiver_id.clone(),
            status: OutcomeStatus::Failure(json!({"ActionError": {"index": 0, "kind": {"FunctionCallError": {"ExecutionError": "the receipt did not run"}}}})),
        });
        let prepaid: u64 = actions.iter().map(|a| if let Action::FunctionCall { gas, .. } = a { *gas } else { 0 }).sum();
        outcome.gas_burnt = outcome.gas_burnt.min(prepaid.max(ACTION_GAS));
        outcome.tokens_burnt = u128::from(outcome.gas_burnt) * GAS_PRICE;
        // Unused prepaid gas goes back to the signer.
        self.credit(signer_id, u128::from(prepaid.saturating_sub(outcome.gas_burnt)) * GAS_PRICE);
        Some(outcome)
    }

    /// Checks a transaction against the current state. `reference_height` is
    /// the height of `block_hash` if it names a recent block of this chain
    /// (`None` = unknown or too old), `height` the block it would go in.
    pub fn check_tx(&self, st: &SignedTransaction, reference_height: Option<u64>, height: u64) -> Result<u128, InvalidTx> {
        let t = &st.transaction;
        if st.size > MAX_TX_BYTES {
            return Err(InvalidTx::TransactionSizeExceeded { size: st.size as u64, limit: MAX_TX_BYTES as u64 });
        }
        if !is_valid_account_id(&t.signer_id) {
            return Err(InvalidTx::InvalidSignerId { signer_id: t.signer_id.clone() });
        }
        if !is_valid_account_id(&t.receiver_id) {
            return Err(InvalidTx::InvalidReceiverId { receiver_id: t.receiver_id.clone() });
        }
        if !st.signature_valid() {
            return Err(InvalidTx::InvalidSignature);
        }
        if reference_height.is_none() {
            return Err(InvalidTx::Expired);
        }
        if t.actions.is_empty() {
            return Err(InvalidTx::EmptyActions);
        }
        let mut prepaid: u64 = 0;
        let mut deposits: u128 = 0;
        for a in &t.actions {
            match a {
                Action::FunctionCall { method_name, gas, deposit, .. } => {
                    if method_name.len() > MAX_METHOD_NAME as usize {
                        return Err(InvalidTx::FunctionCallMethodNameLengthExceeded { length: method_name.len() as u64, limit: u64::from(MAX_METHOD_NAME) });
                    }
                    prepaid = prepaid.checked_add(*gas).ok_or(InvalidTx::CostOverflow)?;
                    deposits = deposits.checked_add(*deposit).ok_or(InvalidTx::CostOverflow)?;
                }
                Action::Transfer { deposit } => deposits = deposits.checked_add(*deposit).ok_or(InvalidTx::CostOverflow)?,
                Action::Stake { stake, .. } => deposits = deposits.checked_add(*stake).ok_or(InvalidTx::CostOverflow)?,
                _ => {}
            }
        }
        if prepaid > MAX_PREPAID_GAS {
            return Err(InvalidTx::TotalPrepaidGasExceeded { total_prepaid_gas: prepaid, limit: MAX_PREPAID_GAS });
        }
        let account = self.accounts.get(&t.signer_id).ok_or(InvalidTx::SignerDoesNotExist { signer_id: t.signer_id.clone() })?;
        let key = account
            .keys
            .get(&t.public_key)
            .ok_or(InvalidTx::AccessKeyNotFound { account_id: t.signer_id.clone(), public_key: t.public_key })?;
        if t.nonce <= key.nonce {
            return Err(InvalidTx::InvalidNonce { tx_nonce: t.nonce, ak_nonce: key.nonce });
        }
        let upper_bound = height.saturating_add(1).saturating_mul(NONCE_MULTIPLIER);
        if t.nonce >= upper_bound {
            return Err(InvalidTx::NonceTooLarge { tx_nonce: t.nonce, upper_bound });
        }
        if let Permission::FunctionCall { receiver_id, method_names, .. } = &key.permission {
            let [Action::FunctionCall { method_name, deposit, .. }] = t.actions.as_slice() else {
                return Err(InvalidTx::RequiresFullAccess);
            };
            if *deposit > 0 {
                return Err(InvalidTx::DepositWithFunctionCall);
            }
            if &t.receiver_id != receiver_id {
                return Err(InvalidTx::ReceiverMismatch { tx_receiver: t.receiver_id.clone(), ak_receiver: receiver_id.clone() });
            }
            if !method_names.is_empty() && !method_names.contains(method_name) {
                return Err(InvalidTx::MethodNameMismatch { method_name: method_name.clone() });
            }
        }
        let gas_total = u128::from(prepaid) + u128::from(TX_CONVERSION_GAS);
        let cost = gas_total.checked_mul(GAS_PRICE).and_then(|g| g.checked_add(deposits)).ok_or(InvalidTx::CostOverflow)?;
        if account.balance < cost {
            return Err(InvalidTx::NotEnoughBalance { signer_id: t.signer_id.clone(), balance: account.balance, cost });
        }
        Ok(cost)
    }

    /// Includes a transaction: re-checks it, bumps the nonce, charges the
    /// signer and turns it into a receipt.
    pub fn apply_tx(&mut self, st: &SignedTransaction, reference_height: Option<u64>, height: u64) -> Result<(Outcome, Receipt), InvalidTx> {
        let cost = self.check_tx(st, reference_height, height)?;
        let t = &st.transaction;
        let account = self.accounts.get_mut(&t.signer_id).ok_or(InvalidTx::SignerDoesNotExist { signer_id: t.signer_id.clone() })?;
        account.balance -= cost;
        if let Some(k) = account.keys.get_mut(&t.public_key) {
            k.nonce = t.nonce;
        }
        let receipt = Receipt {
            id: tx_receipt_id(&st.hash),
            predecessor_id: t.signer_id.clone(),
            receiver_id: t.receiver_id.clone(),
            origin_tx: st.hash,
            body: ReceiptBody::Action { signer_id: t.signer_id.clone(), signer_public_key: t.public_key, gas_price: GAS_PRICE, actions: t.actions.clone() },
        };
        let outcome = Outcome {
            logs: Vec::new(),
            receipt_ids: vec![receipt.id],
            gas_burnt: TX_CONVERSION_GAS,
            tokens_burnt: u128::from(TX_CONVERSION_GAS) * GAS_PRICE,
            executor_id: t.signer_id.clone(),
            status: OutcomeStatus::SuccessReceiptId(receipt.id),
        };
        Ok((outcome, receipt))
    }

    fn credit(&mut self, account: &str, amount: u128) {
        if let Some(a) = self.accounts.get_mut(account) {
            a.balance = a.balance.saturating_add(amount);
        }
    }

    /// Executes a receipt; returns its outcome and the receipts it created.
    pub fn apply_receipt(&mut self, r: &Receipt, ctx: ExecContext) -> (Outcome, Vec<Receipt>) {
        match &r.body {
            ReceiptBody::Action { signer_id, signer_public_key, actions, .. } => self.apply_action_receipt(r, signer_id, signer_public_key, actions, ctx),
            ReceiptBody::YieldCallback { data_id, response } => {
                let result = match self.model_mut() {
                    Some(m) => m.yield_callback(data_id, response.as_deref(), ctx.height),
                    None => Err("yield callbacks of the deployed contract run inside it".to_string()),
                };
                let status = match result {
                    Ok(v) => OutcomeStatus::SuccessValue(v),
                    Err(msg) => panicked(0, &msg),
                };
                let outcome = Outcome {
                    logs: Vec::new(),
                    receipt_ids: Vec::new(),
                    gas_burnt: ACTION_GAS,
                    tokens_burnt: u128::from(ACTION_GAS) * GAS_PRICE,
                    executor_id: r.receiver_id.clone(),
                    status,
                };
                (outcome, Vec::new())
            }
        }
    }

    fn apply_action_receipt(&mut self, r: &Receipt, signer_id: &str, signer_pk: &PublicKey, actions: &[Action], ctx: ExecContext) -> (Outcome, Vec<Receipt>) {
        let only_calls = actions.iter().all(|a| matches!(a, Action::FunctionCall { .. } | Action::Transfer { .. }));
        if r.receiver_id == self.contract_id && only_calls {
            if let Some(outcome) = self.apply_on_deployed(r, signer_id, signer_pk, actions, ctx) {
                return (outcome, Vec::new());
            }
        }
        let mut logs = Vec::new();
        let mut receipt_ids = Vec::new();
        let mut new_receipts = Vec::new();
        let mut gas_burnt: u64 = 0;
        let mut status = OutcomeStatus::SuccessValue(Vec::new());
        let deposits: u128 = actions
            .iter()
            .map(|a| match a {
                Action::FunctionCall { deposit, .. } | Action::Transfer { deposit } => *deposit,
                _ => 0,
            })
            .sum();
        let prepaid: u64 = actions.iter().map(|a| if let Action::FunctionCall { gas, .. } = a { *gas } else { 0 }).sum();
        // Multi-action receipts are atomic: keep a copy to roll back to.
        let snapshot = (actions.len() > 1).then(|| (self.accounts.clone(), self.model().cloned(), self.yields.clone(), self.timeouts.clone()));
        let mut failed = false;
        if !self.accounts.contains_key(&r.receiver_id) {
            status = action_error(0, json!({"AccountDoesNotExist": {"account_id": r.receiver_id}}));
            failed = true;
        }
        for (index, action) in actions.iter().enumerate() {
            if failed {
                break;
            }
            match action {
                Action::FunctionCall { method_name, args, gas, deposit } => {
                    let burnt = (*gas).min(FUNCTION_CALL_GAS);
                    gas_burnt = gas_burnt.saturating_add(burnt);
                    let Some(model) = self.model_mut().filter(|m| m.account_id == r.receiver_id) else {
                        let kind = if r.receiver_id == self.contract_id {
                            json!({"UnsupportedBySimulator": {"action": "FunctionCall with other actions on the deployed contract"}})
                        } else {
                            json!({"FunctionCallError": {"CompilationError": {"CodeDoesNotExist": {"account_id": r.receiver_id}}}})
                        };
                        status = action_error(index, kind);
                        failed = true;
                        continue;
                    };
                    let call_ctx = CallContext {
                        signer_id,
                        signer_public_key: signer_pk,
                        predecessor_id: &r.predecessor_id,
                        deposit: *deposit,
                        prepaid_gas: *gas,
                        block_height: ctx.height,
                        block_timestamp_ns: ctx.timestamp_ns,
                        receipt_id: r.id,
                    };
                    let out = model.call(method_name, args, &call_ctx);
                    logs.extend(out.logs);
                    match out.result {
                        Err(msg) => {
                            status = panicked(index, &msg);
                            failed = true;
                        }
                        Ok(ret) => {
                            let kept = deposit.saturating_sub(ret.refund);
                            self.credit(&r.receiver_id, kept);
                            self.credit(&r.predecessor_id, ret.refund);
                            for (data_id, response) in ret.resumed {
                                if let Some(y) = self.yields.get_mut(&data_id).filter(|y| !y.done) {
                                    y.done = true;
                                    new_receipts.push(Receipt {
                                        id: y.yield_receipt_id,
                                        predecessor_id: self.contract_id.clone(),
                                        receiver_id: self.contract_id.clone(),
                                        origin_tx: y.origin_tx,
                                        body: ReceiptBody::YieldCallback { data_id, response: Some(response) },
                                    });
                                }
                            }
                            status = match ret.yield_created {
                                Some(y) => {
                                    let timeout = self.model().map_or(200, |m| m.config.yield_timeout_blocks);
                                    let timeout_height = ctx.height.saturating_add(timeout);
                                    self.yields.insert(
                                        y.data_id,
                                        PostponedYield { yield_receipt_id: y.yield_receipt_id, origin_tx: r.origin_tx, done: false },
                                    );
                                    self.timeouts.entry(timeout_height).or_default().push(y.data_id);
                                    receipt_ids.push(y.yield_receipt_id);
                                    OutcomeStatus::SuccessReceiptId(y.yield_receipt_id)
                                }
                                None => OutcomeStatus::SuccessValue(ret.value),
                            };
                        }
                    }
                }
                Action::Transfer { deposit } => {
                    gas_burnt = gas_burnt.saturating_add(ACTION_GAS);
                    self.credit(&r.receiver_id, *deposit);
                }
                Action::AddKey { public_key, permission, .. } => {
                    gas_burnt = gas_burnt.saturating_add(ACTION_GAS);
                    let nonce = ctx.height.saturating_sub(1).saturating_mul(NONCE_MULTIPLIER);
                    match self.accounts.get_mut(&r.receiver_id) {
                        Some(acc) if acc.keys.contains_key(public_key) => {
                            status = action_error(index, json!({"AddKeyAlreadyExists": {"account_id": r.receiver_id, "public_key": public_key.to_text()}}));
                            failed = true;
                        }
                        Some(acc) => {
                            acc.keys.insert(*public_key, AccessKey { nonce, permission: permission.clone() });
                        }
                        None => failed = true,
                    }
                }
                Action::DeleteKey { public_key } => {
                    gas_burnt = gas_burnt.saturating_add(ACTION_GAS);
                    let removed = self.accounts.get_mut(&r.receiver_id).and_then(|acc| acc.keys.remove(public_key));
                    if removed.is_none() {
                        status = action_error(index, json!({"DeleteKeyDoesNotExist": {"account_id": r.receiver_id, "public_key": public_key.to_text()}}));
                        failed = true;
                    }
                }
                other => {
                    status = action_error(index, json!({"UnsupportedBySimulator": {"action": other.kind()}}));
                    failed = true;
                }
            }
        }
        if failed {
            if let Some((accounts, contract, yields, timeouts)) = snapshot {
                self.accounts = accounts;
                if let Some(model) = contract {
                    self.contract = ContractEngine::Model(Box::new(model));
                }
                self.yields = yields;
                self.timeouts = timeouts;
            }
            new_receipts.clear();
            receipt_ids.clear();
            // Deposits go back to the predecessor (NEAR does it with a refund receipt).
            self.credit(&r.predecessor_id, deposits);
        }
        // Unused prepaid gas goes back to the signer.
        let unused = prepaid.saturating_sub(gas_burnt);
        self.credit(signer_id, u128::from(unused) * GAS_PRICE);
        receipt_ids.extend(new_receipts.iter().map(|n| n.id));
        let outcome = Outcome { logs, receipt_ids, gas_burnt, tokens_burnt: u128::from(gas_burnt) * GAS_PRICE, executor_id: r.receiver_id.clone(), status };
        (outcome, new_receipts)
    }

    /// Callback receipts of yields whose timeout is due at `height`.
    pub fn due_yield_timeouts(&mut self, height: u64) -> Vec<Receipt> {
        let due: Vec<u64> = self.timeouts.range(..=height).map(|(h, _)| *h).collect();
        let mut out = Vec::new();
        for h in due {
            for data_id in self.timeouts.remove(&h).unwrap_or_default() {
                if let Some(y) = self.yields.get_mut(&data_id).filter(|y| !y.done) {
                    y.done = true;
                    out.push(Receipt {
                        id: y.yield_receipt_id,
                        predecessor_id: self.contract_id.clone(),
                        receiver_id: self.contract_id.clone(),
                        origin_tx: y.origin_tx,
                        body: ReceiptBody::YieldCallback { data_id, response: None },
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_leaf_layout() {
        let o = Outcome {
            logs: vec!["a".into()],
            receipt_ids: vec![Hash::digest(b"r")],
            gas_burnt: 5,
            tokens_burnt: 7,
            executor_id: "x.test".into(),
            status: OutcomeStatus::SuccessReceiptId(Hash::digest(b"y")),
        };
        let p = o.partial_bytes();
        // 4 + 32 receipt, 8 gas, 16 tokens, 4 + 6 executor, 1 + 32 status.
        assert_eq!(p.len(), 4 + 32 + 8 + 16 + 4 + 6 + 1 + 32);
        let id = Hash::digest(b"id");
        let mut expect = Vec::new();
        expect.extend_from_slice(&3u32.to_le_bytes());
        expect.extend_from_slice(&id.0);
        expect.extend_from_slice(&Hash::digest(&p).0);
        expect.extend_from_slice(&Hash::digest(b"a").0);
        assert_eq!(o.leaf(&id), Hash::digest(&expect));
        // Failure commits the tag only.
        let f = Outcome { status: OutcomeStatus::Failure(json!({"x": 1})), ..o.clone() };
        assert_eq!(*f.partial_bytes().last().unwrap(), 1);
    }
}
