//! Format 8.0.0 in both of its layouts (v1.13 and v1.14). The v1.13 layout has a real fixture;
//! no file written by v1.14 exists, so that layout is exercised with states built through its
//! types from the models of the real fixtures (1.13.2 and 1.16.1) and with synthetic devices and
//! aarch64 states. Every state is written, read back (the strict decode must pick the right
//! layout), verified, and sent through the model byte-exactly.

use crate::root;
use crate::synthetic::{arm_header, arm_regs, check, real};
use snaptool::formats::firecracker::{self as fc, Layout, State, v8_13, v8_14, wire::Blob};
use snaptool::model::{Arch, DeviceKind, Transport, Vcpu};
use snaptool::verify::verify_state;

const F13: &str = "fixtures/firecracker-1.13.2/counter-1vcpu/vmstate";
const F16: &str = "fixtures/firecracker-1.16.1/counter-1vcpu/vmstate";

/// The payload of a written file (what `decode_payload` takes for a bincode layout).
fn payload(bytes: &[u8]) -> &[u8] {
    &bytes[21..bytes.len() - 8]
}

/// `f` written, read back as `layout`, and never as the other 8.0.0 layout.
fn only_as(f: &fc::FcFile, layout: Layout) -> Vec<u8> {
    let bytes = fc::write(f).unwrap();
    let back = fc::read(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.state.layout(), layout);
    assert_eq!(back.trailing, 0);
    let other = match layout {
        Layout::V8_0_0_V1_13 => Layout::V8_0_0_V1_14,
        _ => Layout::V8_0_0_V1_13,
    };
    let arch = f.state.arch();
    assert!(
        fc::decode_payload(other, arch, payload(&bytes)).is_err(),
        "a {layout:?} file must not decode as {other:?}"
    );
    bytes
}

#[test]
fn the_real_v1_13_file_reads_as_the_v1_13_layout() {
    for name in ["vmstate", "vmstate.diff"] {
        let p = format!("fixtures/firecracker-1.13.2/counter-1vcpu/{name}");
        let f = real(&p);
        assert_eq!(f.state.layout(), Layout::V8_0_0_V1_13, "{p}");
        assert_eq!(f.version_text, "8.0.0");
        assert_eq!(f.trailing, 0);
        let bytes = std::fs::read(root().join(&p)).unwrap();
        assert!(fc::decode_payload(Layout::V8_0_0_V1_14, Arch::X86_64, payload(&bytes)).is_err());
        let m = f.to_model();
        assert_eq!(m.provenance.layout, "firecracker-8.0.0-v1.13");
        assert!(fc::invented_fields(&m, Layout::V8_0_0_V1_13).is_empty());
        let State::V8_13X86(s) = &f.state else {
            panic!()
        };
        let a = &s.vm_state.resource_allocator;
        assert_eq!(a.gsi_legacy_allocator.next_id, Some(6));
        assert_eq!(a.mmio32_memory.address_space.start, 0xc000_1000);
        let g = s.device_states.acpi_state.vmgenid.as_ref().unwrap();
        assert_eq!((g.gsi, g.addr), (5, 0xdfff0));
    }
}

#[test]
fn layout_names_parse() {
    assert_eq!(Layout::parse("8.0.0"), Some(Layout::V8_0_0_V1_13));
    assert_eq!(Layout::parse("v1.13.2"), Some(Layout::V8_0_0_V1_13));
    assert_eq!(
        Layout::parse("firecracker@1.14"),
        Some(Layout::V8_0_0_V1_14)
    );
    assert_eq!(
        Layout::parse("firecracker-8.0.0-v1.14"),
        Some(Layout::V8_0_0_V1_14)
    );
    assert_eq!(
        Layout::parse("firecracker-8.0.0-v1.13"),
        Some(Layout::V8_0_0_V1_13)
    );
    assert_eq!(Layout::parse("firecracker-10.0.0"), Some(Layout::V10_0_0));
}

/// The v1.14 layout from the models of real files of two other layouts: written, read back as
/// v1.14, model equal, and byte-stable through the model.
#[test]
fn v1_14_states_from_the_real_fixtures_models() {
    for src in [F13, F16] {
        let m = real(src).to_model();
        let f = fc::from_model(&m, Layout::V8_0_0_V1_14).unwrap_or_else(|e| panic!("{src}: {e}"));
        let bytes = only_as(&f, Layout::V8_0_0_V1_14);
        let back = fc::read(&bytes).unwrap();
        assert_eq!(back.state, f.state, "{src}");
        assert_eq!(back.to_model(), f.to_model(), "{src}");
        let again = fc::from_model(&back.to_model(), Layout::V8_0_0_V1_14).unwrap();
        assert!(
            fc::write(&again).unwrap() == bytes,
            "{src}: not byte-stable"
        );
        check(&f);

        let State::V8_14X86(s) = &f.state else {
            panic!()
        };
        // What the model carries is kept.
        let Vcpu::X86_64(v) = &m.vcpus[0] else {
            panic!()
        };
        let Vcpu::X86_64(w) = &back.to_model().vcpus[0] else {
            panic!()
        };
        assert_eq!(w.regs, v.regs);
        assert_eq!(w.msrs, v.msrs);
        assert_eq!(s.vm_state.memory.regions[0].plugged, vec![true]);
        assert_eq!(s.device_states.acpi_state.vmgenid.addr, 0xdfff0);
        // The allocator is carried over (it records this VM's allocations); a vmclock the model
        // lacks (v1.13 has none) is v1.14's initial page, and said so.
        let invented = fc::invented_fields(&m, Layout::V8_0_0_V1_14);
        assert!(
            !invented.iter().any(|i| i.contains("resource_allocator")),
            "{invented:?}"
        );
        assert_eq!(
            invented.iter().any(|i| i.contains("vmclock")),
            src == F13,
            "{invented:?}"
        );
        let a = &s.vm_state.resource_allocator;
        assert_eq!(a.gsi_legacy_allocator.next_id, Some(6));
        assert_eq!(a.past_mmio64_memory.address_space.start, 0x80_0000_0000);
        let c = &s.device_states.acpi_state.vmclock;
        assert_eq!(c.guest_address, 0xde000);
        // The page as the guest saw it: a 10.0.0 vmclock's flags are carried over.
        let flags = if src == F16 { 768 } else { 0 };
        assert_eq!((c.inner.magic, c.inner.flags), (0x4b4c_4356, flags));

        // inspect names the layout of the version string two layouts share.
        let text = snaptool::inspect::render_text(
            &snaptool::inspect::inspect("v14", &bytes, true, None).unwrap(),
        );
        assert!(
            text.contains("firecracker 8.0.0 (bincode era, layout firecracker-8.0.0-v1.14, read and written by Firecracker v1.14.0"),
            "{text}"
        );
    }
}

/// The other directions between the layouts that have real files: v1.13 from a 10.0.0 model,
/// 10.0.0 and 6.0.0 from a v1.13 model.
#[test]
fn v1_13_and_others_convert_both_ways() {
    let m16 = real(F16).to_model();
    let f = fc::from_model(&m16, Layout::V8_0_0_V1_13).unwrap();
    only_as(&f, Layout::V8_0_0_V1_13);
    check(&f);
    let State::V8_13X86(s) = &f.state else {
        panic!()
    };
    assert_eq!(
        s.vm_state.resource_allocator.gsi_legacy_allocator.next_id,
        Some(6)
    );
    // The allocator moves along the ladder (the vmclock's interrupt line released): carried,
    // not invented.
    assert!(
        !fc::invented_fields(&m16, Layout::V8_0_0_V1_13)
            .iter()
            .any(|i| i.contains("resource_allocator"))
    );

    let m13 = real(F13).to_model();
    for layout in [Layout::V10_0_0, Layout::V6_0_0] {
        let f = fc::from_model(&m13, layout).unwrap_or_else(|e| panic!("{layout:?}: {e}"));
        let bytes = fc::write(&f).unwrap();
        let back = fc::read(&bytes).unwrap();
        assert_eq!(back.state, f.state);
        assert!(verify_state("x", &bytes, None).clean);
    }
}

// ---------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------

fn virtio(device_type: u32, queues: usize) -> v8_13::devices::VirtioDeviceState {
    v8_13::devices::VirtioDeviceState {
        device_type,
        avail_features: 0x1_0000_0220,
        acked_features: 0x1_0000_0220,
        queues: (0..queues)
            .map(|i| v8_13::devices::QueueState {
                max_size: 256,
                size: 256,
                ready: true,
                desc_table: 0x10_0000 + i as u64 * 0x4000,
                avail_ring: 0x10_1000 + i as u64 * 0x4000,
                used_ring: 0x10_2000 + i as u64 * 0x4000,
                next_avail: 3,
                next_used: 3,
                num_added: 0,
            })
            .collect(),
        activated: true,
    }
}

fn no_limits() -> v8_13::devices::RateLimiterState {
    v8_13::devices::RateLimiterState {
        ops: None,
        bandwidth: None,
    }
}

fn mmio<T>(id: &str, state: T, addr: u64, gsi: u32) -> v8_13::devices::MmioDevice<T> {
    use v8_13::devices::*;
    MmioDevice {
        device_id: id.into(),
        device_state: state,
        transport_state: MmioTransportState {
            features_select: 0,
            acked_features_select: 1,
            queue_select: 0,
            device_status: 15,
            config_generation: 0,
            interrupt_status: 1,
        },
        device_info: MmioDeviceInfo {
            addr,
            len: 0x1000,
            gsi: Some(gsi),
        },
    }
}

fn block() -> v8_13::devices::BlockState {
    use v8_13::devices::*;
    BlockState::Virtio(VirtioBlockState {
        id: "rootfs".into(),
        partuuid: None,
        cache_type: CacheType::Writeback,
        root_device: true,
        disk_path: "/images/rootfs.ext4".into(),
        virtio_state: virtio(2, 1),
        rate_limiter_state: no_limits(),
        file_engine_type: FileEngineTypeState::Async,
    })
}

fn net() -> v8_13::devices::NetState {
    use v8_13::devices::*;
    NetState {
        id: "eth0".into(),
        tap_if_name: "tap0".into(),
        rx_rate_limiter_state: no_limits(),
        tx_rate_limiter_state: no_limits(),
        mmds_ns: Some(MmdsNetworkStackState {
            mac_addr: [6, 1, 2, 3, 4, 5],
            ipv4_addr: 0xa9fe_a9fe,
            tcp_port: 80,
        }),
        config_space: NetConfigSpaceState {
            guest_mac: Some("06:00:ac:10:00:02".into()),
        },
        virtio_state: virtio(1, 2),
    }
}

fn vsock() -> v8_13::devices::VsockState {
    use v8_13::devices::*;
    VsockState {
        backend: VsockBackendState::Uds(VsockUdsState {
            path: "/run/v.sock".into(),
        }),
        frontend: VsockFrontendState {
            cid: 3,
            virtio_state: virtio(19, 3),
        },
    }
}

fn pci_common() -> v8_13::devices::VirtioPciCommonConfigState {
    v8_13::devices::VirtioPciCommonConfigState {
        driver_status: 15,
        config_generation: 0,
        device_feature_select: 1,
        driver_feature_select: 1,
        queue_select: 0,
        msix_config: 0,
        msix_queues: vec![1],
    }
}

fn msix_entries() -> Vec<v8_13::devices::MsixTableEntry> {
    vec![
        v8_13::devices::MsixTableEntry {
            msg_addr_lo: 0xfee0_0000,
            msg_addr_hi: 0,
            msg_data: 0x24,
            vector_ctl: 0,
        };
        2
    ]
}

/// v1.13 layout, x86_64: every MMIO device kind and a PCI block device with v1.13's PCI state.
#[test]
fn v1_13_x86_with_mmio_and_pci_devices() {
    use v8_13::devices::*;
    let mut f = real(F13);
    let State::V8_13X86(s) = &mut f.state else {
        panic!()
    };
    let d = &mut s.device_states;
    d.mmio_state
        .block_devices
        .push(mmio("rootfs", block(), 0xc000_1000, 6));
    d.mmio_state
        .net_devices
        .push(mmio("eth0", net(), 0xc000_2000, 7));
    d.mmio_state.vsock_device = Some(mmio("vsock", vsock(), 0xc000_3000, 8));
    d.mmio_state.balloon_device = Some(mmio(
        "balloon",
        BalloonState {
            stats_polling_interval_s: 1,
            stats_desc_index: Some(0),
            latest_stats: BalloonStatsState {
                swap_in: Some(1),
                swap_out: None,
                major_faults: Some(2),
                minor_faults: None,
                free_memory: Some(3),
                total_memory: None,
                available_memory: None,
                disk_caches: None,
                hugetlb_allocations: None,
                hugetlb_failures: Some(4),
            },
            config_space: BalloonConfigSpaceState {
                num_pages: 10,
                actual_pages: 9,
            },
            virtio_state: virtio(5, 3),
        },
        0xc000_4000,
        9,
    ));
    d.mmio_state.mmds = Some(MmdsState {
        version: MmdsVersion::V2,
        imds_compat: true,
    });
    d.mmio_state.entropy_device = Some(mmio(
        "rng",
        EntropyState {
            virtio_state: virtio(4, 1),
            rate_limiter_state: no_limits(),
        },
        0xc000_5000,
        10,
    ));
    d.pci_state.pci_enabled = true;
    d.pci_state.block_devices.push(PciDevice {
        device_id: "data".into(),
        pci_device_bdf: 0x8,
        device_state: block(),
        transport_state: VirtioPciDeviceState {
            pci_device_bdf: "0000:00:01.0".into(),
            device_activated: true,
            cap_pci_cfg_offset: 0x70,
            cap_pci_cfg: vec![0; 4],
            pci_configuration_state: PciConfigurationState {
                registers: vec![0x1042_1af4, 0x0010_0006],
                writable_bits: vec![0, 0xffff],
                bars: vec![PciBar {
                    addr: 0xc000_8000,
                    size: 0x8_0000,
                    used: true,
                    r#type: Some(PciBarRegionType::Memory64BitRegion),
                }],
                rom_bar_addr: 0,
                rom_bar_size: 0,
                rom_bar_used: false,
                last_capability: Some((0x70, 20)),
                msix_cap_reg_idx: Some(16),
            },
            pci_dev_state: pci_common(),
            msix_state: MsixConfigState {
                table_entries: msix_entries(),
                pba_entries: vec![0],
                masked: false,
                enabled: true,
            },
            msi_vector_group: vec![24, 25],
            bar_configuration: PciBarConfiguration {
                addr: 0x40_0000_0000,
                size: 0x8_0000,
                idx: 0,
                region_type: PciBarRegionType::Memory64BitRegion,
                prefetchable: PciBarPrefetchable::NotPrefetchable,
            },
        },
    });
    only_as(&f, Layout::V8_0_0_V1_13);
    let m = check(&f);
    let kinds: Vec<_> = m.devices.iter().map(|d| d.kind.clone()).collect();
    for k in [
        DeviceKind::Block,
        DeviceKind::Net,
        DeviceKind::Vsock,
        DeviceKind::Balloon,
        DeviceKind::Mmds,
        DeviceKind::Rng,
        DeviceKind::VmGenId,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }
    let net = m
        .devices
        .iter()
        .find(|d| d.kind == DeviceKind::Net)
        .unwrap();
    assert_eq!(net.virtio.as_ref().unwrap().interrupt_status, Some(1));
    assert_eq!(
        match &net.config {
            Some(snaptool::model::DeviceConfig::Net(c)) => c.host_dev_name.as_deref(),
            _ => None,
        },
        Some("tap0")
    );
    let vs = m
        .devices
        .iter()
        .find(|d| d.kind == DeviceKind::Vsock)
        .unwrap();
    assert_eq!(
        match &vs.config {
            Some(snaptool::model::DeviceConfig::Vsock(c)) => c.uds_path.as_deref(),
            _ => None,
        },
        Some("/run/v.sock")
    );
    let data = m.devices.iter().find(|d| d.id == "data").unwrap();
    assert_eq!(data.transport, Some(Transport::Pci { sbdf: 8 }));
}

/// v1.14 layout, x86_64: every MMIO device kind including pmem and virtio-mem, a hotpluggable
/// memory region, and a PCI net device with v1.14's PCI state.
#[test]
fn v1_14_x86_with_mmio_and_pci_devices() {
    use v8_14::devices::*;
    let m = real(F13).to_model();
    let mut f = fc::from_model(&m, Layout::V8_0_0_V1_14).unwrap();
    let State::V8_14X86(s) = &mut f.state else {
        panic!()
    };
    s.vm_state.memory.regions.push(GuestMemoryRegionState {
        base_address: 0x1_0000_0000,
        size: 256 << 20,
        region_type: GuestRegionType::Hotpluggable,
        plugged: vec![true, false],
    });
    let d = &mut s.device_states;
    d.mmio_state
        .block_devices
        .push(mmio("rootfs", block(), 0xc000_1000, 6));
    d.mmio_state.balloon_device = Some(mmio(
        "balloon",
        BalloonState {
            stats_polling_interval_s: 0,
            stats_desc_index: None,
            latest_stats: BalloonStatsState {
                swap_in: None,
                swap_out: None,
                major_faults: None,
                minor_faults: None,
                free_memory: None,
                total_memory: None,
                available_memory: None,
                disk_caches: None,
                hugetlb_allocations: None,
                hugetlb_failures: None,
                oom_kill: Some(1),
                alloc_stall: None,
                async_scan: Some(2),
                direct_scan: None,
                async_reclaim: None,
                direct_reclaim: Some(3),
            },
            config_space: BalloonConfigSpaceState {
                num_pages: 0,
                actual_pages: 0,
            },
            hinting_state: HintingState {
                host_cmd: 2,
                last_cmd_id: 7,
                guest_cmd: Some(1),
                acknowledge_on_finish: true,
            },
            virtio_state: virtio(5, 4),
        },
        0xc000_2000,
        7,
    ));
    d.mmio_state.pmem_devices.push(mmio(
        "pmem0",
        PmemState {
            virtio_state: virtio(27, 1),
            config_space: PmemConfigSpace {
                start: 0x2_0000_0000,
                size: 1 << 30,
            },
            config: PmemConfig {
                id: "pmem0".into(),
                path_on_host: "/images/data.img".into(),
                root_device: false,
                read_only: true,
            },
        },
        0xc000_3000,
        8,
    ));
    d.mmio_state.memory_device = Some(mmio(
        "mem",
        VirtioMemState {
            virtio_state: virtio(24, 1),
            addr: 0x1_0000_0000,
            region_size: 256 << 20,
            block_size: 2 << 20,
            usable_region_size: 256 << 20,
            requested_size: 128 << 20,
            slot_size: 128 << 20,
            plugged_blocks: vec![true; 64],
        },
        0xc000_4000,
        9,
    ));
    d.pci_state.pci_enabled = true;
    d.pci_state.net_devices.push(PciDevice {
        device_id: "eth1".into(),
        pci_device_bdf: 0x10,
        device_state: net(),
        transport_state: VirtioPciDeviceState {
            pci_device_bdf: "0000:00:02.0".into(),
            device_activated: true,
            cap_pci_cfg_offset: 0x70,
            cap_pci_cfg: vec![1, 2, 3, 4],
            pci_configuration_state: PciConfigurationState {
                registers: vec![0x1041_1af4],
                writable_bits: vec![0],
                bars: vec![PciBar {
                    addr: 0x4000,
                    size: 0x8_0000,
                    used: true,
                }],
                last_capability: Some((0x70, 20)),
                msix_cap_reg_idx: None,
            },
            pci_dev_state: pci_common(),
            msix_state: MsixConfigState {
                table_entries: msix_entries(),
                pba_entries: vec![1],
                masked: true,
                enabled: false,
                vectors: vec![24, 25],
            },
            bar_address: 0x40_0000_4000,
        },
    });
    d.acpi_state.vmclock.inner.disruption_marker = 4;
    only_as(&f, Layout::V8_0_0_V1_14);
    let m = check(&f);
    for k in [
        DeviceKind::Block,
        DeviceKind::Balloon,
        DeviceKind::Pmem,
        DeviceKind::Mem,
        DeviceKind::Net,
        DeviceKind::VmClock,
    ] {
        assert!(m.devices.iter().any(|d| d.kind == k), "{k:?}");
    }
    let pmem = m
        .devices
        .iter()
        .find(|d| d.kind == DeviceKind::Pmem)
        .unwrap();
    assert_eq!(
        match &pmem.config {
            Some(snaptool::model::DeviceConfig::Pmem(c)) => c.path_on_host.as_deref(),
            _ => None,
        },
        Some("/images/data.img")
    );
    let eth1 = m.devices.iter().find(|d| d.id == "eth1").unwrap();
    assert_eq!(eth1.transport, Some(Transport::Pci { sbdf: 0x10 }));
    assert_eq!(m.memory.regions[1].plugged, vec![true, false]);
    // The vmclock page of this layout survives the model as it was.
    assert!(fc::invented_fields(&m, Layout::V8_0_0_V1_14).is_empty());
}

/// A v1.14 model with a hotpluggable region has no home in the v1.13 layout.
#[test]
fn v1_13_refuses_hotpluggable_memory() {
    let mut m = real(F13).to_model();
    let mut r = m.memory.regions[0].clone();
    r.kind = snaptool::model::RegionKind::Hotpluggable;
    r.guest_addr = 0x1_0000_0000;
    m.memory.regions.push(r);
    let e = fc::from_model(&m, Layout::V8_0_0_V1_13).unwrap_err();
    assert!(e.to_string().contains("hotpluggable"), "{e}");
}

// ---------------------------------------------------------------------------
// aarch64
// ---------------------------------------------------------------------------

fn gic() -> v8_13::aarch64::GicState {
    use v8_13::aarch64::*;
    GicState {
        dist: vec![GicRegState {
            chunks: vec![1u32, 2],
        }],
        gic_vcpu_states: vec![GicVcpuState {
            rdist: vec![GicRegState { chunks: vec![3u32] }],
            icc: VgicSysRegsState {
                main_icc_regs: vec![GicRegState { chunks: vec![4u64] }],
                ap_icc_regs: vec![Some(GicRegState { chunks: vec![5u64] }), None],
            },
        }],
        its_state: Some(ItsRegisterState {
            iidr: 1,
            cbaser: 2,
            creadr: 3,
            cwriter: 4,
            baser: [5, 6, 7, 8, 9, 10, 11, 12],
            ctlr: 13,
        }),
    }
}

fn arm_vcpu() -> v8_13::aarch64::VcpuState {
    let mut kvi = vec![0u8; 32];
    kvi[0] = 5;
    v8_13::aarch64::VcpuState {
        mp_state: Blob(vec![0; 4]),
        regs: arm_regs(),
        mpidr: 0x8000_0000,
        kvi: Blob(kvi),
        pvtime_ipa: Some(0x4000_0000),
    }
}

fn legacy() -> Vec<v8_13::aarch64::ConnectedLegacyState> {
    use v8_13::aarch64::*;
    [
        (DeviceType::Serial, 0x4000_2000),
        (DeviceType::Rtc, 0x4000_3000),
    ]
    .into_iter()
    .map(|(type_, addr)| ConnectedLegacyState {
        type_,
        device_info: v8_13::devices::MmioDeviceInfo {
            addr,
            len: 0x1000,
            gsi: Some(33),
        },
    })
    .collect()
}

#[test]
fn v1_13_aarch64_state() {
    use v8_13::aarch64::*;
    let base = real(F13);
    let State::V8_13X86(x) = &base.state else {
        panic!()
    };
    let state = MicrovmState {
        vm_info: VmInfo {
            mem_size_mib: 64,
            smt: false,
            cpu_template: StaticCpuTemplate::V1N1,
            boot_source: x.vm_info.boot_source.clone(),
            huge_pages: v8_13::devices::HugePageConfig::None,
        },
        kvm_state: x.kvm_state.clone(),
        vm_state: VmState {
            memory: v8_13::devices::GuestMemoryState {
                regions: vec![v8_13::devices::GuestMemoryRegionState {
                    base_address: 0x8000_0000,
                    size: 64 << 20,
                }],
            },
            gic: gic(),
            resource_allocator: x.vm_state.resource_allocator.clone(),
        },
        vcpu_states: vec![arm_vcpu()],
        device_states: DevicesState {
            mmio_state: DeviceStates {
                legacy_devices: legacy(),
                block_devices: vec![mmio("rootfs", block(), 0x4000_4000, 34)],
                net_devices: vec![],
                vsock_device: None,
                balloon_device: None,
                mmds: None,
                entropy_device: None,
            },
            acpi_state: x.device_states.acpi_state.clone(),
            pci_state: x.device_states.pci_state.clone(),
        },
    };
    let mut f = base.clone();
    f.state = State::V8_13Aarch64(Box::new(state));
    arm_header(&mut f);
    only_as(&f, Layout::V8_0_0_V1_13);
    let m = check(&f);
    let Vcpu::Aarch64(v) = &m.vcpus[0] else {
        panic!()
    };
    assert_eq!(v.regs.len(), 3);
    assert_eq!(v.pvtime_ipa, Some(0x4000_0000));
    assert!(m.devices.iter().any(|d| d.kind == DeviceKind::Rtc));
    let snaptool::model::Platform::Aarch64(p) = &m.platform else {
        panic!()
    };
    assert_eq!(p.gic.as_ref().unwrap().its.unwrap().ctlr, 13);
}

#[test]
fn v1_14_aarch64_state() {
    use v8_14::aarch64::*;
    let base = real(F13);
    let State::V8_13X86(x) = &base.state else {
        panic!()
    };
    let v14 = fc::from_model(&base.to_model(), Layout::V8_0_0_V1_14).unwrap();
    let State::V8_14X86(y) = &v14.state else {
        panic!()
    };
    let state = MicrovmState {
        vm_info: VmInfo {
            mem_size_mib: 64,
            smt: false,
            cpu_template: StaticCpuTemplate::None,
            boot_source: x.vm_info.boot_source.clone(),
            huge_pages: v8_14::devices::HugePageConfig::Hugetlbfs2M,
        },
        kvm_state: x.kvm_state.clone(),
        vm_state: VmState {
            memory: v8_14::devices::GuestMemoryState {
                regions: vec![v8_14::devices::GuestMemoryRegionState {
                    base_address: 0x8000_0000,
                    size: 64 << 20,
                    region_type: v8_14::devices::GuestRegionType::Dram,
                    plugged: vec![true],
                }],
            },
            gic: gic(),
            resource_allocator: y.vm_state.resource_allocator.clone(),
        },
        vcpu_states: vec![arm_vcpu()],
        device_states: DevicesState {
            mmio_state: DeviceStates {
                legacy_devices: legacy(),
                block_devices: vec![],
                net_devices: vec![mmio("eth0", net(), 0x4000_4000, 34)],
                vsock_device: None,
                balloon_device: None,
                mmds: None,
                entropy_device: None,
                pmem_devices: vec![],
                memory_device: None,
            },
            acpi_state: AcpiDeviceManagerState {
                vmgenid: y.device_states.acpi_state.vmgenid.clone(),
            },
            pci_state: y.device_states.pci_state.clone(),
        },
    };
    let mut f = base.clone();
    f.state = State::V8_14Aarch64(Box::new(state));
    arm_header(&mut f);
    only_as(&f, Layout::V8_0_0_V1_14);
    let m = check(&f);
    assert_eq!(m.vm.huge_pages.as_deref(), Some("2M"));
    assert!(!m.devices.iter().any(|d| d.kind == DeviceKind::VmClock));
    // The aarch64 v1.14 state has no vmclock, and nothing is invented for it.
    let f2 = fc::from_model(&m, Layout::V8_0_0_V1_14).unwrap();
    assert!(fc::invented_fields(&m, Layout::V8_0_0_V1_14).is_empty());
    assert_eq!(f2.state, f.state);
}

/// A file that is neither layout: the error names both layouts and where each failed.
#[test]
fn neither_layout_reports_both() {
    let mut f = real(F13);
    let State::V8_13X86(s) = &mut f.state else {
        panic!()
    };
    s.device_states.pci_state.pci_enabled = true;
    let mut bytes = fc::write(&f).unwrap();
    // Cut the last byte of the state (the pci state's `entropy_device` tag) and re-seal.
    bytes.truncate(bytes.len() - 9);
    let bytes = snaptool::envelope::seal(bytes);
    let e = fc::read(&bytes).unwrap_err().to_string();
    assert!(e.contains("firecracker-8.0.0-v1.13"), "{e}");
    assert!(e.contains("firecracker-8.0.0-v1.14"), "{e}");
    assert!(e.contains("the other layout of this version"), "{e}");
}
