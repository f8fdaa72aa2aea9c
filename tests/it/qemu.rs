//! QEMU migration streams: the real QEMU 7.2 fixtures and streams the installed QEMU makes at
//! test time are read, verified, re-written byte for byte, restored by the runner and converted
//! to Firecracker; Firecracker snapshots and `snaptool run` snapshots converted to QEMU are
//! resumed by real QEMU with the command line the conversion report gives.
//!
//! Tests that need `/dev/kvm` or `qemu-system-x86_64` say so loudly when it is missing and pass,
//! unless `SNAPTOOL_REQUIRE_KVM=1` or `CI=true`, where a missing tool is a failure.

use crate::root;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn required() -> bool {
    std::env::var("SNAPTOOL_REQUIRE_KVM").as_deref() == Ok("1")
        || std::env::var("CI").as_deref() == Ok("true")
}

fn kvm() -> bool {
    if Path::new("/dev/kvm").exists() {
        return true;
    }
    assert!(!required(), "/dev/kvm is required here and does not exist");
    eprintln!("\n!!! SKIPPED: /dev/kvm does not exist; the QEMU restore tests did not run !!!\n");
    false
}

fn qemu() -> bool {
    let ok = Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return kvm();
    }
    assert!(
        !required(),
        "qemu-system-x86_64 is required here (apt-get install qemu-system-x86) and is not installed"
    );
    eprintln!(
        "\n!!! SKIPPED: qemu-system-x86_64 is not installed; the tests that run real QEMU did not run !!!\n"
    );
    false
}

fn snaptool(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_snaptool"))
        .args(args)
        .output()
        .unwrap()
}

fn s(x: &str) -> &std::ffi::OsStr {
    x.as_ref()
}

/// A fixture's stream, uncompressed into `dir`, and its serial log before the stop.
fn fixture(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let f = root().join("fixtures/qemu-7.2").join(name);
    let out = dir.join(format!("{name}.qemu"));
    if f.join("vmstate.qemu").is_file() {
        std::fs::copy(f.join("vmstate.qemu"), &out).unwrap();
    } else {
        let z = std::fs::File::open(f.join("vmstate.qemu.zst")).unwrap();
        let mut o = std::fs::File::create(&out).unwrap();
        zstd::stream::copy_decode(z, &mut o).unwrap();
    }
    (out, f.join("serial-before.log"))
}

const FIXTURES: [&str; 2] = ["counter-microvm-1vcpu", "counter-pc-1vcpu"];

fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// inspect (vCPUs, registers, memory), verify, decode → encode, on every fixture.
#[test]
fn fixtures_inspect_verify_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for name in FIXTURES {
        let (stream, _) = fixture(dir.path(), name);
        let o = snaptool(&[s("inspect"), s("--json"), stream.as_os_str()]);
        ok(&o, name);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let cpu = &v["snapshot"]["vcpus"][0];
        assert_eq!(cpu["sregs"]["cs"]["selector"], 0x33, "{name}");
        assert_eq!(v["snapshot"]["memory"]["regions"][0]["size"], 64 << 20);
        assert!(
            v["memory_file"]["nonzero_bytes"].as_u64().unwrap() > 10 * 4096,
            "{name}: {}",
            v["memory_file"]
        );
        let o = snaptool(&[s("verify"), stream.as_os_str()]);
        ok(&o, name);
        let json = dir.path().join(format!("{name}.json"));
        let back = dir.path().join(format!("{name}.back"));
        ok(
            &snaptool(&[s("decode"), stream.as_os_str(), s("-o"), json.as_os_str()]),
            name,
        );
        ok(
            &snaptool(&[s("encode"), json.as_os_str(), s("-o"), back.as_os_str()]),
            name,
        );
        assert!(
            std::fs::read(&back).unwrap() == std::fs::read(&stream).unwrap(),
            "{name}: decode → encode changed the stream"
        );
        // An edit through the model reaches the stream: rip moves, nothing else does.
        let o = snaptool(&[
            s("edit"),
            stream.as_os_str(),
            s("-o"),
            back.as_os_str(),
            s("--set"),
            s("vcpu[0].regs.rip=1053312"),
        ]);
        ok(&o, name);
        let o = snaptool(&[s("diff"), stream.as_os_str(), back.as_os_str()]);
        assert_eq!(o.status.code(), Some(1));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("vcpu[0].regs.rip"), "{text}");
        assert!(
            text.lines().filter(|l| !l.contains("qemu/stream")).count() == 1,
            "{name}: {text}"
        );
    }
}

/// Restores through the binary for `lines` lines (of every vCPU) and checks that at least
/// `steps` of them continue the counter in `before`.
fn restore_continues(
    state: &Path,
    mem: Option<&Path>,
    before: &Path,
    (lines, steps): (usize, usize),
    what: &str,
) {
    let mut args = vec![
        s("restore"),
        s("--lines"),
        s(Box::leak(lines.to_string().into_boxed_str())),
        state.as_os_str(),
    ];
    if let Some(m) = mem {
        args.push(s("--mem"));
        args.push(m.as_os_str());
    }
    let r = snaptool(&args);
    ok(&r, what);
    let before = std::fs::read(before).unwrap();
    assert_eq!(
        snaptool::demo::check_counter(&before, &r.stdout, steps).map(|n| n >= steps),
        Ok(true),
        "{what}: {}",
        String::from_utf8_lossy(&r.stdout)
    );
}

/// The runner restores each stream from the memory in the stream, and its conversion to
/// Firecracker v1.16 (memory beside it): the guest continues on COM1.
#[test]
fn fixtures_restore_and_convert_to_firecracker() {
    if !kvm() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for name in FIXTURES {
        let (stream, before) = fixture(dir.path(), name);
        restore_continues(&stream, None, &before, (4, 4), name);
        let fcout = dir.path().join(format!("{name}.vmstate"));
        let o = snaptool(&[
            s("convert"),
            stream.as_os_str(),
            s("-o"),
            fcout.as_os_str(),
            s("--to"),
            s("firecracker@1.16"),
            s("--allow-lossy"),
        ]);
        ok(&o, name);
        let mem = dir.path().join(format!("{name}.vmstate.mem"));
        assert!(mem.is_file());
        restore_continues(
            &fcout,
            Some(&mem),
            &before,
            (4, 4),
            &format!("{name} as firecracker"),
        );
    }
}

/// Runs `argv` (a conversion report's `qemu_command`), reads its standard output until `lines`
/// complete lines arrived or `secs` passed, then stops it.
fn run_qemu(argv: &[String], lines: usize, secs: u64) -> Vec<u8> {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut got = Vec::new();
    while start.elapsed() < Duration::from_secs(secs)
        && got.iter().filter(|&&b| b == b'\n').count() < lines
    {
        if let Ok(b) = rx.recv_timeout(Duration::from_millis(200)) {
            got.extend_from_slice(&b);
        }
    }
    let _ = child.kill();
    let o = child.wait_with_output().unwrap();
    if got.iter().filter(|&&b| b == b'\n').count() < lines {
        panic!(
            "QEMU printed {:?} in {secs} s; stderr: {}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    got
}

/// Converts `state` (+ `mem`) to QEMU and runs the report's `qemu_command` as is: QEMU's serial
/// output continues `before`.
fn qemu_continues(state: &Path, mem: &Path, before: &Path, out: &Path, what: &str) {
    let o = snaptool(&[
        s("convert"),
        state.as_os_str(),
        s("--mem"),
        mem.as_os_str(),
        s("-o"),
        out.as_os_str(),
        s("--to"),
        s("qemu"),
        s("--allow-lossy"),
        s("--json"),
    ]);
    ok(&o, what);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let argv: Vec<String> = serde_json::from_value(report["qemu_command"].clone()).unwrap();
    assert!(argv.iter().any(|a| a.contains(&out.display().to_string())));
    let got = run_qemu(&argv, 5, 60);
    let before = std::fs::read(before).unwrap();
    assert!(
        snaptool::demo::check_counter(&before, &got, 4).is_ok(),
        "{what}: {:?} after {:?}",
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&before)
    );
    let v = snaptool(&[s("verify"), out.as_os_str()]);
    ok(&v, what);
}

/// A real Firecracker v1.16.1 snapshot, and snapshots `snaptool run` takes (one and two vCPUs),
/// converted to QEMU, are resumed by real QEMU with nothing but the report's command line.
#[test]
fn firecracker_and_run_snapshots_resume_in_qemu() {
    if !qemu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fc = root().join("fixtures/firecracker-1.16.1/counter-1vcpu");
    let mem = dir.path().join("fc.mem");
    let z = std::fs::File::open(fc.join("mem.zst")).unwrap();
    zstd::stream::copy_decode(z, &mut std::fs::File::create(&mem).unwrap()).unwrap();
    qemu_continues(
        &fc.join("vmstate"),
        &mem,
        &fc.join("serial-before-full.log"),
        &dir.path().join("fc.qemu"),
        "firecracker v1.16.1",
    );
    for vcpus in ["1", "2"] {
        let out = dir.path().join(format!("run{vcpus}"));
        let o = snaptool(&[
            s("run"),
            s("--snapshot-after-lines"),
            s("4"),
            s("--vcpus"),
            s(vcpus),
            s("--out"),
            out.as_os_str(),
        ]);
        ok(&o, "snaptool run");
        qemu_continues(
            &out.join("vmstate"),
            &out.join("mem"),
            &out.join("serial-before.log"),
            &dir.path().join(format!("run{vcpus}.qemu")),
            &format!("snaptool run, {vcpus} vCPU(s)"),
        );
    }
}

/// Talks to a QEMU monitor on a Unix socket.
struct Monitor(
    std::os::unix::net::UnixStream,
    BufReader<std::os::unix::net::UnixStream>,
);

impl Monitor {
    fn connect(path: &Path) -> Monitor {
        let start = Instant::now();
        loop {
            if let Ok(s) = std::os::unix::net::UnixStream::connect(path) {
                s.set_read_timeout(Some(Duration::from_millis(300)))
                    .unwrap();
                let r = BufReader::new(s.try_clone().unwrap());
                let mut m = Monitor(s, r);
                m.drain();
                return m;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "no QEMU monitor");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn drain(&mut self) -> String {
        let mut text = String::new();
        let mut line = String::new();
        while self.1.read_line(&mut line).is_ok_and(|n| n > 0) {
            text.push_str(&line);
            line.clear();
        }
        text.push_str(&line);
        text
    }

    fn cmd(&mut self, c: &str) -> String {
        writeln!(self.0, "{c}").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        self.drain()
    }
}

/// Boots the PVH counter guest in the installed QEMU, waits for `lines` lines, stops it and
/// migrates it to `out`. Returns the serial output before the stop.
fn make_stream(dir: &Path, machine: &str, smp: &str, out: &Path) -> Vec<u8> {
    let kernel = root().join("fixtures/qemu-7.2/counter-microvm-1vcpu/guest/counter.elf");
    let serial = dir.join(format!("serial-{machine}-{smp}.log"));
    let sock = dir.join(format!("mon-{machine}-{smp}.sock"));
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-accel", "kvm", "-machine", machine])
        .args([
            "-cpu",
            "host,arch-capabilities=off",
            "-m",
            "64",
            "-smp",
            smp,
        ])
        .args(["-nographic", "-display", "none", "-kernel"])
        .arg(&kernel)
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-monitor")
        .arg(format!("unix:{},server,nowait", sock.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    // Firmware prints to the serial port too: wait for the counter's own lines.
    let steps = |b: Vec<u8>| String::from_utf8_lossy(&b).matches("step ").count();
    while std::fs::read(&serial).map(steps).unwrap_or(0) < 5 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "QEMU {machine} -smp {smp} printed too little"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut m = Monitor::connect(&sock);
    m.cmd("stop");
    let before = std::fs::read(&serial).unwrap();
    m.cmd(&format!("migrate \"exec:cat > {}\"", out.display()));
    let start = Instant::now();
    while !m
        .cmd("info migrate")
        .contains("Migration status: completed")
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "migration did not complete"
        );
    }
    m.cmd("quit");
    let _ = child.wait();
    before
}

/// Streams the installed QEMU writes now (microvm and pc, one and two vCPUs): inspect, verify,
/// byte-exact re-write, restore in the runner, and conversion to Firecracker restored.
#[test]
fn streams_made_by_the_installed_qemu() {
    if !qemu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (machine, smp) in [("microvm", "1"), ("pc", "2"), ("q35", "1")] {
        let what = format!("{machine} -smp {smp}");
        let stream = dir.path().join(format!("{machine}-{smp}.qemu"));
        let before = make_stream(dir.path(), machine, smp, &stream);
        let before_log = dir.path().join(format!("{machine}-{smp}.before"));
        std::fs::write(&before_log, &before).unwrap();
        ok(&snaptool(&[s("verify"), stream.as_os_str()]), &what);
        let o = snaptool(&[s("inspect"), s("--json"), stream.as_os_str()]);
        ok(&o, &what);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            v["snapshot"]["vcpus"].as_array().unwrap().len(),
            smp.parse::<usize>().unwrap(),
            "{what}"
        );
        let back = dir.path().join(format!("{machine}-{smp}.back"));
        let json = dir.path().join(format!("{machine}-{smp}.json"));
        ok(
            &snaptool(&[s("decode"), stream.as_os_str(), s("-o"), json.as_os_str()]),
            &what,
        );
        ok(
            &snaptool(&[s("encode"), json.as_os_str(), s("-o"), back.as_os_str()]),
            &what,
        );
        assert!(
            std::fs::read(&back).unwrap() == std::fs::read(&stream).unwrap(),
            "{what}: decode → encode changed the stream"
        );
        let n: usize = smp.parse().unwrap();
        restore_continues(&stream, None, &before_log, (4 * n, 3), &what);
        let fcout = dir.path().join(format!("{machine}-{smp}.vmstate"));
        ok(
            &snaptool(&[
                s("convert"),
                stream.as_os_str(),
                s("-o"),
                fcout.as_os_str(),
                s("--to"),
                s("firecracker@1.16"),
                s("--allow-lossy"),
            ]),
            &what,
        );
        let mem = dir.path().join(format!("{machine}-{smp}.vmstate.mem"));
        restore_continues(
            &fcout,
            Some(&mem),
            &before_log,
            (4 * n, 3),
            &format!("{what} as firecracker"),
        );
    }
}
