//! Transactions from the network: borsh `SignedTransaction` (Transaction V0
//! and the actions NEAR defines up to `DeleteAccount`), decoded with bounds
//! and typed errors; the hash (`sha256(borsh(tx))`) and an encoder (the admin
//! API signs transactions for test users with it).
//!
//! Not decoded: Transaction V1 (leading tag byte 1) and `Delegate`/global
//! contract actions (tags ≥ 8); both are refused with a typed error.

use std::fmt;

use crate::borsh::{DecodeError, Decoder, Encoder};
use crate::hash::Hash;
use crate::keys::{PublicKey, SecretKey, Signature};

/// nearcore's `max_transaction_size` (1.5 MiB).
pub const MAX_TX_BYTES: usize = 1_572_864;
/// nearcore's `max_actions_per_receipt`.
pub const MAX_ACTIONS: u32 = 100;
/// nearcore's `max_length_method_name`.
pub const MAX_METHOD_NAME: u32 = 256;
/// Longest account id.
pub const MAX_ACCOUNT_ID: u32 = 64;
/// Bound on function-call method names in an access key.
pub const MAX_KEY_METHOD_NAMES: u32 = 64;

/// Access-key permission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Permission {
    FunctionCall { allowance: Option<u128>, receiver_id: String, method_names: Vec<String> },
    FullAccess,
}

impl Permission {
    fn encode(&self, e: &mut Encoder) {
        match self {
            Self::FunctionCall { allowance, receiver_id, method_names } => {
                e.u8(0);
                match allowance {
                    None => e.u8(0),
                    Some(a) => e.u8(1).u128(*a),
                };
                e.string(receiver_id).len(method_names.len());
                for m in method_names {
                    e.string(m);
                }
            }
            Self::FullAccess => {
                e.u8(1);
            }
        }
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        match d.tag(1)? {
            0 => {
                let allowance = if d.bool()? { Some(d.u128()?) } else { None };
                let receiver_id = d.string(MAX_ACCOUNT_ID)?;
                let n = d.len(MAX_KEY_METHOD_NAMES)?;
                let mut method_names = Vec::with_capacity(n);
                for _ in 0..n {
                    method_names.push(d.string(MAX_METHOD_NAME)?);
                }
                Ok(Self::FunctionCall { allowance, receiver_id, method_names })
            }
            _ => Ok(Self::FullAccess),
        }
    }
}

/// An action, as borsh tags them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    CreateAccount,
    DeployContract { code: Vec<u8> },
    FunctionCall { method_name: String, args: Vec<u8>, gas: u64, deposit: u128 },
    Transfer { deposit: u128 },
    Stake { stake: u128, public_key: PublicKey },
    AddKey { public_key: PublicKey, nonce: u64, permission: Permission },
    DeleteKey { public_key: PublicKey },
    DeleteAccount { beneficiary_id: String },
}

impl Action {
    pub fn encode(&self, e: &mut Encoder) {
        match self {
            Self::CreateAccount => {
                e.u8(0);
            }
            Self::DeployContract { code } => {
                e.u8(1).bytes(code);
            }
            Self::FunctionCall { method_name, args, gas, deposit } => {
                e.u8(2).string(method_name).bytes(args).u64(*gas).u128(*deposit);
            }
            Self::Transfer { deposit } => {
                e.u8(3).u128(*deposit);
            }
            Self::Stake { stake, public_key } => {
                e.u8(4).u128(*stake);
                public_key.encode(e);
            }
            Self::AddKey { public_key, nonce, permission } => {
                e.u8(5);
                public_key.encode(e);
                e.u64(*nonce);
                permission.encode(e);
            }
            Self::DeleteKey { public_key } => {
                e.u8(6);
                public_key.encode(e);
            }
            Self::DeleteAccount { beneficiary_id } => {
                e.u8(7).string(beneficiary_id);
            }
        }
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let offset = d.offset();
        let tag = d.u8()?;
        Ok(match tag {
            0 => Self::CreateAccount,
            1 => Self::DeployContract { code: d.bytes(MAX_TX_BYTES as u32)?.to_vec() },
            2 => Self::FunctionCall {
                method_name: d.string(MAX_METHOD_NAME)?,
                args: d.bytes(MAX_TX_BYTES as u32)?.to_vec(),
                gas: d.u64()?,
                deposit: d.u128()?,
            },
            3 => Self::Transfer { deposit: d.u128()? },
            4 => Self::Stake { stake: d.u128()?, public_key: PublicKey::decode(d)? },
            5 => Self::AddKey { public_key: PublicKey::decode(d)?, nonce: d.u64()?, permission: Permission::decode(d)? },
            6 => Self::DeleteKey { public_key: PublicKey::decode(d)? },
            7 => Self::DeleteAccount { beneficiary_id: d.string(MAX_ACCOUNT_ID)? },
            _ => return Err(DecodeError::BadTag { offset, tag }),
        })
    }

    /// The action's name as nearcore's views print it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CreateAccount => "CreateAccount",
            Self::DeployContract { .. } => "DeployContract",
            Self::FunctionCall { .. } => "FunctionCall",
            Self::Transfer { .. } => "Transfer",
            Self::Stake { .. } => "Stake",
            Self::AddKey { .. } => "AddKey",
            Self::DeleteKey { .. } => "DeleteKey",
            Self::DeleteAccount { .. } => "DeleteAccount",
        }
    }
}

/// `Transaction::V0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub signer_id: String,
    pub public_key: PublicKey,
    pub nonce: u64,
    pub receiver_id: String,
    pub block_hash: Hash,
    pub actions: Vec<Action>,
}

impl Transaction {
    pub fn encode(&self, e: &mut Encoder) {
        e.string(&self.signer_id);
        self.public_key.encode(e);
        e.u64(self.nonce).string(&self.receiver_id).raw(&self.block_hash.0).len(self.actions.len());
        for a in &self.actions {
            a.encode(e);
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.encode(&mut e);
        e.finish()
    }

    pub fn hash(&self) -> Hash {
        Hash::digest(&self.to_bytes())
    }

    /// Signs with `key` (test users of the admin API).
    pub fn sign(self, key: &SecretKey) -> SignedTransaction {
        let bytes = self.to_bytes();
        let hash = Hash::digest(&bytes);
        let signature = key.sign(&hash.0);
        let mut e = Encoder::new();
        e.raw(&bytes);
        signature.encode(&mut e);
        let size = e.bytes.len();
        SignedTransaction { transaction: self, signature, hash, size }
    }
}

/// A decoded `SignedTransaction`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTransaction {
    pub transaction: Transaction,
    pub signature: Signature,
    /// `sha256(borsh(transaction))`.
    pub hash: Hash,
    /// Encoded size in bytes.
    pub size: usize,
}

impl SignedTransaction {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.transaction.encode(&mut e);
        self.signature.encode(&mut e);
        e.finish()
    }

    /// The signature check NEAR does: ed25519 over the tx hash with the
    /// transaction's own public key.
    pub fn signature_valid(&self) -> bool {
        self.transaction.public_key.verify(&self.hash.0, &self.signature)
    }
}

/// Why transaction bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxDecodeError {
    TooLarge { size: usize, limit: usize },
    /// Transaction V1 (leading tag 1): not supported by the simulator.
    UnsupportedVersion,
    Borsh(DecodeError),
}

impl From<DecodeError> for TxDecodeError {
    fn from(e: DecodeError) -> Self {
        Self::Borsh(e)
    }
}

impl fmt::Display for TxDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { size, limit } => write!(f, "transaction of {size} bytes exceeds {limit}"),
            Self::UnsupportedVersion => f.write_str("transaction V1 is not supported by the simulator"),
            Self::Borsh(e) => write!(f, "transaction does not decode: {e}"),
        }
    }
}

/// Decodes `borsh(SignedTransaction)`.
pub fn decode_signed_transaction(bytes: &[u8]) -> Result<SignedTransaction, TxDecodeError> {
    if bytes.len() > MAX_TX_BYTES {
        return Err(TxDecodeError::TooLarge { size: bytes.len(), limit: MAX_TX_BYTES });
    }
    if bytes.first() == Some(&1) {
        return Err(TxDecodeError::UnsupportedVersion);
    }
    let mut d = Decoder::new(bytes);
    let signer_id = d.string(MAX_ACCOUNT_ID)?;
    let public_key = PublicKey::decode(&mut d)?;
    let nonce = d.u64()?;
    let receiver_id = d.string(MAX_ACCOUNT_ID)?;
    let block_hash = Hash(d.array()?);
    let n = d.len(MAX_ACTIONS)?;
    let mut actions = Vec::with_capacity(n);
    for _ in 0..n {
        actions.push(Action::decode(&mut d)?);
    }
    let tx_end = d.offset();
    let signature = Signature::decode(&mut d)?;
    d.finish()?;
    let tx_bytes = bytes.get(..tx_end).ok_or(TxDecodeError::Borsh(DecodeError::Truncated { offset: 0, wanted: tx_end }))?;
    Ok(SignedTransaction {
        transaction: Transaction { signer_id, public_key, nonce, receiver_id, block_hash, actions },
        signature,
        hash: Hash::digest(tx_bytes),
        size: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// The near-api-js transfer vector from FACTS.md decodes to the fields it
    /// was built from, and re-encodes byte for byte.
    #[test]
    fn near_api_js_transfer_vector() {
        let tx_hex = "09000000746573742e6e65617200917b3d268d4b58f7fec1b150bd68d69be3ee5d4cc39855e341538465bb77860d01000000000000000d00000077686174657665722e6e6561720fa473fd26901df296be6adc4cc4df34d040efa2435224b6986910e630c2fef6010000000301000000000000000000000000000000";
        let mut bytes = hex(tx_hex);
        bytes.push(0);
        bytes.extend_from_slice(&[7u8; 64]);
        let st = decode_signed_transaction(&bytes).unwrap();
        let t = &st.transaction;
        assert_eq!(t.signer_id, "test.near");
        assert_eq!(t.receiver_id, "whatever.near");
        assert_eq!(t.nonce, 1);
        assert_eq!(t.public_key, PublicKey::parse("ed25519:Anu7LYDfpLtkP7E16LT9imXF694BdQaa9ufVkQiwTQxC").unwrap());
        assert_eq!(t.block_hash, Hash::from_base58("244ZQ9cgj3CQ6bWBdytfrJMuMQ1jdXLFGnr4HhvtCTnM").unwrap());
        assert_eq!(t.actions, vec![Action::Transfer { deposit: 1 }]);
        assert_eq!(st.to_bytes(), bytes);
        assert_eq!(st.hash, Hash::digest(&hex(tx_hex)));
    }

    #[test]
    fn refuses_malformed() {
        assert_eq!(decode_signed_transaction(&[1, 2, 3]), Err(TxDecodeError::UnsupportedVersion));
        assert!(matches!(decode_signed_transaction(&[]), Err(TxDecodeError::Borsh(_))));
        assert!(matches!(decode_signed_transaction(&vec![0u8; MAX_TX_BYTES + 1]), Err(TxDecodeError::TooLarge { .. })));
        let k = SecretKey::derive(0, "u");
        let st = Transaction {
            signer_id: "alice.test".into(),
            public_key: k.public_key(),
            nonce: 5,
            receiver_id: "bob.test".into(),
            block_hash: Hash::ZERO,
            actions: vec![Action::FunctionCall { method_name: "m".into(), args: b"{}".to_vec(), gas: 1, deposit: 2 }],
        }
        .sign(&k);
        let b = st.to_bytes();
        let back = decode_signed_transaction(&b).unwrap();
        assert!(back.signature_valid());
        assert_eq!(back, st);
        let mut extra = b.clone();
        extra.push(0);
        assert!(matches!(decode_signed_transaction(&extra), Err(TxDecodeError::Borsh(DecodeError::TrailingBytes { .. }))));
        for cut in 0..b.len() {
            assert!(decode_signed_transaction(&b[..cut]).is_err());
        }
    }
}
