//! snaptool's arcbox directories against the real `arcbox-hypervisor` 0.4.10 types: its
//! `VmSnapshot` reads what snaptool writes (same registers, byte-identical re-serialisation) and
//! snaptool reads what its types serialise (x86_64 with LZ4, aarch64 plain).

use arcbox_hypervisor as ah;
use snaptool::formats::arcbox;
use snaptool::formats::firecracker as fc;
use snaptool::memory::{self, MemoryImage};
use snaptool::model::{Arch, DeviceKind, Transport, Vcpu};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(dir: &str) -> (Vec<u8>, Vec<u8>) {
    let d = root().join(dir);
    let state = std::fs::read(d.join("vmstate")).unwrap();
    let mem = zstd::decode_all(std::fs::File::open(d.join("mem.zst")).unwrap()).unwrap();
    (state, mem)
}

fn mem_image(tmp: &Path, mem: &[u8]) -> Box<dyn MemoryImage> {
    let p = tmp.join("mem.raw");
    std::fs::write(&p, mem).unwrap();
    memory::open(&p).unwrap()
}

#[test]
fn arcbox_hypervisor_reads_what_snaptool_writes() {
    let (bytes, mem) = fixture("fixtures/firecracker-1.16.1/counter-1vcpu");
    let m = fc::read(&bytes).unwrap().to_model();
    let tmp = tempfile::tempdir().unwrap();
    let img = mem_image(tmp.path(), &mem);
    let (dir, _) = arcbox::from_model(&m, Some(img.as_ref()), true).unwrap();
    let out = tmp.path().join("snap");
    arcbox::write_dir(&dir, &out).unwrap();
    let text = std::fs::read_to_string(out.join("vm_state.json")).unwrap();
    let theirs: ah::VmSnapshot = serde_json::from_str(&text).unwrap();
    // Their serializer reproduces our file byte for byte: the types mirror theirs exactly.
    assert_eq!(serde_json::to_string_pretty(&theirs).unwrap(), text);
    assert_eq!(theirs.version, 1);
    assert_eq!(theirs.arch, ah::CpuArch::X86_64);
    assert!(theirs.compressed);
    assert_eq!(theirs.compression.as_deref(), Some("lz4"));
    assert_eq!(theirs.total_memory, mem.len() as u64);
    let Vcpu::X86_64(v) = &m.vcpus[0] else {
        panic!()
    };
    let r = theirs.vcpus[0].x86_regs.as_ref().unwrap();
    let ours = [
        v.regs.rax,
        v.regs.rbx,
        v.regs.rcx,
        v.regs.rdx,
        v.regs.rsi,
        v.regs.rdi,
        v.regs.rsp,
        v.regs.rbp,
        v.regs.r8,
        v.regs.r9,
        v.regs.r10,
        v.regs.r11,
        v.regs.r12,
        v.regs.r13,
        v.regs.r14,
        v.regs.r15,
        v.regs.rip,
        v.regs.rflags,
    ];
    let their = [
        r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12,
        r.r13, r.r14, r.r15, r.rip, r.rflags,
    ];
    assert_eq!(ours, their);
    assert!(!theirs.vcpus[0].is_placeholder());
    // Their memory loader (lz4_flex, as arcbox-vmm reads memory.bin.lz4) gets the same bytes,
    // and each region's bytes sit at its file_offset.
    let raw = std::fs::read(out.join("memory.bin.lz4")).unwrap();
    let loaded = lz4_flex::decompress_size_prepended(&raw).unwrap();
    assert!(loaded == mem);
    for (r, mr) in theirs.memory_regions.iter().zip(&m.memory.regions) {
        assert_eq!(
            (r.guest_addr, r.size, r.file_offset),
            (mr.guest_addr, mr.size, mr.file_offset)
        );
    }
    // snapshot.json is SnapshotInfo-shaped: RFC 3339 time, Ready, Vm.
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("snapshot.json")).unwrap()).unwrap();
    assert_eq!(info["state"], "Ready");
    assert_eq!(info["target_type"], "Vm");
    assert!(arcbox::convert::is_rfc3339(
        info["created"].as_str().unwrap()
    ));
    let size: u64 = ["snapshot.json", "vm_state.json", "memory.bin.lz4"]
        .iter()
        .map(|n| std::fs::metadata(out.join(n)).unwrap().len())
        .sum();
    assert_eq!(
        info["size"], size,
        "size is the directory's size, as arcbox records it"
    );
}

/// A directory as arcbox-vmm writes it, from `arcbox-hypervisor`'s own types (arcbox-vmm does
/// not build on Linux, so `snapshot.json` is written by hand in its `SnapshotInfo` shape).
fn arcbox_written(dir: &Path, snap: &ah::VmSnapshot, mem: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("vm_state.json"),
        serde_json::to_string_pretty(snap).unwrap(),
    )
    .unwrap();
    let info = serde_json::json!({
        "id": "0123456789abcdef0123456789abcdef",
        "name": "snapshot-01234567",
        "target_id": "vm-1",
        "target_type": "Vm",
        "created": "2026-04-27T10:11:12.345678Z",
        "size": 12345,
        "parent": null,
        "description": null,
        "labels": {"env": "test"},
        "state": "Ready"
    });
    std::fs::write(
        dir.join("snapshot.json"),
        serde_json::to_string_pretty(&info).unwrap(),
    )
    .unwrap();
    if snap.compressed {
        std::fs::write(
            dir.join("memory.bin.lz4"),
            lz4_flex::compress_prepend_size(mem),
        )
        .unwrap();
    } else {
        std::fs::write(dir.join("memory.bin"), mem).unwrap();
    }
}

fn device_record(t: u8, base: u64, irq: u32) -> Vec<u8> {
    let mut v = vec![t];
    v.extend_from_slice(&base.to_le_bytes());
    v.extend_from_slice(&0x200u64.to_le_bytes());
    v.extend_from_slice(&irq.to_le_bytes());
    v
}

#[test]
fn snaptool_reads_what_arcbox_hypervisor_writes() {
    let mem: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    let regs = ah::Registers {
        rax: 1,
        rbx: 2,
        rsp: 0x8000,
        rbp: 0x8ff0,
        rip: 0x10_0000,
        rflags: 0x202,
        r15: 15,
        ..Default::default()
    };
    let snap = ah::VmSnapshot {
        version: 1,
        arch: ah::CpuArch::X86_64,
        vcpus: vec![
            ah::VcpuSnapshot::new_x86(0, regs.clone()),
            ah::VcpuSnapshot::new_x86(1, ah::Registers::default()),
        ],
        devices: vec![
            ah::DeviceSnapshot {
                device_type: ah::VirtioDeviceType::Block,
                name: "Block-0".into(),
                state: device_record(0, 0x0a00_0000, 5),
            },
            ah::DeviceSnapshot {
                device_type: ah::VirtioDeviceType::Vsock,
                name: "Vsock-1".into(),
                state: device_record(6, 0x0a00_0400, 6),
            },
        ],
        memory_regions: vec![ah::MemoryRegionSnapshot {
            guest_addr: 0,
            size: mem.len() as u64,
            read_only: false,
            file_offset: 0,
        }],
        total_memory: mem.len() as u64,
        compressed: true,
        compression: Some("lz4".into()),
        parent_id: None,
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("0123456789abcdef0123456789abcdef");
    arcbox_written(&d, &snap, &mem);
    // SNAPTOOL_WRITE_FIXTURES=1 keeps this directory as fixtures/arcbox/x86_64-lz4.
    if std::env::var_os("SNAPTOOL_WRITE_FIXTURES").is_some() {
        let f = root().join("fixtures/arcbox/x86_64-lz4");
        std::fs::create_dir_all(&f).unwrap();
        for name in ["snapshot.json", "vm_state.json", "memory.bin.lz4"] {
            std::fs::copy(d.join(name), f.join(name)).unwrap();
        }
    }
    assert!(arcbox::sniff_dir(&d));
    let findings = arcbox::verify(&d);
    assert!(findings.is_empty(), "{findings:#?}");
    let dir = arcbox::read_dir(&d).unwrap();
    let held = dir
        .memory()
        .map(|m| memory::read_all(m.as_ref()).unwrap())
        .unwrap_or_default();
    assert!(held == mem);
    let m = dir.to_model();
    assert_eq!(m.arch(), Arch::X86_64);
    assert_eq!(m.provenance.format, "arcbox");
    assert_eq!(m.vcpus.len(), 2);
    let Vcpu::X86_64(v) = &m.vcpus[0] else {
        panic!()
    };
    assert_eq!(
        (
            v.regs.rax,
            v.regs.rbx,
            v.regs.rsp,
            v.regs.rbp,
            v.regs.rip,
            v.regs.rflags,
            v.regs.r15
        ),
        (1, 2, 0x8000, 0x8ff0, 0x10_0000, 0x202, 15)
    );
    assert_eq!(
        m.vm.vm_id.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert_eq!(m.vm.created.as_deref(), Some("2026-04-27T10:11:12.345678Z"));
    assert_eq!(m.vm.mem_size_mib, Some(4));
    assert_eq!(m.devices.len(), 2);
    assert_eq!(m.devices[0].kind, DeviceKind::Block);
    assert_eq!(m.devices[0].id, "Block-0");
    assert_eq!(
        m.devices[1].transport,
        Some(Transport::Mmio {
            addr: 0x0a00_0400,
            len: 0x200,
            irq: Some(6)
        })
    );
    // Model → arcbox again: the native fields come out as arcbox wrote them, and their reader
    // still takes the result.
    let img = mem_image(tmp.path(), &mem);
    let (again, _) = arcbox::from_model(&m, Some(img.as_ref()), true).unwrap();
    let mut stripped = again.state.clone();
    for v in &mut stripped.vcpus {
        assert!(!v.extra_state.is_empty());
        v.extra_state.clear();
    }
    let theirs: ah::VmSnapshot =
        serde_json::from_str(&std::fs::read_to_string(d.join("vm_state.json")).unwrap()).unwrap();
    assert_eq!(
        serde_json::to_string_pretty(&stripped).unwrap(),
        serde_json::to_string_pretty(&theirs).unwrap()
    );
    assert_eq!(again.info.id, dir.info.id);
    assert_eq!(again.info.name, dir.info.name);
    assert_eq!(again.info.labels, dir.info.labels);
    assert_eq!(again.info.created, dir.info.created);
    let out = tmp.path().join("again");
    arcbox::write_dir(&again, &out).unwrap();
    let reread: ah::VmSnapshot =
        serde_json::from_str(&std::fs::read_to_string(out.join("vm_state.json")).unwrap()).unwrap();
    assert_eq!(reread.vcpus[0].x86_regs.as_ref().unwrap().rip, 0x10_0000);
    assert_eq!(arcbox::read_dir(&out).unwrap().to_model(), m);

    // aarch64, uncompressed.
    let mut arm = ah::Arm64Registers::default();
    arm.x[0] = 0xdead;
    arm.x[30] = 0xbeef;
    arm.sp = 0x4000_f000;
    arm.pc = 0x4008_0000;
    arm.pstate = 0x3c5;
    let snap = ah::VmSnapshot {
        version: 1,
        arch: ah::CpuArch::Aarch64,
        vcpus: vec![ah::VcpuSnapshot::new_arm64(0, arm)],
        devices: vec![],
        memory_regions: vec![ah::MemoryRegionSnapshot {
            guest_addr: 0,
            size: mem.len() as u64,
            read_only: false,
            file_offset: 0,
        }],
        total_memory: mem.len() as u64,
        compressed: false,
        compression: None,
        parent_id: Some("parent".into()),
    };
    let d = tmp.path().join("arm");
    arcbox_written(&d, &snap, &mem);
    let dir = arcbox::read_dir(&d).unwrap();
    let m = dir.to_model();
    let Vcpu::Aarch64(v) = &m.vcpus[0] else {
        panic!()
    };
    let core = v.core.as_ref().unwrap();
    assert_eq!(
        (core.x[0], core.x[30], core.sp, core.pc, core.pstate),
        (0xdead, 0xbeef, 0x4000_f000, 0x4008_0000, 0x3c5)
    );
    assert_eq!(m.vm.parent_id.as_deref(), Some("parent"));
    let (again, _) = arcbox::from_model(&m, None, false).unwrap();
    let r = again.state.vcpus[0].arm64_regs.unwrap();
    assert_eq!(
        (r.x[0], r.x[30], r.sp, r.pc, r.pstate),
        (0xdead, 0xbeef, 0x4000_f000, 0x4008_0000, 0x3c5)
    );
    assert!(!again.has_memory());
}
