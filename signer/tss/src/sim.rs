//! An in-memory network for running every participant of a protocol in one process, delivering
//! messages in a random order chosen by an injected RNG. Used by tests, benches and
//! `tdsigner tss simulate`; an optional hook lets tests drop, alter or replay messages to model
//! a misbehaving participant.

use alloc::vec::Vec;
use rand_core::RngCore;

use crate::engine::{Action, Protocol};
use crate::error::ProtocolError;
use crate::participants::ParticipantId;

/// Traffic counted over one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Point-to-point deliveries (a broadcast to n-1 peers counts n-1 times).
    pub messages: usize,
    /// Bytes over all point-to-point deliveries, envelopes included.
    pub bytes: usize,
}

/// A message in flight.
pub struct InFlight {
    pub from: ParticipantId,
    pub to: ParticipantId,
    pub broadcast: bool,
    pub bytes: Vec<u8>,
}

/// Per-participant outcome when a run does not complete.
pub type Failures = Vec<(ParticipantId, ProtocolError)>;

/// Each participant's output, with the traffic of the run.
pub type Outputs<T> = (Vec<(ParticipantId, T)>, Traffic);

/// Runs all `parties` to completion. Returns each participant's output (in the given order) or,
/// if any participant failed or the run stalled, every error observed (a stalled participant
/// reports [`ProtocolError::BadInput`]).
pub fn run<P: Protocol>(
    parties: Vec<(ParticipantId, P)>,
    rng: &mut impl RngCore,
) -> Result<Outputs<P::Output>, Failures> {
    run_with_hook(parties, rng, &mut |m| alloc::vec![m])
}

/// Like [`run`], but every message passes through `hook`, which returns what is delivered
/// instead (nothing, the message, an altered message, several copies...).
pub fn run_with_hook<P: Protocol>(
    mut parties: Vec<(ParticipantId, P)>,
    rng: &mut impl RngCore,
    hook: &mut dyn FnMut(InFlight) -> Vec<InFlight>,
) -> Result<Outputs<P::Output>, Failures> {
    let ids: Vec<ParticipantId> = parties.iter().map(|(p, _)| *p).collect();
    let mut outputs: Vec<Option<P::Output>> = parties.iter().map(|_| None).collect();
    let mut failed: Failures = Vec::new();
    let mut dead = alloc::vec![false; parties.len()];
    let mut queue: Vec<InFlight> = Vec::new();
    let mut traffic = Traffic::default();

    let mut poke_all = |idx: usize,
                        parties: &mut Vec<(ParticipantId, P)>,
                        queue: &mut Vec<InFlight>,
                        outputs: &mut Vec<Option<P::Output>>,
                        dead: &mut Vec<bool>,
                        failed: &mut Failures,
                        traffic: &mut Traffic| {
        if dead[idx] || outputs[idx].is_some() {
            return;
        }
        let (me, proto) = &mut parties[idx];
        let me = *me;
        loop {
            match proto.poke() {
                Ok(Action::Wait) => break,
                Ok(Action::SendMany(bytes)) => {
                    for &to in ids.iter().filter(|p| **p != me) {
                        for m in hook(InFlight {
                            from: me,
                            to,
                            broadcast: true,
                            bytes: bytes.clone(),
                        }) {
                            traffic.messages += 1;
                            traffic.bytes += m.bytes.len();
                            queue.push(m);
                        }
                    }
                }
                Ok(Action::SendPrivate(to, bytes)) => {
                    for m in hook(InFlight {
                        from: me,
                        to,
                        broadcast: false,
                        bytes,
                    }) {
                        traffic.messages += 1;
                        traffic.bytes += m.bytes.len();
                        queue.push(m);
                    }
                }
                Ok(Action::Return(out)) => {
                    outputs[idx] = Some(out);
                    break;
                }
                Err(e) => {
                    dead[idx] = true;
                    failed.push((me, e));
                    break;
                }
            }
        }
    };

    for i in 0..parties.len() {
        poke_all(
            i,
            &mut parties,
            &mut queue,
            &mut outputs,
            &mut dead,
            &mut failed,
            &mut traffic,
        );
    }
    while !queue.is_empty() {
        let pick = (rng.next_u64() % queue.len() as u64) as usize;
        let m = queue.swap_remove(pick);
        let Some(idx) = ids.iter().position(|p| *p == m.to) else {
            continue;
        };
        if dead[idx] || outputs[idx].is_some() {
            continue;
        }
        if let Err(e) = parties[idx].1.message(m.from, &m.bytes) {
            dead[idx] = true;
            failed.push((m.to, e));
            continue;
        }
        poke_all(
            idx,
            &mut parties,
            &mut queue,
            &mut outputs,
            &mut dead,
            &mut failed,
            &mut traffic,
        );
    }
    for (i, out) in outputs.iter().enumerate() {
        if out.is_none() && !dead[i] {
            failed.push((
                ids[i],
                ProtocolError::BadInput("stalled: no message left to deliver"),
            ));
        }
    }
    if !failed.is_empty() {
        return Err(failed);
    }
    let outs = ids
        .into_iter()
        .zip(outputs)
        .filter_map(|(p, o)| o.map(|o| (p, o)))
        .collect();
    Ok((outs, traffic))
}
