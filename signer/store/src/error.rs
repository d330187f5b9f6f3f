//! Errors of the sealed store. Every way the disk can disagree with what the store committed has
//! its own variant, with enough context (slot, block sequence number, sector) to say what happened.

use crate::device::DeviceError;
use crate::format::{HeaderFault, SlotFault};

/// Where in the log a fault was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockPos {
    /// Region (0 or 1) holding the log.
    pub region: u8,
    /// Sequence number the block at this position should have.
    pub seq: u64,
    /// Absolute sector of the block's header.
    pub sector: u64,
}

/// Which step of the store was talking to the device when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoStage {
    ReadSuperblock,
    ReadBlock,
    WriteBlock,
    WriteSuperblock,
    Flush,
}

/// Why a record cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFault {
    IdTooLong {
        len: usize,
        max: usize,
    },
    ValueTooLarge {
        len: usize,
        max: usize,
    },
    EmptyBatch,
    /// The whole commit would exceed the largest block the scanner accepts.
    BatchTooLarge {
        len: usize,
        max: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("block device failed during {stage:?}: {source}")]
    Device { stage: IoStage, source: DeviceError },
    #[error("device has {capacity_sectors} sectors; the store needs at least {minimum}")]
    DeviceTooSmall { capacity_sectors: u64, minimum: u64 },
    #[error("device holds no store (both superblock slots are blank)")]
    Blank,
    #[error("refusing to format: the device is not blank")]
    NotBlank,
    #[error("no valid superblock: slot A {slot_a:?}, slot B {slot_b:?}")]
    NoValidSuperblock {
        slot_a: Option<SlotFault>,
        slot_b: Option<SlotFault>,
    },
    #[error("both superblock slots claim generation {generation} with different contents")]
    InconsistentSuperblocks { generation: u64 },
    #[error("store format version {found} is not supported")]
    UnsupportedVersion { found: u16 },
    #[error("store belongs to another node identity")]
    NodeMismatch,
    #[error(
        "rollback: store generation {found} is older than the attested/published minimum {minimum}"
    )]
    Rollback { found: u64, minimum: u64 },
    #[error("superblock layout does not fit the device: needs {needed_sectors} sectors, device has {capacity_sectors}")]
    LayoutBeyondDevice {
        needed_sectors: u64,
        capacity_sectors: u64,
    },
    #[error("log truncated at {at:?}: committed log ends at sector offset {committed_end}, data ends at {found_end}")]
    Truncated {
        at: BlockPos,
        committed_end: u64,
        found_end: u64,
    },
    #[error("corrupt block header at {at:?}: {fault:?}")]
    CorruptHeader { at: BlockPos, fault: HeaderFault },
    #[error("block body checksum mismatch at {at:?} (flipped bits or torn write)")]
    BodyChecksum { at: BlockPos },
    #[error("non-zero padding after block at {at:?}")]
    CorruptPadding { at: BlockPos },
    #[error("block out of order at {at:?}: found sequence number {found} (blocks swapped, removed or replayed)")]
    OutOfOrder { at: BlockPos, found: u64 },
    #[error("block at {at:?} belongs to epoch {found}, log is epoch {expected} (copied from an older compaction)")]
    EpochMismatch {
        at: BlockPos,
        expected: u64,
        found: u64,
    },
    #[error("hash chain broken at {at:?}: block does not follow its predecessor")]
    ChainBroken { at: BlockPos },
    #[error(
        "block at {at:?} does not authenticate (tampered, moved, or from another store or node)"
    )]
    Authentication { at: BlockPos },
    #[error("block at {at:?} authenticates but its records do not decode")]
    Encoding { at: BlockPos },
    #[error("log ends after {found} blocks but the superblock committed {expected}")]
    BlockCountMismatch { found: u64, expected: u64 },
    #[error("invalid record: {0:?}")]
    InvalidRecord(RecordFault),
    #[error(
        "store full: need {needed_sectors} sectors, {free_sectors} free even after compaction"
    )]
    Full {
        needed_sectors: u64,
        free_sectors: u64,
    },
    #[error("nonce counter exhausted")]
    NonceExhausted,
    #[error("generation counter exhausted")]
    GenerationExhausted,
    #[error("an earlier write failed part-way; reopen the store to learn what is on disk")]
    Poisoned,
}

impl StoreError {
    pub(crate) fn device(stage: IoStage) -> impl FnOnce(DeviceError) -> StoreError {
        move |source| StoreError::Device { stage, source }
    }
}
