//! JSON-RPC over the [`Env`]: tdsigner-near's request builders and answer checks, and its
//! `Pool` for failover (an answer that fails the caller's check moves on to the next
//! endpoint) and cross-checking (views asked of every endpoint must agree).
//!
//! The pool is rebuilt per call around the borrowed `Env`; the endpoint that last gave an
//! accepted answer is remembered here and tried first next time.

use alloc::string::String;
use alloc::vec::Vec;

use serde_json::{json, Value};
use tdsigner_near::rpc::http::Limits;
use tdsigner_near::rpc::pool::{answer_from_body, Caller, Pool, PoolError};
use tdsigner_near::rpc::request::Request;
use tdsigner_near::rpc::stream::CallError;

use super::env::Env;

/// Calls and failures, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RpcCounters {
    pub calls: u64,
    pub failures: u64,
    /// Answers refused by a check (bad proof, bad header, wrong shape).
    pub rejected: u64,
}

struct EnvCaller<'a, E: Env + ?Sized> {
    env: &'a mut E,
    offset: usize,
    last: usize,
    counters: &'a mut RpcCounters,
    /// Endpoints not asked (answer as if down): plain-HTTP ones for views on TDX.
    excluded: &'a [usize],
}

impl<E: Env + ?Sized> Caller for EnvCaller<'_, E> {
    fn endpoints(&self) -> usize {
        self.env.rpc_endpoints()
    }

    fn call(&mut self, endpoint: usize, req: &Request, limits: Limits) -> Result<Value, CallError> {
        let n = self.env.rpc_endpoints().max(1);
        let real = (endpoint + self.offset) % n;
        if self.excluded.contains(&real) {
            return Err(CallError::Stream(tdsigner_near::rpc::stream::StreamError::Connect));
        }
        self.last = real;
        self.counters.calls += 1;
        let out = self.env.rpc(real, &req.body).and_then(|body| answer_from_body(&body, req, limits));
        if out.is_err() {
            self.counters.failures += 1;
        }
        out
    }
}

/// The node's RPC client state.
pub struct Rpc {
    next_id: u64,
    preferred: usize,
    pub limits: Limits,
    pub counters: RpcCounters,
}

impl Default for Rpc {
    fn default() -> Self {
        Self::new()
    }
}

impl Rpc {
    pub fn new() -> Self {
        Rpc { next_id: 1, preferred: 0, limits: Limits::default(), counters: RpcCounters::default() }
    }

    /// A fresh request id.
    pub fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    /// Failover: endpoints in turn (preferred first) until one answers and `check` accepts.
    pub fn call_with<E: Env + ?Sized, T>(
        &mut self,
        env: &mut E,
        req: &Request,
        mut check: impl FnMut(Value) -> Result<T, String>,
    ) -> Result<T, PoolError> {
        let limits = self.limits;
        let counters = &mut self.counters;
        let mut rejected = 0;
        let mut caller = EnvCaller { env, offset: self.preferred, last: self.preferred, counters, excluded: &[] };
        let out = {
            let mut pool = Pool::new(&mut caller, limits);
            pool.call_with(req, |v| {
                let r = check(v);
                if r.is_err() {
                    rejected += 1;
                }
                r
            })
        };
        let last = caller.last;
        self.counters.rejected += rejected;
        if out.is_ok() {
            self.preferred = last;
        }
        out
    }

    /// Makes the next endpoint the first one asked. For answers a liar can give
    /// without being caught (light-client "nothing newer"): believing one
    /// endpoint for one poll only, then the next, bounds what withholding costs.
    pub fn prefer_next(&mut self, endpoints: usize) {
        if endpoints > 0 {
            self.preferred = (self.preferred + 1) % endpoints;
        }
    }

    /// One call to one endpoint (no failover): for the callers that ask every endpoint.
    pub fn call_one<E: Env + ?Sized>(&mut self, env: &mut E, endpoint: usize, req: &Request) -> Result<Value, CallError> {
        let limits = self.limits;
        let mut caller = EnvCaller { env, offset: 0, last: 0, counters: &mut self.counters, excluded: &[] };
        caller.call(endpoint, req, limits)
    }

    /// Asks every endpoint but the `excluded` ones; at least `quorum` must answer (failed
    /// and excluded endpoints do not count) and all projections agree.
    pub fn cross_check<E: Env + ?Sized, T: PartialEq>(
        &mut self,
        env: &mut E,
        req: &Request,
        quorum: usize,
        excluded: &[usize],
        project: impl FnMut(&Value) -> Option<T>,
    ) -> Result<T, PoolError> {
        let limits = self.limits;
        let n = env.rpc_endpoints();
        let mut caller = EnvCaller { env, offset: 0, last: 0, counters: &mut self.counters, excluded };
        let mut pool = Pool::new(&mut caller, limits);
        pool.cross_check(req, quorum.clamp(1, n.max(1)), project)
    }
}

// `Pool` wants an owned `Caller`; a mutable reference to one is one too.
impl<E: Env + ?Sized> Caller for &mut EnvCaller<'_, E> {
    fn endpoints(&self) -> usize {
        (**self).endpoints()
    }
    fn call(&mut self, endpoint: usize, req: &Request, limits: Limits) -> Result<Value, CallError> {
        (**self).call(endpoint, req, limits)
    }
}

fn build(id: u64, method: &'static str, params: Value) -> Request {
    let v = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    Request { id, method, body: serde_json::to_vec(&v).unwrap_or_default() }
}

/// `block` by height (tdsigner-near builds by hash or finality only).
pub fn block_by_height(id: u64, height: u64) -> Request {
    build(id, "block", json!({ "block_id": height }))
}

/// A `call_function` view of `contract` with JSON `args`, at final finality.
pub fn view(id: u64, contract: &str, method: &str, args: &Value) -> Request {
    let bytes = serde_json::to_vec(args).unwrap_or_default();
    tdsigner_near::rpc::request::call_function(id, contract, method, &bytes, tdsigner_near::rpc::request::Finality::Final)
}

/// Why an RPC step failed (for logs/metrics; never carries answer bytes).
pub fn describe(e: &PoolError) -> String {
    alloc::format!("{e}")
}

/// The bytes of a `call_function` answer.
pub fn view_result(v: &Value) -> Option<Vec<u8>> {
    tdsigner_near::rpc::request::call_function_result(v)
}
