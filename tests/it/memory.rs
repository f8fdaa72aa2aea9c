//! Memory-image commands end to end through the binary: the real diff fixtures merge to the
//! bytes Firecracker's own tool produced, inputs are never modified, refusals leave no output,
//! and a killed merge leaves nothing under the final name.

use crate::root;
use sha2::{Digest, Sha256};
use snaptool::memory;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn snaptool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_snaptool"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn sha(path: &Path) -> String {
    let mut h = Sha256::new();
    h.update(std::fs::read(path).unwrap());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Fixture directories with a diff memory image, unpacked into `dir`: (name, mem, mem.diff, info).
fn unpack_diff_fixtures(dir: &Path) -> Vec<(String, PathBuf, PathBuf, serde_json::Value)> {
    let mut out = Vec::new();
    let fixtures = root().join("fixtures");
    let mut rels: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .unwrap()
        .flatten()
        .flat_map(|r| std::fs::read_dir(r.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.join("mem.diff.tar.zst").exists())
        .collect();
    rels.sort();
    for (i, d) in rels.into_iter().enumerate() {
        let o = dir.join(format!("f{i}"));
        std::fs::create_dir_all(&o).unwrap();
        let mem = zstd::decode_all(std::fs::File::open(d.join("mem.zst")).unwrap()).unwrap();
        std::fs::write(o.join("mem"), mem).unwrap();
        let st = Command::new("tar")
            .args(["--zstd", "-xSf"])
            .arg(d.join("mem.diff.tar.zst"))
            .arg("-C")
            .arg(&o)
            .status()
            .expect("tar with zstd support is needed to unpack the diff fixtures");
        assert!(st.success());
        let info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("memory-info.json")).unwrap()).unwrap();
        out.push((crate::rel(&d), o.join("mem"), o.join("mem.diff"), info));
    }
    out
}

#[test]
fn real_diffs_merge_to_firecrackers_merged_image_and_inputs_stay_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let fx = unpack_diff_fixtures(dir.path());
    assert!(fx.len() >= 3, "{} diff fixtures", fx.len());
    for (name, mem, diff, info) in fx {
        let (h1, h2) = (sha(&mem), sha(&diff));
        // the sparse diff's extents are exactly the ones recorded with the fixture
        let ext = memory::open(&diff).unwrap().extents().unwrap();
        let want: Vec<(u64, u64)> = info["diff_extents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e[0].as_u64().unwrap(), e[1].as_u64().unwrap()))
            .collect();
        let got: Vec<(u64, u64)> = ext.iter().map(|e| (e.offset, e.len)).collect();
        assert_eq!(got, want, "{name}: extents");
        let out = mem.with_file_name("merged");
        let o = snaptool(&[
            "merge",
            mem.to_str().unwrap(),
            diff.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{name}: {o:?}");
        assert_eq!(
            sha(&out),
            info["mem_merged_sha256"].as_str().unwrap(),
            "{name}: merged image differs from Firecracker's"
        );
        assert_eq!(
            (sha(&mem), sha(&diff)),
            (h1.clone(), h2),
            "{name}: input modified"
        );
        // memdiff: exit 1, and its diff merges back to the same image
        let d2 = mem.with_file_name("d2");
        let o = snaptool(&[
            "memdiff",
            mem.to_str().unwrap(),
            out.to_str().unwrap(),
            "-o",
            d2.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(1), "{name}");
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(j["changed_pages"].as_u64().unwrap() >= 1, "{name}");
        let m2 = mem.with_file_name("m2");
        let o = snaptool(&[
            "merge",
            mem.to_str().unwrap(),
            d2.to_str().unwrap(),
            "-o",
            m2.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(sha(&m2), sha(&out), "{name}");
        assert_eq!(
            snaptool(&["memdiff", mem.to_str().unwrap(), mem.to_str().unwrap()])
                .status
                .code(),
            Some(0)
        );
        // inspect --mem counts the diff's pages
        let o = snaptool(&["inspect", "--mem", diff.to_str().unwrap(), "--json"]);
        assert_eq!(o.status.code(), Some(0));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let present = j["data_pages"].as_u64().unwrap() + j["zero_pages"].as_u64().unwrap();
        let want_pages: u64 = want.iter().map(|e| e.1.div_ceil(4096)).sum();
        assert_eq!(present, want_pages, "{name}");
        assert_eq!(
            j["hole_pages"].as_u64().unwrap() + present,
            info["mem_size"].as_u64().unwrap() / 4096
        );
        // in place on a copy gives the same bytes
        let ip = mem.with_file_name("ip");
        std::fs::copy(&mem, &ip).unwrap();
        let o = snaptool(&[
            "merge",
            "--in-place",
            ip.to_str().unwrap(),
            diff.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(sha(&ip), sha(&out));
        assert_eq!(sha(&mem), h1);
    }
}

#[test]
fn refusals_exit_2_and_leave_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a, vec![7u8; 8192]).unwrap();
    std::fs::write(&b, vec![7u8; 4096]).unwrap();
    let out = dir.path().join("out");
    let o = snaptool(&[
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("sizes differ"));
    assert!(!out.exists());
    let o = snaptool(&["memdiff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let o = snaptool(&["merge", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "no -o and no --in-place");
    let o = snaptool(&[
        "convert-mem",
        a.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--to",
        "rar",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "stray files"
    );
}

#[test]
fn convert_mem_round_trips_through_every_kind() {
    let dir = tempfile::tempdir().unwrap();
    let fx = unpack_diff_fixtures(dir.path());
    let (_, mem, diff, _) = &fx[0];
    for src in [mem, diff] {
        let want = sha(src);
        let src_ext = memory::open(src).unwrap().extents().unwrap();
        for to in ["zstd", "lz4", "pages", "raw"] {
            let out = dir.path().join(format!("x.{to}"));
            let o = snaptool(&[
                "convert-mem",
                src.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--to",
                to,
                "--json",
            ]);
            assert_eq!(o.status.code(), Some(0), "{to}: {o:?}");
            let back = dir.path().join("back");
            let o = snaptool(&[
                "convert-mem",
                out.to_str().unwrap(),
                "-o",
                back.to_str().unwrap(),
                "--to",
                "raw",
            ]);
            assert_eq!(o.status.code(), Some(0), "{to}");
            assert_eq!(sha(&back), want, "{to}: content");
            if to != "lz4" {
                let e = memory::open(&back).unwrap().extents().unwrap();
                assert_eq!(e, src_ext, "{to}: the holes did not survive");
            }
        }
    }
    // zstd images are readable by zstd itself
    let z = dir.path().join("x.zstd");
    let plain = zstd::decode_all(std::fs::File::open(&z).unwrap()).unwrap();
    assert_eq!(plain, std::fs::read(diff).unwrap());
}

#[test]
fn a_killed_merge_leaves_nothing_under_the_final_name() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    let diff = dir.path().join("diff");
    let size: u64 = 1 << 30;
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&base).unwrap());
        let chunk = vec![0xa5u8; 8 << 20];
        for _ in 0..size / chunk.len() as u64 {
            f.write_all(&chunk).unwrap();
        }
    }
    std::fs::File::create(&diff).unwrap().set_len(size).unwrap();
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_snaptool"))
        .args(["merge"])
        .arg(&base)
        .arg(&diff)
        .arg("-o")
        .arg(&out)
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(30));
    child.kill().unwrap();
    let st = child.wait().unwrap();
    assert!(
        st.code().is_none(),
        "the merge of 1 GiB finished within 30 ms; cannot test the kill"
    );
    assert!(!out.exists(), "a partial output is under the final name");
}
