//! The Fiat–Shamir transcript and seeded RNG of near's triple generation: a STROBE-128 duplex
//! over Keccak-f[1600] (only the AD, meta-AD, PRF and KEY operations), framed the way Merlin
//! frames messages (label, 32-bit little-endian length, data) but under near's own protocol
//! label. The dlog/dlogeq challenges, the OT-extension and MTA challenge vectors, and the
//! random-OT hash-to-scalar all draw from it, so every byte and every operation boundary must
//! match near's to land on the same scalars. State is zeroized on drop.

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

/// STROBE rate for 128-bit security: 200 − 2·(128/8) − 2.
const RATE: usize = 166;
const FLAG_I: u8 = 1;
const FLAG_A: u8 = 1 << 1;
const FLAG_C: u8 = 1 << 2;
const FLAG_M: u8 = 1 << 4;
const FLAG_K: u8 = 1 << 5;
/// The protocol label near's transcripts start from (instead of Merlin's).
const PROTOCOL_LABEL: &[u8] = b"Mini-Merlin";

/// A STROBE-128 duplex state.
#[derive(Clone)]
struct Strobe {
    state: [u8; 200],
    pos: usize,
    pos_begin: u8,
    cur_flags: u8,
}

impl Drop for Strobe {
    fn drop(&mut self) {
        self.state.zeroize();
    }
}

impl Strobe {
    fn new(protocol: &[u8]) -> Self {
        let mut state = [0u8; 200];
        state[..6].copy_from_slice(&[1, RATE as u8 + 2, 1, 0, 1, 96]);
        state[6..18].copy_from_slice(b"STROBEv1.0.2");
        permute(&mut state);
        let mut s = Self {
            state,
            pos: 0,
            pos_begin: 0,
            cur_flags: 0,
        };
        s.meta_ad(protocol, false);
        s
    }

    fn run_f(&mut self) {
        self.state[self.pos] ^= self.pos_begin;
        self.state[self.pos + 1] ^= 0x04;
        self.state[RATE + 1] ^= 0x80;
        permute(&mut self.state);
        self.pos = 0;
        self.pos_begin = 0;
    }

    fn step(&mut self) {
        self.pos += 1;
        if self.pos == RATE {
            self.run_f();
        }
    }

    fn absorb(&mut self, data: &[u8]) {
        for b in data {
            self.state[self.pos] ^= b;
            self.step();
        }
    }

    fn overwrite(&mut self, data: &[u8]) {
        for b in data {
            self.state[self.pos] = *b;
            self.step();
        }
    }

    fn squeeze(&mut self, out: &mut [u8]) {
        for b in out {
            *b = self.state[self.pos];
            self.state[self.pos] = 0;
            self.step();
        }
    }

    /// Starts an operation unless `more` continues the previous one (same flags, by
    /// construction of the callers below).
    fn begin(&mut self, flags: u8, more: bool) {
        if more {
            return;
        }
        let old_begin = self.pos_begin;
        // pos < RATE < 255 always.
        self.pos_begin = (self.pos + 1) as u8;
        self.cur_flags = flags;
        self.absorb(&[old_begin, flags]);
        if flags & (FLAG_C | FLAG_K) != 0 && self.pos != 0 {
            self.run_f();
        }
    }

    fn meta_ad(&mut self, data: &[u8], more: bool) {
        self.begin(FLAG_M | FLAG_A, more);
        self.absorb(data);
    }

    fn ad(&mut self, data: &[u8]) {
        self.begin(FLAG_A, false);
        self.absorb(data);
    }

    fn prf(&mut self, out: &mut [u8]) {
        self.begin(FLAG_I | FLAG_A | FLAG_C, false);
        self.squeeze(out);
    }

    fn key(&mut self, data: &[u8]) {
        self.begin(FLAG_A | FLAG_C, false);
        self.overwrite(data);
    }
}

fn permute(state: &mut [u8; 200]) {
    let mut words = [0u64; 25];
    for (w, chunk) in words.iter_mut().zip(state.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
    keccak::f1600(&mut words);
    for (w, chunk) in words.iter().zip(state.chunks_exact_mut(8)) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    words.zeroize();
}

fn len32(len: usize) -> [u8; 4] {
    // Every message and output here is far below 4 GiB.
    (len as u32).to_le_bytes()
}

/// A labelled transcript: messages in, challenges out.
#[derive(Clone)]
pub struct Transcript {
    strobe: Strobe,
}

impl Transcript {
    pub fn new(label: &[u8]) -> Self {
        let mut t = Self {
            strobe: Strobe::new(PROTOCOL_LABEL),
        };
        t.message(b"dom-sep", label);
        t
    }

    pub fn message(&mut self, label: &[u8], data: &[u8]) {
        self.strobe.meta_ad(label, false);
        self.strobe.meta_ad(&len32(data.len()), true);
        self.strobe.ad(data);
    }

    pub fn challenge(&mut self, label: &[u8], out: &mut [u8]) {
        self.strobe.meta_ad(label, false);
        self.strobe.meta_ad(&len32(out.len()), true);
        self.strobe.prf(out);
    }

    /// A copy with one more message (near's per-prover sub-transcripts).
    pub fn fork(&self, label: &[u8], data: &[u8]) -> Self {
        let mut t = self.clone();
        t.message(label, data);
        t
    }

    fn build_rng(&mut self, seed: &[u8; 32]) -> TranscriptRng {
        self.strobe.meta_ad(b"rng from seed", false);
        self.strobe.key(seed);
        TranscriptRng {
            strobe: self.strobe.clone(),
        }
    }

    /// Squeezes a 32-byte challenge under `label` and keys an RNG with it.
    pub fn challenge_rng(&mut self, label: &[u8]) -> TranscriptRng {
        let mut seed = [0u8; 32];
        self.challenge(label, &mut seed);
        let rng = self.build_rng(&seed);
        seed.zeroize();
        rng
    }
}

/// A deterministic RNG drawn from a transcript (or directly from a 32-byte seed).
pub struct TranscriptRng {
    strobe: Strobe,
}

impl TranscriptRng {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Transcript::new(b"direct RNG from seed").build_rng(seed)
    }
}

impl RngCore for TranscriptRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.strobe.meta_ad(&len32(dest.len()), false);
        self.strobe.prf(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for TranscriptRng {}
