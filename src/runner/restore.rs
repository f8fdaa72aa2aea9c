//! Restoring the model into KVM: checks, memory mapping, per-vCPU state in KVM's order, and
//! the VM-wide state.

use super::{MAX_VCPUS, PAGE, Region, RunError, RunReport, kvm_err, state};
use crate::kvm_abi::Irqchip;
use crate::model::*;
use kvm_bindings::kvm_mp_state;
use kvm_ioctls::{Cap, VcpuFd, VmFd};
use std::fs::File;
use std::path::Path;
use vm_memory::{FileOffset, MmapRegion};

/// Refuses snapshots that cannot run here, before touching KVM.
pub(super) fn check(s: &Snapshot) -> Result<(), RunError> {
    if s.arch() != Arch::X86_64 {
        return Err(RunError::Refused(format!(
            "a {} snapshot cannot run on this x86_64 host",
            s.arch().name()
        )));
    }
    if s.vcpus.is_empty() || s.vcpus.len() > MAX_VCPUS {
        return Err(RunError::Refused(format!(
            "{} vCPUs; expected 1 to {MAX_VCPUS}",
            s.vcpus.len()
        )));
    }
    let regions = &s.memory.regions;
    if regions.is_empty() {
        return Err(RunError::Refused("no memory regions".into()));
    }
    for (i, r) in regions.iter().enumerate() {
        if r.size == 0 || r.size % PAGE != 0 || r.guest_addr % PAGE != 0 {
            return Err(RunError::Refused(format!(
                "memory.regions[{i}]: 0x{:x}+0x{:x} is empty or not page-aligned",
                r.guest_addr, r.size
            )));
        }
        if r.guest_addr.checked_add(r.size).is_none() {
            return Err(RunError::Refused(format!(
                "memory.regions[{i}] runs past the end of the address space"
            )));
        }
        for (j, o) in regions.iter().enumerate().skip(i + 1) {
            if r.guest_addr < o.guest_addr.saturating_add(o.size)
                && o.guest_addr < r.guest_addr.saturating_add(r.size)
            {
                return Err(RunError::Refused(format!(
                    "memory.regions[{i}] overlaps memory.regions[{j}]"
                )));
            }
        }
    }
    Ok(())
}

/// Maps every region `MAP_PRIVATE` from the memory file.
pub(super) fn map_memory(s: &Snapshot, path: &Path) -> Result<Vec<Region>, RunError> {
    let merr = |reason: String| RunError::Memory {
        path: path.display().to_string(),
        reason,
    };
    let file = File::open(path).map_err(|e| merr(e.to_string()))?;
    let len = file.metadata().map_err(|e| merr(e.to_string()))?.len();
    let mut out = Vec::new();
    for (i, r) in s.memory.regions.iter().enumerate() {
        let end = r.file_offset.checked_add(r.size);
        if end.is_none_or(|e| e > len) {
            return Err(merr(format!(
                "{len} bytes, but memory.regions[{i}] needs bytes 0x{:x}..0x{:x}",
                r.file_offset,
                r.file_offset.saturating_add(r.size)
            )));
        }
        let size = usize::try_from(r.size).map_err(|e| merr(e.to_string()))?;
        let fo = FileOffset::new(
            file.try_clone().map_err(|e| merr(e.to_string()))?,
            r.file_offset,
        );
        let region = MmapRegion::<()>::build(
            Some(fo),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_NORESERVE,
        )
        .map_err(|e| merr(format!("mapping memory.regions[{i}]: {e}")))?;
        out.push(Region {
            guest_addr: r.guest_addr,
            mapping: region,
        });
    }
    Ok(out)
}

pub(super) fn restore_vcpu(
    vm: &VmFd,
    fd: &VcpuFd,
    i: usize,
    v: &X86Vcpu,
    report: &mut RunReport,
) -> Result<(), RunError> {
    let what = |s: &str| format!("vCPU {i}: {s}");
    if let Some(khz) = v.tsc_khz {
        let host = fd.get_tsc_khz().unwrap_or(0);
        // Firecracker's rule: set the frequency when it differs by more than 250 ppm.
        if u64::from(host.abs_diff(khz)) * 1_000_000 > u64::from(khz) * 250 {
            match fd.set_tsc_khz(khz) {
                Ok(()) => report.restored.push(what(&format!("TSC {khz} kHz"))),
                Err(e) => report.warnings.push(what(&format!(
                    "TSC frequency {khz} kHz could not be set (host {host} kHz): {e}"
                ))),
            }
        }
    }
    fd.set_cpuid2(&state::cpuid(&v.cpuid)?)
        .map_err(kvm_err(what("KVM_SET_CPUID2")))?;
    match v.mp_state {
        Some(m) => fd
            .set_mp_state(kvm_mp_state { mp_state: m })
            .map_err(kvm_err(what("KVM_SET_MP_STATE")))?,
        None => report.defaults.push(what("mp_state")),
    }
    fd.set_regs(&state::regs(&v.regs)?)
        .map_err(kvm_err(what("KVM_SET_REGS")))?;
    fd.set_sregs(&state::sregs(&v.sregs)?)
        .map_err(kvm_err(what("KVM_SET_SREGS")))?;
    match &v.xsave {
        Some(x) => set_xsave(vm, fd, x).map_err(kvm_err(what("KVM_SET_XSAVE")))?,
        None => report.defaults.push(what("xsave (FPU/SSE/AVX)")),
    }
    match &v.xcrs {
        Some(x) => fd
            .set_xcrs(&state::xcrs(x)?)
            .map_err(kvm_err(what("KVM_SET_XCRS")))?,
        None => report.defaults.push(what("xcrs")),
    }
    match &v.debug_regs {
        Some(d) => fd
            .set_debug_regs(&state::debugregs(d)?)
            .map_err(kvm_err(what("KVM_SET_DEBUGREGS")))?,
        None => report.defaults.push(what("debug registers")),
    }
    match &v.lapic {
        Some(l) => fd
            .set_lapic(&state::lapic(l)?)
            .map_err(kvm_err(what("KVM_SET_LAPIC")))?,
        None => report.defaults.push(what("lapic")),
    }
    set_msrs(fd, i, &v.msrs, report)?;
    match &v.events {
        Some(e) => fd
            .set_vcpu_events(&state::events(e)?)
            .map_err(kvm_err(what("KVM_SET_VCPU_EVENTS")))?,
        None => report.defaults.push(what("vcpu events")),
    }
    report.restored.push(what(&format!(
        "regs, sregs, {} cpuid entries, {} MSRs",
        v.cpuid.len(),
        v.msrs.len()
    )));
    Ok(())
}

/// XSAVE through KVM_SET_XSAVE2 sized as the host asks, or plain KVM_SET_XSAVE on older hosts.
fn set_xsave(vm: &VmFd, fd: &VcpuFd, x: &crate::model::Xsave) -> Result<(), kvm_ioctls::Error> {
    let base = state::xsave(x).map_err(|_| kvm_ioctls::Error::new(libc::EINVAL))?;
    let size = usize::try_from(vm.check_extension_int(Cap::Xsave2)).unwrap_or(0);
    if size <= std::mem::size_of::<kvm_bindings::kvm_xsave>() {
        // SAFETY: without KVM_CAP_XSAVE2 (or with an area that fits), KVM reads exactly
        // `sizeof(kvm_xsave)` bytes, which is what `base` is.
        return unsafe { fd.set_xsave(&base) };
    }
    let extra = (size - std::mem::size_of::<kvm_bindings::kvm_xsave>()).div_ceil(4);
    let mut area =
        kvm_bindings::Xsave::new(extra).map_err(|_| kvm_ioctls::Error::new(libc::ENOMEM))?;
    // SAFETY: `as_mut_fam_struct` gives the header of a wrapper allocated for `extra` entries;
    // only the fixed 4 KiB part is written here.
    unsafe { area.as_mut_fam_struct() }.xsave = base;
    for (dst, src) in area.as_mut_slice().iter_mut().zip(&x.extra) {
        *dst = *src;
    }
    // SAFETY: `area` holds `sizeof(kvm_xsave) + 4 * extra` ≥ the size KVM_CAP_XSAVE2 reported,
    // so KVM reads only allocated memory.
    unsafe { fd.set_xsave2(&area) }
}

/// KVM_SET_MSRS in chunks; an MSR the host refuses is reported and skipped.
fn set_msrs(fd: &VcpuFd, i: usize, list: &[Msr], report: &mut RunReport) -> Result<(), RunError> {
    let mut rest = list;
    while !rest.is_empty() {
        let chunk = &rest[..rest.len().min(256)];
        let n = fd
            .set_msrs(&state::msrs(chunk)?)
            .map_err(kvm_err(format!("vCPU {i}: KVM_SET_MSRS")))?;
        if n < chunk.len() {
            let m = chunk[n];
            let name = msr_name(m.index).unwrap_or("?");
            report.warnings.push(format!(
                "vCPU {i}: KVM refused MSR 0x{:x} ({name}) = 0x{:x}; skipped",
                m.index, m.value
            ));
            rest = &rest[n + 1..];
        } else {
            rest = &rest[chunk.len()..];
        }
    }
    Ok(())
}

pub(super) fn restore_platform(
    vm: &VmFd,
    s: &Snapshot,
    report: &mut RunReport,
) -> Result<(), RunError> {
    let Platform::X86_64(p) = &s.platform else {
        return Err(RunError::Refused(
            "aarch64 platform state in an x86_64 snapshot".into(),
        ));
    };
    let mut note = |done: bool, what: &str| {
        if done {
            report.restored.push(what.to_string());
        } else {
            report.defaults.push(what.to_string());
        }
    };
    if let Some(pit) = &p.pit {
        vm.set_pit2(&state::pit(pit)?)
            .map_err(kvm_err("KVM_SET_PIT2"))?;
    }
    note(p.pit.is_some(), "PIT");
    if let Some(c) = &p.clock {
        vm.set_clock(&state::clock(c)?)
            .map_err(kvm_err("KVM_SET_CLOCK"))?;
    }
    note(p.clock.is_some(), "kvmclock");
    let chips = [
        (p.pic_master.map(|c| Irqchip::Pic(0, c)), "PIC master"),
        (p.pic_slave.map(|c| Irqchip::Pic(1, c)), "PIC slave"),
        (p.ioapic.clone().map(Irqchip::Ioapic), "IOAPIC"),
    ];
    for (chip, name) in chips {
        if let Some(c) = &chip {
            vm.set_irqchip(&state::irqchip(c)?)
                .map_err(kvm_err(format!("KVM_SET_IRQCHIP ({name})")))?;
        }
        note(chip.is_some(), name);
    }
    Ok(())
}
