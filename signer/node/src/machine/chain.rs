//! Following the chain: advancing the light client (every header verified, the state
//! persisted so a restart resumes), scanning blocks for sign-request candidates (unverified),
//! and turning candidates into proven requests: receipt proof against the verified head, the
//! executing block's `random_value` from re-hashed headers, and tdsigner-near's
//! `sign_request_from_proof`. Only what survives all of that is ever signed.

use alloc::string::ToString;
use alloc::vec::Vec;

use serde_json::Value;
use tdsigner_near::header::{entropy_for, full_header_from_value, FullHeader};
use tdsigner_near::rpc::request as near_req;
use tdsigner_near::rpc::stream::CallError;
use tdsigner_near::sign_request::sign_request_from_proof;
use tdsigner_near::view::{execution_proof_from_value, is_nothing_newer, light_client_block_from_value, ViewError};
use tdsigner_near::{CryptoHash, LightClientState, ProvenOutcome};
use tdsigner_store::BlockDevice;

use super::discovery::{block_summary, sign_candidates};
use super::env::Env;
use super::node::{Candidate, Node, PendingRequest, ReqState};

/// Light-client steps per poll (each may cross an epoch).
const LC_STEPS_PER_POLL: usize = 4;
/// Ancestors fetched at most to find a receipt's executing block.
const MAX_ANCESTORS: usize = 8;
/// Proven request ids kept for [`Node::proven_requests`].
const PROVEN_LOG: usize = 4096;
/// Unproven candidates queued per reporting endpoint.
const MAX_CANDIDATES_PER_ENDPOINT: usize = 1024;
/// Proven requests kept (they cost the chain's users gas; this only bounds memory).
const MAX_REQUESTS: usize = 16 * 1024;

/// Whether an endpoint answered "no such block" (a skipped height), as opposed to failing.
fn unknown_block(e: &CallError) -> bool {
    matches!(e, CallError::Answer(tdsigner_near::rpc::request::AnswerError::View(ViewError::Rpc { name, .. })) if name == "UNKNOWN_BLOCK")
}

impl<D: BlockDevice> Node<D> {
    /// One round of chain work; returns whether anything moved.
    pub(super) fn follow_chain<E: Env + ?Sized>(&mut self, env: &mut E, now: u64) -> bool {
        let mut moved = self.advance_light_client(env, now);
        moved |= self.scan_blocks(env);
        moved |= self.prove_candidates(env, now);
        moved
    }

    fn advance_light_client<E: Env + ?Sized>(&mut self, env: &mut E, now: u64) -> bool {
        let mut moved = false;
        for _ in 0..LC_STEPS_PER_POLL {
            let req = near_req::next_light_client_block(self.rpc.id(), &self.lc.head_hash());
            let lc: &LightClientState = &self.lc;
            let mut rejected = 0u64;
            let mut why: Option<alloc::string::String> = None;
            let got = self.rpc.call_with(env, &req, |v: Value| {
                if is_nothing_newer(&v) {
                    return Ok(None);
                }
                let block = light_client_block_from_value(v).map_err(|e| e.to_string())?;
                match lc.verify(&block) {
                    Ok(_) => Ok(Some(block)),
                    Err(e) => {
                        rejected += 1;
                        let text = e.to_string();
                        why = Some(text.chars().take(200).collect());
                        Err(text)
                    }
                }
            });
            self.metrics.light_client_rejected += rejected;
            if why.is_some() {
                self.lc_rejection = why;
            }
            match got {
                Ok(Some(block)) => match self.lc.advance(&block) {
                    Ok(adv) => {
                        moved = true;
                        self.lc_rejection = None;
                        self.metrics.light_client_advances += 1;
                        self.lc_dirty = true;
                        if adv.epoch_changed {
                            self.persist_light_client(now, true);
                        }
                    }
                    Err(e) => {
                        self.metrics.light_client_rejected += 1;
                        self.lc_rejection = Some(e.to_string().chars().take(200).collect());
                        break;
                    }
                },
                Ok(None) => {
                    // "Nothing newer" cannot be checked: ask another endpoint first next
                    // time, so one that withholds the head delays us one poll, not forever.
                    self.rpc.prefer_next(env.rpc_endpoints());
                    break;
                }
                Err(_) => break,
            }
        }
        if self.scan_next.is_none() {
            // First start: requests made before this node existed are not its business.
            self.scan_next = Some(self.lc.head_height());
        }
        moved
    }

    /// Scans blocks up to the verified head for candidates. Every endpoint is asked (an
    /// endpoint can hide a receipt, and failover only helps against errors, not omissions):
    /// the candidates are the union, and a block counts as scanned once one endpoint answered
    /// it completely.
    fn scan_blocks<E: Env + ?Sized>(&mut self, env: &mut E) -> bool {
        let head = self.lc.head_height();
        let Some(mut next) = self.scan_next else { return false };
        // After a long absence, blocks older than any live request are skipped.
        let oldest_useful = head.saturating_sub(self.cfg.request_max_age_blocks);
        if next < oldest_useful {
            next = oldest_useful;
        }
        let mut moved = false;
        let mut budget = self.cfg.scan_blocks_per_poll;
        while next <= head && budget > 0 {
            budget -= 1;
            let mut complete = false;
            let mut skipped = 0;
            let endpoints = env.rpc_endpoints();
            for endpoint in 0..endpoints {
                match self.scan_block_at(env, endpoint, next) {
                    Ok(found) => {
                        complete = true;
                        let mut quota =
                            MAX_CANDIDATES_PER_ENDPOINT.saturating_sub(self.candidates.values().filter(|c| c.source == endpoint).count());
                        for id in found {
                            if self.handled_requests.contains(&id) || self.candidates.contains_key(&id) {
                                continue;
                            }
                            self.metrics.requests_seen += 1;
                            if quota == 0 {
                                // This endpoint already has its share of unproven candidates
                                // queued: a liar cannot crowd out what others report.
                                self.metrics.requests_unproven += 1;
                                continue;
                            }
                            quota -= 1;
                            self.candidates.insert(id, Candidate { seen_height: next, next_try_ms: 0, source: endpoint, attempts: 0 });
                        }
                    }
                    Err(true) => skipped += 1,
                    Err(false) => {}
                }
            }
            if !complete && skipped == endpoints && next < head {
                // No endpoint has a block at this height (a skipped height).
                next += 1;
                continue;
            }
            if !complete {
                self.metrics.scan_errors += 1;
                break;
            }
            self.metrics.blocks_scanned += 1;
            moved = true;
            next += 1;
        }
        if self.scan_next != Some(next) {
            self.scan_next = Some(next);
            self.lc_dirty = true;
        }
        moved
    }

    /// Candidates in block `height` according to one endpoint. `Err(true)`: the endpoint says
    /// there is no such block; `Err(false)`: it failed.
    fn scan_block_at<E: Env + ?Sized>(&mut self, env: &mut E, endpoint: usize, height: u64) -> Result<Vec<CryptoHash>, bool> {
        let req = super::rpc::block_by_height(self.rpc.id(), height);
        let v = match self.rpc.call_one(env, endpoint, &req) {
            Ok(v) => v,
            Err(e) => return Err(unknown_block(&e)),
        };
        let summary = block_summary(&v).map_err(|_| false)?;
        if summary.height != height {
            return Err(false);
        }
        let mut out = Vec::new();
        for chunk in &summary.chunks {
            let req = near_req::chunk(self.rpc.id(), &summary.hash, chunk.shard_id);
            let v = self.rpc.call_one(env, endpoint, &req).map_err(|_| false)?;
            out.extend(sign_candidates(&v, &self.cfg.contract_id).map_err(|_| false)?);
        }
        Ok(out)
    }

    fn prove_candidates<E: Env + ?Sized>(&mut self, env: &mut E, now: u64) -> bool {
        let head = self.lc.head_height();
        let max_age = self.cfg.candidate_max_age_blocks;
        // Fewest attempts first: a real candidate is usually proven within one or two tries,
        // invented ones keep failing and sink to the back.
        let mut due: Vec<(u32, u64, CryptoHash)> =
            self.candidates.iter().filter(|(_, c)| c.next_try_ms <= now).map(|(id, c)| (c.attempts, c.seen_height, *id)).collect();
        due.sort();
        let due: Vec<CryptoHash> = due.into_iter().take(self.cfg.proofs_per_poll).map(|(_, _, id)| id).collect();
        let mut moved = false;
        for id in due {
            match self.prove(env, &id) {
                Ok(Some(req)) => {
                    self.candidates.remove(&id);
                    self.handled_requests.insert(id);
                    moved = true;
                    self.add_request(req, now);
                }
                Ok(None) => {
                    // Proven, but not an actionable sign request (failed call, foreign log...).
                    self.candidates.remove(&id);
                    self.handled_requests.insert(id);
                    self.metrics.requests_unproven += 1;
                }
                Err(()) => {
                    let Some(c) = self.candidates.get_mut(&id) else { continue };
                    if head.saturating_sub(c.seen_height) > max_age {
                        self.candidates.remove(&id);
                        self.handled_requests.insert(id);
                        self.metrics.requests_unproven += 1;
                    } else {
                        c.attempts = c.attempts.saturating_add(1);
                        c.next_try_ms = now + self.cfg.chain_poll_ms;
                    }
                }
            }
        }
        moved
    }

    /// Proves one candidate. `Err(())`: no verifiable proof yet (retry later);
    /// `Ok(None)`: proven but not a request to act on.
    fn prove<E: Env + ?Sized>(&mut self, env: &mut E, receipt_id: &CryptoHash) -> Result<Option<tdsigner_near::SignRequest>, ()> {
        let head_hash = self.lc.head_hash();
        let root = self.lc.block_merkle_root();
        let req = near_req::receipt_proof(self.rpc.id(), receipt_id, &self.cfg.contract_id, &head_hash);
        let expected = *receipt_id;
        let proven: ProvenOutcome = self
            .rpc
            .call_with(env, &req, |v| {
                let proof = execution_proof_from_value(v).map_err(|e| e.to_string())?;
                let p = proof.verify(&root).map_err(|e| e.to_string())?;
                if p.id != expected {
                    return Err("proof for another receipt".into());
                }
                Ok(p)
            })
            .map_err(|_| ())?;
        // Headers from the proven block back to the executing one, each re-hashed and linked.
        let mut headers: Vec<FullHeader> = Vec::new();
        let mut want = proven.block_hash;
        for _ in 0..=MAX_ANCESTORS {
            let req = near_req::block_by_hash(self.rpc.id(), &want);
            let h = self
                .rpc
                .call_with(env, &req, |v| {
                    let h = full_header_from_value(v).map_err(|e| e.to_string())?;
                    if h.hash != want {
                        return Err("header for another block".into());
                    }
                    Ok(h)
                })
                .map_err(|_| ())?;
            want = h.lite.prev_block_hash;
            headers.push(h);
            if headers.len() >= 2 {
                if let Ok(entropy) = entropy_for(&proven, &headers) {
                    return Ok(sign_request_from_proof(&proven, &self.cfg.contract_id, &entropy).ok());
                }
            }
        }
        // No executing block within reach: not something this node can sign.
        Ok(None)
    }

    fn add_request(&mut self, req: tdsigner_near::SignRequest, now: u64) {
        self.metrics.requests_proven += 1;
        self.proven_log.push_back(req.request_id);
        while self.proven_log.len() > PROVEN_LOG {
            self.proven_log.pop_front();
        }
        if req.domain_id != self.cfg.domain_id || !matches!(req.payload, tdsigner_near::sign_request::Payload::Ecdsa(_)) {
            self.metrics.requests_dropped += 1;
            return;
        }
        let height = self.lc.head_height();
        if self.requests.len() >= MAX_REQUESTS && !self.requests.contains_key(&req.request_id) {
            self.metrics.requests_dropped += 1;
            return;
        }
        self.requests.entry(req.request_id).or_insert(PendingRequest {
            req,
            height,
            state: ReqState::Idle,
            next_action_ms: 0,
            attempts: 0,
            known_ms: now,
        });
    }
}
