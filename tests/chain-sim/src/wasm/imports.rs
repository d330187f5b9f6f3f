//! Binds NEAR's `env` host functions to a wasmi [`Linker`]: the 48 the
//! deployed `v1.signer` binaries import, plus the few context functions a
//! NEAR contract commonly imports besides (`epoch_height`, `storage_usage`,
//! `account_balance`, `used_gas`, `keccak256`, `promise_results_count`,
//! `abort`). Each binding only moves arguments; semantics live in
//! [`super::host`] and [`super::promises`].

use wasmi::{Caller, Linker};

use super::host::{Action, HostError, HostState};

type Ctx<'a> = Caller<'a, HostState>;
type Res<T> = Result<T, wasmi::Error>;

impl wasmi::errors::HostError for HostError {}

/// Runs `f` with the guest memory and the host state.
fn mem<R>(caller: &mut Ctx<'_>, f: impl FnOnce(&mut [u8], &mut HostState) -> Result<R, HostError>) -> Res<R> {
    let memory = caller.data().memory.ok_or_else(|| wasmi::Error::host(HostError::MemoryAccessViolation))?;
    let (bytes, state) = memory.data_and_store_mut(caller);
    f(bytes, state).map_err(wasmi::Error::host)
}

/// Runs `f` with the host state only.
fn st<R>(caller: &mut Ctx<'_>, f: impl FnOnce(&mut HostState) -> Result<R, HostError>) -> Res<R> {
    f(caller.data_mut()).map_err(wasmi::Error::host)
}

/// Every name this linker defines, for the import-coverage test.
pub const ENV_FUNCTIONS: &[&str] = &[
    "read_register",
    "register_len",
    "input",
    "value_return",
    "log_utf8",
    "panic_utf8",
    "abort",
    "storage_read",
    "storage_write",
    "storage_remove",
    "storage_has_key",
    "current_account_id",
    "signer_account_id",
    "signer_account_pk",
    "predecessor_account_id",
    "block_index",
    "block_timestamp",
    "epoch_height",
    "storage_usage",
    "account_balance",
    "attached_deposit",
    "prepaid_gas",
    "used_gas",
    "sha256",
    "keccak256",
    "ed25519_verify",
    "ecrecover",
    "bls12381_p1_decompress",
    "bls12381_p2_decompress",
    "bls12381_pairing_check",
    "promise_batch_create",
    "promise_batch_then",
    "promise_and",
    "promise_result",
    "promise_results_count",
    "promise_return",
    "promise_yield_create",
    "promise_yield_resume",
    "promise_batch_action_create_account",
    "promise_batch_action_deploy_contract",
    "promise_batch_action_deploy_global_contract",
    "promise_batch_action_deploy_global_contract_by_account_id",
    "promise_batch_action_use_global_contract",
    "promise_batch_action_use_global_contract_by_account_id",
    "promise_batch_action_function_call",
    "promise_batch_action_function_call_weight",
    "promise_batch_action_transfer",
    "promise_batch_action_transfer_to_gas_key",
    "promise_batch_action_stake",
    "promise_batch_action_add_key_with_full_access",
    "promise_batch_action_add_key_with_function_call",
    "promise_batch_action_add_gas_key_with_full_access",
    "promise_batch_action_add_gas_key_with_function_call",
    "promise_batch_action_delete_key",
    "promise_batch_action_delete_account",
];

/// Defines every function of [`ENV_FUNCTIONS`] in `linker`.
pub fn link(linker: &mut Linker<HostState>) -> Result<(), wasmi::errors::LinkerError> {
    link_context(linker)?;
    link_storage_and_crypto(linker)?;
    link_promises(linker)?;
    link_actions(linker)
}

fn link_context(l: &mut Linker<HostState>) -> Result<(), wasmi::errors::LinkerError> {
    l.func_wrap("env", "read_register", |mut c: Ctx<'_>, reg: u64, ptr: u64| {
        mem(&mut c, |m, s| s.read_register(m, reg, ptr))
    })?;
    l.func_wrap("env", "register_len", |c: Ctx<'_>, reg: u64| -> u64 { c.data().register_len(reg) })?;
    l.func_wrap("env", "input", |mut c: Ctx<'_>, reg: u64| st(&mut c, |s| s.input(reg)))?;
    l.func_wrap("env", "value_return", |mut c: Ctx<'_>, len: u64, ptr: u64| {
        mem(&mut c, |m, s| s.value_return(m, len, ptr))
    })?;
    l.func_wrap("env", "log_utf8", |mut c: Ctx<'_>, len: u64, ptr: u64| mem(&mut c, |m, s| s.log_utf8(m, len, ptr)))?;
    l.func_wrap("env", "panic_utf8", |mut c: Ctx<'_>, len: u64, ptr: u64| -> Res<()> {
        mem(&mut c, |m, s| Err(s.panic_utf8(m, len, ptr)))
    })?;
    l.func_wrap("env", "abort", |mut c: Ctx<'_>, msg: u32, file: u32, line: u32, col: u32| -> Res<()> {
        mem(&mut c, |m, s| Err(s.abort(m, msg, file, line, col)))
    })?;
    l.func_wrap("env", "current_account_id", |mut c: Ctx<'_>, reg: u64| st(&mut c, |s| s.current_account_id(reg)))?;
    l.func_wrap("env", "signer_account_id", |mut c: Ctx<'_>, reg: u64| st(&mut c, |s| s.signer_account_id(reg)))?;
    l.func_wrap("env", "signer_account_pk", |mut c: Ctx<'_>, reg: u64| st(&mut c, |s| s.signer_account_pk(reg)))?;
    l.func_wrap("env", "predecessor_account_id", |mut c: Ctx<'_>, reg: u64| {
        st(&mut c, |s| s.predecessor_account_id(reg))
    })?;
    l.func_wrap("env", "block_index", |c: Ctx<'_>| -> u64 { c.data().ctx.block_height })?;
    l.func_wrap("env", "block_timestamp", |c: Ctx<'_>| -> u64 { c.data().ctx.block_timestamp_ns })?;
    l.func_wrap("env", "epoch_height", |c: Ctx<'_>| -> u64 { c.data().ctx.epoch_height })?;
    l.func_wrap("env", "storage_usage", |c: Ctx<'_>| -> u64 { c.data().storage_usage })?;
    l.func_wrap("env", "account_balance", |mut c: Ctx<'_>, ptr: u64| mem(&mut c, |m, s| s.account_balance(m, ptr)))?;
    l.func_wrap("env", "attached_deposit", |mut c: Ctx<'_>, ptr: u64| mem(&mut c, |m, s| s.attached_deposit(m, ptr)))?;
    l.func_wrap("env", "prepaid_gas", |mut c: Ctx<'_>| st(&mut c, |s| s.prepaid_gas()))?;
    l.func_wrap("env", "used_gas", |mut c: Ctx<'_>| {
        let left = c.get_fuel().unwrap_or(0);
        st(&mut c, |s| {
            s.instructions_used = s.fuel_budget.saturating_sub(left);
            s.used_gas()
        })
    })?;
    Ok(())
}

fn link_storage_and_crypto(l: &mut Linker<HostState>) -> Result<(), wasmi::errors::LinkerError> {
    l.func_wrap("env", "storage_read", |mut c: Ctx<'_>, kl: u64, kp: u64, reg: u64| {
        mem(&mut c, |m, s| s.storage_read(m, kl, kp, reg))
    })?;
    l.func_wrap("env", "storage_write", |mut c: Ctx<'_>, kl: u64, kp: u64, vl: u64, vp: u64, reg: u64| {
        mem(&mut c, |m, s| s.storage_write(m, (kl, kp), (vl, vp), reg))
    })?;
    l.func_wrap("env", "storage_remove", |mut c: Ctx<'_>, kl: u64, kp: u64, reg: u64| {
        mem(&mut c, |m, s| s.storage_remove(m, kl, kp, reg))
    })?;
    l.func_wrap("env", "storage_has_key", |mut c: Ctx<'_>, kl: u64, kp: u64| {
        mem(&mut c, |m, s| s.storage_has_key(m, kl, kp))
    })?;
    l.func_wrap("env", "sha256", |mut c: Ctx<'_>, len: u64, ptr: u64, reg: u64| {
        mem(&mut c, |m, s| s.sha256(m, len, ptr, reg))
    })?;
    l.func_wrap("env", "keccak256", |mut c: Ctx<'_>, len: u64, ptr: u64, reg: u64| {
        mem(&mut c, |m, s| s.keccak256(m, len, ptr, reg))
    })?;
    l.func_wrap("env", "ed25519_verify", |mut c: Ctx<'_>, sl: u64, sp: u64, ml: u64, mp: u64, kl: u64, kp: u64| {
        mem(&mut c, |m, s| s.ed25519_verify(m, (sl, sp), (ml, mp), (kl, kp)))
    })?;
    l.func_wrap(
        "env",
        "ecrecover",
        |mut c: Ctx<'_>, hl: u64, hp: u64, sl: u64, sp: u64, v: u64, mf: u64, reg: u64| {
            mem(&mut c, |m, s| s.ecrecover(m, (hl, hp), (sl, sp), v, mf, reg))
        },
    )?;
    l.func_wrap("env", "bls12381_p1_decompress", |mut c: Ctx<'_>, len: u64, ptr: u64, reg: u64| {
        mem(&mut c, |m, s| s.bls12381_decompress(m, false, len, ptr, reg))
    })?;
    l.func_wrap("env", "bls12381_p2_decompress", |mut c: Ctx<'_>, len: u64, ptr: u64, reg: u64| {
        mem(&mut c, |m, s| s.bls12381_decompress(m, true, len, ptr, reg))
    })?;
    l.func_wrap("env", "bls12381_pairing_check", |mut c: Ctx<'_>, len: u64, ptr: u64| {
        mem(&mut c, |m, s| s.bls12381_pairing_check(m, len, ptr))
    })?;
    Ok(())
}

fn link_promises(l: &mut Linker<HostState>) -> Result<(), wasmi::errors::LinkerError> {
    l.func_wrap("env", "promise_batch_create", |mut c: Ctx<'_>, len: u64, ptr: u64| {
        mem(&mut c, |m, s| s.promise_batch_create(m, len, ptr))
    })?;
    l.func_wrap("env", "promise_batch_then", |mut c: Ctx<'_>, p: u64, len: u64, ptr: u64| {
        mem(&mut c, |m, s| s.promise_batch_then(m, p, len, ptr))
    })?;
    l.func_wrap("env", "promise_and", |mut c: Ctx<'_>, ptr: u64, n: u64| mem(&mut c, |m, s| s.promise_and(m, ptr, n)))?;
    l.func_wrap("env", "promise_result", |mut c: Ctx<'_>, idx: u64, reg: u64| {
        st(&mut c, |s| s.promise_result(idx, reg))
    })?;
    l.func_wrap("env", "promise_results_count", |mut c: Ctx<'_>| st(&mut c, |s| s.promise_results_count()))?;
    l.func_wrap("env", "promise_return", |mut c: Ctx<'_>, p: u64| st(&mut c, |s| s.promise_return(p)))?;
    l.func_wrap(
        "env",
        "promise_yield_create",
        |mut c: Ctx<'_>, ml: u64, mp: u64, al: u64, ap: u64, gas: u64, w: u64, reg: u64| {
            mem(&mut c, |m, s| s.promise_yield_create(m, (ml, mp), (al, ap), gas, w, reg))
        },
    )?;
    l.func_wrap("env", "promise_yield_resume", |mut c: Ctx<'_>, dl: u64, dp: u64, pl: u64, pp: u64| {
        mem(&mut c, |m, s| s.promise_yield_resume(m, (dl, dp), (pl, pp)))
    })?;
    l.func_wrap(
        "env",
        "promise_batch_action_function_call",
        |mut c: Ctx<'_>, p: u64, ml: u64, mp: u64, al: u64, ap: u64, amount: u64, gas: u64| {
            mem(&mut c, |m, s| s.promise_batch_action_function_call_weight(m, p, (ml, mp), (al, ap), amount, gas, 0))
        },
    )?;
    l.func_wrap(
        "env",
        "promise_batch_action_function_call_weight",
        |mut c: Ctx<'_>, p: u64, ml: u64, mp: u64, al: u64, ap: u64, amount: u64, gas: u64, w: u64| {
            mem(&mut c, |m, s| s.promise_batch_action_function_call_weight(m, p, (ml, mp), (al, ap), amount, gas, w))
        },
    )?;
    l.func_wrap("env", "promise_batch_action_transfer", |mut c: Ctx<'_>, p: u64, amount: u64| {
        mem(&mut c, |m, s| s.promise_batch_action_transfer(m, p, amount))
    })?;
    Ok(())
}

fn link_actions(l: &mut Linker<HostState>) -> Result<(), wasmi::errors::LinkerError> {
    l.func_wrap("env", "promise_batch_action_create_account", |mut c: Ctx<'_>, p: u64| {
        st(&mut c, |s| s.promise_batch_action_simple(p, Action::CreateAccount))
    })?;
    l.func_wrap("env", "promise_batch_action_deploy_contract", |mut c: Ctx<'_>, p: u64, len: u64, ptr: u64| {
        mem(&mut c, |m, s| s.promise_batch_action_code(m, p, len, ptr, None))
    })?;
    l.func_wrap("env", "promise_batch_action_deploy_global_contract", |mut c: Ctx<'_>, p: u64, len: u64, ptr: u64| {
        mem(&mut c, |m, s| s.promise_batch_action_code(m, p, len, ptr, Some(false)))
    })?;
    l.func_wrap(
        "env",
        "promise_batch_action_deploy_global_contract_by_account_id",
        |mut c: Ctx<'_>, p: u64, len: u64, ptr: u64| {
            mem(&mut c, |m, s| s.promise_batch_action_code(m, p, len, ptr, Some(true)))
        },
    )?;
    l.func_wrap("env", "promise_batch_action_use_global_contract", |mut c: Ctx<'_>, p: u64, len: u64, ptr: u64| {
        mem(&mut c, |m, s| s.promise_batch_action_use_global(m, p, len, ptr, false))
    })?;
    l.func_wrap(
        "env",
        "promise_batch_action_use_global_contract_by_account_id",
        |mut c: Ctx<'_>, p: u64, len: u64, ptr: u64| {
            mem(&mut c, |m, s| s.promise_batch_action_use_global(m, p, len, ptr, true))
        },
    )?;
    l.func_wrap("env", "promise_batch_action_stake", |mut c: Ctx<'_>, p: u64, amount: u64, kl: u64, kp: u64| {
        mem(&mut c, |m, s| s.promise_batch_action_stake_or_gas(m, p, amount, (kl, kp), true))
    })?;
    l.func_wrap(
        "env",
        "promise_batch_action_transfer_to_gas_key",
        |mut c: Ctx<'_>, p: u64, kl: u64, kp: u64, amount: u64| {
            mem(&mut c, |m, s| s.promise_batch_action_stake_or_gas(m, p, amount, (kl, kp), false))
        },
    )?;
    l.func_wrap(
        "env",
        "promise_batch_action_add_key_with_full_access",
        |mut c: Ctx<'_>, p: u64, kl: u64, kp: u64, nonce: u64| {
            mem(&mut c, |m, s| {
                let public_key = s.public_key(m, kl, kp)?;
                s.promise_batch_action_simple(p, Action::AddFullAccessKey { public_key, nonce })
            })
        },
    )?;
    l.func_wrap(
        "env",
        "promise_batch_action_add_gas_key_with_full_access",
        |mut c: Ctx<'_>, p: u64, kl: u64, kp: u64, num_nonces: u64| {
            mem(&mut c, |m, s| {
                let public_key = s.public_key(m, kl, kp)?;
                s.promise_batch_action_simple(p, Action::AddGasKeyFullAccess { public_key, num_nonces })
            })
        },
    )?;
    l.func_wrap(
        "env",
        "promise_batch_action_add_key_with_function_call",
        |mut c: Ctx<'_>, p: u64, kl: u64, kp: u64, nonce: u64, al: u64, rl: u64, rp: u64, nl: u64, np: u64| {
            mem(&mut c, |m, s| {
                let public_key = s.public_key(m, kl, kp)?;
                let (allowance, receiver_id, method_names) = s.function_call_key(m, al, (rl, rp), (nl, np))?;
                s.promise_batch_action_simple(
                    p,
                    Action::AddFunctionCallKey { public_key, nonce, allowance, receiver_id, method_names },
                )
            })
        },
    )?;
    l.func_wrap(
        "env",
        "promise_batch_action_add_gas_key_with_function_call",
        |mut c: Ctx<'_>, p: u64, kl: u64, kp: u64, num_nonces: u64, al: u64, rl: u64, rp: u64, nl: u64, np: u64| {
            mem(&mut c, |m, s| {
                let public_key = s.public_key(m, kl, kp)?;
                let (allowance, receiver_id, method_names) = s.function_call_key(m, al, (rl, rp), (nl, np))?;
                s.promise_batch_action_simple(
                    p,
                    Action::AddGasKeyFunctionCall { public_key, num_nonces, allowance, receiver_id, method_names },
                )
            })
        },
    )?;
    l.func_wrap("env", "promise_batch_action_delete_key", |mut c: Ctx<'_>, p: u64, kl: u64, kp: u64| {
        mem(&mut c, |m, s| {
            let public_key = s.public_key(m, kl, kp)?;
            s.promise_batch_action_simple(p, Action::DeleteKey { public_key })
        })
    })?;
    l.func_wrap("env", "promise_batch_action_delete_account", |mut c: Ctx<'_>, p: u64, len: u64, ptr: u64| {
        mem(&mut c, |m, s| s.promise_batch_action_delete_account(m, p, len, ptr))
    })?;
    Ok(())
}
