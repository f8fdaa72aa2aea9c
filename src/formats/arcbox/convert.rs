//! arcbox ↔ the neutral model.
//!
//! Writing: the native JSON fields are derived from the model (general registers, devices with
//! an arcbox type, memory regions, parent id) and the whole model rides in the snaptool blobs
//! (`extra.rs`). Reading: the model comes from the blobs, then every native field is compared
//! with what the writer derives from that model; where they disagree (someone edited the JSON,
//! or arcbox rewrote it) the native value is put into the model. A directory without blobs (one
//! arcbox wrote) becomes a model from its native fields alone.

use super::extra::{self, Decoded, ExtraState, MAX_TOTAL_JSON, VmPart};
use super::types::*;
use crate::model::*;
use std::collections::BTreeMap;

/// The layout id of arcbox snapshot directories.
pub const LAYOUT: &str = "arcbox-1";
/// The releases known to write this layout.
pub const RELEASES: &[&str] = &["arcbox-hypervisor 0.1.4 – 0.10.1", "arcbox-vmm 0.4"];
/// Extension key: `snapshot.json` of an arcbox-written directory (or one edited after snaptool
/// wrote it), for re-writing its name, target, labels, description and state.
pub const KEY_INFO: &str = "arcbox/snapshot_info";
/// Extension key: `extra_state` bytes of another producer, by vCPU index (hex).
pub const KEY_FOREIGN: &str = "arcbox/foreign_extra_state";
/// The page size of arcbox's KVM and VZ backends.
pub const PAGE_SIZE: u64 = 4096;

/// arcbox's arch name for a model arch.
pub fn cpu_arch(a: Arch) -> CpuArch {
    match a {
        Arch::X86_64 => CpuArch::X86_64,
        Arch::Aarch64 => CpuArch::Aarch64,
    }
}

/// The model arch for an arcbox arch.
pub fn model_arch(a: CpuArch) -> Arch {
    match a {
        CpuArch::X86_64 => Arch::X86_64,
        CpuArch::Aarch64 => Arch::Aarch64,
    }
}

// ---- x86_64 general registers ----

/// Model registers → arcbox registers (same 18 fields, same order).
pub fn regs_from_model(r: &Regs) -> Registers {
    Registers {
        rax: r.rax,
        rbx: r.rbx,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        rsp: r.rsp,
        rbp: r.rbp,
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

/// arcbox registers → model registers.
pub fn regs_to_model(r: &Registers) -> Regs {
    Regs {
        rax: r.rax,
        rbx: r.rbx,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        rsp: r.rsp,
        rbp: r.rbp,
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

// ---- aarch64 core registers as KVM one-reg ids ----

const CORE_U64: u64 = 0x6030_0000_0010_0000;
const CORE_U128: u64 = 0x6040_0000_0010_0000;
const CORE_U32: u64 = 0x6020_0000_0010_0000;

/// KVM id of Xn (`offsetof(kvm_regs, regs.regs[n]) / 4`).
pub fn arm_x_id(n: usize) -> u64 {
    CORE_U64 | (2 * n as u64)
}
/// KVM id of SP (core register 31 of `user_pt_regs`, i.e. SP_EL0).
pub const ARM_SP_ID: u64 = CORE_U64 | 62;
/// KVM id of PC.
pub const ARM_PC_ID: u64 = CORE_U64 | 64;
/// KVM id of PSTATE.
pub const ARM_PSTATE_ID: u64 = CORE_U64 | 66;
/// KVM id of Vn (`fp_regs` starts at byte 336 of `kvm_regs`).
pub fn arm_v_id(n: usize) -> u64 {
    CORE_U128 | (0x54 + 4 * n as u64)
}
/// KVM id of FPSR.
pub const ARM_FPSR_ID: u64 = CORE_U32 | 0xd4;
/// KVM id of FPCR.
pub const ARM_FPCR_ID: u64 = CORE_U32 | 0xd5;

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    a[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(a)
}

fn reg(v: &Aarch64Vcpu, id: u64) -> Option<&[u8]> {
    v.regs
        .iter()
        .find(|r| r.id == id)
        .map(|r| r.value.0.as_slice())
}

/// The native registers the writer derives from a model vCPU: from `core` when the producer
/// stored core registers apart, else from the KVM register list (absent registers read 0).
pub fn arm_native(v: &Aarch64Vcpu) -> Arm64Registers {
    let mut n = Arm64Registers::default();
    if let Some(c) = &v.core {
        for (d, s) in n.x.iter_mut().zip(&c.x) {
            *d = *s;
        }
        for (d, s) in n.v.iter_mut().zip(&c.v) {
            *d = *s;
        }
        n.sp = c.sp;
        n.pc = c.pc;
        n.pstate = c.pstate;
        n.fpsr = c.fpsr;
        n.fpcr = c.fpcr;
        return n;
    }
    let get = |id| reg(v, id).map(le_u64).unwrap_or(0);
    for (i, x) in n.x.iter_mut().enumerate() {
        *x = get(arm_x_id(i));
    }
    for (i, q) in n.v.iter_mut().enumerate() {
        let b = reg(v, arm_v_id(i)).unwrap_or(&[]);
        *q = [le_u64(b), le_u64(b.get(8..).unwrap_or(&[]))];
    }
    n.sp = get(ARM_SP_ID);
    n.pc = get(ARM_PC_ID);
    n.pstate = get(ARM_PSTATE_ID);
    n.fpsr = get(ARM_FPSR_ID);
    n.fpcr = get(ARM_FPCR_ID);
    n
}

fn set_reg(v: &mut Aarch64Vcpu, id: u64, bytes: Vec<u8>) {
    let size = (Aarch64Reg::declared_size(id) as usize).min(bytes.len());
    let value = Bytes(bytes[..size].to_vec());
    match v.regs.iter_mut().find(|r| r.id == id) {
        Some(r) => r.value = value,
        None => v.regs.push(Aarch64Reg { id, value }),
    }
}

/// Puts native registers into a model vCPU where they differ from what it already says.
pub fn arm_apply(v: &mut Aarch64Vcpu, n: &Arm64Registers) {
    let cur = arm_native(v);
    if cur == *n {
        return;
    }
    if let Some(c) = &mut v.core {
        if cur.x != n.x {
            c.x = n.x.to_vec();
        }
        if cur.v != n.v {
            c.v = n.v.to_vec();
        }
        c.sp = n.sp;
        c.pc = n.pc;
        c.pstate = n.pstate;
        c.fpsr = n.fpsr;
        c.fpcr = n.fpcr;
        return;
    }
    for i in 0..31 {
        if cur.x[i] != n.x[i] {
            set_reg(v, arm_x_id(i), n.x[i].to_le_bytes().to_vec());
        }
    }
    for i in 0..32 {
        if cur.v[i] != n.v[i] {
            let mut b = n.v[i][0].to_le_bytes().to_vec();
            b.extend_from_slice(&n.v[i][1].to_le_bytes());
            set_reg(v, arm_v_id(i), b);
        }
    }
    for (id, c, w) in [
        (ARM_SP_ID, cur.sp, n.sp),
        (ARM_PC_ID, cur.pc, n.pc),
        (ARM_PSTATE_ID, cur.pstate, n.pstate),
        (ARM_FPSR_ID, cur.fpsr, n.fpsr),
        (ARM_FPCR_ID, cur.fpcr, n.fpcr),
    ] {
        if c != w {
            set_reg(v, id, w.to_le_bytes().to_vec());
        }
    }
}

fn core_from_native(n: &Arm64Registers) -> Aarch64CoreRegs {
    Aarch64CoreRegs {
        x: n.x.to_vec(),
        sp: n.sp,
        pc: n.pc,
        pstate: n.pstate,
        v: n.v.to_vec(),
        fpsr: n.fpsr,
        fpcr: n.fpcr,
    }
}

// ---- devices ----

/// The arcbox device type of a model device kind, if it has one.
pub fn virtio_type(k: &DeviceKind) -> Option<VirtioDeviceType> {
    Some(match k {
        DeviceKind::Block => VirtioDeviceType::Block,
        DeviceKind::Net => VirtioDeviceType::Net,
        DeviceKind::Console => VirtioDeviceType::Console,
        DeviceKind::Fs => VirtioDeviceType::Fs,
        DeviceKind::Vsock => VirtioDeviceType::Vsock,
        DeviceKind::Rng => VirtioDeviceType::Rng,
        DeviceKind::Balloon => VirtioDeviceType::Balloon,
        DeviceKind::Gpu => VirtioDeviceType::Gpu,
        _ => return None,
    })
}

/// The model kind of an arcbox device type.
pub fn device_kind(t: VirtioDeviceType) -> DeviceKind {
    match t {
        VirtioDeviceType::Block => DeviceKind::Block,
        VirtioDeviceType::Net => DeviceKind::Net,
        VirtioDeviceType::Console => DeviceKind::Console,
        VirtioDeviceType::Fs => DeviceKind::Fs,
        VirtioDeviceType::Vsock => DeviceKind::Vsock,
        VirtioDeviceType::Rng => DeviceKind::Rng,
        VirtioDeviceType::Balloon => DeviceKind::Balloon,
        VirtioDeviceType::Gpu => DeviceKind::Gpu,
    }
}

/// The native device list the writer derives from model devices, each with the index of the
/// model device it stands for. Devices without an arcbox type have no native entry. The state is
/// the device's opaque blob when it has one, else arcbox's 21-byte record when it sits on MMIO,
/// else empty.
pub fn native_devices(devs: &[Device]) -> Vec<(usize, DeviceSnapshot)> {
    devs.iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let t = virtio_type(&d.kind)?;
            let state = match (&d.blob, d.transport) {
                (Some(b), _) => b.0.clone(),
                (None, Some(Transport::Mmio { addr, len, irq })) => DeviceRecord {
                    device_type: t,
                    mmio_base: addr,
                    mmio_size: len,
                    irq: irq.unwrap_or(0),
                }
                .to_bytes(),
                _ => Vec::new(),
            };
            Some((
                i,
                DeviceSnapshot {
                    device_type: t,
                    name: d.id.clone(),
                    state,
                },
            ))
        })
        .collect()
}

fn record_transport(state: &[u8]) -> Option<Transport> {
    DeviceRecord::parse(state).map(|r| Transport::Mmio {
        addr: r.mmio_base,
        len: r.mmio_size,
        irq: Some(r.irq),
    })
}

/// A model device from a native entry alone.
pub fn device_from_native(d: &DeviceSnapshot) -> Device {
    let mut dev = Device::new(d.name.clone(), device_kind(d.device_type));
    dev.transport = record_transport(&d.state);
    if !d.state.is_empty() {
        dev.blob = Some(Bytes(d.state.clone()));
    }
    dev
}

/// Puts a native entry into the model device it stands for.
fn device_apply(dev: &mut Device, was: &DeviceSnapshot, now: &DeviceSnapshot) {
    if was.name != now.name {
        dev.id = now.name.clone();
    }
    if was.device_type != now.device_type {
        dev.kind = device_kind(now.device_type);
    }
    if was.state != now.state {
        let t = record_transport(&now.state);
        if let Some(t) = t {
            dev.transport = Some(t);
        }
        if dev.blob.is_some() || t.is_none() {
            dev.blob = (!now.state.is_empty()).then(|| Bytes(now.state.clone()));
        }
    }
}

// ---- memory ----

/// The native regions the writer derives from the model layout.
pub fn native_regions(m: &MemoryLayout) -> Vec<MemoryRegionSnapshot> {
    m.regions
        .iter()
        .map(|r| MemoryRegionSnapshot {
            guest_addr: r.guest_addr,
            size: r.size,
            read_only: r.read_only,
            file_offset: r.file_offset,
        })
        .collect()
}

fn region_from_native(r: &MemoryRegionSnapshot) -> MemoryRegion {
    MemoryRegion {
        guest_addr: r.guest_addr,
        size: r.size,
        file_offset: r.file_offset,
        explicit_offset: true,
        kind: RegionKind::Dram,
        plugged: Vec::new(),
        read_only: r.read_only,
    }
}

/// The memory file length the regions need: the furthest region end (0 without regions).
pub fn memory_len(regions: &[MemoryRegionSnapshot]) -> Option<u64> {
    regions.iter().try_fold(0u64, |a, r| {
        r.file_offset.checked_add(r.size).map(|e| a.max(e))
    })
}

// ---- reading ----

fn ext(value: impl serde::Serialize) -> Extension {
    Extension {
        layout: LAYOUT.into(),
        value: serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
    }
}

fn provenance(st: &VmSnapshot) -> Provenance {
    Provenance {
        format: "arcbox".into(),
        version: st.version.to_string(),
        layout: LAYOUT.into(),
        encoding: "serde_json (pretty)".into(),
        arch: model_arch(st.arch),
        releases: RELEASES.iter().map(|s| s.to_string()).collect(),
    }
}

/// The model of a directory without snaptool blobs (or whose VM part is unusable).
fn native_base(info: &SnapshotInfo, st: &VmSnapshot) -> Snapshot {
    let arch = model_arch(st.arch);
    let sum = st
        .memory_regions
        .iter()
        .try_fold(0u64, |a, r| a.checked_add(r.size));
    let mem_size_mib = (sum == Some(st.total_memory) && st.total_memory % (1 << 20) == 0)
        .then_some(st.total_memory >> 20)
        .filter(|&m| m > 0);
    let mut extensions = BTreeMap::new();
    extensions.insert(KEY_INFO.to_string(), ext(info));
    Snapshot {
        provenance: provenance(st),
        vm: VmInfo {
            mem_size_mib,
            vm_id: Some(info.id.clone()),
            created: Some(info.created.clone()),
            parent_id: st.parent_id.clone(),
            ..Default::default()
        },
        memory: MemoryLayout {
            regions: st.memory_regions.iter().map(region_from_native).collect(),
            page_size: PAGE_SIZE,
        },
        vcpus: Vec::new(),
        platform: match arch {
            Arch::X86_64 => Platform::X86_64(Box::default()),
            Arch::Aarch64 => Platform::Aarch64(Box::default()),
        },
        devices: st.devices.iter().map(device_from_native).collect(),
        extensions,
    }
}

/// The model from vCPU 0's VM part, with native fields applied where they disagree with it.
fn from_part(p: &VmPart, info: &SnapshotInfo, st: &VmSnapshot, out: &mut Vec<String>) -> Snapshot {
    let mut m = Snapshot {
        // The file is arcbox's, whatever the blob's model was read from.
        provenance: provenance(st),
        vm: p.vm.clone(),
        memory: p.memory.clone(),
        vcpus: Vec::new(),
        platform: p.platform.clone(),
        devices: p.devices.clone(),
        extensions: p.extensions.clone(),
    };
    let mut on_disk = info.clone();
    on_disk.size = 0;
    if on_disk != p.info {
        out.push("snapshot.json".into());
        m.vm.vm_id = Some(info.id.clone());
        m.vm.created = Some(info.created.clone());
        m.extensions.insert(KEY_INFO.into(), ext(info));
    }
    if st.parent_id != p.vm.parent_id {
        out.push("parent_id".into());
        m.vm.parent_id = st.parent_id.clone();
    }
    let want = native_regions(&p.memory);
    if st.memory_regions != want {
        out.push("memory_regions".into());
        if st.memory_regions.len() == want.len() {
            for ((r, w), n) in m
                .memory
                .regions
                .iter_mut()
                .zip(&want)
                .zip(&st.memory_regions)
            {
                r.guest_addr = n.guest_addr;
                r.size = n.size;
                r.read_only = n.read_only;
                if n.file_offset != w.file_offset {
                    r.file_offset = n.file_offset;
                    r.explicit_offset = true;
                }
            }
        } else {
            m.memory.regions = st.memory_regions.iter().map(region_from_native).collect();
        }
    }
    let want = native_devices(&p.devices);
    let now = &st.devices;
    if want.iter().map(|(_, d)| d).ne(now.iter()) {
        out.push("devices".into());
        for ((i, w), n) in want.iter().zip(now) {
            device_apply(&mut m.devices[*i], w, n);
        }
        let mut gone: Vec<usize> = want.iter().skip(now.len()).map(|(i, _)| *i).collect();
        gone.sort_unstable();
        for i in gone.into_iter().rev() {
            m.devices.remove(i);
        }
        m.devices
            .extend(now.iter().skip(want.len()).map(device_from_native));
    }
    m
}

fn vcpu_merge(
    blob: Option<&Vcpu>,
    v: &VcpuSnapshot,
    arch: Arch,
    path: String,
    out: &mut Vec<String>,
) -> Vcpu {
    match arch {
        Arch::X86_64 => {
            let mut x = match blob {
                Some(Vcpu::X86_64(b)) => b.clone(),
                _ => Box::default(),
            };
            if let Some(r) = &v.x86_regs {
                let r = regs_to_model(r);
                if blob.is_some() && x.regs != r {
                    out.push(format!("{path}.x86_regs"));
                }
                x.regs = r;
            }
            Vcpu::X86_64(x)
        }
        Arch::Aarch64 => match blob {
            Some(Vcpu::Aarch64(b)) => {
                let mut b = b.clone();
                if let Some(n) = &v.arm64_regs {
                    if arm_native(&b) != *n {
                        out.push(format!("{path}.arm64_regs"));
                    }
                    arm_apply(&mut b, n);
                }
                Vcpu::Aarch64(b)
            }
            _ => Vcpu::Aarch64(Box::new(Aarch64Vcpu {
                core: v.arm64_regs.as_ref().map(core_from_native),
                ..Default::default()
            })),
        },
    }
}

/// The blobs of every vCPU, decoded (undecodable ones count as foreign).
pub fn decode_all(st: &VmSnapshot) -> Vec<Result<Decoded, extra::BlobError>> {
    let mut budget = MAX_TOTAL_JSON;
    st.vcpus
        .iter()
        .map(|v| extra::decode(&v.extra_state, &mut budget))
        .collect()
}

/// Reads a directory's JSON into the model. Also returns the native fields that disagreed with
/// the snaptool blobs (and so won), as JSON paths.
pub fn merge(info: &SnapshotInfo, st: &VmSnapshot) -> (Snapshot, Vec<String>) {
    let arch = model_arch(st.arch);
    let decoded = decode_all(st);
    let blob_arch_ok = |x: &ExtraState| {
        matches!(
            (&x.vcpu, arch),
            (Vcpu::X86_64(_), Arch::X86_64) | (Vcpu::Aarch64(_), Arch::Aarch64)
        )
    };
    let ours = |i: usize| match decoded.get(i) {
        Some(Ok(Decoded::Ours(x))) if blob_arch_ok(x) => Some(x.as_ref()),
        _ => None,
    };
    let mut overridden = Vec::new();
    let part = ours(0)
        .and_then(|x| x.vm.as_deref())
        .filter(|p| p.provenance.arch == arch);
    let mut m = match part {
        Some(p) => from_part(p, info, st, &mut overridden),
        None => native_base(info, st),
    };
    let mut foreign = serde_json::Map::new();
    for (i, v) in st.vcpus.iter().enumerate() {
        let blob = ours(i).map(|x| &x.vcpu);
        m.vcpus.push(vcpu_merge(
            blob,
            v,
            arch,
            format!("vcpus[{i}]"),
            &mut overridden,
        ));
        if !matches!(decoded.get(i), Some(Ok(Decoded::Empty | Decoded::Ours(_)))) {
            foreign.insert(i.to_string(), to_hex(&v.extra_state).into());
        }
    }
    crate::formats::firecracker::normalize(&mut m);
    if !foreign.is_empty() {
        m.extensions.insert(
            KEY_FOREIGN.into(),
            Extension {
                layout: LAYOUT.into(),
                value: foreign.into(),
            },
        );
    }
    (m, overridden)
}

// ---- writing ----

/// What [`build`] derives from a model: the two JSON documents (`size` still 0) and notes.
pub struct Built {
    /// `snapshot.json`.
    pub info: SnapshotInfo,
    /// `vm_state.json`.
    pub state: VmSnapshot,
    /// What was synthesised, carried or left out.
    pub notes: Vec<String>,
}

/// True when `s` looks like RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`), which chrono's
/// `DateTime<Utc>` accepts.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't' | b' ')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(99);
    if !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 60
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

/// The current time as chrono writes a `DateTime<Utc>`: `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z`.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs(), d.subsec_nanos())
}

/// Formats Unix time as chrono's `DateTime<Utc>` serialization does.
pub fn rfc3339(secs: u64, nanos: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let frac = if nanos == 0 {
        String::new()
    } else if nanos % 1_000_000 == 0 {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// A fresh id in arcbox's form: 32 lowercase hex digits.
pub fn fresh_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut s = String::new();
    for k in 0..2u8 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(t);
        h.write_u32(std::process::id());
        h.write_u8(k);
        s.push_str(&format!("{:016x}", h.finish()));
    }
    s
}

fn info_for(m: &Snapshot, notes: &mut Vec<String>) -> SnapshotInfo {
    let carried = m
        .extensions
        .get(KEY_INFO)
        .and_then(|e| serde_json::from_value::<SnapshotInfo>(e.value.clone()).ok());
    let created = match &m.vm.created {
        Some(c) if is_rfc3339(c) => c.clone(),
        other => {
            if let Some(c) = other {
                notes.push(format!(
                    "snapshot.json created: the model's creation time {c:?} is not RFC 3339; the current time is written"
                ));
            }
            carried
                .as_ref()
                .map(|i| i.created.clone())
                .filter(|c| is_rfc3339(c))
                .unwrap_or_else(now_rfc3339)
        }
    };
    if let Some(mut i) = carried {
        if let Some(id) = &m.vm.vm_id {
            i.id = id.clone();
        }
        i.created = created;
        i.size = 0;
        return i;
    }
    let id = match &m.vm.vm_id {
        Some(id) if !id.is_empty() => id.clone(),
        _ => {
            let id = fresh_id();
            notes.push(format!(
                "snapshot.json id: the model has no VM id; generated {id}"
            ));
            id
        }
    };
    let short: String = id.chars().take(8).collect();
    let mut labels = BTreeMap::new();
    labels.insert("snaptool.source".to_string(), m.provenance.layout.clone());
    SnapshotInfo {
        name: format!("snapshot-{short}"),
        id,
        target_id: "snaptool".into(),
        target_type: SnapshotTargetType::Vm,
        created,
        size: 0,
        parent: m.vm.parent_id.clone(),
        description: Some(format!(
            "converted by snaptool from {} ({})",
            m.provenance.layout,
            m.arch().name()
        )),
        labels,
        state: SnapshotState::Ready,
    }
}

/// Derives `snapshot.json` and `vm_state.json` from a model; `compressed` selects
/// `memory.bin.lz4`.
///
/// # Errors
/// A message when the model cannot be written (vCPU of the other arch, too many vCPUs, a region
/// past the end of the address space, a blob over its cap).
pub fn build(m: &Snapshot, compressed: bool) -> Result<Built, String> {
    let arch = m.arch();
    let mut notes = Vec::new();
    if m.vcpus.len() > super::MAX_VCPUS {
        return Err(format!(
            "{} vCPUs; arcbox directories hold at most {}",
            m.vcpus.len(),
            super::MAX_VCPUS
        ));
    }
    if m.memory.regions.len() > super::MAX_REGIONS || m.devices.len() > super::MAX_DEVICES {
        return Err(format!(
            "{} memory regions and {} devices; at most {} and {} fit",
            m.memory.regions.len(),
            m.devices.len(),
            super::MAX_REGIONS,
            super::MAX_DEVICES
        ));
    }
    let regions = native_regions(&m.memory);
    let total =
        memory_len(&regions).ok_or("a memory region's file offset + size overflows 64 bits")?;
    let info = info_for(m, &mut notes);
    let devices = native_devices(&m.devices);
    let unmapped: Vec<&str> = m
        .devices
        .iter()
        .filter(|d| virtio_type(&d.kind).is_none())
        .map(|d| d.id.as_str())
        .collect();
    if !unmapped.is_empty() {
        notes.push(format!(
            "devices without an arcbox device type ({}) travel in the extra state only",
            unmapped.join(", ")
        ));
    }
    if regions.iter().any(|r| r.file_offset != r.guest_addr) {
        notes.push(
            "memory regions keep their file offsets; arcbox-vmm's Linux restore loads memory.bin at \
             guest address 0, which matches only where file_offset = guest_addr"
                .into(),
        );
    }
    let mut vcpus = Vec::with_capacity(m.vcpus.len());
    for (i, v) in m.vcpus.iter().enumerate() {
        let (x86_regs, arm64_regs) = match (v, arch) {
            (Vcpu::X86_64(x), Arch::X86_64) => (Some(regs_from_model(&x.regs)), None),
            (Vcpu::Aarch64(a), Arch::Aarch64) => (None, Some(arm_native(a))),
            _ => return Err(format!("vcpus[{i}] is not {}", arch.name())),
        };
        let vm = (i == 0).then(|| {
            Box::new(VmPart {
                provenance: m.provenance.clone(),
                vm: m.vm.clone(),
                memory: m.memory.clone(),
                platform: m.platform.clone(),
                devices: crate::formats::firecracker::denormalize(&m.devices),
                extensions: m.extensions.clone(),
                info: info.clone(),
            })
        });
        // Another producer's extra_state goes back as it was: its bytes are that producer's,
        // and the model holds nothing for this vCPU beyond the native fields.
        let foreign = m
            .extensions
            .get(KEY_FOREIGN)
            .and_then(|e| e.value.get(i.to_string()))
            .and_then(serde_json::Value::as_str)
            .and_then(|h| crate::model::from_hex(h).ok());
        let blob = match foreign {
            Some(bytes) => bytes,
            None => extra::encode(&ExtraState {
                vcpu: v.clone(),
                vm,
            })
            .map_err(|e| format!("vcpus[{i}].extra_state: {e}"))?,
        };
        vcpus.push(VcpuSnapshot {
            id: i as u32,
            arch: cpu_arch(arch),
            x86_regs,
            arm64_regs,
            extra_state: blob,
        });
    }
    if m.vcpus.is_empty() {
        notes.push(
            "the model has no vCPUs, so nothing carries its VM-wide state (platform, devices \
             without an arcbox type, configuration): only the native fields are written"
                .into(),
        );
    } else {
        notes.push(format!(
            "{} vCPU(s): general registers in {}; all other state (and vCPU 0: platform, devices, \
             configuration) in extra_state as a snaptool blob (version {})",
            m.vcpus.len(),
            match arch {
                Arch::X86_64 => "x86_regs",
                Arch::Aarch64 => "arm64_regs",
            },
            extra::VERSION
        ));
    }
    if m.extensions.contains_key(KEY_FOREIGN) {
        notes.push(
            "another producer's extra_state bytes (extension arcbox/foreign_extra_state) are written \
             back into extra_state as they were"
                .into(),
        );
    }
    let state = VmSnapshot {
        version: 1,
        arch: cpu_arch(arch),
        vcpus,
        devices: devices.into_iter().map(|(_, d)| d).collect(),
        memory_regions: regions,
        total_memory: total,
        compressed,
        compression: compressed.then(|| "lz4".to_string()),
        parent_id: m.vm.parent_id.clone(),
    };
    Ok(Built { info, state, notes })
}
