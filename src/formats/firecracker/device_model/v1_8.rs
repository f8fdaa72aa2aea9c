//! Device types of formats 2.0.0, 3.0.0 and 4.0.0 (Firecracker v1.8–v1.10): the v1.12 device
//! states in `Connected*State` entries whose MMIO placement lists its interrupt lines (`irqs`),
//! a network device whose MMDS stack records its connection limits (4.0.0 adds the RX buffer
//! bookkeeping), and MMDS recorded as its version alone.

use super::v1_12::{limiter_in, limiter_out};
use super::*;
use crate::formats::firecracker::WriteError;
use crate::formats::firecracker::v2::devices as d;
use crate::formats::firecracker::v4::devices as d4;
use crate::formats::firecracker::{v2, v4};
use std::num::NonZeroU64;

/// Firecracker v1.8–v1.10's MMDS stack limits when a release after them recorded none.
const MAX_CONNECTIONS: u64 = 30;
const MAX_PENDING_RESETS: u64 = 100;

fn irq_in(irqs: &[u32]) -> Option<u32> {
    irqs.first().copied()
}

fn irq_out(irq: Option<u32>) -> Vec<u32> {
    irq.into_iter().collect()
}

fn stack2_in(s: &d::MmdsNetworkStackState) -> MmdsStack {
    MmdsStack {
        mac_addr: s.mac_addr,
        ipv4_addr: s.ipv4_addr,
        tcp_port: s.tcp_port,
        max_connections: Some(s.max_connections),
        max_pending_resets: Some(s.max_pending_resets),
    }
}

fn stack2_out(s: &MmdsStack) -> d::MmdsNetworkStackState {
    d::MmdsNetworkStackState {
        mac_addr: s.mac_addr,
        ipv4_addr: s.ipv4_addr,
        tcp_port: s.tcp_port,
        max_connections: s.max_connections.unwrap_or(MAX_CONNECTIONS),
        max_pending_resets: s.max_pending_resets.unwrap_or(MAX_PENDING_RESETS),
    }
}

fn stack4_in(s: &d4::MmdsNetworkStackState) -> MmdsStack {
    MmdsStack {
        mac_addr: s.mac_addr,
        ipv4_addr: s.ipv4_addr,
        tcp_port: s.tcp_port,
        max_connections: Some(s.max_connections.get()),
        max_pending_resets: Some(s.max_pending_resets.get()),
    }
}

fn stack4_out(s: &MmdsStack) -> d4::MmdsNetworkStackState {
    let nz = |v: Option<u64>, default: u64| {
        NonZeroU64::new(v.unwrap_or(default)).unwrap_or(NonZeroU64::MIN.saturating_add(default - 1))
    };
    d4::MmdsNetworkStackState {
        mac_addr: s.mac_addr,
        ipv4_addr: s.ipv4_addr,
        tcp_port: s.tcp_port,
        max_connections: nz(s.max_connections, MAX_CONNECTIONS),
        max_pending_resets: nz(s.max_pending_resets, MAX_PENDING_RESETS),
    }
}

impl Kind for d::NetState {
    const KIND: DeviceKind = DeviceKind::Net;

    fn read(&self, dev: &mut Device) {
        read_net(
            dev,
            super::v1_12::virtio_in(&self.virtio_state),
            NetFields {
                id: self.id.clone(),
                tap: self.tap_if_name.clone(),
                guest_mac: self.config_space.guest_mac.clone(),
                mtu: None,
                rx: limiter_in(&self.rx_rate_limiter_state),
                tx: limiter_in(&self.tx_rate_limiter_state),
                mmds: self.mmds_ns.as_ref().map(stack2_in),
                rx_buffers: None,
            },
        );
    }

    fn write(dev: &Device) -> Result<Self, String> {
        let (f, v) = write_net(dev)?;
        Ok(d::NetState {
            id: f.id,
            tap_if_name: f.tap,
            rx_rate_limiter_state: limiter_out(&f.rx),
            tx_rate_limiter_state: limiter_out(&f.tx),
            mmds_ns: f.mmds.as_ref().map(stack2_out),
            config_space: d::NetConfigSpaceState {
                guest_mac: f.guest_mac,
            },
            virtio_state: super::v1_12::virtio_out(&v)?,
        })
    }
}

impl Kind for d4::NetState {
    const KIND: DeviceKind = DeviceKind::Net;

    fn read(&self, dev: &mut Device) {
        let r = &self.rx_buffers_state;
        read_net(
            dev,
            super::v1_12::virtio_in(&self.virtio_state),
            NetFields {
                id: self.id.clone(),
                tap: self.tap_if_name.clone(),
                guest_mac: self.config_space.guest_mac.clone(),
                mtu: None,
                rx: limiter_in(&self.rx_rate_limiter_state),
                tx: limiter_in(&self.tx_rate_limiter_state),
                mmds: self.mmds_ns.as_ref().map(stack4_in),
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
        Ok(d4::NetState {
            id: f.id,
            tap_if_name: f.tap,
            rx_rate_limiter_state: limiter_out(&f.rx),
            tx_rate_limiter_state: limiter_out(&f.tx),
            mmds_ns: f.mmds.as_ref().map(stack4_out),
            config_space: d4::NetConfigSpaceState {
                guest_mac: f.guest_mac,
            },
            virtio_state: super::v1_12::virtio_out(&v)?,
            rx_buffers_state: d4::RxBufferState {
                parsed_descriptor_chains_nr: r.parsed_descriptor_chains_nr,
                used_descriptors: r.used_descriptors,
                used_bytes: r.used_bytes,
            },
        })
    }
}

mmio_entry!(
    d::ConnectedBlockState,
    d::BlockState,
    d,
    irqs,
    irq_in,
    irq_out,
    false
);
mmio_entry!(
    d::ConnectedNetState,
    d::NetState,
    d,
    irqs,
    irq_in,
    irq_out,
    false
);
mmio_entry!(
    d::ConnectedVsockState,
    d::VsockState,
    d,
    irqs,
    irq_in,
    irq_out,
    false
);
mmio_entry!(
    d::ConnectedBalloonState,
    d::BalloonState,
    d,
    irqs,
    irq_in,
    irq_out,
    false
);
mmio_entry!(
    d::ConnectedEntropyState,
    d::EntropyState,
    d,
    irqs,
    irq_in,
    irq_out,
    false
);
mmio_entry!(
    d4::ConnectedNetState,
    d4::NetState,
    d4,
    irqs,
    irq_in,
    irq_out,
    false
);

impl Entry for v2::aarch64::ConnectedLegacyState {
    fn to_device(&self) -> Device {
        use v2::aarch64::DeviceType as T;
        let (kind, id) = match &self.type_ {
            T::Serial => legacy_kind("Serial"),
            T::Rtc => legacy_kind("Rtc"),
            T::BootTimer => legacy_kind("BootTimer"),
            T::Virtio(n) => legacy_kind(&format!("Virtio({n})")),
        };
        let mut dev = Device::new(id, kind);
        let i = &self.device_info;
        dev.transport = Some(Transport::Mmio {
            addr: i.addr,
            len: i.len,
            irq: irq_in(&i.irqs),
        });
        dev
    }

    fn from_device(dev: &Device) -> Option<Result<Self, String>> {
        use v2::aarch64::DeviceType as T;
        let (name, addr, len, irq) = legacy_placement(dev)?;
        let type_ = match name {
            "Serial" => T::Serial,
            "Rtc" => T::Rtc,
            _ => T::BootTimer,
        };
        Some(Ok(v2::aarch64::ConnectedLegacyState {
            type_,
            device_info: d::MmioDeviceInfo {
                addr,
                len,
                irqs: irq_out(irq),
            },
        }))
    }
}

/// A `DeviceStates` of formats 2.0.0–4.0.0, read and written through the typed device model.
pub(crate) trait DeviceLists: Sized {
    /// The devices of every list.
    fn to_devices(&self) -> Vec<Device>;
    /// The lists holding the model's devices that belong in them.
    ///
    /// # Errors
    /// A device that belongs in a list but lacks a field the layout needs.
    fn from_devices(devices: &[Device]) -> Result<Self, WriteError>;
}

macro_rules! device_lists {
    ($($ty:ident)::+, [$($f:ident),* $(,)?]) => {
        impl DeviceLists for $($ty)::+ {
            fn to_devices(&self) -> Vec<Device> {
                let mut out = Vec::new();
                read_lists!(self, &mut out, [$($f),*]);
                out
            }

            fn from_devices(devices: &[Device]) -> Result<Self, WriteError> {
                write_lists!($($ty)::+, &mmds_view(devices, None), [$($f),*])
            }
        }
    };
}

device_lists!(
    v2::x86_64::DeviceStates,
    [
        block_devices,
        net_devices,
        vsock_device,
        balloon_device,
        mmds_version,
        entropy_device
    ]
);
device_lists!(
    v2::aarch64::DeviceStates,
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
device_lists!(
    v4::x86_64::DeviceStates,
    [
        block_devices,
        net_devices,
        vsock_device,
        balloon_device,
        mmds_version,
        entropy_device
    ]
);
device_lists!(
    v4::aarch64::DeviceStates,
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
