//! Typed device configuration ↔ Firecracker device states.
//!
//! Reading, [`bind`] fills a device's [`DeviceConfig`] from its state (any layout's, as JSON)
//! and replaces every leaf Firecracker stores directly (`disk_path`, `tap_if_name`, `guest_mac`,
//! the vsock socket path, `cid`, ...) by a reference `=config.<field>`, so the value lives in one
//! place: the typed configuration. Writing, [`unbind`] puts the configuration's values back, so a
//! changed `path_on_host` or `host_dev_name` reaches the file and an unchanged one gives the same
//! bytes. Fields derived from other state (read-only from the feature bits, the balloon's size
//! from its page count, rate limiters from their buckets) are shown in the configuration but not
//! bound.

use crate::model::*;
use serde_json::{Map, Value};

/// Bound fields per kind: configuration field and the state keys that hold it, in any layout.
fn bindings(kind: &DeviceKind) -> &'static [(&'static str, &'static [&'static str])] {
    match kind {
        DeviceKind::Block => &[
            ("path_on_host", &["disk_path"]),
            ("socket", &["socket_path"]),
            ("is_root_device", &["root_device"]),
            ("partuuid", &["partuuid"]),
            ("cache_type", &["cache_type"]),
            ("io_engine", &["file_engine_type"]),
        ],
        DeviceKind::Net => &[
            ("host_dev_name", &["tap_if_name"]),
            ("guest_mac", &["guest_mac"]),
            ("mtu", &["mtu"]),
        ],
        DeviceKind::Vsock => &[("uds_path", &["uds_path", "path"]), ("guest_cid", &["cid"])],
        DeviceKind::Balloon => &[("stats_polling_interval_s", &["stats_polling_interval_s"])],
        DeviceKind::Pmem => &[
            ("path_on_host", &["path_on_host"]),
            ("root_device", &["root_device"]),
            ("read_only", &["read_only"]),
        ],
        DeviceKind::Mmds => &[("version", &["version"]), ("imds_compat", &["imds_compat"])],
        _ => &[],
    }
}

/// Subtrees that never hold configuration (common virtio and transport state).
const SKIP: [&str; 4] = [
    "virtio_state",
    "transport_state",
    "device_info",
    "rate_limiter_state",
];

/// The first value under `key` in `v`, depth-first, outside [`SKIP`].
fn find_mut<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    let Value::Object(m) = v else {
        return None;
    };
    if m.contains_key(key) {
        return m.get_mut(key);
    }
    m.iter_mut()
        .filter(|(k, _)| !SKIP.contains(&k.as_str()))
        .find_map(|(_, x)| find_mut(x, key))
}

fn find<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let Value::Object(m) = v else {
        return None;
    };
    m.get(key).or_else(|| {
        m.iter()
            .filter(|(k, _)| !SKIP.contains(&k.as_str()))
            .find_map(|(_, x)| find(x, key))
    })
}

fn virtio_features(state: &Value) -> Option<u64> {
    fn vs(v: &Value) -> Option<&Value> {
        match v {
            Value::Object(m) => m.get("virtio_state").or_else(|| m.values().find_map(vs)),
            _ => None,
        }
    }
    vs(state)?.get("avail_features")?.as_u64()
}

fn bit(features: Option<u64>, n: u32) -> Option<bool> {
    features.map(|f| f & (1 << n) != 0)
}

/// A configured rate limiter from its runtime buckets (`{bandwidth, ops}` of `TokenBucket`s).
fn limiter(v: Option<&Value>) -> Option<RateLimiter> {
    let v = v?;
    let bucket = |k: &str| {
        let b = v.get(k)?;
        Some(TokenBucket {
            size: b.get("size")?.as_u64()?,
            one_time_burst: b.get("one_time_burst").and_then(Value::as_u64).unwrap_or(0),
            refill_time: b.get("refill_time")?.as_u64()?,
        })
    };
    let r = RateLimiter {
        bandwidth: bucket("bandwidth"),
        ops: bucket("ops"),
    };
    (r != RateLimiter::default()).then_some(r)
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

fn num(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_u64)
}

/// The configuration of one device from its state (before binding).
fn extract(kind: &DeviceKind, s: &Value) -> Option<DeviceConfig> {
    let f = virtio_features(s);
    Some(match kind {
        DeviceKind::Block => DeviceConfig::Block(BlockConfig {
            path_on_host: text(find(s, "disk_path")),
            socket: text(find(s, "socket_path")),
            is_read_only: bit(f, 5),
            is_root_device: find(s, "root_device").and_then(Value::as_bool),
            partuuid: text(find(s, "partuuid")),
            cache_type: text(find(s, "cache_type")),
            io_engine: text(find(s, "file_engine_type")),
            rate_limiter: limiter(s.pointer("/device_state/Virtio/rate_limiter_state")),
        }),
        DeviceKind::Net => DeviceConfig::Net(NetConfig {
            host_dev_name: text(find(s, "tap_if_name")),
            guest_mac: text(find(s, "guest_mac")),
            mtu: num(find(s, "mtu")).and_then(|m| u16::try_from(m).ok()),
            mmds: find(s, "mmds_ns").map(|v| !v.is_null()),
            rx_rate_limiter: limiter(find(s, "rx_rate_limiter_state")),
            tx_rate_limiter: limiter(find(s, "tx_rate_limiter_state")),
        }),
        DeviceKind::Vsock => DeviceConfig::Vsock(VsockConfig {
            guest_cid: num(find(s, "cid")),
            uds_path: text(find(s, "uds_path").or_else(|| find(s, "path"))),
        }),
        DeviceKind::Balloon => DeviceConfig::Balloon(BalloonConfig {
            amount_mib: num(find(s, "num_pages")).map(|p| p.saturating_mul(4096) >> 20),
            actual_mib: num(find(s, "actual_pages")).map(|p| p.saturating_mul(4096) >> 20),
            deflate_on_oom: bit(f, 2),
            stats_polling_interval_s: num(find(s, "stats_polling_interval_s")),
            free_page_hinting: bit(f, 3),
            free_page_reporting: bit(f, 5),
        }),
        DeviceKind::Rng => DeviceConfig::Entropy(EntropyConfig {
            rate_limiter: limiter(s.pointer("/device_state/rate_limiter_state")),
        }),
        DeviceKind::Pmem => DeviceConfig::Pmem(PmemConfig {
            path_on_host: text(find(s, "path_on_host")),
            root_device: find(s, "root_device").and_then(Value::as_bool),
            read_only: find(s, "read_only").and_then(Value::as_bool),
            start: num(s.pointer("/device_state/config_space/start")),
            size: num(s.pointer("/device_state/config_space/size")),
        }),
        DeviceKind::Mem => DeviceConfig::Mem(MemConfig {
            addr: num(find(s, "addr")),
            region_size: num(find(s, "region_size")),
            block_size: num(find(s, "block_size")),
            slot_size: num(find(s, "slot_size")),
            requested_size: num(find(s, "requested_size")),
            plugged_blocks: find(s, "plugged_blocks")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter(|b| b.as_bool() == Some(true)).count() as u64),
        }),
        DeviceKind::Mmds => DeviceConfig::Mmds(MmdsConfig {
            // 5.0.0 and 6.0.0 store the version alone (`mmds_version`).
            version: text(Some(s)).or_else(|| text(find(s, "version"))),
            imds_compat: find(s, "imds_compat").and_then(Value::as_bool),
            network_interfaces: Vec::new(),
        }),
        _ => return None,
    })
}

/// Fills the device's typed configuration from `state` and replaces the bound leaves of
/// `state` by references to it.
pub(crate) fn bind(d: &mut Device, state: &mut Value) {
    let Some(cfg) = extract(&d.kind, state) else {
        return;
    };
    let fields = cfg.fields();
    if d.kind == DeviceKind::Mmds && state.is_string() {
        *state = Value::String(format!("{CONFIG_REF}version"));
    } else {
        for (field, keys) in bindings(&d.kind) {
            let Some(key) = keys.iter().find(|k| find(state, k).is_some()) else {
                continue;
            };
            if let Some(slot) = find_mut(state, key) {
                let known = fields.get(*field).cloned().unwrap_or(Value::Null);
                // Only a leaf whose value the configuration reproduces exactly is bound.
                if *slot == known {
                    *slot = Value::String(format!("{CONFIG_REF}{field}"));
                }
            }
        }
    }
    d.config = Some(cfg);
}

/// Puts the configuration's values back into `state` in place of its references.
///
/// # Errors
/// A reference to a field the configuration does not have.
pub(crate) fn unbind(d: &Device, state: &mut Value) -> Result<(), String> {
    let fields: Map<String, Value> = d
        .config
        .as_ref()
        .map(DeviceConfig::fields)
        .unwrap_or_default();
    resolve(state, &fields, &d.id)
}

fn resolve(v: &mut Value, fields: &Map<String, Value>, id: &str) -> Result<(), String> {
    match v {
        Value::String(s) if s.starts_with(CONFIG_REF) => {
            let name = &s[CONFIG_REF.len()..];
            *v = match fields.get(name) {
                Some(x) => x.clone(),
                // An optional field left out of the configuration is absent in the state too.
                None if OPTIONAL.contains(&name) => Value::Null,
                None => {
                    return Err(format!(
                        "device `{id}`: its state refers to configuration field `{name}`, which the configuration does not have"
                    ));
                }
            };
            Ok(())
        }
        Value::Object(m) => m.values_mut().try_for_each(|x| resolve(x, fields, id)),
        Value::Array(a) => a.iter_mut().try_for_each(|x| resolve(x, fields, id)),
        _ => Ok(()),
    }
}

/// Bound fields whose absence means `None` in the producer's state.
const OPTIONAL: [&str; 3] = ["partuuid", "mtu", "socket"];

/// Gives typed configurations to the Firecracker devices of a model that carry a layout's full
/// state without one (a model written down by an older snaptool, e.g. inside another format's
/// carried state), so every model of the same devices has the same shape.
pub fn normalize(m: &mut Snapshot) {
    let mut changed = false;
    for d in &mut m.devices {
        let Some(raw) = &mut d.raw else { continue };
        if !raw.layout.starts_with("firecracker-") {
            continue;
        }
        // A layout with a typed device model: the entry becomes the typed device.
        let typed = match (
            raw.value.get("list").and_then(Value::as_str),
            raw.value.get("state"),
        ) {
            (Some(list), Some(state)) => {
                let mut state = state.clone();
                let probe = Device {
                    config: d.config.clone(),
                    ..Device::new(d.id.clone(), d.kind.clone())
                };
                unbind(&probe, &mut state)
                    .ok()
                    .and_then(|()| super::device_model::from_raw(&raw.layout, list, &state))
            }
            _ if d.kind == DeviceKind::VmClock => {
                super::device_model::vmclock_from_raw(&raw.layout, &raw.value)
            }
            _ => None,
        };
        if let Some(typed) = typed {
            let (id, uart, vmgenid) = (d.id.clone(), d.uart.take(), d.vmgenid);
            *d = typed;
            d.uart = uart;
            d.vmgenid = vmgenid;
            if d.kind == DeviceKind::Mmds || d.id.is_empty() {
                d.id = id;
            }
            changed = true;
            continue;
        }
        if d.config.is_some() {
            continue;
        }
        let Some(state) = raw.value.get_mut("state") else {
            continue;
        };
        let mut s = state.take();
        let mut probe = Device::new(d.id.clone(), d.kind.clone());
        bind(&mut probe, &mut s);
        *state = s;
        if probe.config.is_some() {
            d.config = probe.config;
            d.host.clear();
            changed = true;
        }
    }
    if changed {
        link_mmds(&mut m.devices);
    }
}

/// The devices as another format carries them: each Firecracker device's state with its
/// configured values in place and no typed configuration (the form [`normalize`] reads), so
/// what a carried blob holds does not depend on how this version of the model types devices.
pub fn denormalize(devices: &[Device]) -> Vec<Device> {
    devices
        .iter()
        .map(|d| {
            let mut d = d.clone();
            let Some(raw) = &mut d.raw else { return d };
            if d.config.is_none() || !raw.layout.starts_with("firecracker-") {
                return d;
            }
            if let Some(state) = raw.value.get_mut("state") {
                let probe = Device {
                    config: d.config.clone(),
                    ..Device::new(d.id.clone(), d.kind.clone())
                };
                if unbind(&probe, state).is_ok() {
                    d.host = super::convert_common::host_bindings(state, &d.kind);
                    d.config = None;
                }
            }
            d
        })
        .collect()
}

/// Records, on the MMDS device, the network interfaces MMDS answers on (those with an MMDS
/// network stack).
pub(crate) fn link_mmds(devices: &mut [Device]) {
    let ifaces: Vec<String> = devices
        .iter()
        .filter(|d| matches!(&d.config, Some(DeviceConfig::Net(n)) if n.mmds == Some(true)))
        .map(|d| d.id.clone())
        .collect();
    for d in devices.iter_mut() {
        if let Some(DeviceConfig::Mmds(m)) = &mut d.config {
            m.network_interfaces = ifaces.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn net_state() -> Value {
        json!({"device_id": "eth0", "device_info": {"addr": 1, "gsi": 9, "len": 4096},
            "device_state": {"config_space": {"guest_mac": "06:00:ac:10:00:02", "mtu": null},
                "id": "eth0", "mmds_ns": null, "tap_if_name": "tap0",
                "rx_rate_limiter_state": {"bandwidth": {"size": 10, "one_time_burst": 0, "refill_time": 5, "budget": 10, "elapsed_ns": 1}, "ops": null},
                "tx_rate_limiter_state": {"bandwidth": null, "ops": null},
                "virtio_state": {"avail_features": 8, "device_type": "Net"}}})
    }

    #[test]
    fn bind_then_unbind_restores_the_state() {
        let mut d = Device::new("eth0", DeviceKind::Net);
        let orig = net_state();
        let mut s = orig.clone();
        bind(&mut d, &mut s);
        assert_eq!(
            s["device_state"]["tap_if_name"],
            json!("=config.host_dev_name")
        );
        assert_eq!(
            s["device_state"]["config_space"]["mtu"],
            json!("=config.mtu")
        );
        let Some(DeviceConfig::Net(n)) = &d.config else {
            panic!("no net config")
        };
        assert_eq!(n.host_dev_name.as_deref(), Some("tap0"));
        assert_eq!(n.mmds, Some(false));
        assert_eq!(
            n.rx_rate_limiter
                .as_ref()
                .and_then(|r| r.bandwidth)
                .map(|b| b.size),
            Some(10)
        );
        unbind(&d, &mut s).unwrap();
        assert_eq!(s, orig);
    }

    #[test]
    fn an_edited_configuration_reaches_the_state() {
        let mut d = Device::new("eth0", DeviceKind::Net);
        let mut s = net_state();
        bind(&mut d, &mut s);
        if let Some(DeviceConfig::Net(n)) = &mut d.config {
            n.host_dev_name = Some("tap-moved".into());
        }
        unbind(&d, &mut s).unwrap();
        assert_eq!(s["device_state"]["tap_if_name"], json!("tap-moved"));
    }

    #[test]
    fn a_reference_without_its_field_is_an_error() {
        let d = Device::new("x", DeviceKind::Vsock);
        let mut s = json!({"device_state": {"backend": {"uds_path": "=config.uds_path"}}});
        assert!(unbind(&d, &mut s).unwrap_err().contains("uds_path"));
    }
}
