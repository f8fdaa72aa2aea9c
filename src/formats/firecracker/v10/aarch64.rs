//! aarch64 `MicrovmState` of snapshot format 10.0.0 (Firecracker v1.16.x).
//!
//! Field order is declaration order upstream, which is the wire order.

use serde::{Deserialize, Serialize};

use super::devices::{
    AcpiDeviceManagerState, BalloonState, BlockState, BootSourceConfig, EntropyState,
    GuestMemoryState, HugePageConfig, KvmState, MmdsState, MmioDevice, MmioDeviceInfo, NetState,
    PciDevicesState, PmemState, ResourceAllocator, SerialState, VirtioMemState, VsockState,
};
use crate::formats::firecracker::wire::Blob;

/// Firecracker: StaticCpuTemplate — cpu_config/aarch64/static_cpu_templates/mod.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StaticCpuTemplate {
    /// Neoverse V1 → N1 template (index 0).
    V1N1,
    /// No template (index 1).
    None,
}

/// Firecracker: VmInfo — persist.rs
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

/// Firecracker: GicRegState — arch/aarch64/gic/regs.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GicRegState<T> {
    /// Register values.
    pub chunks: Vec<T>,
}

/// Firecracker: VgicSysRegsState — arch/aarch64/gic/regs.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VgicSysRegsState {
    /// Main ICC system registers.
    pub main_icc_regs: Vec<GicRegState<u64>>,
    /// Active-priority ICC registers (absent ones are `None`).
    pub ap_icc_regs: Vec<Option<GicRegState<u64>>>,
}

/// Firecracker: GicVcpuState — arch/aarch64/gic/regs.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GicVcpuState {
    /// Redistributor registers.
    pub rdist: Vec<GicRegState<u32>>,
    /// CPU interface system registers.
    pub icc: VgicSysRegsState,
}

/// Firecracker: ItsRegisterState — arch/aarch64/gic/gicv3/regs/its_regs.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItsRegisterState {
    /// GITS_IIDR.
    pub iidr: u64,
    /// GITS_CBASER.
    pub cbaser: u64,
    /// GITS_CREADR.
    pub creadr: u64,
    /// GITS_CWRITER.
    pub cwriter: u64,
    /// `GITS_BASER<n>`.
    pub baser: [u64; 8],
    /// GITS_CTLR.
    pub ctlr: u64,
}

/// Firecracker: GicState — arch/aarch64/gic/regs.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GicState {
    /// Distributor registers.
    pub dist: Vec<GicRegState<u32>>,
    /// Per-vCPU GIC state.
    pub gic_vcpu_states: Vec<GicVcpuState>,
    /// ITS state, if an ITS is present.
    pub its_state: Option<ItsRegisterState>,
}

/// Firecracker: VmState — arch/aarch64/vm.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmState {
    /// Guest memory layout.
    pub memory: GuestMemoryState,
    /// GIC state.
    pub gic: GicState,
    /// GSI and address-space allocators.
    pub resource_allocator: ResourceAllocator,
}

/// Firecracker: Aarch64RegisterVec — arch/aarch64/regs.rs (custom serde):
/// `(ids, data)`; each register's size is `1 << ((id >> 52) & 0xf)` bytes.
pub type Aarch64RegisterVec = (Vec<u64>, Vec<u8>);

/// Firecracker: VcpuState — arch/aarch64/vcpu.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VcpuState {
    /// `kvm_mp_state` blob.
    pub mp_state: Blob,
    /// All vCPU registers (ids and packed data).
    pub regs: Aarch64RegisterVec,
    /// MPIDR_EL1 value.
    pub mpidr: u64,
    /// `kvm_vcpu_init` blob.
    pub kvi: Blob,
    /// Guest physical address of the PV-time structure, if enabled.
    pub pvtime_ipa: Option<u64>,
}

/// Firecracker: DeviceType — arch/mod.rs, as compiled for aarch64
/// (`Serial` and `Rtc` are `cfg(target_arch = "aarch64")`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceType {
    /// Virtio device with the given virtio id (index 0).
    Virtio(u32),
    /// 8250 serial console (index 1).
    Serial,
    /// PL031 RTC (index 2).
    Rtc,
    /// Boot timer (index 3).
    BootTimer,
}

/// Firecracker: ConnectedLegacyState — device_manager/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectedLegacyState {
    /// Device type (`type_` upstream).
    pub type_: DeviceType,
    /// MMIO placement.
    pub device_info: MmioDeviceInfo,
}

/// Firecracker: DeviceStates — device_manager/persist.rs (MMIO devices;
/// aarch64: starts with `legacy_devices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStates {
    /// Legacy MMIO devices (serial, RTC, boot timer).
    pub legacy_devices: Vec<ConnectedLegacyState>,
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
    /// Devices on the MMIO transport (and legacy devices).
    pub mmio_state: DeviceStates,
    /// ACPI devices.
    pub acpi_state: AcpiDeviceManagerState,
    /// Devices on the PCI transport.
    pub pci_state: PciDevicesState,
    /// Serial console registers, if a serial device exists.
    pub serial_state: Option<SerialState>,
}

/// Firecracker: MicrovmState — persist.rs (format 10.0.0, aarch64).
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
