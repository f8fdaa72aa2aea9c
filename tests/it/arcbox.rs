//! arcbox snapshot directories: Firecracker → arcbox (plain and LZ4) → model → Firecracker is
//! byte-identical with memory preserved; native edits win over the snaptool blob; directories in
//! arcbox's shape are read. The real `arcbox-hypervisor` types are tested in `interop/arcbox`.

use crate::root;
use crate::synthetic::{block10, net10, v10_aarch64_file};
use snaptool::formats::arcbox::{self, ArcboxDir};
use snaptool::formats::firecracker::{self as fc, State};
use snaptool::memory::{self, MemoryImage};
use snaptool::model::{Arch, DeviceKind, Snapshot, Transport, Vcpu};
use snaptool::verify::Severity;
use std::path::{Path, PathBuf};

const FIXTURES: [&str; 3] = [
    "fixtures/firecracker-1.16.1/counter-1vcpu",
    "fixtures/firecracker-1.16.1/counter-fpu-1vcpu",
    "fixtures/firecracker-1.12.1/counter-1vcpu",
];

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

/// Writes `m` (+ memory) as an arcbox directory, checks it verifies without errors and reads
/// back the same model and memory; returns the directory read back.
fn through_arcbox(m: &Snapshot, mem: &[u8], lz4: bool, tmp: &Path) -> ArcboxDir {
    let img = mem_image(tmp, mem);
    let (dir, notes) = arcbox::from_model(m, Some(img.as_ref()), lz4).unwrap();
    assert!(!notes.is_empty());
    let out = tmp.join(if lz4 { "snap-lz4" } else { "snap" });
    arcbox::write_dir(&dir, &out).unwrap();
    assert!(arcbox::sniff_dir(&out));
    let on_disk =
        std::fs::read(out.join(if lz4 { "memory.bin.lz4" } else { "memory.bin" })).unwrap();
    if lz4 {
        assert_eq!(lz4_flex::decompress_size_prepended(&on_disk).unwrap(), mem);
        assert!(!out.join("memory.bin").exists());
    } else {
        assert!(on_disk == mem, "memory.bin differs from the memory image");
    }
    let findings = arcbox::verify(&out);
    assert!(
        findings.iter().all(|f| f.severity != Severity::Error),
        "{findings:#?}"
    );
    assert!(
        !findings.iter().any(|f| f.code == "native_override"),
        "{findings:#?}"
    );
    let back = arcbox::read_dir(&out).unwrap();
    assert_eq!(back.state, dir.state);
    assert_eq!(back.info, dir.info);
    assert!(mem_of(&back) == mem, "memory differs after reading back");
    assert!(back.native_overrides().is_empty());
    let mut m2 = back.to_model();
    // The model read is the directory's (arcbox provenance); everything else is the input's.
    assert_eq!(m2.provenance.layout, "arcbox-1");
    m2.provenance = m.provenance.clone();
    assert_eq!(&m2, m, "the model differs after the arcbox directory");
    back
}

#[test]
fn firecracker_fixtures_survive_arcbox_byte_for_byte() {
    for d in FIXTURES {
        let (bytes, mem) = fixture(d);
        let f = fc::read(&bytes).unwrap();
        let m = f.to_model();
        for lz4 in [false, true] {
            let tmp = tempfile::tempdir().unwrap();
            let back = through_arcbox(&m, &mem, lz4, tmp.path());
            let m2 = back.to_model();
            let again = fc::write(&fc::from_model(&m2, f.state.layout()).unwrap()).unwrap();
            assert!(again == bytes, "{d} (lz4 {lz4}): Firecracker bytes differ");
            // Memory comes back as the Firecracker memory file, byte for byte.
            assert!(mem_of(&back) == mem.as_slice());
            // Native fields are filled faithfully.
            let Vcpu::X86_64(v) = &m.vcpus[0] else {
                panic!()
            };
            let r = back.state.vcpus[0].x86_regs.unwrap();
            assert_eq!(
                (r.rip, r.rsp, r.rflags),
                (v.regs.rip, v.regs.rsp, v.regs.rflags)
            );
            assert_eq!(back.state.total_memory, mem.len() as u64);
            assert_eq!(back.state.memory_regions.len(), m.memory.regions.len());
            assert_eq!(back.state.compressed, lz4);
        }
    }
}

#[test]
fn devices_and_aarch64_survive_arcbox() {
    // x86_64 with virtio block and net devices.
    let (bytes, mem) = fixture(FIXTURES[0]);
    let mut f = fc::read(&bytes).unwrap();
    let State::V10X86(s) = &mut f.state else {
        panic!()
    };
    s.device_states.mmio_state.block_devices.push(block10(256));
    s.device_states.mmio_state.net_devices.push(net10());
    let bytes = fc::write(&f).unwrap();
    let m = fc::read(&bytes).unwrap().to_model();
    let tmp = tempfile::tempdir().unwrap();
    let back = through_arcbox(&m, &mem, false, tmp.path());
    let block = back
        .state
        .devices
        .iter()
        .find(|d| d.device_type == arcbox::VirtioDeviceType::Block)
        .unwrap();
    assert_eq!(block.name, "rootfs");
    let rec = arcbox::DeviceRecord::parse(&block.state).unwrap();
    assert_eq!(
        (rec.mmio_base, rec.mmio_size, rec.irq),
        (0xd000_0000, 0x1000, 5)
    );
    assert!(
        back.state
            .devices
            .iter()
            .any(|d| d.device_type == arcbox::VirtioDeviceType::Net)
    );
    let again = fc::write(&fc::from_model(&back.to_model(), f.state.layout()).unwrap()).unwrap();
    assert!(again == bytes);

    // aarch64: core registers from the KVM register list into arm64_regs.
    let f = v10_aarch64_file();
    let bytes = fc::write(&f).unwrap();
    let m = fc::read(&bytes).unwrap().to_model();
    let mem: Vec<u8> = (0..64u32 << 20).map(|i| (i / 4096) as u8).collect();
    for lz4 in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let back = through_arcbox(&m, &mem, lz4, tmp.path());
        assert_eq!(back.state.arch, arcbox::CpuArch::Aarch64);
        let r = back.state.vcpus[0].arm64_regs.unwrap();
        assert_eq!(
            (r.pc, r.sp, r.v[0]),
            (0x4008_1234, 0x8000_fff0, [0xabab_abab_abab_abab; 2])
        );
        assert_eq!(back.state.memory_regions[0].guest_addr, 0x8000_0000);
        assert_eq!(back.state.memory_regions[0].file_offset, 0);
        let again =
            fc::write(&fc::from_model(&back.to_model(), f.state.layout()).unwrap()).unwrap();
        assert!(
            again == bytes,
            "aarch64 (lz4 {lz4}): Firecracker bytes differ"
        );
    }
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[test]
fn native_edits_win_over_the_blob() {
    let (bytes, mem) = fixture(FIXTURES[0]);
    let mut f = fc::read(&bytes).unwrap();
    let State::V10X86(s) = &mut f.state else {
        panic!()
    };
    s.device_states.mmio_state.block_devices.push(block10(256));
    let m = fc::read(&fc::write(&f).unwrap()).unwrap().to_model();
    let tmp = tempfile::tempdir().unwrap();
    let img = mem_image(tmp.path(), &mem);
    let (dir, _) = arcbox::from_model(&m, Some(img.as_ref()), false).unwrap();
    let out = tmp.path().join("snap");
    arcbox::write_dir(&dir, &out).unwrap();
    edit_json(&out.join("vm_state.json"), |v| {
        v["vcpus"][0]["x86_regs"]["rax"] = 0x1234_5678.into();
        v["vcpus"][0]["x86_regs"]["rip"] = 0xffff_ffff_8100_0000u64.into();
        v["devices"][0]["name"] = "disk0".into();
        let mut rec = arcbox::DeviceRecord::parse(
            &serde_json::from_value::<Vec<u8>>(v["devices"][0]["state"].clone()).unwrap(),
        )
        .unwrap();
        rec.irq = 9;
        v["devices"][0]["state"] = serde_json::to_value(rec.to_bytes()).unwrap();
        v["parent_id"] = "base-snapshot".into();
    });
    edit_json(&out.join("snapshot.json"), |v| {
        v["name"] = "renamed".into();
    });
    let back = arcbox::read_dir(&out).unwrap();
    let mut o = back.native_overrides();
    o.sort();
    assert_eq!(
        o,
        ["devices", "parent_id", "snapshot.json", "vcpus[0].x86_regs"]
    );
    let m2 = back.to_model();
    let Vcpu::X86_64(v) = &m2.vcpus[0] else {
        panic!()
    };
    assert_eq!(v.regs.rax, 0x1234_5678);
    assert_eq!(v.regs.rip, 0xffff_ffff_8100_0000);
    let Vcpu::X86_64(orig) = &m.vcpus[0] else {
        panic!()
    };
    assert_eq!(
        v.sregs, orig.sregs,
        "the rest of the vCPU comes from the blob"
    );
    assert_eq!(v.msrs, orig.msrs);
    let d = m2
        .devices
        .iter()
        .find(|d| d.kind == DeviceKind::Block)
        .unwrap();
    assert_eq!(d.id, "disk0");
    assert_eq!(
        d.transport,
        Some(Transport::Mmio {
            addr: 0xd000_0000,
            len: 0x1000,
            irq: Some(9)
        })
    );
    assert_eq!(m2.vm.parent_id.as_deref(), Some("base-snapshot"));
    assert!(m2.extensions.contains_key(arcbox::convert::KEY_INFO));
    assert_eq!(m2.vm.vm_id.as_deref(), Some(back.info.id.as_str()));
    // Everything not edited is unchanged.
    assert_eq!(m2.platform, m.platform);
    assert_eq!(m2.memory, m.memory);
    assert_eq!(m2.provenance.layout, "arcbox-1");
    let findings = arcbox::verify(&out);
    assert_eq!(
        findings
            .iter()
            .filter(|f| f.code == "native_override")
            .count(),
        4,
        "{findings:#?}"
    );
    // The edit reaches Firecracker: rax and rip in the written state.
    let f2 = fc::read(&fc::write(&fc::from_model(&m2, f.state.layout()).unwrap()).unwrap())
        .unwrap()
        .to_model();
    let Vcpu::X86_64(v) = &f2.vcpus[0] else {
        panic!()
    };
    assert_eq!(
        (v.regs.rax, v.regs.rip),
        (0x1234_5678, 0xffff_ffff_8100_0000)
    );

    // A region edit wins too.
    edit_json(&out.join("vm_state.json"), |v| {
        v["memory_regions"][0]["read_only"] = true.into();
    });
    let m3 = arcbox::read_dir(&out).unwrap().to_model();
    assert!(m3.memory.regions[0].read_only);
    // Deleting the device natively deletes it from the model.
    edit_json(&out.join("vm_state.json"), |v| {
        v["devices"] = serde_json::json!([]);
    });
    let m4 = arcbox::read_dir(&out).unwrap().to_model();
    assert!(!m4.devices.iter().any(|d| d.kind == DeviceKind::Block));
    assert_eq!(m4.devices.len(), m.devices.len() - 1);
}

#[test]
fn arm64_native_edit_wins() {
    let f = v10_aarch64_file();
    let m = f.to_model();
    let tmp = tempfile::tempdir().unwrap();
    let mem = vec![0u8; 64 << 20];
    let img = mem_image(tmp.path(), &mem);
    let (dir, _) = arcbox::from_model(&m, Some(img.as_ref()), true).unwrap();
    let out = tmp.path().join("snap");
    arcbox::write_dir(&dir, &out).unwrap();
    edit_json(&out.join("vm_state.json"), |v| {
        v["vcpus"][0]["arm64_regs"]["pc"] = 0x4000_0000u64.into();
        v["vcpus"][0]["arm64_regs"]["x"][3] = 77.into();
    });
    let m2 = arcbox::read_dir(&out).unwrap().to_model();
    let Vcpu::Aarch64(v) = &m2.vcpus[0] else {
        panic!()
    };
    let get = |id: u64| {
        v.regs
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.value.0.clone())
    };
    assert_eq!(
        get(arcbox::convert::ARM_PC_ID),
        Some(0x4000_0000u64.to_le_bytes().to_vec())
    );
    assert_eq!(
        get(arcbox::convert::arm_x_id(3)),
        Some(77u64.to_le_bytes().to_vec())
    );
    assert_eq!(v.regs.len(), 4, "x3 appended, the others untouched");
    assert_eq!(v.mpidr, Some(0x8000_0000));
}

/// A directory in the shape arcbox-vmm writes (the real types are exercised in
/// `interop/arcbox`, a crate of its own).
fn arcbox_written(dir: &Path, state: &serde_json::Value, mem: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("vm_state.json"),
        serde_json::to_string_pretty(state).unwrap(),
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
    if state["compressed"] == true {
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

fn x86_regs(rax: u64, rip: u64, rsp: u64, rflags: u64) -> serde_json::Value {
    let mut r = serde_json::Map::new();
    for n in [
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11", "r12",
        "r13", "r14", "r15", "rip", "rflags",
    ] {
        r.insert(n.into(), 0.into());
    }
    r.insert("rax".into(), rax.into());
    r.insert("rip".into(), rip.into());
    r.insert("rsp".into(), rsp.into());
    r.insert("rflags".into(), rflags.into());
    r.into()
}

#[test]
fn snaptool_reads_arcbox_written_dirs() {
    let mem: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    let len = mem.len() as u64;
    let state = serde_json::json!({
        "version": 1,
        "arch": "X86_64",
        "vcpus": [
            {"id": 0, "arch": "X86_64", "x86_regs": x86_regs(1, 0x10_0000, 0x8000, 0x202),
             "arm64_regs": null, "extra_state": []},
            {"id": 1, "arch": "X86_64", "x86_regs": x86_regs(0, 0, 0, 0),
             "arm64_regs": null, "extra_state": []}
        ],
        "devices": [
            {"device_type": "Block", "name": "Block-0", "state": device_record(0, 0x0a00_0000, 5)},
            {"device_type": "Vsock", "name": "Vsock-1", "state": device_record(6, 0x0a00_0400, 6)}
        ],
        "memory_regions": [{"guest_addr": 0, "size": len, "read_only": false, "file_offset": 0}],
        "total_memory": len,
        "compressed": true,
        "compression": "lz4",
        "parent_id": null
    });
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("0123456789abcdef0123456789abcdef");
    arcbox_written(&d, &state, &mem);
    assert!(arcbox::sniff_dir(&d));
    let findings = arcbox::verify(&d);
    assert!(findings.is_empty(), "{findings:#?}");
    let dir = arcbox::read_dir(&d).unwrap();
    assert!(mem_of(&dir) == mem.as_slice());
    let m = dir.to_model();
    assert_eq!(m.arch(), Arch::X86_64);
    assert_eq!(m.provenance.format, "arcbox");
    assert_eq!(m.vcpus.len(), 2);
    let Vcpu::X86_64(v) = &m.vcpus[0] else {
        panic!()
    };
    assert_eq!(
        (v.regs.rax, v.regs.rsp, v.regs.rip, v.regs.rflags),
        (1, 0x8000, 0x10_0000, 0x202)
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
    // Model → arcbox again: the native fields come out as arcbox wrote them, with a blob added.
    let img = mem_image(tmp.path(), &mem);
    let (again, _) = arcbox::from_model(&m, Some(img.as_ref()), true).unwrap();
    let mut stripped = again.state.clone();
    for v in &mut stripped.vcpus {
        assert!(!v.extra_state.is_empty());
        v.extra_state.clear();
    }
    assert_eq!(stripped, dir.state);
    assert_eq!(again.info.id, dir.info.id);
    assert_eq!(again.info.name, dir.info.name);
    assert_eq!(again.info.labels, dir.info.labels);
    assert_eq!(again.info.created, dir.info.created);
    let out = tmp.path().join("again");
    arcbox::write_dir(&again, &out).unwrap();
    assert_eq!(arcbox::read_dir(&out).unwrap().to_model(), m);

    // aarch64, uncompressed.
    let mut x = vec![0u64; 31];
    x[0] = 0xdead;
    x[30] = 0xbeef;
    let arm = serde_json::json!({
        "x": x, "sp": 0x4000_f000u64, "pc": 0x4008_0000u64, "pstate": 0x3c5,
        "fpcr": 0, "fpsr": 0, "v": vec![[0u64, 0]; 32]
    });
    let state = serde_json::json!({
        "version": 1,
        "arch": "Aarch64",
        "vcpus": [{"id": 0, "arch": "Aarch64", "x86_regs": null, "arm64_regs": arm, "extra_state": []}],
        "devices": [],
        "memory_regions": [{"guest_addr": 0, "size": len, "read_only": false, "file_offset": 0}],
        "total_memory": len,
        "compressed": false,
        "parent_id": "parent"
    });
    let d = tmp.path().join("arm");
    arcbox_written(&d, &state, &mem);
    let dir = arcbox::read_dir(&d).unwrap();
    assert_eq!(
        dir.state.compression, None,
        "a missing Option reads as null"
    );
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

#[test]
fn written_json_has_arcbox_field_order_and_size() {
    let (bytes, mem) = fixture(FIXTURES[0]);
    let m = fc::read(&bytes).unwrap().to_model();
    let tmp = tempfile::tempdir().unwrap();
    let img = mem_image(tmp.path(), &mem);
    let (dir, _) = arcbox::from_model(&m, Some(img.as_ref()), true).unwrap();
    let out = tmp.path().join("snap");
    arcbox::write_dir(&dir, &out).unwrap();
    let text = std::fs::read_to_string(out.join("vm_state.json")).unwrap();
    let pos = |k: &str| {
        text.find(&format!("\n  \"{k}\":"))
            .unwrap_or_else(|| panic!("{k}"))
    };
    let keys = [
        "version",
        "arch",
        "vcpus",
        "devices",
        "memory_regions",
        "total_memory",
        "compressed",
        "compression",
        "parent_id",
    ];
    assert!(keys.windows(2).all(|w| pos(w[0]) < pos(w[1])));
    assert!(text.starts_with("{\n  \"version\": 1,\n  \"arch\": \"X86_64\","));
    assert!(!text.ends_with('\n'));
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

#[test]
fn write_dir_refuses_and_replaces_safely() {
    let (bytes, mem) = fixture(FIXTURES[2]);
    let m = fc::read(&bytes).unwrap().to_model();
    let tmp = tempfile::tempdir().unwrap();
    let img = mem_image(tmp.path(), &mem);
    let (dir, _) = arcbox::from_model(&m, Some(img.as_ref()), true).unwrap();
    let entries = |p: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    };

    // An existing file, a foreign directory, an arcbox directory with other files: refused,
    // untouched.
    let file = tmp.path().join("file");
    std::fs::write(&file, b"keep").unwrap();
    assert!(matches!(
        arcbox::write_dir(&dir, &file),
        Err(arcbox::Error::Refused { .. })
    ));
    assert_eq!(std::fs::read(&file).unwrap(), b"keep");
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), b"keep").unwrap();
    assert!(matches!(
        arcbox::write_dir(&dir, &foreign),
        Err(arcbox::Error::Refused { .. })
    ));
    assert_eq!(std::fs::read(foreign.join("notes.txt")).unwrap(), b"keep");

    // An arcbox directory is replaced; nothing is left beside it.
    let out = tmp.path().join("snap");
    arcbox::write_dir(&dir, &out).unwrap();
    let (plain, _) = arcbox::from_model(&m, Some(img.as_ref()), false).unwrap();
    arcbox::write_dir(&plain, &out).unwrap();
    assert!(out.join("memory.bin").exists());
    assert!(!out.join("memory.bin.lz4").exists());
    std::fs::write(out.join("criu.img"), b"x").unwrap();
    assert!(matches!(
        arcbox::write_dir(&dir, &out),
        Err(arcbox::Error::Refused { .. })
    ));
    std::fs::remove_file(out.join("criu.img")).unwrap();
    let before = entries(tmp.path());
    arcbox::write_dir(&dir, &out).unwrap();
    assert_eq!(
        entries(tmp.path()),
        before,
        "no temporary directories left behind"
    );
    assert!(out.join("memory.bin.lz4").exists());
    let back = arcbox::read_dir(&out).unwrap();
    let mut m2 = back.to_model();
    m2.provenance = m.provenance.clone();
    assert_eq!(m2, m);
    assert!(mem_of(&back) == mem.as_slice());
}

/// `fixtures/arcbox/x86_64-lz4`, a directory built from arcbox-hypervisor's own types: it
/// verifies clean, reads into the registers and devices it holds, and converts losslessly to an
/// arcbox directory and to a VeridianOS file (which hold its memory) and back.
#[test]
fn arcbox_fixture_reads_verifies_and_round_trips() {
    use snaptool::convert::{self, Target};
    let d = crate::root().join("fixtures/arcbox/x86_64-lz4");
    assert_eq!(arcbox::verify(&d), []);
    let loaded = convert::load_path(&d).unwrap();
    let m = &loaded.model;
    assert_eq!(m.provenance.layout, "arcbox-1");
    assert_eq!(m.vcpus.len(), 2);
    let snaptool::model::Vcpu::X86_64(v) = &m.vcpus[0] else {
        panic!("x86_64")
    };
    assert_eq!(
        (v.regs.rip, v.regs.rsp, v.regs.r15),
        (0x10_0000, 0x8000, 15)
    );
    assert_eq!(m.devices.len(), 2);
    assert_eq!(
        m.vm.vm_id.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    let mem = loaded.memory.as_ref().expect("memory.bin.lz4");
    let all = snaptool::memory::read_all(mem.as_ref()).unwrap();
    assert!(all.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    for target in [Target::Arcbox { lz4: true }, Target::Veridian] {
        let c = convert::convert_loaded(&loaded, target, None, false)
            .unwrap_or_else(|e| panic!("{target:?}: {e}"));
        assert!(c.report.lossless, "{target:?}");
    }
    // Firecracker has no place for arcbox's snapshot.json: refused without --allow-lossy.
    let fc10 =
        Target::Firecracker(snaptool::formats::firecracker::Layout::parse("10.0.0").unwrap());
    match convert::convert_loaded(&loaded, fc10, None, false) {
        Err(convert::ConvertError::Lossy(r)) => {
            assert!(
                r.lost.iter().any(|c| c.path.contains("snapshot_info")),
                "{:?}",
                r.lost
            )
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("arcbox -> firecracker claimed lossless"),
    }
}

/// The directory's memory file content (empty without one).
fn mem_of(d: &snaptool::formats::arcbox::ArcboxDir) -> Vec<u8> {
    d.memory()
        .map(|m| snaptool::memory::read_all(m.as_ref()).unwrap())
        .unwrap_or_default()
}
