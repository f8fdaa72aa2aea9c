//! squib state ↔ neutral model.
//!
//! **Reading** a file without a carry blob gives the model squib's own fields say
//! ([`native_model`]): `core` registers and `sys_regs` by architectural name, MPIDR, PSCI state,
//! the HVF GIC blob as `platform.opaque_gic`, squib devices as opaque device blobs, MMDS as a
//! device, one DRAM region at 0x8000_0000 with 16 KiB pages.
//!
//! **Writing** ([`from_model`]) fills squib's fields from the model ([`derive`]): from `core` /
//! `sys_regs` directly, from a KVM one-reg list through [`super::regs::kvm_targets`]. When the
//! model says more than those fields give back, the whole model (its provenance normalised) is
//! stored as JSON in one extra device entry, the *carry* blob (kind `snaptool/carry`, id
//! `snaptool`, slot `u32::MAX`). Reading such a file starts from the carried model and then
//! compares squib's fields with the fields the carried model would have produced: every field
//! that differs was edited after writing, and its value replaces the model's at every place the
//! model holds it (squib's fields win).

use super::memory::{DRAM_BASE, PAGE_SIZE, memory_layout};
use super::regs::{self, Slot, kvm_targets, name_target};
use super::wire::*;
use super::{
    ENCODING, LAYOUT_ID, MAGIC, RELEASES, SquibFile, VERSION, WriteError, incompatibilities,
};
use crate::memory::MemoryImage;
use crate::model::{
    Aarch64CoreRegs, Aarch64Platform, Aarch64Reg, Aarch64Vcpu, Arch, BootSource, Device,
    DeviceKind, Extension, OpaqueBlob, Platform, Provenance, Snapshot, Transport, Vcpu,
    VmInfo as MVmInfo,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Device kind of the carry entry.
pub const CARRY_KIND: &str = "snaptool/carry";
/// Device id of the carry entry.
pub const CARRY_ID: &str = "snaptool";
/// `snaptool` field of the carry JSON.
pub const CARRY_FORMAT: &str = "squib-carry";
/// Version of the carry JSON this build writes and reads.
pub const CARRY_VERSION: u32 = 1;
/// `OpaqueBlob::producer` of squib's GIC blob.
pub const GIC_PRODUCER: &str = "squib/hvf";
/// The GIC bytes [`FromModelOptions::placeholder_gic`] writes: they let squib's loader accept
/// the file, and HVF refuses them on restore.
pub const PLACEHOLDER_GIC: &[u8] = b"snaptool: placeholder, no HVF GIC state";

const EXT_GIC_LEN: &str = "squib/gic_state.len";
/// Model extension saying the file held [`PLACEHOLDER_GIC`] written for a model without an HVF
/// GIC blob, so that writing the model again writes the placeholder again.
pub const EXT_GIC_PLACEHOLDER: &str = "squib/gic_state.placeholder";
const VIRTIO_MMIO_BASE: u64 = 0x0F00_0000;
const VIRTIO_MMIO_SLOT: u64 = 0x1000;
const VIRTIO_MMIO_SLOTS: u32 = 32;

fn ext_sys_regs(i: usize) -> String {
    format!("squib/vcpu_states[{i}].sys_regs")
}

/// The carry blob: everything the model held when the file was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Carry {
    /// Always [`CARRY_FORMAT`].
    pub snaptool: String,
    /// [`CARRY_VERSION`].
    pub version: u32,
    /// Whether [`PLACEHOLDER_GIC`] was written for a model without an HVF GIC blob.
    #[serde(default)]
    pub placeholder_gic: bool,
    /// The model (provenance normalised to squib's).
    pub model: Snapshot,
}

/// Options of [`from_model`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FromModelOptions {
    /// When the model has no HVF GIC blob (any model from a KVM producer), write
    /// [`PLACEHOLDER_GIC`] instead of an empty blob, so that squib's `load` (which refuses an
    /// empty GIC) accepts the file. The VM still cannot be restored on HVF.
    pub placeholder_gic: bool,
}

/// `raw` of a squib device in the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceRaw {
    kind: String,
    mmio_slot: u32,
}

/// `raw` of squib's MMDS state in the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MmdsRaw {
    data_json: String,
    token_ttl_seconds: Option<u32>,
}

fn provenance(version: &str) -> Provenance {
    Provenance {
        format: "squib".into(),
        version: version.into(),
        layout: LAYOUT_ID.into(),
        encoding: ENCODING.into(),
        arch: Arch::Aarch64,
        releases: RELEASES.iter().map(|s| s.to_string()).collect(),
    }
}

fn ext(value: serde_json::Value) -> Extension {
    Extension {
        layout: LAYOUT_ID.into(),
        value,
    }
}

/// Whether a squib device entry is the carry blob.
pub(super) fn is_carry_state(d: &DeviceState) -> bool {
    d.kind == CARRY_KIND && d.id == CARRY_ID
}

/// The carry blob of a state (parsed) and the state without it. A carry entry that does not
/// parse stays in the state (it is then an ordinary opaque device).
pub(super) fn split_carry(s: &MicrovmState) -> (Option<Result<Carry, String>>, MicrovmState) {
    let Some(i) = s.device_states.devices.iter().position(is_carry_state) else {
        return (None, s.clone());
    };
    let parsed = serde_json::from_slice::<Carry>(&s.device_states.devices[i].blob)
        .map_err(|e| format!("not carry JSON: {e}"))
        .and_then(|c| {
            if c.snaptool != CARRY_FORMAT || c.version != CARRY_VERSION {
                Err(format!(
                    "carry {:?} version {}; this build reads {CARRY_FORMAT:?} version {CARRY_VERSION}",
                    c.snaptool, c.version
                ))
            } else {
                Ok(c)
            }
        });
    match parsed {
        Ok(c) => {
            let mut rest = s.clone();
            rest.device_states.devices.remove(i);
            (Some(Ok(c)), rest)
        }
        Err(e) => (Some(Err(e)), s.clone()),
    }
}

/// File → model.
pub(super) fn to_model(f: &SquibFile) -> Snapshot {
    let (carry, rest) = split_carry(&f.state);
    if let Some(Ok(c)) = carry
        && let Ok((expected, _)) = derive(&c.model, c.placeholder_gic)
    {
        let placeholder = c.placeholder_gic && rest.gic_state.bytes == PLACEHOLDER_GIC;
        let mut m = merge(c.model, &expected, &rest, &f.version);
        crate::formats::firecracker::normalize(&mut m);
        if placeholder {
            m.extensions.insert(
                EXT_GIC_PLACEHOLDER.into(),
                ext(serde_json::Value::Bool(true)),
            );
        }
        return m;
    }
    native_model(&f.version, &f.state)
}

fn device_kind(kind: &str) -> DeviceKind {
    match kind {
        "virtio-block" => DeviceKind::Block,
        "virtio-net" => DeviceKind::Net,
        "virtio-vsock" => DeviceKind::Vsock,
        "virtio-balloon" => DeviceKind::Balloon,
        "virtio-rng" => DeviceKind::Rng,
        "virtio-pmem" => DeviceKind::Pmem,
        "virtio-mem" => DeviceKind::Mem,
        "virtio-console" => DeviceKind::Console,
        "virtio-fs" => DeviceKind::Fs,
        "virtio-gpu" => DeviceKind::Gpu,
        other => DeviceKind::Other(other.into()),
    }
}

/// The model squib's fields alone give.
pub(super) fn native_model(version: &str, s: &MicrovmState) -> Snapshot {
    let i = &s.vm_info;
    let boot_source =
        (!(i.kernel_image_path.is_empty() && i.initrd_path.is_none() && i.boot_args.is_empty()))
            .then(|| BootSource {
                kernel_image_path: i.kernel_image_path.clone(),
                initrd_path: i.initrd_path.clone(),
                boot_args: Some(i.boot_args.clone()),
            });
    let vm = MVmInfo {
        mem_size_mib: Some(i.mem_size_mib),
        smt: Some(i.smt),
        cpu_template: (!i.cpu_template.is_empty()).then(|| i.cpu_template.clone()),
        boot_source,
        track_dirty_pages: Some(i.track_dirty_pages),
        ..Default::default()
    };
    let mut extensions = BTreeMap::new();
    let vcpus = s
        .vcpu_states
        .iter()
        .enumerate()
        .map(|(n, v)| {
            if !v.sys_regs.is_canonical() {
                extensions.insert(
                    ext_sys_regs(n),
                    ext(serde_json::to_value(&v.sys_regs.0).unwrap_or_default()),
                );
            }
            Vcpu::Aarch64(Box::new(Aarch64Vcpu {
                mpidr: Some(v.mpidr),
                core: Some(Aarch64CoreRegs {
                    x: v.regs.x.to_vec(),
                    sp: v.regs.sp,
                    pc: v.regs.pc,
                    pstate: v.regs.pstate,
                    v: v.fp_regs.v.to_vec(),
                    fpsr: v.fp_regs.fpsr,
                    fpcr: v.fp_regs.fpcr,
                }),
                sys_regs: v
                    .sys_regs
                    .to_map()
                    .into_iter()
                    .map(|(k, x)| (regs::key_name(k), x))
                    .collect(),
                psci_state: Some(v.psci_state.name().into()),
                ..Default::default()
            }))
        })
        .collect();
    let g = &s.gic_state;
    if usize::try_from(g.len).ok() != Some(g.bytes.len()) {
        extensions.insert(EXT_GIC_LEN.into(), ext(g.len.into()));
    }
    let platform = Platform::Aarch64(Box::new(Aarch64Platform {
        gic: None,
        opaque_gic: (!g.bytes.is_empty()).then(|| OpaqueBlob {
            producer: GIC_PRODUCER.into(),
            bytes: g.bytes.clone().into(),
        }),
    }));
    let mut devices: Vec<Device> = s
        .device_states
        .devices
        .iter()
        .map(|d| {
            let mut m = Device::new(d.id.clone(), device_kind(&d.kind));
            if d.mmio_slot < VIRTIO_MMIO_SLOTS {
                m.transport = Some(Transport::Mmio {
                    addr: VIRTIO_MMIO_BASE + u64::from(d.mmio_slot) * VIRTIO_MMIO_SLOT,
                    len: VIRTIO_MMIO_SLOT,
                    irq: None,
                });
            }
            m.blob = Some(d.blob.clone().into());
            m.raw = Some(ext(serde_json::to_value(DeviceRaw {
                kind: d.kind.clone(),
                mmio_slot: d.mmio_slot,
            })
            .unwrap_or_default()));
            m
        })
        .collect();
    if let Some(mm) = &s.mmds_state {
        let mut d = Device::new("mmds", DeviceKind::Mmds);
        d.raw = Some(ext(serde_json::to_value(MmdsRaw {
            data_json: mm.data_json.clone(),
            token_ttl_seconds: mm.token_ttl_seconds,
        })
        .unwrap_or_default()));
        devices.push(d);
    }
    Snapshot {
        provenance: provenance(version),
        vm,
        memory: memory_layout(i.mem_size_mib),
        vcpus,
        platform,
        devices,
        extensions,
    }
}

fn squib_ext(d: &Device) -> Option<&serde_json::Value> {
    d.raw
        .as_ref()
        .filter(|r| r.layout == LAYOUT_ID)
        .map(|r| &r.value)
}

/// The squib device a model device is, when it is one.
fn native_device(d: &Device) -> Option<DeviceState> {
    let raw: DeviceRaw = serde_json::from_value(squib_ext(d)?.clone()).ok()?;
    Some(DeviceState {
        kind: raw.kind,
        id: d.id.clone(),
        mmio_slot: raw.mmio_slot,
        blob: d.blob.as_ref().map(|b| b.0.clone()).unwrap_or_default(),
    })
}

/// The squib MMDS state a model device is, when it is one.
fn native_mmds(d: &Device) -> Option<MmdsState> {
    if d.kind != DeviceKind::Mmds {
        return None;
    }
    let raw: MmdsRaw = serde_json::from_value(squib_ext(d)?.clone()).ok()?;
    Some(MmdsState {
        data_json: raw.data_json,
        token_ttl_seconds: raw.token_ttl_seconds,
    })
}

fn is_native_device(d: &Device) -> bool {
    native_device(d).is_some() || native_mmds(d).is_some()
}

/// squib register slots being filled (values as u128: V registers use all 128 bits).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Slots(BTreeMap<Slot, u128>);

impl Slots {
    /// Sets a slot unless it already holds a value.
    fn offer(&mut self, s: Slot, v: u128) {
        self.0.entry(s).or_insert(v);
    }

    fn get(&self, s: Slot) -> Option<u128> {
        self.0.get(&s).copied()
    }

    /// The value a list of targets reads: the first present (squib's restore precedence).
    fn view(&self, targets: &[Slot]) -> Option<u128> {
        targets.iter().find_map(|t| self.get(*t))
    }

    /// Every slot of a native vCPU.
    fn of_state(v: &VcpuState) -> Slots {
        let mut s = BTreeMap::new();
        for (n, x) in v.regs.x.iter().enumerate() {
            s.insert(Slot::X(n), u128::from(*x));
        }
        s.insert(Slot::Sp, v.regs.sp.into());
        s.insert(Slot::Pc, v.regs.pc.into());
        s.insert(Slot::Pstate, v.regs.pstate.into());
        for (n, q) in v.fp_regs.v.iter().enumerate() {
            s.insert(Slot::V(n), q128(q));
        }
        s.insert(Slot::Fpsr, v.fp_regs.fpsr.into());
        s.insert(Slot::Fpcr, v.fp_regs.fpcr.into());
        for (k, x) in v.sys_regs.to_map() {
            s.insert(Slot::Sys(k), x.into());
        }
        Slots(s)
    }
}

fn q128(q: &[u64; 2]) -> u128 {
    u128::from(q[0]) | (u128::from(q[1]) << 64)
}

fn halves(v: u128) -> [u64; 2] {
    [v as u64, (v >> 64) as u64]
}

/// The value of a KVM register entry whose size matches its id, as u128.
fn reg_value(r: &Aarch64Reg) -> Option<u128> {
    let size = Aarch64Reg::declared_size(r.id) as usize;
    if r.value.len() != size || size > 16 {
        return None;
    }
    let mut b = [0u8; 16];
    b[..size].copy_from_slice(&r.value.0);
    Some(u128::from_le_bytes(b))
}

fn encode(v: u128, size: usize) -> Vec<u8> {
    v.to_le_bytes()[..size.min(16)].to_vec()
}

/// Fills squib's slots of one vCPU from the model: `core` and named `sys_regs` first, then the
/// KVM list for slots still empty.
fn vcpu_slots(v: &Aarch64Vcpu) -> Slots {
    let mut s = Slots::default();
    if let Some(c) = &v.core
        && c.x.len() == 31
    {
        for (n, x) in c.x.iter().enumerate() {
            s.offer(Slot::X(n), (*x).into());
        }
        s.offer(Slot::Sp, c.sp.into());
        s.offer(Slot::Pc, c.pc.into());
        s.offer(Slot::Pstate, c.pstate.into());
        s.offer(Slot::Fpsr, c.fpsr.into());
        s.offer(Slot::Fpcr, c.fpcr.into());
        if c.v.len() == 32 {
            for (n, q) in c.v.iter().enumerate() {
                s.offer(Slot::V(n), q128(q));
            }
        }
    }
    for (name, x) in &v.sys_regs {
        if let Some(t) = name_target(name) {
            s.offer(t, (*x).into());
        }
    }
    for r in &v.regs {
        let t = kvm_targets(r.id);
        if let (false, Some(x)) = (t.is_empty(), reg_value(r)) {
            for slot in t {
                s.offer(slot, x);
            }
        }
    }
    s
}

/// Model → squib state (without a carry blob), and notes on what was invented.
pub(super) fn derive(
    m: &Snapshot,
    placeholder_gic: bool,
) -> Result<(MicrovmState, Vec<String>), WriteError> {
    let mut notes = Vec::new();
    if m.arch() != Arch::Aarch64 {
        return Err(WriteError::Arch(m.arch().name()));
    }
    let Platform::Aarch64(p) = &m.platform else {
        return Err(WriteError::Arch(
            "an aarch64 model with x86_64 platform state",
        ));
    };
    let mem_size_mib =
        m.vm.mem_size_mib
            .unwrap_or_else(|| m.memory.total_size() >> 20);
    if m.vm.mem_size_mib.is_none() {
        notes.push(format!(
            "vm_info.mem_size_mib = {mem_size_mib}: not in the model, from the regions' total"
        ));
    }
    let boot = m.vm.boot_source.clone().unwrap_or_default();
    let vm_info = VmInfo {
        mem_size_mib,
        smt: m.vm.smt.unwrap_or(false),
        cpu_template: m.vm.cpu_template.clone().unwrap_or_default(),
        kernel_image_path: boot.kernel_image_path,
        initrd_path: boot.initrd_path,
        boot_args: boot.boot_args.unwrap_or_default(),
        track_dirty_pages: m.vm.track_dirty_pages.unwrap_or(false),
    };
    let mut vcpu_states = Vec::with_capacity(m.vcpus.len());
    let mut absent = 0usize;
    for (n, v) in m.vcpus.iter().enumerate() {
        let Vcpu::Aarch64(v) = v else {
            return Err(WriteError::Arch("an aarch64 model with an x86_64 vCPU"));
        };
        let s = vcpu_slots(v);
        let fixed = |slot: Slot| s.get(slot).map(|x| x as u64);
        let mut regs = GpRegs::default();
        for (i, x) in regs.x.iter_mut().enumerate() {
            *x = fixed(Slot::X(i)).unwrap_or_default();
        }
        regs.pc = fixed(Slot::Pc).unwrap_or_default();
        regs.pstate = fixed(Slot::Pstate).unwrap_or_default();
        // GpRegs.sp, fpsr and fpcr are duplicated by sys_regs 7, 43, 42: fill from there when
        // the model only has the named register.
        regs.sp = fixed(Slot::Sp)
            .or(fixed(Slot::Sys(regs::KEY_SP_EL1)))
            .unwrap_or_default();
        let mut fp_regs = FpSimdRegs::default();
        for (i, q) in fp_regs.v.iter_mut().enumerate() {
            *q = s.get(Slot::V(i)).map(halves).unwrap_or_default();
        }
        fp_regs.fpsr = fixed(Slot::Fpsr)
            .or(fixed(Slot::Sys(regs::KEY_FPSR)))
            .unwrap_or_default();
        fp_regs.fpcr = fixed(Slot::Fpcr)
            .or(fixed(Slot::Sys(regs::KEY_FPCR)))
            .unwrap_or_default();
        let core_slots = (0..31)
            .map(Slot::X)
            .chain([Slot::Pc, Slot::Pstate, Slot::Sp]);
        absent += core_slots.filter(|t| s.get(*t).is_none()).count();
        let sys: BTreeMap<u64, u64> =
            s.0.iter()
                .filter_map(|(t, x)| match t {
                    Slot::Sys(k) => Some((*k, *x as u64)),
                    _ => None,
                })
                .collect();
        let sys_regs = match m
            .extensions
            .get(&ext_sys_regs(n))
            .map(|e| serde_json::from_value::<Vec<(u64, u64)>>(e.value.clone()).map(SysRegs))
        {
            Some(Ok(l)) if l.to_map() == sys => l,
            _ => SysRegs(sys.into_iter().collect()),
        };
        let mpidr = match v.mpidr {
            Some(x) => x,
            None => {
                let x = fixed(Slot::Sys(regs::KEY_MPIDR_EL1)).unwrap_or(n as u64);
                notes.push(format!(
                    "vcpu_states[{n}].mpidr = 0x{x:x}: not in the model (from MPIDR_EL1 or the index)"
                ));
                x
            }
        };
        let psci_state = match v.psci_state.as_deref().and_then(PsciVcpuState::from_name) {
            Some(p) => p,
            None => {
                // KVM_MP_STATE_RUNNABLE = 0, KVM_MP_STATE_STOPPED = 1; otherwise squib's own
                // normalisation (vCPU 0 on, the others off).
                let p = match v.mp_state {
                    Some(0) => PsciVcpuState::On,
                    Some(1) => PsciVcpuState::Off,
                    _ if n == 0 => PsciVcpuState::On,
                    _ => PsciVcpuState::Off,
                };
                notes.push(format!(
                    "vcpu_states[{n}].psci_state = {:?}: not in the model ({})",
                    p,
                    match v.mp_state {
                        Some(mp) => format!("from KVM mp_state {mp}"),
                        None => "squib's restore default".into(),
                    }
                ));
                p
            }
        };
        vcpu_states.push(VcpuState {
            mpidr,
            regs,
            fp_regs,
            sys_regs,
            psci_state,
        });
    }
    if absent > 0 {
        notes.push(format!(
            "{absent} of squib's X0–X30/PC/PSTATE/SP slots have no value in the model and are written as 0"
        ));
    }
    let mut devices = Vec::new();
    let mut mmds_state = None;
    for d in &m.devices {
        if let Some(s) = native_device(d) {
            devices.push(s);
        } else if let (Some(s), None) = (native_mmds(d), &mmds_state) {
            mmds_state = Some(s);
        }
    }
    let gic_bytes = match &p.opaque_gic {
        Some(b) if b.producer == GIC_PRODUCER => b.bytes.0.clone(),
        other => {
            let what = match (other, &p.gic) {
                (Some(b), _) => format!("an opaque GIC blob from {:?}", b.producer),
                (None, Some(_)) => "KVM vGIC register state".into(),
                (None, None) => "no interrupt-controller state".into(),
            };
            if placeholder_gic {
                notes.push(format!(
                    "gic_state: the model has {what}, which cannot become an HVF GIC blob; wrote a \
                     {}-byte placeholder so squib's loader accepts the file, but HVF will refuse it \
                     on restore",
                    PLACEHOLDER_GIC.len()
                ));
                PLACEHOLDER_GIC.to_vec()
            } else {
                notes.push(format!(
                    "gic_state: the model has {what}, which cannot become an HVF GIC blob; wrote an \
                     empty blob, which squib's loader refuses (verify_compatible)"
                ));
                Vec::new()
            }
        }
    };
    let gic_len = m
        .extensions
        .get(EXT_GIC_LEN)
        .and_then(|e| e.value.as_u64())
        .unwrap_or(gic_bytes.len() as u64);
    Ok((
        MicrovmState {
            vm_info,
            vcpu_states,
            device_states: DeviceStates { devices },
            gic_state: GicState {
                len: gic_len,
                bytes: gic_bytes,
            },
            mmds_state,
        },
        notes,
    ))
}

/// A squib version text kept from the model when squib's loader accepts it, else 5.0.0.
fn version_for(m: &Snapshot) -> String {
    if m.provenance.format == "squib" && super::version_accepted(&m.provenance.version) {
        m.provenance.version.clone()
    } else {
        VERSION.into()
    }
}

/// Builds a squib state file from the model. Returns the file and human-readable notes: values
/// invented because the model lacks them, what travels only in the carry blob (squib cannot use
/// it; it comes back when the file is read), and memory-layout differences. `memory`, when
/// given, is checked against squib's memory-file rules (length, 16 KiB pages).
///
/// # Errors
/// [`WriteError::Arch`] for an x86_64 model, [`WriteError::TooLarge`] when the file would exceed
/// squib's 10,000,000-byte cap.
pub fn from_model(
    m: &Snapshot,
    memory: Option<&dyn MemoryImage>,
    opts: &FromModelOptions,
) -> Result<(SquibFile, Vec<String>), WriteError> {
    let placeholder_gic = opts.placeholder_gic
        || m.extensions
            .get(EXT_GIC_PLACEHOLDER)
            .is_some_and(|e| e.value == serde_json::Value::Bool(true));
    let mut m = m.clone();
    m.extensions.remove(EXT_GIC_PLACEHOLDER);
    let m = &m;
    let (mut state, mut notes) = derive(m, placeholder_gic)?;
    let version = version_for(m);
    let native = native_model(&version, &state);
    let mut model = m.clone();
    model.provenance = native.provenance.clone();
    if native != model {
        let changes = crate::diff::diff(&native, &model, &["provenance"]);
        // KVM list entries whose register squib has a field for are held natively (only the
        // list's shape and order are carried); name the others.
        let mut shaped = 0usize;
        let carried: Vec<String> = changes
            .iter()
            .filter(|c| c.b.as_ref().is_some_and(|v| !v.is_null()))
            .filter_map(|c| match reg_id_of_path(&c.path) {
                Some(id) if !kvm_targets(id).is_empty() => {
                    shaped += 1;
                    None
                }
                Some(id) => Some(match crate::model::reg_name(id) {
                    Some(n) => format!("{} ({n})", c.path),
                    None => c.path.clone(),
                }),
                None => Some(c.path.clone()),
            })
            .collect();
        if shaped > 0 {
            notes.push(format!(
                "{shaped} KVM one-reg entries are held in squib's register fields (the list's \
                 order and ids travel in the carry blob)"
            ));
        }
        model.provenance = provenance(VERSION);
        model.devices = crate::formats::firecracker::denormalize(&model.devices);
        let carry = Carry {
            snaptool: CARRY_FORMAT.into(),
            version: CARRY_VERSION,
            placeholder_gic,
            model,
        };
        let blob = serde_json::to_vec(&carry).map_err(|e| WriteError::Model(e.to_string()))?;
        let stale = state.device_states.devices.len();
        state.device_states.devices.retain(|d| !is_carry_state(d));
        if state.device_states.devices.len() != stale {
            notes.push("an older snaptool carry entry in the model was replaced".into());
        }
        notes.push(format!(
            "carried in the snaptool blob (device {CARRY_KIND:?} id {CARRY_ID:?}, {} bytes; squib \
             ignores it, snaptool reads it back): {} value(s) squib's own fields cannot hold{}",
            blob.len(),
            carried.len(),
            summarize(&carried)
        ));
        state.device_states.devices.push(DeviceState {
            kind: CARRY_KIND.into(),
            id: CARRY_ID.into(),
            mmio_slot: u32::MAX,
            blob,
        });
    }
    notes.extend(memory_notes(m, &state, memory));
    for i in incompatibilities(&state) {
        notes.push(format!("squib's loader will refuse this file: {i}"));
    }
    let f = SquibFile {
        magic: MAGIC,
        version,
        state,
        crc: 0,
    };
    let len = super::write(&f).len() as u64;
    if len > super::SIZE_LIMIT {
        return Err(WriteError::TooLarge { len });
    }
    Ok((f, notes))
}

fn summarize(paths: &[String]) -> String {
    if paths.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = paths.iter().take(16).map(String::as_str).collect();
    let more = paths.len().saturating_sub(shown.len());
    format!(
        ": {}{}",
        shown.join(", "),
        if more > 0 {
            format!(", and {more} more")
        } else {
            String::new()
        }
    )
}

fn memory_notes(m: &Snapshot, s: &MicrovmState, memory: Option<&dyn MemoryImage>) -> Vec<String> {
    let mut out = Vec::new();
    let want = memory_layout(s.vm_info.mem_size_mib);
    let regions_ok = m.memory.regions.len() == 1
        && m.memory.regions[0].guest_addr == DRAM_BASE
        && m.memory.regions[0].file_offset == 0
        && m.memory.regions[0].size == want.regions[0].size;
    if !regions_ok {
        let have: Vec<String> = m
            .memory
            .regions
            .iter()
            .map(|r| format!("0x{:x}+0x{:x}@{}", r.guest_addr, r.size, r.file_offset))
            .collect();
        out.push(format!(
            "memory: squib maps the memory file at guest-physical 0x{DRAM_BASE:x} for mem_size_mib \
             ({} bytes); the model's regions are [{}] (kept in the carry blob; squib uses its own \
             layout)",
            want.regions[0].size,
            have.join(", ")
        ));
    }
    if m.memory.page_size != PAGE_SIZE && m.memory.page_size != 0 {
        out.push(format!(
            "memory: the model's page size is {} bytes, squib's memory file uses 16 KiB pages: a \
             full memory file is the same bytes, a diff must be rewritten in 16 KiB pages \
             (squib::write_memory)",
            m.memory.page_size
        ));
    }
    if let Some(img) = memory {
        let len = want.regions[0].size;
        if img.len() != len {
            out.push(format!(
                "memory: {} is {} bytes, squib expects {len} (mem_size_mib {})",
                img.path(),
                img.len(),
                s.vm_info.mem_size_mib
            ));
        }
        if let Ok(ext) = img.extents() {
            let partial = ext.iter().any(|e| {
                e.offset % PAGE_SIZE != 0 || (e.end() % PAGE_SIZE != 0 && e.end() != img.len())
            });
            let is_diff = ext.iter().map(|e| e.len).sum::<u64>() < img.len();
            if partial && is_diff {
                out.push(format!(
                    "memory: {} is a diff with data in pieces smaller than squib's 16 KiB pages; \
                     written as a squib diff, each partly present page becomes whole (zeros where \
                     the diff had no data): merge it onto its base first",
                    img.path()
                ));
            }
            if is_diff && !s.vm_info.track_dirty_pages {
                out.push(
                    "memory: the memory file is sparse (a diff), but vm_info.track_dirty_pages is \
                     false; squib only writes diffs with dirty tracking on"
                        .into(),
                );
            }
        }
    }
    out
}

/// The carried model with every field squib's state now disagrees on (with what the carried
/// model would have produced) replaced by squib's value.
fn merge(mut m: Snapshot, exp: &MicrovmState, act: &MicrovmState, version: &str) -> Snapshot {
    let e = native_model(version, exp);
    let a = native_model(version, act);
    m.provenance = a.provenance.clone();
    if e.vm.mem_size_mib != a.vm.mem_size_mib {
        m.vm.mem_size_mib = a.vm.mem_size_mib;
        m.memory = a.memory.clone();
    }
    if e.vm.smt != a.vm.smt {
        m.vm.smt = a.vm.smt;
    }
    if e.vm.cpu_template != a.vm.cpu_template {
        m.vm.cpu_template = a.vm.cpu_template.clone();
    }
    if e.vm.boot_source != a.vm.boot_source {
        m.vm.boot_source = a.vm.boot_source.clone();
    }
    if e.vm.track_dirty_pages != a.vm.track_dirty_pages {
        m.vm.track_dirty_pages = a.vm.track_dirty_pages;
    }
    let gic = |s: &Snapshot| match &s.platform {
        Platform::Aarch64(p) => p.opaque_gic.clone(),
        Platform::X86_64(_) => None,
    };
    if gic(&e) != gic(&a) {
        match &mut m.platform {
            Platform::Aarch64(p) => p.opaque_gic = gic(&a),
            other => *other = a.platform.clone(),
        }
    }
    let keys: BTreeSet<String> = e
        .extensions
        .keys()
        .chain(a.extensions.keys())
        .filter(|k| k.starts_with("squib/"))
        .cloned()
        .collect();
    for k in keys {
        if e.extensions.get(&k) != a.extensions.get(&k) {
            match a.extensions.get(&k) {
                Some(x) => m.extensions.insert(k, x.clone()),
                None => m.extensions.remove(&k),
            };
        }
    }
    if e.devices != a.devices {
        let rest: Vec<Device> = m
            .devices
            .drain(..)
            .filter(|d| !is_native_device(d))
            .collect();
        m.devices = a.devices.clone();
        m.devices.extend(rest);
    }
    let n = act.vcpu_states.len();
    for i in 0..n {
        match (exp.vcpu_states.get(i), m.vcpus.get_mut(i)) {
            (Some(ne), Some(Vcpu::Aarch64(v))) => merge_vcpu(v, ne, &act.vcpu_states[i]),
            (_, Some(slot)) => *slot = a.vcpus[i].clone(),
            (_, None) => m.vcpus.push(a.vcpus[i].clone()),
        }
    }
    m.vcpus.truncate(n);
    m
}

fn merge_vcpu(v: &mut Aarch64Vcpu, ne: &VcpuState, na: &VcpuState) {
    if ne.mpidr != na.mpidr {
        v.mpidr = Some(na.mpidr);
    }
    if ne.psci_state != na.psci_state {
        v.psci_state = Some(na.psci_state.name().into());
    }
    let (se, sa) = (Slots::of_state(ne), Slots::of_state(na));
    let changed = |t: Slot| se.get(t) != sa.get(t);
    let val = |t: Slot| sa.get(t).unwrap_or_default();
    let mut placed: BTreeSet<Slot> = BTreeSet::new();
    if let Some(c) = &mut v.core
        && c.x.len() == 31
    {
        for (n, x) in c.x.iter_mut().enumerate() {
            placed.insert(Slot::X(n));
            if changed(Slot::X(n)) {
                *x = val(Slot::X(n)) as u64;
            }
        }
        for (t, f) in [
            (Slot::Sp, &mut c.sp),
            (Slot::Pc, &mut c.pc),
            (Slot::Pstate, &mut c.pstate),
            (Slot::Fpsr, &mut c.fpsr),
            (Slot::Fpcr, &mut c.fpcr),
        ] {
            placed.insert(t);
            if changed(t) {
                *f = val(t) as u64;
            }
        }
        if c.v.len() == 32 {
            for (n, q) in c.v.iter_mut().enumerate() {
                placed.insert(Slot::V(n));
                if changed(Slot::V(n)) {
                    *q = halves(val(Slot::V(n)));
                }
            }
        }
    }
    let mut gone = Vec::new();
    for (name, x) in v.sys_regs.iter_mut() {
        if let Some(t) = name_target(name) {
            placed.insert(t);
            if changed(t) {
                match sa.get(t) {
                    Some(y) => *x = y as u64,
                    None => gone.push(name.clone()),
                }
            }
        }
    }
    for g in gone {
        v.sys_regs.remove(&g);
    }
    v.regs.retain_mut(|r| {
        let t = kvm_targets(r.id);
        if t.is_empty() || reg_value(r).is_none() {
            return true;
        }
        placed.extend(t.iter().copied());
        let (ve, va) = (se.view(&t), sa.view(&t));
        if ve == va {
            return true;
        }
        match va {
            Some(y) => {
                r.value = encode(y, r.value.len()).into();
                true
            }
            None => false,
        }
    });
    // Values squib gained that no place in the model held.
    for (k, x) in na.sys_regs.to_map() {
        let t = Slot::Sys(k);
        if se.get(t).is_none() && !placed.contains(&t) {
            v.sys_regs.insert(regs::key_name(k), x);
        }
    }
    let unplaced: Vec<Slot> =
        sa.0.keys()
            .copied()
            .filter(|t| !matches!(t, Slot::Sys(_)) && changed(*t) && !placed.contains(t))
            .collect();
    if unplaced.is_empty() {
        return;
    }
    if v.regs.is_empty() {
        if v.core.is_none() {
            v.core = Some(Aarch64CoreRegs {
                x: na.regs.x.to_vec(),
                sp: na.regs.sp,
                pc: na.regs.pc,
                pstate: na.regs.pstate,
                v: na.fp_regs.v.to_vec(),
                fpsr: na.fp_regs.fpsr,
                fpcr: na.fp_regs.fpcr,
            });
        }
        return;
    }
    use crate::model::core_ids;
    for t in unplaced {
        let (id, size) = match t {
            Slot::X(n) => (core_ids::x(n as u64), 8),
            Slot::Pc => (core_ids::PC, 8),
            Slot::Pstate => (core_ids::PSTATE, 8),
            Slot::V(n) => (core_ids::v(n as u64), 16),
            // SP, FPSR, FPCR: their KVM ids read sys_regs first; only without it is the slot
            // itself the value.
            Slot::Sp if sa.get(Slot::Sys(regs::KEY_SP_EL1)).is_none() => (core_ids::SP_EL1, 8),
            Slot::Fpsr if sa.get(Slot::Sys(regs::KEY_FPSR)).is_none() => (core_ids::FPSR, 4),
            Slot::Fpcr if sa.get(Slot::Sys(regs::KEY_FPCR)).is_none() => (core_ids::FPCR, 4),
            _ => continue,
        };
        v.regs.push(Aarch64Reg {
            id,
            value: encode(val(t), size).into(),
        });
    }
}

/// The register id of a diff path `vcpu[i].reg[0x…]`.
fn reg_id_of_path(path: &str) -> Option<u64> {
    let start = path.find(".reg[0x")? + 7;
    let rest = &path[start..];
    let end = rest.find(']')?;
    u64::from_str_radix(&rest[..end], 16).ok()
}
