//! Types of snapshot format 10.0.0 shared by x86_64 and aarch64: machine
//! configuration, KVM capability modifiers, guest memory description,
//! resource allocators, every virtio device state (MMIO and PCI transports),
//! ACPI devices and the serial console.
//!
//! Field order is declaration order in Firecracker v1.16.x, which is the
//! wire order. Do not reorder, add or remove fields: this layout is frozen.

use serde::{Deserialize, Serialize};

pub use crate::formats::firecracker::shared::v1_16::devices::{
    AcpiDeviceManagerState, AddressAllocator, BalloonConfigSpaceState, BalloonState,
    BalloonStatsState, Bar, Bars, BlockState, BootSourceConfig, CacheType, EntropyState,
    FileEngineTypeState, GuestMemoryRegionState, GuestMemoryState, GuestRegionType, HintingState,
    HugePageConfig, IdAllocator, InnerNode, IntervalTree, KvmCapability, KvmState, MAX_TREE_DEPTH,
    MacAddr, MmdsNetworkStackState, MmdsState, MmdsVersion, MmioDevice, MmioDeviceInfo,
    MmioTransportState, MsixConfigState, MsixTableEntry, NetConfigSpaceState, NetState, NodeState,
    PciConfigurationState, PciSbdf, PmemConfig, PmemConfigSpace, PmemState, QueueState,
    RangeInclusive, RateLimiterConfig, RateLimiterState, ResourceAllocator, SerialState,
    TokenBucketConfig, TokenBucketState, VhostUserBlockState, VirtioBlockState, VirtioDeviceState,
    VirtioDeviceType, VirtioMemState, VirtioPciCommonConfigState, VmClockAbi, VmClockState,
    VmGenIdState, VsockBackendState, VsockFrontendState, VsockState,
};

/// Firecracker: VirtioPciDeviceState — devices/virtio/transport/pci/device.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtioPciDeviceState {
    /// PCI address.
    pub sbdf: PciSbdf,
    /// Whether the device was activated.
    pub device_activated: bool,
    /// Offset of the PCI config access capability.
    pub cap_pci_cfg_offset: u16,
    /// PCI config access capability contents.
    pub cap_pci_cfg: Vec<u8>,
    /// Configuration space.
    pub pci_configuration_state: PciConfigurationState,
    /// Virtio common configuration.
    pub pci_dev_state: VirtioPciCommonConfigState,
    /// MSI-X state.
    pub msix_state: MsixConfigState,
    /// BAR registers.
    pub bars: Bars,
    /// Offset of the MSI-X capability.
    pub msix_config_cap_offset: u16,
}

/// Firecracker: `VirtioDeviceState<T>` — device_manager/pci_mngr.rs
/// (the PCI-transport device wrapper).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciDevice<T> {
    /// Device id.
    pub device_id: String,
    /// PCI address.
    pub sbdf: PciSbdf,
    /// Device state.
    pub device_state: T,
    /// PCI transport state.
    pub transport_state: VirtioPciDeviceState,
}

/// Firecracker: PciDevicesState — device_manager/pci_mngr.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciDevicesState {
    /// Whether the PCI transport is enabled.
    pub pci_enabled: bool,
    /// Block devices.
    pub block_devices: Vec<PciDevice<BlockState>>,
    /// Network devices.
    pub net_devices: Vec<PciDevice<NetState>>,
    /// Vsock device, if any.
    pub vsock_device: Option<PciDevice<VsockState>>,
    /// Balloon device, if any.
    pub balloon_device: Option<PciDevice<BalloonState>>,
    /// MMDS state, if MMDS is configured.
    pub mmds: Option<MmdsState>,
    /// Entropy device, if any.
    pub entropy_device: Option<PciDevice<EntropyState>>,
    /// virtio-pmem devices.
    pub pmem_devices: Vec<PciDevice<PmemState>>,
    /// virtio-mem device, if any.
    pub memory_device: Option<PciDevice<VirtioMemState>>,
}
