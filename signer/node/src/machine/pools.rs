//! Triple and presignature pools, kept in the sealed store between low and high water marks.
//!
//! Each node *owns* the triples and presignatures it starts (near/mpc's model): when its
//! owned pool is below the low mark it picks a participant set (itself and `t-1` connected,
//! unblamed participants, rotating) and sends a start message; the participants check it and
//! run. Every participant stores its share under the item id with the owner. An owner uses two
//! of its triples (same participants) for a presignature, and its presignatures as signing
//! leader. Each item is removed from the pool *before* it is used, so it is used once.
//!
//! Boot rule: triples and presignatures found in the store at boot are deleted unused. The
//! store cannot tell its latest state from an older copy the host puts back, and a deletion is
//! exactly what such a rollback undoes; using a presignature (or triple) twice leaks the key
//! share. So the pools are refilled after every restart.

use alloc::vec::Vec;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use tdsigner_p2p::{ParticipantId, SessionId};
use tdsigner_store::{BlockDevice, Change};
use tdsigner_tss::triples::MAX_BATCH;
use tdsigner_tss::{ParticipantList, Presign, PresignatureShare, TripleGeneration, TripleShare};

use super::coord::{Coord, DeclineReason};
use super::env::Env;
use super::node::{pool_record, Node, Owned, PRESIGNATURE_RECORD, TRIPLE_RECORD};
use super::protocols::{session_id, Instance, Proto, Purpose};

impl<D: BlockDevice> Node<D> {
    /// Owned triples usable now (every participant eligible): only these count toward the
    /// water marks, so a blamed or vanished participant cannot starve the pool.
    fn owned_triples(&self) -> usize {
        self.triples.values().filter(|t| Some(t.owner) == self.me && t.share.participants.iter().all(|p| self.eligible(p))).count()
    }

    fn owned_presigs(&self) -> usize {
        self.presigs.values().filter(|t| Some(t.owner) == self.me && t.share.participants.iter().all(|p| self.eligible(p))).count()
    }

    /// Owned items that are unusable for now are kept (the blame may expire, the peer may
    /// come back), but at most a few pools' worth: the oldest go first.
    fn trim_unusable(&mut self) {
        let me = self.me;
        let cap_t = 4 * self.cfg.triples_high.max(1);
        let cap_p = 4 * self.cfg.presignatures_high.max(1);
        let mut owned_t: Vec<([u8; 32], u64, bool)> = self
            .triples
            .iter()
            .filter(|(_, t)| Some(t.owner) == me)
            .map(|(k, t)| (*k, t.created_ms, t.share.participants.iter().all(|p| self.eligible(p))))
            .collect();
        if owned_t.len() > cap_t {
            owned_t.sort_by_key(|(_, c, usable)| (*usable, *c));
            let excess = owned_t.len() - cap_t;
            for (k, _, _) in owned_t.into_iter().take(excess) {
                self.consume_triple(&k);
            }
        }
        let mut owned_p: Vec<([u8; 32], u64, bool)> = self
            .presigs
            .iter()
            .filter(|(_, t)| Some(t.owner) == me)
            .map(|(k, t)| (*k, t.created_ms, t.share.participants.iter().all(|p| self.eligible(p))))
            .collect();
        if owned_p.len() > cap_p {
            owned_p.sort_by_key(|(_, c, usable)| (*usable, *c));
            let excess = owned_p.len() - cap_p;
            for (k, _, _) in owned_p.into_iter().take(excess) {
                self.consume_presig(&k);
            }
        }
    }

    fn running(&self, purpose: fn(&Purpose) -> bool) -> Vec<&Instance> {
        self.instances.values().filter(|i| purpose(&i.purpose) && i.purpose.owner() == self.me).collect()
    }

    /// Keeps the owned pools between their water marks.
    pub(super) fn pools_step<E: Env + ?Sized>(&mut self, env: &mut E, now: u64) {
        if !self.signing_key_ok() {
            return;
        }
        let Some(me) = self.me else { return };
        let Some(active) = &self.active else { return };
        if active.share.me != me || now < self.pool_backoff_until_ms {
            return;
        }
        self.trim_unusable();
        // Presignatures first: they are what signing waits for. Both pools refill from below
        // the low mark up to the high mark (runs in flight count as filled).
        let presign_runs = self.running(|p| matches!(p, Purpose::Presign { .. })).len();
        let have = self.owned_presigs() + presign_runs;
        if have < self.cfg.presignatures_low {
            self.presig_filling = true;
        }
        if have >= self.cfg.presignatures_high {
            self.presig_filling = false;
        }
        if self.presig_filling && presign_runs < self.cfg.max_concurrent_presigns {
            self.start_presign(env, me, now);
        }
        let triple_runs = self.running(|p| matches!(p, Purpose::Triples { .. })).len();
        let have = self.owned_triples() + triple_runs * self.cfg.triple_batch;
        if have < self.cfg.triples_low {
            self.triple_filling = true;
        }
        if have >= self.cfg.triples_high {
            self.triple_filling = false;
        }
        if self.triple_filling && triple_runs < self.cfg.max_concurrent_triple_runs {
            let count = self.cfg.triples_high.saturating_sub(have).clamp(1, self.cfg.triple_batch.clamp(1, MAX_BATCH));
            self.start_triples(env, me, count, now);
        }
    }

    /// Picks `t` participants for a new run: this node and the next `t-1` eligible ones,
    /// rotating the starting point so load spreads.
    fn pick_participants(&mut self, me: ParticipantId) -> Option<Vec<ParticipantId>> {
        let active = self.active.as_ref()?;
        let t = active.share.public.threshold;
        let others: Vec<ParticipantId> = active.share.public.participants.iter().filter(|p| *p != me && self.eligible(*p)).collect();
        if others.len() + 1 < t {
            return None;
        }
        let start = (self.rng.next_u32() as usize) % others.len().max(1);
        let mut chosen: Vec<ParticipantId> =
            (0..t.saturating_sub(1)).filter_map(|i| others.get((start + i) % others.len().max(1)).copied()).collect();
        chosen.push(me);
        chosen.sort();
        chosen.dedup();
        (chosen.len() == t).then_some(chosen)
    }

    fn start_triples<E: Env + ?Sized>(&mut self, env: &mut E, me: ParticipantId, count: usize, now: u64) {
        let Some(chosen) = self.pick_participants(me) else { return };
        let Some(active) = &self.active else { return };
        let (t, sharing_id) = (active.share.public.threshold, *active.share.sharing_id());
        let Some(list) = ParticipantList::new(&chosen) else { return };
        let run = self.next_run_id();
        let session = session_id(b"triples", &[&me.0.to_le_bytes(), &self.boot_id, &run]);
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let Ok(proto) = TripleGeneration::new(session, &list, t, sharing_id, count, me, ChaCha20Rng::from_seed(seed)) else { return };
        let msg = Coord::StartTriples {
            session,
            participants: chosen.clone(),
            threshold: u16::try_from(t).unwrap_or(u16::MAX),
            count: u8::try_from(count).unwrap_or(u8::MAX),
            sharing_id,
        };
        for p in chosen.iter().copied().filter(|p| *p != me) {
            self.send_coord(env, p, &msg);
        }
        let inst = Instance {
            purpose: Purpose::Triples { owner: me },
            proto: Proto::Triples(proto),
            participants: chosen,
            me,
            started_ms: now,
            last_progress_ms: now,
        };
        self.start_instance(env, session, inst, now);
    }

    /// A participant's check of a triple-generation start.
    pub(super) fn on_start_triples<E: Env + ?Sized>(&mut self, env: &mut E, from: ParticipantId, msg: Coord, now: u64) {
        let Coord::StartTriples { session, participants, threshold, count, sharing_id } = msg else { return };
        let Some(me) = self.me else { return self.decline(env, from, session, DeclineReason::NoKey) };
        let Some(active) = &self.active else { return self.decline(env, from, session, DeclineReason::NoKey) };
        let public = &active.share.public;
        let Some(list) = ParticipantList::new(&participants) else { return self.decline(env, from, session, DeclineReason::BadParameters) };
        let ok = *active.share.sharing_id() == sharing_id
            && usize::from(threshold) == public.threshold
            && list.is_subset_of(&public.participants)
            && list.len() >= public.threshold
            && list.contains(me)
            && list.contains(from)
            && (1..=MAX_BATCH).contains(&usize::from(count))
            && !self.instances.contains_key(&session)
            && !self.finished.contains(&session);
        if !ok {
            return self.decline(env, from, session, DeclineReason::BadParameters);
        }
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let t = public.threshold;
        let Ok(proto) = TripleGeneration::new(session, &list, t, sharing_id, usize::from(count), me, ChaCha20Rng::from_seed(seed)) else {
            return self.decline(env, from, session, DeclineReason::BadParameters);
        };
        let inst = Instance {
            purpose: Purpose::Triples { owner: from },
            proto: Proto::Triples(proto),
            participants: list.as_slice().to_vec(),
            me,
            started_ms: now,
            last_progress_ms: now,
        };
        self.start_instance(env, session, inst, now);
    }

    pub(super) fn on_triples_output(&mut self, owner: ParticipantId, triples: Vec<TripleShare>, now: u64) {
        let records: Vec<([u8; 32], zeroize::Zeroizing<Vec<u8>>)> =
            triples.iter().map(|t| (t.id, pool_record(owner, &t.to_bytes()))).collect();
        let changes: Vec<Change<'_>> = records.iter().map(|(id, v)| Change::Put { kind: TRIPLE_RECORD, id, value: v }).collect();
        // Kept in memory even if the write fails: they are used this boot only anyway.
        self.store_commit(&changes);
        for t in triples {
            self.triples.insert(t.id, Owned { owner, share: t, created_ms: now });
        }
        self.evict_foreign();
    }

    /// Foreign items whose owner never uses them (it restarted, or gave up a run) would pile
    /// up; past `max_foreign_items` the oldest go.
    fn evict_foreign(&mut self) {
        let me = self.me;
        loop {
            let foreign_t: Vec<([u8; 32], u64)> =
                self.triples.iter().filter(|(_, t)| Some(t.owner) != me).map(|(k, t)| (*k, t.created_ms)).collect();
            let foreign_p: Vec<([u8; 32], u64)> =
                self.presigs.iter().filter(|(_, t)| Some(t.owner) != me).map(|(k, t)| (*k, t.created_ms)).collect();
            if foreign_t.len() + foreign_p.len() <= self.cfg.max_foreign_items {
                return;
            }
            let oldest_t = foreign_t.iter().min_by_key(|(_, c)| *c).copied();
            let oldest_p = foreign_p.iter().min_by_key(|(_, c)| *c).copied();
            match (oldest_t, oldest_p) {
                (Some((t, ct)), Some((_, cp))) if ct <= cp => {
                    self.consume_triple(&t);
                }
                (_, Some((p, _))) => {
                    self.consume_presig(&p);
                }
                (Some((t, _)), None) => {
                    self.consume_triple(&t);
                }
                (None, None) => return,
            }
        }
    }

    /// Takes an item out of a pool (store first, best effort: never relied upon).
    fn consume_triple(&mut self, id: &[u8; 32]) -> Option<Owned<TripleShare>> {
        let t = self.triples.remove(id)?;
        self.store_commit(&[Change::Delete { kind: TRIPLE_RECORD, id }]);
        Some(t)
    }

    pub(super) fn consume_presig(&mut self, id: &[u8; 32]) -> Option<Owned<PresignatureShare>> {
        let p = self.presigs.remove(id)?;
        self.store_commit(&[Change::Delete { kind: PRESIGNATURE_RECORD, id }]);
        Some(p)
    }

    fn start_presign<E: Env + ?Sized>(&mut self, env: &mut E, me: ParticipantId, now: u64) {
        // Two owned triples over the same participants, all of them eligible now.
        let mut pair: Option<([u8; 32], [u8; 32])> = None;
        let mine: Vec<(&[u8; 32], &Owned<TripleShare>)> = self.triples.iter().filter(|(_, t)| t.owner == me).collect();
        'outer: for (i, (a, ta)) in mine.iter().enumerate() {
            if !ta.share.participants.iter().all(|p| self.eligible(p)) {
                continue;
            }
            for (b, tb) in mine.iter().skip(i + 1) {
                if tb.share.participants == ta.share.participants {
                    pair = Some((**a, **b));
                    break 'outer;
                }
            }
        }
        let Some((a, b)) = pair else { return };
        let Some(active) = &self.active else { return };
        let key = active.share.clone();
        let (Some(t0), Some(t1)) = (self.consume_triple(&a), self.consume_triple(&b)) else { return };
        let session = session_id(b"presign", &[&a, &b]);
        let participants = t0.share.participants.as_slice().to_vec();
        let Ok(proto) = Presign::new(session, &key, t0.share, t1.share) else { return };
        let msg = Coord::StartPresign { session, triple0: a, triple1: b };
        for p in participants.iter().copied().filter(|p| *p != me) {
            self.send_coord(env, p, &msg);
        }
        let inst = Instance {
            purpose: Purpose::Presign { owner: me },
            proto: Proto::Presign(proto),
            participants,
            me,
            started_ms: now,
            last_progress_ms: now,
        };
        self.start_instance(env, session, inst, now);
    }

    pub(super) fn on_start_presign<E: Env + ?Sized>(
        &mut self,
        env: &mut E,
        from: ParticipantId,
        session: SessionId,
        a: [u8; 32],
        b: [u8; 32],
        now: u64,
    ) {
        let Some(active) = &self.active else { return self.decline(env, from, session, DeclineReason::NoKey) };
        let key = active.share.clone();
        let valid =
            session == session_id(b"presign", &[&a, &b]) && !self.instances.contains_key(&session) && !self.finished.contains(&session);
        if !valid {
            return self.decline(env, from, session, DeclineReason::BadParameters);
        }
        let owned_by_sender = |id: &[u8; 32]| self.triples.get(id).is_some_and(|t| t.owner == from);
        if !owned_by_sender(&a) || !owned_by_sender(&b) {
            // The owner may have finished the triple run a moment before us: hold the start.
            return self.hold_start(env, from, Coord::StartPresign { session, triple0: a, triple1: b }, now);
        }
        let (Some(t0), Some(t1)) = (self.consume_triple(&a), self.consume_triple(&b)) else { return };
        let participants = t0.share.participants.as_slice().to_vec();
        match Presign::new(session, &key, t0.share, t1.share) {
            Ok(proto) => {
                let inst = Instance {
                    purpose: Purpose::Presign { owner: from },
                    proto: Proto::Presign(proto),
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

    pub(super) fn on_presign_output(&mut self, owner: ParticipantId, p: PresignatureShare, now: u64) {
        let id = p.id;
        let value = pool_record(owner, &p.to_bytes());
        self.store_commit(&[Change::Put { kind: PRESIGNATURE_RECORD, id: &id, value: &value }]);
        self.presigs.insert(id, Owned { owner, share: p, created_ms: now });
        self.evict_foreign();
    }

    pub(super) fn decline<E: Env + ?Sized>(&mut self, env: &mut E, to: ParticipantId, session: SessionId, reason: DeclineReason) {
        super::metrics::bump(&mut self.metrics.declines_sent, reason.name());
        self.send_coord(env, to, &Coord::Decline { session, reason });
    }

    /// Dispatches a coordination message.
    pub(super) fn on_coord<E: Env + ?Sized>(&mut self, env: &mut E, from: ParticipantId, msg: Coord, now: u64) {
        match msg {
            Coord::StartTriples { .. } => self.on_start_triples(env, from, msg, now),
            Coord::StartPresign { session, triple0, triple1 } => self.on_start_presign(env, from, session, triple0, triple1, now),
            Coord::StartSign { .. } => self.on_start_sign(env, from, msg, now),
            Coord::Decline { session, reason } => {
                super::metrics::bump(&mut self.metrics.declines_received, reason.name());
                let owned = self.instances.get(&session).is_some_and(|i| i.purpose.owner() == self.me && i.participants.contains(&from));
                if owned {
                    self.abort_instance(env, session, super::node::Abort::Declined, now);
                }
            }
            Coord::Abort { session } => {
                self.held_starts.retain(|h| !(h.from == from && h.msg.session() == &session));
                let theirs = self.instances.get(&session).is_some_and(|i| i.purpose.owner() == Some(from));
                if theirs {
                    self.instances.remove(&session);
                    self.finished.insert(session);
                    self.on_remote_abort(&session);
                }
            }
            Coord::OldSharing { session, sharing } => self.on_old_sharing(from, session, sharing),
            Coord::StartRefresh { session, round, sharing_id } => self.on_start_refresh(env, from, session, round, sharing_id, now),
            Coord::RefreshDone { session, new_sharing_id } => self.on_refresh_done(env, from, session, new_sharing_id, now),
            Coord::Hello { boot_id } => self.on_hello(from, boot_id),
        }
    }

    fn on_remote_abort(&mut self, _session: &SessionId) {}

    /// A peer that restarted has discarded its triples and presignatures: every item it takes
    /// part in is useless now (and runs would only wait for its refusal).
    fn on_hello(&mut self, from: ParticipantId, boot_id: [u8; 16]) {
        let previous = self.peer_boots.insert(from, boot_id);
        if previous.is_none_or(|b| b == boot_id) {
            return;
        }
        let triples: Vec<[u8; 32]> = self.triples.iter().filter(|(_, t)| t.share.participants.contains(from)).map(|(k, _)| *k).collect();
        let presigs: Vec<[u8; 32]> = self.presigs.iter().filter(|(_, p)| p.share.participants.contains(from)).map(|(k, _)| *k).collect();
        for t in triples {
            self.consume_triple(&t);
        }
        for p in presigs {
            self.consume_presig(&p);
        }
    }
}
