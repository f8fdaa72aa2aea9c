//! Operations on memory images: merge a diff chain onto a base, compare two images page by page,
//! turn zero pages into holes, convert between image kinds, and count pages.
//!
//! Outputs go to a temporary file in the target directory that is renamed over the final name
//! only when complete, so an interrupted run never leaves a partial output under that name.
//! Inputs are opened read-only, except the base of an explicit in-place merge.
//!
//! Speed: data extents come from FIEMAP (see [`super::file`]); extents are copied with
//! `copy_file_range` (in-kernel, one call per extent, reflinked where the filesystem can) and
//! pages are compared and scanned in 8 MiB windows spread over all cores with rayon. No
//! operation issues a system call per page.

use super::file::FileImage;
use super::{AlignedBuf, Extent, ImageKind, MemError, MemoryImage, normalize};
use rayon::prelude::*;
use serde::Serialize;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Progress callback: receives the number of bytes done so far (of the total announced by the
/// operation's report). Called from several threads.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Bytes read or compared per unit of parallel work.
const WINDOW: u64 = 8 << 20;

/// Extent pieces at least this long are copied with `copy_file_range`, which stays in the
/// kernel (no copy through user space; blocks shared on filesystems with reflinks); shorter ones
/// with one read and one write, which costs less per call than setting up the in-kernel copy.
const CFR_MIN: u64 = 64 << 10;

thread_local! {
    /// Two window-sized buffers per thread, reused across windows (a fresh 8 MiB allocation per
    /// window costs more page faults than the work itself).
    static BUFFERS: std::cell::RefCell<(AlignedBuf, AlignedBuf)> = const {
        std::cell::RefCell::new((AlignedBuf { v: Vec::new() }, AlignedBuf { v: Vec::new() }))
    };
}

/// Bytes read at a time inside a window: small enough that the buffer stays in the CPU cache
/// between the read and the comparison.
const CHUNK: u64 = 256 << 10;

/// Runs `f` with this thread's two buffers, each [`CHUNK`] bytes long.
fn with_buffers<R>(f: impl FnOnce(&mut [u8], &mut [u8]) -> R) -> R {
    BUFFERS.with(|b| {
        let mut b = b.borrow_mut();
        let (x, y) = &mut *b;
        f(x.get(CHUNK as usize), y.get(CHUNK as usize))
    })
}

/// Splits `[s, e)` into [`CHUNK`]-sized pieces.
fn chunks(s: u64, e: u64) -> impl Iterator<Item = (u64, u64)> {
    (s..e)
        .step_by(CHUNK as usize)
        .map(move |a| (a, (a + CHUNK).min(e)))
}

/// A progress callback that does nothing.
pub fn no_progress(_: u64) {}

/// An output file being written: a temporary file beside the final path (see
/// [`crate::outfile`]).
pub struct Output(crate::outfile::TempOutput);

impl Output {
    /// Creates the temporary file in `path`'s directory (mode 0644), after removing what killed
    /// runs left of `path`.
    pub fn create(path: &Path) -> Result<Self, MemError> {
        crate::outfile::TempOutput::create(path)
            .map(Output)
            .map_err(|e| MemError::io(&path.display().to_string(), e))
    }

    /// The file to write.
    pub fn file(&self) -> &File {
        self.0.file()
    }

    /// The final name, for messages.
    pub fn name(&self) -> String {
        self.0.path().display().to_string()
    }

    /// Renames the finished file over the final name.
    pub fn commit(self) -> Result<(), MemError> {
        let name = self.name();
        self.0.commit().map_err(|e| MemError::io(&name, e))
    }
}

fn same_len(images: &[&dyn MemoryImage]) -> Result<u64, MemError> {
    let len = images.first().map_or(0, |i| i.len());
    for i in images {
        if i.len() != len {
            return Err(MemError::Mismatch(format!(
                "logical sizes differ: {} is {} bytes, {} is {} bytes",
                images[0].path(),
                len,
                i.path(),
                i.len()
            )));
        }
    }
    Ok(len)
}

/// Copies `[off, off+len)` of `src` to the same offset of `dst`, in the kernel where possible.
fn copy_range(
    src: &File,
    dst: &File,
    off: u64,
    len: u64,
    names: (&str, &str),
) -> Result<(), MemError> {
    let (mut a, mut b, mut left) = (off, off, len);
    while left > 0 {
        let chunk = left.min(1 << 30) as usize;
        match rustix::fs::copy_file_range(src, Some(&mut a), dst, Some(&mut b), chunk) {
            Ok(0) => {
                return Err(MemError::format(
                    names.0,
                    a,
                    "unexpected end of file while copying",
                ));
            }
            Ok(n) => left -= n as u64,
            Err(rustix::io::Errno::INTR) => {}
            Err(
                rustix::io::Errno::XDEV
                | rustix::io::Errno::INVAL
                | rustix::io::Errno::NOSYS
                | rustix::io::Errno::OPNOTSUPP,
            ) => return copy_plain(src, dst, a, left, names),
            Err(e) => return Err(MemError::io(names.1, e.into())),
        }
    }
    Ok(())
}

fn copy_plain(
    src: &File,
    dst: &File,
    off: u64,
    len: u64,
    names: (&str, &str),
) -> Result<(), MemError> {
    let mut buf = vec![0u8; len.min(WINDOW) as usize];
    let mut pos = off;
    while pos < off + len {
        let n = (off + len - pos).min(WINDOW) as usize;
        src.read_exact_at(&mut buf[..n], pos)
            .map_err(|e| MemError::io(names.0, e))?;
        dst.write_all_at(&buf[..n], pos)
            .map_err(|e| MemError::io(names.1, e))?;
        pos += n as u64;
    }
    Ok(())
}

/// Splits extents into pieces of at most [`WINDOW`] bytes.
fn pieces(extents: &[Extent]) -> Vec<Extent> {
    let mut v = Vec::with_capacity(extents.len());
    for e in extents {
        let mut o = e.offset;
        while o < e.end() {
            let l = (e.end() - o).min(WINDOW);
            v.push(Extent { offset: o, len: l });
            o += l;
        }
    }
    v
}

/// Writes every data extent of `src` to the same offsets of `dst`.
fn apply(
    src: &dyn MemoryImage,
    raw: Option<&File>,
    dst: &File,
    dst_name: &str,
    done: &AtomicU64,
    progress: Progress,
) -> Result<u64, MemError> {
    let extents = src.extents()?;
    let bytes: u64 = extents.iter().map(|e| e.len).sum();
    let parts = pieces(&extents);
    parts
        .par_chunks(64)
        .try_for_each_init(AlignedBuf::default, |ab: &mut AlignedBuf, chunk| {
            for e in chunk {
                match raw {
                    // Large extents go through the kernel (and are shared where the filesystem
                    // can reflink); small ones are cheaper as one read and one write.
                    Some(f) if e.len >= CFR_MIN => {
                        copy_range(f, dst, e.offset, e.len, (src.path(), dst_name))?
                    }
                    Some(f) => {
                        let buf = ab.get(e.len as usize);
                        f.read_exact_at(buf, e.offset)
                            .map_err(|x| MemError::io(src.path(), x))?;
                        dst.write_all_at(buf, e.offset)
                            .map_err(|x| MemError::io(dst_name, x))?;
                    }
                    None => {
                        let buf = ab.get(e.len as usize);
                        src.read_at(e.offset, buf)?;
                        dst.write_all_at(buf, e.offset)
                            .map_err(|x| MemError::io(dst_name, x))?;
                    }
                }
            }
            let n: u64 = chunk.iter().map(|e| e.len).sum();
            progress(done.fetch_add(n, Ordering::Relaxed) + n);
            Ok::<(), MemError>(())
        })?;
    Ok(bytes)
}

/// What a merge did.
#[derive(Debug, Clone, Serialize)]
pub struct MergeReport {
    /// The base image.
    pub base: String,
    /// The diff images, oldest first.
    pub diffs: Vec<String>,
    /// The output (the base itself for an in-place merge).
    pub output: String,
    /// Whether the base was modified in place.
    pub in_place: bool,
    /// Logical length of every image.
    pub length: u64,
    /// Bytes taken from each diff, in order.
    pub diff_bytes: Vec<u64>,
}

fn open_raw(img: &dyn MemoryImage) -> Option<File> {
    if img.kind() == ImageKind::Raw {
        File::open(img.path()).ok()
    } else {
        None
    }
}

/// Applies `diffs` (oldest first) onto `base`. With `out` = `Some(path)` the result is written
/// there (base and diffs untouched); with `None` the base file is modified in place. Every
/// present page of a diff is copied, including pages full of zeros. Images of different logical
/// sizes are refused before anything is written.
pub fn merge(
    base: &Path,
    diffs: &[&Path],
    out: Option<&Path>,
    progress: Progress,
) -> Result<MergeReport, MemError> {
    let base_img = super::open(base)?;
    let diff_imgs = diffs
        .iter()
        .map(|p| super::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut all: Vec<&dyn MemoryImage> = vec![base_img.as_ref()];
    all.extend(diff_imgs.iter().map(|d| d.as_ref()));
    let len = same_len(&all)?;
    let done = AtomicU64::new(0);
    let mut diff_bytes = Vec::new();
    let output;
    if let Some(out) = out {
        let o = Output::create(out)?;
        let name = o.name();
        o.file().set_len(len).map_err(|e| MemError::io(&name, e))?;
        let raw = open_raw(base_img.as_ref());
        apply(
            base_img.as_ref(),
            raw.as_ref(),
            o.file(),
            &name,
            &done,
            progress,
        )?;
        for d in &diff_imgs {
            let raw = open_raw(d.as_ref());
            diff_bytes.push(apply(
                d.as_ref(),
                raw.as_ref(),
                o.file(),
                &name,
                &done,
                progress,
            )?);
        }
        o.commit()?;
        output = name;
    } else {
        if base_img.kind() != ImageKind::Raw {
            return Err(MemError::Mismatch(format!(
                "{}: an in-place merge needs a raw base image, not {}",
                base_img.path(),
                base_img.kind().name()
            )));
        }
        let name = base.display().to_string();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(base)
            .map_err(|e| MemError::io(&name, e))?;
        for d in &diff_imgs {
            let raw = open_raw(d.as_ref());
            diff_bytes.push(apply(d.as_ref(), raw.as_ref(), &f, &name, &done, progress)?);
        }
        output = name;
    }
    Ok(MergeReport {
        base: base_img.path().to_string(),
        diffs: diff_imgs.iter().map(|d| d.path().to_string()).collect(),
        output,
        in_place: out.is_none(),
        length: len,
        diff_bytes,
    })
}

/// Windows of at most [`WINDOW`] bytes (page-aligned) that hold data in any of `extent_sets`.
fn data_windows(len: u64, extent_sets: &[&[Extent]]) -> Vec<(u64, u64)> {
    let mut starts = std::collections::BTreeSet::new();
    for set in extent_sets {
        for e in set.iter() {
            let mut w = e.offset / WINDOW;
            while w * WINDOW < e.end() {
                starts.insert(w);
                w += 1;
            }
        }
    }
    starts
        .into_iter()
        .map(|w| (w * WINDOW, ((w + 1) * WINDOW).min(len)))
        .filter(|(a, b)| a < b)
        .collect()
}

/// A run of pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PageRange {
    /// First page index.
    pub first: u64,
    /// Number of pages.
    pub count: u64,
}

fn runs(mut pages: Vec<u64>) -> Vec<PageRange> {
    pages.sort_unstable();
    let mut out: Vec<PageRange> = Vec::new();
    for p in pages {
        match out.last_mut() {
            Some(r) if r.first + r.count == p => r.count += 1,
            _ => out.push(PageRange { first: p, count: 1 }),
        }
    }
    out
}

/// The result of comparing two images page by page.
#[derive(Debug, Clone, Serialize)]
pub struct MemDiff {
    /// The first image.
    pub a: String,
    /// The second image.
    pub b: String,
    /// Page size of the comparison.
    pub page_size: u64,
    /// Logical length of both images.
    pub length: u64,
    /// Pages compared (the last may be partial).
    pub pages: u64,
    /// Pages whose content differs.
    pub changed_pages: u64,
    /// Bytes in the changed pages.
    pub changed_bytes: u64,
    /// The changed pages as runs.
    pub ranges: Vec<PageRange>,
}

impl MemDiff {
    /// Whether the images have the same content.
    pub fn identical(&self) -> bool {
        self.changed_pages == 0
    }
}

fn check_page_size(page_size: u64) -> Result<(), MemError> {
    if !page_size.is_power_of_two() || !(512..=CHUNK).contains(&page_size) {
        return Err(MemError::Mismatch(format!(
            "page size {page_size} is not a power of two between 512 and {CHUNK}"
        )));
    }
    Ok(())
}

/// Compares the logical content of `a` and `b` page by page (holes read as zeros).
pub fn memdiff(
    a: &dyn MemoryImage,
    b: &dyn MemoryImage,
    page_size: u64,
    progress: Progress,
) -> Result<MemDiff, MemError> {
    check_page_size(page_size)?;
    let len = same_len(&[a, b])?;
    let (ea, eb) = (a.extents()?, b.extents()?);
    let windows = data_windows(len, &[&ea, &eb]);
    let done = AtomicU64::new(0);
    let changed: Vec<Vec<u64>> = windows
        .par_iter()
        .map(|&(s, e)| {
            with_buffers(|x, y| {
                let mut v = Vec::new();
                for (cs, ce) in chunks(s, e) {
                    let n = (ce - cs) as usize;
                    let (x, y) = (&mut x[..n], &mut y[..n]);
                    a.read_at(cs, x)?;
                    b.read_at(cs, y)?;
                    if x == y {
                        continue;
                    }
                    for (i, (p, q)) in x
                        .chunks(page_size as usize)
                        .zip(y.chunks(page_size as usize))
                        .enumerate()
                    {
                        if p != q {
                            v.push(cs / page_size + i as u64);
                        }
                    }
                }
                progress(done.fetch_add(e - s, Ordering::Relaxed) + (e - s));
                Ok(v)
            })
        })
        .collect::<Result<_, MemError>>()?;
    let pages: Vec<u64> = changed.into_iter().flatten().collect();
    let changed_bytes = pages
        .iter()
        .map(|p| page_size.min(len - p * page_size))
        .sum();
    Ok(MemDiff {
        a: a.path().into(),
        b: b.path().into(),
        page_size,
        length: len,
        pages: len.div_ceil(page_size),
        changed_pages: pages.len() as u64,
        changed_bytes,
        ranges: runs(pages),
    })
}

/// Writes a sparse diff image holding `b`'s bytes of the pages in `diff`, so that merging it
/// onto `a` gives `b`.
pub fn write_diff(
    b: &dyn MemoryImage,
    diff: &MemDiff,
    out: &Path,
    progress: Progress,
) -> Result<(), MemError> {
    let o = Output::create(out)?;
    let name = o.name();
    o.file()
        .set_len(diff.length)
        .map_err(|e| MemError::io(&name, e))?;
    let extents: Vec<Extent> = super::clip(
        diff.ranges
            .iter()
            .map(|r| Extent {
                offset: r.first * diff.page_size,
                len: r.count * diff.page_size,
            })
            .collect(),
        diff.length,
    );
    let done = AtomicU64::new(0);
    pieces(&extents).par_chunks(64).try_for_each(|chunk| {
        let mut buf = Vec::new();
        for e in chunk {
            buf.resize(e.len as usize, 0);
            b.read_at(e.offset, &mut buf)?;
            o.file()
                .write_all_at(&buf, e.offset)
                .map_err(|x| MemError::io(&name, x))?;
            progress(done.fetch_add(e.len, Ordering::Relaxed) + e.len);
        }
        Ok::<(), MemError>(())
    })?;
    o.commit()
}

/// What sparsify did.
#[derive(Debug, Clone, Serialize)]
pub struct SparsifyReport {
    /// The input image.
    pub input: String,
    /// The output image.
    pub output: String,
    /// Logical length.
    pub length: u64,
    /// Page size used.
    pub page_size: u64,
    /// Pages written as data.
    pub data_pages: u64,
    /// Pages left as holes (zero pages and holes of the input).
    pub hole_pages: u64,
}

/// Writes `input` (a full image: holes and zero pages alike mean zeros) to `out` with every zero
/// page left as a hole.
pub fn sparsify(
    input: &dyn MemoryImage,
    out: &Path,
    page_size: u64,
    progress: Progress,
) -> Result<SparsifyReport, MemError> {
    check_page_size(page_size)?;
    let len = input.len();
    let o = Output::create(out)?;
    let name = o.name();
    o.file().set_len(len).map_err(|e| MemError::io(&name, e))?;
    let ext = input.extents()?;
    let windows = data_windows(len, &[&ext]);
    let done = AtomicU64::new(0);
    let zero = vec![0u8; page_size as usize];
    let written: Vec<u64> = windows
        .par_iter()
        .map(|&(s, e)| {
            with_buffers(|buf, _| {
                let mut n = 0u64;
                let ps = page_size as usize;
                for (cs, ce) in chunks(s, e) {
                    let buf = &mut buf[..(ce - cs) as usize];
                    input.read_at(cs, buf)?;
                    let mut i = 0;
                    while i < buf.len() {
                        let end = (i + ps).min(buf.len());
                        if buf[i..end] == zero[..end - i] {
                            i = end;
                            continue;
                        }
                        // a run of non-zero pages
                        let mut j = end;
                        while j < buf.len() {
                            let k = (j + ps).min(buf.len());
                            if buf[j..k] == zero[..k - j] {
                                break;
                            }
                            j = k;
                        }
                        o.file()
                            .write_all_at(&buf[i..j], cs + i as u64)
                            .map_err(|x| MemError::io(&name, x))?;
                        n += (j - i).div_ceil(ps) as u64;
                        i = j;
                    }
                }
                progress(done.fetch_add(e - s, Ordering::Relaxed) + (e - s));
                Ok(n)
            })
        })
        .collect::<Result<_, MemError>>()?;
    o.commit()?;
    let data_pages = written.iter().sum();
    let pages = len.div_ceil(page_size);
    Ok(SparsifyReport {
        input: input.path().into(),
        output: out.display().to_string(),
        length: len,
        page_size,
        data_pages,
        hole_pages: pages - data_pages,
    })
}

/// Target kinds of [`convert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A raw file with the same data extents as the input (holes stay holes).
    Raw,
    /// A raw file with zero pages also turned into holes (for full images).
    Sparse,
    /// zstd seekable.
    Zstd,
    /// arcbox LZ4 (no hole map: holes become zero pages).
    Lz4,
    /// Page list.
    Pages,
}

impl Target {
    /// Parses `raw`, `sparse`, `zstd`, `lz4` or `pages`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "raw" => Target::Raw,
            "sparse" => Target::Sparse,
            "zstd" => Target::Zstd,
            "lz4" => Target::Lz4,
            "pages" | "page-list" => Target::Pages,
            _ => return None,
        })
    }
}

/// What a conversion did.
#[derive(Debug, Clone, Serialize)]
pub struct ConvertReport {
    /// The input image.
    pub input: String,
    /// Its kind.
    pub input_kind: ImageKind,
    /// The output image.
    pub output: String,
    /// The output kind.
    pub to: Target,
    /// Logical length.
    pub length: u64,
    /// Output file size in bytes.
    pub output_bytes: u64,
    /// What the output cannot hold (e.g. the input's holes in an LZ4 image).
    pub notes: Vec<String>,
}

/// Converts `input` to `to`, written at `out`.
pub fn convert(
    input: &dyn MemoryImage,
    out: &Path,
    to: Target,
    page_size: u64,
    level: i32,
    progress: Progress,
) -> Result<ConvertReport, MemError> {
    check_page_size(page_size)?;
    let len = input.len();
    let mut notes = Vec::new();
    let name = out.display().to_string();
    match to {
        Target::Sparse => {
            sparsify(input, out, page_size, progress)?;
        }
        Target::Raw => {
            let o = Output::create(out)?;
            o.file().set_len(len).map_err(|e| MemError::io(&name, e))?;
            let raw = open_raw(input);
            apply(
                input,
                raw.as_ref(),
                o.file(),
                &name,
                &AtomicU64::new(0),
                progress,
            )?;
            o.commit()?;
        }
        Target::Zstd => {
            let o = Output::create(out)?;
            super::zstd::write(input, o.file(), &name, level, progress)?;
            o.commit()?;
        }
        Target::Pages => {
            let o = Output::create(out)?;
            super::pagelist::write(input, o.file(), &name, page_size)?;
            o.commit()?;
        }
        Target::Lz4 => {
            let ext = input.extents()?;
            if !(ext.is_empty() && len == 0 || ext.len() == 1 && ext[0].len == len) {
                notes.push(format!(
                    "{}: an LZ4 image has no holes; the input's holes are written as zero pages",
                    input.path()
                ));
            }
            let o = Output::create(out)?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, o.file());
            super::lz4::encode_image(input, &mut w, &name)?;
            drop(w);
            o.commit()?;
        }
    }
    let output_bytes = std::fs::metadata(out)
        .map_err(|e| MemError::io(&name, e))?
        .len();
    Ok(ConvertReport {
        input: input.path().into(),
        input_kind: input.kind(),
        output: name,
        to,
        length: len,
        output_bytes,
        notes,
    })
}

/// Page counts of an image.
#[derive(Debug, Clone, Serialize)]
pub struct MemStats {
    /// The image.
    pub file: String,
    /// Its kind.
    pub kind: ImageKind,
    /// Logical length in bytes.
    pub length: u64,
    /// Bytes the file occupies on disk (allocated blocks for raw images, file size otherwise).
    pub stored_bytes: u64,
    /// Page size of the counts.
    pub page_size: u64,
    /// Pages in the image (the last may be partial).
    pub pages: u64,
    /// Pages present that hold some non-zero byte.
    pub data_pages: u64,
    /// Pages present that are all zeros.
    pub zero_pages: u64,
    /// Pages not present (holes).
    pub hole_pages: u64,
    /// Number of data extents.
    pub extent_count: u64,
    /// The data extents (at most the first 64).
    pub extents: Vec<Extent>,
}

/// Counts data, zero and hole pages of `img`. A page partly covered by an extent counts as
/// present.
pub fn stats(
    img: &dyn MemoryImage,
    page_size: u64,
    progress: Progress,
) -> Result<MemStats, MemError> {
    check_page_size(page_size)?;
    let len = img.len();
    let extents = img.extents()?;
    // present pages, as page-aligned extents
    let present = normalize(
        extents
            .iter()
            .map(|e| {
                let a = e.offset / page_size * page_size;
                Extent {
                    offset: a,
                    len: e.end().div_ceil(page_size) * page_size - a,
                }
            })
            .collect(),
    );
    let present = super::clip(present, len);
    let done = AtomicU64::new(0);
    let zero = vec![0u8; page_size as usize];
    let counts: Vec<(u64, u64)> = pieces(&present)
        .par_iter()
        .map(|e| {
            with_buffers(|buf, _| {
                let (mut d, mut z) = (0, 0);
                for (cs, ce) in chunks(e.offset, e.end()) {
                    let buf = &mut buf[..(ce - cs) as usize];
                    img.read_at(cs, buf)?;
                    for p in buf.chunks(page_size as usize) {
                        if p == &zero[..p.len()] {
                            z += 1;
                        } else {
                            d += 1;
                        }
                    }
                }
                progress(done.fetch_add(e.len, Ordering::Relaxed) + e.len);
                Ok((d, z))
            })
        })
        .collect::<Result<_, MemError>>()?;
    let (data_pages, zero_pages) = counts.iter().fold((0, 0), |(a, b), (d, z)| (a + d, b + z));
    let pages = len.div_ceil(page_size);
    let stored_bytes = {
        use std::os::unix::fs::MetadataExt;
        // An image inside another file (a stream's RAM, a VeridianOS file's pages) may have no
        // file of its own: then nothing is stored apart from it.
        match std::fs::metadata(img.path()) {
            Ok(m) if img.kind() == ImageKind::Raw => m.blocks() * 512,
            Ok(m) => m.len(),
            Err(_) => 0,
        }
    };
    Ok(MemStats {
        file: img.path().into(),
        kind: img.kind(),
        length: len,
        stored_bytes,
        page_size,
        pages,
        data_pages,
        zero_pages,
        hole_pages: pages - data_pages - zero_pages,
        extent_count: extents.len() as u64,
        extents: extents.into_iter().take(64).collect(),
    })
}

/// Opens a raw image for reading (exposed for callers that need the file, e.g. benchmarks).
pub fn open_file(path: &Path) -> Result<FileImage, MemError> {
    FileImage::open(path)
}
