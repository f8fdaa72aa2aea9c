//! Snapshots of a paused VM: KVM state → the neutral model, guest memory → a memory file.

use super::{RunError, kvm_err};
use crate::kvm_abi as k;
use crate::model::*;
use kvm_bindings::{KVM_MAX_CPUID_ENTRIES, Msrs, kvm_irqchip, kvm_msr_entry};
use kvm_ioctls::{Cap, Kvm, VcpuFd, VmFd};
use zerocopy::IntoBytes;

/// Reads every MSR KVM lists that this vCPU can read, in list order.
fn msrs(kvm: &Kvm, fd: &VcpuFd) -> Result<Vec<Msr>, RunError> {
    let list = kvm
        .get_msr_index_list()
        .map_err(kvm_err("KVM_GET_MSR_INDEX_LIST"))?;
    let mut indices: Vec<u32> = list.as_slice().to_vec();
    let mut out = Vec::new();
    while !indices.is_empty() {
        let n = indices.len().min(256);
        let entries: Vec<kvm_msr_entry> = indices[..n]
            .iter()
            .map(|&index| kvm_msr_entry {
                index,
                ..Default::default()
            })
            .collect();
        let mut msrs = Msrs::from_entries(&entries)
            .map_err(|e| RunError::Internal(format!("msr list: {e:?}")))?;
        let read = fd.get_msrs(&mut msrs).map_err(kvm_err("KVM_GET_MSRS"))?;
        out.extend(msrs.as_slice()[..read].iter().map(|e| Msr {
            index: e.index,
            value: e.data,
        }));
        // The entry at `read` (if any) is one KVM cannot read here: skip it.
        indices.drain(..(read + 1).min(indices.len()));
    }
    Ok(out)
}

fn xsave(vm: &VmFd, fd: &VcpuFd) -> Result<Xsave, RunError> {
    let size = usize::try_from(vm.check_extension_int(Cap::Xsave2)).unwrap_or(0);
    let base = std::mem::size_of::<kvm_bindings::kvm_xsave>();
    if size <= base {
        let x = fd.get_xsave().map_err(kvm_err("KVM_GET_XSAVE"))?;
        return Ok(Xsave {
            region: Bytes(x.as_bytes().to_vec()),
            extra: Vec::new(),
            len_field: Some(0),
        });
    }
    let extra = (size - base).div_ceil(4);
    let mut area = kvm_bindings::Xsave::new(extra)
        .map_err(|e| RunError::Internal(format!("xsave area: {e:?}")))?;
    // SAFETY: `area` was allocated for `size` bytes, the size KVM_CAP_XSAVE2 reports, so KVM
    // writes only into allocated memory.
    unsafe { fd.get_xsave2(&mut area) }.map_err(kvm_err("KVM_GET_XSAVE2"))?;
    Ok(Xsave {
        region: Bytes(area.as_fam_struct_ref().xsave.as_bytes().to_vec()),
        extra: area.as_slice().to_vec(),
        len_field: Some(0),
    })
}

/// The state of one paused vCPU.
pub fn vcpu(kvm: &Kvm, vm: &VmFd, fd: &VcpuFd) -> Result<X86Vcpu, RunError> {
    // Order as Firecracker saves: MP state first (it may change the LAPIC), events last.
    let mp = fd.get_mp_state().map_err(kvm_err("KVM_GET_MP_STATE"))?;
    let regs = fd.get_regs().map_err(kvm_err("KVM_GET_REGS"))?;
    let sregs = fd.get_sregs().map_err(kvm_err("KVM_GET_SREGS"))?;
    let xsave = xsave(vm, fd)?;
    let xcrs = fd.get_xcrs().map_err(kvm_err("KVM_GET_XCRS"))?;
    let debug = fd.get_debug_regs().map_err(kvm_err("KVM_GET_DEBUGREGS"))?;
    let lapic = fd.get_lapic().map_err(kvm_err("KVM_GET_LAPIC"))?;
    let tsc_khz = fd.get_tsc_khz().ok();
    let cpuid = fd
        .get_cpuid2(KVM_MAX_CPUID_ENTRIES)
        .map_err(kvm_err("KVM_GET_CPUID2"))?;
    let msrs = msrs(kvm, fd)?;
    let events = fd
        .get_vcpu_events()
        .map_err(kvm_err("KVM_GET_VCPU_EVENTS"))?;
    Ok(X86Vcpu {
        regs: k::regs_from(regs.as_bytes()),
        sregs: k::sregs_from(sregs.as_bytes()),
        mp_state: Some(mp.mp_state),
        debug_regs: Some(k::debugregs_from(debug.as_bytes())),
        xcrs: Some(k::xcrs_from(xcrs.as_bytes())),
        xsave: Some(xsave),
        lapic: Some(Lapic {
            regs: Bytes(lapic.as_bytes().to_vec()),
        }),
        msr_chunks: Vec::new(),
        msrs,
        cpuid: cpuid
            .as_slice()
            .iter()
            .map(|e| k::cpuid_entry_from(e.as_bytes()))
            .collect(),
        events: Some(k::events_from(events.as_bytes())),
        tsc_khz,
    })
}

/// The VM-wide state: PIT, clock, both PICs, IOAPIC.
pub fn platform(vm: &VmFd) -> Result<X86Platform, RunError> {
    let pit = vm.get_pit2().map_err(kvm_err("KVM_GET_PIT2"))?;
    let clock = vm.get_clock().map_err(kvm_err("KVM_GET_CLOCK"))?;
    let chip = |id: u32| -> Result<k::Irqchip, RunError> {
        let mut c = kvm_irqchip {
            chip_id: id,
            ..Default::default()
        };
        vm.get_irqchip(&mut c)
            .map_err(kvm_err(format!("KVM_GET_IRQCHIP {id}")))?;
        Ok(k::irqchip_from(c.as_bytes()))
    };
    let pic = |id| -> Result<Option<Pic>, RunError> {
        Ok(match chip(id)? {
            k::Irqchip::Pic(_, p) => Some(p),
            k::Irqchip::Ioapic(_) => None,
        })
    };
    Ok(X86Platform {
        pit: Some(k::pit_from(pit.as_bytes())),
        clock: Some(k::clock_from(clock.as_bytes())),
        pic_master: pic(0)?,
        pic_slave: pic(1)?,
        ioapic: match chip(2)? {
            k::Irqchip::Ioapic(a) => Some(a),
            k::Irqchip::Pic(..) => None,
        },
    })
}
