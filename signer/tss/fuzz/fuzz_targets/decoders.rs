//! Every standalone decoder of hostile bytes: message envelopes, stored key/triple/presignature
//! shares, NEAR key strings. None may panic; accepted shares must re-encode identically.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tdsigner_tss::{near, wire::Envelope, KeyShare, PresignatureShare, TripleShare};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => {
            if let Ok(env) = Envelope::decode(rest) {
                assert_eq!(env.encode(), rest);
            }
        }
        1 => {
            if let Ok(k) = KeyShare::from_bytes(rest) {
                assert_eq!(&k.to_bytes()[..], rest);
            }
        }
        2 => {
            if let Ok(t) = TripleShare::from_bytes(rest) {
                assert_eq!(&t.to_bytes()[..], rest);
            }
        }
        3 => {
            if let Ok(p) = PresignatureShare::from_bytes(rest) {
                assert_eq!(&p.to_bytes()[..], rest);
            }
        }
        _ => {
            if let Ok(s) = core::str::from_utf8(rest) {
                if let Ok(pk) = near::parse_public_key_string(s) {
                    assert_eq!(near::public_key_string(&pk), s);
                }
            }
        }
    }
});
