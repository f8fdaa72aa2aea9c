//! aarch64 `MicrovmState` of snapshot format 11.0.0 (Firecracker v1.16.2,
//! main before 1.17).
//!
//! Field order is declaration order upstream, which is the wire order.

use serde::{Deserialize, Serialize};

use super::devices::{
    AcpiDeviceManagerState, BootSourceConfig, GuestMemoryState, HugePageConfig, KvmState,
    MmioDeviceInfo, ResourceAllocatorState, SerialState, VirtioDevicesState,
};
pub use crate::formats::firecracker::shared::v1_16::aarch64::{
    Aarch64RegisterVec, GicRegState, GicState, GicVcpuState, ItsRegisterState, StaticCpuTemplate,
    VcpuState, VgicSysRegsState,
};

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

/// Firecracker: VmState — arch/aarch64/vm.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmState {
    /// Guest memory layout.
    pub memory: GuestMemoryState,
    /// GIC state.
    pub gic: GicState,
    /// Address-space allocators.
    pub resource_allocator: ResourceAllocatorState,
}

/// Firecracker: MMIOPlatformDevicesState — device_manager/persist.rs
/// (aarch64: the serial console and the RTC; replaces 10.0.0's
/// `legacy_devices`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmioPlatformDevicesState {
    /// 8250 serial console placement, if present.
    pub serial: Option<MmioDeviceInfo>,
    /// PL031 RTC placement, if present.
    pub rtc: Option<MmioDeviceInfo>,
}

/// Firecracker: DevicesState — device_manager/mod.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicesState {
    /// Virtio devices, on MMIO or on PCI.
    pub virtio_state: VirtioDevicesState,
    /// Platform MMIO devices.
    pub mmio_platform_state: MmioPlatformDevicesState,
    /// ACPI devices.
    pub acpi_state: AcpiDeviceManagerState,
    /// Serial console registers, if a serial device exists.
    pub serial_state: Option<SerialState>,
}

/// Firecracker: MicrovmState — persist.rs (format 11.0.0, aarch64).
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
