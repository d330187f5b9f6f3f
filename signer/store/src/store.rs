//! The sealed store: opening (with full verification of the log), reading, crash-safe writes,
//! compaction, and the monotonic generation.
//!
//! Write protocol (one commit):
//! 1. if the nonce counter would pass the reservation on disk, write+flush a superblock that
//!    reserves a new range first;
//! 2. write the sealed block after the committed log end, flush;
//! 3. write the superblock (other slot, generation + 1) pointing past the block, flush.
//!
//! Step 3 is the commit point. A crash before it leaves the previous state (the block is ignored
//! as uncommitted tail); a torn superblock fails its checksum and the other slot — the previous
//! state — is used. Compaction writes the live records into the other region and commits the same
//! way, so it is crash-safe too.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::device::{BlockDevice, SECTOR_SIZE};
use crate::error::{BlockPos, IoStage, RecordFault, StoreError};
use crate::events::RuntimeEvent;
use crate::format::{
    block_aad, block_sectors_for, decode_superblock_with, encode_superblock, BlockHeader,
    is_readable_version, HeaderFault, Op, SlotFault, SlotState, Superblock, BLOCK_HEADER_LEN,
    FORMAT_VERSION, LEGACY_FORMAT_VERSION, SESSION_ID_LEN,
    MAX_BLOCK_BODY, SUPERBLOCK_SECTORS,
};
use crate::keys::{block_nonce, BlockCipher, SuperblockMac, TAG_LEN};
use crate::secret::{SealingKey, SecretBytes};

/// Longest record id, in bytes.
pub const MAX_ID_LEN: usize = 128;
/// Largest record value, in bytes.
pub const MAX_VALUE_LEN: usize = 1024 * 1024;
/// Nonces reserved on disk ahead of use. A crash wastes at most this many; 2^64 leaves room for
/// ~10^16 crashes.
pub const NONCE_RESERVATION: u64 = 1024;
/// Smallest region the store accepts, in sectors.
const MIN_REGION_SECTORS: u64 = 8;
/// Compaction packs records into blocks of about this many plaintext bytes.
const COMPACTION_BLOCK_TARGET: usize = 64 * 1024;

/// What a record is (key share, presignature, TLS key, ...). The node assigns the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKind(pub u16);

/// One change in a commit.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    Put {
        kind: RecordKind,
        id: &'a [u8],
        value: &'a [u8],
    },
    Delete {
        kind: RecordKind,
        id: &'a [u8],
    },
}

/// Options for [`Store::open`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// The lowest generation the caller knows was committed — the external anchor, e.g. the
    /// generation last published on chain. An older store is refused as a rollback.
    pub min_generation: Option<u64>,
}

/// Options for [`Store::format`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FormatOptions {
    /// Format even if the superblock sectors are not blank. Destroys whatever store was there;
    /// only for an operator's explicit decision, never automatic.
    pub overwrite_existing: bool,
}

/// What [`Store::open`] found besides the records. Nothing here is an error, but a node should
/// log it: each item is either the trace of a crash or of someone touching the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Generation of the committed state that was opened.
    pub generation: u64,
    /// Number of live records.
    pub records: usize,
    /// Number of blocks in the log.
    pub blocks: u64,
    /// The superblock slot that was not used, if it was damaged (a torn superblock write — or the
    /// newest state destroyed on purpose, which only an external anchor can tell apart).
    pub other_slot_fault: Option<SlotFault>,
    /// A well-formed block for the next sequence number lies after the committed end: a write
    /// that crashed before its commit. It was not applied.
    pub uncommitted_tail: bool,
}

/// Figures about a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    pub generation: u64,
    pub epoch: u64,
    pub records: usize,
    /// Sum of live value lengths.
    pub live_value_bytes: u64,
    /// Sectors used by the active log.
    pub log_sectors: u64,
    /// Sectors available to the log (one region).
    pub region_sectors: u64,
}

type RecordKey = (RecordKind, Vec<u8>);

/// An open sealed store on a block device.
pub struct Store<D: BlockDevice> {
    dev: D,
    mac: SuperblockMac,
    /// Seals this session's blocks: a key derived from the sealing key, the store id and
    /// `session_id`, fresh at every open.
    cipher: BlockCipher,
    session_id: [u8; SESSION_ID_LEN],
    node_digest: [u8; 32],
    /// Latest committed superblock.
    sb: Superblock,
    /// Slot (0 or 1) holding `sb`; the next superblock goes to the other one.
    latest_slot: u8,
    next_nonce: u64,
    /// Nonces below this are reserved by a flushed superblock of this session.
    usable_until: u64,
    salt: [u8; 4],
    records: BTreeMap<RecordKey, SecretBytes>,
    poisoned: bool,
}

impl<D: BlockDevice> core::fmt::Debug for Store<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store")
            .field("generation", &self.sb.generation)
            .field("epoch", &self.sb.epoch)
            .field("records", &self.records.len())
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

fn node_digest(node_identity: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"tdsigner-store/v1/node-identity");
    h.update((node_identity.len() as u64).to_le_bytes());
    h.update(node_identity);
    h.finalize().into()
}

fn slot_fault(s: &SlotState) -> Option<SlotFault> {
    match s {
        SlotState::Damaged(f) => Some(*f),
        _ => None,
    }
}

impl<D: BlockDevice> Store<D> {
    /// Whether the device holds no store at all (both superblock slots all zero), i.e. whether
    /// [`Store::format`] would accept it without `overwrite_existing`. Lets a caller choose
    /// between `open` and `format` without handing the device over twice.
    pub fn is_blank(dev: &mut D) -> Result<bool, StoreError> {
        let mut slots = [0u8; 2 * SECTOR_SIZE];
        if dev.capacity_sectors() < SUPERBLOCK_SECTORS {
            return Ok(false);
        }
        dev.read_sectors(0, &mut slots)
            .map_err(StoreError::device(IoStage::ReadSuperblock))?;
        Ok(slots.iter().all(|&b| b == 0))
    }

    /// Creates an empty store on a blank device (see [`FormatOptions`]).
    pub fn format(
        mut dev: D,
        key: &SealingKey,
        node_identity: &[u8],
        options: FormatOptions,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, StoreError> {
        let capacity = dev.capacity_sectors();
        let minimum = SUPERBLOCK_SECTORS + 2 * MIN_REGION_SECTORS;
        if capacity < minimum {
            return Err(StoreError::DeviceTooSmall {
                capacity_sectors: capacity,
                minimum,
            });
        }
        let mut slots = [0u8; 2 * SECTOR_SIZE];
        dev.read_sectors(0, &mut slots)
            .map_err(StoreError::device(IoStage::ReadSuperblock))?;
        if !options.overwrite_existing && slots.iter().any(|&b| b != 0) {
            return Err(StoreError::NotBlank);
        }
        let mut store_id = [0u8; 16];
        rng.fill_bytes(&mut store_id);
        let sb = Superblock {
            format_version: FORMAT_VERSION,
            generation: 1,
            store_id,
            node_digest: node_digest(node_identity),
            region_sectors: (capacity - SUPERBLOCK_SECTORS) / 2,
            active_region: 0,
            epoch: 0,
            log_end: 0,
            block_count: 0,
            last_tag: [0; TAG_LEN],
            nonce_reserved: 0,
        };
        let mac = SuperblockMac::new(key);
        let sector = encode_superblock(&sb, &mac).ok_or(StoreError::Encoding {
            at: BlockPos {
                region: 0,
                seq: 0,
                sector: 0,
            },
        })?;
        // Slot A gets generation 1; slot B is cleared so a stale store there cannot win.
        let mut both = [0u8; 2 * SECTOR_SIZE];
        both[..SECTOR_SIZE].copy_from_slice(&sector);
        dev.write_sectors(0, &both)
            .map_err(StoreError::device(IoStage::WriteSuperblock))?;
        dev.flush().map_err(StoreError::device(IoStage::Flush))?;
        let mut salt = [0u8; 4];
        rng.fill_bytes(&mut salt);
        let mut session_id = [0u8; SESSION_ID_LEN];
        rng.fill_bytes(&mut session_id);
        Ok(Self {
            cipher: BlockCipher::for_session(key, &sb.store_id, &session_id),
            session_id,
            node_digest: sb.node_digest,
            dev,
            mac,
            sb,
            latest_slot: 0,
            next_nonce: 0,
            usable_until: 0,
            salt,
            records: BTreeMap::new(),
            poisoned: false,
        })
    }

    /// Opens the store on `dev`: picks the newest valid superblock, checks it against the node
    /// identity and the rollback anchor, then reads and authenticates every committed block.
    /// Any disagreement is an error; crash traces are listed in the [`OpenReport`].
    pub fn open(
        mut dev: D,
        key: &SealingKey,
        node_identity: &[u8],
        options: OpenOptions,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Self, OpenReport), StoreError> {
        let capacity = dev.capacity_sectors();
        if capacity < SUPERBLOCK_SECTORS {
            return Err(StoreError::DeviceTooSmall {
                capacity_sectors: capacity,
                minimum: SUPERBLOCK_SECTORS + 2 * MIN_REGION_SECTORS,
            });
        }
        let mac = SuperblockMac::new(key);
        let mut slots = [0u8; 2 * SECTOR_SIZE];
        dev.read_sectors(0, &mut slots)
            .map_err(StoreError::device(IoStage::ReadSuperblock))?;
        let a = decode_superblock_with(&slots[..SECTOR_SIZE], &mac);
        let b = decode_superblock_with(&slots[SECTOR_SIZE..], &mac);
        let (sb, latest_slot, other) = match (&a, &b) {
            (SlotState::Blank, SlotState::Blank) => return Err(StoreError::Blank),
            (SlotState::Valid(x), SlotState::Valid(y)) => {
                if x.generation == y.generation {
                    if x != y {
                        return Err(StoreError::InconsistentSuperblocks {
                            generation: x.generation,
                        });
                    }
                    (x.clone(), 0u8, &b)
                } else if x.generation > y.generation {
                    (x.clone(), 0, &b)
                } else {
                    (y.clone(), 1, &a)
                }
            }
            (SlotState::Valid(x), _) => (x.clone(), 0, &b),
            (_, SlotState::Valid(y)) => (y.clone(), 1, &a),
            _ => {
                return Err(StoreError::NoValidSuperblock {
                    slot_a: slot_fault(&a),
                    slot_b: slot_fault(&b),
                })
            }
        };
        if !is_readable_version(sb.format_version) {
            return Err(StoreError::UnsupportedVersion {
                found: sb.format_version,
            });
        }
        if sb.node_digest != node_digest(node_identity) {
            return Err(StoreError::NodeMismatch);
        }
        if let Some(minimum) = options.min_generation {
            if sb.generation < minimum {
                return Err(StoreError::Rollback {
                    found: sb.generation,
                    minimum,
                });
            }
        }
        let needed = sb.region_start(1).saturating_add(sb.region_sectors);
        if sb.region_sectors < MIN_REGION_SECTORS
            || sb.active_region > 1
            || sb.log_end > sb.region_sectors
        {
            // Authenticated but impossible: only a bug in a writer of this format gets here.
            return Err(StoreError::LayoutBeyondDevice {
                needed_sectors: needed,
                capacity_sectors: capacity,
            });
        }
        let legacy = BlockCipher::legacy(key, &sb.store_id);
        // A shrunken device is reported by the scan as a truncated log if it cuts committed data.
        let records = scan_log(&mut dev, &sb, key, &legacy, capacity)?;
        let uncommitted_tail = probe_uncommitted_tail(&mut dev, &sb, capacity);
        // The whole layout must fit the device before anything may be appended.
        if needed > capacity {
            return Err(StoreError::LayoutBeyondDevice {
                needed_sectors: needed,
                capacity_sectors: capacity,
            });
        }
        let mut salt = [0u8; 4];
        rng.fill_bytes(&mut salt);
        let mut session_id = [0u8; SESSION_ID_LEN];
        rng.fill_bytes(&mut session_id);
        let cipher = BlockCipher::for_session(key, &sb.store_id, &session_id);
        let report = OpenReport {
            generation: sb.generation,
            records: records.len(),
            blocks: sb.block_count,
            other_slot_fault: slot_fault(other),
            uncommitted_tail,
        };
        let store = Self {
            dev,
            mac,
            cipher,
            session_id,
            node_digest: sb.node_digest,
            next_nonce: sb.nonce_reserved,
            usable_until: sb.nonce_reserved,
            sb,
            latest_slot,
            salt,
            records,
            poisoned: false,
        };
        Ok((store, report))
    }

    /// The current generation: +1 on every superblock write (commits, reservations, compaction).
    pub fn generation(&self) -> u64 {
        self.sb.generation
    }

    /// The store's random id (stable for its life; a re-format draws a new one).
    pub fn store_id(&self) -> [u8; 16] {
        self.sb.store_id
    }

    /// The RTMR3 event `tdsigner.store-generation` for the current generation. The node extends it
    /// once, right after [`Store::open`], and publishes the same value.
    pub fn generation_event(&self) -> RuntimeEvent {
        RuntimeEvent::store_generation(&self.sb.store_id, self.sb.generation)
    }

    /// The value of a record, if present.
    pub fn get(&self, kind: RecordKind, id: &[u8]) -> Option<&SecretBytes> {
        self.records.get(&(kind, id.to_vec()))
    }

    /// Ids of all records of `kind`, in byte order.
    pub fn ids(&self, kind: RecordKind) -> impl Iterator<Item = &[u8]> + '_ {
        self.records
            .range((kind, Vec::new())..)
            .take_while(move |((k, _), _)| *k == kind)
            .map(|((_, id), _)| id.as_slice())
    }

    /// Number of live records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn stats(&self) -> StoreStats {
        StoreStats {
            generation: self.sb.generation,
            epoch: self.sb.epoch,
            records: self.records.len(),
            live_value_bytes: self.records.values().map(|v| v.len() as u64).sum(),
            log_sectors: self.sb.log_end,
            region_sectors: self.sb.region_sectors,
        }
    }

    /// Stores `value` under (`kind`, `id`), durably, before returning.
    pub fn put(&mut self, kind: RecordKind, id: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.commit(&[Change::Put { kind, id, value }])
    }

    /// Deletes (`kind`, `id`); returns whether it existed. Deleting a missing record writes nothing.
    pub fn delete(&mut self, kind: RecordKind, id: &[u8]) -> Result<bool, StoreError> {
        if self.get(kind, id).is_none() {
            return Ok(false);
        }
        self.commit(&[Change::Delete { kind, id }])?;
        Ok(true)
    }

    /// Applies `changes` atomically: after a crash either all of them or none are visible.
    pub fn commit(&mut self, changes: &[Change<'_>]) -> Result<(), StoreError> {
        self.guarded(|s| s.commit_inner(changes))
    }

    /// Rewrites the live records into the other region, dropping overwritten and deleted ones.
    /// Crash-safe: until its final superblock is flushed, the old region stays the committed state.
    pub fn compact(&mut self) -> Result<(), StoreError> {
        self.guarded(|s| s.compact_inner(0))
    }

    /// Hands the device back (e.g. to simulate a reboot in tests).
    pub fn into_device(self) -> D {
        self.dev
    }

    /// Device access for tests and benchmarks (fault injection, counters).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    fn guarded<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.poisoned {
            return Err(StoreError::Poisoned);
        }
        let r = f(self);
        if let Err(StoreError::Device { .. }) = &r {
            // The disk may now hold either state; only a fresh open can tell which.
            self.poisoned = true;
        }
        r
    }

    fn commit_inner(&mut self, changes: &[Change<'_>]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Err(StoreError::InvalidRecord(RecordFault::EmptyBatch));
        }
        let mut ops = Vec::with_capacity(changes.len());
        for c in changes {
            let (kind, id, value) = match *c {
                Change::Put { kind, id, value } => (kind, id, Some(value)),
                Change::Delete { kind, id } => (kind, id, None),
            };
            if id.len() > MAX_ID_LEN {
                return Err(StoreError::InvalidRecord(RecordFault::IdTooLong {
                    len: id.len(),
                    max: MAX_ID_LEN,
                }));
            }
            ops.push(match value {
                Some(value) => {
                    if value.len() > MAX_VALUE_LEN {
                        return Err(StoreError::InvalidRecord(RecordFault::ValueTooLarge {
                            len: value.len(),
                            max: MAX_VALUE_LEN,
                        }));
                    }
                    Op::Put {
                        kind: kind.0,
                        id,
                        value,
                    }
                }
                None => Op::Delete { kind: kind.0, id },
            });
        }
        let plaintext = encode_ops(&ops)?;
        // A block the scanner would refuse must never be written: it would make the store unopenable.
        let max = MAX_BLOCK_BODY as usize - TAG_LEN - SESSION_ID_LEN;
        if plaintext.len() > max {
            return Err(StoreError::InvalidRecord(RecordFault::BatchTooLarge {
                len: plaintext.len(),
                max,
            }));
        }
        let sectors = block_sectors_for(SESSION_ID_LEN + plaintext.len() + TAG_LEN);
        if sectors > self.free_sectors() {
            self.compact_inner(sectors)?;
        }
        let counter = self.take_nonces(1)?;
        let (offset, seq, prev) = (self.sb.log_end, self.sb.block_count, self.sb.last_tag);
        let base = self.sb.region_start(self.sb.active_region);
        let tag = self.write_block(base, offset, self.sb.epoch, seq, prev, counter, &plaintext)?;
        self.dev
            .flush()
            .map_err(StoreError::device(IoStage::Flush))?;
        let mut next = self.next_superblock()?;
        next.log_end += sectors;
        next.block_count += 1;
        next.last_tag = tag;
        self.write_superblock(next)?;
        for op in &ops {
            match *op {
                Op::Put { kind, id, value } => {
                    self.records.insert(
                        (RecordKind(kind), id.to_vec()),
                        SecretBytes::copy_from(value),
                    );
                }
                Op::Delete { kind, id } => {
                    self.records.remove(&(RecordKind(kind), id.to_vec()));
                }
            }
        }
        Ok(())
    }

    fn free_sectors(&self) -> u64 {
        self.sb.region_sectors - self.sb.log_end
    }

    /// Compacts; `then_needed` sectors must be free afterwards (for a pending commit).
    fn compact_inner(&mut self, then_needed: u64) -> Result<(), StoreError> {
        // Group live records into blocks of about COMPACTION_BLOCK_TARGET plaintext bytes.
        let mut groups: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        let mut current: Vec<Op<'_>> = Vec::new();
        let mut current_size = 0usize;
        for ((kind, id), value) in &self.records {
            let size = id.len() + value.len() + 16;
            if !current.is_empty() && current_size + size > COMPACTION_BLOCK_TARGET {
                groups.push(encode_ops(&current)?);
                current.clear();
                current_size = 0;
            }
            current.push(Op::Put {
                kind: kind.0,
                id,
                value: value.expose(),
            });
            current_size += size;
        }
        if !current.is_empty() {
            groups.push(encode_ops(&current)?);
        }
        drop(current);
        let total: u64 = groups
            .iter()
            .map(|g| block_sectors_for(SESSION_ID_LEN + g.len() + TAG_LEN))
            .sum();
        let needed = total.saturating_add(then_needed);
        if needed > self.sb.region_sectors {
            return Err(StoreError::Full {
                needed_sectors: needed,
                free_sectors: self.sb.region_sectors.saturating_sub(total),
            });
        }
        // One superblock write first, for two reasons: it reserves the nonces the new blocks use,
        // and afterwards both slots describe the active region, so nothing committed refers to
        // the region we are about to overwrite.
        let n = groups.len() as u64;
        let mut pre = self.next_superblock()?;
        let reserve_to = self
            .next_nonce
            .checked_add(n)
            .and_then(|e| e.checked_add(NONCE_RESERVATION))
            .ok_or(StoreError::NonceExhausted)?;
        pre.nonce_reserved = pre.nonce_reserved.max(reserve_to);
        self.write_superblock(pre)?;
        self.usable_until = self.sb.nonce_reserved;
        let first = self.take_nonces(n)?;

        let target = 1 - self.sb.active_region;
        let base = self.sb.region_start(target);
        let epoch = self
            .sb
            .epoch
            .checked_add(1)
            .ok_or(StoreError::GenerationExhausted)?;
        let mut offset = 0u64;
        let mut prev = [0u8; TAG_LEN];
        for (i, plaintext) in groups.iter().enumerate() {
            prev = self.write_block(
                base,
                offset,
                epoch,
                i as u64,
                prev,
                first + i as u64,
                plaintext,
            )?;
            offset += block_sectors_for(SESSION_ID_LEN + plaintext.len() + TAG_LEN);
        }
        self.dev
            .flush()
            .map_err(StoreError::device(IoStage::Flush))?;
        let mut next = self.next_superblock()?;
        next.active_region = target;
        next.epoch = epoch;
        next.log_end = offset;
        next.block_count = n;
        next.last_tag = prev;
        self.write_superblock(next)
    }

    /// Reserves `n` consecutive nonces, writing a reservation superblock first if needed.
    fn take_nonces(&mut self, n: u64) -> Result<u64, StoreError> {
        let end = self
            .next_nonce
            .checked_add(n)
            .ok_or(StoreError::NonceExhausted)?;
        if end > self.usable_until {
            let mut sb = self.next_superblock()?;
            sb.nonce_reserved = end
                .checked_add(NONCE_RESERVATION)
                .ok_or(StoreError::NonceExhausted)?;
            self.write_superblock(sb)?;
            self.usable_until = self.sb.nonce_reserved;
        }
        let first = self.next_nonce;
        self.next_nonce = end;
        Ok(first)
    }

    /// The next superblock: generation + 1, reservation topped up (it is flushed before use).
    fn next_superblock(&self) -> Result<Superblock, StoreError> {
        let mut next = self.sb.clone();
        // The first write after opening a format-1 store upgrades it: from here on it holds
        // format-2 blocks, which format-1 code cannot read.
        next.format_version = FORMAT_VERSION;
        next.generation = next
            .generation
            .checked_add(1)
            .ok_or(StoreError::GenerationExhausted)?;
        if let Some(ahead) = self.next_nonce.checked_add(NONCE_RESERVATION) {
            next.nonce_reserved = next.nonce_reserved.max(ahead);
        }
        Ok(next)
    }

    /// Writes and flushes `next` into the slot not holding the current state.
    fn write_superblock(&mut self, next: Superblock) -> Result<(), StoreError> {
        let slot = 1 - self.latest_slot;
        let sector = encode_superblock(&next, &self.mac).ok_or(StoreError::Encoding {
            at: BlockPos {
                region: next.active_region,
                seq: next.block_count,
                sector: u64::from(slot),
            },
        })?;
        self.dev
            .write_sectors(u64::from(slot), &sector)
            .map_err(StoreError::device(IoStage::WriteSuperblock))?;
        self.dev
            .flush()
            .map_err(StoreError::device(IoStage::Flush))?;
        self.usable_until = self.usable_until.max(next.nonce_reserved);
        self.sb = next;
        self.latest_slot = slot;
        Ok(())
    }

    /// Seals `plaintext` into a block at `base + offset` (not flushed); returns its tag.
    #[allow(clippy::too_many_arguments)]
    fn write_block(
        &mut self,
        base: u64,
        offset: u64,
        epoch: u64,
        seq: u64,
        prev_tag: [u8; TAG_LEN],
        counter: u64,
        plaintext: &[u8],
    ) -> Result<[u8; TAG_LEN], StoreError> {
        let body_len = SESSION_ID_LEN + plaintext.len() + TAG_LEN;
        let sectors = block_sectors_for(body_len);
        let at = BlockPos {
            region: if base == self.sb.region_start(0) {
                0
            } else {
                1
            },
            seq,
            sector: base + offset,
        };
        let mut header = BlockHeader {
            format_version: FORMAT_VERSION,
            epoch,
            seq,
            nonce: block_nonce(counter, self.salt),
            body_len: u32::try_from(body_len).map_err(|_| StoreError::Encoding { at })?,
            prev_tag,
            body_crc: 0,
        };
        let aad = block_aad(&header, &self.sb.store_id, &self.node_digest);
        let mut buf = Zeroizing::new(vec![0u8; sectors as usize * SECTOR_SIZE]);
        let body = &mut buf[BLOCK_HEADER_LEN..BLOCK_HEADER_LEN + body_len];
        let (id_out, sealed) = body.split_at_mut(SESSION_ID_LEN);
        id_out.copy_from_slice(&self.session_id);
        let (ct, tag_out) = sealed.split_at_mut(plaintext.len());
        ct.copy_from_slice(plaintext);
        let tag = self
            .cipher
            .seal(&header.nonce, &aad, ct)
            .ok_or(StoreError::Encoding { at })?;
        tag_out.copy_from_slice(&tag);
        header.body_crc = crc32fast::hash(body);
        buf[..BLOCK_HEADER_LEN].copy_from_slice(&header.encode());
        self.dev
            .write_sectors(base + offset, &buf)
            .map_err(StoreError::device(IoStage::WriteBlock))?;
        Ok(tag)
    }
}

/// Postcard-encodes ops into a buffer sized up front, so no reallocation leaves plaintext copies.
fn encode_ops(ops: &[Op<'_>]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let estimate = 16
        + ops
            .iter()
            .map(|op| match op {
                Op::Put { id, value, .. } => 24 + id.len() + value.len(),
                Op::Delete { id, .. } => 16 + id.len(),
            })
            .sum::<usize>();
    let buf = Vec::with_capacity(estimate);
    let out = postcard::to_extend(ops, buf).map_err(|_| StoreError::Encoding {
        at: BlockPos {
            region: 0,
            seq: 0,
            sector: 0,
        },
    })?;
    Ok(Zeroizing::new(out))
}

/// Reads, checks and decrypts every committed block of the active region.
fn scan_log<D: BlockDevice>(
    dev: &mut D,
    sb: &Superblock,
    key: &SealingKey,
    legacy: &BlockCipher,
    capacity: u64,
) -> Result<BTreeMap<RecordKey, SecretBytes>, StoreError> {
    let region = sb.active_region;
    let base = sb.region_start(region.min(1));
    let mut records = BTreeMap::new();
    let readable_end = capacity.saturating_sub(base);
    let (mut offset, mut seq, mut prev) = (0u64, 0u64, [0u8; TAG_LEN]);
    let mut header_sector = [0u8; SECTOR_SIZE];
    // Consecutive blocks mostly share a session: keep the last session's key.
    let mut session: Option<([u8; SESSION_ID_LEN], BlockCipher)> = None;
    while offset < sb.log_end {
        let at = BlockPos {
            region,
            seq,
            sector: base.saturating_add(offset),
        };
        if offset >= readable_end {
            return Err(StoreError::Truncated {
                at,
                committed_end: sb.log_end,
                found_end: readable_end,
            });
        }
        dev.read_sectors(at.sector, &mut header_sector)
            .map_err(StoreError::device(IoStage::ReadBlock))?;
        let header = match BlockHeader::parse(&header_sector) {
            Ok(h) => h,
            Err(HeaderFault::Blank) => {
                return Err(StoreError::Truncated {
                    at,
                    committed_end: sb.log_end,
                    found_end: offset,
                })
            }
            Err(fault) => return Err(StoreError::CorruptHeader { at, fault }),
        };
        if header.seq != seq {
            return Err(StoreError::OutOfOrder {
                at,
                found: header.seq,
            });
        }
        if header.epoch != sb.epoch {
            return Err(StoreError::EpochMismatch {
                at,
                expected: sb.epoch,
                found: header.epoch,
            });
        }
        if header.prev_tag != prev {
            return Err(StoreError::ChainBroken { at });
        }
        let sectors = header.block_sectors();
        if offset + sectors > sb.log_end {
            return Err(StoreError::CorruptHeader {
                at,
                fault: HeaderFault::BadLength(header.body_len),
            });
        }
        if offset + sectors > readable_end {
            return Err(StoreError::Truncated {
                at,
                committed_end: sb.log_end,
                found_end: readable_end,
            });
        }
        let mut block = Zeroizing::new(vec![0u8; sectors as usize * SECTOR_SIZE]);
        block[..SECTOR_SIZE].copy_from_slice(&header_sector);
        if sectors > 1 {
            dev.read_sectors(at.sector + 1, &mut block[SECTOR_SIZE..])
                .map_err(StoreError::device(IoStage::ReadBlock))?;
        }
        let body_len = header.body_len as usize;
        let (body, padding) = block[BLOCK_HEADER_LEN..].split_at_mut(body_len);
        if crc32fast::hash(body) != header.body_crc {
            return Err(StoreError::BodyChecksum { at });
        }
        if padding.iter().any(|&b| b != 0) {
            return Err(StoreError::CorruptPadding { at });
        }
        // The header parser bounds body_len below by the version's minimum, so the splits hold.
        let (id, sealed) = match header.format_version {
            LEGACY_FORMAT_VERSION => (None, body),
            _ => {
                let (id, sealed) = body.split_at_mut(SESSION_ID_LEN);
                let mut sid = [0u8; SESSION_ID_LEN];
                sid.copy_from_slice(id);
                (Some(sid), sealed)
            }
        };
        let (ct, tag_bytes) = sealed.split_at_mut(sealed.len() - TAG_LEN);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(tag_bytes);
        let aad = block_aad(&header, &sb.store_id, &sb.node_digest);
        let cipher = match id {
            None => legacy,
            Some(sid) => {
                if session.as_ref().map(|(s, _)| s) != Some(&sid) {
                    session = Some((sid, BlockCipher::for_session(key, &sb.store_id, &sid)));
                }
                match &session {
                    Some((_, c)) => c,
                    None => legacy,
                }
            }
        };
        if !cipher.open(&header.nonce, &aad, ct, &tag) {
            return Err(StoreError::Authentication { at });
        }
        let ops: Vec<Op<'_>> = postcard::from_bytes(ct).map_err(|_| StoreError::Encoding { at })?;
        for op in ops {
            match op {
                Op::Put { kind, id, value } => {
                    records.insert(
                        (RecordKind(kind), id.to_vec()),
                        SecretBytes::copy_from(value),
                    );
                }
                Op::Delete { kind, id } => {
                    records.remove(&(RecordKind(kind), id.to_vec()));
                }
            }
        }
        prev = tag;
        seq += 1;
        offset += sectors;
    }
    if seq != sb.block_count {
        return Err(StoreError::BlockCountMismatch {
            found: seq,
            expected: sb.block_count,
        });
    }
    if prev != sb.last_tag {
        return Err(StoreError::ChainBroken {
            at: BlockPos {
                region,
                seq,
                sector: base.saturating_add(offset),
            },
        });
    }
    Ok(records)
}

/// Whether a block for the next sequence number sits after the committed end (a crashed write).
fn probe_uncommitted_tail<D: BlockDevice>(dev: &mut D, sb: &Superblock, capacity: u64) -> bool {
    let sector = sb
        .region_start(sb.active_region.min(1))
        .saturating_add(sb.log_end);
    if sb.log_end >= sb.region_sectors || sector >= capacity {
        return false;
    }
    let mut buf = [0u8; SECTOR_SIZE];
    if dev.read_sectors(sector, &mut buf).is_err() {
        return false;
    }
    matches!(BlockHeader::parse(&buf), Ok(h) if h.seq == sb.block_count && h.epoch == sb.epoch && h.prev_tag == sb.last_tag)
}
