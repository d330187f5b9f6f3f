//! The deployed `v1.signer` binaries (3.14.0, mainnet; 3.14.1, testnet)
//! executed on the simulator's NEAR host-function runtime: init, the
//! `state` view, sign → yield → respond → resume, the yield timeout, and
//! the attestation gate on `respond`. Argument shapes are near/mpc's 3.14
//! DTOs (crates/near-mpc-contract-interface), written here as JSON.

use k256::ecdsa::SigningKey;
use k256::elliptic_curve::PrimeField;
use serde_json::{json, Value};
use sha2::Digest;
use std::path::Path;
use tdsigner_chain_sim::keys::{PublicKey, SecretKey};

use tdsigner_chain_sim::wasm::deployed::{ContractChoice, DeployedError};
use tdsigner_chain_sim::wasm::{ContractCode, ContractRuntime, FunctionCallTx, RuntimeConfig, TxStatus};

const TGAS: u64 = 1_000_000_000_000;
const CONTRACT: &str = "v1.signer-sim.test";

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/near-mpc/contracts")
}

/// Both deployed releases, by version.
const BINARIES: [&str; 2] = ["3.14.0", "3.14.1"];

fn load(version: &str) -> ContractCode {
    let choice = ContractChoice::parse(version);
    assert!(matches!(choice, ContractChoice::Release(_)), "{version} is a known release");
    choice.load(&fixtures()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_binary_that_is_not_the_release_is_refused_and_paths_load() {
    let dir = std::env::temp_dir().join(format!("chain-sim-deployed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let real = std::fs::read(fixtures().join("signer-3_14_0.wasm")).unwrap();
    std::fs::write(dir.join("signer-3_14_1.wasm"), &real).unwrap();
    let err = ContractChoice::parse("3.14.1").load(&dir).err().expect("3.14.0 bytes under the 3.14.1 name");
    assert!(matches!(err, DeployedError::Sha256Mismatch { .. }), "{err}");
    let by_path = ContractChoice::parse(dir.join("signer-3_14_1.wasm").to_str().unwrap());
    let code = by_path.load(Path::new("/nonexistent")).unwrap();
    assert!(by_path.describe(&code).contains("sha256=c64ecba185096c6a"));
    std::fs::remove_dir_all(&dir).unwrap();
}

struct Participant {
    account: String,
    account_key: SecretKey,
    tls_key: SecretKey,
}

impl Participant {
    fn borsh_pk(&self) -> Vec<u8> {
        match self.account_key.public_key() {
            PublicKey::Ed25519(k) => [&[0u8][..], &k].concat(),
            PublicKey::Secp256k1(k) => [&[1u8][..], &k].concat(),
        }
    }
}

fn participants(n: usize) -> Vec<Participant> {
    (0..n)
        .map(|i| Participant {
            account: format!("p{i}.sim.test"),
            account_key: SecretKey::from_seed(&[i as u8 + 1; 32]),
            tls_key: SecretKey::from_seed(&[i as u8 + 101; 32]),
        })
        .collect()
}

fn parameters(ps: &[Participant], threshold: u64) -> Value {
    let list: Vec<Value> = ps
        .iter()
        .enumerate()
        .map(|(i, p)| json!([p.account, i, {"url": format!("https://{}:443", p.account), "tls_public_key": p.tls_key.public_key().to_text()}]))
        .collect();
    json!({"participants": {"next_id": ps.len(), "participants": list}, "threshold": threshold})
}

fn tx(signer: &str, pk: Vec<u8>, method: &str, args: Value, deposit: u128) -> FunctionCallTx {
    FunctionCallTx {
        signer_id: signer.to_string(),
        signer_pk: pk,
        method: method.to_string(),
        args: args.to_string().into_bytes(),
        deposit,
        gas: 300 * TGAS,
    }
}

fn contract_key() -> Vec<u8> {
    [&[0u8][..], &[42u8; 32]].concat()
}

fn runtime(code: ContractCode) -> ContractRuntime {
    ContractRuntime::new(code, RuntimeConfig { contract_account: CONTRACT.into(), ..RuntimeConfig::default() })
}

fn success(rt: &ContractRuntime, tx: u64) -> Vec<u8> {
    match rt.tx_status(tx) {
        TxStatus::Success(v) => v,
        other => panic!("tx {tx}: {other:?}; logs {:?}", rt.tx_logs(tx)),
    }
}

#[test]
fn both_binaries_import_only_linked_env_functions() {
    for file in BINARIES {
        let code = load(file);
        let imports = code.imports();
        assert_eq!(imports.len(), 48, "{file}");
        for (module, name) in &imports {
            assert_eq!(module, "env");
            assert!(tdsigner_chain_sim::wasm::imports::ENV_FUNCTIONS.contains(&name.as_str()), "{name}");
        }
        let exports = code.exports();
        for method in ["init", "init_running", "state", "sign", "respond", "submit_participant_info", "get_attestation"]
        {
            assert!(exports.iter().any(|e| e == method), "{file} lacks {method}");
        }
    }
}

#[test]
fn init_then_state_view_is_running_with_the_participants() {
    for file in BINARIES {
        let mut rt = runtime(load(file));
        let ps = participants(4);
        let t = rt.submit(tx(
            CONTRACT,
            contract_key(),
            "init",
            json!({"parameters": parameters(&ps, 3), "init_config": null}),
            0,
        ));
        success(&rt, t);
        assert!(
            rt.tx_logs(t).iter().any(|l| l.starts_with("init: signer=v1.signer-sim.test, num_participants=4")),
            "{:?}",
            rt.tx_logs(t)
        );
        let view = rt.view("state", b"{}").unwrap();
        let state: Value = serde_json::from_slice(&view.value).unwrap();
        let running = &state["Running"];
        assert_eq!(running["parameters"]["threshold"], json!(3), "{file}: {state}");
        let listed = running["parameters"]["participants"]["participants"].as_array().unwrap();
        assert_eq!(listed.len(), 4);
        for (i, p) in ps.iter().enumerate() {
            assert_eq!(listed[i][0], json!(p.account));
            assert_eq!(listed[i][2]["tls_public_key"], json!(p.tls_key.public_key().to_text()));
        }
        // No domain yet: sign is refused by the contract itself.
        let s = rt.submit(tx("user.sim.test", contract_key(), "sign", sign_args(&[1u8; 32]), 1));
        assert!(rt.tx_logs(s).iter().any(|l| l.starts_with("sign: predecessor=")));
        match rt.tx_status(s) {
            TxStatus::Failure(e) => assert!(e.contains("The provided domain ID, 0, was not found."), "{e}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(rt.credited.get("user.sim.test"), Some(&1), "a failed call's deposit is refunded");
    }
}

#[test]
fn init_rejects_a_threshold_below_sixty_percent() {
    let file = BINARIES[1];
    let mut rt = runtime(load(file));
    let t = rt.submit(tx(
        CONTRACT,
        contract_key(),
        "init",
        json!({"parameters": parameters(&participants(4), 2), "init_config": null}),
        0,
    ));
    match rt.tx_status(t) {
        TxStatus::Failure(e) => assert!(e.contains("require at least 3, found 2"), "{e}"),
        other => panic!("{other:?}"),
    }
    // Nothing was stored: the contract has no state to view.
    let error = rt.view("state", b"{}").unwrap_err();
    assert!(error.to_string().contains("Calling default not allowed."), "{error}");
}

fn sign_args(payload: &[u8; 32]) -> Value {
    json!({"request": {"path": "test", "payload_v2": {"Ecdsa": tdsigner_chain_sim::hex::encode(payload)}, "domain_id": 0}})
}

/// `init_running` (private: called by the contract account) with domain 0,
/// Secp256k1/CaitSith, whose key is `root`'s public key.
fn running_with_key(file: &str, ps: &[Participant], root: &SigningKey) -> ContractRuntime {
    let mut rt = runtime(load(file));
    let point = root.verifying_key().to_encoded_point(false);
    let near_pk = format!("secp256k1:{}", bs58::encode(&point.as_bytes()[1..]).into_string());
    let args = json!({
        "domains": [{"id": 0, "protocol": "CaitSith", "reconstruction_threshold": 3, "purpose": "Sign"}],
        "next_domain_id": 1,
        "keyset": {"epoch_id": 0, "domains": [{"domain_id": 0, "key": {"Secp256k1": {"near_public_key": near_pk}}, "attempt": 0}]},
        "parameters": parameters(ps, 3),
        "init_config": null,
    });
    let t = rt.submit(tx(CONTRACT, contract_key(), "init_running", args, 0));
    success(&rt, t);
    rt
}

/// The request the yield's callback carries, and the signature an MPC
/// network holding `root` would produce for it.
fn respond_args(rt: &ContractRuntime, root: &SigningKey) -> Value {
    let (_, args) = rt
        .waiting_calls()
        .into_iter()
        .find(|(m, _)| m == "return_signature_and_clean_state_on_success")
        .expect("a waiting yield callback");
    let args: Value = serde_json::from_slice(&args).unwrap();
    let request = args[0].clone();
    // The contract serialises its tweak as a JSON array of 32 bytes.
    let tweak: Vec<u8> =
        serde_json::from_value(request["tweak"].clone()).unwrap_or_else(|e| panic!("tweak: {e}: {request}"));
    let tweak: [u8; 32] = tweak.try_into().unwrap();
    let payload: [u8; 32] =
        tdsigner_chain_sim::hex::decode_fixed(request["payload"]["Ecdsa"].as_str().unwrap()).unwrap();
    let tweak = Option::<k256::Scalar>::from(k256::Scalar::from_repr(tweak.into())).unwrap();
    let secret =
        Option::<k256::NonZeroScalar>::from(k256::NonZeroScalar::new(*root.as_nonzero_scalar().as_ref() + tweak))
            .unwrap();
    let derived = SigningKey::from(secret);
    let (sig, recid) = derived.sign_prehash_recoverable(&payload).unwrap();
    let mut big_r = vec![0x02 | (recid.to_byte() & 1)];
    big_r.extend_from_slice(&sig.r().to_bytes());
    json!({
        "request": request,
        "response": {"scheme": "Secp256k1", "big_r": {"affine_point": tdsigner_chain_sim::hex::encode(&big_r)},
                     "s": {"scalar": tdsigner_chain_sim::hex::encode(&sig.s().to_bytes())}, "recovery_id": recid.to_byte()},
    })
}

fn attest_mock(rt: &mut ContractRuntime, p: &Participant) {
    let args = json!({"proposed_participant_attestation": {"Mock": "Valid"}, "tls_public_key": p.tls_key.public_key().to_text()});
    let t = rt.submit(tx(&p.account, p.borsh_pk(), "submit_participant_info", args, 0));
    success(rt, t);
}

#[test]
fn sign_yields_and_an_attested_respond_resumes_it() {
    for file in BINARIES {
        let root = SigningKey::from_slice(&sha2::Sha256::digest(b"root key")).unwrap();
        let ps = participants(4);
        let mut rt = running_with_key(file, &ps, &root);
        attest_mock(&mut rt, &ps[0]);
        // The attestation view names no account (issue #15: the node must
        // recognise its attestation by parsed fields, not by its account id).
        let query = json!({"tls_public_key": ps[0].tls_key.public_key().to_text()}).to_string();
        let attestation = rt.view("get_attestation", query.as_bytes()).unwrap();
        let text = String::from_utf8(attestation.value).unwrap();
        assert!(!text.contains(&ps[0].account), "{text}");
        // A `{"Mock":"Valid"}` submission is stored with an expiry (7 days
        // after submission in 3.14.0, 21 days in 3.14.1).
        let stored: Value = serde_json::from_str(&text).unwrap();
        let expiry = stored["Mock"]["WithConstraints"]["expiry_timestamp_seconds"].as_u64();
        let now = rt.timestamp_ns / 1_000_000_000;
        assert!(expiry.is_some_and(|e| e >= now + 7 * 86_400), "{file}: {text}");
        let payload = [7u8; 32];
        // 1 yoctoNEAR is the minimum deposit; the contract refunds the rest
        // with a transfer receipt.
        let s = rt.submit(tx("user.sim.test", contract_key(), "sign", sign_args(&payload), 1_000));
        assert!(
            rt.tx_logs(s).iter().any(|l| l.starts_with("sign: predecessor=AccountId(\"user.sim.test\")")),
            "{:?}",
            rt.tx_logs(s)
        );
        assert_eq!(rt.credited.get("user.sim.test"), Some(&999), "refund of the excess deposit");
        assert_eq!(rt.tx_status(s), TxStatus::Pending);
        assert_eq!(rt.open_yields().len(), 1);
        let args = respond_args(&rt, &root);
        // Not yet attested with its own key: p1 is refused.
        let refused = rt.submit(tx(&ps[1].account, ps[1].borsh_pk(), "respond", args.clone(), 0));
        match rt.tx_status(refused) {
            TxStatus::Failure(e) => assert!(e.contains("attested participant"), "{e}"),
            other => panic!("{other:?}"),
        }
        let r = rt.submit(tx(&ps[0].account, ps[0].borsh_pk(), "respond", args.clone(), 0));
        success(&rt, r);
        let signature: Value = serde_json::from_slice(&success(&rt, s)).unwrap();
        assert_eq!(signature, args["response"], "{file}");
        assert!(rt.open_yields().is_empty());
    }
}

#[test]
fn an_unanswered_sign_fails_after_the_yield_timeout() {
    for file in BINARIES {
        let root = SigningKey::from_slice(&[0x11; 32]).unwrap();
        let ps = participants(4);
        let mut rt = running_with_key(file, &ps, &root);
        let timeout = rt.config.yield_timeout_blocks;
        let s = rt.submit(tx("user.sim.test", contract_key(), "sign", sign_args(&[9u8; 32]), 1));
        rt.produce_blocks(timeout - 1);
        assert_eq!(rt.tx_status(s), TxStatus::Pending);
        rt.produce_blocks(1);
        match rt.tx_status(s) {
            TxStatus::Failure(e) => assert!(e.ends_with("Request has timed out."), "{e}"),
            other => panic!("{file}: {other:?}"),
        }
        assert!(rt.open_yields().is_empty());
        // The pending request was cleaned: a late respond finds nothing.
        assert!(rt.waiting_calls().is_empty());
    }
}

fn call_as(rt: &mut ContractRuntime, p: &Participant, method: &str, args: Value) {
    let t = rt.submit(tx(&p.account, p.borsh_pk(), method, args, 0));
    if let TxStatus::Failure(e) = rt.tx_status(t) {
        let state = rt.view("state", b"{}").map(|v| String::from_utf8_lossy(&v.value).into_owned());
        panic!("{method} by {}: {e}; state {state:?}", p.account);
    }
}

fn state_json(rt: &ContractRuntime) -> Value {
    serde_json::from_slice(&rt.view("state", b"{}").unwrap().value).unwrap()
}

/// The network's own flow: all participants vote a domain in, the leader starts
/// keygen, every participant votes the public key; then a sign is answered.
#[test]
fn keygen_by_participant_votes_then_a_sign_is_answered() {
    for file in BINARIES {
        let mut rt = runtime(load(file));
        let ps = participants(4);
        let t = rt.submit(tx(
            CONTRACT,
            contract_key(),
            "init",
            json!({"parameters": parameters(&ps, 3), "init_config": null}),
            0,
        ));
        success(&rt, t);
        for p in &ps {
            attest_mock(&mut rt, p);
        }
        let domain =
            json!({"domains": [{"id": 0, "protocol": "CaitSith", "reconstruction_threshold": 3, "purpose": "Sign"}]});
        // Adding domains needs every participant's vote, not the threshold's.
        for p in &ps[..3] {
            call_as(&mut rt, p, "vote_add_domains", domain.clone());
            assert!(state_json(&rt).get("Running").is_some(), "{file}: {} of 4 votes must not suffice", p.account);
        }
        call_as(&mut rt, &ps[3], "vote_add_domains", domain);
        assert!(state_json(&rt).get("Initializing").is_some(), "{file}: {}", state_json(&rt));
        let root = SigningKey::from_slice(&[0x21; 32]).unwrap();
        let point = root.verifying_key().to_encoded_point(false);
        let near_pk = format!("secp256k1:{}", bs58::encode(&point.as_bytes()[1..]).into_string());
        let event = json!({"epoch_id": 0, "domain_id": 0, "attempt_id": 0});
        call_as(&mut rt, &ps[0], "start_keygen_instance", json!({"key_event_id": event}));
        for p in &ps {
            call_as(&mut rt, p, "vote_pk", json!({"key_event_id": event, "public_key": near_pk}));
        }
        let state = state_json(&rt);
        let keyset = &state["Running"]["keyset"];
        assert_eq!(keyset["domains"][0]["key"]["Secp256k1"]["near_public_key"], json!(near_pk), "{file}: {state}");
        let s = rt.submit(tx("user.sim.test", contract_key(), "sign", sign_args(&[3u8; 32]), 1));
        let args = respond_args(&rt, &root);
        let r = rt.submit(tx(&ps[3].account, ps[3].borsh_pk(), "respond", args.clone(), 0));
        success(&rt, r);
        let signature: Value = serde_json::from_slice(&success(&rt, s)).unwrap();
        assert_eq!(signature, args["response"]);
    }
}
