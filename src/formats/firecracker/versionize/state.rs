//! The x86_64 `MicrovmState` of Firecracker v0.23–v1.6, at every data version 1–10.
//!
//! Each struct is written at the type version the data version maps it to (Firecracker's
//! `VERSION_MAP`), and a field is present only when `start <= type version < end`:
//!
//! ```text
//! type          v2 from dv  v3 from dv  v4 from dv  v5 from dv  fields by type version
//! VmInfo        6           -           -           -           mem_size_mib; smt, cpu_template, boot_source (v2+)
//! VmState       9           -           -           -           pit, clock, pic ×2, ioapic; kvm_cap_modifiers (v2+)
//! VcpuState     3           6           -           -           msrs (v1–v2) | saved_msrs (v3+); tsc_khz (v2+)
//! DeviceStates  2           5           8           10          balloon (v2+), mmds_version (v3+),
//!                                                               entropy (v4+), vhost_user_block (v5+)
//! ```
//!
//! KVM structures are versionize-derived field by field over `repr(C)` types without implicit
//! padding (unions as their raw bytes), so each is exactly its C bytes; they are kept as blobs.
//! Absent fields hold the defaults Firecracker's `default_fn`s give them (SMT off, no CPU
//! template, an empty boot source, no TSC frequency, no capability modifiers).

use super::wire::{Reader, Writer};
use crate::formats::firecracker::DecodeFailure;
use crate::formats::firecracker::v2::x86_64::VcpuState;
use crate::formats::firecracker::v6::devices::BootSourceConfig;
use crate::formats::firecracker::wire::{Blob, FamBlob};
use crate::kvm_abi as k;
use serde::{Deserialize, Serialize};

/// Most `kvm_cpuid_entry2` entries a `CpuId` holds (kvm-bindings `KVM_MAX_CPUID_ENTRIES`).
pub const MAX_CPUID_ENTRIES: usize = 80;
/// Most `kvm_msr_entry` entries one `Msrs` holds (kvm-bindings `KVM_MAX_MSR_ENTRIES`).
pub const MAX_MSR_ENTRIES: usize = 256;
/// Size of Firecracker's x86_64 `VcpuState` in memory (for the versionize vector cap).
const VCPU_STATE_MEM: usize = 6248;
/// Fewest wire bytes one x86_64 `VcpuState` takes.
const VCPU_STATE_WIRE_MIN: usize = 16
    + 16
    + k::DEBUGREGS_SIZE
    + k::LAPIC_SIZE
    + k::MP_STATE_SIZE
    + k::REGS_SIZE
    + k::SREGS_SIZE
    + k::VCPU_EVENTS_SIZE
    + k::XCRS_SIZE
    + k::XSAVE_SIZE;

/// Names of `StaticCpuTemplate` (x86_64) by variant index.
pub const CPU_TEMPLATES: [&str; 6] = ["C3", "T2", "T2S", "None", "T2CL", "T2A"];
/// Variant index of `StaticCpuTemplate::None`.
pub const CPU_TEMPLATE_NONE: u32 = 3;

/// `BootSourceConfig::default()`: what Firecracker fills in before `VmInfo` v2.
pub fn empty_boot() -> BootSourceConfig {
    BootSourceConfig {
        kernel_image_path: String::new(),
        initrd_path: None,
        boot_args: None,
    }
}

/// The type versions a data version selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeVersions {
    /// `VmInfo`.
    pub vm_info: u16,
    /// `VmState` (x86_64).
    pub vm_state: u16,
    /// `VcpuState` (x86_64).
    pub vcpu: u16,
    /// `DeviceStates`.
    pub devices: u16,
}

/// Firecracker's `VERSION_MAP` for x86_64, resolved for data version `dv`.
pub fn type_versions(dv: u16) -> TypeVersions {
    TypeVersions {
        vm_info: if dv >= 6 { 2 } else { 1 },
        vm_state: if dv >= 9 { 2 } else { 1 },
        vcpu: match dv {
            0..=2 => 1,
            3..=5 => 2,
            _ => 3,
        },
        devices: match dv {
            0..=1 => 1,
            2..=4 => 2,
            5..=7 => 3,
            8..=9 => 4,
            _ => 5,
        },
    }
}

/// `VmInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmInfo {
    /// Guest memory size in MiB.
    pub mem_size_mib: u64,
    /// SMT (v2+; default `false`).
    pub smt: bool,
    /// `StaticCpuTemplate` variant index (v2+; default 3 = `None`).
    pub cpu_template: u32,
    /// Boot source (v2+; default empty).
    pub boot_source: BootSourceConfig,
}

/// `GuestMemoryRegionState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryRegion {
    /// Guest-physical base.
    pub base_address: u64,
    /// Size in bytes (`usize`).
    pub size: u64,
    /// Offset in the memory file.
    pub offset: u64,
}

/// `KvmCapability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvmCapability {
    /// Require capability N (index 0).
    Add(u32),
    /// Mask capability N (index 1).
    Remove(u32),
}

/// x86_64 `VmState`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmState {
    /// `kvm_pit_state2`.
    pub pitstate: Blob,
    /// `kvm_clock_data`.
    pub clock: Blob,
    /// `kvm_irqchip` 0.
    pub pic_master: Blob,
    /// `kvm_irqchip` 1.
    pub pic_slave: Blob,
    /// `kvm_irqchip` 2.
    pub ioapic: Blob,
    /// Capability modifiers of the CPU template (v2+; default empty).
    pub kvm_cap_modifiers: Vec<KvmCapability>,
}

/// `DeviceStates` of a VM without virtio devices: the only value such a VM can carry is the
/// MMDS version (v3+). Files with virtio devices are refused by the reader.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStates {
    /// `MmdsVersionState` variant index (0 = V1, 1 = V2), when present.
    pub mmds_version: Option<u32>,
}

/// A versionize-era x86_64 `MicrovmState` and the data version it is written at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MicrovmState {
    /// The data version (1–10).
    pub data_version: u16,
    /// `vm_info`.
    pub vm_info: VmInfo,
    /// `memory_state.regions`.
    pub memory_state: Vec<MemoryRegion>,
    /// `vm_state`.
    pub vm_state: VmState,
    /// `vcpu_states`. Before `VcpuState` v3 the single `msrs` is `saved_msrs[0]` (as
    /// Firecracker's `de_saved_msrs` hook puts it).
    pub vcpu_states: Vec<VcpuState>,
    /// `device_states`.
    pub device_states: DeviceStates,
}

fn blob(r: &mut Reader<'_>, n: usize, path: &str) -> Result<Blob, DecodeFailure> {
    Ok(Blob(r.take(n, path)?.to_vec()))
}

/// A `FamStructWrapper`: 8-byte header (count u32, pad u32), then `Vec<entry>`; the header's
/// count must equal the entries' and stay within `max`.
fn fam(r: &mut Reader<'_>, entry: usize, max: usize, path: &str) -> Result<FamBlob, DecodeFailure> {
    let hdr = blob(r, 8, &format!("{path}.header"))?;
    let at = r.pos();
    let n = r.len(&format!("{path}.entries"), entry, entry)?;
    let count = k::fam_count(&hdr.0) as usize;
    if count != n {
        return Err(DecodeFailure {
            offset: Some(at),
            path: Some(format!("{path}.entries")),
            reason: format!("the header counts {count} entries, the vector holds {n}"),
        });
    }
    if n > max {
        return Err(DecodeFailure {
            offset: Some(at),
            path: Some(format!("{path}.entries")),
            reason: format!(
                "{n} entries, more than the {max} a FamStructWrapper of this type holds"
            ),
        });
    }
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        entries.push(blob(r, entry, &format!("{path}.entries[{i}]"))?);
    }
    Ok((hdr, entries))
}

fn empty_vec(r: &mut Reader<'_>, path: &str, what: &str) -> Result<(), DecodeFailure> {
    let at = r.pos();
    let n = r.u64(path)?;
    if n != 0 {
        return Err(DecodeFailure {
            offset: Some(at),
            path: Some(path.into()),
            reason: format!(
                "{n} {what}: snaptool reads versionize-era files of VMs without virtio devices only"
            ),
        });
    }
    Ok(())
}

fn no_option(r: &mut Reader<'_>, path: &str, what: &str) -> Result<(), DecodeFailure> {
    let at = r.pos();
    if r.option(path)? {
        return Err(DecodeFailure {
            offset: Some(at),
            path: Some(path.into()),
            reason: format!(
                "a {what}: snaptool reads versionize-era files of VMs without virtio devices only"
            ),
        });
    }
    Ok(())
}

fn vcpu(r: &mut Reader<'_>, v: u16, p: &str) -> Result<VcpuState, DecodeFailure> {
    let cpuid = fam(
        r,
        k::CPUID_ENTRY_SIZE,
        MAX_CPUID_ENTRIES,
        &format!("{p}.cpuid"),
    )?;
    let saved_msrs = if v < 3 {
        vec![fam(
            r,
            k::MSR_ENTRY_SIZE,
            MAX_MSR_ENTRIES,
            &format!("{p}.msrs"),
        )?]
    } else {
        // Vec<Msrs>: each Msrs is a FamStructWrapper (a 24-byte Vec in memory).
        let n = r.len(&format!("{p}.saved_msrs"), 24, 16)?;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(fam(
                r,
                k::MSR_ENTRY_SIZE,
                MAX_MSR_ENTRIES,
                &format!("{p}.saved_msrs[{i}]"),
            )?);
        }
        out
    };
    Ok(VcpuState {
        cpuid,
        saved_msrs,
        debug_regs: blob(r, k::DEBUGREGS_SIZE, &format!("{p}.debug_regs"))?,
        lapic: blob(r, k::LAPIC_SIZE, &format!("{p}.lapic"))?,
        mp_state: blob(r, k::MP_STATE_SIZE, &format!("{p}.mp_state"))?,
        regs: blob(r, k::REGS_SIZE, &format!("{p}.regs"))?,
        sregs: blob(r, k::SREGS_SIZE, &format!("{p}.sregs"))?,
        vcpu_events: blob(r, k::VCPU_EVENTS_SIZE, &format!("{p}.vcpu_events"))?,
        xcrs: blob(r, k::XCRS_SIZE, &format!("{p}.xcrs"))?,
        xsave: blob(r, k::XSAVE_SIZE, &format!("{p}.xsave"))?,
        tsc_khz: if v >= 2 {
            match r.option(&format!("{p}.tsc_khz"))? {
                true => Some(r.u32(&format!("{p}.tsc_khz"))?),
                false => None,
            }
        } else {
            None
        },
    })
}

/// Decodes an x86_64 `MicrovmState` at data version `dv` from `r`.
///
/// # Errors
/// The first value that is out of bounds or invalid, with its file offset and field path.
pub fn decode(r: &mut Reader<'_>, dv: u16) -> Result<MicrovmState, DecodeFailure> {
    let tv = type_versions(dv);
    let mem_size_mib = r.u64("vm_info.mem_size_mib")?;
    let vm_info = if tv.vm_info >= 2 {
        VmInfo {
            mem_size_mib,
            smt: r.bool("vm_info.smt")?,
            cpu_template: r.variant("vm_info.cpu_template", CPU_TEMPLATES.len() as u32)?,
            boot_source: BootSourceConfig {
                kernel_image_path: r.string("vm_info.boot_source.kernel_image_path")?,
                initrd_path: r.opt_string("vm_info.boot_source.initrd_path")?,
                boot_args: r.opt_string("vm_info.boot_source.boot_args")?,
            },
        }
    } else {
        VmInfo {
            mem_size_mib,
            smt: false,
            cpu_template: CPU_TEMPLATE_NONE,
            boot_source: empty_boot(),
        }
    };
    let n = r.len("memory_state.regions", 24, 24)?;
    let mut memory_state = Vec::with_capacity(n);
    for i in 0..n {
        let p = format!("memory_state.regions[{i}]");
        memory_state.push(MemoryRegion {
            base_address: r.u64(&format!("{p}.base_address"))?,
            size: r.u64(&format!("{p}.size"))?,
            offset: r.u64(&format!("{p}.offset"))?,
        });
    }
    let mut vm_state = VmState {
        pitstate: blob(r, k::PIT2_SIZE, "vm_state.pitstate")?,
        clock: blob(r, k::CLOCK_SIZE, "vm_state.clock")?,
        pic_master: blob(r, k::IRQCHIP_SIZE, "vm_state.pic_master")?,
        pic_slave: blob(r, k::IRQCHIP_SIZE, "vm_state.pic_slave")?,
        ioapic: blob(r, k::IRQCHIP_SIZE, "vm_state.ioapic")?,
        kvm_cap_modifiers: Vec::new(),
    };
    if tv.vm_state >= 2 {
        let n = r.len("vm_state.kvm_cap_modifiers", 8, 8)?;
        for i in 0..n {
            let p = format!("vm_state.kvm_cap_modifiers[{i}]");
            let c = match r.variant(&p, 2)? {
                0 => KvmCapability::Add(r.u32(&p)?),
                _ => KvmCapability::Remove(r.u32(&p)?),
            };
            vm_state.kvm_cap_modifiers.push(c);
        }
    }
    let n = r.len("vcpu_states", VCPU_STATE_MEM, VCPU_STATE_WIRE_MIN)?;
    let mut vcpu_states = Vec::with_capacity(n);
    for i in 0..n {
        vcpu_states.push(vcpu(r, tv.vcpu, &format!("vcpu_states[{i}]"))?);
    }
    let d = tv.devices;
    empty_vec(r, "device_states.block_devices", "block devices")?;
    if d >= 5 {
        empty_vec(
            r,
            "device_states.vhost_user_block_devices",
            "vhost-user block devices",
        )?;
    }
    empty_vec(r, "device_states.net_devices", "network devices")?;
    no_option(r, "device_states.vsock_device", "vsock device")?;
    if d >= 2 {
        no_option(r, "device_states.balloon_device", "balloon device")?;
    }
    let mut device_states = DeviceStates::default();
    if d >= 3 && r.option("device_states.mmds_version")? {
        device_states.mmds_version = Some(r.variant("device_states.mmds_version", 2)?);
    }
    if d >= 4 {
        no_option(r, "device_states.entropy_device", "entropy device")?;
    }
    Ok(MicrovmState {
        data_version: dv,
        vm_info,
        memory_state,
        vm_state,
        vcpu_states,
        device_states,
    })
}

fn put_fam(w: &mut Writer, f: &FamBlob) {
    w.bytes(&f.0.0);
    w.len(f.1.len());
    for e in &f.1 {
        w.bytes(&e.0);
    }
}

/// A blob at its C size: zero-extended or cut like KVM's loaders (a decoded state always has
/// the exact size; a state built from the model too).
fn put_blob(w: &mut Writer, b: &Blob, size: usize) {
    w.bytes(&k::fit(&b.0, size));
}

/// Encodes `s` at its data version (the payload between the header and the CRC trailer).
pub fn encode(s: &MicrovmState) -> Vec<u8> {
    let tv = type_versions(s.data_version);
    let mut w = Writer::default();
    w.u64(s.vm_info.mem_size_mib);
    if tv.vm_info >= 2 {
        w.bool(s.vm_info.smt);
        w.u32(s.vm_info.cpu_template);
        let b = &s.vm_info.boot_source;
        w.string(&b.kernel_image_path);
        w.opt_string(&b.initrd_path);
        w.opt_string(&b.boot_args);
    }
    w.len(s.memory_state.len());
    for r in &s.memory_state {
        w.u64(r.base_address);
        w.u64(r.size);
        w.u64(r.offset);
    }
    let v = &s.vm_state;
    put_blob(&mut w, &v.pitstate, k::PIT2_SIZE);
    put_blob(&mut w, &v.clock, k::CLOCK_SIZE);
    put_blob(&mut w, &v.pic_master, k::IRQCHIP_SIZE);
    put_blob(&mut w, &v.pic_slave, k::IRQCHIP_SIZE);
    put_blob(&mut w, &v.ioapic, k::IRQCHIP_SIZE);
    if tv.vm_state >= 2 {
        w.len(v.kvm_cap_modifiers.len());
        for c in &v.kvm_cap_modifiers {
            match c {
                KvmCapability::Add(n) => {
                    w.u32(0);
                    w.u32(*n);
                }
                KvmCapability::Remove(n) => {
                    w.u32(1);
                    w.u32(*n);
                }
            }
        }
    }
    w.len(s.vcpu_states.len());
    for c in &s.vcpu_states {
        put_fam(&mut w, &c.cpuid);
        if tv.vcpu < 3 {
            match c.saved_msrs.first() {
                Some(m) => put_fam(&mut w, m),
                None => put_fam(&mut w, &(Blob(vec![0; 8]), Vec::new())),
            }
        } else {
            w.len(c.saved_msrs.len());
            for m in &c.saved_msrs {
                put_fam(&mut w, m);
            }
        }
        put_blob(&mut w, &c.debug_regs, k::DEBUGREGS_SIZE);
        put_blob(&mut w, &c.lapic, k::LAPIC_SIZE);
        put_blob(&mut w, &c.mp_state, k::MP_STATE_SIZE);
        put_blob(&mut w, &c.regs, k::REGS_SIZE);
        put_blob(&mut w, &c.sregs, k::SREGS_SIZE);
        put_blob(&mut w, &c.vcpu_events, k::VCPU_EVENTS_SIZE);
        put_blob(&mut w, &c.xcrs, k::XCRS_SIZE);
        put_blob(&mut w, &c.xsave, k::XSAVE_SIZE);
        if tv.vcpu >= 2 {
            match c.tsc_khz {
                Some(t) => {
                    w.u8(1);
                    w.u32(t);
                }
                None => w.u8(0),
            }
        }
    }
    let d = tv.devices;
    w.len(0); // block_devices
    if d >= 5 {
        w.len(0); // vhost_user_block_devices
    }
    w.len(0); // net_devices
    w.u8(0); // vsock_device
    if d >= 2 {
        w.u8(0); // balloon_device
    }
    if d >= 3 {
        match s.device_states.mmds_version {
            Some(v) => {
                w.u8(1);
                w.u32(v);
            }
            None => w.u8(0),
        }
    }
    if d >= 4 {
        w.u8(0); // entropy_device
    }
    w.out
}
