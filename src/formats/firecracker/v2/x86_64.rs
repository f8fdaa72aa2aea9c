//! x86_64 `MicrovmState` of snapshot format 2.0.0 (Firecracker v1.8.0; the x86_64 layout of
//! format 3.0.0, v1.9.x, is the same).
//!
//! Field order is declaration order upstream, which is the wire order.

use serde::{Deserialize, Serialize};

use super::devices::{
    AcpiDeviceManagerState, ConnectedBalloonState, ConnectedBlockState, ConnectedEntropyState,
    ConnectedNetState, ConnectedVsockState, GuestMemoryState, KvmCapability, MmdsVersionState,
};
use crate::formats::firecracker::wire::Blob;

pub use crate::formats::firecracker::shared::v1_12::x86_64::{
    CpuId, Msrs, StaticCpuTemplate, VmInfo,
};

/// Firecracker: VmState — vstate/vm.rs (x86_64; formats 1.0.0–4.0.0 end with the KVM
/// capability modifiers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmState {
    /// `kvm_pit_state2` blob (KVM_GET_PIT2).
    pub pitstate: Blob,
    /// `kvm_clock_data` blob (KVM_GET_CLOCK).
    pub clock: Blob,
    /// `kvm_irqchip` blob, chip 0 (master PIC).
    pub pic_master: Blob,
    /// `kvm_irqchip` blob, chip 1 (slave PIC).
    pub pic_slave: Blob,
    /// `kvm_irqchip` blob, chip 2 (IOAPIC).
    pub ioapic: Blob,
    /// KVM capabilities added or removed by the CPU template.
    pub kvm_cap_modifiers: Vec<KvmCapability>,
}

/// Firecracker: VcpuState — vstate/vcpu/x86_64.rs (formats 2.0.0–5.0.0: `xsave` is a plain
/// `kvm_xsave`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VcpuState {
    /// CPUID entries (KVM_GET_CPUID2).
    pub cpuid: CpuId,
    /// MSRs, in chunks.
    pub saved_msrs: Vec<Msrs>,
    /// `kvm_debugregs` blob.
    pub debug_regs: Blob,
    /// `kvm_lapic_state` blob.
    pub lapic: Blob,
    /// `kvm_mp_state` blob.
    pub mp_state: Blob,
    /// `kvm_regs` blob.
    pub regs: Blob,
    /// `kvm_sregs` blob.
    pub sregs: Blob,
    /// `kvm_vcpu_events` blob.
    pub vcpu_events: Blob,
    /// `kvm_xcrs` blob.
    pub xcrs: Blob,
    /// `kvm_xsave` blob (KVM_GET_XSAVE, 4096 bytes).
    pub xsave: Blob,
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

/// Firecracker: MicrovmState — persist.rs (format 2.0.0, x86_64).
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
    /// ACPI device states (`cfg(target_arch = "x86_64")` in this format).
    pub acpi_dev_state: AcpiDeviceManagerState,
}
