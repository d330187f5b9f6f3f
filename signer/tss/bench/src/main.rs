//! Throughput and traffic of the threshold ECDSA protocols at n = 8, t = 5, ours against
//! cait-sith 0.8 in the same process and run. All participants run on one thread over an
//! in-memory network, for both implementations, so the figures are cluster CPU throughput
//! (every participant's work added up), not wall-clock latency over a network.
//!
//! Run: `cd signer/tss/bench && cargo run --release` (env `TSS_BENCH_ITERS`, default 3). This crate
//! sits outside the workspace so that `cargo test --workspace` does not compile the peer.

#![allow(clippy::needless_range_loop, clippy::type_complexity)]

use std::time::{Duration, Instant};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tdsigner_tss::sim;
use tdsigner_tss::{Dkg, ParticipantList, Presign, Sign, SignRequest, TripleGeneration};

const N: u32 = 8;
const T: usize = 5;

struct Figures {
    triple: Duration,
    triple_batched: Duration,
    presign: Duration,
    sign: Duration,
    triple_bytes: usize,
    presign_bytes: usize,
    sign_bytes: usize,
}

fn ours(iters: usize, batch: usize) -> Figures {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let set = ParticipantList::range(N).unwrap();
    let parties: Vec<_> = set
        .iter()
        .map(|p| (p, Dkg::keygen([1; 32], &set, T, p, &mut rng).unwrap()))
        .collect();
    let (keys, _) = sim::run(parties, &mut rng).unwrap();
    let keys: Vec<_> = keys.into_iter().map(|(_, k)| k.unwrap()).collect();
    let sid = *keys[0].sharing_id();
    let mut f = Figures {
        triple: Duration::ZERO,
        triple_batched: Duration::ZERO,
        presign: Duration::ZERO,
        sign: Duration::ZERO,
        triple_bytes: 0,
        presign_bytes: 0,
        sign_bytes: 0,
    };
    let mut session = 0u64;
    let mut next_session = || {
        session += 1;
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&session.to_le_bytes());
        s
    };
    for _ in 0..iters {
        // Two single triples (timed as single-triple runs), then presign and sign.
        let mut pairs: Vec<Vec<_>> = set.iter().map(|_| Vec::new()).collect();
        for _ in 0..2 {
            let s = next_session();
            let parties: Vec<_> = set
                .iter()
                .map(|p| {
                    (
                        p,
                        TripleGeneration::new(
                            s,
                            &set,
                            T,
                            sid,
                            1,
                            p,
                            ChaCha20Rng::seed_from_u64(rng.next_u64()),
                        )
                        .unwrap(),
                    )
                })
                .collect();
            let start = Instant::now();
            let (outs, traffic) = sim::run(parties, &mut rng).unwrap();
            f.triple += start.elapsed();
            f.triple_bytes += traffic.bytes;
            for (i, (_, mut v)) in outs.into_iter().enumerate() {
                pairs[i].push(v.pop().unwrap());
            }
        }
        let s = next_session();
        let parties: Vec<_> = set
            .iter()
            .zip(pairs)
            .zip(&keys)
            .map(|((p, mut v), k)| {
                let t1 = v.pop().unwrap();
                let t0 = v.pop().unwrap();
                (p, Presign::new(s, k, t0, t1).unwrap())
            })
            .collect();
        let start = Instant::now();
        let (presigs, traffic) = sim::run(parties, &mut rng).unwrap();
        f.presign += start.elapsed();
        f.presign_bytes += traffic.bytes;
        let mut msg = [0u8; 32];
        rng.fill_bytes(&mut msg);
        let req = SignRequest {
            msg_hash: msg,
            tweak: k256::Scalar::from(5u64),
            entropy: [3; 32],
        };
        let s = next_session();
        let parties: Vec<_> = presigs
            .into_iter()
            .zip(&keys)
            .map(|((p, ps), k)| {
                (
                    p,
                    Sign::new(s, k, ps, req.clone(), set.as_slice()[0]).unwrap(),
                )
            })
            .collect();
        let start = Instant::now();
        let (out, traffic) = sim::run(parties, &mut rng).unwrap();
        f.sign += start.elapsed();
        f.sign_bytes += traffic.bytes;
        assert!(out.iter().any(|(_, o)| o.is_some()));
        // A batch, for amortized triple throughput.
        let s = next_session();
        let parties: Vec<_> = set
            .iter()
            .map(|p| {
                (
                    p,
                    TripleGeneration::new(
                        s,
                        &set,
                        T,
                        sid,
                        batch,
                        p,
                        ChaCha20Rng::seed_from_u64(rng.next_u64()),
                    )
                    .unwrap(),
                )
            })
            .collect();
        let start = Instant::now();
        sim::run(parties, &mut rng).unwrap();
        f.triple_batched += start.elapsed();
    }
    f.triple /= 2 * iters as u32;
    f.triple_batched /= (iters * batch) as u32;
    f.presign /= iters as u32;
    f.sign /= iters as u32;
    f.triple_bytes /= 2 * iters;
    f.presign_bytes /= iters;
    f.sign_bytes /= iters;
    f
}

mod cs {
    use super::*;
    use cait_sith::protocol::{Action, Participant, Protocol};
    use cait_sith::triples::generate_triple;
    use cait_sith::{keygen, presign, sign, KeygenOutput, PresignArguments};
    use k256::Secp256k1;

    /// Runs cait-sith protocols to completion, counting delivered bytes.
    fn run<T>(
        mut ps: Vec<(Participant, Box<dyn Protocol<Output = T>>)>,
    ) -> (Vec<(Participant, T)>, usize) {
        let n = ps.len();
        let mut out = Vec::new();
        let mut done = vec![false; n];
        let mut bytes = 0usize;
        while out.len() < n {
            for i in 0..n {
                if done[i] {
                    continue;
                }
                loop {
                    let from = ps[i].0;
                    match ps[i].1.poke().unwrap() {
                        Action::Wait => break,
                        Action::SendMany(m) => {
                            for j in 0..n {
                                if j != i {
                                    bytes += m.len();
                                    ps[j].1.message(from, m.clone());
                                }
                            }
                        }
                        Action::SendPrivate(to, m) => {
                            bytes += m.len();
                            let j = ps.iter().position(|(p, _)| *p == to).unwrap();
                            ps[j].1.message(from, m);
                        }
                        Action::Return(r) => {
                            out.push((from, r));
                            done[i] = true;
                            break;
                        }
                    }
                }
            }
        }
        (out, bytes)
    }

    pub fn bench(iters: usize) -> Figures {
        let participants: Vec<Participant> = (0..N).map(Participant::from).collect();
        let parties: Vec<(
            Participant,
            Box<dyn Protocol<Output = KeygenOutput<Secp256k1>>>,
        )> = participants
            .iter()
            .map(|p| {
                (
                    *p,
                    Box::new(keygen::<Secp256k1>(&participants, *p, T).unwrap())
                        as Box<dyn Protocol<Output = _>>,
                )
            })
            .collect();
        let (mut keys, _) = run(parties);
        keys.sort_by_key(|(p, _)| *p);
        let mut f = Figures {
            triple: Duration::ZERO,
            triple_batched: Duration::ZERO,
            presign: Duration::ZERO,
            sign: Duration::ZERO,
            triple_bytes: 0,
            presign_bytes: 0,
            sign_bytes: 0,
        };
        for _ in 0..iters {
            let mut triples = Vec::new();
            for _ in 0..2 {
                let parties: Vec<(Participant, Box<dyn Protocol<Output = _>>)> = participants
                    .iter()
                    .map(|p| {
                        (
                            *p,
                            Box::new(generate_triple::<Secp256k1>(&participants, *p, T).unwrap())
                                as Box<dyn Protocol<Output = _>>,
                        )
                    })
                    .collect();
                let start = Instant::now();
                let (mut outs, bytes) = run(parties);
                f.triple += start.elapsed();
                f.triple_bytes += bytes;
                outs.sort_by_key(|(p, _)| *p);
                triples.push(outs);
            }
            let t1 = triples.pop().unwrap();
            let t0 = triples.pop().unwrap();
            let parties: Vec<(Participant, Box<dyn Protocol<Output = _>>)> = participants
                .iter()
                .zip(t0.into_iter().zip(t1))
                .zip(&keys)
                .map(|((p, ((_, a), (_, b))), (_, k))| {
                    let args = PresignArguments {
                        triple0: a,
                        triple1: b,
                        keygen_out: k.clone(),
                        threshold: T,
                    };
                    (
                        *p,
                        Box::new(presign(&participants, *p, args).unwrap())
                            as Box<dyn Protocol<Output = _>>,
                    )
                })
                .collect();
            let start = Instant::now();
            let (mut presigs, bytes) = run(parties);
            f.presign += start.elapsed();
            f.presign_bytes += bytes;
            presigs.sort_by_key(|(p, _)| *p);
            let pk = keys[0].1.public_key;
            let msg = k256::Scalar::from(12345u64);
            let parties: Vec<(Participant, Box<dyn Protocol<Output = _>>)> = presigs
                .into_iter()
                .map(|(p, ps)| {
                    (
                        p,
                        Box::new(sign(&participants, p, pk, ps, msg).unwrap())
                            as Box<dyn Protocol<Output = _>>,
                    )
                })
                .collect();
            let start = Instant::now();
            let (_, bytes) = run(parties);
            f.sign += start.elapsed();
            f.sign_bytes += bytes;
        }
        f.triple /= 2 * iters as u32;
        f.triple_batched = f.triple;
        f.presign /= iters as u32;
        f.sign /= iters as u32;
        f.triple_bytes /= 2 * iters;
        f.presign_bytes /= iters;
        f.sign_bytes /= iters;
        f
    }
}

fn average(v: &[Figures]) -> Figures {
    let n = v.len() as u32;
    Figures {
        triple: v.iter().map(|f| f.triple).sum::<Duration>() / n,
        triple_batched: v.iter().map(|f| f.triple_batched).sum::<Duration>() / n,
        presign: v.iter().map(|f| f.presign).sum::<Duration>() / n,
        sign: v.iter().map(|f| f.sign).sum::<Duration>() / n,
        triple_bytes: v.iter().map(|f| f.triple_bytes).sum::<usize>() / v.len(),
        presign_bytes: v.iter().map(|f| f.presign_bytes).sum::<usize>() / v.len(),
        sign_bytes: v.iter().map(|f| f.sign_bytes).sum::<usize>() / v.len(),
    }
}

fn per_sec(d: Duration) -> f64 {
    1.0 / d.as_secs_f64()
}

fn main() {
    // `cargo test` also runs bench targets with --bench-less arguments; keep that cheap.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let iters: usize = std::env::var("TSS_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let batch = 8;
    println!(
        "threshold ECDSA, n = {N}, t = {T}, {iters} iterations, all participants on one thread"
    );
    if std::env::var_os("TSS_BENCH_OURS_ONLY").is_some() {
        let o = ours(iters, batch);
        println!(
            "triple {:?} presign {:?} sign {:?}",
            o.triple, o.presign, o.sign
        );
        return;
    }
    // Alternate the two implementations so that load changes on a shared machine hit both.
    let mut os = Vec::new();
    let mut cs_ = Vec::new();
    for _ in 0..iters {
        os.push(ours(1, batch));
        cs_.push(cs::bench(1));
    }
    let o = average(&os);
    let c = average(&cs_);
    println!(
        "{:<28} {:>14} {:>14} {:>10}",
        "figure", "tdsigner-tss", "cait-sith 0.8", "ratio"
    );
    let rows = [
        ("triples/s (single)", per_sec(o.triple), per_sec(c.triple)),
        (
            &*Box::leak(format!("triples/s (batch of {batch})").into_boxed_str()),
            per_sec(o.triple_batched),
            per_sec(c.triple_batched),
        ),
        ("presignatures/s", per_sec(o.presign), per_sec(c.presign)),
        ("signatures/s", per_sec(o.sign), per_sec(c.sign)),
    ];
    for (name, a, b) in rows {
        println!("{name:<28} {a:>14.2} {b:>14.2} {:>10.2}", a / b);
    }
    let presig_total_o = 2 * o.triple_bytes + o.presign_bytes;
    let presig_total_c = 2 * c.triple_bytes + c.presign_bytes;
    let brows = [
        ("bytes per triple", o.triple_bytes, c.triple_bytes),
        ("bytes per presign round", o.presign_bytes, c.presign_bytes),
        ("bytes per presignature", presig_total_o, presig_total_c),
        ("bytes per signature", o.sign_bytes, c.sign_bytes),
    ];
    for (name, a, b) in brows {
        println!("{name:<28} {a:>14} {b:>14} {:>10.2}", a as f64 / b as f64);
    }
    println!(
        "(bytes: sum over point-to-point deliveries; per presignature = 2 triples + presign round;"
    );
    println!(
        " cait-sith 0.8's triples/s (batch) repeats its single-triple figure: it has no batch API)"
    );
}
