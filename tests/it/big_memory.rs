//! A snapshot with a sparse 4 GiB memory image: convert to arcbox (plain and LZ4), inspect,
//! verify and convert back out of the directory, each in a child process whose peak RSS
//! (`/usr/bin/time -f %M`) must stay under 256 MiB.

use crate::root;
use std::path::Path;
use std::process::Command;

const LIMIT_KIB: u64 = 256 * 1024;

/// Runs snaptool with `args` under `/usr/bin/time` and returns its exit code and peak RSS in KiB.
fn peak(dir: &Path, args: &[&std::ffi::OsStr]) -> (i32, u64) {
    let rss = dir.join("rss");
    let st = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss)
        .arg(env!("CARGO_BIN_EXE_snaptool"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    let text = std::fs::read_to_string(&rss).unwrap();
    let kib = text.lines().last().unwrap().trim().parse().unwrap();
    // /usr/bin/time exits with the command's code.
    (st.code().unwrap_or(-1), kib)
}

/// The 1.16.1 counter state with its one region grown to `size` bytes, and a sparse memory
/// image of that size holding the fixture's memory at its start.
fn big_snapshot(dir: &Path, size: u64) -> (std::path::PathBuf, std::path::PathBuf) {
    let f = root().join("fixtures/firecracker-1.16.1/counter-1vcpu");
    let bin = env!("CARGO_BIN_EXE_snaptool");
    let json = dir.join("s.json");
    let ok = Command::new(bin)
        .arg("decode")
        .arg(f.join("vmstate"))
        .arg("-o")
        .arg(&json)
        .status()
        .unwrap();
    assert!(ok.success());
    let mut s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    s["memory"]["regions"][0]["size"] = size.into();
    s["vm"]["mem_size_mib"] = (size >> 20).into();
    std::fs::write(&json, serde_json::to_vec(&s).unwrap()).unwrap();
    let state = dir.join(format!("big-{size}.vmstate"));
    let ok = Command::new(bin)
        .arg("encode")
        .arg(&json)
        .arg("-o")
        .arg(&state)
        .status()
        .unwrap();
    assert!(ok.success());
    let mem = dir.join(format!("big-{size}.mem"));
    let z = std::fs::File::open(f.join("mem.zst")).unwrap();
    let mut out = std::fs::File::create(&mem).unwrap();
    zstd::stream::copy_decode(z, &mut out).unwrap();
    out.set_len(size).unwrap();
    (state, mem)
}

#[test]
fn four_gib_memory_is_streamed() {
    if !Path::new("/usr/bin/time").exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but /usr/bin/time is missing"
        );
        eprintln!("\n!!! SKIPPED: /usr/bin/time is missing; peak RSS not measured !!!\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // memory.bin.lz4 holds at most 4 GiB - 1 bytes: 4 GiB - 2 MiB there, 4 GiB plain.
    for (size, to) in [
        (4u64 << 30, "arcbox"),
        ((4u64 << 30) - (2 << 20), "arcbox-lz4"),
    ] {
        let (state, mem) = big_snapshot(d, size);
        let out = d.join(format!("{to}.dir"));
        let (rc, k) = peak(
            d,
            &[
                "convert".as_ref(),
                state.as_os_str(),
                "--mem".as_ref(),
                mem.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
                "--to".as_ref(),
                to.as_ref(),
            ],
        );
        assert_eq!(rc, 0, "convert to {to}");
        assert!(
            k < LIMIT_KIB,
            "convert to {to} of {size} bytes peaked at {k} KiB"
        );
        for cmd in ["inspect", "verify"] {
            let (rc, k) = peak(d, &[cmd.as_ref(), out.as_os_str()]);
            assert_eq!(rc, 0, "{cmd} {to}");
            assert!(k < LIMIT_KIB, "{cmd} of {to} peaked at {k} KiB");
        }
        let v = d.join(format!("{to}.veridian"));
        let (rc, k) = peak(
            d,
            &[
                "convert".as_ref(),
                out.as_os_str(),
                "-o".as_ref(),
                v.as_os_str(),
                "--to".as_ref(),
                "veridian".as_ref(),
            ],
        );
        assert_eq!(rc, 0, "{to} -> veridian");
        assert!(k < LIMIT_KIB, "{to} -> veridian peaked at {k} KiB");
        std::fs::remove_file(&mem).unwrap();
    }
}
