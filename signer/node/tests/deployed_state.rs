//! The node's `STATE` decoder against the real contract: the deployed 3.14.0 and 3.14.1
//! binaries (shared/fixtures/near-mpc/contracts) run on the chain simulator's wasm engine,
//! through init, domain votes, keygen and a resharing vote; after each step the `STATE` value
//! the contract wrote is decoded with `state_borsh` and must equal what the contract's own
//! `state` view (JSON, parsed by the node's JSON path) says. The pinned code hashes must be
//! the binaries' sha256.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};
use sha2::Digest;
use tdsigner_chain_sim::wasm::deployed::ContractChoice;
use tdsigner_chain_sim::wasm::host::{CallContext, HostState, StorageView};
use tdsigner_chain_sim::wasm::ContractCode;
use tdsigner_near::crypto::PublicKey;
use tdsigner_node::machine::contract::{parse_state, ContractState};
use tdsigner_node::machine::proven::{KNOWN_CODE_HASHES, STATE_KEY};
use tdsigner_node::machine::state_borsh::decode_state;

const CONTRACT: &str = "v1.signer-sim.test";
const TGAS: u64 = 1_000_000_000_000;

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/near-mpc/contracts")
}

/// The contract with storage kept here, so the `STATE` bytes can be read.
struct Contract {
    code: ContractCode,
    storage: Arc<BTreeMap<Vec<u8>, Vec<u8>>>,
    storage_usage: u64,
    height: u64,
}

impl Contract {
    fn context(&self, who: &str, pk: Vec<u8>, input: Vec<u8>, view: bool) -> CallContext {
        CallContext {
            current_account_id: CONTRACT.into(),
            signer_account_id: if view { String::new() } else { who.into() },
            signer_account_pk: pk,
            predecessor_account_id: if view { String::new() } else { who.into() },
            input,
            block_height: self.height,
            block_timestamp_ns: 1_700_000_000_000_000_000 + self.height * 1_000_000_000,
            epoch_height: 0,
            account_balance: 1_000_000 * 10u128.pow(24),
            attached_deposit: 0,
            prepaid_gas: if view { 0 } else { 300 * TGAS },
            storage_usage: self.storage_usage,
            promise_results: Vec::new(),
            is_view: view,
        }
    }

    fn call(&mut self, who: &str, pk: Vec<u8>, method: &str, args: Value) {
        self.height += 1;
        let ctx = self.context(who, pk, args.to_string().into_bytes(), false);
        let state = HostState::new(ctx, StorageView { committed: Arc::clone(&self.storage), changes: BTreeMap::new() }, Arc::default());
        let r = self.code.call(method, state, 300 * TGAS);
        if let Some(e) = r.error {
            panic!("{method} by {who}: {e:?}; logs {:?}", r.state.logs);
        }
        let mut storage = (*self.storage).clone();
        for (k, v) in r.state.storage.changes {
            match v {
                Some(v) => storage.insert(k, v),
                None => storage.remove(&k),
            };
        }
        self.storage = Arc::new(storage);
        self.storage_usage = r.state.storage_usage;
    }

    fn state_view(&self) -> Vec<u8> {
        let ctx = self.context("", Vec::new(), b"{}".to_vec(), true);
        let state = HostState::new(ctx, StorageView { committed: Arc::clone(&self.storage), changes: BTreeMap::new() }, Arc::default());
        let r = self.code.call("state", state, 300 * TGAS);
        assert!(r.error.is_none(), "state view: {:?}", r.error);
        match r.state.return_data {
            tdsigner_chain_sim::wasm::host::ReturnData::Value(v) => v,
            _ => panic!("state view returned nothing"),
        }
    }

    /// Decodes the stored `STATE` and checks it against the contract's own view.
    fn check(&self, what: &str) -> ContractState {
        let bytes = self.storage.get(STATE_KEY).unwrap_or_else(|| panic!("{what}: no STATE"));
        let decoded = decode_state(bytes, 0).unwrap_or_else(|e| panic!("{what}: {e}"));
        let viewed = parse_state(&self.state_view(), 0).unwrap_or_else(|e| panic!("{what}: view {e}"));
        assert_eq!(decoded, viewed, "{what}: borsh STATE and the contract's JSON view differ");
        println!("{what}: STATE {} bytes, {} storage keys", bytes.len(), self.storage.len());
        decoded
    }
}

struct Participant {
    account: String,
    account_pk: Vec<u8>,
    tls: [u8; 32],
}

fn participant(i: u8) -> Participant {
    let key = |seed: u8| ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key().to_bytes();
    Participant { account: format!("p{i}.sim.test"), account_pk: [&[0u8][..], &key(i + 1)].concat(), tls: key(i + 101) }
}

fn parameters(ps: &[Participant], threshold: u64) -> Value {
    let list: Vec<Value> = ps
        .iter()
        .enumerate()
        .map(|(i, p)| json!([p.account, i, {"url": format!("https://{}:443", p.account), "tls_public_key": PublicKey::Ed25519(p.tls).to_text()}]))
        .collect();
    json!({"participants": {"next_id": ps.len(), "participants": list}, "threshold": threshold})
}

fn run(version: &str) {
    let code = ContractChoice::parse(version).load(&fixtures()).unwrap_or_else(|e| panic!("{e}"));
    let mut c = Contract { code, storage: Arc::default(), storage_usage: 0, height: 100 };
    let ps: Vec<Participant> = (0..5).map(participant).collect();
    let (old, new) = (&ps[..4], &ps[..]);
    c.call(CONTRACT, [&[0u8][..], &[42u8; 32]].concat(), "init", json!({"parameters": parameters(old, 3), "init_config": null}));
    assert!(matches!(c.check("init"), ContractState::Running(_)));
    for p in &ps {
        let args = json!({"proposed_participant_attestation": {"Mock": "Valid"}, "tls_public_key": PublicKey::Ed25519(p.tls).to_text()});
        c.call(&p.account, p.account_pk.clone(), "submit_participant_info", args);
    }
    let domain = json!({"domains": [{"id": 0, "protocol": "CaitSith", "reconstruction_threshold": 3, "purpose": "Sign"}]});
    for p in old {
        c.call(&p.account, p.account_pk.clone(), "vote_add_domains", domain.clone());
    }
    assert!(matches!(c.check("domains voted"), ContractState::Initializing { .. }));
    let event = json!({"epoch_id": 0, "domain_id": 0, "attempt_id": 0});
    c.call(&old[0].account, old[0].account_pk.clone(), "start_keygen_instance", json!({"key_event_id": event}));
    let ContractState::Initializing { generating } = c.check("keygen started") else { panic!("not Initializing") };
    assert!(generating.instance.is_some());
    let root = k256::ecdsa::SigningKey::from_slice(&[0x21; 32]).unwrap();
    let point = root.verifying_key().to_encoded_point(false);
    let root_xy: [u8; 64] = point.as_bytes()[1..].try_into().unwrap();
    let near_pk = PublicKey::Secp256k1(root_xy).to_text();
    for p in old {
        c.call(&p.account, p.account_pk.clone(), "vote_pk", json!({"key_event_id": event, "public_key": near_pk}));
    }
    let ContractState::Running(r) = c.check("keygen done") else { panic!("not Running") };
    assert_eq!(r.root_key, Some(root_xy));
    // A resharing to five participants, threshold 4 (the joining participant votes too).
    let proposal = json!({"prospective_epoch_id": 1, "proposal": {"parameters": parameters(new, 4)}});
    for p in new {
        c.call(&p.account, p.account_pk.clone(), "vote_new_parameters", proposal.clone());
    }
    let ContractState::Resharing { previous, resharing } = c.check("resharing voted") else { panic!("not Resharing") };
    assert_eq!((previous.parameters.participants.len(), resharing.parameters.participants.len()), (4, 5));
    assert_eq!((resharing.epoch_id, resharing.parameters.threshold), (1, 4));
}

#[test]
fn state_decoder_matches_the_deployed_3_14_0_contract() {
    run("3.14.0");
}

#[test]
fn state_decoder_matches_the_deployed_3_14_1_contract() {
    run("3.14.1");
}

#[test]
fn pinned_code_hashes_are_the_deployed_binaries() {
    for (file, pinned) in [("signer-3_14_0.wasm", KNOWN_CODE_HASHES[0]), ("signer-3_14_1.wasm", KNOWN_CODE_HASHES[1])] {
        let wasm = std::fs::read(fixtures().join(file)).unwrap();
        assert_eq!(<[u8; 32]>::from(sha2::Sha256::digest(&wasm)), pinned, "{file}");
    }
}
