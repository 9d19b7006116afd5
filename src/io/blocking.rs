//! Blocking, read-only access to a partition's files with positional reads,
//! for tools that inspect a store without running the engine. Files are
//! opened read-only, so stores on read-only media can be inspected.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, KvError, Result};
use crate::format::manifest::TermMap;
use crate::format::names::data_file_name;
use crate::format::page::{AlignedBuf, FileId, FilePageId};
use crate::tree::PageSource;

/// Reads a whole file (a manifest or an archive).
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::from_io(e, path.display()))
}

/// Pages of one partition's data files, read with `pread`.
pub struct BlockingPageReader {
    dir: PathBuf,
    page_size: usize,
    shift: u8,
    terms: TermMap,
    files: RefCell<HashMap<FileId, File>>,
}

impl BlockingPageReader {
    pub fn new(dir: PathBuf, page_size: usize, shift: u8, terms: TermMap) -> Self {
        BlockingPageReader {
            dir,
            page_size,
            shift,
            terms,
            files: RefCell::new(HashMap::new()),
        }
    }

    /// The path of the data file holding `fp`, and the page's byte offset.
    pub fn locate(&self, fp: FilePageId) -> Result<(PathBuf, u64)> {
        let file_id = fp >> self.shift;
        let slot = fp & ((1u64 << self.shift) - 1);
        let term = self.terms.get(&file_id).copied().ok_or_else(|| {
            Error::corrupted(format!(
                "data file {file_id} is referenced but missing from the manifest's term map"
            ))
        })?;
        Ok((
            self.dir.join(data_file_name(file_id, term)),
            slot * self.page_size as u64,
        ))
    }

    fn read_at(&self, fp: FilePageId) -> Result<AlignedBuf> {
        let file_id = fp >> self.shift;
        let (path, offset) = self.locate(fp)?;
        let mut files = self.files.borrow_mut();
        let file = match files.get(&file_id) {
            Some(f) => f,
            None => {
                let f = File::open(&path).map_err(|e| Error::from_io(e, path.display()))?;
                files.entry(file_id).or_insert(f)
            }
        };
        let mut buf = AlignedBuf::for_read(self.page_size);
        let len = self.page_size;
        file.read_exact_at(&mut buf[..len], offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::new(
                    KvError::Corrupted,
                    format!(
                        "{}: page at offset {offset} lies beyond the end of the file",
                        path.display()
                    ),
                )
            } else {
                Error::from_io(e, path.display())
            }
        })?;
        Ok(buf)
    }
}

impl PageSource for BlockingPageReader {
    async fn read_page(&self, fp: FilePageId) -> Result<AlignedBuf> {
        self.read_at(fp)
    }
}
