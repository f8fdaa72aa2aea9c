//! aarch64 `MicrovmState` of snapshot format 3.0.0 (Firecracker v1.9.x): format 2.0.0's plus
//! `acpi_dev_state` at the end.
//!
//! Field order is declaration order upstream, which is the wire order.

use serde::{Deserialize, Serialize};

use super::devices::{AcpiDeviceManagerState, GuestMemoryState};

pub use super::super::v2::aarch64::{
    Aarch64RegisterVec, ConnectedLegacyState, DeviceStates, DeviceType, GicRegState, GicState,
    GicVcpuState, StaticCpuTemplate, VcpuState, VgicSysRegsState, VmInfo, VmState,
};

/// Firecracker: MicrovmState — persist.rs (format 3.0.0 of v1.9.x, aarch64).
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
    /// ACPI device states (VMGenID; on aarch64 from this format on).
    pub acpi_dev_state: AcpiDeviceManagerState,
}
