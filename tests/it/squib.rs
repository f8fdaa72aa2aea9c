//! squib state files: Firecracker aarch64 states through squib and back byte for byte, squib's
//! own writer and loader (squib-snapshot 0.2.0) as reference producer and consumer, and the
//! memory file.

use crate::root;
use crate::synthetic::{arm_header, block10, real};
use snaptool::formats::firecracker::{self as fc, State, v6, v10, wire::Blob};
use snaptool::formats::squib::{self as sq, FromModelOptions};
use snaptool::memory::{self, MemoryImage};
use snaptool::model::{Aarch64Reg, Vcpu, core_ids, named_reg};
use std::collections::BTreeMap;
use std::path::Path;

/// A KVM register list like Firecracker saves on aarch64: core registers (SP_EL0 included, which
/// squib has no slot for), the five SPSRs, V0–V31, FPSR/FPCR, firmware pseudo-registers and
/// system registers in id order, some squib knows and some it does not (the KVM timer count).
fn kvm_list(n: u64) -> (Vec<u64>, Vec<u8>) {
    let mut ids = Vec::new();
    let mut data = Vec::new();
    let mut push = |id: u64, v: u128| {
        let size = Aarch64Reg::declared_size(id) as usize;
        ids.push(id);
        data.extend_from_slice(&v.to_le_bytes()[..size]);
    };
    for i in 0..31 {
        push(core_ids::x(i), u128::from(0x100 * n + i));
    }
    push(core_ids::SP_EL0, 0x4000_0000 + u128::from(n));
    push(core_ids::PC, 0xffff_8000_0801_2000 + u128::from(n));
    push(core_ids::PSTATE, 0x3c5);
    push(core_ids::SP_EL1, 0xffff_8000_0a00_0000 + u128::from(n));
    push(core_ids::ELR_EL1, 0xffff_8000_0800_0ffc);
    for k in 0..5 {
        push(core_ids::SPSR_EL1 + 2 * k, 0x3c0 + u128::from(k));
    }
    for i in 0..32 {
        push(core_ids::v(i), (u128::from(i) << 64) | 0xabcd);
    }
    push(core_ids::FPSR, 0x1000_0000);
    push(core_ids::FPCR, 0x0300_0000);
    for fw in 0..3 {
        push(0x6030_0000_0014_0000 + fw, 1 + u128::from(fw));
    }
    let mut sys: Vec<(u64, u128)> = [
        ("SCTLR_EL1", 0x30d0_5199u128),
        ("TTBR0_EL1", 0x4100_0000),
        ("TTBR1_EL1", 0x4200_0000),
        ("TCR_EL1", 0x35_b510_3510),
        ("MAIR_EL1", 0x00ff_440c_0400),
        ("VBAR_EL1", 0xffff_8000_0801_0800),
        ("CPACR_EL1", 0x30_0000),
        ("CNTKCTL_EL1", 0xd6),
        ("TPIDR_EL1", 0xffff_0000_1234_0000),
        ("MPIDR_EL1", 0x8000_0000 | u128::from(n)),
        ("CNTV_CTL_EL0", 1),
        ("CNTV_CVAL_EL0", 0x9_9999),
        ("PMCR_EL0", 0x4100_3000),
    ]
    .iter()
    .map(|(name, v)| (named_reg(name).unwrap().id, *v))
    .collect();
    sys.push((0x6030_0000_0013_df1a, 0x1_0000)); // KVM_REG_ARM_TIMER_CNT: no squib slot
    sys.push((0x6030_0000_0013_c101, 7)); // ACTLR_EL1 (3,0,1,0,1): no squib slot
    sys.sort_by_key(|s| s.0);
    for (id, v) in sys {
        push(id, v);
    }
    (ids, data)
}

fn fc_v10_aarch64() -> fc::FcFile {
    use v10::aarch64::*;
    let base = real("fixtures/firecracker-1.16.1/counter-1vcpu/vmstate");
    let State::V10X86(x) = &base.state else {
        panic!()
    };
    let gic_regs = |v: Vec<u32>| GicRegState { chunks: v };
    let vcpu = |n: u64| VcpuState {
        mp_state: Blob(vec![if n == 0 { 0 } else { 1 }, 0, 0, 0]),
        regs: kvm_list(n),
        mpidr: 0x8000_0000 | n,
        kvi: Blob({
            let mut k = vec![0u8; 32];
            k[0] = 5;
            k[4] = if n == 0 { 0x14 } else { 0x15 };
            k
        }),
        pvtime_ipa: Some(0x4000_0000 + 0x40 * n),
    };
    let gic_vcpu = || GicVcpuState {
        rdist: vec![gic_regs(vec![4, 5])],
        icc: VgicSysRegsState {
            main_icc_regs: vec![GicRegState {
                chunks: vec![5u64, 6],
            }],
            ap_icc_regs: vec![None, Some(GicRegState { chunks: vec![7u64] })],
        },
    };
    let legacy = |type_, addr| ConnectedLegacyState {
        type_,
        device_info: v10::devices::MmioDeviceInfo {
            addr,
            len: 0x1000,
            gsi: Some(33),
        },
    };
    let state = MicrovmState {
        vm_info: VmInfo {
            mem_size_mib: 64,
            smt: false,
            cpu_template: StaticCpuTemplate::V1N1,
            boot_source: x.vm_info.boot_source.clone(),
            huge_pages: v10::devices::HugePageConfig::None,
        },
        kvm_state: x.kvm_state.clone(),
        vm_state: VmState {
            memory: v10::devices::GuestMemoryState {
                regions: vec![v10::devices::GuestMemoryRegionState {
                    base_address: 0x8000_0000,
                    size: 64 << 20,
                    region_type: v10::devices::GuestRegionType::Dram,
                    plugged: vec![true],
                }],
            },
            gic: GicState {
                dist: vec![gic_regs(vec![1, 2, 3])],
                gic_vcpu_states: vec![gic_vcpu(), gic_vcpu()],
                its_state: Some(ItsRegisterState {
                    iidr: 1,
                    cbaser: 2,
                    creadr: 3,
                    cwriter: 4,
                    baser: [5; 8],
                    ctlr: 6,
                }),
            },
            resource_allocator: x.vm_state.resource_allocator.clone(),
        },
        vcpu_states: vec![vcpu(0), vcpu(1)],
        device_states: DevicesState {
            mmio_state: DeviceStates {
                legacy_devices: vec![
                    legacy(DeviceType::Serial, 0x4000_2000),
                    legacy(DeviceType::Rtc, 0x4000_3000),
                ],
                block_devices: vec![block10(256)],
                net_devices: vec![],
                vsock_device: None,
                balloon_device: None,
                mmds: None,
                entropy_device: None,
                pmem_devices: vec![],
                memory_device: None,
            },
            acpi_state: x.device_states.acpi_state.clone(),
            pci_state: x.device_states.pci_state.clone(),
            serial_state: x.device_states.serial_state.clone(),
        },
    };
    let mut f = base.clone();
    f.state = State::V10Aarch64(Box::new(state));
    arm_header(&mut f);
    f
}

fn fc_v6_aarch64() -> fc::FcFile {
    use v6::aarch64::*;
    let base = real("fixtures/firecracker-1.12.1/counter-1vcpu/vmstate");
    let State::V6X86(x) = &base.state else {
        panic!()
    };
    let state = MicrovmState {
        vm_info: VmInfo {
            mem_size_mib: 64,
            smt: false,
            cpu_template: StaticCpuTemplate::None,
            boot_source: x.vm_info.boot_source.clone(),
            huge_pages: v6::devices::HugePageConfig::None,
        },
        kvm_state: x.kvm_state.clone(),
        vm_state: VmState {
            memory: v6::devices::GuestMemoryState {
                regions: vec![v6::devices::GuestMemoryRegionState {
                    base_address: 0x8000_0000,
                    size: 64 << 20,
                }],
            },
            gic: GicState {
                dist: vec![GicRegState { chunks: vec![9u32] }],
                gic_vcpu_states: vec![GicVcpuState {
                    rdist: vec![],
                    icc: VgicSysRegsState {
                        main_icc_regs: vec![],
                        ap_icc_regs: vec![],
                    },
                }],
            },
        },
        vcpu_states: vec![VcpuState {
            mp_state: Blob(vec![0; 4]),
            regs: kvm_list(0),
            mpidr: 0x8000_0000,
            kvi: Blob(vec![0; 32]),
        }],
        device_states: DeviceStates {
            legacy_devices: vec![],
            block_devices: vec![],
            net_devices: vec![],
            vsock_device: None,
            balloon_device: None,
            mmds_version: None,
            entropy_device: None,
        },
        acpi_dev_state: x.acpi_dev_state.clone(),
    };
    let mut f = base.clone();
    f.state = State::V6Aarch64(Box::new(state));
    arm_header(&mut f);
    f
}

/// Firecracker bytes → model → squib → bytes → model → Firecracker: byte-identical.
fn through_squib(f: &fc::FcFile, mem: Option<&dyn MemoryImage>) -> (sq::SquibFile, Vec<String>) {
    let bytes = fc::write(f).unwrap();
    let src = fc::read(&bytes).unwrap();
    let m = src.to_model();
    let (x, notes) = sq::from_model(&m, mem, &FromModelOptions::default()).unwrap();
    let sbytes = sq::write(&x);
    assert!(sq::sniff(&sbytes));
    let back = sq::read(&sbytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.state, x.state);
    let m2 = back.to_model();
    let again = fc::from_model(&m2, src.state.layout()).unwrap();
    assert!(
        fc::write(&again).unwrap() == bytes,
        "Firecracker bytes differ after squib; notes: {notes:#?}"
    );
    // and squib → model → squib is exact for such files too
    let (y, _) = sq::from_model(&m2, None, &FromModelOptions::default()).unwrap();
    assert!(
        sq::write(&y) == sbytes,
        "squib bytes differ after the model"
    );
    (back, notes)
}

#[test]
fn firecracker_10_aarch64_through_squib_is_byte_identical() {
    let f = fc_v10_aarch64();
    let (s, notes) = through_squib(&f, None);
    // the native fields hold what squib can
    let v = &s.state.vcpu_states[1];
    assert_eq!(v.mpidr, 0x8000_0001);
    assert_eq!(v.regs.x[30], 0x100 + 30);
    assert_eq!(v.regs.pc, 0xffff_8000_0801_2001);
    assert_eq!(v.regs.sp, 0xffff_8000_0a00_0001, "GpRegs.sp is SP_EL1");
    assert_eq!(v.fp_regs.v[3], [0xabcd, 3]);
    assert_eq!((v.fp_regs.fpsr, v.fp_regs.fpcr), (0x1000_0000, 0x0300_0000));
    assert_eq!(
        v.psci_state,
        sq::wire::PsciVcpuState::Off,
        "mp_state STOPPED"
    );
    let sys = v.sys_regs.to_map();
    assert_eq!(sys[&1], 0x30d0_5199); // SCTLR_EL1
    assert_eq!(sys[&7], 0xffff_8000_0a00_0001); // SP_EL1
    assert_eq!(sys[&8], 0xffff_8000_0800_0ffc); // ELR_EL1
    assert_eq!(sys[&9], 0x3c0); // SPSR_EL1
    assert_eq!(sys[&18], 0x8000_0001); // MPIDR_EL1
    assert_eq!(sys[&20], 0x9_9999); // CNTV_CVAL_EL0 (KVM TIMER_CVAL)
    assert_eq!(sys[&29], 0x4100_3000); // PMCR_EL0
    assert_eq!((sys[&42], sys[&43]), (0x0300_0000, 0x1000_0000));
    assert_eq!(s.state.vm_info.cpu_template, "V1N1");
    assert_eq!(s.state.vm_info.mem_size_mib, 64);
    assert!(s.state.gic_state.bytes.is_empty());
    // the notes name the GIC and what only the carry holds
    let all = notes.join("\n");
    assert!(all.contains("KVM vGIC"), "{all}");
    assert!(all.contains("carried in the snaptool blob"), "{all}");
    assert!(
        all.contains("0x603000000010003e] (SP_EL0)"),
        "SP_EL0 is carried: {all}"
    );
    assert!(
        !all.contains("0x6030000000100000"),
        "X0 is held by squib: {all}"
    );
    assert!(!all.to_lowercase().contains("lost"), "{all}");
    // verify: squib's loader refuses the empty GIC, nothing else is wrong
    let found = sq::verify(&sq::write(&s), None);
    let codes: Vec<_> = found.iter().map(|f| f.code).collect();
    assert_eq!(codes, ["gic_empty"], "{found:#?}");
}

#[test]
fn firecracker_6_aarch64_through_squib_is_byte_identical() {
    through_squib(&fc_v6_aarch64(), None);
}

#[test]
fn through_squib_with_its_memory_file() {
    let f = fc_v10_aarch64();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mem");
    let file = std::fs::File::create(&p).unwrap();
    file.set_len(64 << 20).unwrap();
    drop(file);
    let img = memory::open(&p).unwrap();
    let (_, notes) = through_squib(&f, Some(img.as_ref()));
    // Firecracker's aarch64 RAM sits where squib's does: only the page size differs.
    let all = notes.join("\n");
    assert!(!all.contains("squib maps the memory file"), "{all}");
    assert!(all.contains("16 KiB pages"), "{all}");
}

#[test]
fn squib_edits_win_over_the_carry() {
    let f = fc_v10_aarch64();
    let src = fc::read(&fc::write(&f).unwrap()).unwrap();
    let (mut s, _) = sq::from_model(&src.to_model(), None, &FromModelOptions::default()).unwrap();
    let v = &mut s.state.vcpu_states[0];
    v.regs.pc = 0x8000_1000;
    v.regs.x[0] = 0xfeed;
    v.fp_regs.v[31] = [1, 2];
    // SP_EL1 lives in both GpRegs.sp and sys_regs[7]; squib restores sys_regs last
    v.sys_regs.0.iter_mut().find(|(k, _)| *k == 7).unwrap().1 = 0x5151;
    s.state.vm_info.boot_args = "edited".into();
    let m = sq::read(&sq::write(&s)).unwrap().to_model();
    let out = fc::from_model(&m, fc::Layout::V10_0_0).unwrap();
    let State::V10Aarch64(a) = &out.state else {
        panic!()
    };
    let regs = snaptool::model::Aarch64Vcpu {
        regs: {
            let (ids, data) = &a.vcpu_states[0].regs;
            let mut off = 0;
            ids.iter()
                .map(|&id| {
                    let n = Aarch64Reg::declared_size(id) as usize;
                    off += n;
                    Aarch64Reg {
                        id,
                        value: data[off - n..off].to_vec().into(),
                    }
                })
                .collect()
        },
        ..Default::default()
    }
    .regs;
    let get = |id| regs.iter().find(|r| r.id == id).unwrap().value.0.clone();
    assert_eq!(get(core_ids::PC), 0x8000_1000u64.to_le_bytes());
    assert_eq!(get(core_ids::x(0)), 0xfeedu64.to_le_bytes());
    assert_eq!(get(core_ids::SP_EL1), 0x5151u64.to_le_bytes());
    assert_eq!(get(core_ids::v(31)), (2u128 << 64 | 1).to_le_bytes());
    assert_eq!(
        a.vm_info.boot_source.boot_args.as_deref(),
        Some("edited"),
        "VM fields too"
    );
    // the rest is as Firecracker wrote it
    let State::V10Aarch64(orig) = &src.state else {
        panic!()
    };
    assert_eq!(
        a.vcpu_states[0].regs.0, orig.vcpu_states[0].regs.0,
        "same ids, same order"
    );
    assert_eq!(a.vcpu_states[1], orig.vcpu_states[1]);
    assert_eq!(a.vm_state, orig.vm_state);
    assert_eq!(a.device_states, orig.device_states);
}

#[test]
fn x86_firecracker_fixtures_are_refused() {
    for rel in [
        "fixtures/firecracker-1.16.1/counter-1vcpu/vmstate",
        "fixtures/firecracker-1.12.1/counter-1vcpu/vmstate",
    ] {
        let m = real(rel).to_model();
        let e = sq::from_model(&m, None, &FromModelOptions::default()).unwrap_err();
        assert!(e.to_string().contains("aarch64-only"), "{e}");
        // and a Firecracker file is not taken for a squib one
        let bytes = std::fs::read(root().join(rel)).unwrap();
        assert!(!sq::sniff(&bytes));
        assert_eq!(
            sq::recognize(&bytes).unwrap().family,
            sq::Family::Firecracker
        );
    }
}

// ---- squib-snapshot 0.2.0 as reference producer and consumer ----

mod squib_ref {
    pub use squib_snapshot::*;
}

fn ref_state() -> squib_ref::MicrovmState {
    use squib_ref::*;
    let vcpu = |n: u64| {
        let mut regs = GpRegs::default();
        for (i, x) in regs.x.iter_mut().enumerate() {
            *x = 0x1111 * (i as u64 + 1) + n;
        }
        regs.sp = 0xffff_8000_0a00_0000 + n;
        regs.pc = 0xffff_8000_0801_2000 + n;
        regs.pstate = 0x3c5;
        let mut fp = FpSimdRegs::default();
        for (i, q) in fp.v.iter_mut().enumerate() {
            *q = [i as u64 * 3, !(i as u64)];
        }
        fp.fpsr = 0x10;
        fp.fpcr = 0x0300_0000;
        let mut sys = BTreeMap::new();
        for k in 1..=47u64 {
            // HVF does not surface the PMU, OSLAR/OSDLR or CNTFRQ: squib omits them
            if !(26..=32).contains(&k) && k != 22 && k != 46 && k != 47 {
                sys.insert(k, 0x1000 * k + n);
            }
        }
        sys.insert(7, regs.sp);
        sys.insert(18, 0x8000_0000 | n);
        sys.insert(42, fp.fpcr);
        sys.insert(43, fp.fpsr);
        VcpuState {
            mpidr: 0x8000_0000 | n,
            regs,
            fp_regs: fp,
            sys_regs: sys,
            psci_state: if n == 0 {
                PsciVcpuState::On
            } else {
                PsciVcpuState::Off
            },
        }
    };
    MicrovmState {
        vm_info: VmInfo {
            mem_size_mib: 2,
            smt: false,
            cpu_template: "V1N1".into(),
            kernel_image_path: "/k/Image".into(),
            initrd_path: Some("/k/initrd".into()),
            boot_args: "console=ttyAMA0 reboot=k panic=1".into(),
            track_dirty_pages: true,
        },
        vcpu_states: vec![vcpu(0), vcpu(1), vcpu(2)],
        device_states: DeviceStates::from_devices(vec![
            DeviceState {
                kind: "virtio-net".into(),
                id: "eth0".into(),
                mmio_slot: 2,
                blob: vec![7; 40],
            },
            DeviceState {
                kind: "virtio-rng".into(),
                id: "rng".into(),
                mmio_slot: 0,
                blob: vec![],
            },
            DeviceState {
                kind: "virtio-block".into(),
                id: "rootfs".into(),
                mmio_slot: 1,
                blob: vec![1; 300],
            },
        ]),
        gic_state: GicState::from_bytes((0..=255).cycle().take(4096).collect()),
        mmds_state: Some(
            MmdsState::with_data(
                &serde_json::json!({"latest": {"meta-data": {"instance-id": "i-1"}}}),
                Some(21600),
            )
            .unwrap(),
        ),
    }
}

const RAM: u64 = 2 << 20;

fn ref_memory() -> Vec<u8> {
    (0..RAM)
        .map(|i| (i / 4096 % 251) as u8 ^ (i as u8))
        .collect()
}

fn ref_save(
    dir: &Path,
    kind: squib_ref::SnapshotKind,
    dirty: &[u64],
) -> (Vec<u8>, std::path::PathBuf) {
    use squib_ref::*;
    let state_path = dir.join("vm.snap");
    let memory_path = dir.join("vm.mem");
    let reader = VecPageReader::new(ref_memory());
    let bitmap = DirtyBitmap::new(sq::DRAM_BASE, RAM, sq::PAGE_SIZE).unwrap();
    for p in dirty {
        bitmap.set_dirty_by_index(*p);
    }
    save(SaveRequest {
        state_path: &state_path,
        memory_path: &memory_path,
        kind,
        state: ref_state(),
        memory: &reader,
        ram_size: RAM,
        memory_page_size: sq::PAGE_SIZE,
        dirty: Some(&bitmap),
    })
    .unwrap();
    (std::fs::read(&state_path).unwrap(), memory_path)
}

#[test]
fn files_squib_writes_are_read_verified_and_rewritten_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, mem_path) = ref_save(dir.path(), squib_ref::SnapshotKind::Full, &[]);
    // the layout the notes give, byte for byte
    assert_eq!(
        &bytes[..15],
        b"\x00\x00\x00\xaa\xaa\x84\x19\x10\x07\x055.0.0".as_slice()
    );
    let cut = bytes.len() - 8;
    assert_eq!(
        bytes[cut..],
        snaptool::envelope::crc64(&bytes[..cut]).to_le_bytes()
    );
    assert_eq!(
        sq::memory_path(&dir.path().join("vm.snap")).as_deref(),
        Some(mem_path.as_path())
    );
    let f = sq::load(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sq::write(&f), bytes);
    let img = sq::open_memory(&mem_path).unwrap();
    let found = sq::verify(&bytes, Some(&img));
    assert!(found.is_empty(), "{found:#?}");
    assert_eq!(memory::read_all(&img).unwrap(), ref_memory());
    // the same registers, through the model
    let theirs = ref_state();
    let m = f.to_model();
    for (v, t) in m.vcpus.iter().zip(&theirs.vcpu_states) {
        let Vcpu::Aarch64(v) = v else { panic!() };
        let c = v.core.as_ref().unwrap();
        assert_eq!(c.x, t.regs.x);
        assert_eq!(
            (c.sp, c.pc, c.pstate),
            (t.regs.sp, t.regs.pc, t.regs.pstate)
        );
        assert_eq!(c.v, t.fp_regs.v);
        assert_eq!(v.mpidr, Some(t.mpidr));
        assert_eq!(v.sys_regs.len(), t.sys_regs.len());
        assert_eq!(v.sys_regs["SP_EL1"], t.sys_regs[&7]);
        assert_eq!(v.sys_regs["CNTVOFF_EL2"], t.sys_regs[&21]);
    }
    assert_eq!(m.vm.cpu_template.as_deref(), Some("V1N1"));
    assert_eq!(m.devices.len(), 4, "three devices and MMDS");
    // model → squib gives the file back
    let (g, notes) = sq::from_model(&m, Some(&img), &FromModelOptions::default()).unwrap();
    assert!(sq::write(&g) == bytes, "{notes:#?}");
    assert!(notes.is_empty(), "{notes:#?}");
}

#[test]
fn diff_memory_files_squib_writes() {
    let dir = tempfile::tempdir().unwrap();
    let dirty = [0u64, 5, 6, 127];
    let (bytes, mem_path) = ref_save(dir.path(), squib_ref::SnapshotKind::Diff, &dirty);
    let f = sq::read(&bytes).unwrap();
    let img = sq::open_memory(&mem_path).unwrap();
    assert_eq!(img.len(), RAM);
    let data = memory::read_all(&img).unwrap();
    let full = ref_memory();
    let ps = sq::PAGE_SIZE as usize;
    for p in 0..(RAM as usize / ps) {
        let page = &data[p * ps..(p + 1) * ps];
        if dirty.contains(&(p as u64)) {
            assert_eq!(page, &full[p * ps..(p + 1) * ps], "page {p}");
        } else {
            assert!(page.iter().all(|&b| b == 0), "page {p} is a hole");
        }
    }
    let ext = img.extents().unwrap();
    let covered: u64 = ext.iter().map(|e| e.len).sum();
    if covered < RAM {
        // the filesystem keeps holes: the data is exactly the dirty pages
        let pages: Vec<u64> = ext
            .iter()
            .flat_map(|e| e.offset / sq::PAGE_SIZE..e.end() / sq::PAGE_SIZE)
            .collect();
        assert_eq!(pages, dirty);
    }
    assert!(sq::memory_findings(&f, &img).is_empty());
    // rewritten as a squib diff: the same pages, the same bytes
    let out = dir.path().join("again.mem");
    let r = sq::write_memory(&img, &out, sq::MemoryKind::Diff).unwrap();
    assert_eq!(r.widened_pages, 0);
    let again = sq::open_memory(&out).unwrap();
    assert_eq!(memory::read_all(&again).unwrap(), data);
    if covered < RAM {
        assert_eq!(again.extents().unwrap(), ext);
        assert_eq!(r.pages_written, dirty.len() as u64);
    }
}

/// squib's restore target, recording what squib would write into HVF.
#[derive(Default)]
struct Recorder {
    gp: Option<squib_ref::GpRegs>,
    fp: Option<squib_ref::FpSimdRegs>,
    sys: BTreeMap<u64, u64>,
}

impl squib_ref::VcpuRestoreTarget for Recorder {
    fn write_gp_regs(&mut self, r: &squib_ref::GpRegs) -> squib_ref::Result<()> {
        self.gp = Some(r.clone());
        Ok(())
    }
    fn write_fp_simd(&mut self, r: &squib_ref::FpSimdRegs) -> squib_ref::Result<()> {
        self.fp = Some(r.clone());
        Ok(())
    }
    fn write_sys_reg(&mut self, reg: squib_arch::SysReg, value: u64) -> squib_ref::Result<()> {
        self.sys.insert(reg.as_encoded(), value);
        Ok(())
    }
    fn set_psci_state(&mut self, _: squib_ref::PsciVcpuState) -> squib_ref::Result<()> {
        Ok(())
    }
}

#[test]
fn files_snaptool_writes_squib_loads_with_the_same_registers() {
    let dir = tempfile::tempdir().unwrap();
    // A Firecracker aarch64 state converted to squib, with the GIC placeholder so that squib's
    // loader accepts it.
    let src = fc::read(&fc::write(&fc_v10_aarch64()).unwrap()).unwrap();
    let m = src.to_model();
    let (x, _) = sq::from_model(
        &m,
        None,
        &FromModelOptions {
            placeholder_gic: true,
        },
    )
    .unwrap();
    let p = dir.path().join("fc.snap");
    std::fs::write(&p, sq::write(&x)).unwrap();
    let loaded = squib_ref::load(&p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.source_version.to_string(), "5.0.0");
    let State::V10Aarch64(fcs) = &src.state else {
        panic!()
    };
    for (n, (theirs, ours)) in loaded
        .state
        .vcpu_states
        .iter()
        .zip(&fcs.vcpu_states)
        .enumerate()
    {
        let Vcpu::Aarch64(mv) = &m.vcpus[n] else {
            panic!()
        };
        let get = |id: u64| {
            let r = mv.regs.iter().find(|r| r.id == id).unwrap();
            let mut b = [0u8; 16];
            b[..r.value.len()].copy_from_slice(&r.value.0);
            u128::from_le_bytes(b)
        };
        let mut rec = Recorder::default();
        squib_ref::restore_vcpu_state(&mut rec, theirs, n as u32).unwrap();
        let gp = rec.gp.unwrap();
        for i in 0..31 {
            assert_eq!(u128::from(gp.x[i]), get(core_ids::x(i as u64)));
        }
        assert_eq!(u128::from(gp.pc), get(core_ids::PC));
        assert_eq!(u128::from(gp.pstate), get(core_ids::PSTATE));
        assert_eq!(u128::from(rec.sys[&7]), get(core_ids::SP_EL1));
        assert_eq!(u128::from(rec.sys[&8]), get(core_ids::ELR_EL1));
        let fp = rec.fp.unwrap();
        for i in 0..32 {
            let q = fp.v[i];
            assert_eq!(
                u128::from(q[0]) | u128::from(q[1]) << 64,
                get(core_ids::v(i as u64))
            );
        }
        assert_eq!(u128::from(rec.sys[&43]), get(core_ids::FPSR));
        for name in [
            "SCTLR_EL1",
            "TCR_EL1",
            "MPIDR_EL1",
            "CNTV_CVAL_EL0",
            "PMCR_EL0",
        ] {
            let key = sq::regs::SQUIB_SYSREGS
                .iter()
                .find(|r| r.name == name)
                .unwrap()
                .key;
            assert_eq!(
                u128::from(rec.sys[&key]),
                get(named_reg(name).unwrap().id),
                "{name}"
            );
        }
        assert_eq!(theirs.mpidr, ours.mpidr);
    }
    // A squib-native model written by snaptool: squib loads it with the registers it saved.
    let (bytes, _) = ref_save(dir.path(), squib_ref::SnapshotKind::Full, &[]);
    let m = sq::read(&bytes).unwrap().to_model();
    let (y, _) = sq::from_model(&m, None, &FromModelOptions::default()).unwrap();
    let q = dir.path().join("again.snap");
    std::fs::write(&q, sq::write(&y)).unwrap();
    let back = squib_ref::load(&q).unwrap();
    assert_eq!(back.state, ref_state());
}

#[test]
fn squib_and_snaptool_loaders_agree() {
    use squib_ref::{MicrovmState, Snapshot, SnapshotError};
    let good = sq::write(
        &sq::from_model(
            &{
                let dir = tempfile::tempdir().unwrap();
                let (b, _) = ref_save(dir.path(), squib_ref::SnapshotKind::Full, &[]);
                sq::read(&b).unwrap().to_model()
            },
            None,
            &FromModelOptions::default(),
        )
        .unwrap()
        .0,
    );
    let theirs = |b: &[u8]| -> Result<(), SnapshotError> {
        let s = Snapshot::<MicrovmState>::load_from_slice(b)?;
        s.data.verify_compatible()
    };
    let ours = |b: &[u8]| sq::load(b).map(|_| ());
    let mut cases: Vec<(String, Vec<u8>)> = vec![("good".into(), good.clone())];
    let edit = |f: &dyn Fn(&mut sq::SquibFile)| {
        let mut x = sq::read(&good).unwrap();
        f(&mut x);
        sq::write(&x)
    };
    for v in [
        "5.0.1",
        "5.0.0-rc.1",
        "5.0.0+meta",
        "5.1.0",
        "4.9.9",
        "6.0.0",
        "10.0.0",
    ] {
        cases.push((format!("version {v}"), edit(&|x| x.version = v.into())));
    }
    cases.push((
        "x86 magic".into(),
        edit(&|x| x.magic = snaptool::envelope::MAGIC_X86_64),
    ));
    cases.push(("no vCPU".into(), edit(&|x| x.state.vcpu_states.clear())));
    cases.push((
        "33 vCPUs".into(),
        edit(&|x| {
            let v = x.state.vcpu_states[0].clone();
            x.state.vcpu_states = vec![v; 33];
        }),
    ));
    cases.push(("smt".into(), edit(&|x| x.state.vm_info.smt = true)));
    cases.push((
        "empty GIC".into(),
        edit(&|x| x.state.gic_state = Default::default()),
    ));
    cases.push(("GIC length".into(), edit(&|x| x.state.gic_state.len += 1)));
    let mut flipped = good.clone();
    flipped[30] ^= 4;
    cases.push(("CRC".into(), flipped));
    cases.push(("short".into(), good[..7].to_vec()));
    cases.push(("empty body".into(), snaptool::envelope::seal(Vec::new())));
    let mut over = good.clone();
    over.resize(10_000_001, 0);
    cases.push(("over the cap".into(), over));
    let mut at_cap = good[..good.len() - 8].to_vec();
    at_cap.resize(10_000_000 - 8, 0);
    cases.push(("trailing bytes".into(), snaptool::envelope::seal(at_cap)));
    for (what, b) in &cases {
        let t = theirs(b);
        let o = ours(b);
        assert_eq!(t.is_ok(), o.is_ok(), "{what}: squib {t:?}, snaptool {o:?}");
        let same_kind = matches!(
            (&t, &o),
            (Ok(()), Ok(()))
                | (
                    Err(SnapshotError::SizeLimitExceeded { .. }),
                    Err(sq::ReadError::TooLarge { .. })
                )
                | (
                    Err(SnapshotError::TooShort),
                    Err(sq::ReadError::TooShort { .. })
                )
                | (
                    Err(SnapshotError::CrcMismatch),
                    Err(sq::ReadError::Crc { .. })
                )
                | (
                    Err(SnapshotError::Bitcode(_)),
                    Err(sq::ReadError::Decode { .. })
                )
                | (
                    Err(SnapshotError::MagicMismatch { .. }),
                    Err(sq::ReadError::Magic { .. })
                )
                | (
                    Err(SnapshotError::VersionMismatch { .. }),
                    Err(sq::ReadError::Version { .. })
                )
                | (
                    Err(SnapshotError::Incompatible),
                    Err(sq::ReadError::Incompatible(_))
                )
        );
        assert!(same_kind, "{what}: squib {t:?}, snaptool {o:?}");
    }
}

#[test]
fn semver_text_rules_match_the_semver_crate() {
    for s in [
        "5.0.0",
        "5.0.0-rc.1",
        "5.0.0-0",
        "5.0.0-00",
        "5.0.0-0a",
        "5.0.0-a.01",
        "5.0.0+001",
        "5.0.0-",
        "5.0.0+",
        "5.0.0-a+b",
        "5.0.0-a+b+c",
        "5.0.0-a_b",
        "05.0.0",
        "5.0.00",
        "5.0",
        "5.0.0.0",
        " 5.0.0",
        "5.0.0-α",
        "5.0.0-a.-b",
        "5.0.0-.a",
        "99999999999999999999.0.0",
    ] {
        assert_eq!(
            sq::parse_semver(s).is_some(),
            semver::Version::parse(s).is_ok(),
            "{s:?}"
        );
    }
}

#[test]
fn fixture_memory_as_squib_memory_files() {
    // The fixtures are x86_64 (squib cannot hold their state) but their RAM is just bytes: a
    // squib full memory file is the same bytes, a diff keeps exactly the 16 KiB pages with data.
    let z = std::fs::File::open(root().join("fixtures/firecracker-1.16.1/counter-1vcpu/mem.zst"))
        .unwrap();
    let want = zstd::decode_all(z).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.mem");
    std::fs::write(&raw, &want).unwrap();
    let src = memory::open(&raw).unwrap();
    let full = dir.path().join("full.mem");
    let r = sq::write_memory(src.as_ref(), &full, sq::MemoryKind::Full).unwrap();
    assert_eq!(r.pages_written, want.len() as u64 / sq::PAGE_SIZE);
    let img = sq::open_memory(&full).unwrap();
    assert!(memory::read_all(&img).unwrap() == want);
    // a sparse image of it, then a squib diff of that
    let sparse = dir.path().join("sparse.mem");
    memory::ops::sparsify(&img, &sparse, 4096, &memory::ops::no_progress).unwrap();
    let sparse = sq::open_memory(&sparse).unwrap();
    let diff = dir.path().join("diff.mem");
    let r = sq::write_memory(&sparse, &diff, sq::MemoryKind::Diff).unwrap();
    let d = sq::open_memory(&diff).unwrap();
    assert!(memory::read_all(&d).unwrap() == want);
    let ext = d.extents().unwrap();
    assert!(
        ext.iter()
            .all(|e| e.offset % sq::PAGE_SIZE == 0 && e.len % sq::PAGE_SIZE == 0)
    );
    assert!(r.pages_written <= want.len() as u64 / sq::PAGE_SIZE);
}

#[test]
fn fuzz_seeds_are_squib_files() {
    // SNAPTOOL_WRITE_SEEDS=1 regenerates them: one file squib-snapshot writes, one converted
    // from a Firecracker aarch64 state (with a carry blob).
    let dir = root().join("fuzz/seeds/squib");
    if std::env::var_os("SNAPTOOL_WRITE_SEEDS").is_some() {
        let tmp = tempfile::tempdir().unwrap();
        let (bytes, _) = ref_save(tmp.path(), squib_ref::SnapshotKind::Full, &[]);
        std::fs::write(dir.join("squib-save.snap"), bytes).unwrap();
        let src = fc::read(&fc::write(&fc_v10_aarch64()).unwrap()).unwrap();
        let (x, _) = sq::from_model(&src.to_model(), None, &FromModelOptions::default()).unwrap();
        std::fs::write(dir.join("fc-aarch64.snap"), sq::write(&x)).unwrap();
    }
    for name in ["squib-save.snap", "fc-aarch64.snap"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let f = sq::read(&bytes).unwrap();
        assert!(sq::write(&f) == bytes, "{name}");
    }
}

/// `fixtures/squib/`: a full and a diff snapshot written by squib-snapshot 0.2.0's own `save`
/// (SNAPTOOL_WRITE_FIXTURES=1 regenerates them). Each state file reads, re-encodes byte for byte
/// and verifies clean against its memory file, and its memory is what was saved.
#[test]
fn squib_fixtures_are_what_squib_wrote() {
    let dir = root().join("fixtures/squib");
    let cases: [(&str, squib_ref::SnapshotKind, &[u64]); 2] = [
        ("full", squib_ref::SnapshotKind::Full, &[]),
        ("diff", squib_ref::SnapshotKind::Diff, &[0, 7, 100]),
    ];
    for (name, kind, dirty) in cases {
        let d = dir.join(name);
        if std::env::var_os("SNAPTOOL_WRITE_FIXTURES").is_some() {
            let tmp = tempfile::tempdir().unwrap();
            let (bytes, mem) = ref_save(tmp.path(), kind, dirty);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("vm.snap"), bytes).unwrap();
            let raw = std::fs::read(mem).unwrap();
            std::fs::write(
                d.join("vm.mem.zst"),
                zstd::encode_all(&raw[..], 19).unwrap(),
            )
            .unwrap();
        }
        let bytes = std::fs::read(d.join("vm.snap")).unwrap();
        let f = sq::read(&bytes).unwrap();
        assert!(
            sq::write(&f) == bytes,
            "{name}: not re-encoded byte for byte"
        );
        let tmp = tempfile::tempdir().unwrap();
        let mem = tmp.path().join("vm.mem");
        let raw = zstd::decode_all(&std::fs::read(d.join("vm.mem.zst")).unwrap()[..]).unwrap();
        std::fs::write(&mem, &raw).unwrap();
        let img = sq::open_memory(&mem).unwrap();
        assert_eq!(sq::verify(&bytes, Some(&img)), [], "{name}");
        let want = ref_memory();
        match kind {
            squib_ref::SnapshotKind::Full => assert!(raw == want, "{name}: memory"),
            squib_ref::SnapshotKind::Diff => {
                let page = sq::PAGE_SIZE as usize;
                for (i, (got, exp)) in raw.chunks(page).zip(want.chunks(page)).enumerate() {
                    if dirty.contains(&(i as u64)) {
                        assert!(got == exp, "{name}: dirty page {i}");
                    } else {
                        assert!(got.iter().all(|&b| b == 0), "{name}: clean page {i}");
                    }
                }
            }
        }
        assert!(
            squib_ref::load(&d.join("vm.snap")).is_ok(),
            "{name}: squib's loader"
        );
    }
}
