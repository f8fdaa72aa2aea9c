//! Model → kvm-bindings structures, through the byte layouts in [`crate::kvm_abi`].

use super::RunError;
use crate::kvm_abi as k;
use crate::model::*;
use kvm_bindings::{
    CpuId, Msrs, kvm_clock_data, kvm_cpuid_entry2, kvm_debugregs, kvm_irqchip, kvm_lapic_state,
    kvm_msr_entry, kvm_pit_state2, kvm_regs, kvm_sregs, kvm_vcpu_events, kvm_xcrs, kvm_xsave,
};
use zerocopy::FromBytes;

/// A kvm-bindings structure from its C bytes (zero-extended or cut to its size, as KVM does).
pub fn pod<T: FromBytes>(bytes: &[u8]) -> Result<T, RunError> {
    let b = k::fit(bytes, std::mem::size_of::<T>());
    T::read_from_bytes(&b).map_err(|_| RunError::Internal("structure size mismatch".into()))
}

/// `kvm_regs`.
pub fn regs(r: &Regs) -> Result<kvm_regs, RunError> {
    pod(&k::regs_to(r))
}

/// `kvm_sregs`.
pub fn sregs(s: &Sregs) -> Result<kvm_sregs, RunError> {
    pod(&k::sregs_to(s))
}

/// `kvm_debugregs`.
pub fn debugregs(d: &DebugRegs) -> Result<kvm_debugregs, RunError> {
    pod(&k::debugregs_to(d))
}

/// `kvm_xcrs`.
pub fn xcrs(x: &Xcrs) -> Result<kvm_xcrs, RunError> {
    pod(&k::xcrs_to(x))
}

/// `kvm_lapic_state`.
pub fn lapic(l: &Lapic) -> Result<kvm_lapic_state, RunError> {
    pod(&l.regs.0)
}

/// `kvm_vcpu_events`.
pub fn events(e: &VcpuEvents) -> Result<kvm_vcpu_events, RunError> {
    pod(&k::events_to(e))
}

/// `kvm_xsave` (the first 4 KiB of the area).
pub fn xsave(x: &crate::model::Xsave) -> Result<kvm_xsave, RunError> {
    pod(&x.region.0)
}

/// `kvm_pit_state2`.
pub fn pit(p: &Pit) -> Result<kvm_pit_state2, RunError> {
    pod(&k::pit_to(p))
}

/// `kvm_clock_data`, with flags cleared (KVM_CLOCK_REALTIME is not requested).
pub fn clock(c: &KvmClock) -> Result<kvm_clock_data, RunError> {
    let c = KvmClock { flags: 0, ..*c };
    pod(&k::clock_to(&c))
}

/// `kvm_irqchip` for chip 0, 1 (PICs) or 2 (IOAPIC).
pub fn irqchip(c: &k::Irqchip) -> Result<kvm_irqchip, RunError> {
    pod(&k::irqchip_to(c))
}

/// `CpuId` from the model's entries.
pub fn cpuid(entries: &[CpuidEntry]) -> Result<CpuId, RunError> {
    let e: Vec<kvm_cpuid_entry2> = entries
        .iter()
        .map(|e| pod(&k::cpuid_entry_to(e)))
        .collect::<Result<_, _>>()?;
    CpuId::from_entries(&e).map_err(|e| RunError::Refused(format!("cpuid: {e:?}")))
}

/// `Msrs` from a slice of the model's MSRs.
pub fn msrs(list: &[Msr]) -> Result<Msrs, RunError> {
    let e: Vec<kvm_msr_entry> = list
        .iter()
        .map(|m| pod(&k::msr_to(m)))
        .collect::<Result<_, _>>()?;
    Msrs::from_entries(&e).map_err(|e| RunError::Refused(format!("msrs: {e:?}")))
}
