//! Snapshots with a sparse 4 GiB memory image, each command in a child process whose peak RSS
//! (`/usr/bin/time -f %M`) must stay under 256 MiB: convert to arcbox (plain and LZ4), inspect,
//! verify and convert back out of the directory; a VeridianOS file embedding more page bytes
//! than that limit (written, inspected, verified, compared, converted); a squib state file with
//! its 4 GiB memory file beside it.

use crate::root;
use std::path::Path;
use std::process::Command;

const LIMIT_KIB: u64 = 256 * 1024;

/// Runs snaptool with `args`; its exit code and peak RSS in KiB.
fn peak(dir: &Path, args: &[&std::ffi::OsStr]) -> (i32, u64) {
    let (code, kib) = crate::peak_rss(dir, args);
    (code.unwrap_or(-1), kib)
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
    if !crate::have_time() {
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

/// Writes 1 MiB of non-zero bytes every 12 MiB from 64 MiB on into the image at `mem`: 335 MiB
/// of data, more than [`LIMIT_KIB`], so that holding it would fail the bound.
fn fill_every_12_mib(mem: &Path) -> u64 {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(mem).unwrap();
    let len = f.metadata().unwrap().len();
    let chunk: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8 | 1).collect();
    let mut total = 0;
    for mib in (64..len >> 20).step_by(12) {
        f.write_all_at(&chunk, mib << 20).unwrap();
        total += chunk.len() as u64;
    }
    assert!(total > LIMIT_KIB * 1024);
    total
}

/// Whether the 1 MiB at `mib` MiB of the image at `path` is what [`fill_every_12_mib`] wrote.
fn holds_chunk(path: &Path, mib: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let mut b = vec![0u8; 1 << 20];
    std::fs::File::open(path)
        .unwrap()
        .read_exact_at(&mut b, mib << 20)
        .unwrap();
    b.iter().enumerate().all(|(i, &x)| x == (i % 251) as u8 | 1)
}

/// Runs snaptool in `d` (paths relative to it), asserting exit 0 and the bound.
fn bounded(d: &Path, args: &[&str]) {
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    let (rc, k) = peak(d, &refs);
    assert_eq!(rc, 0, "{args:?}");
    assert!(k < LIMIT_KIB, "{args:?} peaked at {k} KiB");
    eprintln!("{args:?}: {k} KiB");
}

#[test]
fn veridian_pages_are_streamed() {
    if !crate::have_time() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (state, mem) = big_snapshot(d, 4 << 30);
    let data = fill_every_12_mib(&mem);
    let (state, mem) = (
        state.file_name().unwrap().to_str().unwrap().to_string(),
        mem.file_name().unwrap().to_str().unwrap().to_string(),
    );
    // Embedding the pages: the writer keeps them in a temporary file past 64 MiB.
    bounded(
        d,
        &[
            "convert",
            &state,
            "--mem",
            &mem,
            "-o",
            "big.veridian",
            "--to",
            "veridian",
        ],
    );
    let len = std::fs::metadata(d.join("big.veridian")).unwrap().len();
    assert!(len > data, "{len} bytes embed the {data} bytes of data");
    bounded(d, &["inspect", "big.veridian"]);
    bounded(d, &["verify", "big.veridian"]);
    bounded(d, &["diff", "big.veridian", &state]);
    // Out of the file: the round trip back to VeridianOS is compared as it is written.
    bounded(
        d,
        &[
            "convert",
            "big.veridian",
            "-o",
            "back.vmstate",
            "--to",
            "firecracker@1.16",
        ],
    );
    let back = d.join("back.vmstate.mem");
    assert_eq!(std::fs::metadata(&back).unwrap().len(), 4 << 30);
    assert!(holds_chunk(&back, 64) && holds_chunk(&back, 64 + 12 * 300));
    assert!(!holds_chunk(&back, 65));
    bounded(
        d,
        &[
            "convert",
            "big.veridian",
            "-o",
            "again.veridian",
            "--to",
            "veridian",
        ],
    );
    assert_eq!(
        std::fs::read(d.join("again.veridian")).unwrap().len() as u64,
        len
    );
}

#[test]
fn squib_memory_is_streamed() {
    if !crate::have_time() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = root().join("fixtures/squib/full");
    let bin = env!("CARGO_BIN_EXE_snaptool");
    let json = d.join("s.json");
    let ok = Command::new(bin)
        .arg("decode")
        .arg(f.join("vm.snap"))
        .arg("-o")
        .arg(&json)
        .status()
        .unwrap();
    assert!(ok.success());
    let mut s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    s["memory"]["regions"][0]["size"] = (4u64 << 30).into();
    s["vm"]["mem_size_mib"] = 4096.into();
    std::fs::write(&json, serde_json::to_vec(&s).unwrap()).unwrap();
    let ok = Command::new(bin)
        .arg("encode")
        .arg(&json)
        .arg("-o")
        .arg(d.join("vm.snap"))
        .args(["--to", "squib"])
        .status()
        .unwrap();
    assert!(ok.success());
    // squib pairs vm.snap with vm.mem beside it.
    let mem = d.join("vm.mem");
    let z = std::fs::File::open(f.join("vm.mem.zst")).unwrap();
    let mut out = std::fs::File::create(&mem).unwrap();
    zstd::stream::copy_decode(z, &mut out).unwrap();
    out.set_len(4 << 30).unwrap();
    drop(out);
    fill_every_12_mib(&mem);
    bounded(d, &["inspect", "vm.snap"]);
    bounded(d, &["verify", "vm.snap"]);
    bounded(d, &["convert", "vm.snap", "-o", "vm.dir", "--to", "arcbox"]);
    bounded(d, &["diff", "vm.snap", "vm.dir"]);
    let arc = d.join("vm.dir/memory.bin");
    assert!(holds_chunk(&arc, 64) && holds_chunk(&arc, 64 + 12 * 300));
    bounded(
        d,
        &["convert", "vm.dir", "-o", "back.snap", "--to", "squib"],
    );
    let back = d.join("back.mem");
    assert_eq!(std::fs::metadata(&back).unwrap().len(), 4 << 30);
    assert!(holds_chunk(&back, 64) && holds_chunk(&back, 64 + 12 * 300));
    assert!(!holds_chunk(&back, 65));
}
