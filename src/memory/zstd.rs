//! zstd-compressed memory images that can be read at any offset.
//!
//! The file is the zstd *seekable format*: independent zstd frames of at most
//! [`FRAME_SIZE`] uncompressed bytes each, then a skippable frame holding the seek table
//! (compressed and uncompressed size of every frame) with a 9-byte footer at the very end. Plain
//! `zstd -d` decompresses such a file to the raw image. snaptool adds one optional skippable frame
//! before the seek table listing the image's data extents, so a sparse diff image keeps its holes
//! through compression. Byte tables: `formats/memory.md`.

use super::{Extent, ImageKind, MemError, MemoryImage, normalize};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

/// Magic number of a zstd frame (little-endian on disk).
pub const FRAME_MAGIC: u32 = 0xFD2F_B528;
/// Magic of the skippable frame holding the seek table.
pub const SEEK_TABLE_MAGIC: u32 = 0x184D_2A5E;
/// Magic at the very end of a seekable file.
pub const SEEKABLE_MAGIC: u32 = 0x8F92_EAB1;
/// Magic of snaptool's skippable frame listing data extents.
pub const EXTENTS_MAGIC: u32 = 0x184D_2A5A;
/// Tag at the start of the extents frame's content.
pub const EXTENTS_TAG: &[u8; 8] = b"SNAPEXT1";
/// Uncompressed bytes per frame written by snaptool.
pub const FRAME_SIZE: u64 = 4 << 20;
/// log2 of the compression window: [`FRAME_SIZE`].
const WINDOW_LOG: u32 = 22;
/// Largest uncompressed frame snaptool accepts when reading.
pub const MAX_FRAME: u64 = 64 << 20;

#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Offset of the frame in the file.
    file_offset: u64,
    compressed: u32,
    /// Offset of its content in the image.
    offset: u64,
    size: u32,
}

/// A zstd seekable memory image.
#[derive(Debug)]
pub struct ZstdImage {
    name: String,
    file: File,
    len: u64,
    frames: Vec<Frame>,
    extents: Option<Vec<Extent>>,
    cache: Mutex<Option<(usize, Vec<u8>)>>,
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4]))
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]))
}

impl ZstdImage {
    /// Opens a seekable zstd image and checks its seek table against the file.
    pub fn open(path: &Path) -> Result<Self, MemError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| MemError::io(&name, e))?;
        let flen = file.metadata().map_err(|e| MemError::io(&name, e))?.len();
        let read = |off: u64, n: usize| -> Result<Vec<u8>, MemError> {
            let mut b = vec![0u8; n];
            file.read_exact_at(&mut b, off)
                .map_err(|e| MemError::io(&name, e))?;
            Ok(b)
        };
        if flen < 9 + 8 {
            return Err(MemError::format(
                &name,
                0,
                "too short for a zstd seek table",
            ));
        }
        let foot = read(flen - 9, 9)?;
        if le32(&foot, 5) != SEEKABLE_MAGIC {
            return Err(MemError::format(
                &name,
                flen - 4,
                "a zstd stream without a seek table (decompress it with `zstd -d` or convert it with `snaptool convert-mem`)",
            ));
        }
        let nframes = u64::from(le32(&foot, 0));
        let desc = foot[4];
        if desc & 0x7c != 0 {
            return Err(MemError::format(
                &name,
                flen - 5,
                "reserved bits set in the seek table descriptor",
            ));
        }
        let entry = if desc & 0x80 != 0 { 12 } else { 8 };
        let table_len = nframes
            .checked_mul(entry)
            .and_then(|t| t.checked_add(9 + 8))
            .filter(|&t| t <= flen)
            .ok_or_else(|| {
                MemError::format(
                    &name,
                    flen - 9,
                    format!("{nframes} frames do not fit the file"),
                )
            })?;
        let table_start = flen - table_len;
        let table = read(table_start, table_len as usize)?;
        if le32(&table, 0) != SEEK_TABLE_MAGIC || u64::from(le32(&table, 4)) != table_len - 8 {
            return Err(MemError::format(
                &name,
                table_start,
                "the seek table's skippable frame header does not match its footer",
            ));
        }
        let mut frames = Vec::with_capacity(nframes as usize);
        let (mut foff, mut off) = (0u64, 0u64);
        for i in 0..nframes as usize {
            let at = 8 + i * entry as usize;
            let (c, d) = (le32(&table, at), le32(&table, at + 4));
            if u64::from(d) > MAX_FRAME {
                return Err(MemError::format(
                    &name,
                    table_start + at as u64,
                    format!("frame {i} claims {d} bytes, over the {MAX_FRAME}-byte limit"),
                ));
            }
            frames.push(Frame {
                file_offset: foff,
                compressed: c,
                offset: off,
                size: d,
            });
            foff += u64::from(c);
            off += u64::from(d);
        }
        if foff > table_start {
            return Err(MemError::format(
                &name,
                table_start,
                "the frames listed in the seek table overrun it",
            ));
        }
        // Optional extents frame between the last data frame and the seek table.
        let mut extents = None;
        if foff < table_start {
            let b = read(foff, (table_start - foff).min(16) as usize)?;
            if b.len() < 16 || le32(&b, 0) != EXTENTS_MAGIC || &b[8..16] != EXTENTS_TAG {
                return Err(MemError::format(
                    &name,
                    foff,
                    "unexpected bytes between the last frame and the seek table",
                ));
            }
            let size = u64::from(le32(&b, 4));
            if foff + 8 + size != table_start || size < 24 || (size - 24) % 16 != 0 {
                return Err(MemError::format(
                    &name,
                    foff,
                    "the extents frame does not end where the seek table starts",
                ));
            }
            let body = read(foff + 8, size as usize)?;
            let logical = le64(&body, 8);
            let count = le64(&body, 16);
            if logical != off || count != (size - 24) / 16 {
                return Err(MemError::format(
                    &name,
                    foff + 16,
                    "the extents frame disagrees with the seek table",
                ));
            }
            let mut v = Vec::with_capacity(count as usize);
            let mut prev_end = 0u64;
            for i in 0..count as usize {
                let (o, l) = (le64(&body, 24 + 16 * i), le64(&body, 32 + 16 * i));
                if o < prev_end || l == 0 || o.checked_add(l).is_none_or(|e| e > logical) {
                    return Err(MemError::format(
                        &name,
                        foff + 8 + 24 + 16 * i as u64,
                        format!("extent {i} is out of order, empty or past the end"),
                    ));
                }
                prev_end = o + l;
                v.push(Extent { offset: o, len: l });
            }
            extents = Some(normalize(v));
        }
        Ok(ZstdImage {
            name,
            file,
            len: off,
            frames,
            extents,
            cache: Mutex::new(None),
        })
    }

    fn frame_bytes(&self, i: usize, out: &mut [u8]) -> Result<(), MemError> {
        let f = self.frames[i];
        let mut comp = vec![0u8; f.compressed as usize];
        self.file
            .read_exact_at(&mut comp, f.file_offset)
            .map_err(|e| MemError::io(&self.name, e))?;
        let n = zstd::bulk::Decompressor::new()
            .and_then(|mut d| d.decompress_to_buffer(&comp, out))
            .map_err(|e| MemError::format(&self.name, f.file_offset, format!("frame {i}: {e}")))?;
        if n != f.size as usize {
            return Err(MemError::format(
                &self.name,
                f.file_offset,
                format!("frame {i} holds {n} bytes, the seek table says {}", f.size),
            ));
        }
        Ok(())
    }
}

impl MemoryImage for ZstdImage {
    fn path(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ImageKind {
        ImageKind::Zstd
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| MemError::format(&self.name, offset, "read past the end"))?;
        let mut i = self
            .frames
            .partition_point(|f| f.offset + u64::from(f.size) <= offset);
        let mut pos = offset;
        while pos < end {
            let f = self.frames[i];
            let (fs, fe) = (f.offset, f.offset + u64::from(f.size));
            let (a, b) = (pos.max(fs), end.min(fe));
            let dst = &mut buf[(a - offset) as usize..(b - offset) as usize];
            if a == fs && b == fe {
                self.frame_bytes(i, dst)?;
            } else {
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.as_ref().is_none_or(|(k, _)| *k != i) {
                    let mut v = vec![0u8; f.size as usize];
                    self.frame_bytes(i, &mut v)?;
                    *cache = Some((i, v));
                }
                if let Some((_, v)) = cache.as_ref() {
                    dst.copy_from_slice(&v[(a - fs) as usize..(b - fs) as usize]);
                }
            }
            pos = b;
            i += 1;
        }
        Ok(())
    }

    fn extents(&self) -> Result<Vec<Extent>, MemError> {
        Ok(match &self.extents {
            Some(v) => v.clone(),
            None if self.len > 0 => vec![Extent {
                offset: 0,
                len: self.len,
            }],
            None => Vec::new(),
        })
    }
}

/// A compressor context and two buffers per thread.
type CompressorState = (
    Option<(i32, zstd::bulk::Compressor<'static>)>,
    super::AlignedBuf,
    Vec<u8>,
);

thread_local! {
    static COMPRESSOR: std::cell::RefCell<CompressorState> =
        const { std::cell::RefCell::new((None, super::AlignedBuf { v: Vec::new() }, Vec::new())) };
}

/// A compressed frame: its buffer, where the frame starts in it, its length, and the frame's
/// uncompressed size.
type Compressed = (Vec<u8>, usize, usize, u32);

/// Output buffers for compressed frames, reused across frames.
static STORES: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

fn take_store(len: usize) -> Vec<u8> {
    let mut v = STORES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pop()
        .unwrap_or_default();
    if v.len() < len {
        v = vec![0u8; len];
    }
    v
}

fn give_store(v: Vec<u8>) {
    let mut s = STORES.lock().unwrap_or_else(|p| p.into_inner());
    if s.len() < 64 {
        s.push(v);
    }
}

/// Writes `img` as a seekable zstd image to `out` at compression `level`, frames compressed in
/// parallel. The extents frame is written when the image has holes. `progress` receives the
/// number of logical bytes done after each batch.
pub fn write(
    img: &dyn MemoryImage,
    out: &File,
    out_name: &str,
    level: i32,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(), MemError> {
    use rayon::prelude::*;
    use std::io::Write;
    let len = img.len();
    let extents = img.extents()?;
    let nframes = len.div_ceil(FRAME_SIZE);
    if nframes > u64::from(u32::MAX) {
        return Err(MemError::Mismatch(format!(
            "{}: too large for a zstd seek table",
            img.path()
        )));
    }
    let mut w = std::io::BufWriter::with_capacity(64 << 10, out);
    let mut table = Vec::with_capacity(nframes as usize * 8);
    let batch = (rayon::current_num_threads() as u64 * 8).max(8);
    let compress = |i: u64, n: u64| -> Vec<Result<Compressed, MemError>> {
        (i..i + n)
            .into_par_iter()
            .map(|k| {
                let off = k * FRAME_SIZE;
                let size = FRAME_SIZE.min(len - off);
                COMPRESSOR.with(|c| {
                    let mut c = c.borrow_mut();
                    let (cx, buf, _) = &mut *c;
                    if cx.as_ref().is_none_or(|(l, _)| *l != level) {
                        let mut z = zstd::bulk::Compressor::new(level)
                            .map_err(|e| MemError::io(out_name, e))?;
                        // A window as large as the frame: every byte of the frame can refer
                        // back to any earlier one, as in a single-stream compression.
                        z.set_parameter(zstd::stream::raw::CParameter::WindowLog(WINDOW_LOG))
                            .map_err(|e| MemError::io(out_name, e))?;
                        *cx = Some((level, z));
                    }
                    let buf = buf.get(size as usize);
                    img.read_at(off, buf)?;
                    let Some((_, z)) = cx.as_mut() else {
                        return Err(MemError::Mismatch("no zstd context".into()));
                    };
                    // Compress straight into a page-aligned slice of a pooled buffer: the
                    // kernel copies aligned data into the page cache much faster.
                    let bound = zstd::zstd_safe::compress_bound(buf.len());
                    let mut store = take_store(bound + 4096);
                    let start = store.as_ptr().align_offset(4096).min(4096);
                    let n = z
                        .compress_to_buffer(&buf[..], &mut store[start..start + bound])
                        .map_err(|e| MemError::io(out_name, e))?;
                    Ok((store, start, n, size as u32))
                })
            })
            .collect()
    };
    // One batch is written while the next is compressed.
    let mut pending: Vec<Result<Compressed, MemError>> = Vec::new();
    let mut i = 0u64;
    loop {
        let n = batch.min(nframes - i);
        let done = std::mem::take(&mut pending);
        let (written, next) = rayon::join(
            || -> Result<(), MemError> {
                for c in done {
                    let (store, start, n, size) = c?;
                    w.write_all(&store[start..start + n])
                        .map_err(|e| MemError::io(out_name, e))?;
                    table.push((n as u32, size));
                    give_store(store);
                }
                Ok(())
            },
            || compress(i, n),
        );
        written?;
        if n > 0 {
            progress((i * FRAME_SIZE).min(len));
        }
        if next.is_empty() {
            break;
        }
        pending = next;
        i += n;
    }
    progress(len);
    let full = extents.len() == 1 && extents[0].offset == 0 && extents[0].len == len;
    if !full && len > 0 {
        let size = 24 + 16 * extents.len() as u64;
        let size32 = u32::try_from(size).map_err(|_| {
            MemError::Mismatch(format!("{}: too many extents for a zstd image", img.path()))
        })?;
        let mut b = Vec::with_capacity(size as usize + 8);
        b.extend_from_slice(&EXTENTS_MAGIC.to_le_bytes());
        b.extend_from_slice(&size32.to_le_bytes());
        b.extend_from_slice(EXTENTS_TAG);
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&(extents.len() as u64).to_le_bytes());
        for e in &extents {
            b.extend_from_slice(&e.offset.to_le_bytes());
            b.extend_from_slice(&e.len.to_le_bytes());
        }
        w.write_all(&b).map_err(|e| MemError::io(out_name, e))?;
    }
    let mut t = Vec::with_capacity(table.len() * 8 + 17);
    t.extend_from_slice(&SEEK_TABLE_MAGIC.to_le_bytes());
    t.extend_from_slice(&((table.len() * 8 + 9) as u32).to_le_bytes());
    for (c, d) in &table {
        t.extend_from_slice(&c.to_le_bytes());
        t.extend_from_slice(&d.to_le_bytes());
    }
    t.extend_from_slice(&(table.len() as u32).to_le_bytes());
    t.push(0);
    t.extend_from_slice(&SEEKABLE_MAGIC.to_le_bytes());
    w.write_all(&t).map_err(|e| MemError::io(out_name, e))?;
    w.flush().map_err(|e| MemError::io(out_name, e))?;
    Ok(())
}
