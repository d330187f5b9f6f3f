//! Allowlisting a node's launch configuration from its quote and event log
//! (`tdsigner measure verify-quote --policy FILE`).
//!
//! Since measurement scheme 1 the image extends RTMR2 with one fixed event
//! ([`crate::cmdline::rtmr2_event`]) and starts RTMR3 with, in this order and before any
//! secret exists, `tdsigner.image-version`, `tdsigner.config` (canonical command line) and
//! `tdsigner.policy` ([`crate::names::Policy::encode`]). A policy file says which of those a
//! verifier accepts:
//!
//! ```json
//! {"measurement_scheme": 1,
//!  "rtmr2": "<96 hex>",
//!  "allowed": [{"image_version_digest": "<96 hex>", "policy_digest": "<96 hex>", ...}],
//!  "pinned_config_digest": "<96 hex>"}
//! ```
//! `allowed` (1..=256 entries) lists (image version, policy) pairs a network accepts; the event
//! digests are compared, the other fields (`image_version`, `policy` text) are for people.
//! `pinned_config_digest` is optional and per node: present, the node's canonical config must be
//! exactly that one. `tdsigner measure policy --cmdline …` writes such a file. Unknown fields
//! are ignored (that command also prints the expected events beside them).
//!
//! [`check_launch_policy`] trusts the log's payloads only as far as their digests: run
//! [`crate::verify::check_event_log`] first, so the log is known to replay to the quote.

use std::fmt;

use serde::Deserialize;

use crate::event::{EventLogEntry, EV_DSTACK_RUNTIME};
use crate::hex;
use crate::names;
use crate::verify::VerifyOutcome;

/// Most `allowed` entries in one policy file.
pub const MAX_ALLOWED: usize = 256;
/// The measurement scheme this module checks.
pub const MEASUREMENT_SCHEME: u32 = 1;

#[derive(Deserialize)]
struct AllowedJson {
    image_version_digest: String,
    policy_digest: String,
}

#[derive(Deserialize)]
struct PolicyFileJson {
    measurement_scheme: u32,
    rtmr2: String,
    allowed: Vec<AllowedJson>,
    pinned_config_digest: Option<String>,
}

/// One accepted (image version, policy) pair, by event digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedPolicy {
    pub image_version_digest: [u8; 48],
    pub policy_digest: [u8; 48],
}

/// A parsed policy file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchPolicy {
    pub rtmr2: [u8; 48],
    pub allowed: Vec<AllowedPolicy>,
    pub pinned_config_digest: Option<[u8; 48]>,
}

/// Why a policy file is unusable.
#[derive(Debug)]
pub enum PolicyFileError {
    TooLarge(usize),
    Json(serde_json::Error),
    Scheme(u32),
    Hex { field: &'static str, error: hex::HexError },
    AllowedCount(usize),
}

impl fmt::Display for PolicyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyFileError::TooLarge(n) => write!(f, "policy file is {n} bytes, limit {}", crate::verify::MAX_INPUT_LEN),
            PolicyFileError::Json(e) => write!(f, "policy file JSON: {e}"),
            PolicyFileError::Scheme(v) => {
                write!(f, "policy file is for measurement scheme {v}; this verifier checks scheme {MEASUREMENT_SCHEME}")
            }
            PolicyFileError::Hex { field, error } => write!(f, "policy file {field}: {error}"),
            PolicyFileError::AllowedCount(n) => write!(f, "policy file lists {n} allowed entries; 1..={MAX_ALLOWED} required"),
        }
    }
}

impl std::error::Error for PolicyFileError {}

fn digest(field: &'static str, text: &str) -> Result<[u8; 48], PolicyFileError> {
    hex::decode_array::<48>(text).map_err(|error| PolicyFileError::Hex { field, error })
}

impl LaunchPolicy {
    /// Parses a policy file (bounded by [`crate::verify::MAX_INPUT_LEN`]).
    pub fn parse(text: &[u8]) -> Result<Self, PolicyFileError> {
        if text.len() > crate::verify::MAX_INPUT_LEN {
            return Err(PolicyFileError::TooLarge(text.len()));
        }
        let json: PolicyFileJson = serde_json::from_slice(text).map_err(PolicyFileError::Json)?;
        if json.measurement_scheme != MEASUREMENT_SCHEME {
            return Err(PolicyFileError::Scheme(json.measurement_scheme));
        }
        if json.allowed.is_empty() || json.allowed.len() > MAX_ALLOWED {
            return Err(PolicyFileError::AllowedCount(json.allowed.len()));
        }
        let allowed = json
            .allowed
            .iter()
            .map(|a| {
                Ok(AllowedPolicy {
                    image_version_digest: digest("allowed[].image_version_digest", &a.image_version_digest)?,
                    policy_digest: digest("allowed[].policy_digest", &a.policy_digest)?,
                })
            })
            .collect::<Result<Vec<_>, PolicyFileError>>()?;
        Ok(Self {
            rtmr2: digest("rtmr2", &json.rtmr2)?,
            allowed,
            pinned_config_digest: json.pinned_config_digest.as_deref().map(|t| digest("pinned_config_digest", t)).transpose()?,
        })
    }
}

/// The launch events a node's log starts RTMR3 with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchEvents {
    pub image_version: String,
    /// The canonical configuration (UTF-8 command line).
    pub config: String,
    /// The encoded policy.
    pub policy: String,
}

/// The first three RTMR3 entries as launch events, or why they are not.
fn launch_events(log: &[EventLogEntry]) -> Result<([&EventLogEntry; 3], LaunchEvents), String> {
    let mut rtmr3 = log.iter().filter(|e| e.imr == 3);
    let mut take = |name: &str| -> Result<&EventLogEntry, String> {
        match rtmr3.next() {
            Some(e) if e.event_type == EV_DSTACK_RUNTIME && e.event == name => Ok(e),
            Some(e) => Err(format!("RTMR3 log: expected {name} here, found {:?}", e.event)),
            None => Err(format!("RTMR3 log ends before {name}")),
        }
    };
    let entries = [take(names::IMAGE_VERSION)?, take(names::CONFIG)?, take(names::POLICY)?];
    for (i, e) in entries.iter().enumerate() {
        if e.derived_digest(i).ok().flatten() != Some(e.digest) {
            return Err(format!("RTMR3 log: {} digest contradicts its payload", e.event));
        }
    }
    let text = |e: &EventLogEntry| {
        String::from_utf8(e.event_payload.clone()).map_err(|_| format!("RTMR3 log: {} payload is not UTF-8", e.event))
    };
    let events = LaunchEvents {
        image_version: text(entries[0])?,
        config: text(entries[1])?,
        policy: text(entries[2])?,
    };
    Ok((entries, events))
}

/// Enforces `policy` on a verified quote and its event log: RTMR2 is the scheme's fixed value,
/// RTMR3 starts with image version, config and policy, the (image version, policy) pair is
/// allowlisted, and the config is the pinned one if the file pins one. Appends failures to
/// `outcome` and returns the launch events read (for callers that cross-check config and
/// policy), or `None` when they could not be read.
pub fn check_launch_policy(outcome: &mut VerifyOutcome, log: &[EventLogEntry], policy: &LaunchPolicy) -> Option<LaunchEvents> {
    let m = outcome.measurements.clone()?;
    if m.rtmr[2] != policy.rtmr2 {
        outcome.failures.push(format!(
            "rtmr2 {} is not the policy's fixed launch value {}",
            hex::encode(&m.rtmr[2]),
            hex::encode(&policy.rtmr2)
        ));
    }
    let (entries, events) = match launch_events(log) {
        Ok(x) => x,
        Err(e) => {
            outcome.failures.push(e);
            return None;
        }
    };
    let pair = AllowedPolicy { image_version_digest: entries[0].digest, policy_digest: entries[2].digest };
    if !policy.allowed.contains(&pair) {
        outcome.failures.push(format!(
            "image version {:?} with policy digest {} is not in the policy file's allowed list",
            events.image_version,
            hex::encode(&pair.policy_digest)
        ));
    }
    if let Some(pinned) = policy.pinned_config_digest {
        if pinned != entries[1].digest {
            outcome.failures.push(format!(
                "config digest {} is not the pinned {}",
                hex::encode(&entries[1].digest),
                hex::encode(&pinned)
            ));
        }
    }
    Some(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::QuoteMeasurements;

    fn log(config: &str, policy: &str) -> Vec<EventLogEntry> {
        vec![
            crate::cmdline::rtmr2_event(),
            names::image_version("0.1.0"),
            names::config(config),
            names::policy(policy),
            names::key_source("test"),
        ]
    }

    fn outcome_for(log: &[EventLogEntry]) -> VerifyOutcome {
        let replay = crate::event::replay(log).unwrap_or_else(|_| unreachable!());
        VerifyOutcome {
            dcap_error: None,
            tcb_status: Some("UpToDate".into()),
            advisory_ids: vec![],
            measurements: Some(QuoteMeasurements { mrtd: [0; 48], rtmr: replay.rtmr, report_data: [0; 64] }),
            failures: vec![],
        }
    }

    fn file(policy: &str, pinned_config: Option<&str>) -> Vec<u8> {
        let mut v = serde_json::json!({
            "measurement_scheme": 1,
            "rtmr2": hex::encode(&crate::cmdline::rtmr2_value()),
            "allowed": [{
                "image_version_digest": hex::encode(&names::image_version("0.1.0").digest),
                "policy_digest": hex::encode(&names::policy(policy).digest),
            }],
        });
        if let Some(c) = pinned_config {
            v["pinned_config_digest"] = hex::encode(&names::config(c).digest).into();
        }
        serde_json::to_vec(&v).unwrap_or_default()
    }

    #[test]
    fn allowlisted_launch_passes_and_others_fail() {
        let good = log("net=dhcp http=1 account=a.test", "tdsigner-policy=1\nx\n");
        let policy = LaunchPolicy::parse(&file("tdsigner-policy=1\nx\n", None)).unwrap_or_else(|e| panic!("{e}"));
        let mut ok = outcome_for(&good);
        let events = check_launch_policy(&mut ok, &good, &policy);
        assert!(ok.failures.is_empty(), "{:?}", ok.failures);
        assert_eq!(events.map(|e| e.config), Some("net=dhcp http=1 account=a.test".to_string()));

        // Another policy (e.g. another contract or MRENCLAVE): refused.
        let other = log("net=dhcp http=1 account=a.test", "tdsigner-policy=1\ny\n");
        let mut refused = outcome_for(&other);
        check_launch_policy(&mut refused, &other, &policy);
        assert!(refused.failures.iter().any(|f| f.contains("not in the policy file's allowed list")), "{:?}", refused.failures);

        // A per-node pin refuses another node's config under the same policy.
        let pinned = LaunchPolicy::parse(&file("tdsigner-policy=1\nx\n", Some("net=dhcp http=1 account=b.test")))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut wrong_node = outcome_for(&good);
        check_launch_policy(&mut wrong_node, &good, &pinned);
        assert!(wrong_node.failures.iter().any(|f| f.contains("not the pinned")), "{:?}", wrong_node.failures);

        // The old scheme (command line in RTMR2, no config/policy events): refused.
        let old = vec![
            crate::cmdline::cmdline_event(&[b'a', 0]).unwrap_or_else(|_| unreachable!()),
            names::image_version("0.1.0"),
            names::key_source("test"),
        ];
        let mut old_outcome = outcome_for(&old);
        assert!(check_launch_policy(&mut old_outcome, &old, &policy).is_none());
        assert!(old_outcome.failures.iter().any(|f| f.contains("rtmr2")), "{:?}", old_outcome.failures);
        assert!(old_outcome.failures.iter().any(|f| f.contains("expected tdsigner.config")), "{:?}", old_outcome.failures);
    }

    #[test]
    fn policy_files_are_checked() {
        assert!(matches!(LaunchPolicy::parse(b"{"), Err(PolicyFileError::Json(_))));
        let mut v: serde_json::Value = serde_json::from_slice(&file("p", None)).unwrap_or_default();
        v["measurement_scheme"] = 0.into();
        assert!(matches!(LaunchPolicy::parse(v.to_string().as_bytes()), Err(PolicyFileError::Scheme(0))));
        v["measurement_scheme"] = 1.into();
        v["allowed"] = serde_json::json!([]);
        assert!(matches!(LaunchPolicy::parse(v.to_string().as_bytes()), Err(PolicyFileError::AllowedCount(0))));
        v["allowed"] = serde_json::json!([{"image_version_digest": "00", "policy_digest": "00"}]);
        assert!(matches!(LaunchPolicy::parse(v.to_string().as_bytes()), Err(PolicyFileError::Hex { .. })));
    }
}
