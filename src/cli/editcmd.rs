//! The `edit` subcommand: change named fields, write the snapshot again in its own format.

use anyhow::{Context, Result};
use snaptool::convert;
use snaptool::edit::{self, Assignment};
use std::path::Path;

/// Runs `edit IN -o OUT --set PATH=VALUE ...`; nothing is written when any assignment is
/// refused.
pub fn run(input: &Path, out: &Path, sets: &[String], json: bool) -> Result<u8> {
    let name = input.display().to_string();
    let sets = sets
        .iter()
        .map(|s| Assignment::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| name.clone())?;
    anyhow::ensure!(
        !sets.is_empty(),
        "{name}: nothing to edit (give --set PATH=VALUE)"
    );
    let src = convert::load_path(input).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let host = || host_tsc_khz();
    let edited = edit::edit(&src, &sets, &host).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    if sets
        .iter()
        .any(|a| a.value.trim() == "host" && a.path.ends_with("tsc_khz"))
    {
        eprintln!(
            "snaptool: note: the guest's TSC now runs at this host's rate; time in the guest moves at that rate from the restore on"
        );
    }
    snaptool::registry::write_output(&edited.output, out)?;
    if json {
        let doc = serde_json::json!({"input": name, "output": out.display().to_string(),
            "format": src.format.id(), "changes": edited.changes});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{} -> {} ({})", name, out.display(), src.format.id());
        for c in &edited.changes {
            println!("  {c}");
        }
    }
    Ok(super::code::OK)
}

#[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
fn host_tsc_khz() -> Result<u32, String> {
    snaptool::hostcheck::host_tsc_khz().map_err(|e| e.to_string())
}

#[cfg(not(all(feature = "kvm", target_os = "linux", target_arch = "x86_64")))]
fn host_tsc_khz() -> Result<u32, String> {
    Err("this build has no KVM runner (the `kvm` feature) to ask".into())
}
