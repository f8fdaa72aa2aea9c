//! Tests of the versionize-era reader and writer against the real v1.4.1 and v1.6.0 files.

use super::state::type_versions;
use super::*;
use crate::formats::firecracker::{self as fc, Layout, State};
use crate::model::{Snapshot, Vcpu};

fn fixture(rel: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const FILES: [&str; 4] = [
    "firecracker-1.4.1/counter-1vcpu/vmstate",
    "firecracker-1.4.1/counter-1vcpu/vmstate.diff",
    "firecracker-1.6.0/counter-fpu-1vcpu/vmstate",
    "firecracker-1.6.0/counter-fpu-1vcpu/vmstate.diff",
];

fn state_of(f: &fc::FcFile) -> &MicrovmState {
    match &f.state {
        State::Versionize(s) => s,
        other => panic!("not a versionize state: {:?}", other.layout()),
    }
}

/// Firecracker v1.6.0's `VERSION_MAP` (x86_64), type by type.
#[test]
fn type_versions_follow_firecrackers_version_map() {
    let want = [
        // dv: (VmInfo, VmState, VcpuState, DeviceStates)
        (1, (1, 1, 1, 1)),
        (2, (1, 1, 1, 2)),
        (3, (1, 1, 2, 2)),
        (4, (1, 1, 2, 2)),
        (5, (1, 1, 2, 3)),
        (6, (2, 1, 3, 3)),
        (7, (2, 1, 3, 3)),
        (8, (2, 1, 3, 4)),
        (9, (2, 2, 3, 4)),
        (10, (2, 2, 3, 5)),
    ];
    for (dv, (a, b, c, d)) in want {
        let t = type_versions(dv);
        assert_eq!(
            (t.vm_info, t.vm_state, t.vcpu, t.devices),
            (a, b, c, d),
            "dv {dv}"
        );
    }
    assert_eq!(describe(1).as_deref(), Some("v0.23.0"));
    assert_eq!(describe(3).as_deref(), Some("v0.25.0"));
    assert_eq!(describe(8).as_deref(), Some("v1.4.0"));
    assert_eq!(describe(10).as_deref(), Some("v1.6.0"));
    assert_eq!(describe(11), None);
    assert_eq!(readers(9), ["v1.5.0", "v1.5.1", "v1.6.0"]);
    assert_eq!(parse("firecracker@1.4"), Some(Layout::Versionize(8)));
    assert_eq!(parse("v0.23.5"), Some(Layout::Versionize(1)));
    assert_eq!(
        parse("firecracker-versionize-10"),
        Some(Layout::Versionize(10))
    );
    assert_eq!(parse("versionize-11"), None);
    assert_eq!(parse("1.7"), None);
}

#[test]
fn real_files_read_and_write_back_byte_for_byte() {
    for (name, dv) in FILES.iter().zip([8, 8, 10, 10]) {
        let bytes = fixture(name);
        let f = fc::read(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(f.state.layout(), Layout::Versionize(dv), "{name}");
        assert_eq!(f.header.data_version, Some(dv));
        assert_eq!(fc::write(&f).unwrap(), bytes, "{name}: read → write");
        // Through the model: model → state → bytes.
        let m = f.to_model();
        let again = fc::write(&fc::from_model(&m, Layout::Versionize(dv)).unwrap()).unwrap();
        assert_eq!(again, bytes, "{name}: model → write");
        // And through the model's JSON.
        let j = serde_json::to_string(&m).unwrap();
        let m2: Snapshot = serde_json::from_str(&j).unwrap();
        assert_eq!(m2, m);
    }
}

#[test]
fn real_files_map_to_the_model() {
    let f = fc::read(&fixture(FILES[2])).unwrap();
    let s = state_of(&f);
    assert_eq!(s.vm_info.mem_size_mib, 64);
    assert_eq!(s.vm_info.boot_source.kernel_image_path, "guest/counter.elf");
    assert_eq!(s.memory_state.len(), 1);
    assert_eq!(s.vcpu_states.len(), 1);
    assert_eq!(s.device_states.mmds_version, None);
    let m = f.to_model();
    assert_eq!(m.provenance.layout, "firecracker-versionize-10");
    assert_eq!(m.provenance.version, "data version 10");
    assert_eq!(m.memory.regions[0].size, 64 << 20);
    assert!(m.memory.regions[0].explicit_offset);
    assert_eq!(m.vm.huge_pages, None);
    let Vcpu::X86_64(v) = &m.vcpus[0] else {
        panic!()
    };
    // Firecracker's own dump of this file: rip 1049480, cr3 0x103000.
    assert_eq!(v.regs.rip, 1_049_480);
    assert_eq!(v.sregs.cr3, 0x103000);
    assert!(v.tsc_khz.is_some());
    assert_eq!(v.cpuid.len(), 57);
    // The guest's live state is in xmm0 (legacy XSAVE area, offset 160).
    let xsave = v.xsave.as_ref().unwrap();
    assert_eq!(xsave.region.0.len(), 4096);
    assert!(
        xsave.region.0[160..176].iter().any(|&b| b != 0),
        "xmm0 is live"
    );
}

/// Each data version writes exactly the fields it has: payload sizes grow by the bytes of
/// the fields each version adds, and every version reads back what it wrote.
#[test]
fn every_data_version_writes_and_reads_back() {
    let m = fc::read(&fixture(FILES[0])).unwrap().to_model();
    let mut sizes = Vec::new();
    for dv in 1..=LATEST {
        let f = fc::from_model(&m, Layout::Versionize(dv)).unwrap();
        let bytes = fc::write(&f).unwrap();
        let back = fc::read(&bytes).unwrap_or_else(|e| panic!("dv {dv}: {e}"));
        assert_eq!(back.state, f.state, "dv {dv}");
        assert_eq!(fc::write(&back).unwrap(), bytes, "dv {dv}");
        sizes.push(bytes.len() as i64);
    }
    let boot =
        8 + "guest/counter.elf".len() + 1 + 1 + 8 + "console=ttyS0 reboot=k panic=1 pci=off".len();
    let added: Vec<i64> = sizes.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(
        added,
        [
            1,                       // dv2: DeviceStates v2 balloon_device
            5,                       // dv3: VcpuState v2 tsc_khz
            0,                       // dv4: virtio types only
            1,                       // dv5: DeviceStates v3 mmds_version
            1 + 4 + boot as i64 + 8, // dv6: VmInfo v2; VcpuState v3 saved_msrs Vec
            0,                       // dv7: no change
            1,                       // dv8: DeviceStates v4 entropy_device
            8,                       // dv9: VmState v2 kvm_cap_modifiers
            8,                       // dv10: DeviceStates v5 vhost_user_block_devices
        ]
    );
    // The real v1.4.1 file is the data-version-8 encoding of its own model.
    assert_eq!(sizes[7], fixture(FILES[0]).len() as i64);
}

#[test]
fn every_truncation_is_a_clean_error() {
    for name in [FILES[0], FILES[2]] {
        let bytes = fixture(name);
        let mut cut = 0;
        while cut < bytes.len() {
            assert!(fc::read(&bytes[..cut]).is_err(), "{name} cut to {cut}");
            let body = &bytes[..cut];
            let _ = decode_body(body, 10);
            cut += if cut < 300 { 1 } else { 61 };
        }
    }
}

#[test]
fn header_and_crc_flips_are_clean_errors() {
    let bytes = fixture(FILES[2]);
    let n = bytes.len();
    for off in (0..10).chain(n - 8..n) {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[off] ^= 1 << bit;
            assert!(fc::read(&b).is_err(), "bit {bit} of byte {off}");
        }
    }
}

/// Re-seals a body with a fresh CRC.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.truncate(bytes.len() - 8);
    crate::envelope::seal(bytes)
}

#[test]
fn hostile_lengths_are_refused_before_allocating() {
    let f = fc::read(&fixture(FILES[2])).unwrap();
    let s = state_of(&f).clone();
    // The vcpu_states length sits right before the first vCPU's cpuid header.
    let payload = state::encode(&s);
    let mut no_vcpus = s.clone();
    no_vcpus.vcpu_states.clear();
    let before = state::encode(&no_vcpus);
    let at = 10 + before.len() - 8 - 28; // device states of dv10 take 28 bytes
    let mut bytes = fc::write(&f).unwrap();
    assert_eq!(&bytes[at..at + 8], &1u64.to_le_bytes());
    bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    let e = fc::read(&reseal(bytes.clone())).unwrap_err().to_string();
    assert!(e.contains("vcpu_states") && e.contains("cap"), "{e}");
    bytes[at..at + 8].copy_from_slice(&2u64.to_le_bytes());
    let e = fc::read(&reseal(bytes)).unwrap_err().to_string();
    assert!(e.contains("vcpu_states") && e.contains("left"), "{e}");
    assert!(payload.len() > before.len());
}

#[test]
fn inconsistent_values_are_refused() {
    let f = fc::read(&fixture(FILES[2])).unwrap();
    let s = state_of(&f).clone();
    // A CpuId header counting other than its entries.
    let mut t = s.clone();
    t.vcpu_states[0].cpuid.0.0[0] ^= 1;
    let e = decode_payload(&state::encode(&t), 10)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cpuid") && e.contains("header counts"), "{e}");
    // Bytes after the state.
    let mut p = state::encode(&s);
    p.push(0);
    let e = decode_payload(&p, 10).unwrap_err().to_string();
    assert!(e.contains("1 bytes follow the state"), "{e}");
    // A virtio device.
    let mut p = state::encode(&s);
    let dev = p.len() - 28;
    p[dev] = 1;
    let e = decode_payload(&p, 10).unwrap_err().to_string();
    assert!(
        e.contains("block_devices") && e.contains("without virtio devices"),
        "{e}"
    );
    // A bool that is neither 0 nor 1 (vm_info.smt right after mem_size_mib).
    let mut p = state::encode(&s);
    p[8] = 2;
    let e = decode_payload(&p, 10).unwrap_err().to_string();
    assert!(e.contains("vm_info.smt"), "{e}");
    // Unknown data versions and aarch64.
    let mut b = fc::write(&f).unwrap();
    b[8] = 11;
    assert!(
        fc::read(&reseal(b.clone()))
            .unwrap_err()
            .to_string()
            .contains("data version 11")
    );
    b[8] = 10;
    b[2..4].copy_from_slice(&[0xaa, 0xaa]);
    assert!(
        fc::read(&reseal(b))
            .unwrap_err()
            .to_string()
            .contains("aarch64")
    );
}

/// A KVM structure whose bytes the typed model does not reproduce (non-zero padding) travels
/// in the raw extension, and is written back exactly.
#[test]
fn structures_with_nonzero_padding_survive_the_model() {
    let f = fc::read(&fixture(FILES[0])).unwrap();
    let mut s = state_of(&f).clone();
    // kvm_cpuid_entry2 padding (bytes 28..40) and kvm_debugregs reserved words.
    s.vcpu_states[0].cpuid.1[0].0[30] = 0x5a;
    s.vcpu_states[0].debug_regs.0[100] = 0x5a;
    let bytes = write(f.header.magic, &s);
    let m = fc::read(&bytes).unwrap().to_model();
    let raw = &m.extensions[convert::KEY_RAW].value;
    assert!(raw.get("vcpu[0].cpuid.entries[0]").is_some(), "{raw}");
    assert!(raw.get("vcpu[0].debug_regs").is_some(), "{raw}");
    assert!(raw.get("vcpu[0].regs").is_none(), "{raw}");
    let again = fc::write(&fc::from_model(&m, Layout::Versionize(8)).unwrap()).unwrap();
    assert_eq!(again, bytes);
    // Once the typed value changes, the raw bytes no longer apply.
    let mut m2 = m.clone();
    let Vcpu::X86_64(v) = &mut m2.vcpus[0] else {
        panic!()
    };
    v.cpuid[0].eax ^= 1;
    let s2 = convert::from_model(&m2, 8).unwrap();
    assert_eq!(s2.vcpu_states[0].cpuid.1[0].0[30], 0);
    assert_eq!(s2.vcpu_states[0].debug_regs.0[100], 0x5a);
}

#[test]
fn model_that_does_not_fit_is_refused() {
    let mut m = fc::read(&fixture(FILES[2])).unwrap().to_model();
    m.vm.huge_pages = Some("2M".into());
    assert!(convert::from_model(&m, 10).is_err());
    m.vm.huge_pages = None;
    m.vm.kvm_cap_modifiers = vec![crate::model::KvmCapModifier::Add(7)];
    assert!(convert::from_model(&m, 8).is_err());
    let s = convert::from_model(&m, 9).unwrap();
    assert_eq!(s.vm_state.kvm_cap_modifiers, [state::KvmCapability::Add(7)]);
}
