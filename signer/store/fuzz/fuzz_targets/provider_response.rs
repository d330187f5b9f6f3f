//! The local-sgx key source fed arbitrary provider bytes (split at a fuzzer-chosen point) after a
//! well-formed request: never panics, never yields a key (the fuzzer cannot forge a verified quote).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tdsigner_store::keysource::{
    KeySourceInput, KeySourceStep, LocalSgxKeySource, LocalSgxPolicy, ProviderQuoteVerifier,
    ProviderResponse, VerifiedSgxReport,
};
use tdsigner_store::SealingKeySource;

struct RejectAll;
impl ProviderQuoteVerifier for RejectAll {
    fn verify_sgx_quote(&self, _quote: &[u8]) -> Result<VerifiedSgxReport, String> {
        Err("fuzz".into())
    }
}

struct Counter(u64);
impl rand_core::RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u64() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for Counter {}

fuzz_target!(|data: &[u8]| {
    let _ = ProviderResponse::from_json(data);
    let policy = LocalSgxPolicy {
        allowed_mr_enclaves: vec![[1; 32]],
    };
    let mut src = LocalSgxKeySource::new(policy, RejectAll, &mut Counter(1)).unwrap();
    let Ok(KeySourceStep::NeedQuote { report_data }) = src.step(KeySourceInput::Start) else {
        panic!("start")
    };
    let mut quote = vec![0u8; 48 + 584];
    quote[0] = 4;
    quote[4] = 0x81;
    quote[48 + 520..48 + 584].copy_from_slice(&report_data);
    assert!(matches!(
        src.step(KeySourceInput::Quote(&quote)),
        Ok(KeySourceStep::Transmit(_))
    ));
    let split = data.first().map_or(0, |&b| b as usize).min(data.len());
    for part in [&data[..split], &data[split..]] {
        match src.step(KeySourceInput::Received(part)) {
            Ok(KeySourceStep::Ready(_)) => panic!("a key without a verified provider quote"),
            Ok(_) => {}
            Err(_) => break,
        }
    }
});
