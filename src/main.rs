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
    /// Boot a kernel (default: the built-in guest) in KVM and snapshot it mid-run.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    Run {
        /// An x86_64 ELF kernel entered in 64-bit mode (default: the built-in guest).
        #[arg(long)]
        kernel: Option<PathBuf>,
        /// Guest memory in MiB (a multiple of 2, at most 1024).
        #[arg(long, default_value_t = 64)]
        mem_size: u64,
        /// vCPUs: vCPU 0 starts at the entry point, the others wait for INIT/SIPI.
        #[arg(long, default_value_t = 1)]
        vcpus: usize,
        /// Snapshot after the guest printed this many lines.
        #[arg(long, default_value_t = 10)]
        snapshot_after_lines: usize,
        /// Also take a diff snapshot (vmstate.diff, sparse mem.diff from the KVM dirty log) after
        /// this many more lines.
        #[arg(long)]
        diff_after_lines: Option<usize>,
        /// Directory for vmstate, mem and serial-before.log.
        #[arg(long)]
        out: PathBuf,
        /// Layout of the vmstate (`firecracker-10.0.0`, `firecracker@1.12`, `6.0.0`, ...).
        #[arg(long, default_value = "firecracker-10.0.0")]
        format: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
    },
    /// Boot the built-in guest, snapshot it, write every layout, restore each and check it.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    Demo {
        /// Print the table as JSON.
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
        drain: false,
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

/// A temporary output file in `dir`, readable by everyone like a file `create` would make.
fn new_output(dir: &Path) -> Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("{}", dir.display()))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    Ok(tmp)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// crash never leaves a partial file under the final name.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("{}", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("{}", path.display()))?;
    Ok(())
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
fn run_run(
    kernel: Option<&Path>,
    mem_size: u64,
    vcpus: usize,
    (lines, diff_lines): (usize, Option<usize>),
    out: &Path,
    format: &str,
    timeout: f64,
) -> Result<u8> {
    use snaptool::formats::firecracker::{self as fc, Layout};
    use snaptool::runner::{self, RunOptions};
    let layout = Layout::parse(format).ok_or_else(|| {
        let known: Vec<&str> = fc::LAYOUTS.iter().map(|l| l.id).collect();
        anyhow::anyhow!(
            "--format {format}: not a layout snaptool writes ({})",
            known.join(", ")
        )
    })?;
    if !(timeout.is_finite() && timeout > 0.0) {
        anyhow::bail!("--timeout must be a positive number of seconds");
    }
    let (elf, name) = match kernel {
        Some(p) => (
            std::fs::read(p).with_context(|| format!("{}", p.display()))?,
            p.display().to_string(),
        ),
        None => (runner::BUILTIN_GUEST.to_vec(), "built-in guest".to_string()),
    };
    let opts = RunOptions {
        lines: Some(lines),
        timeout: std::time::Duration::from_secs_f64(timeout.min(86_400.0)),
        drain: true,
    };
    let taken = runner::boot_and_snapshot(&elf, &name, mem_size << 20, vcpus, &opts, diff_lines)?;
    if taken.report.lines < lines {
        anyhow::bail!(
            "the guest printed {} of {lines} lines before the {timeout} s timeout",
            taken.report.lines
        );
    }
    let file = fc::from_model(&taken.snapshot, layout)?;
    let invented = fc::invented_fields(&taken.snapshot, layout);
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    write_atomic(&out.join("mem"), &taken.memory)?;
    write_atomic(&out.join("serial-before.log"), &taken.serial)?;
    write_atomic(&out.join("vmstate"), &fc::write(&file)?)?;
    if let Some(d) = &taken.diff {
        let dfile = fc::from_model(&d.snapshot, layout)?;
        let tmp = new_output(out)?;
        runner::write_sparse(tmp.as_file(), &d.memory, &d.dirty_pages, mem_size << 20)?;
        tmp.persist(out.join("mem.diff"))
            .with_context(|| format!("{}", out.join("mem.diff").display()))?;
        write_atomic(&out.join("serial-before-diff.log"), &d.serial)?;
        write_atomic(&out.join("vmstate.diff"), &fc::write(&dfile)?)?;
        eprintln!(
            "snaptool: diff snapshot: {}/vmstate.diff, {}/mem.diff ({} dirty pages)",
            out.display(),
            out.display(),
            d.dirty_pages.len()
        );
    }
    print(&String::from_utf8_lossy(
        taken.diff.as_ref().map_or(&taken.serial, |d| &d.serial),
    ))?;
    eprintln!(
        "snaptool: snapshot after {} lines: {}/vmstate ({}), {}/mem ({} MiB)",
        taken.report.lines,
        out.display(),
        layout.info().id,
        out.display(),
        mem_size
    );
    for f in invented {
        eprintln!("snaptool: filled with Firecracker's default: {f}");
    }
    Ok(code::OK)
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn run_demo(json: bool) -> Result<u8> {
    let dir = tempfile::tempdir()?;
    let rows = snaptool::demo::demo(dir.path(), 10, 10)?;
    let ok = rows.iter().all(|r| r.ok());
    if json {
        print(&(serde_json::to_string_pretty(&rows)? + "\n"))?;
    } else {
        let yes = |b: bool| if b { "OK" } else { "FAIL" };
        let mut s = format!(
            "{:<22} {:<9} {:<9} {:<10} {:>14}  {}\n",
            "layout", "written", "restored", "continues", "first byte ms", "note"
        );
        for r in &rows {
            s.push_str(&format!(
                "{:<22} {:<9} {:<9} {:<10} {:>14}  {}\n",
                r.layout,
                yes(r.written),
                yes(r.restored),
                yes(r.continues),
                r.first_byte_ms
                    .map(|t| format!("{t:.1}"))
                    .unwrap_or_else(|| "-".into()),
                r.note
            ));
        }
        s.push_str(if ok {
            "demo: every layout restored and continued exactly\n"
        } else {
            "demo: FAILED\n"
        });
        print(&s)?;
    }
    Ok(if ok { code::OK } else { code::FINDINGS })
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
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        Command::Run {
            kernel,
            mem_size,
            vcpus,
            snapshot_after_lines,
            diff_after_lines,
            out,
            format,
            timeout,
        } => run_run(
            kernel.as_deref(),
            *mem_size,
            *vcpus,
            (*snapshot_after_lines, *diff_after_lines),
            out,
            format,
            *timeout,
        ),
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        Command::Demo { json } => run_demo(*json),
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
