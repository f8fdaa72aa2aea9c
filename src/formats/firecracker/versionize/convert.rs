//! Versionize-era state ↔ the neutral model.
//!
//! Every value reaches the same model place the serde-era converters use (the KVM structures
//! have not changed since), so a VM reads into the same model whichever release stored it and
//! converts to any serde-era layout. Fields a data version does not have stay absent in the
//! model (`smt`, `cpu_template` and `boot_source` before data version 6, `tsc_khz` before 3);
//! the serde-era writers then supply their defaults and the converter reports them. KVM
//! structures whose bytes the typed model does not reproduce (non-zero padding or reserved
//! words) travel in the [`KEY_RAW`] extension, used again only while the typed value agrees.

use super::state::{
    CPU_TEMPLATE_NONE, CPU_TEMPLATES, DeviceStates, KvmCapability, MAX_MSR_ENTRIES, MemoryRegion,
    MicrovmState, VmInfo, VmState, type_versions,
};
use crate::formats::firecracker::convert_common as cc;
use crate::formats::firecracker::convert_v2_v5 as c5;
use crate::formats::firecracker::v6::devices::HugePageConfig;
use crate::formats::firecracker::wire::Blob;
use crate::formats::firecracker::{Layout, WriteError};
use crate::kvm_abi as k;
use crate::model::*;
use serde_json::{Map, Value, json};

/// Extension holding the raw bytes of KVM structures the typed model does not reproduce:
/// `{"vcpu[0].lapic": "hex", "vm_state.ioapic": "hex", ...}`.
pub const KEY_RAW: &str = "firecracker/versionize_raw";

fn layout_id(dv: u16) -> &'static str {
    Layout::Versionize(dv).info().id
}

/// The state → model.
pub fn to_model(s: &MicrovmState) -> Snapshot {
    let dv = s.data_version;
    let tv = type_versions(dv);
    let caps: Vec<String> = s
        .vm_state
        .kvm_cap_modifiers
        .iter()
        .map(|c| match c {
            KvmCapability::Add(n) => n.to_string(),
            KvmCapability::Remove(n) => format!("!{n}"),
        })
        .collect();
    let template = CPU_TEMPLATES
        .get(s.vm_info.cpu_template as usize)
        .copied()
        .unwrap_or("None");
    let mut m = c5::base(
        Layout::Versionize(dv),
        Arch::X86_64,
        c5::Info {
            mem_size_mib: s.vm_info.mem_size_mib,
            smt: s.vm_info.smt,
            cpu_template: template.to_string(),
            boot: &s.vm_info.boot_source,
            huge_pages: &HugePageConfig::None,
            caps: &caps,
        },
        s.memory_state
            .iter()
            .map(|r| (r.base_address, r.size, Some(r.offset))),
    );
    // These releases have no huge-page setting, and before VmInfo v2 no SMT, template or boot
    // source: absent, not defaulted.
    m.vm.huge_pages = None;
    if tv.vm_info < 2 {
        m.vm.smt = None;
        m.vm.cpu_template = None;
        m.vm.boot_source = None;
    }
    let v = &s.vm_state;
    m.platform = Platform::X86_64(Box::new(cc::x86_platform_to_model(
        &v.pitstate,
        &v.clock,
        &v.pic_master,
        &v.pic_slave,
        &v.ioapic,
    )));
    m.vcpus = c5::x86_vcpus_to_model(&s.vcpu_states);
    if let Some(i) = s.device_states.mmds_version {
        let name = if i == 0 { "V1" } else { "V2" };
        // `MmdsVersionState` is the same enum in formats 2.0.0–6.0.0: its raw state is theirs.
        m.devices = c5::devices_to_model(&json!({ "mmds_version": name }), "firecracker-2.0.0");
    }
    let raw = raw_blobs(s, &m);
    if !raw.is_empty() {
        m.extensions
            .insert(KEY_RAW.into(), cc::ext(layout_id(dv), &Value::Object(raw)));
    }
    m
}

/// Each KVM structure of `s` with the bytes the model gives back for it.
fn blob_pairs<'a>(
    s: &'a MicrovmState,
    back: &'a MicrovmState,
) -> Vec<(String, &'a Blob, &'a Blob)> {
    let mut out = Vec::new();
    let (a, b) = (&s.vm_state, &back.vm_state);
    out.push(("vm_state.pitstate".to_string(), &a.pitstate, &b.pitstate));
    out.push(("vm_state.clock".to_string(), &a.clock, &b.clock));
    out.push((
        "vm_state.pic_master".to_string(),
        &a.pic_master,
        &b.pic_master,
    ));
    out.push(("vm_state.pic_slave".to_string(), &a.pic_slave, &b.pic_slave));
    out.push(("vm_state.ioapic".to_string(), &a.ioapic, &b.ioapic));
    for (n, (a, b)) in s.vcpu_states.iter().zip(&back.vcpu_states).enumerate() {
        let p = format!("vcpu[{n}]");
        out.push((format!("{p}.cpuid.header"), &a.cpuid.0, &b.cpuid.0));
        for (i, (x, y)) in a.cpuid.1.iter().zip(&b.cpuid.1).enumerate() {
            out.push((format!("{p}.cpuid.entries[{i}]"), x, y));
        }
        for (c, (ma, mb)) in a.saved_msrs.iter().zip(&b.saved_msrs).enumerate() {
            out.push((format!("{p}.saved_msrs[{c}].header"), &ma.0, &mb.0));
            for (i, (x, y)) in ma.1.iter().zip(&mb.1).enumerate() {
                out.push((format!("{p}.saved_msrs[{c}].entries[{i}]"), x, y));
            }
        }
        out.push((format!("{p}.debug_regs"), &a.debug_regs, &b.debug_regs));
        out.push((format!("{p}.lapic"), &a.lapic, &b.lapic));
        out.push((format!("{p}.mp_state"), &a.mp_state, &b.mp_state));
        out.push((format!("{p}.regs"), &a.regs, &b.regs));
        out.push((format!("{p}.sregs"), &a.sregs, &b.sregs));
        out.push((format!("{p}.vcpu_events"), &a.vcpu_events, &b.vcpu_events));
        out.push((format!("{p}.xcrs"), &a.xcrs, &b.xcrs));
        out.push((format!("{p}.xsave"), &a.xsave, &b.xsave));
    }
    out
}

/// The raw bytes of every KVM structure the typed model alone does not give back.
fn raw_blobs(s: &MicrovmState, m: &Snapshot) -> Map<String, Value> {
    let mut raw = Map::new();
    let Ok(back) = typed_from_model(m, s.data_version) else {
        return raw;
    };
    for (key, a, b) in blob_pairs(s, &back) {
        if a != b {
            raw.insert(key, Value::String(to_hex(&a.0)));
        }
    }
    raw
}

/// The model → state at data version `dv`.
///
/// # Errors
/// [`WriteError::Model`] when the model holds what data version `dv` cannot (aarch64, virtio
/// devices, huge pages, AMX state, capability modifiers before data version 9, more MSRs than
/// one `kvm_msrs` holds before data version 6).
pub fn from_model(m: &Snapshot, dv: u16) -> Result<MicrovmState, WriteError> {
    let mut s = typed_from_model(m, dv)?;
    // Raw bytes replace a structure only while they still decode to the model's value.
    if let Some(Value::Object(raw)) = m.extensions.get(KEY_RAW).map(|e| &e.value) {
        let mut replacements = Vec::new();
        for (key, have, _) in blob_pairs(&s, &s) {
            let Some(Value::String(hex)) = raw.get(&key) else {
                continue;
            };
            match from_hex(hex) {
                Ok(bytes) if bytes.len() == have.0.len() => replacements.push((key, bytes)),
                _ => {}
            }
        }
        let typed = typed_parts(&s);
        for (key, bytes) in replacements {
            let mut t = s.clone();
            set_blob(&mut t, &key, bytes);
            if typed_parts(&t) == typed {
                s = t;
            }
        }
    }
    Ok(s)
}

/// The typed model values of the KVM structures (to check a raw replacement against).
fn typed_parts(s: &MicrovmState) -> (Vec<Vcpu>, Platform) {
    let v = &s.vm_state;
    (
        c5::x86_vcpus_to_model(&s.vcpu_states),
        Platform::X86_64(Box::new(cc::x86_platform_to_model(
            &v.pitstate,
            &v.clock,
            &v.pic_master,
            &v.pic_slave,
            &v.ioapic,
        ))),
    )
}

fn set_blob(s: &mut MicrovmState, key: &str, bytes: Vec<u8>) {
    let b = Blob(bytes);
    let v = &mut s.vm_state;
    match key {
        "vm_state.pitstate" => v.pitstate = b,
        "vm_state.clock" => v.clock = b,
        "vm_state.pic_master" => v.pic_master = b,
        "vm_state.pic_slave" => v.pic_slave = b,
        "vm_state.ioapic" => v.ioapic = b,
        _ => {
            let Some(rest) = key.strip_prefix("vcpu[") else {
                return;
            };
            let Some((n, field)) = rest.split_once("].") else {
                return;
            };
            let Some(c) = n
                .parse::<usize>()
                .ok()
                .and_then(|n| s.vcpu_states.get_mut(n))
            else {
                return;
            };
            let index = |f: &str, pre: &str| -> Option<usize> {
                f.strip_prefix(pre)?.strip_suffix(']')?.parse().ok()
            };
            match field {
                "cpuid.header" => c.cpuid.0 = b,
                "debug_regs" => c.debug_regs = b,
                "lapic" => c.lapic = b,
                "mp_state" => c.mp_state = b,
                "regs" => c.regs = b,
                "sregs" => c.sregs = b,
                "vcpu_events" => c.vcpu_events = b,
                "xcrs" => c.xcrs = b,
                "xsave" => c.xsave = b,
                f => {
                    if let Some(e) = index(f, "cpuid.entries[").and_then(|i| c.cpuid.1.get_mut(i)) {
                        *e = b;
                    } else if let Some((chunk, rest)) = f
                        .strip_prefix("saved_msrs[")
                        .and_then(|r| r.split_once("]."))
                        && let Some(ch) = chunk
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| c.saved_msrs.get_mut(i))
                    {
                        if rest == "header" {
                            ch.0 = b;
                        } else if let Some(e) =
                            index(rest, "entries[").and_then(|i| ch.1.get_mut(i))
                        {
                            *e = b;
                        }
                    }
                }
            }
        }
    }
}

fn typed_from_model(m: &Snapshot, dv: u16) -> Result<MicrovmState, WriteError> {
    let id = layout_id(dv);
    let tv = type_versions(dv);
    if m.arch() != Arch::X86_64 {
        return Err(WriteError::Model(format!(
            "{id}: snaptool writes x86_64 versionize-era states only"
        )));
    }
    match m.vm.huge_pages.as_deref() {
        None | Some("None") => {}
        Some(o) => {
            return Err(WriteError::Model(format!(
                "{id} has no huge-page setting and cannot hold huge_pages = {o:?}"
            )));
        }
    }
    let c = c5::common_from_model(m, id)?;
    let caps = cc::caps_to_model(&c.caps).ok_or_else(|| {
        WriteError::Model(format!(
            "{id}: a capability modifier is not a number: {:?}",
            c.caps
        ))
    })?;
    if tv.vm_state < 2 && !caps.is_empty() {
        return Err(WriteError::Model(format!(
            "{id} has no kvm_cap_modifiers (data version 9 added them); the model has {}",
            caps.len()
        )));
    }
    let template = m.vm.cpu_template.as_deref().unwrap_or("None");
    let cpu_template = CPU_TEMPLATES
        .iter()
        .position(|t| *t == template)
        .map(|i| i as u32)
        .ok_or_else(|| {
            WriteError::Model(format!(
                "{id}: CPU template {template:?} is not one of {CPU_TEMPLATES:?}"
            ))
        })?;
    let vm_info = if tv.vm_info >= 2 {
        VmInfo {
            mem_size_mib: c.mem_size_mib,
            smt: c.smt,
            cpu_template,
            boot_source: c.boot,
        }
    } else {
        VmInfo {
            mem_size_mib: c.mem_size_mib,
            smt: false,
            cpu_template: CPU_TEMPLATE_NONE,
            boot_source: super::state::empty_boot(),
        }
    };
    let [pitstate, clock, pic_master, pic_slave, ioapic] = c5::x86_platform_from_model(m)?;
    let mut vcpu_states = c5::x86_vcpus_from_model(m, id)?;
    for (n, v) in vcpu_states.iter_mut().enumerate() {
        if tv.vcpu < 3 && v.saved_msrs.len() != 1 {
            // One `kvm_msrs` before data version 6.
            let entries: Vec<Blob> = v.saved_msrs.iter().flat_map(|c| c.1.clone()).collect();
            if entries.len() > MAX_MSR_ENTRIES {
                return Err(WriteError::Model(format!(
                    "vCPU {n}: {id} holds one kvm_msrs of at most {MAX_MSR_ENTRIES} MSRs; the model has {}",
                    entries.len()
                )));
            }
            v.saved_msrs = vec![(Blob(k::fam_header(entries.len() as u32)), entries)];
        }
        if tv.vcpu < 2 {
            v.tsc_khz = None;
        }
    }
    let mut device_states = DeviceStates::default();
    for d in &m.devices {
        let raw = d.raw.as_ref().map(|r| &r.value);
        let list = raw.and_then(|r| r.get("list")).and_then(Value::as_str);
        match (&d.kind, list) {
            (_, Some("mmio.mmds_version")) if tv.devices >= 3 => {
                device_states.mmds_version =
                    match raw.and_then(|r| r.get("state")).and_then(Value::as_str) {
                        Some("V1") => Some(0),
                        Some("V2") => Some(1),
                        _ => {
                            return Err(WriteError::Model(format!(
                                "device `{}`: MMDS version is neither V1 nor V2",
                                d.id
                            )));
                        }
                    };
            }
            // Platform devices later releases record and these did not (VMGenID, vmclock, the
            // serial console's registers, aarch64 MMIO placements): not part of a
            // versionize-era x86_64 state.
            (
                DeviceKind::VmGenId
                | DeviceKind::VmClock
                | DeviceKind::Serial
                | DeviceKind::Rtc
                | DeviceKind::BootTimer,
                _,
            ) => {}
            _ => {
                return Err(WriteError::Model(format!(
                    "device `{}` ({}): snaptool writes versionize-era states without virtio devices only",
                    d.id,
                    d.kind.name()
                )));
            }
        }
    }
    Ok(MicrovmState {
        data_version: dv,
        vm_info,
        memory_state: m
            .memory
            .regions
            .iter()
            .map(|r| MemoryRegion {
                base_address: r.guest_addr,
                size: r.size,
                offset: r.file_offset,
            })
            .collect(),
        vm_state: VmState {
            pitstate,
            clock,
            pic_master,
            pic_slave,
            ioapic,
            kvm_cap_modifiers: caps
                .iter()
                .map(|c| match c {
                    KvmCapModifier::Add(n) => KvmCapability::Add(*n),
                    KvmCapModifier::Remove(n) => KvmCapability::Remove(*n),
                })
                .collect(),
        },
        vcpu_states,
        device_states,
    })
}

/// The fields [`from_model`] fills with Firecracker's defaults for data version `dv` because
/// the model does not carry them.
pub fn invented(m: &Snapshot, dv: u16) -> Vec<String> {
    let tv = type_versions(dv);
    let mut out = Vec::new();
    if tv.vm_info >= 2 {
        if m.vm.smt.is_none() {
            out.push("vm_info.smt = false".to_string());
        }
        if m.vm.cpu_template.is_none() {
            out.push("vm_info.cpu_template = None".to_string());
        }
        if m.vm.boot_source.is_none() {
            out.push("vm_info.boot_source = empty".to_string());
        }
    }
    out
}
