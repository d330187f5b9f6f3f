//! The GetQuote shared buffer: building the request and checking the reply.
//!
//! Spec: GHCI v1.5, "`TDG.VP.VMCALL<GetQuote>`", table "Format of the GetQuote
//! shared buffer": a 24-byte little-endian header — version (u64, = 1), status
//! (u64, written by the VMM), in_len (u32, length of the message that follows:
//! the TDREPORT), out_len (u32, length of the quote the VMM wrote) — followed by
//! the data area, which holds the TDREPORT on input and the quote on output.
//!
//! The reply is written by the untrusted VMM. Parse a private copy (see
//! [`crate::shared::copy_from_shared`]), never the live shared bytes; every
//! length is checked against the buffer before use.
//!
//! The whole flow, as the kernel drives it:
//! 1. [`crate::mr_report`] into private [`crate::TdReport`] with the 64-byte
//!    report data.
//! 2. Take whole pages for the buffer (a DCAP quote with its certification
//!    data is several KiB; 16 KiB is comfortable, QEMU caps the buffer at
//!    128 KiB), convert them with [`crate::share_range`] and map the shared
//!    alias.
//! 3. [`build_quote_request`] into a private staging buffer of the same size,
//!    then [`crate::shared::copy_to_shared`] it into the shared pages.
//! 4. [`crate::tdvmcall::get_quote`] with the shared GPA and the length;
//!    [`crate::VmCallError::Retry`] means "busy, call again later".
//! 5. Poll: copy the first [`QUOTE_HEADER_LEN`] bytes out,
//!    [`QuoteHeader::parse`] + [`QuoteHeader::check_status`] until it is no
//!    longer [`QuoteError::InFlight`] (with the kernel's own timeout; this
//!    crate does not use the event-notify interrupt).
//! 6. Copy the whole buffer out and [`parse_quote_response`] the copy.

use core::fmt;

use crate::report::TDREPORT_LEN;

/// Size of the GetQuote header.
pub const QUOTE_HEADER_LEN: usize = 24;

/// The header version this crate speaks.
pub const QUOTE_HEADER_VERSION: u64 = 1;

/// GetQuote status codes in the header (GHCI "GetQuote" status field).
pub mod quote_status {
    /// Quote generated.
    pub const SUCCESS: u64 = 0;
    /// The VMM is still working on it.
    pub const IN_FLIGHT: u64 = u64::MAX;
    /// Generic failure.
    pub const ERROR: u64 = 0x8000_0000_0000_0000;
    /// The quoting service is not available.
    pub const SERVICE_UNAVAILABLE: u64 = 0x8000_0000_0000_0001;
}

/// Why a GetQuote buffer could not be built or its reply not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuoteError {
    /// The buffer is too small for the header plus the TDREPORT.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The buffer is larger than the 32-bit length fields can describe.
    BufferTooLarge {
        /// Bytes given.
        len: usize,
    },
    /// Shorter than a header.
    Truncated {
        /// Bytes given.
        len: usize,
    },
    /// The reply header carries a version other than 1.
    BadVersion {
        /// The version found.
        version: u64,
    },
    /// The VMM has not finished (status IN_FLIGHT): poll again later.
    InFlight,
    /// The VMM reports a generic error.
    Failed,
    /// The VMM reports the quoting service is unavailable.
    ServiceUnavailable,
    /// A status code the GHCI does not define.
    UnknownStatus {
        /// The status found.
        status: u64,
    },
    /// out_len claims more bytes than the data area holds.
    QuoteOutOfBounds {
        /// The claimed quote length.
        out_len: u32,
        /// The data-area size.
        capacity: usize,
    },
    /// Success with an empty quote.
    EmptyQuote,
}

impl fmt::Display for QuoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuoteError::BufferTooSmall { needed, available } => {
                write!(
                    f,
                    "GetQuote buffer too small: need {needed} bytes, have {available}"
                )
            }
            QuoteError::BufferTooLarge { len } => {
                write!(f, "GetQuote buffer too large: {len} bytes")
            }
            QuoteError::Truncated { len } => write!(f, "GetQuote reply truncated: {len} bytes"),
            QuoteError::BadVersion { version } => {
                write!(f, "GetQuote reply version {version}, expected 1")
            }
            QuoteError::InFlight => f.write_str("GetQuote still in flight"),
            QuoteError::Failed => f.write_str("GetQuote failed (GET_QUOTE_ERROR)"),
            QuoteError::ServiceUnavailable => f.write_str("GetQuote: quoting service unavailable"),
            QuoteError::UnknownStatus { status } => {
                write!(f, "GetQuote: unknown status {status:#018x}")
            }
            QuoteError::QuoteOutOfBounds { out_len, capacity } => {
                write!(
                    f,
                    "GetQuote reply claims {out_len} quote bytes, buffer holds {capacity}"
                )
            }
            QuoteError::EmptyQuote => f.write_str("GetQuote reply has an empty quote"),
        }
    }
}

/// The decoded 24-byte GetQuote header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuoteHeader {
    /// Structure version (1).
    pub version: u64,
    /// Status code ([`quote_status`]).
    pub status: u64,
    /// Length of the input message (the TDREPORT).
    pub in_len: u32,
    /// Length of the quote the VMM wrote.
    pub out_len: u32,
}

fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk = bytes.get(at..at.checked_add(8)?)?;
    let mut word = [0u8; 8];
    word.copy_from_slice(chunk);
    Some(u64::from_le_bytes(word))
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let chunk = bytes.get(at..at.checked_add(4)?)?;
    let mut word = [0u8; 4];
    word.copy_from_slice(chunk);
    Some(u32::from_le_bytes(word))
}

impl QuoteHeader {
    /// Decodes the header at the start of `bytes` (no validation of values).
    pub fn parse(bytes: &[u8]) -> Result<Self, QuoteError> {
        let truncated = QuoteError::Truncated { len: bytes.len() };
        Ok(QuoteHeader {
            version: le_u64(bytes, 0).ok_or(truncated)?,
            status: le_u64(bytes, 8).ok_or(truncated)?,
            in_len: le_u32(bytes, 16).ok_or(truncated)?,
            out_len: le_u32(bytes, 20).ok_or(truncated)?,
        })
    }

    /// Encodes the header.
    pub fn encode(&self) -> [u8; QUOTE_HEADER_LEN] {
        let mut out = [0u8; QUOTE_HEADER_LEN];
        for (dst, src) in out.iter_mut().zip(
            self.version
                .to_le_bytes()
                .into_iter()
                .chain(self.status.to_le_bytes())
                .chain(self.in_len.to_le_bytes())
                .chain(self.out_len.to_le_bytes()),
        ) {
            *dst = src;
        }
        out
    }

    /// The status as a result: `Ok(())` for success, the matching error
    /// otherwise.
    pub fn check_status(&self) -> Result<(), QuoteError> {
        match self.status {
            quote_status::SUCCESS => Ok(()),
            quote_status::IN_FLIGHT => Err(QuoteError::InFlight),
            quote_status::ERROR => Err(QuoteError::Failed),
            quote_status::SERVICE_UNAVAILABLE => Err(QuoteError::ServiceUnavailable),
            status => Err(QuoteError::UnknownStatus { status }),
        }
    }
}

/// Writes a GetQuote request into `buf` (a private staging copy of the shared
/// buffer, same length): header {version 1, status 0, in_len 1024, out_len 0},
/// the TDREPORT, and zeroes over the rest so no stale bytes are handed to the
/// VMM. Returns the number of meaningful bytes (header + report).
///
/// `buf.len()` is what you pass as the GetQuote length; it must be a multiple
/// of 4 KiB for the VMM, which [`crate::tdvmcall::get_quote`] checks.
pub fn build_quote_request(
    buf: &mut [u8],
    tdreport: &[u8; TDREPORT_LEN],
) -> Result<usize, QuoteError> {
    let needed = QUOTE_HEADER_LEN + TDREPORT_LEN;
    if buf.len() < needed {
        return Err(QuoteError::BufferTooSmall {
            needed,
            available: buf.len(),
        });
    }
    if u32::try_from(buf.len()).is_err() {
        return Err(QuoteError::BufferTooLarge { len: buf.len() });
    }
    let header = QuoteHeader {
        version: QUOTE_HEADER_VERSION,
        status: quote_status::SUCCESS,
        in_len: TDREPORT_LEN as u32,
        out_len: 0,
    };
    buf.fill(0);
    let (head, rest) = buf.split_at_mut(QUOTE_HEADER_LEN);
    head.copy_from_slice(&header.encode());
    if let Some(dst) = rest.get_mut(..TDREPORT_LEN) {
        dst.copy_from_slice(tdreport);
    }
    Ok(needed)
}

/// Checks a GetQuote reply (a private copy of the whole shared buffer) and
/// returns the quote bytes.
///
/// Accepts only: a complete header, version 1, status SUCCESS, and
/// 0 < out_len ≤ buffer length − 24. InFlight is reported as
/// [`QuoteError::InFlight`] so the caller can keep polling.
pub fn parse_quote_response(buf: &[u8]) -> Result<&[u8], QuoteError> {
    let header = QuoteHeader::parse(buf)?;
    if header.version != QUOTE_HEADER_VERSION {
        return Err(QuoteError::BadVersion {
            version: header.version,
        });
    }
    header.check_status()?;
    let data = buf.get(QUOTE_HEADER_LEN..).unwrap_or(&[]);
    let out_len = header.out_len as usize;
    if out_len == 0 {
        return Err(QuoteError::EmptyQuote);
    }
    data.get(..out_len).ok_or(QuoteError::QuoteOutOfBounds {
        out_len: header.out_len,
        capacity: data.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u64, out_len: u32, quote: &[u8], total: usize) -> std::vec::Vec<u8> {
        let mut buf = std::vec![0u8; total];
        let h = QuoteHeader {
            version: 1,
            status,
            in_len: 1024,
            out_len,
        };
        buf[..24].copy_from_slice(&h.encode());
        buf[24..24 + quote.len()].copy_from_slice(quote);
        buf
    }

    #[test]
    fn header_layout_is_little_endian_24_bytes() {
        let h = QuoteHeader {
            version: 1,
            status: quote_status::IN_FLIGHT,
            in_len: 0x400,
            out_len: 0x1234_5678,
        };
        let b = h.encode();
        assert_eq!(&b[0..8], &[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&b[8..16], &[0xff; 8]);
        assert_eq!(&b[16..20], &[0, 4, 0, 0]);
        assert_eq!(&b[20..24], &[0x78, 0x56, 0x34, 0x12]);
        assert_eq!(QuoteHeader::parse(&b), Ok(h));
        assert_eq!(
            QuoteHeader::parse(&b[..23]),
            Err(QuoteError::Truncated { len: 23 })
        );
    }

    #[test]
    fn request_layout() {
        let mut report = [0u8; TDREPORT_LEN];
        report[0] = 0x81;
        report[1023] = 0x7f;
        let mut buf = std::vec![0xeeu8; 8192];
        assert_eq!(build_quote_request(&mut buf, &report), Ok(24 + 1024));
        let h = QuoteHeader::parse(&buf).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            h,
            QuoteHeader {
                version: 1,
                status: 0,
                in_len: 1024,
                out_len: 0
            }
        );
        assert_eq!(buf[24], 0x81);
        assert_eq!(buf[24 + 1023], 0x7f);
        assert!(
            buf[24 + 1024..].iter().all(|&b| b == 0),
            "stale bytes must be cleared"
        );
        let mut small = [0u8; 1047];
        assert_eq!(
            build_quote_request(&mut small, &report),
            Err(QuoteError::BufferTooSmall {
                needed: 1048,
                available: 1047
            })
        );
    }

    #[test]
    fn response_success_returns_exact_quote() {
        let buf = reply(0, 5, b"QUOTE", 4096);
        assert_eq!(parse_quote_response(&buf), Ok(&b"QUOTE"[..]));
        // out_len exactly filling the data area is fine.
        let full = reply(0, 4096 - 24, &[7u8; 4096 - 24], 4096);
        assert_eq!(parse_quote_response(&full).map(|q| q.len()), Ok(4072));
    }

    #[test]
    fn response_statuses() {
        assert_eq!(
            parse_quote_response(&reply(u64::MAX, 0, &[], 4096)),
            Err(QuoteError::InFlight)
        );
        assert_eq!(
            parse_quote_response(&reply(quote_status::ERROR, 0, &[], 4096)),
            Err(QuoteError::Failed)
        );
        assert_eq!(
            parse_quote_response(&reply(quote_status::SERVICE_UNAVAILABLE, 0, &[], 4096)),
            Err(QuoteError::ServiceUnavailable)
        );
        assert_eq!(
            parse_quote_response(&reply(42, 3, b"abc", 4096)),
            Err(QuoteError::UnknownStatus { status: 42 })
        );
    }

    #[test]
    fn response_rejects_hostile_lengths_and_versions() {
        assert_eq!(
            parse_quote_response(&reply(0, 4096 - 23, &[], 4096)),
            Err(QuoteError::QuoteOutOfBounds {
                out_len: 4073,
                capacity: 4072
            })
        );
        assert_eq!(
            parse_quote_response(&reply(0, u32::MAX, &[], 4096)),
            Err(QuoteError::QuoteOutOfBounds {
                out_len: u32::MAX,
                capacity: 4072
            })
        );
        assert_eq!(
            parse_quote_response(&reply(0, 0, &[], 4096)),
            Err(QuoteError::EmptyQuote)
        );
        let mut v2 = reply(0, 3, b"abc", 4096);
        v2[0] = 2;
        assert_eq!(
            parse_quote_response(&v2),
            Err(QuoteError::BadVersion { version: 2 })
        );
        assert_eq!(
            parse_quote_response(&[1, 0, 0]),
            Err(QuoteError::Truncated { len: 3 })
        );
        // Header only, claiming a quote.
        let hdr_only = reply(0, 1, &[], 24);
        assert_eq!(
            parse_quote_response(&hdr_only),
            Err(QuoteError::QuoteOutOfBounds {
                out_len: 1,
                capacity: 0
            })
        );
    }
}
