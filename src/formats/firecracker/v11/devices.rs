//! Types of snapshot format 11.0.0 shared by x86_64 and aarch64: machine
//! configuration, resource allocators, every virtio device state (MMIO and
//! PCI transports), ACPI devices and the serial console.
//!
//! Field order is declaration order upstream, which is the wire order. Do
//! not reorder, add or remove fields: this layout is frozen. Types whose
//! whole tree is byte-identical in format 10.0.0 are re-exported from there;
//! the ones defined here differ from 10.0.0.

use serde::{Deserialize, Serialize};

pub use crate::formats::firecracker::shared::v1_16::devices::{
    AcpiDeviceManagerState, AddressAllocator, BalloonConfigSpaceState, BalloonState,
    BalloonStatsState, Bar, Bars, BlockState, BootSourceConfig, CacheType, EntropyState,
    FileEngineTypeState, GuestMemoryRegionState, GuestMemoryState, GuestRegionType, HintingState,
    InnerNode, IntervalTree, KvmCapability, KvmState, MacAddr, MmdsNetworkStackState, MmdsState,
    MmdsVersion, MmioDevice, MmioDeviceInfo, MmioTransportState, MsixConfigState, MsixTableEntry,
    NetConfigSpaceState, NetState, NodeState, PciConfigurationState, PciSbdf, PmemConfig,
    PmemConfigSpace, PmemState, QueueState, RangeInclusive, RateLimiterConfig, RateLimiterState,
    SerialState, TokenBucketConfig, TokenBucketState, VhostUserBlockState, VirtioBlockState,
    VirtioDeviceState, VirtioDeviceType, VirtioMemState, VirtioPciCommonConfigState, VmClockAbi,
    VmClockState, VmGenIdState, VsockBackendState,
};

/// Firecracker: HugePageConfig — vmm_config/machine_config.rs (format
/// 11.0.0 adds `Transparent` at index 1, so `Hugetlbfs2M` moves to index 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HugePageConfig {
    /// No huge pages (index 0).
    None,
    /// Transparent huge pages (index 1).
    Transparent,
    /// 2 MiB hugetlbfs pages (index 2). Upstream has `serde(rename = "2M")`,
    /// which does not affect the index-encoded binary form.
    Hugetlbfs2M,
}

/// Firecracker: ResourceAllocatorState — vstate/resources.rs (format
/// 11.0.0: the address allocators only; GSIs are no longer saved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAllocatorState {
    /// 32-bit MMIO address allocator.
    pub mmio32_memory: AddressAllocator,
    /// 64-bit MMIO address allocator.
    pub mmio64_memory: AddressAllocator,
    /// Allocator for the 64-bit MMIO space past guest memory.
    pub past_mmio64_memory: AddressAllocator,
    /// System memory allocator.
    pub system_memory: AddressAllocator,
}

/// Firecracker: VsockFrontendState — devices/virtio/vsock/persist.rs
/// (format 11.0.0 adds `pending_event_ack`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VsockFrontendState {
    /// Guest context id.
    pub cid: u64,
    /// Virtio device state.
    pub virtio_state: VirtioDeviceState,
    /// Whether a transport-reset event still awaits the guest's
    /// acknowledgement.
    pub pending_event_ack: bool,
}

/// Firecracker: VsockState — devices/virtio/vsock/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VsockState {
    /// Backend state.
    pub backend: VsockBackendState,
    /// Frontend state.
    pub frontend: VsockFrontendState,
}

/// Firecracker: VirtioPciDeviceState — devices/virtio/transport/pci/device.rs
/// (format 11.0.0: 10.0.0's fields plus `bar_address`).
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
    /// Guest physical address of the device's BAR.
    pub bar_address: u64,
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

/// Firecracker: DeviceStates — device_manager/persist.rs (MMIO virtio
/// devices; format 11.0.0: the same on both arches, no `legacy_devices`).
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

/// Firecracker: PciDevicesState — device_manager/pci_mngr.rs (format
/// 11.0.0: no `pci_enabled`; the enclosing enum variant says it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciDevicesState {
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

/// Firecracker: VirtioDevicesState — device_manager/mod.rs: the virtio
/// devices live on one transport. (The payloads are boxed only to keep the
/// enum small; serde encodes a `Box` as its content.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VirtioDevicesState {
    /// All virtio devices on MMIO (index 0).
    Mmio(Box<DeviceStates>),
    /// All virtio devices on PCI (index 1).
    Pci(Box<PciDevicesState>),
}
