//! near's EdDSA signing (FROST v1 on ed25519, RFC 9591 `FROST(Ed25519, SHA-512)`), message
//! compatible, as near's node runs it: the 32-byte tweak is read little-endian mod ℓ and added
//! to every signer's share (and `tweak·G` to the public key) before a plain two-round FROST run
//! with exactly the signer set. Shared channel, two waitpoints:
//! 0. each follower sends its `SigningCommitments` (hiding D, binding E) privately to the leader;
//! 1. the leader sends the `SigningPackage` (all commitments by identifier, and the message) to
//!    everyone, each follower answers privately with its `SignatureShare`.
//!
//! The leader aggregates, verifies the signature against the tweaked key and returns it;
//! followers return `None`. frost-core's serde types carry a header `[0, [b1, 69, f0, da]]`
//! (format version 0 and the ed25519 ciphersuite's tag), which we produce and require.

use alloc::collections::VecDeque;
use alloc::string::ToString;
use alloc::vec::Vec;
use curve25519_dalek::{EdwardsPoint, Scalar};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha512};
use zeroize::Zeroize;

use super::channel::{ChannelTag, Header, Inbox, HEADER_LEN};
use super::curve::{Curve, Ed25519};
use super::error::{DecodeError, ProtocolError};
use super::msgpack::{Reader, Writer};
use super::protocol::{Action, Outgoing, Participants, Protocol};

/// Distinct headers an EdDSA sign run buffers at most (near: 2).
pub const EDDSA_MAX_HEADERS: usize = 2;
/// frost-core's serialization header for ed25519 values: version 0, ciphersuite tag.
const FROST_HEADER_TAG: [u8; 4] = [0xb1, 0x69, 0xf0, 0xda];
const CONTEXT: &[u8] = b"FROST-ED25519-SHA512-v1";
/// Largest message accepted in a signing package (the contract allows 1232 bytes).
pub const MAX_MESSAGE_LEN: usize = 1 << 16;

fn h512(parts: &[&[u8]]) -> [u8; 64] {
    let mut h = Sha512::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn h_scalar(parts: &[&[u8]]) -> Scalar {
    Scalar::from_bytes_mod_order_wide(&h512(parts))
}

fn write_header(w: &mut Writer) {
    w.array(2);
    w.uint(0);
    w.byte_array(&FROST_HEADER_TAG);
}

fn read_header(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    r.tuple(2, "frost header")?;
    if r.uint("frost version")? != 0 || r.byte_array::<4>("frost ciphersuite")? != FROST_HEADER_TAG
    {
        return Err(DecodeError::UnknownVariant {
            what: "frost header",
        });
    }
    Ok(())
}

fn read_point(r: &mut Reader<'_>, what: &'static str) -> Result<EdwardsPoint, DecodeError> {
    Ed25519::point_from_bytes(&r.byte_array::<32>(what)?).ok_or(DecodeError::BadPoint { what })
}

/// (hiding, binding) nonce commitments of one signer.
pub type Commitments = (EdwardsPoint, EdwardsPoint);

fn write_commitments(w: &mut Writer, c: &Commitments) {
    w.array(3);
    write_header(w);
    w.byte_array(c.0.compress().as_bytes());
    w.byte_array(c.1.compress().as_bytes());
}

/// Decodes a `SigningCommitments` value.
pub fn read_commitments(r: &mut Reader<'_>) -> Result<Commitments, DecodeError> {
    r.tuple(3, "signing commitments")?;
    read_header(r)?;
    Ok((
        read_point(r, "hiding commitment")?,
        read_point(r, "binding commitment")?,
    ))
}

/// A `SigningPackage`: commitments by participant id (sorted), and the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningPackage {
    pub commitments: Vec<(u32, Commitments)>,
    pub message: Vec<u8>,
}

impl SigningPackage {
    pub fn encode(&self, w: &mut Writer) {
        w.array(3);
        write_header(w);
        w.map(self.commitments.len());
        for (id, c) in &self.commitments {
            w.byte_array(&Ed25519::scalar_to_bytes(&Ed25519::participant_scalar(*id)));
            write_commitments(w, c);
        }
        w.byte_array(&self.message);
    }

    /// Decodes a package payload; identifiers must be small (a participant id + 1).
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(payload);
        r.tuple(3, "signing package")?;
        read_header(&mut r)?;
        let n = r.map_len("signing commitments map")?;
        let mut commitments = Vec::with_capacity(n);
        for _ in 0..n {
            let idb = r.byte_array::<32>("identifier")?;
            let small = idb[8..].iter().all(|b| *b == 0);
            let mut le = [0u8; 8];
            le.copy_from_slice(&idb[..8]);
            let id = u64::from_le_bytes(le)
                .checked_sub(1)
                .and_then(|v| u32::try_from(v).ok())
                .filter(|_| small)
                .ok_or(DecodeError::IntOutOfRange { what: "identifier" })?;
            commitments.push((id, read_commitments(&mut r)?));
        }
        let len = r.array_len("message")?;
        if len > MAX_MESSAGE_LEN {
            return Err(DecodeError::TooLong {
                what: "message",
                len,
                max: MAX_MESSAGE_LEN,
            });
        }
        let message = (0..len)
            .map(|_| {
                r.uint("message byte").and_then(|v| {
                    u8::try_from(v).map_err(|_| DecodeError::IntOutOfRange {
                        what: "message byte",
                    })
                })
            })
            .collect::<Result<Vec<u8>, _>>()?;
        r.finish()?;
        Ok(Self {
            commitments,
            message,
        })
    }
}

/// Decodes a `SignatureShare` payload: header and a canonical scalar.
pub fn decode_signature_share(payload: &[u8]) -> Result<Scalar, DecodeError> {
    let mut r = Reader::new(payload);
    r.tuple(2, "signature share")?;
    read_header(&mut r)?;
    let s = r.byte_array::<32>("signature share")?;
    r.finish()?;
    Ed25519::scalar_from_bytes(&s).ok_or(DecodeError::BadScalar {
        what: "signature share",
    })
}

/// Decodes a follower's commitments payload.
pub fn decode_commitments(payload: &[u8]) -> Result<Commitments, DecodeError> {
    let mut r = Reader::new(payload);
    let c = read_commitments(&mut r)?;
    r.finish()?;
    Ok(c)
}

/// RFC 9591 binding factors ρ_i and the group commitment R for `package` under `pk`.
fn binding(package: &SigningPackage, pk: &EdwardsPoint) -> (Vec<(u32, Scalar)>, EdwardsPoint) {
    let mut encoded = Vec::with_capacity(package.commitments.len() * 96);
    for (id, (d, e)) in &package.commitments {
        encoded.extend_from_slice(&Ed25519::scalar_to_bytes(&Ed25519::participant_scalar(*id)));
        encoded.extend_from_slice(d.compress().as_bytes());
        encoded.extend_from_slice(e.compress().as_bytes());
    }
    let mut prefix = pk.compress().to_bytes().to_vec();
    prefix.extend_from_slice(&h512(&[CONTEXT, b"msg", &package.message]));
    prefix.extend_from_slice(&h512(&[CONTEXT, b"com", &encoded]));
    let mut rhos = Vec::with_capacity(package.commitments.len());
    let mut big_r = EdwardsPoint::default();
    for (id, (d, e)) in &package.commitments {
        let idb = Ed25519::scalar_to_bytes(&Ed25519::participant_scalar(*id));
        let rho = h_scalar(&[CONTEXT, b"rho", &prefix, &idb]);
        big_r += d + e * rho;
        rhos.push((*id, rho));
    }
    (rhos, big_r)
}

/// The Ed25519 challenge H(R ‖ A ‖ M).
fn challenge(big_r: &EdwardsPoint, pk: &EdwardsPoint, message: &[u8]) -> Scalar {
    h_scalar(&[
        big_r.compress().as_bytes(),
        pk.compress().as_bytes(),
        message,
    ])
}

/// Checks a 64-byte Ed25519 signature `R ‖ s` on `message` under `pk` (cofactorless).
pub fn verify(pk: &EdwardsPoint, message: &[u8], signature: &[u8; 64]) -> bool {
    let mut rb = [0u8; 32];
    rb.copy_from_slice(&signature[..32]);
    let mut sb = [0u8; 32];
    sb.copy_from_slice(&signature[32..]);
    let (Some(big_r), Some(s)) = (
        curve25519_dalek::edwards::CompressedEdwardsY(rb).decompress(),
        Ed25519::scalar_from_bytes(&sb),
    ) else {
        return false;
    };
    let c = challenge(&big_r, pk, message);
    EdwardsPoint::mul_base(&s) == big_r + pk * c
}

/// λ_me over `ids` at zero.
fn lagrange(ids: &[u32], me: u32) -> Scalar {
    let xi = Ed25519::participant_scalar(me);
    let (mut num, mut den) = (Scalar::ONE, Scalar::ONE);
    for &j in ids.iter().filter(|j| **j != me) {
        let xj = Ed25519::participant_scalar(j);
        num *= xj;
        den *= xj - xi;
    }
    num * den.invert()
}

/// The ed25519 tweak as near's node reads it: little-endian, reduced mod ℓ.
pub fn tweak_scalar(tweak: &[u8; 32]) -> Scalar {
    Scalar::from_bytes_mod_order(*tweak)
}

enum Stage {
    /// Leader: collecting followers' commitments.
    Commitments,
    /// Follower: waiting for the leader's signing package.
    Package,
    /// Leader: collecting signature shares.
    Shares,
    Done,
}

/// One signer's run of near's FROST v1 EdDSA signing.
pub struct EddsaSign {
    me: u32,
    leader: u32,
    threshold: usize,
    participants: Participants,
    /// Tweaked share and key.
    share: Scalar,
    public_key: EdwardsPoint,
    message: Vec<u8>,
    nonces: (Scalar, Scalar),
    commitments: Vec<Option<Commitments>>,
    package: Option<SigningPackage>,
    z: Vec<Option<Scalar>>,
    inbox: Inbox,
    out: VecDeque<Outgoing>,
    stage: Stage,
    signature: Option<[u8; 64]>,
    failed: bool,
    returned: bool,
}

impl Drop for EddsaSign {
    fn drop(&mut self) {
        self.share.zeroize();
        self.nonces.0.zeroize();
        self.nonces.1.zeroize();
    }
}

/// RFC 9591 nonce: H3(random ‖ secret share).
fn nonce(share: &Scalar, rng: &mut impl CryptoRngCore) -> Scalar {
    let mut random = [0u8; 32];
    rng.fill_bytes(&mut random);
    let n = h_scalar(&[CONTEXT, b"nonce", &random, share.as_bytes()]);
    random.zeroize();
    n
}

impl EddsaSign {
    /// `share`/`public_key` are the keygen output (untweaked); `tweak` the request's 32 bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        participants: &[u32],
        threshold: usize,
        me: u32,
        leader: u32,
        share: Scalar,
        public_key: EdwardsPoint,
        tweak: &[u8; 32],
        message: Vec<u8>,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, ProtocolError> {
        let bad = |s: &str| Err(ProtocolError::BadInput(s.to_string()));
        let Some(set) = Participants::new(participants) else {
            return bad("duplicate participants");
        };
        if set.len() < 2 || threshold < 2 || set.len() < threshold {
            return bad("need at least threshold ≥ 2 signers");
        }
        if !set.contains(me) || !set.contains(leader) {
            return bad("me and the leader must be signers");
        }
        let t = tweak_scalar(tweak);
        let share = share + t;
        let public_key = public_key + EdwardsPoint::mul_base(&t);
        let nonces = (nonce(&share, rng), nonce(&share, rng));
        let mine = (
            EdwardsPoint::mul_base(&nonces.0),
            EdwardsPoint::mul_base(&nonces.1),
        );
        let n = set.len();
        let mut s = Self {
            me,
            leader,
            threshold,
            share,
            public_key,
            message,
            nonces,
            commitments: alloc::vec![None; n],
            package: None,
            z: alloc::vec![None; n],
            inbox: Inbox::new(EDDSA_MAX_HEADERS),
            out: VecDeque::new(),
            stage: if me == leader {
                Stage::Commitments
            } else {
                Stage::Package
            },
            signature: None,
            failed: false,
            returned: false,
            participants: set,
        };
        let i = s.index(me);
        s.commitments[i] = Some(mine);
        if me != leader {
            let mut w = Writer::with_prefix(&Self::header(0).to_bytes());
            write_commitments(&mut w, &mine);
            s.out.push_back(Outgoing::Private(leader, w.into_vec()));
        }
        Ok(s)
    }

    fn header(waitpoint: u64) -> Header {
        Header::new(ChannelTag::shared(), waitpoint)
    }

    fn index(&self, p: u32) -> usize {
        self.participants.index(p).unwrap_or(0)
    }

    /// Our signature share z_i for `package`.
    fn signature_share(&self, package: &SigningPackage) -> Result<Scalar, ProtocolError> {
        let mine = (
            EdwardsPoint::mul_base(&self.nonces.0),
            EdwardsPoint::mul_base(&self.nonces.1),
        );
        let ours = package.commitments.iter().find(|(id, _)| *id == self.me);
        if ours.map(|(_, c)| *c) != Some(mine) {
            return Err(ProtocolError::BadInput(
                "signing package lacks our commitments".to_string(),
            ));
        }
        let (rhos, big_r) = binding(package, &self.public_key);
        let rho = rhos
            .iter()
            .find(|(id, _)| *id == self.me)
            .map(|(_, r)| *r)
            .unwrap_or(Scalar::ZERO);
        let ids: Vec<u32> = package.commitments.iter().map(|(id, _)| *id).collect();
        let c = challenge(&big_r, &self.public_key, &package.message);
        Ok(self.nonces.0 + self.nonces.1 * rho + lagrange(&ids, self.me) * self.share * c)
    }
}

impl EddsaSign {
    fn malformed(from: u32, waitpoint: u64) -> impl FnOnce(DecodeError) -> ProtocolError {
        move |error| ProtocolError::Malformed {
            from,
            waitpoint,
            error,
        }
    }

    /// Leader: all commitments in → send the package and compute our own share.
    fn send_package(&mut self) -> Result<(), ProtocolError> {
        let ids = self.participants.ids().to_vec();
        let commitments = ids
            .iter()
            .zip(&self.commitments)
            .map(|(id, c)| c.map(|c| (*id, c)))
            .collect::<Option<Vec<_>>>()
            .ok_or(ProtocolError::Finished)?;
        let package = SigningPackage {
            commitments,
            message: self.message.clone(),
        };
        let mut w = Writer::with_prefix(&Self::header(1).to_bytes());
        package.encode(&mut w);
        self.out.push_back(Outgoing::Many(w.into_vec()));
        let i = self.index(self.me);
        self.z[i] = Some(self.signature_share(&package)?);
        self.package = Some(package);
        Ok(())
    }

    /// Follower: answer the leader's package with our signature share.
    fn answer_package(&mut self, package: SigningPackage) -> Result<(), ProtocolError> {
        if package.message != self.message {
            return Err(ProtocolError::BadInput(
                "signing package message differs from ours".to_string(),
            ));
        }
        if package.commitments.len() < self.threshold {
            return Err(ProtocolError::BadInput(
                "signing package has fewer than threshold commitments".to_string(),
            ));
        }
        let mut z = self.signature_share(&package)?;
        let mut w = Writer::with_prefix(&Self::header(1).to_bytes());
        w.array(2);
        write_header(&mut w);
        w.byte_array(z.as_bytes());
        z.zeroize();
        self.out
            .push_back(Outgoing::Private(self.leader, w.into_vec()));
        Ok(())
    }

    /// Leader: all shares in → aggregate and verify.
    fn aggregate(&mut self) -> Result<(), ProtocolError> {
        let package = self.package.as_ref().ok_or(ProtocolError::Finished)?;
        let (_, big_r) = binding(package, &self.public_key);
        let z = self.z.iter().flatten().fold(Scalar::ZERO, |acc, z| acc + z);
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(big_r.compress().as_bytes());
        sig[32..].copy_from_slice(z.as_bytes());
        if !verify(&self.public_key, &self.message, &sig) {
            return Err(ProtocolError::BadInput(
                "aggregated signature failed to verify".to_string(),
            ));
        }
        self.signature = Some(sig);
        Ok(())
    }

    fn advance(&mut self) -> Result<(), ProtocolError> {
        loop {
            match self.stage {
                Stage::Commitments => {
                    let Some((from, msg)) = self.inbox.pop(Self::header(0)) else {
                        return Ok(());
                    };
                    let c =
                        decode_commitments(&msg[HEADER_LEN..]).map_err(Self::malformed(from, 0))?;
                    let i = self.index(from);
                    self.commitments[i].get_or_insert(c);
                    if self.commitments.iter().all(Option::is_some) {
                        self.send_package()?;
                        self.stage = Stage::Shares;
                    }
                }
                Stage::Package => {
                    let Some((from, msg)) = self.inbox.pop(Self::header(1)) else {
                        return Ok(());
                    };
                    if from != self.leader {
                        continue;
                    }
                    let package = SigningPackage::decode(&msg[HEADER_LEN..])
                        .map_err(Self::malformed(from, 1))?;
                    self.answer_package(package)?;
                    self.stage = Stage::Done;
                }
                Stage::Shares => {
                    let Some((from, msg)) = self.inbox.pop(Self::header(1)) else {
                        return Ok(());
                    };
                    let z = decode_signature_share(&msg[HEADER_LEN..])
                        .map_err(Self::malformed(from, 1))?;
                    let i = self.index(from);
                    self.z[i].get_or_insert(z);
                    if self.z.iter().all(Option::is_some) {
                        self.aggregate()?;
                        self.stage = Stage::Done;
                    }
                }
                Stage::Done => return Ok(()),
            }
        }
    }
}

impl Protocol for EddsaSign {
    /// The leader's 64-byte signature `R ‖ s`; `None` at followers.
    type Output = Option<[u8; 64]>;

    fn poke(&mut self) -> Result<Action<Self::Output>, ProtocolError> {
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
        if matches!(self.stage, Stage::Done) {
            self.returned = true;
            return Ok(Action::Return(self.signature));
        }
        Ok(Action::Wait)
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
