//! Integration tests for tdsigner live in `tests/tests/`:
//!
//! - `image_boot.rs`: builds the real image, boots it under QEMU TCG through
//!   `qemu/run-emulated.sh`, checks `/health`, `/public_data` (RTMR2 equals
//!   the documented command-line digest), the boot counter across a restart
//!   on the same disk, and that bad config halts with one clear line;
//! - `reproducible.rs`: two builds from two different directories produce
//!   byte-identical images;
//! - `local_sgx_boot.rs`: the `local-sgx` sealing-key source against
//!   [`key_provider`], the emulated SGX local key provider (in process through
//!   `tdsigner_node::bootstrap`, and the real image under QEMU);
//! - `cluster_qemu.rs`: four images against the chain simulator: keygen,
//!   signatures verified against derived keys, a node killed and restarted on
//!   its disk.
//!
//! [`support`] holds what they share. The QEMU tests need the Debian image
//! toolchain and QEMU (image-build/setup.sh) and take minutes, so they are
//! `#[ignore]`d for plain `cargo test`; CI runs them with `--ignored` (see
//! tests/run.sh).

pub mod collateral_server;
pub mod key_provider;
pub mod support;
