//! Types of snapshot format 9.0.0 shared by x86_64 and aarch64: machine
//! configuration, KVM capability modifiers, guest memory description,
//! resource allocators, every virtio device state (MMIO and PCI transports)
//! and ACPI devices.
//!
//! Field order is declaration order in Firecracker v1.15.x, which is the
//! wire order. Do not reorder, add or remove fields: this layout is frozen.
//! Types whose whole tree is byte-identical in format 10.0.0 are re-exported
//! from there; the ones defined here differ from 10.0.0 (no `mtu`, no pmem
//! rate limiter, the v1.15 PCI transport state).

use serde::{Deserialize, Serialize};

pub use crate::formats::firecracker::shared::v1_16::devices::{
    AcpiDeviceManagerState, AddressAllocator, BalloonConfigSpaceState, BalloonState,
    BalloonStatsState, BlockState, BootSourceConfig, CacheType, EntropyState, FileEngineTypeState,
    GuestMemoryRegionState, GuestMemoryState, GuestRegionType, HintingState, HugePageConfig,
    IdAllocator, InnerNode, IntervalTree, KvmCapability, KvmState, MacAddr, MmdsNetworkStackState,
    MmdsState, MmdsVersion, MmioDevice, MmioDeviceInfo, MmioTransportState, MsixConfigState,
    MsixTableEntry, NodeState, PmemConfigSpace, QueueState, RangeInclusive, RateLimiterState,
    ResourceAllocator, TokenBucketState, VhostUserBlockState, VirtioBlockState, VirtioDeviceState,
    VirtioDeviceType, VirtioMemState, VirtioPciCommonConfigState, VmClockAbi, VmClockState,
    VmGenIdState, VsockBackendState, VsockFrontendState, VsockState,
};

// ---------------------------------------------------------------------------
// Net
// ---------------------------------------------------------------------------

/// Firecracker: NetConfigSpaceState — devices/virtio/net/persist.rs
/// (format 9.0.0: the guest MAC only; `mtu` came with 10.0.0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetConfigSpaceState {
    /// Guest MAC address, if configured.
    pub guest_mac: Option<MacAddr>,
}

/// Firecracker: NetState — devices/virtio/net/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetState {
    /// Interface id.
    pub id: String,
    /// Host tap device name.
    pub tap_if_name: String,
    /// RX rate limiter state.
    pub rx_rate_limiter_state: RateLimiterState,
    /// TX rate limiter state.
    pub tx_rate_limiter_state: RateLimiterState,
    /// MMDS network stack state, if MMDS is attached.
    pub mmds_ns: Option<MmdsNetworkStackState>,
    /// Config space.
    pub config_space: NetConfigSpaceState,
    /// Virtio device state.
    pub virtio_state: VirtioDeviceState,
}

// ---------------------------------------------------------------------------
// Pmem
// ---------------------------------------------------------------------------

/// Firecracker: PmemConfig — vmm_config/pmem.rs (`serde(deny_unknown_fields)`;
/// format 9.0.0: no `rate_limiter`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PmemConfig {
    /// Device id.
    pub id: String,
    /// Backing file path on the host.
    pub path_on_host: String,
    /// Whether this is the root device (`serde(default)` upstream).
    #[serde(default)]
    pub root_device: bool,
    /// Whether the device is read-only (`serde(default)` upstream).
    #[serde(default)]
    pub read_only: bool,
}

/// Firecracker: PmemState — devices/virtio/pmem/persist.rs (format 9.0.0:
/// no `rate_limiter_state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PmemState {
    /// Virtio device state.
    pub virtio_state: VirtioDeviceState,
    /// Config space.
    pub config_space: PmemConfigSpace,
    /// Device configuration.
    pub config: PmemConfig,
}

// ---------------------------------------------------------------------------
// PCI transport (v1.15)
// ---------------------------------------------------------------------------

/// Firecracker: PciBdf — pci/src/lib.rs (custom serde): a `u32` upstream,
/// serialized as the string `"SSSS:BB:DD.F"` (hex segment, bus, device,
/// function).
pub type PciBdf = String;

/// Firecracker: PciBar — pci/configuration.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciBar {
    /// BAR address register value.
    pub addr: u32,
    /// BAR size.
    pub size: u32,
    /// Whether the BAR is in use.
    pub used: bool,
}

/// Firecracker: PciConfigurationState — pci/configuration.rs (v1.15 shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciConfigurationState {
    /// Configuration space registers.
    pub registers: Vec<u32>,
    /// Writable-bit masks of the registers.
    pub writable_bits: Vec<u32>,
    /// Base address registers.
    pub bars: Vec<PciBar>,
    /// Last capability `(offset, length)` (`(usize, usize)` upstream), if any.
    pub last_capability: Option<(u64, u64)>,
    /// Register index of the MSI-X capability (`usize` upstream), if any.
    pub msix_cap_reg_idx: Option<u64>,
}

/// Firecracker: VirtioPciDeviceState — devices/virtio/transport/pci/device.rs
/// (v1.15 shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtioPciDeviceState {
    /// PCI address, as `"SSSS:BB:DD.F"`.
    pub pci_device_bdf: PciBdf,
    /// Whether the device was activated.
    pub device_activated: bool,
    /// Offset of the PCI config access capability (`usize` upstream).
    pub cap_pci_cfg_offset: u64,
    /// PCI config access capability contents.
    pub cap_pci_cfg: Vec<u8>,
    /// Configuration space.
    pub pci_configuration_state: PciConfigurationState,
    /// Virtio common configuration.
    pub pci_dev_state: VirtioPciCommonConfigState,
    /// MSI-X state.
    pub msix_state: MsixConfigState,
    /// Guest physical address of the device's BAR.
    pub bar_address: u64,
}

/// Firecracker: `VirtioDeviceState<T>` — device_manager/pci_mngr.rs
/// (the PCI-transport device wrapper, v1.15 shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciDevice<T> {
    /// Device id.
    pub device_id: String,
    /// PCI address packed into a u32 (`seg << 16 | bus << 8 | dev << 3 | fn`).
    pub pci_device_bdf: u32,
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
