//! The `snaptool` command line: a thin layer over the library that maps results to exit codes
//! (0 = ok/same, 1 = findings/differences, 2 = could not run).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use snaptool::{inspect, memory, verify};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod memcmd;

/// Inspect, verify and convert virtual-machine snapshot files.
#[derive(Parser)]
#[command(name = "snaptool", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what a state file is and what it holds; with --mem, also the memory image's size,
    /// extents and data/zero/hole page counts (the state file may then be left out).
    Inspect {
        /// The state file (vmstate, VeridianOS or squib file) or arcbox snapshot directory.
        #[arg(required_unless_present = "mem")]
        vmstate: Option<PathBuf>,
        /// The guest memory file beside it (raw, sparse, zstd, lz4 or page list).
        #[arg(long)]
        mem: Option<PathBuf>,
        /// Page size for the memory image's page counts.
        #[arg(long, default_value_t = memory::DEFAULT_PAGE_SIZE)]
        page_size: u64,
        /// Print the whole model as JSON.
        #[arg(long)]
        json: bool,
        /// Do not check the CRC64 trailer (for damaged files).
        #[arg(long)]
        no_crc: bool,
    },
    /// Convert a state file to another layout through the model (exit 2 when refused).
    Convert {
        /// The state file.
        input: PathBuf,
        /// The output state file.
        #[arg(short, long)]
        out: PathBuf,
        /// Target: `firecracker@1.14`, `firecracker@v1.14.4`, `firecracker@11.0.0`, `veridian`,
        /// `squib`, `arcbox` (`-o` then names a directory), ...
        #[arg(long)]
        to: String,
        /// The guest memory file beside the input (embedded by targets that carry memory).
        #[arg(long)]
        mem: Option<PathBuf>,
        /// Compress the memory an arcbox directory holds: `lz4` (memory.bin.lz4) or `none`.
        #[arg(long, value_parser = ["lz4", "none"])]
        compress: Option<String>,
        /// Write even when converting back would not give the input byte for byte.
        #[arg(long)]
        allow_lossy: bool,
        /// Print the conversion report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare two state files field by field through the model (exit 1 if they differ).
    Diff {
        /// The first state file.
        a: PathBuf,
        /// The second state file.
        b: PathBuf,
        /// Print the differences as JSON.
        #[arg(long)]
        json: bool,
        /// Also compare provenance (format, layout, releases).
        #[arg(long)]
        provenance: bool,
    },
    /// Write a state file as editable JSON (the neutral model, with its format and layout).
    /// Memory a VeridianOS file or arcbox directory holds is written beside it (`JSON.mem`).
    Decode {
        /// The state file or arcbox snapshot directory.
        vmstate: PathBuf,
        /// The JSON output.
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Write JSON made by `decode` back as a state file (byte-identical when unedited).
    /// VeridianOS and arcbox outputs take their memory from --mem, or from `JSON.mem` beside the
    /// JSON when it exists.
    Encode {
        /// The JSON input.
        json_file: PathBuf,
        /// The state file (for arcbox: the directory) to write.
        #[arg(short, long)]
        out: PathBuf,
        /// Write this layout instead of the one recorded in the JSON.
        #[arg(long)]
        to: Option<String>,
        /// Guest memory for a target that holds it (VeridianOS, arcbox).
        #[arg(long)]
        mem: Option<PathBuf>,
        /// Compress an arcbox directory's memory: `lz4` (memory.bin.lz4) or `none`.
        #[arg(long, value_parser = ["lz4", "none"])]
        compress: Option<String>,
    },
    /// Apply diff memory images (oldest first) onto a base image. Present pages of a diff are
    /// copied, zero-filled ones included; holes leave the base unchanged.
    Merge {
        /// The base (full) memory image.
        base: PathBuf,
        /// Diff images, oldest first.
        #[arg(required = true)]
        diffs: Vec<PathBuf>,
        /// Write the merged image here (the inputs are not modified).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Modify the base image itself instead.
        #[arg(long)]
        in_place: bool,
        /// Print a JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Compare two memory images page by page (exit 1 if they differ).
    Memdiff {
        /// The older image.
        a: PathBuf,
        /// The newer image.
        b: PathBuf,
        /// Also write a sparse diff image such that `merge A DIFF` gives B.
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Page size of the comparison.
        #[arg(long, default_value_t = memory::DEFAULT_PAGE_SIZE)]
        page_size: u64,
        /// Print a JSON report with every changed range.
        #[arg(long)]
        json: bool,
    },
    /// Copy a full memory image with every zero page left as a hole.
    Sparsify {
        /// The full image.
        input: PathBuf,
        /// The sparse output.
        #[arg(short, long)]
        out: PathBuf,
        /// Page size.
        #[arg(long, default_value_t = memory::DEFAULT_PAGE_SIZE)]
        page_size: u64,
        /// Print a JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Convert a memory image to another kind: raw (keeps holes), sparse (zero pages become
    /// holes), zstd (seekable), lz4 (arcbox memory.bin.lz4) or pages (page list).
    ConvertMem {
        /// The input image (any kind).
        input: PathBuf,
        /// The output image.
        #[arg(short, long)]
        out: PathBuf,
        /// raw, sparse, zstd, lz4 or pages.
        #[arg(long)]
        to: String,
        /// Page size (sparse, pages).
        #[arg(long, default_value_t = memory::DEFAULT_PAGE_SIZE)]
        page_size: u64,
        /// zstd compression level.
        #[arg(long, default_value_t = 3)]
        level: i32,
        /// Print a JSON report.
        #[arg(long)]
        json: bool,
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
        /// The guest memory file (for a diff snapshot: the merged memory). Not needed for a
        /// VeridianOS file, which embeds its pages.
        #[arg(long)]
        mem: Option<PathBuf>,
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
    snaptool::convert::read_state_file(path).map_err(|e| anyhow::anyhow!("{e}"))
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

fn run_inspect(
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
    if vmstate.is_dir() {
        let loaded = load_any(vmstate)?;
        return inspect_other(vmstate, None, &loaded, image.as_ref(), json);
    }
    let bytes = read_state(vmstate)?;
    if snaptool::formats::veridian::sniff(&bytes) || snaptool::formats::squib::sniff(&bytes) {
        let loaded = snaptool::convert::load(&bytes).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
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

/// `inspect` of a snapshot that is not a Firecracker state file: VeridianOS, squib, arcbox.
fn inspect_other(
    path: &Path,
    bytes: Option<&[u8]>,
    loaded: &snaptool::convert::Loaded,
    image: Option<&memory::ops::MemStats>,
    json: bool,
) -> Result<u8> {
    use snaptool::convert::{Encoded, Target};
    use snaptool::formats::{arcbox, squib};
    let name = path.display().to_string();
    let m = &loaded.model;
    let size = match (&loaded.encoded, bytes) {
        (_, Some(b)) => b.len() as u64,
        (Encoded::Arcbox(d), None) => d.dir_size(),
        (Encoded::File(b), None) => b.len() as u64,
    };
    let (description, spec) = match loaded.format {
        Target::Veridian => ("VeridianOS VmSnapshot".to_string(), "formats/veridian.md"),
        Target::Squib => (
            bytes
                .and_then(squib::recognize)
                .map_or_else(|| "squib state file".to_string(), |r| r.explanation),
            "formats/squib.md",
        ),
        Target::Arcbox { lz4 } => (
            format!(
                "arcbox snapshot directory, memory in {}",
                if lz4 {
                    arcbox::FILE_MEM_LZ4
                } else {
                    arcbox::FILE_MEM
                }
            ),
            "formats/arcbox.md",
        ),
        Target::Firecracker(_) => (
            "Firecracker state file".to_string(),
            "formats/firecracker.md",
        ),
    };
    // Memory the snapshot holds itself, or squib's memory file beside the state file.
    let embedded = loaded.memory.as_ref().map(|p| {
        // Non-zero pages, counted as the image is read (an arcbox memory file is not held in
        // memory).
        let page = memory::DEFAULT_PAGE_SIZE;
        let data: u64 = memory::ops::stats(p.as_ref(), page, &memory::ops::no_progress)
            .map_or(0, |s| (s.data_pages * page).min(p.len()));
        serde_json::json!({"source": p.path(), "length": p.len(), "nonzero_bytes": data})
    });
    let beside = match loaded.format {
        Target::Squib => squib::memory_path(path).map(|p| {
            let len = std::fs::metadata(&p).ok().map(|md| md.len());
            serde_json::json!({"path": p.display().to_string(), "length": len})
        }),
        _ => None,
    };
    if json {
        let v = serde_json::json!({
            "file": {
                "path": name,
                "size": size,
                "layout": loaded.format.id(),
                "format": m.provenance.format,
                "version": m.provenance.version,
                "description": description,
                "spec": spec,
            },
            "embedded_memory": embedded,
            "memory_file_beside": beside,
            "memory_image": image,
            "snapshot": m,
        });
        print(&(serde_json::to_string_pretty(&v)? + "\n"))?;
        return Ok(code::OK);
    }
    let mut s = format!(
        "file:      {name} ({size} bytes)\nformat:    {description} (layout {}, {spec})\n",
        loaded.format.id()
    );
    if let Some(e) = &embedded {
        s.push_str(&format!(
            "embedded memory: {} bytes, {} of them in non-zero pages\n",
            e["length"], e["nonzero_bytes"]
        ));
    }
    if let Some(b) = &beside {
        match b["length"].as_u64() {
            Some(n) => s.push_str(&format!(
                "memory file: {} ({n} bytes)\n",
                b["path"].as_str().unwrap_or_default()
            )),
            None => s.push_str(&format!(
                "memory file: {} (absent)\n",
                b["path"].as_str().unwrap_or_default()
            )),
        }
    }
    s.push_str(&snaptool::inspect::render_model(m));
    if let Some(i) = image {
        s.push_str(&memcmd::render_stats(i));
    }
    print(&s)?;
    Ok(code::OK)
}

fn run_verify(vmstate: &Path, mem: Option<&Path>, json: bool) -> Result<u8> {
    use snaptool::formats::{arcbox, squib, veridian};
    let name = vmstate.display().to_string();
    let other = if vmstate.is_dir() {
        Some((arcbox::convert::LAYOUT, arcbox::verify(vmstate)))
    } else {
        None
    };
    let bytes = match other {
        Some(_) => Vec::new(),
        None => read_state(vmstate)?,
    };
    let other = match other {
        Some(o) => Some(o),
        None if veridian::sniff(&bytes) => Some(("veridian-1", veridian::verify(&bytes))),
        None if squib::sniff(&bytes) => {
            // The memory file given, or squib's own beside the state file when it exists.
            let path = mem
                .map(Path::to_path_buf)
                .or_else(|| squib::memory_path(vmstate).filter(|p| p.is_file()));
            let image = match &path {
                Some(p) => Some(memory::open(p)?),
                None => None,
            };
            Some((squib::LAYOUT_ID, squib::verify(&bytes, image.as_deref())))
        }
        None => None,
    };
    if let Some((layout, findings)) = other {
        let errors = findings
            .iter()
            .filter(|f| f.severity == verify::Severity::Error)
            .count();
        if json {
            let v = serde_json::json!({
                "file": name, "layout": layout,
                "clean": findings.is_empty(), "findings": findings,
            });
            print(&(serde_json::to_string_pretty(&v)? + "\n"))?;
        } else {
            let mut s = String::new();
            for f in &findings {
                s.push_str(&format!("{name}: {f}\n"));
            }
            s.push_str(&format!(
                "{name}: {layout}, {errors} errors, {} warnings\n",
                findings.len() - errors
            ));
            print(&s)?;
        }
        return Ok(if findings.is_empty() {
            code::OK
        } else {
            code::FINDINGS
        });
    }
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
    mem: Option<&Path>,
    lines: Option<usize>,
    timeout: f64,
    expect: Option<&Path>,
    json: bool,
) -> Result<u8> {
    use snaptool::runner::{self, RunOptions, StopReason};
    let name = vmstate.display().to_string();
    let loaded = load_any(vmstate)?;
    let model = loaded.model;
    if model.arch() != snaptool::model::Arch::X86_64 {
        anyhow::bail!(
            "{name}: an {} snapshot ({}); the runner restores x86_64 snapshots only (this host is x86_64 KVM)",
            model.arch().name(),
            loaded.format.id()
        );
    }
    // A file that carries its own pages is restored from them unless --mem is given.
    let embedded = match (mem, &loaded.memory) {
        (None, Some(pages)) => {
            let dir = tempfile::tempdir()?;
            let raw = dir.path().join("mem");
            memory::ops::convert(
                pages.as_ref(),
                &raw,
                memory::ops::Target::Raw,
                memory::DEFAULT_PAGE_SIZE,
                3,
                &memory::ops::no_progress,
            )?;
            Some((raw, dir))
        }
        _ => None,
    };
    let mem: &Path = match (&embedded, mem) {
        (Some((raw, _)), _) => raw,
        (None, Some(m)) => m,
        (None, None) => anyhow::bail!("{name}: give the guest memory file with --mem"),
    };
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
    let (mem, _raw) = raw_memory(mem)?;
    let mem = mem.as_path();
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
    if let Some(why) = report.failure() {
        match report.stop {
            StopReason::Timeout => anyhow::bail!("{name}: {why} within the {timeout} s timeout"),
            _ => anyhow::bail!("{name}: {why}"),
        }
    }
    if !json && report.stop.is_final() {
        eprintln!("snaptool: the guest stopped: {}", report.stop);
    }
    if let Some(e) = expected {
        if !captured.starts_with(&e) {
            eprintln!("snaptool: the output does not start with the expected text");
            return Ok(code::FINDINGS);
        }
    }
    Ok(code::OK)
}

/// A raw memory file for `path`: `path` itself when it is raw, otherwise a temporary raw copy
/// (zstd, LZ4 and page-list images), removed when the returned guard is dropped.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn raw_memory(path: &Path) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    let img = memory::open(path)?;
    if img.kind() == memory::ImageKind::Raw {
        return Ok((path.to_path_buf(), None));
    }
    let dir = tempfile::tempdir()?;
    let raw = dir.path().join("mem");
    memory::ops::convert(
        img.as_ref(),
        &raw,
        memory::ops::Target::Raw,
        memory::DEFAULT_PAGE_SIZE,
        3,
        &memory::ops::no_progress,
    )?;
    Ok((raw, Some(dir)))
}

/// A temporary output file in `dir`, readable by everyone like a file `create` would make.
fn new_output(dir: &Path) -> Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::Builder::new()
        .prefix(".snaptool-tmp-")
        .tempfile_in(dir)
        .with_context(|| format!("{}", dir.display()))?;
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
    let base = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{base}.snaptool-tmp-"))
        .tempfile_in(dir)
        .with_context(|| format!("{}", dir.display()))?;
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
        let ids: Vec<_> = fc::LAYOUTS.iter().map(|l| l.id).collect();
        anyhow::anyhow!(
            "--format {format}: not a layout snaptool writes ({})",
            ids.join(", ")
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

/// Any snapshot snaptool reads (Firecracker, VeridianOS, squib, arcbox directory), as the model.
fn load_any(path: &Path) -> Result<snaptool::convert::Loaded> {
    snaptool::convert::load_path(path).map_err(|e| match e {
        snaptool::convert::ConvertError::Other(s) => anyhow::anyhow!("{s}"),
        e => anyhow::anyhow!("{}: {e}", path.display()),
    })
}

fn run_convert(
    input: &Path,
    out: &Path,
    to: &str,
    mem: Option<&Path>,
    compress: Option<&str>,
    allow_lossy: bool,
    json: bool,
) -> Result<u8> {
    use snaptool::convert::{self, ConvertError, Encoded, Target};
    let mut target = convert::parse_target(to).map_err(|e| anyhow::anyhow!("--to {e}"))?;
    match (&mut target, compress) {
        (Target::Arcbox { lz4 }, Some(c)) => *lz4 = c == "lz4",
        (_, Some(c)) if c != "none" => anyhow::bail!(
            "--compress {c}: only an arcbox directory compresses its memory; --to {to} does not"
        ),
        _ => {}
    }
    let name = input.display().to_string();
    let src = load_any(input)?;
    // squib pairs `x.snap` with `x.mem`: used when --mem is not given.
    let beside = match (mem, src.format) {
        (None, Target::Squib) => {
            snaptool::formats::squib::memory_path(input).filter(|p| p.is_file())
        }
        _ => None,
    };
    let image = match mem.or(beside.as_deref()) {
        Some(p) => Some(memory::open(p)?),
        None => None,
    };
    match convert::convert_loaded(&src, target, image.as_deref(), allow_lossy) {
        Ok(c) => {
            let mut report = c.report;
            match &c.output {
                Encoded::File(b) => write_atomic(out, b)?,
                Encoded::Arcbox(d) => snaptool::formats::arcbox::write_dir(d, out)?,
            }
            // Memory the input held itself goes beside an output that does not hold it.
            if let (Some(pages), None, false) = (&src.memory, mem, target.embeds_memory()) {
                let path = memory_beside(out, target);
                if target == Target::Squib {
                    snaptool::formats::squib::memory::write_memory(
                        pages.as_ref(),
                        &path,
                        snaptool::formats::squib::memory::MemoryKind::Full,
                    )?;
                } else {
                    memory::ops::convert(
                        pages.as_ref(),
                        &path,
                        memory::ops::Target::Raw,
                        memory::DEFAULT_PAGE_SIZE,
                        3,
                        &memory::ops::no_progress,
                    )?;
                }
                report.memory_file = Some(path.display().to_string());
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

/// Where the memory of a converted snapshot goes when the target format does not hold it:
/// beside the output, named as squib pairs them (`x.snap` → `x.mem`) or with `.mem` appended.
fn memory_beside(out: &Path, target: snaptool::convert::Target) -> PathBuf {
    if target == snaptool::convert::Target::Squib {
        if let Some(p) = snaptool::formats::squib::memory_path(out) {
            return p;
        }
    }
    let mut s = out.as_os_str().to_owned();
    s.push(".mem");
    PathBuf::from(s)
}

fn run_diff(a: &Path, b: &Path, json: bool, provenance: bool) -> Result<u8> {
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

fn run_decode(vmstate: &Path, out: &Path) -> Result<u8> {
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

fn run_encode(
    json_file: &Path,
    out: &Path,
    to: Option<&str>,
    mem: Option<&Path>,
    compress: Option<&str>,
) -> Result<u8> {
    use snaptool::convert::{Encoded, Target};
    let name = json_file.display().to_string();
    let text = std::fs::read(json_file).with_context(|| name.clone())?;
    let de = &mut serde_json::Deserializer::from_slice(&text);
    let m: snaptool::model::Snapshot = serde_path_to_error::deserialize(de)
        .map_err(|e| anyhow::anyhow!("{name}: at `{}`: {}", e.path(), e.inner()))?;
    let layout_name = to.unwrap_or(&m.provenance.layout);
    let mut target =
        snaptool::convert::parse_target(layout_name).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    match (&mut target, compress) {
        (Target::Arcbox { lz4 }, Some(c)) => *lz4 = c == "lz4",
        (_, Some(c)) if c != "none" => anyhow::bail!(
            "--compress {c}: only an arcbox directory compresses its memory, not {}",
            target.id()
        ),
        _ => {}
    }
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
    match &encoded {
        Encoded::File(b) => write_atomic(out, b)?,
        Encoded::Arcbox(d) => snaptool::formats::arcbox::write_dir(d, out)?,
    }
    if target.embeds_memory() {
        for n in notes {
            eprintln!("snaptool: note: {n}");
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
            page_size,
            json,
            no_crc,
        } => run_inspect(
            vmstate.as_deref(),
            mem.as_deref(),
            *page_size,
            *json,
            *no_crc,
        ),
        Command::Convert {
            input,
            out,
            to,
            mem,
            compress,
            allow_lossy,
            json,
        } => run_convert(
            input,
            out,
            to,
            mem.as_deref(),
            compress.as_deref(),
            *allow_lossy,
            *json,
        ),
        Command::Diff {
            a,
            b,
            json,
            provenance,
        } => run_diff(a, b, *json, *provenance),
        Command::Decode { vmstate, out } => run_decode(vmstate, out),
        Command::Encode {
            json_file,
            out,
            to,
            mem,
            compress,
        } => run_encode(
            json_file,
            out,
            to.as_deref(),
            mem.as_deref(),
            compress.as_deref(),
        ),
        Command::Merge {
            base,
            diffs,
            out,
            in_place,
            json,
        } => memcmd::merge(base, diffs, out.as_deref(), *in_place, *json),
        Command::Memdiff {
            a,
            b,
            out,
            page_size,
            json,
        } => memcmd::memdiff(a, b, out.as_deref(), *page_size, *json),
        Command::Sparsify {
            input,
            out,
            page_size,
            json,
        } => memcmd::sparsify(input, out, *page_size, *json),
        Command::ConvertMem {
            input,
            out,
            to,
            page_size,
            level,
            json,
        } => memcmd::convert(input, out, to, *page_size, *level, *json),
        Command::Verify { vmstate, mem, json } => run_verify(vmstate, mem.as_deref(), *json),
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        Command::Restore {
            vmstate,
            mem,
            lines,
            timeout,
            expect,
            json,
        } => run_restore(
            vmstate,
            mem.as_deref(),
            *lines,
            *timeout,
            expect.as_deref(),
            *json,
        ),
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
