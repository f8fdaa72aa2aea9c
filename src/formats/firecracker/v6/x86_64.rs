//! x86_64 `MicrovmState` of snapshot format 6.0.0 (Firecracker v1.12.x).
//!
//! Field order is declaration order upstream, which is the wire order.

use serde::{Deserialize, Serialize};

use super::devices::{AcpiDeviceManagerState, GuestMemoryState, KvmState};
use crate::formats::firecracker::wire::Blob;

pub use crate::formats::firecracker::shared::v1_12::x86_64::{
    CpuId, DeviceStates, Msrs, StaticCpuTemplate, VcpuState, VmInfo,
};

/// Firecracker: VmState — arch/x86_64/vm.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmState {
    /// Guest memory layout.
    pub memory: GuestMemoryState,
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
}

/// Firecracker: MicrovmState — persist.rs (format 6.0.0, x86_64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MicrovmState {
    /// Machine configuration.
    pub vm_info: VmInfo,
    /// KVM capability modifiers.
    pub kvm_state: KvmState,
    /// VM-level state.
    pub vm_state: VmState,
    /// One state per vCPU.
    pub vcpu_states: Vec<VcpuState>,
    /// Device states.
    pub device_states: DeviceStates,
    /// ACPI device states.
    pub acpi_dev_state: AcpiDeviceManagerState,
}
