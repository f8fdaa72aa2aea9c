//! States the real fixtures do not cover, built from them through the layout types: virtio
//! devices (the fixtures' guest has none) and aarch64 (the fixtures are x86_64). Each is written,
//! read back, verified and sent through the model; read → model → write must be byte-identical.

use crate::root;
use snaptool::envelope::{Header, MAGIC_AARCH64};
use snaptool::formats::firecracker::{self as fc, State, v1, v6, v10, wire::Blob};
use snaptool::model::{DeviceKind, Transport, Vcpu};
use snaptool::verify::verify_state;

pub(crate) fn real(rel: &str) -> fc::FcFile {
    fc::read(&std::fs::read(root().join(rel)).unwrap()).unwrap()
}

/// Writes `f`, reads it back, and checks it is clean and survives the model byte for byte.
pub(crate) fn check(f: &fc::FcFile) -> snaptool::model::Snapshot {
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

fn queue10(size: u16) -> v10::devices::QueueState {
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

pub(crate) fn block10(queue_size: u16) -> v10::devices::MmioDevice<v10::devices::BlockState> {
    use v10::devices::*;
    MmioDevice {
        device_id: "rootfs".into(),
        device_state: BlockState::Virtio(VirtioBlockState {
            id: "rootfs".into(),
            partuuid: None,
            cache_type: CacheType::Unsafe,
            root_device: true,
            disk_path: "/images/rootfs.ext4".into(),
            virtio_state: VirtioDeviceState {
                device_type: VirtioDeviceType::Block,
                avail_features: 0x1_0000_0220,
                acked_features: 0x1_0000_0220,
                queues: vec![queue10(queue_size)],
                activated: true,
            },
            rate_limiter_state: RateLimiterState {
                ops: None,
                bandwidth: Some(TokenBucketState {
                    size: 1 << 20,
                    one_time_burst: 0,
                    refill_time: 100,
                    budget: 1 << 20,
                    elapsed_ns: 5,
                }),
            },
            file_engine_type: FileEngineTypeState::Sync,
        }),
        transport_state: MmioTransportState {
            features_select: 0,
            acked_features_select: 0,
            queue_select: 0,
            device_status: 15,
            config_generation: 0,
            interrupt_status: 0,
        },
        device_info: MmioDeviceInfo {
            addr: 0xd000_0000,
            len: 0x1000,
            gsi: Some(5),
        },
    }
}

pub(crate) fn net10() -> v10::devices::MmioDevice<v10::devices::NetState> {
    use v10::devices::*;
    let b = block10(256);
    let BlockState::Virtio(bs) = b.device_state else {
        unreachable!()
    };
    let mut virtio_state = bs.virtio_state;
    virtio_state.device_type = VirtioDeviceType::Net;
    virtio_state.queues.push(queue10(256));
    MmioDevice {
        device_id: "eth0".into(),
        device_state: NetState {
            id: "eth0".into(),
            tap_if_name: "tap0".into(),
            rx_rate_limiter_state: RateLimiterState {
                ops: None,
                bandwidth: None,
            },
            tx_rate_limiter_state: RateLimiterState {
                ops: None,
                bandwidth: None,
            },
            mmds_ns: None,
            config_space: NetConfigSpaceState {
                guest_mac: Some("06:00:ac:10:00:02".into()),
                mtu: Some(1500),
            },
            virtio_state,
        },
        transport_state: b.transport_state,
        device_info: MmioDeviceInfo {
            addr: 0xd000_1000,
            len: 0x1000,
            gsi: Some(6),
        },
    }
}

#[test]
fn v10_x86_with_virtio_devices() {
    let mut f = real("fixtures/firecracker-1.16.1/counter-1vcpu/vmstate");
    let State::V10X86(s) = &mut f.state else {
        panic!()
    };
    s.device_states.mmio_state.block_devices.push(block10(256));
    s.device_states.mmio_state.net_devices.push(net10());
    let m = check(&f);
    let block = m
        .devices
        .iter()
        .find(|d| d.kind == DeviceKind::Block)
        .unwrap();
    assert_eq!(block.id, "rootfs");
    assert_eq!(
        match &block.config {
            Some(snaptool::model::DeviceConfig::Block(c)) => c.path_on_host.as_deref(),
            _ => None,
        },
        Some("/images/rootfs.ext4")
    );
    assert_eq!(block.virtio.as_ref().unwrap().device_type, 2);
    assert_eq!(block.virtio.as_ref().unwrap().device_status, Some(15));
    assert_eq!(
        block.transport,
        Some(Transport::Mmio {
            addr: 0xd000_0000,
            len: 0x1000,
            irq: Some(5)
        })
    );
    let net = m
        .devices
        .iter()
        .find(|d| d.kind == DeviceKind::Net)
        .unwrap();
    assert_eq!(
        match &net.config {
            Some(snaptool::model::DeviceConfig::Net(c)) => c.host_dev_name.as_deref(),
            _ => None,
        },
        Some("tap0")
    );
    assert_eq!(net.virtio.as_ref().unwrap().queues.len(), 2);
}

#[test]
fn broken_virtqueue_is_a_finding() {
    let mut f = real("fixtures/firecracker-1.16.1/counter-1vcpu/vmstate");
    let State::V10X86(s) = &mut f.state else {
        panic!()
    };
    s.device_states.mmio_state.block_devices.push(block10(100));
    let r = verify_state("q", &fc::write(&f).unwrap(), None);
    let q: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "queue_size")
        .collect();
    assert_eq!(q.len(), 1, "{:#?}", r.findings);
    assert_eq!(
        q[0].path.as_deref(),
        Some("devices[rootfs].virtio.queues[0]")
    );
}

#[test]
fn fam_count_mismatch_is_a_finding() {
    let mut f = real("fixtures/firecracker-1.12.1/counter-1vcpu/vmstate");
    let State::V6X86(s) = &mut f.state else {
        panic!()
    };
    s.vcpu_states[0].cpuid.1.pop();
    let r = verify_state("fam", &fc::write(&f).unwrap(), None);
    let c: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "fam_count")
        .collect();
    assert_eq!(c.len(), 1, "{:#?}", r.findings);
    assert!(
        c[0].message.contains("nent = 57, but 56 entries follow"),
        "{}",
        c[0].message
    );
}

#[test]
fn v6_x86_with_a_block_device() {
    use v6::devices::*;
    let mut f = real("fixtures/firecracker-1.12.1/counter-1vcpu/vmstate");
    let State::V6X86(s) = &mut f.state else {
        panic!()
    };
    s.device_states.block_devices.push(ConnectedBlockState {
        device_id: "rootfs".into(),
        device_state: BlockState::Virtio(VirtioBlockState {
            id: "rootfs".into(),
            partuuid: Some("0eaa91a0-01".into()),
            cache_type: CacheType::Writeback,
            root_device: true,
            disk_path: "rootfs.ext4".into(),
            virtio_state: VirtioDeviceState {
                device_type: 2,
                avail_features: 0x1_0000_0220,
                acked_features: 0,
                queues: vec![],
                interrupt_status: 1,
                activated: false,
            },
            rate_limiter_state: RateLimiterState {
                ops: None,
                bandwidth: None,
            },
            file_engine_type: FileEngineTypeState::Async,
        }),
        transport_state: MmioTransportState {
            features_select: 1,
            acked_features_select: 0,
            queue_select: 0,
            device_status: 3,
            config_generation: 0,
        },
        device_info: MmioDeviceInfo {
            addr: 0xd000_0000,
            len: 0x1000,
            irq: std::num::NonZeroU32::new(5),
        },
    });
    s.device_states.mmds_version = Some(MmdsVersionState::V2);
    let m = check(&f);
    let block = m
        .devices
        .iter()
        .find(|d| d.kind == DeviceKind::Block)
        .unwrap();
    assert_eq!(block.virtio.as_ref().unwrap().interrupt_status, Some(1));
    assert!(m.devices.iter().any(|d| d.kind == DeviceKind::Mmds));
}

/// aarch64 core register ids (KVM_REG_ARM64 | size | KVM_REG_ARM_CORE | offset).
const PC: u64 = 0x6030_0000_0010_0040;
const SP: u64 = 0x6030_0000_0010_003e;
const V0: u64 = 0x6040_0000_0010_0054;

pub(crate) fn arm_regs() -> (Vec<u64>, Vec<u8>) {
    let mut data = 0x4008_1234u64.to_le_bytes().to_vec(); // pc
    data.extend_from_slice(&0x8000_fff0u64.to_le_bytes()); // sp
    data.extend_from_slice(&[0xab; 16]); // v0 (128-bit)
    (vec![PC, SP, V0], data)
}

pub(crate) fn arm_header(f: &mut fc::FcFile) {
    f.header = Header {
        magic: MAGIC_AARCH64,
        arch: snaptool::model::Arch::Aarch64,
        ..f.header.clone()
    };
}

/// A format 10.0.0 aarch64 state built from the x86_64 fixture's shared parts: core registers,
/// a GIC, legacy serial and RTC, one virtio block device.
pub(crate) fn v10_aarch64_file() -> fc::FcFile {
    use v10::aarch64::*;
    let base = real("fixtures/firecracker-1.16.1/counter-1vcpu/vmstate");
    let State::V10X86(x) = &base.state else {
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
    let gic_regs = |v: Vec<u32>| GicRegState { chunks: v };
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
                gic_vcpu_states: vec![GicVcpuState {
                    rdist: vec![gic_regs(vec![4])],
                    icc: VgicSysRegsState {
                        main_icc_regs: vec![GicRegState {
                            chunks: vec![5u64, 6],
                        }],
                        ap_icc_regs: vec![None, Some(GicRegState { chunks: vec![7u64] })],
                    },
                }],
                its_state: None,
            },
            resource_allocator: x.vm_state.resource_allocator.clone(),
        },
        vcpu_states: vec![VcpuState {
            mp_state: Blob(vec![0; 4]),
            regs: arm_regs(),
            mpidr: 0x8000_0000,
            kvi: Blob(vec![
                5, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0,
            ]),
            pvtime_ipa: Some(0x4000_0000),
        }],
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

#[test]
fn v10_aarch64_state() {
    let f = v10_aarch64_file();
    let m = check(&f);
    let Vcpu::Aarch64(v) = &m.vcpus[0] else {
        panic!()
    };
    assert_eq!(v.regs.len(), 3);
    assert_eq!(v.regs[2].value.0, vec![0xab; 16]);
    assert_eq!(v.kvi.unwrap().target, 5);
    let serial = m
        .devices
        .iter()
        .find(|d| d.kind == DeviceKind::Serial)
        .unwrap();
    assert!(
        serial.uart.is_some(),
        "the serial state attaches to the legacy serial device"
    );
    assert!(m.devices.iter().any(|d| d.kind == DeviceKind::Rtc));
    let text = snaptool::inspect::render_text(
        &snaptool::inspect::inspect("arm", &fc::write(&f).unwrap(), true, None).unwrap(),
    );
    assert!(text.contains("pc=0x40081234 sp=0x8000fff0"), "{text}");
}

#[test]
fn v6_aarch64_state_and_register_size_check() {
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
            regs: arm_regs(),
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
    check(&f);
    // A register list whose sizes do not add up is a finding and still round-trips exactly.
    let State::V6Aarch64(s) = &mut f.state else {
        panic!()
    };
    s.vcpu_states[0].regs.1.pop();
    let bytes = fc::write(&f).unwrap();
    let r = verify_state("regs", &bytes, None);
    assert!(
        r.findings.iter().any(|f| f.code == "arm_reg_sizes"),
        "{:#?}",
        r.findings
    );
    let back = fc::read(&bytes).unwrap();
    let again = fc::from_model(&back.to_model(), fc::Layout::V6_0_0).unwrap();
    assert!(fc::write(&again).unwrap() == bytes);
}

fn virtio1(device_type: u32, queues: usize) -> v1::devices::VirtioDeviceState {
    v1::devices::VirtioDeviceState {
        device_type,
        avail_features: 0x1_0000_0220,
        acked_features: 0x1_0000_0220,
        queues: (0..queues)
            .map(|i| v1::devices::QueueState {
                max_size: 256,
                size: 256,
                ready: true,
                desc_table: 0x10_0000 + 0x1_0000 * i as u64,
                avail_ring: 0x10_1000 + 0x1_0000 * i as u64,
                used_ring: 0x10_2000 + 0x1_0000 * i as u64,
                next_avail: 3,
                next_used: 3,
                num_added: 0,
            })
            .collect(),
        interrupt_status: 0,
        activated: true,
    }
}

fn transport1() -> v1::devices::MmioTransportState {
    v1::devices::MmioTransportState {
        features_select: 0,
        acked_features_select: 0,
        queue_select: 0,
        device_status: 15,
        config_generation: 0,
    }
}

#[test]
fn v1_x86_with_virtio_devices() {
    use v1::devices::*;
    let mut f = real("fixtures/firecracker-1.7.0/counter-1vcpu/vmstate");
    let State::V1X86(s) = &mut f.state else {
        panic!()
    };
    let no_limit = || RateLimiterState {
        ops: None,
        bandwidth: None,
    };
    s.device_states.block_devices.push(ConnectedBlockState {
        device_id: "rootfs".into(),
        device_state: BlockState::Virtio(VirtioBlockState {
            id: "rootfs".into(),
            partuuid: None,
            cache_type: CacheType::Unsafe,
            root_device: true,
            disk_path: "rootfs.ext4".into(),
            virtio_state: virtio1(2, 1),
            rate_limiter_state: no_limit(),
            file_engine_type: FileEngineTypeState::Sync,
        }),
        transport_state: transport1(),
        device_info: MmioDeviceInfo {
            addr: 0xd000_0000,
            len: 0x1000,
            irqs: vec![5],
        },
    });
    s.device_states.net_devices.push(ConnectedNetState {
        device_id: "eth0".into(),
        device_state: NetState {
            id: "eth0".into(),
            tap_if_name: "tap0".into(),
            rx_rate_limiter_state: no_limit(),
            tx_rate_limiter_state: no_limit(),
            mmds_ns: Some(MmdsNetworkStackState {
                mac_addr: [6, 1, 35, 69, 103, 1],
                ipv4_addr: 0xa9fe_a9fe,
                tcp_port: 80,
                max_connections: 30,
                max_pending_resets: 100,
            }),
            config_space: NetConfigSpaceState {
                guest_mac: Some("06:00:ac:10:00:02".into()),
            },
            virtio_state: virtio1(1, 2),
        },
        transport_state: transport1(),
        device_info: MmioDeviceInfo {
            addr: 0xd000_1000,
            len: 0x1000,
            irqs: vec![6],
        },
    });
    s.device_states.mmds_version = Some(MmdsVersionState::V2);
    let m = check(&f);
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
        }),
        "the first of `irqs` is the model's IRQ"
    );
    assert_eq!(
        match &net.config {
            Some(snaptool::model::DeviceConfig::Net(c)) => c.host_dev_name.as_deref(),
            _ => None,
        },
        Some("tap0")
    );
    assert_eq!(net.virtio.as_ref().unwrap().queues.len(), 2);
    assert!(m.devices.iter().any(|d| d.kind == DeviceKind::Block));
    assert!(m.devices.iter().any(|d| d.kind == DeviceKind::Mmds));
    // 1.0.0 device states have no faithful 6.0.0 form: the writer leaves them out rather than
    // guessing, and a conversion reports them as lost.
    let f6 = fc::from_model(&m, fc::Layout::V6_0_0).unwrap();
    assert!(f6.to_model().devices.iter().all(|d| d.virtio.is_none()));
}

#[test]
fn v1_aarch64_state() {
    use v1::aarch64::*;
    use v1::kvm::{kvm_mp_state, kvm_vcpu_init};
    let base = real("fixtures/firecracker-1.7.0/counter-1vcpu/vmstate");
    let State::V1X86(x) = &base.state else {
        panic!()
    };
    let legacy = |type_, addr, irq| ConnectedLegacyState {
        type_,
        device_info: v1::devices::MmioDeviceInfo {
            addr,
            len: 0x1000,
            irqs: vec![irq],
        },
    };
    let vcpu = |mpidr, kvi| VcpuState {
        mp_state: kvm_mp_state { mp_state: 0 },
        regs: arm_regs(),
        mpidr,
        kvi,
    };
    let gic_vcpu = || GicVcpuState {
        rdist: vec![GicRegState { chunks: vec![4u32] }],
        icc: VgicSysRegsState {
            main_icc_regs: vec![GicRegState {
                chunks: vec![5u64, 6],
            }],
            ap_icc_regs: vec![None, Some(GicRegState { chunks: vec![7u64] })],
        },
    };
    let state = MicrovmState {
        vm_info: VmInfo {
            mem_size_mib: 128,
            smt: false,
            cpu_template: StaticCpuTemplate::V1N1,
            boot_source: x.vm_info.boot_source.clone(),
            huge_pages: v1::devices::HugePageConfig::None,
        },
        memory_state: v1::devices::GuestMemoryState {
            regions: vec![v1::devices::GuestMemoryRegionState {
                base_address: 0x8000_0000,
                size: 128 << 20,
                offset: 0,
            }],
        },
        vm_state: VmState {
            gic: GicState {
                dist: vec![GicRegState {
                    chunks: vec![1u32, 2, 3],
                }],
                gic_vcpu_states: vec![gic_vcpu(), gic_vcpu()],
            },
            kvm_cap_modifiers: vec!["170".into(), "!171".into()],
        },
        vcpu_states: vec![
            vcpu(
                0x8000_0000,
                Some(kvm_vcpu_init {
                    target: 5,
                    features: [4, 0, 0, 0, 0, 0, 0],
                }),
            ),
            vcpu(0x8000_0001, None),
        ],
        device_states: DeviceStates {
            legacy_devices: vec![
                legacy(DeviceType::Serial, 0x4000_2000, 33),
                legacy(DeviceType::Rtc, 0x4000_3000, 34),
            ],
            block_devices: vec![],
            net_devices: vec![],
            vsock_device: None,
            balloon_device: None,
            mmds_version: None,
            entropy_device: None,
        },
    };
    let mut f = base.clone();
    f.state = State::V1Aarch64(Box::new(state));
    arm_header(&mut f);
    let m = check(&f);
    let Vcpu::Aarch64(v) = &m.vcpus[0] else {
        panic!()
    };
    assert_eq!(v.regs.len(), 3);
    assert_eq!(v.kvi.unwrap().target, 5);
    assert_eq!(v.kvi.unwrap().features[0], 4);
    let Vcpu::Aarch64(second) = &m.vcpus[1] else {
        panic!()
    };
    assert_eq!(second.kvi, None, "an absent kvi stays absent");
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
            irq: Some(33)
        })
    );
    assert!(m.devices.iter().any(|d| d.kind == DeviceKind::Rtc));
}

/// A model from a newer aarch64 layout writes as 1.0.0 and reads back with the same vCPUs and GIC.
#[test]
fn v6_aarch64_model_writes_as_v1() {
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
            mp_state: Blob(vec![1, 0, 0, 0]),
            regs: arm_regs(),
            mpidr: 0x8000_0000,
            kvi: Blob(vec![
                5, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0,
            ]),
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
    let m6 = check(&f);
    let v1file = fc::from_model(&m6, fc::Layout::V1_0_0).unwrap();
    let m1 = check(&v1file);
    assert_eq!(m1.vcpus, m6.vcpus);
    assert_eq!(m1.platform, m6.platform);
    assert_eq!(m1.memory.regions[0].file_offset, 0);
    assert!(m1.memory.regions[0].explicit_offset);
}

#[test]
fn v1_fam_count_mismatch_is_a_finding() {
    let mut f = real("fixtures/firecracker-1.7.0/counter-1vcpu/vmstate");
    let State::V1X86(s) = &mut f.state else {
        panic!()
    };
    s.vcpu_states[0].saved_msrs[0].1.pop();
    let r = verify_state("fam", &fc::write(&f).unwrap(), None);
    let c: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "fam_count")
        .collect();
    assert_eq!(c.len(), 1, "{:#?}", r.findings);
    assert_eq!(
        c[0].path.as_deref(),
        Some("vcpu_states[0].saved_msrs[0].header.nmsrs")
    );
    assert!(
        c[0].message.contains("nmsrs = 188, but 187 entries follow"),
        "{}",
        c[0].message
    );
}
