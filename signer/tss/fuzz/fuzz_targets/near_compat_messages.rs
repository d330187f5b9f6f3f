//! Every decoder of the near-compatible family on hostile bytes: message headers, echo
//! broadcast votes (session contributions, commitments on both curves, final votes), commitment
//! hashes and private shares, FROST EdDSA commitments/packages/shares, and a live DKG fed arbitrary messages. None may panic; votes we
//! accept must re-encode to the same bytes when they were in canonical form.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tdsigner_tss::near_compat::channel::{ChannelTag, Header};
use tdsigner_tss::near_compat::dkg::{decode_commitment_vote, decode_hash, decode_share};
use tdsigner_tss::near_compat::echo::{decode_vote, encode_vote};
use tdsigner_tss::near_compat::{Bls12381G2, Dkg, Ed25519, Protocol, Secp256k1};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let header = Header::new(ChannelTag::shared(), 0);
    match which % 9 {
        0 => {
            if let Some((h, payload)) = Header::split(rest) {
                let mut again = h.to_bytes().to_vec();
                again.extend_from_slice(payload);
                assert_eq!(again, rest);
            }
        }
        1 => {
            if let Ok((sid, vote)) = decode_vote::<[u8; 32]>(rest) {
                let enc = encode_vote(header, sid, &vote);
                let _ = decode_vote::<[u8; 32]>(&enc[40..]).unwrap();
            }
        }
        2 => {
            let _ = decode_vote::<(bool, [u8; 32])>(rest);
        }
        3 => {
            if let Ok((sid, vote)) = decode_commitment_vote::<Secp256k1>(rest) {
                let enc = encode_vote(header, sid, &vote);
                assert_eq!(decode_commitment_vote::<Secp256k1>(&enc[40..]).unwrap(), (sid, vote));
            }
        }
        4 => {
            let _ = decode_commitment_vote::<Ed25519>(rest);
            let _ = decode_commitment_vote::<Bls12381G2>(rest);
            let _ = decode_share::<Bls12381G2>(rest);
        }
        6 => {
            use tdsigner_tss::near_compat::eddsa::{decode_commitments, decode_signature_share, SigningPackage};
            let _ = decode_commitments(rest);
            let _ = decode_signature_share(rest);
            if let Ok(p) = SigningPackage::decode(rest) {
                let mut w = tdsigner_tss::near_compat::msgpack::Writer::new();
                p.encode(&mut w);
                assert_eq!(SigningPackage::decode(w.as_slice()).unwrap(), p);
            }
        }
        5 => {
            let _ = decode_share::<Secp256k1>(rest);
            let _ = decode_share::<Ed25519>(rest);
            let _ = decode_hash(rest);
        }
        _ => {
            // A participant of a 3-party keygen receiving arbitrary messages from 1 and 2.
            let mut rng = ChaCha20Rng::seed_from_u64(1);
            let Ok(mut dkg) = Dkg::<Secp256k1>::keygen(&[0, 1, 2], 0, 2, &mut rng) else {
                return;
            };
            for (i, chunk) in rest.split(|b| *b == 0xff).enumerate() {
                while let Ok(a) = dkg.poke() {
                    if matches!(a, tdsigner_tss::near_compat::Action::Wait) {
                        break;
                    }
                }
                let mut msg = header.to_bytes().to_vec();
                if let Some((&wp, payload)) = chunk.split_first() {
                    msg[32] = wp % 6;
                    msg.extend_from_slice(payload);
                }
                if dkg.message(1 + (i as u32 % 2), msg).is_err() {
                    return;
                }
            }
        }
    }
});
