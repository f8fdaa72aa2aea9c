//! Restore's verdict: a guest that stops on its own before printing the lines asked for is a
//! failed restore, and the report says how it stopped. Each stop reason is produced from the
//! 1.16.1 counter fixture by editing its registers or the code at its `rip`. These tests need
//! `/dev/kvm`: without it they say so loudly and pass, unless `SNAPTOOL_REQUIRE_KVM=1` or
//! `CI=true`.

use crate::root;
use snaptool::formats::firecracker as fc;
use snaptool::model::{Snapshot, Vcpu};
use snaptool::runner::{self, RunOptions, RunReport, StopReason};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const FIXTURE: &str = "firecracker-1.16.1/counter-1vcpu";

fn kvm_available() -> bool {
    if Path::new("/dev/kvm").exists() {
        return true;
    }
    assert!(
        std::env::var("SNAPTOOL_REQUIRE_KVM").as_deref() != Ok("1")
            && std::env::var("CI").as_deref() != Ok("true"),
        "/dev/kvm does not exist but SNAPTOOL_REQUIRE_KVM=1 or CI=true"
    );
    eprintln!(
        "\n!!! SKIPPED: /dev/kvm does not exist; the restore verdict tests did not run !!!\n"
    );
    false
}

/// The fixture's model and a private copy of its memory file in `dir`.
fn fixture(dir: &Path) -> (Snapshot, PathBuf) {
    let f = root().join("fixtures").join(FIXTURE);
    let state = fc::read(&std::fs::read(f.join("vmstate")).unwrap()).unwrap();
    let mem = dir.join("mem");
    let z = std::fs::File::open(f.join("mem.zst")).unwrap();
    let mut out = std::fs::File::create(&mem).unwrap();
    zstd::stream::copy_decode(z, &mut out).unwrap();
    (state.to_model(), mem)
}

fn rip_of(m: &Snapshot) -> u64 {
    let Vcpu::X86_64(v) = &m.vcpus[0] else {
        panic!("not x86_64")
    };
    v.regs.rip
}

/// Writes `code` at guest address `at` (the guest identity-maps its low memory and its one
/// region starts at 0, so the guest address is the file offset).
fn patch(mem: &Path, at: u64, code: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(mem).unwrap();
    f.write_all_at(code, at).unwrap();
}

fn restore(m: &Snapshot, mem: &Path, lines: Option<usize>, secs: f64) -> (RunReport, Vec<u8>) {
    let mut got = Vec::new();
    let opts = RunOptions {
        lines,
        timeout: Duration::from_secs_f64(secs),
        drain: false,
    };
    let r = runner::restore(m, mem, &opts, &mut |b| got.extend_from_slice(b)).unwrap();
    (r, got)
}

/// `cli; hlt` where the guest resumes. The fixture's guest runs its loop outside ring 0, so
/// `cli` raises #GP and its exception handler prints one line, then halts with interrupts off
/// for good: the run says it halted instead of "timeout".
#[test]
fn halted_with_interrupts_off_is_a_failure() {
    if !kvm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (m, mem) = fixture(dir.path());
    let rip = rip_of(&m);
    patch(&mem, rip, &[0xfa, 0xf4, 0xeb, 0xfc]);
    let (r, got) = restore(&m, &mem, Some(3), 1.0);
    assert_eq!(r.stop, StopReason::Halted, "{r:?}");
    assert!(r.lines < 3, "{}", String::from_utf8_lossy(&got));
    assert_eq!(r.vcpus_at_stop.len(), 1);
    assert_eq!(r.vcpus_at_stop[0].mp_state, "halted");
    assert!(!r.vcpus_at_stop[0].interrupts_enabled);
    let why = r
        .failure()
        .expect("a halted guest that printed nothing passed");
    assert!(
        why.contains("halted") && why.contains(&format!("{} of 3 lines", r.lines)),
        "{why}"
    );
    // Without a line count the run did not fail, but the report still says how it ended.
    let (r, _) = restore(&m, &mem, None, 0.5);
    assert_eq!(r.stop, StopReason::Halted);
    assert_eq!(r.failure(), None);
}

/// A guest spinning without printing is a timeout; with lines asked for, a failure that says
/// how many arrived.
#[test]
fn spinning_guest_is_a_timeout() {
    if !kvm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (m, mem) = fixture(dir.path());
    patch(&mem, rip_of(&m), &[0xeb, 0xfe]);
    let (r, _) = restore(&m, &mem, None, 0.5);
    assert_eq!(r.stop, StopReason::Timeout, "{r:?}");
    assert_eq!(r.failure(), None);
    let (r, _) = restore(&m, &mem, Some(1), 0.5);
    assert_eq!(r.stop, StopReason::Timeout, "{r:?}");
    assert!(r.failure().unwrap().contains("0 of 1 lines"));
}

/// The i8042 reset command (how a Firecracker guest powers off) before the lines asked for.
#[test]
fn reset_before_the_lines_is_a_failure() {
    if !kvm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (m, mem) = fixture(dir.path());
    // mov al, 0xfe; out 0x64, al; jmp $
    patch(&mem, rip_of(&m), &[0xb0, 0xfe, 0xe6, 0x64, 0xeb, 0xfe]);
    let (r, _) = restore(&m, &mem, Some(2), 10.0);
    assert_eq!(r.stop, StopReason::Reset, "{r:?}");
    assert!(r.failure().unwrap().contains("reset"));
    let (r, _) = restore(&m, &mem, None, 10.0);
    assert_eq!(r.stop, StopReason::Reset);
    assert_eq!(
        r.failure(),
        None,
        "a guest that powers off without being asked for lines"
    );
}

/// An IDT with limit 0 and `ud2` at rip: #UD cannot be delivered, nor #GP, nor #DF.
#[test]
fn triple_fault_is_a_failure_even_without_lines() {
    if !kvm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut m, mem) = fixture(dir.path());
    let rip = rip_of(&m);
    patch(&mem, rip, &[0x0f, 0x0b]);
    let Vcpu::X86_64(v) = &mut m.vcpus[0] else {
        panic!()
    };
    v.sregs.idt.limit = 0;
    let (r, _) = restore(&m, &mem, None, 10.0);
    assert_eq!(r.stop, StopReason::TripleFault, "{r:?}");
    let why = r.failure().expect("a triple fault passed");
    assert!(
        why.contains("triple fault") && why.contains("last rip 0x"),
        "{why}"
    );
}

/// Through the binary: a state whose rip is non-canonical (decode → edit → encode) restores
/// with exit 2 naming the stop, the last rip and the lines seen; `--json` has the stop reason.
#[test]
fn non_canonical_rip_exits_2() {
    if !kvm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, mem) = fixture(dir.path());
    let bin = env!("CARGO_BIN_EXE_snaptool");
    let json = dir.path().join("s.json");
    let st = Command::new(bin)
        .arg("decode")
        .arg(root().join("fixtures").join(FIXTURE).join("vmstate"))
        .arg("-o")
        .arg(&json)
        .status()
        .unwrap();
    assert!(st.success());
    let mut s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    s["vcpus"][0]["regs"]["rip"] = 0xdead_0000_deadu64.into();
    std::fs::write(&json, serde_json::to_vec(&s).unwrap()).unwrap();
    let dead = dir.path().join("dead.vmstate");
    let st = Command::new(bin)
        .arg("encode")
        .arg(&json)
        .arg("-o")
        .arg(&dead)
        .status()
        .unwrap();
    assert!(st.success());
    let o = Command::new(bin)
        .arg("restore")
        .arg(&dead)
        .arg("--mem")
        .arg(&mem)
        .args(["--lines", "3", "--timeout", "2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the guest stopped") && err.contains("last rip") && err.contains("of 3 lines"),
        "{err}"
    );
    let o = Command::new(bin)
        .arg("restore")
        .arg(&dead)
        .arg("--mem")
        .arg(&mem)
        .args(["--lines", "3", "--timeout", "2", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let stop = &v["report"]["stop"];
    assert!(
        *stop != "lines" && *stop != "timeout",
        "stop reason {stop} for a guest that never ran"
    );
    assert_eq!(v["report"]["lines_wanted"], 3);
    assert!(v["report"]["vcpus_at_stop"][0]["rip"].is_u64());
}

/// `run` refuses to snapshot a guest that stopped on its own, naming why.
#[test]
fn run_of_a_guest_that_resets_exits_2() {
    if !kvm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A one-segment ELF whose code resets through the i8042 at once.
    let elf = tiny_elf(&[0xb0, 0xfe, 0xe6, 0x64, 0xeb, 0xfe]);
    let k = dir.path().join("reset.elf");
    std::fs::write(&k, elf).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_snaptool"))
        .arg("run")
        .arg("--kernel")
        .arg(&k)
        .arg("--out")
        .arg(dir.path().join("out"))
        .args(["--timeout", "10"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("reset") && err.contains("last rip 0x"),
        "{err}"
    );
    assert!(!dir.path().join("out").join("vmstate").exists());
}

/// A minimal x86_64 ELF: one `PT_LOAD` of `code` at 0x100000, entered there.
fn tiny_elf(code: &[u8]) -> Vec<u8> {
    const BASE: u64 = 0x10_0000;
    let mut e = vec![0u8; 64 + 56];
    e[..4].copy_from_slice(b"\x7fELF");
    e[4] = 2; // 64-bit
    e[5] = 1; // little-endian
    e[6] = 1; // version
    e[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86_64
    e[20..24].copy_from_slice(&1u32.to_le_bytes());
    e[24..32].copy_from_slice(&BASE.to_le_bytes()); // entry
    e[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
    e[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
    e[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
    e[56..58].copy_from_slice(&1u16.to_le_bytes()); // phnum
    let ph = &mut e[64..];
    ph[..4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    ph[4..8].copy_from_slice(&5u32.to_le_bytes()); // R+X
    ph[8..16].copy_from_slice(&120u64.to_le_bytes()); // offset
    ph[16..24].copy_from_slice(&BASE.to_le_bytes()); // vaddr
    ph[24..32].copy_from_slice(&BASE.to_le_bytes()); // paddr
    ph[32..40].copy_from_slice(&(code.len() as u64).to_le_bytes()); // filesz
    ph[40..48].copy_from_slice(&(code.len() as u64).to_le_bytes()); // memsz
    ph[48..56].copy_from_slice(&0x1000u64.to_le_bytes()); // align
    e.extend_from_slice(code);
    e
}
