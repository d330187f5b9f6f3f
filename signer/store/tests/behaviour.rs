//! Store behaviour: the model (a map) and the store agree under any sequence of operations and
//! reboots (property test), plus compaction, capacity limits, secrets hygiene and the file device.

mod common;
use common::*;

use std::collections::BTreeMap;

use proptest::prelude::*;
use tdsigner_store::device::{CrashMode, MemDevice};
use tdsigner_store::error::RecordFault;
use tdsigner_store::store::{MAX_ID_LEN, MAX_VALUE_LEN};
use tdsigner_store::{Change, RecordKind, Store, StoreError};

#[derive(Debug, Clone)]
enum Action {
    Put {
        kind: u16,
        id: u8,
        len: usize,
        fill: u8,
    },
    Delete {
        kind: u16,
        id: u8,
    },
    Compact,
    Reboot,
    /// A crash that loses nothing that was flushed (all commits are flushed before returning).
    Crash,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0u16..3, 0u8..8, 0usize..800, any::<u8>()).prop_map(|(kind, id, len, fill)| Action::Put { kind, id, len, fill }),
        2 => (0u16..3, 0u8..8).prop_map(|(kind, id)| Action::Delete { kind, id }),
        1 => Just(Action::Compact),
        1 => Just(Action::Reboot),
        1 => Just(Action::Crash),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(actions in proptest::collection::vec(action(), 1..40)) {
        let mut model: BTreeMap<(u16, u8), Vec<u8>> = BTreeMap::new();
        let mut store = fresh(96);
        let mut generation = store.generation();
        for a in &actions {
            match *a {
                Action::Put { kind, id, len, fill } => {
                    let v = vec![fill; len];
                    store.put(RecordKind(kind), &[id], &v).unwrap();
                    model.insert((kind, id), v);
                }
                Action::Delete { kind, id } => {
                    let existed = store.delete(RecordKind(kind), &[id]).unwrap();
                    prop_assert_eq!(existed, model.remove(&(kind, id)).is_some());
                }
                Action::Compact => store.compact().unwrap(),
                Action::Reboot => store = reopen(store.into_device()).unwrap().0,
                Action::Crash => {
                    let mut dev = store.into_device();
                    dev.crash(CrashMode::LoseUnflushed);
                    store = reopen(dev).unwrap().0;
                }
            }
            // The generation never goes backwards, whatever happens.
            prop_assert!(store.generation() >= generation);
            generation = store.generation();
            prop_assert_eq!(store.len(), model.len());
            for ((kind, id), v) in &model {
                prop_assert_eq!(store.get(RecordKind(*kind), &[*id]).map(|s| s.expose().to_vec()), Some(v.clone()));
            }
        }
        let (reopened, report) = reopen(store.into_device()).unwrap();
        prop_assert_eq!(reopened.len(), model.len());
        prop_assert_eq!(report.generation, generation);
    }
}

#[test]
fn full_log_compacts_itself_and_full_store_says_so() {
    let mut s = fresh(40); // 19 sectors per region
                           // Overwrite one record many times: the log fills with dead versions and must compact.
    for i in 0..100u32 {
        s.put(KIND, b"counter", &i.to_le_bytes()).unwrap();
    }
    assert!(s.stats().epoch > 0, "compaction never ran");
    assert_eq!(
        s.get(KIND, b"counter").unwrap().expose(),
        &99u32.to_le_bytes()
    );
    // Live data larger than a region cannot fit: a typed error, and nothing is lost.
    let big = vec![7u8; 6000];
    s.put(KIND, b"big-1", &big).unwrap();
    let err = s.put(KIND, b"big-2", &big).unwrap_err();
    assert!(matches!(err, StoreError::Full { .. }), "{err:?}");
    let (s, _) = reopen(s.into_device()).unwrap();
    assert_eq!(s.get(KIND, b"big-1").unwrap().expose(), &big[..]);
    assert_eq!(
        s.get(KIND, b"counter").unwrap().expose(),
        &99u32.to_le_bytes()
    );
    assert!(s.get(KIND, b"big-2").is_none());
}

#[test]
fn record_limits_are_enforced() {
    let mut s = fresh(64);
    assert_eq!(
        s.put(KIND, &[0; MAX_ID_LEN + 1], b"v"),
        Err(StoreError::InvalidRecord(RecordFault::IdTooLong {
            len: MAX_ID_LEN + 1,
            max: MAX_ID_LEN
        }))
    );
    assert!(matches!(
        s.put(KIND, b"id", &vec![0; MAX_VALUE_LEN + 1]),
        Err(StoreError::InvalidRecord(RecordFault::ValueTooLarge { .. }))
    ));
    assert_eq!(
        s.commit(&[]),
        Err(StoreError::InvalidRecord(RecordFault::EmptyBatch))
    );
    let big = vec![1u8; MAX_VALUE_LEN];
    let batch = [b"1", b"2", b"3"].map(|id| Change::Put {
        kind: KIND,
        id,
        value: &big,
    });
    assert!(matches!(
        s.commit(&batch),
        Err(StoreError::InvalidRecord(RecordFault::BatchTooLarge { .. }))
    ));
    assert_eq!(s.delete(KIND, b"missing"), Ok(false));
    // Empty ids and values are fine.
    s.put(KIND, b"", b"").unwrap();
    assert_eq!(s.get(KIND, b"").unwrap().expose(), b"");
}

#[test]
fn batch_commits_atomically_and_ids_list_per_kind() {
    let mut s = fresh(64);
    s.commit(&[
        Change::Put {
            kind: RecordKind(1),
            id: b"b",
            value: b"1",
        },
        Change::Put {
            kind: RecordKind(1),
            id: b"a",
            value: b"2",
        },
        Change::Put {
            kind: RecordKind(2),
            id: b"c",
            value: b"3",
        },
        Change::Delete {
            kind: RecordKind(1),
            id: b"b",
        },
    ])
    .unwrap();
    let (s, report) = reopen(s.into_device()).unwrap();
    assert_eq!(
        s.ids(RecordKind(1)).collect::<Vec<_>>(),
        vec![b"a".as_slice()]
    );
    assert_eq!(
        s.ids(RecordKind(2)).collect::<Vec<_>>(),
        vec![b"c".as_slice()]
    );
    assert_eq!(report.records, 2);
}

#[test]
fn generation_event_carries_store_id_and_generation() {
    let mut s = fresh(64);
    s.put(KIND, b"x", b"y").unwrap();
    let e = s.generation_event();
    assert_eq!(e.name, "tdsigner.store-generation");
    assert_eq!(
        tdsigner_store::RuntimeEvent::parse_store_generation(&e.payload),
        Some((s.store_id(), s.generation()))
    );
}

#[test]
fn debug_output_has_no_secrets() {
    let mut s = fresh(64);
    s.put(KIND, b"share", b"TOP-SECRET-SHARE").unwrap();
    let shown = format!("{s:?} {:?} {:?}", s.get(KIND, b"share").unwrap(), key());
    assert!(!shown.contains("TOP-SECRET"), "{shown}");
    assert!(!shown.to_lowercase().contains("4242"), "{shown}");
}

#[test]
fn plaintext_never_reaches_the_disk() {
    let mut s = fresh(64);
    s.put(KIND, b"share", b"TOP-SECRET-SHARE").unwrap();
    s.compact().unwrap();
    let image = s.into_device().durable_image().to_vec();
    assert!(!image.windows(10).any(|w| w == b"TOP-SECRET"));
    assert!(
        !image.windows(5).any(|w| w == b"share"),
        "record ids are encrypted too"
    );
}

#[test]
fn uncommitted_tail_is_reported_not_applied() {
    let mut s = fresh(64);
    s.put(KIND, b"a", b"1").unwrap();
    s.put(KIND, b"a", b"2").unwrap(); // reservation already done; next commit = block + superblock
                                      // Cut power after the block's single sector: the block is written, the superblock is not.
    s.device_mut().cut_power_after(1);
    assert!(s.put(KIND, b"a", b"3").is_err());
    let mut dev = s.into_device();
    dev.crash(CrashMode::KeepUnflushed);
    let (s, report) = reopen(dev).unwrap();
    assert!(report.uncommitted_tail);
    assert_eq!(s.get(KIND, b"a").unwrap().expose(), b"2");
}

#[test]
fn file_device_round_trip() {
    let dir = std::env::temp_dir().join(format!("tdsigner-store-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("store.img");
    {
        let dev = tdsigner_store::device::FileDevice::create(&path, 256).unwrap();
        let mut s = Store::format(dev, &key(), NODE, Default::default(), &mut rng(1)).unwrap();
        s.put(KIND, b"k", b"v").unwrap();
    }
    let dev = tdsigner_store::device::FileDevice::open(&path).unwrap();
    let (s, _) = Store::open(dev, &key(), NODE, Default::default(), &mut rng(2)).unwrap();
    assert_eq!(s.get(KIND, b"k").unwrap().expose(), b"v");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mem_device_is_usable_by_reference() {
    let mut dev = MemDevice::new(64);
    {
        let mut s = Store::format(&mut dev, &key(), NODE, Default::default(), &mut rng(1)).unwrap();
        s.put(KIND, b"k", b"v").unwrap();
    }
    assert!(reopen(dev).unwrap().0.get(KIND, b"k").is_some());
}
