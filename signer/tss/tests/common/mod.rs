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

use tdsigner_tss::{FullSignature, Presign, PresignatureShare, Sign, SignRequest, TripleGeneration, TripleShare};

/// Shares of `count` triples per participant, for participants `set`.
pub fn triples(shares: &[KeyShare], set: &ParticipantList, count: usize, seed: u64) -> Vec<Vec<TripleShare>> {
    let mut r = rng(seed);
    let t = shares[0].public.threshold;
    let sid = *shares[0].sharing_id();
    let parties: Vec<_> = set
        .iter()
        .map(|p| (p, TripleGeneration::new([seed as u8 ^ 0x55; 32], set, t, sid, count, p, rng(seed * 1000 + p.0 as u64)).unwrap()))
        .collect();
    let (outs, _) = sim::run(parties, &mut r).expect("triples");
    outs.into_iter().map(|(_, v)| v).collect()
}

pub fn share_of(shares: &[KeyShare], p: ParticipantId) -> &KeyShare {
    shares.iter().find(|s| s.me == p).unwrap()
}

/// Presignatures for `set` (one per participant) from fresh triples.
pub fn presign(shares: &[KeyShare], set: &ParticipantList, seed: u64) -> Vec<PresignatureShare> {
    let mut tr = triples(shares, set, 2, seed);
    let parties: Vec<_> = set
        .iter()
        .zip(tr.iter_mut())
        .map(|(p, v)| {
            let t1 = v.pop().unwrap();
            let t0 = v.pop().unwrap();
            (p, Presign::new([seed as u8 ^ 0xaa; 32], share_of(shares, p), t0, t1).unwrap())
        })
        .collect();
    let (outs, _) = sim::run(parties, &mut rng(seed + 1)).expect("presign");
    outs.into_iter().map(|(_, v)| v).collect()
}

pub fn sign(shares: &[KeyShare], presigs: Vec<PresignatureShare>, req: &SignRequest, seed: u64) -> FullSignature {
    let coordinator = presigs[0].participants.as_slice()[0];
    let parties: Vec<_> = presigs
        .into_iter()
        .map(|ps| {
            let p = ps.me;
            (p, Sign::new([seed as u8 ^ 0x33; 32], share_of(shares, p), ps, req.clone(), coordinator).unwrap())
        })
        .collect();
    let (outs, _) = sim::run(parties, &mut rng(seed + 2)).expect("sign");
    let sigs: Vec<_> = outs.into_iter().filter_map(|(_, o)| o).collect();
    assert_eq!(sigs.len(), 1, "exactly the coordinator outputs");
    sigs[0]
}
