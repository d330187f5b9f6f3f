//! near/mpc's P2P `Packet` and everything inside it, with near's borsh layouts.
//!
//! Owns the payload of one frame: the three packet kinds (`Ping`, `MpcMessage`,
//! `IndexerHeight`), the MPC message kinds, and every task id near's node starts
//! (ECDSA/CaitSith, EdDSA/FROST, CKD, robust ECDSA, foreign-transaction verification).
//! Layouts follow borsh's rules (little-endian integers, `u8` variant tags in declaration
//! order, `u32` counts), except [`UniqueId`], which near writes as the 16 big-endian bytes of
//! its `u128`. Decoding refuses trailing bytes, as near's `try_from_slice` does, and is bounded
//! by the frame it reads from. Pinned to `../shared/oracles/p2p-vectors.json` in the tests.
use alloc::string::String;
use alloc::vec::Vec;
use borsh::{BorshDeserialize, BorshSerialize};

/// A channel or asset id: participant id, unix seconds and a counter packed in a `u128`
/// (`id << 96 | timestamp << 32 | counter`), serialized big-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UniqueId(pub u128);

impl UniqueId {
    pub fn new(participant_id: u32, timestamp: u64, counter: u32) -> Self {
        Self((u128::from(participant_id) << 96) | (u128::from(timestamp) << 32) | u128::from(counter))
    }
    pub fn participant_id(self) -> u32 {
        (self.0 >> 96) as u32
    }
    pub fn timestamp(self) -> u64 {
        (self.0 >> 32) as u64
    }
    pub fn counter(self) -> u32 {
        self.0 as u32
    }
    /// The id `n` places after this one, as near numbers the triples of a batch.
    pub fn add_to_counter(self, n: u32) -> Option<Self> {
        let counter = self.counter().checked_add(n)?;
        Some(Self::new(self.participant_id(), self.timestamp(), counter))
    }
}

impl BorshSerialize for UniqueId {
    fn serialize<W: borsh::io::Write>(&self, writer: &mut W) -> borsh::io::Result<()> {
        writer.write_all(&self.0.to_be_bytes())
    }
}

impl BorshDeserialize for UniqueId {
    fn deserialize_reader<R: borsh::io::Read>(reader: &mut R) -> borsh::io::Result<Self> {
        let mut bytes = [0u8; 16];
        reader.read_exact(&mut bytes)?;
        Ok(Self(u128::from_be_bytes(bytes)))
    }
}

/// A NEAR `CryptoHash`-backed id (signature, CKD and foreign-tx request ids): 32 raw bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct RequestId(pub [u8; 32]);

/// A key event: which epoch, domain and attempt a keygen or reshare belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct KeyEventId {
    pub epoch_id: u64,
    pub domain_id: u64,
    pub attempt_id: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum EcdsaTaskId {
    KeyGeneration { key_event: KeyEventId },
    KeyResharing { key_event: KeyEventId },
    ManyTriples { start: UniqueId, count: u32 },
    Presignature { id: UniqueId, domain_id: u64, paired_triple_id: UniqueId },
    Signature { id: RequestId, presignature_id: UniqueId },
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum EddsaTaskId {
    KeyGeneration { key_event: KeyEventId },
    KeyResharing { key_event: KeyEventId },
    Signature { id: RequestId },
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum CkdTaskId {
    KeyGeneration { key_event: KeyEventId },
    KeyResharing { key_event: KeyEventId },
    Ckd { id: RequestId },
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum RobustEcdsaTaskId {
    KeyGeneration { key_event: KeyEventId },
    KeyResharing { key_event: KeyEventId },
    Presignature { id: UniqueId, domain_id: u64 },
    Signature { id: RequestId, presignature_id: UniqueId },
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum VerifyForeignTxTaskId {
    VerifyForeignTx { id: RequestId, presignature_id: UniqueId },
}

/// Every computation a near/mpc node may start, tagged by domain family.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum MpcTaskId {
    EcdsaTaskId(EcdsaTaskId),
    EddsaTaskId(EddsaTaskId),
    CkdTaskId(CkdTaskId),
    RobustEcdsaTaskId(RobustEcdsaTaskId),
    VerifyForeignTxTaskId(VerifyForeignTxTaskId),
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MpcStartMessage {
    pub task_id: MpcTaskId,
    pub participants: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum MpcMessageKind {
    Start(MpcStartMessage),
    Computation(Vec<Vec<u8>>),
    Abort(String),
    Success,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MpcMessage {
    pub channel_id: UniqueId,
    pub kind: MpcMessageKind,
}

/// One frame's payload.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Packet {
    Ping,
    MpcMessage(MpcMessage),
    IndexerHeight { height: u64 },
}

/// Why a frame payload is not a `Packet` (near closes the connection for any of these).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PacketError {
    /// Empty payload: near's decoder fails on it too.
    Empty,
    /// Not a borsh `Packet`: unknown tag, short input, trailing bytes or invalid UTF-8.
    Malformed { len: usize },
}

impl core::fmt::Display for PacketError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Empty => f.write_str("empty packet"),
            Self::Malformed { len } => write!(f, "{len}-byte payload is not a near/mpc Packet"),
        }
    }
}

impl Packet {
    /// The borsh payload (without the frame header).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = self.serialize(&mut out);
        out
    }

    /// Decodes one payload; trailing bytes are refused.
    pub fn decode(payload: &[u8]) -> Result<Self, PacketError> {
        if payload.is_empty() {
            return Err(PacketError::Empty);
        }
        borsh::from_slice(payload).map_err(|_| PacketError::Malformed { len: payload.len() })
    }

    /// near's metric label for this packet.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::IndexerHeight { .. } => "indexer_height",
            Self::MpcMessage(m) => match m.kind {
                MpcMessageKind::Start(_) => "mpc_start",
                MpcMessageKind::Computation(_) => "mpc_computation",
                MpcMessageKind::Abort(_) => "mpc_abort",
                MpcMessageKind::Success => "mpc_success",
            },
        }
    }
}
