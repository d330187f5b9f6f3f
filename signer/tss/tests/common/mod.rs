#![allow(dead_code)]
//! Helpers shared by the integration tests: cluster setup over the in-memory network.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tdsigner_tss::sim;
use tdsigner_tss::{Dkg, KeyShare, ParticipantId, ParticipantList};

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn keygen(n: u32, t: usize, seed: u64) -> Vec<KeyShare> {
    let mut r = rng(seed);
    let set = ParticipantList::range(n).unwrap();
    let parties: Vec<_> = set
        .iter()
        .map(|p| (p, Dkg::keygen([seed as u8; 32], &set, t, p, &mut r).unwrap()))
        .collect();
    let (outs, _) = sim::run(parties, &mut r).expect("keygen");
    outs.into_iter().map(|(_, s)| s.expect("member gets a share")).collect()
}

pub fn ids(v: &[u32]) -> ParticipantList {
    let v: Vec<ParticipantId> = v.iter().map(|&i| ParticipantId(i)).collect();
    ParticipantList::new(&v).unwrap()
}
