//! What the node submits to the signer contract about its TEE (`submit_participant_info`) and
//! how it reads back what the contract holds (`get_attestation`, `get_tee_accounts`), in the
//! shapes of near/mpc's 3.14 contract interface (checked against the deployed binaries by
//! `tests/chain-sim/tests/node_against_deployed.rs`).
//!
//! Two modes (measured config key `attestation`):
//! - `dstack` (default): the quote with its collateral and `tcb_info`. The deployed contract
//!   deserializes this only with the full collateral struct and a `tcb_info` carrying
//!   `compose_hash`, `device_id` and `app_compose`; when the platform lacks any of it the
//!   payload is still sent (the simulator's model takes it) and [`DstackGap`] names what is
//!   missing, so the node says plainly the real contract will refuse it.
//! - `mock-testnet`: `{"Mock":"Valid"}`, which near/mpc's contract accepts during its testnet
//!   transition. The contract then has NOT verified this node's TEE, and every output says
//!   so. Refused for mainnet's contract account `v1.signer`.
//!
//! View answers come from endpoints: bounded, parsed field by field, never searched as text.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde_json::{json, Map, Value};
use tdsigner_near::crypto::PublicKey;

use super::env::Attestation;

/// Mainnet's signer contract account.
pub const MAINNET_CONTRACT: &str = "v1.signer";
/// Largest `get_attestation` / `get_tee_accounts` answer accepted.
pub const MAX_VIEW_BYTES: usize = 1 << 20;
/// Most TEE accounts accepted from `get_tee_accounts`.
pub const MAX_TEE_ACCOUNTS: usize = 1024;

/// What the node submits as its attestation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttestationMode {
    /// The platform's quote, in dstack's DTO shape.
    #[default]
    Dstack,
    /// `{"Mock":"Valid"}`: the contract does not verify the TEE (testnet transition only).
    MockTestnet,
}

impl AttestationMode {
    /// The config spelling (`dstack`, `mock-testnet`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dstack" => Some(Self::Dstack),
            "mock-testnet" => Some(Self::MockTestnet),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Dstack => "dstack",
            Self::MockTestnet => "mock-testnet",
        }
    }

    /// The line every output carries in this mode (banner, `/public_data`, metrics help).
    pub fn notice(self) -> Option<&'static str> {
        match self {
            Self::Dstack => None,
            Self::MockTestnet => Some(
                "attestation=mock-testnet: this node submits {\"Mock\":\"Valid\"}; the signer contract did NOT verify its TEE",
            ),
        }
    }

    /// Refuses Mock for mainnet's contract.
    pub fn check_contract(self, contract_id: &str) -> Result<(), AttestationPayloadError> {
        if self == Self::MockTestnet && contract_id == MAINNET_CONTRACT {
            return Err(AttestationPayloadError::MockOnMainnet);
        }
        Ok(())
    }
}

/// Why no `submit_participant_info` payload was built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttestationPayloadError {
    /// `attestation=mock-testnet` with the contract `v1.signer`.
    MockOnMainnet,
    /// `tcb_info` from the platform is not a JSON object.
    TcbInfoNotObject,
}

impl fmt::Display for AttestationPayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MockOnMainnet => write!(f, "attestation=mock-testnet is refused for mainnet's contract {MAINNET_CONTRACT}"),
            Self::TcbInfoNotObject => f.write_str("the platform's tcb_info is not a JSON object"),
        }
    }
}

/// Fields of dstack's `Collateral` DTO, each a string (the `*_signature` and CRL ones hex).
pub const COLLATERAL_FIELDS: [&str; 10] = [
    "pck_crl_issuer_chain",
    "root_ca_crl",
    "pck_crl",
    "tcb_info_issuer_chain",
    "tcb_info",
    "tcb_info_signature",
    "qe_identity_issuer_chain",
    "qe_identity",
    "qe_identity_signature",
    "pck_certificate_chain",
];
const COLLATERAL_HEX_FIELDS: [&str; 4] = ["root_ca_crl", "pck_crl", "tcb_info_signature", "qe_identity_signature"];
/// Fields of dstack's `TcbInfo` DTO the contract requires (strings; `event_log` a list).
pub const TCB_INFO_FIELDS: [&str; 8] = ["mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "compose_hash", "device_id", "app_compose"];

/// What a Dstack payload lacks for the deployed contract to deserialize it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DstackGap {
    /// `collateral` (absent), `collateral.<field>`, `tcb_info.<field>`.
    pub missing: Vec<String>,
}

impl fmt::Display for DstackGap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dstack attestation incomplete, the deployed contract will not deserialize it: missing ")?;
        for (i, m) in self.missing.iter().enumerate() {
            write!(f, "{}{m}", if i == 0 { "" } else { ", " })?;
        }
        Ok(())
    }
}

fn is_hex(s: &str) -> bool {
    s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn collateral_gaps(collateral: Option<&Value>, missing: &mut Vec<String>) {
    let Some(Value::Object(c)) = collateral else {
        missing.push("collateral".into());
        return;
    };
    for field in COLLATERAL_FIELDS {
        let ok = c.get(field).and_then(Value::as_str).is_some_and(|s| !COLLATERAL_HEX_FIELDS.contains(&field) || is_hex(s));
        if !ok {
            missing.push(alloc::format!("collateral.{field}"));
        }
    }
}

fn tcb_info_gaps(tcb: &Map<String, Value>, missing: &mut Vec<String>) {
    for field in TCB_INFO_FIELDS {
        if !tcb.get(field).is_some_and(Value::is_string) {
            missing.push(alloc::format!("tcb_info.{field}"));
        }
    }
    if !tcb.get("event_log").is_some_and(Value::is_array) {
        missing.push("tcb_info.event_log".into());
    }
}

/// The `submit_participant_info` arguments, and for Dstack what the deployed contract would
/// still miss (`None` when the payload is complete).
pub fn participant_info_args(
    mode: AttestationMode,
    contract_id: &str,
    att: Option<&Attestation>,
    tls_public_key: &[u8; 32],
) -> Result<(Value, Option<DstackGap>), AttestationPayloadError> {
    mode.check_contract(contract_id)?;
    let tls = PublicKey::Ed25519(*tls_public_key).to_text();
    let (attestation, gap) = match (mode, att) {
        (AttestationMode::MockTestnet, _) => (json!({ "Mock": "Valid" }), None),
        (AttestationMode::Dstack, None) => (Value::Null, Some(DstackGap { missing: alloc::vec!["quote".into()] })),
        (AttestationMode::Dstack, Some(att)) => {
            let collateral: Option<Value> = att.collateral_json.as_deref().and_then(|c| serde_json::from_str(c).ok());
            let tcb_info: Value = serde_json::from_str(&att.tcb_info_json).map_err(|_| AttestationPayloadError::TcbInfoNotObject)?;
            let Value::Object(tcb) = &tcb_info else { return Err(AttestationPayloadError::TcbInfoNotObject) };
            let mut missing = Vec::new();
            collateral_gaps(collateral.as_ref(), &mut missing);
            tcb_info_gaps(tcb, &mut missing);
            let v = json!({ "Dstack": {
                "quote": super::node::hex(&att.quote),
                "collateral": collateral.unwrap_or(Value::Null),
                "tcb_info": tcb_info,
            }});
            (v, (!missing.is_empty()).then_some(DstackGap { missing }))
        }
    };
    Ok((json!({ "proposed_participant_attestation": attestation, "tls_public_key": tls }), gap))
}

/// Why a `get_attestation` / `get_tee_accounts` answer was not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttestationViewError {
    TooLarge { bytes: usize },
    Json,
    /// A field is missing or has the wrong type.
    Field { field: &'static str },
    TooMany,
    UnknownVariant,
}

impl fmt::Display for AttestationViewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { bytes } => write!(f, "attestation view of {bytes} bytes is too large"),
            Self::Json => f.write_str("attestation view is not JSON"),
            Self::Field { field } => write!(f, "attestation view: missing or malformed {field}"),
            Self::TooMany => f.write_str("get_tee_accounts: too many entries"),
            Self::UnknownVariant => f.write_str("attestation view: unknown attestation variant"),
        }
    }
}

/// What the contract holds for a TLS key (`get_attestation`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredAttestation {
    /// `{"Mock":"Valid"}` or `{"Mock":{"WithConstraints":{..}}}`: not a TEE verification.
    Mock { expiry_s: Option<u64> },
    /// A verified dstack attestation (`mpc_image_hash`, `launcher_compose_hash`, expiry).
    Dstack { expiry_s: u64 },
}

impl StoredAttestation {
    pub fn expiry_s(&self) -> Option<u64> {
        match self {
            Self::Mock { expiry_s } => *expiry_s,
            Self::Dstack { expiry_s } => Some(*expiry_s),
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Mock { .. } => "Mock",
            Self::Dstack { .. } => "Dstack",
        }
    }
}

fn bounded_json(bytes: &[u8]) -> Result<Value, AttestationViewError> {
    if bytes.len() > MAX_VIEW_BYTES {
        return Err(AttestationViewError::TooLarge { bytes: bytes.len() });
    }
    serde_json::from_slice(bytes).map_err(|_| AttestationViewError::Json)
}

fn expiry_of(v: &Value, field: &'static str) -> Result<u64, AttestationViewError> {
    v.get("expiry_timestamp_seconds").and_then(Value::as_u64).ok_or(AttestationViewError::Field { field })
}

/// Parses a `get_attestation` answer: `null` (nothing stored) or a known variant.
pub fn parse_attestation_view(bytes: &[u8]) -> Result<Option<StoredAttestation>, AttestationViewError> {
    let v = bounded_json(bytes)?;
    let Value::Object(m) = &v else {
        return if v.is_null() { Ok(None) } else { Err(AttestationViewError::UnknownVariant) };
    };
    if m.len() != 1 {
        return Err(AttestationViewError::UnknownVariant);
    }
    if let Some(mock) = m.get("Mock") {
        return match mock {
            Value::String(s) if s == "Valid" => Ok(Some(StoredAttestation::Mock { expiry_s: None })),
            Value::Object(o) => {
                let inner = o.get("WithConstraints").ok_or(AttestationViewError::Field { field: "Mock.WithConstraints" })?;
                Ok(Some(StoredAttestation::Mock { expiry_s: Some(expiry_of(inner, "Mock.WithConstraints.expiry_timestamp_seconds")?) }))
            }
            // "Invalid" and anything else: not an attestation the contract accepts.
            _ => Err(AttestationViewError::UnknownVariant),
        };
    }
    if let Some(d) = m.get("Dstack") {
        for field in ["mpc_image_hash", "launcher_compose_hash"] {
            if d.get(field).is_none() {
                return Err(AttestationViewError::Field { field: "Dstack image or launcher hash" });
            }
        }
        return Ok(Some(StoredAttestation::Dstack { expiry_s: expiry_of(d, "Dstack.expiry_timestamp_seconds")? }));
    }
    Err(AttestationViewError::UnknownVariant)
}

/// One `get_tee_accounts` entry (near/mpc's `NodeId`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeeAccount {
    pub account_id: String,
    pub tls_public_key: [u8; 32],
    /// The account key the attestation was submitted with (ed25519), if listed.
    pub account_public_key: Option<[u8; 32]>,
}

fn ed25519_of(v: Option<&Value>, field: &'static str) -> Result<[u8; 32], AttestationViewError> {
    match v.and_then(Value::as_str).map(PublicKey::parse) {
        Some(Ok(PublicKey::Ed25519(k))) => Ok(k),
        _ => Err(AttestationViewError::Field { field }),
    }
}

/// Parses a `get_tee_accounts` answer: the accounts with a valid attestation.
pub fn parse_tee_accounts(bytes: &[u8]) -> Result<Vec<TeeAccount>, AttestationViewError> {
    let v = bounded_json(bytes)?;
    let list = v.as_array().ok_or(AttestationViewError::Field { field: "get_tee_accounts list" })?;
    if list.len() > MAX_TEE_ACCOUNTS {
        return Err(AttestationViewError::TooMany);
    }
    let mut out = Vec::with_capacity(list.len());
    for e in list {
        let account_id = e.get("account_id").and_then(Value::as_str).ok_or(AttestationViewError::Field { field: "account_id" })?;
        if !tdsigner_near::view::is_valid_account_id(account_id) {
            return Err(AttestationViewError::Field { field: "account_id" });
        }
        let tls_public_key = ed25519_of(e.get("tls_public_key"), "tls_public_key")?;
        let account_public_key = match e.get("account_public_key") {
            None | Some(Value::Null) => None,
            k => Some(ed25519_of(k, "account_public_key")?),
        };
        out.push(TeeAccount { account_id: account_id.into(), tls_public_key, account_public_key });
    }
    Ok(out)
}

/// Whether the contract lists this node (account, TLS key and, if listed, account key).
pub fn lists_node(accounts: &[TeeAccount], account_id: &str, tls_public_key: &[u8; 32], account_public_key: &[u8; 32]) -> bool {
    accounts.iter().any(|a| {
        a.account_id == account_id && &a.tls_public_key == tls_public_key && a.account_public_key.is_none_or(|k| &k == account_public_key)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mock_is_refused_for_mainnet_and_named_elsewhere() {
        assert_eq!(
            participant_info_args(AttestationMode::MockTestnet, "v1.signer", None, &[1; 32]).unwrap_err(),
            AttestationPayloadError::MockOnMainnet
        );
        let (args, gap) = participant_info_args(AttestationMode::MockTestnet, "v1.signer-prod.testnet", None, &[1; 32]).unwrap();
        assert_eq!(args["proposed_participant_attestation"], json!({"Mock": "Valid"}));
        assert!(gap.is_none());
        assert!(AttestationMode::MockTestnet.notice().unwrap().contains("did NOT verify"));
        assert_eq!(AttestationMode::parse("mock-testnet"), Some(AttestationMode::MockTestnet));
        assert_eq!(AttestationMode::parse("mock"), None);
    }

    #[test]
    fn a_dstack_payload_without_collateral_names_what_is_missing() {
        let att = Attestation { quote: alloc::vec![1, 2], collateral_json: None, tcb_info_json: r#"{"mrtd":"","event_log":[]}"#.into() };
        let (args, gap) = participant_info_args(AttestationMode::Dstack, "c.test", Some(&att), &[1; 32]).unwrap();
        assert_eq!(args["proposed_participant_attestation"]["Dstack"]["quote"], json!("0102"));
        let gap = gap.unwrap();
        for m in ["collateral", "tcb_info.compose_hash", "tcb_info.device_id", "tcb_info.app_compose", "tcb_info.rtmr3"] {
            assert!(gap.missing.iter().any(|g| g == m), "{m}: {gap}");
        }
        assert!(!gap.missing.iter().any(|g| g == "tcb_info.mrtd"));
    }

    #[test]
    fn views_parse_by_field() {
        assert_eq!(parse_attestation_view(b"null").unwrap(), None);
        assert_eq!(
            parse_attestation_view(br#"{"Mock":{"WithConstraints":{"expiry_timestamp_seconds":9,"mpc_docker_image_hash":null}}}"#).unwrap(),
            Some(StoredAttestation::Mock { expiry_s: Some(9) })
        );
        assert!(parse_attestation_view(br#"{"Mock":"Invalid"}"#).is_err());
        assert!(parse_attestation_view(br#"{"Simulated":{"account_id":"a.test"}}"#).is_err());
        let k = PublicKey::Ed25519([3; 32]).to_text();
        let list = alloc::format!(r#"[{{"account_id":"a.test","tls_public_key":"{k}","account_public_key":"{k}"}}]"#);
        let accounts = parse_tee_accounts(list.as_bytes()).unwrap();
        assert!(lists_node(&accounts, "a.test", &[3; 32], &[3; 32]));
        assert!(!lists_node(&accounts, "a.test", &[3; 32], &[4; 32]));
        assert!(!lists_node(&accounts, "b.test", &[3; 32], &[3; 32]));
        assert!(parse_tee_accounts(br#"[{"account_id":"A"}]"#).is_err());
        // Every truncation of a real answer is an error or a value, never a panic.
        for cut in 0..list.len() {
            crate::machine::fuzz::attestation_views(&list.as_bytes()[..cut]);
        }
    }
}
