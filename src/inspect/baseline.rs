//! `eloqstore disk-baseline`: what the disk under a directory can do, to
//! read benchmark figures against — sequential O_DIRECT write MB/s (1 MiB
//! writes, several in flight, fdatasync at the end) and random 4 KiB
//! O_DIRECT reads per second (many in flight), through the same I/O driver
//! the engine uses.

use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::format::page::AlignedBuf;
use crate::io::file::{FileKind, IoFile, OpenOptions};
use crate::io::runtime::{RuntimeConfig, block_on_runtime};
use crate::shard::util::join_all;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// What [`measure`] found.
pub struct Baseline {
    /// The I/O driver used ("io_uring" or "sync").
    pub backend: &'static str,
    /// Sequential write throughput, MiB/s.
    pub write_mib_s: f64,
    /// Random 4 KiB reads per second.
    pub read_iops: f64,
    /// Whether the file was really opened with O_DIRECT (some file systems,
    /// tmpfs among them, refuse it).
    pub direct: bool,
}

/// Writes `size_mib` MiB to a scratch file in `dir`, then reads it at
/// random for `secs` seconds with `depth` reads in flight; the file is
/// removed afterwards.
pub fn measure(dir: &std::path::Path, size_mib: u64, secs: u64, depth: usize) -> Result<Baseline> {
    std::fs::create_dir_all(dir).map_err(|e| Error::from_io(e, dir.display()))?;
    let path = dir.join(format!("eloqstore-baseline-{}", std::process::id()));
    let cfg = RuntimeConfig::default();
    let res = block_on_runtime(&cfg, move |io| {
        let path = path.clone();
        async move {
            let file = Rc::new(IoFile::open(
                &path,
                FileKind::Other,
                OpenOptions::read_write().direct(true).create(true),
            )?);
            let direct = file.is_direct();
            const CHUNK: usize = 1 << 20;
            let chunks = size_mib as usize;
            let start = Instant::now();
            let mut next = 0usize;
            while next < chunks {
                let n = (chunks - next).min(depth.clamp(1, 8));
                let futs: Vec<_> = (next..next + n)
                    .map(|i| {
                        let mut buf = AlignedBuf::zeroed(CHUNK);
                        buf[..8].copy_from_slice(&(i as u64).to_le_bytes());
                        let (io, file) = (io.clone(), file.clone());
                        async move {
                            io.write_all_at(&file, vec![buf], (i * CHUNK) as u64)
                                .await
                                .map(|_| ())
                        }
                    })
                    .collect();
                for r in join_all(futs).await {
                    r?;
                }
                next += n;
            }
            io.fdatasync(&file).await?;
            let write_secs = start.elapsed().as_secs_f64();
            // Random 4 KiB reads with `depth` in flight.
            let pages = (chunks * CHUNK / 4096) as u64;
            let deadline = Instant::now() + Duration::from_secs(secs);
            let start = Instant::now();
            let futs: Vec<_> = (0..depth)
                .map(|t| {
                    let (io, file) = (io.clone(), file.clone());
                    async move {
                        let mut rng = SmallRng::seed_from_u64(t as u64);
                        let mut n = 0u64;
                        while Instant::now() < deadline {
                            let off = rng.random_range(0..pages) * 4096;
                            io.read_exact_at(&file, AlignedBuf::zeroed(4096), off)
                                .await?;
                            n += 1;
                        }
                        Ok::<u64, Error>(n)
                    }
                })
                .collect();
            let mut reads = 0;
            for r in join_all(futs).await {
                reads += r?;
            }
            let read_secs = start.elapsed().as_secs_f64();
            Ok::<_, Error>((
                size_mib as f64 / write_secs,
                reads as f64 / read_secs,
                direct,
                io.backend_name(),
            ))
        }
    });
    let _ = std::fs::remove_file(dir.join(format!("eloqstore-baseline-{}", std::process::id())));
    let (write_mib_s, read_iops, direct, backend) = res??;
    Ok(Baseline {
        backend,
        write_mib_s,
        read_iops,
        direct,
    })
}
