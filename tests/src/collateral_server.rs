//! A static HTTP server for tests: answers `GET <path>` with one body (the
//! collateral JSON the image's `local-sgx` source fetches), 404 for any other
//! path. One request per connection, bounded reads. QEMU user networking shows
//! it to the guest as 10.0.2.2:port.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A running server on 127.0.0.1. Stops when dropped.
pub struct StaticHttpServer {
    pub port: u16,
    /// `GET`s answered with the body.
    pub served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StaticHttpServer {
    /// Serves `body` at `path` (e.g. "/collateral.json").
    pub fn spawn(path: &str, body: Vec<u8>) -> std::io::Result<StaticHttpServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let served = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (served2, stop2, path) = (served.clone(), stop.clone(), path.to_string());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if serve(stream, &path, &body) {
                            served2.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(StaticHttpServer { port, served, stop, thread: Some(thread) })
    }
}

impl Drop for StaticHttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one request; true if it was a GET of `path`.
fn serve(mut stream: TcpStream, path: &str, body: &[u8]) -> bool {
    if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(Some(Duration::from_secs(30))).is_err() {
        return false;
    }
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
        if request.len() > 16 * 1024 {
            return false;
        }
    }
    let wanted = format!("GET {path} HTTP/1.1\r\n");
    let hit = request.starts_with(wanted.as_bytes());
    let (status, payload): (&str, &[u8]) = if hit { ("200 OK", body) } else { ("404 Not Found", b"not found\n") };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    let ok = stream.write_all(head.as_bytes()).is_ok() && stream.write_all(payload).is_ok() && stream.flush().is_ok();
    ok && hit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_body_at_its_path_only() {
        let server = StaticHttpServer::spawn("/c.json", b"{\"a\":1}".to_vec()).unwrap();
        let get = |path: &str| {
            let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let ok = get("/c.json");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.ends_with("\r\n\r\n{\"a\":1}"), "{ok}");
        assert!(get("/other").starts_with("HTTP/1.1 404"));
        assert_eq!(server.served.load(Ordering::SeqCst), 1);
    }
}
