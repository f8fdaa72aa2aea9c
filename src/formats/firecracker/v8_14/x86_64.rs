//! x86_64 `MicrovmState` of snapshot format 8.0.0, v1.14 layout (Firecracker v1.14.x).
//!
//! Field order is declaration order upstream, which is the wire order.

use serde::{Deserialize, Serialize};

use super::devices::{
    BalloonState, BlockState, EntropyState, GuestMemoryState, KvmState, MmdsState, MmioDevice,
    NetState, PciDevicesState, PmemState, ResourceAllocator, VirtioMemState, VmClockState,
    VmGenIdState, VsockState,
};
pub use crate::formats::firecracker::shared::v1_12::x86_64::{
    CpuId, Msrs, StaticCpuTemplate, VcpuState, VmInfo,
};
use crate::formats::firecracker::wire::Blob;

/// Firecracker: VmState — arch/x86_64/vm.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmState {
    /// Guest memory layout.
    pub memory: GuestMemoryState,
    /// GSI and address-space allocators.
    pub resource_allocator: ResourceAllocator,
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

/// Firecracker: DeviceStates — device_manager/persist.rs (MMIO devices; x86_64: no
/// `legacy_devices`).
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

/// Firecracker: ACPIDeviceManagerState — device_manager/persist.rs (v1.14, x86_64: `vmclock` is
/// `cfg(target_arch = "x86_64")`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcpiDeviceManagerState {
    /// VMGenID device state.
    pub vmgenid: VmGenIdState,
    /// vmclock device state.
    pub vmclock: VmClockState,
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
}

/// Firecracker: MicrovmState — persist.rs (format 8.0.0, v1.14 layout, x86_64).
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
