//! `verify`.

use super::{code, print};
use anyhow::Result;
use std::path::Path;

/// Runs `verify` on a snapshot of any format: one report shape (`file`, `layout`, `arch`,
/// `clean`, `findings`) for every format.
pub fn run_verify(vmstate: &Path, mem: Option<&Path>, json: bool) -> Result<u8> {
    let name = vmstate.display().to_string();
    let report =
        snaptool::registry::verify_path(vmstate, mem).map_err(|e| anyhow::anyhow!("{e}"))?;
    if json {
        print(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        let mut s = String::new();
        for f in &report.findings {
            s.push_str(&format!("{name}: {f}\n"));
        }
        s.push_str(&format!("{name}: {}\n", report.summary()));
        print(&s)?;
    }
    Ok(if report.clean {
        code::OK
    } else {
        code::FINDINGS
    })
}
