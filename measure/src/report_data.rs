//! near/mpc `report_data` v1: the 64 bytes a TD report carries to bind the node's keys.
//!
//! Layout: bytes 0-1 = version 1 as u16 big-endian; bytes 2-49 =
//! `SHA3-384(tls_public_key (32) ‖ account_public_key (32))`; bytes 50-63 = zero.

use core::fmt;

use sha3::{Digest, Sha3_384};

/// report_data length.
pub const REPORT_DATA_LEN: usize = 64;
/// The version this module writes.
pub const VERSION_V1: u16 = 1;

/// Why a report_data value is not v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportDataError {
    /// Version field is not 1.
    UnsupportedVersion(u16),
    /// Bytes 50-63 are not zero.
    NonZeroPadding,
}

impl fmt::Display for ReportDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportDataError::UnsupportedVersion(v) => write!(f, "report_data version {v} is not 1"),
            ReportDataError::NonZeroPadding => write!(f, "report_data bytes 50..64 are not zero"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ReportDataError {}

/// `SHA3-384(tls_public_key ‖ account_public_key)`.
pub fn public_keys_hash(tls_public_key: &[u8; 32], account_public_key: &[u8; 32]) -> [u8; 48] {
    let mut hasher = Sha3_384::new();
    hasher.update(tls_public_key);
    hasher.update(account_public_key);
    hasher.finalize().into()
}

/// report_data v1 for the node's TLS key and NEAR account key (both ed25519, 32 bytes).
pub fn report_data_v1(tls_public_key: &[u8; 32], account_public_key: &[u8; 32]) -> [u8; REPORT_DATA_LEN] {
    let mut out = [0u8; REPORT_DATA_LEN];
    let (version, rest) = out.split_at_mut(2);
    version.copy_from_slice(&VERSION_V1.to_be_bytes());
    let (hash, _zero) = rest.split_at_mut(48);
    hash.copy_from_slice(&public_keys_hash(tls_public_key, account_public_key));
    out
}

/// The public-keys hash of a v1 report_data, after checking version and padding.
pub fn parse_v1(report_data: &[u8; REPORT_DATA_LEN]) -> Result<[u8; 48], ReportDataError> {
    let (version, rest) = report_data.split_at(2);
    let version = u16::from_be_bytes([
        version.first().copied().unwrap_or(0),
        version.get(1).copied().unwrap_or(0),
    ]);
    if version != VERSION_V1 {
        return Err(ReportDataError::UnsupportedVersion(version));
    }
    let (hash, padding) = rest.split_at(48);
    if padding.iter().any(|&b| b != 0) {
        return Err(ReportDataError::NonZeroPadding);
    }
    let mut out = [0u8; 48];
    out.copy_from_slice(hash);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let tls = [1u8; 32];
        let acct = [2u8; 32];
        let rd = report_data_v1(&tls, &acct);
        assert_eq!(&rd[..2], &[0, 1]);
        let mut cat = [0u8; 64];
        cat[..32].copy_from_slice(&tls);
        cat[32..].copy_from_slice(&acct);
        assert_eq!(&rd[2..50], Sha3_384::digest(cat).as_slice());
        assert!(rd[50..].iter().all(|&b| b == 0));
        assert_eq!(parse_v1(&rd), Ok(public_keys_hash(&tls, &acct)));
        let mut bad = rd;
        bad[63] = 1;
        assert_eq!(parse_v1(&bad), Err(ReportDataError::NonZeroPadding));
        bad = rd;
        bad[1] = 2;
        assert_eq!(parse_v1(&bad), Err(ReportDataError::UnsupportedVersion(2)));
    }
}
