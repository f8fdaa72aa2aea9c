//! Guest memory images: the files beside a state file that hold guest RAM.
//!
//! One trait, [`MemoryImage`], covers every kind snaptool reads: raw full images, sparse diff
//! images (holes = pages not present), zstd-compressed images with a seek table, arcbox's
//! `memory.bin.lz4` and page-list images. Every image has a logical length, can be read at any
//! offset (holes read as zeros) and lists its *data extents*: the byte ranges that are present.
//! For a full image the data extents are just where the file stores bytes; for a diff image they
//! are the pages the diff carries — a present page full of zeros is data, not a hole.
//!
//! The operations in [`ops`] (merge, memdiff, sparsify, convert, stats) work on any image kind
//! and write their outputs through a temporary file in the target directory and a rename.

pub mod file;
pub mod lz4;
pub mod ops;
pub mod pagelist;
pub mod zstd;

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The page size assumed when none is given (x86_64 and most aarch64 hosts).
pub const DEFAULT_PAGE_SIZE: u64 = 4096;

/// A byte range `[offset, offset + len)` of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    /// First byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

impl Extent {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// The kinds of memory image snaptool reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageKind {
    /// A plain file: guest RAM at its offset; holes (if any) are pages not present.
    Raw,
    /// zstd frames with a seek table (see `formats/memory.md`).
    Zstd,
    /// arcbox `memory.bin.lz4`: u32 LE size, then one LZ4 block.
    Lz4,
    /// A page list: page indices, then the bytes of those pages (see `formats/memory.md`).
    PageList,
}

impl ImageKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            ImageKind::Raw => "raw",
            ImageKind::Zstd => "zstd",
            ImageKind::Lz4 => "lz4",
            ImageKind::PageList => "pages",
        }
    }
}

/// Errors of memory-image work. Every variant names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum MemError {
    /// An I/O error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a well-formed image of its kind.
    #[error("{path}: at byte {offset}: {what}")]
    Format {
        /// The file.
        path: String,
        /// Byte offset in the file where the problem is.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// The images given cannot be combined (e.g. different logical sizes).
    #[error("{0}")]
    Mismatch(String),
}

impl MemError {
    pub(crate) fn io(path: &str, source: std::io::Error) -> Self {
        MemError::Io {
            path: path.to_string(),
            source,
        }
    }

    pub(crate) fn format(path: &str, offset: u64, what: impl Into<String>) -> Self {
        MemError::Format {
            path: path.to_string(),
            offset,
            what: what.into(),
        }
    }
}

/// A guest memory image of any kind.
pub trait MemoryImage: Send + Sync + std::fmt::Debug {
    /// The file this image was opened from.
    fn path(&self) -> &str;
    /// What kind of image this is.
    fn kind(&self) -> ImageKind;
    /// Logical length in bytes (the guest RAM it describes).
    fn len(&self) -> u64;
    /// Whether the logical length is zero.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` with the bytes at `offset` (holes read as zeros). Reading past the logical
    /// length is an error.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), MemError>;
    /// The data extents, sorted, non-overlapping and non-adjacent; everything else is a hole.
    fn extents(&self) -> Result<Vec<Extent>, MemError>;
}

/// Opens a memory image, recognising its kind from its first bytes (zstd frame magic, page-list
/// magic) or, for arcbox's magic-less LZ4 block, from a `.lz4` file name. Anything else is raw.
pub fn open(path: &Path) -> Result<Box<dyn MemoryImage>, MemError> {
    open_as(path, None)
}

/// Opens a memory image as `kind`, or recognises it (see [`open`]) when `kind` is `None`.
pub fn open_as(path: &Path, kind: Option<ImageKind>) -> Result<Box<dyn MemoryImage>, MemError> {
    let name = path.display().to_string();
    let kind = match kind {
        Some(k) => k,
        None => sniff(path)?,
    };
    let img: Box<dyn MemoryImage> = match kind {
        ImageKind::Raw => Box::new(file::FileImage::open(path)?),
        ImageKind::Zstd => Box::new(zstd::ZstdImage::open(path)?),
        ImageKind::Lz4 => Box::new(lz4::Lz4Image::open(path)?),
        ImageKind::PageList => Box::new(pagelist::PageListImage::open(path)?),
    };
    debug_assert_eq!(img.path(), name);
    Ok(img)
}

fn sniff(path: &Path) -> Result<ImageKind, MemError> {
    use std::io::Read;
    let name = path.display().to_string();
    let mut f = std::fs::File::open(path).map_err(|e| MemError::io(&name, e))?;
    let mut head = [0u8; 8];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(MemError::io(&name, e)),
        }
    }
    if n >= 4 && head[..4] == zstd::FRAME_MAGIC.to_le_bytes() {
        return Ok(ImageKind::Zstd);
    }
    if n == 8 && head == pagelist::MAGIC {
        return Ok(ImageKind::PageList);
    }
    if path.extension().is_some_and(|e| e == "lz4") {
        return Ok(ImageKind::Lz4);
    }
    Ok(ImageKind::Raw)
}

/// Sorts extents and merges overlapping or adjacent ones.
pub fn normalize(mut v: Vec<Extent>) -> Vec<Extent> {
    v.retain(|e| e.len > 0);
    v.sort_by_key(|e| e.offset);
    let mut out: Vec<Extent> = Vec::with_capacity(v.len());
    for e in v {
        match out.last_mut() {
            Some(l) if e.offset <= l.end() => l.len = l.len.max(e.end() - l.offset),
            _ => out.push(e),
        }
    }
    out
}

/// Clips extents to `[0, len)`.
pub fn clip(v: Vec<Extent>, len: u64) -> Vec<Extent> {
    v.into_iter()
        .filter(|e| e.offset < len)
        .map(|e| Extent {
            offset: e.offset,
            len: e.len.min(len - e.offset),
        })
        .collect()
}

/// Reads the whole logical content of an image (for tests and small images).
pub fn read_all(img: &dyn MemoryImage) -> Result<Vec<u8>, MemError> {
    let len = usize::try_from(img.len())
        .map_err(|_| MemError::Mismatch(format!("{}: too large to read at once", img.path())))?;
    let mut v = vec![0u8; len];
    img.read_at(0, &mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests;

/// A reusable buffer whose start is 4 KiB-aligned: the kernel copies page-cache data into an
/// aligned buffer several times faster than into one at a 16-byte offset (where `malloc` puts
/// large allocations).
#[derive(Debug, Default)]
pub(crate) struct AlignedBuf {
    pub(crate) v: Vec<u8>,
}

impl AlignedBuf {
    const ALIGN: usize = 4096;

    /// The first `len` bytes of the buffer (grown as needed; contents unspecified).
    pub(crate) fn get(&mut self, len: usize) -> &mut [u8] {
        let need = len + Self::ALIGN;
        if self.v.len() < need {
            self.v = vec![0u8; need];
        }
        let off = self.v.as_ptr().align_offset(Self::ALIGN).min(Self::ALIGN);
        &mut self.v[off..off + len]
    }
}

/// An in-memory image made of whole pages (for example the pages a VeridianOS snapshot embeds).
/// Pages not listed are holes.
#[derive(Debug, Clone)]
pub struct PagesImage {
    name: String,
    len: u64,
    page_size: u64,
    pages: std::collections::BTreeMap<u64, Vec<u8>>,
}

impl PagesImage {
    /// An image of `len` bytes holding `pages` (page index → `page_size` bytes).
    pub fn new(
        name: &str,
        len: u64,
        page_size: u64,
        pages: impl IntoIterator<Item = (u64, Vec<u8>)>,
    ) -> Self {
        PagesImage {
            name: name.to_string(),
            len,
            page_size,
            pages: pages.into_iter().collect(),
        }
    }
}

impl MemoryImage for PagesImage {
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
        let first = offset / self.page_size;
        for (&p, data) in self.pages.range(first..) {
            let ps = p * self.page_size;
            if ps >= end {
                break;
            }
            let (a, b) = (offset.max(ps), end.min(ps + data.len() as u64));
            if a < b {
                buf[(a - offset) as usize..(b - offset) as usize]
                    .copy_from_slice(&data[(a - ps) as usize..(b - ps) as usize]);
            }
        }
        Ok(())
    }

    fn extents(&self) -> Result<Vec<Extent>, MemError> {
        Ok(clip(
            normalize(
                self.pages
                    .iter()
                    .map(|(&p, d)| Extent {
                        offset: p * self.page_size,
                        len: d.len() as u64,
                    })
                    .collect(),
            ),
            self.len,
        ))
    }
}
