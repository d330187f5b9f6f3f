//! A model of near/mpc's `v1.signer` contract (3.14 interface), single
//! domain: domain 0, secp256k1 (`CaitSith`), purpose `Sign`.
//!
//! States: `NotInitialized` → `Initializing` (keygen: `start_keygen_instance`
//! by the leader, `vote_pk` by every participant) → `Running` → `Resharing`
//! (`start_reshare_instance`, `vote_reshared`) → `Running`.
//!
//! - `sign` (payable, ≥ 1 yoctoNEAR, ≥ 15 TGas) logs `sign: predecessor=…,
//!   request=…` *first* (as near/mpc does, so failed calls carry the log too),
//!   checks domain, gas, deposit and payload, then creates a yield: the
//!   receipt's status is `SuccessReceiptId(yield receipt)` and the request waits
//!   under its `SignatureRequest {tweak, payload, domain_id}` key.
//! - `respond` requires signer == predecessor, an attested participant of the
//!   active participant set, state Running or Resharing, and a secp256k1
//!   signature that recovers (low-s, recovery id < 4, r = big_r's x) to the
//!   derived key `root + tweak·G`, computed here with k256. It then resumes
//!   every yield queued under the request key.
//! - `submit_participant_info` stores an attestation keyed by TLS key, bound to
//!   (signer account, signer key), after the [`AttestationVerifier`] accepts it.
//!
//! Not modelled: several domains, EdDSA/CKD, `vote_new_parameters` (resharing
//! is started with the admin API instead), cancellation votes, contract
//! updates, TEE re-validation (`verify_tee`), storage deposits, the
//! `fail_on_timeout` promise (a timed-out yield's callback fails directly).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::elliptic_curve::PrimeField;
use serde_json::{json, Value};
use sha3::{Digest, Sha3_256};

use crate::attestation::{dstack_quote, AcceptedAttestation, AttestationSubmission, AttestationVerifier};
use crate::hash::Hash;
use crate::hex;
use crate::keys::PublicKey;

/// The one domain the model has.
pub const DOMAIN_ID: u64 = 0;
/// near/mpc's `MINIMUM_SIGN_REQUEST_DEPOSIT`: 1 yoctoNEAR.
pub const MIN_SIGN_DEPOSIT: u128 = 1;
/// near/mpc's default `sign_call_gas_attachment_requirement_tera_gas`.
pub const SIGN_MIN_GAS: u64 = 15_000_000_000_000;
/// near/mpc's `MAX_PENDING_REQUEST_FAN_OUT`.
pub const MAX_FAN_OUT: usize = 128;

/// Tunables of the model.
#[derive(Clone, Debug)]
pub struct ContractConfig {
    /// near/mpc default: 30 blocks.
    pub key_event_timeout_blocks: u64,
    /// NEAR's yield timeout: 200 blocks.
    pub yield_timeout_blocks: u64,
}

impl Default for ContractConfig {
    fn default() -> Self {
        Self { key_event_timeout_blocks: 30, yield_timeout_blocks: 200 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    pub account_id: String,
    pub id: u64,
    pub url: String,
    pub tls_public_key: PublicKey,
}

/// `GovernanceThresholdParameters`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameters {
    pub participants: Vec<Participant>,
    pub next_id: u64,
    pub threshold: u64,
}

impl Parameters {
    /// Checks what near/mpc checks, plus the upstream-audit item: duplicate
    /// accounts, TLS keys or URLs are refused.
    pub fn new(participants: Vec<Participant>, threshold: u64) -> Result<Self, String> {
        let n = participants.len() as u64;
        if n < 2 {
            return Err("need at least 2 participants".into());
        }
        if threshold < 2 || threshold > n {
            return Err(format!("threshold {threshold} outside 2..={n}"));
        }
        let accounts: BTreeSet<&str> = participants.iter().map(|p| p.account_id.as_str()).collect();
        let keys: BTreeSet<&PublicKey> = participants.iter().map(|p| &p.tls_public_key).collect();
        let urls: BTreeSet<&str> = participants.iter().map(|p| p.url.as_str()).collect();
        let ids: BTreeSet<u64> = participants.iter().map(|p| p.id).collect();
        if accounts.len() != participants.len() || keys.len() != participants.len() || urls.len() != participants.len() || ids.len() != participants.len() {
            return Err("duplicate participant account, id, TLS key or URL".into());
        }
        if !participants.iter().all(|p| matches!(p.tls_public_key, PublicKey::Ed25519(_))) {
            return Err("participant TLS keys must be ed25519".into());
        }
        let next_id = participants.iter().map(|p| p.id + 1).max().unwrap_or(0);
        Ok(Self { participants, next_id, threshold })
    }

    pub fn by_account(&self, account: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.account_id == account)
    }

    /// The participant with the lowest id.
    pub fn leader(&self) -> Option<&Participant> {
        self.participants.iter().min_by_key(|p| p.id)
    }

    fn to_json(&self) -> Value {
        let list: Vec<Value> = self
            .participants
            .iter()
            .map(|p| json!([p.account_id, p.id, {"url": p.url, "tls_public_key": p.tls_public_key.to_text()}]))
            .collect();
        json!({"participants": {"next_id": self.next_id, "participants": list}, "threshold": self.threshold})
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEventInstance {
    pub attempt_id: u64,
    pub started_in: u64,
    pub expires_on: u64,
    pub completed: BTreeSet<u64>,
    pub public_key: Option<[u8; 64]>,
}

/// A keygen or reshare event for domain 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    pub epoch_id: u64,
    pub parameters: Parameters,
    pub instance: Option<KeyEventInstance>,
    pub next_attempt_id: u64,
}

impl KeyEvent {
    fn new(epoch_id: u64, parameters: Parameters) -> Self {
        Self { epoch_id, parameters, instance: None, next_attempt_id: 0 }
    }

    fn active_instance(&self, height: u64) -> Option<&KeyEventInstance> {
        self.instance.as_ref().filter(|i| height < i.expires_on)
    }

    fn start(&mut self, id: &KeyEventId, signer: &str, height: u64, timeout: u64) -> Result<(), String> {
        if self.active_instance(height).is_some() {
            return Err("KeyEventError: ActiveKeyEvent".into());
        }
        if id.epoch_id != self.epoch_id || id.domain_id != DOMAIN_ID || id.attempt_id != self.next_attempt_id {
            return Err("KeyEventError: KeyEventIdMismatch".into());
        }
        if self.parameters.leader().map(|l| l.account_id.as_str()) != Some(signer) {
            return Err("VoteError: VoterNotLeader".into());
        }
        self.instance = Some(KeyEventInstance {
            attempt_id: self.next_attempt_id,
            started_in: height,
            expires_on: height.saturating_add(1).saturating_add(timeout),
            completed: BTreeSet::new(),
            public_key: None,
        });
        self.next_attempt_id += 1;
        Ok(())
    }

    /// Records a vote; `Ok(true)` when every participant has voted.
    fn vote(&mut self, id: &KeyEventId, signer: &str, height: u64, public_key: Option<[u8; 64]>) -> Result<bool, String> {
        let candidate = self.parameters.by_account(signer).ok_or("VoteError: VoterNotParticipant")?.id;
        let n = self.parameters.participants.len();
        let epoch_id = self.epoch_id;
        let Some(instance) = self.instance.as_mut().filter(|i| height < i.expires_on) else {
            return Err("KeyEventError: NoActiveKeyEvent".into());
        };
        if id.epoch_id != epoch_id || id.domain_id != DOMAIN_ID || id.attempt_id != instance.attempt_id {
            return Err("KeyEventError: KeyEventIdMismatch".into());
        }
        if let Some(pk) = public_key {
            match instance.public_key {
                Some(existing) if existing != pk => {
                    // near/mpc: disagreement aborts the attempt (not an error).
                    self.instance = None;
                    return Ok(false);
                }
                _ => instance.public_key = Some(pk),
            }
        }
        if !instance.completed.insert(candidate) {
            return Err("VoteError: VoteAlreadySubmitted".into());
        }
        Ok(instance.completed.len() == n)
    }

    fn to_json(&self) -> Value {
        let instance = self.instance.as_ref().map(|i| {
            json!({
                "attempt_id": i.attempt_id,
                "started_in": i.started_in,
                "expires_on": i.expires_on,
                "completed": i.completed.iter().collect::<Vec<_>>(),
                "public_key": i.public_key.map(|k| key_extended_json(&k)),
            })
        });
        json!({
            "epoch_id": self.epoch_id,
            "domain": domain_json(self.parameters.threshold),
            "parameters": self.parameters.to_json(),
            "instance": instance,
            "next_attempt_id": self.next_attempt_id,
        })
    }
}

/// `KeyEventId`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyEventId {
    pub epoch_id: u64,
    pub domain_id: u64,
    pub attempt_id: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningState {
    pub keyset_epoch: u64,
    /// Root secp256k1 key, uncompressed x‖y.
    pub root_key: [u8; 64],
    pub attempt: u64,
    pub parameters: Parameters,
}

impl RunningState {
    fn to_json(&self) -> Value {
        json!({
            "domains": {"domains": [domain_json(self.parameters.threshold)], "next_domain_id": 1},
            "keyset": {"epoch_id": self.keyset_epoch, "domains": [{"domain_id": DOMAIN_ID, "key": key_extended_json(&self.root_key), "attempt": self.attempt}]},
            "parameters": self.parameters.to_json(),
            "parameters_votes": {"proposal_by_account": {}},
            "add_domains_votes": {"proposal_by_account": {}},
            "previously_cancelled_resharing_epoch_id": null,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolState {
    NotInitialized,
    Initializing { generating: KeyEvent },
    Running(RunningState),
    Resharing { previous: RunningState, resharing: KeyEvent },
}

impl ProtocolState {
    pub fn name(&self) -> &'static str {
        match self {
            Self::NotInitialized => "NotInitialized",
            Self::Initializing { .. } => "Initializing",
            Self::Running(_) => "Running",
            Self::Resharing { .. } => "Resharing",
        }
    }

    /// The participants of the active phase (whose attestations count).
    pub fn active_parameters(&self) -> Option<&Parameters> {
        match self {
            Self::NotInitialized => None,
            Self::Initializing { generating } => Some(&generating.parameters),
            Self::Running(r) => Some(&r.parameters),
            Self::Resharing { resharing, .. } => Some(&resharing.parameters),
        }
    }

    /// The root key requests are answered under (Running or Resharing).
    pub fn root_key(&self) -> Option<&[u8; 64]> {
        match self {
            Self::Running(r) => Some(&r.root_key),
            Self::Resharing { previous, .. } => Some(&previous.root_key),
            _ => None,
        }
    }

    /// `ProtocolContractState` as the `state` view returns it.
    pub fn to_json(&self) -> Value {
        match self {
            Self::NotInitialized => json!("NotInitialized"),
            Self::Initializing { generating } => json!({"Initializing": {
                "domains": {"domains": [domain_json(generating.parameters.threshold)], "next_domain_id": 1},
                "epoch_id": generating.epoch_id,
                "generated_keys": [],
                "generating_key": generating.to_json(),
                "cancel_votes": [],
            }}),
            Self::Running(r) => json!({"Running": r.to_json()}),
            Self::Resharing { previous, resharing } => json!({"Resharing": {
                "previous_running_state": previous.to_json(),
                "reshared_keys": [],
                "resharing_key": resharing.to_json(),
                "cancellation_requests": [],
                "per_domain_thresholds": {},
            }}),
        }
    }
}

fn domain_json(threshold: u64) -> Value {
    json!({"id": DOMAIN_ID, "protocol": "CaitSith", "reconstruction_threshold": threshold, "purpose": "Sign"})
}

fn key_extended_json(key: &[u8; 64]) -> Value {
    json!({"Secp256k1": {"near_public_key": PublicKey::Secp256k1(*key).to_text()}})
}

/// `SignatureRequest {tweak, payload, domain_id}`: the key pending requests
/// wait under and `respond` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SignatureRequest {
    pub tweak: [u8; 32],
    pub payload: [u8; 32],
    pub domain_id: u64,
}

impl SignatureRequest {
    pub fn to_json(&self) -> Value {
        json!({"tweak": self.tweak.to_vec(), "payload": {"Ecdsa": hex::encode(&self.payload)}, "domain_id": self.domain_id})
    }
}

/// Where a request stands (for the admin API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestStatus {
    Pending,
    Responded { responder: String, response: Value, height: u64 },
    TimedOut { height: u64 },
}

/// One `sign` call that created a yield.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// The yield receipt id (`SuccessReceiptId`): the request id nodes use.
    pub request_id: Hash,
    /// The receipt that executed `sign`.
    pub sign_receipt_id: Hash,
    pub data_id: Hash,
    pub predecessor: String,
    pub path: String,
    pub request: SignatureRequest,
    pub created_height: u64,
    pub status: RequestStatus,
}

/// A stored attestation (keyed by TLS key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAttestation {
    pub account_id: String,
    pub account_public_key: PublicKey,
    pub tls_public_key: PublicKey,
    pub accepted: AcceptedAttestation,
    pub submitted_height: u64,
    pub quote_len: usize,
}

/// What a call is executed with.
pub struct CallContext<'a> {
    pub signer_id: &'a str,
    pub signer_public_key: &'a PublicKey,
    pub predecessor_id: &'a str,
    pub deposit: u128,
    pub prepaid_gas: u64,
    pub block_height: u64,
    pub block_timestamp_ns: u64,
    /// The receipt executing the call (yield ids derive from it).
    pub receipt_id: Hash,
}

/// A yield created by `sign`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YieldCreated {
    pub yield_receipt_id: Hash,
    pub data_id: Hash,
}

/// What a successful call produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Returned {
    /// `SuccessValue` bytes (ignored when a yield was created).
    pub value: Vec<u8>,
    pub yield_created: Option<YieldCreated>,
    /// Yields to resume: (data id, response bytes).
    pub resumed: Vec<(Hash, Vec<u8>)>,
    /// Deposit to give back to the predecessor.
    pub refund: u128,
}

/// A call's logs and result (`Err` = the contract panicked with that message;
/// state is unchanged, logs are kept, as on NEAR).
pub struct CallOutcome {
    pub logs: Vec<String>,
    pub result: Result<Returned, String>,
}

/// The ids of the yield a `sign` receipt creates.
pub fn yield_ids(receipt_id: &Hash) -> YieldCreated {
    YieldCreated {
        yield_receipt_id: Hash::digest_parts(&[b"yield-receipt", &receipt_id.0]),
        data_id: Hash::digest_parts(&[b"yield-data", &receipt_id.0]),
    }
}

/// near/mpc's tweak: SHA3-256("near-mpc-recovery v0.1.0 epsilon derivation:" ‖ predecessor ‖ "," ‖ path).
pub fn derive_tweak(predecessor: &str, path: &str) -> [u8; 32] {
    let mut h = Sha3_256::new();
    h.update(b"near-mpc-recovery v0.1.0 epsilon derivation:");
    h.update(predecessor.as_bytes());
    h.update(b",");
    h.update(path.as_bytes());
    h.finalize().into()
}

/// `root + tweak·G`, uncompressed x‖y. Fails if the tweak is not a scalar
/// below the group order or the root is not a curve point.
pub fn derive_public_key(root: &[u8; 64], tweak: &[u8; 32]) -> Result<[u8; 64], String> {
    let root = secp_point(root).ok_or("stored root key is not a secp256k1 point")?;
    let t: Option<k256::Scalar> = k256::Scalar::from_repr((*tweak).into()).into();
    let t = t.ok_or("TweakNotOnCurve")?;
    let derived = (k256::ProjectivePoint::GENERATOR * t + root.to_projective()).to_affine();
    let pk = k256::PublicKey::from_affine(derived).map_err(|_| "derived key is the identity".to_string())?;
    uncompressed(&pk).ok_or_else(|| "derived key does not encode".into())
}

fn secp_point(xy: &[u8; 64]) -> Option<k256::PublicKey> {
    let mut sec1 = [0u8; 65];
    sec1[0] = 4;
    sec1[1..].copy_from_slice(xy);
    k256::PublicKey::from_sec1_bytes(&sec1).ok()
}

fn uncompressed(pk: &k256::PublicKey) -> Option<[u8; 64]> {
    let ep = pk.to_encoded_point(false);
    let b = ep.as_bytes();
    b.get(1..65)?.try_into().ok()
}

/// The check near/mpc's `verify_ecdsa_signature` makes with NEAR's
/// `ecrecover(malleability_flag = true)`: r = big_r's x coordinate (the
/// prefix byte is not looked at), 0 < r,s < n, s ≤ n/2, recovery id < 4, and
/// the recovered key equals `expected`.
pub fn verify_response(big_r: &[u8; 33], s: &[u8; 32], recovery_id: u8, payload: &[u8; 32], expected: &[u8; 64]) -> bool {
    let mut r = [0u8; 32];
    r.copy_from_slice(&big_r[1..]);
    let Ok(sig) = k256::ecdsa::Signature::from_scalars(r, *s) else { return false };
    if sig.normalize_s().is_some() {
        return false;
    }
    let Some(recid) = k256::ecdsa::RecoveryId::from_byte(recovery_id) else { return false };
    let Ok(vk) = k256::ecdsa::VerifyingKey::recover_from_prehash(payload, &sig, recid) else { return false };
    uncompressed(&k256::PublicKey::from(&vk)).as_ref() == Some(expected)
}

/// The contract.
#[derive(Clone)]
pub struct SignerContract {
    pub account_id: String,
    pub state: ProtocolState,
    pub config: ContractConfig,
    attestations: BTreeMap<PublicKey, StoredAttestation>,
    pending: BTreeMap<SignatureRequest, Vec<Hash>>,
    requests: Vec<RequestRecord>,
    request_by_data_id: BTreeMap<Hash, usize>,
    verifier: Arc<dyn AttestationVerifier>,
}

type CallResult = Result<Returned, String>;

fn args_json(args: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(args).map_err(|_| "Failed to deserialize input from JSON.".to_string())
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, String> {
    v.get(name).ok_or_else(|| format!("Failed to deserialize input from JSON: missing field `{name}`"))
}

fn u64_field(v: &Value, name: &str) -> Result<u64, String> {
    field(v, name)?.as_u64().ok_or_else(|| format!("Failed to deserialize input from JSON: `{name}` is not a u64"))
}

fn key_event_id(v: &Value) -> Result<KeyEventId, String> {
    let id = field(v, "key_event_id")?;
    Ok(KeyEventId { epoch_id: u64_field(id, "epoch_id")?, domain_id: u64_field(id, "domain_id")?, attempt_id: u64_field(id, "attempt_id")? })
}

fn bytes32_array(v: &Value) -> Option<[u8; 32]> {
    let arr = v.as_array()?;
    if arr.len() != 32 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, x) in out.iter_mut().zip(arr) {
        *o = u8::try_from(x.as_u64()?).ok()?;
    }
    Some(out)
}

/// `Payload` JSON: `{"Ecdsa": "<hex32>"}`; `Err` names why.
fn ecdsa_payload(v: &Value) -> Result<[u8; 32], String> {
    if v.get("Eddsa").is_some() {
        return Err("Payload is not Ecdsa".into());
    }
    let text = v.get("Ecdsa").and_then(Value::as_str).ok_or("Failed to deserialize input from JSON: payload")?;
    hex::decode_fixed::<32>(text).ok_or_else(|| "Failed to deserialize input from JSON: Ecdsa payload must be 32 bytes of hex".into())
}

impl SignerContract {
    pub fn new(account_id: String, config: ContractConfig, verifier: Arc<dyn AttestationVerifier>) -> Self {
        Self {
            account_id,
            state: ProtocolState::NotInitialized,
            config,
            attestations: BTreeMap::new(),
            pending: BTreeMap::new(),
            requests: Vec::new(),
            request_by_data_id: BTreeMap::new(),
            verifier,
        }
    }

    pub fn requests(&self) -> &[RequestRecord] {
        &self.requests
    }

    pub fn attestations(&self) -> impl Iterator<Item = &StoredAttestation> {
        self.attestations.values()
    }

    /// Admin: `init` into Initializing (keygen for domain 0, epoch 0).
    pub fn init(&mut self, parameters: Parameters) -> Result<(), String> {
        if !matches!(self.state, ProtocolState::NotInitialized) {
            return Err("contract already initialized".into());
        }
        self.state = ProtocolState::Initializing { generating: KeyEvent::new(0, parameters) };
        Ok(())
    }

    /// Admin: `init_running` with a given root key.
    pub fn init_running(&mut self, parameters: Parameters, root_key: [u8; 64]) -> Result<(), String> {
        if !matches!(self.state, ProtocolState::NotInitialized) {
            return Err("contract already initialized".into());
        }
        secp_point(&root_key).ok_or("root key is not a secp256k1 point")?;
        self.state = ProtocolState::Running(RunningState { keyset_epoch: 0, root_key, attempt: 0, parameters });
        Ok(())
    }

    /// Admin: what `vote_new_parameters` reaching its threshold does.
    pub fn start_resharing(&mut self, parameters: Parameters) -> Result<(), String> {
        let ProtocolState::Running(r) = &self.state else { return Err("resharing starts only from Running".into()) };
        let previous = r.clone();
        let resharing = KeyEvent::new(previous.keyset_epoch + 1, parameters);
        self.state = ProtocolState::Resharing { previous, resharing };
        Ok(())
    }

    /// Executes a function call. State changes are applied only if the call
    /// succeeds.
    pub fn call(&mut self, method: &str, args: &[u8], ctx: &CallContext<'_>) -> CallOutcome {
        let mut logs = Vec::new();
        // near-sdk refuses deposits to non-payable methods before running them.
        if method != "sign" && ctx.deposit > 0 {
            return CallOutcome { logs, result: Err(format!("Method {method} doesn't accept deposit")) };
        }
        // Rollback copy of what a method may change before it can still fail.
        // The request log is only appended to or updated after every check
        // has passed, so it is not copied (it grows with every request).
        let saved = (self.state.clone(), self.attestations.clone(), self.pending.clone());
        let result = match method {
            "sign" => self.sign(args, ctx, &mut logs),
            "respond" => self.respond(args, ctx, &mut logs),
            "submit_participant_info" => self.submit_participant_info(args, ctx, &mut logs),
            "start_keygen_instance" => self.start_key_event(args, ctx, &mut logs, false),
            "start_reshare_instance" => self.start_key_event(args, ctx, &mut logs, true),
            "vote_pk" => self.vote_pk(args, ctx, &mut logs),
            "vote_reshared" => self.vote_reshared(args, ctx, &mut logs),
            _ => self.view(method, args, ctx.predecessor_id).map(|value| Returned { value, ..Returned::default() }),
        };
        if result.is_err() {
            (self.state, self.attestations, self.pending) = saved;
        }
        CallOutcome { logs, result }
    }

    fn sign(&mut self, args: &[u8], ctx: &CallContext<'_>, logs: &mut Vec<String>) -> CallResult {
        let v = args_json(args)?;
        let req = field(&v, "request")?;
        let path = field(req, "path")?.as_str().ok_or("Failed to deserialize input from JSON: path")?.to_owned();
        let payload = match (req.get("payload_v2"), req.get("payload")) {
            (Some(p), None) => ecdsa_payload(p)?,
            (None, Some(legacy)) => bytes32_array(legacy).ok_or("Failed to deserialize input from JSON: payload")?,
            (Some(_), Some(_)) => return Err("payload_v2 and payload are mutually exclusive".into()),
            (None, None) => return Err("Failed to deserialize input from JSON: missing field `payload_v2`".into()),
        };
        let domain_id = match (req.get("domain_id"), req.get("key_version")) {
            (Some(d), None) => d.as_u64().ok_or("Failed to deserialize input from JSON: domain_id")?,
            (None, Some(k)) => k.as_u64().ok_or("Failed to deserialize input from JSON: key_version")?,
            (Some(_), Some(_)) => return Err("domain_id and key_version are mutually exclusive".into()),
            (None, None) => return Err("Failed to deserialize input from JSON: missing field `domain_id`".into()),
        };
        // The log comes first, exactly as near/mpc 3.10+ renders it.
        logs.push(format!(
            "sign: predecessor=AccountId({:?}), request=SignRequestArgs {{ path: {:?}, payload: Ecdsa(BoundedVec {{ inner: {:?}, witness: NonEmpty(()) }}), domain_id: DomainId({}) }}",
            ctx.predecessor_id,
            path,
            payload.to_vec(),
            domain_id
        ));
        if matches!(self.state, ProtocolState::NotInitialized | ProtocolState::Initializing { .. }) {
            return Err("InvalidState: ProtocolStateNotRunning".into());
        }
        if domain_id != DOMAIN_ID {
            return Err(format!("InvalidParameters: DomainNotFound {{ provided: {domain_id} }}"));
        }
        if ctx.prepaid_gas < SIGN_MIN_GAS {
            return Err(format!("InvalidParameters: InsufficientGas {{ provided: {}, required: {SIGN_MIN_GAS} }}", ctx.prepaid_gas));
        }
        if ctx.deposit < MIN_SIGN_DEPOSIT {
            return Err(format!("Attached deposit is {}, required minimum is {MIN_SIGN_DEPOSIT}", ctx.deposit));
        }
        let scalar: Option<k256::Scalar> = k256::Scalar::from_repr(payload.into()).into();
        if scalar.is_none() {
            return Err("Ecdsa payload cannot be converted to Scalar".into());
        }
        let request = SignatureRequest { tweak: derive_tweak(ctx.predecessor_id, &path), payload, domain_id };
        let queue = self.pending.entry(request).or_default();
        if queue.len() >= MAX_FAN_OUT {
            return Err(format!("RequestError: PendingRequestQueueFull {{ limit: {MAX_FAN_OUT} }}"));
        }
        let ids = yield_ids(&ctx.receipt_id);
        queue.push(ids.data_id);
        self.request_by_data_id.insert(ids.data_id, self.requests.len());
        self.requests.push(RequestRecord {
            request_id: ids.yield_receipt_id,
            sign_receipt_id: ctx.receipt_id,
            data_id: ids.data_id,
            predecessor: ctx.predecessor_id.to_owned(),
            path,
            request,
            created_height: ctx.block_height,
            status: RequestStatus::Pending,
        });
        Ok(Returned { value: Vec::new(), yield_created: Some(ids), resumed: Vec::new(), refund: ctx.deposit - MIN_SIGN_DEPOSIT })
    }

    fn assert_signer_is_predecessor(ctx: &CallContext<'_>) -> Result<(), String> {
        if ctx.signer_id != ctx.predecessor_id {
            return Err(format!("Caller must be the signer account (signer: {}, predecessor: {})", ctx.signer_id, ctx.predecessor_id));
        }
        Ok(())
    }

    /// near/mpc's `is_caller_an_attested_participant` over the active set.
    fn assert_attested_participant(&self, ctx: &CallContext<'_>) -> Result<(), String> {
        Self::assert_signer_is_predecessor(ctx)?;
        let params = self.state.active_parameters().ok_or("InvalidState: ProtocolStateNotActive")?;
        let info = params.by_account(ctx.signer_id).ok_or("Caller must be an attested participant: CallerNotParticipant")?;
        let att = self.attestations.get(&info.tls_public_key).ok_or("Caller must be an attested participant: AttestationNotFound")?;
        if att.account_id != ctx.signer_id {
            return Err("Caller must be an attested participant: AttestationOwnerMismatch".into());
        }
        if &att.account_public_key != ctx.signer_public_key {
            return Err("Caller must be an attested participant: AttestationKeyMismatch".into());
        }
        Ok(())
    }

    fn respond(&mut self, args: &[u8], ctx: &CallContext<'_>, logs: &mut Vec<String>) -> CallResult {
        Self::assert_signer_is_predecessor(ctx)?;
        let v = args_json(args)?;
        let req = field(&v, "request")?;
        let tweak = bytes32_array(field(req, "tweak")?).ok_or("Failed to deserialize input from JSON: tweak")?;
        let payload = ecdsa_payload(field(req, "payload")?)?;
        let domain_id = u64_field(req, "domain_id")?;
        let request = SignatureRequest { tweak, payload, domain_id };
        let resp = field(&v, "response")?;
        logs.push(format!("respond: signer={}, request={:?}", ctx.signer_id, request));
        self.assert_attested_participant(ctx)?;
        let root = *self.state.root_key().ok_or("InvalidState: ProtocolStateNotRunning")?;
        if domain_id != DOMAIN_ID {
            return Err(format!("InvalidParameters: DomainNotFound {{ provided: {domain_id} }}"));
        }
        if resp.get("scheme").and_then(Value::as_str) != Some("Secp256k1") {
            return Err("RespondError: SignatureSchemeMismatch".into());
        }
        let big_r = resp
            .get("big_r")
            .and_then(|b| b.get("affine_point"))
            .and_then(Value::as_str)
            .and_then(hex::decode_fixed::<33>)
            .ok_or("Failed to deserialize input from JSON: big_r")?;
        let s = resp
            .get("s")
            .and_then(|b| b.get("scalar"))
            .and_then(Value::as_str)
            .and_then(hex::decode_fixed::<32>)
            .ok_or("Failed to deserialize input from JSON: s")?;
        let recovery_id = resp
            .get("recovery_id")
            .and_then(Value::as_u64)
            .and_then(|r| u8::try_from(r).ok())
            .ok_or("Failed to deserialize input from JSON: recovery_id")?;
        let expected = derive_public_key(&root, &tweak).map_err(|e| format!("RespondError: {e}"))?;
        if !verify_response(&big_r, &s, recovery_id, &payload, &expected) {
            return Err("RespondError: InvalidSignature".into());
        }
        let response_bytes = serde_json::to_vec(resp).map_err(|e| e.to_string())?;
        let data_ids = self.pending.remove(&request).unwrap_or_default();
        if data_ids.is_empty() {
            return Err("InvalidParameters: RequestNotFound".into());
        }
        let mut resumed = Vec::new();
        for d in data_ids {
            if let Some(rec) = self.request_by_data_id.get(&d).and_then(|&i| self.requests.get_mut(i)) {
                rec.status = RequestStatus::Responded { responder: ctx.signer_id.to_owned(), response: resp.clone(), height: ctx.block_height };
            }
            resumed.push((d, response_bytes.clone()));
        }
        Ok(Returned { resumed, ..Returned::default() })
    }

    fn submit_participant_info(&mut self, args: &[u8], ctx: &CallContext<'_>, logs: &mut Vec<String>) -> CallResult {
        let v = args_json(args)?;
        let attestation = field(&v, "proposed_participant_attestation")?;
        let tls = field(&v, "tls_public_key")?
            .as_str()
            .and_then(PublicKey::parse)
            .filter(|k| matches!(k, PublicKey::Ed25519(_)))
            .ok_or("Failed to deserialize input from JSON: tls_public_key")?;
        Self::assert_signer_is_predecessor(ctx)?;
        logs.push(format!("submit_participant_info: signer={}, account_key={}", ctx.signer_id, ctx.signer_public_key));
        if !matches!(ctx.signer_public_key, PublicKey::Ed25519(_)) {
            return Err("InvalidParameters: signer account key must be Ed25519".into());
        }
        let quote = dstack_quote(attestation);
        let submission = AttestationSubmission {
            account_id: ctx.signer_id,
            account_public_key: ctx.signer_public_key,
            tls_public_key: &tls,
            attestation,
            quote: quote.as_deref(),
            block_height: ctx.block_height,
            block_timestamp_ns: ctx.block_timestamp_ns,
        };
        let accepted = self.verifier.verify(&submission).map_err(|e| e.to_string())?;
        self.attestations.insert(
            tls,
            StoredAttestation {
                account_id: ctx.signer_id.to_owned(),
                account_public_key: *ctx.signer_public_key,
                tls_public_key: tls,
                accepted,
                submitted_height: ctx.block_height,
                quote_len: quote.map_or(0, |q| q.len()),
            },
        );
        Ok(Returned::default())
    }

    fn start_key_event(&mut self, args: &[u8], ctx: &CallContext<'_>, logs: &mut Vec<String>, reshare: bool) -> CallResult {
        let v = args_json(args)?;
        let id = key_event_id(&v)?;
        logs.push(format!("{}: signer={}", if reshare { "start_reshare_instance" } else { "start_keygen_instance" }, ctx.signer_id));
        self.assert_attested_participant(ctx)?;
        let timeout = self.config.key_event_timeout_blocks;
        match (&mut self.state, reshare) {
            (ProtocolState::Initializing { generating }, false) => generating.start(&id, ctx.signer_id, ctx.block_height, timeout)?,
            (ProtocolState::Resharing { resharing, .. }, true) => resharing.start(&id, ctx.signer_id, ctx.block_height, timeout)?,
            _ => return Err("InvalidState: ProtocolStateNotRunning".into()),
        }
        Ok(Returned::default())
    }

    fn vote_pk(&mut self, args: &[u8], ctx: &CallContext<'_>, logs: &mut Vec<String>) -> CallResult {
        let v = args_json(args)?;
        let id = key_event_id(&v)?;
        let pk_text = field(&v, "public_key")?.as_str().ok_or("Failed to deserialize input from JSON: public_key")?;
        logs.push(format!("vote_pk: signer={}, key_event_id={:?}, public_key={}", ctx.signer_id, id, pk_text));
        self.assert_attested_participant(ctx)?;
        let Some(PublicKey::Secp256k1(pk)) = PublicKey::parse(pk_text) else {
            return Err("InvalidParameters: MalformedPayload: expected a secp256k1 public key".into());
        };
        secp_point(&pk).ok_or("InvalidParameters: MalformedPayload: not a secp256k1 point")?;
        let height = ctx.block_height;
        let ProtocolState::Initializing { generating } = &mut self.state else {
            return Err("InvalidState: ProtocolStateNotRunning".into());
        };
        if generating.vote(&id, ctx.signer_id, height, Some(pk))? {
            let attempt = id.attempt_id;
            let parameters = generating.parameters.clone();
            let epoch = generating.epoch_id;
            self.state = ProtocolState::Running(RunningState { keyset_epoch: epoch, root_key: pk, attempt, parameters });
        }
        Ok(Returned::default())
    }

    fn vote_reshared(&mut self, args: &[u8], ctx: &CallContext<'_>, logs: &mut Vec<String>) -> CallResult {
        let v = args_json(args)?;
        let id = key_event_id(&v)?;
        logs.push(format!("vote_reshared: signer={}, resharing_id={:?}", ctx.signer_id, id));
        self.assert_attested_participant(ctx)?;
        let height = ctx.block_height;
        let ProtocolState::Resharing { previous, resharing } = &mut self.state else {
            return Err("InvalidState: ProtocolStateNotResharing".into());
        };
        if resharing.vote(&id, ctx.signer_id, height, None)? {
            let next = RunningState {
                keyset_epoch: resharing.epoch_id,
                root_key: previous.root_key,
                attempt: id.attempt_id,
                parameters: resharing.parameters.clone(),
            };
            self.state = ProtocolState::Running(next);
        }
        Ok(Returned::default())
    }

    /// Runs a yield callback (`return_signature_and_clean_state_on_success`):
    /// resumed with a response → that response; timed out → drop the pending
    /// entry and fail.
    pub fn yield_callback(&mut self, data_id: &Hash, response: Option<&[u8]>, height: u64) -> Result<Vec<u8>, String> {
        match response {
            Some(bytes) => Ok(bytes.to_vec()),
            None => {
                if let Some(rec) = self.request_by_data_id.get(data_id).and_then(|&i| self.requests.get_mut(i)) {
                    if let Some(q) = self.pending.get_mut(&rec.request) {
                        q.retain(|d| d != data_id);
                        if q.is_empty() {
                            self.pending.remove(&rec.request);
                        }
                    }
                    rec.status = RequestStatus::TimedOut { height };
                }
                Err("Signature request has timed out.".into())
            }
        }
    }

    /// Read-only methods (`query` `call_function`).
    pub fn view(&self, method: &str, args: &[u8], predecessor: &str) -> Result<Vec<u8>, String> {
        let v = if args.is_empty() { json!({}) } else { args_json(args)? };
        let out = match method {
            "state" => self.state.to_json(),
            "public_key" => {
                let root = self.state.root_key().ok_or("InvalidState: ProtocolStateNotRunning")?;
                json!(PublicKey::Secp256k1(*root).to_text())
            }
            "derived_public_key" => {
                let root = self.state.root_key().ok_or("InvalidState: ProtocolStateNotRunning")?;
                let path = field(&v, "path")?.as_str().ok_or("Failed to deserialize input from JSON: path")?;
                let pred = v.get("predecessor").and_then(Value::as_str).unwrap_or(predecessor);
                json!(PublicKey::Secp256k1(derive_public_key(root, &derive_tweak(pred, path))?).to_text())
            }
            "latest_key_version" => json!(DOMAIN_ID),
            "get_pending_request" => {
                let req = field(&v, "request")?;
                let tweak = bytes32_array(field(req, "tweak")?).ok_or("Failed to deserialize input from JSON: tweak")?;
                let payload = ecdsa_payload(field(req, "payload")?)?;
                let key = SignatureRequest { tweak, payload, domain_id: u64_field(req, "domain_id")? };
                match self.pending.get(&key).and_then(|q| q.first()) {
                    Some(d) => json!({"data_id": hex::encode(&d.0)}),
                    None => Value::Null,
                }
            }
            "get_attestation" => {
                let tls = field(&v, "tls_public_key")?.as_str().and_then(PublicKey::parse).ok_or("Failed to deserialize input from JSON: tls_public_key")?;
                match self.attestations.get(&tls) {
                    // near/mpc 3.14's shape (no account id; the image and launcher hashes are
                    // not modelled: null). A policy without expiry shows u64::MAX.
                    Some(a) => json!({"Dstack": {
                        "mpc_image_hash": null,
                        "launcher_compose_hash": null,
                        "expiry_timestamp_seconds": a.accepted.expiry_timestamp_seconds.unwrap_or(u64::MAX),
                        "simulator_verified_by": a.accepted.verified_by,
                        "simulator_quote_len": a.quote_len,
                    }}),
                    None => Value::Null,
                }
            }
            // near/mpc's `NodeId` list of every stored attestation.
            "get_tee_accounts" => Value::Array(
                self.attestations
                    .values()
                    .map(|a| json!({
                        "account_id": a.account_id,
                        "tls_public_key": a.tls_public_key.to_text(),
                        "account_public_key": a.account_public_key.to_text(),
                    }))
                    .collect(),
            ),
            _ => return Err(format!("MethodResolveError(MethodNotFound): {method}")),
        };
        serde_json::to_vec(&out).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attestation::RequireNonEmptyQuote;
    use k256::ecdsa::SigningKey;

    #[test]
    fn tweak_vector() {
        assert_eq!(hex::encode(&derive_tweak("dwefqwg", "frwewegwegweg")), "ad2d6fc1f445a1b43830415e7e6e3d03cd077673047848a085f130c24f53ee00");
    }

    #[test]
    fn response_verification() {
        let root = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let root_xy = uncompressed(&k256::PublicKey::from(root.verifying_key())).unwrap();
        let tweak = derive_tweak("alice.test", "p");
        let t: k256::Scalar = Option::from(k256::Scalar::from_repr(tweak.into())).unwrap();
        let derived = SigningKey::from(k256::NonZeroScalar::new(*root.as_nonzero_scalar().as_ref() + t).unwrap());
        let payload = [9u8; 32];
        let (sig, recid) = derived.sign_prehash_recoverable(&payload).unwrap();
        let expected = derive_public_key(&root_xy, &tweak).unwrap();
        let mut big_r = [0u8; 33];
        big_r[0] = 2 + (recid.to_byte() & 1);
        big_r[1..].copy_from_slice(&sig.r().to_bytes());
        let s: [u8; 32] = sig.s().to_bytes().into();
        assert!(verify_response(&big_r, &s, recid.to_byte(), &payload, &expected));
        assert!(!verify_response(&big_r, &s, recid.to_byte() ^ 1, &payload, &expected));
        assert!(!verify_response(&big_r, &s, recid.to_byte(), &[8u8; 32], &expected));
        assert!(!verify_response(&big_r, &s, 4, &payload, &expected));
        // The high-s twin is refused (malleability).
        let high_s: [u8; 32] = (-*sig.s()).to_bytes().into();
        assert!(!verify_response(&big_r, &high_s, recid.to_byte() ^ 1, &payload, &expected));
        // Signing with the root key instead of the derived key fails.
        let (sig2, recid2) = root.sign_prehash_recoverable(&payload).unwrap();
        big_r[1..].copy_from_slice(&sig2.r().to_bytes());
        assert!(!verify_response(&big_r, &sig2.s().to_bytes().into(), recid2.to_byte(), &payload, &expected));
    }

    #[test]
    fn parameters_refuse_duplicates() {
        let p = |a: &str, id, url: &str, k: u8| Participant {
            account_id: a.into(),
            id,
            url: url.into(),
            tls_public_key: PublicKey::Ed25519([k; 32]),
        };
        assert!(Parameters::new(vec![p("a.test", 0, "u0", 1), p("b.test", 1, "u1", 2)], 2).is_ok());
        assert!(Parameters::new(vec![p("a.test", 0, "u0", 1), p("b.test", 1, "u1", 1)], 2).is_err());
        assert!(Parameters::new(vec![p("a.test", 0, "u0", 1), p("b.test", 1, "u0", 2)], 2).is_err());
        assert!(Parameters::new(vec![p("a.test", 0, "u0", 1), p("b.test", 1, "u1", 2)], 3).is_err());
    }

    #[test]
    fn failed_call_keeps_log_and_state() {
        let mut c = SignerContract::new("c.test".into(), ContractConfig::default(), Arc::new(RequireNonEmptyQuote));
        let pk = PublicKey::Ed25519([1; 32]);
        let ctx = CallContext {
            signer_id: "alice.test",
            signer_public_key: &pk,
            predecessor_id: "alice.test",
            deposit: 1,
            prepaid_gas: SIGN_MIN_GAS,
            block_height: 10,
            block_timestamp_ns: 0,
            receipt_id: Hash::digest(b"r"),
        };
        let args = br#"{"request":{"path":"p","payload_v2":{"Ecdsa":"0101010101010101010101010101010101010101010101010101010101010101"},"domain_id":0}}"#;
        let out = c.call("sign", args, &ctx);
        assert!(out.result.is_err(), "not initialized");
        assert_eq!(out.logs.len(), 1);
        assert!(out.logs[0].starts_with("sign: predecessor=AccountId(\"alice.test\"), request=SignRequestArgs { path: \"p\""));
        assert!(c.requests().is_empty());
    }
}
