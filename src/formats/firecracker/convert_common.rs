//! Conversion helpers every Firecracker layout shares: KVM blobs ↔ model (the KVM ABI does not
//! change between layouts), device lists ↔ model devices, and format-private extensions.

use super::WriteError;
use super::allocator::Allocator;
use super::ladder;
use super::shared::v1_16::devices::IdAllocator;
use super::wire::{Blob, FamBlob, Xsave};
use crate::kvm_abi as k;
use crate::model::*;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

/// Extension key of the resource allocator state.
pub(crate) const KEY_ALLOC: &str = "firecracker/resource_allocator";
/// Extension key of `KvmState` when its capability strings do not parse.
pub(crate) const KEY_CAPS: &str = "firecracker/kvm_state";
/// Extension key of "the virtio devices are on PCI" (`pci_enabled` up to 10.0.0, the `Pci`
/// variant of `VirtioDevicesState` in 11.0.0).
pub(crate) const KEY_PCI: &str = "firecracker/pci_enabled";

/// Most MSR entries Firecracker puts in one `kvm_msrs` chunk.
const MSR_CHUNK: usize = 256;

/// The x86_64 `VcpuState` fields every layout has, as blobs.
pub(crate) struct X86VcpuBlobs {
    pub cpuid: FamBlob,
    pub saved_msrs: Vec<FamBlob>,
    pub debug_regs: Blob,
    pub lapic: Blob,
    pub mp_state: Blob,
    pub regs: Blob,
    pub sregs: Blob,
    pub vcpu_events: Blob,
    pub xcrs: Blob,
    pub xsave: Xsave,
    pub tsc_khz: Option<u32>,
}

/// Blobs → model vCPU.
pub(crate) fn x86_vcpu_to_model(b: &X86VcpuBlobs) -> X86Vcpu {
    let hdr = k::fit(&b.xsave.0.0, k::XSAVE2_HDR_SIZE);
    X86Vcpu {
        regs: k::regs_from(&b.regs.0),
        sregs: k::sregs_from(&b.sregs.0),
        mp_state: Some(k::mp_state_from(&b.mp_state.0)),
        debug_regs: Some(k::debugregs_from(&b.debug_regs.0)),
        xcrs: Some(k::xcrs_from(&b.xcrs.0)),
        xsave: Some(crate::model::Xsave {
            len_field: Some(u64::from_le_bytes(hdr[..8].try_into().unwrap_or([0; 8]))),
            region: Bytes(hdr[8..].to_vec()),
            extra: b.xsave.1.clone(),
        }),
        lapic: Some(Lapic {
            regs: Bytes(k::fit(&b.lapic.0, k::LAPIC_SIZE)),
        }),
        msrs: b
            .saved_msrs
            .iter()
            .flat_map(|c| c.1.iter().map(|e| k::msr_from(&e.0)))
            .collect(),
        msr_chunks: b.saved_msrs.iter().map(|c| c.1.len() as u32).collect(),
        cpuid: b
            .cpuid
            .1
            .iter()
            .map(|e| k::cpuid_entry_from(&e.0))
            .collect(),
        events: Some(k::events_from(&b.vcpu_events.0)),
        tsc_khz: b.tsc_khz,
    }
}

/// Model vCPU → blobs. Absent optional state becomes KVM's all-zero structure.
pub(crate) fn x86_vcpu_from_model(v: &X86Vcpu) -> X86VcpuBlobs {
    let cpuid = (
        Blob(k::fam_header(v.cpuid.len() as u32)),
        v.cpuid.iter().map(|e| Blob(k::cpuid_entry_to(e))).collect(),
    );
    let xsave = v.xsave.clone().unwrap_or_default();
    let mut hdr = xsave.len_field.unwrap_or(0).to_le_bytes().to_vec();
    hdr.extend_from_slice(&k::fit(&xsave.region.0, k::XSAVE_SIZE));
    X86VcpuBlobs {
        cpuid,
        saved_msrs: msr_chunks(v)
            .into_iter()
            .map(|c| {
                (
                    Blob(k::fam_header(c.len() as u32)),
                    c.iter().map(|m| Blob(k::msr_to(m))).collect(),
                )
            })
            .collect(),
        debug_regs: Blob(k::debugregs_to(&v.debug_regs.unwrap_or_default())),
        lapic: Blob(k::fit(
            &v.lapic.clone().unwrap_or_default().regs.0,
            k::LAPIC_SIZE,
        )),
        mp_state: Blob(k::mp_state_to(v.mp_state.unwrap_or(0))),
        regs: Blob(k::regs_to(&v.regs)),
        sregs: Blob(k::sregs_to(&v.sregs)),
        vcpu_events: Blob(k::events_to(&v.events.unwrap_or_default())),
        xcrs: Blob(k::xcrs_to(&v.xcrs.clone().unwrap_or_default())),
        xsave: (Blob(hdr), xsave.extra),
        tsc_khz: v.tsc_khz,
    }
}

/// Splits the MSR list into the producer's chunks when they add up, else into chunks of 256.
fn msr_chunks(v: &X86Vcpu) -> Vec<&[Msr]> {
    let total: u64 = v.msr_chunks.iter().map(|&n| u64::from(n)).sum();
    if !v.msr_chunks.is_empty() && total == v.msrs.len() as u64 {
        let mut rest = v.msrs.as_slice();
        v.msr_chunks
            .iter()
            .map(|&n| {
                let (a, b) = rest.split_at(n as usize);
                rest = b;
                a
            })
            .collect()
    } else {
        v.msrs.chunks(MSR_CHUNK).collect()
    }
}

/// x86 VM blobs → platform.
pub(crate) fn x86_platform_to_model(
    pit: &Blob,
    clock: &Blob,
    pic_master: &Blob,
    pic_slave: &Blob,
    ioapic: &Blob,
) -> X86Platform {
    let pic = |b: &Blob| match k::irqchip_from(&b.0) {
        k::Irqchip::Pic(_, p) => Some(p),
        k::Irqchip::Ioapic(_) => None,
    };
    X86Platform {
        pit: Some(k::pit_from(&pit.0)),
        clock: Some(k::clock_from(&clock.0)),
        pic_master: pic(pic_master),
        pic_slave: pic(pic_slave),
        ioapic: match k::irqchip_from(&ioapic.0) {
            k::Irqchip::Ioapic(a) => Some(a),
            k::Irqchip::Pic(..) => None,
        },
    }
}

/// Platform → x86 VM blobs (pit, clock, pic master, pic slave, ioapic).
pub(crate) fn x86_platform_from_model(p: &X86Platform) -> [Blob; 5] {
    [
        Blob(k::pit_to(&p.pit.clone().unwrap_or_default())),
        Blob(k::clock_to(&p.clock.unwrap_or_default())),
        Blob(k::irqchip_to(&k::Irqchip::Pic(
            0,
            p.pic_master.unwrap_or_default(),
        ))),
        Blob(k::irqchip_to(&k::Irqchip::Pic(
            1,
            p.pic_slave.unwrap_or_default(),
        ))),
        Blob(k::irqchip_to(&k::Irqchip::Ioapic(
            p.ioapic.clone().unwrap_or_default(),
        ))),
    ]
}

/// aarch64 register list → model registers; `None` when the sizes do not add up.
pub(crate) fn arm_regs_to_model(ids: &[u64], data: &[u8]) -> Option<Vec<Aarch64Reg>> {
    let mut off = 0usize;
    let mut out = Vec::with_capacity(ids.len().min(4096));
    for &id in ids {
        let size = usize::try_from(Aarch64Reg::declared_size(id)).ok()?;
        let end = off.checked_add(size)?;
        out.push(Aarch64Reg {
            id,
            value: Bytes(data.get(off..end)?.to_vec()),
        });
        off = end;
    }
    (off == data.len()).then_some(out)
}

/// Model registers → aarch64 register list.
pub(crate) fn arm_regs_from_model(regs: &[Aarch64Reg]) -> (Vec<u64>, Vec<u8>) {
    let ids = regs.iter().map(|r| r.id).collect();
    let data = regs
        .iter()
        .flat_map(|r| r.value.0.iter().copied())
        .collect();
    (ids, data)
}

/// A format-private value as a model extension.
pub(crate) fn ext<T: Serialize>(layout: &str, v: &T) -> Extension {
    Extension {
        layout: layout.to_string(),
        value: serde_json::to_value(v).unwrap_or(Value::Null),
    }
}

/// Deserializes a JSON value as a layout type, naming the key in the error.
pub(crate) fn value_as<T: DeserializeOwned>(
    v: &Value,
    key: &str,
    layout: &str,
) -> Result<T, WriteError> {
    serde_json::from_value(v.clone())
        .map_err(|e| WriteError::Model(format!("`{key}` is not a valid {layout} value: {e}")))
}

/// A unit enum variant by its name (a CPU template, a huge-page setting), naming the field in
/// the error.
pub(crate) fn named<T: DeserializeOwned>(
    name: &str,
    key: &str,
    layout: &str,
) -> Result<T, WriteError> {
    use serde::de::IntoDeserializer;
    let d: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        name.into_deserializer();
    T::deserialize(d).map_err(|e| {
        WriteError::Model(format!(
            "`{key}` = {name:?} is not a valid {layout} value: {e}"
        ))
    })
}

/// Virtio device id of a Firecracker `VirtioDeviceType` variant name.
fn virtio_id_of(name: &str) -> u32 {
    match name {
        "Net" => 1,
        "Block" => 2,
        "Rng" => 4,
        "Balloon" => 5,
        "Vsock" => 19,
        "Mem" => 24,
        "Pmem" => 27,
        _ => 0,
    }
}

fn kind_of_list(list: &str) -> DeviceKind {
    match list {
        "block_devices" => DeviceKind::Block,
        "net_devices" => DeviceKind::Net,
        "vsock_device" => DeviceKind::Vsock,
        "balloon_device" => DeviceKind::Balloon,
        "entropy_device" => DeviceKind::Rng,
        "pmem_devices" => DeviceKind::Pmem,
        "memory_device" => DeviceKind::Mem,
        "mmds" | "mmds_version" => DeviceKind::Mmds,
        other => DeviceKind::Other(other.to_string()),
    }
}

/// Finds the first value under `key` anywhere in `v` (depth-first).
fn find<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.get(key).or_else(|| m.values().find_map(|x| find(x, key))),
        Value::Array(a) => a.iter().find_map(|x| find(x, key)),
        _ => None,
    }
}

fn u64_of(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_u64)
}

fn virtio_to_model(dev: &Value) -> Option<VirtioState> {
    let vs = find(dev, "virtio_state")?;
    let device_type = match vs.get("device_type")? {
        Value::String(s) => virtio_id_of(s),
        other => other.as_u64().unwrap_or(0) as u32,
    };
    let queues = vs
        .get("queues")
        .and_then(Value::as_array)
        .map(|qs| {
            qs.iter()
                .filter_map(|q| serde_json::from_value(q.clone()).ok())
                .collect()
        })
        .unwrap_or_default();
    let ts = dev.get("transport_state");
    Some(VirtioState {
        device_type,
        avail_features: u64_of(vs.get("avail_features")).unwrap_or(0),
        acked_features: u64_of(vs.get("acked_features")).unwrap_or(0),
        activated: vs
            .get("activated")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        queues,
        interrupt_status: u64_of(vs.get("interrupt_status"))
            .or_else(|| u64_of(ts.and_then(|t| t.get("interrupt_status"))))
            .map(|v| v as u32),
        device_status: u64_of(ts.and_then(|t| t.get("device_status"))).map(|v| v as u32),
    })
}

fn transport_to_model(dev: &Value, list_kind: &str) -> Option<Transport> {
    if list_kind == "pci" {
        // `sbdf` from 10.0.0 on; `pci_device_bdf` (the same packed u32) before.
        let sbdf = u64_of(dev.get("sbdf").or_else(|| dev.get("pci_device_bdf")))?;
        return Some(Transport::Pci { sbdf: sbdf as u32 });
    }
    let info = dev.get("device_info")?;
    // `gsi` (8.0.0+), `irq` (5.0.0, 6.0.0) or the first of `irqs` (1.0.0–4.0.0).
    let irq = u64_of(
        info.get("gsi")
            .or_else(|| info.get("irq"))
            .or_else(|| info.get("irqs").and_then(|l| l.get(0))),
    )
    .map(|v| v as u32);
    Some(Transport::Mmio {
        addr: u64_of(info.get("addr"))?,
        len: u64_of(info.get("len"))?,
        irq,
    })
}

/// The host resources a device entry names (`disk_path`, `tap_if_name`, `uds_path`,
/// `socket_path`, `path_on_host`; a vsock's `path` as `uds_path`): the untyped form, kept for
/// models written down for other formats to carry.
pub(crate) fn host_bindings(
    dev: &Value,
    kind: &DeviceKind,
) -> std::collections::BTreeMap<String, String> {
    let mut host = std::collections::BTreeMap::new();
    for key in [
        "disk_path",
        "tap_if_name",
        "uds_path",
        "socket_path",
        "path_on_host",
    ] {
        if let Some(s) = find(dev, key).and_then(Value::as_str) {
            host.insert(key.to_string(), s.to_string());
        }
    }
    if let (DeviceKind::Vsock, Some(Value::String(p))) = (kind, find(dev, "path")) {
        host.insert("uds_path".into(), p.clone());
    }
    host
}

/// One device list entry (`VirtioDeviceState<T>` / `Connected*State` JSON) → model device.
fn device_to_model(list: &str, transport: &str, layout: &str, dev: &Value) -> Device {
    let mut kind = kind_of_list(list);
    // 5.0.0 and 6.0.0 call the MMDS slot `mmds_version`; the device is `mmds` in every layout.
    let mut id = dev
        .get("device_id")
        .and_then(Value::as_str)
        .unwrap_or(if list == "mmds_version" { "mmds" } else { list })
        .to_string();
    if list == "legacy_devices" {
        let t = dev.get("type_").cloned().unwrap_or(Value::Null);
        (kind, id) = match t.as_str() {
            Some("Serial") => (DeviceKind::Serial, "serial".into()),
            Some("Rtc") => (DeviceKind::Rtc, "rtc".into()),
            Some("BootTimer") => (DeviceKind::BootTimer, "boot_timer".into()),
            _ => (
                DeviceKind::Other(format!("legacy {t}")),
                format!("legacy {t}"),
            ),
        };
    }
    let mut d = Device::new(id, kind);
    d.transport = transport_to_model(dev, transport);
    d.virtio = virtio_to_model(dev);
    let mut state = dev.clone();
    super::device_config::bind(&mut d, &mut state);
    if d.config.is_none() {
        d.host = host_bindings(dev, &d.kind);
    }
    let mut raw = Map::new();
    raw.insert("list".into(), Value::String(format!("{transport}.{list}")));
    raw.insert("state".into(), state);
    d.raw = Some(Extension {
        layout: layout.to_string(),
        value: Value::Object(raw),
    });
    d
}

/// A device-state struct (as JSON) → model devices: every list/option field is a device slot.
pub(crate) fn devices_to_model(states: &Value, transport: &str, layout: &str) -> Vec<Device> {
    let Some(obj) = states.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (list, v) in obj {
        match v {
            Value::Array(items) => out.extend(
                items
                    .iter()
                    .map(|d| device_to_model(list, transport, layout, d)),
            ),
            Value::Null | Value::Bool(_) => {}
            other => out.push(device_to_model(list, transport, layout, other)),
        }
    }
    super::device_config::link_mmds(&mut out);
    out
}

/// Puts the raw device states of `layout` back into the empty device-state struct `template`
/// (as JSON) for transport `transport`: the devices of the layouts whose device states have no
/// typed model (format 1.0.0; the PCI transport of 8.0.0 and 9.0.0), each in its own layout
/// only. Other devices are left out (a conversion's round trip reports them as lost).
pub(crate) fn devices_from_model(
    devices: &[Device],
    template: Value,
    transport: &str,
    layout: &str,
) -> Result<Value, WriteError> {
    let mut obj = match template {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for d in devices {
        let Some(raw) = &d.raw else { continue };
        let Some(list) = raw.value.get("list").and_then(Value::as_str) else {
            continue;
        };
        let Some(list) = list.strip_prefix(&format!("{transport}.")) else {
            continue;
        };
        if raw.layout != layout {
            continue;
        }
        let mut state = raw.value.get("state").cloned().unwrap_or(Value::Null);
        super::device_config::unbind(d, &mut state).map_err(WriteError::Model)?;
        match obj.get_mut(list) {
            Some(Value::Array(a)) => a.push(state),
            Some(slot) => *slot = state,
            // No list for this kind of device in the layout (a release before it): left out
            // and reported by the conversion, as above.
            None => {}
        }
    }
    Ok(Value::Object(obj))
}

/// Parses Firecracker's `KvmCapability` strings (`"N"` adds, `"!N"` removes).
pub(crate) fn caps_to_model(caps: &[String]) -> Option<Vec<KvmCapModifier>> {
    caps.iter()
        .map(|c| match c.strip_prefix('!') {
            Some(n) => n.parse().ok().map(KvmCapModifier::Remove),
            None => c.parse().ok().map(KvmCapModifier::Add),
        })
        .collect()
}

/// Model capability modifiers → Firecracker strings.
pub(crate) fn caps_from_model(caps: &[KvmCapModifier]) -> Vec<String> {
    caps.iter()
        .map(|c| match c {
            KvmCapModifier::Add(n) => n.to_string(),
            KvmCapModifier::Remove(n) => format!("!{n}"),
        })
        .collect()
}

/// Memory regions with implicit offsets (running sum of sizes).
pub(crate) fn regions_to_model<I: IntoIterator<Item = (u64, u64, RegionKind, Vec<bool>)>>(
    regions: I,
) -> MemoryLayout {
    let mut off = 0u64;
    let regions = regions
        .into_iter()
        .map(|(guest_addr, size, kind, plugged)| {
            let r = MemoryRegion {
                guest_addr,
                size,
                file_offset: off,
                explicit_offset: false,
                kind,
                plugged,
                read_only: false,
            };
            off = off.saturating_add(size);
            r
        })
        .collect();
    MemoryLayout {
        regions,
        page_size: 4096,
    }
}

/// The provenance of a Firecracker layout.
pub(crate) fn provenance(info: &super::LayoutInfo, arch: Arch) -> Provenance {
    Provenance {
        format: "firecracker".into(),
        version: info.version.to_string(),
        layout: info.id.into(),
        encoding: info.encoding.into(),
        arch,
        releases: info.releases.iter().map(|s| s.to_string()).collect(),
    }
}

/// Any layout's x86_64 `VcpuState` → [`X86VcpuBlobs`] (its field list is the same in every
/// layout from format 2.0.0 on; only the enclosing types differ).
macro_rules! x86_blobs {
    ($c:expr) => {{
        let c = $c;
        $crate::formats::firecracker::convert_common::X86VcpuBlobs {
            cpuid: c.cpuid.clone(),
            saved_msrs: c.saved_msrs.clone(),
            debug_regs: c.debug_regs.clone(),
            lapic: c.lapic.clone(),
            mp_state: c.mp_state.clone(),
            regs: c.regs.clone(),
            sregs: c.sregs.clone(),
            vcpu_events: c.vcpu_events.clone(),
            xcrs: c.xcrs.clone(),
            xsave: c.xsave.clone(),
            tsc_khz: c.tsc_khz,
        }
    }};
}

/// [`X86VcpuBlobs`] → the layout's x86_64 `VcpuState` type `$ty`.
macro_rules! x86_vcpu_state {
    ($ty:ident, $b:expr) => {{
        let b = $b;
        $ty {
            cpuid: b.cpuid,
            saved_msrs: b.saved_msrs,
            debug_regs: b.debug_regs,
            lapic: b.lapic,
            mp_state: b.mp_state,
            regs: b.regs,
            sregs: b.sregs,
            vcpu_events: b.vcpu_events,
            xcrs: b.xcrs,
            xsave: b.xsave,
            tsc_khz: b.tsc_khz,
        }
    }};
}

/// Any layout's aarch64 `GicState` → model (`its` given by the caller: not every layout has it).
macro_rules! gic_to_model {
    ($g:expr, $its:expr) => {{
        let g = $g;
        $crate::model::GicState {
            dist: g.dist.iter().map(|r| r.chunks.clone()).collect(),
            vcpus: g
                .gic_vcpu_states
                .iter()
                .map(|v| $crate::model::GicVcpu {
                    rdist: v.rdist.iter().map(|r| r.chunks.clone()).collect(),
                    main_icc_regs: v
                        .icc
                        .main_icc_regs
                        .iter()
                        .map(|r| r.chunks.clone())
                        .collect(),
                    ap_icc_regs: v
                        .icc
                        .ap_icc_regs
                        .iter()
                        .map(|r| r.as_ref().map(|r| r.chunks.clone()))
                        .collect(),
                })
                .collect(),
            its: $its,
        }
    }};
}

/// Model GIC → `(dist, gic_vcpu_states)` of the layout module `$m` (which defines
/// `GicRegState`, `GicVcpuState` and `VgicSysRegsState`).
macro_rules! gic_parts_from_model {
    ($m:ident, $g:expr) => {{
        let g = $g;
        let regs = |v: &Vec<Vec<u32>>| -> Vec<$m::GicRegState<u32>> {
            v.iter()
                .map(|c| $m::GicRegState { chunks: c.clone() })
                .collect()
        };
        let dist = regs(&g.dist);
        let vcpus: Vec<$m::GicVcpuState> = g
            .vcpus
            .iter()
            .map(|v| $m::GicVcpuState {
                rdist: regs(&v.rdist),
                icc: $m::VgicSysRegsState {
                    main_icc_regs: v
                        .main_icc_regs
                        .iter()
                        .map(|c| $m::GicRegState { chunks: c.clone() })
                        .collect(),
                    ap_icc_regs: v
                        .ap_icc_regs
                        .iter()
                        .map(|c| c.clone().map(|chunks| $m::GicRegState { chunks }))
                        .collect(),
                },
            })
            .collect();
        (dist, vcpus)
    }};
}

pub(crate) use {gic_parts_from_model, gic_to_model, x86_blobs, x86_vcpu_state};

/// The legacy interrupt allocator's next id in the model's allocator state.
pub(crate) fn legacy_next_id(m: &Snapshot) -> Option<u32> {
    m.extensions
        .get(KEY_ALLOC)?
        .value
        .pointer("/gsi_legacy_allocator/next_id")?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
}

/// The vmclock interrupt line the allocator gains (up past v1.14: the vmclock had none) or
/// loses (down to v1.14) when the model's allocator moves to `layout`.
fn vmclock_gsi(m: &Snapshot, layout: &str) -> Option<u32> {
    let c = super::device_model::model_vmclock(m)?;
    let to_has_gsi = ladder::rank(layout)? > 2;
    match (c.gsi, to_has_gsi) {
        (None, true) => legacy_next_id(m),
        (Some(g), false) => Some(g),
        _ => None,
    }
}

/// The model's resource allocator as `layout`'s: its own; another layout's moved along
/// the [`ladder`] (it records this VM's allocations, which the guest's memory reflects); else
/// `defaults` (the release's allocation for a VM without devices). Fields the source lacks keep
/// the defaults' values, except the GSI allocators (11.0.0 no longer saves them; 6.0.0 has no
/// allocator): their `next_id` is what allocating the model's interrupt lines in order leaves
/// behind, as the release would have recorded it (legacy GSIs: the devices' MMIO and ACPI
/// interrupt lines; MSI GSIs: the PCI devices' MSI-X vectors; no freed ids).
///
/// # Errors
/// The model's allocator extension is not an allocator.
pub(crate) fn alloc_for(
    m: &Snapshot,
    layout: &str,
    defaults: &Allocator,
) -> Result<Allocator, WriteError> {
    let mut out = defaults.clone();
    let ext = m.extensions.get(KEY_ALLOC);
    let v = match ext {
        Some(e) => {
            let a: Allocator = value_as(&e.value, KEY_ALLOC, layout)?;
            if e.layout == layout {
                Some(a)
            } else {
                ladder::allocator(
                    &e.layout,
                    layout,
                    a,
                    vmclock_gsi(m, layout),
                    &defaults.past_mmio64_memory,
                )
            }
        }
        None => None,
    };
    // Derive only for a Firecracker model with devices whose allocator lacks them.
    let derive = ext.is_some()
        || m.devices
            .iter()
            .any(|d| d.virtio.is_some() && matches!(d.transport, Some(Transport::Mmio { .. })));
    let has_legacy = v.as_ref().is_some_and(|v| v.gsi_legacy_allocator.is_some());
    let has_msi = v.as_ref().is_some_and(|v| v.gsi_msi_allocator.is_some());
    if let Some(v) = v {
        out.mmio32_memory = v.mmio32_memory;
        out.mmio64_memory = v.mmio64_memory;
        out.system_memory = v.system_memory;
        if v.past_mmio64_memory.is_some() {
            out.past_mmio64_memory = v.past_mmio64_memory;
        }
        if v.gsi_legacy_allocator.is_some() {
            out.gsi_legacy_allocator = v.gsi_legacy_allocator;
        }
        if v.gsi_msi_allocator.is_some() {
            out.gsi_msi_allocator = v.gsi_msi_allocator;
        }
    }
    if derive
        && !has_legacy
        && let Some(a) = &mut out.gsi_legacy_allocator
    {
        let vmclock_held = ladder::rank(layout).is_none_or(|r| r > 2);
        let used = m.devices.iter().filter_map(|d| match d.transport {
            Some(Transport::Mmio { irq, .. }) => irq,
            Some(Transport::Address { irq, .. })
                if d.kind != DeviceKind::VmClock || vmclock_held =>
            {
                irq
            }
            _ => None,
        });
        derive_next_id(a, used);
    }
    if derive
        && !has_msi
        && let Some(a) = &mut out.gsi_msi_allocator
    {
        let mut vectors = super::device_model::msi_vectors(m);
        for d in &m.devices {
            if let Some(raw) = &d.raw
                && raw.value["list"]
                    .as_str()
                    .is_some_and(|l| l.starts_with("pci."))
            {
                collect_vectors(&raw.value["state"], &mut vectors);
            }
        }
        derive_next_id(a, vectors.into_iter());
    }
    Ok(out)
}

/// The id after the highest of `used` within the allocator's range (its base when none is), as
/// an allocator that handed them out in order records it; none past the range's end.
fn derive_next_id(alloc: &mut IdAllocator, used: impl Iterator<Item = u32>) {
    let (base, end) = (alloc.range_base, alloc.range_end);
    let next = used
        .filter(|g| (base..=end).contains(g))
        .max()
        .map_or(Some(base), |g| g.checked_add(1));
    alloc.next_id = next.filter(|&n| n <= end);
}

fn collect_vectors(v: &Value, out: &mut Vec<u32>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("vectors", Value::Array(a)) => out.extend(
                        a.iter()
                            .filter_map(Value::as_u64)
                            .filter_map(|g| u32::try_from(g).ok()),
                    ),
                    _ => collect_vectors(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_vectors(x, out)),
        _ => {}
    }
}
