//! An EMULATED SGX local key provider for tests: speaks the wire protocol of
//! `gramine-sealing-key-provider` / dstack's `local-key-provider` (u32 BE
//! length + JSON, one request per connection) and follows its algorithm with
//! emulated parts:
//!
//! 1. the TD quote is verified with dcap-qvl (`tdsigner_measure::verify`)
//!    against the EMULATED test root and collateral;
//! 2. `k = SHA-256(emulated SGX sealing key ‖ MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ RTMR3)`
//!    from the verified quote;
//! 3. `k` is sealed (crypto_box sealed box) to the X25519 key in the TD
//!    quote's report_data[0..32];
//! 4. the answer carries an EMULATED SGX quote (`tdsigner_node::provider_quote`)
//!    for the pinned MRENCLAVE with report_data = SHA-256(encrypted_key) ‖ 0.
//!
//! Nothing here is a real enclave: the "sealing key" is a test constant and
//! every quote key derives from a public seed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crypto_box::PublicKey;
use sha2::{Digest, Sha256};

/// The provider's frame limit (as the real provider).
pub const MAX_FRAME: usize = 8 * 1024 * 1024;

/// What the provider saw.
#[derive(Default)]
pub struct ProviderLog {
    /// Keys released.
    pub released: AtomicUsize,
    /// Requests refused, with the reason.
    pub refused: Mutex<Vec<String>>,
}

/// A running emulated provider on 127.0.0.1 (QEMU user networking shows it
/// to the guest as 10.0.2.2:port). Stops when dropped.
pub struct EmulatedKeyProvider {
    pub port: u16,
    pub log: Arc<ProviderLog>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmulatedKeyProvider {
    /// Starts a provider that answers with `mr_enclave` and derives from `sealing_key`.
    pub fn spawn(mr_enclave: [u8; 32], sealing_key: [u8; 16]) -> std::io::Result<EmulatedKeyProvider> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let log = Arc::new(ProviderLog::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, stop2) = (log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => match serve(stream, mr_enclave, &sealing_key) {
                        Ok(()) => {
                            log2.released.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => log2.refused.lock().map(|mut r| r.push(e)).unwrap_or(()),
                    },
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(EmulatedKeyProvider { port, log, stop, thread: Some(thread) })
    }
}

impl Drop for EmulatedKeyProvider {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut stream: TcpStream, mr_enclave: [u8; 32], sealing_key: &[u8; 16]) -> Result<(), String> {
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(|e| format!("reading the length: {e}"))?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(format!("frame length {len}"));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).map_err(|e| format!("reading the request: {e}"))?;
    let answer = answer(&body, mr_enclave, sealing_key)?;
    stream.write_all(&answer).map_err(|e| e.to_string())?;
    stream.flush().map_err(|e| e.to_string())
}

/// The provider's answer frame to a request body `{"quote":[...]}`.
pub fn answer(request_json: &[u8], mr_enclave: [u8; 32], sealing_key: &[u8; 16]) -> Result<Vec<u8>, String> {
    let request: serde_json::Value = serde_json::from_slice(request_json).map_err(|e| format!("request JSON: {e}"))?;
    let quote: Vec<u8> = request
        .get("quote")
        .and_then(|q| q.as_array())
        .ok_or("request has no quote array")?
        .iter()
        .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
        .collect::<Option<_>>()
        .ok_or("quote is not a byte array")?;
    let parsed = tdsigner_measure::quote::Quote::parse(&quote).map_err(|e| format!("TD quote: {e}"))?;
    let body = parsed.body;
    // DCAP verification against the EMULATED root (signature chain, collateral,
    // TCB status); the report_data is the TD's, whatever it is.
    let pki = tdsigner_measure::testpki::EmulatedPki::generate().map_err(|e| format!("emulated pki: {e}"))?;
    let expected = tdsigner_measure::verify::ExpectedValues {
        report_data: Some(body.report_data),
        accepted_tcb_status: vec!["UpToDate".to_string()],
        ..Default::default()
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    let root = tdsigner_measure::verify::TrustRoot::Der(pki.root_der.clone());
    let outcome = tdsigner_measure::verify::verify_quote(&quote, &pki.collateral, &root, now, &expected);
    if !outcome.accepted() {
        return Err(format!("TD quote rejected: {}", outcome.to_json()));
    }
    let mut h = Sha256::new();
    h.update(sealing_key);
    h.update(body.mr_td);
    for r in &body.rtmr {
        h.update(r);
    }
    let k: [u8; 32] = h.finalize().into();
    let mut td_key = [0u8; 32];
    td_key.copy_from_slice(&body.report_data[..32]);
    let encrypted_key = PublicKey::from(td_key)
        .seal(&mut rand_core::OsRng, &k)
        .map_err(|_| "sealing the key failed".to_string())?;
    let mut rd = [0u8; 64];
    rd[..32].copy_from_slice(&Sha256::digest(&encrypted_key));
    let provider_quote = tdsigner_node::provider_quote::emulated_sgx_quote(mr_enclave, [0x5A; 32], rd)
        .map_err(|e| format!("emulated SGX quote: {e}"))?;
    let json = serde_json::to_vec(&serde_json::json!({
        "encrypted_key": encrypted_key,
        "provider_quote": provider_quote,
    }))
    .map_err(|e| e.to_string())?;
    let mut frame = (json.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&json);
    Ok(frame)
}
