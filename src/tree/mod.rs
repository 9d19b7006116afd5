//! The copy-on-write B+tree: lookups, floor searches and ordered walks over
//! a snapshot (root + mapping table). Pages come from a `PageSource`, which
//! the I/O layer implements; nothing here touches files.

pub mod cache;
pub mod compact;
pub mod read;
pub mod write;

use std::future::Future;

use crate::error::{Error, Result};
use crate::format::page::{AlignedBuf, FilePageId};

pub use cache::{PageCache, PageRef, page_ref};
pub use read::{ReadCtx, TreeEntry};

/// Supplier of raw page bytes by file page id. Implementations may suspend
/// (asynchronous disk I/O) or answer at once (memory, blocking reads).
pub trait PageSource {
    /// Reads the page stored at `fp`. The bytes are verified by the caller.
    fn read_page(&self, fp: FilePageId) -> impl Future<Output = Result<AlignedBuf>>;

    /// Lets other tasks of the thread run (long writes call this now and
    /// then so that reads beside them are not held up).
    fn pause(&self) -> impl Future<Output = ()> {
        std::future::ready(())
    }

    /// How many finished overflow pages a writer gathers before it hands
    /// them to [`write_early`](Self::write_early); 0: this source takes
    /// none and every page waits for the commit.
    fn early_write_pages(&self) -> usize {
        0
    }

    /// Writes and syncs pages of a batch that is not committed yet, at
    /// file pages no committed version uses, so that a batch of large
    /// values is never held in memory whole (upstream, too, flushes its
    /// batch pages as they fill). Only the commit's manifest record makes
    /// them reachable.
    fn write_early(
        &self,
        pages: Vec<(FilePageId, AlignedBuf)>,
    ) -> impl Future<Output = Result<()>> {
        let n = pages.len();
        std::future::ready(Err(Error::invalid_args(format!(
            "this page source cannot write ({n} pages offered)"
        ))))
    }

    /// Reads several pages, in order. Sources that can overlap requests
    /// should override this.
    fn read_pages(&self, fps: &[FilePageId]) -> impl Future<Output = Result<Vec<AlignedBuf>>> {
        async move {
            let mut out = Vec::with_capacity(fps.len());
            for &fp in fps {
                out.push(self.read_page(fp).await?);
            }
            Ok(out)
        }
    }
}

/// Runs a future whose page source never suspends (blocking or in-memory
/// reads) to completion on the current thread.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        // A blocking source is always ready; yielding keeps a source that
        // is not from spinning the CPU flat out.
        std::thread::yield_now();
    }
}
