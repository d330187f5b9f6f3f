//! Conversion bookkeeping under random share/unshare sequences, checked
//! against a page-by-page model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_tdx::shared::{ConversionTable, PageRange, SharedBit};

fuzz_target!(|data: &[u8]| {
    let shared = SharedBit::from_gpa_width(48).unwrap();
    let mut table = ConversionTable::<6>::new();
    // Model: which of 64 pages are shared, and the recorded ranges.
    let mut pages = [false; 64];
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for op in data.chunks_exact(3) {
        // first + count <= 64, so the model covers every page a range touches.
        let first = u64::from(op[1] % 57);
        let count = u64::from(op[2] % 8) + 1;
        let Ok(range) = PageRange::new(shared, first * 4096, count * 4096) else {
            continue;
        };
        let last = first + count;
        if op[0] % 2 == 0 {
            let overlaps = (first..last).any(|p| pages[p as usize]);
            let full = ranges.len() == 6;
            let r = table.record_shared(range);
            assert_eq!(r.is_ok(), !overlaps && !full);
            if r.is_ok() {
                for p in first..last {
                    pages[p as usize] = true;
                }
                ranges.push((first, count));
            }
        } else {
            let exact = ranges.iter().position(|&r| r == (first, count));
            let r = table.record_private(range);
            assert_eq!(r.is_ok(), exact.is_some());
            if let Some(i) = exact {
                ranges.swap_remove(i);
                for p in first..last {
                    pages[p as usize] = false;
                }
            }
        }
        assert_eq!(table.len(), ranges.len());
        for p in 0..64u64 {
            assert_eq!(table.is_shared(p * 4096), pages[p as usize]);
        }
        // Recorded ranges never overlap.
        let recorded: Vec<_> = table.iter().copied().collect();
        for (i, a) in recorded.iter().enumerate() {
            for b in &recorded[i + 1..] {
                assert!(!a.overlaps(b));
            }
        }
    }
});
