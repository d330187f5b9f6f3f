//! The signer contract's `STATE` storage value (the borsh of near/mpc's `MpcContract`) as the
//! node's [`ContractState`], for the layout of releases 3.14.0 and 3.14.1 (their borsh schemas
//! are identical: near/mpc pins the schema in a snapshot test, unchanged between the tags).
//!
//! Only the first field, `protocol_state`, is decoded; the fields after it (pending requests,
//! updates, config, TEE state, ...) are not read. The bytes come from a proven trie value, but
//! what they mean depends on the contract's code, which standard RPC cannot prove (see
//! [`super::proven`]): the decoder is strict (every tag, length and string checked, every id
//! and account validated as the JSON path does) so that a different layout is far more likely
//! to be refused than misread. Bounded: at most [`MAX_STATE_VALUE_BYTES`] bytes, and borsh
//! allocates no more than the input can fill.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use tdsigner_tss::participants::MAX_PARTICIPANTS;

use super::contract::{
    ContractState, DomainConfig, KeyEvent, KeyEventInstance, Parameters, ParticipantInfo, RunningState, MAX_URL_LEN,
};

/// Largest `STATE` value accepted (a `view_state` entry is bounded at 4 MiB as well).
pub const MAX_STATE_VALUE_BYTES: usize = 4 * 1024 * 1024;
/// Domains accepted in a registry or keyset.
const MAX_DOMAINS: usize = 64;

/// Why a `STATE` value was not decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateDecodeError {
    TooLarge { bytes: usize },
    /// Not the 3.14 borsh layout (truncated, bad tag, bad UTF-8...).
    Borsh { message: String },
    /// Decoded, but a value breaks a rule the node relies on.
    Invalid { field: &'static str },
}

impl fmt::Display for StateDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { bytes } => write!(f, "STATE value of {bytes} bytes exceeds {MAX_STATE_VALUE_BYTES}"),
            Self::Borsh { message } => write!(f, "STATE is not the 3.14 borsh layout: {message}"),
            Self::Invalid { field } => write!(f, "STATE: invalid {field}"),
        }
    }
}

// The 3.14 layout, field for field (names follow the schema; only what the node reads is used).

#[derive(BorshDeserialize, BorshSerialize)]
enum Protocol {
    CaitSith,
    Frost,
    ConfidentialKeyDerivation,
    DamgardEtAl,
}

#[derive(BorshDeserialize, BorshSerialize)]
enum Purpose {
    Sign,
    ForeignTx,
    Ckd,
}

#[derive(BorshDeserialize, BorshSerialize)]
struct DomainB {
    id: u64,
    protocol: Protocol,
    reconstruction_threshold: u64,
    _purpose: Purpose,
}

#[derive(BorshDeserialize, BorshSerialize)]
struct RegistryB {
    _domains: Vec<DomainB>,
    _next_domain_id: u64,
}

#[derive(BorshDeserialize, BorshSerialize)]
struct InfoB {
    url: String,
    tls_public_key: [u8; 32],
}

#[derive(BorshDeserialize, BorshSerialize)]
struct ParamsB {
    _next_id: u32,
    participants: Vec<(String, u32, InfoB)>,
    threshold: u64,
}

#[derive(BorshDeserialize, BorshSerialize)]
enum MpcKeyB {
    Secp256k1([u8; 64]),
    Ed25519([u8; 32]),
    Bls12381([u8; 96]),
}

#[derive(BorshDeserialize, BorshSerialize)]
enum KeyB {
    /// near_sdk `PublicKey { data }`: curve byte then the key.
    Secp256k1 { near_public_key: Vec<u8> },
    Ed25519 { _compressed: Vec<u8>, _edwards_point: [u8; 32] },
    Bls12381 { _public_key: MpcKeyB },
}

#[derive(BorshDeserialize, BorshSerialize)]
struct KeyForDomainB {
    domain_id: u64,
    key: KeyB,
    _attempt: u64,
}

#[derive(BorshDeserialize, BorshSerialize)]
struct KeysetB {
    epoch_id: u64,
    domains: Vec<KeyForDomainB>,
}

#[derive(BorshDeserialize, BorshSerialize)]
struct InstanceB {
    attempt_id: u64,
    started_in: u64,
    expires_on: u64,
    completed: Vec<u32>,
    _public_key: Option<KeyB>,
}

#[derive(BorshDeserialize, BorshSerialize)]
struct KeyEventB {
    epoch_id: u64,
    domain: DomainB,
    parameters: ParamsB,
    instance: Option<InstanceB>,
    next_attempt_id: u64,
}

#[derive(BorshDeserialize, BorshSerialize)]
struct InitializingB {
    _domains: RegistryB,
    _epoch_id: u64,
    _generated_keys: Vec<KeyForDomainB>,
    generating_key: KeyEventB,
    _cancel_votes: Vec<u32>,
}

#[derive(BorshDeserialize, BorshSerialize)]
struct ProposedB {
    _parameters: ParamsB,
    _per_domain_thresholds: Vec<(u64, u64)>,
}

#[derive(BorshDeserialize, BorshSerialize)]
struct RunningB {
    _domains: RegistryB,
    keyset: KeysetB,
    parameters: ParamsB,
    _parameters_votes: Vec<(String, ProposedB)>,
    _add_domains_votes: Vec<(u32, Vec<DomainB>)>,
    _previously_cancelled_resharing_epoch_id: Option<u64>,
}

#[derive(BorshDeserialize, BorshSerialize)]
struct ResharingB {
    previous_running_state: RunningB,
    _reshared_keys: Vec<KeyForDomainB>,
    resharing_key: KeyEventB,
    _cancellation_requests: Vec<String>,
    _per_domain_thresholds: Vec<(u64, u64)>,
}

#[derive(BorshDeserialize, BorshSerialize)]
enum ProtocolStateB {
    NotInitialized,
    Initializing(InitializingB),
    Running(RunningB),
    Resharing(ResharingB),
}

type R<T> = Result<T, StateDecodeError>;

fn invalid(field: &'static str) -> StateDecodeError {
    StateDecodeError::Invalid { field }
}

fn parameters(p: ParamsB) -> R<Parameters> {
    if p.participants.len() > MAX_PARTICIPANTS {
        return Err(invalid("participants"));
    }
    let mut participants = Vec::with_capacity(p.participants.len());
    for (account_id, id, info) in p.participants {
        if !tdsigner_near::view::is_valid_account_id(&account_id) {
            return Err(invalid("participant account"));
        }
        if id == u32::MAX {
            return Err(invalid("participant id"));
        }
        if info.url.len() > MAX_URL_LEN {
            return Err(invalid("participant url"));
        }
        participants.push(ParticipantInfo { account_id, id, url: info.url, tls_public_key: info.tls_public_key });
    }
    participants.sort_by_key(|p| p.id);
    if participants.windows(2).any(|w| w[0].id == w[1].id) {
        return Err(invalid("participants (duplicate id)"));
    }
    if participants.iter().enumerate().any(|(i, p)| participants[..i].iter().any(|q| q.account_id == p.account_id)) {
        return Err(invalid("participants (duplicate account)"));
    }
    Ok(Parameters { participants, threshold: p.threshold })
}

fn domain(d: DomainB) -> DomainConfig {
    let protocol = match d.protocol {
        Protocol::CaitSith => "CaitSith",
        Protocol::Frost => "Frost",
        Protocol::ConfidentialKeyDerivation => "ConfidentialKeyDerivation",
        Protocol::DamgardEtAl => "DamgardEtAl",
    };
    DomainConfig { id: d.id, protocol: protocol.into(), reconstruction_threshold: d.reconstruction_threshold }
}

fn key_event(e: KeyEventB) -> R<KeyEvent> {
    let domain = domain(e.domain);
    let instance = match e.instance {
        None => None,
        Some(i) => {
            if i.completed.len() > MAX_PARTICIPANTS {
                return Err(invalid("instance.completed"));
            }
            Some(KeyEventInstance {
                attempt_id: i.attempt_id,
                started_in: i.started_in,
                expires_on: i.expires_on,
                completed: i.completed.into_iter().map(u64::from).collect(),
            })
        }
    };
    Ok(KeyEvent {
        epoch_id: e.epoch_id,
        domain_id: domain.id,
        domain,
        parameters: parameters(e.parameters)?,
        instance,
        next_attempt_id: e.next_attempt_id,
    })
}

fn running(r: RunningB, domain_id: u64) -> R<RunningState> {
    if r.keyset.domains.len() > MAX_DOMAINS {
        return Err(invalid("keyset.domains"));
    }
    let mut root_key = None;
    for d in r.keyset.domains {
        if d.domain_id != domain_id {
            continue;
        }
        root_key = match d.key {
            KeyB::Secp256k1 { near_public_key } => match near_public_key.split_first() {
                Some((1, rest)) => Some(<[u8; 64]>::try_from(rest).map_err(|_| invalid("keyset key"))?),
                _ => return Err(invalid("keyset key")),
            },
            _ => return Err(invalid("keyset key (not secp256k1)")),
        };
    }
    Ok(RunningState { keyset_epoch: r.keyset.epoch_id, root_key, parameters: parameters(r.parameters)? })
}

/// Decodes a 3.14 `STATE` value for key domain `domain_id`.
pub fn decode_state(bytes: &[u8], domain_id: u64) -> R<ContractState> {
    if bytes.len() > MAX_STATE_VALUE_BYTES {
        return Err(StateDecodeError::TooLarge { bytes: bytes.len() });
    }
    let mut rest = bytes;
    let state = ProtocolStateB::deserialize(&mut rest).map_err(|e| {
        let mut message = alloc::string::ToString::to_string(&e);
        message.truncate(200);
        StateDecodeError::Borsh { message }
    })?;
    Ok(match state {
        ProtocolStateB::NotInitialized => ContractState::NotInitialized,
        ProtocolStateB::Initializing(i) => ContractState::Initializing { generating: key_event(i.generating_key)? },
        ProtocolStateB::Running(r) => ContractState::Running(running(r, domain_id)?),
        ProtocolStateB::Resharing(r) => ContractState::Resharing {
            previous: running(r.previous_running_state, domain_id)?,
            resharing: key_event(r.resharing_key)?,
        },
    })
}

fn params_b(p: &Parameters) -> ParamsB {
    ParamsB {
        _next_id: p.participants.iter().map(|q| q.id.saturating_add(1)).max().unwrap_or(0),
        participants: p
            .participants
            .iter()
            .map(|q| (q.account_id.clone(), q.id, InfoB { url: q.url.clone(), tls_public_key: q.tls_public_key }))
            .collect(),
        threshold: p.threshold,
    }
}

fn domain_b(d: &DomainConfig) -> DomainB {
    let protocol = match d.protocol.as_str() {
        "Frost" => Protocol::Frost,
        "ConfidentialKeyDerivation" => Protocol::ConfidentialKeyDerivation,
        "DamgardEtAl" => Protocol::DamgardEtAl,
        _ => Protocol::CaitSith,
    };
    DomainB { id: d.id, protocol, reconstruction_threshold: d.reconstruction_threshold, _purpose: Purpose::Sign }
}

fn key_event_b(e: &KeyEvent) -> KeyEventB {
    KeyEventB {
        epoch_id: e.epoch_id,
        domain: domain_b(&e.domain),
        parameters: params_b(&e.parameters),
        instance: e.instance.as_ref().map(|i| InstanceB {
            attempt_id: i.attempt_id,
            started_in: i.started_in,
            expires_on: i.expires_on,
            completed: i.completed.iter().map(|c| u32::try_from(*c).unwrap_or(u32::MAX)).collect(),
            _public_key: None,
        }),
        next_attempt_id: e.next_attempt_id,
    }
}

fn running_b(r: &RunningState, domain_id: u64) -> RunningB {
    let domains = r
        .root_key
        .map(|k| KeyForDomainB {
            domain_id,
            key: KeyB::Secp256k1 { near_public_key: [&[1u8][..], &k].concat() },
            _attempt: 0,
        })
        .into_iter()
        .collect();
    RunningB {
        _domains: RegistryB { _domains: Vec::new(), _next_domain_id: domain_id.saturating_add(1) },
        keyset: KeysetB { epoch_id: r.keyset_epoch, domains },
        parameters: params_b(&r.parameters),
        _parameters_votes: Vec::new(),
        _add_domains_votes: Vec::new(),
        _previously_cancelled_resharing_epoch_id: None,
    }
}

/// Encodes `state` in the 3.14 `STATE` layout (the fields the node does not read are empty),
/// followed by `tail` (standing for the contract's later fields). For tests and simulators:
/// the inverse of [`decode_state`] on the fields it reads.
pub fn encode_state(state: &ContractState, domain_id: u64, tail: &[u8]) -> Vec<u8> {
    let b = match state {
        ContractState::NotInitialized => ProtocolStateB::NotInitialized,
        ContractState::Initializing { generating } => ProtocolStateB::Initializing(InitializingB {
            _domains: RegistryB { _domains: alloc::vec![domain_b(&generating.domain)], _next_domain_id: generating.domain_id.saturating_add(1) },
            _epoch_id: generating.epoch_id,
            _generated_keys: Vec::new(),
            generating_key: key_event_b(generating),
            _cancel_votes: Vec::new(),
        }),
        ContractState::Running(r) => ProtocolStateB::Running(running_b(r, domain_id)),
        ContractState::Resharing { previous, resharing } => ProtocolStateB::Resharing(ResharingB {
            previous_running_state: running_b(previous, domain_id),
            _reshared_keys: Vec::new(),
            resharing_key: key_event_b(resharing),
            _cancellation_requests: Vec::new(),
            _per_domain_thresholds: Vec::new(),
        }),
    };
    let mut out = borsh::to_vec(&b).unwrap_or_default();
    out.extend_from_slice(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Parameters {
        Parameters {
            participants: alloc::vec![
                ParticipantInfo { account_id: "a.test".into(), id: 0, url: "https://a:1".into(), tls_public_key: [1; 32] },
                ParticipantInfo { account_id: "b.test".into(), id: 1, url: "https://b:1".into(), tls_public_key: [2; 32] },
            ],
            threshold: 2,
        }
    }

    /// Found by the `machine_contract_state_borsh` fuzz target: the encoder's registry
    /// counter overflowed for the largest domain id a decoded state can carry.
    #[test]
    fn encoding_the_largest_domain_id_does_not_overflow() {
        let generating = KeyEvent { domain_id: u64::MAX, ..event() };
        let bytes = encode_state(&ContractState::Initializing { generating }, u64::MAX, &[]);
        assert!(!bytes.is_empty());
    }

    fn event() -> KeyEvent {
        KeyEvent {
            epoch_id: 3,
            domain_id: 0,
            domain: DomainConfig { id: 0, protocol: "CaitSith".into(), reconstruction_threshold: 2 },
            parameters: params(),
            instance: Some(KeyEventInstance { attempt_id: 1, started_in: 10, expires_on: 40, completed: alloc::vec![0] }),
            next_attempt_id: 2,
        }
    }

    #[test]
    fn every_variant_round_trips_and_the_tail_is_not_read() {
        let running = RunningState { keyset_epoch: 4, root_key: Some([5; 64]), parameters: params() };
        for s in [
            ContractState::NotInitialized,
            ContractState::Initializing { generating: event() },
            ContractState::Running(running.clone()),
            ContractState::Resharing { previous: running, resharing: event() },
        ] {
            let bytes = encode_state(&s, 0, b"later fields");
            assert_eq!(decode_state(&bytes, 0).unwrap(), s);
        }
    }

    #[test]
    fn layout_bytes_are_the_schemas() {
        // NotInitialized is tag 0; Running is tag 2 then the domain registry (u32 count, u64 next id).
        assert_eq!(encode_state(&ContractState::NotInitialized, 0, &[]), [0]);
        let r = RunningState { keyset_epoch: 7, root_key: None, parameters: Parameters { participants: Vec::new(), threshold: 1 } };
        let bytes = encode_state(&ContractState::Running(r), 0, &[]);
        let mut want = alloc::vec![2u8, 0, 0, 0, 0];
        want.extend_from_slice(&1u64.to_le_bytes()); // next_domain_id
        want.extend_from_slice(&7u64.to_le_bytes()); // keyset.epoch_id
        want.extend_from_slice(&0u32.to_le_bytes()); // keyset.domains
        want.extend_from_slice(&0u32.to_le_bytes()); // participants.next_id
        want.extend_from_slice(&0u32.to_le_bytes()); // participants
        want.extend_from_slice(&1u64.to_le_bytes()); // threshold
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0]); // two empty vote maps, no cancelled epoch
        assert_eq!(bytes, want);
    }

    #[test]
    fn refuses_bad_values_and_layouts() {
        let mut p = params();
        p.participants[1].account_id = "B".into();
        let bad = RunningState { keyset_epoch: 1, root_key: None, parameters: p };
        assert_eq!(
            decode_state(&encode_state(&ContractState::Running(bad), 0, &[]), 0),
            Err(StateDecodeError::Invalid { field: "participant account" })
        );
        let mut dup = params();
        dup.participants[1].id = 0;
        let bad = RunningState { keyset_epoch: 1, root_key: None, parameters: dup };
        assert!(decode_state(&encode_state(&ContractState::Running(bad), 0, &[]), 0).is_err());
        for bytes in [&[][..], &[4], &[2, 0xff, 0xff, 0xff, 0xff], &[1, 0]] {
            assert!(matches!(decode_state(bytes, 0), Err(StateDecodeError::Borsh { .. })), "{bytes:?}");
        }
        let good = encode_state(&ContractState::Initializing { generating: event() }, 0, &[]);
        for cut in 0..good.len() {
            assert!(decode_state(&good[..cut], 0).is_err(), "truncated at {cut}");
        }
    }
}
