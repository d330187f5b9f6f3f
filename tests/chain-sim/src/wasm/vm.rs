//! One contract binary on the wasmi engine: compiled once, instantiated
//! fresh for every call (as nearcore does), with an instruction budget
//! (wasmi fuel) per call so a runaway contract ends with
//! [`CallError::BudgetExhausted`] instead of hanging the simulator, and
//! nearcore's memory limit (2048 pages).

use sha2::Digest;
use wasmi::{Config, Engine, Linker, Module, Store, TrapCode};

use super::host::{HostError, HostState};
use super::imports;

/// Default instruction budget of one call: about nearcore's 300 Tgas at its
/// `regular_op_cost` of 822756 gas per instruction.
pub const DEFAULT_FUEL: u64 = 365_000_000;

/// Why a call did not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// A host function stopped the call (guest panic, limits, bad input).
    Host(HostError),
    /// The instruction budget ran out.
    BudgetExhausted { budget: u64 },
    /// The Wasm code trapped (unreachable, out-of-bounds access, stack overflow, …).
    Trap(String),
    /// No exported `() -> ()` function of that name.
    MethodNotFound(String),
    /// Instantiation failed (memory limit, start function).
    Instantiate(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Host(e) => write!(f, "{e}"),
            CallError::BudgetExhausted { budget } => write!(f, "instruction budget of {budget} exhausted"),
            CallError::Trap(t) => write!(f, "wasm trap: {t}"),
            CallError::MethodNotFound(m) => write!(f, "MethodNotFound: {m}"),
            CallError::Instantiate(e) => write!(f, "instantiation failed: {e}"),
        }
    }
}

/// Loading a binary failed.
#[derive(Debug)]
pub enum LoadError {
    Compile(String),
    Link(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Compile(e) => write!(f, "contract does not compile: {e}"),
            LoadError::Link(e) => write!(f, "host functions do not link: {e}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// A compiled contract with NEAR's host functions linked.
pub struct ContractCode {
    module: Module,
    linker: Linker<HostState>,
    engine: Engine,
    pub sha256: [u8; 32],
    pub size: usize,
}

/// The state after a call (logs, storage changes, receipts, return data)
/// and how it ended.
pub struct CallResult {
    pub state: HostState,
    pub error: Option<CallError>,
    pub instructions: u64,
}

impl ContractCode {
    pub fn load(wasm: &[u8]) -> Result<Self, LoadError> {
        let mut config = Config::default();
        config.consume_fuel(true);
        let engine = Engine::new(&config);
        let module = Module::new(&engine, wasm).map_err(|e| LoadError::Compile(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        imports::link(&mut linker).map_err(|e| LoadError::Link(e.to_string()))?;
        Ok(ContractCode { module, linker, engine, sha256: sha2::Sha256::digest(wasm).into(), size: wasm.len() })
    }

    /// Names of the module's function exports.
    pub fn exports(&self) -> Vec<String> {
        self.module.exports().filter(|e| e.ty().func().is_some()).map(|e| e.name().to_string()).collect()
    }

    /// `(module, name)` of every import.
    pub fn imports(&self) -> Vec<(String, String)> {
        self.module.imports().map(|i| (i.module().to_string(), i.name().to_string())).collect()
    }

    /// Runs exported `method` with `state` and at most `fuel` instructions.
    pub fn call(&self, method: &str, mut state: HostState, fuel: u64) -> CallResult {
        state.fuel_budget = fuel;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let fail = |store: Store<HostState>, error: CallError, used: u64| CallResult {
            state: store.into_data(),
            error: Some(error),
            instructions: used,
        };
        if let Err(e) = store.set_fuel(fuel) {
            return fail(store, CallError::Instantiate(e.to_string()), 0);
        }
        let instance = match self.linker.instantiate_and_start(&mut store, &self.module) {
            Ok(instance) => instance,
            Err(e) => {
                let error = classify(e, fuel);
                let used = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
                return fail(store, error, used);
            }
        };
        store.data_mut().memory = instance.get_memory(&store, "memory");
        let func = match instance.get_typed_func::<(), ()>(&store, method) {
            Ok(func) => func,
            Err(_) => return fail(store, CallError::MethodNotFound(method.to_string()), 0),
        };
        let outcome = func.call(&mut store, ());
        let used = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let error = outcome.err().map(|e| classify(e, fuel));
        let mut state = store.into_data();
        state.instructions_used = used;
        state.memory = None;
        CallResult { state, error, instructions: used }
    }
}

fn classify(error: wasmi::Error, budget: u64) -> CallError {
    if let Some(host) = error.downcast_ref::<HostError>() {
        return CallError::Host(host.clone());
    }
    match error.as_trap_code() {
        Some(TrapCode::OutOfFuel) => CallError::BudgetExhausted { budget },
        Some(code) => CallError::Trap(code.to_string()),
        None => CallError::Trap(error.to_string()),
    }
}
