//! Bounded decoding beyond Firecracker: squib state files, VeridianOS files, QEMU streams and
//! arcbox directories with inflated counts and lengths (4-byte windows of 0x7fffffff; every
//! arcbox JSON number in turn set to u64::MAX; an LZ4 length of 4 GiB - 1), and inputs nested
//! 100,000 levels deep (arcbox JSON, `encode` JSON). Each is read by a child process whose peak
//! RSS must stay under 64 MiB + 8 × the input size, ending with exit 0, 1 or 2 — never a panic,
//! an abort or a stack overflow.

use crate::{have_time, root};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Windows tried per binary file.
const WINDOWS: usize = 40;
/// JSON numbers tried per arcbox file.
const NUMBERS: usize = 60;

struct Probe {
    dir: PathBuf,
    worst: (u64, String),
    runs: usize,
}

impl Probe {
    /// Runs snaptool `args`; asserts a clean exit and the peak-RSS bound for `input_len` bytes.
    fn run(&mut self, what: &str, input_len: u64, args: &[&std::ffi::OsStr]) -> i32 {
        let (code, kib) = crate::peak_rss(&self.dir, args);
        assert!(
            matches!(code, Some(0..=2)),
            "{what}: exit {code:?} (a panic, an abort or a signal)"
        );
        let limit = 64 * 1024 + 8 * input_len / 1024;
        assert!(
            kib <= limit,
            "{what}: peaked at {kib} KiB (limit {limit} KiB)"
        );
        if kib > self.worst.0 {
            self.worst = (kib, what.to_string());
        }
        self.runs += 1;
        code.unwrap_or(2)
    }

    /// Every window of `good` (from `from`, `WINDOWS` of them) set to 0x7fffffff, written by
    /// `make` to `path` and inspected.
    fn windows(
        &mut self,
        name: &str,
        good: &[u8],
        from: usize,
        path: &Path,
        make: &dyn Fn(Vec<u8>) -> Vec<u8>,
    ) {
        let end = good.len().saturating_sub(4);
        let stride = ((end - from) / WINDOWS).max(1);
        for off in (from..end).step_by(stride) {
            let mut b = good.to_vec();
            b[off..off + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
            let b = make(b);
            std::fs::write(path, &b).unwrap();
            let what = format!("{name} with 0x7fffffff at {off}");
            self.run(
                &what,
                b.len() as u64,
                &["inspect".as_ref(), "--no-crc".as_ref(), path.as_os_str()],
            );
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Byte ranges of the JSON numbers in `text`.
fn numbers(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        match b[i] {
            b'"' if !(i > 0 && b[i - 1] == b'\\') => in_str = !in_str,
            c if !in_str && c.is_ascii_digit() => {
                let s = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                out.push((s, i));
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[test]
fn other_formats_with_inflated_counts_stay_within_the_memory_bound() {
    if !have_time() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut p = Probe {
        dir: d.to_path_buf(),
        worst: (0, String::new()),
        runs: 0,
    };

    // squib: the CRC trailer is recomputed so that the decoder sees the inflated value.
    let squib = std::fs::read(root().join("fixtures/squib/full/vm.snap")).unwrap();
    let body = &squib[..squib.len() - 8];
    p.windows("squib vm.snap", body, 8, &d.join("h.snap"), &|b| {
        snaptool::envelope::seal(b)
    });

    // VeridianOS: a file written from the 1.16.1 fixture (its checksum covers the header only).
    let fc = root().join("fixtures/firecracker-1.16.1/counter-1vcpu");
    let mem = d.join("mem");
    let z = std::fs::File::open(fc.join("mem.zst")).unwrap();
    zstd::stream::copy_decode(z, std::fs::File::create(&mem).unwrap()).unwrap();
    let v = d.join("v.veridian");
    let st = Command::new(env!("CARGO_BIN_EXE_snaptool"))
        .arg("convert")
        .arg(fc.join("vmstate"))
        .arg("--mem")
        .arg(&mem)
        .arg("-o")
        .arg(&v)
        .args(["--to", "veridian"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "convert to veridian");
    let vbytes = std::fs::read(&v).unwrap();
    p.windows("VeridianOS file", &vbytes, 0, &d.join("h.veridian"), &|b| b);

    // QEMU: the microvm stream (its vmdesc at the end is damaged too).
    let q =
        std::fs::read(root().join("fixtures/qemu-7.2/counter-microvm-1vcpu/vmstate.qemu")).unwrap();
    p.windows("QEMU stream", &q, 0, &d.join("h.qemu"), &|b| b);

    // arcbox: every JSON number in turn (up to NUMBERS of them) set to u64::MAX.
    let src = root().join("fixtures/arcbox/x86_64-lz4");
    let a = d.join("a.arcbox");
    for file in ["vm_state.json", "snapshot.json"] {
        let text = std::fs::read_to_string(src.join(file)).unwrap();
        let nums = numbers(&text);
        let stride = (nums.len() / NUMBERS).max(1);
        for &(s, e) in nums.iter().step_by(stride) {
            let _ = std::fs::remove_dir_all(&a);
            copy_dir(&src, &a);
            let bad = format!("{}18446744073709551615{}", &text[..s], &text[e..]);
            std::fs::write(a.join(file), &bad).unwrap();
            let what = format!("arcbox {file} with u64::MAX at byte {s}");
            for cmd in ["inspect", "verify"] {
                p.run(
                    &format!("{cmd} {what}"),
                    bad.len() as u64,
                    &[cmd.as_ref(), a.as_os_str()],
                );
            }
        }
    }
    // arcbox memory.bin.lz4 announcing 4 GiB - 1 bytes.
    let _ = std::fs::remove_dir_all(&a);
    copy_dir(&src, &a);
    let mut lz = std::fs::read(a.join("memory.bin.lz4")).unwrap();
    lz[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(a.join("memory.bin.lz4"), &lz).unwrap();
    for cmd in ["inspect", "verify"] {
        p.run(
            &format!("{cmd} arcbox with an LZ4 length of 4 GiB - 1"),
            lz.len() as u64,
            &[cmd.as_ref(), a.as_os_str()],
        );
    }
    eprintln!(
        "{} runs; worst peak: {} KiB ({})",
        p.runs, p.worst.0, p.worst.1
    );
}

#[test]
fn deeply_nested_inputs_are_errors() {
    if !have_time() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut p = Probe {
        dir: d.to_path_buf(),
        worst: (0, String::new()),
        runs: 0,
    };
    let deep = |open: &str, close: &str| {
        let n = 100_000;
        let mut s = String::with_capacity(n * (open.len() + close.len()));
        for _ in 0..n {
            s.push_str(open);
        }
        for _ in 0..n {
            s.push_str(close);
        }
        s
    };
    // arcbox: vm_state.json and snapshot.json nested 100,000 levels deep.
    let src = root().join("fixtures/arcbox/x86_64-lz4");
    let a = d.join("a.arcbox");
    for (file, text) in [
        ("vm_state.json", deep("[", "]")),
        ("snapshot.json", deep("{\"a\":", "}")),
    ] {
        let _ = std::fs::remove_dir_all(&a);
        copy_dir(&src, &a);
        std::fs::write(a.join(file), &text).unwrap();
        for cmd in ["inspect", "verify"] {
            let rc = p.run(
                &format!("{cmd} arcbox with a {file} 100,000 levels deep"),
                text.len() as u64,
                &[cmd.as_ref(), a.as_os_str()],
            );
            assert_ne!(rc, 0, "{cmd}: a nested {file} is not an arcbox snapshot");
        }
    }
    // encode: a model JSON nested 100,000 levels deep, at the top and inside a field.
    let out = d.join("out.vmstate");
    for (name, text) in [
        ("top", deep("[", "]")),
        (
            "field",
            format!("{{\"provenance\": {}}}", deep("{\"a\":", "}")),
        ),
    ] {
        let j = d.join(format!("{name}.json"));
        std::fs::write(&j, &text).unwrap();
        let rc = p.run(
            &format!("encode of a JSON nested 100,000 levels deep ({name})"),
            text.len() as u64,
            &[
                "encode".as_ref(),
                j.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
            ],
        );
        assert_eq!(rc, 2, "encode of a nested JSON ({name})");
        assert!(!out.exists(), "nothing is written");
    }
}
