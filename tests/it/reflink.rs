//! Out-of-place merge on a filesystem with reflinks: the output shares the base's blocks and only
//! the diff's pages are written, so the cost of `merge -o` follows the diff, not the base. Runs
//! on an XFS image mounted from a loop device (needs root and `mkfs.xfs`; says so loudly and
//! skips where the machine has neither).

use std::path::{Path, PathBuf};
use std::process::Command;

const SIZE: u64 = 128 << 20;
const PAGE: u64 = 4096;

/// Unmounts on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn skip(why: &str) {
    eprintln!("\n!!! SKIPPED: out-of-place merge on XFS not tested: {why} !!!\n");
}

fn ok(cmd: &mut Command) -> bool {
    cmd.output().is_ok_and(|o| o.status.success())
}

/// (shared, unshared) bytes of `path` from `filefrag -v` (FIEMAP's SHARED flag).
fn shared_bytes(path: &Path) -> (u64, u64) {
    let out = Command::new("filefrag")
        .arg("-v")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "filefrag -v {}", path.display());
    let text = String::from_utf8_lossy(&out.stdout);
    let (mut shared, mut own) = (0, 0);
    for line in text.lines() {
        // "   0:        0..   65535:         24..     65559:  65536:             last,shared,eof"
        let cols: Vec<&str> = line.split(':').collect();
        if cols.len() < 4 || cols[0].trim().parse::<u64>().is_err() {
            continue;
        }
        let Ok(blocks) = cols[3].trim().parse::<u64>() else {
            continue;
        };
        if cols[4..].iter().any(|f| f.contains("shared")) {
            shared += blocks * PAGE;
        } else {
            own += blocks * PAGE;
        }
    }
    (shared, own)
}

#[test]
fn out_of_place_merge_shares_the_base_on_xfs() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root {
        return skip("not root (mounting a loop device needs it)");
    }
    if !ok(Command::new("mkfs.xfs").arg("-V")) {
        return skip("mkfs.xfs is missing (apt-get install xfsprogs)");
    }
    if !ok(Command::new("filefrag").arg("-V")) {
        return skip("filefrag is missing (e2fsprogs)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("xfs.img");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::File::create(&img)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    assert!(
        ok(Command::new("mkfs.xfs")
            .args(["-q", "-m", "reflink=1"])
            .arg(&img)),
        "mkfs.xfs"
    );
    if !ok(Command::new("mount")
        .arg("-o")
        .arg("loop")
        .arg(&img)
        .arg(&mnt))
    {
        return skip("this machine cannot mount a loop device");
    }
    let _m = Mount(mnt.clone());
    let base = mnt.join("base");
    let diff = mnt.join("diff");
    let out = mnt.join("out");
    // A base with every page non-zero and distinct; a diff with every tenth page present.
    let mut b = vec![0u8; SIZE as usize];
    for (i, p) in b.chunks_mut(PAGE as usize).enumerate() {
        p.fill(1 + (i % 251) as u8);
        p[..8].copy_from_slice(&(i as u64).to_le_bytes());
    }
    std::fs::write(&base, &b).unwrap();
    let f = std::fs::File::create(&diff).unwrap();
    f.set_len(SIZE).unwrap();
    let pages = SIZE / PAGE;
    let dirty: Vec<u64> = (0..pages).step_by(10).collect();
    {
        use std::os::unix::fs::FileExt;
        let page = vec![0x5au8; PAGE as usize];
        for &p in &dirty {
            f.write_all_at(&page, p * PAGE).unwrap();
        }
    }
    drop(f);
    assert!(ok(&mut Command::new("sync")));
    let st = Command::new(env!("CARGO_BIN_EXE_snaptool"))
        .arg("merge")
        .arg(&base)
        .arg(&diff)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "merge: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert!(ok(&mut Command::new("sync")));
    // The result is right ...
    let o = std::fs::read(&out).unwrap();
    for p in 0..pages {
        let r = (p * PAGE) as usize..((p + 1) * PAGE) as usize;
        if p % 10 == 0 {
            assert!(o[r].iter().all(|&x| x == 0x5a), "page {p} is the diff's");
        } else {
            assert_eq!(o[r.clone()], b[r], "page {p} is the base's");
        }
    }
    // ... and the output holds its own blocks only where the diff wrote.
    let (shared, own) = shared_bytes(&out);
    let diff_bytes = dirty.len() as u64 * PAGE;
    eprintln!(
        "merge -o on XFS: {shared} bytes shared with the base, {own} bytes of its own (the diff: {diff_bytes})"
    );
    assert!(
        shared >= SIZE - diff_bytes - SIZE / 50,
        "only {shared} of {SIZE} bytes shared with the base"
    );
    assert!(
        own <= diff_bytes + SIZE / 50,
        "{own} bytes of its own for a diff of {diff_bytes}"
    );
    // The base is unchanged.
    assert_eq!(std::fs::read(&base).unwrap(), b, "the base is not modified");
}
