use super::*;
use crate::formats::firecracker::shared::v1_12::devices as d12;
use crate::formats::firecracker::shared::v1_16::devices as d16;
use crate::formats::firecracker::v8_13::devices as d13;
use crate::formats::firecracker::v11::devices as d11;
use std::num::NonZeroU32;

fn virtio12(device_type: u32) -> d12::VirtioDeviceState {
    d12::VirtioDeviceState {
        device_type,
        avail_features: 0x1_0000_0001,
        acked_features: 1,
        queues: vec![d12::QueueState {
            max_size: 256,
            size: 128,
            ready: true,
            desc_table: 0x1000,
            avail_ring: 0x2000,
            used_ring: 0x3000,
            next_avail: 7,
            next_used: 6,
            num_added: 1,
        }],
        interrupt_status: 1,
        activated: true,
    }
}

fn transport12() -> d12::MmioTransportState {
    d12::MmioTransportState {
        features_select: 1,
        acked_features_select: 0,
        queue_select: 2,
        device_status: 15,
        config_generation: 3,
    }
}

fn info12() -> d12::MmioDeviceInfo {
    d12::MmioDeviceInfo {
        addr: 0xc000_1000,
        len: 0x1000,
        irq: NonZeroU32::new(6),
    }
}

fn vsock_1_12() -> d12::ConnectedVsockState {
    d12::ConnectedVsockState {
        device_id: "vsock".into(),
        device_state: d12::VsockState {
            backend: d12::VsockBackendState::Uds(d12::VsockUdsState {
                path: "v.sock".into(),
            }),
            frontend: d12::VsockFrontendState {
                cid: 3,
                virtio_state: virtio12(19),
            },
        },
        transport_state: transport12(),
        device_info: info12(),
    }
}

#[test]
fn a_v1_12_vsock_written_as_11_0_0_gets_that_release_s_values_and_comes_back() {
    let dev = vsock_1_12().to_device();
    let Some(DeviceConfig::Vsock(c)) = &dev.config else {
        panic!("no vsock configuration");
    };
    assert_eq!(c.uds_path.as_deref(), Some("v.sock"));
    assert_eq!(dev.virtio.as_ref().unwrap().interrupt_status, Some(1));
    let up = d16::MmioDevice::<d11::VsockState>::from_device(&dev)
        .unwrap()
        .unwrap();
    assert_eq!(up.device_info.gsi, Some(6));
    assert_eq!(up.transport_state.interrupt_status, 1);
    assert_eq!(up.transport_state.device_status, 15);
    assert_eq!(up.device_state.backend.local_port_last, (1 << 30) - 1);
    assert!(!up.device_state.frontend.pending_event_ack);
    assert_eq!(
        up.device_state.frontend.virtio_state.device_type,
        d16::VirtioDeviceType::Vsock
    );
    let back = d12::ConnectedVsockState::from_device(&up.to_device())
        .unwrap()
        .unwrap();
    assert_eq!(back, vsock_1_12());
}

#[test]
fn rx_buffers_and_the_interrupt_status_survive_a_trip_through_8_0_0() {
    let net = d12::ConnectedNetState {
        device_id: "eth0".into(),
        device_state: d12::NetState {
            id: "eth0".into(),
            tap_if_name: "tap0".into(),
            rx_rate_limiter_state: d12::RateLimiterState {
                ops: None,
                bandwidth: Some(d12::TokenBucketState {
                    size: 10,
                    one_time_burst: 0,
                    refill_time: 100,
                    budget: 4,
                    elapsed_ns: 9,
                }),
            },
            tx_rate_limiter_state: d12::RateLimiterState {
                ops: None,
                bandwidth: None,
            },
            mmds_ns: None,
            config_space: d12::NetConfigSpaceState {
                guest_mac: Some("06:00:ac:10:00:02".into()),
            },
            virtio_state: virtio12(1),
            rx_buffers_state: d12::RxBufferState {
                parsed_descriptor_chains_nr: 0,
                used_descriptors: 0,
                used_bytes: 0,
            },
        },
        transport_state: transport12(),
        device_info: info12(),
    };
    let dev = net.to_device();
    let mid = d16::MmioDevice::<d13::NetState>::from_device(&dev)
        .unwrap()
        .unwrap();
    assert_eq!(mid.transport_state.interrupt_status, 1);
    let back = d12::ConnectedNetState::from_device(&mid.to_device())
        .unwrap()
        .unwrap();
    assert_eq!(back, net);
    // A guest that had buffers in flight loses them going to 8.0.0: back, they read as zero.
    let mut busy = net.clone();
    busy.device_state.rx_buffers_state.used_bytes = 1500;
    let mid = d16::MmioDevice::<d13::NetState>::from_device(&busy.to_device())
        .unwrap()
        .unwrap();
    let back = d12::ConnectedNetState::from_device(&mid.to_device())
        .unwrap()
        .unwrap();
    assert_ne!(back, busy);
}

#[test]
fn mmds_version_becomes_mmds_state_and_edits_reach_the_file() {
    let mut dev = d12::MmdsVersionState::V2.to_device();
    let up = d16::MmdsState::from_device(&dev).unwrap().unwrap();
    assert_eq!(up.version, d16::MmdsVersion::V2);
    assert!(!up.imds_compat);
    if let Some(DeviceConfig::Mmds(c)) = &mut dev.config {
        c.version = Some("V3".into());
    }
    let e = d16::MmdsState::from_device(&dev).unwrap().unwrap_err();
    assert!(e.contains("V3"), "{e}");
}

#[test]
fn a_device_without_typed_state_has_no_entry() {
    let mut d = Device::new("rootfs", DeviceKind::Block);
    d.transport = Some(Transport::Mmio {
        addr: 1,
        len: 2,
        irq: None,
    });
    assert!(d16::MmioDevice::<d16::BlockState>::from_device(&d).is_none());
}
