//! near's confidential key derivation (CKD) on BLS12-381, message compatible, with its publicly
//! verifiable variant (CKD-PV). The derived secret is the BLS signature x·H(pk ‖ app_id) under
//! the master key (keys in G2, H = hash-to-G1 `BLS12381G1_XMD:SHA-256_SSWU_RO_` with near's
//! domain tag), ElGamal-blinded to the app's G1 key A: each signer picks y_i and sends the leader,
//! privately at waitpoint 0 on the shared channel, (λ_i·y_i·G, λ_i·(x_i·H + y_i·A)); the leader
//! sums them into (Y, C) and the app unmasks C − a·Y. In the PV variant the app also gives its
//! key in G2; the run refuses to start unless e(A, G2) = e(G1, A2), and the leader checks
//! e(C, G2) = e(Y, A2)·e(H, pk) before returning.

use alloc::collections::VecDeque;
use alloc::string::ToString;
use alloc::vec::Vec;
use bls12_381::hash_to_curve::{ExpandMessageState, HashToCurve, InitExpandMessage};
use bls12_381::{G1Affine, G1Projective, G2Prepared, G2Projective, Gt, Scalar};
use ff::Field;
use group::Curve as _;
use rand_core::CryptoRngCore;
use zeroize::Zeroize;

use super::channel::{ChannelTag, Header, Inbox, HEADER_LEN};
use super::error::{DecodeError, ProtocolError};
use super::msgpack::{Reader, Writer};
use super::protocol::{Action, Outgoing, Participants, Protocol};

/// Distinct headers a CKD run buffers at most (near: 1).
pub const CKD_MAX_HEADERS: usize = 1;
/// near's hash-to-G1 domain separation tag.
pub const CKD_DOMAIN: &[u8] = b"NEAR BLS12381G1_XMD:SHA-256_SSWU_RO_";

/// `expand_message_xmd` with SHA-256 (RFC 9380 §5.3.1) through the maintained `elliptic-curve`
/// implementation, computed eagerly and handed to bls12_381's hash-to-curve.
struct Xmd;

/// The expanded bytes and how many were read.
struct XmdBytes(Vec<u8>, usize);

impl<'x> InitExpandMessage<'x> for Xmd {
    type Expander = XmdBytes;

    fn init_expand(message: &[u8], dst: &'x [u8], len_in_bytes: usize) -> XmdBytes {
        use k256::elliptic_curve::hash2curve::{ExpandMsg, ExpandMsgXmd, Expander};
        let mut out = alloc::vec![0u8; len_in_bytes];
        // hash_to_field asks for 2·64 bytes with a short DST: within XMD's limits, cannot fail.
        if let Ok(mut e) =
            ExpandMsgXmd::<sha2::Sha256>::expand_message(&[message], &[dst], len_in_bytes)
        {
            e.fill_bytes(&mut out);
        }
        XmdBytes(out, 0)
    }
}

impl ExpandMessageState<'_> for XmdBytes {
    fn read_into(&mut self, output: &mut [u8]) -> usize {
        let rest = &self.0[self.1..];
        let n = rest.len().min(output.len());
        output[..n].copy_from_slice(&rest[..n]);
        self.1 += n;
        n
    }

    fn remain(&self) -> usize {
        self.0.len() - self.1
    }
}

/// H(compressed pk ‖ app_id) in G1.
pub fn hash_app_id(public_key: &G2Projective, app_id: &[u8]) -> G1Projective {
    let mut input = public_key.to_affine().to_compressed().to_vec();
    input.extend_from_slice(app_id);
    <G1Projective as HashToCurve<Xmd>>::hash_to_curve(&input, CKD_DOMAIN)
}

/// e(a1, b1)·e(a2, b2)·… = 1.
fn pairing_product_is_one(terms: &[(G1Projective, G2Projective)]) -> bool {
    let prepared: Vec<(G1Affine, G2Prepared)> = terms
        .iter()
        .map(|(a, b)| (a.to_affine(), G2Prepared::from(b.to_affine())))
        .collect();
    let refs: Vec<(&G1Affine, &G2Prepared)> = prepared.iter().map(|(a, b)| (a, b)).collect();
    bls12_381::multi_miller_loop(&refs).final_exponentiation() == Gt::identity()
}

/// CKD-PV's precondition: the app's G1 and G2 keys have the same discrete log.
pub fn app_keys_consistent(pk1: &G1Projective, pk2: &G2Projective) -> bool {
    pairing_product_is_one(&[
        (*pk1, -G2Projective::generator()),
        (G1Projective::generator(), *pk2),
    ])
}

/// CKD-PV's leader check: e(C, G2) = e(Y, A2)·e(H(pk ‖ app_id), pk).
pub fn output_verifies(
    out: &CkdOutput,
    pk2: &G2Projective,
    public_key: &G2Projective,
    hash: &G1Projective,
) -> bool {
    pairing_product_is_one(&[
        (out.big_c, -G2Projective::generator()),
        (out.big_y, *pk2),
        (*hash, *public_key),
    ])
}

/// The blinded derived key (Y, C).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CkdOutput {
    pub big_y: G1Projective,
    pub big_c: G1Projective,
}

impl CkdOutput {
    pub fn encode(&self, w: &mut Writer) {
        w.array(2);
        w.byte_array(&self.big_y.to_affine().to_compressed());
        w.byte_array(&self.big_c.to_affine().to_compressed());
    }

    /// A signer's contribution: two compressed G1 points (subgroup-checked).
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(payload);
        r.tuple(2, "CKD output")?;
        let mut point = |what| -> Result<G1Projective, DecodeError> {
            let bytes = r.byte_array::<48>(what)?;
            Option::<G1Affine>::from(G1Affine::from_compressed(&bytes))
                .map(G1Projective::from)
                .ok_or(DecodeError::BadPoint { what })
        };
        let big_y = point("Y")?;
        let big_c = point("C")?;
        r.finish()?;
        Ok(Self { big_y, big_c })
    }
}

/// The inputs of one CKD run.
pub struct CkdArgs {
    pub private_share: Scalar,
    pub public_key: G2Projective,
    pub app_id: Vec<u8>,
    /// The app's G1 key A.
    pub app_public_key: G1Projective,
    /// The app's G2 key, for CKD-PV.
    pub app_public_key_g2: Option<G2Projective>,
}

impl Drop for CkdArgs {
    fn drop(&mut self) {
        self.private_share.zeroize();
    }
}

/// λ_me over `set` at zero, with participant p at x = p + 1.
fn lagrange(set: &Participants, me: u32) -> Scalar {
    let xi = Scalar::from(u64::from(me) + 1);
    let (mut num, mut den) = (Scalar::ONE, Scalar::ONE);
    for p in set.others(me) {
        let xj = Scalar::from(u64::from(p) + 1);
        num *= xj;
        den *= xj - xi;
    }
    num * Option::<Scalar>::from(den.invert()).unwrap_or(Scalar::ZERO)
}

/// One signer's run of near's CKD (or CKD-PV).
pub struct Ckd {
    me: u32,
    participants: Participants,
    /// (A2, pk, H) for the PV leader check.
    pv_check: Option<(G2Projective, G2Projective, G1Projective)>,
    sum: CkdOutput,
    received: Vec<bool>,
    inbox: Inbox,
    out: VecDeque<Outgoing>,
    done: bool,
    output: Option<CkdOutput>,
    failed: bool,
    returned: bool,
}

impl Ckd {
    /// Checks the inputs as near's `ckd`/`ckd_pv` do and computes our contribution.
    pub fn new(
        participants: &[u32],
        leader: u32,
        me: u32,
        args: CkdArgs,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, ProtocolError> {
        let bad = |s: &str| Err(ProtocolError::BadInput(s.to_string()));
        if participants.len() < 2 {
            return bad("CKD needs at least 2 participants");
        }
        let Some(set) = Participants::new(participants) else {
            return bad("duplicate participants");
        };
        if !set.contains(me) || !set.contains(leader) {
            return bad("me and the leader must be participants");
        }
        if let Some(pk2) = &args.app_public_key_g2 {
            if !app_keys_consistent(&args.app_public_key, pk2) {
                return bad("app_pk verification failed");
            }
        }
        let hash = hash_app_id(&args.public_key, &args.app_id);
        let mut y = Scalar::random(&mut *rng);
        let lambda = lagrange(&set, me);
        let mine = CkdOutput {
            big_y: G1Projective::generator() * y * lambda,
            big_c: (hash * args.private_share + args.app_public_key * y) * lambda,
        };
        y.zeroize();
        let mut out = VecDeque::new();
        if me != leader {
            let mut w = Writer::with_prefix(&Header::new(ChannelTag::shared(), 0).to_bytes());
            mine.encode(&mut w);
            out.push_back(Outgoing::Private(leader, w.into_vec()));
        }
        let mut received = alloc::vec![false; set.len()];
        if let Some(i) = set.index(me) {
            received[i] = true;
        }
        Ok(Self {
            me,
            pv_check: args
                .app_public_key_g2
                .map(|pk2| (pk2, args.public_key, hash)),
            sum: mine,
            received,
            inbox: Inbox::new(CKD_MAX_HEADERS),
            out,
            done: me != leader,
            output: None,
            failed: false,
            returned: false,
            participants: set,
        })
    }

    fn advance(&mut self) -> Result<(), ProtocolError> {
        while !self.done {
            let Some((from, msg)) = self.inbox.pop(Header::new(ChannelTag::shared(), 0)) else {
                return Ok(());
            };
            let part = CkdOutput::decode(&msg[HEADER_LEN..]).map_err(|error| {
                ProtocolError::Malformed {
                    from,
                    waitpoint: 0,
                    error,
                }
            })?;
            match self.participants.index(from) {
                Some(i) if !self.received[i] => self.received[i] = true,
                _ => continue,
            }
            self.sum.big_y += part.big_y;
            self.sum.big_c += part.big_c;
            if self.received.iter().all(|r| *r) {
                if let Some((pk2, pk, hash)) = &self.pv_check {
                    if !output_verifies(&self.sum, pk2, pk, hash) {
                        return Err(ProtocolError::BadInput(
                            "CKD output failed to verify".to_string(),
                        ));
                    }
                }
                self.output = Some(self.sum);
                self.done = true;
            }
        }
        Ok(())
    }
}

impl Protocol for Ckd {
    /// The leader's (Y, C); `None` at followers.
    type Output = Option<CkdOutput>;

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
        if self.done {
            self.returned = true;
            return Ok(Action::Return(self.output.take()));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9380 Appendix J.9.1 (BLS12381G1_XMD:SHA-256_SSWU_RO_), msg "abc".
    #[test]
    fn hash_to_g1_matches_rfc_9380() {
        let dst = b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_";
        let p = <G1Projective as HashToCurve<Xmd>>::hash_to_curve(b"abc", dst).to_affine();
        let x: alloc::string::String = p.to_uncompressed()[..48]
            .iter()
            .map(|b| alloc::format!("{b:02x}"))
            .collect();
        assert_eq!(
            x,
            "03567bc5ef9c690c2ab2ecdf6a96ef1c139cc0b2f284dca0a9a7943388a49a3aee664ba5379a7655d3c68900be2f6903"
        );
    }
}
