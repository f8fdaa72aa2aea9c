//! `restore`, `run` and `demo`: the KVM runner.

use super::convert::load_any;
use super::{code, new_output, print, write_atomic};
use anyhow::{Context, Result};
use snaptool::memory;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Runs `check-host`: will this snapshot restore on this host?
pub fn run_check_host(vmstate: &Path, mem: Option<&Path>, json: bool) -> Result<u8> {
    use snaptool::hostcheck;
    let name = vmstate.display().to_string();
    let loaded = load_any(vmstate)?;
    let (host, mut findings) =
        hostcheck::check_host(&loaded.model).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    if let Some(p) = mem {
        let len = std::fs::metadata(p)
            .with_context(|| p.display().to_string())?
            .len();
        findings.extend(hostcheck::check_memory_file(
            &loaded.model,
            &p.display().to_string(),
            len,
        ));
    }
    let report = hostcheck::Report::new(
        &name,
        loaded.format.id(),
        loaded.model.arch(),
        &host,
        findings,
    );
    if json {
        print(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        print(&report.render())?;
    }
    Ok(if report.clean {
        code::OK
    } else {
        code::FINDINGS
    })
}

/// Runs `restore`.
pub fn run_restore(
    vmstate: &Path,
    mem: Option<&Path>,
    (lines, timeout): (Option<usize>, f64),
    expect: Option<&Path>,
    json: bool,
    refuse_host_mismatch: bool,
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
    // What `check-host` finds, before KVM is touched: warnings unless the user asked to refuse.
    let host_findings = match snaptool::hostcheck::check_host(&model) {
        Ok((_, f)) => f,
        Err(e) => {
            eprintln!("snaptool: warning: {name}: this host was not checked: {e}");
            Vec::new()
        }
    };
    if !json {
        for f in &host_findings {
            eprintln!("snaptool: check-host: {name}: {f}");
        }
    }
    let host_errors = snaptool::registry::errors(&host_findings);
    if refuse_host_mismatch && host_errors > 0 {
        if json {
            let v =
                serde_json::json!({"file": name, "refused": true, "host_findings": host_findings});
            print(&(serde_json::to_string_pretty(&v)? + "\n"))?;
        }
        eprintln!(
            "snaptool: {name}: refused: check-host found {host_errors} error(s) on this host (--refuse-host-mismatch)"
        );
        return Ok(code::FINDINGS);
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
            "host_findings": host_findings,
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
pub fn raw_memory(path: &Path) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
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

#[allow(clippy::too_many_arguments)]
/// Runs `run`.
pub fn run_run(
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

/// Runs `demo`.
pub fn run_demo(json: bool) -> Result<u8> {
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
