//! Oblivious transfer for the triple multiplication: base OTs, actively secure OT extension
//! and the OT-based multiplicative-to-additive conversion (MtA).
//!
//! Per ordered pair (S, R) — S multiplies its input `a` with R's input `b`:
//! 1. **Base OT** (Chou–Orlandi "simplest OT" with hashing of the whole transcript; roles
//!    reversed as IKNP needs): R samples `y`, sends `Y = yG`; S, with secret choice string
//!    `Δ ∈ {0,1}^128`, sends `X_l = x_l·G + Δ_l·Y` and keeps `k_l = H(x_l·Y)`; R derives
//!    `k0_l = H(y·X_l)`, `k1_l = H(y·(X_l − Y))`, so `k_l = k{Δ_l}_l`.
//! 2. **Extension** (IKNP with the KOS consistency check, Keller–Orsini–Scholl 2015): R expands
//!    both seeds of each column, sends `U^l = G(k0_l) ⊕ G(k1_l) ⊕ c` for its choice vector `c`;
//!    S obtains rows `q_k = t_k ⊕ c_k·Δ`. R proves consistency with `x = Σ χ_k c_k`,
//!    `t = Σ χ_k t_k` in GF(2^128), χ derived by hashing the session and `U` (Fiat–Shamir); S
//!    checks `Σ χ_k q_k = t ⊕ x·Δ`. 256 random padding OTs hide `c` in `x`.
//! 3. **Correlated OT → MtA** (Gilboa multiplication with the DKLs randomized encoding): R
//!    encodes `b = Σ g_k c_k` over a gadget of 256 powers of two and 128 public random scalars,
//!    choosing the 128 random bits itself, so any few bits a cheating S probes are uniform and
//!    independent of `b`. S sends `τ_k = H(k, q_k) − H(k, q_k ⊕ Δ) + a`; R gets
//!    `w_k = H(k, t_k) + c_k τ_k = H(k, q_k) + c_k a`. S outputs `α = −Σ g_k H(k, q_k)`, R
//!    outputs `β = Σ g_k w_k`, and `α + β = a·b`.
//!
//! A cheating S can make the result wrong (it cannot learn `b`); the triple protocol's final
//! check `Σ C_i = e·F` catches any wrong product, so triples are never wrong, only aborted.

use alloc::vec;
use alloc::vec::Vec;
use k256::elliptic_curve::subtle::{Choice, ConditionallySelectable};
use k256::elliptic_curve::Field;
use k256::{ProjectivePoint, Scalar};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::Shake128;
use zeroize::Zeroize;

use crate::math::{base_mul, bytes_to_scalar, Transcript};
use crate::participants::ParticipantId;

/// Base OTs per extension (computational security parameter).
pub const KAPPA: usize = 128;
/// OTs per multiplication: 256 for the bits of the encoding, 128 for the random gadget part.
pub const MTA_OTS: usize = 256 + 128;
/// Random padding OTs that hide the choice vector in the KOS check.
pub const KOS_PAD: usize = 256;

/// Total extended OTs for `count` multiplications.
pub fn extension_len(count: usize) -> usize {
    count * MTA_OTS + KOS_PAD
}

/// Domain of one ordered pair's OT instance.
#[derive(Clone)]
pub struct PairContext {
    digest: [u8; 32],
}

impl PairContext {
    pub fn new(session: &[u8; 32], sender: ParticipantId, receiver: ParticipantId) -> Self {
        let mut t = Transcript::new(b"ot pair");
        t.append(session)
            .append_u32(sender.0)
            .append_u32(receiver.0);
        PairContext { digest: t.finish() }
    }

    fn hash(&self, label: &[u8]) -> Transcript {
        let mut t = Transcript::new(label);
        t.append(&self.digest);
        t
    }

    /// Hash of a row to a scalar, used for the correlated OT pads.
    fn row_scalar(&self, prefix: &Sha256, index: usize, row: u128) -> Scalar {
        let mut h = prefix.clone();
        Digest::update(&mut h, (index as u64).to_le_bytes());
        Digest::update(&mut h, row.to_le_bytes());
        bytes_to_scalar(&h.finalize().into())
    }

    fn row_prefix(&self) -> Sha256 {
        let mut h = Sha256::new();
        Digest::update(&mut h, b"tdsigner-tss v1 cot");
        Digest::update(&mut h, self.digest);
        h
    }

    /// The public gadget vector: 2^k for k < 256, then 128 hash-derived scalars.
    fn gadget(&self) -> Vec<Scalar> {
        let mut g = Vec::with_capacity(MTA_OTS);
        let mut p = Scalar::ONE;
        for _ in 0..256 {
            g.push(p);
            p = p.double();
        }
        for k in 256..MTA_OTS {
            let mut t = self.hash(b"gadget");
            t.append_u32(k as u32);
            g.push(t.challenge());
        }
        g
    }

    fn prg(&self, seed: &[u8; 32], column: usize, out: &mut [u8]) {
        let mut x = Shake128::default();
        Update::update(&mut x, b"tdsigner-tss v1 prg");
        Update::update(&mut x, &self.digest);
        Update::update(&mut x, &(column as u32).to_le_bytes());
        Update::update(&mut x, seed);
        x.finalize_xof().read(out);
    }

    fn chi(&self, u: &[u8], m: usize) -> Vec<u128> {
        let mut t = self.hash(b"kos chi");
        t.append(u);
        let seed = t.finish();
        let mut x = Shake128::default();
        Update::update(&mut x, &seed);
        let mut rd = x.finalize_xof();
        let mut out = Vec::with_capacity(m);
        let mut b = [0u8; 16];
        for _ in 0..m {
            rd.read(&mut b);
            out.push(u128::from_le_bytes(b));
        }
        out
    }

    fn base_key(&self, l: usize, y: &[u8; 33], x: &[u8; 33], shared: &[u8; 33]) -> [u8; 32] {
        let mut t = self.hash(b"base ot");
        t.append_u32(l as u32).append(y).append(x).append(shared);
        t.finish()
    }
}

/// Compressed encodings of many points with a single field inversion.
pub fn encode_points(points: &[ProjectivePoint]) -> Vec<[u8; 33]> {
    use k256::elliptic_curve::group::GroupEncoding;
    use k256::elliptic_curve::BatchNormalize;
    let affine = <ProjectivePoint as BatchNormalize<[ProjectivePoint]>>::batch_normalize(points);
    affine
        .iter()
        .map(|a| {
            let mut b = [0u8; 33];
            b.copy_from_slice(&a.to_bytes());
            b
        })
        .collect()
}

/// GF(2^128) multiplication modulo x^128 + x^7 + x^2 + x + 1.
pub fn gf_mul(a: u128, b: u128) -> u128 {
    let mut lo = 0u128;
    let mut hi = 0u128;
    for i in 0..128 {
        let mask = 0u128.wrapping_sub((b >> i) & 1);
        lo ^= (a << i) & mask;
        if i != 0 {
            hi ^= (a >> (128 - i)) & mask;
        }
    }
    let r = hi ^ (hi << 1) ^ (hi << 2) ^ (hi << 7);
    let o = (hi >> 127) ^ (hi >> 126) ^ (hi >> 121);
    lo ^ r ^ o ^ (o << 1) ^ (o << 2) ^ (o << 7)
}

/// Extension receiver R's state: base-OT sender secret, then its seed pairs.
pub struct ReceiverSide {
    y: Scalar,
    big_y: ProjectivePoint,
    y_bytes: [u8; 33],
    seeds: Vec<([u8; 32], [u8; 32])>,
    choices: Vec<u8>,
    rows: Vec<u128>,
    gadget_bits: usize,
}

impl Drop for ReceiverSide {
    fn drop(&mut self) {
        self.y.zeroize();
        for (a, b) in self.seeds.iter_mut() {
            a.zeroize();
            b.zeroize();
        }
        self.choices.zeroize();
        self.rows.zeroize();
    }
}

impl ReceiverSide {
    /// Step 1: the base-OT sender message `Y`.
    pub fn new(rng: &mut impl CryptoRngCore) -> Self {
        let y = Scalar::random(&mut *rng);
        let big_y = base_mul(&y);
        let y_bytes = encode_points(&[big_y])[0];
        ReceiverSide {
            y,
            big_y,
            y_bytes,
            seeds: Vec::new(),
            choices: Vec::new(),
            rows: Vec::new(),
            gadget_bits: 0,
        }
    }

    #[cfg(test)]
    pub fn big_y(&self) -> &ProjectivePoint {
        &self.big_y
    }

    pub fn y_bytes(&self) -> &[u8; 33] {
        &self.y_bytes
    }

    /// Step 3: given S's `X_l`, encodes the inputs `bs`, returns `(U, x, t)`.
    pub fn extend(
        &mut self,
        ctx: &PairContext,
        xs: &[(ProjectivePoint, [u8; 33])],
        bs: &[Scalar],
        rng: &mut impl CryptoRngCore,
    ) -> (Vec<u8>, u128, u128) {
        let yy = self.big_y * self.y;
        let mut shared = Vec::with_capacity(2 * xs.len());
        for (x, _) in xs {
            let s0 = *x * self.y;
            shared.push(s0);
            shared.push(s0 - yy);
        }
        let mut enc = encode_points(&shared);
        self.seeds = xs
            .iter()
            .enumerate()
            .map(|(l, (_, xb))| {
                (
                    ctx.base_key(l, &self.y_bytes, xb, &enc[2 * l]),
                    ctx.base_key(l, &self.y_bytes, xb, &enc[2 * l + 1]),
                )
            })
            .collect();
        enc.zeroize();
        shared.zeroize();
        let m = extension_len(bs.len());
        let gadget = ctx.gadget();
        // Choice bits, one per byte for simplicity of the encoding step.
        let mut c = vec![0u8; m];
        for (j, b) in bs.iter().enumerate() {
            let block = &mut c[j * MTA_OTS..(j + 1) * MTA_OTS];
            let mut v = *b;
            for k in 256..MTA_OTS {
                let bit = (rng.next_u32() & 1) as u8;
                block[k] = bit;
                v -= Scalar::conditional_select(&Scalar::ZERO, &gadget[k], Choice::from(bit));
            }
            let mut vb = v.to_bytes();
            for (k, slot) in block.iter_mut().enumerate().take(256) {
                *slot = (vb[31 - k / 8] >> (k % 8)) & 1;
            }
            vb.zeroize();
            v.zeroize();
        }
        for slot in c.iter_mut().skip(bs.len() * MTA_OTS) {
            *slot = (rng.next_u32() & 1) as u8;
        }
        let mut packed_c = vec![0u8; m / 8];
        for (k, bit) in c.iter().enumerate() {
            packed_c[k / 8] |= bit << (k % 8);
        }
        let col_bytes = m / 8;
        let mut u = vec![0u8; KAPPA * col_bytes];
        let mut t_cols = vec![0u8; KAPPA * col_bytes];
        let mut tmp = vec![0u8; col_bytes];
        for l in 0..KAPPA {
            let (s0, s1) = &self.seeds[l];
            let tcol = &mut t_cols[l * col_bytes..(l + 1) * col_bytes];
            ctx.prg(s0, l, tcol);
            ctx.prg(s1, l, &mut tmp);
            let ucol = &mut u[l * col_bytes..(l + 1) * col_bytes];
            for i in 0..col_bytes {
                ucol[i] = tcol[i] ^ tmp[i] ^ packed_c[i];
            }
        }
        let rows = transpose(&t_cols, m);
        t_cols.zeroize();
        tmp.zeroize();
        packed_c.zeroize();
        let chi = ctx.chi(&u, m);
        let mut x = 0u128;
        let mut t = 0u128;
        for k in 0..m {
            x ^= chi[k] & 0u128.wrapping_sub(c[k] as u128);
            t ^= gf_mul(rows[k], chi[k]);
        }
        self.choices = c;
        self.rows = rows;
        self.gadget_bits = bs.len();
        (u, x, t)
    }

    /// Step 5: S's `τ` values give R's additive shares `β_j` of `a_j · b_j`.
    pub fn finish(&self, ctx: &PairContext, taus: &[Scalar]) -> Vec<Scalar> {
        let gadget = ctx.gadget();
        let prefix = ctx.row_prefix();
        let mut betas = Vec::with_capacity(self.gadget_bits);
        for j in 0..self.gadget_bits {
            let mut beta = Scalar::ZERO;
            for (k, g) in gadget.iter().enumerate() {
                let idx = j * MTA_OTS + k;
                let pad = ctx.row_scalar(&prefix, idx, self.rows[idx]);
                let w = pad
                    + Scalar::conditional_select(
                        &Scalar::ZERO,
                        &taus[idx],
                        Choice::from(self.choices[idx]),
                    );
                beta += g * &w;
            }
            betas.push(beta);
        }
        betas
    }
}

/// Extension sender S's state: its secret Δ and the keys it obtained.
pub struct SenderSide {
    delta: u128,
    keys: Vec<[u8; 32]>,
}

impl Drop for SenderSide {
    fn drop(&mut self) {
        self.delta.zeroize();
        for k in self.keys.iter_mut() {
            k.zeroize();
        }
    }
}

impl SenderSide {
    /// Step 2: answers R's `Y` with the base-OT receiver messages `X_l`.
    /// Returns the encodings of the `X_l` to send.
    pub fn new(
        ctx: &PairContext,
        big_y: &(ProjectivePoint, [u8; 33]),
        rng: &mut impl CryptoRngCore,
    ) -> (Self, Vec<[u8; 33]>) {
        let mut db = [0u8; 16];
        rng.fill_bytes(&mut db);
        let delta = u128::from_le_bytes(db);
        db.zeroize();
        // X_l and x_l·Y interleaved, encoded with one inversion.
        let mut points = Vec::with_capacity(2 * KAPPA);
        for l in 0..KAPPA {
            let mut x = Scalar::random(&mut *rng);
            let bit = Choice::from(((delta >> l) & 1) as u8);
            let add =
                ProjectivePoint::conditional_select(&ProjectivePoint::IDENTITY, &big_y.0, bit);
            points.push(base_mul(&x) + add);
            points.push(big_y.0 * x);
            x.zeroize();
        }
        let mut enc = encode_points(&points);
        points.zeroize();
        let keys = (0..KAPPA)
            .map(|l| ctx.base_key(l, &big_y.1, &enc[2 * l], &enc[2 * l + 1]))
            .collect();
        let xs = (0..KAPPA).map(|l| enc[2 * l]).collect();
        enc.zeroize();
        (SenderSide { delta, keys }, xs)
    }

    /// Step 4: checks R's extension and returns `(τ, α)` for inputs `as_`.
    /// `Err(())` if the KOS check fails (R cheated).
    pub fn respond(
        &self,
        ctx: &PairContext,
        u: &[u8],
        x: u128,
        t: u128,
        inputs: &[Scalar],
    ) -> Result<(Vec<Scalar>, Vec<Scalar>), ()> {
        let m = extension_len(inputs.len());
        let col_bytes = m / 8;
        if u.len() != KAPPA * col_bytes {
            return Err(());
        }
        let mut q_cols = vec![0u8; KAPPA * col_bytes];
        for l in 0..KAPPA {
            let qcol = &mut q_cols[l * col_bytes..(l + 1) * col_bytes];
            ctx.prg(&self.keys[l], l, qcol);
            let mask = 0u8.wrapping_sub(((self.delta >> l) & 1) as u8);
            for (q, uu) in qcol.iter_mut().zip(&u[l * col_bytes..(l + 1) * col_bytes]) {
                *q ^= uu & mask;
            }
        }
        let mut rows = transpose(&q_cols, m);
        q_cols.zeroize();
        let chi = ctx.chi(u, m);
        let mut lhs = 0u128;
        for k in 0..m {
            lhs ^= gf_mul(rows[k], chi[k]);
        }
        if lhs != t ^ gf_mul(x, self.delta) {
            rows.zeroize();
            return Err(());
        }
        let gadget = ctx.gadget();
        let prefix = ctx.row_prefix();
        let mut taus = Vec::with_capacity(inputs.len() * MTA_OTS);
        let mut alphas = Vec::with_capacity(inputs.len());
        for (j, a) in inputs.iter().enumerate() {
            let mut alpha = Scalar::ZERO;
            for (k, g) in gadget.iter().enumerate() {
                let idx = j * MTA_OTS + k;
                let z0 = ctx.row_scalar(&prefix, idx, rows[idx]);
                let z1 = ctx.row_scalar(&prefix, idx, rows[idx] ^ self.delta);
                taus.push(z0 - z1 + a);
                alpha -= g * &z0;
            }
            alphas.push(alpha);
        }
        rows.zeroize();
        Ok((taus, alphas))
    }
}

/// Transposes KAPPA columns of `m` bits (column-major bytes) into `m` rows of 128 bits.
fn transpose(cols: &[u8], m: usize) -> Vec<u128> {
    let col_bytes = m / 8;
    let mut rows = vec![0u128; m];
    for l in 0..KAPPA {
        let col = &cols[l * col_bytes..(l + 1) * col_bytes];
        for (i, byte) in col.iter().enumerate() {
            let mut b = *byte;
            for bit in 0..8 {
                rows[i * 8 + bit] |= ((b & 1) as u128) << l;
                b >>= 1;
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn gf_mul_is_a_field_product() {
        // Commutative, distributive, identity 1.
        let (a, b, c) = (
            0x1234_5678_9abc_def0_u128 << 64 | 77,
            u128::MAX - 5,
            1u128 << 127 | 3,
        );
        assert_eq!(gf_mul(a, b), gf_mul(b, a));
        assert_eq!(gf_mul(a, b ^ c), gf_mul(a, b) ^ gf_mul(a, c));
        assert_eq!(gf_mul(a, 1), a);
        // x^127 · x = x^128 = x^7 + x^2 + x + 1.
        assert_eq!(gf_mul(1 << 127, 2), 0x87);
    }

    type PairRun = (Vec<Scalar>, Vec<Scalar>, Vec<Scalar>, Vec<Scalar>);

    fn run_pair(tamper_u: bool) -> Result<PairRun, ()> {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let ctx = PairContext::new(&[1; 32], ParticipantId(0), ParticipantId(1));
        let mut recv = ReceiverSide::new(&mut rng);
        let (send, xs) = SenderSide::new(&ctx, &(*recv.big_y(), *recv.y_bytes()), &mut rng);
        let xs: Vec<_> = xs
            .iter()
            .map(|b| (crate::wire::Reader::new(b).point("x").unwrap(), *b))
            .collect();
        let a: Vec<Scalar> = (0..3).map(|_| Scalar::random(&mut rng)).collect();
        let b: Vec<Scalar> = (0..3).map(|_| Scalar::random(&mut rng)).collect();
        let (mut u, x, t) = recv.extend(&ctx, &xs, &b, &mut rng);
        if tamper_u {
            u[5] ^= 1;
        }
        let (taus, alphas) = send.respond(&ctx, &u, x, t, &a)?;
        let betas = recv.finish(&ctx, &taus);
        Ok((a, b, alphas, betas))
    }

    #[test]
    fn mta_multiplies() {
        let (a, b, alphas, betas) = run_pair(false).unwrap();
        for j in 0..3 {
            assert_eq!(alphas[j] + betas[j], a[j] * b[j]);
        }
    }

    #[test]
    fn kos_check_catches_inconsistent_receiver() {
        assert!(run_pair(true).is_err());
    }
}
