//! x86_64 `MicrovmState` of snapshot format 1.0.0 (Firecracker v1.7.0).
//!
//! Field order is declaration order upstream, which is the wire order. KVM structures are the
//! field-wise types of [`super::kvm`].

use serde::{Deserialize, Serialize};

use super::devices::{
    ConnectedBalloonState, ConnectedBlockState, ConnectedEntropyState, ConnectedNetState,
    ConnectedVsockState, GuestMemoryState, KvmCapability, MmdsVersionState,
};
use super::kvm::{
    CpuId, Msrs, kvm_clock_data, kvm_debugregs, kvm_irqchip, kvm_lapic_state, kvm_mp_state,
    kvm_pit_state2, kvm_regs, kvm_sregs, kvm_vcpu_events, kvm_xcrs, kvm_xsave,
};

pub use crate::formats::firecracker::shared::v1_12::x86_64::{StaticCpuTemplate, VmInfo};

/// Firecracker: VmState — vstate/vm.rs (x86_64, format 1.0.0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmState {
    /// PIT state (KVM_GET_PIT2).
    pub pitstate: kvm_pit_state2,
    /// kvmclock (KVM_GET_CLOCK).
    pub clock: kvm_clock_data,
    /// Chip 0 (master PIC).
    pub pic_master: kvm_irqchip,
    /// Chip 1 (slave PIC).
    pub pic_slave: kvm_irqchip,
    /// Chip 2 (IOAPIC).
    pub ioapic: kvm_irqchip,
    /// KVM capabilities added or removed by the CPU template.
    pub kvm_cap_modifiers: Vec<KvmCapability>,
}

/// Firecracker: VcpuState — vstate/vcpu/x86_64.rs (format 1.0.0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VcpuState {
    /// CPUID entries (KVM_GET_CPUID2).
    pub cpuid: CpuId,
    /// MSRs, in chunks.
    pub saved_msrs: Vec<Msrs>,
    /// Debug registers.
    pub debug_regs: kvm_debugregs,
    /// Local APIC page.
    pub lapic: kvm_lapic_state,
    /// MP state.
    pub mp_state: kvm_mp_state,
    /// General-purpose registers.
    pub regs: kvm_regs,
    /// Special registers.
    pub sregs: kvm_sregs,
    /// Pending events.
    pub vcpu_events: kvm_vcpu_events,
    /// Extended control registers.
    pub xcrs: kvm_xcrs,
    /// XSAVE area (KVM_GET_XSAVE, 4 KiB).
    pub xsave: kvm_xsave,
    /// TSC frequency in kHz, if known.
    pub tsc_khz: Option<u32>,
}

/// Firecracker: DeviceStates — device_manager/persist.rs (x86_64: no `legacy_devices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStates {
    /// Block devices.
    pub block_devices: Vec<ConnectedBlockState>,
    /// Network devices.
    pub net_devices: Vec<ConnectedNetState>,
    /// Vsock device, if any.
    pub vsock_device: Option<ConnectedVsockState>,
    /// Balloon device, if any.
    pub balloon_device: Option<ConnectedBalloonState>,
    /// MMDS version, if MMDS is configured.
    pub mmds_version: Option<MmdsVersionState>,
    /// Entropy device, if any.
    pub entropy_device: Option<ConnectedEntropyState>,
}

/// Firecracker: MicrovmState — persist.rs (format 1.0.0, x86_64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MicrovmState {
    /// Machine configuration.
    pub vm_info: VmInfo,
    /// Guest memory layout.
    pub memory_state: GuestMemoryState,
    /// VM-level state.
    pub vm_state: VmState,
    /// One state per vCPU.
    pub vcpu_states: Vec<VcpuState>,
    /// Device states.
    pub device_states: DeviceStates,
}
