//! `chain_time::verified_chain_head` fed hostile RPC answers: each call gets
//! the next input segment (separated by `\n--\n`) as its JSON result, or a
//! transport error once they run out. The walk must end in a result or an
//! error, never a panic, within its step and call bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tdsigner_near::light_client::EpochProducers;
use tdsigner_near::rpc::http::Limits;
use tdsigner_near::rpc::pool::Caller;
use tdsigner_near::rpc::request::Request;
use tdsigner_near::rpc::stream::{CallError, StreamError};
use tdsigner_near::types::{BlockHeaderLite, InnerLite};
use tdsigner_near::{CryptoHash, LightClientState};
use tdsigner_node::chain_time::{verified_chain_head, WalkLimits};

struct Scripted<'a> {
    endpoints: usize,
    answers: std::vec::IntoIter<&'a [u8]>,
    calls: usize,
}

impl Caller for Scripted<'_> {
    fn endpoints(&self) -> usize {
        self.endpoints
    }
    fn call(&mut self, _endpoint: usize, _req: &Request, limits: Limits) -> Result<Value, CallError> {
        self.calls += 1;
        let bytes = self.answers.next().ok_or(CallError::Stream(StreamError::Io))?;
        tdsigner_near::view::parse_json(bytes, limits.max_body)
            .map_err(|e| CallError::Answer(tdsigner_near::rpc::request::AnswerError::View(e)))
    }
}

fn anchor() -> LightClientState {
    let (epoch, next) = (CryptoHash([1; 32]), CryptoHash([2; 32]));
    let inner_lite = InnerLite {
        height: 1000,
        epoch_id: epoch,
        next_epoch_id: next,
        prev_state_root: CryptoHash::default(),
        outcome_root: CryptoHash::default(),
        timestamp: 1_800_000_000_000_000_000,
        next_bp_hash: CryptoHash::default(),
        block_merkle_root: CryptoHash::default(),
        chunk_execution_root: None,
    };
    let head = BlockHeaderLite { prev_block_hash: CryptoHash::default(), inner_rest_hash: CryptoHash::default(), inner_lite };
    let set = |epoch_id| EpochProducers { epoch_id, producers: Vec::new() };
    match LightClientState::from_trusted_header_and_next(head, set(epoch), set(next)) {
        Ok(s) => s,
        Err(e) => panic!("fixed anchor: {e:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let endpoints = usize::from(flags & 3) + 1;
    let https: Vec<bool> = (0..endpoints).map(|i| flags & (4 << i) != 0).collect();
    let require_https = flags & 0x80 != 0;
    let mut segments = Vec::new();
    let mut start = 0;
    let sep = b"\n--\n";
    let mut i = 0;
    while i + sep.len() <= rest.len() {
        if &rest[i..i + sep.len()] == sep {
            segments.push(&rest[start..i]);
            i += sep.len();
            start = i;
        } else {
            i += 1;
        }
    }
    segments.push(&rest[start..]);
    let mut caller = Scripted { endpoints, answers: segments.into_iter(), calls: 0 };
    let limits = WalkLimits { max_steps: 8, total_ms: 1_000, rpc: Limits::default() };
    let mut clock = 0u64;
    let mut now = || {
        clock += 1;
        clock
    };
    let out = verified_chain_head(&mut caller, &https, require_https, anchor(), limits, &mut now);
    // Every endpoint ends after one refused or failed answer, or after its final-block
    // check; each verified block costs one call: the calls are bounded.
    assert!(caller.calls <= endpoints * 2 + 9 * endpoints, "{} calls", caller.calls);
    if let Ok(head) = out {
        assert!(head.steps <= 8);
        let _ = head.lower_bound_secs();
    }
});
