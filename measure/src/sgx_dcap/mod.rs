//! Verifying an SGX DCAP quote v3 (ECDSA-P256) to a pinned root, inside the
//! image: the `local-sgx` key provider's quote on TDX hosts.
//!
//! This module owns the whole check Intel's quote verification library makes
//! for an SGX quote, written on the crates the image already links (p256 0.13,
//! sha2 0.10) plus x509-cert 0.2 / der 0.7, because dcap-qvl does not build for
//! `x86_64-unknown-uefi` (kernel README). Host tests cross-check it against
//! dcap-qvl on Intel's real sample quote and collateral.
//!
//! Submodules: [`status`] (TCB status names and the accepted set).

pub mod status;

pub use status::{TcbStatus, TcbStatusSet};
