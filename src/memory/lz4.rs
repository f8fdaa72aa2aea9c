//! arcbox `memory.bin.lz4`: the uncompressed size as u32 LE, then one LZ4 block (the lz4_flex
//! "prepend size" form). There is no magic and no checksum; the whole image is one block, so it
//! is decompressed once when opened.

use super::{Extent, ImageKind, MemError, MemoryImage};
use std::path::Path;

/// The most an LZ4 block can expand: 255 output bytes per input byte, plus slack.
const MAX_RATIO: u64 = 255;

/// An arcbox LZ4 memory image, held decompressed.
#[derive(Debug)]
pub struct Lz4Image {
    name: String,
    data: Vec<u8>,
}

impl Lz4Image {
    /// Opens and decompresses `path`.
    pub fn open(path: &Path) -> Result<Self, MemError> {
        let name = path.display().to_string();
        let raw = std::fs::read(path).map_err(|e| MemError::io(&name, e))?;
        Ok(Lz4Image {
            data: decode(&name, &raw)?,
            name,
        })
    }

    /// The decompressed image.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

/// Decompresses the bytes of an arcbox LZ4 image, refusing sizes the block cannot hold.
pub fn decode(name: &str, raw: &[u8]) -> Result<Vec<u8>, MemError> {
    if raw.len() < 4 {
        return Err(MemError::format(
            name,
            0,
            "shorter than the 4-byte size prefix",
        ));
    }
    let size = u64::from(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]));
    let body = (raw.len() - 4) as u64;
    if size > body.saturating_mul(MAX_RATIO) + 16 {
        return Err(MemError::format(
            name,
            0,
            format!("claims {size} bytes, more than a {body}-byte LZ4 block can hold"),
        ));
    }
    let mut out = vec![0u8; size as usize];
    let n = lz4_flex::block::decompress_into(&raw[4..], &mut out)
        .map_err(|e| MemError::format(name, 4, format!("LZ4 block: {e}")))?;
    if n as u64 != size {
        return Err(MemError::format(
            name,
            4,
            format!("the LZ4 block holds {n} bytes, the prefix says {size}"),
        ));
    }
    Ok(out)
}

/// Compresses `data` into the arcbox LZ4 form (at most 4 GiB − 1 bytes).
pub fn encode(name: &str, data: &[u8]) -> Result<Vec<u8>, MemError> {
    if u32::try_from(data.len()).is_err() {
        return Err(MemError::Mismatch(format!(
            "{name}: {} bytes do not fit an LZ4 image's 32-bit size",
            data.len()
        )));
    }
    Ok(lz4_flex::block::compress_prepend_size(data))
}

impl MemoryImage for Lz4Image {
    fn path(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ImageKind {
        ImageKind::Lz4
    }

    fn len(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.len())
            .ok_or_else(|| MemError::format(&self.name, offset, "read past the end"))?;
        buf.copy_from_slice(&self.data[offset as usize..end as usize]);
        Ok(())
    }

    fn extents(&self) -> Result<Vec<Extent>, MemError> {
        Ok(if self.data.is_empty() {
            Vec::new()
        } else {
            vec![Extent {
                offset: 0,
                len: self.len(),
            }]
        })
    }
}
