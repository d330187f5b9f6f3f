//! Quote verification: dcap-qvl checks the signature chain, collateral and TCB matching; this
//! module then applies tdsigner's own policy — an explicit list of acceptable TCB statuses
//! (dcap-qvl's own check accepts OutOfDate and more) — and compares measurements and
//! report_data with an expected-values file.
//!
//! Expected-values JSON (every field optional, at least one measurement or report_data field
//! required; unknown fields ignored, so `tdsigner measure image` output and tcb_info.json files
//! can be used directly):
//! ```json
//! {"mrtd": "<96 hex>", "rtmr0": "...", "rtmr1": "...", "rtmr2": "...", "rtmr3": "...",
//!  "report_data": "<128 hex>",
//!  "report_data_v1": {"tls_public_key": "<64 hex>", "account_public_key": "<64 hex>"},
//!  "accepted_tcb_status": ["UpToDate"]}
//! ```
//! `accepted_tcb_status` defaults to `["UpToDate"]`.
//!
//! A file that pins report_data but not the launch (MRTD, RTMR0, RTMR1, RTMR2) accepts any
//! image, firmware and launch; [`ExpectedValues::unpinned_launch_registers`] names what is
//! missing so callers (`tdsigner measure verify-quote`) can refuse such a file unless told
//! otherwise.

use std::fmt;

use dcap_qvl::quote::Report;
use dcap_qvl::verify::QuoteVerifier;
use dcap_qvl::QuoteCollateralV3;
use serde::Deserialize;

use crate::hex;
use crate::report_data::report_data_v1;

/// Largest quote, collateral or expected file read.
pub const MAX_INPUT_LEN: usize = 4 * 1024 * 1024;

/// Which root certificate the chain must end in.
#[derive(Clone, Debug)]
pub enum TrustRoot {
    /// Intel's SGX/TDX provisioning root (embedded in dcap-qvl).
    IntelProduction,
    /// A DER root certificate (e.g. the EMULATED test root).
    Der(Vec<u8>),
}

/// report_data v1 inputs.
#[derive(Clone, Debug, Deserialize)]
pub struct ReportDataV1Keys {
    pub tls_public_key: String,
    pub account_public_key: String,
}

/// Expected values.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Expected {
    pub mrtd: Option<String>,
    pub rtmr0: Option<String>,
    pub rtmr1: Option<String>,
    pub rtmr2: Option<String>,
    pub rtmr3: Option<String>,
    pub report_data: Option<String>,
    pub report_data_v1: Option<ReportDataV1Keys>,
    pub accepted_tcb_status: Option<Vec<String>>,
}

/// Why verification could not be carried out (as opposed to: it ran and rejected).
#[derive(Debug)]
pub enum VerifyInputError {
    ExpectedJson(serde_json::Error),
    ExpectedHex { field: &'static str, error: hex::HexError },
    /// The expected file names nothing to compare.
    NothingExpected,
    CollateralJson(serde_json::Error),
}

impl fmt::Display for VerifyInputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyInputError::ExpectedJson(e) => write!(f, "expected-values JSON: {e}"),
            VerifyInputError::ExpectedHex { field, error } => write!(f, "expected {field}: {error}"),
            VerifyInputError::NothingExpected => {
                write!(f, "expected-values file names no measurement or report_data to compare")
            }
            VerifyInputError::CollateralJson(e) => write!(f, "collateral JSON: {e}"),
        }
    }
}

impl std::error::Error for VerifyInputError {}

/// Expected values with hex decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpectedValues {
    pub mrtd: Option<[u8; 48]>,
    pub rtmr: [Option<[u8; 48]>; 4],
    pub report_data: Option<[u8; 64]>,
    pub accepted_tcb_status: Vec<String>,
}

fn digest(field: &'static str, v: &Option<String>) -> Result<Option<[u8; 48]>, VerifyInputError> {
    v.as_deref()
        .map(|t| hex::decode_array::<48>(t).map_err(|error| VerifyInputError::ExpectedHex { field, error }))
        .transpose()
}

impl ExpectedValues {
    /// Parses and decodes an expected-values file.
    pub fn parse(text: &[u8]) -> Result<Self, VerifyInputError> {
        let e: Expected = serde_json::from_slice(text).map_err(VerifyInputError::ExpectedJson)?;
        let mut report_data = e
            .report_data
            .as_deref()
            .map(|t| hex::decode_array::<64>(t).map_err(|error| VerifyInputError::ExpectedHex { field: "report_data", error }))
            .transpose()?;
        if let Some(keys) = &e.report_data_v1 {
            let tls = hex::decode_array::<32>(&keys.tls_public_key)
                .map_err(|error| VerifyInputError::ExpectedHex { field: "report_data_v1.tls_public_key", error })?;
            let account = hex::decode_array::<32>(&keys.account_public_key)
                .map_err(|error| VerifyInputError::ExpectedHex { field: "report_data_v1.account_public_key", error })?;
            let derived = report_data_v1(&tls, &account);
            if report_data.is_some_and(|r| r != derived) {
                // Two contradicting expectations can never both hold; refuse the file.
                return Err(VerifyInputError::ExpectedHex {
                    field: "report_data (contradicts report_data_v1)",
                    error: hex::HexError::WrongLength { expected: 64, found: 64 },
                });
            }
            report_data = Some(derived);
        }
        let values = Self {
            mrtd: digest("mrtd", &e.mrtd)?,
            rtmr: [
                digest("rtmr0", &e.rtmr0)?,
                digest("rtmr1", &e.rtmr1)?,
                digest("rtmr2", &e.rtmr2)?,
                digest("rtmr3", &e.rtmr3)?,
            ],
            report_data,
            accepted_tcb_status: e.accepted_tcb_status.unwrap_or_else(|| vec!["UpToDate".to_string()]),
        };
        if values.mrtd.is_none() && values.rtmr.iter().all(Option::is_none) && values.report_data.is_none() {
            return Err(VerifyInputError::NothingExpected);
        }
        Ok(values)
    }
}

impl ExpectedValues {
    /// The launch registers (of MRTD, RTMR0, RTMR1, RTMR2) this file does not pin. Empty means
    /// the file identifies one release on one launch shape; anything else lets other images
    /// or firmware pass.
    pub fn unpinned_launch_registers(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.mrtd.is_none() {
            missing.push("mrtd");
        }
        for (name, value) in ["rtmr0", "rtmr1", "rtmr2"].into_iter().zip(self.rtmr.iter()) {
            if value.is_none() {
                missing.push(name);
            }
        }
        missing
    }
}

/// Parses dcap-qvl's collateral JSON.
pub fn parse_collateral(text: &[u8]) -> Result<QuoteCollateralV3, VerifyInputError> {
    serde_json::from_slice(text).map_err(VerifyInputError::CollateralJson)
}

/// The measured values a verified quote carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteMeasurements {
    pub mrtd: [u8; 48],
    pub rtmr: [[u8; 48]; 4],
    pub report_data: [u8; 64],
}

/// Result of a verification run.
#[derive(Clone, Debug)]
pub struct VerifyOutcome {
    /// dcap-qvl's error when the quote did not verify at all.
    pub dcap_error: Option<String>,
    pub tcb_status: Option<String>,
    pub advisory_ids: Vec<String>,
    pub measurements: Option<QuoteMeasurements>,
    /// Human-readable reasons for rejection (empty = accepted).
    pub failures: Vec<String>,
}

impl VerifyOutcome {
    pub fn accepted(&self) -> bool {
        self.dcap_error.is_none() && self.failures.is_empty()
    }

    pub fn to_json(&self) -> serde_json::Value {
        let m = self.measurements.as_ref();
        serde_json::json!({
            "accepted": self.accepted(),
            "tcb_status": self.tcb_status,
            "advisory_ids": self.advisory_ids,
            "dcap_qvl_error": self.dcap_error,
            "failures": self.failures,
            "quote": m.map(|m| serde_json::json!({
                "mrtd": hex::encode(&m.mrtd),
                "rtmr0": hex::encode(&m.rtmr[0]),
                "rtmr1": hex::encode(&m.rtmr[1]),
                "rtmr2": hex::encode(&m.rtmr[2]),
                "rtmr3": hex::encode(&m.rtmr[3]),
                "report_data": hex::encode(&m.report_data),
            })),
        })
    }
}

/// Replays `event_log` (tcb_info.json `event_log` entries) and appends to `outcome.failures`
/// every register where the replay differs from the quote, and every entry whose logged digest
/// contradicts its payload. This is what a verifier needs before trusting anything the log says
/// (e.g. the RTMR3 runtime events' payloads).
pub fn check_event_log(outcome: &mut VerifyOutcome, event_log: &[crate::event::EventLogEntry]) {
    let Some(m) = outcome.measurements.clone() else {
        return;
    };
    match crate::event::replay(event_log) {
        Err(e) => outcome.failures.push(format!("event log: {e}")),
        Ok(replay) => {
            for (i, (replayed, quoted)) in replay.rtmr.iter().zip(m.rtmr.iter()).enumerate() {
                if replayed != quoted {
                    outcome.failures.push(format!(
                        "event log replays rtmr{i} to {} but the quote has {}",
                        hex::encode(replayed),
                        hex::encode(quoted)
                    ));
                }
            }
            for i in replay.inconsistent_entries() {
                outcome.failures.push(format!("event log entry {i}: logged digest contradicts its payload"));
            }
        }
    }
}

/// Verifies `quote` with dcap-qvl at time `now` (Unix seconds), then applies the TCB-status
/// policy and compares with `expected`.
pub fn verify_quote(
    quote: &[u8],
    collateral: &QuoteCollateralV3,
    root: &TrustRoot,
    now: u64,
    expected: &ExpectedValues,
) -> VerifyOutcome {
    let verifier = match root {
        TrustRoot::IntelProduction => QuoteVerifier::new_prod(),
        TrustRoot::Der(der) => QuoteVerifier::new(der.clone()),
    };
    let report = match verifier.verify(quote, collateral, now) {
        Ok(r) => r,
        Err(e) => {
            return VerifyOutcome {
                dcap_error: Some(format!("{e:#}")),
                tcb_status: None,
                advisory_ids: vec![],
                measurements: None,
                failures: vec!["quote did not verify".into()],
            }
        }
    };
    let mut failures = Vec::new();
    if !expected.accepted_tcb_status.contains(&report.status) {
        failures.push(format!(
            "TCB status {} is not in the accepted list {:?}",
            report.status, expected.accepted_tcb_status
        ));
    }
    let td = match &report.report {
        Report::TD10(r) => Some(*r),
        Report::TD15(r) => Some(r.base),
        Report::SgxEnclave(_) => None,
    };
    let measurements = td.map(|r| QuoteMeasurements {
        mrtd: r.mr_td,
        rtmr: [r.rt_mr0, r.rt_mr1, r.rt_mr2, r.rt_mr3],
        report_data: r.report_data,
    });
    match &measurements {
        None => failures.push("quote is an SGX quote, not TDX".into()),
        Some(m) => {
            if let Some(e) = expected.mrtd {
                if e != m.mrtd {
                    failures.push(format!("mrtd {} != expected {}", hex::encode(&m.mrtd), hex::encode(&e)));
                }
            }
            for (i, (want, got)) in expected.rtmr.iter().zip(m.rtmr.iter()).enumerate() {
                if let Some(want) = want {
                    if want != got {
                        failures.push(format!("rtmr{i} {} != expected {}", hex::encode(got), hex::encode(want)));
                    }
                }
            }
            if let Some(e) = expected.report_data {
                if e != m.report_data {
                    failures.push(format!(
                        "report_data {} != expected {}",
                        hex::encode(&m.report_data),
                        hex::encode(&e)
                    ));
                }
            }
        }
    }
    VerifyOutcome {
        dcap_error: None,
        tcb_status: Some(report.status.clone()),
        advisory_ids: report.advisory_ids.clone(),
        measurements,
        failures,
    }
}
