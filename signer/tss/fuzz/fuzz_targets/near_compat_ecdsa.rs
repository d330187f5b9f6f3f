//! The near-compatible ECDSA and CKD decoders on hostile bytes (CaitSith presign/sign scalars and
//! pairs; robust presign evaluations, (R, w) shares and W points; CKD (Y, C) contributions), and
//! live CaitSith presign, CaitSith sign (leader), robust presign and CKD-PV leader participants
//! fed arbitrary messages. Nothing may panic;
//! accepted values must re-encode to the bytes they were decoded from when canonical.
#![no_main]
use k256::{ProjectivePoint, Scalar};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tdsigner_tss::near_compat::channel::{ChannelTag, Header};
use tdsigner_tss::near_compat::ecdsa::{decode_scalar, decode_scalar_pair, write_scalar};
use tdsigner_tss::near_compat::msgpack::Writer;
use tdsigner_tss::near_compat::presign::{TriplePub, TripleShare};
use tdsigner_tss::near_compat::robust::{
    decode_evaluations, decode_point, decode_r_and_w, RobustPresign,
};
use tdsigner_tss::near_compat::{
    Action, EcdsaSign, Presign, PresignArgs, PresignOutput, Protocol, RerandomizedPresign,
};

/// Feeds `rest`, split at 0xff bytes, as messages from 1 and 2 (first byte = waitpoint).
fn feed(p: &mut impl Protocol, rest: &[u8], waitpoints: u8) {
    for (i, chunk) in rest.split(|b| *b == 0xff).enumerate() {
        while let Ok(a) = p.poke() {
            if matches!(a, Action::Wait) || matches!(a, Action::Return(_)) {
                break;
            }
        }
        let mut msg = Header::new(ChannelTag::shared(), 0).to_bytes().to_vec();
        if let Some((&wp, payload)) = chunk.split_first() {
            msg[32] = wp % waitpoints;
            msg.extend_from_slice(payload);
        }
        if p.message(1 + (i as u32 % 2), msg).is_err() {
            return;
        }
    }
}

fn triple(seed: u64) -> (TripleShare, TriplePub) {
    let s = Scalar::from(seed);
    let g = ProjectivePoint::GENERATOR;
    let public = TriplePub {
        big_a: (g * s).to_affine(),
        big_b: (g * s).to_affine(),
        big_c: (g * s.square()).to_affine(),
        participants: vec![0, 1, 2],
        threshold: 3,
    };
    (
        TripleShare {
            a: s,
            b: s,
            c: s.square(),
        },
        public,
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => {
            if let Ok(s) = decode_scalar(rest) {
                let mut w = Writer::new();
                write_scalar(&mut w, &s);
                assert_eq!(decode_scalar(w.as_slice()).unwrap(), s);
            }
            let _ = decode_scalar_pair(rest);
        }
        1 => {
            let _ = decode_evaluations(rest);
            let _ = decode_r_and_w(rest);
            let _ = decode_point(rest);
        }
        2 => {
            let args = PresignArgs {
                triple0: triple(3),
                triple1: triple(5),
                private_share: Scalar::from(7u64),
                public_key: ProjectivePoint::GENERATOR * Scalar::from(7u64),
                threshold: 3,
            };
            if let Ok(mut p) = Presign::new(&[0, 1, 2], 0, args) {
                feed(&mut p, rest, 3);
            }
        }
        3 => {
            let presig = PresignOutput {
                big_r: ProjectivePoint::GENERATOR.to_affine(),
                k: Scalar::from(3u64),
                sigma: Scalar::from(4u64),
            };
            let rr = RerandomizedPresign {
                big_r: presig.big_r,
                k: presig.k,
                sigma: presig.sigma,
            };
            let pk = ProjectivePoint::GENERATOR.to_affine();
            if let Ok(mut s) = EcdsaSign::new(&[0, 1, 2], 0, 3, 0, pk, &rr, Scalar::ONE) {
                feed(&mut s, rest, 2);
            }
        }
        6 => {
            use tdsigner_tss::near_compat::ckd::{Ckd, CkdArgs, CkdOutput};
            if let Ok(o) = CkdOutput::decode(rest) {
                let mut w = Writer::new();
                o.encode(&mut w);
                assert_eq!(CkdOutput::decode(w.as_slice()).unwrap(), o);
            }
            let g1 = bls12_381::G1Projective::generator();
            let g2 = bls12_381::G2Projective::generator();
            let args = CkdArgs {
                private_share: bls12_381::Scalar::from(5u64),
                public_key: g2 * bls12_381::Scalar::from(5u64),
                app_id: vec![1, 2, 3],
                app_public_key: g1,
                app_public_key_g2: Some(g2),
            };
            let mut rng = ChaCha20Rng::seed_from_u64(2);
            if let Ok(mut c) = Ckd::new(&[0, 1, 2], 0, 0, args, &mut rng) {
                feed(&mut c, rest, 2);
            }
        }
        _ => {
            let mut rng = ChaCha20Rng::seed_from_u64(1);
            if let Ok(mut p) = RobustPresign::new(&[0, 1, 2], 0, 1, Scalar::from(9u64), &mut rng) {
                feed(&mut p, rest, 4);
            }
        }
    }
});
