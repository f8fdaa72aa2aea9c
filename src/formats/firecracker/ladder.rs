//! How device states, the vmclock and the resource allocator move between the layouts that
//! changed them, one release step at a time.
//!
//! ```text
//! 6.0.0 (v1.12) ─ 8.0.0 (v1.13) ─ 8.0.0 (v1.14) ─ 9.0.0 (v1.15) ─ 10.0.0 (v1.16) ─ 11.0.0
//! ```
//!
//! Each step has an up and a down rule per device list. Up, a field the newer release adds gets
//! what that release records for the same device (e.g. a vsock's `local_port_last` is the
//! muxer's initial value, a balloon's hinting state is idle); down, the field goes. A conversion
//! is lossless when down-then-up gives the input back, which `convert` checks byte for byte, so a
//! dropped field that held anything but the value up would give it is reported as lost.
//!
//! Formats 5.0.0 and 6.0.0 share every device type; 2.0.0–4.0.0 devices move only between the
//! layouts that share their shapes (see `convert_common::same_device_shape`).

use crate::model::{Device, DeviceKind, Transport};
use serde_json::{Map, Value, json};

/// Layout ids in step order.
const STEPS: [&str; 6] = [
    "firecracker-6.0.0",
    "firecracker-8.0.0-v1.13",
    "firecracker-8.0.0-v1.14",
    "firecracker-9.0.0",
    "firecracker-10.0.0",
    "firecracker-11.0.0",
];

/// Position of a layout on the ladder (5.0.0 shares 6.0.0's device types).
pub(crate) fn rank(layout: &str) -> Option<usize> {
    match layout {
        "firecracker-5.0.0" => Some(0),
        l => STEPS.iter().position(|s| *s == l),
    }
}

/// Virtio device ids and Firecracker's `VirtioDeviceType` names (9.0.0 on).
const TYPES: [(u64, &str); 7] = [
    (1, "Net"),
    (2, "Block"),
    (4, "Rng"),
    (5, "Balloon"),
    (19, "Vsock"),
    (24, "Mem"),
    (27, "Pmem"),
];

/// The muxer's `local_port_last` before any host-initiated connection (v1.15 on): ports for
/// such connections start at 2^30.
const VSOCK_LOCAL_PORT_LAST: u64 = (1 << 30) - 1;

/// The balloon statistics v1.14 added to `BalloonStats`.
const BALLOON_STATS_V1_14: [&str; 6] = [
    "oom_kill",
    "alloc_stall",
    "async_scan",
    "direct_scan",
    "async_reclaim",
    "direct_reclaim",
];

/// A device list entry of layout `from` rewritten as layout `to`'s, or `None` when there is no
/// faithful rewrite (the error names the device). `transport` is `mmio` or `pci`; `list` the
/// device list (`block_devices`, `mmds`, ...; 6.0.0's `mmds_version` included).
pub(crate) fn device(
    from: &str,
    to: &str,
    transport: &str,
    list: &str,
    mut state: Value,
) -> Option<Value> {
    let (mut r, t) = (rank(from)?, rank(to)?);
    let pci = transport == "pci" && list != "mmds";
    while r < t {
        up(r, pci, list, &mut state)?;
        r += 1;
    }
    while r > t {
        down(r, pci, list, &mut state)?;
        r -= 1;
    }
    Some(state)
}

/// The list a device of `list` in layout `from` belongs to in layout `to`.
pub(crate) fn list_name(from: &str, to: &str, list: &str) -> String {
    match (rank(from), rank(to), list) {
        (Some(0), Some(t), "mmds_version") if t > 0 => "mmds".into(),
        (Some(f), Some(0), "mmds") if f > 0 => "mmds_version".into(),
        _ => list.into(),
    }
}

/// One step up, from rank `r` to `r + 1`.
fn up(r: usize, pci: bool, list: &str, s: &mut Value) -> Option<()> {
    match r {
        // 6.0.0 → 8.0.0 (v1.13): `VirtioDeviceState` replaces `Connected*State`; the interrupt
        // status moves to the transport; the net device's RX buffer bookkeeping goes; MMDS
        // records IMDS compatibility.
        0 => {
            if pci {
                return None;
            }
            match list {
                "mmds_version" | "mmds" => {
                    let version = s.as_str()?.to_string();
                    *s = json!({"version": version, "imds_compat": false});
                }
                "legacy_devices" => rename(obj(s, "/device_info")?, "irq", "gsi"),
                _ => {
                    rename(obj(s, "/device_info")?, "irq", "gsi");
                    let status = virtio_state(s)?.remove("interrupt_status")?;
                    obj(s, "/transport_state")?.insert("interrupt_status".into(), status);
                    if list == "net_devices" {
                        obj(s, "/device_state")?.remove("rx_buffers_state");
                    }
                }
            }
        }
        // 8.0.0 (v1.13) → (v1.14): balloon statistics gain six counters and the hinting state
        // appears (idle). PCI transports changed shape completely.
        1 => {
            if pci {
                return None;
            }
            if list == "balloon_device" {
                let stats = obj(s, "/device_state/latest_stats")?;
                for k in BALLOON_STATS_V1_14 {
                    stats.insert(k.into(), Value::Null);
                }
                obj(s, "/device_state")?.insert(
                    "hinting_state".into(),
                    json!({"host_cmd": 0, "last_cmd_id": 0, "guest_cmd": null, "acknowledge_on_finish": false}),
                );
            }
        }
        // 8.0.0 (v1.14) → 9.0.0: the device type becomes an enum; the vsock backend a struct
        // with the muxer's port counter.
        2 => {
            if let Some(vs) = virtio_state(s) {
                let id = vs.get("device_type")?.as_u64()?;
                let name = TYPES.iter().find(|(n, _)| *n == id)?.1;
                vs.insert("device_type".into(), json!(name));
            }
            if list == "vsock_device" {
                let b = obj(s, "/device_state/backend")?;
                let path = b.remove("Uds")?.get("path")?.clone();
                b.insert("uds_path".into(), path);
                b.insert("local_port_last".into(), json!(VSOCK_LOCAL_PORT_LAST));
            }
        }
        // 9.0.0 → 10.0.0: net MTU and pmem rate limiting appear (unset). The v1.15 PCI
        // transport (string BDF, `PciBar` list) has no faithful 10.0.0 form.
        3 => {
            if pci {
                return None;
            }
            match list {
                "net_devices" => {
                    obj(s, "/device_state/config_space")?.insert("mtu".into(), Value::Null);
                }
                "pmem_devices" => {
                    obj(s, "/device_state/config")?.insert("rate_limiter".into(), Value::Null);
                    obj(s, "/device_state")?.insert(
                        "rate_limiter_state".into(),
                        json!({"ops": null, "bandwidth": null}),
                    );
                }
                _ => {}
            }
        }
        // 10.0.0 → 11.0.0: the vsock frontend tracks a pending event acknowledgement; a PCI
        // device records its BAR address (where Firecracker places its only BAR: BAR0/BAR1).
        4 => {
            if list == "legacy_devices" {
                return None;
            }
            if list == "vsock_device" {
                obj(s, "/device_state/frontend")?
                    .insert("pending_event_ack".into(), Value::Bool(false));
            }
            if pci {
                let bars = s.pointer("/transport_state/bars/bars")?;
                let lo = bars.pointer("/0/encoded_addr")?.as_u64()? & 0xffff_fff0;
                let hi = bars.pointer("/1/encoded_addr")?.as_u64()?;
                obj(s, "/transport_state")?.insert("bar_address".into(), json!(hi << 32 | lo));
            }
        }
        _ => return None,
    }
    Some(())
}

/// One step down, from rank `r` to `r - 1`.
fn down(r: usize, pci: bool, list: &str, s: &mut Value) -> Option<()> {
    match r {
        1 => {
            if pci {
                return None;
            }
            match list {
                "mmds" | "mmds_version" => *s = s.get("version")?.clone(),
                "legacy_devices" => rename(obj(s, "/device_info")?, "gsi", "irq"),
                _ => {
                    rename(obj(s, "/device_info")?, "gsi", "irq");
                    let status = obj(s, "/transport_state")?.remove("interrupt_status")?;
                    virtio_state(s)?.insert("interrupt_status".into(), status);
                    if list == "net_devices" {
                        obj(s, "/device_state")?.insert(
                            "rx_buffers_state".into(),
                            json!({"parsed_descriptor_chains_nr": 0, "used_descriptors": 0, "used_bytes": 0}),
                        );
                    }
                }
            }
        }
        2 => {
            if pci {
                return None;
            }
            if list == "balloon_device" {
                let stats = obj(s, "/device_state/latest_stats")?;
                for k in BALLOON_STATS_V1_14 {
                    stats.remove(k);
                }
                obj(s, "/device_state")?.remove("hinting_state");
            }
        }
        3 => {
            if let Some(vs) = virtio_state(s) {
                let name = vs.get("device_type")?.as_str()?.to_string();
                let id = TYPES.iter().find(|(_, n)| *n == name)?.0;
                vs.insert("device_type".into(), json!(id));
            }
            if list == "vsock_device" {
                let b = obj(s, "/device_state/backend")?;
                let path = b.remove("uds_path")?;
                b.remove("local_port_last");
                b.insert("Uds".into(), json!({ "path": path }));
            }
        }
        4 => {
            if pci {
                return None;
            }
            match list {
                "net_devices" => {
                    obj(s, "/device_state/config_space")?.remove("mtu");
                }
                "pmem_devices" => {
                    obj(s, "/device_state/config")?.remove("rate_limiter");
                    obj(s, "/device_state")?.remove("rate_limiter_state");
                }
                _ => {}
            }
        }
        5 => {
            if list == "vsock_device" {
                obj(s, "/device_state/frontend")?.remove("pending_event_ack");
            }
            if pci {
                obj(s, "/transport_state")?.remove("bar_address");
            }
        }
        _ => return None,
    }
    Some(())
}

fn obj<'a>(v: &'a mut Value, pointer: &str) -> Option<&'a mut Map<String, Value>> {
    v.pointer_mut(pointer)?.as_object_mut()
}

fn rename(m: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = m.remove(from) {
        m.insert(to.into(), v);
    }
}

/// The device's common virtio state, wherever its kind nests it.
fn virtio_state(v: &mut Value) -> Option<&mut Map<String, Value>> {
    let Value::Object(m) = v else {
        return None;
    };
    if m.contains_key("virtio_state") {
        return m.get_mut("virtio_state")?.as_object_mut();
    }
    m.iter_mut()
        .filter(|(k, _)| k.as_str() != "transport_state")
        .find_map(|(_, x)| virtio_state(x))
}

/// The vmclock state of layout `from` (JSON) as layout `to`'s. From v1.15 on the device has
/// an interrupt line and the page a VM generation counter: up, the line is `gsi` (the next
/// legacy interrupt line, as that release allocates it after the other devices) and the
/// counter 0; down, both go. `None`: `to` has no vmclock.
pub(crate) fn vmclock(from: &str, to: &str, mut v: Value, gsi: u64) -> Option<Value> {
    let (f, t) = (rank(from)?, rank(to)?);
    if t < 2 {
        return None;
    }
    if f <= 2 && t > 2 {
        v.as_object_mut()?.insert("gsi".into(), json!(gsi));
        v.pointer_mut("/inner")?
            .as_object_mut()?
            .insert("vm_generation_counter".into(), json!(0));
    } else if f > 2 && t <= 2 {
        v.as_object_mut()?.remove("gsi");
        v.pointer_mut("/inner")?
            .as_object_mut()?
            .remove("vm_generation_counter");
    }
    Some(v)
}

/// The resource allocator of layout `from` (JSON) as layout `to`'s, or `None` when `to` has
/// no allocator (6.0.0) or `from` is not on the ladder. `vmclock_gsi`: the vmclock's interrupt
/// line when it gains one going up past v1.14 (the legacy allocator then records it), or the
/// one it loses going down.
pub(crate) fn allocator(
    from: &str,
    to: &str,
    mut v: Value,
    vmclock_gsi: Option<u64>,
    past_mmio64_default: &Value,
) -> Option<Value> {
    let (f, t) = (rank(from)?, rank(to)?);
    if t == 0 || f == 0 {
        return None;
    }
    let o = v.as_object_mut()?;
    if f == 1 && t > 1 {
        o.insert("past_mmio64_memory".into(), past_mmio64_default.clone());
    } else if f > 1 && t == 1 {
        o.remove("past_mmio64_memory");
    }
    let next = o
        .get_mut("gsi_legacy_allocator")
        .and_then(|a| a.get_mut("next_id"));
    match (vmclock_gsi, next) {
        (Some(g), Some(n)) if f <= 2 && t > 2 && n.as_u64() == Some(g) => *n = json!(g + 1),
        (Some(g), Some(n)) if f > 2 && t <= 2 && n.as_u64() == Some(g + 1) => *n = json!(g),
        _ => {}
    }
    Some(v)
}

/// The bitcode-era layout ids whose device states translate into each other, oldest first.
const SIBLINGS: [&str; 3] = [
    "firecracker-9.0.0",
    "firecracker-10.0.0",
    "firecracker-11.0.0",
];

/// Whether `layout` is a bitcode-era layout (9.0.0, 10.0.0, 11.0.0).
pub(crate) fn is_sibling(layout: &str) -> bool {
    SIBLINGS.contains(&layout)
}

/// A 9.0.0 / 10.0.0 aarch64 `ConnectedLegacyState` (JSON) for a model device without a raw
/// state of its own (e.g. the serial console or RTC of an 11.0.0 file), from its MMIO placement.
pub(crate) fn legacy_entry(d: &Device) -> Option<Value> {
    let name = match d.kind {
        DeviceKind::Serial => "Serial",
        DeviceKind::Rtc => "Rtc",
        DeviceKind::BootTimer => "BootTimer",
        _ => return None,
    };
    let Some(Transport::Mmio { addr, len, irq }) = d.transport else {
        return None;
    };
    Some(json!({"type_": name, "device_info": {"addr": addr, "len": len, "gsi": irq}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vsock_1_14() -> Value {
        json!({"device_id": "vsock", "device_info": {"addr": 1, "gsi": 11, "len": 4096},
            "transport_state": {"interrupt_status": 0},
            "device_state": {"backend": {"Uds": {"path": "v.sock"}},
                "frontend": {"cid": 3, "virtio_state": {"device_type": 19, "avail_features": 1}}}})
    }

    #[test]
    fn vsock_up_to_11_and_back_is_the_identity() {
        let s = vsock_1_14();
        let up = device(
            "firecracker-8.0.0-v1.14",
            "firecracker-11.0.0",
            "mmio",
            "vsock_device",
            s.clone(),
        )
        .unwrap();
        assert_eq!(up["device_state"]["backend"]["uds_path"], json!("v.sock"));
        assert_eq!(
            up["device_state"]["backend"]["local_port_last"],
            json!(VSOCK_LOCAL_PORT_LAST)
        );
        assert_eq!(
            up["device_state"]["frontend"]["virtio_state"]["device_type"],
            json!("Vsock")
        );
        assert_eq!(
            up["device_state"]["frontend"]["pending_event_ack"],
            json!(false)
        );
        let back = device(
            "firecracker-11.0.0",
            "firecracker-8.0.0-v1.14",
            "mmio",
            "vsock_device",
            up,
        )
        .unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn a_6_0_0_net_device_moves_its_interrupt_status_and_drops_rx_buffers() {
        let s = json!({"device_id": "eth0", "device_info": {"addr": 1, "irq": 5, "len": 4096},
            "transport_state": {"device_status": 0},
            "device_state": {"rx_buffers_state": {"parsed_descriptor_chains_nr": 0, "used_descriptors": 0, "used_bytes": 0},
                "virtio_state": {"device_type": 1, "interrupt_status": 2}}});
        let up = device(
            "firecracker-6.0.0",
            "firecracker-8.0.0-v1.13",
            "mmio",
            "net_devices",
            s.clone(),
        )
        .unwrap();
        assert_eq!(up["device_info"]["gsi"], json!(5));
        assert_eq!(up["transport_state"]["interrupt_status"], json!(2));
        assert!(up["device_state"].get("rx_buffers_state").is_none());
        let back = device(
            "firecracker-8.0.0-v1.13",
            "firecracker-6.0.0",
            "mmio",
            "net_devices",
            up,
        )
        .unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn mmds_version_becomes_mmds_state() {
        let up = device(
            "firecracker-6.0.0",
            "firecracker-10.0.0",
            "mmio",
            "mmds_version",
            json!("V2"),
        )
        .unwrap();
        assert_eq!(up, json!({"version": "V2", "imds_compat": false}));
        assert_eq!(
            list_name("firecracker-6.0.0", "firecracker-10.0.0", "mmds_version"),
            "mmds"
        );
    }

    #[test]
    fn the_vmclock_gsi_is_allocated_up_and_released_down() {
        let alloc = json!({"gsi_legacy_allocator": {"next_id": 15}});
        let up = allocator(
            "firecracker-8.0.0-v1.14",
            "firecracker-10.0.0",
            alloc.clone(),
            Some(15),
            &Value::Null,
        )
        .unwrap();
        assert_eq!(up["gsi_legacy_allocator"]["next_id"], json!(16));
        let down = allocator(
            "firecracker-10.0.0",
            "firecracker-8.0.0-v1.14",
            up,
            Some(15),
            &Value::Null,
        )
        .unwrap();
        assert_eq!(down, alloc);
    }

    #[test]
    fn pci_devices_do_not_cross_into_older_pci_shapes() {
        assert!(
            device(
                "firecracker-10.0.0",
                "firecracker-9.0.0",
                "pci",
                "net_devices",
                json!({})
            )
            .is_none()
        );
    }
}
