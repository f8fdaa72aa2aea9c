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
use crate::model::Snapshot;
use serde::Serialize;
use thiserror::Error;

/// Where a conversion goes (and what a file is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A Firecracker layout.
    Firecracker(Layout),
    /// A VeridianOS `VmSnapshot` byte stream (`formats/veridian.md`), memory pages embedded.
    Veridian,
}

impl Target {
    /// The layout id, e.g. `firecracker-10.0.0`, `veridian-1`.
    pub fn id(&self) -> &'static str {
        match self {
            Target::Firecracker(l) => l.info().id,
            Target::Veridian => "veridian-1",
        }
    }
}

/// Parses `firecracker@1.14`, `firecracker@v1.14.4`, `firecracker@8.0.0`, `firecracker-10.0.0`,
/// or the same without the `firecracker` prefix. A format version that names two layouts (3.0.0,
/// 8.0.0) is refused with the releases that tell them apart.
pub fn parse_target(s: &str) -> Result<Target, String> {
    let t = s.trim();
    if t == "veridian" || t == "veridian-1" {
        return Ok(Target::Veridian);
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
            "{s}: not a layout snaptool writes; known: {}",
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
}

impl ConversionReport {
    /// Human-readable form.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{} -> {}: {}\n",
            self.from,
            self.to,
            if self.lossless {
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

/// A state file of any format snaptool converts, read into the model.
pub struct Loaded {
    /// The model.
    pub model: Snapshot,
    /// What the file is.
    pub format: Target,
    /// The file re-encoded by its own writer (equal to the input for every canonical file).
    pub canonical: Vec<u8>,
    /// Guest memory the file carries itself (VeridianOS pages).
    pub memory: Option<crate::memory::PagesImage>,
}

/// Reads a state file of any format: VeridianOS by its magic, otherwise Firecracker.
pub fn load(bytes: &[u8]) -> Result<Loaded, ConvertError> {
    use crate::formats::veridian;
    if veridian::sniff(bytes) {
        let f = veridian::read(bytes).map_err(|e| ConvertError::Other(e.to_string()))?;
        let pages = crate::memory::PagesImage::new(
            "(pages in the VeridianOS file)",
            f.memory_len(),
            4096,
            f.pages().map(|(i, d)| (i, d.to_vec())),
        );
        return Ok(Loaded {
            model: f.to_model(),
            format: Target::Veridian,
            canonical: veridian::write(&f),
            memory: Some(pages),
        });
    }
    let src = fc::read(bytes)?;
    let from = src.state.layout();
    Ok(Loaded {
        model: src.to_model(),
        format: Target::Firecracker(from),
        canonical: fc::write(&src).map_err(write_err(from))?,
        memory: None,
    })
}

/// Model → bytes of `target`; `memory` supplies the page bytes of formats that embed memory.
pub fn encode_to(
    m: &Snapshot,
    target: Target,
    memory: Option<&dyn crate::memory::MemoryImage>,
) -> Result<Vec<u8>, ConvertError> {
    match target {
        Target::Firecracker(l) => encode_model(m, l),
        Target::Veridian => {
            let (f, _) = crate::formats::veridian::from_model(m, memory)
                .map_err(|e| ConvertError::Other(format!("cannot write veridian-1: {e}")))?;
            Ok(crate::formats::veridian::write(&f))
        }
    }
}

/// Converts a Firecracker state file to `target` (see [`convert`]).
pub fn convert_firecracker(
    input: &[u8],
    target: Target,
    allow_lossy: bool,
) -> Result<(Vec<u8>, ConversionReport), ConvertError> {
    convert(input, target, None, allow_lossy)
}

/// Converts a state file of any format to `target`. `memory` is the guest memory beside the
/// input, for targets that embed it. Returns the output bytes and the report; a lossy conversion
/// is an error unless `allow_lossy`.
pub fn convert(
    input: &[u8],
    target: Target,
    memory: Option<&dyn crate::memory::MemoryImage>,
    allow_lossy: bool,
) -> Result<(Vec<u8>, ConversionReport), ConvertError> {
    let src = load(input)?;
    let m = &src.model;
    let mem: Option<&dyn crate::memory::MemoryImage> = match (memory, &src.memory) {
        (Some(x), _) => Some(x),
        (None, Some(p)) => Some(p),
        (None, None) => None,
    };
    let out = encode_to(m, target, mem)?;
    let back_in = load(&out)?;
    let m2 = &back_in.model;
    let back_mem: Option<&dyn crate::memory::MemoryImage> = match (&back_in.memory, mem) {
        (Some(p), _) => Some(p),
        (None, x) => x,
    };
    // the round trip back
    let (lossless, lost) = match encode_to(m2, src.format, back_mem) {
        Ok(back) if back == src.canonical => (true, Vec::new()),
        Ok(back) => {
            let m3 = load(&back)?.model;
            let mut lost = diff::diff(m, &m3, &["provenance"]);
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
    };
    for c in diff::diff(m, m2, &["provenance"]) {
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
    Ok((out, report))
}
