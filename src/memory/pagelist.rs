//! Page-list memory images: a list of page indices followed by the bytes of those pages, the
//! natural companion of a VeridianOS `VmSnapshot` (which lists page indices but holds no bytes).
//! Pages not listed are holes. Byte table: `formats/memory.md`.
//!
//! ```text
//! 0   magic "SNAPPGL1"
//! 8   page_size  u32 LE (a power of two, 512 B ..= 1 MiB)
//! 12  reserved   u32 = 0
//! 16  length     u64 LE   logical image length
//! 24  count      u64 LE   number of pages listed
//! 32  index[count] u64 LE strictly increasing, each < ceil(length / page_size)
//! ..  count × page_size bytes, in index order (past `length`, the last page is zero-padded)
//! ```

use super::{Extent, ImageKind, MemError, MemoryImage, normalize};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The magic at offset 0.
pub const MAGIC: [u8; 8] = *b"SNAPPGL1";
/// Size of the fixed header.
pub const HEADER: u64 = 32;

/// A page-list memory image.
#[derive(Debug)]
pub struct PageListImage {
    name: String,
    file: File,
    page_size: u64,
    len: u64,
    indices: Vec<u64>,
}

impl PageListImage {
    /// Opens `path` and checks its header and index against the file length.
    pub fn open(path: &Path) -> Result<Self, MemError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| MemError::io(&name, e))?;
        let flen = file.metadata().map_err(|e| MemError::io(&name, e))?.len();
        if flen < HEADER {
            return Err(MemError::format(
                &name,
                0,
                "shorter than the 32-byte header",
            ));
        }
        let mut h = [0u8; HEADER as usize];
        file.read_exact_at(&mut h, 0)
            .map_err(|e| MemError::io(&name, e))?;
        if h[..8] != MAGIC {
            return Err(MemError::format(
                &name,
                0,
                "not a page-list image (bad magic)",
            ));
        }
        let page_size = u64::from(u32::from_le_bytes([h[8], h[9], h[10], h[11]]));
        if !page_size.is_power_of_two() || !(512..=1 << 20).contains(&page_size) {
            return Err(MemError::format(
                &name,
                8,
                format!("page size {page_size} is not a power of two in 512..=1048576"),
            ));
        }
        if h[12..16] != [0; 4] {
            return Err(MemError::format(&name, 12, "reserved field is not zero"));
        }
        let len = u64::from_le_bytes(h[16..24].try_into().unwrap_or([0; 8]));
        let count = u64::from_le_bytes(h[24..32].try_into().unwrap_or([0; 8]));
        let expect = count
            .checked_mul(8 + page_size)
            .and_then(|b| b.checked_add(HEADER));
        if expect != Some(flen) {
            return Err(MemError::format(
                &name,
                24,
                format!("{count} pages of {page_size} bytes do not match the file length {flen}"),
            ));
        }
        let mut raw = vec![0u8; (count * 8) as usize];
        file.read_exact_at(&mut raw, HEADER)
            .map_err(|e| MemError::io(&name, e))?;
        let pages = len.div_ceil(page_size);
        let mut indices = Vec::with_capacity(count as usize);
        for (i, c) in raw.chunks_exact(8).enumerate() {
            let p = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            if p >= pages || indices.last().is_some_and(|&l| p <= l) {
                return Err(MemError::format(
                    &name,
                    HEADER + 8 * i as u64,
                    format!("page index {p} is past the end or out of order"),
                ));
            }
            indices.push(p);
        }
        Ok(PageListImage {
            name,
            file,
            page_size,
            len,
            indices,
        })
    }

    /// The page size of the list.
    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    /// The listed page indices.
    pub fn indices(&self) -> &[u64] {
        &self.indices
    }

    fn data_offset(&self, slot: usize) -> u64 {
        HEADER + 8 * self.indices.len() as u64 + slot as u64 * self.page_size
    }
}

impl MemoryImage for PageListImage {
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
        let mut slot = self.indices.partition_point(|&p| p < first);
        while slot < self.indices.len() {
            let ps = self.indices[slot] * self.page_size;
            if ps >= end {
                break;
            }
            let (a, b) = (offset.max(ps), end.min(ps + self.page_size));
            self.file
                .read_exact_at(
                    &mut buf[(a - offset) as usize..(b - offset) as usize],
                    self.data_offset(slot) + (a - ps),
                )
                .map_err(|e| MemError::io(&self.name, e))?;
            slot += 1;
        }
        Ok(())
    }

    fn extents(&self) -> Result<Vec<Extent>, MemError> {
        Ok(super::clip(
            normalize(
                self.indices
                    .iter()
                    .map(|&p| Extent {
                        offset: p * self.page_size,
                        len: self.page_size,
                    })
                    .collect(),
            ),
            self.len,
        ))
    }
}

/// Writes `img` as a page-list image: every page that holds data is listed.
pub fn write(
    img: &dyn MemoryImage,
    out: &File,
    out_name: &str,
    page_size: u64,
) -> Result<(), MemError> {
    use std::io::Write;
    let len = img.len();
    let mut pages = Vec::new();
    for e in img.extents()? {
        let (a, b) = (e.offset / page_size, e.end().div_ceil(page_size));
        for p in a..b {
            if pages.last() != Some(&p) {
                pages.push(p);
            }
        }
    }
    let mut w = std::io::BufWriter::with_capacity(1 << 20, out);
    let io = |e| MemError::io(out_name, e);
    w.write_all(&MAGIC).map_err(io)?;
    let ps32 = u32::try_from(page_size)
        .map_err(|_| MemError::Mismatch(format!("page size {page_size} too large")))?;
    w.write_all(&ps32.to_le_bytes()).map_err(io)?;
    w.write_all(&[0; 4]).map_err(io)?;
    w.write_all(&len.to_le_bytes()).map_err(io)?;
    w.write_all(&(pages.len() as u64).to_le_bytes())
        .map_err(io)?;
    for p in &pages {
        w.write_all(&p.to_le_bytes()).map_err(io)?;
    }
    let mut buf = vec![0u8; page_size as usize];
    for p in &pages {
        let off = p * page_size;
        let n = page_size.min(len - off) as usize;
        buf.fill(0);
        img.read_at(off, &mut buf[..n])?;
        w.write_all(&buf).map_err(io)?;
    }
    w.flush().map_err(io)?;
    Ok(())
}
