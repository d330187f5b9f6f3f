//! near's triple generation on hostile bytes: every payload decoder (commitment hashes,
//! confirmations, revealed polynomials, a/b and c shares, points with proofs, base-OT points,
//! the OT-extension matrix and check, seeds, MTA pairs and replies), and a live 2-party run
//! whose peer sends arbitrary messages on the shared channel and on the private child channels
//! of its multiplications. None may panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tdsigner_tss::near_compat::channel::{ChannelTag, Header};
use tdsigner_tss::near_compat::triples::{wire, TripleGeneration};
use tdsigner_tss::near_compat::{Action, Protocol};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    if which < 128 {
        let _ = wire::decode_kind(which, rest, 1 + usize::from(which % 4));
        return;
    }
    // Participant 0 of a 2-party run (count 1, t 2); participant 1 sends each chunk with a
    // header chosen by its first two bytes: shared waitpoints 0..6 or a multiplication channel.
    let rng = ChaCha20Rng::seed_from_u64(u64::from(which));
    let Ok(mut g) = TripleGeneration::new(&[0, 1], 0, 2, 1, rng) else {
        return;
    };
    let pair = ChannelTag::private(0, 1).child(0);
    for chunk in rest.split(|b| *b == 0xfe) {
        loop {
            match g.poke() {
                Ok(Action::Wait) | Err(_) => break,
                Ok(Action::Return(_)) => return,
                Ok(_) => {}
            }
        }
        let [sel, wp, payload @ ..] = chunk else {
            continue;
        };
        let channel = match sel % 6 {
            0 => ChannelTag::shared(),
            1 => pair.child(0),
            2 => pair.child(0).child(u64::from(*wp % 128)),
            3 => pair.child(1),
            4 => pair.child(1).child(0),
            _ => pair.child(2 + u64::from(*wp % 2)),
        };
        let mut msg = Header::new(channel, u64::from(*wp % 8)).to_bytes().to_vec();
        msg.extend_from_slice(payload);
        if g.message(1, msg).is_err() {
            return;
        }
    }
});
