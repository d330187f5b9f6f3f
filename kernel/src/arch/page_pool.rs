//! A first-fit, page-granular bitmap allocator with strict bookkeeping.
//!
//! The DMA pool is a fixed region converted to shared memory once at boot;
//! this type only tracks which of its pages are handed out. Double frees,
//! frees of pages never handed out and out-of-range requests are errors, so a
//! driver bug cannot make two buffers share a page the host can see.

/// Most pages one pool tracks (4 MiB of 4 KiB pages).
pub const MAX_PAGES: usize = 1024;
const WORDS: usize = MAX_PAGES / 64;

/// Bookkeeping errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// The range is not inside the pool.
    OutOfRange,
    /// Some page of the range is not currently allocated.
    NotAllocated,
    /// Zero pages requested.
    Empty,
}

/// Allocation state of up to [`MAX_PAGES`] pages.
#[derive(Clone)]
pub struct PagePool {
    used: [u64; WORDS],
    pages: usize,
    in_use: usize,
}

impl PagePool {
    /// A pool of `pages` free pages (clamped to [`MAX_PAGES`]).
    pub const fn new(pages: usize) -> PagePool {
        let pages = if pages > MAX_PAGES { MAX_PAGES } else { pages };
        PagePool { used: [0; WORDS], pages, in_use: 0 }
    }

    /// Number of pages the pool manages.
    pub fn capacity(&self) -> usize {
        self.pages
    }

    /// Pages currently handed out.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    fn is_used(&self, page: usize) -> bool {
        self.used[page / 64] & (1 << (page % 64)) != 0
    }

    fn set(&mut self, page: usize, used: bool) {
        if used {
            self.used[page / 64] |= 1 << (page % 64);
        } else {
            self.used[page / 64] &= !(1 << (page % 64));
        }
    }

    /// Finds `count` contiguous free pages, marks them used, returns the first
    /// page index.
    pub fn alloc(&mut self, count: usize) -> Result<Option<usize>, PoolError> {
        if count == 0 {
            return Err(PoolError::Empty);
        }
        let mut run_start = 0;
        let mut run_len = 0;
        for page in 0..self.pages {
            if self.is_used(page) {
                run_len = 0;
                run_start = page + 1;
                continue;
            }
            run_len += 1;
            if run_len == count {
                for p in run_start..run_start + count {
                    self.set(p, true);
                }
                self.in_use += count;
                return Ok(Some(run_start));
            }
        }
        Ok(None)
    }

    /// Returns pages `first..first + count` to the pool. Every page must be
    /// allocated; on error nothing changes.
    pub fn free(&mut self, first: usize, count: usize) -> Result<(), PoolError> {
        if count == 0 {
            return Err(PoolError::Empty);
        }
        let end = first.checked_add(count).ok_or(PoolError::OutOfRange)?;
        if end > self.pages {
            return Err(PoolError::OutOfRange);
        }
        if (first..end).any(|p| !self.is_used(p)) {
            return Err(PoolError::NotAllocated);
        }
        for p in first..end {
            self.set(p, false);
        }
        self.in_use -= count;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fit_and_reuse() {
        let mut p = PagePool::new(8);
        assert_eq!(p.alloc(3), Ok(Some(0)));
        assert_eq!(p.alloc(3), Ok(Some(3)));
        assert_eq!(p.alloc(3), Ok(None));
        assert_eq!(p.alloc(2), Ok(Some(6)));
        assert_eq!(p.in_use(), 8);
        p.free(0, 3).unwrap();
        assert_eq!(p.alloc(1), Ok(Some(0)));
        assert_eq!(p.alloc(2), Ok(Some(1)));
    }

    #[test]
    fn strict_frees() {
        let mut p = PagePool::new(70);
        assert_eq!(p.alloc(0), Err(PoolError::Empty));
        let a = p.alloc(66).unwrap().unwrap();
        assert_eq!(p.free(a, 67), Err(PoolError::OutOfRange).or(Err(PoolError::NotAllocated)));
        p.free(a, 66).unwrap();
        assert_eq!(p.free(a, 1), Err(PoolError::NotAllocated));
        assert_eq!(p.free(69, 2), Err(PoolError::OutOfRange));
        assert_eq!(p.free(usize::MAX, 2), Err(PoolError::OutOfRange));
        assert_eq!(p.in_use(), 0);
    }

    #[test]
    fn partial_double_free_changes_nothing() {
        let mut p = PagePool::new(4);
        p.alloc(2).unwrap();
        assert_eq!(p.free(1, 2), Err(PoolError::NotAllocated));
        assert_eq!(p.in_use(), 2);
        assert_eq!(p.alloc(2), Ok(Some(2)));
    }

    #[test]
    fn clamps_capacity() {
        assert_eq!(PagePool::new(MAX_PAGES + 5).capacity(), MAX_PAGES);
    }
}
