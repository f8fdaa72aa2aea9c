//! The KVM runner on real snapshots and on hostile models. These tests need `/dev/kvm`: without it
//! they say so loudly and pass, unless `SNAPTOOL_REQUIRE_KVM=1` (set by CI), which makes a missing
//! `/dev/kvm` a failure.

use crate::root;
use snaptool::formats::firecracker as fc;
use snaptool::model::{Snapshot, Vcpu};
use snaptool::runner::{self, RunError, RunOptions, StopReason};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn kvm_available() -> bool {
    if Path::new("/dev/kvm").exists() {
        return true;
    }
    assert!(
        std::env::var("SNAPTOOL_REQUIRE_KVM").as_deref() != Ok("1"),
        "SNAPTOOL_REQUIRE_KVM=1 but /dev/kvm does not exist"
    );
    eprintln!("\n!!! SKIPPED: /dev/kvm does not exist; the KVM runner tests did not run !!!\n");
    false
}

/// The fixture's model and its memory file, unpacked into `dir`.
fn fixture(dir: &Path, folder: &str) -> (Snapshot, PathBuf) {
    let f = root().join("fixtures").join(folder);
    let state = fc::read(&std::fs::read(f.join("vmstate")).unwrap()).unwrap();
    let mem = dir.join(folder.replace('/', "_"));
    let z = std::fs::File::open(f.join("mem.zst")).unwrap();
    let mut out = std::fs::File::create(&mem).unwrap();
    zstd::stream::copy_decode(z, &mut out).unwrap();
    (state.to_model(), mem)
}

fn run(
    m: &Snapshot,
    mem: &Path,
    lines: usize,
    secs: u64,
) -> Result<(runner::RunReport, Vec<u8>), RunError> {
    let mut got = Vec::new();
    let opts = RunOptions {
        lines: Some(lines),
        timeout: Duration::from_secs(secs),
        drain: false,
    };
    let r = runner::restore(m, mem, &opts, &mut |b| got.extend_from_slice(b))?;
    Ok((r, got))
}

/// Every real fixture continues exactly as it did under Firecracker's own restore.
#[test]
fn real_snapshots_continue_like_firecracker() {
    if !kvm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for folder in [
        "firecracker-1.16.1/counter-1vcpu",
        "firecracker-1.16.1/counter-fpu-1vcpu",
        "firecracker-1.12.1/counter-1vcpu",
    ] {
        let (m, mem) = fixture(dir.path(), folder);
        let before = std::fs::read(&mem).unwrap();
        let (report, got) = run(&m, &mem, 8, 60).unwrap_or_else(|e| panic!("{folder}: {e}"));
        assert_eq!(report.stop, StopReason::Lines, "{folder}");
        let want = std::fs::read(
            root()
                .join("fixtures")
                .join(folder)
                .join("serial-restore-full.log"),
        )
        .unwrap();
        assert!(
            got.len() > 100 && want.starts_with(&got),
            "{folder}: got {:?}",
            String::from_utf8_lossy(&got)
        );
        assert!(
            report.defaults.is_empty(),
            "{folder}: {:?}",
            report.defaults
        );
        assert!(
            std::fs::read(&mem).unwrap() == before,
            "{folder}: the memory file changed"
        );
    }
}

/// A guest stuck in a loop is stopped by the timeout.
#[test]
fn silent_guest_is_stopped_by_the_timeout() {
    if !kvm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (m, mem) = fixture(dir.path(), "firecracker-1.16.1/counter-1vcpu");
    let Vcpu::X86_64(v) = &m.vcpus[0] else {
        panic!()
    };
    // The guest identity-maps its low memory: put `jmp $` where it will resume.
    let mut bytes = std::fs::read(&mem).unwrap();
    let rip = v.regs.rip as usize;
    bytes[rip..rip + 2].copy_from_slice(&[0xeb, 0xfe]);
    std::fs::write(&mem, bytes).unwrap();
    let (report, got) = run(&m, &mem, 1, 2).unwrap();
    assert_eq!(report.stop, StopReason::Timeout);
    assert!(got.is_empty());
}

fn refused(m: &Snapshot, mem: &Path, needle: &str) {
    match run(m, mem, 1, 5) {
        Err(e) => assert!(e.to_string().contains(needle), "`{needle}` not in: {e}"),
        Ok(r) => panic!("ran a hostile model: {r:?}"),
    }
}

#[test]
fn hostile_models_are_refused() {
    if !kvm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (m, mem) = fixture(dir.path(), "firecracker-1.16.1/counter-1vcpu");

    let mut past = m.clone();
    past.memory.regions[0].size = 128 << 20;
    refused(&past, &mem, "needs bytes 0x0..0x8000000");

    let mut overlap = m.clone();
    let mut second = overlap.memory.regions[0].clone();
    second.guest_addr = 0x10_0000;
    second.file_offset = 0;
    second.size = 0x1000;
    overlap.memory.regions.push(second);
    refused(&overlap, &mem, "overlaps");

    let mut wraps = m.clone();
    let mut high = wraps.memory.regions[0].clone();
    high.guest_addr = u64::MAX - 0xfff;
    high.size = 0x2000;
    wraps.memory.regions.push(high);
    refused(&wraps, &mem, "address space");

    let mut many = m.clone();
    many.vcpus = vec![m.vcpus[0].clone(); 10_000];
    refused(&many, &mem, "10000 vCPUs");

    let mut none = m.clone();
    none.memory.regions.clear();
    refused(&none, &mem, "no memory regions");

    let short = dir.path().join("short");
    std::fs::File::create(&short)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    refused(&m, &short, "needs bytes");
}

/// The demo: the built-in guest, snapshotted, written in every layout, restored, continues.
#[test]
fn demo_every_layout_continues() {
    if !kvm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rows = snaptool::demo::demo(dir.path(), 6, 6).unwrap();
    assert_eq!(rows.len(), fc::LAYOUTS.len());
    for r in &rows {
        assert!(r.ok(), "{r:?}");
    }
}

/// Runs `snaptool run ARGS --out OUT` and asserts success.
fn snaptool_run(args: &[&std::ffi::OsStr], out: &Path) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_snaptool"))
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Restores `state` on `mem` through the binary for `lines` lines and asserts that the output
/// continues the counter sequence in `before_log` with exactly that many lines.
fn restore_continues(state: &Path, mem: &Path, before_log: &Path, lines: usize, what: &str) {
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_snaptool"))
        .args(["restore", "--lines", &lines.to_string()])
        .arg(state)
        .arg("--mem")
        .arg(mem)
        .output()
        .unwrap();
    assert!(
        r.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let before = std::fs::read(before_log).unwrap();
    assert_eq!(
        snaptool::demo::check_counter(&before, &r.stdout, lines),
        Ok(lines),
        "{what}"
    );
}

fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
    args.iter().map(Into::into).collect()
}

fn refs(v: &[std::ffi::OsString]) -> Vec<&std::ffi::OsStr> {
    v.iter().map(|a| a.as_os_str()).collect()
}

/// `run` then `restore` through the binary: the sequence continues with no gap.
#[test]
fn run_then_restore_continues() {
    if !kvm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("snap");
    for (format, vcpus) in [
        ("firecracker-6.0.0", "1"),
        ("firecracker@1.16", "1"),
        ("10.0.0", "2"),
    ] {
        let args = os(&[
            "--snapshot-after-lines",
            "4",
            "--vcpus",
            vcpus,
            "--format",
            format,
        ]);
        snaptool_run(&refs(&args), &out);
        restore_continues(
            &out.join("vmstate"),
            &out.join("mem"),
            &out.join("serial-before.log"),
            5,
            format,
        );
    }
}

/// Copies every data extent of the sparse `diff` onto `base`.
fn overlay(base: &Path, diff: &Path) {
    use std::os::unix::fs::FileExt;
    let d = std::fs::File::open(diff).unwrap();
    let b = std::fs::OpenOptions::new().write(true).open(base).unwrap();
    for (start, end) in runner::data_extents(&d).unwrap() {
        let mut buf = vec![0u8; (end - start) as usize];
        d.read_exact_at(&mut buf, start).unwrap();
        b.write_all_at(&buf, start).unwrap();
    }
}

/// `run --diff-after-lines`: the sparse diff holds only the pages written since the full
/// snapshot, and the diff state restored on base + diff continues the sequence.
#[test]
fn diff_snapshot_on_merged_memory_continues() {
    if !kvm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("snap");
    let args = os(&["--snapshot-after-lines", "4", "--diff-after-lines", "3"]);
    snaptool_run(&refs(&args), &out);
    let diff = out.join("mem.diff");
    let meta = std::fs::metadata(&diff).unwrap();
    assert_eq!(meta.len(), 64 << 20);
    use std::os::unix::fs::MetadataExt;
    assert!(meta.blocks() * 512 < 1 << 20, "the diff is not sparse");
    let merged = dir.path().join("merged");
    std::fs::copy(out.join("mem"), &merged).unwrap();
    overlay(&merged, &diff);
    restore_continues(
        &out.join("vmstate.diff"),
        &merged,
        &out.join("serial-before-diff.log"),
        5,
        "diff",
    );
    // The guest's state page (it stores step and hash at 0x200000 every step) is data in the
    // diff; pages it never wrote are holes.
    let extents = runner::data_extents(&std::fs::File::open(&diff).unwrap()).unwrap();
    assert!(
        extents
            .iter()
            .any(|&(a, b)| a <= 0x20_0000 && 0x20_0000 < b),
        "{extents:x?}"
    );
    assert!(
        extents.iter().all(|&(a, b)| b - a < 1 << 20),
        "{extents:x?}"
    );
}

/// `run --kernel` boots the fixtures' own counter guest (built for Firecracker's boot) the way
/// Firecracker does, and its snapshot restores and continues.
#[test]
fn run_boots_the_fixture_guest() {
    if !kvm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("snap");
    let kernel = root().join("fixtures/firecracker-1.16.1/counter-1vcpu/guest/counter.elf");
    let mut args = os(&["--snapshot-after-lines", "4", "--kernel"]);
    args.push(kernel.into_os_string());
    snaptool_run(&refs(&args), &out);
    restore_continues(
        &out.join("vmstate"),
        &out.join("mem"),
        &out.join("serial-before.log"),
        4,
        "counter.elf",
    );
}

/// The 1.16.1 counter converted to a VeridianOS file and to arcbox directories (plain and LZ4
/// memory) is restored through the binary from the memory those formats hold, and continues.
#[test]
fn veridian_and_arcbox_forms_continue() {
    if !kvm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let folder = "firecracker-1.16.1/counter-1vcpu";
    let (_, mem) = fixture(dir.path(), folder);
    let f = root().join("fixtures").join(folder);
    for (to, extra) in [
        ("veridian", &[][..]),
        ("arcbox", &[][..]),
        ("arcbox", &["--compress", "lz4"][..]),
    ] {
        let out = dir.path().join(format!("{to}{}", extra.len()));
        let c = std::process::Command::new(env!("CARGO_BIN_EXE_snaptool"))
            .arg("convert")
            .arg(f.join("vmstate"))
            .arg("--mem")
            .arg(&mem)
            .arg("-o")
            .arg(&out)
            .args(["--to", to])
            .args(extra)
            .output()
            .unwrap();
        assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
        let r = std::process::Command::new(env!("CARGO_BIN_EXE_snaptool"))
            .args(["restore", "--lines", "12", "--timeout", "60"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            r.status.success(),
            "{to} {extra:?}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let before = std::fs::read(f.join("serial-before-full.log")).unwrap();
        assert_eq!(
            snaptool::demo::check_counter(&before, &r.stdout, 12),
            Ok(12),
            "{to} {extra:?}"
        );
    }
}
