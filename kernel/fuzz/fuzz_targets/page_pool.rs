//! Random alloc/free sequences against a page-by-page model: the pool never
//! hands out a page twice and refuses every bad free without changing state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_kernel::page_pool::PagePool;

fuzz_target!(|data: &[u8]| {
    const PAGES: usize = 96;
    let mut pool = PagePool::new(PAGES);
    let mut owned = [false; PAGES];
    for op in data.chunks_exact(3) {
        let count = usize::from(op[2] % 9);
        if op[0] % 2 == 0 {
            match pool.alloc(count) {
                Ok(Some(first)) => {
                    for p in first..first + count {
                        assert!(!owned[p], "page {p} handed out twice");
                        owned[p] = true;
                    }
                }
                Ok(None) => assert!(count > 0),
                Err(_) => assert_eq!(count, 0),
            }
        } else {
            let first = usize::from(op[1]) % (PAGES + 4);
            let valid = count > 0 && first + count <= PAGES && (first..first + count).all(|p| owned[p]);
            let before = pool.in_use();
            match pool.free(first, count) {
                Ok(()) => {
                    assert!(valid);
                    for p in first..first + count {
                        owned[p] = false;
                    }
                }
                Err(_) => {
                    assert!(!valid);
                    assert_eq!(pool.in_use(), before);
                }
            }
        }
        assert_eq!(pool.in_use(), owned.iter().filter(|o| **o).count());
    }
});
