//! Signing proven requests: leader selection as near/mpc does it (per-request order by
//! `sha256(u32_le(id) ‖ request_id)`, the first *eligible* participant leads: connected and
//! not blamed for an abort recently), the leader's start message naming one of its
//! presignatures, the participants' checks (the request must be proven *by them*, the
//! presignature must be the leader's), the Sign run with the block's `random_value` as
//! rerandomization entropy, and the leader's `respond` transaction.

use alloc::vec::Vec;

use k256::elliptic_curve::PrimeField;
use tdsigner_near::sign_request::Payload;
use tdsigner_near::tx::{respond_args, Secp256k1Response};
use tdsigner_near::CryptoHash;
use tdsigner_p2p::ParticipantId;
use tdsigner_store::BlockDevice;
use tdsigner_tss::{FullSignature, Sign, SignRequest as TssRequest};

use super::coord::{Coord, DeclineReason};
use super::env::Env;
use super::node::{HeldStart, Node, ReqState};
use super::protocols::{leader_order, session_id, Instance, Proto, Purpose};

fn tss_request(req: &tdsigner_near::SignRequest) -> Option<TssRequest> {
    let Payload::Ecdsa(msg_hash) = req.payload else { return None };
    let tweak: Option<k256::Scalar> = k256::Scalar::from_repr(req.tweak.into()).into();
    Some(TssRequest { msg_hash, tweak: tweak?, entropy: req.entropy })
}

impl<D: BlockDevice> Node<D> {
    /// The leader of `request_id` in this node's view.
    fn current_leader(&self, request_id: &CryptoHash) -> Option<ParticipantId> {
        leader_order(&self.running_ids(), request_id).into_iter().find(|p| self.eligible(*p))
    }

    pub(super) fn signing_step<E: Env + ?Sized>(&mut self, env: &mut E, now: u64) {
        let head = self.lc.head_height();
        let max_age = self.cfg.request_max_age_blocks;
        // Expire.
        let old: Vec<CryptoHash> =
            self.requests.iter().filter(|(_, r)| head.saturating_sub(r.height) > max_age).map(|(id, _)| *id).collect();
        for id in old {
            self.requests.remove(&id);
            self.metrics.requests_dropped += 1;
        }
        if !self.signing_key_ok() {
            return;
        }
        let Some(me) = self.me else { return };
        let due: Vec<CryptoHash> = self.requests.iter().filter(|(_, r)| r.next_action_ms <= now).map(|(id, _)| *id).collect();
        for id in due {
            let Some(state) = self.requests.get(&id).map(|r| r.state.clone()) else { continue };
            match state {
                ReqState::Signing { session } => {
                    if !self.instances.contains_key(&session) {
                        if let Some(r) = self.requests.get_mut(&id) {
                            r.state = ReqState::Idle;
                        }
                    }
                }
                ReqState::Responded { at_ms } => {
                    if now.saturating_sub(at_ms) >= self.cfg.sign_retry_ms {
                        // Answered on chain? Otherwise try again.
                        match self.still_pending(env, &id) {
                            Some(false) => {
                                self.requests.remove(&id);
                            }
                            Some(true) => {
                                if let Some(r) = self.requests.get_mut(&id) {
                                    r.state = ReqState::Idle;
                                }
                            }
                            None => {
                                if let Some(r) = self.requests.get_mut(&id) {
                                    r.next_action_ms = now + self.cfg.sign_retry_ms;
                                }
                            }
                        }
                    }
                }
                ReqState::Idle => {
                    if self.current_leader(&id) != Some(me) {
                        // Someone else leads; look again later (leadership moves when peers drop).
                        if let Some(r) = self.requests.get_mut(&id) {
                            r.next_action_ms = now + 500;
                        }
                        continue;
                    }
                    self.lead(env, me, id, now);
                }
            }
        }
    }

    /// `Some(true)` if the contract still waits for a response to `id`.
    fn still_pending<E: Env + ?Sized>(&mut self, env: &mut E, id: &CryptoHash) -> Option<bool> {
        let r = self.requests.get(id)?;
        let Payload::Ecdsa(payload) = &r.req.payload else { return Some(false) };
        let args = serde_json::json!({ "request": {
            "tweak": r.req.tweak.to_vec(),
            "payload": { "Ecdsa": super::node::hex(payload) },
            "domain_id": r.req.domain_id,
        }});
        let bytes = self.contract_view(env, "get_pending_request", &args)?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        Some(!v.is_null())
    }

    /// Starts signing `id` as its leader, with one of this node's presignatures whose
    /// participants are all eligible.
    fn lead<E: Env + ?Sized>(&mut self, env: &mut E, me: ParticipantId, id: CryptoHash, now: u64) {
        // A retry, or a request we did not lead at first (leadership moved to us), may have
        // been answered meanwhile: ask the contract before spending a presignature.
        let (attempts, known) = self.requests.get(&id).map_or((0, now), |r| (r.attempts, r.known_ms));
        let stale = attempts > 0 || now.saturating_sub(known) >= self.cfg.sign_retry_ms;
        if stale && self.still_pending(env, &id) == Some(false) {
            self.requests.remove(&id);
            return;
        }
        let pick =
            self.presigs.iter().find(|(_, p)| p.owner == me && p.share.participants.iter().all(|q| self.eligible(q))).map(|(k, _)| *k);
        let Some(presig_id) = pick else {
            if let Some(r) = self.requests.get_mut(&id) {
                r.next_action_ms = now + 200;
            }
            return;
        };
        let Some(key) = self.active.as_ref().map(|a| a.share.clone()) else { return };
        let Some(tss_req) = self.requests.get(&id).and_then(|r| tss_request(&r.req)) else {
            self.requests.remove(&id);
            return;
        };
        let Some(presig) = self.consume_presig(&presig_id) else { return };
        let session = session_id(b"sign", &[&id.0, &presig_id]);
        let participants = presig.share.participants.as_slice().to_vec();
        let Ok(proto) = Sign::new(session, &key, presig.share, tss_req, me) else { return };
        let msg = Coord::StartSign { session, request_id: id.0, presignature: presig_id };
        for p in participants.iter().copied().filter(|p| *p != me) {
            self.send_coord(env, p, &msg);
        }
        if let Some(r) = self.requests.get_mut(&id) {
            r.state = ReqState::Signing { session };
            r.attempts += 1;
        }
        let inst = Instance {
            purpose: Purpose::Sign { request_id: id, leader: me },
            proto: Proto::Sign(proto),
            participants,
            me,
            started_ms: now,
            last_progress_ms: now,
        };
        self.start_instance(env, session, inst, now);
    }

    /// A participant's handling of a sign start: only for a request it proved itself.
    pub(super) fn on_start_sign<E: Env + ?Sized>(&mut self, env: &mut E, from: ParticipantId, msg: Coord, now: u64) {
        let Coord::StartSign { session, request_id, presignature } = msg else { return };
        let valid = session == session_id(b"sign", &[&request_id, &presignature])
            && !self.instances.contains_key(&session)
            && !self.finished.contains(&session);
        if !valid {
            return self.decline(env, from, session, DeclineReason::BadParameters);
        }
        let have_presig = self.presigs.get(&presignature).is_some_and(|p| p.owner == from);
        if !have_presig || !self.requests.contains_key(&CryptoHash(request_id)) {
            // Not proven here yet, or our presign run has not finished: hold it for a while.
            return self.hold_start(env, from, Coord::StartSign { session, request_id, presignature }, now);
        }
        self.join_sign(env, from, session, CryptoHash(request_id), presignature, now);
    }

    fn join_sign<E: Env + ?Sized>(
        &mut self,
        env: &mut E,
        from: ParticipantId,
        session: tdsigner_p2p::SessionId,
        id: CryptoHash,
        presig_id: [u8; 32],
        now: u64,
    ) {
        let Some(key) = self.active.as_ref().map(|a| a.share.clone()) else {
            return self.decline(env, from, session, DeclineReason::NoKey);
        };
        let Some(tss_req) = self.requests.get(&id).and_then(|r| tss_request(&r.req)) else {
            return self.decline(env, from, session, DeclineReason::NotProven);
        };
        let Some(presig) = self.consume_presig(&presig_id) else { return self.decline(env, from, session, DeclineReason::UnknownItem) };
        let participants = presig.share.participants.as_slice().to_vec();
        match Sign::new(session, &key, presig.share, tss_req, from) {
            Ok(proto) => {
                let inst = Instance {
                    purpose: Purpose::Sign { request_id: id, leader: from },
                    proto: Proto::Sign(proto),
                    participants,
                    me: key.me,
                    started_ms: now,
                    last_progress_ms: now,
                };
                self.start_instance(env, session, inst, now);
            }
            Err(_) => self.decline(env, from, session, DeclineReason::BadParameters),
        }
    }

    /// Holds a start whose precondition (proof, stored item) is not met yet.
    pub(super) fn hold_start<E: Env + ?Sized>(&mut self, env: &mut E, from: ParticipantId, msg: Coord, now: u64) {
        if self.held_starts.len() < 1024 {
            self.held_starts.push(HeldStart { from, msg, at_ms: now });
        } else {
            let session = *msg.session();
            self.decline(env, from, session, DeclineReason::Busy);
        }
    }

    /// Retries held starts whose precondition is now met; declines those held too long.
    pub(super) fn held_starts_step<E: Env + ?Sized>(&mut self, env: &mut E, now: u64) {
        let held = core::mem::take(&mut self.held_starts);
        for h in held {
            // (precondition met, item present): a missing item is waited for only briefly, a
            // missing proof for longer (our chain view may lag the leader's).
            let (ready, have_item) = match &h.msg {
                Coord::StartSign { request_id, presignature, .. } => {
                    let item = self.presigs.get(presignature).is_some_and(|p| p.owner == h.from);
                    (item && self.requests.contains_key(&CryptoHash(*request_id)), item)
                }
                Coord::StartPresign { triple0, triple1, .. } => {
                    let item = [triple0, triple1].iter().all(|t| self.triples.get(*t).is_some_and(|x| x.owner == h.from));
                    (item, item)
                }
                _ => (false, false),
            };
            let limit = if have_item { self.cfg.hold_start_ms } else { self.cfg.hold_item_ms };
            if ready {
                match h.msg {
                    Coord::StartSign { session, request_id, presignature } => {
                        self.join_sign(env, h.from, session, CryptoHash(request_id), presignature, now)
                    }
                    Coord::StartPresign { session, triple0, triple1 } => self.on_start_presign(env, h.from, session, triple0, triple1, now),
                    _ => {}
                }
            } else if now.saturating_sub(h.at_ms) > limit {
                let reason = if have_item { DeclineReason::NotProven } else { DeclineReason::UnknownItem };
                let session = *h.msg.session();
                self.decline(env, h.from, session, reason);
            } else {
                self.held_starts.push(h);
            }
        }
    }

    /// The coordinator's signature: verified, then `respond`.
    pub(super) fn on_sign_output<E: Env + ?Sized>(&mut self, env: &mut E, id: CryptoHash, sig: Option<FullSignature>, now: u64) {
        let Some(sig) = sig else { return }; // a participant: nothing more to do
        let Some(r) = self.requests.get(&id) else { return };
        let Some(tss_req) = tss_request(&r.req) else { return };
        let Some(root) = self.active.as_ref().map(|a| a.share.public_key()) else { return };
        let derived = tdsigner_tss::sign::derived_public_key(&root, &tss_req.tweak);
        if !sig.verify(&derived, &tss_req.msg_hash) {
            // tdsigner-tss never returns an unverified signature; this is defence in depth.
            if let Some(r) = self.requests.get_mut(&id) {
                r.state = ReqState::Idle;
            }
            return;
        }
        use k256::elliptic_curve::sec1::ToEncodedPoint;
        let enc = sig.big_r.to_encoded_point(true);
        let Ok(big_r) = <[u8; 33]>::try_from(enc.as_bytes()) else { return };
        let response = Secp256k1Response { big_r, s: sig.s.to_repr().into(), recovery_id: sig.recovery_id };
        let args = respond_args(&r.req, &response);
        if self.send_function_call(env, "respond", args) {
            self.metrics.requests_signed += 1;
            if let Some(r) = self.requests.get_mut(&id) {
                r.state = ReqState::Responded { at_ms: now };
                r.next_action_ms = now + self.cfg.sign_retry_ms;
            }
        } else {
            self.metrics.respond_tx_failed += 1;
            if let Some(r) = self.requests.get_mut(&id) {
                r.state = ReqState::Idle;
                r.next_action_ms = now + 500;
            }
        }
    }
}
