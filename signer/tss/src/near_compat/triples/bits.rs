//! 128-bit blocks and bit matrices of the OT extension, in near's layout: a block is two
//! little-endian `u64` words (bit j is bit j%64 of word j/64), which is exactly a `u128`'s bit
//! order; its byte form is the two words' little-endian bytes. Matrices are lists of rows.
//! `gf_mul` is the unreduced carry-less product (256 bits, four words) used by the
//! consistency check, and `expand_transpose` stretches each of the 128 base-OT rows with
//! SHAKE-256 into a column of the extended matrix.

use alloc::vec;
use alloc::vec::Vec;
use rand_core::RngCore;
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::Shake256;

/// Near's security parameter: rows of the base OT, bits per block.
pub const KAPPA: usize = 128;
const PRG_CTX: &[u8] = b"Near threshold signatures correlated OT PRG";

/// Bit `j` of a block.
pub fn bit(v: u128, j: usize) -> bool {
    (v >> j) & 1 == 1
}

/// All ones when `b`, zero otherwise, without a branch.
pub fn mask(b: bool) -> u128 {
    0u128.wrapping_sub(u128::from(b))
}

/// A random block as near draws one: two `next_u64` calls, low word first.
pub fn random_block(rng: &mut impl RngCore) -> u128 {
    let lo = rng.next_u64();
    let hi = rng.next_u64();
    u128::from(lo) | (u128::from(hi) << 64)
}

/// Carry-less 128×128 → 256-bit product, as (low 128 bits, high 128 bits).
pub fn gf_mul(a: u128, b: u128) -> [u128; 2] {
    let (mut lo, mut hi) = (0u128, 0u128);
    for k in 0..128 {
        let m = mask(bit(a, k));
        lo ^= (b << k) & m;
        if k > 0 {
            hi ^= (b >> (128 - k)) & m;
        }
    }
    [lo, hi]
}

/// Stretches the 128 rows of `square` (indexed by column j of the output) to `rows` bits each
/// with SHAKE-256 under `sid`, returning the transposed `rows × 128` matrix.
pub fn expand_transpose(square: &[u128], sid: &[u8], rows: usize) -> Vec<u128> {
    let mut base = Shake256::default();
    base.update(PRG_CTX);
    base.update(b"sid");
    base.update(sid);
    base.update(b"row");
    let mut out = vec![0u128; rows];
    let mut expanded = vec![0u8; rows.div_ceil(8)];
    for (j, row) in square.iter().enumerate() {
        let mut h = base.clone();
        h.update(&row.to_le_bytes());
        h.finalize_xof().read(&mut expanded);
        for (i, o) in out.iter_mut().enumerate() {
            let b = (expanded[i / 8] >> (i % 8)) & 1;
            *o |= u128::from(b) << j;
        }
    }
    expanded.iter_mut().for_each(|b| *b = 0);
    out
}

/// The columns of a matrix in chunks of 128 rows: `out[c][j]` has bit `i` = bit `j` of row
/// `128·c + i`. Rows beyond the last full chunk are ignored (ours are always multiples).
pub fn column_chunks(m: &[u128]) -> Vec<[u128; KAPPA]> {
    m.chunks_exact(KAPPA)
        .map(|chunk| {
            let mut cols = [0u128; KAPPA];
            for (i, row) in chunk.iter().enumerate() {
                for (j, col) in cols.iter_mut().enumerate() {
                    *col |= ((row >> j) & 1) << i;
                }
            }
            cols
        })
        .collect()
}

/// Four little-endian words of a 256-bit value.
pub fn double_words(v: [u128; 2]) -> [u64; 4] {
    [
        v[0] as u64,
        (v[0] >> 64) as u64,
        v[1] as u64,
        (v[1] >> 64) as u64,
    ]
}

pub fn double_from_words(w: [u64; 4]) -> [u128; 2] {
    [
        u128::from(w[0]) | (u128::from(w[1]) << 64),
        u128::from(w[2]) | (u128::from(w[3]) << 64),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// near's own unit vector for its GF multiplication: ([0b10, 0b10]) · ([0b100, 0b100]) =
    /// [0b1000, 0, 0b1000, 0] (as word arrays).
    #[test]
    fn gf_mul_matches_near_vector() {
        let a = 0b10u128 | (0b10u128 << 64);
        let b = 0b100u128 | (0b100u128 << 64);
        assert_eq!(double_words(gf_mul(a, b)), [0b1000, 0, 0b1000, 0]);
    }

    #[test]
    fn gf_mul_high_bits_and_linearity() {
        let top = 1u128 << 127;
        assert_eq!(gf_mul(top, top), [0, 1u128 << 126]);
        let (a, b, c) = (
            0x1234_5678_9abc_def0_u128 << 40,
            u128::MAX / 3,
            0xdead_beef_u128,
        );
        let ab = gf_mul(a, b);
        let ac = gf_mul(a, c);
        let sum = gf_mul(a, b ^ c);
        assert_eq!(sum, [ab[0] ^ ac[0], ab[1] ^ ac[1]]);
    }

    #[test]
    fn column_chunks_transpose() {
        let mut m = vec![0u128; 256];
        m[3] = 1 << 5;
        m[130] = 1 << 127;
        let cols = column_chunks(&m);
        assert_eq!(cols[0][5], 1 << 3);
        assert_eq!(cols[1][127], 1 << 2);
        assert_eq!(cols[0].iter().filter(|c| **c != 0).count(), 1);
    }
}
