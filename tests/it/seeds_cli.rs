//! VeridianOS files, arcbox directories and squib files through the binary: `convert` both ways,
//! `verify`, `inspect`, `diff`, `decode`/`encode` and `restore`.

use crate::root;
use snaptool::formats::firecracker as fc;
use snaptool::model::Vcpu;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn snaptool<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_snaptool"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn ok(o: &Output, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{what}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The 1.16.1 counter fixture's vmstate path and its memory unpacked into `dir`.
fn counter(dir: &Path) -> (PathBuf, PathBuf) {
    let f = root().join("fixtures/firecracker-1.16.1/counter-1vcpu");
    let mem = dir.join("mem");
    let z = std::fs::File::open(f.join("mem.zst")).unwrap();
    let mut out = std::fs::File::create(&mem).unwrap();
    zstd::stream::copy_decode(z, &mut out).unwrap();
    (f.join("vmstate"), mem)
}

fn rip_of(state: &Path) -> u64 {
    let m = fc::read(&std::fs::read(state).unwrap()).unwrap().to_model();
    match &m.vcpus[0] {
        Vcpu::X86_64(v) => v.regs.rip,
        Vcpu::Aarch64(_) => panic!("x86 fixture"),
    }
}

/// Arguments as `OsString`s: `&str`s and `&Path`s alike.
macro_rules! args {
    ($($a:expr),* $(,)?) => { vec![$(std::ffi::OsString::from($a)),*] };
}

/// Firecracker → VeridianOS / arcbox / arcbox+lz4 → Firecracker gives the vmstate back byte for
/// byte and the memory, written beside it, byte for byte; our outputs verify clean, inspect
/// shows the fixture's vCPU and diff finds no difference to the original.
#[test]
fn firecracker_through_veridian_and_arcbox_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let (state, mem) = counter(dir.path());
    let rip = rip_of(&state);
    let original_mem = std::fs::read(&mem).unwrap();
    for (to, compress) in [
        ("veridian", None),
        ("arcbox", None),
        ("arcbox", Some("lz4")),
    ] {
        let what = format!("{to} {compress:?}");
        let tag = format!("{to}-{}", compress.unwrap_or("plain"));
        let out = dir.path().join(&tag);
        let mut a = args![
            "convert", &state, "--mem", &mem, "-o", &out, "--to", to, "--json"
        ];
        if let Some(c) = compress {
            a.extend(args!["--compress", c]);
        }
        let o = snaptool(&a);
        ok(&o, &what);
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(report["lossless"], true, "{what}");
        if to == "arcbox" {
            let name = if compress.is_some() {
                "memory.bin.lz4"
            } else {
                "memory.bin"
            };
            assert!(out.join(name).is_file(), "{what}: no {name}");
        }
        ok(&snaptool(args!["verify", &out]), &what);
        let o = snaptool(args!["inspect", &out, "--json"]);
        ok(&o, &what);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            v["file"]["layout"],
            if to == "veridian" {
                "veridian-1"
            } else {
                "arcbox-1"
            }
        );
        let vcpus = v["snapshot"]["vcpus"].as_array().unwrap();
        assert_eq!(vcpus.len(), 1, "{what}");
        assert_eq!(vcpus[0]["regs"]["rip"], rip, "{what}");
        ok(
            &snaptool(args!["diff", &out, &state]),
            &format!("{what}: diff"),
        );
        // decode writes the memory the snapshot holds beside the JSON; encode takes it back.
        let json = dir.path().join(format!("{tag}.json"));
        ok(&snaptool(args!["decode", &out, "-o", &json]), &what);
        assert!(std::fs::read(dir.path().join(format!("{tag}.json.mem"))).unwrap() == original_mem);
        let again = dir.path().join(format!("{tag}-again"));
        let mut a = args!["encode", &json, "-o", &again];
        if let Some(c) = compress {
            a.extend(args!["--compress", c]);
        }
        ok(&snaptool(&a), &format!("{what}: encode"));
        if to == "veridian" {
            assert!(
                std::fs::read(&again).unwrap() == std::fs::read(&out).unwrap(),
                "{what}: decode/encode is not byte-exact"
            );
        } else {
            // snapshot.json's id and time, made up for a model without them, are new; the
            // model and the memory are the same.
            ok(
                &snaptool(args!["diff", &out, &again, "--provenance"]),
                &what,
            );
            let name = if compress.is_some() {
                "memory.bin.lz4"
            } else {
                "memory.bin"
            };
            assert!(
                std::fs::read(again.join(name)).unwrap() == std::fs::read(out.join(name)).unwrap()
            );
        }
        let back = dir.path().join(format!("back-{tag}"));
        let o = snaptool(args![
            "convert",
            &out,
            "-o",
            &back,
            "--to",
            "firecracker@1.16"
        ]);
        ok(&o, &what);
        assert!(
            std::fs::read(&back).unwrap() == std::fs::read(&state).unwrap(),
            "{what}: not byte-identical"
        );
        let back_mem = dir.path().join(format!("back-{tag}.mem"));
        assert!(
            std::fs::read(&back_mem).unwrap() == original_mem,
            "{what}: the memory written beside the vmstate differs"
        );
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("memory written to"),
            "{what}: the report does not name the memory file"
        );
    }
}

/// `-o` of an arcbox conversion never replaces a directory that is not an arcbox snapshot, and
/// `--compress` is refused for targets without a memory file to compress.
#[test]
fn refusals_leave_everything_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let (state, mem) = counter(dir.path());
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), b"keep me").unwrap();
    let o = snaptool(args![
        "convert", &state, "--mem", &mem, "-o", &foreign, "--to", "arcbox"
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to overwrite"));
    assert_eq!(
        std::fs::read(foreign.join("notes.txt")).unwrap(),
        b"keep me"
    );
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);

    let out = dir.path().join("v");
    let o = snaptool(args![
        "convert",
        &state,
        "--mem",
        &mem,
        "-o",
        &out,
        "--to",
        "veridian",
        "--compress",
        "lz4"
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--compress lz4"));
    assert!(!out.exists());

    // A directory that is not an arcbox snapshot is named as such.
    let o = snaptool(args!["inspect", &foreign]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an arcbox snapshot directory"));
}

/// An arcbox directory whose vm_state.json was damaged: `verify` exits 1 and names the file,
/// `inspect` exits 2.
#[test]
fn damaged_arcbox_directory_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (state, mem) = counter(dir.path());
    let out = dir.path().join("arc");
    ok(
        &snaptool(args![
            "convert", &state, "--mem", &mem, "-o", &out, "--to", "arcbox"
        ]),
        "convert",
    );
    let p = out.join("vm_state.json");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, &text[..text.len() / 2]).unwrap();
    let o = snaptool(args!["verify", &out]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("vm_state.json"));
    let o = snaptool(args!["inspect", &out]);
    assert_eq!(o.status.code(), Some(2));
}

fn squib_seed(name: &str) -> PathBuf {
    root().join("fuzz/seeds/squib").join(name)
}

/// `inspect` tells squib from Firecracker 5.0.0 (same magic, same version text) and says why.
#[test]
fn inspect_tells_squib_from_firecracker_5() {
    let dir = tempfile::tempdir().unwrap();
    let o = snaptool(args!["inspect", &squib_seed("squib-save.snap")]);
    ok(&o, "inspect squib");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("squib state file"), "{text}");
    assert!(text.contains("layout squib-5.0.0"), "{text}");
    assert!(text.contains("pc=0xffff800008012000"), "{text}");
    let o = snaptool(args!["inspect", &squib_seed("squib-save.snap"), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["file"]["layout"], "squib-5.0.0");
    assert_eq!(v["snapshot"]["vcpus"].as_array().unwrap().len(), 3);

    let (state, _) = counter(dir.path());
    let fc5 = dir.path().join("fc5");
    ok(
        &snaptool(args![
            "convert",
            &state,
            "-o",
            &fc5,
            "--to",
            "firecracker@1.11",
            "--allow-lossy"
        ]),
        "to 5.0.0",
    );
    let o = snaptool(args!["inspect", &fc5]);
    ok(&o, "inspect 5.0.0");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("family:"), "{text}");
    assert!(text.contains("not squib"), "{text}");
    let o = snaptool(args!["inspect", &fc5, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["file"]["layout"], "firecracker-5.0.0");
    assert!(
        v["file"]["family"]
            .as_str()
            .unwrap()
            .contains("bincode era")
    );
}

/// squib files through decode/encode (byte-exact), verify, and convert to Firecracker and back.
#[test]
fn squib_through_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    ok(
        &snaptool(args!["verify", &squib_seed("squib-save.snap")]),
        "verify",
    );
    // Written without the placeholder GIC blob: squib's loader would refuse it.
    let o = snaptool(args!["verify", &squib_seed("fc-aarch64.snap")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("error[gic_empty]"));
    for name in ["squib-save.snap", "fc-aarch64.snap"] {
        let seed = squib_seed(name);
        let json = dir.path().join(format!("{name}.json"));
        let again = dir.path().join(format!("{name}.again"));
        ok(&snaptool(args!["decode", &seed, "-o", &json]), name);
        ok(&snaptool(args!["encode", &json, "-o", &again]), name);
        assert!(
            std::fs::read(&again).unwrap() == std::fs::read(&seed).unwrap(),
            "{name}"
        );
    }
    // A state that started as Firecracker aarch64 goes to Firecracker and back without loss.
    let seed = squib_seed("fc-aarch64.snap");
    let fc10 = dir.path().join("fc10");
    let o = snaptool(args![
        "convert",
        &seed,
        "-o",
        &fc10,
        "--to",
        "firecracker@1.16"
    ]);
    ok(&o, "squib -> fc");
    let sq = dir.path().join("again.snap");
    let o = snaptool(args!["convert", &fc10, "-o", &sq, "--to", "squib"]);
    ok(&o, "fc -> squib");
    assert!(String::from_utf8_lossy(&o.stdout).contains("placeholder"));
    ok(&snaptool(args!["verify", &sq]), "our squib output");
    let fc10b = dir.path().join("fc10b");
    ok(
        &snaptool(args![
            "convert",
            &sq,
            "-o",
            &fc10b,
            "--to",
            "firecracker@1.16"
        ]),
        "squib -> fc again",
    );
    assert!(std::fs::read(&fc10).unwrap() == std::fs::read(&fc10b).unwrap());
    // The two differ only in the placeholder GIC blob our conversion wrote for squib's loader.
    let o = snaptool(args!["diff", &seed, &sq]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("squib/gic_state.placeholder"), "{text}");
    ok(
        &snaptool(args!["diff", &seed, &fc10]),
        "diff squib and Firecracker",
    );

    // squib's own file holds an HVF GIC blob Firecracker has no place for: refused, nothing
    // written, the lost values listed.
    let out = dir.path().join("refused");
    let o = snaptool(args![
        "convert",
        &squib_seed("squib-save.snap"),
        "-o",
        &out,
        "--to",
        "firecracker@1.16"
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
    assert!(String::from_utf8_lossy(&o.stderr).contains("lost"));

    // The runner is x86_64 KVM: an aarch64 snapshot is refused by name, not attempted.
    if cfg!(feature = "kvm") {
        let o = snaptool(args!["restore", &squib_seed("squib-save.snap")]);
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("an aarch64 snapshot (squib-5.0.0)"));
    }

    // A squib state with no vCPUs breaks verify_compatible: verify exits 1 with squib's rule.
    let json = dir.path().join("squib-save.snap.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    m["vcpus"] = serde_json::json!([]);
    std::fs::write(&json, serde_json::to_vec(&m).unwrap()).unwrap();
    let empty = dir.path().join("empty.snap");
    ok(
        &snaptool(args!["encode", &json, "-o", &empty]),
        "encode no vcpus",
    );
    let o = snaptool(args!["verify", &empty]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("vcpu_count"));
}
