//! Per-thread buffers lent for the length of one exchange.
//!
//! An idle user holds no buffer: each exchange borrows one from its worker thread's pool
//! and gives it back at its end. The pool keeps only small buffers, so memory per idle
//! user stays flat however large a response was.

use std::cell::RefCell;

/// Size of a buffer the pool lends (a read fills at most this much).
pub(super) const BUF_SIZE: usize = 16 * 1024;
/// Buffers the pool keeps per thread, and the largest it takes back.
const POOL_MAX: usize = 256;
const POOL_KEEP_MAX: usize = 64 * 1024;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer lent by this thread's pool for one exchange, returned on drop.
pub(super) struct Buf(pub(super) Vec<u8>);

impl Buf {
    pub(super) fn take() -> Buf {
        let v = POOL
            .try_with(|p| p.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| Vec::with_capacity(BUF_SIZE));
        Buf(v)
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        let mut v = std::mem::take(&mut self.0);
        if v.capacity() > POOL_KEEP_MAX {
            return;
        }
        v.clear();
        let _ = POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOL_MAX {
                p.push(v);
            }
        });
    }
}
