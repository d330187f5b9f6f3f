//! JSON-RPC client, split so that the same code runs on the host and in the
//! image:
//!
//! - [`request`]: builds JSON-RPC request bodies and parses answers (bounded,
//!   typed errors), independent of any transport;
//! - [`http`]: HTTP/1.1 request encoders (POST for JSON-RPC, GET for the
//!   kernel's collateral fetch) and a response decoder fed bytes
//!   (Content-Length and chunked bodies, bounded headers and body);
//! - [`stream`]: the [`stream::ByteStream`] trait a transport implements (the
//!   kernel's TCP in the image, `TcpStream` on the host) and one exchange over it;
//! - [`tls`]: TLS (rustls 0.23, unbuffered API, pure-Rust crypto provider) as a
//!   `ByteStream` over any `ByteStream`;
//! - [`pool`]: several endpoints with failover and cross-checking;
//! - `net` (feature `std`): host transport (TcpStream, optional TLS).

pub mod http;
pub mod pool;
pub mod request;
pub mod stream;
pub mod tls;

#[cfg(feature = "std")]
pub mod net;
