//! near's DKG (PedPop+ with echo broadcast), message compatible, for keygen, reshare and
//! refresh on any [`Curve`].
//!
//! Waitpoints on the shared channel, in order:
//! 0. echo broadcast of a random 32-byte session contribution; the session id is the
//!    domain-separated hash (separator 0) of all contributions in participant order;
//! 1. everyone sends the hash (separator 2) of `(me, commitment, session_id)`;
//! 2. echo broadcast of `(commitment, proof)`: the Feldman commitment of our polynomial of
//!    degree t−1 and a Schnorr proof of knowledge of its constant term (challenge
//!    `HDKG(LE32(1) ‖ session_id ‖ id ‖ a₀·G ‖ R)`). In a reshare, a joiner has constant term
//!    zero: it sends the commitment without the (identity) first coefficient and no proof;
//! 3. private evaluations of our polynomial at each other participant's point;
//! 4. echo broadcast of `(true, session_id)`; every vote must be exactly that.
//!
//! The generic hash is `SHA-256("Near threshold signature generic hash" ‖ msgpack((sep, data)))`.
//! A reshare checks that the new public key equals the old one; refresh is a reshare with
//! identical old and new sets.

use alloc::collections::VecDeque;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;
use ff::Field;
use group::Group;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use super::channel::{ChannelTag, Header, Inbox};
use super::curve::Curve;
use super::echo::{EchoBroadcast, Wire};
use super::error::{DecodeError, ProtocolError};
use super::msgpack::{Reader, Writer};
use super::protocol::{Action, Outgoing, Participants, Protocol};

/// Distinct (channel, waitpoint) headers a DKG run buffers at most (near: 5).
pub const DKG_MAX_HEADERS: usize = 5;

const HASH_LABEL: &[u8] = b"Near threshold signature generic hash";

/// `SHA-256(label ‖ msgpack([separator, value]))` with `value` already encoded by `write`.
fn separated_hash(separator: u32, write: impl FnOnce(&mut Writer)) -> [u8; 32] {
    let mut w = Writer::new();
    w.array(2);
    w.uint(u64::from(separator));
    write(&mut w);
    let mut h = Sha256::new();
    h.update(HASH_LABEL);
    h.update(w.as_slice());
    h.finalize().into()
}

/// The result of a DKG: our share of the secret and the common public key.
pub struct KeygenOutput<C: Curve> {
    private_share: C::Scalar,
    public_key: C::Point,
}

impl<C: Curve> KeygenOutput<C> {
    pub fn new(private_share: C::Scalar, public_key: C::Point) -> Self {
        Self {
            private_share,
            public_key,
        }
    }
    pub fn private_share(&self) -> &C::Scalar {
        &self.private_share
    }
    pub fn public_key(&self) -> C::Point {
        self.public_key
    }
}

impl<C: Curve> Drop for KeygenOutput<C> {
    fn drop(&mut self) {
        self.private_share.zeroize();
    }
}

/// What a reshare starts from.
pub struct ReshareInput<C: Curve> {
    pub old_participants: Vec<u32>,
    pub old_threshold: usize,
    /// Our old share; `None` for a joiner (not in the old set).
    pub old_share: Option<C::Scalar>,
    pub old_public_key: C::Point,
}

/// `(commitment, proof)` as broadcast at waitpoint 2.
pub struct CommitmentMessage<C: Curve> {
    pub coefficients: Vec<C::Point>,
    pub proof: Option<(C::Point, C::Scalar)>,
}

impl<C: Curve> Clone for CommitmentMessage<C> {
    fn clone(&self) -> Self {
        Self {
            coefficients: self.coefficients.clone(),
            proof: self.proof,
        }
    }
}

impl<C: Curve> core::fmt::Debug for CommitmentMessage<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CommitmentMessage")
            .field("coefficients", &self.coefficients)
            .field("proof", &self.proof)
            .finish()
    }
}

impl<C: Curve> PartialEq for CommitmentMessage<C> {
    fn eq(&self, other: &Self) -> bool {
        self.coefficients == other.coefficients && self.proof == other.proof
    }
}

fn write_commitment<C: Curve>(w: &mut Writer, coefficients: &[C::Point]) {
    w.array(coefficients.len());
    for c in coefficients {
        // Never the identity: only non-zero random coefficients and old constant terms.
        w.byte_array(&C::point_to_bytes(c).unwrap_or_default());
    }
}

fn read_point<C: Curve>(r: &mut Reader<'_>, what: &'static str) -> Result<C::Point, DecodeError> {
    C::point_from_bytes(&r.byte_vec(C::POINT_LEN, what)?).ok_or(DecodeError::BadPoint { what })
}

impl<C: Curve> Wire for CommitmentMessage<C> {
    fn encode(&self, w: &mut Writer) {
        w.array(2);
        write_commitment::<C>(w, &self.coefficients);
        match &self.proof {
            None => w.nil(),
            Some((big_r, z)) => {
                let mut sig = C::point_to_bytes(big_r).unwrap_or_default();
                sig.extend_from_slice(&C::scalar_to_bytes(z));
                w.byte_array(&sig);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.tuple(2, "commitment message")?;
        let len = r.array_len("commitment")?;
        let coefficients = (0..len)
            .map(|_| read_point::<C>(r, "commitment coefficient"))
            .collect::<Result<Vec<_>, _>>()?;
        let proof = if r.nil() {
            None
        } else {
            let sig = r.byte_vec(C::POINT_LEN + 32, "proof of knowledge")?;
            let big_r = C::point_from_bytes(&sig[..C::POINT_LEN])
                .ok_or(DecodeError::BadPoint { what: "proof R" })?;
            let mut z = [0u8; 32];
            z.copy_from_slice(&sig[C::POINT_LEN..]);
            let z = C::scalar_from_bytes(&z).ok_or(DecodeError::BadScalar { what: "proof z" })?;
            Some((big_r, z))
        };
        Ok(Self {
            coefficients,
            proof,
        })
    }
}

/// Decodes one waitpoint-2 payload (for tests and fuzzing).
pub fn decode_commitment_vote<C: Curve>(
    payload: &[u8],
) -> Result<(usize, super::echo::Vote<CommitmentMessage<C>>), DecodeError> {
    super::echo::decode_vote(payload)
}

/// Decodes a private share payload (waitpoint 3): a canonical 32-byte scalar.
pub fn decode_share<C: Curve>(payload: &[u8]) -> Result<C::Scalar, DecodeError> {
    let mut r = Reader::new(payload);
    let bytes = r.byte_array::<32>("signing share")?;
    r.finish()?;
    C::scalar_from_bytes(&bytes).ok_or(DecodeError::BadScalar {
        what: "signing share",
    })
}

/// Decodes a commitment hash payload (waitpoint 1).
pub fn decode_hash(payload: &[u8]) -> Result<[u8; 32], DecodeError> {
    let mut r = Reader::new(payload);
    let h = r.byte_array::<32>("commitment hash")?;
    r.finish()?;
    Ok(h)
}

/// λ_me over `set` at zero, with participant p at x = p + 1.
fn lagrange_at_zero<C: Curve>(set: &Participants, me: u32) -> C::Scalar {
    let xi = C::participant_scalar(me);
    let mut num = C::Scalar::ONE;
    let mut den = C::Scalar::ONE;
    for p in set.others(me) {
        let xj = C::participant_scalar(p);
        num *= xj;
        den *= xj - xi;
    }
    // Distinct participants give distinct points, so den ≠ 0.
    num * Option::<C::Scalar>::from(den.invert()).unwrap_or(C::Scalar::ZERO)
}

fn evaluate<C: Curve>(coefficients: &[C::Scalar], id: u32) -> C::Scalar {
    let x = C::participant_scalar(id);
    coefficients
        .iter()
        .rev()
        .fold(C::Scalar::ZERO, |acc, c| acc * x + c)
}

fn evaluate_commitment<C: Curve>(coefficients: &[C::Point], id: u32) -> C::Point {
    let x = C::participant_scalar(id);
    coefficients
        .iter()
        .rev()
        .fold(C::Point::identity(), |acc, c| acc * x + c)
}

enum Stage<C: Curve> {
    SessionIds(EchoBroadcast<[u8; 32]>),
    CommitHashes,
    Commitments(EchoBroadcast<CommitmentMessage<C>>),
    Shares,
    Success(EchoBroadcast<(bool, [u8; 32])>),
    Done,
}

/// One participant's run of near's DKG (keygen, reshare or refresh).
pub struct Dkg<C: Curve> {
    me: u32,
    participants: Participants,
    threshold: usize,
    old_participants: Option<Participants>,
    old_public_key: Option<C::Point>,
    /// Our secret polynomial, constant term first (zero for a reshare joiner).
    coefficients: Vec<C::Scalar>,
    nonce: C::Scalar,
    inbox: Inbox,
    out: VecDeque<Outgoing>,
    stage: Stage<C>,
    session_id: [u8; 32],
    hashes: Vec<Option<[u8; 32]>>,
    commitments: Vec<Vec<C::Point>>,
    share: C::Scalar,
    shares_seen: Vec<bool>,
    public_key: Option<C::Point>,
    my_commitment: Option<CommitmentMessage<C>>,
    failed: bool,
    returned: bool,
}

impl<C: Curve> Drop for Dkg<C> {
    fn drop(&mut self) {
        self.coefficients.zeroize();
        self.nonce.zeroize();
        self.share.zeroize();
    }
}

fn check_set(ids: &[u32], me: u32, threshold: usize) -> Result<Participants, ProtocolError> {
    let bad = |s: &str| Err(ProtocolError::BadInput(s.to_string()));
    let Some(set) = Participants::new(ids) else {
        return bad("duplicate participants");
    };
    if set.len() < 2 {
        return bad("need at least 2 participants");
    }
    if threshold < 2 || threshold > set.len() {
        return bad("threshold must be between 2 and the number of participants");
    }
    if !set.contains(me) {
        return bad("own id is not among the participants");
    }
    Ok(set)
}

impl<C: Curve> Dkg<C> {
    /// Keygen among `participants` with reconstruction threshold `threshold`.
    pub fn keygen(
        participants: &[u32],
        me: u32,
        threshold: usize,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, ProtocolError> {
        let set = check_set(participants, me, threshold)?;
        let secret = C::random_nonzero(rng);
        Self::start(set, me, threshold, secret, None, rng)
    }

    /// Reshare to `participants` (the new set, which runs the protocol) with `threshold`.
    pub fn reshare(
        participants: &[u32],
        me: u32,
        threshold: usize,
        old: ReshareInput<C>,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, ProtocolError> {
        let set = check_set(participants, me, threshold)?;
        let bad = |s: &str| Err(ProtocolError::BadInput(s.to_string()));
        let Some(old_set) = Participants::new(&old.old_participants) else {
            return bad("duplicate old participants");
        };
        let common = old_set.intersection(&set);
        if common.len() < old.old_threshold {
            return bad("fewer old members in the new set than the old threshold");
        }
        let secret = match (old_set.contains(me), old.old_share) {
            (true, Some(x)) => lagrange_at_zero::<C>(&common, me) * x,
            (true, None) => return bad("an old member must provide its share"),
            (false, Some(_)) => return bad("a joiner must not provide a share"),
            (false, None) => C::Scalar::ZERO,
        };
        if old_set.contains(me) && bool::from(secret.is_zero()) {
            return bad("old member with a zero share");
        }
        Self::start(
            set,
            me,
            threshold,
            secret,
            Some((old_set, old.old_public_key)),
            rng,
        )
    }

    fn start(
        participants: Participants,
        me: u32,
        threshold: usize,
        secret: C::Scalar,
        old: Option<(Participants, C::Point)>,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, ProtocolError> {
        let mut contribution = [0u8; 32];
        rng.fill_bytes(&mut contribution);
        let mut coefficients = vec![secret];
        coefficients.extend((1..threshold).map(|_| C::random_nonzero(rng)));
        let nonce = C::random_nonzero(rng);
        let n = participants.len();
        let (old_participants, old_public_key) = match old {
            Some((set, pk)) => (Some(set), Some(pk)),
            None => (None, None),
        };
        let mut out = VecDeque::new();
        let header = Header::new(ChannelTag::shared(), 0);
        let broadcast = EchoBroadcast::start(header, &participants, me, contribution, &mut out)?;
        Ok(Self {
            me,
            threshold,
            old_participants,
            old_public_key,
            coefficients,
            nonce,
            inbox: Inbox::new(DKG_MAX_HEADERS),
            out,
            stage: Stage::SessionIds(broadcast),
            session_id: [0u8; 32],
            hashes: vec![None; n],
            commitments: vec![Vec::new(); n],
            share: C::Scalar::ZERO,
            shares_seen: vec![false; n],
            public_key: None,
            my_commitment: None,
            failed: false,
            returned: false,
            participants,
        })
    }

    fn header(waitpoint: u64) -> Header {
        Header::new(ChannelTag::shared(), waitpoint)
    }

    fn index(&self, p: u32) -> usize {
        // Only called with members of the participant list.
        self.participants.index(p).unwrap_or(0)
    }

    /// Am I sending a proof (keygen, or an old member in a reshare)?
    fn is_old_or_keygen(&self, p: u32) -> bool {
        self.old_participants.as_ref().is_none_or(|o| o.contains(p))
    }
}

impl<C: Curve> Dkg<C> {
    /// The proof-of-knowledge challenge (domain separator 1).
    fn challenge(&self, id: u32, vk: &C::Point, big_r: &C::Point) -> C::Scalar {
        let mut pre = Vec::with_capacity(4 + 32 + 32 + 2 * C::POINT_LEN);
        pre.extend_from_slice(&1u32.to_le_bytes());
        pre.extend_from_slice(&self.session_id);
        pre.extend_from_slice(&C::scalar_to_bytes(&C::participant_scalar(id)));
        pre.extend_from_slice(&C::point_to_bytes(vk).unwrap_or_default());
        pre.extend_from_slice(&C::point_to_bytes(big_r).unwrap_or_default());
        C::hash_dkg(&pre)
    }

    /// The commitment hash (domain separator 2) of `(p, commitment, session_id)`.
    fn commitment_hash(&self, p: u32, coefficients: &[C::Point]) -> [u8; 32] {
        separated_hash(2, |w| {
            w.array(3);
            w.uint(u64::from(p));
            write_commitment::<C>(w, coefficients);
            w.byte_array(&self.session_id);
        })
    }

    fn full_commitment(&self, coefficients: &[C::Point]) -> Vec<C::Point> {
        let mut full = coefficients.to_vec();
        if full.len() + 1 == self.threshold {
            full.insert(0, C::Point::identity());
        }
        full
    }

    /// Session id, our commitment and proof, and the commitment hash sent at waitpoint 1.
    fn after_session_ids(&mut self, contributions: &[[u8; 32]]) {
        self.session_id = separated_hash(0, |w| {
            w.array(1);
            w.array(contributions.len());
            for c in contributions {
                w.byte_array(c);
            }
        });
        let g = C::Point::generator();
        let skip = usize::from(bool::from(self.coefficients[0].is_zero()));
        let commitment: Vec<C::Point> = self.coefficients[skip..].iter().map(|c| g * c).collect();
        let proof = self.is_old_or_keygen(self.me).then(|| {
            let big_r = g * self.nonce;
            let c = self.challenge(self.me, &(g * self.coefficients[0]), &big_r);
            (big_r, self.nonce + self.coefficients[0] * c)
        });
        let hash = self.commitment_hash(self.me, &commitment);
        let mine = self.index(self.me);
        self.hashes[mine] = Some(hash);
        self.commitments[mine] = self.full_commitment(&commitment);
        let mut w = Writer::with_prefix(&Self::header(1).to_bytes());
        w.byte_array(&hash);
        self.out.push_back(Outgoing::Many(w.into_vec()));
        self.my_commitment = Some(CommitmentMessage {
            coefficients: commitment,
            proof,
        });
    }

    /// Checks one other participant's broadcast commitment against its role, proof and hash.
    fn verify_commitment(&self, p: u32, m: &CommitmentMessage<C>) -> Result<(), ProtocolError> {
        let len = m.coefficients.len();
        let old_member = self.is_old_or_keygen(p);
        match &m.proof {
            None if old_member => return Err(ProtocolError::WrongRole { from: p }),
            Some(_) if !old_member => return Err(ProtocolError::WrongRole { from: p }),
            None if len + 1 != self.threshold => {
                return Err(ProtocolError::WrongCommitmentLength {
                    from: p,
                    got: len,
                    expected: self.threshold - 1,
                })
            }
            None => {}
            Some((big_r, z)) => {
                if len != self.threshold {
                    return Err(ProtocolError::WrongCommitmentLength {
                        from: p,
                        got: len,
                        expected: self.threshold,
                    });
                }
                let vk = m.coefficients[0];
                let c = self.challenge(p, &vk, big_r);
                if *big_r != C::Point::generator() * z - vk * c {
                    return Err(ProtocolError::InvalidProofOfKnowledge { from: p });
                }
            }
        }
        if self.hashes[self.index(p)] != Some(self.commitment_hash(p, &m.coefficients)) {
            return Err(ProtocolError::InvalidCommitmentHash { from: p });
        }
        Ok(())
    }

    /// Verifies every commitment, fixes the public key and sends the private evaluations.
    fn after_commitments(
        &mut self,
        messages: &[CommitmentMessage<C>],
    ) -> Result<(), ProtocolError> {
        let others: Vec<u32> = self.participants.others(self.me).collect();
        for p in &others {
            let m = &messages[self.index(*p)];
            self.verify_commitment(*p, m)?;
            let full = self.full_commitment(&m.coefficients);
            let i = self.index(*p);
            self.commitments[i] = full;
        }
        let pk = self
            .commitments
            .iter()
            .fold(C::Point::identity(), |acc, c| acc + c[0]);
        if bool::from(pk.is_identity()) || self.old_public_key.is_some_and(|old| old != pk) {
            return Err(ProtocolError::PublicKeyMismatch);
        }
        self.public_key = Some(pk);
        for p in &others {
            let mut w = Writer::with_prefix(&Self::header(3).to_bytes());
            let mut value = evaluate::<C>(&self.coefficients, *p);
            w.byte_array(&C::scalar_to_bytes(&value));
            value.zeroize();
            self.out.push_back(Outgoing::Private(*p, w.into_vec()));
        }
        self.share = evaluate::<C>(&self.coefficients, self.me);
        Ok(())
    }

    /// Takes one private share from `from`; true once all others' shares are in.
    fn take_share(&mut self, from: u32, payload: &[u8]) -> Result<bool, ProtocolError> {
        let i = self.index(from);
        let mut s = decode_share::<C>(payload).map_err(|error| ProtocolError::Malformed {
            from,
            waitpoint: 3,
            error,
        })?;
        if !self.shares_seen[i] {
            let expected = evaluate_commitment::<C>(&self.commitments[i], self.me);
            if C::Point::generator() * s != expected {
                return Err(ProtocolError::InvalidShare { from });
            }
            self.share += s;
            self.shares_seen[i] = true;
        }
        s.zeroize();
        let mine = self.index(self.me);
        Ok(self
            .shares_seen
            .iter()
            .enumerate()
            .all(|(j, seen)| *seen || j == mine))
    }
}

impl<C: Curve> Dkg<C> {
    fn drain<T: Wire>(
        &mut self,
        waitpoint: u64,
        b: &mut EchoBroadcast<T>,
    ) -> Result<(), ProtocolError> {
        while !b.is_done() {
            let Some((from, msg)) = self.inbox.pop(Self::header(waitpoint)) else {
                break;
            };
            b.receive(from, &msg[super::channel::HEADER_LEN..], &mut self.out)?;
        }
        Ok(())
    }

    /// Runs one stage as far as the buffered messages allow; returns the next stage and
    /// whether it changed.
    fn run_stage(&mut self, stage: Stage<C>) -> Result<(Stage<C>, bool), ProtocolError> {
        match stage {
            Stage::SessionIds(mut b) => {
                self.drain(0, &mut b)?;
                match b.output() {
                    Some(contributions) => {
                        self.after_session_ids(&contributions);
                        Ok((Stage::CommitHashes, true))
                    }
                    None => Ok((Stage::SessionIds(b), false)),
                }
            }
            Stage::CommitHashes => {
                while let Some((from, msg)) = self.inbox.pop(Self::header(1)) {
                    let hash =
                        decode_hash(&msg[super::channel::HEADER_LEN..]).map_err(|error| {
                            ProtocolError::Malformed {
                                from,
                                waitpoint: 1,
                                error,
                            }
                        })?;
                    let i = self.index(from);
                    self.hashes[i].get_or_insert(hash);
                }
                if self.hashes.iter().any(Option::is_none) {
                    return Ok((Stage::CommitHashes, false));
                }
                let mine = self.my_commitment.take().ok_or(ProtocolError::Finished)?;
                let b = EchoBroadcast::start(
                    Self::header(2),
                    &self.participants,
                    self.me,
                    mine,
                    &mut self.out,
                )?;
                Ok((Stage::Commitments(b), true))
            }
            Stage::Commitments(mut b) => {
                self.drain(2, &mut b)?;
                match b.output() {
                    Some(messages) => {
                        self.after_commitments(&messages)?;
                        Ok((Stage::Shares, true))
                    }
                    None => Ok((Stage::Commitments(b), false)),
                }
            }
            Stage::Shares => {
                while let Some((from, msg)) = self.inbox.pop(Self::header(3)) {
                    if self.take_share(from, &msg[super::channel::HEADER_LEN..])? {
                        let vote = (true, self.session_id);
                        let b = EchoBroadcast::start(
                            Self::header(4),
                            &self.participants,
                            self.me,
                            vote,
                            &mut self.out,
                        )?;
                        return Ok((Stage::Success(b), true));
                    }
                }
                Ok((Stage::Shares, false))
            }
            Stage::Success(mut b) => {
                self.drain(4, &mut b)?;
                match b.output() {
                    Some(votes) => {
                        if votes.iter().any(|v| *v != (true, self.session_id)) {
                            return Err(ProtocolError::FinalVoteFailed);
                        }
                        Ok((Stage::Done, true))
                    }
                    None => Ok((Stage::Success(b), false)),
                }
            }
            Stage::Done => Ok((Stage::Done, false)),
        }
    }

    fn advance(&mut self) -> Result<(), ProtocolError> {
        loop {
            let stage = core::mem::replace(&mut self.stage, Stage::Done);
            let (next, changed) = self.run_stage(stage)?;
            self.stage = next;
            if !changed {
                return Ok(());
            }
        }
    }
}

impl<C: Curve> Protocol for Dkg<C> {
    type Output = KeygenOutput<C>;

    fn poke(&mut self) -> Result<Action<KeygenOutput<C>>, ProtocolError> {
        if self.failed || self.returned {
            return Err(ProtocolError::Finished);
        }
        if let Some(o) = self.out.pop_front() {
            return Ok(o.into_action());
        }
        if let Err(e) = self.advance() {
            self.failed = true;
            return Err(e);
        }
        if let Some(o) = self.out.pop_front() {
            return Ok(o.into_action());
        }
        match (&self.stage, self.public_key) {
            (Stage::Done, Some(pk)) => {
                self.returned = true;
                Ok(Action::Return(KeygenOutput::new(self.share, pk)))
            }
            _ => Ok(Action::Wait),
        }
    }

    fn message(&mut self, from: u32, data: Vec<u8>) -> Result<(), ProtocolError> {
        if self.failed || self.returned {
            return Ok(());
        }
        if from == self.me || !self.participants.contains(from) {
            return Err(ProtocolError::UnknownSender { from });
        }
        self.inbox
            .push(from, data)
            .inspect_err(|_| self.failed = true)
    }
}
