//! A lower bound on the real time that the host cannot move: walk the light
//! client from the measured trust anchor to the chain's current head over RPC,
//! verifying every step, and take the head's block time.
//!
//! This owns the walk ([`verified_chain_head`]) and the bound it yields
//! ([`ChainHead::lower_bound_secs`]). The caller owns transport (a
//! [`Caller`]) and what the time is used for: today, the check time of the
//! `local-sgx` provider's collateral, so that a host which sets the clock
//! forward cannot replay CRLs and TCB info older than the chain's head.
//!
//! Why it is a sound lower bound:
//! - every block is verified from the anchor on (approvals by more than 2/3
//!   of each epoch's stake, `next_bps` chained), so a head *newer* than real
//!   time needs a 2/3 stake collusion; and a later check time only expires
//!   collateral, it never revives any;
//! - a head *older* than the chain's is what a lying endpoint can give (it
//!   answers "nothing newer" early). Every endpoint continues from the best
//!   head verified so far, and the walk must be ended ("nothing newer") by an
//!   endpoint the host cannot impersonate when there is one: if any `https`
//!   endpoint is configured, one of them must end it. Plain-HTTP-only
//!   configurations (CI) get `authenticated = false`, and say so;
//! - honest validators refuse blocks whose time is far ahead of their clock,
//!   and the head may be up to a few seconds old when it is read, so the
//!   bound is the head's time minus [`CHAIN_TIME_ALLOWANCE_SECS`].
//!
//! The walk costs one call per epoch between the anchor and the head, plus two
//! per endpoint that ends it ("nothing newer", then its final block's epoch).
//! nearcore answers from the epoch after the asked block's, so the anchor must
//! carry its next epoch's producers; and it only answers for epochs it still
//! stores, so an anchor older than an endpoint's history needs an archival one.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde_json::Value;
use tdsigner_near::rpc::http::Limits;
use tdsigner_near::rpc::pool::Caller;
use tdsigner_near::rpc::request::{block_by_finality, next_light_client_block, Finality};
use tdsigner_near::view::{is_nothing_newer, light_client_block_from_value};
use tdsigner_near::{CryptoHash, LightClientState};

/// Subtracted from the head's block time: clock error an honest validator set
/// tolerates, plus the head's age when it is read (nearcore's light-client
/// head is the last final block, seconds old). Collateral windows are days.
pub const CHAIN_TIME_ALLOWANCE_SECS: u64 = 600;

/// Bounds on one walk.
#[derive(Clone, Copy, Debug)]
pub struct WalkLimits {
    /// Verified blocks at most (each crosses at most one epoch).
    pub max_steps: u32,
    /// The whole walk, all endpoints, in milliseconds.
    pub total_ms: u64,
    /// Per answer.
    pub rpc: Limits,
}

impl Default for WalkLimits {
    fn default() -> Self {
        // 1024 epochs is 1.4 years of mainnet's 12-hour epochs.
        WalkLimits { max_steps: 1024, total_ms: 15 * 60 * 1000, rpc: Limits::default() }
    }
}

/// The verified head a walk reached.
#[derive(Clone, Debug)]
pub struct ChainHead {
    pub state: LightClientState,
    /// Blocks verified from the anchor.
    pub steps: u32,
    /// RPC calls made.
    pub calls: u32,
    /// The endpoint that last answered "nothing newer".
    pub ended_by: usize,
    /// Whether an endpoint the host cannot impersonate (`https`) answered
    /// "nothing newer" for this head or an older one.
    pub authenticated: bool,
}

impl ChainHead {
    /// The head's block time, seconds since the Unix epoch.
    pub fn head_secs(&self) -> u64 {
        self.state.head().inner_lite.timestamp / 1_000_000_000
    }

    /// What the walk proves about the time at which it ended.
    pub fn lower_bound_secs(&self) -> u64 {
        self.head_secs().saturating_sub(CHAIN_TIME_ALLOWANCE_SECS)
    }
}

/// Why no verified head came out of a walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainTimeError {
    NoEndpoints,
    /// The platform demands an authenticated end to the walk (TDX: the host
    /// is the adversary) and no `https` endpoint is configured.
    NoHttpsEndpoint,
    /// The anchor does not carry its next epoch's producers, so no block past
    /// its epoch can be verified.
    AnchorWithoutNextProducers,
    TooManySteps { max: u32 },
    TimeLimit { limit_ms: u64, steps: u32 },
    /// No endpoint ended the walk with "nothing newer"; why each stopped.
    NotEnded { steps: u32, failures: Vec<(usize, String)> },
    /// `https` endpoints are configured, but only plain-HTTP ones ended the
    /// walk (the host can answer for those).
    NotEndedByHttps { steps: u32, failures: Vec<(usize, String)> },
}

impl fmt::Display for ChainTimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, failures: &[(usize, String)]| -> fmt::Result {
            for (i, (endpoint, why)) in failures.iter().enumerate() {
                write!(f, "{}endpoint {endpoint}: {why}", if i == 0 { " (" } else { "; " })?;
            }
            if failures.is_empty() {
                Ok(())
            } else {
                f.write_str(")")
            }
        };
        match self {
            Self::NoEndpoints => f.write_str("no rpc endpoint is configured"),
            Self::NoHttpsEndpoint => f.write_str(
                "no https rpc endpoint is configured: over plain HTTP the host could answer for every endpoint and hold the time back",
            ),
            Self::AnchorWithoutNextProducers => {
                f.write_str("the trust anchor has no next-epoch producers, so the chain past its epoch cannot be verified")
            }
            Self::TooManySteps { max } => {
                write!(f, "more than {max} light-client steps from the trust anchor (refresh trust=; note that this re-keys the store)")
            }
            Self::TimeLimit { limit_ms, steps } => write!(f, "walk not finished within {limit_ms} ms ({steps} blocks verified)"),
            Self::NotEnded { steps, failures } => {
                write!(f, "no endpoint confirmed the chain's head ({steps} blocks verified)")?;
                list(f, failures)
            }
            Self::NotEndedByHttps { steps, failures } => {
                write!(f, "no https endpoint confirmed the chain's head ({steps} blocks verified)")?;
                list(f, failures)
            }
        }
    }
}

/// Walks from `anchor` to the newest head the endpoints can prove.
///
/// Endpoints are asked `https` ones first (so a plain-HTTP endpoint that is a
/// block ahead cannot leave them asked about a hash they do not know yet),
/// each continuing from the best head verified so far, until it answers
/// "nothing newer", fails, or sends a block that does not verify. "Nothing
/// newer" counts only if the same endpoint's final block is in the walked
/// head's epoch or the next: nearcore also answers `{}` when it lacks the
/// history asked about (a node that synced later or dropped old epochs), and
/// that must not pass for "the anchor is current". `https[i]` says whether
/// endpoint `i` is authenticated;
/// `require_https` refuses a configuration without any (the image sets it on
/// TDX, where the host is the adversary; plain-HTTP tests run emulated).
/// `now_ms` is a monotonic clock for [`WalkLimits::total_ms`]; the caller's
/// [`Caller`] bounds each call.
pub fn verified_chain_head<C: Caller>(
    caller: &mut C,
    https: &[bool],
    require_https: bool,
    anchor: LightClientState,
    limits: WalkLimits,
    now_ms: &mut dyn FnMut() -> u64,
) -> Result<ChainHead, ChainTimeError> {
    let endpoints = caller.endpoints();
    if endpoints == 0 {
        return Err(ChainTimeError::NoEndpoints);
    }
    if anchor.next_producers().is_none() {
        return Err(ChainTimeError::AnchorWithoutNextProducers);
    }
    let is_https = |e: usize| https.get(e).copied().unwrap_or(false);
    let want_https = (0..endpoints).any(is_https);
    if require_https && !want_https {
        return Err(ChainTimeError::NoHttpsEndpoint);
    }
    let started = now_ms();
    let mut best = anchor;
    let (mut steps, mut calls) = (0u32, 0u32);
    let mut failures: Vec<(usize, String)> = Vec::new();
    // The last endpoint that answered "nothing newer", and whether an https
    // one did. Such an answer about an older head still counts: the heads
    // verified after it are only newer.
    let (mut ended_by, mut ended_by_https) = (None, false);
    let order = (0..endpoints).filter(|&e| is_https(e)).chain((0..endpoints).filter(|&e| !is_https(e)));
    for endpoint in order {
        loop {
            if now_ms().saturating_sub(started) > limits.total_ms {
                return Err(ChainTimeError::TimeLimit { limit_ms: limits.total_ms, steps });
            }
            calls = calls.saturating_add(1);
            let req = next_light_client_block(u64::from(calls), &best.head_hash());
            let answer = match caller.call(endpoint, &req, limits.rpc) {
                Ok(v) => v,
                Err(e) => {
                    failures.push((endpoint, printable(&e.to_string())));
                    break;
                }
            };
            if is_nothing_newer(&answer) {
                calls = calls.saturating_add(1);
                match confirm_current(caller, endpoint, u64::from(calls), &best, limits.rpc) {
                    Ok(()) => {
                        ended_by = Some(endpoint);
                        ended_by_https |= is_https(endpoint);
                    }
                    Err(why) => failures.push((endpoint, why)),
                }
                break;
            }
            let block = match light_client_block_from_value(answer) {
                Ok(b) => b,
                Err(e) => {
                    failures.push((endpoint, printable(&format!("answer: {e}"))));
                    break;
                }
            };
            if let Err(e) = best.advance(&block) {
                failures.push((endpoint, printable(&format!("block at height {} refused: {e}", block.inner_lite.height))));
                break;
            }
            steps = steps.saturating_add(1);
            if steps > limits.max_steps {
                return Err(ChainTimeError::TooManySteps { max: limits.max_steps });
            }
        }
    }
    match ended_by {
        None => Err(ChainTimeError::NotEnded { steps, failures }),
        Some(_) if want_https && !ended_by_https => Err(ChainTimeError::NotEndedByHttps { steps, failures }),
        Some(endpoint) => Ok(ChainHead { state: best, steps, calls, ended_by: endpoint, authenticated: ended_by_https }),
    }
}

/// Asks `endpoint` for its final block and accepts its "nothing newer" only
/// if that block is in `head`'s epoch or the next one. The block itself is
/// not verified (it only has to show the endpoint is not epochs behind or
/// missing history); an endpoint that lies about it could have lied with
/// `{}` anyway.
fn confirm_current<C: Caller>(caller: &mut C, endpoint: usize, id: u64, head: &LightClientState, limits: Limits) -> Result<(), String> {
    let req = block_by_finality(id, Finality::Final);
    let block = caller.call(endpoint, &req, limits).map_err(|e| printable(&format!("final block: {e}")))?;
    let epoch = block
        .pointer("/header/epoch_id")
        .and_then(Value::as_str)
        .and_then(|s| CryptoHash::from_base58(s).ok())
        .ok_or_else(|| String::from("final block: no header.epoch_id"))?;
    let lite = &head.head().inner_lite;
    if epoch == lite.epoch_id || epoch == lite.next_epoch_id {
        Ok(())
    } else {
        Err(format!(
            "says nothing is newer than height {}, but its final block is in another epoch (it lacks the history from the trust anchor: use an archival endpoint)",
            lite.height
        ))
    }
}

/// Endpoint text goes into log lines: no control characters, bounded.
fn printable(s: &str) -> String {
    s.chars().take(300).map(|c| if c.is_control() { ' ' } else { c }).collect()
}
