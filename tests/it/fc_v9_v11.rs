//! Formats 9.0.0 (v1.15.x) and 11.0.0 (v1.16.2): the real 9.0.0 fixture, 11.0.0 states built
//! from the 10.0.0 fixtures' models (no Firecracker file of 11.0.0 exists here), synthetic
//! aarch64 states, and conversion between the three bitcode-era layouts through the model.

use crate::root;
use snaptool::envelope::{Header, MAGIC_AARCH64};
use snaptool::formats::firecracker::{self as fc, Layout, State, v9, v10, v11, wire::Blob};
use snaptool::model::{DeviceKind, Transport, Vcpu};
use snaptool::verify::verify_state;

const V9: &str = "fixtures/firecracker-1.15.1/counter-1vcpu/vmstate";
const V10: &str = "fixtures/firecracker-1.16.1/counter-1vcpu/vmstate";
const V10_FILES: [&str; 4] = [
    "fixtures/firecracker-1.16.1/counter-1vcpu/vmstate",
    "fixtures/firecracker-1.16.1/counter-1vcpu/vmstate.diff",
    "fixtures/firecracker-1.16.1/counter-fpu-1vcpu/vmstate",
    "fixtures/firecracker-1.16.1/counter-fpu-1vcpu/vmstate.diff",
];

fn bytes(rel: &str) -> Vec<u8> {
    std::fs::read(root().join(rel)).unwrap()
}

fn real(rel: &str) -> fc::FcFile {
    fc::read(&bytes(rel)).unwrap()
}

/// Writes `f`, reads it back, checks it is clean and survives the model byte for byte.
fn check(f: &fc::FcFile) -> snaptool::model::Snapshot {
    let bytes = fc::write(f).unwrap();
    let back = fc::read(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.state, f.state);
    let r = verify_state("synthetic", &bytes, None);
    assert!(r.clean, "{:#?}", r.findings);
    let m = back.to_model();
    let again = fc::from_model(&m, f.state.layout()).unwrap();
    assert!(
        fc::write(&again).unwrap() == bytes,
        "bytes differ after the model"
    );
    m
}

/// `m` written as `layout`, as file bytes.
fn write_as(m: &snaptool::model::Snapshot, layout: Layout) -> Vec<u8> {
    fc::write(&fc::from_model(m, layout).unwrap_or_else(|e| panic!("{layout:?}: {e}"))).unwrap()
}

#[test]
fn v9_fixture_is_format_9() {
    for rel in [V9, "fixtures/firecracker-1.15.1/counter-1vcpu/vmstate.diff"] {
        let f = real(rel);
        assert_eq!(f.state.layout(), Layout::V9_0_0);
        assert_eq!(f.version_text, "9.0.0");
        let State::V9X86(s) = &f.state else { panic!() };
        assert_eq!(s.vcpu_states.len(), 1);
        assert!(!s.device_states.pci_state.pci_enabled);
        assert_eq!(s.device_states.acpi_state.vmgenid.gsi, 5);
        assert!(verify_state(rel, &bytes(rel), None).clean);
        let m = f.to_model();
        assert_eq!(m.provenance.layout, "firecracker-9.0.0");
        assert!(fc::invented_fields(&m, Layout::V9_0_0).is_empty());
    }
    // Strict detection: the payload decodes as 9.0.0 only.
    let b = bytes(V9);
    let payload = &b[..b.len() - 8];
    for l in [Layout::V10_0_0, Layout::V11_0_0] {
        assert!(fc::decode_payload(l, snaptool::model::Arch::X86_64, payload).is_err());
    }
    assert!(fc::decode_payload(Layout::V9_0_0, snaptool::model::Arch::X86_64, payload).is_ok());
}

/// 11.0.0 from each 10.0.0 fixture's model: reads back as 11.0.0, is stable through its own
/// model, and converts back to the original 10.0.0 bytes.
#[test]
fn v11_from_the_v10_fixtures() {
    for rel in V10_FILES {
        let orig = bytes(rel);
        let m10 = fc::read(&orig).unwrap().to_model();
        assert!(fc::invented_fields(&m10, Layout::V11_0_0).is_empty());
        let b11 = write_as(&m10, Layout::V11_0_0);
        assert_eq!(&b11[10..16], b"11.0.0", "{rel}");
        let f11 = fc::read(&b11).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let State::V11X86(s) = &f11.state else {
            panic!("{rel}: {:?}", f11.state.layout())
        };
        assert!(matches!(
            s.device_states.virtio_state,
            v11::devices::VirtioDevicesState::Mmio(_)
        ));
        assert!(s.device_states.serial_state.is_some(), "{rel}");
        assert!(verify_state(rel, &b11, None).clean, "{rel}");
        let m11 = check(&f11);
        // write → read → model is the same model.
        let again = fc::read(&write_as(&m11, Layout::V11_0_0)).unwrap();
        assert_eq!(again.to_model(), m11, "{rel}");
        // Back to 10.0.0: the GSI allocators 11.0.0 does not save are derived, and the bytes
        // are the original ones.
        assert_eq!(
            fc::invented_fields(&m11, Layout::V10_0_0).len(),
            1,
            "{:?}",
            fc::invented_fields(&m11, Layout::V10_0_0)
        );
        assert!(
            write_as(&m11, Layout::V10_0_0) == orig,
            "{rel}: 10 → 11 → 10"
        );
    }
}

/// 9.0.0 → 10.0.0 / 11.0.0 → 9.0.0 gives the original bytes (9.0.0 has nothing the others
/// lack).
#[test]
fn v9_through_v10_and_v11() {
    let orig = bytes(V9);
    let m9 = real(V9).to_model();
    for l in [Layout::V10_0_0, Layout::V11_0_0] {
        let b = write_as(&m9, l);
        let f = fc::read(&b).unwrap();
        assert_eq!(f.state.layout(), l);
        assert!(verify_state("x", &b, None).clean);
        assert!(write_as(&f.to_model(), Layout::V9_0_0) == orig, "{l:?}");
    }
}

fn queue(size: u16) -> v10::devices::QueueState {
    v10::devices::QueueState {
        max_size: 256,
        size,
        ready: true,
        desc_table: 0x10_0000,
        avail_ring: 0x10_1000,
        used_ring: 0x10_2000,
        next_avail: 7,
        next_used: 7,
        num_added: 0,
    }
}

fn virtio(t: v10::devices::VirtioDeviceType, queues: usize) -> v10::devices::VirtioDeviceState {
    v10::devices::VirtioDeviceState {
        device_type: t,
        avail_features: 0x1_0000_0220,
        acked_features: 0x1_0000_0220,
        queues: (0..queues).map(|_| queue(256)).collect(),
        activated: true,
    }
}

fn no_limits() -> v10::devices::RateLimiterState {
    v10::devices::RateLimiterState {
        ops: None,
        bandwidth: None,
    }
}

fn block() -> v10::devices::BlockState {
    use v10::devices::*;
    BlockState::Virtio(VirtioBlockState {
        id: "rootfs".into(),
        partuuid: None,
        cache_type: CacheType::Unsafe,
        root_device: true,
        disk_path: "/images/rootfs.ext4".into(),
        virtio_state: virtio(VirtioDeviceType::Block, 1),
        rate_limiter_state: no_limits(),
        file_engine_type: FileEngineTypeState::Sync,
    })
}

fn mmio<T>(id: &str, state: T, n: u64) -> v10::devices::MmioDevice<T> {
    use v10::devices::*;
    MmioDevice {
        device_id: id.into(),
        device_state: state,
        transport_state: MmioTransportState {
            features_select: 0,
            acked_features_select: 0,
            queue_select: 0,
            device_status: 15,
            config_generation: 0,
            interrupt_status: 0,
        },
        device_info: MmioDeviceInfo {
            addr: 0xd000_0000 + n * 0x1000,
            len: 0x1000,
            gsi: Some(7 + n as u32),
        },
    }
}

fn net9() -> v9::devices::NetState {
    v9::devices::NetState {
        id: "eth0".into(),
        tap_if_name: "tap0".into(),
        rx_rate_limiter_state: no_limits(),
        tx_rate_limiter_state: no_limits(),
        mmds_ns: None,
        config_space: v9::devices::NetConfigSpaceState {
            guest_mac: Some("06:00:ac:10:00:02".into()),
        },
        virtio_state: virtio(v10::devices::VirtioDeviceType::Net, 2),
    }
}

fn vsock() -> v10::devices::VsockState {
    use v10::devices::*;
    VsockState {
        backend: VsockBackendState {
            uds_path: "/tmp/v.sock".into(),
            local_port_last: 1025,
        },
        frontend: VsockFrontendState {
            cid: 3,
            virtio_state: virtio(VirtioDeviceType::Vsock, 3),
        },
    }
}

fn pmem9() -> v9::devices::PmemState {
    v9::devices::PmemState {
        virtio_state: virtio(v10::devices::VirtioDeviceType::Pmem, 1),
        config_space: v10::devices::PmemConfigSpace {
            start: 0x1_0000_0000,
            size: 1 << 20,
        },
        config: v9::devices::PmemConfig {
            id: "pmem0".into(),
            path_on_host: "/images/pmem".into(),
            root_device: false,
            read_only: true,
        },
    }
}

/// A 9.0.0 state with MMIO devices of every kind whose type changes across 9/10/11 survives a
/// trip through 10.0.0 and 11.0.0 unchanged, and each step adds the fields the target has.
#[test]
fn v9_devices_through_v10_and_v11() {
    let mut f = real(V9);
    let State::V9X86(s) = &mut f.state else {
        panic!()
    };
    let d = &mut s.device_states.mmio_state;
    d.block_devices.push(mmio("rootfs", block(), 0));
    d.net_devices.push(mmio("eth0", net9(), 1));
    d.vsock_device = Some(mmio("vsock", vsock(), 2));
    d.pmem_devices.push(mmio("pmem0", pmem9(), 3));
    // The four devices took legacy GSIs 7..=10.
    s.vm_state.resource_allocator.gsi_legacy_allocator.next_id = Some(11);
    let m9 = check(&f);
    let orig = fc::write(&f).unwrap();
    let b10 = write_as(&m9, Layout::V10_0_0);
    let f10 = fc::read(&b10).unwrap();
    let State::V10X86(s10) = &f10.state else {
        panic!()
    };
    let d10 = &s10.device_states.mmio_state;
    assert_eq!(d10.net_devices[0].device_state.config_space.mtu, None);
    assert_eq!(d10.pmem_devices[0].device_state.config.rate_limiter, None);
    assert_eq!(d10.pmem_devices[0].device_state.config.id, "pmem0");
    let m10 = check(&f10);
    let b11 = write_as(&m10, Layout::V11_0_0);
    let f11 = fc::read(&b11).unwrap();
    let State::V11X86(s11) = &f11.state else {
        panic!()
    };
    let v11::devices::VirtioDevicesState::Mmio(d11) = &s11.device_states.virtio_state else {
        panic!()
    };
    assert!(
        !d11.vsock_device
            .as_ref()
            .unwrap()
            .device_state
            .frontend
            .pending_event_ack
    );
    assert_eq!(d11.block_devices.len(), 1);
    let m11 = check(&f11);
    let vs = m11
        .devices
        .iter()
        .find(|d| d.kind == DeviceKind::Vsock)
        .unwrap();
    assert_eq!(
        match &vs.config {
            Some(snaptool::model::DeviceConfig::Vsock(c)) => c.uds_path.as_deref(),
            _ => None,
        },
        Some("/tmp/v.sock")
    );
    assert!(write_as(&m11, Layout::V10_0_0) == b10, "11 → 10");
    assert!(write_as(&m11, Layout::V9_0_0) == orig, "11 → 9");
    assert!(write_as(&m10, Layout::V9_0_0) == orig, "10 → 9");
}

fn pci_transport(sbdf: u32) -> v10::devices::VirtioPciDeviceState {
    use v10::devices::*;
    let bar = |a: u32, s: u32| Bar {
        encoded_addr: a,
        encoded_size: s,
        about_to_be_read: false,
    };
    VirtioPciDeviceState {
        sbdf: PciSbdf(sbdf),
        device_activated: true,
        cap_pci_cfg_offset: 0x70,
        cap_pci_cfg: vec![0; 20],
        pci_configuration_state: PciConfigurationState {
            registers: vec![0x1042_1af4, 0x10_0007],
            writable_bits: vec![0, 0xffff],
            last_capability: Some((0x70, 20)),
        },
        pci_dev_state: VirtioPciCommonConfigState {
            driver_status: 15,
            config_generation: 0,
            device_feature_select: 1,
            driver_feature_select: 1,
            queue_select: 0,
            msix_config: 0,
            msix_queues: vec![1],
        },
        msix_state: MsixConfigState {
            table_entries: vec![
                MsixTableEntry {
                    msg_addr_lo: 0xfee0_0000,
                    msg_addr_hi: 0,
                    msg_data: 0x4021,
                    vector_ctl: 0,
                };
                2
            ],
            pba_entries: vec![0],
            masked: false,
            enabled: true,
            vectors: vec![24, 25],
        },
        bars: Bars {
            bars: [
                bar(0x4000_000c, 0xfff8_0000),
                bar(0x40, 0xffff_ffff),
                bar(0, 0),
                bar(0, 0),
                bar(0, 0),
                bar(0, 0),
            ],
        },
        msix_config_cap_offset: 0x40,
    }
}

/// PCI devices: 10.0.0 → 11.0.0 puts them in the `Pci` variant with `bar_address` from BAR0/1;
/// back to 10.0.0 gives the original bytes, GSI allocators included.
#[test]
fn v10_pci_through_v11() {
    use v10::devices::*;
    let mut f = real(V10);
    let State::V10X86(s) = &mut f.state else {
        panic!()
    };
    let p = &mut s.device_states.pci_state;
    p.pci_enabled = true;
    p.block_devices.push(PciDevice {
        device_id: "rootfs".into(),
        sbdf: PciSbdf(0x8),
        device_state: block(),
        transport_state: pci_transport(0x8),
    });
    s.vm_state.resource_allocator.gsi_msi_allocator.next_id = Some(26);
    let orig = fc::write(&f).unwrap();
    let m10 = check(&f);
    let blk = m10
        .devices
        .iter()
        .find(|d| d.kind == DeviceKind::Block)
        .unwrap();
    assert_eq!(blk.transport, Some(Transport::Pci { sbdf: 8 }));
    let b11 = write_as(&m10, Layout::V11_0_0);
    let f11 = fc::read(&b11).unwrap();
    let State::V11X86(s11) = &f11.state else {
        panic!()
    };
    let v11::devices::VirtioDevicesState::Pci(p11) = &s11.device_states.virtio_state else {
        panic!("not on PCI")
    };
    assert_eq!(
        p11.block_devices[0].transport_state.bar_address,
        0x40_4000_0000
    );
    let m11 = check(&f11);
    assert!(write_as(&m11, Layout::V10_0_0) == orig, "11 → 10");
    // 9.0.0's PCI transport state has no faithful 10.0.0 form: the device is left out, and a
    // conversion reports it as lost.
    let f9 = fc::from_model(&m11, Layout::V9_0_0).unwrap();
    let m9 = f9.to_model();
    assert!(m9.devices.iter().all(|d| d.kind != DeviceKind::Block));
    let Err(snaptool::convert::ConvertError::Lossy(r)) = snaptool::convert::convert_firecracker(
        &b11,
        snaptool::convert::Target::Firecracker(Layout::V9_0_0),
        false,
    ) else {
        panic!("a PCI device dropped without a refusal")
    };
    assert!(
        r.lost.iter().any(|c| c.path.starts_with("devices.block")),
        "{:?}",
        r.lost
    );
}

/// aarch64 core register ids (KVM_REG_ARM64 | size | KVM_REG_ARM_CORE | offset).
const PC: u64 = 0x6030_0000_0010_0040;
const SP: u64 = 0x6030_0000_0010_003e;
const V0: u64 = 0x6040_0000_0010_0054;

fn arm_regs() -> (Vec<u64>, Vec<u8>) {
    let mut data = 0x4008_1234u64.to_le_bytes().to_vec(); // pc
    data.extend_from_slice(&0x8000_fff0u64.to_le_bytes()); // sp
    data.extend_from_slice(&[0xab; 16]); // v0 (128-bit)
    (vec![PC, SP, V0], data)
}

fn arm_header(f: &mut fc::FcFile) {
    f.header = Header {
        magic: MAGIC_AARCH64,
        arch: snaptool::model::Arch::Aarch64,
        ..f.header.clone()
    };
}

fn arm_vcpu() -> v10::aarch64::VcpuState {
    let mut kvi = vec![0u8; 32];
    kvi[0] = 5;
    kvi[4] = 1;
    v10::aarch64::VcpuState {
        mp_state: Blob(vec![0; 4]),
        regs: arm_regs(),
        mpidr: 0x8000_0000,
        kvi: Blob(kvi),
        pvtime_ipa: Some(0x4000_0000),
    }
}

fn arm_gic() -> v10::aarch64::GicState {
    use v10::aarch64::*;
    GicState {
        dist: vec![GicRegState {
            chunks: vec![1, 2, 3],
        }],
        gic_vcpu_states: vec![GicVcpuState {
            rdist: vec![GicRegState { chunks: vec![4] }],
            icc: VgicSysRegsState {
                main_icc_regs: vec![GicRegState {
                    chunks: vec![5u64, 6],
                }],
                ap_icc_regs: vec![None, Some(GicRegState { chunks: vec![7u64] })],
            },
        }],
        its_state: Some(ItsRegisterState {
            iidr: 1,
            cbaser: 2,
            creadr: 3,
            cwriter: 4,
            baser: [5; 8],
            ctlr: 6,
        }),
    }
}

fn arm_memory() -> v10::devices::GuestMemoryState {
    v10::devices::GuestMemoryState {
        regions: vec![v10::devices::GuestMemoryRegionState {
            base_address: 0x8000_0000,
            size: 64 << 20,
            region_type: v10::devices::GuestRegionType::Dram,
            plugged: vec![true],
        }],
    }
}

fn assert_arm_model(m: &snaptool::model::Snapshot) {
    let Vcpu::Aarch64(v) = &m.vcpus[0] else {
        panic!()
    };
    assert_eq!(v.regs.len(), 3);
    assert_eq!(v.regs[2].value.0, vec![0xab; 16]);
    assert_eq!(v.kvi.unwrap().target, 5);
    assert!(m.devices.iter().any(|d| d.kind == DeviceKind::Rtc));
    assert!(m.devices.iter().any(|d| d.kind == DeviceKind::Block));
}

#[test]
fn v9_aarch64_state() {
    use v9::aarch64::*;
    let base = real(V9);
    let State::V9X86(x) = &base.state else {
        panic!()
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
            huge_pages: v10::devices::HugePageConfig::Hugetlbfs2M,
        },
        kvm_state: x.kvm_state.clone(),
        vm_state: VmState {
            memory: arm_memory(),
            gic: arm_gic(),
            resource_allocator: {
                // The two virtio devices took legacy GSIs 7 and 8.
                let mut a = x.vm_state.resource_allocator.clone();
                a.gsi_legacy_allocator.next_id = Some(9);
                a
            },
        },
        vcpu_states: vec![arm_vcpu()],
        device_states: DevicesState {
            mmio_state: DeviceStates {
                legacy_devices: vec![
                    legacy(DeviceType::Serial, 0x4000_2000),
                    legacy(DeviceType::Rtc, 0x4000_3000),
                ],
                block_devices: vec![mmio("rootfs", block(), 0)],
                net_devices: vec![mmio("eth0", net9(), 1)],
                vsock_device: None,
                balloon_device: None,
                mmds: None,
                entropy_device: None,
                pmem_devices: vec![],
                memory_device: None,
            },
            acpi_state: x.device_states.acpi_state.clone(),
            pci_state: x.device_states.pci_state.clone(),
        },
    };
    let mut f = base.clone();
    f.state = State::V9Aarch64(Box::new(state));
    arm_header(&mut f);
    let m = check(&f);
    assert_arm_model(&m);
    assert_eq!(m.vm.huge_pages.as_deref(), Some("2M"));
    // Through 11.0.0 (legacy devices ↔ mmio_platform_state) and back.
    let orig = fc::write(&f).unwrap();
    let b11 = write_as(&m, Layout::V11_0_0);
    let State::V11Aarch64(s11) = fc::read(&b11).unwrap().state else {
        panic!()
    };
    let p = &s11.device_states.mmio_platform_state;
    assert_eq!(p.serial.as_ref().unwrap().addr, 0x4000_2000);
    assert_eq!(p.rtc.as_ref().unwrap().addr, 0x4000_3000);
    assert_eq!(
        s11.vm_info.huge_pages,
        v11::devices::HugePageConfig::Hugetlbfs2M
    );
    let m11 = fc::read(&b11).unwrap().to_model();
    assert!(write_as(&m11, Layout::V9_0_0) == orig, "9 → 11 → 9");
}

#[test]
fn v11_aarch64_state() {
    use v11::aarch64::*;
    use v11::devices::*;
    let base = real(V10);
    let State::V10X86(x) = &base.state else {
        panic!()
    };
    let a = &x.vm_state.resource_allocator;
    let info = |addr| MmioDeviceInfo {
        addr,
        len: 0x1000,
        gsi: Some(33),
    };
    let state = MicrovmState {
        vm_info: VmInfo {
            mem_size_mib: 64,
            smt: false,
            cpu_template: StaticCpuTemplate::None,
            boot_source: x.vm_info.boot_source.clone(),
            huge_pages: HugePageConfig::Transparent,
        },
        kvm_state: x.kvm_state.clone(),
        vm_state: VmState {
            memory: arm_memory(),
            gic: arm_gic(),
            resource_allocator: ResourceAllocatorState {
                mmio32_memory: a.mmio32_memory.clone(),
                mmio64_memory: a.mmio64_memory.clone(),
                past_mmio64_memory: a.past_mmio64_memory.clone(),
                system_memory: a.system_memory.clone(),
            },
        },
        vcpu_states: vec![arm_vcpu()],
        device_states: DevicesState {
            virtio_state: VirtioDevicesState::Mmio(Box::new(DeviceStates {
                block_devices: vec![mmio("rootfs", block(), 0)],
                net_devices: vec![],
                vsock_device: Some(mmio(
                    "vsock",
                    VsockState {
                        backend: vsock().backend,
                        frontend: VsockFrontendState {
                            cid: 3,
                            virtio_state: virtio(VirtioDeviceType::Vsock, 3),
                            pending_event_ack: true,
                        },
                    },
                    1,
                )),
                balloon_device: None,
                mmds: Some(MmdsState {
                    version: MmdsVersion::V2,
                    imds_compat: true,
                }),
                entropy_device: None,
                pmem_devices: vec![],
                memory_device: None,
            })),
            mmio_platform_state: MmioPlatformDevicesState {
                serial: Some(info(0x4000_2000)),
                rtc: Some(info(0x4000_3000)),
            },
            acpi_state: x.device_states.acpi_state.clone(),
            serial_state: x.device_states.serial_state.clone(),
        },
    };
    let mut f = base.clone();
    f.state = State::V11Aarch64(Box::new(state));
    f.version_text = "11.0.0".into();
    arm_header(&mut f);
    let m = check(&f);
    assert_arm_model(&m);
    assert_eq!(m.vm.huge_pages.as_deref(), Some("Transparent"));
    let serial = m
        .devices
        .iter()
        .find(|d| d.kind == DeviceKind::Serial)
        .unwrap();
    assert!(
        serial.uart.is_some(),
        "the serial state attaches to the platform serial device"
    );
    assert_eq!(
        serial.transport,
        Some(Transport::Mmio {
            addr: 0x4000_2000,
            len: 0x1000,
            irq: Some(33)
        })
    );
    // Transparent huge pages do not exist before 11.0.0.
    assert!(fc::from_model(&m, Layout::V10_0_0).is_err());
    let mut m2 = m.clone();
    m2.vm.huge_pages = Some("None".into());
    let b10 = write_as(&m2, Layout::V10_0_0);
    let State::V10Aarch64(s10) = fc::read(&b10).unwrap().state else {
        panic!()
    };
    assert_eq!(s10.device_states.mmio_state.legacy_devices.len(), 2);
    let text = snaptool::inspect::render_text(
        &snaptool::inspect::inspect("arm", &fc::write(&f).unwrap(), true, None).unwrap(),
    );
    assert!(text.contains("pc=0x40081234 sp=0x8000fff0"), "{text}");
}

#[test]
fn layout_names() {
    assert_eq!(Layout::parse("9.0.0"), Some(Layout::V9_0_0));
    assert_eq!(Layout::parse("firecracker@1.15"), Some(Layout::V9_0_0));
    assert_eq!(Layout::parse("v1.16.2"), Some(Layout::V11_0_0));
    assert_eq!(Layout::parse("firecracker-11.0.0"), Some(Layout::V11_0_0));
    assert_eq!(Layout::parse("v1.16.1"), Some(Layout::V10_0_0));
}

/// The `fc_v11` fuzz seeds are the 11.0.0 states built from the v1.16.1 fixtures (payload without
/// the trailer, as the other seeds); building them again gives the same bytes.
/// `SNAPTOOL_WRITE_SEEDS=1` rewrites them.
#[test]
fn v11_fuzz_seeds_are_current() {
    for (rel, name) in [
        (V10_FILES[0], "counter-1vcpu"),
        (V10_FILES[2], "counter-fpu-1vcpu"),
    ] {
        let b11 = write_as(&real(rel).to_model(), Layout::V11_0_0);
        let payload = &b11[..b11.len() - 8];
        let seed = root().join("fuzz/seeds/fc_v11").join(name);
        if std::env::var_os("SNAPTOOL_WRITE_SEEDS").is_some() {
            std::fs::create_dir_all(seed.parent().unwrap()).unwrap();
            std::fs::write(&seed, payload).unwrap();
        }
        assert!(
            std::fs::read(&seed).unwrap() == payload,
            "{name}: 11.0.0 bytes changed"
        );
    }
}

/// Every real fixture's model, whatever its layout, is written as each bitcode-era layout and
/// reads back as that layout with a clean verify.
#[test]
fn every_fixture_writes_as_every_bitcode_layout() {
    for p in crate::real_states() {
        let m = fc::read(&std::fs::read(&p).unwrap()).unwrap().to_model();
        for l in [Layout::V9_0_0, Layout::V10_0_0, Layout::V11_0_0] {
            let b = write_as(&m, l);
            let f = fc::read(&b).unwrap_or_else(|e| panic!("{} as {l:?}: {e}", p.display()));
            assert_eq!(f.state.layout(), l);
            let r = verify_state("x", &b, None);
            assert!(r.clean, "{} as {l:?}: {:#?}", p.display(), r.findings);
        }
    }
}

/// A hostile interval tree nested far deeper than any allocator builds is refused by the
/// bitcode-era decoders, not followed until the stack overflows.
#[test]
fn deep_interval_tree_is_refused_not_a_stack_overflow() {
    use snaptool::formats::firecracker::v10::devices::{
        InnerNode, IntervalTree, MAX_TREE_DEPTH, NodeState, RangeInclusive,
    };
    let chain = |depth: usize| {
        let mut n: Option<Box<InnerNode>> = None;
        for i in 0..depth as u64 {
            n = Some(Box::new(InnerNode {
                key: RangeInclusive { start: i, end: i },
                node_state: NodeState::Free,
                left: n,
                right: None,
                height: 0,
            }));
        }
        IntervalTree { root: n }
    };
    // Building, encoding and dropping the hostile tree recurse too: do them on a large stack.
    let hostile = std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || bitcode::serialize(&chain(200_000)).unwrap())
        .unwrap()
        .join()
        .unwrap();
    let fine = bitcode::serialize(&chain(MAX_TREE_DEPTH as usize)).unwrap();
    // Decoding runs on a small stack, as a test thread's.
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let e = bitcode::deserialize::<IntervalTree>(&hostile).unwrap_err();
            assert!(e.to_string().contains("deeper than"), "{e}");
            let t = bitcode::deserialize::<IntervalTree>(&fine).unwrap();
            assert!(t.root.is_some());
            let too_deep = bitcode::serialize(&chain(MAX_TREE_DEPTH as usize + 1)).unwrap();
            assert!(bitcode::deserialize::<IntervalTree>(&too_deep).is_err());
        })
        .unwrap()
        .join()
        .unwrap();
}
