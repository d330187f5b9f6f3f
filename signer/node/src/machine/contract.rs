//! The signer contract's `state` view (near/mpc 3.x `ProtocolContractState` JSON) as typed
//! values: NotInitialized, Initializing (a keygen event), Running (keyset and parameters),
//! Resharing (previous running state and a reshare event).
//!
//! The same typed values come from the proven `STATE` value ([`super::proven`],
//! [`super::state_borsh`]), which is what the node uses by default. What follows is about the
//! `state` *view* (JSON), used only with `contract_state=unproven-views` (simulators).
//!
//! **Not proven.** A view is an RPC answer, not something the light client verifies. The node therefore
//! uses views only to decide *which* protocol to run with *whom*: they are asked of every
//! endpoint and must agree (`view_quorum`), the participant set must pass the P2P layer's
//! validation (no duplicate ids, accounts, keys or endpoints), and the node's own keys must
//! appear in it. What a set of colluding endpoints could still do with a false view:
//! - make the node wait, or run a keygen/reshare nobody else runs (liveness only);
//! - make it sign nothing it would not otherwise sign: sign requests are acted on only from
//!   light-client proofs, whatever a view says;
//! - (residual risk) make all nodes that trust the same lying endpoints reshare the key to a
//!   participant set of the liar's choosing. Closing this needs proven contract state or a
//!   proven resharing transaction; it is NOT done. Operators should configure endpoints run by
//!   independent parties and a `view_quorum` above one.
//!
//! Bytes come from endpoints: every list is bounded, every field checked.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde_json::Value;
use tdsigner_near::crypto::PublicKey;
use tdsigner_tss::participants::MAX_PARTICIPANTS;

/// Largest `state` answer accepted.
pub const MAX_STATE_BYTES: usize = 1 << 20;
/// Longest participant URL accepted.
pub const MAX_URL_LEN: usize = 512;

/// Why a `state` view was not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContractStateError {
    TooLarge {
        bytes: usize,
    },
    Json,
    /// A field is missing or has the wrong type.
    Field {
        field: &'static str,
    },
    /// A list is longer than its bound.
    TooMany {
        field: &'static str,
    },
    /// A key that does not parse or has the wrong type.
    Key {
        field: &'static str,
    },
    /// The state names an unknown variant.
    UnknownState,
}

impl fmt::Display for ContractStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { bytes } => write!(f, "state view of {bytes} bytes is too large"),
            Self::Json => f.write_str("state view is not JSON"),
            Self::Field { field } => write!(f, "state view: missing or malformed {field}"),
            Self::TooMany { field } => write!(f, "state view: too many entries in {field}"),
            Self::Key { field } => write!(f, "state view: bad key in {field}"),
            Self::UnknownState => f.write_str("state view: unknown protocol state"),
        }
    }
}

/// A participant as registered: `(account_id, id, {url, tls_public_key})`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantInfo {
    pub account_id: String,
    pub id: u32,
    pub url: String,
    /// The ed25519 TLS key (P2P identity).
    pub tls_public_key: [u8; 32],
}

impl ParticipantInfo {
    /// The key in NEAR text form.
    pub fn tls_key_text(&self) -> String {
        PublicKey::Ed25519(self.tls_public_key).to_text()
    }
}

/// `ThresholdParameters`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameters {
    /// Sorted by id.
    pub participants: Vec<ParticipantInfo>,
    pub threshold: u64,
}

impl Parameters {
    pub fn by_account(&self, account: &str) -> Option<&ParticipantInfo> {
        self.participants.iter().find(|p| p.account_id == account)
    }
    pub fn by_id(&self, id: u32) -> Option<&ParticipantInfo> {
        self.participants.iter().find(|p| p.id == id)
    }
    pub fn ids(&self) -> Vec<u32> {
        self.participants.iter().map(|p| p.id).collect()
    }
    /// near/mpc's key-event leader: the participant with the lowest id.
    pub fn leader(&self) -> Option<&ParticipantInfo> {
        self.participants.iter().min_by_key(|p| p.id)
    }
}

/// A key event's current attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEventInstance {
    pub attempt_id: u64,
    pub started_in: u64,
    pub expires_on: u64,
    /// Participant ids that voted.
    pub completed: Vec<u64>,
}

/// A key domain (`DomainConfig`): its id, signature protocol, and the number of shares
/// that reconstruct its key (which need not equal `parameters.threshold`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainConfig {
    pub id: u64,
    /// `CaitSith` (secp256k1 ECDSA), `Frost` (ed25519), `ConfidentialKeyDerivation`, ... as the
    /// contract spells it.
    pub protocol: String,
    pub reconstruction_threshold: u64,
}

/// Longest protocol name kept.
const MAX_PROTOCOL_LEN: usize = 64;

impl DomainConfig {
    /// The only protocol this node runs: threshold ECDSA on secp256k1.
    pub const SERVED_PROTOCOL: &'static str = "CaitSith";

    /// Why this node cannot take part in a key event of this domain, if it cannot.
    pub fn unservable_reason(&self, served_domain: u64) -> Option<String> {
        if self.protocol != Self::SERVED_PROTOCOL {
            return Some(alloc::format!(
                "domain {} uses protocol {}; this node runs only {} (secp256k1)",
                self.id,
                self.protocol,
                Self::SERVED_PROTOCOL
            ));
        }
        if self.id != served_domain {
            return Some(alloc::format!("domain {}: this node holds keys for domain {served_domain} only", self.id));
        }
        None
    }
}

/// A keygen or resharing event for one domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    pub epoch_id: u64,
    pub domain_id: u64,
    /// The domain's configuration; its `reconstruction_threshold` is the threshold of the key
    /// this event generates or reshares.
    pub domain: DomainConfig,
    pub parameters: Parameters,
    pub instance: Option<KeyEventInstance>,
    pub next_attempt_id: u64,
}

impl KeyEvent {
    /// The instance, if still open at chain height `height`.
    pub fn active_instance(&self, height: u64) -> Option<&KeyEventInstance> {
        self.instance.as_ref().filter(|i| height < i.expires_on)
    }
}

/// `RunningContractState`, reduced to what the node uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningState {
    pub keyset_epoch: u64,
    /// The root public key of the node's domain (uncompressed x‖y), if the keyset has it.
    pub root_key: Option<[u8; 64]>,
    pub parameters: Parameters,
}

/// `ProtocolContractState`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContractState {
    NotInitialized,
    Initializing { generating: KeyEvent },
    Running(RunningState),
    Resharing { previous: RunningState, resharing: KeyEvent },
}

impl ContractState {
    pub fn name(&self) -> &'static str {
        match self {
            Self::NotInitialized => "NotInitialized",
            Self::Initializing { .. } => "Initializing",
            Self::Running(_) => "Running",
            Self::Resharing { .. } => "Resharing",
        }
    }

    /// The root key requests are answered under (Running or Resharing).
    pub fn running(&self) -> Option<&RunningState> {
        match self {
            Self::Running(r) => Some(r),
            Self::Resharing { previous, .. } => Some(previous),
            _ => None,
        }
    }
}

type R<T> = Result<T, ContractStateError>;

fn get<'a>(v: &'a Value, key: &str, field: &'static str) -> R<&'a Value> {
    v.get(key).ok_or(ContractStateError::Field { field })
}

fn u64_of(v: &Value, key: &str, field: &'static str) -> R<u64> {
    get(v, key, field)?.as_u64().ok_or(ContractStateError::Field { field })
}

fn str_of<'a>(v: &'a Value, key: &str, field: &'static str) -> R<&'a str> {
    get(v, key, field)?.as_str().ok_or(ContractStateError::Field { field })
}

fn array_of<'a>(v: &'a Value, field: &'static str, max: usize) -> R<&'a Vec<Value>> {
    let a = v.as_array().ok_or(ContractStateError::Field { field })?;
    if a.len() > max {
        return Err(ContractStateError::TooMany { field });
    }
    Ok(a)
}

fn parse_parameters(v: &Value) -> R<Parameters> {
    let threshold = match get(v, "threshold", "parameters.threshold")? {
        Value::Number(n) => n.as_u64().ok_or(ContractStateError::Field { field: "parameters.threshold" })?,
        // Some versions wrap it: {"value": n}.
        other => u64_of(other, "value", "parameters.threshold")?,
    };
    let list = get(get(v, "participants", "parameters.participants")?, "participants", "participants.participants")?;
    let list = array_of(list, "participants.participants", MAX_PARTICIPANTS)?;
    let mut participants = Vec::with_capacity(list.len());
    for entry in list {
        let triple = array_of(entry, "participant entry", 3)?;
        let [account, id, info] = triple.as_slice() else {
            return Err(ContractStateError::Field { field: "participant entry" });
        };
        let account_id = account.as_str().ok_or(ContractStateError::Field { field: "participant account" })?;
        if !tdsigner_near::view::is_valid_account_id(account_id) {
            return Err(ContractStateError::Field { field: "participant account" });
        }
        let id = id.as_u64().and_then(|i| u32::try_from(i).ok()).filter(|i| *i != u32::MAX);
        let id = id.ok_or(ContractStateError::Field { field: "participant id" })?;
        let url = str_of(info, "url", "participant url")?;
        if url.len() > MAX_URL_LEN {
            return Err(ContractStateError::Field { field: "participant url" });
        }
        let key_text = info
            .get("tls_public_key")
            .or_else(|| info.get("sign_pk"))
            .and_then(Value::as_str)
            .ok_or(ContractStateError::Field { field: "participant tls_public_key" })?;
        let tls_public_key = match PublicKey::parse(key_text) {
            Ok(PublicKey::Ed25519(k)) => k,
            _ => return Err(ContractStateError::Key { field: "participant tls_public_key" }),
        };
        participants.push(ParticipantInfo { account_id: account_id.into(), id, url: url.into(), tls_public_key });
    }
    participants.sort_by_key(|p| p.id);
    Ok(Parameters { participants, threshold })
}

fn parse_key(v: &Value) -> R<[u8; 64]> {
    let text = match v {
        Value::String(s) => s.as_str(),
        other => {
            let inner = get(other, "Secp256k1", "keyset key")?;
            str_of(inner, "near_public_key", "keyset key")?
        }
    };
    match PublicKey::parse(text) {
        Ok(PublicKey::Secp256k1(k)) => Ok(k),
        _ => Err(ContractStateError::Key { field: "keyset key" }),
    }
}

fn parse_running(v: &Value, domain_id: u64) -> R<RunningState> {
    let keyset = get(v, "keyset", "keyset")?;
    let keyset_epoch = u64_of(keyset, "epoch_id", "keyset.epoch_id")?;
    let mut root_key = None;
    for d in array_of(get(keyset, "domains", "keyset.domains")?, "keyset.domains", 64)? {
        if u64_of(d, "domain_id", "keyset domain_id")? == domain_id {
            root_key = Some(parse_key(get(d, "key", "keyset key")?)?);
        }
    }
    Ok(RunningState { keyset_epoch, root_key, parameters: parse_parameters(get(v, "parameters", "parameters")?)? })
}

fn parse_domain(v: &Value) -> R<DomainConfig> {
    let id = u64_of(v, "id", "domain.id")?;
    let protocol = str_of(v, "protocol", "domain.protocol").or_else(|_| str_of(v, "scheme", "domain.protocol"))?;
    if protocol.len() > MAX_PROTOCOL_LEN {
        return Err(ContractStateError::Field { field: "domain.protocol" });
    }
    let reconstruction_threshold = u64_of(v, "reconstruction_threshold", "domain.reconstruction_threshold")?;
    Ok(DomainConfig { id, protocol: protocol.into(), reconstruction_threshold })
}

fn parse_key_event(v: &Value) -> R<KeyEvent> {
    let epoch_id = u64_of(v, "epoch_id", "key_event.epoch_id")?;
    let domain = parse_domain(get(v, "domain", "key_event.domain")?)?;
    let domain_id = domain.id;
    let parameters = parse_parameters(get(v, "parameters", "key_event.parameters")?)?;
    let next_attempt_id = u64_of(v, "next_attempt_id", "key_event.next_attempt_id")?;
    let instance = match v.get("instance") {
        None | Some(Value::Null) => None,
        Some(i) => {
            let mut completed = Vec::new();
            for c in array_of(get(i, "completed", "instance.completed")?, "instance.completed", MAX_PARTICIPANTS)? {
                completed.push(c.as_u64().ok_or(ContractStateError::Field { field: "instance.completed" })?);
            }
            Some(KeyEventInstance {
                attempt_id: u64_of(i, "attempt_id", "instance.attempt_id")?,
                started_in: u64_of(i, "started_in", "instance.started_in")?,
                expires_on: u64_of(i, "expires_on", "instance.expires_on")?,
                completed,
            })
        }
    };
    Ok(KeyEvent { epoch_id, domain_id, domain, parameters, instance, next_attempt_id })
}

/// near/mpc's `KeyEventId` as the key-event calls take it.
pub fn key_event_id(epoch: u64, domain: u64, attempt: u64) -> Value {
    serde_json::json!({ "epoch_id": epoch, "domain_id": domain, "attempt_id": attempt })
}

/// `vote_abort_key_event_instance` arguments: this node's run of the instance failed, so the
/// attempt cannot complete; the contract then lets the leader start the next one.
pub fn vote_abort_args(epoch: u64, domain: u64, attempt: u64) -> Value {
    serde_json::json!({ "key_event_id": key_event_id(epoch, domain, attempt) })
}

/// Parses the bytes a `state` call returned, for key domain `domain_id`.
pub fn parse_state(bytes: &[u8], domain_id: u64) -> R<ContractState> {
    if bytes.len() > MAX_STATE_BYTES {
        return Err(ContractStateError::TooLarge { bytes: bytes.len() });
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|_| ContractStateError::Json)?;
    match &v {
        Value::String(s) if s == "NotInitialized" => return Ok(ContractState::NotInitialized),
        Value::Object(m) if m.len() == 1 => {}
        _ => return Err(ContractStateError::UnknownState),
    }
    if let Some(i) = v.get("Initializing") {
        return Ok(ContractState::Initializing { generating: parse_key_event(get(i, "generating_key", "generating_key")?)? });
    }
    if let Some(r) = v.get("Running") {
        return Ok(ContractState::Running(parse_running(r, domain_id)?));
    }
    if let Some(r) = v.get("Resharing") {
        return Ok(ContractState::Resharing {
            previous: parse_running(get(r, "previous_running_state", "previous_running_state")?, domain_id)?,
            resharing: parse_key_event(get(r, "resharing_key", "resharing_key")?)?,
        });
    }
    Err(ContractStateError::UnknownState)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn params_json() -> String {
        let k1 = PublicKey::Ed25519([1; 32]).to_text();
        let k2 = PublicKey::Ed25519([2; 32]).to_text();
        format!(
            r#"{{"participants":{{"next_id":2,"participants":[["b.test",1,{{"url":"http://127.0.0.1:2","tls_public_key":"{k2}"}}],["a.test",0,{{"url":"http://127.0.0.1:1","tls_public_key":"{k1}"}}]]}},"threshold":2}}"#
        )
    }

    #[test]
    fn parses_the_simulators_shapes() {
        assert_eq!(parse_state(br#""NotInitialized""#, 0).unwrap(), ContractState::NotInitialized);
        let p = params_json();
        let init = format!(
            r#"{{"Initializing":{{"domains":{{}},"epoch_id":3,"generated_keys":[],"generating_key":{{"epoch_id":3,"domain":{{"id":0,"protocol":"CaitSith","reconstruction_threshold":2,"purpose":"Sign"}},"parameters":{p},"instance":{{"attempt_id":1,"started_in":10,"expires_on":40,"completed":[0],"public_key":null}},"next_attempt_id":2}},"cancel_votes":[]}}}}"#
        );
        let ContractState::Initializing { generating } = parse_state(init.as_bytes(), 0).unwrap() else { panic!() };
        assert_eq!(generating.epoch_id, 3);
        assert_eq!(generating.parameters.participants[0].account_id, "a.test");
        assert_eq!(generating.parameters.threshold, 2);
        assert_eq!(generating.domain.reconstruction_threshold, 2);
        // A key event without its domain's reconstruction threshold is not guessed at.
        let bare = init.replace(r#","reconstruction_threshold":2"#, "");
        assert_eq!(parse_state(bare.as_bytes(), 0), Err(ContractStateError::Field { field: "domain.reconstruction_threshold" }));
        assert_eq!(generating.active_instance(39).unwrap().completed, alloc::vec![0]);
        assert!(generating.active_instance(40).is_none());
        let root = PublicKey::Secp256k1([5; 64]).to_text();
        let running = format!(
            r#"{{"Running":{{"keyset":{{"epoch_id":4,"domains":[{{"domain_id":0,"key":{{"Secp256k1":{{"near_public_key":"{root}"}}}},"attempt":0}}]}},"parameters":{p}}}}}"#
        );
        let ContractState::Running(r) = parse_state(running.as_bytes(), 0).unwrap() else { panic!() };
        assert_eq!((r.keyset_epoch, r.root_key), (4, Some([5; 64])));
    }

    #[test]
    fn refuses_malformed() {
        for bad in [&b"{"[..], b"[]", br#"{"Running":{}}"#, br#""Other""#, br#"{"A":1,"B":2}"#] {
            assert!(parse_state(bad, 0).is_err());
        }
        let p = params_json().replace("\"b.test\"", "\"B\"");
        let running = format!(r#"{{"Running":{{"keyset":{{"epoch_id":4,"domains":[]}},"parameters":{p}}}}}"#);
        assert_eq!(parse_state(running.as_bytes(), 0), Err(ContractStateError::Field { field: "participant account" }));
    }
}
