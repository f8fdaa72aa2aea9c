//! x86_64 `MicrovmState` of snapshot format 10.0.0 (Firecracker v1.16.x).
//!
//! Field order is declaration order upstream, which is the wire order.

use serde::{Deserialize, Serialize};

use super::devices::{
    AcpiDeviceManagerState, BalloonState, BlockState, EntropyState, KvmState, MmdsState,
    MmioDevice, NetState, PciDevicesState, PmemState, SerialState, VirtioMemState, VsockState,
};

pub use crate::formats::firecracker::shared::v1_16::x86_64::{
    CpuId, Msrs, StaticCpuTemplate, VcpuState, VmInfo, VmState,
};

/// Firecracker: DeviceStates — device_manager/persist.rs (MMIO devices;
/// x86_64: no `legacy_devices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStates {
    /// Block devices.
    pub block_devices: Vec<MmioDevice<BlockState>>,
    /// Network devices.
    pub net_devices: Vec<MmioDevice<NetState>>,
    /// Vsock device, if any.
    pub vsock_device: Option<MmioDevice<VsockState>>,
    /// Balloon device, if any.
    pub balloon_device: Option<MmioDevice<BalloonState>>,
    /// MMDS state, if MMDS is configured.
    pub mmds: Option<MmdsState>,
    /// Entropy device, if any.
    pub entropy_device: Option<MmioDevice<EntropyState>>,
    /// virtio-pmem devices.
    pub pmem_devices: Vec<MmioDevice<PmemState>>,
    /// virtio-mem device, if any.
    pub memory_device: Option<MmioDevice<VirtioMemState>>,
}

/// Firecracker: DevicesState — device_manager/mod.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicesState {
    /// Devices on the MMIO transport.
    pub mmio_state: DeviceStates,
    /// ACPI devices.
    pub acpi_state: AcpiDeviceManagerState,
    /// Devices on the PCI transport.
    pub pci_state: PciDevicesState,
    /// Serial console registers, if a serial device exists.
    pub serial_state: Option<SerialState>,
}

/// Firecracker: MicrovmState — persist.rs (format 10.0.0, x86_64).
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
    pub device_states: DevicesState,
}
