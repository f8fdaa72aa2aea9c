//! `inspect`.

use super::{code, memcmd, print, read_state};
use anyhow::Result;
use snaptool::{inspect, memory};
use std::path::Path;

/// Runs `inspect`.
pub fn run_inspect(
    vmstate: Option<&Path>,
    mem: Option<&Path>,
    page_size: u64,
    json: bool,
    no_crc: bool,
) -> Result<u8> {
    let image = match mem {
        Some(p) => Some(memcmd::stats(p, page_size)?),
        None => None,
    };
    let Some(vmstate) = vmstate else {
        let Some(image) = image else {
            anyhow::bail!("give a state file, --mem MEMFILE or both");
        };
        if json {
            print(&(serde_json::to_string_pretty(&image)? + "\n"))?;
        } else {
            print(&memcmd::render_stats(&image))?;
        }
        return Ok(code::OK);
    };
    let name = vmstate.display().to_string();
    // Directories, streams and VeridianOS files (which embed guest memory) are read from their
    // path, never whole.
    if vmstate.is_dir()
        || snaptool::registry::is_qemu_path(vmstate)
        || snaptool::registry::is_veridian_path(vmstate)
    {
        let loaded = super::convert::load_any(vmstate)?;
        return inspect_other(vmstate, None, &loaded, image.as_ref(), json);
    }
    let bytes = read_state(vmstate)?;
    if !snaptool::registry::is_firecracker(&bytes) {
        let loaded =
            snaptool::registry::load(&bytes).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        return inspect_other(vmstate, Some(&bytes), &loaded, image.as_ref(), json);
    }
    let mem = mem.map(|p| {
        (
            p.display().to_string(),
            image.as_ref().map_or(0, |i| i.length),
        )
    });
    let report = inspect::inspect(
        &name,
        &bytes,
        !no_crc,
        mem.as_ref().map(|(p, s)| (p.as_str(), *s)),
    )
    .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    if json {
        let mut v = serde_json::to_value(&report)?;
        if let (Some(i), Some(o)) = (&image, v.as_object_mut()) {
            o.insert("memory_image".into(), serde_json::to_value(i)?);
        }
        print(&(serde_json::to_string_pretty(&v)? + "\n"))?;
    } else {
        let mut s = inspect::render_text(&report);
        if let Some(i) = &image {
            s.push_str(&memcmd::render_stats(i));
        }
        print(&s)?;
    }
    Ok(code::OK)
}

/// `inspect` of a snapshot that is not a Firecracker state file, in the same JSON shape
/// (`file`, `memory_file`, `snapshot`, and `memory_image` with `--mem`): `file` describes the
/// format, `memory_file` where its memory is (embedded or the format's own file beside it).
pub fn inspect_other(
    path: &Path,
    bytes: Option<&[u8]>,
    loaded: &snaptool::Loaded,
    image: Option<&memory::ops::MemStats>,
    json: bool,
) -> Result<u8> {
    let name = path.display().to_string();
    let m = &loaded.model;
    let size = match (&loaded.encoded, bytes) {
        (_, Some(b)) => b.len() as u64,
        (e, None) => e.size(),
    };
    let facts = snaptool::registry::describe(path, bytes, loaded);
    if json {
        let v = serde_json::json!({
            "file": {
                "path": name,
                "size": size,
                "layout": loaded.format.id(),
                "format": m.provenance.format,
                "version": m.provenance.version,
                "arch": m.arch().name(),
                "description": facts.description,
                "spec": facts.spec,
            },
            "memory_file": facts.embedded.clone().or(facts.beside.clone()),
            "snapshot": m,
        });
        let mut v = v;
        if let (Some(i), Some(o)) = (image, v.as_object_mut()) {
            o.insert("memory_image".into(), serde_json::to_value(i)?);
        }
        print(&(serde_json::to_string_pretty(&v)? + "\n"))?;
        return Ok(code::OK);
    }
    let mut s = format!(
        "file:      {name} ({size} bytes)\nformat:    {} (layout {}, {})\n",
        facts.description,
        loaded.format.id(),
        facts.spec
    );
    if let Some(e) = &facts.embedded {
        s.push_str(&format!(
            "embedded memory: {} bytes, {} of them in non-zero pages\n",
            e["length"], e["nonzero_bytes"]
        ));
    }
    if let Some(b) = &facts.beside {
        let p = b["path"].as_str().unwrap_or_default();
        match b["length"].as_u64() {
            Some(n) => s.push_str(&format!("memory file: {p} ({n} bytes)\n")),
            None => s.push_str(&format!("memory file: {p} (absent)\n")),
        }
    }
    s.push_str(&snaptool::inspect::render_model(m));
    if let Some(i) = image {
        s.push_str(&memcmd::render_stats(i));
    }
    print(&s)?;
    Ok(code::OK)
}
