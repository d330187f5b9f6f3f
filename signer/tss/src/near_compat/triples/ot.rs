//! The two-party building blocks under each multiplication, as pure steps (the state machine
//! in `multiplication` moves the messages):
//!
//! - **batch random OT** (128 base OTs, Chou–Orlandi style): the sender publishes Y = y·G; for
//!   row i the receiver sends X_i = x_i·G (+ Y if its choice bit is set) and keys
//!   k_i = H(i, X_i, Y, x_i·Y); the sender gets k0_i = H(i, X_i, Y, y·X_i) and
//!   k1_i = H(i, X_i, Y, y·X_i − y·Y);
//! - **random OT extension** (KOS-style with the 256-bit GF check): 1024 extended rows from the
//!   base rows, a challenge vector from a seed the extension sender picks, and each row hashed
//!   to a scalar with a transcript RNG;
//! - **MTA**: turns the random OTs into additive shares of a·b.
//!
//! Roles follow near: the base-OT *receiver* is the extension *sender* and the MTA sender.

use alloc::vec::Vec;
use k256::elliptic_curve::bigint::U512;
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::subtle::{Choice, ConditionallySelectable};
use k256::elliptic_curve::Field;
use k256::{ProjectivePoint, Scalar};
use rand_core::RngCore;
use sha2::{Digest, Sha256};

use super::bits::{bit, column_chunks, gf_mul, mask, random_block, KAPPA};
use super::strobe::TranscriptRng;
use crate::near_compat::curve::{Curve, Secp256k1};

const BROT_HASH: &[u8] = b"Near threshold signatures batch ROT";
const ROTE_HASH: &[u8] = b"Random OT Extension Hash";

/// Scalars per MTA: the field's bit length plus the security parameter.
pub const MTA_SIZE: usize = 256 + KAPPA;
/// Random OTs per multiplication (two MTAs).
pub const ROT_COUNT: usize = 2 * MTA_SIZE;
/// Rows of the extended matrix: ROT_COUNT rounded up to 128, plus 2·128 for the check.
pub const EXTENDED_ROWS: usize = ROT_COUNT.div_ceil(KAPPA) * KAPPA + 2 * KAPPA;

/// Why a step failed (an identity point or a failed consistency check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtError {
    Identity,
    ConsistencyCheck,
}

/// Compressed encoding of the base-OT key Y, computed once per multiplication.
pub fn encode_y(big_y: &ProjectivePoint) -> Result<Vec<u8>, OtError> {
    Secp256k1::point_to_bytes(big_y).ok_or(OtError::Identity)
}

fn brot_hash(
    i: usize,
    big_x: &ProjectivePoint,
    y_enc: &[u8],
    p: &ProjectivePoint,
) -> Result<u128, OtError> {
    let mut h = Sha256::new();
    h.update(BROT_HASH);
    h.update((i as u64).to_le_bytes());
    h.update(Secp256k1::point_to_bytes(big_x).ok_or(OtError::Identity)?);
    h.update(y_enc);
    h.update(Secp256k1::point_to_bytes(p).ok_or(OtError::Identity)?);
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    Ok(u128::from_le_bytes(b))
}

/// Base-OT receiver, row `i`: (X_i to send, k_i).
pub fn brot_receive_row(
    i: usize,
    choice: bool,
    x: &Scalar,
    big_y: &ProjectivePoint,
    y_enc: &[u8],
) -> Result<(ProjectivePoint, u128), OtError> {
    let base = ProjectivePoint::GENERATOR * x;
    let big_x =
        ProjectivePoint::conditional_select(&base, &(base + big_y), Choice::from(u8::from(choice)));
    let k = brot_hash(i, &big_x, y_enc, &(*big_y * x))?;
    Ok((big_x, k))
}

/// Base-OT sender, row `i`: (k0_i, k1_i) from the receiver's X_i.
pub fn brot_send_row(
    i: usize,
    y: &Scalar,
    y_enc: &[u8],
    big_z: &ProjectivePoint,
    big_x: &ProjectivePoint,
) -> Result<(u128, u128), OtError> {
    let yx = *big_x * y;
    Ok((
        brot_hash(i, big_x, y_enc, &yx)?,
        brot_hash(i, big_x, y_enc, &(yx - big_z))?,
    ))
}

/// Row `i` of the extended matrix hashed to a scalar.
pub fn row_to_scalar(i: usize, row: u128) -> Scalar {
    let mut h = Sha256::new();
    h.update(ROTE_HASH);
    h.update((i as u64).to_le_bytes());
    h.update(row.to_le_bytes());
    let seed: [u8; 32] = h.finalize().into();
    let mut wide = [0u8; 64];
    TranscriptRng::from_seed(&seed).fill_bytes(&mut wide);
    let s = <Scalar as Reduce<U512>>::reduce_bytes(&wide.into());
    wide.fill(0);
    s
}

/// The extension's challenge vector from the sender's seed.
pub fn challenge_blocks(seed: &[u8; 32]) -> Vec<u128> {
    let mut prng = TranscriptRng::from_seed(seed);
    (0..EXTENDED_ROWS / KAPPA)
        .map(|_| random_block(&mut prng))
        .collect()
}

/// Σ_c gf_mul(column j of chunk c, chi_c) for every column j.
pub fn column_checks(m: &[u128], chi: &[u128]) -> Vec<[u128; 2]> {
    let chunks = column_chunks(m);
    (0..KAPPA)
        .map(|j| {
            let mut acc = [0u128; 2];
            for (chunk, c) in chunks.iter().zip(chi) {
                let p = gf_mul(chunk[j], *c);
                acc[0] ^= p[0];
                acc[1] ^= p[1];
            }
            acc
        })
        .collect()
}

/// Extension receiver's check values: x̃ = Σ gf_mul(b_c, chi_c) and t̃_j.
pub fn receiver_check(choices: &[u128], t0: &[u128], chi: &[u128]) -> ([u128; 2], Vec<[u128; 2]>) {
    let mut small_x = [0u128; 2];
    for (b, c) in choices.iter().zip(chi) {
        let p = gf_mul(*b, *c);
        small_x[0] ^= p[0];
        small_x[1] ^= p[1];
    }
    (small_x, column_checks(t0, chi))
}

/// Extension sender's check: q̃_j = t̃_j ⊕ (Δ_j · x̃) for every column.
pub fn sender_check(
    q: &[u128],
    delta: u128,
    chi: &[u128],
    small_x: [u128; 2],
    small_t: &[[u128; 2]],
) -> Result<(), OtError> {
    let small_q = column_checks(q, chi);
    let mut bad = 0u128;
    for (j, (sq, st)) in small_q.iter().zip(small_t).enumerate() {
        let m = mask(bit(delta, j));
        bad |= sq[0] ^ st[0] ^ (small_x[0] & m);
        bad |= sq[1] ^ st[1] ^ (small_x[1] & m);
    }
    if bad == 0 && small_t.len() == KAPPA {
        Ok(())
    } else {
        Err(OtError::ConsistencyCheck)
    }
}

/// MTA sender: the pairs (v0 + δ + a, v1 + δ − a) it sends.
pub fn mta_send(v: &[(Scalar, Scalar)], a: &Scalar, delta: &[Scalar]) -> Vec<(Scalar, Scalar)> {
    v.iter()
        .zip(delta)
        .map(|((v0, v1), d)| (*v0 + d + a, *v1 + d - a))
        .collect()
}

/// MTA sender's share from the receiver's (chi1, seed): −(δ_0·chi1 + Σ_{i≥1} δ_i·chi_i).
pub fn mta_send_finish(delta: &[Scalar], chi1: &Scalar, seed: &[u8; 32]) -> Scalar {
    let mut prng = TranscriptRng::from_seed(seed);
    let mut alpha = Scalar::ZERO;
    for (i, d) in delta.iter().enumerate() {
        let chi = if i == 0 {
            *chi1
        } else {
            Scalar::random(&mut prng)
        };
        alpha += *d * chi;
    }
    -alpha
}

/// MTA receiver: from the sender's pairs, its share β and the chi1 to send back.
pub fn mta_receive(
    tv: &[(bool, Scalar)],
    c: &[(Scalar, Scalar)],
    b: &Scalar,
    seed: &[u8; 32],
) -> Option<(Scalar, Scalar)> {
    if tv.is_empty() || c.len() != tv.len() {
        return None;
    }
    let mut prng = TranscriptRng::from_seed(seed);
    let chi: Vec<Scalar> = (1..tv.len()).map(|_| Scalar::random(&mut prng)).collect();
    let mut chi1 = Scalar::ZERO;
    for ((t, _), x) in tv.iter().skip(1).zip(&chi) {
        chi1 += Scalar::conditional_select(x, &-*x, Choice::from(u8::from(*t)));
    }
    chi1 = *b - chi1;
    chi1 = Scalar::conditional_select(&chi1, &-chi1, Choice::from(u8::from(tv[0].0)));
    let mut beta = Scalar::ZERO;
    for (i, ((t, v), (c0, c1))) in tv.iter().zip(c).enumerate() {
        let m = Scalar::conditional_select(c0, c1, Choice::from(u8::from(*t))) - v;
        beta += if i == 0 { chi1 } else { chi[i - 1] } * m;
    }
    Some((beta, chi1))
}

#[cfg(test)]
mod tests {
    use super::super::bits::expand_transpose;
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn base_ot_rows_agree() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let y = Secp256k1::random_nonzero(&mut rng);
        let big_y = ProjectivePoint::GENERATOR * y;
        let big_z = big_y * y;
        for (i, choice) in [(0, false), (1, true)] {
            let x = Secp256k1::random_nonzero(&mut rng);
            let y_enc = encode_y(&big_y).unwrap();
            let (big_x, k) = brot_receive_row(i, choice, &x, &big_y, &y_enc).unwrap();
            let (k0, k1) = brot_send_row(i, &y, &y_enc, &big_z, &big_x).unwrap();
            assert_eq!(k, if choice { k1 } else { k0 });
            assert_ne!(k0, k1);
        }
    }

    /// Extension + MTA end to end: the check passes, the random OTs correlate, and the two
    /// MTA shares add up to a·b.
    #[test]
    fn extension_and_mta_compute_a_product() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let delta = random_block(&mut rng);
        let (k0, k1): (Vec<u128>, Vec<u128>) = (0..KAPPA)
            .map(|_| (random_block(&mut rng), random_block(&mut rng)))
            .unzip();
        let k: Vec<u128> = (0..KAPPA)
            .map(|j| if bit(delta, j) { k1[j] } else { k0[j] })
            .collect();
        let sid = [9u8; 32];
        let choices: Vec<u128> = (0..EXTENDED_ROWS / KAPPA)
            .map(|_| random_block(&mut rng))
            .collect();
        let x: Vec<u128> = (0..EXTENDED_ROWS)
            .map(|i| mask(bit(choices[i / KAPPA], i % KAPPA)))
            .collect();
        let t0 = expand_transpose(&k0, &sid, EXTENDED_ROWS);
        let t1 = expand_transpose(&k1, &sid, EXTENDED_ROWS);
        let u: Vec<u128> = (0..EXTENDED_ROWS).map(|i| t0[i] ^ t1[i] ^ x[i]).collect();
        let t = expand_transpose(&k, &sid, EXTENDED_ROWS);
        let q: Vec<u128> = (0..EXTENDED_ROWS).map(|i| (u[i] & delta) ^ t[i]).collect();
        let chi = challenge_blocks(&[3u8; 32]);
        let (sx, st) = receiver_check(&choices, &t0, &chi);
        sender_check(&q, delta, &chi, sx, &st).unwrap();
        let mut bad = st.clone();
        bad[5][0] ^= 1;
        assert!(sender_check(&q, delta, &chi, sx, &bad).is_err());
        let v: Vec<(Scalar, Scalar)> = (0..MTA_SIZE)
            .map(|i| (row_to_scalar(i, q[i]), row_to_scalar(i, q[i] ^ delta)))
            .collect();
        let tv: Vec<(bool, Scalar)> = (0..MTA_SIZE)
            .map(|i| (bit(choices[i / KAPPA], i % KAPPA), row_to_scalar(i, t0[i])))
            .collect();
        for i in 0..MTA_SIZE {
            assert_eq!(tv[i].1, if tv[i].0 { v[i].1 } else { v[i].0 });
        }
        let (a, b) = (Scalar::random(&mut rng), Scalar::random(&mut rng));
        let deltas: Vec<Scalar> = (0..MTA_SIZE).map(|_| Scalar::random(&mut rng)).collect();
        let c = mta_send(&v, &a, &deltas);
        let (beta, chi1) = mta_receive(&tv, &c, &b, &[4u8; 32]).unwrap();
        let alpha = mta_send_finish(&deltas, &chi1, &[4u8; 32]);
        assert_eq!(alpha + beta, a * b);
    }
}
