//! Key lifecycle driven by the contract: reading its state (cross-checked view), telling the
//! P2P layer whom to talk to, keygen when Initializing (`start_keygen_instance` by the leader,
//! `vote_pk` by everyone), resharing when Resharing (`start_reshare_instance`,
//! `vote_reshared`), putting a new share into use once the contract is Running with it,
//! the attestation (`submit_participant_info`), and the scheduled refresh with its two-phase
//! switch over P2P.
//!
//! Every new share is written to the sealed store *before* the vote that makes it count, and
//! becomes the active share only when the contract (keygen/reshare) or every participant
//! (refresh) confirms it.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde_json::json;
use tdsigner_near::crypto::PublicKey;
use tdsigner_p2p::{Participant, ParticipantId, ParticipantSet, SessionId};
use tdsigner_store::{BlockDevice, Change};
use tdsigner_tss::{Dkg, KeyShare, ParticipantList, PublicSharing};

use super::attestation::{lists_node, parse_attestation_view, parse_tee_accounts, participant_info_args, AttestationMode};
use super::contract::{parse_state, ContractState, KeyEvent, ParticipantInfo, RunningState};
use super::coord::Coord;
use super::proven::ContractStateSource;
use super::env::Env;
use super::node::{Node, PendingRefresh, ACTIVE_KEY_ID, KEY_RECORD};
use super::protocols::{session_id, Instance, Proto, Purpose};
use super::sharing::{decode_public_sharing, encode_public_sharing, KeyOrigin, StoredKey};

/// Old-sharing offers kept for at most this many sessions.
const MAX_OLD_SHARING_SESSIONS: usize = 8;

fn uncompressed(pk: &k256::AffinePoint) -> Option<[u8; 64]> {
    use k256::elliptic_curve::sec1::ToEncodedPoint;
    let e = pk.to_encoded_point(false);
    e.as_bytes().get(1..65)?.try_into().ok()
}

fn pending_id(origin: KeyOrigin, epoch: u64, attempt: u64) -> Vec<u8> {
    let mut id = Vec::from(&b"pending/"[..]);
    id.extend_from_slice(origin.name().as_bytes());
    id.push(b'/');
    id.extend_from_slice(&epoch.to_le_bytes());
    id.extend_from_slice(&attempt.to_le_bytes());
    id
}

fn origin_tag(o: KeyOrigin) -> u8 {
    match o {
        KeyOrigin::Keygen => 1,
        KeyOrigin::Reshare => 2,
        KeyOrigin::Refresh => 3,
    }
}

use super::contract::key_event_id;

/// near/mpc's governance-threshold floor for `n` participants: 60% rounded up, at least 2.
pub fn min_governance_threshold(n: u64) -> u64 {
    n.saturating_mul(3).div_ceil(5).max(2)
}

fn ids(list: &[u32]) -> Option<ParticipantList> {
    let v: Vec<tdsigner_tss::ParticipantId> = list.iter().copied().map(tdsigner_tss::ParticipantId).collect();
    ParticipantList::new(&v)
}

impl<D: BlockDevice> Node<D> {
    // ---------------------------------------------------------------------------------------
    // contract state

    pub(super) fn refresh_contract<E: Env + ?Sized>(&mut self, env: &mut E, now: u64) {
        let state = match self.cfg.contract_state.clone() {
            ContractStateSource::Proven(pin) => match self.proven_contract_state(env, &pin) {
                Ok(state) => {
                    self.contract_proof_note = None;
                    self.metrics.contract_state_proven += 1;
                    state
                }
                Err(e) => {
                    // Keep the last proven state (stale, not false) and say why.
                    self.metrics.contract_state_unproven += 1;
                    self.contract_proof_note = Some(e.to_string().chars().take(300).collect());
                    return;
                }
            },
            ContractStateSource::UnprovenViews => {
                let Some(bytes) = self.contract_view(env, "state", &json!({})) else { return };
                let Ok(state) = parse_state(&bytes, self.cfg.domain_id) else { return };
                state
            }
        };
        self.apply_participants(env, &state, now);
        self.contract = Some(state);
        self.activate_keys();
    }

    /// Who this node talks to under `state`, and its own id.
    fn apply_participants<E: Env + ?Sized>(&mut self, env: &mut E, state: &ContractState, now: u64) {
        let members: Option<Vec<ParticipantInfo>> = match state {
            ContractState::NotInitialized => None,
            ContractState::Initializing { generating } => Some(generating.parameters.participants.clone()),
            ContractState::Running(r) => Some(r.parameters.participants.clone()),
            ContractState::Resharing { previous, resharing } => {
                let mut by_id: BTreeMap<u32, ParticipantInfo> = BTreeMap::new();
                let mut conflict = false;
                for p in previous.parameters.participants.iter().chain(resharing.parameters.participants.iter()) {
                    match by_id.get(&p.id) {
                        Some(q) if q != p => conflict = true,
                        _ => {
                            by_id.insert(p.id, p.clone());
                        }
                    }
                }
                (!conflict).then(|| by_id.into_values().collect())
            }
        };
        let mine = members.as_ref().and_then(|m| m.iter().find(|p| p.account_id == self.cfg.account_id)).cloned();
        // Our entry must carry our key; otherwise we are not (this) participant.
        let me = mine.filter(|p| p.tls_public_key == self.tls_public).map(|p| ParticipantId(p.id));
        let members = if me.is_some() { members } else { None };
        if members == self.p2p_members && me == self.me {
            return;
        }
        let set = members.as_ref().and_then(|m| {
            let list: Option<Vec<Participant>> =
                m.iter().map(|p| Participant::from_chain(p.id, &p.account_id, &p.url, &p.tls_key_text()).ok()).collect();
            ParticipantSet::new(list?).ok()
        });
        match (me, &set) {
            (Some(me), Some(set)) => {
                env.set_participants(Some((me, set)));
                self.me = Some(me);
                self.p2p_members = members;
            }
            _ => {
                if self.p2p_members.is_some() {
                    env.set_participants(None);
                }
                self.me = None;
                self.p2p_members = None;
                self.alive.clear();
            }
        }
        let _ = now;
    }

    /// Puts a pending share into use when the contract is Running with its key, and forgets
    /// a share when the contract moved on without this node.
    fn activate_keys(&mut self) {
        let Some(ContractState::Running(r)) = &self.contract else { return };
        let r: RunningState = r.clone();
        let Some(root) = r.root_key else { return };
        let in_set = r.parameters.by_account(&self.cfg.account_id).is_some();
        let current = self.active.as_ref().map(|a| (a.origin, a.contract_epoch));
        if let Some((_, epoch)) = current {
            if epoch == r.keyset_epoch {
                return;
            }
        }
        let found = self.pending_keys.iter().find(|(_, k)| {
            matches!(k.origin, KeyOrigin::Keygen | KeyOrigin::Reshare)
                && k.contract_epoch == r.keyset_epoch
                && uncompressed(&k.share.public_key()) == Some(root)
                // The secret share verifies against the sharing's commitments (x_i·G).
                && KeyShare::from_bytes(&k.share.to_bytes()).is_ok()
        });
        if let Some((id, key)) = found {
            let (id, key) = (id.clone(), key.clone());
            let bytes = key.encode();
            let mut changes = alloc::vec![Change::Put { kind: KEY_RECORD, id: ACTIVE_KEY_ID, value: &bytes }];
            let stale: Vec<Vec<u8>> = self.pending_keys.keys().cloned().collect();
            for s in &stale {
                changes.push(Change::Delete { kind: KEY_RECORD, id: s });
            }
            if self.store_commit(&changes) {
                let _ = id;
                self.pending_keys.clear();
                self.active = Some(key);
                self.metrics.keys_activated += 1;
                self.refresh.pending = None;
                // The first refresh of a new key comes at the next interval boundary.
                if let Some(round) = self.lc.head_height().checked_div(self.cfg.refresh_interval_blocks) {
                    self.refresh.attempted_round = self.refresh.attempted_round.max(round);
                }
                self.discard_pools();
            }
            return;
        }
        // Deleting the share is irreversible: only on proven state.
        let proven = matches!(self.cfg.contract_state, ContractStateSource::Proven(_));
        if proven && !in_set && self.active.as_ref().is_some_and(|a| a.contract_epoch < r.keyset_epoch) {
            // We left: the old share must go (leaving dealers delete theirs). A rolled-back disk
            // could bring it back; it is then useless without t-1 others doing the same.
            if self.store_commit(&[Change::Delete { kind: KEY_RECORD, id: ACTIVE_KEY_ID }]) {
                self.active = None;
                self.discard_pools();
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // keygen / reshare

    pub(super) fn key_events_step<E: Env + ?Sized>(&mut self, env: &mut E, now: u64) {
        match self.contract.clone() {
            Some(ContractState::Initializing { generating }) => self.keygen_step(env, &generating, now),
            Some(ContractState::Resharing { previous, resharing }) => self.reshare_step(env, &previous, &resharing, now),
            _ => self.key_event_note = None,
        }
    }

    fn my_id_in(&self, ev: &KeyEvent) -> Option<u32> {
        ev.parameters.by_account(&self.cfg.account_id).filter(|p| p.tls_public_key == self.tls_public).map(|p| p.id)
    }

    /// Why the thresholds of `ev` are refused, if they are: the governance threshold must meet
    /// the contract's floor and not exceed the participants; the domain's reconstruction
    /// threshold must be at least 2 and at most the governance threshold; a resharing may not
    /// lower either below the running state's (or the held share's) threshold.
    fn threshold_refusal(&self, ev: &KeyEvent, previous: Option<&RunningState>) -> Option<String> {
        let n = ev.parameters.participants.len() as u64;
        let (t, rt) = (ev.parameters.threshold, ev.domain.reconstruction_threshold);
        let floor = min_governance_threshold(n);
        if t < floor || t > n {
            return Some(alloc::format!("governance threshold {t} of {n} participants is outside the contract's {floor}..={n}"));
        }
        if rt < 2 || rt > t {
            return Some(alloc::format!("reconstruction threshold {rt} is outside 2..={t}"));
        }
        if let Some(prev) = previous {
            if t < prev.parameters.threshold {
                return Some(alloc::format!("governance threshold {t} is below the previous {}", prev.parameters.threshold));
            }
            let held = self.active.as_ref().map_or(0, |a| a.share.public.threshold as u64);
            if rt < held {
                return Some(alloc::format!("reconstruction threshold {rt} is below the held key's {held}"));
            }
        }
        None
    }

    /// Whether this node can take part in `ev`; if not, says so plainly (status, metrics)
    /// once per event instead of waiting silently.
    fn can_serve(&mut self, ev: &KeyEvent, what: &str, previous: Option<&RunningState>) -> bool {
        let refusal = ev.domain.unservable_reason(self.cfg.domain_id).or_else(|| self.threshold_refusal(ev, previous));
        let Some(reason) = refusal else {
            self.key_event_note = None;
            return true;
        };
        let note = alloc::format!(
            "{what} of epoch {} for domain {} cannot be served by this node: {reason}; the event cannot complete without this node's vote unless the participants vote to cancel it",
            ev.epoch_id, ev.domain_id
        );
        if self.key_event_note.as_ref() != Some(&note) {
            self.metrics.key_events_unservable += 1;
            self.key_event_note = Some(note);
        }
        false
    }

    fn keygen_step<E: Env + ?Sized>(&mut self, env: &mut E, ev: &KeyEvent, now: u64) {
        if !self.can_serve(ev, "keygen", None) || !self.attest.confirmed {
            return;
        }
        let Some(me) = self.my_id_in(ev) else { return };
        let height = self.lc.head_height();
        let Some(inst) = ev.active_instance(height) else {
            if ev.parameters.leader().map(|l| l.id) == Some(me)
                && self.tx_due(("start_keygen_instance", ev.epoch_id, ev.next_attempt_id), now)
            {
                let args = json!({ "key_event_id": key_event_id(ev.epoch_id, ev.domain_id, ev.next_attempt_id) });
                self.send_function_call(env, "start_keygen_instance", serde_json::to_vec(&args).unwrap_or_default());
            }
            return;
        };
        let attempt = inst.attempt_id;
        if inst.completed.contains(&u64::from(me)) {
            return;
        }
        let pid = pending_id(KeyOrigin::Keygen, ev.epoch_id, attempt);
        if let Some(k) = self.pending_keys.get(&pid) {
            let pk = tdsigner_tss::near::public_key_string(&k.share.public_key());
            if self.tx_due(("vote_pk", ev.epoch_id, attempt), now) {
                let args = json!({ "key_event_id": key_event_id(ev.epoch_id, ev.domain_id, attempt), "public_key": pk });
                self.send_function_call(env, "vote_pk", serde_json::to_vec(&args).unwrap_or_default());
            }
            return;
        }
        if !self.attempted.insert((origin_tag(KeyOrigin::Keygen), ev.epoch_id, attempt)) {
            return;
        }
        let session = session_id(
            b"keygen",
            &[self.cfg.contract_id.as_bytes(), &ev.epoch_id.to_le_bytes(), &ev.domain_id.to_le_bytes(), &attempt.to_le_bytes()],
        );
        let Some(list) = ids(&ev.parameters.ids()) else { return };
        // The domain's reconstruction threshold, not the participant set's voting threshold.
        let Ok(threshold) = usize::try_from(ev.domain.reconstruction_threshold) else { return };
        let Ok(dkg) = Dkg::keygen(session, &list, threshold, ParticipantId(me), &mut self.rng) else { return };
        let inst = Instance {
            purpose: Purpose::Keygen { epoch: ev.epoch_id, attempt },
            proto: Proto::Dkg(dkg),
            participants: list.as_slice().to_vec(),
            me: ParticipantId(me),
            started_ms: now,
            last_progress_ms: now,
        };
        self.start_instance(env, session, inst, now);
    }

    pub(super) fn on_keygen_output<E: Env + ?Sized>(&mut self, env: &mut E, epoch: u64, attempt: u64, share: Option<KeyShare>, now: u64) {
        let Some(share) = share else { return };
        let key = StoredKey { origin: KeyOrigin::Keygen, contract_epoch: epoch, attempt, share };
        let id = pending_id(KeyOrigin::Keygen, epoch, attempt);
        let bytes = key.encode();
        // Durable before the vote that makes it count.
        if !self.store_commit(&[Change::Put { kind: KEY_RECORD, id: &id, value: &bytes }]) {
            return;
        }
        self.pending_keys.insert(id, key);
        self.tx_last.remove(&("vote_pk", epoch, attempt));
        if let Some(ContractState::Initializing { generating }) = self.contract.clone() {
            self.keygen_step(env, &generating, now);
        }
    }

    /// Dealers of a resharing: the old holders that stay, if enough of them; otherwise every
    /// old holder.
    fn reshare_dealers(old: &PublicSharing, new_ids: &[u32]) -> Option<ParticipantList> {
        let staying: Vec<tdsigner_tss::ParticipantId> = old.participants.iter().filter(|p| new_ids.contains(&p.0)).collect();
        if staying.len() >= old.threshold {
            ParticipantList::new(&staying)
        } else {
            Some(old.participants.clone())
        }
    }

    fn reshare_step<E: Env + ?Sized>(&mut self, env: &mut E, prev: &RunningState, ev: &KeyEvent, now: u64) {
        if !self.can_serve(ev, "resharing", Some(prev)) || !self.attest.confirmed {
            return;
        }
        let me_new = self.my_id_in(ev);
        let me_old = prev.parameters.by_account(&self.cfg.account_id).filter(|p| p.tls_public_key == self.tls_public).map(|p| p.id);
        let Some(me) = me_new.or(me_old) else { return };
        let height = self.lc.head_height();
        let Some(inst) = ev.active_instance(height) else {
            if me_new.is_some()
                && ev.parameters.leader().map(|l| l.id) == Some(me)
                && self.tx_due(("start_reshare_instance", ev.epoch_id, ev.next_attempt_id), now)
            {
                let args = json!({ "key_event_id": key_event_id(ev.epoch_id, ev.domain_id, ev.next_attempt_id) });
                self.send_function_call(env, "start_reshare_instance", serde_json::to_vec(&args).unwrap_or_default());
            }
            return;
        };
        let attempt = inst.attempt_id;
        if me_new.is_some_and(|m| inst.completed.contains(&u64::from(m))) {
            return;
        }
        let pid = pending_id(KeyOrigin::Reshare, ev.epoch_id, attempt);
        if self.pending_keys.contains_key(&pid) {
            if self.tx_due(("vote_reshared", ev.epoch_id, attempt), now) {
                let args = json!({ "key_event_id": key_event_id(ev.epoch_id, ev.domain_id, attempt) });
                self.send_function_call(env, "vote_reshared", serde_json::to_vec(&args).unwrap_or_default());
            }
            return;
        }
        let tag = (origin_tag(KeyOrigin::Reshare), ev.epoch_id, attempt);
        if self.attempted.contains(&tag) {
            return;
        }
        let session = session_id(
            b"reshare",
            &[self.cfg.contract_id.as_bytes(), &ev.epoch_id.to_le_bytes(), &ev.domain_id.to_le_bytes(), &attempt.to_le_bytes()],
        );
        let Some(root) = prev.root_key else { return };
        let new_ids = ev.parameters.ids();
        let Some(new_list) = ids(&new_ids) else { return };
        let Ok(new_threshold) = usize::try_from(ev.domain.reconstruction_threshold) else { return };

        // The old sharing: ours if we hold the running key, else the one every dealer sent.
        let mine = self.active.as_ref().filter(|a| uncompressed(&a.share.public_key()) == Some(root)).map(|a| a.share.clone());
        let old = match &mine {
            Some(share) => share.public.clone(),
            None => match self.agreed_old_sharing(&session, &root, &new_ids) {
                Some(s) => s,
                None => return, // wait for the dealers' offers
            },
        };
        let Some(dealers) = Self::reshare_dealers(&old, &new_ids) else { return };
        let my_pid = ParticipantId(me);
        if !dealers.contains(my_pid) && !new_list.contains(my_pid) {
            return;
        }
        if dealers.contains(my_pid) && mine.is_none() {
            return; // a dealer without its share cannot deal
        }
        self.attempted.insert(tag);
        // Dealers hand the old public sharing to members that do not have it.
        if dealers.contains(my_pid) {
            if let Some(bytes) = encode_public_sharing(&old) {
                let msg = Coord::OldSharing { session, sharing: bytes };
                for p in new_list.iter().filter(|p| !old.participants.contains(*p)) {
                    self.send_coord(env, p, &msg);
                }
            }
        }
        let all = dealers.union(&new_list);
        let Ok(dkg) = Dkg::reshare(session, &old, &dealers, mine.as_ref(), &new_list, new_threshold, my_pid, &mut self.rng) else { return };
        let inst = Instance {
            purpose: Purpose::Reshare { epoch: ev.epoch_id, attempt },
            proto: Proto::Dkg(dkg),
            participants: all.as_slice().to_vec(),
            me: my_pid,
            started_ms: now,
            last_progress_ms: now,
        };
        self.old_sharings.remove(&session);
        self.start_instance(env, session, inst, now);
    }

    /// The old sharing offered by *every* dealer, byte-identical, for the running root key.
    fn agreed_old_sharing(&self, session: &SessionId, root: &[u8; 64], new_ids: &[u32]) -> Option<PublicSharing> {
        let offers = self.old_sharings.get(session)?;
        let first = offers.values().next()?;
        if offers.values().any(|o| o != first) {
            return None;
        }
        let sharing = decode_public_sharing(first).ok()?;
        if uncompressed(&sharing.public_key()).as_ref() != Some(root) {
            return None;
        }
        let dealers = Self::reshare_dealers(&sharing, new_ids)?;
        let senders: BTreeSet<u32> = offers.keys().map(|p| p.0).collect();
        let expected: BTreeSet<u32> = dealers.iter().map(|p| p.0).collect();
        (senders == expected).then_some(sharing)
    }

    pub(super) fn on_old_sharing(&mut self, from: ParticipantId, session: SessionId, sharing: Vec<u8>) {
        if !self.old_sharings.contains_key(&session) && self.old_sharings.len() >= MAX_OLD_SHARING_SESSIONS {
            return;
        }
        let offers = self.old_sharings.entry(session).or_default();
        if offers.len() < tdsigner_tss::participants::MAX_PARTICIPANTS {
            offers.insert(from, sharing);
        }
    }

    pub(super) fn on_reshare_output<E: Env + ?Sized>(&mut self, env: &mut E, epoch: u64, attempt: u64, share: Option<KeyShare>, now: u64) {
        let Some(share) = share else { return }; // a leaving dealer: nothing new to keep
        let key = StoredKey { origin: KeyOrigin::Reshare, contract_epoch: epoch, attempt, share };
        let id = pending_id(KeyOrigin::Reshare, epoch, attempt);
        let bytes = key.encode();
        if !self.store_commit(&[Change::Put { kind: KEY_RECORD, id: &id, value: &bytes }]) {
            return;
        }
        self.pending_keys.insert(id, key);
        self.tx_last.remove(&("vote_reshared", epoch, attempt));
        if let Some(ContractState::Resharing { previous, resharing }) = self.contract.clone() {
            self.reshare_step(env, &previous, &resharing, now);
        }
    }

    // ---------------------------------------------------------------------------------------
    // attestation

    pub(super) fn attestation_step<E: Env + ?Sized>(&mut self, env: &mut E, now: u64) {
        if self.attest.unavailable {
            return;
        }
        self.metrics.attestation_unverified = u64::from(self.cfg.attestation == AttestationMode::MockTestnet);
        // Check what the contract holds for us, now and then.
        if now.saturating_sub(self.attest.last_check_ms) >= self.cfg.tx_retry_ms {
            self.attest.last_check_ms = now;
            self.check_own_attestation(env);
        }
        let chain_s = self.chain_time_s();
        let due = match (self.attest.submitted_ms, self.attest.confirmed) {
            (None, _) => true,
            (Some(t), false) => now.saturating_sub(t) >= self.cfg.tx_retry_ms,
            (Some(_), true) => {
                let by_age = self.attest.submitted_chain_s.is_none_or(|s| chain_s >= s.saturating_add(self.cfg.attestation_resubmit_s));
                let by_expiry = self.attest.expiry_s.is_some_and(|e| chain_s.saturating_add(self.cfg.attestation_margin_s) >= e);
                by_age || by_expiry
            }
        };
        if !due {
            return;
        }
        let att = match self.cfg.attestation {
            AttestationMode::MockTestnet => None,
            AttestationMode::Dstack => {
                let report_data = tdsigner_measure::report_data::report_data_v1(&self.tls_public, &self.account_public);
                match env.attestation(report_data) {
                    Ok(a) => Some(a),
                    Err(super::env::AttestationError::Unavailable) => {
                        self.attest.unavailable = true;
                        return;
                    }
                    Err(e) => {
                        self.attest.note = Some(e.to_string());
                        self.attest.submitted_ms = Some(now);
                        return;
                    }
                }
            }
        };
        self.attest.submitted_ms = Some(now);
        let (args, gap) = match participant_info_args(self.cfg.attestation, &self.cfg.contract_id, att.as_ref(), &self.tls_public) {
            Ok(built) => built,
            Err(e) => {
                self.attest.note = Some(e.to_string());
                return;
            }
        };
        // Said plainly: Mock is not a TEE verification; an incomplete Dstack payload is still
        // sent (the simulator's model takes it) but the deployed contract will refuse it.
        self.attest.note = gap.map(|g| g.to_string()).or_else(|| self.cfg.attestation.notice().map(String::from));
        if self.send_function_call(env, "submit_participant_info", serde_json::to_vec(&args).unwrap_or_default()) {
            self.metrics.attestations_submitted += 1;
            self.attest.submitted_chain_s = Some(chain_s);
            // Look again soon.
            self.attest.last_check_ms = now.saturating_sub(self.cfg.tx_retry_ms / 2);
        }
    }

    /// Attested = `get_tee_accounts` lists this node's (account, TLS key, account key) and
    /// `get_attestation` for its TLS key parses to an attestation the contract holds.
    fn check_own_attestation<E: Env + ?Sized>(&mut self, env: &mut E) {
        let tls = PublicKey::Ed25519(self.tls_public).to_text();
        let Some(listed) = self.contract_view(env, "get_tee_accounts", &json!({})) else { return };
        let Some(held) = self.contract_view(env, "get_attestation", &json!({ "tls_public_key": tls })) else { return };
        match (parse_tee_accounts(&listed), parse_attestation_view(&held)) {
            (Ok(accounts), Ok(stored)) => {
                let listed = lists_node(&accounts, &self.cfg.account_id, &self.tls_public, &self.account_public);
                self.attest.confirmed = listed && stored.is_some();
                self.attest.expiry_s = stored.and_then(|s| s.expiry_s());
            }
            (Err(e), _) | (_, Err(e)) => {
                self.attest.confirmed = false;
                self.attest.note = Some(e.to_string());
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // refresh

    fn refresh_leader(share: &KeyShare) -> Option<ParticipantId> {
        share.public.participants.iter().next()
    }

    pub(super) fn refresh_step<E: Env + ?Sized>(&mut self, env: &mut E, now: u64) {
        let interval = self.cfg.refresh_interval_blocks;
        if interval == 0 {
            return;
        }
        let Some(ContractState::Running(r)) = &self.contract else { return };
        let Some(active) = &self.active else { return };
        if active.contract_epoch != r.keyset_epoch || self.me != Some(active.share.me) {
            return;
        }
        let round = self.lc.head_height() / interval;
        if round == 0 || round <= self.refresh.attempted_round || self.refresh.pending.is_some() {
            return;
        }
        if Self::refresh_leader(&active.share) != self.me {
            return;
        }
        // Everyone must take part: start only when all are connected.
        if !active.share.public.participants.iter().all(|p| self.alive.contains(&p) || Some(p) == self.me) {
            return;
        }
        let sharing_id = *active.share.sharing_id();
        let session = session_id(b"refresh", &[&sharing_id, &round.to_le_bytes()]);
        let msg = Coord::StartRefresh { session, round, sharing_id };
        let others: Vec<ParticipantId> = active.share.public.participants.iter().filter(|p| Some(*p) != self.me).collect();
        for p in others {
            self.send_coord(env, p, &msg);
        }
        self.start_refresh(env, session, round, now);
    }

    /// A member's check of a refresh start.
    pub(super) fn on_start_refresh<E: Env + ?Sized>(
        &mut self,
        env: &mut E,
        from: ParticipantId,
        session: SessionId,
        round: u64,
        sharing_id: [u8; 32],
        now: u64,
    ) {
        let Some(active) = &self.active else { return };
        let interval = self.cfg.refresh_interval_blocks;
        let ok = interval > 0
            && Self::refresh_leader(&active.share) == Some(from)
            && *active.share.sharing_id() == sharing_id
            && round > self.refresh.attempted_round
            // The leader's head may be a little ahead of ours.
            && round <= self.lc.head_height() / interval + 1
            && session == session_id(b"refresh", &[&sharing_id, &round.to_le_bytes()])
            && self.refresh.pending.is_none();
        if ok {
            self.start_refresh(env, session, round, now);
        } else {
            self.decline(env, from, session, super::coord::DeclineReason::BadParameters);
        }
    }

    fn start_refresh<E: Env + ?Sized>(&mut self, env: &mut E, session: SessionId, round: u64, now: u64) {
        let Some(active) = &self.active else { return };
        if self.instances.contains_key(&session) || self.finished.contains(&session) {
            return;
        }
        self.refresh.attempted_round = round;
        let share = active.share.clone();
        let Ok(dkg) = Dkg::refresh(session, &share, &mut self.rng) else { return };
        let inst = Instance {
            purpose: Purpose::Refresh { round },
            proto: Proto::Dkg(dkg),
            participants: share.public.participants.as_slice().to_vec(),
            me: share.me,
            started_ms: now,
            last_progress_ms: now,
        };
        self.start_instance(env, session, inst, now);
    }

    pub(super) fn on_refresh_output<E: Env + ?Sized>(
        &mut self,
        env: &mut E,
        session: SessionId,
        round: u64,
        share: Option<KeyShare>,
        inst: &Instance,
        now: u64,
    ) {
        let (Some(share), Some(active)) = (share, &self.active) else { return };
        let key = StoredKey { origin: KeyOrigin::Refresh, contract_epoch: active.contract_epoch, attempt: round, share };
        let id = pending_id(KeyOrigin::Refresh, key.contract_epoch, round);
        let bytes = key.encode();
        if !self.store_commit(&[Change::Put { kind: KEY_RECORD, id: &id, value: &bytes }]) {
            return;
        }
        let new_id = *key.share.sharing_id();
        self.pending_keys.insert(id, key.clone());
        let mut confirmed = BTreeSet::new();
        if let Some(me) = self.me {
            confirmed.insert(me);
        }
        if let Some(early) = self.refresh.early_done.remove(&session) {
            for (p, id) in early {
                if id == new_id {
                    confirmed.insert(p);
                }
            }
        }
        self.refresh.pending = Some(PendingRefresh { session, key, confirmed });
        let msg = Coord::RefreshDone { session, new_sharing_id: new_id };
        for p in inst.participants.clone() {
            self.send_coord(env, p, &msg);
        }
        self.try_switch_refresh(now);
    }

    pub(super) fn on_refresh_done<E: Env + ?Sized>(
        &mut self,
        env: &mut E,
        from: ParticipantId,
        session: SessionId,
        new_id: [u8; 32],
        now: u64,
    ) {
        if let Some(p) = &mut self.refresh.pending {
            if p.session == session {
                if *p.key.share.sharing_id() == new_id {
                    p.confirmed.insert(from);
                }
                self.try_switch_refresh(now);
                return;
            }
        }
        // Already switched: answer (rate-limited) so a peer that missed ours can switch too.
        if let Some((_, mine)) = self.refresh.switched.iter().find(|(s, _)| *s == session).copied() {
            let last = self.refresh.replied.get(&(from, session)).copied().unwrap_or(0);
            if now.saturating_sub(last) >= 10_000 || last == 0 {
                self.refresh.replied.insert((from, session), now);
                self.send_coord(env, from, &Coord::RefreshDone { session, new_sharing_id: mine });
            }
            return;
        }
        if self.refresh.early_done.len() < 4 || self.refresh.early_done.contains_key(&session) {
            self.refresh.early_done.entry(session).or_default().insert(from, new_id);
        }
    }

    /// Switches to the refreshed share once every participant reported the same new sharing.
    fn try_switch_refresh(&mut self, _now: u64) {
        let Some(p) = &self.refresh.pending else { return };
        let all = p.key.share.public.participants.iter().all(|q| p.confirmed.contains(&q));
        if !all {
            return;
        }
        let key = p.key.clone();
        let session = p.session;
        let bytes = key.encode();
        let pid = pending_id(KeyOrigin::Refresh, key.contract_epoch, key.attempt);
        if !self.store_commit(&[
            Change::Put { kind: KEY_RECORD, id: ACTIVE_KEY_ID, value: &bytes },
            Change::Delete { kind: KEY_RECORD, id: &pid },
        ]) {
            return;
        }
        self.pending_keys.remove(&pid);
        self.refresh.switched.push((session, *key.share.sharing_id()));
        if self.refresh.switched.len() > 16 {
            self.refresh.switched.remove(0);
        }
        self.refresh.pending = None;
        self.active = Some(key);
        self.metrics.refreshes_completed += 1;
        self.discard_pools();
    }

    /// On reconnection, repeat what a peer may have missed.
    pub(super) fn on_peer_up<E: Env + ?Sized>(&mut self, env: &mut E, p: ParticipantId, _now: u64) {
        let hello = Coord::Hello { boot_id: self.boot_id };
        self.send_coord(env, p, &hello);
        if let Some(pending) = &self.refresh.pending {
            let msg = Coord::RefreshDone { session: pending.session, new_sharing_id: *pending.key.share.sharing_id() };
            self.send_coord(env, p, &msg);
        }
    }

    /// Drops every triple and presignature (they belong to a sharing no longer in use).
    pub(super) fn discard_pools(&mut self) {
        let mut changes_ids: Vec<(tdsigner_store::RecordKind, [u8; 32])> = Vec::new();
        changes_ids.extend(self.triples.keys().map(|k| (super::node::TRIPLE_RECORD, *k)));
        changes_ids.extend(self.presigs.keys().map(|k| (super::node::PRESIGNATURE_RECORD, *k)));
        self.triples.clear();
        self.presigs.clear();
        for chunk in changes_ids.chunks(256) {
            let changes: Vec<Change<'_>> = chunk.iter().map(|(kind, id)| Change::Delete { kind: *kind, id }).collect();
            self.store_commit(&changes);
        }
    }

    /// The contract's running keyset key, if this node's active share matches it.
    pub(super) fn signing_key_ok(&self) -> bool {
        let Some(r) = self.contract.as_ref().and_then(ContractState::running) else { return false };
        let Some(a) = &self.active else { return false };
        r.root_key.is_some() && uncompressed(&a.share.public_key()) == r.root_key
    }

    /// Who may lead signing (the leader order is over these): the running participants; while
    /// resharing, those of them that stay (the contract takes `respond` only from participants
    /// of the new set).
    pub(super) fn running_ids(&self) -> Vec<ParticipantId> {
        match &self.contract {
            Some(ContractState::Running(r)) => r.parameters.ids().into_iter().map(ParticipantId).collect(),
            Some(ContractState::Resharing { previous, resharing }) => {
                let new = resharing.parameters.ids();
                previous.parameters.ids().into_iter().filter(|i| new.contains(i)).map(ParticipantId).collect()
            }
            _ => Vec::new(),
        }
    }
}
