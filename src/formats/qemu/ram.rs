//! Guest RAM of a QEMU stream as a memory image: each page read from the stream where its last
//! record put it; zero-page records and pages never sent are holes.

use super::stream::{PAGE_SIZE, PageData, Source};
use crate::memory::{Extent, ImageKind, MemError, MemoryImage};
use std::collections::BTreeMap;

/// The RAM block of a stream, read on demand.
#[derive(Debug, Clone)]
pub struct QemuRam {
    name: String,
    source: Source,
    len: u64,
    pages: BTreeMap<u64, PageData>,
}

impl QemuRam {
    /// A block of `len` bytes whose pages are where `pages` says in `source`.
    pub fn new(name: &str, source: Source, len: u64, pages: BTreeMap<u64, PageData>) -> Self {
        QemuRam {
            name: name.to_string(),
            source,
            len,
            pages,
        }
    }
}

impl MemoryImage for QemuRam {
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
        for (&p, d) in self.pages.range(first..) {
            let ps = p * PAGE_SIZE;
            if ps >= end {
                break;
            }
            let (a, b) = (offset.max(ps), end.min(ps + PAGE_SIZE));
            if a >= b {
                continue;
            }
            let dst = &mut buf[(a - offset) as usize..(b - offset) as usize];
            match *d {
                PageData::Fill(x) => dst.fill(x),
                PageData::At(at) => self
                    .source
                    .read_at(at + (a - ps), dst)
                    .map_err(|e| MemError::io(&self.name, e))?,
            }
        }
        Ok(())
    }

    fn extents(&self) -> Result<Vec<Extent>, MemError> {
        let mut out: Vec<Extent> = Vec::new();
        for (&p, d) in &self.pages {
            if *d == PageData::Fill(0) {
                continue;
            }
            let off = p * PAGE_SIZE;
            let len = PAGE_SIZE.min(self.len - off);
            match out.last_mut() {
                Some(e) if e.offset + e.len == off => e.len += len,
                _ => out.push(Extent { offset: off, len }),
            }
        }
        Ok(out)
    }
}
