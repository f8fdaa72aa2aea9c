//! x86_64 `MicrovmState` of snapshot format 11.0.0 (Firecracker v1.16.2,
//! main before 1.17).
//!
//! Field order is declaration order upstream, which is the wire order.

use serde::{Deserialize, Serialize};

use super::devices::{
    AcpiDeviceManagerState, BootSourceConfig, GuestMemoryState, HugePageConfig, KvmState,
    ResourceAllocatorState, SerialState, VirtioDevicesState,
};
pub use crate::formats::firecracker::shared::v1_16::x86_64::{
    CpuId, Msrs, StaticCpuTemplate, VcpuState,
};
use crate::formats::firecracker::wire::Blob;

/// Firecracker: VmInfo — persist.rs (format 11.0.0's `HugePageConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmInfo {
    /// Guest memory size in MiB.
    pub mem_size_mib: u64,
    /// Whether SMT is enabled.
    pub smt: bool,
    /// Static CPU template.
    pub cpu_template: StaticCpuTemplate,
    /// Boot source configuration.
    pub boot_source: BootSourceConfig,
    /// Huge page configuration.
    pub huge_pages: HugePageConfig,
}

/// Firecracker: VmState — arch/x86_64/vm.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmState {
    /// Guest memory layout.
    pub memory: GuestMemoryState,
    /// Address-space allocators.
    pub resource_allocator: ResourceAllocatorState,
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

/// Firecracker: MMIOPlatformDevicesState — device_manager/persist.rs. Its
/// fields are `cfg(target_arch = "aarch64")`, so on x86_64 it is an empty
/// struct (no bytes on the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmioPlatformDevicesState {}

/// Firecracker: DevicesState — device_manager/mod.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicesState {
    /// Virtio devices, on MMIO or on PCI.
    pub virtio_state: VirtioDevicesState,
    /// Platform MMIO devices (none on x86_64).
    pub mmio_platform_state: MmioPlatformDevicesState,
    /// ACPI devices.
    pub acpi_state: AcpiDeviceManagerState,
    /// Serial console registers, if a serial device exists.
    pub serial_state: Option<SerialState>,
}

/// Firecracker: MicrovmState — persist.rs (format 11.0.0, x86_64).
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
