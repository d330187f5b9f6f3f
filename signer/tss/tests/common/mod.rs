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
        .map(|p| {
            (
                p,
                Dkg::keygen([seed as u8; 32], &set, t, p, &mut r).unwrap(),
            )
        })
        .collect();
    let (outs, _) = sim::run(parties, &mut r).expect("keygen");
    outs.into_iter()
        .map(|(_, s)| s.expect("member gets a share"))
        .collect()
}

pub fn ids(v: &[u32]) -> ParticipantList {
    let v: Vec<ParticipantId> = v.iter().map(|&i| ParticipantId(i)).collect();
    ParticipantList::new(&v).unwrap()
}

use tdsigner_tss::{
    FullSignature, Presign, PresignatureShare, Sign, SignRequest, TripleGeneration, TripleShare,
};

/// Shares of `count` triples per participant, for participants `set`.
pub fn triples(
    shares: &[KeyShare],
    set: &ParticipantList,
    count: usize,
    seed: u64,
) -> Vec<Vec<TripleShare>> {
    let mut r = rng(seed);
    let t = shares[0].public.threshold;
    let sid = *shares[0].sharing_id();
    let parties: Vec<_> = set
        .iter()
        .map(|p| {
            (
                p,
                TripleGeneration::new(
                    [seed as u8 ^ 0x55; 32],
                    set,
                    t,
                    sid,
                    count,
                    p,
                    rng(seed * 1000 + p.0 as u64),
                )
                .unwrap(),
            )
        })
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
            (
                p,
                Presign::new([seed as u8 ^ 0xaa; 32], share_of(shares, p), t0, t1).unwrap(),
            )
        })
        .collect();
    let (outs, _) = sim::run(parties, &mut rng(seed + 1)).expect("presign");
    outs.into_iter().map(|(_, v)| v).collect()
}

pub fn sign(
    shares: &[KeyShare],
    presigs: Vec<PresignatureShare>,
    req: &SignRequest,
    seed: u64,
) -> FullSignature {
    let coordinator = presigs[0].participants.as_slice()[0];
    let parties: Vec<_> = presigs
        .into_iter()
        .map(|ps| {
            let p = ps.me;
            (
                p,
                Sign::new(
                    [seed as u8 ^ 0x33; 32],
                    share_of(shares, p),
                    ps,
                    req.clone(),
                    coordinator,
                )
                .unwrap(),
            )
        })
        .collect();
    let (outs, _) = sim::run(parties, &mut rng(seed + 2)).expect("sign");
    let sigs: Vec<_> = outs.into_iter().filter_map(|(_, o)| o).collect();
    assert_eq!(sigs.len(), 1, "exactly the coordinator outputs");
    sigs[0]
}

/// Reshare from `old` (dealt by `dealers`) to `new` with `new_t`; returns the new shares.
pub fn reshare(
    old: &[KeyShare],
    dealers: &[u32],
    new: &[u32],
    new_t: usize,
    seed: u64,
) -> Vec<KeyShare> {
    let mut r = rng(seed);
    let dealers = ids(dealers);
    let new = ids(new);
    let all = dealers.union(&new);
    let public = old[0].public.clone();
    let parties: Vec<_> = all
        .iter()
        .map(|p| {
            let mine = old.iter().find(|s| s.me == p && dealers.contains(p));
            (
                p,
                Dkg::reshare(
                    [seed as u8 ^ 0x77; 32],
                    &public,
                    &dealers,
                    mine,
                    &new,
                    new_t,
                    p,
                    &mut r,
                )
                .unwrap(),
            )
        })
        .collect();
    let (outs, _) = sim::run(parties, &mut r).expect("reshare");
    outs.into_iter().filter_map(|(_, s)| s).collect()
}

pub fn refresh(old: &[KeyShare], seed: u64) -> Vec<KeyShare> {
    let mut r = rng(seed);
    let parties: Vec<_> = old
        .iter()
        .map(|s| {
            (
                s.me,
                Dkg::refresh([seed as u8 ^ 0x99; 32], s, &mut r).unwrap(),
            )
        })
        .collect();
    let (outs, _) = sim::run(parties, &mut r).expect("refresh");
    outs.into_iter().map(|(_, s)| s.unwrap()).collect()
}

/// Decodes an envelope, lets `f` edit its payload, re-encodes.
pub fn edit_payload(bytes: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let env = tdsigner_tss::wire::Envelope::decode(bytes).unwrap();
    let mut payload = env.payload.to_vec();
    f(&mut payload);
    tdsigner_tss::wire::Envelope {
        payload: &payload,
        ..env
    }
    .encode()
}

pub fn round_of(bytes: &[u8]) -> u8 {
    tdsigner_tss::wire::Envelope::decode(bytes).unwrap().round
}

/// Adds one to the canonical scalar at `payload[off..off + 32]` (keeps it canonical).
pub fn bump_scalar(payload: &mut [u8], off: usize) {
    use k256::elliptic_curve::PrimeField;
    let mut b = [0u8; 32];
    b.copy_from_slice(&payload[off..off + 32]);
    let s = k256::Scalar::from_repr(b.into()).unwrap() + k256::Scalar::ONE;
    payload[off..off + 32].copy_from_slice(&s.to_bytes());
}
