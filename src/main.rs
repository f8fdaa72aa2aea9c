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
    /// Restore a snapshot into a KVM VM, resume it and print what the guest writes to COM1.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    Restore {
        /// The state file (vmstate).
        vmstate: PathBuf,
        /// The guest memory file (for a diff snapshot: the merged memory).
        #[arg(long)]
        mem: PathBuf,
        /// Stop after the guest printed this many lines.
        #[arg(long)]
        lines: Option<usize>,
        /// Stop after this many seconds in any case.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
        /// Exit 1 unless the output starts with this file's content.
        #[arg(long)]
        expect: Option<PathBuf>,
        /// Print a JSON report (with the output) instead of the raw output.
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

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn run_restore(
    vmstate: &Path,
    mem: &Path,
    lines: Option<usize>,
    timeout: f64,
    expect: Option<&Path>,
    json: bool,
) -> Result<u8> {
    use snaptool::runner::{self, RunOptions, StopReason};
    let name = vmstate.display().to_string();
    let bytes = read_state(vmstate)?;
    let file =
        snaptool::formats::firecracker::read(&bytes).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let model = file.to_model();
    let expected = match expect {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("{}", p.display()))?),
        None => None,
    };
    if !(timeout.is_finite() && timeout > 0.0) {
        anyhow::bail!("--timeout must be a positive number of seconds");
    }
    let opts = RunOptions {
        lines,
        timeout: std::time::Duration::from_secs_f64(timeout.min(86_400.0)),
    };
    let mut captured = Vec::new();
    let mut stdout = std::io::stdout().lock();
    let mut out = |b: &[u8]| {
        captured.extend_from_slice(b);
        if !json {
            let _ = stdout.write_all(b);
            let _ = stdout.flush();
        }
    };
    let report = runner::restore(&model, mem, &opts, &mut out)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    drop(stdout);
    if json {
        let v = serde_json::json!({
            "file": name,
            "memory_file": mem.display().to_string(),
            "report": report,
            "output": String::from_utf8_lossy(&captured),
        });
        print(&(serde_json::to_string_pretty(&v)? + "\n"))?;
    } else {
        for w in &report.warnings {
            eprintln!("snaptool: warning: {w}");
        }
        if !report.defaults.is_empty() {
            eprintln!(
                "snaptool: not in the snapshot, KVM defaults kept: {}",
                report.defaults.join(", ")
            );
        }
        if !report.not_emulated.is_empty() {
            eprintln!(
                "snaptool: devices not emulated: {}",
                report.not_emulated.join(", ")
            );
        }
    }
    match &report.stop {
        StopReason::Error(e) => anyhow::bail!("{name}: the guest stopped: {e}"),
        StopReason::Timeout if lines.is_some_and(|n| report.lines < n) => anyhow::bail!(
            "{name}: the guest printed {} of {} lines before the {timeout} s timeout",
            report.lines,
            lines.unwrap_or(0)
        ),
        _ => {}
    }
    if let Some(e) = expected {
        if !captured.starts_with(&e) {
            eprintln!("snaptool: the output does not start with the expected text");
            return Ok(code::FINDINGS);
        }
    }
    Ok(code::OK)
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
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        Command::Restore {
            vmstate,
            mem,
            lines,
            timeout,
            expect,
            json,
        } => run_restore(vmstate, mem, *lines, *timeout, expect.as_deref(), *json),
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
