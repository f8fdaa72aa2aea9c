//! aarch64 `MicrovmState` of snapshot format 1.0.0 (Firecracker v1.7.0).
//!
//! Field order is declaration order upstream, which is the wire order.

use serde::{Deserialize, Serialize};

use super::devices::{
    ConnectedBalloonState, ConnectedBlockState, ConnectedEntropyState, ConnectedNetState,
    ConnectedVsockState, GuestMemoryState, KvmCapability, MmdsVersionState, MmioDeviceInfo,
};
use super::kvm::{kvm_mp_state, kvm_vcpu_init};

pub use crate::formats::firecracker::shared::v1_12::aarch64::{
    Aarch64RegisterVec, DeviceType, GicRegState, GicState, GicVcpuState, StaticCpuTemplate,
    VgicSysRegsState, VmInfo,
};

/// Firecracker: VmState — vstate/vm.rs (aarch64, format 1.0.0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmState {
    /// GIC state.
    pub gic: GicState,
    /// KVM capabilities added or removed by the CPU template.
    pub kvm_cap_modifiers: Vec<KvmCapability>,
}

/// Firecracker: VcpuState — vstate/vcpu/aarch64.rs (format 1.0.0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VcpuState {
    /// MP state.
    pub mp_state: kvm_mp_state,
    /// All vCPU registers (ids and packed data).
    pub regs: Aarch64RegisterVec,
    /// MPIDR_EL1 value.
    pub mpidr: u64,
    /// KVM_ARM_VCPU_INIT arguments (`Option` in 1.0.0).
    pub kvi: Option<kvm_vcpu_init>,
}

/// Firecracker: ConnectedLegacyState — device_manager/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectedLegacyState {
    /// Device type (`type_` upstream).
    pub type_: DeviceType,
    /// MMIO placement.
    pub device_info: MmioDeviceInfo,
}

/// Firecracker: DeviceStates — device_manager/persist.rs (aarch64: starts with
/// `legacy_devices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStates {
    /// Legacy MMIO devices (serial, RTC, boot timer).
    pub legacy_devices: Vec<ConnectedLegacyState>,
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

/// Firecracker: MicrovmState — persist.rs (format 1.0.0, aarch64).
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
