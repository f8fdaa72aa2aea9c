//! Device types of format 8.0.0 (Firecracker v1.13 and v1.14 layouts): numeric device types
//! without the interrupt status (it moved to the transport), the v1.12 network, vsock and
//! rate-limiter types, and in the v1.14 layout the balloon with sixteen statistics and hinting,
//! pmem without rate limiting, virtio-mem and a vmclock without interrupt line.

use super::v1_12::{limiter_in, limiter_out, stack_in, stack_out, stats_in, stats_out};
use super::*;
use crate::formats::firecracker::v8_13::devices as d;
use crate::formats::firecracker::v8_14::devices as d14;

/// 8.0.0 virtio state → model.
pub(crate) fn virtio_in(v: &d::VirtioDeviceState) -> VirtioState {
    VirtioState {
        device_type: v.device_type,
        avail_features: v.avail_features,
        acked_features: v.acked_features,
        activated: v.activated,
        queues: v.queues.iter().map(super::v1_12::queue_in).collect(),
        interrupt_status: None,
        device_status: None,
    }
}

/// Model → 8.0.0 virtio state.
pub(crate) fn virtio_out(v: &VirtioState) -> Result<d::VirtioDeviceState, String> {
    Ok(d::VirtioDeviceState {
        device_type: v.device_type,
        avail_features: v.avail_features,
        acked_features: v.acked_features,
        queues: v.queues.iter().map(super::v1_12::queue_out).collect(),
        activated: v.activated,
    })
}

block_kind!(d, virtio_in, virtio_out, limiter_in, limiter_out);
entropy_kind!(d, virtio_in, virtio_out, limiter_in, limiter_out);

impl Kind for d::NetState {
    const KIND: DeviceKind = DeviceKind::Net;

    fn read(&self, dev: &mut Device) {
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
            mmds_ns: f.mmds.as_ref().map(stack_out),
            config_space: d::NetConfigSpaceState {
                guest_mac: f.guest_mac,
            },
            virtio_state: virtio_out(&v)?,
        })
    }
}

impl Kind for d::VsockState {
    const KIND: DeviceKind = DeviceKind::Vsock;

    fn read(&self, dev: &mut Device) {
        read_vsock(
            dev,
            virtio_in(&self.frontend.virtio_state),
            VsockFields {
                cid: self.frontend.cid,
                uds_path: super::v1_12::uds_path(&self.backend),
                runtime: VsockRuntime::default(),
            },
        );
    }

    fn write(dev: &Device) -> Result<Self, String> {
        let (f, v) = write_vsock(dev)?;
        Ok(d::VsockState {
            backend: super::v1_12::uds_backend(f.uds_path),
            frontend: d::VsockFrontendState {
                cid: f.cid,
                virtio_state: virtio_out(&v)?,
            },
        })
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

impl Kind for d14::BalloonState {
    const KIND: DeviceKind = DeviceKind::Balloon;

    fn read(&self, dev: &mut Device) {
        read_balloon(
            dev,
            virtio_in(&self.virtio_state),
            self.stats_polling_interval_s,
            BalloonRuntime {
                stats_desc_index: self.stats_desc_index,
                latest_stats: super::v1_16::stats_in(&self.latest_stats),
                num_pages: self.config_space.num_pages,
                actual_pages: self.config_space.actual_pages,
                hinting: Some(super::v1_16::hinting_in(&self.hinting_state)),
            },
        );
    }

    fn write(dev: &Device) -> Result<Self, String> {
        let (interval, r, v) = write_balloon(dev)?;
        Ok(d14::BalloonState {
            stats_polling_interval_s: interval,
            stats_desc_index: r.stats_desc_index,
            latest_stats: super::v1_16::stats_out(&r.latest_stats),
            config_space: d14::BalloonConfigSpaceState {
                num_pages: r.num_pages,
                actual_pages: r.actual_pages,
            },
            hinting_state: super::v1_16::hinting_out(&r.hinting.unwrap_or_default()),
            virtio_state: virtio_out(&v)?,
        })
    }
}

pmem_kind!(d14, d14, virtio_in, virtio_out);

mem_kind!(d14, virtio_in, virtio_out);

/// The v1.14 vmclock (no interrupt line, no generation counter) → model.
pub(crate) fn vmclock_in(c: &d14::VmClockState) -> VmClock {
    let i = &c.inner;
    VmClock {
        guest_address: c.guest_address,
        gsi: None,
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
        vm_generation_counter: None,
    }
}

/// Model → the v1.14 vmclock (its interrupt line and generation counter are left out).
pub(crate) fn vmclock_out(c: &VmClock) -> d14::VmClockState {
    d14::VmClockState {
        guest_address: c.guest_address,
        inner: d14::VmClockAbi {
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
        },
    }
}

use crate::formats::firecracker::{v8_13, v8_14};

list_fns!(
    v13_x86_in,
    v13_x86_out,
    v8_13::x86_64::DeviceStates,
    Some(false),
    [
        block_devices,
        net_devices,
        vsock_device,
        balloon_device,
        mmds,
        entropy_device
    ]
);
list_fns!(
    v13_arm_in,
    v13_arm_out,
    v8_13::aarch64::DeviceStates,
    Some(false),
    [
        legacy_devices,
        block_devices,
        net_devices,
        vsock_device,
        balloon_device,
        mmds,
        entropy_device
    ]
);
list_fns!(
    v14_x86_in,
    v14_x86_out,
    v8_14::x86_64::DeviceStates,
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
    v14_arm_in,
    v14_arm_out,
    v8_14::aarch64::DeviceStates,
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
