//! The state one contract call sees through NEAR's `env` imports, and the
//! semantics of those imports written as plain Rust over a guest memory slice
//! (so each can be unit-tested without a Wasm engine).
//!
//! Semantics follow nearcore's `near-vm-runner` `VMLogic` (read for facts):
//! registers (`u64::MAX` register length = absent; a length of `u64::MAX` as an
//! input means "read from the register named by the pointer"), storage return
//! codes, view-call prohibitions, log/key/value/return/payload limits, promise
//! DAG rules (joint promises cannot take actions or be returned), yield
//! resumption tokens. Gas: the simulator does not price host calls; it bounds
//! each call by a Wasm instruction budget (see [`super::vm`]) and checks that
//! gas attached to new receipts stays within the call's prepaid gas.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use sha2::Digest;

use super::crypto;

/// nearcore's `max_number_logs`.
pub const MAX_NUMBER_LOGS: usize = 100;
/// nearcore's `max_total_log_length`.
pub const MAX_TOTAL_LOG_LENGTH: u64 = 16_384;
/// nearcore's `max_register_size`.
pub const MAX_REGISTER_SIZE: u64 = 100 * 1024 * 1024;
/// nearcore's `max_number_registers`.
pub const MAX_NUMBER_REGISTERS: usize = 100;
/// nearcore's `registers_memory_limit`.
pub const REGISTERS_MEMORY_LIMIT: u64 = 1024 * 1024 * 1024;
/// nearcore's `max_length_storage_key`.
pub const MAX_STORAGE_KEY: u64 = 2048;
/// nearcore's `max_length_storage_value`.
pub const MAX_STORAGE_VALUE: u64 = 4 * 1024 * 1024;
/// nearcore's `max_length_returned_data`.
pub const MAX_RETURNED_DATA: u64 = 4 * 1024 * 1024;
/// nearcore's `max_promises_per_function_call_action`.
pub const MAX_PROMISES: usize = 1024;
/// nearcore's `max_number_input_data_dependencies`.
pub const MAX_INPUT_DEPENDENCIES: usize = 128;
/// nearcore's `max_yield_payload_size`.
pub const MAX_YIELD_PAYLOAD: u64 = 1024;
/// nearcore's `max_contract_size`.
pub const MAX_CONTRACT_SIZE: u64 = 4 * 1024 * 1024;
/// nearcore's `max_memory_pages` (2048 pages of 64 KiB).
pub const MAX_MEMORY_BYTES: usize = 2048 * 65536;
/// nearcore's `num_extra_bytes_record` (storage usage per stored entry).
pub const STORAGE_EXTRA_BYTES: u64 = 40;

/// Why a call stopped: nearcore's `HostError` variants the simulator raises,
/// plus the engine-level ends (budget, trap) reported by [`super::vm`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostError {
    GuestPanic { panic_msg: String },
    MemoryAccessViolation,
    InvalidRegisterId { register_id: u64 },
    BadUtf8,
    BadUtf16,
    InvalidAccountId,
    InvalidPublicKey,
    ProhibitedInView { method_name: &'static str },
    NumberOfLogsExceeded,
    TotalLogLengthExceeded { length: u64 },
    KeyLengthExceeded { length: u64 },
    ValueLengthExceeded { length: u64 },
    ReturnedValueLengthExceeded { length: u64 },
    RegisterLimitExceeded,
    NumberPromisesExceeded,
    NumberInputDataDependenciesExceeded,
    InvalidPromiseIndex { promise_idx: u64 },
    InvalidPromiseResultIndex { result_idx: u64 },
    CannotAppendActionToJointPromise,
    CannotReturnJointPromise,
    EmptyMethodName,
    DataIdMalformed,
    YieldPayloadLength { length: u64 },
    ContractSizeExceeded { size: u64 },
    ContractCodeHashMalformed,
    GasExceeded,
    BalanceExceeded,
    IntegerOverflow,
    Ed25519VerifyInvalidInput { msg: &'static str },
    ECRecoverError { msg: String },
    Bls12381InvalidInput,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::GuestPanic { panic_msg } => write!(f, "Smart contract panicked: {panic_msg}"),
            other => write!(f, "{other:?}"),
        }
    }
}

impl std::error::Error for HostError {}

/// Outcome of a finished promise, as a callback sees it (`promise_result`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromiseResult {
    Successful(Vec<u8>),
    Failed,
}

/// Who calls, on what, with what (nearcore's `VMContext`).
#[derive(Clone, Debug)]
pub struct CallContext {
    pub current_account_id: String,
    pub signer_account_id: String,
    /// Borsh `PublicKey` (key type byte + key bytes) of the signer's access key.
    pub signer_account_pk: Vec<u8>,
    pub predecessor_account_id: String,
    pub input: Vec<u8>,
    pub block_height: u64,
    pub block_timestamp_ns: u64,
    pub epoch_height: u64,
    pub account_balance: u128,
    pub attached_deposit: u128,
    pub prepaid_gas: u64,
    pub storage_usage: u64,
    pub promise_results: Vec<PromiseResult>,
    pub is_view: bool,
}

/// One action of a receipt the contract created (`promise_batch_action_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    CreateAccount,
    DeployContract {
        code: Vec<u8>,
    },
    DeployGlobalContract {
        code: Vec<u8>,
        by_account_id: bool,
    },
    UseGlobalContract {
        code_hash: [u8; 32],
    },
    UseGlobalContractByAccountId {
        account_id: String,
    },
    FunctionCall {
        method: String,
        args: Vec<u8>,
        deposit: u128,
        gas: u64,
        gas_weight: u64,
    },
    Transfer {
        deposit: u128,
    },
    TransferToGasKey {
        public_key: Vec<u8>,
        deposit: u128,
    },
    Stake {
        stake: u128,
        public_key: Vec<u8>,
    },
    AddFullAccessKey {
        public_key: Vec<u8>,
        nonce: u64,
    },
    AddFunctionCallKey {
        public_key: Vec<u8>,
        nonce: u64,
        allowance: Option<u128>,
        receiver_id: String,
        method_names: Vec<String>,
    },
    AddGasKeyFullAccess {
        public_key: Vec<u8>,
        num_nonces: u64,
    },
    AddGasKeyFunctionCall {
        public_key: Vec<u8>,
        num_nonces: u64,
        allowance: Option<u128>,
        receiver_id: String,
        method_names: Vec<String>,
    },
    DeleteKey {
        public_key: Vec<u8>,
    },
    DeleteAccount {
        beneficiary_id: String,
    },
}

/// A receipt created by the call. `depends_on` are indices into the call's
/// receipt list whose results this one waits for (`promise_batch_then`);
/// a yield receipt waits instead for `yield_data_id` (resume or timeout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReceipt {
    pub receiver_id: String,
    pub actions: Vec<Action>,
    pub depends_on: Vec<usize>,
    pub yield_data_id: Option<[u8; 32]>,
}

/// What the call returns: nothing, a value, or the result of one of its receipts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ReturnData {
    #[default]
    None,
    Value(Vec<u8>),
    Receipt(usize),
}

/// A promise index's target: one receipt, or several joined by `promise_and`.
#[derive(Clone, Debug)]
pub(super) enum PromiseSlot {
    Receipt(usize),
    Joint(Vec<usize>),
}

/// Contract storage seen by one call: the committed map plus this call's
/// writes (`None` = removed). Dropped on failure, applied on success.
#[derive(Clone, Debug, Default)]
pub struct StorageView {
    pub committed: Arc<BTreeMap<Vec<u8>, Vec<u8>>>,
    pub changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl StorageView {
    pub fn get(&self, key: &[u8]) -> Option<&Vec<u8>> {
        match self.changes.get(key) {
            Some(change) => change.as_ref(),
            None => self.committed.get(key),
        }
    }
}

/// Everything one contract call reads and produces.
pub struct HostState {
    pub ctx: CallContext,
    pub storage: StorageView,
    /// Yields of this account still waiting for data (resumable tokens).
    pub open_yields: Arc<BTreeSet<[u8; 32]>>,
    /// Seed of the data ids this call creates (unique per receipt).
    pub data_id_seed: [u8; 32],
    pub registers: BTreeMap<u64, Vec<u8>>,
    pub logs: Vec<String>,
    log_bytes: u64,
    pub receipts: Vec<NewReceipt>,
    promises: Vec<PromiseSlot>,
    pub return_data: ReturnData,
    /// `promise_yield_resume` payloads accepted by this call.
    pub resumed: Vec<([u8; 32], Vec<u8>)>,
    pub balance: u128,
    pub storage_usage: u64,
    /// Gas attached to created receipts; must stay within `prepaid_gas`.
    pub gas_attached: u64,
    /// Instructions executed so far (filled in by the engine for `used_gas`).
    pub instructions_used: u64,
    /// The call's instruction budget (set by [`super::vm`]).
    pub fuel_budget: u64,
    pub(super) memory: Option<wasmi::Memory>,
    pub(super) limits: wasmi::StoreLimits,
}

/// Bounds-checked view of guest memory.
pub fn mem_slice(mem: &[u8], ptr: u64, len: u64) -> Result<&[u8], HostError> {
    let end = ptr.checked_add(len).ok_or(HostError::MemoryAccessViolation)?;
    let (start, end) = (usize::try_from(ptr), usize::try_from(end));
    match (start, end) {
        (Ok(s), Ok(e)) if e <= mem.len() => Ok(&mem[s..e]),
        _ => Err(HostError::MemoryAccessViolation),
    }
}

/// Bounds-checked write into guest memory.
pub fn mem_write(mem: &mut [u8], ptr: u64, data: &[u8]) -> Result<(), HostError> {
    let end = ptr.checked_add(data.len() as u64).ok_or(HostError::MemoryAccessViolation)?;
    match (usize::try_from(ptr), usize::try_from(end)) {
        (Ok(s), Ok(e)) if e <= mem.len() => {
            mem[s..e].copy_from_slice(data);
            Ok(())
        }
        _ => Err(HostError::MemoryAccessViolation),
    }
}

fn read_u128(mem: &[u8], ptr: u64) -> Result<u128, HostError> {
    let bytes = mem_slice(mem, ptr, 16)?;
    let mut buf = [0u8; 16];
    buf.copy_from_slice(bytes);
    Ok(u128::from_le_bytes(buf))
}

impl HostState {
    pub fn new(ctx: CallContext, storage: StorageView, open_yields: Arc<BTreeSet<[u8; 32]>>) -> Self {
        let balance = ctx.account_balance.saturating_add(ctx.attached_deposit);
        let storage_usage = ctx.storage_usage;
        let data_id_seed = sha2::Sha256::digest(&ctx.input).into();
        HostState {
            ctx,
            storage,
            open_yields,
            data_id_seed,
            registers: BTreeMap::new(),
            logs: Vec::new(),
            log_bytes: 0,
            receipts: Vec::new(),
            promises: Vec::new(),
            return_data: ReturnData::None,
            resumed: Vec::new(),
            balance,
            storage_usage,
            gas_attached: 0,
            instructions_used: 0,
            fuel_budget: 0,
            memory: None,
            limits: wasmi::StoreLimitsBuilder::new()
                .memory_size(MAX_MEMORY_BYTES)
                .instances(1)
                .memories(1)
                .tables(1)
                .build(),
        }
    }

    pub(super) fn deny_view(&self, method_name: &'static str) -> Result<(), HostError> {
        if self.ctx.is_view {
            return Err(HostError::ProhibitedInView { method_name });
        }
        Ok(())
    }

    pub(super) fn promises_mut(&mut self) -> &mut Vec<PromiseSlot> {
        &mut self.promises
    }

    pub(super) fn promises_len(&self) -> usize {
        self.promises.len()
    }

    pub(super) fn promise_slot(&self, promise_idx: u64) -> Result<&PromiseSlot, HostError> {
        usize::try_from(promise_idx)
            .ok()
            .and_then(|i| self.promises.get(i))
            .ok_or(HostError::InvalidPromiseIndex { promise_idx })
    }

    // ---- registers ----

    pub fn set_register(&mut self, register_id: u64, data: Vec<u8>) -> Result<(), HostError> {
        if data.len() as u64 > MAX_REGISTER_SIZE {
            return Err(HostError::RegisterLimitExceeded);
        }
        if !self.registers.contains_key(&register_id) && self.registers.len() >= MAX_NUMBER_REGISTERS {
            return Err(HostError::RegisterLimitExceeded);
        }
        let others: u64 =
            self.registers.iter().filter(|(id, _)| **id != register_id).map(|(_, v)| v.len() as u64).sum();
        if others + data.len() as u64 > REGISTERS_MEMORY_LIMIT {
            return Err(HostError::RegisterLimitExceeded);
        }
        self.registers.insert(register_id, data);
        Ok(())
    }

    pub fn read_register(&self, mem: &mut [u8], register_id: u64, ptr: u64) -> Result<(), HostError> {
        let data = self.registers.get(&register_id).ok_or(HostError::InvalidRegisterId { register_id })?;
        mem_write(mem, ptr, data)
    }

    pub fn register_len(&self, register_id: u64) -> u64 {
        self.registers.get(&register_id).map_or(u64::MAX, |v| v.len() as u64)
    }

    /// nearcore's `get_memory_or_register`: `len == u64::MAX` reads register `ptr`.
    pub fn bytes(&self, mem: &[u8], ptr: u64, len: u64) -> Result<Vec<u8>, HostError> {
        if len == u64::MAX {
            return self.registers.get(&ptr).cloned().ok_or(HostError::InvalidRegisterId { register_id: ptr });
        }
        Ok(mem_slice(mem, ptr, len)?.to_vec())
    }

    // ---- context ----

    pub fn input(&mut self, register_id: u64) -> Result<(), HostError> {
        self.set_register(register_id, self.ctx.input.clone())
    }

    pub fn current_account_id(&mut self, register_id: u64) -> Result<(), HostError> {
        self.set_register(register_id, self.ctx.current_account_id.clone().into_bytes())
    }

    pub fn signer_account_id(&mut self, register_id: u64) -> Result<(), HostError> {
        self.deny_view("signer_account_id")?;
        self.set_register(register_id, self.ctx.signer_account_id.clone().into_bytes())
    }

    pub fn signer_account_pk(&mut self, register_id: u64) -> Result<(), HostError> {
        self.deny_view("signer_account_pk")?;
        self.set_register(register_id, self.ctx.signer_account_pk.clone())
    }

    pub fn predecessor_account_id(&mut self, register_id: u64) -> Result<(), HostError> {
        self.deny_view("predecessor_account_id")?;
        self.set_register(register_id, self.ctx.predecessor_account_id.clone().into_bytes())
    }

    pub fn attached_deposit(&self, mem: &mut [u8], ptr: u64) -> Result<(), HostError> {
        mem_write(mem, ptr, &self.ctx.attached_deposit.to_le_bytes())
    }

    pub fn account_balance(&self, mem: &mut [u8], ptr: u64) -> Result<(), HostError> {
        mem_write(mem, ptr, &self.balance.to_le_bytes())
    }

    pub fn prepaid_gas(&self) -> Result<u64, HostError> {
        self.deny_view("prepaid_gas")?;
        Ok(self.ctx.prepaid_gas)
    }

    /// The simulator's used gas: gas attached to new receipts plus executed
    /// instructions at nearcore's `regular_op_cost` (822756 gas each).
    pub fn used_gas(&self) -> Result<u64, HostError> {
        self.deny_view("used_gas")?;
        Ok(self.gas_attached.saturating_add(self.instructions_used.saturating_mul(822_756)))
    }

    // ---- logs and panics ----

    fn utf8_string(&self, mem: &[u8], len: u64, ptr: u64) -> Result<String, HostError> {
        let max_len = MAX_TOTAL_LOG_LENGTH.saturating_sub(self.log_bytes);
        let bytes = if len == u64::MAX {
            let start = usize::try_from(ptr).map_err(|_| HostError::MemoryAccessViolation)?;
            let tail = mem.get(start..).ok_or(HostError::MemoryAccessViolation)?;
            let end = tail.iter().position(|b| *b == 0).ok_or(HostError::MemoryAccessViolation)?;
            if end as u64 > max_len {
                return Err(HostError::TotalLogLengthExceeded { length: self.log_bytes + end as u64 });
            }
            tail[..end].to_vec()
        } else {
            if len > max_len {
                return Err(HostError::TotalLogLengthExceeded { length: self.log_bytes.saturating_add(len) });
            }
            mem_slice(mem, ptr, len)?.to_vec()
        };
        String::from_utf8(bytes).map_err(|_| HostError::BadUtf8)
    }

    pub fn log_utf8(&mut self, mem: &[u8], len: u64, ptr: u64) -> Result<(), HostError> {
        if self.logs.len() >= MAX_NUMBER_LOGS {
            return Err(HostError::NumberOfLogsExceeded);
        }
        let message = self.utf8_string(mem, len, ptr)?;
        self.log_bytes += message.len() as u64;
        self.logs.push(message);
        Ok(())
    }

    pub fn panic_utf8(&self, mem: &[u8], len: u64, ptr: u64) -> HostError {
        match self.utf8_string(mem, len, ptr) {
            Ok(panic_msg) => HostError::GuestPanic { panic_msg },
            Err(e) => e,
        }
    }

    /// AssemblyScript's `abort(msg, filename, line, col)`: UTF-16 strings
    /// whose byte length is the u32 stored just before each pointer.
    pub fn abort(&mut self, mem: &[u8], msg_ptr: u32, file_ptr: u32, line: u32, col: u32) -> HostError {
        let read = |ptr: u32| -> Result<String, HostError> {
            let len_at = ptr.checked_sub(4).ok_or(HostError::BadUtf16)?;
            let len_bytes = mem_slice(mem, u64::from(len_at), 4)?;
            let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
            let raw = mem_slice(mem, u64::from(ptr), u64::from(len))?;
            let units = raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
            char::decode_utf16(units).collect::<Result<String, _>>().map_err(|_| HostError::BadUtf16)
        };
        match (read(msg_ptr), read(file_ptr)) {
            (Ok(msg), Ok(file)) => {
                let panic_msg = format!("{msg}, filename: \"{file}\" line: {line} col: {col}");
                if self.logs.len() < MAX_NUMBER_LOGS {
                    self.logs.push(format!("ABORT: {panic_msg}"));
                }
                HostError::GuestPanic { panic_msg }
            }
            (Err(e), _) | (_, Err(e)) => e,
        }
    }

    pub fn value_return(&mut self, mem: &[u8], len: u64, ptr: u64) -> Result<(), HostError> {
        let value = self.bytes(mem, ptr, len)?;
        if value.len() as u64 > MAX_RETURNED_DATA {
            return Err(HostError::ReturnedValueLengthExceeded { length: value.len() as u64 });
        }
        self.return_data = ReturnData::Value(value);
        Ok(())
    }

    // ---- storage ----

    fn storage_key(&self, mem: &[u8], len: u64, ptr: u64) -> Result<Vec<u8>, HostError> {
        let key = self.bytes(mem, ptr, len)?;
        if key.len() as u64 > MAX_STORAGE_KEY {
            return Err(HostError::KeyLengthExceeded { length: key.len() as u64 });
        }
        Ok(key)
    }

    pub fn storage_write(
        &mut self,
        mem: &[u8],
        (key_len, key_ptr): (u64, u64),
        (value_len, value_ptr): (u64, u64),
        register_id: u64,
    ) -> Result<u64, HostError> {
        self.deny_view("storage_write")?;
        let key = self.storage_key(mem, key_len, key_ptr)?;
        let value = self.bytes(mem, value_ptr, value_len)?;
        if value.len() as u64 > MAX_STORAGE_VALUE {
            return Err(HostError::ValueLengthExceeded { length: value.len() as u64 });
        }
        let old = self.storage.get(&key).cloned();
        let new_len = value.len() as u64;
        self.storage.changes.insert(key.clone(), Some(value));
        match old {
            Some(old) => {
                self.storage_usage = (self.storage_usage + new_len).saturating_sub(old.len() as u64);
                self.set_register(register_id, old)?;
                Ok(1)
            }
            None => {
                self.storage_usage += key.len() as u64 + new_len + STORAGE_EXTRA_BYTES;
                Ok(0)
            }
        }
    }

    pub fn storage_read(&mut self, mem: &[u8], key_len: u64, key_ptr: u64, register_id: u64) -> Result<u64, HostError> {
        let key = self.storage_key(mem, key_len, key_ptr)?;
        match self.storage.get(&key).cloned() {
            Some(value) => {
                self.set_register(register_id, value)?;
                Ok(1)
            }
            None => Ok(0),
        }
    }

    pub fn storage_remove(
        &mut self,
        mem: &[u8],
        key_len: u64,
        key_ptr: u64,
        register_id: u64,
    ) -> Result<u64, HostError> {
        self.deny_view("storage_remove")?;
        let key = self.storage_key(mem, key_len, key_ptr)?;
        match self.storage.get(&key).cloned() {
            Some(value) => {
                let freed = key.len() as u64 + value.len() as u64 + STORAGE_EXTRA_BYTES;
                self.storage_usage = self.storage_usage.saturating_sub(freed);
                self.storage.changes.insert(key, None);
                self.set_register(register_id, value)?;
                Ok(1)
            }
            None => Ok(0),
        }
    }

    pub fn storage_has_key(&self, mem: &[u8], key_len: u64, key_ptr: u64) -> Result<u64, HostError> {
        let key = self.storage_key(mem, key_len, key_ptr)?;
        Ok(u64::from(self.storage.get(&key).is_some()))
    }

    // ---- hashes and signatures ----

    pub fn sha256(&mut self, mem: &[u8], len: u64, ptr: u64, register_id: u64) -> Result<(), HostError> {
        let value = self.bytes(mem, ptr, len)?;
        self.set_register(register_id, sha2::Sha256::digest(&value).to_vec())
    }

    pub fn keccak256(&mut self, mem: &[u8], len: u64, ptr: u64, register_id: u64) -> Result<(), HostError> {
        let value = self.bytes(mem, ptr, len)?;
        self.set_register(register_id, sha3::Keccak256::digest(&value).to_vec())
    }

    pub fn ed25519_verify(
        &self,
        mem: &[u8],
        sig: (u64, u64),
        msg: (u64, u64),
        pk: (u64, u64),
    ) -> Result<u64, HostError> {
        let sig = self.bytes(mem, sig.1, sig.0)?;
        let msg = self.bytes(mem, msg.1, msg.0)?;
        let pk = self.bytes(mem, pk.1, pk.0)?;
        crypto::ed25519_verify(&sig, &msg, &pk).map(u64::from)
    }

    pub fn ecrecover(
        &mut self,
        mem: &[u8],
        hash: (u64, u64),
        sig: (u64, u64),
        v: u64,
        malleability_flag: u64,
        register_id: u64,
    ) -> Result<u64, HostError> {
        let sig = self.bytes(mem, sig.1, sig.0)?;
        let hash = self.bytes(mem, hash.1, hash.0)?;
        match crypto::ecrecover(&hash, &sig, v, malleability_flag)? {
            Some(public_key) => {
                self.set_register(register_id, public_key.to_vec())?;
                Ok(1)
            }
            None => Ok(0),
        }
    }

    /// `bls12381_p1_decompress` / `_p2_decompress`: 0 and the points in the
    /// register, or 1 for a point not on the curve (register untouched).
    pub fn bls12381_decompress(
        &mut self,
        mem: &[u8],
        g2: bool,
        len: u64,
        ptr: u64,
        register_id: u64,
    ) -> Result<u64, HostError> {
        let data = self.bytes(mem, ptr, len)?;
        let out = if g2 { crypto::bls_p2_decompress(&data)? } else { crypto::bls_p1_decompress(&data)? };
        match out {
            Some(points) => {
                self.set_register(register_id, points)?;
                Ok(0)
            }
            None => Ok(1),
        }
    }

    pub fn bls12381_pairing_check(&self, mem: &[u8], len: u64, ptr: u64) -> Result<u64, HostError> {
        let data = self.bytes(mem, ptr, len)?;
        crypto::bls_pairing_check(&data)
    }
}

pub(super) fn read_amount(mem: &[u8], ptr: u64) -> Result<u128, HostError> {
    read_u128(mem, ptr)
}
