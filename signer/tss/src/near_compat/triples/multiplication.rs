//! One multiplication between us and one peer for one triple of the batch: additive shares
//! of `a·b' + a'·b` from our (a, b) and the peer's (a', b'), on the private channel
//! `private(me, peer)/index`, whose children carry near's sub-protocols:
//! `/0` batch random OT (`/0/j` row j), `/1` random OT extension (`/1/0` its correlated OT),
//! `/2` and `/3` the two MTAs. Which side is the "sender" is decided by the caller from near's
//! hash order. A sans-IO state machine: `advance` consumes whatever the inbox holds for it.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use k256::elliptic_curve::Field;
use k256::{ProjectivePoint, Scalar};
use rand_core::CryptoRngCore;
use zeroize::Zeroize;

use super::bits::{bit, expand_transpose, mask, random_block, KAPPA};
use super::ot::{self, EXTENDED_ROWS, MTA_SIZE, ROT_COUNT};
use super::wire;
use crate::near_compat::channel::HEADER_LEN;
use crate::near_compat::channel::{ChannelTag, Header, Inbox};
use crate::near_compat::error::{DecodeError, ProtocolError};
use crate::near_compat::msgpack::Writer;
use crate::near_compat::protocol::Outgoing;

/// The channel tags of one multiplication.
struct Tags {
    brot: ChannelTag,
    rows: Vec<ChannelTag>,
    rote: ChannelTag,
    cot: ChannelTag,
    mta: [ChannelTag; 2],
}

impl Tags {
    fn new(root: ChannelTag) -> Self {
        let brot = root.child(0);
        let rote = root.child(1);
        Self {
            rows: (0..KAPPA as u64).map(|j| brot.child(j)).collect(),
            brot,
            cot: rote.child(0),
            rote,
            mta: [root.child(2), root.child(3)],
        }
    }
}

/// The next message from `peer` at `header`; messages from anyone else on a private channel
/// are dropped, as near's private channel does.
fn take(inbox: &mut Inbox, header: Header, peer: u32) -> Option<Vec<u8>> {
    while let Some((from, msg)) = inbox.pop(header) {
        if from == peer {
            return Some(msg);
        }
    }
    None
}

fn send(out: &mut VecDeque<Outgoing>, to: u32, header: Header, body: impl FnOnce(&mut Writer)) {
    let mut w = Writer::with_prefix(&header.to_bytes());
    body(&mut w);
    out.push_back(Outgoing::Private(to, w.into_vec()));
}

/// Base-OT receiver / extension sender / MTA sender.
struct SenderSide {
    delta: u128,
    xs: Vec<Scalar>,
    seed: [u8; 32],
    deltas: [Vec<Scalar>; 2],
    t: Vec<u128>,
    q: Vec<u128>,
    stage: u8,
    alpha: [Option<Scalar>; 2],
}

/// Base-OT sender / extension receiver / MTA receiver.
struct ReceiverSide {
    y: Scalar,
    big_z: ProjectivePoint,
    y_enc: Vec<u8>,
    choices: Vec<u128>,
    seeds: [[u8; 32]; 2],
    keys: Vec<Option<(u128, u128)>>,
    t0: Vec<u128>,
    tv: Vec<(bool, Scalar)>,
    stage: u8,
    beta: [Option<Scalar>; 2],
}

enum Side {
    Sender(Box<SenderSide>),
    Receiver(Box<ReceiverSide>),
}

/// One (triple, peer) multiplication.
pub struct PairMultiplication {
    peer: u32,
    tags: Tags,
    sid: [u8; 32],
    a: Scalar,
    b: Scalar,
    side: Side,
    result: Option<Scalar>,
}

impl Drop for PairMultiplication {
    fn drop(&mut self) {
        self.a.zeroize();
        self.b.zeroize();
        match &mut self.side {
            Side::Sender(s) => {
                s.delta.zeroize();
                s.xs.zeroize();
                s.seed.zeroize();
                s.deltas.iter_mut().for_each(|d| d.zeroize());
                s.t.zeroize();
                s.q.zeroize();
            }
            Side::Receiver(r) => {
                r.y.zeroize();
                r.choices.zeroize();
                r.t0.zeroize();
                r.tv.iter_mut().for_each(|(_, v)| v.zeroize());
            }
        }
    }
}

fn malformed(peer: u32, waitpoint: u64) -> impl FnOnce(DecodeError) -> ProtocolError {
    move |error| ProtocolError::Malformed {
        from: peer,
        waitpoint,
        error,
    }
}

fn check(peer: u32, check: &'static str) -> impl FnOnce(ot::OtError) -> ProtocolError {
    move |_| ProtocolError::TripleCheckFailed {
        from: Some(peer),
        check,
    }
}

impl PairMultiplication {
    /// Starts the multiplication on `private(me, peer)/index`; the receiver side sends its
    /// base-OT key Y at once.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        me: u32,
        peer: u32,
        index: usize,
        sid: [u8; 32],
        a: Scalar,
        b: Scalar,
        sender: bool,
        rng: &mut impl CryptoRngCore,
        out: &mut VecDeque<Outgoing>,
    ) -> Self {
        let tags = Tags::new(ChannelTag::private(me, peer).child(index as u64));
        let side = if sender {
            let delta = random_block(rng);
            let xs = (0..KAPPA).map(|_| Scalar::random(&mut *rng)).collect();
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            let mut draw = || (0..MTA_SIZE).map(|_| Scalar::random(&mut *rng)).collect();
            let deltas = [draw(), draw()];
            Side::Sender(Box::new(SenderSide {
                delta,
                xs,
                seed,
                deltas,
                t: Vec::new(),
                q: Vec::new(),
                stage: 0,
                alpha: [None, None],
            }))
        } else {
            let y = Scalar::random(&mut *rng);
            let big_y = ProjectivePoint::GENERATOR * y;
            let choices = (0..EXTENDED_ROWS / KAPPA)
                .map(|_| random_block(rng))
                .collect();
            let mut seeds = [[0u8; 32]; 2];
            seeds.iter_mut().for_each(|s| rng.fill_bytes(s));
            send(out, peer, Header::new(tags.brot, 0), |w| {
                wire::put_point(w, &big_y)
            });
            Side::Receiver(Box::new(ReceiverSide {
                y,
                big_z: big_y * y,
                y_enc: ot::encode_y(&big_y).unwrap_or_default(),
                choices,
                seeds,
                keys: alloc::vec![None; KAPPA],
                t0: Vec::new(),
                tv: Vec::new(),
                stage: 0,
                beta: [None, None],
            }))
        };
        Self {
            peer,
            tags,
            sid,
            a,
            b,
            side,
            result: None,
        }
    }

    /// Every channel this multiplication receives on (for routing incoming messages).
    pub fn tags(&self) -> impl Iterator<Item = ChannelTag> + '_ {
        let t = &self.tags;
        [t.brot, t.rote, t.cot, t.mta[0], t.mta[1]]
            .into_iter()
            .chain(t.rows.iter().copied())
    }

    /// Our additive share of the cross terms, once finished.
    pub fn result(&self) -> Option<Scalar> {
        self.result
    }

    /// Consumes available messages; `Ok(true)` if anything moved.
    pub fn advance(
        &mut self,
        inbox: &mut Inbox,
        out: &mut VecDeque<Outgoing>,
    ) -> Result<bool, ProtocolError> {
        if self.result.is_some() {
            return Ok(false);
        }
        let mut moved = false;
        loop {
            let step = match &mut self.side {
                Side::Sender(_) => self.sender_step(inbox, out)?,
                Side::Receiver(_) => self.receiver_step(inbox, out)?,
            };
            if !step {
                return Ok(moved);
            }
            moved = true;
        }
    }

    fn sender_step(
        &mut self,
        inbox: &mut Inbox,
        out: &mut VecDeque<Outgoing>,
    ) -> Result<bool, ProtocolError> {
        let (peer, tags, sid) = (self.peer, &self.tags, &self.sid);
        let Side::Sender(s) = &mut self.side else {
            return Ok(false);
        };
        match s.stage {
            0 => {
                let Some(m) = take(inbox, Header::new(tags.brot, 0), peer) else {
                    return Ok(false);
                };
                let big_y = wire::decode(&m[HEADER_LEN..], |r| wire::get_point(r, "base OT Y"))
                    .map_err(malformed(peer, 0))?;
                let y_enc =
                    ot::encode_y(&big_y).map_err(check(peer, "base OT Y is the identity"))?;
                let mut k = Vec::with_capacity(KAPPA);
                for (j, x) in s.xs.iter().enumerate() {
                    let (big_x, k_j) = ot::brot_receive_row(j, bit(s.delta, j), x, &big_y, &y_enc)
                        .map_err(check(peer, "base OT point is the identity"))?;
                    send(out, peer, Header::new(tags.rows[j], 0), |w| {
                        wire::put_point(w, &big_x)
                    });
                    k.push(k_j);
                }
                s.xs.zeroize();
                s.t = expand_transpose(&k, sid, EXTENDED_ROWS);
                k.zeroize();
                s.stage = 1;
            }
            1 => {
                let Some(m) = take(inbox, Header::new(tags.cot, 0), peer) else {
                    return Ok(false);
                };
                let u = wire::decode(&m[HEADER_LEN..], wire::get_ext_matrix)
                    .map_err(malformed(peer, 0))?;
                s.q = u.iter().zip(&s.t).map(|(u, t)| (u & s.delta) ^ t).collect();
                s.t.zeroize();
                let seed = s.seed;
                send(out, peer, Header::new(tags.rote, 0), |w| {
                    w.byte_array(&seed)
                });
                s.stage = 2;
            }
            2 => {
                let Some(m) = take(inbox, Header::new(tags.rote, 1), peer) else {
                    return Ok(false);
                };
                let (small_x, small_t) = wire::decode(&m[HEADER_LEN..], wire::get_ext_check)
                    .map_err(malformed(peer, 1))?;
                let chi = ot::challenge_blocks(&s.seed);
                ot::sender_check(&s.q, s.delta, &chi, small_x, &small_t)
                    .map_err(check(peer, "OT extension consistency check failed"))?;
                let v: Vec<(Scalar, Scalar)> = (0..ROT_COUNT)
                    .map(|i| {
                        (
                            ot::row_to_scalar(i, s.q[i]),
                            ot::row_to_scalar(i, s.q[i] ^ s.delta),
                        )
                    })
                    .collect();
                s.q.zeroize();
                let inputs = [self.a, self.b];
                for (k, (chunk, input)) in v.chunks(MTA_SIZE).zip(inputs).enumerate() {
                    let c = ot::mta_send(chunk, &input, &s.deltas[k]);
                    send(out, peer, Header::new(tags.mta[k], 0), |w| {
                        w.array(c.len());
                        for (c0, c1) in &c {
                            w.array(2);
                            wire::put_scalar(w, c0);
                            wire::put_scalar(w, c1);
                        }
                    });
                }
                s.stage = 3;
            }
            _ => {
                let mut moved = false;
                for k in 0..2 {
                    if s.alpha[k].is_some() {
                        continue;
                    }
                    let Some(m) = take(inbox, Header::new(tags.mta[k], 1), peer) else {
                        continue;
                    };
                    let (chi1, seed) = wire::decode(&m[HEADER_LEN..], wire::get_mta_reply)
                        .map_err(malformed(peer, 1))?;
                    s.alpha[k] = Some(ot::mta_send_finish(&s.deltas[k], &chi1, &seed));
                    moved = true;
                }
                if let [Some(a0), Some(a1)] = s.alpha {
                    self.result = Some(a0 + a1);
                    return Ok(false);
                }
                return Ok(moved);
            }
        }
        Ok(true)
    }

    fn receiver_step(
        &mut self,
        inbox: &mut Inbox,
        out: &mut VecDeque<Outgoing>,
    ) -> Result<bool, ProtocolError> {
        let (peer, tags, sid) = (self.peer, &self.tags, &self.sid);
        let Side::Receiver(r) = &mut self.side else {
            return Ok(false);
        };
        match r.stage {
            0 => {
                let mut moved = false;
                for j in 0..KAPPA {
                    if r.keys[j].is_some() {
                        continue;
                    }
                    let Some(m) = take(inbox, Header::new(tags.rows[j], 0), peer) else {
                        continue;
                    };
                    let big_x =
                        wire::decode(&m[HEADER_LEN..], |rd| wire::get_point(rd, "base OT X"))
                            .map_err(malformed(peer, 0))?;
                    let keys = ot::brot_send_row(j, &r.y, &r.y_enc, &r.big_z, &big_x)
                        .map_err(check(peer, "base OT point is the identity"))?;
                    r.keys[j] = Some(keys);
                    moved = true;
                }
                if r.keys.iter().any(Option::is_none) {
                    return Ok(moved);
                }
                let (mut k0, mut k1): (Vec<u128>, Vec<u128>) =
                    r.keys.iter().flatten().copied().unzip();
                r.keys.iter_mut().for_each(|k| *k = None);
                r.y.zeroize();
                r.t0 = expand_transpose(&k0, sid, EXTENDED_ROWS);
                let t1 = expand_transpose(&k1, sid, EXTENDED_ROWS);
                k0.zeroize();
                k1.zeroize();
                let choices = &r.choices;
                let u: Vec<u128> = (0..EXTENDED_ROWS)
                    .map(|i| r.t0[i] ^ t1[i] ^ mask(bit(choices[i / KAPPA], i % KAPPA)))
                    .collect();
                send(out, peer, Header::new(tags.cot, 0), |w| {
                    w.array(u.len());
                    u.iter().for_each(|row| wire::put_block(w, *row));
                });
                r.stage = 1;
            }
            1 => {
                let Some(m) = take(inbox, Header::new(tags.rote, 0), peer) else {
                    return Ok(false);
                };
                let seed = wire::decode(&m[HEADER_LEN..], |rd| {
                    rd.byte_array::<32>("OT extension seed")
                })
                .map_err(malformed(peer, 0))?;
                let chi = ot::challenge_blocks(&seed);
                let (small_x, small_t) = ot::receiver_check(&r.choices, &r.t0, &chi);
                send(out, peer, Header::new(tags.rote, 1), |w| {
                    w.array(2);
                    wire::put_double(w, small_x);
                    w.array(small_t.len());
                    small_t.iter().for_each(|v| wire::put_double(w, *v));
                });
                r.tv = (0..ROT_COUNT)
                    .map(|i| {
                        (
                            bit(r.choices[i / KAPPA], i % KAPPA),
                            ot::row_to_scalar(i, r.t0[i]),
                        )
                    })
                    .collect();
                r.t0.zeroize();
                r.stage = 2;
            }
            _ => {
                let mut moved = false;
                // The receiver multiplies the sender's a by our b on /2, its b by our a on /3.
                let inputs = [self.b, self.a];
                for k in 0..2 {
                    if r.beta[k].is_some() {
                        continue;
                    }
                    let Some(m) = take(inbox, Header::new(tags.mta[k], 0), peer) else {
                        continue;
                    };
                    let c = wire::decode(&m[HEADER_LEN..], wire::get_mta_pairs)
                        .map_err(malformed(peer, 0))?;
                    let tv = &r.tv[k * MTA_SIZE..(k + 1) * MTA_SIZE];
                    let (beta, chi1) = ot::mta_receive(tv, &c, &inputs[k], &r.seeds[k]).ok_or(
                        ProtocolError::TripleCheckFailed {
                            from: Some(peer),
                            check: "MTA size",
                        },
                    )?;
                    let seed = r.seeds[k];
                    send(out, peer, Header::new(tags.mta[k], 1), |w| {
                        w.array(2);
                        wire::put_scalar(w, &chi1);
                        w.byte_array(&seed);
                    });
                    r.beta[k] = Some(beta);
                    moved = true;
                }
                if let [Some(b0), Some(b1)] = r.beta {
                    self.result = Some(b0 + b1);
                    return Ok(false);
                }
                return Ok(moved);
            }
        }
        Ok(true)
    }
}

/// Our role towards `peer` for triple `index`: near compares hash((index, peer)) with
/// hash((index, me)); the side whose peer hashes lower is the sender.
pub fn is_sender(index: usize, me: u32, peer: u32) -> bool {
    role_key(index, peer) < role_key(index, me)
}

fn role_key(index: usize, p: u32) -> [u8; 32] {
    let mut w = Writer::new();
    w.array(2);
    w.uint(index as u64);
    w.uint(u64::from(p));
    super::generic_hash(w.as_slice())
}
