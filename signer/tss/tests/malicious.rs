//! A misbehaving participant makes the protocol abort, and the honest participants name it
//! wherever the protocol can attribute the fault.

mod common;
use common::*;
use tdsigner_tss::sim::{self, Failures, InFlight};
use tdsigner_tss::wire::HEADER_BYTES;
use tdsigner_tss::{
    Dkg, ParticipantId, Presign, ProtocolError, Sign, SignRequest, TripleGeneration,
};

const EVIL: ParticipantId = ParticipantId(1);

/// Errors reported by participants other than `evil`, ignoring those that merely stalled
/// because someone else aborted.
fn honest_errors(f: &Failures, evil: ParticipantId) -> Vec<ProtocolError> {
    f.iter()
        .filter(|(p, e)| *p != evil && !matches!(e, ProtocolError::BadInput(_)))
        .map(|(_, e)| e.clone())
        .collect()
}

fn run_keygen(n: u32, t: usize, hook: &mut dyn FnMut(InFlight) -> Vec<InFlight>) -> Failures {
    let mut r = rng(5);
    let set = tdsigner_tss::ParticipantList::range(n).unwrap();
    let parties: Vec<_> = set
        .iter()
        .map(|p| (p, Dkg::keygen([5; 32], &set, t, p, &mut r).unwrap()))
        .collect();
    sim::run_with_hook(parties, &mut r, hook).expect_err("the run must abort")
}

#[test]
fn dkg_bad_commitment_opening_is_named() {
    let f = run_keygen(4, 3, &mut |mut m| {
        if m.from == EVIL && m.broadcast && round_of(&m.bytes) == 2 {
            m.bytes = edit_payload(&m.bytes, |p| {
                let last = p.len() - 1;
                p[last] ^= 1; // the opening nonce no longer matches the commitment
            });
        }
        vec![m]
    });
    let errs = honest_errors(&f, EVIL);
    assert_eq!(errs.len(), 3, "{f:?}");
    assert!(
        errs.iter()
            .all(|e| *e == ProtocolError::BadCommitment { culprit: EVIL }),
        "{f:?}"
    );
}

#[test]
fn dkg_wrong_share_is_named() {
    let f = run_keygen(4, 3, &mut |mut m| {
        if m.from == EVIL && !m.broadcast && m.to == ParticipantId(2) && round_of(&m.bytes) == 2 {
            m.bytes = edit_payload(&m.bytes, |p| bump_scalar(p, 0));
        }
        vec![m]
    });
    let errs = honest_errors(&f, EVIL);
    assert_eq!(
        errs,
        vec![ProtocolError::BadShare { culprit: EVIL }],
        "{f:?}"
    );
}

#[test]
fn dkg_equivocated_commitment_is_named() {
    // EVIL sends participant 3 a different round-1 commitment than everyone else: participant 3
    // sees an opening that does not match and names EVIL. (Equivocation that stays
    // self-consistent per recipient is caught by the echo round; it needs two valid openings.)
    let f = run_keygen(4, 2, &mut |mut m| {
        if m.from == EVIL && m.broadcast && m.to == ParticipantId(3) && round_of(&m.bytes) == 1 {
            m.bytes = edit_payload(&m.bytes, |p| p[0] ^= 0x80);
        }
        vec![m]
    });
    let errs = honest_errors(&f, EVIL);
    assert!(
        errs.contains(&ProtocolError::BadCommitment { culprit: EVIL }),
        "{f:?}"
    );
}

#[test]
fn replayed_and_misrouted_messages_are_named() {
    // The same message delivered twice.
    let f = run_keygen(3, 2, &mut |m| {
        if m.from == EVIL && m.to == ParticipantId(0) && round_of(&m.bytes) == 1 {
            let copy = InFlight {
                from: m.from,
                to: m.to,
                broadcast: m.broadcast,
                bytes: m.bytes.clone(),
            };
            vec![m, copy]
        } else {
            vec![m]
        }
    });
    // Depending on delivery order the copy arrives before round 1 is processed (duplicate) or
    // after (stale round); either way the sender is named.
    let e = f
        .iter()
        .find(|(p, _)| *p == ParticipantId(0))
        .map(|(_, e)| e.clone());
    assert!(
        matches!(
            e,
            Some(ProtocolError::Duplicate {
                from: EVIL,
                round: 1
            }) | Some(ProtocolError::StaleRound {
                from: EVIL,
                round: 1
            })
        ),
        "{f:?}"
    );

    // A message from another session (a replay from an earlier run).
    let f = run_keygen(3, 2, &mut |mut m| {
        if m.from == EVIL && m.to == ParticipantId(0) {
            m.bytes[2] ^= 1; // first byte of the session id
        }
        vec![m]
    });
    assert!(
        f.contains(&(ParticipantId(0), ProtocolError::WrongSession { from: EVIL })),
        "{f:?}"
    );

    // A private message addressed to someone else.
    let f = run_keygen(3, 2, &mut |mut m| {
        if m.from == EVIL && !m.broadcast && m.to == ParticipantId(2) {
            m.to = ParticipantId(0);
        }
        vec![m]
    });
    assert!(
        f.contains(&(ParticipantId(0), ProtocolError::Misrouted { from: EVIL })),
        "{f:?}"
    );

    // Garbage bytes.
    let f = run_keygen(3, 2, &mut |mut m| {
        if m.from == EVIL && m.to == ParticipantId(2) {
            m.bytes.truncate(HEADER_BYTES - 3);
        }
        vec![m]
    });
    assert!(
        matches!(
            f.iter().find(|(p, _)| *p == ParticipantId(2)),
            Some((_, ProtocolError::Malformed { from: EVIL, .. }))
        ),
        "{f:?}"
    );
}

fn run_triples(hook: &mut dyn FnMut(InFlight) -> Vec<InFlight>) -> Failures {
    let shares = keygen(3, 2, 70);
    let set = ids(&[0, 1, 2]);
    let sid = *shares[0].sharing_id();
    let parties: Vec<_> = set
        .iter()
        .map(|p| {
            (
                p,
                TripleGeneration::new([70; 32], &set, 2, sid, 1, p, rng(700 + p.0 as u64)).unwrap(),
            )
        })
        .collect();
    sim::run_with_hook(parties, &mut rng(71), hook).expect_err("the run must abort")
}

#[test]
fn triple_wrong_share_is_named() {
    let f = run_triples(&mut |mut m| {
        if m.from == EVIL && !m.broadcast && m.to == ParticipantId(0) && round_of(&m.bytes) == 2 {
            m.bytes = edit_payload(&m.bytes, |p| bump_scalar(p, 32)); // the f share
        }
        vec![m]
    });
    assert!(
        f.contains(&(ParticipantId(0), ProtocolError::BadShare { culprit: EVIL })),
        "{f:?}"
    );
}

#[test]
fn triple_inconsistent_ot_extension_is_named() {
    let f = run_triples(&mut |mut m| {
        // Participant 1 is the OT receiver towards participant 0 (lower id sends).
        if m.from == EVIL && m.to == ParticipantId(0) && round_of(&m.bytes) == 3 {
            m.bytes = edit_payload(&m.bytes, |p| p[100] ^= 4);
        }
        vec![m]
    });
    assert!(
        f.contains(&(
            ParticipantId(0),
            ProtocolError::BadOtExtension { culprit: EVIL }
        )),
        "{f:?}"
    );
}

#[test]
fn triple_cheating_inside_mta_is_detected() {
    // A wrong correlated-OT correction makes the product wrong; the public check aborts.
    let f = run_triples(&mut |mut m| {
        // Participant 1 is the OT sender towards participant 2.
        if m.from == EVIL && m.to == ParticipantId(2) && round_of(&m.bytes) == 4 {
            m.bytes = edit_payload(&m.bytes, |p| bump_scalar(p, 32 * 7));
        }
        vec![m]
    });
    let errs = honest_errors(&f, EVIL);
    assert!(
        !errs.is_empty()
            && errs
                .iter()
                .all(|e| *e == ProtocolError::MultiplicationCheckFailed),
        "{f:?}"
    );
}

#[test]
fn triple_bad_product_proof_is_named() {
    let f = run_triples(&mut |mut m| {
        if m.from == EVIL && m.broadcast && round_of(&m.bytes) == 5 {
            // Layout: t commitments (33 bytes each), C (33), proof (e, z). Bump z.
            m.bytes = edit_payload(&m.bytes, |p| bump_scalar(p, 33 * 3 + 32));
        }
        vec![m]
    });
    let errs = honest_errors(&f, EVIL);
    assert_eq!(
        errs,
        vec![ProtocolError::BadProof { culprit: EVIL }; 2],
        "{f:?}"
    );
}

#[test]
fn presign_and_sign_wrong_shares_are_named() {
    let shares = keygen(3, 2, 80);
    let set = ids(&[0, 1, 2]);
    let mut tr = triples(&shares, &set, 2, 81);
    let parties: Vec<_> = set
        .iter()
        .zip(tr.iter_mut())
        .map(|(p, v)| {
            let t1 = v.pop().unwrap();
            let t0 = v.pop().unwrap();
            (
                p,
                Presign::new([82; 32], share_of(&shares, p), t0, t1).unwrap(),
            )
        })
        .collect();
    let f = sim::run_with_hook(parties, &mut rng(83), &mut |mut m| {
        if m.from == EVIL && m.to == ParticipantId(2) {
            m.bytes = edit_payload(&m.bytes, |p| bump_scalar(p, 64)); // rho share
        }
        vec![m]
    })
    .expect_err("abort");
    assert!(
        f.contains(&(ParticipantId(2), ProtocolError::BadShare { culprit: EVIL })),
        "{f:?}"
    );

    // Signing: EVIL sends the coordinator a wrong share; no signature comes out and EVIL is named.
    let presigs = presign(&shares, &set, 84);
    let req = SignRequest {
        msg_hash: [1; 32],
        tweak: k256::Scalar::ZERO,
        entropy: [2; 32],
    };
    let parties: Vec<_> = presigs
        .into_iter()
        .map(|ps| {
            let p = ps.me;
            (
                p,
                Sign::new(
                    [85; 32],
                    share_of(&shares, p),
                    ps,
                    req.clone(),
                    ParticipantId(0),
                )
                .unwrap(),
            )
        })
        .collect();
    let f = sim::run_with_hook(parties, &mut rng(86), &mut |mut m| {
        if m.from == EVIL {
            m.bytes = edit_payload(&m.bytes, |p| bump_scalar(p, 0));
        }
        vec![m]
    })
    .expect_err("abort");
    assert_eq!(
        f,
        vec![(ParticipantId(0), ProtocolError::BadShare { culprit: EVIL })]
    );
}

#[test]
fn protocol_refuses_use_after_finish_and_after_abort() {
    use tdsigner_tss::Protocol;
    let set = ids(&[0, 1]);
    let mut r = rng(90);
    let mut a = Dkg::keygen([90; 32], &set, 2, ParticipantId(0), &mut r).unwrap();
    // A message from a non-participant aborts and names it.
    let err = a.message(ParticipantId(7), &[1, 2, 3]).unwrap_err();
    assert_eq!(err.culprit(), Some(ParticipantId(7)));
    assert!(a.poke().is_err());
}
