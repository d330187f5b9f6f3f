//! NEAR's promise host functions: the DAG of receipts a call creates
//! (`promise_batch_create`, `promise_batch_then`, `promise_and`, actions),
//! yields (`promise_yield_create` / `promise_yield_resume`), and the callback
//! side (`promise_result`, `promise_return`). The receipts are recorded in
//! [`HostState::receipts`]; [`super::executor`] runs them after the call.

use sha2::Digest;

use super::host::{
    mem_slice, read_amount, Action, HostError, HostState, NewReceipt, PromiseResult, ReturnData, MAX_CONTRACT_SIZE,
    MAX_INPUT_DEPENDENCIES, MAX_PROMISES, MAX_YIELD_PAYLOAD,
};
use crate::account::is_valid_account_id;

/// Where a host function finds a receipt's actions: its promise index.
type PromiseIdx = u64;

impl HostState {
    fn push_promise(&mut self, promise: super::host::PromiseSlot) -> Result<u64, HostError> {
        self.promises_mut().push(promise);
        let n = self.promises_len();
        if n > MAX_PROMISES {
            return Err(HostError::NumberPromisesExceeded);
        }
        Ok(n as u64 - 1)
    }

    fn account_id(&self, mem: &[u8], len: u64, ptr: u64) -> Result<String, HostError> {
        let bytes = self.bytes(mem, ptr, len)?;
        let text = String::from_utf8(bytes).map_err(|_| HostError::BadUtf8)?;
        if !is_valid_account_id(&text) {
            return Err(HostError::InvalidAccountId);
        }
        Ok(text)
    }

    fn new_receipt(
        &mut self,
        receiver_id: String,
        depends_on: Vec<usize>,
        yield_data_id: Option<[u8; 32]>,
    ) -> Result<u64, HostError> {
        self.receipts.push(NewReceipt { receiver_id, actions: Vec::new(), depends_on, yield_data_id });
        let idx = self.receipts.len() - 1;
        self.push_promise(super::host::PromiseSlot::Receipt(idx))
    }

    fn receipt_of(&self, promise_idx: PromiseIdx) -> Result<usize, HostError> {
        match self.promise_slot(promise_idx)? {
            super::host::PromiseSlot::Receipt(r) => Ok(*r),
            super::host::PromiseSlot::Joint(_) => Err(HostError::CannotAppendActionToJointPromise),
        }
    }

    fn push_action(&mut self, promise_idx: PromiseIdx, action: Action) -> Result<(), HostError> {
        let r = self.receipt_of(promise_idx)?;
        self.receipts[r].actions.push(action);
        Ok(())
    }

    fn spend(&mut self, amount: u128) -> Result<(), HostError> {
        self.balance = self.balance.checked_sub(amount).ok_or(HostError::BalanceExceeded)?;
        Ok(())
    }

    fn attach_gas(&mut self, gas: u64) -> Result<(), HostError> {
        let total = self.gas_attached.checked_add(gas).ok_or(HostError::IntegerOverflow)?;
        if total > self.ctx.prepaid_gas {
            return Err(HostError::GasExceeded);
        }
        self.gas_attached = total;
        Ok(())
    }

    pub fn promise_batch_create(&mut self, mem: &[u8], len: u64, ptr: u64) -> Result<u64, HostError> {
        self.deny_view("promise_batch_create")?;
        let receiver = self.account_id(mem, len, ptr)?;
        self.new_receipt(receiver, Vec::new(), None)
    }

    pub fn promise_batch_then(&mut self, mem: &[u8], promise_idx: u64, len: u64, ptr: u64) -> Result<u64, HostError> {
        self.deny_view("promise_batch_then")?;
        let receiver = self.account_id(mem, len, ptr)?;
        let deps = match self.promise_slot(promise_idx)? {
            super::host::PromiseSlot::Receipt(r) => vec![*r],
            super::host::PromiseSlot::Joint(rs) => rs.clone(),
        };
        self.new_receipt(receiver, deps, None)
    }

    pub fn promise_and(&mut self, mem: &[u8], ptr: u64, count: u64) -> Result<u64, HostError> {
        self.deny_view("promise_and")?;
        let len = count.checked_mul(8).ok_or(HostError::IntegerOverflow)?;
        let raw = mem_slice(mem, ptr, len)?.to_vec();
        let mut deps = Vec::new();
        for chunk in raw.chunks_exact(8) {
            let mut idx = [0u8; 8];
            idx.copy_from_slice(chunk);
            match self.promise_slot(u64::from_le_bytes(idx))? {
                super::host::PromiseSlot::Receipt(r) => deps.push(*r),
                super::host::PromiseSlot::Joint(rs) => deps.extend(rs.iter().copied()),
            }
            if deps.len() > MAX_INPUT_DEPENDENCIES {
                return Err(HostError::NumberInputDataDependenciesExceeded);
            }
        }
        self.push_promise(super::host::PromiseSlot::Joint(deps))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn promise_batch_action_function_call_weight(
        &mut self,
        mem: &[u8],
        promise_idx: u64,
        method: (u64, u64),
        args: (u64, u64),
        amount_ptr: u64,
        gas: u64,
        gas_weight: u64,
    ) -> Result<(), HostError> {
        self.deny_view("promise_batch_action_function_call")?;
        let deposit = read_amount(mem, amount_ptr)?;
        let method = self.bytes(mem, method.1, method.0)?;
        if method.is_empty() {
            return Err(HostError::EmptyMethodName);
        }
        let method = String::from_utf8(method).map_err(|_| HostError::BadUtf8)?;
        let args = self.bytes(mem, args.1, args.0)?;
        self.receipt_of(promise_idx)?;
        self.attach_gas(gas)?;
        self.spend(deposit)?;
        self.push_action(promise_idx, Action::FunctionCall { method, args, deposit, gas, gas_weight })
    }

    pub fn promise_batch_action_transfer(
        &mut self,
        mem: &[u8],
        promise_idx: u64,
        amount_ptr: u64,
    ) -> Result<(), HostError> {
        self.deny_view("promise_batch_action_transfer")?;
        let deposit = read_amount(mem, amount_ptr)?;
        self.receipt_of(promise_idx)?;
        self.spend(deposit)?;
        self.push_action(promise_idx, Action::Transfer { deposit })
    }

    pub fn promise_batch_action_code(
        &mut self,
        mem: &[u8],
        promise_idx: u64,
        len: u64,
        ptr: u64,
        global: Option<bool>,
    ) -> Result<(), HostError> {
        self.deny_view("promise_batch_action_deploy_contract")?;
        let code = self.bytes(mem, ptr, len)?;
        if code.len() as u64 > MAX_CONTRACT_SIZE {
            return Err(HostError::ContractSizeExceeded { size: code.len() as u64 });
        }
        let action = match global {
            None => Action::DeployContract { code },
            Some(by_account_id) => Action::DeployGlobalContract { code, by_account_id },
        };
        self.push_action(promise_idx, action)
    }

    pub fn promise_batch_action_use_global(
        &mut self,
        mem: &[u8],
        promise_idx: u64,
        len: u64,
        ptr: u64,
        by_account_id: bool,
    ) -> Result<(), HostError> {
        self.deny_view("promise_batch_action_use_global_contract")?;
        let action = if by_account_id {
            Action::UseGlobalContractByAccountId { account_id: self.account_id(mem, len, ptr)? }
        } else {
            let hash = self.bytes(mem, ptr, len)?;
            let code_hash = hash.try_into().map_err(|_| HostError::ContractCodeHashMalformed)?;
            Action::UseGlobalContract { code_hash }
        };
        self.push_action(promise_idx, action)
    }

    pub fn promise_batch_action_simple(&mut self, promise_idx: u64, action: Action) -> Result<(), HostError> {
        self.deny_view("promise_batch_action")?;
        self.push_action(promise_idx, action)
    }

    /// A borsh `PublicKey` (ed25519: 0 + 32 bytes, secp256k1: 1 + 64 bytes).
    pub fn public_key(&self, mem: &[u8], len: u64, ptr: u64) -> Result<Vec<u8>, HostError> {
        let key = self.bytes(mem, ptr, len)?;
        match (key.first(), key.len()) {
            (Some(0), 33) | (Some(1), 65) => Ok(key),
            _ => Err(HostError::InvalidPublicKey),
        }
    }

    pub fn promise_batch_action_stake_or_gas(
        &mut self,
        mem: &[u8],
        promise_idx: u64,
        amount_ptr: u64,
        pk: (u64, u64),
        stake: bool,
    ) -> Result<(), HostError> {
        let amount = read_amount(mem, amount_ptr)?;
        let public_key = self.public_key(mem, pk.0, pk.1)?;
        self.receipt_of(promise_idx)?;
        if stake {
            return self.promise_batch_action_simple(promise_idx, Action::Stake { stake: amount, public_key });
        }
        self.spend(amount)?;
        self.promise_batch_action_simple(promise_idx, Action::TransferToGasKey { public_key, deposit: amount })
    }

    /// `method_names` is a comma-separated list (nearcore's `split_method_names`).
    pub fn function_call_key(
        &self,
        mem: &[u8],
        allowance_ptr: u64,
        receiver: (u64, u64),
        names: (u64, u64),
    ) -> Result<(Option<u128>, String, Vec<String>), HostError> {
        let allowance = read_amount(mem, allowance_ptr)?;
        let receiver_id = self.account_id(mem, receiver.0, receiver.1)?;
        let raw = String::from_utf8(self.bytes(mem, names.1, names.0)?).map_err(|_| HostError::BadUtf8)?;
        let method_names = if raw.is_empty() { Vec::new() } else { raw.split(',').map(str::to_string).collect() };
        if method_names.iter().any(String::is_empty) {
            return Err(HostError::EmptyMethodName);
        }
        Ok(((allowance > 0).then_some(allowance), receiver_id, method_names))
    }

    pub fn promise_batch_action_delete_account(
        &mut self,
        mem: &[u8],
        promise_idx: u64,
        len: u64,
        ptr: u64,
    ) -> Result<(), HostError> {
        let beneficiary_id = self.account_id(mem, len, ptr)?;
        self.promise_batch_action_simple(promise_idx, Action::DeleteAccount { beneficiary_id })
    }

    /// Creates a callback receipt on this account waiting for a fresh data id
    /// (written to `register_id`) that `promise_yield_resume` or the yield
    /// timeout will provide.
    #[allow(clippy::too_many_arguments)]
    pub fn promise_yield_create(
        &mut self,
        mem: &[u8],
        method: (u64, u64),
        args: (u64, u64),
        gas: u64,
        gas_weight: u64,
        register_id: u64,
    ) -> Result<u64, HostError> {
        self.deny_view("promise_yield_create")?;
        let method = self.bytes(mem, method.1, method.0)?;
        if method.is_empty() {
            return Err(HostError::EmptyMethodName);
        }
        let method = String::from_utf8(method).map_err(|_| HostError::BadUtf8)?;
        let args = self.bytes(mem, args.1, args.0)?;
        self.attach_gas(gas)?;
        let data_id = self.next_data_id();
        let me = self.ctx.current_account_id.clone();
        let promise_idx = self.new_receipt(me, Vec::new(), Some(data_id))?;
        self.push_action(promise_idx, Action::FunctionCall { method, args, deposit: 0, gas, gas_weight })?;
        self.set_register(register_id, data_id.to_vec())?;
        Ok(promise_idx)
    }

    /// 1 if `data_id` names an open yield of this account not yet resumed, else 0.
    pub fn promise_yield_resume(
        &mut self,
        mem: &[u8],
        data_id: (u64, u64),
        payload: (u64, u64),
    ) -> Result<u32, HostError> {
        self.deny_view("promise_yield_resume")?;
        let id = self.bytes(mem, data_id.1, data_id.0)?;
        let payload = self.bytes(mem, payload.1, payload.0)?;
        if payload.len() as u64 > MAX_YIELD_PAYLOAD {
            return Err(HostError::YieldPayloadLength { length: payload.len() as u64 });
        }
        let id: [u8; 32] = id.try_into().map_err(|_| HostError::DataIdMalformed)?;
        let open = self.open_yields.contains(&id) || self.receipts.iter().any(|r| r.yield_data_id == Some(id));
        if !open || self.resumed.iter().any(|(done, _)| *done == id) {
            return Ok(0);
        }
        self.resumed.push((id, payload));
        Ok(1)
    }

    /// 0 not ready, 1 successful (data in `register_id`), 2 failed.
    pub fn promise_result(&mut self, result_idx: u64, register_id: u64) -> Result<u64, HostError> {
        self.deny_view("promise_result")?;
        let result = usize::try_from(result_idx)
            .ok()
            .and_then(|i| self.ctx.promise_results.get(i))
            .cloned()
            .ok_or(HostError::InvalidPromiseResultIndex { result_idx })?;
        match result {
            PromiseResult::Successful(data) => {
                self.set_register(register_id, data)?;
                Ok(1)
            }
            PromiseResult::Failed => Ok(2),
        }
    }

    pub fn promise_results_count(&self) -> Result<u64, HostError> {
        self.deny_view("promise_results_count")?;
        Ok(self.ctx.promise_results.len() as u64)
    }

    pub fn promise_return(&mut self, promise_idx: u64) -> Result<(), HostError> {
        self.deny_view("promise_return")?;
        match self.promise_slot(promise_idx)? {
            super::host::PromiseSlot::Receipt(r) => {
                self.return_data = ReturnData::Receipt(*r);
                Ok(())
            }
            super::host::PromiseSlot::Joint(_) => Err(HostError::CannotReturnJointPromise),
        }
    }

    fn next_data_id(&mut self) -> [u8; 32] {
        let n = self.receipts.len() as u64;
        let mut h = sha2::Sha256::new();
        h.update(b"tdsigner-chain-sim data id");
        h.update(self.data_id_seed);
        h.update(n.to_le_bytes());
        h.finalize().into()
    }
}
