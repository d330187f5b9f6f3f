//! near-compatible CaitSith presign and sign in one process: dealt key and triples (degree
//! t−1 polynomials), presign with exactly the triples' participants, rerandomized signing with
//! every leader, each signature checked by k256 against the derived key, plus refusals (a wrong
//! message hash at one follower; a tampered kd share). Also prints the in-process time of one
//! presign + sign.

use std::collections::VecDeque;
use std::time::Instant;

use k256::ecdsa::signature::hazmat::PrehashVerifier;
use k256::elliptic_curve::Field;
use k256::{ProjectivePoint, Scalar};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tdsigner_tss::near_compat::ecdsa::{derive_public_key, Rerandomization, Signature};
use tdsigner_tss::near_compat::presign::{TriplePub, TripleShare};
use tdsigner_tss::near_compat::protocol::Participants;
use tdsigner_tss::near_compat::{
    Action, EcdsaSign, Presign, PresignArgs, PresignOutput, Protocol, ProtocolError,
    RerandomizedPresign,
};

/// Runs every party to completion, delivering messages FIFO; `tamper` may edit messages.
fn run<P: Protocol>(
    mut parties: Vec<(u32, P)>,
    mut tamper: impl FnMut(u32, u32, &mut Vec<u8>),
) -> Result<Vec<(u32, P::Output)>, ProtocolError> {
    let ids: Vec<u32> = parties.iter().map(|(id, _)| *id).collect();
    let mut queue: VecDeque<(u32, u32, Vec<u8>)> = VecDeque::new();
    let mut outputs = Vec::new();
    let mut finished = vec![false; parties.len()];
    loop {
        for (k, (me, p)) in parties.iter_mut().enumerate() {
            while !finished[k] {
                match p.poke()? {
                    Action::Wait => break,
                    Action::SendMany(m) => {
                        for to in ids.iter().filter(|to| *to != me) {
                            queue.push_back((*me, *to, m.clone()));
                        }
                    }
                    Action::SendPrivate(to, m) => queue.push_back((*me, to, m)),
                    Action::Return(o) => {
                        outputs.push((*me, o));
                        finished[k] = true;
                    }
                }
            }
        }
        let Some((from, to, mut m)) = queue.pop_front() else {
            assert!(finished.iter().all(|f| *f), "stalled");
            return Ok(outputs);
        };
        tamper(from, to, &mut m);
        let k = ids.iter().position(|i| *i == to).unwrap();
        if !finished[k] {
            parties[k].1.message(from, m)?;
        }
    }
}

fn poly_eval(coeffs: &[Scalar], id: u32) -> Scalar {
    let x = Scalar::from(u64::from(id) + 1);
    coeffs.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c)
}

/// Shares of `secret` on a random degree t−1 polynomial.
fn share(secret: Scalar, ids: &[u32], t: usize, rng: &mut ChaCha20Rng) -> Vec<Scalar> {
    let mut coeffs = vec![secret];
    coeffs.extend((1..t).map(|_| Scalar::random(&mut *rng)));
    ids.iter().map(|id| poly_eval(&coeffs, *id)).collect()
}

fn deal_triple(ids: &[u32], t: usize, rng: &mut ChaCha20Rng) -> Vec<(TripleShare, TriplePub)> {
    let (a, b) = (Scalar::random(&mut *rng), Scalar::random(&mut *rng));
    let c = a * b;
    let g = ProjectivePoint::GENERATOR;
    let public = TriplePub {
        big_a: (g * a).to_affine(),
        big_b: (g * b).to_affine(),
        big_c: (g * c).to_affine(),
        participants: ids.to_vec(),
        threshold: t,
    };
    let (sa, sb, sc) = (
        share(a, ids, t, rng),
        share(b, ids, t, rng),
        share(c, ids, t, rng),
    );
    (0..ids.len())
        .map(|i| {
            let s = TripleShare {
                a: sa[i],
                b: sb[i],
                c: sc[i],
            };
            (s, public.clone())
        })
        .collect()
}

struct Setup {
    ids: Vec<u32>,
    t: usize,
    x: Vec<Scalar>,
    pk: ProjectivePoint,
}

fn presign_all(s: &Setup, rng: &mut ChaCha20Rng) -> Vec<(u32, PresignOutput)> {
    let t0 = deal_triple(&s.ids, s.t, rng);
    let t1 = deal_triple(&s.ids, s.t, rng);
    let parties = (0..s.ids.len())
        .map(|i| {
            let args = PresignArgs {
                triple0: t0[i].clone(),
                triple1: t1[i].clone(),
                private_share: s.x[i],
                public_key: s.pk,
                threshold: s.t,
            };
            (s.ids[i], Presign::new(&s.ids, s.ids[i], args).unwrap())
        })
        .collect();
    run(parties, |_, _, _| {}).unwrap()
}

fn sign_all(
    s: &Setup,
    presigs: &[(u32, PresignOutput)],
    leader: u32,
    hash_at: impl Fn(u32) -> [u8; 32],
) -> Result<Option<Signature>, ProtocolError> {
    let tweak = Scalar::from(12345u64);
    let derived = derive_public_key(&s.pk, &tweak).to_affine();
    let parties = presigs
        .iter()
        .map(|(id, p)| {
            let h = hash_at(*id);
            let args = Rerandomization {
                public_key: s.pk.to_affine(),
                tweak,
                msg_hash: h,
                big_r: p.big_r,
                participants: Participants::new(&s.ids).unwrap(),
                entropy: [7u8; 32],
            };
            let rr = RerandomizedPresign::new(p, &args).unwrap();
            let hs = tdsigner_tss::near_compat::ecdsa::scalar_from_be(&h).unwrap();
            let sign = EcdsaSign::new(&s.ids, leader, s.t, *id, derived, &rr, hs).unwrap();
            (*id, sign)
        })
        .collect();
    let outs = run(parties, |_, _, _| {})?;
    Ok(outs.into_iter().find_map(|(_, o)| o))
}

fn setup(ids: &[u32], t: usize, rng: &mut ChaCha20Rng) -> Setup {
    let secret = Scalar::random(&mut *rng);
    Setup {
        ids: ids.to_vec(),
        t,
        x: share(secret, ids, t, rng),
        pk: ProjectivePoint::GENERATOR * secret,
    }
}

#[test]
fn presign_and_sign_with_every_leader() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let s = setup(&[0, 2, 5], 3, &mut rng);
    let derived = derive_public_key(&s.pk, &Scalar::from(12345u64));
    let vk = k256::ecdsa::VerifyingKey::from_affine(derived.to_affine()).unwrap();
    let hash = [0x42u8; 32];
    for &leader in &s.ids {
        let started = Instant::now();
        let presigs = presign_all(&s, &mut rng);
        assert!(presigs.windows(2).all(|w| w[0].1.big_r == w[1].1.big_r));
        let sig = sign_all(&s, &presigs, leader, |_| hash).unwrap().unwrap();
        eprintln!(
            "in-process presign+sign (3 parties, dealt triples): {:.3} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        let r = tdsigner_tss::near_compat::ecdsa::x_coordinate(&sig.big_r);
        let k = k256::ecdsa::Signature::from_scalars(r, sig.s).unwrap();
        vk.verify_prehash(&hash, &k).unwrap();
        let v = sig.recovery_id(&derived.to_affine(), &hash).unwrap();
        let rec = k256::ecdsa::VerifyingKey::recover_from_prehash(
            &hash,
            &k,
            k256::ecdsa::RecoveryId::from_byte(v).unwrap(),
        )
        .unwrap();
        assert_eq!(rec, vk);
    }
}

#[test]
fn a_follower_with_another_hash_makes_the_leader_fail() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let s = setup(&[0, 1, 2], 2, &mut rng);
    let presigs = presign_all(&s, &mut rng);
    let err = sign_all(
        &s,
        &presigs,
        0,
        |id| if id == 2 { [1; 32] } else { [2; 32] },
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("signature failed to verify"),
        "{err}"
    );
}

#[test]
fn a_tampered_kd_share_is_detected() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let s = setup(&[0, 1, 2], 3, &mut rng);
    let t0 = deal_triple(&s.ids, s.t, &mut rng);
    let t1 = deal_triple(&s.ids, s.t, &mut rng);
    let parties = (0..3)
        .map(|i| {
            let args = PresignArgs {
                triple0: t0[i].clone(),
                triple1: t1[i].clone(),
                private_share: s.x[i],
                public_key: s.pk,
                threshold: s.t,
            };
            (s.ids[i], Presign::new(&s.ids, s.ids[i], args).unwrap())
        })
        .collect();
    // Change the last byte of participant 1's round-0 scalar (an integer array element).
    let err = run(parties, |from, _, m| {
        if from == 1 && m[32] == 0 {
            let last = m.len() - 1;
            m[last] ^= 1;
        }
    })
    .err()
    .expect("tampering must be detected");
    assert!(
        err.to_string().contains("incorrect shares") || err.to_string().contains("at waitpoint"),
        "{err}"
    );
}

/// Robust ECDSA with n = 2·max_malicious + 1 = 5, key threshold 3: presign, rerandomized sign
/// with two leaders, k256 verification; 4 participants are refused.
#[test]
fn robust_presign_and_sign() {
    use tdsigner_tss::near_compat::robust::{RerandomizedRobustPresign, RobustPresign, RobustSign};
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let s = setup(&[0, 1, 2, 3, 4], 3, &mut rng);
    let tweak = Scalar::from(99u64);
    let derived = derive_public_key(&s.pk, &tweak).to_affine();
    let vk = k256::ecdsa::VerifyingKey::from_affine(derived).unwrap();
    let hash = [0x17u8; 32];
    for leader in [0u32, 3] {
        let started = Instant::now();
        let parties = (0..5)
            .map(|i| {
                let p = RobustPresign::new(&s.ids, s.ids[i], 2, s.x[i], &mut rng).unwrap();
                (s.ids[i], p)
            })
            .collect();
        let presigs = run(parties, |_, _, _| {}).unwrap();
        assert!(presigs.windows(2).all(|w| w[0].1.big_r == w[1].1.big_r));
        let parties = presigs
            .iter()
            .map(|(id, p)| {
                let args = Rerandomization {
                    public_key: s.pk.to_affine(),
                    tweak,
                    msg_hash: hash,
                    big_r: p.big_r,
                    participants: Participants::new(&s.ids).unwrap(),
                    entropy: [3u8; 32],
                };
                let rr = RerandomizedRobustPresign::new(p, &args).unwrap();
                let h = tdsigner_tss::near_compat::ecdsa::scalar_from_be(&hash).unwrap();
                (
                    *id,
                    RobustSign::new(&s.ids, leader, 2, *id, derived, &rr, h).unwrap(),
                )
            })
            .collect();
        let sig = run(parties, |_, _, _| {})
            .unwrap()
            .into_iter()
            .find_map(|(_, o)| o)
            .unwrap();
        eprintln!(
            "in-process robust presign+sign (5 parties): {:.3} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        let r = tdsigner_tss::near_compat::ecdsa::x_coordinate(&sig.big_r);
        let k = k256::ecdsa::Signature::from_scalars(r, sig.s).unwrap();
        vk.verify_prehash(&hash, &k).unwrap();
        assert!(sig.recovery_id(&derived, &hash).is_some());
    }
    assert!(RobustPresign::new(&[0, 1, 2, 3], 0, 2, s.x[0], &mut rng).is_err());
}

/// Prints the median in-process wall time of one CaitSith presign + sign (3 parties, triples
/// dealt beforehand, not timed) over 21 runs, for comparison with near's processes.
#[test]
fn presign_and_sign_timing() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let s = setup(&[0, 1, 2], 3, &mut rng);
    let mut times = Vec::new();
    for _ in 0..21 {
        let t0 = deal_triple(&s.ids, s.t, &mut rng);
        let t1 = deal_triple(&s.ids, s.t, &mut rng);
        let started = Instant::now();
        let parties = (0..3)
            .map(|i| {
                let args = PresignArgs {
                    triple0: t0[i].clone(),
                    triple1: t1[i].clone(),
                    private_share: s.x[i],
                    public_key: s.pk,
                    threshold: s.t,
                };
                (s.ids[i], Presign::new(&s.ids, s.ids[i], args).unwrap())
            })
            .collect();
        let presigs = run(parties, |_, _, _| {}).unwrap();
        assert!(sign_all(&s, &presigs, 1, |_| [5u8; 32]).unwrap().is_some());
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    eprintln!(
        "in-process CaitSith presign+sign, 3 parties in one thread: median {:.3} ms (min {:.3}, max {:.3})",
        times[10], times[0], times[20]
    );
}
