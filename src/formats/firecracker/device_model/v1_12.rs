//! Device types of formats 5.0.0 and 6.0.0 (Firecracker v1.10–v1.12): `Connected*State`
//! entries, the interrupt status inside the virtio state, numeric device types, the network
//! device's RX buffer bookkeeping, the vsock's `Uds` backend, ten balloon statistics, and MMDS
//! recorded as its version alone.

use super::*;
use crate::formats::firecracker::shared::v1_12::aarch64 as a;
use crate::formats::firecracker::shared::v1_12::devices as d;
use std::num::NonZeroU32;

common_conv!(d);

/// 6.0.0 virtio state → model (the interrupt status lives here up to 6.0.0).
pub(crate) fn virtio_in(v: &d::VirtioDeviceState) -> VirtioState {
    VirtioState {
        device_type: v.device_type,
        avail_features: v.avail_features,
        acked_features: v.acked_features,
        activated: v.activated,
        queues: v.queues.iter().map(queue_in).collect(),
        interrupt_status: Some(v.interrupt_status),
        device_status: None,
    }
}

/// Model → 6.0.0 virtio state.
pub(crate) fn virtio_out(v: &VirtioState) -> Result<d::VirtioDeviceState, String> {
    Ok(d::VirtioDeviceState {
        device_type: v.device_type,
        avail_features: v.avail_features,
        acked_features: v.acked_features,
        queues: v.queues.iter().map(queue_out).collect(),
        interrupt_status: v.interrupt_status.unwrap_or(0),
        activated: v.activated,
    })
}

block_kind!(d, virtio_in, virtio_out, limiter_in, limiter_out);
entropy_kind!(d, virtio_in, virtio_out, limiter_in, limiter_out);

impl Kind for d::NetState {
    const KIND: DeviceKind = DeviceKind::Net;

    fn read(&self, dev: &mut Device) {
        let r = &self.rx_buffers_state;
        read_net(
            dev,
            virtio_in(&self.virtio_state),
            NetFields {
                id: self.id.clone(),
                tap: self.tap_if_name.clone(),
                guest_mac: self.config_space.guest_mac.clone(),
                mtu: None,
                rx: limiter_in(&self.rx_rate_limiter_state),
                tx: limiter_in(&self.tx_rate_limiter_state),
                mmds: self.mmds_ns.as_ref().map(stack_in),
                rx_buffers: Some(RxBuffers {
                    parsed_descriptor_chains_nr: r.parsed_descriptor_chains_nr,
                    used_descriptors: r.used_descriptors,
                    used_bytes: r.used_bytes,
                }),
            },
        );
    }

    fn write(dev: &Device) -> Result<Self, String> {
        let (f, v) = write_net(dev)?;
        let r = f.rx_buffers.unwrap_or_default();
        Ok(d::NetState {
            id: f.id,
            tap_if_name: f.tap,
            rx_rate_limiter_state: limiter_out(&f.rx),
            tx_rate_limiter_state: limiter_out(&f.tx),
            mmds_ns: f.mmds.as_ref().map(stack_out),
            config_space: d::NetConfigSpaceState {
                guest_mac: f.guest_mac,
            },
            virtio_state: virtio_out(&v)?,
            rx_buffers_state: d::RxBufferState {
                parsed_descriptor_chains_nr: r.parsed_descriptor_chains_nr,
                used_descriptors: r.used_descriptors,
                used_bytes: r.used_bytes,
            },
        })
    }
}

/// The `Uds` vsock backend (up to v1.14) ↔ its socket path.
pub(crate) fn uds_path(b: &d::VsockBackendState) -> String {
    let d::VsockBackendState::Uds(u) = b;
    u.path.clone()
}

/// A socket path as the `Uds` vsock backend.
pub(crate) fn uds_backend(path: String) -> d::VsockBackendState {
    d::VsockBackendState::Uds(d::VsockUdsState { path })
}

impl Kind for d::VsockState {
    const KIND: DeviceKind = DeviceKind::Vsock;

    fn read(&self, dev: &mut Device) {
        read_vsock(
            dev,
            virtio_in(&self.frontend.virtio_state),
            VsockFields {
                cid: self.frontend.cid,
                uds_path: uds_path(&self.backend),
                runtime: VsockRuntime::default(),
            },
        );
    }

    fn write(dev: &Device) -> Result<Self, String> {
        let (f, v) = write_vsock(dev)?;
        Ok(d::VsockState {
            backend: uds_backend(f.uds_path),
            frontend: d::VsockFrontendState {
                cid: f.cid,
                virtio_state: virtio_out(&v)?,
            },
        })
    }
}

/// Ten balloon statistics (up to v1.13) → model.
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
        ..Default::default()
    }
}

/// Model → ten balloon statistics (the six v1.14 added are left out).
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
                hinting: None,
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
            virtio_state: virtio_out(&v)?,
        })
    }
}

fn irq_in(i: &Option<NonZeroU32>) -> Option<u32> {
    i.map(NonZeroU32::get)
}

fn irq_out(i: Option<u32>) -> Option<NonZeroU32> {
    i.and_then(NonZeroU32::new)
}

mmio_entry!(
    d::ConnectedBlockState,
    d::BlockState,
    d,
    irq,
    irq_in,
    irq_out,
    false
);
mmio_entry!(
    d::ConnectedNetState,
    d::NetState,
    d,
    irq,
    irq_in,
    irq_out,
    false
);
mmio_entry!(
    d::ConnectedVsockState,
    d::VsockState,
    d,
    irq,
    irq_in,
    irq_out,
    false
);
mmio_entry!(
    d::ConnectedBalloonState,
    d::BalloonState,
    d,
    irq,
    irq_in,
    irq_out,
    false
);
mmio_entry!(
    d::ConnectedEntropyState,
    d::EntropyState,
    d,
    irq,
    irq_in,
    irq_out,
    false
);

impl Entry for d::MmdsVersionState {
    fn to_device(&self) -> Device {
        let v = match self {
            d::MmdsVersionState::V1 => "V1",
            d::MmdsVersionState::V2 => "V2",
        };
        mmds_device(v, None)
    }

    fn from_device(dev: &Device) -> Option<Result<Self, String>> {
        Some(mmds_fields(dev)?.map(|(v, _)| match v.as_str() {
            "V1" => d::MmdsVersionState::V1,
            _ => d::MmdsVersionState::V2,
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
            irq: irq_in(&i.irq),
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
                irq: irq_out(irq),
            },
        }))
    }
}

use crate::formats::firecracker::WriteError;
use crate::formats::firecracker::shared::v1_12::x86_64 as x;

/// A 5.0.0 / 6.0.0 x86_64 `DeviceStates` → model devices.
pub(crate) fn x86_in(s: &x::DeviceStates) -> Vec<Device> {
    let mut out = Vec::new();
    read_lists!(
        s,
        &mut out,
        [
            block_devices,
            net_devices,
            vsock_device,
            balloon_device,
            mmds_version,
            entropy_device
        ]
    );
    out
}

/// Model devices → a 5.0.0 / 6.0.0 x86_64 `DeviceStates`.
pub(crate) fn x86_out(devices: &[Device]) -> Result<x::DeviceStates, WriteError> {
    write_lists!(
        x::DeviceStates,
        &mmds_view(devices, None),
        [
            block_devices,
            net_devices,
            vsock_device,
            balloon_device,
            mmds_version,
            entropy_device
        ]
    )
}

/// A 5.0.0 / 6.0.0 aarch64 `DeviceStates` → model devices.
pub(crate) fn arm_in(s: &a::DeviceStates) -> Vec<Device> {
    let mut out = Vec::new();
    read_lists!(
        s,
        &mut out,
        [
            legacy_devices,
            block_devices,
            net_devices,
            vsock_device,
            balloon_device,
            mmds_version,
            entropy_device
        ]
    );
    out
}

/// Model devices → a 5.0.0 / 6.0.0 aarch64 `DeviceStates`.
pub(crate) fn arm_out(devices: &[Device]) -> Result<a::DeviceStates, WriteError> {
    write_lists!(
        a::DeviceStates,
        &mmds_view(devices, None),
        [
            legacy_devices,
            block_devices,
            net_devices,
            vsock_device,
            balloon_device,
            mmds_version,
            entropy_device
        ]
    )
}
