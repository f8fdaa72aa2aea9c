//! Device types of formats 9.0.0, 10.0.0 and 11.0.0 (Firecracker v1.15, v1.16, main) and the
//! `MmioDevice<T>` entry every layout from 8.0.0 on uses: named device types, the vsock backend
//! with the muxer's port counter, sixteen balloon statistics with hinting, pmem with rate
//! limiting (10.0.0 on), the network device's MTU (10.0.0 on), the vsock's pending event
//! acknowledgement (11.0.0), and the PCI transport of 10.0.0 and 11.0.0 (11.0.0 records where the
//! BAR is mapped).

use super::*;
use crate::formats::firecracker::WriteError;
use crate::formats::firecracker::shared::v1_16::aarch64 as a;
use crate::formats::firecracker::shared::v1_16::devices as d;
use crate::formats::firecracker::v9::devices as d9;
use crate::formats::firecracker::{v9, v10, v11};

common_conv!(d);

/// 9.0.0+ virtio state → model.
pub(crate) fn virtio_in(v: &d::VirtioDeviceState) -> VirtioState {
    let name = format!("{:?}", v.device_type);
    VirtioState {
        device_type: VIRTIO_TYPES
            .iter()
            .find(|(_, n)| *n == name)
            .map_or(0, |(id, _)| *id),
        avail_features: v.avail_features,
        acked_features: v.acked_features,
        activated: v.activated,
        queues: v.queues.iter().map(queue_in).collect(),
        interrupt_status: None,
        device_status: None,
    }
}

/// Model → 9.0.0+ virtio state.
pub(crate) fn virtio_out(v: &VirtioState) -> Result<d::VirtioDeviceState, String> {
    use d::VirtioDeviceType as T;
    let device_type = match v.device_type {
        1 => T::Net,
        2 => T::Block,
        4 => T::Rng,
        5 => T::Balloon,
        19 => T::Vsock,
        24 => T::Mem,
        27 => T::Pmem,
        n => {
            return Err(format!(
                "virtio device type {n} has no name in Firecracker's VirtioDeviceType"
            ));
        }
    };
    Ok(d::VirtioDeviceState {
        device_type,
        avail_features: v.avail_features,
        acked_features: v.acked_features,
        queues: v.queues.iter().map(queue_out).collect(),
        activated: v.activated,
    })
}

block_kind!(d, virtio_in, virtio_out, limiter_in, limiter_out);
entropy_kind!(d, virtio_in, virtio_out, limiter_in, limiter_out);

/// A 9.0.0 network device (no MTU) or a 10.0.0 one.
macro_rules! net_kind {
    ($m:ident, $mtu_in:expr, $cfg:expr) => {
        impl Kind for $m::NetState {
            const KIND: DeviceKind = DeviceKind::Net;

            fn read(&self, dev: &mut Device) {
                read_net(
                    dev,
                    virtio_in(&self.virtio_state),
                    NetFields {
                        id: self.id.clone(),
                        tap: self.tap_if_name.clone(),
                        guest_mac: self.config_space.guest_mac.clone(),
                        mtu: $mtu_in(&self.config_space),
                        rx: limiter_in(&self.rx_rate_limiter_state),
                        tx: limiter_in(&self.tx_rate_limiter_state),
                        mmds: self.mmds_ns.as_ref().map(stack_in),
                        rx_buffers: None,
                    },
                );
            }

            fn write(dev: &Device) -> Result<Self, String> {
                let (f, v) = write_net(dev)?;
                Ok($m::NetState {
                    id: f.id,
                    tap_if_name: f.tap,
                    rx_rate_limiter_state: limiter_out(&f.rx),
                    tx_rate_limiter_state: limiter_out(&f.tx),
                    mmds_ns: f.mmds.as_ref().map(stack_out),
                    config_space: $cfg(f.guest_mac, f.mtu),
                    virtio_state: virtio_out(&v)?,
                })
            }
        }
    };
}

net_kind!(d, |c: &d::NetConfigSpaceState| c.mtu, |guest_mac, mtu| {
    d::NetConfigSpaceState { guest_mac, mtu }
});
net_kind!(d9, |_: &d9::NetConfigSpaceState| None, |guest_mac, _| {
    d9::NetConfigSpaceState { guest_mac }
});

impl Kind for d::VsockState {
    const KIND: DeviceKind = DeviceKind::Vsock;

    fn read(&self, dev: &mut Device) {
        read_vsock(
            dev,
            virtio_in(&self.frontend.virtio_state),
            VsockFields {
                cid: self.frontend.cid,
                uds_path: self.backend.uds_path.clone(),
                runtime: VsockRuntime {
                    local_port_last: Some(self.backend.local_port_last),
                    pending_event_ack: None,
                },
            },
        );
    }

    fn write(dev: &Device) -> Result<Self, String> {
        let (f, v) = write_vsock(dev)?;
        Ok(d::VsockState {
            backend: backend_out(&f),
            frontend: d::VsockFrontendState {
                cid: f.cid,
                virtio_state: virtio_out(&v)?,
            },
        })
    }
}

fn backend_out(f: &VsockFields) -> d::VsockBackendState {
    d::VsockBackendState {
        uds_path: f.uds_path.clone(),
        local_port_last: f.runtime.local_port_last.unwrap_or(VSOCK_LOCAL_PORT_LAST),
    }
}

impl Kind for v11::devices::VsockState {
    const KIND: DeviceKind = DeviceKind::Vsock;

    fn read(&self, dev: &mut Device) {
        read_vsock(
            dev,
            virtio_in(&self.frontend.virtio_state),
            VsockFields {
                cid: self.frontend.cid,
                uds_path: self.backend.uds_path.clone(),
                runtime: VsockRuntime {
                    local_port_last: Some(self.backend.local_port_last),
                    pending_event_ack: Some(self.frontend.pending_event_ack),
                },
            },
        );
    }

    fn write(dev: &Device) -> Result<Self, String> {
        let (f, v) = write_vsock(dev)?;
        Ok(v11::devices::VsockState {
            backend: backend_out(&f),
            frontend: v11::devices::VsockFrontendState {
                cid: f.cid,
                virtio_state: virtio_out(&v)?,
                pending_event_ack: f.runtime.pending_event_ack.unwrap_or(false),
            },
        })
    }
}

/// Sixteen balloon statistics (v1.14 on) → model.
pub(crate) fn stats_in(s: &d::BalloonStatsState) -> BalloonStats {
    BalloonStats {
        swap_in: s.swap_in,
        swap_out: s.swap_out,
        major_faults: s.major_faults,
        minor_faults: s.minor_faults,
        free_memory: s.free_memory,
        total_memory: s.total_memory,
        available_memory: s.available_memory,
        disk_caches: s.disk_caches,
        hugetlb_allocations: s.hugetlb_allocations,
        hugetlb_failures: s.hugetlb_failures,
        oom_kill: s.oom_kill,
        alloc_stall: s.alloc_stall,
        async_scan: s.async_scan,
        direct_scan: s.direct_scan,
        async_reclaim: s.async_reclaim,
        direct_reclaim: s.direct_reclaim,
    }
}

/// Model → sixteen balloon statistics.
pub(crate) fn stats_out(s: &BalloonStats) -> d::BalloonStatsState {
    d::BalloonStatsState {
        swap_in: s.swap_in,
        swap_out: s.swap_out,
        major_faults: s.major_faults,
        minor_faults: s.minor_faults,
        free_memory: s.free_memory,
        total_memory: s.total_memory,
        available_memory: s.available_memory,
        disk_caches: s.disk_caches,
        hugetlb_allocations: s.hugetlb_allocations,
        hugetlb_failures: s.hugetlb_failures,
        oom_kill: s.oom_kill,
        alloc_stall: s.alloc_stall,
        async_scan: s.async_scan,
        direct_scan: s.direct_scan,
        async_reclaim: s.async_reclaim,
        direct_reclaim: s.direct_reclaim,
    }
}

/// Free page hinting state → model.
pub(crate) fn hinting_in(h: &d::HintingState) -> FreePageHinting {
    FreePageHinting {
        host_cmd: h.host_cmd,
        last_cmd_id: h.last_cmd_id,
        guest_cmd: h.guest_cmd,
        acknowledge_on_finish: h.acknowledge_on_finish,
    }
}

/// Model → free page hinting state.
pub(crate) fn hinting_out(h: &FreePageHinting) -> d::HintingState {
    d::HintingState {
        host_cmd: h.host_cmd,
        last_cmd_id: h.last_cmd_id,
        guest_cmd: h.guest_cmd,
        acknowledge_on_finish: h.acknowledge_on_finish,
    }
}

impl Kind for d::BalloonState {
    const KIND: DeviceKind = DeviceKind::Balloon;

    fn read(&self, dev: &mut Device) {
        read_balloon(
            dev,
            virtio_in(&self.virtio_state),
            self.stats_polling_interval_s,
            BalloonRuntime {
                stats_desc_index: self.stats_desc_index,
                latest_stats: stats_in(&self.latest_stats),
                num_pages: self.config_space.num_pages,
                actual_pages: self.config_space.actual_pages,
                hinting: Some(hinting_in(&self.hinting_state)),
            },
        );
    }

    fn write(dev: &Device) -> Result<Self, String> {
        let (interval, r, v) = write_balloon(dev)?;
        Ok(d::BalloonState {
            stats_polling_interval_s: interval,
            stats_desc_index: r.stats_desc_index,
            latest_stats: stats_out(&r.latest_stats),
            config_space: d::BalloonConfigSpaceState {
                num_pages: r.num_pages,
                actual_pages: r.actual_pages,
            },
            hinting_state: hinting_out(&r.hinting.unwrap_or_default()),
            virtio_state: virtio_out(&v)?,
        })
    }
}

fn limiter_config_in(c: &Option<d::RateLimiterConfig>) -> Option<LimiterConfig> {
    let b = |b: &Option<d::TokenBucketConfig>| {
        b.as_ref().map(|b| BucketConfig {
            size: b.size,
            one_time_burst: b.one_time_burst,
            refill_time: b.refill_time,
        })
    };
    c.as_ref().map(|c| LimiterConfig {
        bandwidth: b(&c.bandwidth),
        ops: b(&c.ops),
    })
}

fn limiter_config_out(c: &Option<LimiterConfig>) -> Option<d::RateLimiterConfig> {
    let b = |b: &Option<BucketConfig>| {
        b.map(|b| d::TokenBucketConfig {
            size: b.size,
            one_time_burst: b.one_time_burst,
            refill_time: b.refill_time,
        })
    };
    c.as_ref().map(|c| d::RateLimiterConfig {
        bandwidth: b(&c.bandwidth),
        ops: b(&c.ops),
    })
}

impl Kind for d::PmemState {
    const KIND: DeviceKind = DeviceKind::Pmem;

    fn read(&self, dev: &mut Device) {
        let c = &self.config;
        read_pmem(
            dev,
            virtio_in(&self.virtio_state),
            PmemFields {
                id: c.id.clone(),
                path_on_host: c.path_on_host.clone(),
                root_device: c.root_device,
                read_only: c.read_only,
            },
            PmemRuntime {
                start: self.config_space.start,
                size: self.config_space.size,
                rate_limiter_config: Some(limiter_config_in(&c.rate_limiter)),
                rate_limiter: Some(limiter_in(&self.rate_limiter_state)),
            },
        );
    }

    fn write(dev: &Device) -> Result<Self, String> {
        let (f, r, v) = write_pmem(dev)?;
        Ok(d::PmemState {
            virtio_state: virtio_out(&v)?,
            config_space: d::PmemConfigSpace {
                start: r.start,
                size: r.size,
            },
            config: d::PmemConfig {
                id: f.id,
                path_on_host: f.path_on_host,
                root_device: f.root_device,
                read_only: f.read_only,
                rate_limiter: limiter_config_out(&r.rate_limiter_config.flatten()),
            },
            rate_limiter_state: limiter_out(&r.rate_limiter.unwrap_or_default()),
        })
    }
}

pmem_kind!(d9, d, virtio_in, virtio_out);

mem_kind!(d, virtio_in, virtio_out);

fn same<T: Copy>(v: &T) -> T {
    *v
}

fn same_out(v: Option<u32>) -> Option<u32> {
    v
}

impl<T: Kind> Entry for d::MmioDevice<T> {
    fn to_device(&self) -> Device {
        let mut dev = Device::new(self.device_id.clone(), T::KIND);
        self.device_state.read(&mut dev);
        let t = &self.transport_state;
        let i = &self.device_info;
        let regs = MmioRegs {
            features_select: t.features_select,
            acked_features_select: t.acked_features_select,
            queue_select: t.queue_select,
            config_generation: t.config_generation,
        };
        on_mmio(
            dev,
            i.addr,
            i.len,
            same(&i.gsi),
            regs,
            t.device_status,
            Some(t.interrupt_status),
        )
    }

    fn from_device(dev: &Device) -> Option<Result<Self, String>> {
        let (addr, len, irq, r) = mmio_of_kind(dev, &T::KIND)?;
        let v = dev.virtio.as_ref();
        Some(T::write(dev).map(|device_state| d::MmioDevice {
            device_id: dev.id.clone(),
            device_state,
            transport_state: d::MmioTransportState {
                features_select: r.features_select,
                acked_features_select: r.acked_features_select,
                queue_select: r.queue_select,
                device_status: v.and_then(|v| v.device_status).unwrap_or(0),
                config_generation: r.config_generation,
                interrupt_status: v.and_then(|v| v.interrupt_status).unwrap_or(0),
            },
            device_info: d::MmioDeviceInfo {
                addr,
                len,
                gsi: same_out(irq),
            },
        }))
    }
}

impl Entry for d::MmdsState {
    fn to_device(&self) -> Device {
        let v = match self.version {
            d::MmdsVersion::V1 => "V1",
            d::MmdsVersion::V2 => "V2",
        };
        mmds_device(v, Some(self.imds_compat))
    }

    fn from_device(dev: &Device) -> Option<Result<Self, String>> {
        Some(mmds_fields(dev)?.map(|(v, imds_compat)| d::MmdsState {
            version: match v.as_str() {
                "V1" => d::MmdsVersion::V1,
                _ => d::MmdsVersion::V2,
            },
            imds_compat,
        }))
    }
}

impl Entry for a::ConnectedLegacyState {
    fn to_device(&self) -> Device {
        let (kind, id) = match &self.type_ {
            a::DeviceType::Serial => legacy_kind("Serial"),
            a::DeviceType::Rtc => legacy_kind("Rtc"),
            a::DeviceType::BootTimer => legacy_kind("BootTimer"),
            a::DeviceType::Virtio(n) => legacy_kind(&format!("Virtio({n})")),
        };
        let mut dev = Device::new(id, kind);
        let i = &self.device_info;
        dev.transport = Some(Transport::Mmio {
            addr: i.addr,
            len: i.len,
            irq: i.gsi,
        });
        dev
    }

    fn from_device(dev: &Device) -> Option<Result<Self, String>> {
        let (name, addr, len, irq) = legacy_placement(dev)?;
        let type_ = match name {
            "Serial" => a::DeviceType::Serial,
            "Rtc" => a::DeviceType::Rtc,
            _ => a::DeviceType::BootTimer,
        };
        Some(Ok(a::ConnectedLegacyState {
            type_,
            device_info: d::MmioDeviceInfo {
                addr,
                len,
                gsi: irq,
            },
        }))
    }
}

/// Where Firecracker maps a virtio-pci function's only BAR (BAR0/BAR1, 64-bit).
fn bar_address(bars: &[(u32, u32, bool); 6]) -> u64 {
    (u64::from(bars[1].0) << 32) | u64::from(bars[0].0 & 0xffff_fff0)
}

/// `Entry` for the virtio-pci list entries of 10.0.0 and (with `bar_address`) 11.0.0.
macro_rules! pci_entry {
    (@bar $t:ident) => { None };
    (@bar $t:ident, $bar:ident) => { Some($t.$bar) };
    ($m:ident $(, $bar:ident)?) => {
        impl<T: Kind> Entry for $m::devices::PciDevice<T> {
            fn to_device(&self) -> Device {
                let mut dev = Device::new(self.device_id.clone(), T::KIND);
                self.device_state.read(&mut dev);
                let t = &self.transport_state;
                let c = &t.pci_configuration_state;
                let p = &t.pci_dev_state;
                let x = &t.msix_state;
                dev.transport = Some(Transport::Pci { sbdf: self.sbdf.0 });
                if let Some(s) = &mut dev.state {
                    s.pci = Some(Box::new(PciTransport {
                        device_activated: t.device_activated,
                        cap_pci_cfg_offset: t.cap_pci_cfg_offset,
                        cap_pci_cfg: Bytes(t.cap_pci_cfg.clone()),
                        registers: c.registers.clone(),
                        writable_bits: c.writable_bits.clone(),
                        last_capability: c.last_capability,
                        driver_status: p.driver_status,
                        config_generation: p.config_generation,
                        device_feature_select: p.device_feature_select,
                        driver_feature_select: p.driver_feature_select,
                        queue_select: p.queue_select,
                        msix_config: p.msix_config,
                        msix_queues: p.msix_queues.clone(),
                        msix_table: x
                            .table_entries
                            .iter()
                            .map(|e| [e.msg_addr_lo, e.msg_addr_hi, e.msg_data, e.vector_ctl])
                            .collect(),
                        msix_pba: x.pba_entries.clone(),
                        msix_masked: x.masked,
                        msix_enabled: x.enabled,
                        msix_vectors: x.vectors.clone(),
                        bars: t
                            .bars
                            .bars
                            .clone()
                            .map(|b| (b.encoded_addr, b.encoded_size, b.about_to_be_read)),
                        msix_config_cap_offset: t.msix_config_cap_offset,
                        bar_address: pci_entry!(@bar t $(, $bar)?),
                    }));
                }
                dev
            }

            fn from_device(dev: &Device) -> Option<Result<Self, String>> {
                if dev.kind != T::KIND {
                    return None;
                }
                let Some(Transport::Pci { sbdf }) = dev.transport else {
                    return None;
                };
                let p = dev.state.as_ref()?.pci.as_deref()?;
                Some(T::write(dev).map(|device_state| $m::devices::PciDevice {
                    device_id: dev.id.clone(),
                    sbdf: d::PciSbdf(sbdf),
                    device_state,
                    transport_state: $m::devices::VirtioPciDeviceState {
                        sbdf: d::PciSbdf(sbdf),
                        device_activated: p.device_activated,
                        cap_pci_cfg_offset: p.cap_pci_cfg_offset,
                        cap_pci_cfg: p.cap_pci_cfg.0.clone(),
                        pci_configuration_state: d::PciConfigurationState {
                            registers: p.registers.clone(),
                            writable_bits: p.writable_bits.clone(),
                            last_capability: p.last_capability,
                        },
                        pci_dev_state: d::VirtioPciCommonConfigState {
                            driver_status: p.driver_status,
                            config_generation: p.config_generation,
                            device_feature_select: p.device_feature_select,
                            driver_feature_select: p.driver_feature_select,
                            queue_select: p.queue_select,
                            msix_config: p.msix_config,
                            msix_queues: p.msix_queues.clone(),
                        },
                        msix_state: d::MsixConfigState {
                            table_entries: p
                                .msix_table
                                .iter()
                                .map(|e| d::MsixTableEntry {
                                    msg_addr_lo: e[0],
                                    msg_addr_hi: e[1],
                                    msg_data: e[2],
                                    vector_ctl: e[3],
                                })
                                .collect(),
                            pba_entries: p.msix_pba.clone(),
                            masked: p.msix_masked,
                            enabled: p.msix_enabled,
                            vectors: p.msix_vectors.clone(),
                        },
                        bars: d::Bars {
                            bars: p.bars.map(|(a, s, r)| d::Bar {
                                encoded_addr: a,
                                encoded_size: s,
                                about_to_be_read: r,
                            }),
                        },
                        msix_config_cap_offset: p.msix_config_cap_offset,
                        $( $bar: p.$bar.unwrap_or_else(|| bar_address(&p.bars)), )?
                    },
                }))
            }
        }
    };
}

pci_entry!(v10);
pci_entry!(v11, bar_address);

/// The vmclock of 9.0.0 on → model.
pub(crate) fn vmclock_in(c: &d::VmClockState) -> VmClock {
    let i = &c.inner;
    VmClock {
        guest_address: c.guest_address,
        gsi: Some(c.gsi),
        magic: i.magic,
        size: i.size,
        version: i.version,
        counter_id: i.counter_id,
        time_type: i.time_type,
        seq_count: i.seq_count,
        disruption_marker: i.disruption_marker,
        flags: i.flags,
        pad: i.pad,
        clock_status: i.clock_status,
        leap_second_smearing_hint: i.leap_second_smearing_hint,
        tai_offset_sec: i.tai_offset_sec,
        leap_indicator: i.leap_indicator,
        counter_period_shift: i.counter_period_shift,
        counter_value: i.counter_value,
        counter_period_frac_sec: i.counter_period_frac_sec,
        counter_period_esterror_rate_frac_sec: i.counter_period_esterror_rate_frac_sec,
        counter_period_maxerror_rate_frac_sec: i.counter_period_maxerror_rate_frac_sec,
        time_sec: i.time_sec,
        time_frac_sec: i.time_frac_sec,
        time_esterror_nanosec: i.time_esterror_nanosec,
        time_maxerror_nanosec: i.time_maxerror_nanosec,
        vm_generation_counter: Some(i.vm_generation_counter),
    }
}

/// Model → the vmclock of 9.0.0 on. A page from v1.14 gains the interrupt line `gsi` (the
/// next legacy line, as the release allocates it after the other devices) and a generation
/// counter of 0.
pub(crate) fn vmclock_out(c: &VmClock, gsi: u32) -> d::VmClockState {
    d::VmClockState {
        guest_address: c.guest_address,
        gsi: c.gsi.unwrap_or(gsi),
        inner: d::VmClockAbi {
            magic: c.magic,
            size: c.size,
            version: c.version,
            counter_id: c.counter_id,
            time_type: c.time_type,
            seq_count: c.seq_count,
            disruption_marker: c.disruption_marker,
            flags: c.flags,
            pad: c.pad,
            clock_status: c.clock_status,
            leap_second_smearing_hint: c.leap_second_smearing_hint,
            tai_offset_sec: c.tai_offset_sec,
            leap_indicator: c.leap_indicator,
            counter_period_shift: c.counter_period_shift,
            counter_value: c.counter_value,
            counter_period_frac_sec: c.counter_period_frac_sec,
            counter_period_esterror_rate_frac_sec: c.counter_period_esterror_rate_frac_sec,
            counter_period_maxerror_rate_frac_sec: c.counter_period_maxerror_rate_frac_sec,
            time_sec: c.time_sec,
            time_frac_sec: c.time_frac_sec,
            time_esterror_nanosec: c.time_esterror_nanosec,
            time_maxerror_nanosec: c.time_maxerror_nanosec,
            vm_generation_counter: c.vm_generation_counter.unwrap_or(0),
        },
    }
}

list_fns!(
    v9_x86_in,
    v9_x86_out,
    v9::x86_64::DeviceStates,
    Some(false),
    [
        block_devices,
        net_devices,
        vsock_device,
        balloon_device,
        mmds,
        entropy_device,
        pmem_devices,
        memory_device
    ]
);
list_fns!(
    v9_arm_in,
    v9_arm_out,
    v9::aarch64::DeviceStates,
    Some(false),
    [
        legacy_devices,
        block_devices,
        net_devices,
        vsock_device,
        balloon_device,
        mmds,
        entropy_device,
        pmem_devices,
        memory_device
    ]
);
list_fns!(
    v10_x86_in,
    v10_x86_out,
    v10::x86_64::DeviceStates,
    Some(false),
    [
        block_devices,
        net_devices,
        vsock_device,
        balloon_device,
        mmds,
        entropy_device,
        pmem_devices,
        memory_device
    ]
);
list_fns!(
    v10_arm_in,
    v10_arm_out,
    v10::aarch64::DeviceStates,
    Some(false),
    [
        legacy_devices,
        block_devices,
        net_devices,
        vsock_device,
        balloon_device,
        mmds,
        entropy_device,
        pmem_devices,
        memory_device
    ]
);
list_fns!(
    v11_mmio_in,
    v11_mmio_out,
    v11::devices::DeviceStates,
    None,
    [
        block_devices,
        net_devices,
        vsock_device,
        balloon_device,
        mmds,
        entropy_device,
        pmem_devices,
        memory_device
    ]
);
list_fns!(
    v11_pci_in,
    v11_pci_out,
    v11::devices::PciDevicesState,
    None,
    [
        block_devices,
        net_devices,
        vsock_device,
        balloon_device,
        mmds,
        entropy_device,
        pmem_devices,
        memory_device
    ]
);

/// 10.0.0 `PciDevicesState` → model devices.
pub(crate) fn v10_pci_in(s: &v10::devices::PciDevicesState) -> Vec<Device> {
    let mut out = Vec::new();
    read_lists!(
        s,
        &mut out,
        [
            block_devices,
            net_devices,
            vsock_device,
            balloon_device,
            mmds,
            entropy_device,
            pmem_devices,
            memory_device
        ]
    );
    out
}

/// Model devices → 10.0.0 `PciDevicesState` (`pci_enabled` as given).
pub(crate) fn v10_pci_out(
    devices: &[Device],
    pci_enabled: bool,
) -> Result<v10::devices::PciDevicesState, WriteError> {
    write_lists!(
        v10::devices::PciDevicesState,
        &mmds_view(devices, Some(true)),
        [
            block_devices,
            net_devices,
            vsock_device,
            balloon_device,
            mmds,
            entropy_device,
            pmem_devices,
            memory_device
        ];
        pci_enabled: pci_enabled
    )
}
