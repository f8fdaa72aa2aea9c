//! squib's memory file `<id>.mem`: raw guest RAM, file offset 0 = guest-physical
//! [`DRAM_BASE`], logical length `mem_size_mib << 20`, written in 16 KiB pages. A full snapshot
//! writes every page; a diff snapshot sets the length and writes only the dirty pages, so the
//! clean pages are filesystem holes (there is no page list: `SEEK_DATA`/FIEMAP find the data).
//! Reading is [`crate::memory::file::FileImage`]'s (raw and sparse images, holes read as zeros).

use super::SquibFile;
use crate::memory::file::FileImage;
use crate::memory::ops::Output;
use crate::memory::{Extent, MemError, MemoryImage};
use crate::model::{MemoryLayout, MemoryRegion, RegionKind};
use crate::report::{Finding, Severity};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Guest-physical address of file offset 0 (squib-arch `layout::DRAM_BASE`).
pub const DRAM_BASE: u64 = 0x8000_0000;
/// Memory-file page size: the Apple Silicon host page (squib-arch `PageGeometry::host_page`).
pub const PAGE_SIZE: u64 = 16 * 1024;

/// The model's memory layout for `mem_size_mib`: one DRAM region at [`DRAM_BASE`], file offset 0,
/// 16 KiB pages.
pub fn memory_layout(mem_size_mib: u64) -> MemoryLayout {
    MemoryLayout {
        regions: vec![MemoryRegion {
            guest_addr: DRAM_BASE,
            size: mem_size_mib.saturating_mul(1 << 20),
            file_offset: 0,
            explicit_offset: false,
            kind: RegionKind::Dram,
            plugged: Vec::new(),
            read_only: false,
        }],
        page_size: PAGE_SIZE,
    }
}

/// The memory file squib pairs with a state file: the same path with its extension replaced by
/// `.mem` (squib's `describe` rule); `None` when the state path has no extension.
pub fn memory_path(state: &Path) -> Option<PathBuf> {
    state.extension()?;
    Some(state.with_extension("mem"))
}

/// Opens a squib memory file (full or sparse diff).
///
/// # Errors
/// When the file cannot be opened or is not a regular file.
pub fn open_memory(path: &Path) -> Result<FileImage, MemError> {
    FileImage::open(path)
}

/// The two memory-file shapes squib writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryKind {
    /// Every page written (holes of the input become zero bytes).
    Full,
    /// Length set, only the pages holding data written; the rest are holes.
    Diff,
}

/// What [`write_memory`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemoryReport {
    /// The shape written.
    pub kind: MemoryKind,
    /// Logical length.
    pub length: u64,
    /// 16 KiB pages written as data.
    pub pages_written: u64,
    /// Diff only: pages written whole although the input had data for only part of them (the
    /// rest is written as zeros, which a merge onto a base would copy over it).
    pub widened_pages: u64,
}

/// Writes `src` as a squib memory file at `out` (through a temporary file and a rename). A diff
/// writes the input's data extents widened to whole 16 KiB pages.
///
/// # Errors
/// I/O errors on either file.
pub fn write_memory(
    src: &dyn MemoryImage,
    out: &Path,
    kind: MemoryKind,
) -> Result<MemoryReport, MemError> {
    let len = src.len();
    let o = Output::create(out)?;
    let name = o.name();
    o.file().set_len(len).map_err(|e| MemError::io(&name, e))?;
    let (ranges, widened) = match kind {
        MemoryKind::Full => (
            vec![Extent {
                offset: 0,
                len: len.div_ceil(PAGE_SIZE) * PAGE_SIZE,
            }],
            0,
        ),
        MemoryKind::Diff => page_ranges(&src.extents()?),
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut pages = 0u64;
    for r in ranges {
        let end = r.end().min(len);
        let mut off = r.offset;
        while off < end {
            let n = (end - off).min(buf.len() as u64) as usize;
            src.read_at(off, &mut buf[..n])?;
            o.file()
                .write_all_at(&buf[..n], off)
                .map_err(|e| MemError::io(&name, e))?;
            off += n as u64;
        }
        pages += (end.saturating_sub(r.offset)).div_ceil(PAGE_SIZE);
    }
    o.commit()?;
    Ok(MemoryReport {
        kind,
        length: len,
        pages_written: pages,
        widened_pages: widened,
    })
}

/// Data extents widened to whole pages and merged; also the number of pages the data only
/// partly covered.
fn page_ranges(ext: &[Extent]) -> (Vec<Extent>, u64) {
    let mut out: Vec<Extent> = Vec::new();
    let mut widened = 0u64;
    let mut last_partial = u64::MAX;
    for e in ext.iter().filter(|e| e.len > 0) {
        let a = e.offset / PAGE_SIZE * PAGE_SIZE;
        let b = e.end().div_ceil(PAGE_SIZE) * PAGE_SIZE;
        for p in [e.offset, e.end()] {
            let page = p / PAGE_SIZE;
            if p % PAGE_SIZE != 0 && page != last_partial {
                widened += 1;
                last_partial = page;
            }
        }
        match out.last_mut() {
            Some(l) if a <= l.end() => l.len = l.len.max(b - l.offset),
            _ => out.push(Extent {
                offset: a,
                len: b - a,
            }),
        }
    }
    (out, widened)
}

/// Findings about a memory file beside `f` (squib's loader checks neither its size nor its
/// presence): `mem_file_size` when its length is not `mem_size_mib << 20`, `mem_granularity`
/// when its data does not sit in whole 16 KiB pages (a diff squib did not write).
pub fn memory_findings(f: &SquibFile, img: &dyn MemoryImage) -> Vec<Finding> {
    let mut out = Vec::new();
    let want = f.state.vm_info.mem_size_mib.saturating_mul(1 << 20);
    if img.len() != want {
        out.push(Finding {
            severity: Severity::Warning,
            code: "mem_file_size",
            offset: None,
            path: Some("vm_info.mem_size_mib".into()),
            message: format!(
                "{} is {} bytes; mem_size_mib = {} needs {want} (squib maps [0x{DRAM_BASE:x}, +{want}) \
                 from it and does not check)",
                img.path(),
                img.len(),
                f.state.vm_info.mem_size_mib
            ),
        });
    }
    match img.extents() {
        Ok(ext) => {
            let (_, widened) = page_ranges(&ext);
            let partial = ext.iter().any(|e| {
                e.offset % PAGE_SIZE != 0 || (e.end() % PAGE_SIZE != 0 && e.end() != img.len())
            });
            if partial || widened > 0 {
                out.push(Finding {
                    severity: Severity::Warning,
                    code: "mem_granularity",
                    offset: None,
                    path: None,
                    message: format!(
                        "{}: data extents are not whole 16 KiB pages ({widened} partly covered): \
                         squib writes diff files page by page; this one came from elsewhere",
                        img.path()
                    ),
                });
            }
        }
        Err(e) => out.push(Finding {
            severity: Severity::Warning,
            code: "mem_file_size",
            offset: None,
            path: None,
            message: e.to_string(),
        }),
    }
    out
}
