//! The `snaptool` command line: a thin layer over the library that maps results to exit codes
//! (0 = ok/same, 1 = findings/differences, 2 = could not run).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use snaptool::{inspect, verify};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Inspect, verify and convert virtual-machine snapshot files.
#[derive(Parser)]
#[command(name = "snaptool", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what a state file is and what it holds.
    Inspect {
        /// The state file (vmstate).
        vmstate: PathBuf,
        /// The guest memory file beside it.
        #[arg(long)]
        mem: Option<PathBuf>,
        /// Print the whole model as JSON.
        #[arg(long)]
        json: bool,
        /// Do not check the CRC64 trailer (for damaged files).
        #[arg(long)]
        no_crc: bool,
    },
    /// Check a state file and report every finding (exit 1 if any).
    Verify {
        /// The state file (vmstate).
        vmstate: PathBuf,
        /// The guest memory file beside it.
        #[arg(long)]
        mem: Option<PathBuf>,
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Exit codes of every command.
mod code {
    pub const OK: u8 = 0;
    pub const FINDINGS: u8 = 1;
    pub const FAILED: u8 = 2;
}

/// Bytes of a state file; refuses files larger than any producer accepts before reading them.
fn read_state(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.len() > snaptool::envelope::SIZE_LIMIT_ANY {
        anyhow::bail!(
            "{}: {} bytes, over the {}-byte cap for state files",
            path.display(),
            meta.len(),
            snaptool::envelope::SIZE_LIMIT_ANY
        );
    }
    std::fs::read(path).with_context(|| format!("{}", path.display()))
}

fn mem_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .len())
}

fn print(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn run_inspect(vmstate: &Path, mem: Option<&Path>, json: bool, no_crc: bool) -> Result<u8> {
    let bytes = read_state(vmstate)?;
    let name = vmstate.display().to_string();
    let mem = match mem {
        Some(p) => Some((p.display().to_string(), mem_size(p)?)),
        None => None,
    };
    let report = inspect::inspect(
        &name,
        &bytes,
        !no_crc,
        mem.as_ref().map(|(p, s)| (p.as_str(), *s)),
    )
    .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    if json {
        print(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        print(&inspect::render_text(&report))?;
    }
    Ok(code::OK)
}

fn run_verify(vmstate: &Path, mem: Option<&Path>, json: bool) -> Result<u8> {
    let bytes = read_state(vmstate)?;
    let name = vmstate.display().to_string();
    let mem = match mem {
        Some(p) => Some(verify::MemFile {
            path: p.display().to_string(),
            size: mem_size(p)?,
        }),
        None => None,
    };
    let report = verify::verify_state(&name, &bytes, mem.as_ref());
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

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                code::FAILED
            } else {
                code::OK
            });
        }
    };
    let result = match &cli.command {
        Command::Inspect {
            vmstate,
            mem,
            json,
            no_crc,
        } => run_inspect(vmstate, mem.as_deref(), *json, *no_crc),
        Command::Verify { vmstate, mem, json } => run_verify(vmstate, mem.as_deref(), *json),
    };
    match result {
        Ok(c) => ExitCode::from(c),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(code::OK),
        Err(e) => {
            eprintln!("snaptool: error: {e:#}");
            ExitCode::from(code::FAILED)
        }
    }
}
