//! tdsigner-node's contract payloads and view parsers against near/mpc's deployed `v1.signer`
//! binaries (3.14.0 mainnet, 3.14.1 testnet) executed on the simulator's NEAR runtime
//! (issue #15, "the node, fixed against it"). Each test fails with the node's former code:
//! `collateral: null` in `submit_participant_info`, attestation recognised by the account id
//! appearing in `get_attestation`'s JSON, the key's threshold taken from
//! `parameters.threshold`, and a key event of a domain it cannot serve left unreported.

use serde_json::{json, Value};
use tdsigner_chain_sim::keys::{PublicKey, SecretKey};
use tdsigner_chain_sim::wasm::deployed::ContractChoice;
use tdsigner_chain_sim::wasm::{ContractCode, ContractRuntime, FunctionCallTx, RuntimeConfig, TxStatus};
use tdsigner_node::machine::attestation::{
    lists_node, parse_attestation_view, parse_tee_accounts, participant_info_args, AttestationMode, AttestationPayloadError,
    StoredAttestation,
};
use tdsigner_node::machine::contract::{key_event_id, parse_state, vote_abort_args, ContractState};
use tdsigner_node::machine::Attestation;

const TGAS: u64 = 1_000_000_000_000;
const CONTRACT: &str = "v1.signer-sim.test";
const BINARIES: [&str; 2] = ["3.14.0", "3.14.1"];

fn load(version: &str) -> ContractCode {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/near-mpc/contracts");
    ContractChoice::parse(version).load(&dir).unwrap_or_else(|e| panic!("{e}"))
}

struct Node {
    account: String,
    account_key: SecretKey,
    tls_key: SecretKey,
}

impl Node {
    fn ed25519(k: &SecretKey) -> [u8; 32] {
        match k.public_key() {
            PublicKey::Ed25519(k) => k,
            other => panic!("{other:?}"),
        }
    }
    fn tls(&self) -> [u8; 32] {
        Self::ed25519(&self.tls_key)
    }
    fn account_pk(&self) -> [u8; 32] {
        Self::ed25519(&self.account_key)
    }
    fn call(&self, rt: &mut ContractRuntime, method: &str, args: &Value) -> TxStatus {
        let t = rt.submit(FunctionCallTx {
            signer_id: self.account.clone(),
            signer_pk: [&[0u8][..], &self.account_pk()].concat(),
            method: method.into(),
            args: args.to_string().into_bytes(),
            deposit: 0,
            gas: 300 * TGAS,
        });
        rt.tx_status(t)
    }
}

fn nodes(n: usize) -> Vec<Node> {
    (0..n)
        .map(|i| Node {
            account: format!("n{i}.sim.test"),
            account_key: SecretKey::from_seed(&[i as u8 + 1; 32]),
            tls_key: SecretKey::from_seed(&[i as u8 + 101; 32]),
        })
        .collect()
}

/// The deployed contract, `init`ialised by its own account with `ns` and `threshold`.
fn initialised(version: &str, ns: &[Node], threshold: u64) -> ContractRuntime {
    let mut rt = ContractRuntime::new(load(version), RuntimeConfig { contract_account: CONTRACT.into(), ..RuntimeConfig::default() });
    let list: Vec<Value> = ns
        .iter()
        .enumerate()
        .map(|(i, p)| json!([p.account, i, {"url": format!("https://{}:443", p.account), "tls_public_key": p.tls_key.public_key().to_text()}]))
        .collect();
    let params = json!({"participants": {"next_id": ns.len(), "participants": list}, "threshold": threshold});
    let t = rt.submit(FunctionCallTx {
        signer_id: CONTRACT.into(),
        signer_pk: [&[0u8][..], &[42u8; 32]].concat(),
        method: "init".into(),
        args: json!({"parameters": params, "init_config": null}).to_string().into_bytes(),
        deposit: 0,
        gas: 300 * TGAS,
    });
    assert!(matches!(rt.tx_status(t), TxStatus::Success(_)), "{version}: init: {:?}", rt.tx_status(t));
    rt
}

fn ok(version: &str, what: &str, status: TxStatus) {
    assert!(matches!(status, TxStatus::Success(_)), "{version}: {what}: {status:?}");
}

fn failure(status: TxStatus) -> String {
    match status {
        TxStatus::Failure(e) => e,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// The node's own Mock submission (`attestation=mock-testnet`).
fn attest_mock(version: &str, rt: &mut ContractRuntime, n: &Node) {
    let (args, gap) = participant_info_args(AttestationMode::MockTestnet, CONTRACT, None, &n.tls()).unwrap();
    assert!(gap.is_none());
    ok(version, "submit_participant_info Mock", n.call(rt, "submit_participant_info", &args));
}

/// A collateral and `tcb_info` with every field the DTO requires (well-formed, not a real
/// quote's: the contract must get past deserialization and refuse the quote itself).
fn complete_attestation() -> Attestation {
    let mut collateral = serde_json::Map::new();
    for field in tdsigner_node::machine::attestation::COLLATERAL_FIELDS {
        collateral.insert(field.into(), json!(if field.ends_with("_crl") || field.ends_with("_signature") { "00" } else { "" }));
    }
    let h48 = "00".repeat(48);
    let tcb = json!({"mrtd": h48, "rtmr0": h48, "rtmr1": h48, "rtmr2": h48, "rtmr3": h48, "os_image_hash": "",
        "compose_hash": "00".repeat(32), "device_id": "00".repeat(32), "app_compose": "{}", "event_log": []});
    Attestation { quote: vec![0; 64], collateral_json: Some(Value::Object(collateral).to_string()), tcb_info_json: tcb.to_string() }
}

#[test]
fn the_nodes_participant_info_payloads_deserialize_in_the_deployed_contract() {
    for version in BINARIES {
        let ns = nodes(4);
        let mut rt = initialised(version, &ns, 3);
        // attestation=mock-testnet: accepted (and refused for mainnet's account by the node).
        attest_mock(version, &mut rt, &ns[0]);
        assert_eq!(
            participant_info_args(AttestationMode::MockTestnet, "v1.signer", None, &ns[0].tls()).unwrap_err(),
            AttestationPayloadError::MockOnMainnet
        );
        // What the emulated platform gives (no collateral, a bare tcb_info): the node names
        // the gap, and the contract indeed refuses the payload at deserialization.
        let bare = Attestation { quote: vec![1; 64], collateral_json: None, tcb_info_json: r#"{"mrtd":"","event_log":[]}"#.into() };
        let (args, gap) = participant_info_args(AttestationMode::Dstack, CONTRACT, Some(&bare), &ns[1].tls()).unwrap();
        let gap = gap.expect("an incomplete payload is reported");
        assert!(gap.missing.iter().any(|m| m == "collateral"), "{gap}");
        let e = failure(ns[1].call(&mut rt, "submit_participant_info", &args));
        assert!(e.contains("Failed to deserialize input from JSON") && e.contains("Collateral"), "{version}: {e}");
        // With every field present the payload deserializes: the contract gets to the quote.
        let (args, gap) = participant_info_args(AttestationMode::Dstack, CONTRACT, Some(&complete_attestation()), &ns[1].tls()).unwrap();
        assert_eq!(gap, None);
        let e = failure(ns[1].call(&mut rt, "submit_participant_info", &args));
        assert!(!e.contains("Failed to deserialize"), "{version}: {e}");
    }
}

#[test]
fn the_node_recognises_its_own_attestation_by_parsed_fields() {
    for version in BINARIES {
        let ns = nodes(4);
        let mut rt = initialised(version, &ns, 3);
        attest_mock(version, &mut rt, &ns[0]);
        let view = |rt: &ContractRuntime, method: &str, args: Value| rt.view(method, args.to_string().as_bytes()).unwrap().value;
        let held = view(&rt, "get_attestation", json!({"tls_public_key": ns[0].tls_key.public_key().to_text()}));
        // The former check: the account id inside the JSON. The real view has none.
        assert!(!String::from_utf8_lossy(&held).contains(&ns[0].account));
        let stored = parse_attestation_view(&held).unwrap_or_else(|e| panic!("{version}: {e}"));
        let Some(StoredAttestation::Mock { expiry_s: Some(expiry) }) = stored else { panic!("{version}: {stored:?}") };
        assert!(expiry > rt.timestamp_ns / 1_000_000_000);
        let accounts = parse_tee_accounts(&view(&rt, "get_tee_accounts", json!({}))).unwrap();
        assert!(lists_node(&accounts, &ns[0].account, &ns[0].tls(), &ns[0].account_pk()), "{version}: {accounts:?}");
        // Another node's account with n0's keys, or n1 (not submitted), is not n0's attestation.
        assert!(!lists_node(&accounts, &ns[1].account, &ns[0].tls(), &ns[0].account_pk()));
        assert!(!lists_node(&accounts, &ns[1].account, &ns[1].tls(), &ns[1].account_pk()));
        // The contract seeds `init`'s participants with a bare `{"Mock":"Valid"}` under their
        // TLS keys, so `get_attestation` alone would call n1 attested; it is not a TEE
        // account until it submits its own (`get_tee_accounts`).
        let seeded = view(&rt, "get_attestation", json!({"tls_public_key": ns[1].tls_key.public_key().to_text()}));
        assert_eq!(String::from_utf8_lossy(&seeded), r#"{"Mock":"Valid"}"#, "{version}");
        assert_eq!(parse_attestation_view(&seeded).unwrap(), Some(StoredAttestation::Mock { expiry_s: None }));
        let unknown = view(&rt, "get_attestation", json!({"tls_public_key": SecretKey::from_seed(&[99; 32]).public_key().to_text()}));
        assert_eq!(parse_attestation_view(&unknown).unwrap(), None, "{version}");
    }
}

#[test]
fn key_events_carry_each_domains_reconstruction_threshold_and_unservable_domains_are_named() {
    for version in BINARIES {
        let ns = nodes(4);
        // Governance threshold 4, domains reconstructing with 3 shares (the contract allows a
        // reconstruction threshold up to the governance one).
        let mut rt = initialised(version, &ns, 4);
        for n in &ns {
            attest_mock(version, &mut rt, n);
        }
        let domains = json!({"domains": [
            {"id": 0, "protocol": "CaitSith", "reconstruction_threshold": 3, "purpose": "Sign"},
            {"id": 1, "protocol": "Frost", "reconstruction_threshold": 3, "purpose": "Sign"},
        ]});
        for n in &ns {
            ok(version, "vote_add_domains", n.call(&mut rt, "vote_add_domains", &domains));
        }
        let state = |rt: &ContractRuntime| parse_state(&rt.view("state", b"{}").unwrap().value, 0).unwrap_or_else(|e| panic!("{version}: {e}"));
        let ContractState::Initializing { generating } = state(&rt) else { panic!("{version}: {:?}", state(&rt)) };
        assert_eq!((generating.domain_id, generating.parameters.threshold), (0, 4));
        assert_eq!(generating.domain.reconstruction_threshold, 3, "{version}: the key's threshold is the domain's");
        assert_eq!(generating.domain.unservable_reason(0), None);
        // Keygen of domain 0 by the participants' votes; then the Frost domain's event.
        let event = json!({"epoch_id": generating.epoch_id, "domain_id": 0, "attempt_id": generating.next_attempt_id});
        ok(version, "start_keygen_instance", ns[0].call(&mut rt, "start_keygen_instance", &json!({"key_event_id": event})));
        let root = k256::SecretKey::from_slice(&[0x21; 32]).unwrap().public_key();
        let point = k256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&root, false);
        let pk = format!("secp256k1:{}", bs58::encode(&point.as_bytes()[1..]).into_string());
        for n in &ns {
            ok(version, "vote_pk", n.call(&mut rt, "vote_pk", &json!({"key_event_id": event, "public_key": pk})));
        }
        let ContractState::Initializing { generating } = state(&rt) else { panic!("{version}: {:?}", state(&rt)) };
        assert_eq!((generating.domain_id, generating.domain.protocol.as_str()), (1, "Frost"));
        let reason = generating.domain.unservable_reason(0).expect("a Frost domain is not served");
        assert!(reason.contains("Frost") && reason.contains("CaitSith"), "{reason}");
    }
}

#[test]
fn the_nodes_vote_abort_ends_a_failed_key_event_instance() {
    for version in BINARIES {
        let ns = nodes(4);
        let mut rt = initialised(version, &ns, 3);
        for n in &ns {
            attest_mock(version, &mut rt, n);
        }
        let domains = json!({"domains": [{"id": 0, "protocol": "CaitSith", "reconstruction_threshold": 3, "purpose": "Sign"}]});
        for n in &ns {
            ok(version, "vote_add_domains", n.call(&mut rt, "vote_add_domains", &domains));
        }
        let state = |rt: &ContractRuntime| parse_state(&rt.view("state", b"{}").unwrap().value, 0).unwrap_or_else(|e| panic!("{version}: {e}"));
        let start = json!({"key_event_id": key_event_id(0, 0, 0)});
        ok(version, "start_keygen_instance", ns[0].call(&mut rt, "start_keygen_instance", &start));
        let ContractState::Initializing { generating } = state(&rt) else { panic!() };
        assert_eq!(generating.active_instance(rt.height).map(|i| i.attempt_id), Some(0), "{version}: {generating:?}");
        // n2's run failed: the node's own abort vote ends the attempt at once.
        ok(version, "vote_abort_key_event_instance", ns[2].call(&mut rt, "vote_abort_key_event_instance", &vote_abort_args(0, 0, 0)));
        let ContractState::Initializing { generating } = state(&rt) else { panic!() };
        assert!(generating.active_instance(rt.height).is_none(), "{version}: {generating:?}");
        assert_eq!(generating.next_attempt_id, 1);
        // The leader starts the next attempt.
        let next = json!({"key_event_id": key_event_id(0, 0, 1)});
        ok(version, "start_keygen_instance (next attempt)", ns[0].call(&mut rt, "start_keygen_instance", &next));
    }
}
