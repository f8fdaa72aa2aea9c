//! Unit tests of the squib reader, writer and model conversion.

use super::wire::*;
use super::*;
use crate::model::{Aarch64Reg, Vcpu, core_ids};

/// A state like the ones squib writes: 2 vCPUs, curated sysregs, a device, MMDS, a GIC blob.
pub(super) fn sample() -> MicrovmState {
    let vcpu = |n: u64| {
        let mut regs = GpRegs::default();
        for (i, x) in regs.x.iter_mut().enumerate() {
            *x = 0x1000 * n + i as u64;
        }
        regs.sp = 0xffff_8000_0010_0000 + n;
        regs.pc = 0xffff_8000_0801_0000 + n;
        regs.pstate = 0x3c5;
        let mut fp_regs = FpSimdRegs::default();
        for (i, q) in fp_regs.v.iter_mut().enumerate() {
            *q = [i as u64, u64::MAX - i as u64];
        }
        fp_regs.fpsr = 0x0800_0010;
        fp_regs.fpcr = 0x0300_0000;
        let sys = vec![
            (1, 0x30d0_5199),
            (2, 0x4100_0000),
            (7, regs.sp),
            (8, 0xffff_8000_0800_1234),
            (9, 0x3c5),
            (18, 0x8000_0000 | n),
            (19, 1),
            (20, 0x1234_5678),
            (21, 0x77),
            (42, fp_regs.fpcr),
            (43, fp_regs.fpsr),
        ];
        VcpuState {
            mpidr: 0x8000_0000 | n,
            regs,
            fp_regs,
            sys_regs: SysRegs(sys),
            psci_state: if n == 0 {
                PsciVcpuState::On
            } else {
                PsciVcpuState::Off
            },
        }
    };
    MicrovmState {
        vm_info: VmInfo {
            mem_size_mib: 128,
            smt: false,
            cpu_template: String::new(),
            kernel_image_path: "/k/vmlinux".into(),
            initrd_path: None,
            boot_args: "console=ttyAMA0".into(),
            track_dirty_pages: true,
        },
        vcpu_states: vec![vcpu(0), vcpu(1)],
        device_states: DeviceStates {
            devices: vec![
                DeviceState {
                    kind: "virtio-rng".into(),
                    id: "rng0".into(),
                    mmio_slot: 0,
                    blob: vec![],
                },
                DeviceState {
                    kind: "virtio-block".into(),
                    id: "rootfs".into(),
                    mmio_slot: 1,
                    blob: vec![1, 2, 3, 4, 5],
                },
            ],
        },
        gic_state: GicState {
            len: 48,
            bytes: (0..48).collect(),
        },
        mmds_state: Some(MmdsState {
            data_json: r#"{"latest":{"meta-data":{"id":"x"}}}"#.into(),
            token_ttl_seconds: Some(60),
        }),
    }
}

pub(super) fn file(state: MicrovmState) -> SquibFile {
    SquibFile {
        magic: MAGIC,
        version: VERSION.into(),
        state,
        crc: 0,
    }
}

#[test]
fn crc_is_jones() {
    assert_eq!(crate::envelope::crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
}

#[test]
fn header_and_trailer_bytes() {
    let bytes = write(&file(sample()));
    // 00 (full u64) | magic LE | 05 | "5.0.0"
    assert_eq!(
        &bytes[..15],
        &[
            0x00, 0x00, 0x00, 0xaa, 0xaa, 0x84, 0x19, 0x10, 0x07, 0x05, b'5', b'.', b'0', b'.',
            b'0'
        ]
    );
    let body = &bytes[..bytes.len() - 8];
    assert_eq!(
        &bytes[bytes.len() - 8..],
        &crate::envelope::crc64(body).to_le_bytes()
    );
    // squib's loader trick: the CRC of the whole file is 0.
    assert_eq!(crate::envelope::crc64(&bytes), 0);
    let f = read(&bytes).unwrap();
    assert_eq!(f.state, sample());
    assert_eq!(write(&f), bytes);
    assert!(sniff(&bytes[..32]));
    let r = recognize(&bytes).unwrap();
    assert_eq!((r.family, r.magic_offset), (Family::Squib, 1));
    assert!(
        verify(&bytes, None).is_empty(),
        "{:#?}",
        verify(&bytes, None)
    );
}

#[test]
fn a_firecracker_bincode_5_0_0_header_is_not_squib() {
    // Firecracker v1.11.0: magic (u64 LE) | length (u64 LE) | "5.0.0" | state ...
    let mut h = MAGIC.to_le_bytes().to_vec();
    h.extend_from_slice(&5u64.to_le_bytes());
    h.extend_from_slice(b"5.0.0");
    h.extend_from_slice(&[0; 16]);
    let r = recognize(&h).unwrap();
    assert_eq!(r.family, Family::Firecracker);
    assert_eq!(r.era, Era::Bincode);
    assert_eq!(r.magic_offset, 0);
    assert!(r.explanation.contains("v1.11.0"), "{}", r.explanation);
    assert!(!sniff(&h));
    // and reading it as squib says so
    let sealed = envelope::seal(h);
    let e = read(&sealed).unwrap_err();
    assert!(e.to_string().contains("read it as Firecracker"), "{e}");
}

#[test]
fn loader_rules_in_order() {
    let good = write(&file(sample()));
    // size cap: whole file, decimal
    let big = vec![0u8; SIZE_LIMIT as usize + 1];
    assert!(matches!(read(&big), Err(ReadError::TooLarge { .. })));
    assert!(matches!(
        read(&good[..7]),
        Err(ReadError::TooShort { len: 7 })
    ));
    // CRC before anything else
    let mut bad = good.clone();
    bad[20] ^= 1;
    let e = read(&bad).unwrap_err();
    assert!(
        matches!(e, ReadError::Crc { offset, .. } if offset == good.len() - 8),
        "{e}"
    );
    assert!(e.to_string().contains("offset 0x"), "{e}");
    // without the CRC check the flipped byte is a decode or value change, never a panic
    let _ = read_with(&bad, ReadOptions { check_crc: false });
    // magic
    let mut f = file(sample());
    f.magic = crate::envelope::MAGIC_X86_64;
    let e = read(&write(&f)).unwrap_err();
    assert!(
        matches!(e, ReadError::Magic { offset: Some(1), found } if found == f.magic),
        "{e}"
    );
    // versions
    for (v, ok) in [
        ("5.0.0", true),
        ("5.0.9", true),
        ("5.0.0-rc.1+b7", true),
        ("5.1.0", false),
        ("4.0.0", false),
        ("6.0.0", false),
        ("05.0.0", false),
        ("5.0", false),
        ("5.0.0-01", false),
        ("5.0.0+", false),
    ] {
        let mut f = file(sample());
        f.version = v.into();
        let r = read(&write(&f));
        assert_eq!(r.is_ok(), ok, "{v}: {r:?}");
        if let Err(e) = r {
            assert!(
                matches!(
                    e,
                    ReadError::Version {
                        offset: Some(10),
                        ..
                    }
                ),
                "{v}: {e}"
            );
        }
    }
}

#[test]
fn each_verify_compatible_rule() {
    type Edit = fn(&mut MicrovmState);
    let cases: Vec<(Edit, &str)> = vec![
        (|s| s.vcpu_states.clear(), "vcpu_count"),
        (
            |s| {
                let v = s.vcpu_states[0].clone();
                s.vcpu_states = vec![v; 33];
            },
            "vcpu_count",
        ),
        (|s| s.vm_info.smt = true, "smt"),
        (
            |s| {
                s.gic_state = GicState::default();
            },
            "gic_empty",
        ),
        (|s| s.gic_state.len = 47, "gic_len"),
    ];
    for (edit, code) in cases {
        let mut s = sample();
        edit(&mut s);
        let bytes = write(&file(s));
        assert!(
            read(&bytes).is_ok(),
            "{code}: read applies only the envelope rules"
        );
        assert!(
            matches!(load(&bytes), Err(ReadError::Incompatible(_))),
            "{code}"
        );
        let found = verify(&bytes, None);
        assert!(found.iter().any(|f| f.code == code), "{code}: {found:#?}");
        // and still exact through the model
        let f = read(&bytes).unwrap();
        let (g, _) = from_model(&f.to_model(), None, &FromModelOptions::default()).unwrap();
        assert_eq!(write(&g), bytes, "{code}");
    }
    // 32 vCPUs are fine
    let mut s = sample();
    let v = s.vcpu_states[0].clone();
    s.vcpu_states = vec![v; 32];
    assert!(load(&write(&file(s))).is_ok());
}

#[test]
fn native_round_trip_through_the_model() {
    let f = file(sample());
    let bytes = write(&f);
    let m = read(&bytes).unwrap().to_model();
    assert_eq!(m.provenance.layout, LAYOUT_ID);
    assert_eq!(m.vcpus.len(), 2);
    let Vcpu::Aarch64(v) = &m.vcpus[0] else {
        panic!()
    };
    let c = v.core.as_ref().unwrap();
    assert_eq!(c.pc, 0xffff_8000_0801_0000);
    assert_eq!(v.sys_regs["SCTLR_EL1"], 0x30d0_5199);
    assert_eq!(v.sys_regs["CNTVOFF_EL2"], 0x77);
    assert_eq!(v.psci_state.as_deref(), Some("on"));
    assert_eq!(m.memory.regions[0].guest_addr, DRAM_BASE);
    assert_eq!(m.memory.regions[0].size, 128 << 20);
    assert_eq!(m.memory.page_size, PAGE_SIZE);
    assert_eq!(m.devices.len(), 3, "two devices and MMDS");
    let (g, notes) = from_model(&m, None, &FromModelOptions::default()).unwrap();
    assert_eq!(write(&g), bytes, "{notes:?}");
    assert!(g.carry().is_none(), "{notes:?}");
    // the model converts to a KVM list with the documented ids
    let kvm = v.kvm_regs();
    let get = |id| kvm.iter().find(|r| r.id == id).map(|r| r.value.0.clone());
    assert_eq!(get(core_ids::PC), Some(c.pc.to_le_bytes().to_vec()));
    assert_eq!(get(core_ids::SP_EL1), Some(c.sp.to_le_bytes().to_vec()));
    assert_eq!(
        get(crate::model::named_reg("CNTV_CVAL_EL0").unwrap().id),
        Some(0x1234_5678u64.to_le_bytes().to_vec())
    );
}

#[test]
fn odd_states_round_trip() {
    let mut s = sample();
    // unknown keys, unsorted and duplicate keys, inconsistent GIC length, no MMDS, odd strings
    s.vcpu_states[0].sys_regs.0.push((99, 5));
    s.vcpu_states[0].sys_regs.0.push((0, 6));
    s.vcpu_states[1].sys_regs.0.insert(0, (43, 1));
    s.vcpu_states[1].sys_regs.0.push((43, 2));
    s.gic_state.len = 3;
    s.mmds_state = None;
    s.vm_info.cpu_template = "None".into();
    s.vm_info.kernel_image_path = String::new();
    s.vm_info.boot_args = String::new();
    s.device_states.devices.push(DeviceState {
        kind: "virtio-weird".into(),
        id: "w".into(),
        mmio_slot: 4000,
        blob: vec![9; 3],
    });
    let bytes = write(&file(s));
    let codes: Vec<_> = verify(&bytes, None).iter().map(|f| f.code).collect();
    assert!(codes.contains(&"sysreg_unknown"), "{codes:?}");
    assert!(codes.contains(&"sysreg_order"), "{codes:?}");
    assert!(codes.contains(&"gic_len"), "{codes:?}");
    let m = read(&bytes).unwrap().to_model();
    let (g, notes) = from_model(&m, None, &FromModelOptions::default()).unwrap();
    assert_eq!(write(&g), bytes, "{notes:?}");
    assert!(g.carry().is_none());
}

#[test]
fn truncated_and_damaged_input_never_panics() {
    let bytes = write(&file(sample()));
    for n in 0..bytes.len() {
        let _ = read_with(&bytes[..n], ReadOptions { check_crc: false });
        let _ = verify(&envelope::seal(bytes[..n].to_vec()), None);
    }
    for i in (0..bytes.len() - 8).step_by(3) {
        for bit in [1u8, 0x80] {
            let mut b = bytes[..bytes.len() - 8].to_vec();
            b[i] ^= bit;
            let b = envelope::seal(b);
            if let Ok(f) = read(&b) {
                let m = f.to_model();
                let _ = from_model(&m, None, &FromModelOptions::default());
            }
            let _ = verify(&b, None);
        }
    }
}

fn kvm_model() -> crate::model::Snapshot {
    // A KVM-shaped aarch64 model: a register list (with SP_EL0, which squib has no slot for),
    // no core registers.
    let m = read(&write(&file(sample()))).unwrap().to_model();
    let mut m = m;
    m.provenance.format = "firecracker".into();
    m.provenance.layout = "firecracker-10.0.0".into();
    for v in &mut m.vcpus {
        let Vcpu::Aarch64(v) = v else { panic!() };
        let mut regs = v.kvm_regs();
        regs.insert(
            31,
            Aarch64Reg {
                id: core_ids::SP_EL0,
                value: 0x4000u64.to_le_bytes().to_vec().into(),
            },
        );
        regs.push(Aarch64Reg {
            id: 0x6030_0000_0014_0000, // a KVM firmware pseudo-register
            value: 1u64.to_le_bytes().to_vec().into(),
        });
        v.regs = regs;
        v.core = None;
        v.sys_regs.clear();
        v.mp_state = Some(0);
        v.psci_state = None;
    }
    m
}

#[test]
fn kvm_shaped_models_travel_in_the_carry_and_native_fields_win() {
    let m = kvm_model();
    let (f, notes) = from_model(&m, None, &FromModelOptions::default()).unwrap();
    assert!(f.carry().is_some_and(|c| c.is_ok()), "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("carried in the snaptool blob")),
        "{notes:?}"
    );
    let bytes = write(&f);
    let back = read(&bytes).unwrap();
    let mut m2 = back.to_model();
    m2.provenance = m.provenance.clone();
    assert_eq!(m2, m, "unedited: the model comes back exactly");
    // squib → model → squib is exact for these files too
    let (g, _) = from_model(&back.to_model(), None, &FromModelOptions::default()).unwrap();
    assert_eq!(write(&g), bytes);
    // native values were filled from the KVM list
    assert_eq!(f.state.vcpu_states[0].regs.pc, 0xffff_8000_0801_0000);
    assert_eq!(
        f.state.vcpu_states[0].sys_regs.get(7),
        Some(0xffff_8000_0010_0000)
    );
    // edit squib's fields: pc, x3, SP_EL1 (sys 7), CNTV_CVAL (sys 20), and add TPIDR_EL0 (38)
    let mut e = back.clone();
    let v = &mut e.state.vcpu_states[0];
    v.regs.pc = 0x1234;
    v.regs.x[3] = 0x33;
    v.sys_regs.0.retain(|(k, _)| *k != 7);
    v.sys_regs.0.push((7, 0x7777));
    v.sys_regs.0.sort();
    v.sys_regs.0.retain(|(k, _)| *k != 20);
    v.sys_regs.0.push((38, 0x3838));
    v.sys_regs.0.sort();
    let m3 = read(&write(&e)).unwrap().to_model();
    let Vcpu::Aarch64(v3) = &m3.vcpus[0] else {
        panic!()
    };
    let get = |id| {
        v3.regs
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.value.0.clone())
    };
    assert_eq!(get(core_ids::PC), Some(0x1234u64.to_le_bytes().to_vec()));
    assert_eq!(get(core_ids::x(3)), Some(0x33u64.to_le_bytes().to_vec()));
    assert_eq!(
        get(core_ids::SP_EL1),
        Some(0x7777u64.to_le_bytes().to_vec())
    );
    assert_eq!(
        get(crate::model::named_reg("CNTV_CVAL_EL0").unwrap().id),
        None
    );
    assert_eq!(
        get(core_ids::SP_EL0),
        Some(0x4000u64.to_le_bytes().to_vec())
    );
    assert_eq!(v3.sys_regs.get("TPIDR_EL0"), Some(&0x3838));
    // vCPU 1 untouched
    assert_eq!(m3.vcpus[1], m.vcpus[1]);
}

#[test]
fn x86_models_are_refused() {
    let mut m = kvm_model();
    m.provenance.arch = crate::model::Arch::X86_64;
    assert!(matches!(
        from_model(&m, None, &FromModelOptions::default()),
        Err(WriteError::Arch(_))
    ));
}

#[test]
fn gic_placeholder() {
    let mut m = kvm_model();
    if let crate::model::Platform::Aarch64(p) = &mut m.platform {
        p.opaque_gic = None;
        p.gic = Some(Default::default());
    }
    let (f, notes) = from_model(&m, None, &FromModelOptions::default()).unwrap();
    assert!(f.state.gic_state.bytes.is_empty());
    assert!(notes.iter().any(|n| n.contains("KVM vGIC")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("will refuse")), "{notes:?}");
    let (f, _) = from_model(
        &m,
        None,
        &FromModelOptions {
            placeholder_gic: true,
        },
    )
    .unwrap();
    assert_eq!(f.state.gic_state.bytes, PLACEHOLDER_GIC);
    let bytes = write(&f);
    assert!(load(&bytes).is_ok());
    let mut m2 = read(&bytes).unwrap().to_model();
    m2.provenance = m.provenance.clone();
    // The model remembers the placeholder, so that writing it again writes the same file.
    assert!(
        m2.extensions
            .remove(super::convert::EXT_GIC_PLACEHOLDER)
            .is_some()
    );
    assert_eq!(m2, m);
    let mut m3 = read(&bytes).unwrap().to_model();
    m3.provenance = m.provenance.clone();
    let (again, _) = from_model(&m3, None, &FromModelOptions::default()).unwrap();
    assert_eq!(write(&again), bytes);
}

#[test]
fn broken_carry_is_a_finding_and_round_trips() {
    let (mut f, _) = from_model(&kvm_model(), None, &FromModelOptions::default()).unwrap();
    let d = f.state.device_states.devices.last_mut().unwrap();
    d.blob.truncate(10);
    let bytes = write(&f);
    let found = verify(&bytes, None);
    assert!(found.iter().any(|x| x.code == "carry_blob"), "{found:#?}");
    let m = read(&bytes).unwrap().to_model();
    let (g, _) = from_model(&m, None, &FromModelOptions::default()).unwrap();
    assert_eq!(write(&g), bytes);
}

#[test]
fn semver_grammar() {
    assert_eq!(parse_semver("5.0.0"), Some((5, 0, 0)));
    assert_eq!(parse_semver("5.0.0-alpha.1-x+build.007"), Some((5, 0, 0)));
    for bad in [
        "",
        "5",
        "5.0",
        "5.0.0.0",
        "v5.0.0",
        "5.00.0",
        "5.0.0-",
        "5.0.0-a..b",
        "5.0.0-01",
        "5.0.0+a+b",
        "5.0.0 ",
        "18446744073709551616.0.0",
    ] {
        assert_eq!(parse_semver(bad), None, "{bad:?}");
    }
}

#[test]
fn hostile_counts_are_refused_before_decoding() {
    // 2 bits of input per sys_regs pair, 4 per device: without bounds 10 MB would decode into
    // gigabytes.
    let mut s = MicrovmState {
        vcpu_states: vec![VcpuState::default(); 2],
        ..Default::default()
    };
    s.vcpu_states[1].sys_regs.0 = vec![(0, 0); 1 << 20];
    let e = read(&write(&file(s))).unwrap_err();
    assert!(e.to_string().contains("sys_regs declare 1048576"), "{e}");
    let s = MicrovmState {
        device_states: DeviceStates {
            devices: vec![DeviceState::default(); 1 << 20],
        },
        ..Default::default()
    };
    let e = read(&write(&file(s))).unwrap_err();
    assert!(e.to_string().contains("1048576 device states"), "{e}");
    let s = MicrovmState {
        vcpu_states: vec![VcpuState::default(); 5000],
        ..Default::default()
    };
    let e = read(&write(&file(s))).unwrap_err();
    assert!(e.to_string().contains("5000 vCPU states"), "{e}");
    // within the bounds, fine; the first pass sees every vCPU's sys_regs
    let b = write(&file(sample()));
    assert_eq!(
        super::wire::prefix::sys_regs_total(&b[..b.len() - 8]),
        Some(22)
    );
    let mut s = sample();
    s.vcpu_states = vec![s.vcpu_states[0].clone(); 1024];
    assert!(read(&write(&file(s))).is_ok());
}
