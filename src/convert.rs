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
//! (translated). Which formats exist and how each is read and written is the [`registry`]'s.
//!
//! [`registry`]: crate::registry

use crate::diff::{self, Change};
use crate::formats::firecracker as fc;
use crate::memory::MemoryImage;
pub use crate::registry::{
    Encoded, LOAD_LIMIT, Loaded, Target, encode_model, encode_to, load, load_path, parse_target,
    read_state_file,
};
use crate::registry::{encode_like, encode_with, reload};
use serde::Serialize;
use thiserror::Error;

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
    /// For a QEMU stream written to a file: the command line (argv) that resumes it, naming the
    /// output file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qemu_command: Option<Vec<String>>,
}

impl ConversionReport {
    /// Human-readable form.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{} -> {}: {}\n",
            self.from,
            self.to,
            if self.lossless && crate::registry::is_directory_format(&self.from) {
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
        if let Some(c) = &self.qemu_command {
            let words: Vec<String> = c.iter().map(|w| shell_word(w)).collect();
            s.push_str(&format!("resume with: {}\n", words.join(" ")));
        }
        s
    }
}

/// `w` quoted for a POSIX shell when it needs quoting.
fn shell_word(w: &str) -> String {
    let plain = !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=,:@%+".contains(&b));
    if plain {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
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
    match c.output.to_bytes()? {
        Some(b) => Ok((b, c.report)),
        None => Err(ConvertError::Other(format!(
            "a {} snapshot is a directory; use convert_loaded",
            target.id()
        ))),
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
    // The round trip back, as close to the input as its writer can come.
    let back = encode_like(m2, src.format, back_mem, &src.encoded).map(|b| (b, ()));
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
        qemu_command: None,
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
