//! Where the bytes of a file's `MemoryPage` regions live, so that a file with gigabytes of
//! embedded pages is never held in memory: a file read from disk keeps only each page's offset
//! in it (pages are read back with `pread`); a file being built keeps its pages in memory until
//! they pass [`SPILL_AT`] bytes, then in an unnamed temporary file.

use super::PAGE_SIZE;
use crate::memory::{Extent, ImageKind, MemError, MemoryImage};
use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Bytes of pages a [`PageStore`] holds in memory before it moves them to a temporary file.
pub const SPILL_AT: usize = 64 << 20;

const PAGE: usize = PAGE_SIZE as usize;

/// The bytes of a file's `MemoryPage` regions, 4096 per page, in file order.
#[derive(Clone, Default)]
pub struct PageStore(Inner);

#[derive(Clone)]
enum Inner {
    /// In memory, back to back.
    Mem(Arc<Vec<u8>>),
    /// In a file at these offsets; `owned`: a temporary file of this store (appended to),
    /// otherwise a snapshot file that is only read.
    File {
        file: Arc<File>,
        offsets: Vec<u64>,
        owned: bool,
    },
}

impl Default for Inner {
    fn default() -> Self {
        Inner::Mem(Arc::default())
    }
}

impl PageStore {
    /// Pages held in `file` at `offsets` (4096 bytes each), read on demand and never written.
    pub fn in_file(file: Arc<File>, offsets: Vec<u64>) -> Self {
        PageStore(Inner::File {
            file,
            offsets,
            owned: false,
        })
    }

    /// Pages held in memory, back to back (a trailing partial page is dropped).
    pub fn from_bytes(mut bytes: Vec<u8>) -> Self {
        bytes.truncate(bytes.len() / PAGE * PAGE);
        PageStore(Inner::Mem(Arc::new(bytes)))
    }

    /// Number of pages.
    pub fn len(&self) -> usize {
        match &self.0 {
            Inner::Mem(v) => v.len() / PAGE,
            Inner::File { offsets, .. } => offsets.len(),
        }
    }

    /// Whether there are no pages.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the pages are read from a file rather than held in memory.
    pub fn is_in_file(&self) -> bool {
        matches!(self.0, Inner::File { .. })
    }

    /// Page `i` into `buf` (4096 bytes).
    ///
    /// # Errors
    /// `i` out of range, or the read of its file failed.
    pub fn read_page(&self, i: usize, buf: &mut [u8]) -> io::Result<()> {
        let missing = || io::Error::new(io::ErrorKind::NotFound, format!("no page {i}"));
        match &self.0 {
            Inner::Mem(v) => {
                let p = v.get(i * PAGE..(i + 1) * PAGE).ok_or_else(missing)?;
                buf.copy_from_slice(p);
            }
            Inner::File { file, offsets, .. } => {
                let off = *offsets.get(i).ok_or_else(missing)?;
                file.read_exact_at(buf, off)?;
            }
        }
        Ok(())
    }

    /// Page `i`: borrowed when in memory, read when in a file.
    ///
    /// # Errors
    /// As [`Self::read_page`].
    pub fn page(&self, i: usize) -> io::Result<Cow<'_, [u8]>> {
        if let Inner::Mem(v) = &self.0 {
            return v
                .get(i * PAGE..(i + 1) * PAGE)
                .map(Cow::Borrowed)
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no page {i}")));
        }
        let mut buf = vec![0u8; PAGE];
        self.read_page(i, &mut buf)?;
        Ok(Cow::Owned(buf))
    }

    /// Appends one page (cut or zero-padded to 4096 bytes).
    ///
    /// # Errors
    /// A write to the temporary file failed.
    pub fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut page = [0u8; PAGE];
        let n = bytes.len().min(PAGE);
        page[..n].copy_from_slice(&bytes[..n]);
        if let Inner::Mem(v) = &mut self.0 {
            if v.len() < SPILL_AT {
                Arc::make_mut(v).extend_from_slice(&page);
                return Ok(());
            }
            self.spill()?;
        }
        if let Inner::File { owned: false, .. } = self.0 {
            self.spill()?;
        }
        let Inner::File { file, offsets, .. } = &mut self.0 else {
            unreachable!("spilled above")
        };
        // Appended at the file's end: a clone of this store sharing the file never overwrites
        // the pages this one refers to.
        let at = file.metadata()?.len();
        file.write_all_at(&page, at)?;
        offsets.push(at);
        Ok(())
    }

    /// Moves the pages into a new temporary file of this store.
    fn spill(&mut self) -> io::Result<()> {
        let tmp = tempfile::tempfile()?;
        let mut buf = vec![0u8; PAGE];
        let n = self.len();
        let mut offsets = Vec::with_capacity(n);
        for i in 0..n {
            self.read_page(i, &mut buf)?;
            let at = (i * PAGE) as u64;
            tmp.write_all_at(&buf, at)?;
            offsets.push(at);
        }
        self.0 = Inner::File {
            file: Arc::new(tmp),
            offsets,
            owned: true,
        };
        Ok(())
    }
}

impl PartialEq for PageStore {
    /// Page by page (a page that cannot be read compares unequal).
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        if let (Inner::Mem(a), Inner::Mem(b)) = (&self.0, &other.0) {
            return a == b;
        }
        let (mut a, mut b) = (vec![0u8; PAGE], vec![0u8; PAGE]);
        (0..self.len()).all(|i| {
            self.read_page(i, &mut a).is_ok() && other.read_page(i, &mut b).is_ok() && a == b
        })
    }
}

impl Eq for PageStore {}

impl std::fmt::Debug for PageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.is_in_file() { "file" } else { "memory" };
        write!(f, "PageStore {{ pages: {}, in: {at} }}", self.len())
    }
}

/// The guest memory a VeridianOS file embeds, as an image: its pages where the file lists them,
/// holes elsewhere. Reads go to the [`PageStore`] (from the file itself when it was read from
/// disk), so the image costs 8 bytes per page of memory.
#[derive(Debug, Clone)]
pub struct PagesInFile {
    name: String,
    len: u64,
    indices: Arc<Vec<u64>>,
    store: PageStore,
}

impl PagesInFile {
    /// The image of `len` bytes whose page `indices[k]` (strictly increasing) is `store`'s page
    /// `k`.
    pub fn new(name: &str, len: u64, indices: Vec<u64>, store: PageStore) -> Self {
        PagesInFile {
            name: name.to_string(),
            len,
            indices: Arc::new(indices),
            store,
        }
    }
}

impl MemoryImage for PagesInFile {
    fn path(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ImageKind {
        ImageKind::PageList
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| MemError::format(&self.name, offset, "read past the end"))?;
        buf.fill(0);
        let first = offset / PAGE_SIZE;
        let mut page = vec![0u8; PAGE];
        let from = self.indices.partition_point(|&p| p < first);
        for (k, &p) in self.indices.iter().enumerate().skip(from) {
            let ps = p.saturating_mul(PAGE_SIZE);
            if ps >= end {
                break;
            }
            self.store
                .read_page(k, &mut page)
                .map_err(|e| MemError::io(&self.name, e))?;
            let (a, b) = (offset.max(ps), end.min(ps + PAGE_SIZE));
            if a < b {
                buf[(a - offset) as usize..(b - offset) as usize]
                    .copy_from_slice(&page[(a - ps) as usize..(b - ps) as usize]);
            }
        }
        Ok(())
    }

    fn extents(&self) -> Result<Vec<Extent>, MemError> {
        let mut out: Vec<Extent> = Vec::new();
        for &p in self.indices.iter() {
            let offset = p.saturating_mul(PAGE_SIZE);
            match out.last_mut() {
                Some(e) if e.end() == offset => e.len += PAGE_SIZE,
                _ => out.push(Extent {
                    offset,
                    len: PAGE_SIZE,
                }),
            }
        }
        Ok(crate::memory::clip(out, self.len))
    }
}
