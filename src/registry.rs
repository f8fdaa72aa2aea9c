//! The registry: the one place that names every snapshot format snaptool reads and writes, and
//! dispatches to it.
//!
//! ```text
//! bytes / path ──recognise──▶ format ──read──▶ Loaded { model, format, encoded, memory }
//!                                                  │
//!        tools (inspect, verify, diff, convert, edit, restore) work on the model
//!                                                  │
//! model + memory ──write (the format's own memory rule)──▶ Encoded { file | directory }
//! ```
//!
//! A format is a [`Target`] variant: its id, how it is recognised ([`load`], [`load_path`]),
//! how it is written ([`encode_to`]), where its memory goes ([`Target::embeds_memory`],
//! [`memory_beside`]), its own checks ([`verify_path`]) and how `inspect` describes it
//! ([`describe`]). Adding a format is one folder under `src/formats/` plus its lines here.

use crate::convert::ConvertError;
use crate::formats::firecracker::{self as fc, LAYOUTS, Layout};
use crate::formats::{arcbox, qemu, squib, veridian};
use crate::memory::{self, MemoryImage};
use crate::model::Snapshot;
use crate::verify::{self, Finding, Report, Severity};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where a conversion goes (and what a file is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A Firecracker layout.
    Firecracker(Layout),
    /// A VeridianOS `VmSnapshot` byte stream (`formats/veridian.md`), memory pages embedded.
    Veridian,
    /// A squib state file (`formats/squib.md`); its memory file sits beside it.
    Squib,
    /// An arcbox snapshot directory (`formats/arcbox.md`), memory in `memory.bin`, or in
    /// `memory.bin.lz4` when `lz4`.
    Arcbox {
        /// Compress the memory file with LZ4.
        lz4: bool,
    },
    /// A QEMU migration stream (`formats/qemu.md`), guest RAM in the stream.
    Qemu,
}

impl Target {
    /// The layout id, e.g. `firecracker-10.0.0`, `veridian-1`, `squib-5.0.0`, `arcbox-1`.
    pub fn id(&self) -> &'static str {
        match self {
            Target::Firecracker(l) => l.info().id,
            Target::Veridian => "veridian-1",
            Target::Squib => squib::LAYOUT_ID,
            Target::Arcbox { .. } => arcbox::convert::LAYOUT,
            Target::Qemu => qemu::LAYOUT_ID,
        }
    }

    /// Whether the format holds guest memory itself (VeridianOS pages, arcbox `memory.bin`,
    /// a QEMU stream's RAM section).
    pub fn embeds_memory(&self) -> bool {
        matches!(
            self,
            Target::Veridian | Target::Arcbox { .. } | Target::Qemu
        )
    }
}

/// Parses `firecracker@1.14`, `firecracker@v1.14.4`, `firecracker@8.0.0`, `firecracker-10.0.0`,
/// or the same without the `firecracker` prefix. A format version that names two layouts (3.0.0,
/// 8.0.0) is refused with the releases that tell them apart.
pub fn parse_target(s: &str) -> Result<Target, String> {
    let t = s.trim();
    match t {
        "veridian" | "veridian-1" => return Ok(Target::Veridian),
        "squib" | squib::LAYOUT_ID => return Ok(Target::Squib),
        "arcbox" | arcbox::convert::LAYOUT => return Ok(Target::Arcbox { lz4: false }),
        "arcbox-lz4" => return Ok(Target::Arcbox { lz4: true }),
        "qemu" | qemu::LAYOUT_ID => return Ok(Target::Qemu),
        _ => {}
    }
    let bare = t
        .strip_prefix("firecracker")
        .unwrap_or(t)
        .trim_start_matches(['-', '@']);
    if let Some(l) = LAYOUTS
        .iter()
        .find(|l| l.id == t || l.id.strip_prefix("firecracker-") == Some(bare))
    {
        return Ok(Target::Firecracker(l.layout));
    }
    let same_version: Vec<_> = LAYOUTS
        .iter()
        .filter(|l| l.version.to_string() == bare)
        .collect();
    if same_version.len() > 1 {
        let names: Vec<String> = same_version
            .iter()
            .map(|l| {
                format!(
                    "firecracker@{} ({})",
                    l.releases[0].trim_start_matches('v'),
                    l.id
                )
            })
            .collect();
        return Err(format!(
            "{s}: format {bare} names {} layouts; pick one by release: {}",
            same_version.len(),
            names.join(", ")
        ));
    }
    Layout::parse(bare).map(Target::Firecracker).ok_or_else(|| {
        let known: Vec<String> = LAYOUTS
            .iter()
            .map(|l| format!("{} ({})", l.id, l.releases.join(", ")))
            .collect();
        format!(
            "{s}: not a layout snaptool writes; known: veridian, squib, arcbox, arcbox-lz4, qemu; {}",
            known.join("; ")
        )
    })
}

fn write_err(to: Layout) -> impl Fn(fc::WriteError) -> ConvertError {
    move |source| ConvertError::Write {
        to: to.info().id.to_string(),
        source,
    }
}

/// Model → bytes in `layout`.
pub fn encode_model(m: &Snapshot, layout: Layout) -> Result<Vec<u8>, ConvertError> {
    let f = fc::from_model(m, layout).map_err(write_err(layout))?;
    fc::write(&f).map_err(write_err(layout))
}

/// A snapshot as one of its formats writes it: a state file's bytes, or an arcbox directory.
#[derive(Debug, Clone)]
pub enum Encoded {
    /// The bytes of a state file.
    File(Vec<u8>),
    /// An arcbox snapshot directory (both JSON documents and the memory file).
    Arcbox(Box<arcbox::ArcboxDir>),
    /// A VeridianOS file, written when needed: its embedded pages may be gigabytes, held in the
    /// file it was read from or in a temporary file rather than in memory.
    Veridian(Box<veridian::VeridianFile>),
}

impl Encoded {
    /// Whether both are the same snapshot: equal bytes for a state file; for an arcbox
    /// directory, equal JSON documents and equal (decompressed) memory.
    pub fn same(&self, other: &Encoded) -> bool {
        match (self, other) {
            (Encoded::File(a), Encoded::File(b)) => a == b,
            (Encoded::Veridian(a), Encoded::Veridian(b)) => {
                // Compared as written, a piece at a time.
                matches!((digest(a), digest(b)), (Ok(x), Ok(y)) if x == y)
            }
            (Encoded::Arcbox(a), Encoded::Arcbox(b)) => a.same_content(b),
            _ => false,
        }
    }

    /// Size in bytes: the file's, or the directory's files' together.
    pub fn size(&self) -> u64 {
        match self {
            Encoded::File(b) => b.len() as u64,
            Encoded::Arcbox(d) => d.dir_size(),
            Encoded::Veridian(f) => f.encoded_len(),
        }
    }

    /// The state file's bytes, written out for a format written when needed; `None` for a
    /// directory.
    ///
    /// # Errors
    /// When pages held in a file cannot be read back.
    pub fn to_bytes(&self) -> Result<Option<Vec<u8>>, ConvertError> {
        match self {
            Encoded::File(b) => Ok(Some(b.clone())),
            Encoded::Veridian(f) => veridian::write(f)
                .map(Some)
                .map_err(|e| ConvertError::Other(format!("writing the VeridianOS file: {e}"))),
            Encoded::Arcbox(_) => Ok(None),
        }
    }

    /// The state file's bytes; `None` for a directory.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Encoded::File(b) => Some(b),
            Encoded::Arcbox(_) | Encoded::Veridian(_) => None,
        }
    }
}

/// A snapshot of any format snaptool converts, read into the model.
pub struct Loaded {
    /// The model.
    pub model: Snapshot,
    /// What the snapshot is.
    pub format: Target,
    /// The snapshot re-encoded by its own writer (equal to the input for every canonical file).
    pub encoded: Encoded,
    /// Guest memory the snapshot carries itself (VeridianOS pages, arcbox `memory.bin`), read
    /// on demand where the format allows.
    pub memory: Option<std::sync::Arc<dyn MemoryImage>>,
}

/// Reads a state file of any format from its bytes: VeridianOS by its magic, squib by its
/// envelope (a bitcode-era file with a format major below 9), otherwise Firecracker.
///
/// # Errors
/// The format's reader error.
pub fn load(bytes: &[u8]) -> Result<Loaded, ConvertError> {
    if qemu::sniff(bytes) {
        let f = qemu::read(bytes.to_vec(), "(QEMU stream)")
            .map_err(|e| ConvertError::Other(format!("QEMU stream: {e}")))?;
        return load_qemu(f, Some(bytes.to_vec()));
    }
    if veridian::sniff(bytes) {
        let f = veridian::read(bytes).map_err(|e| ConvertError::Other(e.to_string()))?;
        return Ok(load_veridian(f));
    }
    if squib::sniff(bytes) {
        let f = squib::read(bytes)
            .map_err(|e| ConvertError::Other(format!("squib state file: {e}")))?;
        return Ok(Loaded {
            model: normalized(f.to_model()),
            format: Target::Squib,
            encoded: Encoded::File(squib::write(&f)),
            memory: None,
        });
    }
    let src = fc::read(bytes)?;
    let from = src.state.layout();
    Ok(Loaded {
        model: src.to_model(),
        format: Target::Firecracker(from),
        encoded: Encoded::File(fc::write(&src).map_err(write_err(from))?),
        memory: None,
    })
}

/// A VeridianOS file already read, as a [`Loaded`]: its memory is its embedded pages, read
/// from where the file keeps them.
pub fn load_veridian(f: veridian::VeridianFile) -> Loaded {
    let pages = f.memory_image("(pages in the VeridianOS file)");
    Loaded {
        model: normalized(f.to_model()),
        format: Target::Veridian,
        encoded: Encoded::Veridian(Box::new(f)),
        memory: Some(std::sync::Arc::new(pages)),
    }
}

/// Length, CRC-64 and SipHash of a VeridianOS file as written.
fn digest(f: &veridian::VeridianFile) -> std::io::Result<(u64, u64, u64)> {
    struct Sink(u64, u64, std::collections::hash_map::DefaultHasher);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            use std::hash::Hasher;
            self.0 += b.len() as u64;
            self.1 = crc64::crc64(self.1, b);
            self.2.write(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut s = Sink(0, 0, Default::default());
    veridian::write_to(f, &mut s)?;
    use std::hash::Hasher;
    Ok((s.0, s.1, s.2.finish()))
}

/// A QEMU stream already read, as a [`Loaded`]. `bytes`: the stream's bytes when at hand (else
/// they are read from its source for [`Loaded::encoded`]).
fn load_qemu(f: qemu::QemuFile, bytes: Option<Vec<u8>>) -> Result<Loaded, ConvertError> {
    let err = |e: String| ConvertError::Other(e);
    let model = normalized(f.to_model().map_err(err)?);
    let memory = f
        .memory()
        .map(|m| std::sync::Arc::new(m) as std::sync::Arc<dyn MemoryImage>);
    // What the writer gives for this model is the re-encoding; it equals the input for every
    // stream QEMU wrote in one pass.
    let encoded = match (memory.as_deref(), bytes) {
        (Some(mem), _) => Encoded::File(qemu::from_model(&model, Some(mem)).map_err(err)?.0),
        (None, Some(b)) => Encoded::File(b),
        (None, None) => Encoded::File(Vec::new()),
    };
    Ok(Loaded {
        model,
        format: Target::Qemu,
        encoded,
        memory,
    })
}

/// A model read from another format, with the Firecracker devices it carries in today's shape
/// (see [`fc::normalize`]).
fn normalized(mut m: Snapshot) -> Snapshot {
    fc::normalize(&mut m);
    m
}

/// An arcbox directory already read, as a [`Loaded`]; `name` labels its memory.
pub fn load_arcbox(d: arcbox::ArcboxDir, name: &str) -> Loaded {
    let _ = name;
    let memory = d.memory();
    Loaded {
        model: normalized(d.to_model()),
        format: Target::Arcbox {
            lz4: d.state.compressed,
        },
        encoded: Encoded::Arcbox(Box::new(d)),
        memory,
    }
}

/// The most bytes [`load_path`] reads from a state file: a Firecracker or squib state file is
/// far smaller; a VeridianOS file embeds the guest's non-zero pages.
pub const LOAD_LIMIT: u64 = veridian::READ_LIMIT;

/// Reads a snapshot of any format from `path`: an arcbox snapshot directory, or a state file
/// as [`load`] reads it. Firecracker and squib files over their producers' caps are refused
/// before they are read.
///
/// # Errors
/// I/O errors and the format's reader error, naming `path`.
pub fn load_path(path: &Path) -> Result<Loaded, ConvertError> {
    let name = path.display().to_string();
    if path.is_dir() {
        if !arcbox::sniff_dir(path) {
            return Err(ConvertError::Other(format!(
                "{name}: a directory without {} and {}: not an arcbox snapshot directory",
                arcbox::FILE_INFO,
                arcbox::FILE_STATE
            )));
        }
        let d = arcbox::read_dir(path).map_err(|e| ConvertError::Other(e.to_string()))?;
        return Ok(load_arcbox(d, &name));
    }
    if is_qemu_path(path) {
        // Read on demand: a stream holds all of guest RAM.
        let f = qemu::read_path(path).map_err(ConvertError::Other)?;
        return load_qemu(f, None);
    }
    if is_veridian_path(path) {
        // Its pages stay in the file.
        let f =
            veridian::read_path(path).map_err(|e| ConvertError::Other(format!("{name}: {e}")))?;
        return Ok(load_veridian(f));
    }
    let bytes = read_state_file(path)?;
    load(&bytes).map_err(|e| match e {
        ConvertError::Other(s) => ConvertError::Other(format!("{name}: {s}")),
        e => e,
    })
}

/// Whether the file at `path` starts like a VeridianOS snapshot.
pub fn is_veridian_path(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && veridian::sniff(&head)
}

/// Whether the file at `path` starts like a QEMU migration stream.
pub fn is_qemu_path(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && qemu::sniff(&head)
}

/// The QEMU command line that resumes the QEMU stream `e` once written to `out`.
///
/// # Errors
/// When `e` is not a QEMU stream.
pub fn qemu_command(e: &Encoded, out: &Path) -> Result<Vec<String>, ConvertError> {
    let b = e
        .bytes()
        .ok_or_else(|| ConvertError::Other("not a QEMU stream".into()))?;
    // An absolute path, so the command works from any directory.
    let abs = std::fs::canonicalize(out).unwrap_or_else(|_| out.to_path_buf());
    qemu::command(b, &abs).map_err(ConvertError::Other)
}

/// The bytes of a state file, refused before reading when larger than its format allows
/// (Firecracker and squib caps; [`LOAD_LIMIT`] for a VeridianOS file).
///
/// # Errors
/// I/O errors and the cap, naming `path`.
pub fn read_state_file(path: &Path) -> Result<Vec<u8>, ConvertError> {
    use std::io::Read;
    let name = path.display().to_string();
    let io = |e: std::io::Error| ConvertError::Other(format!("{name}: {e}"));
    let mut f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut head = [0u8; 4];
    let n = f.read(&mut head).map_err(io)?;
    let cap = if veridian::sniff(&head[..n]) {
        LOAD_LIMIT
    } else {
        crate::envelope::SIZE_LIMIT_ANY
    };
    if len > cap {
        return Err(ConvertError::Other(format!(
            "{name}: {len} bytes, over the {cap}-byte cap for state files"
        )));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    bytes.extend_from_slice(&head[..n]);
    f.take(cap - n as u64).read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes)
}

/// Model → `target`, with the writer's notes; `memory` supplies the guest memory of formats
/// that embed it. A squib file gets squib's placeholder GIC blob only when the model came from
/// a file that had it (see [`crate::convert::convert_loaded`], which writes it for every model without an HVF
/// GIC blob).
///
/// # Errors
/// When the target cannot hold this model (wrong arch, over a cap, ...).
pub fn encode_to(
    m: &Snapshot,
    target: Target,
    memory: Option<&dyn MemoryImage>,
) -> Result<(Encoded, Vec<String>), ConvertError> {
    encode_with(m, target, memory, false)
}

/// [`encode_to`]; `placeholder_gic` as in [`squib::FromModelOptions`].
pub(crate) fn encode_with(
    m: &Snapshot,
    target: Target,
    memory: Option<&dyn MemoryImage>,
    placeholder_gic: bool,
) -> Result<(Encoded, Vec<String>), ConvertError> {
    let other = |e: &dyn std::fmt::Display| {
        ConvertError::Other(format!("cannot write {}: {e}", target.id()))
    };
    match target {
        Target::Firecracker(l) => Ok((Encoded::File(encode_model(m, l)?), Vec::new())),
        Target::Veridian => {
            let (f, notes) = veridian::from_model(m, memory).map_err(|e| other(&e))?;
            Ok((Encoded::Veridian(Box::new(f)), notes))
        }
        Target::Squib => {
            let opts = squib::FromModelOptions { placeholder_gic };
            let (f, notes) = squib::from_model(m, memory, &opts).map_err(|e| other(&e))?;
            Ok((Encoded::File(squib::write(&f)), notes))
        }
        Target::Arcbox { lz4 } => {
            let (d, notes) = arcbox::from_model(m, memory, lz4).map_err(|e| other(&e))?;
            Ok((Encoded::Arcbox(Box::new(d)), notes))
        }
        Target::Qemu => {
            let (b, notes) = qemu::from_model(m, memory).map_err(|e| other(&e))?;
            Ok((Encoded::File(b), notes))
        }
    }
}

pub(crate) fn reload(e: &Encoded) -> Result<Loaded, ConvertError> {
    match e {
        Encoded::File(b) => load(b),
        Encoded::Arcbox(d) => Ok(load_arcbox((**d).clone(), "(converted arcbox directory)")),
        Encoded::Veridian(f) => Ok(load_veridian((**f).clone())),
    }
}

/// Whether the format with layout id `id` is a directory (compared by content, not bytes).
pub fn is_directory_format(id: &str) -> bool {
    id.starts_with("arcbox")
}

/// Model paths that say where a snapshot came from rather than what it is: `provenance` and the
/// formats' extensions of that kind (a VeridianOS blob's `source`). `diff` leaves them out.
pub const PROVENANCE_KEYS: &[&str] = &["provenance", "extensions[veridian/source]"];

/// Writes an encoded snapshot to `out` (a file, or a directory for arcbox) without leaving a
/// partial output: a temporary file or directory beside it, renamed into place.
///
/// # Errors
/// I/O errors, naming the path.
pub fn write_output(e: &Encoded, out: &Path) -> std::io::Result<()> {
    match e {
        Encoded::File(b) => write_atomic(out, b),
        Encoded::Arcbox(d) => arcbox::write_dir(d, out).map_err(std::io::Error::other),
        Encoded::Veridian(f) => write_atomic_with(out, |w| veridian::write_to(f, w)),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory, synced and renamed.
///
/// # Errors
/// I/O errors, naming the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// [`write_atomic`] of what `write` writes.
///
/// # Errors
/// I/O errors, naming the path.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let named =
        |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let mut tmp = crate::outfile::TempOutput::create(path)?;
    write(tmp.file_mut()).map_err(named)?;
    tmp.file().sync_all().map_err(named)?;
    tmp.commit()?;
    Ok(())
}

/// Where the memory of a snapshot written as `target` goes when the format does not hold it:
/// beside the output, named as the format pairs them (squib: `x.snap` → `x.mem`) or with `.mem`
/// appended.
pub fn memory_beside(out: &Path, target: Target) -> PathBuf {
    if target == Target::Squib {
        if let Some(p) = squib::memory_path(out) {
            return p;
        }
    }
    let mut s = out.as_os_str().to_owned();
    s.push(".mem");
    PathBuf::from(s)
}

/// The memory file a snapshot's own format keeps beside it (squib's `x.mem`), when it exists.
pub fn own_memory_file(input: &Path, format: Target) -> Option<PathBuf> {
    match format {
        Target::Squib => squib::memory_path(input).filter(|p| p.is_file()),
        _ => None,
    }
}

/// Writes guest memory beside an output whose format does not hold it, in the form that format
/// reads (squib: its own memory file; otherwise a raw image). Returns the path.
///
/// # Errors
/// I/O errors.
pub fn write_memory_beside(
    pages: &dyn MemoryImage,
    out: &Path,
    target: Target,
) -> Result<PathBuf, ConvertError> {
    let path = memory_beside(out, target);
    let res = if target == Target::Squib {
        squib::memory::write_memory(pages, &path, squib::memory::MemoryKind::Full)
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else {
        memory::ops::convert(
            pages,
            &path,
            memory::ops::Target::Raw,
            memory::DEFAULT_PAGE_SIZE,
            3,
            &memory::ops::no_progress,
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    res.map_err(|e| ConvertError::Other(format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// Applies `--compress lz4|none` to a target: only a format that compresses its memory takes it.
///
/// # Errors
/// When the target does not compress its memory.
pub fn with_compression(mut target: Target, compress: Option<&str>) -> Result<Target, String> {
    match (&mut target, compress) {
        (Target::Arcbox { lz4 }, Some(c)) => *lz4 = c == "lz4",
        (_, Some(c)) if c != "none" => {
            return Err(format!(
                "--compress {c}: only an arcbox directory compresses its memory, not {}",
                target.id()
            ));
        }
        _ => {}
    }
    Ok(target)
}

/// How `inspect` describes a snapshot's format and where its memory is.
#[derive(Debug, Clone, Serialize)]
pub struct FormatFacts {
    /// One line: what the file is (for squib: why it is not Firecracker 5.0.0).
    pub description: String,
    /// The byte-level specification in this repository.
    pub spec: &'static str,
    /// Guest memory the snapshot holds itself: `{source, length, nonzero_bytes}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded: Option<serde_json::Value>,
    /// The memory file the format keeps beside the state: `{path, length}` (length `null` when
    /// absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beside: Option<serde_json::Value>,
}

/// Describes a loaded snapshot's format for `inspect`; `bytes` are the state file's, when it is
/// one.
pub fn describe(path: &Path, bytes: Option<&[u8]>, loaded: &Loaded) -> FormatFacts {
    let (description, spec) = match loaded.format {
        Target::Veridian => ("VeridianOS VmSnapshot".to_string(), "formats/veridian.md"),
        Target::Squib => (
            bytes
                .and_then(squib::recognize)
                .map_or_else(|| "squib state file".to_string(), |r| r.explanation),
            "formats/squib.md",
        ),
        Target::Arcbox { lz4 } => (
            format!(
                "arcbox snapshot directory, memory in {}",
                if lz4 {
                    arcbox::FILE_MEM_LZ4
                } else {
                    arcbox::FILE_MEM
                }
            ),
            "formats/arcbox.md",
        ),
        Target::Firecracker(_) => (
            "Firecracker state file".to_string(),
            "formats/firecracker.md",
        ),
        Target::Qemu => {
            let machine = loaded
                .model
                .provenance
                .releases
                .first()
                .cloned()
                .unwrap_or_default();
            (
                format!("QEMU migration stream (version 3), {machine}; guest RAM in the stream"),
                "formats/qemu.md",
            )
        }
    };
    // Non-zero pages, counted as the image is read (an arcbox memory file is not held whole).
    let embedded = loaded.memory.as_ref().map(|p| {
        let page = memory::DEFAULT_PAGE_SIZE;
        let data: u64 = memory::ops::stats(p.as_ref(), page, &memory::ops::no_progress)
            .map_or(0, |s| (s.data_pages * page).min(p.len()));
        serde_json::json!({"source": p.path(), "length": p.len(), "nonzero_bytes": data})
    });
    let beside = match loaded.format {
        Target::Squib => squib::memory_path(path).map(|p| {
            let len = std::fs::metadata(&p).ok().map(|md| md.len());
            serde_json::json!({"path": p.display().to_string(), "length": len})
        }),
        _ => None,
    };
    FormatFacts {
        description,
        spec,
        embedded,
        beside,
    }
}

/// Whether a state file's bytes are a Firecracker file (else another format's, which
/// [`load`] reads).
pub fn is_firecracker(bytes: &[u8]) -> bool {
    !(veridian::sniff(bytes) || squib::sniff(bytes) || qemu::sniff(bytes))
}

/// For a Firecracker 5.0.0 file, whose magic and version a squib state file shares: how the
/// envelope tells the two apart.
pub fn family_note(bytes: &[u8]) -> Option<String> {
    squib::recognize(bytes)
        .filter(|r| r.version.starts_with("5."))
        .map(|r| r.explanation)
}

/// Verifies a snapshot of any format at `path` (`mem`: a memory file to check against it; a
/// format's own memory file beside it is used when none is given). Problems are findings; the
/// report has the same shape for every format.
///
/// # Errors
/// Only when the file cannot be read at all.
pub fn verify_path(path: &Path, mem: Option<&Path>) -> Result<Report, ConvertError> {
    let name = path.display().to_string();
    let other = |layout: &str, findings: Vec<Finding>, arch: Option<String>| Report {
        file: name.clone(),
        layout: Some(layout.to_string()),
        arch,
        clean: findings.is_empty(),
        findings,
    };
    let arch_of = |l: &Result<Loaded, ConvertError>| {
        l.as_ref().ok().map(|l| l.model.arch().name().to_string())
    };
    if path.is_dir() {
        let findings = arcbox::verify(path);
        let arch = arch_of(&load_path(path));
        return Ok(other(arcbox::convert::LAYOUT, findings, arch));
    }
    if is_qemu_path(path) {
        let findings = qemu::verify(path);
        let arch = arch_of(&load_path(path));
        return Ok(other(qemu::LAYOUT_ID, findings, arch));
    }
    if is_veridian_path(path) {
        let arch = arch_of(&load_path(path));
        return Ok(other("veridian-1", veridian::verify_path(path), arch));
    }
    let bytes = read_state_file(path)?;
    if squib::sniff(&bytes) {
        let p = mem
            .map(Path::to_path_buf)
            .or_else(|| own_memory_file(path, Target::Squib));
        let image = match &p {
            Some(p) => Some(
                memory::open(p)
                    .map_err(|e| ConvertError::Other(format!("{}: {e}", p.display())))?,
            ),
            None => None,
        };
        let arch = arch_of(&load(&bytes));
        return Ok(other(
            squib::LAYOUT_ID,
            squib::verify(&bytes, image.as_deref()),
            arch,
        ));
    }
    let mem = match mem {
        Some(p) => Some(verify::MemFile {
            path: p.display().to_string(),
            size: memory::open(p)
                .map_err(|e| ConvertError::Other(format!("{}: {e}", p.display())))?
                .len(),
        }),
        None => None,
    };
    Ok(verify::verify_state(&name, &bytes, mem.as_ref()))
}

/// The error count of findings.
pub fn errors(findings: &[Finding]) -> usize {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count()
}

/// The model encoded back in `format` as close to `like` (the input as its reader re-encoded
/// it) as the writer can: a squib file may hold the placeholder GIC blob snaptool writes for
/// squib's loader or an empty one, which the model does not tell apart, so both are tried.
///
/// # Errors
/// The writer's error.
pub(crate) fn encode_like(
    m: &Snapshot,
    format: Target,
    memory: Option<&dyn MemoryImage>,
    like: &Encoded,
) -> Result<Encoded, ConvertError> {
    let (first, _) = encode_with(m, format, memory, true)?;
    if format == Target::Squib && !first.same(like) {
        if let Ok((b, _)) = encode_with(m, format, memory, false) {
            if b.same(like) {
                return Ok(b);
            }
        }
    }
    Ok(first)
}
