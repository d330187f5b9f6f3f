//! Several endpoints: failover (try the next endpoint on any transport,
//! HTTP or answer error) and cross-checking (ask several and require
//! agreement). Neither adds trust — everything acted on is verified by the
//! light client — but failover defeats a single withholding endpoint and
//! cross-checking exposes a lying one early (e.g. for `view_access_key`
//! nonces, which are not proven).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde_json::Value;

use super::http::Limits;
use super::request::{parse_answer, Request};
use super::stream::{CallError, StreamError};

/// Something that can run one JSON-RPC call against endpoint `index`.
pub trait Caller {
    fn endpoints(&self) -> usize;
    fn call(&mut self, endpoint: usize, req: &Request, limits: Limits) -> Result<Value, CallError>;
}

/// One endpoint's response body as the call's answer, for [`Caller`]s: a body
/// over `limits.max_body` is a transport failure (the pool moves on to the
/// next endpoint); anything else goes through [`parse_answer`].
pub fn answer_from_body(body: &[u8], req: &Request, limits: Limits) -> Result<Value, CallError> {
    if body.len() > limits.max_body {
        return Err(CallError::Stream(StreamError::Io));
    }
    parse_answer(body, req.id, limits.max_body).map_err(CallError::Answer)
}

/// Why a pooled call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolError {
    /// Every endpoint failed; the last error per endpoint.
    AllFailed(Vec<(usize, CallError)>),
    /// Endpoints answered differently.
    Disagreement { endpoints: Vec<usize> },
    /// Fewer than the required number of endpoints answered.
    NotEnoughAnswers { got: usize, needed: usize },
    NoEndpoints,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AllFailed(e) => {
                write!(f, "all {} endpoints failed", e.len())?;
                if let Some((i, err)) = e.last() {
                    write!(f, " (endpoint {i}: {err})")?;
                }
                Ok(())
            }
            Self::Disagreement { endpoints } => write!(f, "endpoints {endpoints:?} disagree"),
            Self::NotEnoughAnswers { got, needed } => write!(f, "{got} answers, {needed} needed"),
            Self::NoEndpoints => f.write_str("no endpoints"),
        }
    }
}

/// Round-robin failover with a preferred endpoint that moves on failure.
pub struct Pool<C: Caller> {
    pub caller: C,
    pub limits: Limits,
    preferred: usize,
}

impl<C: Caller> Pool<C> {
    pub fn new(caller: C, limits: Limits) -> Self {
        Self { caller, limits, preferred: 0 }
    }

    /// Tries each endpoint once, starting at the preferred one; the first good
    /// answer wins and its endpoint stays preferred. `check` lets the caller
    /// reject an answer (e.g. one that does not verify) and fail over.
    pub fn call_with<T>(&mut self, req: &Request, mut check: impl FnMut(Value) -> Result<T, String>) -> Result<T, PoolError> {
        let n = self.caller.endpoints();
        if n == 0 {
            return Err(PoolError::NoEndpoints);
        }
        let mut errors = Vec::new();
        for k in 0..n {
            let i = (self.preferred + k) % n;
            match self.caller.call(i, req, self.limits) {
                Ok(v) => match check(v) {
                    Ok(t) => {
                        self.preferred = i;
                        return Ok(t);
                    }
                    Err(reason) => errors.push((i, CallError::Answer(super::request::AnswerError::View(crate::view::ViewError::Unsupported { field: "answer", what: reason })))),
                },
                Err(e) => errors.push((i, e)),
            }
        }
        self.preferred = (self.preferred + 1) % n;
        Err(PoolError::AllFailed(errors))
    }

    pub fn call(&mut self, req: &Request) -> Result<Value, PoolError> {
        self.call_with(req, Ok)
    }

    /// Asks every endpoint; needs at least `quorum` answers and all answers
    /// (after `project`, which picks the part that must agree) equal.
    pub fn cross_check<T: PartialEq>(&mut self, req: &Request, quorum: usize, mut project: impl FnMut(&Value) -> Option<T>) -> Result<T, PoolError> {
        let n = self.caller.endpoints();
        let mut answers: Vec<(usize, Option<T>)> = Vec::new();
        for i in 0..n {
            if let Ok(v) = self.caller.call(i, req, self.limits) {
                answers.push((i, project(&v)));
            }
        }
        if answers.len() < quorum.max(1) {
            return Err(PoolError::NotEnoughAnswers { got: answers.len(), needed: quorum.max(1) });
        }
        let first_ok = answers.iter().all(|(_, a)| a.is_some());
        let agree = first_ok && answers.windows(2).all(|w| w[0].1 == w[1].1);
        if !agree {
            return Err(PoolError::Disagreement { endpoints: answers.iter().map(|(i, _)| *i).collect() });
        }
        answers.into_iter().next().and_then(|(_, a)| a).ok_or(PoolError::NoEndpoints)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::stream::StreamError;

    struct Fake(Vec<Result<Value, CallError>>);
    impl Caller for Fake {
        fn endpoints(&self) -> usize {
            self.0.len()
        }
        fn call(&mut self, i: usize, _: &Request, _: Limits) -> Result<Value, CallError> {
            self.0[i].clone()
        }
    }

    fn req() -> Request {
        crate::rpc::request::block_by_finality(1, crate::rpc::request::Finality::Final)
    }

    #[test]
    fn failover_and_cross_check() {
        let down = Err(CallError::Stream(StreamError::Connect));
        let mut p = Pool::new(Fake(vec![down.clone(), Ok(serde_json::json!(1)), Ok(serde_json::json!(2))]), Limits::default());
        assert_eq!(p.call(&req()).unwrap(), serde_json::json!(1));
        // Verified-answer failover: reject endpoint 1's answer, take endpoint 2's.
        let got = p.call_with(&req(), |v| if v == serde_json::json!(2) { Ok(2) } else { Err("bad".into()) }).unwrap();
        assert_eq!(got, 2);
        assert!(matches!(p.cross_check(&req(), 2, |v| v.as_u64()), Err(PoolError::Disagreement { .. })));
        let mut p = Pool::new(Fake(vec![down.clone(), Ok(serde_json::json!(5)), Ok(serde_json::json!(5))]), Limits::default());
        assert_eq!(p.cross_check(&req(), 2, |v| v.as_u64()).unwrap(), 5);
        assert!(matches!(p.cross_check(&req(), 3, |v| v.as_u64()), Err(PoolError::NotEnoughAnswers { .. })));
        let mut p = Pool::new(Fake(vec![down.clone(), down]), Limits::default());
        assert!(matches!(p.call(&req()), Err(PoolError::AllFailed(_))));
    }

    #[test]
    fn answer_from_body_bounds_then_parses() {
        let r = req();
        let body = format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, r.id);
        let limits = Limits::default();
        assert_eq!(answer_from_body(body.as_bytes(), &r, limits).unwrap(), serde_json::json!({}));
        // Over the bound: a transport failure, so the pool tries the next endpoint.
        let small = Limits { max_body: body.len() - 1, ..limits };
        assert_eq!(answer_from_body(body.as_bytes(), &r, small), Err(CallError::Stream(StreamError::Io)));
        // Another id or a null result: the answer is refused.
        let other = format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, r.id + 1);
        assert!(matches!(answer_from_body(other.as_bytes(), &r, limits), Err(CallError::Answer(_))));
        let null = format!(r#"{{"jsonrpc":"2.0","id":{},"result":null}}"#, r.id);
        assert!(matches!(answer_from_body(null.as_bytes(), &r, limits), Err(CallError::Answer(_))));
    }
}
