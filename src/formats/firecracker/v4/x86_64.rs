//! x86_64 `MicrovmState` of snapshot format 4.0.0 (Firecracker v1.10.0, v1.10.1).
//!
//! Field order is declaration order upstream, which is the wire order.

use serde::{Deserialize, Serialize};

use super::devices::{
    AcpiDeviceManagerState, ConnectedBalloonState, ConnectedBlockState, ConnectedEntropyState,
    ConnectedNetState, ConnectedVsockState, GuestMemoryState, MmdsVersionState,
};

pub use super::super::v2::x86_64::{CpuId, Msrs, StaticCpuTemplate, VcpuState, VmInfo, VmState};

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

/// Firecracker: MicrovmState — persist.rs (format 4.0.0, x86_64).
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
    /// ACPI device states.
    pub acpi_dev_state: AcpiDeviceManagerState,
}
