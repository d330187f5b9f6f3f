//! The `local-sgx` key source against a simulated provider that follows the provider's published
//! behaviour byte for byte (framing, JSON, derivation, sealed box, hash binding). What this cannot
//! show: that a real provider enclave on a real TDX+SGX host answers the same — no such host here.

use crypto_box::{PublicKey, SecretKey};
use hkdf::Hkdf;
use rand::rngs::StdRng;
use rand::SeedableRng;
use sha2::{Digest, Sha256};
use tdsigner_store::keysource::{
    KeySourceError, KeySourceInput, KeySourceStep, LocalSgxKeySource, LocalSgxPolicy,
    ProviderQuoteVerifier, ProviderResponse, VerifiedSgxReport,
};
use tdsigner_store::{KeySourceKind, SealingKey, SealingKeySource};

const PROVIDER_MR: [u8; 32] = [0xE1; 32];
const SGX_SEALING_KEY: [u8; 16] = [0x5E; 16];

/// A TDX quote v4 shell: header (version 4, TEE type 0x81), TD report body with the given
/// measurements and report_data, and a stand-in signature section.
fn td_quote(report_data: &[u8; 64], rtmr3: u8) -> Vec<u8> {
    let mut q = vec![0u8; 48 + 584 + 64];
    q[0..2].copy_from_slice(&4u16.to_le_bytes());
    q[4..8].copy_from_slice(&0x81u32.to_le_bytes());
    let body = 48;
    q[body + 136..body + 184].fill(0x11); // MRTD
    for (i, r) in [0x20u8, 0x21, 0x22, rtmr3].iter().enumerate() {
        let at = body + 328 + i * 48;
        q[at..at + 48].fill(*r);
    }
    q[body + 520..body + 584].copy_from_slice(report_data);
    q
}

/// Stand-in SGX quote: "SGXQ" ‖ MRENCLAVE ‖ report_data. Only the test verifier accepts it.
fn sgx_quote(mr_enclave: [u8; 32], report_data: [u8; 64]) -> Vec<u8> {
    let mut q = b"SGXQ".to_vec();
    q.extend_from_slice(&mr_enclave);
    q.extend_from_slice(&report_data);
    q
}

struct TestVerifier;
impl ProviderQuoteVerifier for TestVerifier {
    fn verify_sgx_quote(&self, quote: &[u8]) -> Result<VerifiedSgxReport, String> {
        if quote.len() != 100 || &quote[..4] != b"SGXQ" {
            return Err("signature does not verify".into());
        }
        Ok(VerifiedSgxReport {
            mr_enclave: quote[4..36].try_into().unwrap(),
            mr_signer: [0; 32],
            isv_prod_id: 0,
            isv_svn: 0,
            report_data: quote[36..100].try_into().unwrap(),
        })
    }
}

/// What the provider does with a request frame (its published algorithm).
struct Provider {
    mr_enclave: [u8; 32],
    tamper_hash: bool,
}

impl Provider {
    fn honest() -> Self {
        Self {
            mr_enclave: PROVIDER_MR,
            tamper_hash: false,
        }
    }

    fn derived_key(quote: &[u8]) -> [u8; 32] {
        let body = 48;
        let mut h = Sha256::new();
        h.update(SGX_SEALING_KEY);
        h.update(&quote[body + 136..body + 184]);
        h.update(&quote[body + 328..body + 520]);
        h.finalize().into()
    }

    fn answer(&self, frame: &[u8]) -> Vec<u8> {
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(frame.len(), 4 + len);
        #[derive(serde::Deserialize)]
        struct Req {
            quote: Vec<u8>,
        }
        let req: Req = serde_json::from_slice(&frame[4..]).expect("provider parses the request");
        let k = Self::derived_key(&req.quote);
        let pk: [u8; 32] = req.quote[48 + 520..48 + 552].try_into().unwrap();
        let encrypted_key = PublicKey::from(pk)
            .seal(&mut rand::thread_rng(), &k)
            .unwrap();
        let mut rd = [0u8; 64];
        rd[..32].copy_from_slice(&Sha256::digest(&encrypted_key));
        if self.tamper_hash {
            rd[0] ^= 1;
        }
        let body = serde_json::json!({ "encrypted_key": encrypted_key, "provider_quote": sgx_quote(self.mr_enclave, rd) });
        frame_of(serde_json::to_vec(&body).unwrap())
    }
}

fn frame_of(json: Vec<u8>) -> Vec<u8> {
    let mut f = (json.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&json);
    f
}

fn source(seed: u64, pins: Vec<[u8; 32]>) -> LocalSgxKeySource<TestVerifier> {
    LocalSgxKeySource::new(
        LocalSgxPolicy {
            allowed_mr_enclaves: pins,
        },
        TestVerifier,
        &mut StdRng::seed_from_u64(seed),
    )
    .unwrap()
}

/// Runs the exchange; `chunk` is how many response bytes arrive per read.
fn run(
    src: &mut LocalSgxKeySource<TestVerifier>,
    provider: &Provider,
    rtmr3: u8,
    chunk: usize,
) -> Result<SealingKey, KeySourceError> {
    let KeySourceStep::NeedQuote { report_data } = src.step(KeySourceInput::Start)? else {
        panic!("expected NeedQuote")
    };
    let KeySourceStep::Transmit(frame) =
        src.step(KeySourceInput::Quote(&td_quote(&report_data, rtmr3)))?
    else {
        panic!("expected Transmit")
    };
    let response = provider.answer(&frame);
    let mut chunks = response.chunks(chunk).peekable();
    while let Some(c) = chunks.next() {
        match src.step(KeySourceInput::Received(c))? {
            KeySourceStep::NeedMoreBytes => assert!(
                chunks.peek().is_some(),
                "asked for more after the frame ended"
            ),
            KeySourceStep::Ready(key) => {
                assert!(chunks.peek().is_none());
                return Ok(key);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("exchange did not finish")
}

#[test]
fn key_is_released_bound_to_measurements_and_stable_across_boots() {
    let mut first = source(1, vec![PROVIDER_MR]);
    assert_eq!(first.kind(), KeySourceKind::LocalSgx);
    assert!(first.kind().is_production());
    let event = first.event();
    assert_eq!(event.name, "tdsigner.key-source");
    assert_eq!(
        event.payload,
        format!("local-sgx;mrenclave={}", "e1".repeat(32)).into_bytes()
    );
    let k1 = run(&mut first, &Provider::honest(), 0x33, 1).unwrap();
    assert_eq!(first.provider_mr_enclave(), Some(PROVIDER_MR));
    // The sealing key is HKDF of the provider's key, salted per source, with the enclave as info.
    let td_key = Provider::derived_key(&td_quote(&[0; 64], 0x33));
    let mut expect = [0u8; 32];
    Hkdf::<Sha256>::new(Some(b"tdsigner/key-source/local-sgx/v1"), &td_key)
        .expand(&PROVIDER_MR, &mut expect)
        .unwrap();
    assert_eq!(k1.expose(), &expect);
    // Next boot: a new ephemeral key pair, same measurements => same sealing key.
    let k2 = run(
        &mut source(2, vec![PROVIDER_MR]),
        &Provider::honest(),
        0x33,
        7,
    )
    .unwrap();
    assert_eq!(k1.expose(), k2.expose());
    // Different RTMR3 (another config or key source) => another key.
    let k3 = run(
        &mut source(3, vec![PROVIDER_MR]),
        &Provider::honest(),
        0x34,
        4096,
    )
    .unwrap();
    assert_ne!(k1.expose(), k3.expose());
}

#[test]
fn request_is_the_providers_wire_format() {
    let mut src = source(4, vec![PROVIDER_MR]);
    let KeySourceStep::NeedQuote { report_data } = src.step(KeySourceInput::Start).unwrap() else {
        panic!()
    };
    assert_eq!(&report_data[32..], &[0u8; 32]);
    let quote = td_quote(&report_data, 0);
    let KeySourceStep::Transmit(frame) = src.step(KeySourceInput::Quote(&quote)).unwrap() else {
        panic!()
    };
    let json = &frame[4..];
    assert_eq!(
        u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
        json.len()
    );
    let expected = format!(
        "{{\"quote\":[{}]}}",
        quote
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(std::str::from_utf8(json).unwrap(), expected);
}

#[test]
fn response_json_matches_the_providers_encoder() {
    // The provider serializes {"encrypted_key":[1,2],"provider_quote":[3,4]} (its own test pins this).
    let r =
        ProviderResponse::from_json(br#"{"encrypted_key":[1,2],"provider_quote":[3,4]}"#).unwrap();
    assert_eq!(
        (r.encrypted_key, r.provider_quote),
        (vec![1, 2], vec![3, 4])
    );
    // Unknown fields from a newer provider are ignored; bytes out of range are not.
    assert!(
        ProviderResponse::from_json(br#"{"encrypted_key":[],"provider_quote":[],"extra":1}"#)
            .is_ok()
    );
    assert!(matches!(
        ProviderResponse::from_json(br#"{"encrypted_key":[256],"provider_quote":[]}"#),
        Err(KeySourceError::MalformedResponse { .. })
    ));
}

#[test]
fn libsodium_sealed_box_opens() {
    // Produced by libsodium 1.0.18 (crypto_box_seal via PyNaCl) for the secret key 01 02 .. 20:
    // a sealed box of 32 bytes 0xA5. Pins interoperability of the sealed-box format we open.
    let sk = SecretKey::from(
        (1u8..=32)
            .collect::<Vec<_>>()
            .try_into()
            .map(|a: [u8; 32]| a)
            .unwrap(),
    );
    assert_eq!(
        hex(sk.public_key().as_bytes()),
        "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c"
    );
    let sealed = unhex("87ca6acd1e5a6fa99d225e4c98adc459eab9a9affe8b0afe4fef5a6e5ba6b0277c95fe32bbf189246d4e794db3c80bc5a49593a35a9d095d3b58006eb023fc84ce0bf95b49649e576ea667a262ec75c9");
    assert_eq!(sk.unseal(&sealed).unwrap(), vec![0xA5; 32]);
}

#[test]
fn unpinned_provider_is_refused() {
    let err = run(&mut source(5, vec![[0x99; 32]]), &Provider::honest(), 0, 64).unwrap_err();
    assert_eq!(
        err,
        KeySourceError::UntrustedProvider {
            mr_enclave: PROVIDER_MR
        }
    );
    assert!(matches!(
        LocalSgxKeySource::new(
            LocalSgxPolicy {
                allowed_mr_enclaves: vec![]
            },
            TestVerifier,
            &mut StdRng::seed_from_u64(0)
        ),
        Err(KeySourceError::EmptyPolicy)
    ));
}

#[test]
fn provider_quote_must_bind_the_encrypted_key() {
    let err = run(
        &mut source(6, vec![PROVIDER_MR]),
        &Provider {
            mr_enclave: PROVIDER_MR,
            tamper_hash: true,
        },
        0,
        64,
    )
    .unwrap_err();
    assert_eq!(err, KeySourceError::KeyBindingMismatch);
}

/// Drives a source up to the point where it waits for the response.
fn awaiting_response(seed: u64) -> (LocalSgxKeySource<TestVerifier>, Vec<u8>) {
    let mut src = source(seed, vec![PROVIDER_MR]);
    let KeySourceStep::NeedQuote { report_data } = src.step(KeySourceInput::Start).unwrap() else {
        panic!()
    };
    let KeySourceStep::Transmit(frame) = src
        .step(KeySourceInput::Quote(&td_quote(&report_data, 0)))
        .unwrap()
    else {
        panic!()
    };
    (src, frame)
}

#[test]
fn response_faults_are_typed() {
    // Verifier rejects the provider quote.
    let (mut src, _) = awaiting_response(7);
    let body = serde_json::json!({ "encrypted_key": vec![0u8; 80], "provider_quote": b"not a quote".to_vec() });
    assert!(matches!(
        src.step(KeySourceInput::Received(&frame_of(
            serde_json::to_vec(&body).unwrap()
        ))),
        Err(KeySourceError::ProviderQuoteRejected { .. })
    ));
    // Key sealed to another TD: binding is fine, opening fails.
    let (mut src, frame) = awaiting_response(8);
    let (_, other_frame) = awaiting_response(9);
    let other: serde_json::Value =
        serde_json::from_slice(&Provider::honest().answer(&other_frame)[4..]).unwrap();
    let _ = frame;
    assert_eq!(
        src.step(KeySourceInput::Received(&frame_of(
            serde_json::to_vec(&other).unwrap()
        )))
        .unwrap_err(),
        KeySourceError::DecryptFailed
    );
    // Wrong encrypted-key length.
    let (mut src, _) = awaiting_response(10);
    let body = serde_json::json!({ "encrypted_key": vec![0u8; 79], "provider_quote": vec![1u8] });
    assert_eq!(
        src.step(KeySourceInput::Received(&frame_of(
            serde_json::to_vec(&body).unwrap()
        )))
        .unwrap_err(),
        KeySourceError::EncryptedKeyLength {
            len: 79,
            expected: 80
        }
    );
    // Not JSON.
    let (mut src, _) = awaiting_response(11);
    assert!(matches!(
        src.step(KeySourceInput::Received(&frame_of(b"<html>".to_vec()))),
        Err(KeySourceError::MalformedResponse { .. })
    ));
    // Frame length zero / too large.
    let (mut src, _) = awaiting_response(12);
    assert!(matches!(
        src.step(KeySourceInput::Received(&[0, 0, 0, 0])),
        Err(KeySourceError::FrameLength { len: 0, .. })
    ));
    let (mut src, _) = awaiting_response(13);
    assert!(matches!(
        src.step(KeySourceInput::Received(&[0xff, 0, 0, 0])),
        Err(KeySourceError::FrameLength { .. })
    ));
    // Bytes after the frame.
    let (mut src, _) = awaiting_response(14);
    let mut f = frame_of(b"{}".to_vec());
    f.push(b'x');
    assert_eq!(
        src.step(KeySourceInput::Received(&f)).unwrap_err(),
        KeySourceError::TrailingBytes { extra: 1 }
    );
    // After an error the exchange is dead.
    assert!(matches!(
        src.step(KeySourceInput::Received(b"x")),
        Err(KeySourceError::UnexpectedInput {
            state: "failed",
            ..
        })
    ));
}

#[test]
fn quote_faults_and_misuse_are_typed() {
    let mut src = source(15, vec![PROVIDER_MR]);
    assert!(matches!(
        src.step(KeySourceInput::Quote(&[1])),
        Err(KeySourceError::UnexpectedInput {
            state: "start",
            input: "quote"
        })
    ));
    let mut src = source(16, vec![PROVIDER_MR]);
    src.step(KeySourceInput::Start).unwrap();
    assert!(matches!(
        src.step(KeySourceInput::Quote(&td_quote(&[7; 64], 0))),
        Err(KeySourceError::QuoteReportDataMismatch)
    ));
    let mut src = source(17, vec![PROVIDER_MR]);
    let KeySourceStep::NeedQuote { report_data } = src.step(KeySourceInput::Start).unwrap() else {
        panic!()
    };
    let mut q = td_quote(&report_data, 0);
    q[0] = 3;
    assert!(matches!(
        src.step(KeySourceInput::Quote(&q)),
        Err(KeySourceError::UnsupportedQuote { version: 3 })
    ));
    let mut src = source(18, vec![PROVIDER_MR]);
    src.step(KeySourceInput::Start).unwrap();
    assert!(matches!(
        src.step(KeySourceInput::Quote(&[])),
        Err(KeySourceError::QuoteSize { len: 0, .. })
    ));
    // A short v4 quote.
    let mut src = source(19, vec![PROVIDER_MR]);
    src.step(KeySourceInput::Start).unwrap();
    let q = td_quote(&[0; 64], 0);
    assert!(matches!(
        src.step(KeySourceInput::Quote(&q[..100])),
        Err(KeySourceError::QuoteSize { .. })
    ));
}

#[test]
fn debug_output_has_no_key_material() {
    let src = source(20, vec![PROVIDER_MR]);
    let shown = format!("{src:?}");
    let pk = hex(&src.report_data()[..32]);
    assert!(!shown.contains(&pk[..16]));
    assert!(shown.contains("await") || shown.contains("start"));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
