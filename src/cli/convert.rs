//! `convert`, `diff`, `decode`, `encode`.

use super::{code, print, write_atomic};
use anyhow::{Context, Result};
use snaptool::memory;
use std::path::{Path, PathBuf};

/// Any snapshot snaptool reads, as the model (see `snaptool::registry`).
pub fn load_any(path: &Path) -> Result<snaptool::convert::Loaded> {
    snaptool::convert::load_path(path).map_err(|e| match e {
        snaptool::convert::ConvertError::Other(s) => anyhow::anyhow!("{s}"),
        e => anyhow::anyhow!("{}: {e}", path.display()),
    })
}

/// Runs `convert`.
pub fn run_convert(
    input: &Path,
    out: &Path,
    to: &str,
    mem: Option<&Path>,
    compress: Option<&str>,
    allow_lossy: bool,
    json: bool,
) -> Result<u8> {
    use snaptool::convert::{self, ConvertError};
    use snaptool::registry;
    let target = convert::parse_target(to).map_err(|e| anyhow::anyhow!("--to {e}"))?;
    let target = registry::with_compression(target, compress).map_err(anyhow::Error::msg)?;
    let name = input.display().to_string();
    let src = load_any(input)?;
    // A format that pairs its state with a memory file beside it: used when --mem is not given.
    let beside = match mem {
        None => registry::own_memory_file(input, src.format),
        Some(_) => None,
    };
    let image = match mem.or(beside.as_deref()) {
        Some(p) => Some(memory::open(p)?),
        None => None,
    };
    match convert::convert_loaded(&src, target, image.as_deref(), allow_lossy) {
        Ok(c) => {
            let mut report = c.report;
            registry::write_output(&c.output, out)?;
            // Memory the input held itself goes beside an output that does not hold it.
            if let (Some(pages), None, false) = (&src.memory, mem, target.embeds_memory()) {
                let path = registry::write_memory_beside(pages.as_ref(), out, target)?;
                report.memory_file = Some(path.display().to_string());
            }
            if target == registry::Target::Qemu {
                report.qemu_command = Some(registry::qemu_command(&c.output, out)?);
            }
            if json {
                print(&(serde_json::to_string_pretty(&report)? + "\n"))?;
            } else {
                print(&format!("{name} -> {}\n{}", out.display(), report.render()))?;
            }
            Ok(code::OK)
        }
        Err(ConvertError::Lossy(report)) => {
            if json {
                print(&(serde_json::to_string_pretty(&report)? + "\n"))?;
            }
            eprint!("{}", report.render());
            anyhow::bail!(
                "{name}: refused: {} cannot hold everything in this {} snapshot ({} value(s) would be lost); nothing written. Use --allow-lossy to convert anyway",
                report.to,
                report.from,
                report.lost.len()
            )
        }
        Err(e) => anyhow::bail!("{name}: {e}"),
    }
}

/// Runs `diff`.
pub fn run_diff(a: &Path, b: &Path, json: bool, provenance: bool) -> Result<u8> {
    let fa = load_any(a)?;
    let fb = load_any(b)?;
    let skip: &[&str] = if provenance {
        &[]
    } else {
        snaptool::diff::PROVENANCE
    };
    let changes = snaptool::diff::diff(&fa.model, &fb.model, skip);
    if json {
        let v = serde_json::json!({
            "a": a.display().to_string(),
            "b": b.display().to_string(),
            "same": changes.is_empty(),
            "changes": changes,
        });
        print(&(serde_json::to_string_pretty(&v)? + "\n"))?;
    } else {
        let mut s = String::new();
        for c in &changes {
            s.push_str(&format!("{c}\n"));
        }
        print(&s)?;
    }
    Ok(if changes.is_empty() {
        code::OK
    } else {
        code::FINDINGS
    })
}

/// Runs `decode`.
pub fn run_decode(vmstate: &Path, out: &Path) -> Result<u8> {
    let f = load_any(vmstate)?;
    write_atomic(
        out,
        (serde_json::to_string_pretty(&f.model)? + "\n").as_bytes(),
    )?;
    // The model holds no memory: what the snapshot held goes beside the JSON for `encode`.
    if let Some(pages) = &f.memory {
        let mut path = out.as_os_str().to_owned();
        path.push(".mem");
        let path = PathBuf::from(path);
        memory::ops::convert(
            pages.as_ref(),
            &path,
            memory::ops::Target::Raw,
            memory::DEFAULT_PAGE_SIZE,
            3,
            &memory::ops::no_progress,
        )?;
        eprintln!(
            "snaptool: the memory {} holds: {}",
            vmstate.display(),
            path.display()
        );
    }
    Ok(code::OK)
}

/// Runs `encode`.
pub fn run_encode(
    json_file: &Path,
    out: &Path,
    to: Option<&str>,
    mem: Option<&Path>,
    compress: Option<&str>,
) -> Result<u8> {
    let name = json_file.display().to_string();
    let text = std::fs::read(json_file).with_context(|| name.clone())?;
    let de = &mut serde_json::Deserializer::from_slice(&text);
    let m: snaptool::model::Snapshot = serde_path_to_error::deserialize(de)
        .map_err(|e| anyhow::anyhow!("{name}: at `{}`: {}", e.path(), e.inner()))?;
    let layout_name = to.unwrap_or(&m.provenance.layout);
    let target =
        snaptool::convert::parse_target(layout_name).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let target =
        snaptool::registry::with_compression(target, compress).map_err(anyhow::Error::msg)?;
    let beside = {
        let mut p = json_file.as_os_str().to_owned();
        p.push(".mem");
        PathBuf::from(p)
    };
    let mem = match mem {
        Some(p) => Some(p.to_path_buf()),
        None if target.embeds_memory() && beside.is_file() => Some(beside),
        None => None,
    };
    let image = match &mem {
        Some(p) if target.embeds_memory() => Some(memory::open(p)?),
        Some(p) => anyhow::bail!(
            "--mem {}: a {} snapshot does not hold memory; keep the memory file beside it",
            p.display(),
            target.id()
        ),
        None => None,
    };
    let (encoded, notes) = snaptool::convert::encode_to(&m, target, image.as_deref())
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    snaptool::registry::write_output(&encoded, out)?;
    if target.embeds_memory() {
        for n in notes {
            eprintln!("snaptool: note: {n}");
        }
    }
    Ok(code::OK)
}
