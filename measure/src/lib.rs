//! TDX measurements for tdsigner.
//!
//! This crate owns everything about *what a TDX guest measures* and *how a verifier checks it*:
//! the SHA-384 runtime-measurement-register (RTMR) fold, event logs in the shape near/mpc's
//! `tcb_info.json` uses, near/mpc's `report_data` v1, the TD quote v4 wire format and the
//! emulated quoting enclave used by the emulated platform backend.
//!
//! The core is `no_std + alloc` and is linked into the image. With the `std` feature (default)
//! it also carries the host side: computing MRTD/RTMR0-2 of a launch from the firmware (TDVF)
//! and the image PE ([`launch`]), replaying event logs from JSON files, verifying quotes with
//! dcap-qvl ([`verify`]) and generating the emulated test PKI and collateral ([`testpki`]).
//!
//! # What the image uses (no_std API)
//!
//! | call | purpose |
//! |---|---|
//! | [`rtmr::Rtmr::extend`], [`rtmr::fold`] | the RTMR extend rule, `mr = SHA-384(mr ‖ digest)` from 48 zero bytes |
//! | [`event::EventLogEntry::runtime`] | a dstack-V1 runtime event for RTMR3 (digest computed) |
//! | [`event::runtime_event_digest`] | the digest alone: `SHA-384(0x08000001 as u32 LE ‖ ":" ‖ name ‖ ":" ‖ payload)` |
//! | [`names`] | the `tdsigner.*` RTMR3 event names and their payload encodings |
//! | [`cmdline::rtmr2_event`] | the image's one fixed RTMR2 event (nothing per node) |
//! | [`names::config`], [`names::policy`] | the RTMR3 launch events: canonical config and network policy |
//! | [`cmdline::cmdline_event`] | the earlier scheme's RTMR2 command-line event (for older images' logs) |
//! | [`event::EventLog`] | an in-memory log with the running RTMR values; [`event::EventLog::to_json`] serves it |
//! | [`ccel::parse_event_log`] | the firmware's binary (TCG2/CCEL) event log as entries, to serve RTMR0-2 events too |
//! | [`report_data::report_data_v1`] | near/mpc report_data v1 |
//! | [`quote::TdReportBody`] | the 584-byte TD report body (TDREPORT's TDINFO part as it appears in a quote) |
//! | [`emulated::EmulatedQuotingEnclave::quote`] | an EMULATED TD quote v4 signed by the test attestation key |
//!
//! Everything that parses bytes from outside (event-log JSON, TDVF metadata, PE files, ACPI loader
//! scripts, quotes) is bounded, returns typed errors and never panics; each such parser has a
//! fuzz target in `measure/fuzz/`.
//!
//! # Documents
//! `measure/README.md` explains every measured input: which bytes go into each register, which
//! inputs have to come from the host, what is verified against real data and what is not.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

extern crate alloc;

pub mod ccel;
pub mod cmdline;
pub mod emulated;
pub mod event;
pub mod hex;
pub mod names;
pub mod pe;
pub mod quote;
pub mod report_data;
pub mod rtmr;
pub mod sgx_dcap;
pub mod tdvf;

#[cfg(feature = "std")]
pub mod acpi;
#[cfg(feature = "std")]
pub mod firmware;
#[cfg(feature = "std")]
pub mod launch;
#[cfg(feature = "std")]
pub mod launch_policy;
#[cfg(feature = "std")]
pub mod tcb_info;
#[cfg(feature = "std")]
pub mod testpki;
#[cfg(feature = "std")]
pub mod verify;

pub use rtmr::{sha384, Rtmr, Sha384Digest};
