//! Integration tests: one binary, one module per concern.

mod arcbox;
mod big_memory;
mod cli;
mod convert;
mod corruption;
mod crash_safety;
mod devices;
mod example;
mod fc_v8;
mod fc_v9_v11;
mod golden;
#[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
mod hostcheck;
mod hostile_counts;
mod hostile_formats;
mod layouts_v2_v5;
mod malformed;
mod memory;
#[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
mod qemu;
#[cfg(target_os = "linux")]
mod reflink;
#[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
mod restore_verdict;
mod roundtrip;
#[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
mod runner;
mod seeds_cli;
#[cfg(unix)]
mod squib;
mod synthetic;

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every real vmstate file under fixtures/ (not the malformed samples), sorted.
pub fn real_states() -> Vec<PathBuf> {
    let mut v = glob_states(&root().join("fixtures"));
    v.sort();
    v
}

fn glob_states(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir()
            && p.file_name()
                .is_some_and(|n| n != "malformed" && n != "guest")
        {
            out.extend(glob_states(&p));
        } else if matches!(
            p.file_name().and_then(|n| n.to_str()),
            Some("vmstate" | "vmstate.diff")
        ) {
            out.push(p);
        }
    }
    out
}

/// `path` relative to the repository root, with forward slashes.
pub fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Whether `/usr/bin/time` (for peak-RSS measurements) is here; without it a test says loudly
/// that it skips, and under `CI=true` fails.
pub fn have_time() -> bool {
    if Path::new("/usr/bin/time").exists() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but /usr/bin/time is missing"
    );
    eprintln!("\n!!! SKIPPED: /usr/bin/time is missing; peak RSS not measured !!!\n");
    false
}

/// Runs snaptool with `args` in `dir` under `/usr/bin/time` (its report there too) and returns
/// the exit code (`None`: killed by a signal) and the peak RSS in KiB.
pub fn peak_rss(dir: &Path, args: &[&std::ffi::OsStr]) -> (Option<i32>, u64) {
    let rss = dir.join("rss");
    let st = std::process::Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss)
        .arg(env!("CARGO_BIN_EXE_snaptool"))
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    let text = std::fs::read_to_string(&rss).unwrap();
    let kib = text.lines().last().unwrap().trim().parse().unwrap();
    // /usr/bin/time exits with the command's code (and reports a signal's as 128 + n).
    let code = st.code().filter(|c| *c < 128);
    (code, kib)
}
