//! Transactions: `Transaction` V0, `SignedTransaction`, the actions the signer
//! uses (FunctionCall, Transfer), ed25519 signing, the tx hash, the `respond`
//! arguments near/mpc expects, and the access-key nonce rule.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use zeroize::Zeroizing;

use crate::borsh::Writer;
use crate::crypto::{PublicKey, Signature};
use crate::hash::CryptoHash;
use crate::sign_request::{Payload, SignRequest};

/// 300 TGas, what the MPC node attaches to `respond`.
pub const RESPOND_GAS: u64 = 300_000_000_000_000;

/// An action of a transaction (only those the signer sends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Tag 2.
    FunctionCall { method_name: String, args: Vec<u8>, gas: u64, deposit: u128 },
    /// Tag 3.
    Transfer { deposit: u128 },
}

impl Action {
    fn encode(&self, w: &mut Writer) {
        match self {
            Self::FunctionCall { method_name, args, gas, deposit } => {
                w.u8(2).string(method_name).bytes(args).u64(*gas).u128(*deposit);
            }
            Self::Transfer { deposit } => {
                w.u8(3).u128(*deposit);
            }
        }
    }
}

/// `Transaction::V0` (borsh has no version tag for V0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub signer_id: String,
    pub public_key: PublicKey,
    pub nonce: u64,
    pub receiver_id: String,
    pub block_hash: CryptoHash,
    pub actions: Vec<Action>,
}

impl Transaction {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.string(&self.signer_id);
        self.public_key.encode(&mut w);
        w.u64(self.nonce).string(&self.receiver_id).raw(&self.block_hash.0);
        w.len(self.actions.len());
        for a in &self.actions {
            a.encode(&mut w);
        }
        w.finish()
    }

    /// `sha256(borsh(tx))`: what is signed and the id `send_tx` reports.
    pub fn hash(&self) -> CryptoHash {
        CryptoHash::digest(&self.to_bytes())
    }

    /// Signs with `key` (must be the key named in `public_key`).
    pub fn sign(&self, key: &SigningKey) -> Result<SignedTransaction, TxError> {
        if PublicKey::Ed25519(key.public_key_bytes()) != self.public_key {
            return Err(TxError::KeyMismatch);
        }
        let hash = self.hash();
        let signature = key.sign(&hash.0);
        let mut w = Writer::new();
        w.raw(&self.to_bytes());
        signature.encode(&mut w);
        Ok(SignedTransaction { hash, signature, bytes: w.finish() })
    }
}

/// A signed transaction, ready for `send_tx`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTransaction {
    pub hash: CryptoHash,
    pub signature: Signature,
    /// `borsh(tx) ‖ borsh(signature)`.
    pub bytes: Vec<u8>,
}

impl SignedTransaction {
    pub fn to_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&self.bytes)
    }
}

/// Why a transaction could not be built or signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxError {
    /// The signing key is not the transaction's `public_key`.
    KeyMismatch,
    /// `height × 1e6` overflows u64.
    NonceOverflow,
}

impl fmt::Display for TxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyMismatch => f.write_str("signing key does not match the transaction's public key"),
            Self::NonceOverflow => f.write_str("nonce overflows"),
        }
    }
}

/// An ed25519 account key. The seed is zeroized on drop and never printed.
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
}

impl SigningKey {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self { inner: ed25519_dalek::SigningKey::from_bytes(seed) }
    }

    /// Parses NEAR's `ed25519:<base58 of seed‖public>` secret-key text; the
    /// public half must match the seed.
    pub fn from_near_secret(text: &str) -> Option<Self> {
        let b58 = text.strip_prefix("ed25519:").unwrap_or(text);
        let mut buf = Zeroizing::new([0u8; 64]);
        let n = bs58::decode(b58).onto(&mut buf[..]).ok()?;
        if n != 64 {
            return None;
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&buf[..32]);
        let key = Self::from_seed(&seed);
        (key.public_key_bytes()[..] == buf[32..]).then_some(key)
    }

    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.inner.verifying_key().to_bytes()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey::Ed25519(self.public_key_bytes())
    }

    pub fn sign(&self, msg: &[u8]) -> Signature {
        use ed25519_dalek::Signer;
        Signature::Ed25519(self.inner.sign(msg).to_bytes())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.public_key())
    }
}

/// Access-key nonce rule of the MPC node: `max(height × 1e6, previous + 1)`.
pub fn next_nonce(block_height: u64, previous: u64) -> Result<u64, TxError> {
    let floor = block_height.checked_mul(1_000_000).ok_or(TxError::NonceOverflow)?;
    let next = previous.checked_add(1).ok_or(TxError::NonceOverflow)?;
    Ok(floor.max(next))
}

/// A secp256k1 signature share result as `respond` takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secp256k1Response {
    /// SEC1-compressed R.
    pub big_r: [u8; 33],
    /// Big-endian s.
    pub s: [u8; 32],
    pub recovery_id: u8,
}

fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(D[usize::from(b >> 4)]));
        s.push(char::from(D[usize::from(b & 15)]));
    }
    s
}

/// JSON arguments of `respond(request: SignatureRequest, response: SignatureResponse)`:
/// `{"request":{"tweak":[..32 ints],"payload":{"Ecdsa":"<hex>"},"domain_id":N},
///   "response":{"scheme":"Secp256k1","big_r":{"affine_point":"<hex33>"},"s":{"scalar":"<hex32>"},"recovery_id":N}}`.
pub fn respond_args(request: &SignRequest, response: &Secp256k1Response) -> Vec<u8> {
    use serde_json::json;
    let payload = match &request.payload {
        Payload::Ecdsa(p) => json!({ "Ecdsa": hex(p) }),
        Payload::Eddsa(p) => json!({ "Eddsa": hex(p) }),
    };
    let v = json!({
        "request": {
            "tweak": request.tweak.to_vec(),
            "payload": payload,
            "domain_id": request.domain_id,
        },
        "response": {
            "scheme": "Secp256k1",
            "big_r": { "affine_point": hex(&response.big_r) },
            "s": { "scalar": hex(&response.s) },
            "recovery_id": response.recovery_id,
        }
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The `respond` transaction: V0, 300 TGas, deposit 0, from the node's
/// function-call access key to the signer contract.
pub fn respond_transaction(
    signer_id: String,
    key: &SigningKey,
    nonce: u64,
    contract: String,
    block_hash: CryptoHash,
    request: &SignRequest,
    response: &Secp256k1Response,
) -> Transaction {
    Transaction {
        signer_id,
        public_key: key.public_key(),
        nonce,
        receiver_id: contract,
        block_hash,
        actions: alloc::vec![Action::FunctionCall {
            method_name: String::from("respond"),
            args: respond_args(request, response),
            gas: RESPOND_GAS,
            deposit: 0,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_rule() {
        assert_eq!(next_nonce(10, 5).unwrap(), 10_000_000);
        assert_eq!(next_nonce(10, 10_000_000).unwrap(), 10_000_001);
        assert_eq!(next_nonce(u64::MAX, 0), Err(TxError::NonceOverflow));
        assert_eq!(next_nonce(0, u64::MAX), Err(TxError::NonceOverflow));
    }
}
