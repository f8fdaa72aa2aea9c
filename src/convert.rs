//! Conversion between snapshot layouts through the neutral model, with a report of everything the
//! target cannot hold or had to invent.
//!
//! A conversion reads the input into the model, writes the model in the target layout, reads that
//! output back, and then writes it once more in the *input's* layout. The conversion is
//! **lossless** exactly when this last file is byte-identical to the input (re-encoded). Every
//! difference between the input's model and the model of that round trip is *lost* data. A lossy
//! conversion is refused unless the caller allows it. Differences between the input's model and the
//! target's model are reported as *dropped* (absent from the target), *invented* (absent from the
//! input: filled with the value the target's producer would have written) or *changed*
//! (translated).

use crate::diff::{self, Change};
use crate::formats::firecracker::{self as fc, LAYOUTS, Layout};
use crate::formats::{arcbox, squib, veridian};
use crate::memory::{MemoryImage, PagesImage};
use crate::model::Snapshot;
use serde::Serialize;
use std::path::Path;
use thiserror::Error;

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
}

impl Target {
    /// The layout id, e.g. `firecracker-10.0.0`, `veridian-1`, `squib-5.0.0`, `arcbox-1`.
    pub fn id(&self) -> &'static str {
        match self {
            Target::Firecracker(l) => l.info().id,
            Target::Veridian => "veridian-1",
            Target::Squib => squib::LAYOUT_ID,
            Target::Arcbox { .. } => arcbox::convert::LAYOUT,
        }
    }

    /// Whether the format holds guest memory itself (VeridianOS pages, arcbox `memory.bin`).
    pub fn embeds_memory(&self) -> bool {
        matches!(self, Target::Veridian | Target::Arcbox { .. })
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
            "{s}: not a layout snaptool writes; known: veridian, squib, arcbox, arcbox-lz4; {}",
            known.join("; ")
        )
    })
}

/// What a conversion did.
#[derive(Debug, Clone, Serialize)]
pub struct ConversionReport {
    /// The input's layout id.
    pub from: String,
    /// The target layout id.
    pub to: String,
    /// Whether converting back gives the input byte for byte.
    pub lossless: bool,
    /// Data of the input that does not survive the round trip back (empty when lossless).
    pub lost: Vec<Change>,
    /// Values of the input that the target has no place for.
    pub dropped: Vec<Change>,
    /// Values the target holds that the input did not (filled with the target producer's
    /// defaults for the same VM).
    pub invented: Vec<Change>,
    /// Values held by both, translated between representations.
    pub changed: Vec<Change>,
    /// What the target's writer says it synthesised, carried or could not check.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The memory file written beside the output, when the input carried memory itself and
    /// the target does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_file: Option<String>,
}

impl ConversionReport {
    /// Human-readable form.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{} -> {}: {}\n",
            self.from,
            self.to,
            if self.lossless && self.from.starts_with("arcbox") {
                "lossless (converting back gives the same model and memory)"
            } else if self.lossless {
                "lossless (converting back gives the input byte for byte)"
            } else {
                "LOSSY"
            }
        );
        for (title, list) in [
            ("lost (not recovered by converting back)", &self.lost),
            ("dropped (no place in the target)", &self.dropped),
            (
                "invented (the target producer's values for this VM)",
                &self.invented,
            ),
            ("translated", &self.changed),
        ] {
            if list.is_empty() {
                continue;
            }
            s.push_str(&format!("{title}: {}\n", list.len()));
            for c in list.iter().take(40) {
                s.push_str(&format!("  {c}\n"));
            }
            if list.len() > 40 {
                s.push_str(&format!(
                    "  ... {} more (--json lists all)\n",
                    list.len() - 40
                ));
            }
        }
        for n in &self.notes {
            s.push_str(&format!("note: {n}\n"));
        }
        if let Some(m) = &self.memory_file {
            s.push_str(&format!("memory written to {m}\n"));
        }
        s
    }
}

/// Why a conversion failed.
#[derive(Debug, Error)]
pub enum ConvertError {
    /// The input could not be read.
    #[error("{0}")]
    Read(#[from] fc::ReadError),
    /// The target layout cannot be written from this model.
    #[error("cannot write {to}: {source}")]
    Write {
        /// Target layout.
        to: String,
        /// The writer's error.
        #[source]
        source: fc::WriteError,
    },
    /// Another format's reader or writer failed.
    #[error("{0}")]
    Other(String),
    /// The conversion would lose data and was not allowed to.
    #[error("converting {} to {} would lose {} value(s), refused without --allow-lossy; first: {}", .0.from, .0.to, .0.lost.len(), .0.lost.first().map(|c| c.to_string()).unwrap_or_default())]
    Lossy(Box<ConversionReport>),
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
}

impl Encoded {
    /// Whether both are the same snapshot: equal bytes for a state file; for an arcbox
    /// directory, equal JSON documents and equal (decompressed) memory.
    pub fn same(&self, other: &Encoded) -> bool {
        match (self, other) {
            (Encoded::File(a), Encoded::File(b)) => a == b,
            (Encoded::Arcbox(a), Encoded::Arcbox(b)) => a.same_content(b),
            _ => false,
        }
    }

    /// The state file's bytes; `None` for a directory.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Encoded::File(b) => Some(b),
            Encoded::Arcbox(_) => None,
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
    if veridian::sniff(bytes) {
        let f = veridian::read(bytes).map_err(|e| ConvertError::Other(e.to_string()))?;
        let pages = PagesImage::new(
            "(pages in the VeridianOS file)",
            f.memory_len(),
            4096,
            f.pages().map(|(i, d)| (i, d.to_vec())),
        );
        return Ok(Loaded {
            model: f.to_model(),
            format: Target::Veridian,
            encoded: Encoded::File(veridian::write(&f)),
            memory: Some(std::sync::Arc::new(pages)),
        });
    }
    if squib::sniff(bytes) {
        let f = squib::read(bytes)
            .map_err(|e| ConvertError::Other(format!("squib state file: {e}")))?;
        return Ok(Loaded {
            model: f.to_model(),
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

/// An arcbox directory already read, as a [`Loaded`]; `name` labels its memory.
pub fn load_arcbox(d: arcbox::ArcboxDir, name: &str) -> Loaded {
    let _ = name;
    let memory = d.memory();
    Loaded {
        model: d.to_model(),
        format: Target::Arcbox {
            lz4: d.state.compressed,
        },
        encoded: Encoded::Arcbox(Box::new(d)),
        memory,
    }
}

/// The most bytes [`load_path`] reads from a state file: a Firecracker or squib state file is
/// far smaller; a VeridianOS file embeds the guest's non-zero pages.
pub const LOAD_LIMIT: u64 = 16 << 30;

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
    let bytes = read_state_file(path)?;
    load(&bytes).map_err(|e| match e {
        ConvertError::Other(s) => ConvertError::Other(format!("{name}: {s}")),
        e => e,
    })
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
/// a file that had it (see [`convert_loaded`], which writes it for every model without an HVF
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
fn encode_with(
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
            Ok((Encoded::File(veridian::write(&f)), notes))
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
    }
}

fn reload(e: &Encoded) -> Result<Loaded, ConvertError> {
    match e {
        Encoded::File(b) => load(b),
        Encoded::Arcbox(d) => Ok(load_arcbox((**d).clone(), "(converted arcbox directory)")),
    }
}

/// Converts a Firecracker (or any other) state file to a state-file target (see [`convert`]).
///
/// # Errors
/// As [`convert`].
pub fn convert_firecracker(
    input: &[u8],
    target: Target,
    allow_lossy: bool,
) -> Result<(Vec<u8>, ConversionReport), ConvertError> {
    convert(input, target, None, allow_lossy)
}

/// Converts a state file given as bytes to a state-file target (not arcbox, which is a
/// directory: use [`convert_loaded`]). Returns the output bytes and the report.
///
/// # Errors
/// As [`convert_loaded`].
pub fn convert(
    input: &[u8],
    target: Target,
    memory: Option<&dyn MemoryImage>,
    allow_lossy: bool,
) -> Result<(Vec<u8>, ConversionReport), ConvertError> {
    let src = load(input)?;
    let c = convert_loaded(&src, target, memory, allow_lossy)?;
    match c.output {
        Encoded::File(b) => Ok((b, c.report)),
        Encoded::Arcbox(_) => Err(ConvertError::Other(
            "an arcbox snapshot is a directory; use convert_loaded".into(),
        )),
    }
}

/// A finished conversion.
#[derive(Debug)]
pub struct Converted {
    /// The output snapshot.
    pub output: Encoded,
    /// What the conversion did.
    pub report: ConversionReport,
}

/// Converts a loaded snapshot to `target`. `memory` is the guest memory beside the input (it
/// overrides memory the input carries itself), for targets that embed it. A lossy conversion
/// is an error unless `allow_lossy`.
///
/// # Errors
/// [`ConvertError::Lossy`] (refused), or the writer's or reader's error.
pub fn convert_loaded(
    src: &Loaded,
    target: Target,
    memory: Option<&dyn MemoryImage>,
    allow_lossy: bool,
) -> Result<Converted, ConvertError> {
    let m = &src.model;
    let mem: Option<&dyn MemoryImage> = match (memory, &src.memory) {
        (Some(x), _) => Some(x),
        (None, Some(p)) => Some(p.as_ref()),
        (None, None) => None,
    };
    let (out, notes) = encode_with(m, target, mem, true)?;
    let back_in = reload(&out)?;
    let m2 = &back_in.model;
    let back_mem: Option<&dyn MemoryImage> = match (&back_in.memory, mem) {
        (Some(p), _) => Some(p.as_ref()),
        (None, x) => x,
    };
    // The round trip back. A squib file may hold the placeholder GIC blob snaptool writes for
    // squib's loader or an empty one (which squib's loader refuses); the model holds neither, so
    // both are tried.
    let mut back = encode_with(m2, src.format, back_mem, true);
    if src.format == Target::Squib && back.as_ref().is_ok_and(|(b, _)| !b.same(&src.encoded)) {
        if let Ok(b) = encode_with(m2, src.format, back_mem, false) {
            if b.0.same(&src.encoded) {
                back = Ok(b);
            }
        }
    }
    let (lossless, lost) = match back {
        Ok((back, _)) if back.same(&src.encoded) => (true, Vec::new()),
        Ok((back, _)) => {
            let m3 = reload(&back)?.model;
            let mut lost = diff::diff(m, &m3, diff::PROVENANCE);
            if lost.is_empty() {
                lost.push(Change {
                    path: "(encoding)".into(),
                    a: None,
                    b: None,
                    detail: Some("the bytes differ although the models agree".into()),
                });
            }
            (false, lost)
        }
        Err(e) => (
            false,
            vec![Change {
                path: "(round trip)".into(),
                a: None,
                b: None,
                detail: Some(e.to_string()),
            }],
        ),
    };
    let mut report = ConversionReport {
        from: src.format.id().into(),
        to: target.id().into(),
        lossless,
        lost,
        dropped: Vec::new(),
        invented: Vec::new(),
        changed: Vec::new(),
        notes,
        memory_file: None,
    };
    for c in diff::diff(m, m2, diff::PROVENANCE) {
        let absent = |v: &Option<serde_json::Value>| v.as_ref().is_none_or(|v| v.is_null());
        match (absent(&c.a), absent(&c.b)) {
            (false, true) => report.dropped.push(c),
            (true, false) => report.invented.push(c),
            _ => report.changed.push(c),
        }
    }
    if !lossless && !allow_lossy {
        return Err(ConvertError::Lossy(Box::new(report)));
    }
    Ok(Converted {
        output: out,
        report,
    })
}
