//! The command line's pieces: arguments, one module per group of subcommands, and what they
//! share (exit codes, output, reading state files).

pub mod args;
pub mod convert;
pub mod editcmd;
pub mod inspect;
pub mod memcmd;
#[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
pub mod restore;
pub mod verify;

use anyhow::Result;
use std::io::Write;
use std::path::Path;

/// Exit codes of every command.
pub mod code {
    pub const OK: u8 = 0;
    pub const FINDINGS: u8 = 1;
    pub const FAILED: u8 = 2;
}

/// Bytes of a state file; refuses files larger than any producer accepts before reading them.
pub fn read_state(path: &Path) -> Result<Vec<u8>> {
    snaptool::convert::read_state_file(path).map_err(|e| anyhow::anyhow!("{e}"))
}

pub fn print(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// A temporary output file in `dir`, readable by everyone like a file `create` would make.
#[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
pub fn new_output(dir: &Path) -> Result<tempfile::NamedTempFile> {
    use anyhow::Context;
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::Builder::new()
        .prefix(".snaptool-tmp-")
        .tempfile_in(dir)
        .with_context(|| format!("{}", dir.display()))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    Ok(tmp)
}

/// Writes `bytes` to `path` through a temporary file renamed into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    snaptool::registry::write_atomic(path, bytes).map_err(Into::into)
}

pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
