//! A receipt addressed to the contract: its actions run in order against one
//! staged view of the state; all effects are committed only if every action
//! succeeds and the account can still pay for its storage.

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::Digest;

use super::{ContractRuntime, Outcome, Receipt, STORAGE_PRICE_PER_BYTE};
use crate::wasm::host::{Action, HostState, NewReceipt, PromiseResult, ReturnData, StorageView};

/// Effects of the receipt's calls, staged until the receipt succeeds.
#[derive(Default)]
struct Staged {
    changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    receipts: Vec<NewReceipt>,
    resumed: Vec<([u8; 32], Vec<u8>)>,
    balance: u128,
    storage_usage: u64,
    returned: Option<ReturnData>,
    logs: Vec<String>,
    instructions: u64,
}

impl ContractRuntime {
    pub(super) fn execute_on_contract(
        &mut self,
        id: u64,
        receipt: &Receipt,
        results: Vec<PromiseResult>,
    ) -> (Outcome, Vec<String>, u64) {
        let mut staged = Staged { balance: self.balance, storage_usage: self.storage_usage, ..Staged::default() };
        for action in &receipt.actions {
            let failure = match action {
                Action::Transfer { deposit } => {
                    staged.balance = staged.balance.saturating_add(*deposit);
                    None
                }
                Action::FunctionCall { method, args, deposit, gas, .. } => {
                    self.run_call(id, receipt, &mut staged, (method, args, *deposit, *gas), results.clone())
                }
                other => Some(format!("action not supported on the contract account: {other:?}")),
            };
            if let Some(error) = failure {
                return (Outcome::Failure(error), staged.logs, staged.instructions);
            }
        }
        let needed = u128::from(staged.storage_usage) * STORAGE_PRICE_PER_BYTE;
        if needed > staged.balance {
            let error = format!(
                "LackBalanceForState {{ account_id: {}, amount: {} }}",
                receipt.receiver_id,
                needed - staged.balance
            );
            return (Outcome::Failure(error), staged.logs, staged.instructions);
        }
        let outcome = self.commit(id, receipt, &mut staged);
        (outcome, std::mem::take(&mut staged.logs), staged.instructions)
    }

    /// Runs one function call on the staged state; `Some(error)` if it failed.
    fn run_call(
        &mut self,
        id: u64,
        receipt: &Receipt,
        staged: &mut Staged,
        call: (&String, &Vec<u8>, u128, u64),
        results: Vec<PromiseResult>,
    ) -> Option<String> {
        let (method, args, deposit, gas) = call;
        let mut ctx = self.context(receipt, args.clone(), deposit, gas, results);
        ctx.account_balance = staged.balance;
        ctx.storage_usage = staged.storage_usage;
        let storage =
            StorageView { committed: Arc::clone(&self.storage), changes: std::mem::take(&mut staged.changes) };
        let open: std::collections::BTreeSet<[u8; 32]> = self.yields.keys().copied().collect();
        let mut state = HostState::new(ctx, storage, Arc::new(open));
        state.data_id_seed =
            sha2::Sha256::digest([&id.to_le_bytes()[..], &(staged.receipts.len() as u64).to_le_bytes()].concat())
                .into();
        let result = self.code.call(method, state, self.config.fuel_per_call);
        let mut state = result.state;
        staged.instructions += result.instructions;
        staged.logs.append(&mut state.logs);
        if let Some(error) = result.error {
            return Some(error.to_string());
        }
        staged.changes = state.storage.changes;
        staged.balance = state.balance;
        staged.storage_usage = state.storage_usage;
        let offset = staged.receipts.len();
        staged.returned = Some(match state.return_data {
            ReturnData::Receipt(r) => ReturnData::Receipt(r + offset),
            other => other,
        });
        for mut r in state.receipts {
            r.depends_on.iter_mut().for_each(|d| *d += offset);
            staged.receipts.push(r);
        }
        staged.resumed.append(&mut state.resumed);
        None
    }

    /// Applies the staged effects; returns the receipt's outcome.
    fn commit(&mut self, id: u64, receipt: &Receipt, staged: &mut Staged) -> Outcome {
        let storage = Arc::make_mut(&mut self.storage);
        for (key, value) in std::mem::take(&mut staged.changes) {
            match value {
                Some(v) => storage.insert(key, v),
                None => storage.remove(&key),
            };
        }
        self.balance = staged.balance;
        self.storage_usage = staged.storage_usage;
        for (data_id, payload) in std::mem::take(&mut staged.resumed) {
            if self.yields.remove(&data_id).is_some() {
                self.data.insert(data_id, PromiseResult::Successful(payload));
            }
        }
        let ids = self.enqueue_created(id, receipt, std::mem::take(&mut staged.receipts));
        self.last_created = ids.clone();
        match staged.returned.take() {
            Some(ReturnData::Value(v)) => Outcome::Value(v),
            Some(ReturnData::Receipt(r)) => ids.get(r).map_or(Outcome::Value(Vec::new()), |rid| Outcome::Receipt(*rid)),
            Some(ReturnData::None) | None => Outcome::Value(Vec::new()),
        }
    }

    /// Turns the call's receipts into waiting receipts: each dependency gets
    /// a data id the dependent receipt waits for; a yield waits for its own.
    fn enqueue_created(&mut self, parent: u64, receipt: &Receipt, created: Vec<NewReceipt>) -> Vec<u64> {
        let mut ids = Vec::with_capacity(created.len());
        for (i, new) in created.into_iter().enumerate() {
            let mut inputs = Vec::new();
            for dep in &new.depends_on {
                let data_id: [u8; 32] = sha2::Sha256::digest(
                    [&parent.to_le_bytes()[..], &(i as u64).to_le_bytes(), &(*dep as u64).to_le_bytes()].concat(),
                )
                .into();
                if let Some(dep_id) = ids.get(*dep) {
                    if let Some(r) = self.waiting.get_mut(dep_id) {
                        r.outputs.push(data_id);
                    }
                }
                inputs.push(data_id);
            }
            if let Some(data_id) = new.yield_data_id {
                self.yields.insert(data_id, self.height + self.config.yield_timeout_blocks);
                inputs.push(data_id);
            }
            let id = self.enqueue(Receipt {
                tx: receipt.tx,
                receiver_id: new.receiver_id,
                predecessor_id: self.config.contract_account.clone(),
                signer_id: receipt.signer_id.clone(),
                signer_pk: receipt.signer_pk.clone(),
                actions: new.actions,
                inputs,
                outputs: Vec::new(),
            });
            ids.push(id);
        }
        ids
    }
}
