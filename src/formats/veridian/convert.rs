//! VeridianOS file ↔ the neutral model.
//!
//! Native fields carry what VeridianOS has a place for (GPRs, the VMCS guest-state fields, MSRs,
//! the LAPIC snapshot, page bytes, named device blobs). The rest of the model travels in the
//! `snaptool/model-rest` device blob as JSON, *minus* what the native fields hold exactly, so an
//! edit of a native field always shows. Where the native form is coarser than the model (segment
//! flag bytes beyond their bit widths, the LAPIC ID register's low bits), the blob keeps the exact
//! value and it is used only while the native field still encodes to what was written.

use super::lapic::{self, LapicSnapshot};
use super::vmcs::{self, VmcsField};
use super::*;
use crate::memory::{MemError, MemoryImage};
use crate::model::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the `snaptool/model-rest` JSON.
pub(super) const REST_VERSION: u32 = 1;
/// Version of the `snaptool/device/<id>` JSON.
pub(super) const DEVICE_VERSION: u32 = 1;
/// Model extension holding VMCS fields snaptool does not map, per vCPU.
pub(super) const KEY_VMCS_EXTRA: &str = "veridian/vmcs_extra";
/// Extension holding the `source` provenance of a file's `snaptool/model-rest` blob, so that
/// writing the model again (decode/encode) records the same source.
pub(super) const KEY_SOURCE: &str = "veridian/source";
/// Layout id of this format.
pub(super) const LAYOUT: &str = "veridian-1";
/// Device kind of a plain VeridianOS device blob.
pub(super) const OPAQUE: &str = "opaque";

const MSR_SYSENTER_CS: u32 = 0x174;
const MSR_SYSENTER_ESP: u32 = 0x175;
const MSR_SYSENTER_EIP: u32 = 0x176;
const MSR_PAT: u32 = 0x277;
const MSR_TSC_DEADLINE: u32 = 0x6E0;

/// The `snaptool/model-rest` blob: the model minus what the native fields carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ModelRest {
    /// Always `snaptool/model-rest`.
    pub format: String,
    /// [`REST_VERSION`].
    pub version: u32,
    /// Where the model came from (informational).
    pub source: Option<Provenance>,
    /// Machine configuration (`vm_id`/`created` give way to the header when it disagrees).
    pub vm: VmInfo,
    /// Memory regions (used when they total `memory_pages`).
    pub memory: MemoryLayout,
    /// Per vCPU: the model vCPU with the natively carried fields zeroed.
    pub vcpus: Vec<X86Vcpu>,
    /// Per vCPU: the values snaptool wrote to fields VeridianOS holds twice.
    #[serde(default)]
    pub mirrors: Vec<Mirrors>,
    /// VM-wide state.
    pub platform: Platform,
    /// Model extensions.
    #[serde(default)]
    pub extensions: BTreeMap<String, Extension>,
}

/// The values written to both copies of a doubly held field: when the copies disagree on read,
/// the one still equal to this value is the unedited one and the other wins.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Mirrors {
    /// RIP (GeneralRegisters and GUEST_RIP).
    pub rip: u64,
    /// RSP.
    pub rsp: u64,
    /// RFLAGS.
    pub rflags: u64,
    /// IA32_SYSENTER_CS (MSR list and VMCS), when written to the VMCS.
    pub sysenter_cs: Option<u64>,
    /// IA32_SYSENTER_ESP.
    pub sysenter_esp: Option<u64>,
    /// IA32_SYSENTER_EIP.
    pub sysenter_eip: Option<u64>,
    /// IA32_PAT.
    pub pat: Option<u64>,
    /// IA32_TSC_DEADLINE (MSR list and LapicSnapshot).
    pub tsc_deadline: Option<u64>,
    /// LAPIC software enable (LapicSnapshot `enabled` and SVR bit 8).
    pub lapic_enabled: Option<bool>,
}

/// One model device in a `snaptool/device/<id>` blob.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct DeviceJson {
    /// [`DEVICE_VERSION`].
    pub version: u32,
    /// The device (its `id` gives way to the blob name).
    pub device: Device,
}

/// What the `snaptool/model-rest` blob of a file is.
#[derive(Debug)]
pub(super) enum Rest {
    /// No such blob (a file from another producer).
    Absent,
    /// Parsed.
    Ok(Box<ModelRest>),
    /// Present but unusable: why.
    Bad(String),
}

pub(super) fn rest_of(f: &VeridianFile) -> Rest {
    let Some(d) = f.device_states.iter().find(|d| d.name == MODEL_REST) else {
        return Rest::Absent;
    };
    match serde_json::from_slice::<ModelRest>(&d.data) {
        Ok(r) if r.format != MODEL_REST => Rest::Bad(format!("format is {:?}", r.format)),
        Ok(r) if r.version != REST_VERSION => Rest::Bad(format!(
            "version {} (snaptool reads {REST_VERSION})",
            r.version
        )),
        Ok(r) => Rest::Ok(Box::new(r)),
        Err(e) => Rest::Bad(e.to_string()),
    }
}

fn rest(f: &VeridianFile) -> Option<ModelRest> {
    match rest_of(f) {
        Rest::Ok(r) => Some(*r),
        _ => None,
    }
}

/// The memory layout `to_model` gives: the blob's regions when they total `memory_pages`, else
/// one DRAM region of `memory_pages` × 4096 bytes at guest-physical 0.
pub(super) fn resolved_memory(f: &VeridianFile) -> MemoryLayout {
    resolve_memory(f, rest(f).as_ref())
}

fn resolve_memory(f: &VeridianFile, rest: Option<&ModelRest>) -> MemoryLayout {
    let pages = f.header.memory_pages;
    if let Some(r) = rest
        && r.memory.total_size().div_ceil(PAGE_SIZE) == pages
    {
        return r.memory.clone();
    }
    let size = pages.saturating_mul(PAGE_SIZE);
    MemoryLayout {
        regions: if size == 0 {
            Vec::new()
        } else {
            vec![MemoryRegion {
                guest_addr: 0,
                size,
                file_offset: 0,
                explicit_offset: false,
                kind: RegionKind::Dram,
                plugged: Vec::new(),
                read_only: false,
            }]
        },
        page_size: PAGE_SIZE,
    }
}

/// The provenance of a file of this format.
pub(super) fn provenance() -> Provenance {
    Provenance {
        format: "veridian".into(),
        version: VERSION.to_string(),
        layout: LAYOUT.into(),
        encoding: "snaptool byte stream of the repr(C) VmSnapshot parts (little-endian)".into(),
        arch: Arch::X86_64,
        releases: vec!["VeridianOS v0.16.4 and later (kernel VmSnapshot)".into()],
    }
}

/// Two native copies of one value: when they differ, the one still equal to what snaptool wrote
/// (`witness`) is the unedited one, so the other wins; without a witness, `primary` wins.
pub(super) fn pick(primary: u64, secondary: u64, witness: Option<u64>) -> u64 {
    if primary != secondary && witness == Some(primary) {
        secondary
    } else {
        primary
    }
}

/// The header number for a model text (`vm_id`, `created`): the text when it is a decimal u64,
/// else 0.
fn text_number(t: Option<&str>) -> u64 {
    t.and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// The model text for a header number: the blob's text while it still encodes to the number.
fn resolve_text(rest: Option<Option<&str>>, native: u64) -> Option<String> {
    match rest {
        Some(t) if text_number(t) == native => t.map(str::to_string),
        _ => Some(native.to_string()),
    }
}

fn default_vcpu(i: usize) -> X86Vcpu {
    let mut v = X86Vcpu::default();
    // xAPIC at VeridianOS's LAPIC_BASE_ADDR, globally enabled, BSP = vCPU 0.
    v.sregs.apic_base = 0xFEE0_0000 | 1 << 11 | if i == 0 { 1 << 8 } else { 0 };
    v
}

fn regs_to_model(g: &GuestRegisters) -> Regs {
    Regs {
        rax: g.rax,
        rbx: g.rbx,
        rcx: g.rcx,
        rdx: g.rdx,
        rsi: g.rsi,
        rdi: g.rdi,
        rsp: g.rsp,
        rbp: g.rbp,
        r8: g.r8,
        r9: g.r9,
        r10: g.r10,
        r11: g.r11,
        r12: g.r12,
        r13: g.r13,
        r14: g.r14,
        r15: g.r15,
        rip: g.rip,
        rflags: g.rflags,
    }
}

fn regs_from_model(r: &Regs) -> GuestRegisters {
    GuestRegisters {
        rax: r.rax,
        rbx: r.rbx,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        rbp: r.rbp,
        rsp: r.rsp,
        r8: r.r8,
        r9: r.r9,
        r10: r.r10,
        r11: r.r11,
        r12: r.r12,
        r13: r.r13,
        r14: r.r14,
        r15: r.r15,
        rip: r.rip,
        rflags: r.rflags,
    }
}

/// Per vCPU, the position of its payload in each per-vCPU vector.
#[derive(Default, Clone, Copy)]
pub(super) struct VcpuRegions {
    pub regs: Option<usize>,
    pub vmcs: Option<usize>,
    pub msrs: Option<usize>,
    pub lapic: Option<usize>,
}

pub(super) fn vcpu_regions(f: &VeridianFile) -> Vec<VcpuRegions> {
    let n = (f.header.vcpu_count as usize).min(VCPU_COUNT_LIMIT as usize);
    let mut out = vec![VcpuRegions::default(); n];
    let mut c = [0usize; 4];
    for r in &f.regions {
        let slot = match r.kind() {
            Some(RegionType::GeneralRegisters) => 0,
            Some(RegionType::VmcsState) => 1,
            Some(RegionType::MsrValues) => 2,
            Some(RegionType::LapicState) => 3,
            _ => continue,
        };
        let k = c[slot];
        c[slot] += 1;
        if let Some(v) = out.get_mut(r.vcpu_index as usize) {
            let s = match slot {
                0 => &mut v.regs,
                1 => &mut v.vmcs,
                2 => &mut v.msrs,
                _ => &mut v.lapic,
            };
            s.get_or_insert(k);
        }
    }
    out
}

fn set_msr(msrs: &mut Vec<Msr>, index: u32, native: u64, witness: Option<u64>) {
    match msrs.iter_mut().find(|m| m.index == index) {
        Some(m) => m.value = pick(native, m.value, witness),
        None => msrs.push(Msr {
            index,
            value: native,
        }),
    }
}

/// One vCPU of the model: the blob's residue (or defaults), then the native fields over it.
fn vcpu_to_model(
    f: &VeridianFile,
    i: usize,
    at: VcpuRegions,
    base: Option<&X86Vcpu>,
    mir: Option<&Mirrors>,
    extras: &mut Vec<(u32, u64)>,
) -> X86Vcpu {
    let mut v = base.cloned().unwrap_or_else(|| default_vcpu(i));
    if let Some(g) = at.regs.and_then(|k| f.register_states.get(k)) {
        v.regs = regs_to_model(g);
    }
    v.msrs = at
        .msrs
        .and_then(|k| f.msr_states.get(k))
        .map(|l| {
            l.iter()
                .map(|e| Msr {
                    index: e.index,
                    value: e.value,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut mirrored: Vec<(u32, u64, Option<u64>)> = Vec::new();
    for fl in at
        .vmcs
        .and_then(|k| f.vmcs_states.get(k))
        .into_iter()
        .flatten()
    {
        let x = fl.value;
        let s = &mut v.sregs;
        match fl.encoding {
            vmcs::GUEST_RIP => v.regs.rip = pick(x, v.regs.rip, mir.map(|m| m.rip)),
            vmcs::GUEST_RSP => v.regs.rsp = pick(x, v.regs.rsp, mir.map(|m| m.rsp)),
            vmcs::GUEST_RFLAGS => v.regs.rflags = pick(x, v.regs.rflags, mir.map(|m| m.rflags)),
            vmcs::GUEST_CR0 => s.cr0 = x,
            vmcs::GUEST_CR3 => s.cr3 = x,
            vmcs::GUEST_CR4 => s.cr4 = x,
            vmcs::GUEST_IA32_EFER => s.efer = x,
            vmcs::GUEST_DR7 => v.debug_regs.get_or_insert_with(Default::default).dr7 = x,
            vmcs::GUEST_SYSENTER_CS => {
                mirrored.push((MSR_SYSENTER_CS, x, mir.and_then(|m| m.sysenter_cs)))
            }
            vmcs::GUEST_SYSENTER_ESP => {
                mirrored.push((MSR_SYSENTER_ESP, x, mir.and_then(|m| m.sysenter_esp)))
            }
            vmcs::GUEST_SYSENTER_EIP => {
                mirrored.push((MSR_SYSENTER_EIP, x, mir.and_then(|m| m.sysenter_eip)))
            }
            vmcs::GUEST_IA32_PAT => mirrored.push((MSR_PAT, x, mir.and_then(|m| m.pat))),
            vmcs::GUEST_GDTR_BASE => s.gdt.base = x,
            vmcs::GUEST_GDTR_LIMIT => s.gdt.limit = x as u16,
            vmcs::GUEST_IDTR_BASE => s.idt.base = x,
            vmcs::GUEST_IDTR_LIMIT => s.idt.limit = x as u16,
            e => match vmcs::segment_field(e) {
                Some((seg, part)) => {
                    let sg = vmcs::segment_mut(s, seg);
                    match part {
                        vmcs::SegField::Selector => sg.selector = x as u16,
                        vmcs::SegField::Base => sg.base = x,
                        vmcs::SegField::Limit => sg.limit = x as u32,
                        vmcs::SegField::AccessRights => {
                            // The blob's exact flag bytes stand while they encode to this value.
                            if vmcs::encode_ar(sg) != x as u32 {
                                vmcs::decode_ar(x as u32, sg);
                            }
                        }
                    }
                }
                None => extras.push((e, x)),
            },
        }
    }
    for (index, value, witness) in mirrored {
        set_msr(&mut v.msrs, index, value, witness);
    }
    match at.lapic.and_then(|k| f.lapic_states.get(k)) {
        Some(l) => {
            let mut page = match &v.lapic {
                Some(p) => crate::kvm_abi::fit(&p.regs.0, lapic::PAGE),
                None => lapic::default_page(),
            };
            let mut l = *l;
            let svr_bit = l.svr & lapic::SVR_ENABLE != 0;
            if svr_bit != l.enabled && mir.and_then(|m| m.lapic_enabled) == Some(l.enabled) {
                l.enabled = svr_bit;
            }
            l.apply_to_page(&mut page);
            v.lapic = Some(Lapic { regs: Bytes(page) });
            match v.msrs.iter_mut().find(|m| m.index == MSR_TSC_DEADLINE) {
                Some(m) => {
                    m.value = pick(m.value, l.tsc_deadline, mir.and_then(|m| m.tsc_deadline))
                }
                None if l.tsc_deadline != 0 => v.msrs.push(Msr {
                    index: MSR_TSC_DEADLINE,
                    value: l.tsc_deadline,
                }),
                None => {}
            }
        }
        None => v.lapic = None,
    }
    v
}

fn opaque_device(d: &DeviceBlob) -> Device {
    let mut dev = Device::new(d.name.clone(), DeviceKind::Other(OPAQUE.into()));
    dev.blob = Some(Bytes(d.data.clone()));
    dev
}

/// A `snaptool/device/<id>` blob as a model device, or why not.
pub(super) fn device_from_json(id: &str, data: &[u8]) -> Result<Device, String> {
    let j: DeviceJson = serde_json::from_slice(data).map_err(|e| e.to_string())?;
    if j.version != DEVICE_VERSION {
        return Err(format!(
            "version {} (snaptool reads {DEVICE_VERSION})",
            j.version
        ));
    }
    let mut d = j.device;
    d.id = id.to_string();
    Ok(d)
}

/// File → model.
pub(super) fn to_model(f: &VeridianFile) -> Snapshot {
    let rest = rest(f);
    let h = &f.header;
    let at = vcpu_regions(f);
    let mut extras: BTreeMap<String, Vec<(u32, u64)>> = BTreeMap::new();
    let vcpus = at
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut x = Vec::new();
            let v = vcpu_to_model(
                f,
                i,
                *a,
                rest.as_ref().and_then(|r| r.vcpus.get(i)),
                rest.as_ref().and_then(|r| r.mirrors.get(i)),
                &mut x,
            );
            if !x.is_empty() {
                extras.insert(i.to_string(), x);
            }
            Vcpu::X86_64(Box::new(v))
        })
        .collect();
    let mut vm = rest.as_ref().map(|r| r.vm.clone()).unwrap_or_default();
    vm.vm_id = resolve_text(rest.as_ref().map(|r| r.vm.vm_id.as_deref()), h.vm_id);
    vm.created = resolve_text(rest.as_ref().map(|r| r.vm.created.as_deref()), h.timestamp);
    let mut devices = Vec::new();
    for d in &f.device_states {
        if d.name == MODEL_REST {
            continue;
        }
        let dev = match d.name.strip_prefix(DEVICE_PREFIX) {
            Some(id) => device_from_json(id, &d.data).unwrap_or_else(|_| opaque_device(d)),
            None => opaque_device(d),
        };
        devices.push(dev);
    }
    let mut extensions = rest
        .as_ref()
        .map(|r| r.extensions.clone())
        .unwrap_or_default();
    extensions.remove(KEY_VMCS_EXTRA);
    extensions.remove(KEY_SOURCE);
    // A source other than VeridianOS itself (the model the file was converted from).
    if let Some(src) = rest
        .as_ref()
        .and_then(|r| r.source.as_ref())
        .filter(|s| s.format != "veridian")
    {
        extensions.insert(
            KEY_SOURCE.into(),
            Extension {
                layout: LAYOUT.into(),
                value: serde_json::to_value(src).unwrap_or_default(),
            },
        );
    }
    if !extras.is_empty() {
        extensions.insert(
            KEY_VMCS_EXTRA.into(),
            Extension {
                layout: LAYOUT.into(),
                value: serde_json::to_value(&extras).unwrap_or_default(),
            },
        );
    }
    Snapshot {
        provenance: provenance(),
        vm,
        memory: resolve_memory(f, rest.as_ref()),
        vcpus,
        platform: match rest.as_ref().map(|r| &r.platform) {
            Some(p @ Platform::X86_64(_)) => p.clone(),
            _ => Platform::X86_64(Box::default()),
        },
        devices,
        extensions,
    }
}

/// Why a model cannot be written as a VeridianOS file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FromModelError {
    /// VeridianOS snapshots are x86_64 only.
    #[error("VeridianOS snapshots are x86_64 (Intel VT-x) only; this model is {0}")]
    Arch(&'static str),
    /// Something in the model has no possible encoding.
    #[error("{0}")]
    Model(String),
    /// The memory image could not be read or does not match the model.
    #[error("memory image: {0}")]
    Memory(#[from] MemError),
}

fn first_msr(v: &X86Vcpu, index: u32) -> Option<u64> {
    v.msrs.iter().find(|m| m.index == index).map(|m| m.value)
}

/// The VMCS field list of a vCPU, in the kernel's order (`serialize_guest_registers`, then
/// `serialize_guest_segments`), then the carried unmapped fields.
fn vmcs_fields(v: &X86Vcpu, extras: &[(u32, u64)], mir: &mut Mirrors) -> Vec<VmcsField> {
    let mut out = Vec::new();
    let mut push = |encoding: u32, value: u64| out.push(VmcsField { encoding, value });
    let s = &v.sregs;
    push(vmcs::GUEST_RIP, v.regs.rip);
    push(vmcs::GUEST_RSP, v.regs.rsp);
    push(vmcs::GUEST_RFLAGS, v.regs.rflags);
    push(vmcs::GUEST_CR0, s.cr0);
    push(vmcs::GUEST_CR3, s.cr3);
    push(vmcs::GUEST_CR4, s.cr4);
    if let Some(d) = &v.debug_regs {
        push(vmcs::GUEST_DR7, d.dr7);
    }
    if let Some(x) = first_msr(v, MSR_SYSENTER_CS).filter(|x| *x <= u64::from(u32::MAX)) {
        push(vmcs::GUEST_SYSENTER_CS, x);
        mir.sysenter_cs = Some(x);
    }
    if let Some(x) = first_msr(v, MSR_SYSENTER_ESP) {
        push(vmcs::GUEST_SYSENTER_ESP, x);
        mir.sysenter_esp = Some(x);
    }
    if let Some(x) = first_msr(v, MSR_SYSENTER_EIP) {
        push(vmcs::GUEST_SYSENTER_EIP, x);
        mir.sysenter_eip = Some(x);
    }
    push(vmcs::GUEST_IA32_EFER, s.efer);
    if let Some(x) = first_msr(v, MSR_PAT) {
        push(vmcs::GUEST_IA32_PAT, x);
        mir.pat = Some(x);
    }
    for i in vmcs::KERNEL_SEGMENT_ORDER {
        let sg = vmcs::segment(s, i);
        push(vmcs::selector_enc(i), u64::from(sg.selector));
        push(vmcs::base_enc(i), sg.base);
        push(vmcs::limit_enc(i), u64::from(sg.limit));
        push(vmcs::ar_enc(i), u64::from(vmcs::encode_ar(sg)));
    }
    push(vmcs::GUEST_GDTR_BASE, s.gdt.base);
    push(vmcs::GUEST_GDTR_LIMIT, u64::from(s.gdt.limit));
    push(vmcs::GUEST_IDTR_BASE, s.idt.base);
    push(vmcs::GUEST_IDTR_LIMIT, u64::from(s.idt.limit));
    for &(e, x) in extras {
        let fits = vmcs::field_width(e).is_some_and(|w| w == 64 || x >> w == 0);
        if fits && !vmcs::is_mapped(e) && !out.iter().any(|f| f.encoding == e) {
            out.push(VmcsField {
                encoding: e,
                value: x,
            });
        }
    }
    out
}

/// The vCPU as it goes into the blob: natively carried fields zeroed.
fn strip_vcpu(v: &X86Vcpu) -> X86Vcpu {
    let mut r = v.clone();
    r.regs = Regs::default();
    r.msrs = Vec::new();
    let s = &mut r.sregs;
    s.cr0 = 0;
    s.cr3 = 0;
    s.cr4 = 0;
    s.efer = 0;
    s.gdt = DescriptorTable::default();
    s.idt = DescriptorTable::default();
    for i in 0..8 {
        let sg = vmcs::segment_mut(s, i);
        if vmcs::ar_exact(sg) {
            *sg = Segment::default();
        } else {
            // Keep only the flag bytes the access rights cannot hold exactly.
            sg.selector = 0;
            sg.base = 0;
            sg.limit = 0;
        }
    }
    if let Some(d) = &mut r.debug_regs {
        d.dr7 = 0;
    }
    if let Some(l) = &mut r.lapic {
        LapicSnapshot::strip_page(&mut l.regs.0);
    }
    r
}

fn is_opaque(d: &Device) -> bool {
    d.kind == DeviceKind::Other(OPAQUE.into())
        && d.blob.is_some()
        && d.transport.is_none()
        && d.virtio.is_none()
        && d.host.is_empty()
        && d.uart.is_none()
        && d.vmgenid.is_none()
        && d.raw.is_none()
        && !d.id.starts_with("snaptool/")
}

/// Reads the pages of `img` that hold data and are not all zero, adding each as a MemoryPage.
fn embed_pages(f: &mut VeridianFile, img: &dyn MemoryImage, len: u64) -> Result<u64, MemError> {
    const BATCH: u64 = 256;
    let ps = PAGE_SIZE;
    let mut buf = vec![0u8; (BATCH * ps) as usize];
    let mut next = 0u64; // first page not yet looked at
    let mut seen = 0u64;
    for e in crate::memory::clip(img.extents()?, len) {
        let mut p = (e.offset / ps).max(next);
        let last = e.end().div_ceil(ps);
        while p < last {
            let n = (last - p).min(BATCH);
            let start = p * ps;
            let bytes = (n * ps).min(len - start) as usize;
            buf[..(n * ps) as usize].fill(0);
            img.read_at(start, &mut buf[..bytes])?;
            for (k, page) in buf[..(n * ps) as usize]
                .chunks_exact(ps as usize)
                .enumerate()
            {
                seen += 1;
                if page.iter().any(|&b| b != 0) {
                    f.add_memory_page(p + k as u64, page)
                        .map_err(|e| MemError::io("(VeridianOS pages)", e))?;
                }
            }
            p += n;
        }
        next = next.max(last);
    }
    Ok(seen)
}

/// Model → file. `memory` is the guest memory image (the model's memory file); the bytes of its
/// non-zero pages are embedded. Returns the file (finalized) and notes on what was defaulted or
/// carried.
///
/// # Errors
/// A non-x86_64 model, a model VeridianOS cannot count (no vCPUs, more than 256), a memory image
/// whose length differs from the model's regions, or a read error on it.
pub fn from_model(
    m: &Snapshot,
    memory: Option<&dyn MemoryImage>,
) -> Result<(VeridianFile, Vec<String>), FromModelError> {
    if m.arch() != Arch::X86_64 {
        return Err(FromModelError::Arch(m.arch().name()));
    }
    if !matches!(m.platform, Platform::X86_64(_)) {
        return Err(FromModelError::Arch("x86_64 with aarch64 platform state"));
    }
    let mut vcpus = Vec::with_capacity(m.vcpus.len());
    for (i, v) in m.vcpus.iter().enumerate() {
        match v {
            Vcpu::X86_64(v) => vcpus.push(v.as_ref()),
            Vcpu::Aarch64(_) => {
                return Err(FromModelError::Model(format!(
                    "vcpus[{i}] is an aarch64 vCPU"
                )));
            }
        }
    }
    let n = vcpus.len();
    if n == 0 || n > VCPU_COUNT_LIMIT as usize {
        return Err(FromModelError::Model(format!(
            "{n} vCPUs; a VeridianOS snapshot holds 1 to {VCPU_COUNT_LIMIT}"
        )));
    }
    let mut notes = Vec::new();
    let mut memory_len = m.memory.total_size();
    if let Some(img) = memory {
        if m.memory.regions.is_empty() {
            memory_len = img.len();
            notes.push(format!(
                "the model has no memory regions: memory_pages is taken from the image ({} bytes)",
                img.len()
            ));
        } else if img.len() != memory_len {
            return Err(FromModelError::Memory(MemError::Mismatch(format!(
                "{} is {} bytes; the model's memory regions total {memory_len}",
                img.path(),
                img.len()
            ))));
        }
    }
    let memory_pages = memory_len.div_ceil(PAGE_SIZE);
    let vm_id = text_number(m.vm.vm_id.as_deref());
    if let Some(t) = m.vm.vm_id.as_deref()
        && t.parse::<u64>().is_err()
    {
        notes.push(format!(
            "vm.vm_id {t:?} is not a decimal u64: header vm_id = 0; the text travels in {MODEL_REST}"
        ));
    }
    let timestamp = text_number(m.vm.created.as_deref());
    if let Some(t) = m.vm.created.as_deref()
        && t.parse::<u64>().is_err()
    {
        notes.push(format!(
            "vm.created {t:?} is not a tick count: header timestamp = 0; the text travels in {MODEL_REST}"
        ));
    }
    let mut f = VeridianFile::new(vm_id, n as u32, memory_pages, timestamp);
    let extras: BTreeMap<String, Vec<(u32, u64)>> = m
        .extensions
        .get(KEY_VMCS_EXTRA)
        .and_then(|e| serde_json::from_value(e.value.clone()).ok())
        .unwrap_or_default();
    let mut mirrors = Vec::with_capacity(n);
    let mut stripped = Vec::with_capacity(n);
    for (i, v) in vcpus.iter().enumerate() {
        let idx = i as u32;
        let mut mir = Mirrors {
            rip: v.regs.rip,
            rsp: v.regs.rsp,
            rflags: v.regs.rflags,
            ..Mirrors::default()
        };
        f.add_register_state(idx, regs_from_model(&v.regs));
        let ex = extras.get(&i.to_string()).map_or(&[][..], Vec::as_slice);
        f.add_vmcs_state(idx, vmcs_fields(v, ex, &mut mir));
        f.add_msr_state(
            idx,
            v.msrs
                .iter()
                .map(|m| MsrEntry {
                    index: m.index,
                    reserved: 0,
                    value: m.value,
                })
                .collect(),
        );
        if let Some(l) = &v.lapic {
            let page = crate::kvm_abi::fit(&l.regs.0, lapic::PAGE);
            let tsc = first_msr(v, MSR_TSC_DEADLINE).unwrap_or(0);
            let snap = LapicSnapshot::from_page(&page, tsc);
            mir.tsc_deadline = Some(tsc);
            mir.lapic_enabled = Some(snap.enabled);
            if snap.id > 0xFF {
                notes.push(format!("vcpu {i}: LAPIC id {} exceeds 8 bits", snap.id));
            }
            f.add_lapic_state(idx, snap);
        }
        for s in 0..8 {
            if !vmcs::ar_exact(vmcs::segment(&v.sregs, s)) {
                notes.push(format!(
                    "vcpu {i}: segment {} has flag bytes beyond the VMX access-rights bits; the exact bytes travel in {MODEL_REST}",
                    vmcs::SEGMENT_NAMES[s as usize]
                ));
            }
        }
        mirrors.push(mir);
        stripped.push(strip_vcpu(v));
    }
    match memory {
        Some(img) => {
            let seen = embed_pages(&mut f, img, memory_len)?;
            notes.push(format!(
                "memory: {} of {memory_pages} pages hold non-zero data and are embedded as MemoryPage regions ({seen} pages read from the image's data extents); every other page is zero",
                f.memory_page_indices.len()
            ));
        }
        None => notes.push(format!(
            "memory: no memory image given, so no page bytes are embedded: all {memory_pages} pages read as zero"
        )),
    }
    for d in &m.devices {
        let (name, data) = if is_opaque(d) {
            (
                d.id.clone(),
                d.blob.as_ref().map(|b| b.0.clone()).unwrap_or_default(),
            )
        } else {
            let j = DeviceJson {
                version: DEVICE_VERSION,
                device: d.clone(),
            };
            let data = serde_json::to_vec(&j).map_err(|e| {
                FromModelError::Model(format!("device {:?} does not encode as JSON: {e}", d.id))
            })?;
            notes.push(format!(
                "device {:?} ({}) travels as the JSON blob {DEVICE_PREFIX}{}",
                d.id,
                d.kind.name(),
                d.id
            ));
            (format!("{DEVICE_PREFIX}{}", d.id), data)
        };
        if name.len() > NAME_LIMIT as usize {
            return Err(FromModelError::Model(format!(
                "device name of {} bytes; at most {NAME_LIMIT}",
                name.len()
            )));
        }
        f.add_device_state(name, data);
    }
    let mut extensions = m.extensions.clone();
    extensions.remove(KEY_VMCS_EXTRA);
    // A model read from a VeridianOS file records the source its blob named.
    let source = extensions
        .remove(KEY_SOURCE)
        .and_then(|e| serde_json::from_value::<Provenance>(e.value).ok())
        .filter(|_| m.provenance.format == "veridian")
        .unwrap_or_else(|| m.provenance.clone());
    let rest = ModelRest {
        format: MODEL_REST.into(),
        version: REST_VERSION,
        source: Some(source),
        vm: m.vm.clone(),
        memory: m.memory.clone(),
        vcpus: stripped,
        mirrors,
        platform: m.platform.clone(),
        extensions,
    };
    notes.push(carried_note(&rest));
    let json = serde_json::to_vec(&rest)
        .map_err(|e| FromModelError::Model(format!("{MODEL_REST} does not encode: {e}")))?;
    f.add_device_state(MODEL_REST.into(), json);
    f.finalize();
    if f.header
        .total_size
        .saturating_add(8 * f.memory_page_indices.len() as u64)
        > (1 << 62)
    {
        return Err(FromModelError::Model(
            "the file would exceed 2^62 bytes".into(),
        ));
    }
    Ok((f, notes))
}

/// A note listing what the model-rest blob carries.
fn carried_note(r: &ModelRest) -> String {
    let mut what: Vec<String> = Vec::new();
    let any = |p: &dyn Fn(&X86Vcpu) -> bool| r.vcpus.iter().any(p);
    if any(&|v| v.xsave.is_some()) {
        what.push("FPU/XSAVE".into());
    }
    if any(&|v| v.xcrs.is_some()) {
        what.push("XCRs".into());
    }
    if any(&|v| v.events.is_some()) {
        what.push("vCPU events".into());
    }
    if any(&|v| v.debug_regs.is_some()) {
        what.push("DR0-DR3/DR6 and the debug flags".into());
    }
    if any(&|v| !v.cpuid.is_empty()) {
        what.push("CPUID".into());
    }
    if any(&|v| v.mp_state.is_some()) {
        what.push("MP state".into());
    }
    if any(&|v| v.tsc_khz.is_some()) {
        what.push("TSC frequency".into());
    }
    if any(&|v| !v.msr_chunks.is_empty()) {
        what.push("MSR grouping".into());
    }
    what.push("CR2, CR8, APIC base, interrupt bitmap".into());
    if any(&|v| v.lapic.is_some()) {
        what.push("LAPIC page bytes outside LapicSnapshot".into());
    }
    if let Platform::X86_64(p) = &r.platform {
        for (has, name) in [
            (p.pit.is_some(), "PIT"),
            (p.clock.is_some(), "kvmclock"),
            (p.pic_master.is_some() || p.pic_slave.is_some(), "PICs"),
            (p.ioapic.is_some(), "IOAPIC"),
        ] {
            if has {
                what.push(name.into());
            }
        }
    }
    what.push("VM configuration and memory regions".into());
    if !r.extensions.is_empty() {
        what.push(format!(
            "extensions {}",
            r.extensions.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    format!(
        "carried in the device blob {MODEL_REST} (JSON, version {REST_VERSION}): {}",
        what.join(", ")
    )
}
