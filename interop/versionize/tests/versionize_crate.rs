//! snaptool's versionize-era encoder and decoder against the `versionize` crates Firecracker used:
//! mirror types with Firecracker's `#[version]` annotations and its `VERSION_MAP`, encoded by the
//! crate at every data version, must give snaptool's bytes, and the real files must decode and
//! re-encode through the crate unchanged.

#![allow(missing_docs)]

use snaptool::formats::firecracker::versionize::state::{self as vs, KvmCapability};
use snaptool::formats::firecracker::{self as fc, Layout, State};
use versionize::{VersionMap, Versionize, VersionizeError, VersionizeResult};
use versionize_derive::Versionize;

macro_rules! blob {
    ($name:ident, $n:literal) => {
        #[derive(Versionize, Debug, Clone, PartialEq)]
        struct $name {
            b: [u8; $n],
        }
        impl $name {
            fn of(v: &[u8]) -> Self {
                $name {
                    b: v.try_into().expect(stringify!($name)),
                }
            }
        }
    };
}
blob!(Pit, 112);
blob!(Clock, 48);
blob!(Irqchip, 520);
blob!(CpuidEntry, 40);
blob!(MsrEntry, 16);
blob!(DebugRegs, 128);
blob!(Lapic, 1024);
blob!(MpState, 4);
blob!(Regs, 144);
blob!(Sregs, 312);
blob!(Events, 64);
blob!(Xcrs, 392);
blob!(Xsave, 4096);

#[derive(Versionize, Debug, Clone, PartialEq, Default)]
struct BootSourceConfig {
    kernel_image_path: String,
    initrd_path: Option<String>,
    boot_args: Option<String>,
}

#[derive(Versionize, Debug, Clone, Copy, PartialEq, Default)]
enum StaticCpuTemplate {
    C3,
    T2,
    T2S,
    #[default]
    None,
    T2CL,
    T2A,
}

#[derive(Versionize, Debug, Clone, PartialEq)]
struct VmInfo {
    mem_size_mib: u64,
    #[version(start = 2)]
    smt: bool,
    #[version(start = 2)]
    cpu_template: StaticCpuTemplate,
    #[version(start = 2)]
    boot_source: BootSourceConfig,
}

#[derive(Versionize, Debug, Clone, PartialEq)]
struct GuestMemoryRegionState {
    base_address: u64,
    size: usize,
    offset: u64,
}

#[derive(Versionize, Debug, Clone, PartialEq)]
struct GuestMemoryState {
    regions: Vec<GuestMemoryRegionState>,
}

#[derive(Versionize, Debug, Clone, PartialEq)]
enum Cap {
    Add(u32),
    Remove(u32),
}

#[derive(Versionize, Debug, Clone, PartialEq)]
struct VmState {
    pitstate: Pit,
    clock: Clock,
    pic_master: Irqchip,
    pic_slave: Irqchip,
    ioapic: Irqchip,
    #[version(start = 2)]
    kvm_cap_modifiers: Vec<Cap>,
}

/// `FamStructWrapper<kvm_cpuid2>` on the wire: the header, then `Vec<entry>`.
#[derive(Versionize, Debug, Clone, PartialEq)]
struct CpuId {
    nent: u32,
    padding: u32,
    entries: Vec<CpuidEntry>,
}

#[derive(Versionize, Debug, Clone, PartialEq, Default)]
struct Msrs {
    nmsrs: u32,
    pad: u32,
    entries: Vec<MsrEntry>,
}

#[derive(Versionize, Debug, Clone, PartialEq)]
struct VcpuState {
    cpuid: CpuId,
    #[version(end = 3)]
    msrs: Msrs,
    #[version(start = 3)]
    saved_msrs: Vec<Msrs>,
    debug_regs: DebugRegs,
    lapic: Lapic,
    mp_state: MpState,
    regs: Regs,
    sregs: Sregs,
    vcpu_events: Events,
    xcrs: Xcrs,
    xsave: Xsave,
    #[version(start = 2)]
    tsc_khz: Option<u32>,
}

/// A device entry; every list is empty in these VMs.
#[derive(Versionize, Debug, Clone, PartialEq)]
struct Dummy {
    x: u8,
}

#[derive(Versionize, Debug, Clone, PartialEq)]
enum MmdsVersionState {
    V1,
    V2,
}

#[derive(Versionize, Debug, Clone, PartialEq)]
struct DeviceStates {
    block_devices: Vec<Dummy>,
    #[version(start = 5)]
    vhost_user_block_devices: Vec<Dummy>,
    net_devices: Vec<Dummy>,
    vsock_device: Option<Dummy>,
    #[version(start = 2)]
    balloon_device: Option<Dummy>,
    #[version(start = 3)]
    mmds_version: Option<MmdsVersionState>,
    #[version(start = 4)]
    entropy_device: Option<Dummy>,
}

#[derive(Versionize, Debug, Clone, PartialEq)]
struct MicrovmState {
    vm_info: VmInfo,
    memory_state: GuestMemoryState,
    vm_state: VmState,
    vcpu_states: Vec<VcpuState>,
    device_states: DeviceStates,
}

/// Firecracker v1.6.0's `VERSION_MAP` (src/vmm/src/version_map.rs), x86_64, for these types.
fn version_map() -> VersionMap {
    let mut m = VersionMap::new();
    m.new_version().set_type_version(DeviceStates::type_id(), 2);
    m.new_version().set_type_version(VcpuState::type_id(), 2);
    m.new_version();
    m.new_version().set_type_version(DeviceStates::type_id(), 3);
    m.new_version()
        .set_type_version(VmInfo::type_id(), 2)
        .set_type_version(VcpuState::type_id(), 3);
    m.new_version();
    m.new_version().set_type_version(DeviceStates::type_id(), 4);
    m.new_version().set_type_version(VmState::type_id(), 2);
    m.new_version().set_type_version(DeviceStates::type_id(), 5);
    m
}

fn msrs(
    f: &(
        snaptool::formats::firecracker::wire::Blob,
        Vec<snaptool::formats::firecracker::wire::Blob>,
    ),
) -> Msrs {
    let h = &f.0.0;
    Msrs {
        nmsrs: u32::from_le_bytes(h[0..4].try_into().unwrap()),
        pad: u32::from_le_bytes(h[4..8].try_into().unwrap()),
        entries: f.1.iter().map(|e| MsrEntry::of(&e.0)).collect(),
    }
}

/// snaptool's state → the mirror types.
/// `msrs` exists before `VcpuState` v3 (data version 6), `saved_msrs` from it on; the other
/// holds its default, as the crate leaves it on reading.
fn mirror(s: &vs::MicrovmState) -> MicrovmState {
    let old_msrs = s.data_version < 6;
    let templates = [
        StaticCpuTemplate::C3,
        StaticCpuTemplate::T2,
        StaticCpuTemplate::T2S,
        StaticCpuTemplate::None,
        StaticCpuTemplate::T2CL,
        StaticCpuTemplate::T2A,
    ];
    let b = &s.vm_info.boot_source;
    MicrovmState {
        vm_info: VmInfo {
            mem_size_mib: s.vm_info.mem_size_mib,
            smt: s.vm_info.smt,
            cpu_template: templates[s.vm_info.cpu_template as usize],
            boot_source: BootSourceConfig {
                kernel_image_path: b.kernel_image_path.clone(),
                initrd_path: b.initrd_path.clone(),
                boot_args: b.boot_args.clone(),
            },
        },
        memory_state: GuestMemoryState {
            regions: s
                .memory_state
                .iter()
                .map(|r| GuestMemoryRegionState {
                    base_address: r.base_address,
                    size: r.size as usize,
                    offset: r.offset,
                })
                .collect(),
        },
        vm_state: VmState {
            pitstate: Pit::of(&s.vm_state.pitstate.0),
            clock: Clock::of(&s.vm_state.clock.0),
            pic_master: Irqchip::of(&s.vm_state.pic_master.0),
            pic_slave: Irqchip::of(&s.vm_state.pic_slave.0),
            ioapic: Irqchip::of(&s.vm_state.ioapic.0),
            kvm_cap_modifiers: s
                .vm_state
                .kvm_cap_modifiers
                .iter()
                .map(|c| match c {
                    KvmCapability::Add(n) => Cap::Add(*n),
                    KvmCapability::Remove(n) => Cap::Remove(*n),
                })
                .collect(),
        },
        vcpu_states: s
            .vcpu_states
            .iter()
            .map(|c| {
                let h = &c.cpuid.0.0;
                VcpuState {
                    cpuid: CpuId {
                        nent: u32::from_le_bytes(h[0..4].try_into().unwrap()),
                        padding: u32::from_le_bytes(h[4..8].try_into().unwrap()),
                        entries: c.cpuid.1.iter().map(|e| CpuidEntry::of(&e.0)).collect(),
                    },
                    msrs: match old_msrs {
                        true => msrs(&c.saved_msrs[0]),
                        false => Msrs::default(),
                    },
                    saved_msrs: match old_msrs {
                        true => Vec::new(),
                        false => c.saved_msrs.iter().map(msrs).collect(),
                    },
                    debug_regs: DebugRegs::of(&c.debug_regs.0),
                    lapic: Lapic::of(&c.lapic.0),
                    mp_state: MpState::of(&c.mp_state.0),
                    regs: Regs::of(&c.regs.0),
                    sregs: Sregs::of(&c.sregs.0),
                    vcpu_events: Events::of(&c.vcpu_events.0),
                    xcrs: Xcrs::of(&c.xcrs.0),
                    xsave: Xsave::of(&c.xsave.0),
                    tsc_khz: c.tsc_khz,
                }
            })
            .collect(),
        device_states: DeviceStates {
            block_devices: Vec::new(),
            vhost_user_block_devices: Vec::new(),
            net_devices: Vec::new(),
            vsock_device: None,
            balloon_device: None,
            mmds_version: s.device_states.mmds_version.map(|v| match v {
                0 => MmdsVersionState::V1,
                _ => MmdsVersionState::V2,
            }),
            entropy_device: None,
        },
    }
}

fn fixture(rel: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn crate_encode(s: &MicrovmState, dv: u16) -> Vec<u8> {
    let mut out = Vec::new();
    s.serialize(&mut out, &version_map(), dv).unwrap();
    out
}

/// The real files decode through the crate at their data version and encode back to their
/// bytes, and the crate's reading is snaptool's.
#[test]
fn real_files_through_the_crate() {
    for (name, dv) in [
        ("firecracker-1.4.1/counter-1vcpu/vmstate", 8),
        ("firecracker-1.4.1/counter-1vcpu/vmstate.diff", 8),
        ("firecracker-1.6.0/counter-fpu-1vcpu/vmstate", 10),
        ("firecracker-1.6.0/counter-fpu-1vcpu/vmstate.diff", 10),
    ] {
        let bytes = fixture(name);
        let payload = &bytes[10..bytes.len() - 8];
        let mut r = payload;
        let theirs = MicrovmState::deserialize(&mut r, &version_map(), dv).unwrap();
        assert!(r.is_empty(), "{name}: the crate leaves {} bytes", r.len());
        assert!(
            crate_encode(&theirs, dv) == payload,
            "{name}: the crate re-encodes other bytes"
        );
        let f = fc::read(&bytes).unwrap();
        let State::Versionize(ours) = &f.state else {
            panic!("{name}")
        };
        assert!(
            mirror(ours) == theirs,
            "{name}: the crate reads other values"
        );
    }
}

/// At every data version 1–10 the crate's encoding of the state snaptool writes is snaptool's,
/// and snaptool decodes what the crate writes.
#[test]
fn every_data_version_matches_the_crate() {
    let m = fc::read(&fixture("firecracker-1.6.0/counter-fpu-1vcpu/vmstate"))
        .unwrap()
        .to_model();
    for dv in 1..=10u16 {
        let f = fc::from_model(&m, Layout::Versionize(dv)).unwrap();
        let State::Versionize(s) = &f.state else {
            panic!()
        };
        let ours = vs::encode(s);
        let theirs = crate_encode(&mirror(s), dv);
        assert!(
            ours == theirs,
            "data version {dv}: the crate writes other bytes"
        );
        let back = snaptool::formats::firecracker::versionize::decode_payload(&theirs, dv).unwrap();
        assert!(
            &back == &**s,
            "data version {dv}: snaptool reads the crate's bytes differently"
        );
        let mut r = &ours[..];
        let read = MicrovmState::deserialize(&mut r, &version_map(), dv).unwrap();
        assert!(r.is_empty());
        assert!(
            read == mirror(s),
            "data version {dv}: the crate reads other values"
        );
    }
}

/// With an MMDS version and capability modifiers set, both still agree.
#[test]
fn optional_values_match_the_crate() {
    let f = fc::read(&fixture("firecracker-1.6.0/counter-fpu-1vcpu/vmstate")).unwrap();
    let State::Versionize(s) = &f.state else {
        panic!()
    };
    let mut s = (**s).clone();
    s.device_states.mmds_version = Some(1);
    s.vm_state.kvm_cap_modifiers = vec![KvmCapability::Add(7), KvmCapability::Remove(9)];
    s.vm_info.cpu_template = 4;
    s.vm_info.boot_source.initrd_path = Some("initrd.img".into());
    assert!(
        vs::encode(&s) == crate_encode(&mirror(&s), 10),
        "optional values encode differently"
    );
    // An unknown variant index is refused by both.
    let mut bytes = vs::encode(&s);
    bytes[9] = 9; // cpu_template low byte
    let mut r = &bytes[..];
    assert!(matches!(
        MicrovmState::deserialize(&mut r, &version_map(), 10),
        Err(VersionizeError::Deserialize(_))
    ));
    assert!(snaptool::formats::firecracker::versionize::decode_payload(&bytes, 10).is_err());
    let _: VersionizeResult<()> = Ok(());
}
