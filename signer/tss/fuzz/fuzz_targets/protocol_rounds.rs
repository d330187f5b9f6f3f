//! Runs two honest participants of a protocol in lockstep and replaces the payload of one
//! message of a chosen round with fuzz bytes (a participant sending arbitrary data). The honest
//! side must abort or finish, never panic; every payload decoder of every round is reached.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tdsigner_tss::wire::Envelope;
use tdsigner_tss::{
    sim, Action, Dkg, KeyShare, ParticipantId, ParticipantList, Presign, PresignatureShare,
    Protocol, Sign, SignRequest, TripleGeneration, TripleShare,
};

struct Material {
    keys: Vec<KeyShare>,
    triples: Vec<Vec<TripleShare>>,
    presigs: Vec<PresignatureShare>,
}

fn set() -> ParticipantList {
    ParticipantList::range(2).unwrap()
}

fn material() -> &'static Material {
    static M: OnceLock<Material> = OnceLock::new();
    M.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let set = set();
        let parties: Vec<_> = set
            .iter()
            .map(|p| (p, Dkg::keygen([1; 32], &set, 2, p, &mut rng).unwrap()))
            .collect();
        let keys: Vec<KeyShare> = sim::run(parties, &mut rng)
            .unwrap()
            .0
            .into_iter()
            .map(|(_, k)| k.unwrap())
            .collect();
        let sid = *keys[0].sharing_id();
        let parties: Vec<_> = set
            .iter()
            .map(|p| {
                (
                    p,
                    TripleGeneration::new(
                        [2; 32],
                        &set,
                        2,
                        sid,
                        4,
                        p,
                        ChaCha20Rng::seed_from_u64(p.0 as u64),
                    )
                    .unwrap(),
                )
            })
            .collect();
        let mut triples: Vec<Vec<TripleShare>> = sim::run(parties, &mut rng)
            .unwrap()
            .0
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        let parties: Vec<_> = set
            .iter()
            .zip(triples.iter_mut())
            .zip(&keys)
            .map(|((p, v), k)| {
                let t1 = v.pop().unwrap();
                let t0 = v.pop().unwrap();
                (p, Presign::new([3; 32], k, t0, t1).unwrap())
            })
            .collect();
        let presigs = sim::run(parties, &mut rng)
            .unwrap()
            .0
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        Material {
            keys,
            triples,
            presigs,
        }
    })
}

/// Drives `target` (participant 0) and `peer` (participant 1); the peer's messages of `round`
/// and kind (`private`) have their payload replaced by `payload`.
fn lockstep<P: Protocol>(mut target: P, mut peer: P, round: u8, private: bool, payload: &[u8]) {
    let (t_id, p_id) = (ParticipantId(0), ParticipantId(1));
    let mut target_done = false;
    let mut peer_done = false;
    for _ in 0..64 {
        let mut to_target = Vec::new();
        let mut to_peer = Vec::new();
        while !target_done {
            match target.poke() {
                Ok(Action::Wait) => break,
                Ok(Action::SendMany(m)) | Ok(Action::SendPrivate(_, m)) => to_peer.push(m),
                Ok(Action::Return(_)) | Err(_) => target_done = true,
            }
        }
        while !peer_done {
            match peer.poke() {
                Ok(Action::Wait) => break,
                Ok(Action::SendMany(m)) | Ok(Action::SendPrivate(_, m)) => {
                    let env = Envelope::decode(&m).expect("honest envelopes decode");
                    if env.round == round && env.to.is_some() == private {
                        to_target.push(Envelope { payload, ..env }.encode());
                    } else {
                        to_target.push(m);
                    }
                }
                Ok(Action::Return(_)) | Err(_) => peer_done = true,
            }
        }
        if to_target.is_empty() && to_peer.is_empty() {
            return;
        }
        for m in to_target {
            if !target_done && target.message(p_id, &m).is_err() {
                target_done = true;
            }
        }
        for m in to_peer {
            if !peer_done && peer.message(t_id, &m).is_err() {
                peer_done = true;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (which, round, private) = (data[0] % 5, data[1] % 7, data[1] & 0x80 != 0);
    let payload = &data[2..];
    let set = set();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let m = material();
    let (a, b) = (ParticipantId(0), ParticipantId(1));
    match which {
        0 => {
            let t = Dkg::keygen([9; 32], &set, 2, a, &mut rng).unwrap();
            let p = Dkg::keygen([9; 32], &set, 2, b, &mut rng).unwrap();
            lockstep(t, p, round, private, payload);
        }
        1 => {
            let t = Dkg::refresh([9; 32], &m.keys[0], &mut rng).unwrap();
            let p = Dkg::refresh([9; 32], &m.keys[1], &mut rng).unwrap();
            lockstep(t, p, round, private, payload);
        }
        2 => {
            let sid = *m.keys[0].sharing_id();
            let t =
                TripleGeneration::new([9; 32], &set, 2, sid, 1, a, ChaCha20Rng::seed_from_u64(1))
                    .unwrap();
            let p =
                TripleGeneration::new([9; 32], &set, 2, sid, 1, b, ChaCha20Rng::seed_from_u64(2))
                    .unwrap();
            lockstep(t, p, round, private, payload);
        }
        3 => {
            let tr = |i: usize| (m.triples[i][0].clone(), m.triples[i][1].clone());
            let (t0, t1) = tr(0);
            let t = Presign::new([9; 32], &m.keys[0], t0, t1).unwrap();
            let (t0, t1) = tr(1);
            let p = Presign::new([9; 32], &m.keys[1], t0, t1).unwrap();
            lockstep(t, p, round, private, payload);
        }
        _ => {
            let req = SignRequest {
                msg_hash: [5; 32],
                tweak: k256::Scalar::ONE,
                entropy: [6; 32],
            };
            let t = Sign::new([9; 32], &m.keys[0], m.presigs[0].clone(), req.clone(), a).unwrap();
            let p = Sign::new([9; 32], &m.keys[1], m.presigs[1].clone(), req, a).unwrap();
            lockstep(t, p, round, private, payload);
        }
    }
});
