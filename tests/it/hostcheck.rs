//! `check-host`: the comparison against a host described by hand (runs everywhere), and the
//! command on this host's KVM (needs `/dev/kvm`: without it these tests say so loudly and pass,
//! unless `SNAPTOOL_REQUIRE_KVM=1` or `CI=true`, which make a missing `/dev/kvm` a failure).

use crate::root;
use snaptool::formats::firecracker as fc;
use snaptool::hostcheck::{self, HostInfo, VcpuTrial};
use snaptool::model::{Arch, CpuidEntry, KvmCapModifier, Snapshot, Vcpu, X86Vcpu};
use snaptool::verify::{Finding, Severity};

fn fixture(folder: &str) -> Snapshot {
    let bytes = std::fs::read(root().join("fixtures").join(folder).join("vmstate")).unwrap();
    fc::read(&bytes).unwrap().to_model()
}

fn vcpu0(s: &mut Snapshot) -> &mut X86Vcpu {
    match &mut s.vcpus[0] {
        Vcpu::X86_64(v) => v,
        Vcpu::Aarch64(_) => panic!("x86_64 fixture expected"),
    }
}

/// A host that offers exactly what the snapshot's vCPU 0 has: every check passes.
fn host_like(s: &Snapshot) -> HostInfo {
    let Vcpu::X86_64(v) = &s.vcpus[0] else {
        panic!("x86_64 fixture expected")
    };
    let mut xsave_cpuid = v.cpuid.clone();
    if !xsave_cpuid
        .iter()
        .any(|e| e.function == 0xd && e.index == 0)
    {
        xsave_cpuid.push(CpuidEntry {
            function: 0xd,
            eax: 0x7,
            ..Default::default()
        });
    }
    HostInfo {
        vendor: snaptool::hostcheck::cpuid::vendor(&v.cpuid),
        supported_cpuid: xsave_cpuid,
        tsc_khz: v.tsc_khz,
        xsave_size: 4096,
        max_vcpus: 254,
        cpus: Some(64),
        mem_total: Some(1 << 40),
        capabilities: hostcheck::FIRECRACKER_CAPS
            .iter()
            .map(|c| (c.0, true))
            .collect(),
        vcpu_trials: vec![VcpuTrial::default(); s.vcpus.len()],
        ..Default::default()
    }
}

fn codes(f: &[Finding]) -> Vec<&'static str> {
    f.iter().map(|f| f.code).collect()
}

const FIXTURE: &str = "firecracker-1.16.1/counter-1vcpu";

#[test]
fn same_host_is_clean() {
    let s = fixture(FIXTURE);
    let f = hostcheck::check(&s, &host_like(&s));
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn tsc_direction_tolerance_and_scaling() {
    let s = fixture(FIXTURE);
    let khz = vcpu0(&mut s.clone()).tsc_khz.unwrap();
    assert_eq!(khz, 2_445_428);
    let mut host = host_like(&s);
    // This host faster than the snapshot: KVM without TSC scaling refuses the slower rate.
    host.tsc_khz = Some(2_596_134);
    let f = hostcheck::check(&s, &host);
    assert_eq!(codes(&f), ["tsc-rate-below-host"]);
    assert_eq!(f[0].severity, Severity::Error);
    assert_eq!(f[0].path.as_deref(), Some("vcpus[0].tsc_khz"));
    for want in [
        "2445428 kHz",
        "2596134 kHz",
        "Could not set TSC scaling within the snapshot: Invalid argument (os error 22)",
        "--set 'vcpu[*].tsc_khz=host'",
        "host's rate",
    ] {
        assert!(f[0].message.contains(want), "{want}: {}", f[0].message);
    }
    // With TSC scaling KVM sets the recorded rate: nothing to report.
    host.tsc_control = true;
    assert!(hostcheck::check(&s, &host).is_empty());
    // This host slower: KVM catches the TSC up in software, the restore works.
    host.tsc_control = false;
    host.tsc_khz = Some(2_245_780);
    let f = hostcheck::check(&s, &host);
    assert_eq!(codes(&f), ["tsc-rate-above-host"]);
    assert_eq!(f[0].severity, Severity::Warning);
    // Within Firecracker's 250 ppm nothing is set and nothing reported; just past it is.
    host.tsc_khz = Some(khz + khz / 4000 - 1);
    assert!(hostcheck::check(&s, &host).is_empty());
    host.tsc_khz = Some(khz + khz / 4000 + 2);
    assert_eq!(codes(&hostcheck::check(&s, &host)), ["tsc-rate-below-host"]);
    // No rate from KVM: said, not guessed.
    host.tsc_khz = None;
    assert_eq!(codes(&hostcheck::check(&s, &host)), ["tsc-rate-unknown"]);
}

#[test]
fn cpuid_bits_are_named_by_leaf_register_bit_and_name() {
    let mut s = fixture(FIXTURE);
    let host = host_like(&s);
    let e = vcpu0(&mut s)
        .cpuid
        .iter_mut()
        .find(|e| e.function == 7 && e.index == 0)
        .unwrap();
    assert_eq!(e.ebx & (1 << 16), 0, "the fixture has no AVX-512");
    e.ebx |= 1 << 16; // avx512f
    e.ebx |= 1 << 9; // erms, already set: no finding
    e.ecx |= 1 << 17; // MAWAU value, not a feature: never compared
    let f = hostcheck::check(&s, &host);
    assert_eq!(codes(&f), ["cpuid-feature-missing"], "{f:#?}");
    assert_eq!(f[0].severity, Severity::Error);
    assert_eq!(f[0].path.as_deref(), Some("vcpus[0].cpuid[0x7.0].ebx[16]"));
    assert!(
        f[0].message
            .starts_with("CPUID leaf 0x7 subleaf 0 EBX bit 16 (avx512f)"),
        "{}",
        f[0].message
    );
}

#[test]
fn derived_bits_and_hints() {
    let mut s = fixture(FIXTURE);
    let mut host = host_like(&s);
    // OSXSAVE follows the guest's CR4: a host that lacks it in its list is no finding.
    for e in host.supported_cpuid.iter_mut().filter(|e| e.function == 1) {
        e.ecx &= !(1 << 27);
    }
    let v = vcpu0(&mut s);
    for e in v.cpuid.iter_mut().filter(|e| e.function == 1) {
        e.ecx |= 1 << 27;
    }
    assert!(hostcheck::check(&s, &host).is_empty());
    // A missing hint (fast short rep movsb) is a warning, not an error.
    for e in host
        .supported_cpuid
        .iter_mut()
        .filter(|e| e.function == 7 && e.index == 0)
    {
        e.edx &= !(1 << 4);
    }
    for e in vcpu0(&mut s)
        .cpuid
        .iter_mut()
        .filter(|e| e.function == 7 && e.index == 0)
    {
        e.edx |= 1 << 4;
    }
    let f = hostcheck::check(&s, &host);
    assert_eq!(codes(&f), ["cpuid-feature-missing"]);
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(f[0].message.contains("(fsrm)"), "{}", f[0].message);
}

#[test]
fn vendor_mismatch() {
    let s = fixture(FIXTURE);
    let mut host = host_like(&s);
    let theirs = host.vendor.clone().unwrap();
    host.vendor = Some(if theirs == "GenuineIntel" {
        "AuthenticAMD".into()
    } else {
        "GenuineIntel".into()
    });
    let f = hostcheck::check(&s, &host);
    assert_eq!(codes(&f), ["cpu-vendor-mismatch"]);
    assert!(f[0].message.contains(&theirs), "{}", f[0].message);
    assert!(
        f[0].message
            .contains("Host CPU vendor id differs from the snapshotted one"),
        "{}",
        f[0].message
    );
}

#[test]
fn xsave_msrs_caps_vcpus_memory_arch() {
    let mut s = fixture(FIXTURE);
    let mut host = host_like(&s);
    // XCR0 with AVX (bit 2) on a host whose KVM supports x87 and SSE only.
    for e in host
        .supported_cpuid
        .iter_mut()
        .filter(|e| e.function == 0xd)
    {
        if e.index == 0 {
            (e.eax, e.edx) = (0x3, 0);
        }
    }
    let v = vcpu0(&mut s);
    // The guest enabled AVX and has AVX state in its XSAVE area.
    v.xcrs.as_mut().unwrap().xcrs[0].value = 0x7;
    v.xsave.as_mut().unwrap().region.0[512] = 0x7;
    let msr = v.msrs[3].index;
    host.vcpu_trials[0].unknown_msrs = vec![msr];
    host.capabilities.insert(41, false); // KVM_CAP_VCPU_EVENTS
    host.max_vcpus = 0; // unknown: not compared
    host.cpus = Some(0);
    host.mem_total = Some(1 << 20);
    let f = hostcheck::check(&s, &host);
    let c = codes(&f);
    for want in [
        "xsave-xcr0-unsupported",
        "xsave-features-unsupported",
        "msr-unknown",
        "kvm-cap-missing",
        "vcpu-count-above-host-cpus",
        "memory-size",
        "cpuid-feature-missing",
    ] {
        assert!(c.contains(&want), "{want} not in {c:?}");
    }
    let m = f.iter().find(|f| f.code == "msr-unknown").unwrap();
    assert!(
        m.message.contains(&format!("MSR 0x{msr:x}"))
            && m.message
                .contains("Failed to set all KVM MSRs for this vCPU"),
        "{}",
        m.message
    );
    assert_eq!(m.path.as_deref(), Some("vcpus[0].msrs[3]"));
    let x = f
        .iter()
        .find(|f| f.code == "xsave-xcr0-unsupported")
        .unwrap();
    assert!(x.message.contains("avx"), "{}", x.message);
    // A template that requires a capability this host lacks.
    let mut host = host_like(&s);
    s.vm.kvm_cap_modifiers = vec![KvmCapModifier::Add(9999)];
    host.capabilities.insert(9999, false);
    host.max_vcpus = 0;
    let f = hostcheck::check(&s, &host);
    assert!(
        f.iter()
            .any(|f| f.code == "kvm-cap-missing" && f.message.contains("0x270f")),
        "{f:#?}"
    );
    // Too many vCPUs for KVM.
    host.max_vcpus = 0;
    let mut two = fixture(FIXTURE);
    let h2 = HostInfo {
        max_vcpus: 1,
        ..host_like(&two)
    };
    two.vcpus.push(two.vcpus[0].clone());
    assert!(codes(&hostcheck::check(&two, &h2)).contains(&"vcpu-count"));
    // aarch64: one finding, nothing else compared.
    let mut arm = fixture(FIXTURE);
    arm.provenance.arch = Arch::Aarch64;
    assert_eq!(codes(&hostcheck::check(&arm, &h2)), ["arch"]);
}

#[test]
fn identical_findings_of_every_vcpu_merge_into_one() {
    let mut s = fixture(FIXTURE);
    let mut host = host_like(&s);
    s.vcpus.push(s.vcpus[0].clone());
    host.vcpu_trials.push(VcpuTrial::default());
    host.tsc_khz = Some(3_000_000);
    let f = hostcheck::check(&s, &host);
    assert_eq!(codes(&f), ["tsc-rate-below-host"]);
    assert_eq!(f[0].path.as_deref(), Some("vcpus[*].tsc_khz"));
}

#[test]
fn memory_file_too_short() {
    let s = fixture(FIXTURE);
    let need = s.memory.total_size();
    assert!(hostcheck::check_memory_file(&s, "m", need).is_none());
    let f = hostcheck::check_memory_file(&s, "m", need - 4096).unwrap();
    assert_eq!(f.code, "memory-file-size");
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod on_this_host {
    use crate::{real_states, rel, root};
    use serde_json::Value;
    use snaptool::hostcheck;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    fn kvm_available() -> bool {
        if Path::new("/dev/kvm").exists() {
            return true;
        }
        let required = std::env::var("SNAPTOOL_REQUIRE_KVM").as_deref() == Ok("1")
            || std::env::var("CI").as_deref() == Ok("true");
        assert!(
            !required,
            "SNAPTOOL_REQUIRE_KVM=1 or CI=true, but /dev/kvm does not exist"
        );
        eprintln!("\n!!! SKIPPED: /dev/kvm does not exist; the check-host tests did not run !!!\n");
        false
    }

    fn snaptool(args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_snaptool"))
            .args(args)
            .current_dir(root())
            .output()
            .unwrap()
    }

    fn check_json(path: &Path) -> (i32, Value) {
        let o = snaptool(&["check-host", path.to_str().unwrap(), "--json"]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: {}",
                path.display(),
                String::from_utf8_lossy(&o.stderr)
            )
        });
        (o.status.code().unwrap_or(-1), v)
    }

    fn findings(v: &Value) -> Vec<(String, String, String)> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
                (s("code"), s("path"), s("message"))
            })
            .collect()
    }

    /// A snapshot `snaptool run` takes on this host, decoded to JSON in `dir`.
    fn runner_snapshot(dir: &Path) -> PathBuf {
        let out = dir.join("here");
        let o = snaptool(&[
            "run",
            "--out",
            out.to_str().unwrap(),
            "--snapshot-after-lines",
            "3",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out.join("vmstate")
    }

    fn edit_json(dir: &Path, state: &Path, name: &str, f: impl Fn(&mut Value)) -> PathBuf {
        let json = dir.join(format!("{name}.json"));
        let o = snaptool(&[
            "decode",
            state.to_str().unwrap(),
            "-o",
            json.to_str().unwrap(),
        ]);
        assert!(o.status.success());
        let mut v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&json, serde_json::to_vec(&v).unwrap()).unwrap();
        let out = dir.join(name);
        let o = snaptool(&[
            "encode",
            json.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    }

    fn cpuid_entries(v: &mut Value) -> Vec<&mut Value> {
        v["vcpus"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .flat_map(|c| c["cpuid"].as_array_mut().unwrap().iter_mut())
            .collect()
    }

    /// A snapshot made here by `snaptool run` restores here: exit 0, no findings; the host's
    /// TSC rate the library reports is the one the snapshot recorded.
    #[test]
    fn runner_snapshot_is_clean_here() {
        if !kvm_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let state = runner_snapshot(dir.path());
        let (code, v) = check_json(&state);
        assert_eq!(code, 0, "{v:#}");
        assert_eq!(v["clean"], true);
        assert_eq!(v["restorable"], true);
        let host = hostcheck::host_tsc_khz().unwrap();
        let j = dir.path().join("h.json");
        let o = snaptool(&["decode", state.to_str().unwrap(), "-o", j.to_str().unwrap()]);
        assert!(o.status.success());
        let m: Value = serde_json::from_slice(&std::fs::read(&j).unwrap()).unwrap();
        assert_eq!(m["vcpus"][0]["tsc_khz"].as_u64(), Some(u64::from(host)));
        assert_eq!(v["host"]["tsc_khz"].as_u64(), Some(u64::from(host)));
    }

    /// Every Firecracker x86_64 fixture: check-host runs (exit 0 or 1, never 2), and reports a
    /// TSC finding exactly when the fixture's rate is more than 250 ppm away from this host's
    /// (the shared `counter-*` fixtures record 2445428 kHz, the `counter-devices-*` ones
    /// 2596134 kHz; the test follows whatever this host runs at).
    #[test]
    fn fixtures_tsc_verdict_follows_the_host_rate() {
        if !kvm_available() {
            return;
        }
        let host = u64::from(hostcheck::host_tsc_khz().unwrap());
        let mut seen = 0;
        for p in real_states() {
            let r = rel(&p);
            if !r.starts_with("fixtures/firecracker-") {
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            let model = snaptool::formats::firecracker::read(&bytes)
                .unwrap()
                .to_model();
            let Some(snaptool::model::Vcpu::X86_64(v)) = model.vcpus.first() else {
                continue;
            };
            let (code, j) = check_json(&p);
            assert!(code == 0 || code == 1, "{r}: exit {code}");
            assert_eq!(code == 0, j["clean"] == true, "{r}");
            let tsc: Vec<_> = findings(&j)
                .into_iter()
                .filter(|f| f.0.contains("tsc"))
                .collect();
            let differs = v.tsc_khz.is_some_and(|k| {
                let k = u64::from(k);
                k.abs_diff(host) * 1_000_000 > k * 250
            });
            assert_eq!(!tsc.is_empty(), differs, "{r}: {tsc:?} (host {host} kHz)");
            if differs {
                assert_eq!(code, 1, "{r}");
                let want = if v.tsc_khz.map(u64::from) < Some(host) {
                    "tsc-rate-below-host"
                } else {
                    "tsc-rate-above-host"
                };
                if j["host"]["tsc_control"] == false {
                    assert_eq!(tsc[0].0, want, "{r}");
                    assert!(tsc[0].2.contains("tsc_khz=host"), "{r}: {}", tsc[0].2);
                }
            }
            seen += 1;
        }
        assert!(seen >= 5, "only {seen} fixtures checked");
    }

    /// `--mem` shorter than the regions: an error finding naming the file; a file that is
    /// long enough adds nothing. An unreadable snapshot: exit 2.
    #[test]
    fn memory_file_given_with_mem() {
        if !kvm_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let state = runner_snapshot(dir.path());
        let mem = state.with_file_name("mem");
        let short = dir.path().join("short");
        std::fs::write(&short, [0u8; 4096]).unwrap();
        let o = snaptool(&[
            "check-host",
            state.to_str().unwrap(),
            "--mem",
            short.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("error[memory-file-size]") && text.contains("short is 4096 bytes"),
            "{text}"
        );
        let o = snaptool(&[
            "check-host",
            state.to_str().unwrap(),
            "--mem",
            mem.to_str().unwrap(),
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
        let o = snaptool(&[
            "check-host",
            "fixtures/malformed/fc-6.0.0-bad-magic.vmstate",
        ]);
        assert_eq!(o.status.code(), Some(2));
    }

    /// decode → set every bit of CPUID leaf 7.0 EBX → encode: every bit the guest did not see
    /// before and this host's KVM does not offer is flagged by leaf, subleaf, register, bit and
    /// name, exit 1; no bit the snapshot already had (this host offered it) is flagged.
    #[test]
    fn cpuid_leaf7_edit_is_flagged() {
        if !kvm_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let state = runner_snapshot(dir.path());
        let before = std::cell::Cell::new(None);
        let out = edit_json(dir.path(), &state, "feat", |v| {
            for e in cpuid_entries(v) {
                if e["function"] == 7 && e["index"] == 0 {
                    if before.get().is_none() {
                        before.set(Some(e["ebx"].as_u64().unwrap() as u32));
                    }
                    e["ebx"] = 0xffff_ffffu32.into();
                }
            }
        });
        let before = before
            .get()
            .expect("the runner's snapshot has CPUID leaf 0x7.0");
        assert_ne!(before, u32::MAX, "every leaf 0x7.0 EBX bit already set");
        let (code, j) = check_json(&out);
        assert_eq!(code, 1, "{j:#}");
        let f = findings(&j);
        assert!(!f.is_empty(), "{j:#}");
        for (code, path, message) in &f {
            assert_eq!(code, "cpuid-feature-missing", "{f:?}");
            let bit: u32 = path
                .strip_prefix("vcpus[0].cpuid[0x7.0].ebx[")
                .and_then(|p| p.strip_suffix(']'))
                .and_then(|b| b.parse().ok())
                .unwrap_or_else(|| panic!("not a leaf 0x7.0 EBX bit: {path}"));
            assert_eq!(before >> bit & 1, 0, "bit {bit} was in the snapshot: {f:?}");
            let head = format!("CPUID leaf 0x7 subleaf 0 EBX bit {bit} (");
            assert!(message.starts_with(&head), "{message}");
        }
        // Bits with a well-known name are named (AVX-512F is bit 16, SGX bit 2).
        for (bit, name) in [(2, "sgx"), (16, "avx512f")] {
            if let Some(x) = f.iter().find(|x| x.1.ends_with(&format!("ebx[{bit}]"))) {
                assert!(x.2.contains(&format!("bit {bit} ({name})")), "{}", x.2);
            }
        }
        // The text report names the leaf too.
        let o = snaptool(&["check-host", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("CPUID leaf 0x7 subleaf 0 EBX bit"), "{text}");
    }

    /// decode → change the vendor string → encode: a vendor mismatch.
    #[test]
    fn vendor_edit_is_flagged() {
        if !kvm_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let state = runner_snapshot(dir.path());
        let out = edit_json(dir.path(), &state, "vendor", |v| {
            for e in cpuid_entries(v) {
                if e["function"] == 0 {
                    let intel = e["ebx"] == u32::from_le_bytes(*b"Genu");
                    let name: &[u8; 12] = if intel {
                        b"AuthenticAMD"
                    } else {
                        b"GenuineIntel"
                    };
                    let w = |i: usize| u32::from_le_bytes(name[i..i + 4].try_into().unwrap());
                    e["ebx"] = w(0).into();
                    e["edx"] = w(4).into();
                    e["ecx"] = w(8).into();
                }
            }
        });
        let (code, j) = check_json(&out);
        assert_eq!(code, 1, "{j:#}");
        let f = findings(&j);
        assert!(
            f.iter()
                .any(|f| f.0 == "cpu-vendor-mismatch" && f.1 == "vcpus[0].cpuid[0x0]"),
            "{f:?}"
        );
    }

    /// `restore` runs the same checks first and prints them; it refuses only when asked.
    #[test]
    fn restore_prints_host_findings_and_refuses_on_request() {
        if !kvm_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let state = runner_snapshot(dir.path());
        let mem = state.with_file_name("mem");
        let out = edit_json(dir.path(), &state, "feat", |v| {
            for e in cpuid_entries(v) {
                if e["function"] == 7 && e["index"] == 0 {
                    e["ebx"] = 0xffff_ffffu32.into();
                }
            }
        });
        let args = |extra: &'static str| {
            let mut a = vec![
                "restore".to_string(),
                out.display().to_string(),
                "--mem".into(),
                mem.display().to_string(),
                "--lines".into(),
                "2".into(),
                "--timeout".into(),
                "30".into(),
            ];
            if !extra.is_empty() {
                a.push(extra.into());
            }
            a
        };
        let run = |a: Vec<String>| {
            Command::new(env!("CARGO_BIN_EXE_snaptool"))
                .args(a)
                .output()
                .unwrap()
        };
        let o = run(args(""));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("snaptool: check-host:") && err.contains("cpuid-feature-missing"),
            "{err}"
        );
        let o = run(args("--refuse-host-mismatch"));
        assert_eq!(o.status.code(), Some(1));
        assert!(o.stdout.is_empty(), "the guest must not have run");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("refused"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
