//! Crash safety: `convert`, `merge -o`, `convert-mem`, `encode` and `sparsify` killed with
//! SIGKILL at random moments leave the destination absent or complete (equal to a finished
//! run's output, or a directory that verifies) — never partial — and whatever temporary file a
//! killed run leaves is named after the output.

use crate::root;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_snaptool");
const RUNS: u64 = 12;

fn snaptool(args: &[&std::ffi::OsStr]) -> std::process::ExitStatus {
    Command::new(BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
}

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn remove(p: &Path) {
    if p.is_dir() {
        std::fs::remove_dir_all(p).unwrap();
    } else if p.exists() {
        std::fs::remove_file(p).unwrap();
    }
}

/// Whether `p` holds exactly what `reference` holds (files) or verifies (arcbox directories).
fn complete(p: &Path, reference: &Path) -> bool {
    if p.is_dir() {
        snaptool(&["verify".as_ref(), p.as_os_str()]).success()
    } else {
        std::fs::read(p).unwrap() == std::fs::read(reference).unwrap()
    }
}

/// Runs `args` (whose output is `out`) to completion once for a reference, then `RUNS` times
/// killed after a random delay, with the destination absent or holding the previous output.
fn kill_at_random(dir: &Path, what: &str, out: &Path, args: &[&std::ffi::OsStr], rng: &mut Rng) {
    remove(out);
    assert!(snaptool(args).success(), "{what}: the reference run failed");
    let reference = dir.join(format!("{what}.reference"));
    remove(&reference);
    if out.is_dir() {
        std::fs::rename(out, &reference).unwrap();
    } else {
        std::fs::copy(out, &reference).unwrap();
        remove(out);
    }
    for i in 0..RUNS {
        // Half the runs start from the previous complete output, half from nothing.
        if i % 2 == 1 && !reference.is_dir() {
            std::fs::copy(&reference, out).unwrap();
        } else {
            remove(out);
        }
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.next() % 60_000));
        let _ = child.kill();
        let _ = child.wait();
        if out.exists() {
            assert!(
                complete(out, &reference),
                "{what}: a run killed at random left a partial {}",
                out.display()
            );
        }
    }
    // Temporary files left by killed runs (this one's or an earlier output's) are named after
    // their output, never tempfile's bare `.tmpXXXXXX`.
    let stem = out.file_name().unwrap().to_string_lossy().into_owned();
    for e in std::fs::read_dir(out.parent().unwrap()).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        if n.starts_with('.') {
            assert!(
                n.starts_with(&format!(".{stem}."))
                    || n.starts_with(".snaptool-tmp-")
                    || n.contains(".snaptool-tmp-")
                    || n.contains(".tmp-")
                    || n.contains(".old-"),
                "{what}: a temporary file not named after its output: {n}"
            );
        }
    }
    // The next run that writes the output removes what the killed ones left (once it is two
    // seconds old: a younger one may belong to a live writer).
    std::thread::sleep(Duration::from_millis(2100));
    assert!(
        snaptool(args).success(),
        "{what}: the run after the kills failed"
    );
    assert!(complete(out, &reference), "{what}: the run after the kills");
    let left: Vec<String> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!(".{stem}.")))
        .collect();
    assert!(
        left.is_empty(),
        "{what}: left behind after a complete run: {left:?}"
    );
}

fn fixture(dir: &Path) -> (PathBuf, PathBuf) {
    let f = root().join("fixtures/firecracker-1.16.1/counter-1vcpu");
    let mem = dir.join("fc.mem");
    let z = std::fs::File::open(f.join("mem.zst")).unwrap();
    let mut out = std::fs::File::create(&mem).unwrap();
    zstd::stream::copy_decode(z, &mut out).unwrap();
    (f.join("vmstate"), mem)
}

#[test]
fn killed_writers_leave_no_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (state, mem) = fixture(d);
    // A 48 MiB base with data in most pages, and a sparse diff of the same length.
    let base = d.join("base");
    let f = std::fs::File::create(&base).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for m in 0..48u64 {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = if (i / 4096) % 5 == 0 {
                0
            } else {
                (rng.next() % 7) as u8
            };
        }
        f.write_all_at(&buf, m << 20).unwrap();
    }
    let diff = d.join("diff");
    let f = std::fs::File::create(&diff).unwrap();
    f.set_len(48 << 20).unwrap();
    for p in (0..(48u64 << 20) / 4096).step_by(7) {
        f.write_all_at(&[0xab; 4096], p * 4096).unwrap();
    }
    let json = d.join("s.json");
    assert!(
        snaptool(&[
            "decode".as_ref(),
            state.as_os_str(),
            "-o".as_ref(),
            json.as_os_str()
        ])
        .success()
    );
    let outs = d.join("outs");
    std::fs::create_dir(&outs).unwrap();
    let o = |n: &str| outs.join(n);

    let arc = o("arcbox");
    kill_at_random(
        d,
        "convert",
        &arc,
        &[
            "convert".as_ref(),
            state.as_os_str(),
            "--mem".as_ref(),
            mem.as_os_str(),
            "-o".as_ref(),
            arc.as_os_str(),
            "--to".as_ref(),
            "arcbox-lz4".as_ref(),
        ],
        &mut rng,
    );
    let ver = o("veridian");
    kill_at_random(
        d,
        "convert-veridian",
        &ver,
        &[
            "convert".as_ref(),
            state.as_os_str(),
            "--mem".as_ref(),
            mem.as_os_str(),
            "-o".as_ref(),
            ver.as_os_str(),
            "--to".as_ref(),
            "veridian".as_ref(),
        ],
        &mut rng,
    );
    let merged = o("merged");
    kill_at_random(
        d,
        "merge",
        &merged,
        &[
            "merge".as_ref(),
            base.as_os_str(),
            diff.as_os_str(),
            "-o".as_ref(),
            merged.as_os_str(),
        ],
        &mut rng,
    );
    for to in ["zstd", "lz4", "pages"] {
        let z = o(&format!("mem.{to}"));
        kill_at_random(
            d,
            &format!("convert-mem-{to}"),
            &z,
            &[
                "convert-mem".as_ref(),
                base.as_os_str(),
                "-o".as_ref(),
                z.as_os_str(),
                "--to".as_ref(),
                to.as_ref(),
            ],
            &mut rng,
        );
    }
    let sparse = o("sparse");
    kill_at_random(
        d,
        "sparsify",
        &sparse,
        &[
            "sparsify".as_ref(),
            base.as_os_str(),
            "-o".as_ref(),
            sparse.as_os_str(),
        ],
        &mut rng,
    );
    let enc = o("vmstate");
    kill_at_random(
        d,
        "encode",
        &enc,
        &[
            "encode".as_ref(),
            json.as_os_str(),
            "-o".as_ref(),
            enc.as_os_str(),
        ],
        &mut rng,
    );
}

#[test]
fn leftovers_of_killed_runs_are_removed_by_the_next_run_and_live_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (state, _) = fixture(d);
    let out = d.join("o.vmstate");
    let aged = |p: &Path| {
        let f = std::fs::File::open(p).unwrap();
        let t = std::time::SystemTime::now() - Duration::from_secs(60);
        f.set_modified(t).unwrap();
    };
    let dead = d.join(".o.vmstate.snaptool-tmp-dead01");
    let live = d.join(".o.vmstate.snaptool-tmp-live01");
    let young = d.join(".o.vmstate.snaptool-tmp-young1");
    let other = d.join(".p.vmstate.snaptool-tmp-dead02");
    let dead_dir = d.join(".o.vmstate.tmp-dead03");
    for p in [&dead, &live, &young, &other] {
        std::fs::write(p, b"partial").unwrap();
    }
    std::fs::create_dir(&dead_dir).unwrap();
    for p in [&dead, &live, &other, &dead_dir] {
        aged(p);
    }
    // A live writer holds its lock.
    let held = std::fs::File::open(&live).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let st = snaptool(&[
        "convert".as_ref(),
        state.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--to".as_ref(),
        "firecracker@1.16".as_ref(),
    ]);
    assert!(st.success());
    assert!(
        !dead.exists(),
        "an unlocked leftover of o.vmstate is removed"
    );
    assert!(!dead_dir.exists(), "so is a leftover directory");
    assert!(live.exists(), "a locked one belongs to a live writer");
    assert!(
        young.exists(),
        "one younger than two seconds may not be locked yet"
    );
    assert!(
        other.exists(),
        "another output's leftovers are not this run's to remove"
    );
    drop(held);

    // An arcbox directory moved aside by a run killed between its two renames is put back
    // before the next write replaces it.
    let arc = d.join("a");
    let conv = |to: &Path| {
        snaptool(&[
            "convert".as_ref(),
            state.as_os_str(),
            "-o".as_ref(),
            to.as_os_str(),
            "--to".as_ref(),
            "arcbox".as_ref(),
        ])
    };
    assert!(conv(&arc).success());
    let aside = d.join(".a.old-killed");
    std::fs::rename(&arc, &aside).unwrap();
    aged(&aside);
    assert!(conv(&arc).success());
    assert!(arc.join("snapshot.json").exists());
    assert!(!aside.exists());
}
