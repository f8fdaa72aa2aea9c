//! arcbox `memory.bin.lz4`: the uncompressed size as u32 LE, then one LZ4 block (the lz4_flex
//! "prepend size" form). There is no magic and no checksum, and the whole image is one block.
//!
//! A block is decoded and encoded as a stream with a 64 KiB window (an LZ4 match reaches at most
//! 65,535 bytes back), so images of several GiB never sit in memory. Opening an image decodes it
//! once to check it and records a checkpoint (input offset and the 64 KiB before it) every
//! 64 MiB of output; a read starts from the nearest checkpoint, or continues where the previous
//! read stopped.

use super::{Extent, ImageKind, MemError, MemoryImage};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

/// The most an LZ4 block can expand: 255 output bytes per input byte, plus slack.
const MAX_RATIO: u64 = 255;
/// How far back a match reaches.
const WINDOW: usize = 1 << 16;
/// Output bytes between checkpoints.
const CHECKPOINT_EVERY: u64 = 64 << 20;
/// Input read-ahead.
const READ_CHUNK: usize = 256 << 10;
/// A match is at least this long.
const MIN_MATCH: usize = 4;
/// The last match starts at least this many bytes before the end of the block.
const MF_LIMIT: u64 = 12;
/// The block ends with at least this many literals.
const LAST_LITERALS: u64 = 5;

/// Where a decoder is: the next sequence part to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// At a token.
    Token,
    /// Copying literals; `then_match` unless the input ends after them.
    Literals { left: u64, match_nibble: u8 },
    /// Copying a match.
    Match { offset: u64, left: u64 },
    /// The block is done.
    End,
}

/// A resumable decoder over the block in a file: input offset, output count, the last 64 KiB
/// of output and the sequence part in progress.
#[derive(Debug, Clone)]
struct Decoder {
    in_pos: u64,
    out_pos: u64,
    ring: Vec<u8>,
    part: Part,
    buf: Vec<u8>,
    buf_start: u64,
}

impl Decoder {
    fn start() -> Self {
        Decoder {
            in_pos: 4,
            out_pos: 0,
            ring: vec![0; WINDOW],
            part: Part::Token,
            buf: Vec::new(),
            buf_start: 4,
        }
    }

    /// A copy without the read-ahead buffer (for checkpoints).
    fn snapshot(&self) -> Self {
        Decoder {
            buf: Vec::new(),
            buf_start: self.in_pos,
            ..self.clone()
        }
    }
}

/// The file a decoder reads: name, handle, length.
struct Input<'a> {
    name: &'a str,
    file: &'a File,
    len: u64,
}

impl Input<'_> {
    fn err(&self, offset: u64, what: impl Into<String>) -> MemError {
        MemError::format(self.name, offset, what)
    }

    /// The next input byte.
    fn byte(&self, d: &mut Decoder) -> Result<u8, MemError> {
        let mut b = [0u8];
        self.bytes(d, &mut b)?;
        Ok(b[0])
    }

    /// The next `out.len()` input bytes.
    fn bytes(&self, d: &mut Decoder, out: &mut [u8]) -> Result<(), MemError> {
        let mut done = 0;
        while done < out.len() {
            let at = d.in_pos;
            if at >= self.len {
                return Err(self.err(at, "the LZ4 block ends in the middle of a sequence"));
            }
            let end = d.buf_start + d.buf.len() as u64;
            if at < d.buf_start || at >= end {
                let n = (READ_CHUNK as u64).min(self.len - at) as usize;
                d.buf.resize(n, 0);
                self.file
                    .read_exact_at(&mut d.buf, at)
                    .map_err(|e| MemError::io(self.name, e))?;
                d.buf_start = at;
                continue;
            }
            let i = (at - d.buf_start) as usize;
            let n = (out.len() - done).min(d.buf.len() - i);
            out[done..done + n].copy_from_slice(&d.buf[i..i + n]);
            done += n;
            d.in_pos += n as u64;
        }
        Ok(())
    }

    /// A length continued by 255-bytes.
    fn length(&self, d: &mut Decoder, nibble: u8) -> Result<u64, MemError> {
        let mut n = u64::from(nibble);
        if nibble == 15 {
            loop {
                let b = self.byte(d)?;
                n = n
                    .checked_add(u64::from(b))
                    .ok_or_else(|| self.err(d.in_pos, "length overflows"))?;
                if b != 255 {
                    break;
                }
            }
        }
        Ok(n)
    }

    /// Produces the next `dst.len()` output bytes (the caller never asks past `size`).
    fn fill(&self, d: &mut Decoder, dst: &mut [u8], size: u64) -> Result<(), MemError> {
        let dst_abs = d.out_pos;
        let mut pos = 0usize;
        while pos < dst.len() {
            match d.part {
                Part::End => {
                    return Err(self.err(d.in_pos, "the LZ4 block ends early"));
                }
                Part::Token => {
                    if d.in_pos == self.len {
                        d.part = Part::End;
                        continue;
                    }
                    let t = self.byte(d)?;
                    let left = self.length(d, t >> 4)?;
                    d.part = Part::Literals {
                        left,
                        match_nibble: t & 15,
                    };
                }
                Part::Literals { left, match_nibble } => {
                    if left > 0 {
                        let n = left.min((dst.len() - pos) as u64) as usize;
                        if d.out_pos + n as u64 > size {
                            return Err(self.err(
                                d.in_pos,
                                "the LZ4 block holds more bytes than its size prefix says",
                            ));
                        }
                        self.bytes(d, &mut dst[pos..pos + n])?;
                        pos += n;
                        d.out_pos += n as u64;
                        d.part = Part::Literals {
                            left: left - n as u64,
                            match_nibble,
                        };
                        continue;
                    }
                    if d.in_pos == self.len {
                        d.part = Part::End;
                        continue;
                    }
                    let mut o = [0u8; 2];
                    self.bytes(d, &mut o)?;
                    let offset = u64::from(u16::from_le_bytes(o));
                    if offset == 0 || offset > d.out_pos {
                        return Err(self.err(
                            d.in_pos - 2,
                            format!("match offset {offset} at output byte {}", d.out_pos),
                        ));
                    }
                    let len = self.length(d, match_nibble)? + MIN_MATCH as u64;
                    d.part = Part::Match { offset, left: len };
                }
                Part::Match { offset, left } => {
                    let n = left.min((dst.len() - pos) as u64) as usize;
                    if d.out_pos + n as u64 > size {
                        return Err(self.err(
                            d.in_pos,
                            "the LZ4 block holds more bytes than its size prefix says",
                        ));
                    }
                    copy_match(&d.ring, dst_abs, dst, pos, offset, n);
                    pos += n;
                    d.out_pos += n as u64;
                    let left = left - n as u64;
                    d.part = if left == 0 {
                        Part::Token
                    } else {
                        Part::Match { offset, left }
                    };
                }
            }
        }
        // Keep the last 64 KiB of output.
        let keep = dst.len().min(WINDOW);
        for (i, &b) in dst[dst.len() - keep..].iter().enumerate() {
            let abs = d.out_pos - keep as u64 + i as u64;
            d.ring[(abs % WINDOW as u64) as usize] = b;
        }
        Ok(())
    }
}

/// Copies `n` bytes of a match at distance `offset` into `dst[pos..]`, where `dst[0]` is output
/// byte `dst_abs` and earlier output is in `ring`.
fn copy_match(
    ring: &[u8],
    dst_abs: u64,
    dst: &mut [u8],
    mut pos: usize,
    offset: u64,
    mut n: usize,
) {
    let mut src = dst_abs + pos as u64 - offset;
    // The part of the source before `dst`: from the ring.
    while n > 0 && src < dst_abs {
        let r = (src % WINDOW as u64) as usize;
        let k = n.min((dst_abs - src) as usize).min(WINDOW - r);
        dst[pos..pos + k].copy_from_slice(&ring[r..r + k]);
        pos += k;
        src += k as u64;
        n -= k;
    }
    // The rest repeats what is already in `dst` with period `offset`: copy ever longer runs.
    if n > 0 {
        let a = (src - dst_abs) as usize;
        while n > 0 {
            let k = n.min(pos - a);
            dst.copy_within(a..a + k, pos);
            pos += k;
            n -= k;
        }
    }
}

/// An arcbox LZ4 memory image, decoded as a stream.
#[derive(Debug)]
pub struct Lz4Image {
    name: String,
    file: File,
    file_len: u64,
    size: u64,
    checkpoints: Vec<Decoder>,
    /// Decoders left where earlier reads stopped, so sequential reads (from several threads)
    /// continue instead of starting over.
    cursors: Mutex<Vec<Decoder>>,
}

/// Most decoders kept between reads.
const MAX_CURSORS: usize = 8;

impl Lz4Image {
    /// Opens `path` and decodes it once to check it.
    pub fn open(path: &Path) -> Result<Self, MemError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| MemError::io(&name, e))?;
        Self::from_file(file, &name)
    }

    /// Checks an open file holding an arcbox LZ4 image (decoding it once) and opens it.
    pub fn from_file(file: File, name: &str) -> Result<Self, MemError> {
        let file_len = file.metadata().map_err(|e| MemError::io(name, e))?.len();
        if file_len < 4 {
            return Err(MemError::format(
                name,
                0,
                "shorter than the 4-byte size prefix",
            ));
        }
        let mut p = [0u8; 4];
        file.read_exact_at(&mut p, 0)
            .map_err(|e| MemError::io(name, e))?;
        let size = u64::from(u32::from_le_bytes(p));
        let body = file_len - 4;
        if size > body.saturating_mul(MAX_RATIO) + 16 {
            return Err(MemError::format(
                name,
                0,
                format!("claims {size} bytes, more than a {body}-byte LZ4 block can hold"),
            ));
        }
        let input = Input {
            name,
            file: &file,
            len: file_len,
        };
        let mut d = Decoder::start();
        let mut checkpoints = vec![d.snapshot()];
        let mut scratch = vec![0u8; 1 << 20];
        while d.out_pos < size {
            let next = (d.out_pos / CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY;
            let n = (scratch.len() as u64)
                .min(size - d.out_pos)
                .min(next - d.out_pos) as usize;
            input.fill(&mut d, &mut scratch[..n], size)?;
            if d.out_pos == next && d.out_pos < size {
                checkpoints.push(d.snapshot());
            }
        }
        // The block must end exactly here (an empty block is one token with no literals).
        if d.part == Part::Token && d.in_pos < file_len {
            let t = input.byte(&mut d)?;
            if input.length(&mut d, t >> 4)? == 0 && d.in_pos == file_len {
                d.part = Part::End;
            }
        }
        if d.part == Part::Token && d.in_pos == file_len {
            d.part = Part::End;
        }
        if let Part::Literals { left: 0, .. } = d.part
            && d.in_pos == file_len
        {
            d.part = Part::End;
        }
        if d.part != Part::End {
            return Err(MemError::format(
                name,
                d.in_pos,
                format!("the LZ4 block holds more than the {size} bytes its size prefix says"),
            ));
        }
        Ok(Lz4Image {
            name: name.to_string(),
            file,
            file_len,
            size,
            checkpoints,
            cursors: Mutex::new(Vec::new()),
        })
    }

    /// The compressed file's length.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The open compressed file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl MemoryImage for Lz4Image {
    fn path(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ImageKind {
        ImageKind::Lz4
    }

    fn len(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), MemError> {
        offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.size)
            .ok_or_else(|| MemError::format(&self.name, offset, "read past the end"))?;
        let input = Input {
            name: &self.name,
            file: &self.file,
            len: self.file_len,
        };
        let cp = &self.checkpoints
            [((offset / CHECKPOINT_EVERY) as usize).min(self.checkpoints.len() - 1)];
        // The decoder that stopped closest before `offset` (and no further back than the
        // checkpoint), or a fresh one from the checkpoint.
        let mut d = {
            let mut pool = self.cursors.lock().unwrap_or_else(|p| p.into_inner());
            let best = (0..pool.len())
                .filter(|&i| pool[i].out_pos <= offset && pool[i].out_pos >= cp.out_pos)
                .max_by_key(|&i| pool[i].out_pos);
            match best {
                Some(i) => pool.swap_remove(i),
                None => cp.clone(),
            }
        };
        let mut skip = vec![0u8; (offset - d.out_pos).min(1 << 20) as usize];
        while d.out_pos < offset {
            let n = (offset - d.out_pos).min(skip.len() as u64) as usize;
            input.fill(&mut d, &mut skip[..n], self.size)?;
        }
        input.fill(&mut d, buf, self.size)?;
        let mut pool = self.cursors.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() >= MAX_CURSORS {
            pool.remove(0);
        }
        pool.push(d);
        Ok(())
    }

    fn extents(&self) -> Result<Vec<Extent>, MemError> {
        Ok(if self.size == 0 {
            Vec::new()
        } else {
            vec![Extent {
                offset: 0,
                len: self.size,
            }]
        })
    }
}

/// Decompresses the bytes of an arcbox LZ4 image held in memory, refusing sizes the block cannot
/// hold (for small images and tests; files are read with [`Lz4Image`]).
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

/// Compresses an image into the arcbox LZ4 form, writing to `out` as it goes: memory use is a
/// few MiB whatever the image's size (a run of more than 4 MiB of literals goes to an anonymous
/// temporary file until its length is known). Returns the bytes written.
pub fn encode_image(
    img: &dyn MemoryImage,
    out: &mut dyn Write,
    name: &str,
) -> Result<u64, MemError> {
    let total = img.len();
    let size = u32::try_from(total).map_err(|_| {
        MemError::Mismatch(format!(
            "{name}: {total} bytes do not fit an LZ4 image's 32-bit size"
        ))
    })?;
    let mut e = Encoder::new(out, name, total);
    e.put(&size.to_le_bytes())?;
    const CHUNK: u64 = 1 << 20;
    let mut chunk = vec![0u8; CHUNK as usize];
    let mut at = 0u64;
    while at < total {
        let n = CHUNK.min(total - at) as usize;
        img.read_at(at, &mut chunk[..n])?;
        e.feed(&chunk[..n])?;
        at += n as u64;
    }
    e.finish()
}

const HASH_BITS: u32 = 16;
/// Literals held in memory before they spill to a temporary file.
const SPILL_AT: usize = 4 << 20;

/// A streaming LZ4 block encoder (greedy, one hash probe per position).
struct Encoder<'a> {
    out: &'a mut dyn Write,
    name: &'a str,
    written: u64,
    /// Input bytes `[base, base + win.len())`.
    win: Vec<u8>,
    base: u64,
    /// Next position to encode.
    cur: u64,
    /// First literal not yet written.
    anchor: u64,
    /// Literals before `anchor`, spilled: file and length.
    spill: Option<(File, u64)>,
    total: u64,
    table: Vec<u64>,
}

impl<'a> Encoder<'a> {
    fn new(out: &'a mut dyn Write, name: &'a str, total: u64) -> Self {
        Encoder {
            out,
            name,
            written: 0,
            win: Vec::new(),
            base: 0,
            cur: 0,
            anchor: 0,
            spill: None,
            total,
            table: vec![0; 1 << HASH_BITS],
        }
    }

    fn put(&mut self, b: &[u8]) -> Result<(), MemError> {
        self.out
            .write_all(b)
            .map_err(|e| MemError::io(self.name, e))?;
        self.written += b.len() as u64;
        Ok(())
    }

    fn at(&self, p: u64) -> usize {
        (p - self.base) as usize
    }

    fn hash(&self, p: u64) -> usize {
        let i = self.at(p);
        let v = u32::from_le_bytes([
            self.win[i],
            self.win[i + 1],
            self.win[i + 2],
            self.win[i + 3],
        ]);
        (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
    }

    /// Adds input and encodes what can be encoded without seeing further.
    fn feed(&mut self, data: &[u8]) -> Result<(), MemError> {
        self.win.extend_from_slice(data);
        let avail = self.base + self.win.len() as u64;
        if avail < self.total {
            // Leave some look-ahead so matches are not cut at every chunk.
            self.encode_until(avail.saturating_sub(64 << 10), avail)?;
        }
        self.compact()
    }

    /// Drops input no match can reach and no pending literal needs.
    fn compact(&mut self) -> Result<(), MemError> {
        let keep_from = self.cur.saturating_sub(WINDOW as u64);
        if self.cur - self.anchor > SPILL_AT as u64 {
            // Move the pending literals before the window to the spill file.
            let upto = keep_from.max(self.anchor);
            if upto > self.anchor {
                let (a, b) = (self.at(self.anchor), self.at(upto));
                let name = self.name;
                let spill = match &mut self.spill {
                    Some(s) => s,
                    None => self
                        .spill
                        .insert((tempfile::tempfile().map_err(|e| MemError::io(name, e))?, 0)),
                };
                spill
                    .0
                    .write_all_at(&self.win[a..b], spill.1)
                    .map_err(|e| MemError::io(name, e))?;
                spill.1 += (b - a) as u64;
                self.anchor = upto;
            }
        }
        let cut = keep_from.min(self.anchor);
        if cut > self.base + (1 << 20) {
            let n = self.at(cut);
            self.win.drain(..n);
            self.base = cut;
        }
        Ok(())
    }

    /// Encodes positions before `stop`, with match lengths limited by `avail`.
    fn encode_until(&mut self, stop: u64, avail: u64) -> Result<(), MemError> {
        let match_start_limit = self.total.saturating_sub(MF_LIMIT);
        let match_end_limit = self.total.saturating_sub(LAST_LITERALS).min(avail);
        let stop = stop.min(match_start_limit);
        let mut misses = 0u32;
        while self.cur < stop && self.cur + MIN_MATCH as u64 <= avail {
            let p = self.cur;
            let h = self.hash(p);
            let cand = self.table[h];
            self.table[h] = p + 1;
            if cand > 0 {
                let c = cand - 1;
                if c >= self.base && p - c <= 65_535 && p > c {
                    let (ci, pi) = (self.at(c), self.at(p));
                    if self.win[ci..ci + 4] == self.win[pi..pi + 4] {
                        let max = (match_end_limit - p) as usize;
                        let len = MIN_MATCH
                            + common(
                                &self.win[ci + 4..],
                                &self.win[pi + 4..],
                                max.saturating_sub(4),
                            );
                        if len >= MIN_MATCH && p + len as u64 <= match_end_limit {
                            self.emit(p, p - c, len)?;
                            self.cur = p + len as u64;
                            self.anchor = self.cur;
                            if self.cur >= 2 && self.cur - 2 >= self.base && self.cur + 2 <= avail {
                                let q = self.cur - 2;
                                let hq = self.hash(q);
                                self.table[hq] = q + 1;
                            }
                            misses = 0;
                            continue;
                        }
                    }
                }
            }
            misses += 1;
            self.cur += 1 + u64::from(misses >> 6);
        }
        if self.cur > stop.max(self.anchor) && self.cur > avail {
            self.cur = avail;
        }
        Ok(())
    }

    fn write_len(&mut self, mut n: u64) -> Result<(), MemError> {
        let mut v = Vec::new();
        while n >= 255 {
            v.push(255);
            n -= 255;
        }
        v.push(n as u8);
        self.put(&v)
    }

    /// Writes one sequence: the literals before `p`, then a match.
    fn emit(&mut self, p: u64, offset: u64, len: usize) -> Result<(), MemError> {
        self.literals_then(p, Some((offset, len)))
    }

    fn literals_then(&mut self, p: u64, m: Option<(u64, usize)>) -> Result<(), MemError> {
        let spilled = self.spill.as_ref().map_or(0, |s| s.1);
        let lits = spilled + (p - self.anchor);
        let ml = m.map_or(0, |(_, l)| (l - MIN_MATCH) as u64);
        let token = ((lits.min(15) as u8) << 4) | ml.min(15) as u8;
        self.put(&[token])?;
        if lits >= 15 {
            self.write_len(lits - 15)?;
        }
        if let Some((f, n)) = self.spill.take() {
            let mut buf = vec![0u8; 1 << 20];
            let mut at = 0;
            while at < n {
                let k = (n - at).min(buf.len() as u64) as usize;
                f.read_exact_at(&mut buf[..k], at)
                    .map_err(|e| MemError::io(self.name, e))?;
                self.put(&buf[..k])?;
                at += k as u64;
            }
        }
        let (a, b) = (self.at(self.anchor), self.at(p));
        let lit = std::mem::take(&mut self.win);
        let r = self.put(&lit[a..b]);
        self.win = lit;
        r?;
        if let Some((offset, _)) = m {
            self.put(&(offset as u16).to_le_bytes())?;
            if ml >= 15 {
                self.write_len(ml - 15)?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<u64, MemError> {
        let end = self.base + self.win.len() as u64;
        self.encode_until(end, end)?;
        self.literals_then(end, None)?;
        self.out.flush().map_err(|e| MemError::io(self.name, e))?;
        Ok(self.written)
    }
}

/// How many leading bytes `a` and `b` share, at most `max`.
fn common(a: &[u8], b: &[u8], max: usize) -> usize {
    let max = max.min(a.len()).min(b.len());
    let mut i = 0;
    while i + 8 <= max {
        let x = u64::from_le_bytes(a[i..i + 8].try_into().unwrap_or_default());
        let y = u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or_default());
        let d = x ^ y;
        if d != 0 {
            return i + (d.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < max && a[i] == b[i] {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::PagesImage;

    fn roundtrip(data: &[u8]) {
        let img = PagesImage::new(
            "t",
            data.len() as u64,
            4096,
            data.chunks(4096)
                .enumerate()
                .map(|(i, c)| (i as u64, c.to_vec())),
        );
        let mut out = Vec::new();
        let n = encode_image(&img, &mut out, "t").unwrap();
        assert_eq!(n, out.len() as u64);
        // lz4_flex reads what the streaming encoder writes...
        assert!(decode("t", &out).unwrap() == data, "lz4_flex disagrees");
        // ...and the streaming decoder reads what lz4_flex writes, at any offset.
        let dir = tempfile::tempdir().unwrap();
        for (i, bytes) in [out, encode("t", data).unwrap()].into_iter().enumerate() {
            let p = dir.path().join(format!("{i}.lz4"));
            std::fs::write(&p, &bytes).unwrap();
            let z = Lz4Image::open(&p).unwrap();
            assert_eq!(z.len(), data.len() as u64);
            let mut all = vec![0u8; data.len()];
            z.read_at(0, &mut all).unwrap();
            assert!(all == data);
            for &(o, l) in &[
                (0usize, 10usize),
                (data.len() / 2, 100),
                (data.len() / 3, 70_000),
                (1, 5),
            ] {
                if o + l <= data.len() {
                    let mut b = vec![0u8; l];
                    z.read_at(o as u64, &mut b).unwrap();
                    assert!(b == data[o..o + l], "at {o}+{l}");
                }
            }
        }
    }

    #[test]
    fn streaming_codec_agrees_with_lz4_flex() {
        roundtrip(&[]);
        roundtrip(b"abc");
        roundtrip(&[0u8; 13]);
        roundtrip(&vec![0u8; 3 << 20]);
        let mut x = 0x1234_5678u32;
        let mut noisy: Vec<u8> = (0..(9 << 20))
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                if (i / 70_000) % 3 == 0 {
                    0
                } else if (i / 1000) % 2 == 0 {
                    (i % 7) as u8
                } else {
                    x as u8
                }
            })
            .collect();
        roundtrip(&noisy);
        // A long incompressible run goes through the spill file.
        noisy.truncate(0);
        noisy.extend((0..(6u32 << 20)).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        }));
        roundtrip(&noisy);
    }

    #[test]
    fn damaged_blocks_are_errors() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 13) as u8).collect();
        let good = encode("t", &data).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.lz4");
        for cut in [5, good.len() / 2, good.len() - 1] {
            std::fs::write(&p, &good[..cut]).unwrap();
            assert!(Lz4Image::open(&p).is_err(), "cut at {cut}");
        }
        let mut long = good.clone();
        long[0] = long[0].wrapping_sub(1);
        std::fs::write(&p, &long).unwrap();
        assert!(Lz4Image::open(&p).is_err());
    }
}
