//! Runtime tests, each run against both backends (see `uring_available`
//! for machines where io_uring is blocked).

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::io::fault::{FaultRule, FaultRules};
use crate::io::file::{FdCache, FileKind, IoFile, OpenOptions};
use crate::io::uring::BACKGROUND_SHARE_FOR_TESTS;

const PAGE: usize = 4096;

/// Declares `mod $name { fn uring(); fn sync(); }` calling `$name(backend)`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn uring() {
                if super::uring_available() {
                    super::$name(super::Backend::Uring);
                }
            }
            #[test]
            fn sync() {
                super::$name(super::Backend::Sync);
            }
        }
    )*};
}

both_backends!(
    concurrent_reads_and_writes,
    disk_wait_does_not_block_ready_tasks,
    read_exact_at_eof,
    short_reads_loop,
    short_write_fault_writes_everything,
    errno_faults,
    sleep_order,
    remote_waker_interrupts_turn,
    cross_thread_task_wake,
    notify_wakes_all,
    evicted_file_stays_open_for_inflight_op,
    direct_io_paths,
    many_ops_small_queue,
    panicking_task_is_dropped,
    dropped_future_and_runtime_with_inflight_io,
    read_many_in_order,
    buffered_and_direct_argument_checks,
    fs_ops,
    fs_ops_faults,
    stalled_fs_op_does_not_block_the_shard,
    abandoned_open_closes_its_descriptor,
    dropped_runtime_with_fs_ops_in_flight,
);

/// Whether to run the io_uring half of a test. Where io_uring cannot be set
/// up the tests fail, unless `ELOQSTORE_IO=sync` says the machine is known
/// to block it (then only the sync half runs, and says so).
fn uring_available() -> bool {
    match Runtime::new(&RuntimeConfig::with_backend(Backend::Uring)) {
        Ok(_) => true,
        Err(e) if std::env::var("ELOQSTORE_IO").is_ok_and(|v| v == "sync") => {
            eprintln!(
                "io_uring unavailable and ELOQSTORE_IO=sync: testing the sync driver only ({e})"
            );
            false
        }
        Err(e) => panic!(
            "io_uring cannot be set up ({e}); set ELOQSTORE_IO=sync to test the sync driver only"
        ),
    }
}

fn cfg(backend: Backend) -> RuntimeConfig {
    RuntimeConfig {
        backend,
        queue_depth: 64,
        faults: None,
    }
}

fn cfg_faults(backend: Backend, rules: &Arc<FaultRules>) -> RuntimeConfig {
    RuntimeConfig {
        faults: Some(rules.clone() as Arc<dyn FaultInjector>),
        ..cfg(backend)
    }
}

fn run<Fut: Future + 'static>(cfg: &RuntimeConfig, f: impl FnOnce(IoHandle) -> Fut) -> Fut::Output
where
    Fut::Output: 'static,
{
    block_on_runtime(cfg, f).unwrap()
}

/// The content of page `i` in test files.
fn page_bytes(i: usize, seed: u8) -> AlignedBuf {
    let mut b = AlignedBuf::zeroed(PAGE);
    for (j, x) in b.iter_mut().enumerate() {
        *x = (i as u8)
            .wrapping_mul(31)
            .wrapping_add(j as u8)
            .wrapping_add(seed);
    }
    b[..8].copy_from_slice(&(i as u64).to_le_bytes());
    b
}

/// A file of `pages` test pages written with std.
fn make_file(dir: &Path, name: &str, pages: usize) -> std::path::PathBuf {
    let p = dir.join(name);
    let mut all = Vec::with_capacity(pages * PAGE);
    for i in 0..pages {
        all.extend_from_slice(&page_bytes(i, 0));
    }
    std::fs::write(&p, all).unwrap();
    p
}

fn open(p: &Path, direct: bool) -> Rc<IoFile> {
    Rc::new(
        IoFile::open(
            p,
            FileKind::Data,
            OpenOptions::read_write().create(true).direct(direct),
        )
        .unwrap(),
    )
}

/// Drives `rt` until no task is left (or a few seconds pass).
fn drive(rt: &Runtime) {
    let start = Instant::now();
    while rt.task_count() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "tasks did not finish"
        );
        rt.turn(Some(Duration::from_millis(100)));
    }
}

fn concurrent_reads_and_writes(backend: Backend) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let path = dir.path().join("data");
    let rt = Runtime::new(&cfg(backend)).unwrap();
    let file = open(&path, true);
    assert!(file.is_direct());
    file.allocate(128 * PAGE as u64).unwrap();
    let ok = Rc::new(RefCell::new(0));
    for t in 0..32usize {
        let h = rt.handle();
        let file = file.clone();
        let ok = ok.clone();
        rt.spawn(async move {
            // Each task owns pages t, t+32, t+64, t+96.
            for k in 0..4 {
                let i = t + 32 * k;
                let bufs = h
                    .write_all_at(&file, vec![page_bytes(i, 5)], (i * PAGE) as u64)
                    .await
                    .unwrap();
                assert_eq!(bufs.len(), 1);
                h.yield_now().await;
                let back = h
                    .read_exact_at(&file, AlignedBuf::zeroed(PAGE), (i * PAGE) as u64)
                    .await
                    .unwrap();
                assert_eq!(&back[..], &page_bytes(i, 5)[..]);
            }
            h.fdatasync(&file).await.unwrap();
            *ok.borrow_mut() += 1;
        });
    }
    drive(&rt);
    assert_eq!(*ok.borrow(), 32);
    assert_eq!(rt.inflight_io(), 0);
    // A multi-buffer writev, read back with std.
    let bufs: Vec<_> = (0..5).map(|i| page_bytes(i, 9)).collect();
    let h = rt.handle();
    let f2 = file.clone();
    rt.spawn(async move {
        let back = h.write_all_at(&f2, bufs, 8 * PAGE as u64).await.unwrap();
        assert_eq!(back.len(), 5);
        h.fsync(&f2).await.unwrap();
    });
    drive(&rt);
    let data = std::fs::read(&path).unwrap();
    for i in 0..5 {
        let at = (8 + i) * PAGE;
        assert_eq!(&data[at..at + PAGE], &page_bytes(i, 9)[..]);
    }
}

fn disk_wait_does_not_block_ready_tasks(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let path = make_file(dir.path(), "f", 16);
    let rt = Runtime::new(&cfg(backend)).unwrap();
    let file = open(&path, false);
    let log = Rc::new(RefCell::new(Vec::new()));
    {
        let h = rt.handle();
        let log = log.clone();
        rt.spawn(async move {
            for i in 0..200 {
                let buf = h
                    .read_exact_at(&file, AlignedBuf::zeroed(PAGE), ((i % 16) * PAGE) as u64)
                    .await
                    .unwrap();
                assert_eq!(&buf[..8], &((i % 16) as u64).to_le_bytes());
            }
            log.borrow_mut().push("reader");
        });
    }
    {
        let h = rt.handle();
        let log = log.clone();
        rt.spawn(async move {
            for _ in 0..20 {
                h.yield_now().await;
            }
            log.borrow_mut().push("yielder");
        });
    }
    drive(&rt);
    assert_eq!(*log.borrow(), ["yielder", "reader"]);
}

fn read_exact_at_eof(backend: Backend) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let path = dir.path().join("short");
    std::fs::write(&path, vec![7u8; 6000]).unwrap();
    run(&cfg(backend), move |h| async move {
        for direct in [false, true] {
            let f = open(&path, direct);
            let e = h
                .read_exact_at(&f, AlignedBuf::zeroed(8192), 0)
                .await
                .unwrap_err();
            assert_eq!(e.code(), KvError::EndOfFile, "{e}");
            assert!(e.message().contains("short"), "{e}");
            // A read starting at EOF returns 0 bytes.
            let (n, _) = h.read_at(&f, AlignedBuf::zeroed(PAGE), 8192).await;
            assert_eq!(n.unwrap(), 0);
            // A plain short read.
            let (n, buf) = h.read_at(&f, AlignedBuf::zeroed(8192), 0).await;
            assert_eq!(n.unwrap(), 6000);
            assert!(buf[..6000].iter().all(|&b| b == 7));
        }
        // read_vec_at stops at EOF.
        let f = open(&path, false);
        let v = h.read_vec_at(&f, 10_000, 1000).await.unwrap();
        assert_eq!(v.len(), 5000);
    });
}

fn short_reads_loop(backend: Backend) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let path = make_file(dir.path(), "f", 8);
    let rules = Arc::new(FaultRules::new(vec![FaultRule {
        skip: 0,
        times: 3,
        ..FaultRule::always(IoOpKind::Read, Fault::ShortRead(5000))
    }]));
    let cfg = cfg_faults(backend, &rules);
    let r2 = rules.clone();
    run(&cfg, move |h| async move {
        // Direct: 5000 rounds down to 4096, so 4 pages take 3 short reads + 1.
        let f = open(&path, true);
        let buf = h
            .read_exact_at(&f, AlignedBuf::zeroed(4 * PAGE), 2 * PAGE as u64)
            .await
            .unwrap();
        assert_eq!(r2.fired(), 3);
        for i in 0..4 {
            assert_eq!(&buf[i * PAGE..(i + 1) * PAGE], &page_bytes(i + 2, 0)[..]);
        }
        // Buffered: unaligned short reads.
        r2.push(FaultRule {
            times: 2,
            ..FaultRule::always(IoOpKind::Read, Fault::ShortRead(777))
        });
        let f = open(&path, false);
        let buf = h
            .read_exact_at(&f, AlignedBuf::zeroed(2 * PAGE), 0)
            .await
            .unwrap();
        assert_eq!(r2.fired(), 5);
        assert_eq!(&buf[..PAGE], &page_bytes(0, 0)[..]);
        assert_eq!(&buf[PAGE..], &page_bytes(1, 0)[..]);
        r2.push(FaultRule::once(IoOpKind::Read, Fault::ShortRead(10)));
        let v = h.read_vec_at(&f, 3 * PAGE, PAGE as u64).await.unwrap();
        assert_eq!(v.len(), 3 * PAGE);
        assert_eq!(&v[2 * PAGE..], &page_bytes(3, 0)[..]);
    });
}

fn short_write_fault_writes_everything(backend: Backend) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let rules = Arc::new(FaultRules::default());
    let cfg = cfg_faults(backend, &rules);
    let r2 = rules.clone();
    let d = dir.path().to_path_buf();
    run(&cfg, move |h| async move {
        for direct in [false, true] {
            let path = d.join(format!("w{direct}"));
            let f = open(&path, direct);
            r2.push(FaultRule {
                times: 2,
                ..FaultRule::always(IoOpKind::Write, Fault::ShortWrite(5000))
            });
            let bufs: Vec<_> = (0..3).map(|i| page_bytes(i, 1)).collect();
            let back = h.write_all_at(&f, bufs, PAGE as u64).await.unwrap();
            assert_eq!(back.len(), 3);
            let data = std::fs::read(&path).unwrap();
            assert_eq!(data.len(), 4 * PAGE);
            for i in 0..3 {
                assert_eq!(&data[(i + 1) * PAGE..(i + 2) * PAGE], &page_bytes(i, 1)[..]);
            }
            // A short write whose continuation fails.
            r2.push(FaultRule::once(IoOpKind::Write, Fault::ShortWrite(PAGE)));
            r2.push(FaultRule::once(IoOpKind::Write, Fault::Errno(libc::ENOSPC)));
            let e = h
                .write_all_at(&f, vec![page_bytes(0, 2), page_bytes(1, 2)], 0)
                .await
                .unwrap_err();
            assert_eq!(e.code(), KvError::OutOfSpace);
            assert!(e.message().contains(&format!("offset {PAGE}")), "{e}");
            let data = std::fs::read(&path).unwrap();
            assert_eq!(&data[..PAGE], &page_bytes(0, 2)[..]);
            r2.clear();
        }
        // ShortWrite(0) makes no progress: an error, not a hang.
        let f = open(&d.join("w0"), false);
        r2.push(FaultRule::once(IoOpKind::Write, Fault::ShortWrite(0)));
        let e = h
            .write_all_at(&f, vec![page_bytes(0, 0)], 0)
            .await
            .unwrap_err();
        assert_eq!(e.code(), KvError::IoFail);
    });
}

fn errno_faults(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let path = make_file(dir.path(), "f", 2);
    let rules = Arc::new(FaultRules::default());
    let cfg = cfg_faults(backend, &rules);
    let r2 = rules.clone();
    run(&cfg, move |h| async move {
        let f = open(&path, false);
        r2.push(FaultRule::once(IoOpKind::Read, Fault::Errno(libc::EIO)));
        let e = h
            .read_exact_at(&f, AlignedBuf::zeroed(PAGE), 0)
            .await
            .unwrap_err();
        assert_eq!(e.code(), KvError::IoFail);
        assert!(e.message().contains("read"), "{e}");
        // The fault fired once; the next read works.
        h.read_exact_at(&f, AlignedBuf::zeroed(PAGE), 0)
            .await
            .unwrap();

        r2.push(FaultRule::once(IoOpKind::Write, Fault::Errno(libc::ENOSPC)));
        let e = h
            .write_all_at(&f, vec![page_bytes(0, 3)], 0)
            .await
            .unwrap_err();
        assert_eq!(e.code(), KvError::OutOfSpace);
        // The disk was not touched.
        assert_eq!(
            &std::fs::read(&path).unwrap()[..PAGE],
            &page_bytes(0, 0)[..]
        );

        for (errno, code) in [
            (libc::ENOSPC, KvError::OutOfSpace),
            (libc::EIO, KvError::IoFail),
            (libc::EAGAIN, KvError::TryAgain),
        ] {
            r2.push(FaultRule::once(IoOpKind::Sync, Fault::Errno(errno)));
            let e = h.fdatasync(&f).await.unwrap_err();
            assert_eq!(e.code(), code);
            assert!(e.message().contains("fdatasync"), "{e}");
        }
        r2.push(FaultRule::once(IoOpKind::Sync, Fault::Errno(libc::EBUSY)));
        assert_eq!(h.fsync(&f).await.unwrap_err().code(), KvError::Busy);
        h.fsync(&f).await.unwrap();

        // File-kind filter: a manifest rule leaves data files alone.
        r2.push(FaultRule {
            file_kind: Some(FileKind::Manifest),
            ..FaultRule::always(IoOpKind::Read, Fault::Errno(libc::EIO))
        });
        h.read_exact_at(&f, AlignedBuf::zeroed(PAGE), 0)
            .await
            .unwrap();
        let m = Rc::new(IoFile::open(&path, FileKind::Manifest, OpenOptions::read_only()).unwrap());
        assert_eq!(
            h.read_vec_at(&m, 10, 0).await.unwrap_err().code(),
            KvError::IoFail
        );
    });
    assert_eq!(rules.fired(), 7);
}

fn sleep_order(backend: Backend) {
    let order = run(&cfg(backend), |h| async move {
        let order = Rc::new(RefCell::new(Vec::new()));
        let done = Notify::new();
        let start = Instant::now();
        for ms in [30u64, 10, 20, 0] {
            let h2 = h.clone();
            let order = order.clone();
            let done = done.clone();
            h.spawn(async move {
                h2.sleep(Duration::from_millis(ms)).await;
                order.borrow_mut().push(ms);
                done.notify_all();
            });
        }
        // A dropped sleep does not fire or disturb others.
        drop(h.sleep(Duration::from_millis(1)));
        while order.borrow().len() < 4 {
            done.notified().await;
        }
        assert!(start.elapsed() >= Duration::from_millis(30));
        order.take()
    });
    assert_eq!(order, [0, 10, 20, 30]);
}

fn remote_waker_interrupts_turn(backend: Backend) {
    let rt = Runtime::new(&cfg(backend)).unwrap();
    let remote = rt.remote();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        remote.wake();
    });
    let start = Instant::now();
    rt.turn(None);
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(30), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    t.join().unwrap();
    // A consumed wake does not make later turns return early.
    let start = Instant::now();
    rt.turn(Some(Duration::from_millis(1)));
    rt.turn(Some(Duration::from_millis(40)));
    assert!(start.elapsed() >= Duration::from_millis(40));
    // Several wakes before a turn: it returns at once, then blocks again.
    rt.remote().wake();
    rt.remote().wake();
    let start = Instant::now();
    rt.turn(Some(Duration::from_secs(5)));
    assert!(start.elapsed() < Duration::from_secs(1));
    // The timeout alone ends a turn.
    let start = Instant::now();
    rt.turn(Some(Duration::from_millis(20)));
    assert!(start.elapsed() >= Duration::from_millis(20));
}

/// A future woken through its std `Waker` from another thread.
struct Flag {
    set: Arc<std::sync::atomic::AtomicBool>,
    waker: Arc<std::sync::Mutex<Option<Waker>>>,
}

impl Future for Flag {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.set.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn cross_thread_task_wake(backend: Backend) {
    let rt = Runtime::new(&cfg(backend)).unwrap();
    let set = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let waker = Arc::new(std::sync::Mutex::new(None::<Waker>));
    let done = Rc::new(RefCell::new(false));
    {
        let (set, waker, done) = (set.clone(), waker.clone(), done.clone());
        rt.spawn(async move {
            Flag { set, waker }.await;
            *done.borrow_mut() = true;
        });
    }
    rt.turn(Some(Duration::ZERO));
    assert!(!*done.borrow());
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        set.store(true, Ordering::Release);
        if let Some(w) = waker.lock().unwrap().take() {
            w.wake();
        }
    });
    let start = Instant::now();
    while !*done.borrow() {
        assert!(start.elapsed() < Duration::from_secs(5));
        rt.turn(None);
    }
    t.join().unwrap();
    assert_eq!(rt.task_count(), 0);
}

fn notify_wakes_all(backend: Backend) {
    run(&cfg(backend), |h| async move {
        let n = Notify::new();
        let count = Rc::new(RefCell::new(0));
        for _ in 0..3 {
            let (n, count) = (n.clone(), count.clone());
            h.spawn(async move {
                n.notified().await;
                *count.borrow_mut() += 1;
            });
        }
        for _ in 0..3 {
            h.yield_now().await;
        }
        assert_eq!(n.waiters(), 3);
        assert_eq!(*count.borrow(), 0);
        // Created before notify_all: resolves even though first polled after.
        let early = n.notified();
        n.notify_all();
        early.await;
        for _ in 0..3 {
            h.yield_now().await;
        }
        assert_eq!(*count.borrow(), 3);
        assert_eq!(n.waiters(), 0);
        // A waiter dropped unresolved leaves nothing registered.
        {
            let mut fut = Box::pin(n.notified());
            std::future::poll_fn(|cx| {
                assert!(fut.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            assert_eq!(n.waiters(), 1);
        }
        assert_eq!(n.waiters(), 0);
    });
}

/// Polls `fut` once and then drops it, returning whether it finished.
async fn poll_once_then_drop<F: Future>(fut: F) -> bool {
    let mut fut = Box::pin(fut);
    std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_ready())).await
}

fn evicted_file_stays_open_for_inflight_op(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let a = make_file(dir.path(), "a", 4);
    let b = make_file(dir.path(), "b", 4);
    let rt = Runtime::new(&cfg(backend)).unwrap();
    let cache = Rc::new(FdCache::new(1));
    let ok = Rc::new(RefCell::new(false));
    {
        let (h, cache, ok) = (rt.handle(), cache.clone(), ok.clone());
        rt.spawn(async move {
            let fa = cache
                .get_or_open(&h, &a, FileKind::Data, OpenOptions::read_write())
                .await
                .unwrap();
            let h2 = h.clone();
            let mut read = Box::pin(async move {
                h2.read_exact_at(&fa, AlignedBuf::zeroed(2 * PAGE), PAGE as u64)
                    .await
            });
            // Start the read (it cannot finish before the next turn).
            std::future::poll_fn(|cx| {
                assert!(read.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            assert_eq!(h.inflight_io(), 1);
            // Evict `a` while its read is queued.
            let fb = cache
                .get_or_open(&h, &b, FileKind::Data, OpenOptions::read_write())
                .await
                .unwrap();
            assert_eq!(cache.len(), 1);
            assert!(cache.get(&a).is_none());
            let buf = read.await.unwrap();
            assert_eq!(&buf[..PAGE], &page_bytes(1, 0)[..]);
            let buf = h
                .read_exact_at(&fb, AlignedBuf::zeroed(PAGE), 0)
                .await
                .unwrap();
            assert_eq!(&buf[..], &page_bytes(0, 0)[..]);
            *ok.borrow_mut() = true;
        });
    }
    drive(&rt);
    assert!(*ok.borrow());

    // An abandoned op on an evicted file still completes safely.
    {
        let (h, cache) = (rt.handle(), cache.clone());
        let a = dir.path().join("a");
        rt.spawn(async move {
            let fa = cache
                .get_or_open(&h, &a, FileKind::Data, OpenOptions::read_write())
                .await
                .unwrap();
            let fut = h.read_exact_at(&fa, AlignedBuf::zeroed(PAGE), 0);
            assert!(!poll_once_then_drop(fut).await);
            cache.remove(&a);
            drop(fa);
        });
    }
    drive(&rt);
    let start = Instant::now();
    while rt.inflight_io() > 0 {
        assert!(start.elapsed() < Duration::from_secs(5));
        rt.turn(Some(Duration::from_millis(10)));
    }
}

fn direct_io_paths(backend: Backend) {
    let shm = Path::new("/dev/shm");
    let shm_dir = if shm.is_dir() {
        Some(tempfile::tempdir_in(shm).unwrap())
    } else {
        None
    };
    let tmp = tempfile::tempdir_in("/tmp").unwrap();
    let tmp_path = tmp.path().to_path_buf();
    let shm_path = shm_dir.as_ref().map(|d| d.path().to_path_buf());
    run(&cfg(backend), move |h| async move {
        let mut dirs = vec![(tmp_path, true)];
        if let Some(p) = shm_path {
            // tmpfs supports O_DIRECT since Linux 6.6; older kernels refuse
            // it and the open falls back to buffered I/O.
            dirs.push((p, false));
        }
        for (dir, must_be_direct) in dirs {
            let f = open(&dir.join("d"), true);
            if must_be_direct {
                assert!(f.is_direct(), "O_DIRECT not used on {}", dir.display());
            }
            h.write_all_at(&f, vec![page_bytes(3, 4), page_bytes(4, 4)], 0)
                .await
                .unwrap();
            h.fdatasync(&f).await.unwrap();
            let buf = h
                .read_exact_at(&f, AlignedBuf::zeroed(2 * PAGE), 0)
                .await
                .unwrap();
            assert_eq!(&buf[PAGE..], &page_bytes(4, 4)[..]);
        }
        // procfs refuses O_DIRECT: the open falls back and reads work.
        let f = Rc::new(
            IoFile::open(
                Path::new("/proc/self/status"),
                FileKind::Other,
                OpenOptions::read_only().direct(true),
            )
            .unwrap(),
        );
        assert!(!f.is_direct());
        let v = h.read_vec_at(&f, 65536, 0).await.unwrap();
        assert!(v.starts_with(b"Name:"), "{:?}", String::from_utf8_lossy(&v));
    });
}

fn many_ops_small_queue(backend: Backend) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let path = make_file(dir.path(), "f", 64);
    let cfg = RuntimeConfig {
        queue_depth: 8,
        ..cfg(backend)
    };
    let rt = Runtime::new(&cfg).unwrap();
    let file = open(&path, true);
    let ok = Rc::new(RefCell::new(0usize));
    for t in 0..10_000usize {
        let (h, file, ok) = (rt.handle(), file.clone(), ok.clone());
        rt.spawn(async move {
            let i = (t * 7) % 64;
            let buf = h
                .read_exact_at(&file, AlignedBuf::zeroed(PAGE), (i * PAGE) as u64)
                .await
                .unwrap();
            assert_eq!(&buf[..8], &(i as u64).to_le_bytes());
            assert_eq!(buf[100], page_bytes(i, 0)[100]);
            *ok.borrow_mut() += 1;
        });
    }
    // One turn polls all tasks, queueing 10 000 reads at once.
    rt.turn(Some(Duration::ZERO));
    if backend == Backend::Uring {
        assert!(rt.inflight_io() > 1000, "{}", rt.inflight_io());
    }
    drive(&rt);
    assert_eq!(*ok.borrow(), 10_000);
    assert_eq!(rt.inflight_io(), 0);
    // And read_many with more requests than the queue holds.
    let h = rt.handle();
    let out = Rc::new(RefCell::new(Vec::new()));
    let o2 = out.clone();
    rt.spawn(async move {
        let reqs = (0..500)
            .map(|k| (file.clone(), ((k % 64) * PAGE) as u64))
            .collect();
        *o2.borrow_mut() = h.read_many(reqs, PAGE).await;
    });
    drive(&rt);
    let out = out.borrow();
    assert_eq!(out.len(), 500);
    for (k, r) in out.iter().enumerate() {
        let buf = r.as_ref().unwrap();
        assert_eq!(&buf[..], &page_bytes(k % 64, 0)[..]);
    }
}

fn panicking_task_is_dropped(backend: Backend) {
    let rt = Runtime::new(&cfg(backend)).unwrap();
    let done = Rc::new(RefCell::new(false));
    {
        let h = rt.handle();
        rt.spawn(async move {
            h.yield_now().await;
            panic!("boom (expected by the test)");
        });
    }
    {
        let (h, done) = (rt.handle(), done.clone());
        rt.spawn(async move {
            for _ in 0..5 {
                h.yield_now().await;
            }
            h.sleep(Duration::from_millis(5)).await;
            *done.borrow_mut() = true;
        });
    }
    assert_eq!(rt.task_count(), 2);
    drive(&rt);
    assert!(*done.borrow());
    assert_eq!(rt.task_count(), 0);
}

fn dropped_future_and_runtime_with_inflight_io(backend: Backend) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let path = make_file(dir.path(), "f", 32);
    for _ in 0..3 {
        let rt = Runtime::new(&cfg(backend)).unwrap();
        let file = open(&path, true);
        for i in 0..32usize {
            let (h, file) = (rt.handle(), file.clone());
            rt.spawn(async move {
                let _ = h
                    .read_exact_at(&file, AlignedBuf::zeroed(PAGE), (i * PAGE) as u64)
                    .await;
                // Never finishes: the runtime is dropped with it.
                std::future::pending::<()>().await;
            });
        }
        // A sleeper and a writer in flight too.
        let h = rt.handle();
        let f2 = file.clone();
        rt.spawn(async move {
            h.sleep(Duration::from_secs(3600)).await;
            let _ = h.write_all_at(&f2, vec![AlignedBuf::zeroed(PAGE)], 0).await;
        });
        let h = rt.handle();
        let f3 = open(&dir.path().join("g"), true);
        rt.spawn(async move {
            let _ = h.write_all_at(&f3, vec![page_bytes(1, 1); 8], 0).await;
        });
        rt.turn(Some(Duration::ZERO));
        rt.turn(Some(Duration::ZERO));
        drop(rt);
    }
    // An IoHandle may outlive its runtime; nothing runs any more.
    let rt = Runtime::new(&cfg(backend)).unwrap();
    let h = rt.handle();
    drop(rt);
    assert_eq!(h.inflight_io(), 0);
}

fn read_many_in_order(backend: Backend) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let pa = make_file(dir.path(), "a", 4);
    let pb = make_file(dir.path(), "b", 2);
    let rules = Arc::new(FaultRules::new(vec![FaultRule {
        skip: 2,
        ..FaultRule::once(IoOpKind::Read, Fault::Errno(libc::EIO))
    }]));
    run(&cfg_faults(backend, &rules), move |h| async move {
        let a = open(&pa, true);
        let b = open(&pb, false);
        let reqs = vec![
            (a.clone(), 3 * PAGE as u64),
            (b.clone(), PAGE as u64),
            (a.clone(), 0),               // fails with the injected EIO
            (b.clone(), 2 * PAGE as u64), // EOF
            (a.clone(), 100),             // unaligned on a direct file
            (a.clone(), PAGE as u64),
        ];
        let out = h.read_many(reqs, PAGE).await;
        assert_eq!(out.len(), 6);
        assert_eq!(&out[0].as_ref().unwrap()[..], &page_bytes(3, 0)[..]);
        assert_eq!(&out[1].as_ref().unwrap()[..], &page_bytes(1, 0)[..]);
        assert_eq!(out[2].as_ref().unwrap_err().code(), KvError::IoFail);
        assert_eq!(out[3].as_ref().unwrap_err().code(), KvError::EndOfFile);
        assert_eq!(out[4].as_ref().unwrap_err().code(), KvError::InvalidArgs);
        assert_eq!(&out[5].as_ref().unwrap()[..], &page_bytes(1, 0)[..]);
        assert!(h.read_many(Vec::new(), PAGE).await.is_empty());
    });
}

fn buffered_and_direct_argument_checks(backend: Backend) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let path = make_file(dir.path(), "f", 2);
    run(&cfg(backend), move |h| async move {
        let d = open(&path, true);
        assert!(d.is_direct());
        let e = h.read_vec_at(&d, 10, 0).await.unwrap_err();
        assert_eq!(e.code(), KvError::InvalidArgs);
        let e = h
            .read_exact_at(&d, AlignedBuf::zeroed(PAGE), 512)
            .await
            .unwrap_err();
        assert_eq!(e.code(), KvError::InvalidArgs);
        let e = h
            .write_all_at(&d, vec![AlignedBuf::zeroed(PAGE)], 10)
            .await
            .unwrap_err();
        assert_eq!(e.code(), KvError::InvalidArgs);
        let (r, buf) = h.read_at(&d, AlignedBuf::zeroed(PAGE), 1).await;
        assert_eq!(r.unwrap_err().code(), KvError::InvalidArgs);
        assert_eq!(buf.len(), PAGE);
        // Buffered files take any offset.
        let f = open(&path, false);
        let v = h.read_vec_at(&f, 16, PAGE as u64 + 8).await.unwrap();
        assert_eq!(&v[..], &page_bytes(1, 0)[8..24]);
        let (r, buf) = h.read_at(&f, AlignedBuf::zeroed(PAGE), 3).await;
        assert_eq!(r.unwrap(), PAGE);
        assert_eq!(&buf[..PAGE - 3], &page_bytes(0, 0)[3..]);
        assert!(h.read_vec_at(&f, 0, 0).await.unwrap().is_empty());
        // A read-only file refuses writes with the OS error.
        let ro = Rc::new(IoFile::open(&path, FileKind::Data, OpenOptions::read_only()).unwrap());
        let e = h
            .write_all_at(&ro, vec![AlignedBuf::zeroed(PAGE)], 0)
            .await
            .unwrap_err();
        assert_eq!(e.code(), KvError::IoFail, "{e}");
    });
}

#[test]
fn backend_selection() {
    assert_eq!(Backend::Sync.resolve(), Backend::Sync);
    assert_eq!(Backend::Uring.resolve(), Backend::Uring);
    let rt = Runtime::new(&RuntimeConfig::with_backend(Backend::Sync)).unwrap();
    assert_eq!(rt.backend_name(), "sync");
    assert_eq!(rt.handle().backend_name(), "sync");
    // Auto picks something that works.
    let rt = Runtime::new(&RuntimeConfig::default()).unwrap();
    assert!(["sync", "io_uring"].contains(&rt.backend_name()));
    if uring_available() {
        let rt = Runtime::new(&RuntimeConfig {
            queue_depth: 100_000,
            ..RuntimeConfig::with_backend(Backend::Uring)
        })
        .unwrap();
        assert_eq!(rt.backend_name(), "io_uring");
        let rt = Runtime::new(&RuntimeConfig {
            queue_depth: 0,
            ..RuntimeConfig::with_backend(Backend::Uring)
        })
        .unwrap();
        assert_eq!(rt.backend_name(), "io_uring");
    }
}

#[test]
fn block_on_propagates_panics_and_values() {
    let cfg = RuntimeConfig::with_backend(Backend::Sync);
    assert_eq!(block_on_runtime(&cfg, |_| async { 42 }).unwrap(), 42);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on_runtime(&cfg, |_| async { panic!("inner (expected by the test)") })
    }));
    assert!(r.is_err());
}

#[test]
fn remote_waker_is_send_sync_and_huge_durations_do_not_panic() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<RemoteWaker>();
    assert_send_sync::<RuntimeConfig>();
    let rt = Runtime::new(&RuntimeConfig::with_backend(Backend::Sync)).unwrap();
    let h = rt.handle();
    let finished = Rc::new(RefCell::new(false));
    let f2 = finished.clone();
    rt.spawn(async move {
        h.sleep(Duration::MAX).await;
        *f2.borrow_mut() = true;
    });
    rt.turn(Some(Duration::ZERO));
    rt.remote().wake();
    rt.turn(Some(Duration::MAX));
    assert!(!*finished.borrow());
    assert_eq!(rt.task_count(), 1);
}

/// Every file-system operation, its success and error paths.
async fn fs_ops_body(h: IoHandle, d: PathBuf) {
    // open: missing, created, direct, read-only, bad arguments.
    let p = d.join("a");
    let e = h
        .open(&p, FileKind::Data, OpenOptions::read_write())
        .await
        .unwrap_err();
    assert_eq!(e.code(), KvError::NotFound, "{e}");
    assert!(
        e.message().contains("open") && e.message().contains("/a"),
        "{e}"
    );
    let f = Rc::new(
        h.open(
            &p,
            FileKind::Data,
            OpenOptions::read_write().create(true).direct(true),
        )
        .await
        .unwrap(),
    );
    assert!(f.is_direct(), "O_DIRECT works on /tmp");
    assert!(!f.is_read_only());
    assert_eq!(f.kind(), FileKind::Data);
    assert_eq!(f.path(), p);
    assert_eq!(h.file_len(&f).await.unwrap(), 0);
    let e = h
        .open(&p, FileKind::Data, OpenOptions::read_only().create(true))
        .await
        .unwrap_err();
    assert_eq!(e.code(), KvError::InvalidArgs);
    let e = h
        .open(
            Path::new("/tmp/nul\0byte"),
            FileKind::Data,
            OpenOptions::read_only(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), KvError::InvalidArgs);
    // procfs refuses O_DIRECT: the open falls back to buffered.
    let proc = Rc::new(
        h.open(
            Path::new("/proc/self/status"),
            FileKind::Other,
            OpenOptions::read_only().direct(true),
        )
        .await
        .unwrap(),
    );
    assert!(!proc.is_direct());
    assert!(proc.is_read_only());
    let v = h.read_vec_at(&proc, 65536, 0).await.unwrap();
    assert!(v.starts_with(b"Name:"));

    // fallocate / allocate: the file grows, never shrinks.
    h.allocate(&f, 8 * PAGE as u64).await.unwrap();
    assert_eq!(h.file_len(&f).await.unwrap(), 8 * PAGE as u64);
    h.allocate(&f, 2 * PAGE as u64).await.unwrap();
    assert_eq!(h.file_len(&f).await.unwrap(), 8 * PAGE as u64);
    h.fallocate(&f, 8 * PAGE as u64, PAGE as u64).await.unwrap();
    assert_eq!(h.file_len(&f).await.unwrap(), 9 * PAGE as u64);
    h.write_all_at(&f, vec![page_bytes(1, 1)], 0).await.unwrap();
    h.fdatasync(&f).await.unwrap();
    let ro = Rc::new(
        h.open(&p, FileKind::Data, OpenOptions::read_only())
            .await
            .unwrap(),
    );
    assert!(ro.is_read_only() && !ro.is_direct());
    let e = h.allocate(&ro, 16 * PAGE as u64).await.unwrap_err();
    assert_eq!(e.code(), KvError::IoFail, "{e}");

    // stat / exists.
    let st = h.stat(&p, FileKind::Data).await.unwrap();
    assert_eq!(
        st,
        FileStat {
            len: 9 * PAGE as u64,
            is_dir: false
        }
    );
    assert!(h.stat(&d, FileKind::Dir).await.unwrap().is_dir);
    let e = h.stat(&d.join("nope"), FileKind::Other).await.unwrap_err();
    assert_eq!(e.code(), KvError::NotFound);
    assert!(h.exists(&p, FileKind::Data).await.unwrap());
    assert!(!h.exists(&d.join("nope"), FileKind::Data).await.unwrap());

    // whole-file reads.
    let all = h.read_file(&p, FileKind::Data).await.unwrap();
    assert_eq!(all.len(), 9 * PAGE);
    assert_eq!(&all[..PAGE], &page_bytes(1, 1)[..]);
    assert!(all[PAGE..].iter().all(|&b| b == 0));
    let e = h
        .read_file(&d.join("nope"), FileKind::Manifest)
        .await
        .unwrap_err();
    assert_eq!(e.code(), KvError::NotFound);
    std::fs::write(d.join("empty"), b"").unwrap();
    assert!(
        h.read_file(&d.join("empty"), FileKind::Other)
            .await
            .unwrap()
            .is_empty()
    );

    // rename: onto a new name, over an existing file, from a missing one.
    let b = d.join("b");
    std::fs::write(&b, b"old content").unwrap();
    let tmp = d.join("b.tmp");
    std::fs::write(&tmp, b"new").unwrap();
    h.rename(&tmp, &b, FileKind::Manifest).await.unwrap();
    assert_eq!(std::fs::read(&b).unwrap(), b"new");
    assert!(!tmp.exists());
    let e = h.rename(&tmp, &b, FileKind::Manifest).await.unwrap_err();
    assert_eq!(e.code(), KvError::NotFound);
    assert!(e.message().contains("b.tmp"), "{e}");
    assert_eq!(std::fs::read(&b).unwrap(), b"new");

    // unlink: a file, then a missing one.
    h.unlink(&b, FileKind::Manifest).await.unwrap();
    assert!(!b.exists());
    let e = h.unlink(&b, FileKind::Manifest).await.unwrap_err();
    assert_eq!(e.code(), KvError::NotFound);

    // mkdir / create_dir_all / remove_dir.
    let sub = d.join("s");
    h.mkdir(&sub).await.unwrap();
    assert!(sub.is_dir());
    assert_eq!(h.mkdir(&sub).await.unwrap_err().code(), KvError::IoFail);
    let deep = d.join("x/y/z");
    h.create_dir_all(&deep).await.unwrap();
    assert!(deep.is_dir());
    h.create_dir_all(&deep).await.unwrap();
    h.create_dir_all(&sub).await.unwrap();
    let e = h.create_dir_all(&p.join("under_a_file")).await.unwrap_err();
    assert_ne!(e.code(), KvError::NoError);
    let e = h.create_dir_all(&p).await.unwrap_err();
    assert!(e.message().contains("not a directory"), "{e}");
    let e = h.remove_dir(&d.join("x")).await.unwrap_err();
    assert_eq!(e.code(), KvError::IoFail, "a non-empty directory stays");
    h.remove_dir(&deep).await.unwrap();
    assert!(!deep.exists() && d.join("x/y").is_dir());
    assert_eq!(
        h.remove_dir(&deep).await.unwrap_err().code(),
        KvError::NotFound
    );

    // directory sync and listing.
    h.sync_dir(&d).await.unwrap();
    h.sync_dir(&d.join("x/y")).await.unwrap();
    assert_eq!(
        h.sync_dir(&deep).await.unwrap_err().code(),
        KvError::NotFound
    );
    let dir = Rc::new(h.open_dir(&d).await.unwrap());
    assert_eq!(dir.kind(), FileKind::Dir);
    h.fsync(&dir).await.unwrap();
    let mut names: Vec<String> = h
        .read_dir(&d)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "empty", "s", "x"]);
    assert!(h.read_dir(&sub).await.unwrap().is_empty());
    assert_eq!(
        h.read_dir(&deep).await.unwrap_err().code(),
        KvError::NotFound
    );
    assert_eq!(h.read_dir(&p).await.unwrap_err().code(), KvError::IoFail);
    // Many names.
    for i in 0..300 {
        std::fs::write(sub.join(format!("n{i}")), b"").unwrap();
    }
    assert_eq!(h.read_dir(&sub).await.unwrap().len(), 300);
}

fn fs_ops(backend: Backend) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let d = dir.path().to_path_buf();
    run(&cfg(backend), move |h| fs_ops_body(h, d));
    if backend == Backend::Uring {
        // This kernel has the opcodes: only listings use the pool.
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        let rt = Runtime::new(&cfg(backend)).unwrap();
        let (h, d) = (rt.handle(), dir.path().to_path_buf());
        rt.spawn(async move {
            h.create_dir_all(&d.join("a/b")).await.unwrap();
            let f = Rc::new(
                h.open(
                    &d.join("a/f"),
                    FileKind::Data,
                    OpenOptions::read_write().create(true).direct(true),
                )
                .await
                .unwrap(),
            );
            h.allocate(&f, PAGE as u64).await.unwrap();
            assert_eq!(h.file_len(&f).await.unwrap(), PAGE as u64);
            h.fdatasync(&f).await.unwrap();
            h.rename(&d.join("a/f"), &d.join("a/g"), FileKind::Data)
                .await
                .unwrap();
            h.sync_dir(&d.join("a")).await.unwrap();
            assert!(h.exists(&d.join("a/g"), FileKind::Data).await.unwrap());
            h.unlink(&d.join("a/g"), FileKind::Data).await.unwrap();
            h.remove_dir(&d.join("a/b")).await.unwrap();
        });
        drive(&rt);
        let pool_threads = |rt: &Runtime| match &*rt.inner.driver.borrow() {
            Driver::Uring(d) => d.pool_threads(),
            Driver::Sync(_) => unreachable!(),
        };
        assert_eq!(
            pool_threads(&rt),
            0,
            "an io_uring file-system op used the pool"
        );
        let h = rt.handle();
        let d = dir.path().to_path_buf();
        rt.spawn(async move {
            assert_eq!(h.read_dir(&d).await.unwrap().len(), 1);
        });
        drive(&rt);
        assert_eq!(pool_threads(&rt), 1);

        // As on a kernel whose io_uring lacks the file-system opcodes: the
        // same operations run on the blocking pool.
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        let rt = Runtime::new(&cfg(backend)).unwrap();
        match &mut *rt.inner.driver.borrow_mut() {
            Driver::Uring(d) => d.disable_native_fs_ops(),
            Driver::Sync(_) => unreachable!(),
        }
        let ok = Rc::new(RefCell::new(false));
        let (h, d, ok2) = (rt.handle(), dir.path().to_path_buf(), ok.clone());
        rt.spawn(async move {
            fs_ops_body(h, d).await;
            *ok2.borrow_mut() = true;
        });
        drive(&rt);
        assert!(*ok.borrow());
    }
}

/// Every file-system operation kind failed by the injector, without
/// touching the disk; filters by kind, file kind and path.
fn fs_ops_faults(backend: Backend) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let rules = Arc::new(FaultRules::default());
    let r2 = rules.clone();
    let d = dir.path().to_path_buf();
    run(&cfg_faults(backend, &rules), move |h| async move {
        let p = d.join("f");
        let fail = |op, errno| FaultRule::once(op, Fault::Errno(errno));

        r2.push(fail(IoOpKind::Open, libc::EACCES));
        let e = h
            .open(&p, FileKind::Data, OpenOptions::read_write().create(true))
            .await
            .unwrap_err();
        assert_eq!(e.code(), KvError::IoFail, "{e}");
        assert!(!p.exists(), "a failed open creates nothing");
        let f = Rc::new(
            h.open(&p, FileKind::Data, OpenOptions::read_write().create(true))
                .await
                .unwrap(),
        );
        // An EINVAL on an O_DIRECT open takes the buffered fallback.
        r2.push(fail(IoOpKind::Open, libc::EINVAL));
        let g = h
            .open(&p, FileKind::Data, OpenOptions::read_write().direct(true))
            .await
            .unwrap();
        assert!(!g.is_direct());

        r2.push(fail(IoOpKind::Fallocate, libc::ENOSPC));
        let e = h.allocate(&f, 4 * PAGE as u64).await.unwrap_err();
        assert_eq!(e.code(), KvError::OutOfSpace);
        assert_eq!(h.file_len(&f).await.unwrap(), 0);
        // Where fallocate is unsupported, allocate extends with ftruncate.
        r2.push(fail(IoOpKind::Fallocate, libc::EOPNOTSUPP));
        h.allocate(&f, 4 * PAGE as u64).await.unwrap();
        assert_eq!(h.file_len(&f).await.unwrap(), 4 * PAGE as u64);
        r2.push(fail(IoOpKind::Fallocate, libc::EOPNOTSUPP));
        r2.push(fail(IoOpKind::Truncate, libc::EIO));
        let e = h.allocate(&f, 8 * PAGE as u64).await.unwrap_err();
        assert!(e.message().contains("extend"), "{e}");
        assert_eq!(h.file_len(&f).await.unwrap(), 4 * PAGE as u64);

        r2.push(fail(IoOpKind::Stat, libc::EIO));
        assert_eq!(h.file_len(&f).await.unwrap_err().code(), KvError::IoFail);
        r2.push(fail(IoOpKind::Stat, libc::ENOENT));
        assert!(!h.exists(&p, FileKind::Data).await.unwrap());
        // read_file fails at each of its steps.
        for op in [IoOpKind::Open, IoOpKind::Stat, IoOpKind::Read] {
            r2.push(FaultRule {
                file_kind: Some(FileKind::Manifest),
                ..fail(op, libc::EIO)
            });
            let e = h.read_file(&p, FileKind::Manifest).await.unwrap_err();
            assert_eq!(e.code(), KvError::IoFail, "{op:?}: {e}");
        }
        assert_eq!(
            h.read_file(&p, FileKind::Manifest).await.unwrap().len(),
            4 * PAGE
        );

        // File sync and directory sync are told apart.
        r2.push(fail(IoOpKind::SyncDir, libc::EIO));
        h.fdatasync(&f).await.unwrap();
        let e = h.sync_dir(&d).await.unwrap_err();
        assert_eq!(e.code(), KvError::IoFail);
        assert!(e.message().contains("fsync"), "{e}");
        h.sync_dir(&d).await.unwrap();
        r2.push(fail(IoOpKind::Sync, libc::EIO));
        h.sync_dir(&d).await.unwrap();
        assert!(h.fsync(&f).await.is_err());

        let sub = d.join("sub");
        r2.push(fail(IoOpKind::Mkdir, libc::ENOSPC));
        assert_eq!(h.mkdir(&sub).await.unwrap_err().code(), KvError::OutOfSpace);
        assert!(!sub.exists());
        r2.push(FaultRule {
            skip: 1,
            ..fail(IoOpKind::Mkdir, libc::EIO)
        });
        let e = h.create_dir_all(&sub.join("deeper")).await.unwrap_err();
        assert_eq!(e.code(), KvError::IoFail);
        h.create_dir_all(&sub.join("deeper")).await.unwrap();

        r2.push(fail(IoOpKind::ReadDir, libc::EIO));
        assert_eq!(h.read_dir(&d).await.unwrap_err().code(), KvError::IoFail);
        assert_eq!(h.read_dir(&d).await.unwrap().len(), 2);

        // Rename: matched by the new name; nothing moves when it fails.
        let tmp = d.join("m.tmp");
        let m = d.join("m");
        std::fs::write(&tmp, b"new").unwrap();
        std::fs::write(&m, b"old").unwrap();
        r2.push(FaultRule {
            path_contains: Some("/elsewhere".into()),
            ..fail(IoOpKind::Rename, libc::EIO)
        });
        r2.push(FaultRule {
            path_contains: Some("/m".into()),
            file_kind: Some(FileKind::Manifest),
            ..fail(IoOpKind::Rename, libc::EIO)
        });
        let e = h.rename(&tmp, &m, FileKind::Manifest).await.unwrap_err();
        assert_eq!(e.code(), KvError::IoFail);
        assert_eq!(std::fs::read(&m).unwrap(), b"old");
        assert_eq!(std::fs::read(&tmp).unwrap(), b"new");
        h.rename(&tmp, &m, FileKind::Manifest).await.unwrap();
        assert_eq!(std::fs::read(&m).unwrap(), b"new");
        r2.clear();

        // Unlink: the file stays when it fails.
        r2.push(FaultRule {
            file_kind: Some(FileKind::Data),
            ..fail(IoOpKind::Unlink, libc::EIO)
        });
        h.unlink(&m, FileKind::Manifest).await.unwrap();
        let e = h.unlink(&p, FileKind::Data).await.unwrap_err();
        assert_eq!(e.code(), KvError::IoFail);
        assert!(p.exists());
        h.unlink(&p, FileKind::Data).await.unwrap();
        assert!(!p.exists());
        r2.push(FaultRule {
            file_kind: Some(FileKind::Dir),
            ..fail(IoOpKind::Unlink, libc::EBUSY)
        });
        let deeper = sub.join("deeper");
        assert_eq!(
            h.remove_dir(&deeper).await.unwrap_err().code(),
            KvError::Busy
        );
        assert!(deeper.is_dir());
        h.remove_dir(&deeper).await.unwrap();
    });
    // 2 opens + 3 fallocates + 1 truncate + 2 stats + 3 in read_file + 1
    // directory sync + 1 file sync + 2 mkdirs + 1 listing + 1 rename + 2
    // unlinks.
    assert_eq!(rules.fired(), 19);
}

/// An operation held back on the blocking pool does not hold up the
/// shard: another task's disk I/O and timers go on, and the held operation
/// completes once released. Were the operation run on the shard thread,
/// the other task could not finish before it (the stall would end only by
/// its 60 s limit).
fn stalled_fs_op_does_not_block_the_shard(backend: Backend) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let path = make_file(dir.path(), "f", 4);
    let rules = Arc::new(FaultRules::new(vec![FaultRule::once(
        IoOpKind::Rename,
        Fault::Stall,
    )]));
    let rt = Runtime::new(&cfg_faults(backend, &rules)).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let (from, to) = (dir.path().join("f"), dir.path().join("g"));
    {
        let (h, log) = (rt.handle(), log.clone());
        rt.spawn(async move {
            h.rename(&from, &to, FileKind::Manifest).await.unwrap();
            log.borrow_mut().push("renamed");
        });
    }
    {
        let (h, log, rules) = (rt.handle(), log.clone(), rules.clone());
        rt.spawn(async move {
            // Once this turn has handed the rename over, it reaches a pool
            // thread and is held there.
            h.yield_now().await;
            assert!(rules.wait_stalled(1, Duration::from_secs(60)));
            let f = Rc::new(
                h.open(&path, FileKind::Data, OpenOptions::read_only())
                    .await
                    .unwrap(),
            );
            for i in 0..50 {
                let buf = h
                    .read_exact_at(&f, AlignedBuf::zeroed(PAGE), ((i % 4) * PAGE) as u64)
                    .await
                    .unwrap();
                assert_eq!(&buf[..8], &((i % 4) as u64).to_le_bytes());
            }
            h.create_dir_all(&path.with_file_name("sub")).await.unwrap();
            h.sleep(Duration::from_millis(1)).await;
            log.borrow_mut().push("served");
            rules.release_stalled();
        });
    }
    drive(&rt);
    assert_eq!(*log.borrow(), ["served", "renamed"]);
    assert!(dir.path().join("g").exists() && !dir.path().join("f").exists());
    assert_eq!(rules.stalled(), 1);
}

/// Descriptors in this process open on `path`.
fn fds_on(path: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == path))
        .count()
}

fn abandoned_open_closes_its_descriptor(backend: Backend) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let path = make_file(dir.path(), "f", 1);
    let rt = Runtime::new(&cfg(backend)).unwrap();
    {
        let (h, p) = (rt.handle(), path.clone());
        rt.spawn(async move {
            let fut = h.open(&p, FileKind::Data, OpenOptions::read_only());
            assert!(!poll_once_then_drop(fut).await);
            // And one whose result arrives but is never taken: the runtime
            // is dropped with it.
            let fut = h.open(&p, FileKind::Data, OpenOptions::read_only());
            let mut fut = Box::pin(fut);
            std::future::poll_fn(|cx| {
                assert!(fut.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            std::future::pending::<()>().await;
            drop(fut);
        });
    }
    rt.turn(Some(Duration::ZERO));
    let start = Instant::now();
    while rt.inflight_io() > 0 {
        assert!(start.elapsed() < Duration::from_secs(10));
        rt.turn(Some(Duration::from_millis(10)));
    }
    drop(rt);
    assert_eq!(fds_on(&path), 0, "an unclaimed descriptor stayed open");
}

fn dropped_runtime_with_fs_ops_in_flight(backend: Backend) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    for i in 0..2000 {
        std::fs::write(dir.path().join(format!("n{i}")), b"").unwrap();
    }
    for round in 0..3 {
        let rt = Runtime::new(&cfg(backend)).unwrap();
        for t in 0..8 {
            let (h, d) = (rt.handle(), dir.path().to_path_buf());
            rt.spawn(async move {
                let _ = h.read_dir(&d).await;
                let _ = h.stat(&d.join(format!("n{t}")), FileKind::Other).await;
                let _ = h
                    .open(
                        &d.join(format!("n{t}")),
                        FileKind::Data,
                        OpenOptions::read_only(),
                    )
                    .await;
                let _ = h.create_dir_all(&d.join(format!("r{round}/t{t}"))).await;
                std::future::pending::<()>().await;
            });
        }
        rt.turn(Some(Duration::ZERO));
        rt.turn(Some(Duration::ZERO));
        drop(rt);
    }
    assert_eq!(fds_on(&dir.path().join("n0")), 0);
}

#[test]
fn sync_driver_pool_stays_small() {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let path = make_file(dir.path(), "f", 8);
    let rt = Runtime::new(&cfg(Backend::Sync)).unwrap();
    let file = open(&path, false);
    for t in 0..2000usize {
        let (h, file) = (rt.handle(), file.clone());
        rt.spawn(async move {
            let buf = h
                .read_exact_at(&file, AlignedBuf::zeroed(PAGE), ((t % 8) * PAGE) as u64)
                .await
                .unwrap();
            assert_eq!(&buf[..8], &((t % 8) as u64).to_le_bytes());
        });
    }
    drive(&rt);
    let threads = match &*rt.inner.driver.borrow() {
        Driver::Sync(d) => d.pool_threads(),
        Driver::Uring(_) => unreachable!(),
    };
    assert!(
        (1..=super::super::pool::POOL_THREADS).contains(&threads),
        "{threads}"
    );
}

/// Background tasks' operations take at most `BACKGROUND_SHARE` kernel
/// slots while a foreground operation is in flight, and all they want
/// once none is. Reads of FIFOs stay in flight until the test writes to
/// them.
#[test]
fn background_ops_yield_to_foreground() {
    if !uring_available() {
        return;
    }
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let fifo = |name: &str| {
        let p = dir.path().join(name);
        let st = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
        // O_RDWR on a FIFO opens without waiting for the other end.
        Rc::new(IoFile::open(&p, FileKind::Data, OpenOptions::read_write()).unwrap())
    };
    let rt = Runtime::new(&cfg(Backend::Uring)).unwrap();
    let bg_in_kernel = |rt: &Runtime| match &*rt.inner.driver.borrow() {
        Driver::Uring(d) => d.background_in_kernel(),
        Driver::Sync(_) => unreachable!(),
    };
    let fg = fifo("fg");
    let done = Rc::new(Cell::new(0usize));
    {
        let (h, f) = (rt.handle(), fg.clone());
        rt.spawn(async move {
            let (n, _) = h.read_at(&f, AlignedBuf::zeroed(PAGE), 0).await;
            assert_eq!(n.unwrap(), 1);
        });
    }
    let bgs: Vec<Rc<IoFile>> = (0..10).map(|i| fifo(&format!("bg{i}"))).collect();
    for f in &bgs {
        let (h, f, done) = (rt.handle(), f.clone(), done.clone());
        rt.spawn_background(async move {
            let (n, _) = h.read_at(&f, AlignedBuf::zeroed(PAGE), 0).await;
            assert_eq!(n.unwrap(), 1);
            done.set(done.get() + 1);
        });
    }
    for _ in 0..5 {
        rt.turn(Some(Duration::from_millis(10)));
    }
    assert_eq!(bg_in_kernel(&rt), BACKGROUND_SHARE_FOR_TESTS);
    // The foreground read completes: background work may take every slot.
    std::fs::OpenOptions::new()
        .write(true)
        .open(fg.path())
        .and_then(|mut w| std::io::Write::write_all(&mut w, b"x"))
        .unwrap();
    let start = Instant::now();
    while bg_in_kernel(&rt) < bgs.len() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "background stayed capped"
        );
        rt.turn(Some(Duration::from_millis(10)));
    }
    for f in &bgs {
        std::fs::OpenOptions::new()
            .write(true)
            .open(f.path())
            .and_then(|mut w| std::io::Write::write_all(&mut w, b"y"))
            .unwrap();
    }
    drive(&rt);
    assert_eq!(done.get(), bgs.len());
}

/// In a turn, ready foreground tasks run before ready background ones,
/// whatever order they became ready in (a batch write's CPU work never
/// delays a read's next request within the turn).
#[test]
fn foreground_tasks_poll_before_background_ones() {
    let rt = Runtime::new(&cfg(Backend::Sync)).unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    for (i, bg) in [true, false, true, false, false].into_iter().enumerate() {
        let order = order.clone();
        let task = async move { order.borrow_mut().push((i, bg)) };
        if bg {
            rt.spawn_background(task);
        } else {
            rt.spawn(task);
        }
    }
    rt.turn(Some(Duration::ZERO));
    assert_eq!(
        *order.borrow(),
        [(1, false), (3, false), (4, false), (0, true), (2, true)]
    );
}
