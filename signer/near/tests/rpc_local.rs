//! The RPC client end to end against local servers only (loopback): plain
//! HTTP with failover across a dead endpoint, and TLS through the unbuffered
//! rustls client with the RustCrypto provider against a self-signed server.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use tdsigner_near::rpc::http::Limits;
use tdsigner_near::rpc::net::{Tcp, UrlCaller};
use tdsigner_near::rpc::pool::Pool;
use tdsigner_near::rpc::request;
use tdsigner_near::rpc::stream::call;
use tdsigner_near::rpc::tls::{client_config, FixedClock, TlsStream};
use tdsigner_near::view::light_client_block_from_value;

/// Reads one HTTP request (head + Content-Length body) and returns its JSON body.
fn read_request<S: Read>(s: &mut S) -> serde_json::Value {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0, "client closed early");
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            while buf.len() < end + 4 + len {
                let n = s.read(&mut tmp).unwrap();
                buf.extend_from_slice(&tmp[..n]);
            }
            return serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap();
        }
    }
}

fn answer_for(req: &serde_json::Value) -> Vec<u8> {
    let body = common::lc_json("main_1.json")["body"].clone();
    let v = serde_json::json!({"jsonrpc": "2.0", "id": req["id"], "result": body});
    let body = serde_json::to_vec(&v).unwrap();
    // Chunked, in two chunks, to exercise the decoder.
    let (a, b) = body.split_at(body.len() / 2);
    let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for part in [a, b] {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[test]
fn plain_http_with_failover() {
    let live = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = live.local_addr().unwrap().port();
    // A port that refuses: bind then drop.
    let dead_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = live.accept().unwrap();
        let req = read_request(&mut s);
        assert_eq!(req["method"], "next_light_client_block");
        s.write_all(&answer_for(&req)).unwrap();
    });
    let caller = UrlCaller::new(
        vec![format!("http://127.0.0.1:{dead_port}/"), format!("http://127.0.0.1:{port}/")],
        Duration::from_secs(5),
        None,
    );
    let mut pool = Pool::new(caller, Limits::default());
    let head = tdsigner_near::hash::CryptoHash([0; 32]);
    let block = pool.call_with(&request::next_light_client_block(9, &head), |v| light_client_block_from_value(v).map_err(|e| e.to_string())).unwrap();
    assert_eq!(block.inner_lite.height, 86673092);
    server.join().unwrap();
}

#[test]
fn tls_over_loopback_with_rustcrypto() {
    let cert = rcgen::generate_simple_self_signed(vec!["rpc.test".to_string()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let provider = Arc::new(rustls_rustcrypto::provider());
    let server_cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert_der.clone()], key_der)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(server_cfg).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let req = read_request(&mut tls);
        tls.write_all(&answer_for(&req)).unwrap();
        tls.conn.send_close_notify();
        let _ = tls.flush();
    });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let cfg = client_config(roots, Arc::new(FixedClock(Some(now)))).unwrap();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = TlsStream::connect(Tcp(tcp), cfg, "rpc.test").unwrap();
    let req = request::next_light_client_block(3, &tdsigner_near::hash::CryptoHash([1; 32]));
    let v = call(&mut tls, "rpc.test", "/", &req, Limits::default()).unwrap();
    let block = light_client_block_from_value(v).unwrap();
    assert_eq!(block.inner_lite.height, 86673092);
    server.join().unwrap();
}

#[test]
fn tls_rejects_untrusted_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["rpc.test".to_string()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let server_cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls_rustcrypto::provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert_der], key_der)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(server_cfg).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut b = [0u8; 16];
        let _ = tls.read(&mut b);
    });
    // Client trusts only the web PKI: the self-signed server must be refused.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let cfg = client_config(tdsigner_near::rpc::tls::web_pki_roots(), Arc::new(FixedClock(Some(now)))).unwrap();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(TlsStream::connect(Tcp(tcp), cfg, "rpc.test").is_err());
    server.join().unwrap();
}
