//! aarch64 `MicrovmState` of snapshot format 5.0.0 (Firecracker v1.11.0).
//!
//! Field order is declaration order upstream, which is the wire order.

use serde::{Deserialize, Serialize};

use super::devices::{AcpiDeviceManagerState, GuestMemoryState, KvmState};

pub use crate::formats::firecracker::shared::v1_12::aarch64::{
    Aarch64RegisterVec, ConnectedLegacyState, DeviceStates, DeviceType, GicRegState, GicState,
    GicVcpuState, StaticCpuTemplate, VcpuState, VgicSysRegsState, VmInfo,
};

/// Firecracker: VmState — vstate/vm/aarch64.rs (format 5.0.0: the GIC only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmState {
    /// GIC state.
    pub gic: GicState,
}

/// Firecracker: MicrovmState — persist.rs (format 5.0.0, aarch64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MicrovmState {
    /// Machine configuration.
    pub vm_info: VmInfo,
    /// Guest memory layout.
    pub memory_state: GuestMemoryState,
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
