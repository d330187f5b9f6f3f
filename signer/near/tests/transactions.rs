//! The near-api-js transfer vector (bytes, hash, signature) and `respond` args.

use tdsigner_near::crypto::{verify, PublicKey};
use tdsigner_near::hash::CryptoHash;
use tdsigner_near::sign_request::{derive_tweak, Payload, SignRequest};
use tdsigner_near::tx::{respond_args, respond_transaction, Action, Secp256k1Response, SigningKey, Transaction};

const NEAR_API_JS_HEX: &str = "09000000746573742e6e65617200917b3d268d4b58f7fec1b150bd68d69be3ee5d4cc39855e341538465bb77860d01000000000000000d00000077686174657665722e6e6561720fa473fd26901df296be6adc4cc4df34d040efa2435224b6986910e630c2fef6010000000301000000000000000000000000000000";
/// The secret key of ed25519:Anu7… used by the near-api-js / wallet-core NEAR tests.
const SECRET: &str = "ed25519:3hoMW1HvnRLSFCLZnvPzWeoGwtdHzke34B2cTHM8rhcbG3TbuLKtShTv3DvyejnXKXKBiV7YPkLeqUHN1ghnqpFv";

fn transfer_tx() -> Transaction {
    Transaction {
        signer_id: "test.near".into(),
        public_key: PublicKey::parse("ed25519:Anu7LYDfpLtkP7E16LT9imXF694BdQaa9ufVkQiwTQxC").unwrap(),
        nonce: 1,
        receiver_id: "whatever.near".into(),
        block_hash: CryptoHash::from_base58("244ZQ9cgj3CQ6bWBdytfrJMuMQ1jdXLFGnr4HhvtCTnM").unwrap(),
        actions: vec![Action::Transfer { deposit: 1 }],
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn near_api_js_vector_bytes() {
    assert_eq!(hex(&transfer_tx().to_bytes()), NEAR_API_JS_HEX);
}

#[test]
fn near_api_js_vector_hash_and_signature() {
    // Independent checks: the secret's public half derives from its seed and is
    // the vector's key; the hash is sha256 of the bytes; the signature verifies.
    let key = SigningKey::from_near_secret(SECRET).expect("seed derives the stored public key");
    assert_eq!(key.public_key(), transfer_tx().public_key);
    let signed = transfer_tx().sign(&key).unwrap();
    let bytes = (0..NEAR_API_JS_HEX.len()).step_by(2).map(|i| u8::from_str_radix(&NEAR_API_JS_HEX[i..i + 2], 16).unwrap()).collect::<Vec<_>>();
    assert_eq!(signed.hash, CryptoHash::digest(&bytes));
    assert_eq!(hex(&signed.hash.0), "eea6e680f3ea51a7f667e9a801d0bfadf66e03d41ed54975b3c6006351461b32");
    verify(&key.public_key(), &signed.hash.0, &signed.signature).unwrap();
    // ed25519 is deterministic: this is the signed transaction wallet-core's NEAR test expects.
    assert_eq!(
        signed.to_base64(),
        "CQAAAHRlc3QubmVhcgCRez0mjUtY9/7BsVC9aNab4+5dTMOYVeNBU4Rlu3eGDQEAAAAAAAAADQAAAHdoYXRldmVyLm5lYXIPpHP9JpAd8pa+atxMxN800EDvokNSJLaYaRDmMML+9gEAAAADAQAAAAAAAAAAAAAAAAAAAACWmoMzIYbul1Xkg5MlUlgG4Ymj0tK7S0dg6URD6X4cTyLe7vAFmo6XExAO2m4ZFE2n6KDvflObIHCLodjQIb0B"
    );
    assert_eq!(&signed.bytes[..bytes.len()], &bytes[..]);
    assert_eq!(signed.bytes[bytes.len()], 0);
    // A key that is not the tx's key is refused.
    assert!(transfer_tx().sign(&SigningKey::from_seed(&[9; 32])).is_err());
    // A secret whose public half does not match its seed is refused.
    assert!(SigningKey::from_near_secret("ed25519:3hoMW1HvnRLSFCLZnvPzWeoGwtdHzke34B2cTHM8rhcbG3TbuLKtShTv3DvyejnXKXKBiV7YPkLeqUHN1ghnqpFw").is_none());
}

fn request() -> SignRequest {
    SignRequest {
        request_id: CryptoHash([1; 32]),
        receipt_id: CryptoHash([2; 32]),
        predecessor: "dwefqwg".into(),
        path: "frwewegwegweg".into(),
        payload: Payload::Ecdsa([0xab; 32]),
        domain_id: 0,
        tweak: derive_tweak("dwefqwg", "frwewegwegweg"),
        entropy: [3; 32],
        entropy_block: CryptoHash([4; 32]),
        proven_in: CryptoHash([5; 32]),
    }
}

#[test]
fn respond_args_shape() {
    let resp = Secp256k1Response { big_r: [2; 33], s: [0x11; 32], recovery_id: 1 };
    let v: serde_json::Value = serde_json::from_slice(&respond_args(&request(), &resp)).unwrap();
    let tweak: Vec<u64> = v["request"]["tweak"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    assert_eq!(tweak.len(), 32);
    assert_eq!(tweak[0], 0xad);
    assert_eq!(v["request"]["payload"]["Ecdsa"], "ab".repeat(32));
    assert_eq!(v["request"]["domain_id"], 0);
    assert_eq!(v["response"]["scheme"], "Secp256k1");
    assert_eq!(v["response"]["big_r"]["affine_point"], "02".repeat(33));
    assert_eq!(v["response"]["s"]["scalar"], "11".repeat(32));
    assert_eq!(v["response"]["recovery_id"], 1);
    let key = SigningKey::from_seed(&[7; 32]);
    let tx = respond_transaction("node.near".into(), &key, 5, "v1.signer".into(), CryptoHash([0; 32]), &request(), &resp);
    match &tx.actions[0] {
        Action::FunctionCall { method_name, gas, deposit, .. } => {
            assert_eq!(method_name, "respond");
            assert_eq!(*gas, 300_000_000_000_000);
            assert_eq!(*deposit, 0);
        }
        other => panic!("{other:?}"),
    }
    tx.sign(&key).unwrap();
}
