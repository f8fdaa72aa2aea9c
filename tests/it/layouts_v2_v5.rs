//! Formats 2.0.0–5.0.0. Only 4.0.0 has a real fixture (Firecracker v1.10.1); the others are
//! built from its model through each layout's types, and aarch64 states are built by hand. Each
//! must survive write → read → model → write byte for byte.

use crate::{real_states, root};
use snaptool::formats::firecracker::{self as fc, Layout, State, v2, v4, wire::Blob};
use snaptool::model::{DeviceKind, Snapshot, Transport, Vcpu};
use snaptool::verify::verify_state;
use std::num::NonZeroU64;

const FIXTURE: &str = "fixtures/firecracker-1.10.1/counter-1vcpu/vmstate";
const OURS: [Layout; 4] = [
    Layout::V2_0_0,
    Layout::V3_0_0,
    Layout::V4_0_0,
    Layout::V5_0_0,
];

fn real(rel: &str) -> fc::FcFile {
    fc::read(&std::fs::read(root().join(rel)).unwrap()).unwrap()
}

/// Writes `f`, reads it back (same layout and state), checks it is clean, and that read → model
/// → write and write → read → write reproduce the bytes.
fn check(f: &fc::FcFile) -> (Vec<u8>, Snapshot) {
    let bytes = fc::write(f).unwrap();
    let back = fc::read(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.state, f.state);
    assert!(fc::write(&back).unwrap() == bytes, "write → read → write");
    let r = verify_state("synthetic", &bytes, None);
    assert!(r.clean, "{:#?}", r.findings);
    let m = back.to_model();
    let again = fc::from_model(&m, f.state.layout()).unwrap();
    assert!(
        fc::write(&again).unwrap() == bytes,
        "bytes differ after the model"
    );
    (bytes, m)
}

/// The model without what legitimately differs between layouts holding the same VM: the
/// provenance, and whether region offsets are stored.
fn comparable(m: &Snapshot) -> Snapshot {
    let mut m = m.clone();
    m.provenance.layout.clear();
    m.provenance.version.clear();
    m.provenance.releases.clear();
    for r in &mut m.memory.regions {
        r.explicit_offset = false;
    }
    m
}

#[test]
fn v1_10_1_fixture_is_format_4() {
    for name in ["vmstate", "vmstate.diff"] {
        let f = real(&format!("fixtures/firecracker-1.10.1/counter-1vcpu/{name}"));
        assert_eq!(f.state.layout(), Layout::V4_0_0);
        assert_eq!(f.version_text, "4.0.0");
        assert_eq!(f.readers(), ["v1.10.1"]);
        let m = f.to_model();
        assert_eq!(m.provenance.layout, "firecracker-4.0.0");
        assert_eq!(m.provenance.releases, ["v1.10.1"]);
        assert!(m.memory.regions.iter().all(|r| r.explicit_offset));
        assert_eq!(m.memory.regions[0].file_offset, 0);
        let Vcpu::X86_64(v) = &m.vcpus[0] else {
            panic!()
        };
        let xsave = v.xsave.as_ref().unwrap();
        assert_eq!((xsave.region.0.len(), xsave.len_field), (4096, Some(0)));
        assert!(xsave.extra.is_empty());
        assert!(m.devices.iter().any(|d| d.kind == DeviceKind::VmGenId));
    }
}

/// Every layout of this family, built from the v1.10.1 fixture's model, reads back to the same
/// model (up to provenance and stored offsets) and is stable under write → read → write.
#[test]
fn each_layout_from_the_v1_10_1_model() {
    let m = real(FIXTURE).to_model();
    for layout in OURS.into_iter().chain([Layout::V6_0_0]) {
        let f = fc::from_model(&m, layout).unwrap_or_else(|e| panic!("{layout:?}: {e}"));
        assert_eq!(f.version_text, layout.info().version.to_string());
        let (_, back) = check(&f);
        assert_eq!(back.provenance.layout, layout.info().id);
        assert_eq!(
            comparable(&back),
            comparable(&m),
            "{layout:?}: model differs"
        );
        assert_eq!(
            back.memory.regions[0].explicit_offset,
            matches!(layout, Layout::V2_0_0 | Layout::V3_0_0 | Layout::V4_0_0)
        );
    }
}

/// The same VM stored by 4.0.0 and by 6.0.0 (kvm_xsave vs kvm_xsave2) gives the same vCPUs.
#[test]
fn xsave_gives_the_same_model_as_6_0_0() {
    let m4 = real(FIXTURE).to_model();
    let f6 = fc::from_model(&m4, Layout::V6_0_0).unwrap();
    let m6 = fc::read(&fc::write(&f6).unwrap()).unwrap().to_model();
    assert_eq!(m6.vcpus, m4.vcpus);
    let back = fc::from_model(&m6, Layout::V4_0_0).unwrap();
    assert_eq!(back.state, real(FIXTURE).state);
}

/// Models read from every real fixture (6.0.0 and 10.0.0 too) write as each layout here.
#[test]
fn every_fixture_writes_as_each_layout() {
    for p in real_states() {
        let m = fc::read(&std::fs::read(&p).unwrap()).unwrap().to_model();
        for layout in OURS {
            let f = match fc::from_model(&m, layout) {
                Ok(f) => f,
                Err(e) => panic!("{} as {layout:?}: {e}", p.display()),
            };
            let (_, back) = check(&f);
            assert_eq!(back.vcpus, m.vcpus, "{} as {layout:?}", p.display());
            assert_eq!(back.platform, m.platform, "{} as {layout:?}", p.display());
        }
    }
}

/// XSAVE state beyond 4 KiB (AMX) cannot be stored as a `kvm_xsave`; an all-zero tail can.
#[test]
fn xsave_beyond_4k_is_refused_unless_zero() {
    let mut m = real(FIXTURE).to_model();
    let Vcpu::X86_64(v) = &mut m.vcpus[0] else {
        panic!()
    };
    v.xsave.as_mut().unwrap().extra = vec![0; 1728];
    let f = fc::from_model(&m, Layout::V5_0_0).unwrap();
    assert_eq!(
        f.state,
        fc::from_model(&real(FIXTURE).to_model(), Layout::V5_0_0)
            .unwrap()
            .state
    );
    let Vcpu::X86_64(v) = &mut m.vcpus[0] else {
        panic!()
    };
    v.xsave.as_mut().unwrap().extra[7] = 1;
    for layout in OURS {
        let e = fc::from_model(&m, layout).unwrap_err().to_string();
        assert!(e.contains("beyond 4 KiB"), "{e}");
    }
}

fn queue() -> v2::devices::QueueState {
    v2::devices::QueueState {
        max_size: 256,
        size: 256,
        ready: true,
        desc_table: 0x10_0000,
        avail_ring: 0x10_1000,
        used_ring: 0x10_2000,
        next_avail: 3,
        next_used: 3,
        num_added: 0,
    }
}

fn virtio(device_type: u32) -> v2::devices::VirtioDeviceState {
    v2::devices::VirtioDeviceState {
        device_type,
        avail_features: 0x1_0000_0020,
        acked_features: 0x1_0000_0020,
        queues: vec![queue(), queue()],
        interrupt_status: 0,
        activated: true,
    }
}

fn transport() -> v2::devices::MmioTransportState {
    v2::devices::MmioTransportState {
        features_select: 0,
        acked_features_select: 0,
        queue_select: 1,
        device_status: 15,
        config_generation: 0,
    }
}

fn no_limits() -> v2::devices::RateLimiterState {
    v2::devices::RateLimiterState {
        ops: None,
        bandwidth: None,
    }
}

fn info(addr: u64, irq: u32) -> v2::devices::MmioDeviceInfo {
    v2::devices::MmioDeviceInfo {
        addr,
        len: 0x1000,
        irqs: vec![irq],
    }
}

fn block() -> v2::devices::ConnectedBlockState {
    use v2::devices::*;
    ConnectedBlockState {
        device_id: "rootfs".into(),
        device_state: BlockState::Virtio(VirtioBlockState {
            id: "rootfs".into(),
            partuuid: None,
            cache_type: CacheType::Unsafe,
            root_device: true,
            disk_path: "rootfs.ext4".into(),
            virtio_state: virtio(2),
            rate_limiter_state: no_limits(),
            file_engine_type: FileEngineTypeState::Sync,
        }),
        transport_state: transport(),
        device_info: info(0xd000_0000, 5),
    }
}

/// A 4.0.0 network device (with `rx_buffers_state` and non-zero MMDS limits).
fn net4() -> v4::devices::ConnectedNetState {
    use v4::devices::*;
    ConnectedNetState {
        device_id: "eth0".into(),
        device_state: NetState {
            id: "eth0".into(),
            tap_if_name: "tap0".into(),
            rx_rate_limiter_state: no_limits(),
            tx_rate_limiter_state: no_limits(),
            mmds_ns: Some(MmdsNetworkStackState {
                mac_addr: [6, 1, 2, 3, 4, 5],
                ipv4_addr: 0xa9fe_a9fe,
                tcp_port: 80,
                max_connections: NonZeroU64::new(30).unwrap(),
                max_pending_resets: NonZeroU64::new(100).unwrap(),
            }),
            config_space: NetConfigSpaceState {
                guest_mac: Some("06:00:ac:10:00:02".into()),
            },
            virtio_state: virtio(1),
            rx_buffers_state: RxBufferState {
                parsed_descriptor_chains_nr: 2,
                used_descriptors: 1,
                used_bytes: 1514,
            },
        },
        transport_state: transport(),
        device_info: info(0xd000_1000, 6),
    }
}

/// The 3.0.0 network device of v1.9.x (no `rx_buffers_state`, MMDS limits as `usize`).
fn net3() -> v2::devices::ConnectedNetState {
    let n = net4();
    let s = n.device_state;
    let mmds = s.mmds_ns.unwrap();
    v2::devices::ConnectedNetState {
        device_id: n.device_id,
        device_state: v2::devices::NetState {
            id: s.id,
            tap_if_name: s.tap_if_name,
            rx_rate_limiter_state: s.rx_rate_limiter_state,
            tx_rate_limiter_state: s.tx_rate_limiter_state,
            mmds_ns: Some(v2::devices::MmdsNetworkStackState {
                mac_addr: mmds.mac_addr,
                ipv4_addr: mmds.ipv4_addr,
                tcp_port: mmds.tcp_port,
                max_connections: 0,
                max_pending_resets: 0,
            }),
            config_space: s.config_space,
            virtio_state: s.virtio_state,
        },
        transport_state: n.transport_state,
        device_info: n.device_info,
    }
}

fn with_version(f: &fc::FcFile, v: &str) -> fc::FcFile {
    let mut f = f.clone();
    f.version_text = v.into();
    f
}

/// "3.0.0" names two layouts. A v1.10.0 file (4.0.0 layout under "3.0.0") with a network device
/// decodes only as the 4.0.0 layout, keeps its version string through the model, and is read
/// by v1.10.0 alone; a v1.9.x file with one decodes only as the 3.0.0 layout.
#[test]
fn version_3_0_0_is_told_apart_by_strict_decode() {
    let mut f = real(FIXTURE);
    let State::V4X86(s) = &mut f.state else {
        panic!()
    };
    s.device_states.net_devices.push(net4());
    s.device_states.block_devices.push(block());
    s.device_states.mmds_version = Some(v4::devices::MmdsVersionState::V2);
    let v1_10_0 = with_version(&f, "3.0.0");
    let (bytes, m) = check(&v1_10_0);
    let back = fc::read(&bytes).unwrap();
    assert_eq!(back.state.layout(), Layout::V4_0_0);
    assert_eq!(back.version_text, "3.0.0");
    assert_eq!(back.readers(), ["v1.10.0"]);
    assert_eq!(m.provenance.version, "3.0.0");
    assert_eq!(m.provenance.releases, ["v1.10.0"]);
    let net = m
        .devices
        .iter()
        .find(|d| d.kind == DeviceKind::Net)
        .unwrap();
    assert_eq!(
        net.transport,
        Some(Transport::Mmio {
            addr: 0xd000_1000,
            len: 0x1000,
            irq: Some(6)
        })
    );
    assert_eq!(
        match &net.config {
            Some(snaptool::model::DeviceConfig::Net(c)) => c.host_dev_name.as_deref(),
            _ => None,
        },
        Some("tap0")
    );
    // The same state under "4.0.0" is read by v1.10.1 alone.
    let (_, m4) = check(&f);
    assert_eq!(m4.provenance.releases, ["v1.10.1"]);
    // Writing v1.10.0's model as 4.0.0 renumbers it (what v1.10.1 reads), same bytes otherwise.
    let mut m_as_4 = m.clone();
    m_as_4.provenance.layout = "firecracker-2.0.0".into();
    let renumbered = fc::from_model(&m_as_4, Layout::V4_0_0).unwrap();
    assert_eq!(renumbered.version_text, "4.0.0");
    assert_eq!(renumbered.state, f.state);

    // v1.9.x: the 3.0.0 layout with a network device.
    let m9 = real(FIXTURE).to_model();
    let mut g = fc::from_model(&m9, Layout::V3_0_0).unwrap();
    let State::V3X86(s) = &mut g.state else {
        panic!()
    };
    s.device_states.net_devices.push(net3());
    let (bytes, m) = check(&g);
    let back = fc::read(&bytes).unwrap();
    assert_eq!(back.state.layout(), Layout::V3_0_0);
    assert_eq!(back.readers(), ["v1.9.0", "v1.9.1"]);
    assert_eq!(m.provenance.releases, ["v1.9.0", "v1.9.1"]);
}

/// Without network devices the two "3.0.0" layouts are the same bytes: such a file reads as the
/// v1.9.x layout and every release writing "3.0.0" reads it.
#[test]
fn version_3_0_0_without_net_devices_is_read_by_both() {
    let f = with_version(&real(FIXTURE), "3.0.0");
    let bytes = fc::write(&f).unwrap();
    let back = fc::read(&bytes).unwrap();
    assert_eq!(back.state.layout(), Layout::V3_0_0);
    assert_eq!(back.readers(), ["v1.9.0", "v1.9.1", "v1.10.0"]);
    assert!(fc::write(&back).unwrap() == bytes);
    let again = fc::from_model(&back.to_model(), Layout::V3_0_0).unwrap();
    assert!(fc::write(&again).unwrap() == bytes);
}

/// A damaged "3.0.0" file names both layouts in its decode error.
#[test]
fn damaged_3_0_0_names_both_layouts() {
    let f = with_version(&real(FIXTURE), "3.0.0");
    let mut bytes = fc::write(&f).unwrap();
    bytes.truncate(bytes.len() / 2);
    bytes.extend_from_slice(&[0; 8]);
    let e = fc::read_with(&bytes, fc::ReadOptions { check_crc: false })
        .unwrap_err()
        .to_string();
    assert!(e.contains("firecracker-3.0.0"), "{e}");
    assert!(e.contains("firecracker-4.0.0"), "{e}");
}

/// 4.0.0 stores the MMDS limits as `NonZeroUsize`: a zero does not decode.
#[test]
fn mmds_limits_are_non_zero_in_4_0_0() {
    let mut f = real(FIXTURE);
    let State::V4X86(s) = &mut f.state else {
        panic!()
    };
    s.device_states.net_devices.push(net4());
    let mut bytes = fc::write(&f).unwrap();
    // max_connections = 30 → 0 (u64 LE), CRC recomputed.
    let at = bytes
        .windows(16)
        .position(|w| w == [30, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0])
        .unwrap();
    bytes[at] = 0;
    let n = bytes.len() - 8;
    let crc = snaptool::envelope::crc64(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
    let e = fc::read(&bytes).unwrap_err().to_string();
    assert!(e.contains("max_connections"), "{e}");
}

/// An aarch64 4.0.0 state (legacy devices, a block device, VMGenID), and the same VM converted
/// to every other layout of the family and to 6.0.0.
#[test]
fn aarch64_states() {
    use v4::aarch64::*;
    let base = real(FIXTURE);
    let State::V4X86(s) = &base.state else {
        panic!()
    };
    let legacy = |type_, addr, irq| ConnectedLegacyState {
        type_,
        device_info: info(addr, irq),
    };
    let mut regs = 0x4008_1234u64.to_le_bytes().to_vec();
    regs.extend_from_slice(&[0xab; 16]);
    let state = MicrovmState {
        vm_info: VmInfo {
            mem_size_mib: 64,
            smt: false,
            cpu_template: StaticCpuTemplate::V1N1,
            boot_source: s.vm_info.boot_source.clone(),
            huge_pages: v4::devices::HugePageConfig::None,
        },
        memory_state: v4::devices::GuestMemoryState {
            regions: vec![v4::devices::GuestMemoryRegionState {
                base_address: 0x8000_0000,
                size: 64 << 20,
                offset: 0,
            }],
        },
        vm_state: VmState {
            gic: GicState {
                dist: vec![GicRegState {
                    chunks: vec![1u32, 2],
                }],
                gic_vcpu_states: vec![GicVcpuState {
                    rdist: vec![GicRegState { chunks: vec![3u32] }],
                    icc: VgicSysRegsState {
                        main_icc_regs: vec![GicRegState { chunks: vec![4u64] }],
                        ap_icc_regs: vec![None, Some(GicRegState { chunks: vec![5u64] })],
                    },
                }],
            },
            kvm_cap_modifiers: vec!["!5".into(), "170".into()],
        },
        vcpu_states: vec![VcpuState {
            mp_state: Blob(vec![0; 4]),
            regs: (vec![0x6030_0000_0010_0040, 0x6040_0000_0010_0054], regs),
            mpidr: 0x8000_0000,
            kvi: Blob(
                vec![5, 0, 0, 0, 1, 0, 0, 0]
                    .into_iter()
                    .chain([0; 24])
                    .collect(),
            ),
        }],
        device_states: DeviceStates {
            legacy_devices: vec![
                legacy(DeviceType::Serial, 0x4000_2000, 32),
                legacy(DeviceType::Rtc, 0x4000_3000, 33),
            ],
            block_devices: vec![block()],
            net_devices: vec![net4()],
            vsock_device: None,
            balloon_device: None,
            mmds_version: Some(v4::devices::MmdsVersionState::V1),
            entropy_device: None,
        },
        acpi_dev_state: v4::devices::AcpiDeviceManagerState {
            vmgenid: Some(v4::devices::VmGenIdState {
                gsi: 34,
                addr: 0x4000_4000,
            }),
        },
    };
    let mut f = base.clone();
    f.state = State::V4Aarch64(Box::new(state.clone()));
    f.header.magic = snaptool::envelope::MAGIC_AARCH64;
    f.header.arch = snaptool::model::Arch::Aarch64;
    assert_eq!(f.header.magic, snaptool::envelope::MAGIC_AARCH64);
    let (_, m) = check(&f);
    assert_eq!(m.vm.kvm_cap_modifiers.len(), 2);
    let serial = m
        .devices
        .iter()
        .find(|d| d.kind == DeviceKind::Serial)
        .unwrap();
    assert_eq!(
        serial.transport,
        Some(Transport::Mmio {
            addr: 0x4000_2000,
            len: 0x1000,
            irq: Some(32)
        })
    );
    // Every device of 4.0.0 goes through the typed device model: the VM converts to every layout
    // with its devices (a net device's RX buffer bookkeeping has no place in 2.0.0 and 3.0.0).
    for layout in OURS.into_iter().chain([Layout::V6_0_0]) {
        let mm = m.clone();
        let f = fc::from_model(&mm, layout).unwrap_or_else(|e| panic!("{layout:?}: {e}"));
        let (_, back) = check(&f);
        assert_eq!(back.vcpus, mm.vcpus, "{layout:?}");
        assert_eq!(back.platform, mm.platform, "{layout:?}");
        assert_eq!(back.vm, mm.vm, "{layout:?}");
        let kinds = |m: &Snapshot| -> Vec<(DeviceKind, Option<Transport>)> {
            m.devices
                .iter()
                .map(|d| (d.kind.clone(), d.transport))
                .collect()
        };
        let mut want = kinds(&mm);
        if layout == Layout::V2_0_0 {
            // No ACPI state on aarch64 in 2.0.0.
            want.retain(|(k, _)| *k != DeviceKind::VmGenId);
        }
        assert_eq!(kinds(&back), want, "{layout:?}");
        // And back to 4.0.0: the same aarch64 state, minus what the detour could not carry.
        let again = fc::from_model(&back, Layout::V4_0_0).unwrap();
        let State::V4Aarch64(a) = &again.state else {
            panic!()
        };
        assert_eq!(a.vcpu_states, state.vcpu_states, "{layout:?}");
        assert_eq!(a.vm_state, state.vm_state, "{layout:?}");
        assert_eq!(
            a.device_states.legacy_devices, state.device_states.legacy_devices,
            "{layout:?}"
        );
        assert_eq!(
            a.device_states.block_devices, state.device_states.block_devices,
            "{layout:?}"
        );
        // 2.0.0 and 3.0.0 have no RX buffer bookkeeping: it comes back as zero.
        let mut want_net = state.device_states.net_devices.clone();
        if matches!(layout, Layout::V2_0_0 | Layout::V3_0_0) {
            for n in &mut want_net {
                n.device_state.rx_buffers_state.parsed_descriptor_chains_nr = 0;
                n.device_state.rx_buffers_state.used_descriptors = 0;
                n.device_state.rx_buffers_state.used_bytes = 0;
            }
        }
        assert_eq!(a.device_states.net_devices, want_net, "{layout:?}");
    }
}

/// The fuzz seeds of these layouts are the v1.10.1 fixture's VM in each layout (state payload
/// only: no header, no trailer). `SNAPTOOL_BLESS_SEEDS=1` rewrites them.
#[test]
fn fuzz_seeds_are_the_fixture_in_each_layout() {
    let m = real(FIXTURE).to_model();
    for (layout, target) in [
        (Layout::V2_0_0, "fc_v2"),
        (Layout::V3_0_0, "fc_v3"),
        (Layout::V4_0_0, "fc_v4"),
        (Layout::V5_0_0, "fc_v5"),
    ] {
        let f = fc::from_model(&m, layout).unwrap();
        let bytes = fc::write(&f).unwrap();
        let payload = &bytes[f.header.payload_offset..bytes.len() - 8];
        let path = root().join("fuzz/seeds").join(target).join("counter-1vcpu");
        if std::env::var_os("SNAPTOOL_BLESS_SEEDS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, payload).unwrap();
        }
        let seed = std::fs::read(&path).unwrap();
        assert!(seed == payload, "{} is stale", path.display());
        let s = fc::decode_payload(layout, snaptool::model::Arch::X86_64, &seed).unwrap();
        assert_eq!(s, f.state);
    }
}
