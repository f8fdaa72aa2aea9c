//! Types of snapshot format 8.0.0 as written by Firecracker v1.14.x, shared by x86_64 and
//! aarch64: guest memory description, resource allocators, every virtio device state (MMIO and
//! PCI transports) and the ACPI devices.
//!
//! Field order is declaration order in Firecracker v1.14.x, which is the wire order. Do not
//! reorder, add or remove fields: this layout is frozen. Types that are byte-identical (and
//! serde-identical) to those of another frozen module are re-exported from it.

use serde::{Deserialize, Serialize};

pub use super::super::v8_13::devices::{
    AddressAllocator, BlockState, BootSourceConfig, CacheType, EntropyState, FileEngineTypeState,
    HugePageConfig, IdAllocator, InnerNode, IntervalTree, KvmCapability, KvmState, MAX_TREE_DEPTH,
    MacAddr, MmdsNetworkStackState, MmdsState, MmdsVersion, MmioDevice, MmioDeviceInfo,
    MmioTransportState, MsixTableEntry, NetConfigSpaceState, NetState, NodeState, PciBdf,
    QueueState, RangeInclusive, RateLimiterState, TokenBucketState, VhostUserBlockState,
    VirtioBlockState, VirtioDeviceState, VirtioPciCommonConfigState, VmGenIdState,
    VsockBackendState, VsockFrontendState, VsockState, VsockUdsState,
};
pub use crate::formats::firecracker::shared::v1_16::devices::{
    BalloonConfigSpaceState, BalloonStatsState, GuestMemoryRegionState, GuestMemoryState,
    GuestRegionType, HintingState, MsixConfigState, PmemConfigSpace,
};

// ---------------------------------------------------------------------------
// Resource allocators
// ---------------------------------------------------------------------------

/// Firecracker: ResourceAllocator — vstate/resources.rs (v1.14: + `past_mmio64_memory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAllocator {
    /// Legacy (pin-based) GSI allocator.
    pub gsi_legacy_allocator: IdAllocator,
    /// MSI GSI allocator.
    pub gsi_msi_allocator: IdAllocator,
    /// 32-bit MMIO address allocator.
    pub mmio32_memory: AddressAllocator,
    /// 64-bit MMIO address allocator.
    pub mmio64_memory: AddressAllocator,
    /// Allocator for the 64-bit MMIO space past guest memory.
    pub past_mmio64_memory: AddressAllocator,
    /// System memory allocator.
    pub system_memory: AddressAllocator,
}

// ---------------------------------------------------------------------------
// Balloon, pmem, virtio-mem
// ---------------------------------------------------------------------------

/// Firecracker: BalloonState — devices/virtio/balloon/persist.rs (v1.14: 16 counters and
/// free-page hinting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalloonState {
    /// Statistics polling interval in seconds.
    pub stats_polling_interval_s: u16,
    /// Index of the pending stats descriptor, if any.
    pub stats_desc_index: Option<u16>,
    /// Latest statistics.
    pub latest_stats: BalloonStatsState,
    /// Config space.
    pub config_space: BalloonConfigSpaceState,
    /// Free-page hinting state.
    pub hinting_state: HintingState,
    /// Virtio device state.
    pub virtio_state: VirtioDeviceState,
}

/// Firecracker: PmemConfig — vmm_config/pmem.rs (`serde(deny_unknown_fields)`; v1.14: no rate
/// limiter).
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

/// Firecracker: PmemState — devices/virtio/pmem/persist.rs (v1.14: no rate limiter state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PmemState {
    /// Virtio device state.
    pub virtio_state: VirtioDeviceState,
    /// Config space.
    pub config_space: PmemConfigSpace,
    /// Device configuration.
    pub config: PmemConfig,
}

/// Firecracker: VirtioMemState — devices/virtio/mem/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtioMemState {
    /// Virtio device state.
    pub virtio_state: VirtioDeviceState,
    /// Guest physical address of the hotpluggable region.
    pub addr: u64,
    /// Region size in bytes.
    pub region_size: u64,
    /// Block size in bytes.
    pub block_size: u64,
    /// Usable region size in bytes.
    pub usable_region_size: u64,
    /// Size requested by the host in bytes.
    pub requested_size: u64,
    /// Memory slot size in bytes (`usize` upstream).
    pub slot_size: u64,
    /// Per-block plugged flags.
    pub plugged_blocks: Vec<bool>,
}

// ---------------------------------------------------------------------------
// PCI transport (the `pci` crate of Firecracker v1.14)
// ---------------------------------------------------------------------------

/// Firecracker: PciBar — pci/configuration.rs (v1.14: no region type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciBar {
    /// BAR address.
    pub addr: u32,
    /// BAR size.
    pub size: u32,
    /// Whether the BAR is in use.
    pub used: bool,
}

/// Firecracker: PciConfigurationState — pci/configuration.rs (v1.14: no ROM BAR fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciConfigurationState {
    /// Configuration space registers.
    pub registers: Vec<u32>,
    /// Writable-bit masks of the registers.
    pub writable_bits: Vec<u32>,
    /// The BARs.
    pub bars: Vec<PciBar>,
    /// Last capability `(offset, length)` (`(usize, usize)` upstream), if any.
    pub last_capability: Option<(u64, u64)>,
    /// Register index of the MSI-X capability (`usize` upstream), if any.
    pub msix_cap_reg_idx: Option<u64>,
}

/// Firecracker: VirtioPciDeviceState — devices/virtio/transport/pci/device.rs (v1.14).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtioPciDeviceState {
    /// PCI address, as the string `"ssss:bb:dd.f"`.
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

/// Firecracker: `VirtioDeviceState<T>` — device_manager/pci_mngr.rs (the PCI-transport device
/// wrapper, v1.14).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciDevice<T> {
    /// Device id.
    pub device_id: String,
    /// PCI address, packed (segment << 16 | bus << 8 | device << 3 | function).
    pub pci_device_bdf: u32,
    /// Device state.
    pub device_state: T,
    /// PCI transport state.
    pub transport_state: VirtioPciDeviceState,
}

/// Firecracker: PciDevicesState — device_manager/pci_mngr.rs (v1.14).
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

// ---------------------------------------------------------------------------
// vmclock (x86_64 only in v1.14)
// ---------------------------------------------------------------------------

/// Firecracker: vmclock_abi — devices/acpi/generated/vmclock_abi.rs (v1.14: 22 fields, no
/// `vm_generation_counter`; serde derive, serialized field by field, not as a blob).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmClockAbi {
    /// Magic (`__le32`).
    pub magic: u32,
    /// Structure size (`__le32`).
    pub size: u32,
    /// ABI version (`__le16`).
    pub version: u16,
    /// Counter id (`__u8`).
    pub counter_id: u8,
    /// Time type (`__u8`).
    pub time_type: u8,
    /// Sequence counter (`__le32`).
    pub seq_count: u32,
    /// Disruption marker (`__le64`).
    pub disruption_marker: u64,
    /// Flags (`__le64`).
    pub flags: u64,
    /// Padding (`[__u8; 2]`).
    pub pad: [u8; 2],
    /// Clock status (`__u8`).
    pub clock_status: u8,
    /// Leap-second smearing hint (`__u8`).
    pub leap_second_smearing_hint: u8,
    /// TAI offset in seconds (`__le16`).
    pub tai_offset_sec: u16,
    /// Leap indicator (`__u8`).
    pub leap_indicator: u8,
    /// Counter period shift (`__u8`).
    pub counter_period_shift: u8,
    /// Counter value (`__le64`).
    pub counter_value: u64,
    /// Counter period, fractional seconds (`__le64`).
    pub counter_period_frac_sec: u64,
    /// Counter period estimated error rate (`__le64`).
    pub counter_period_esterror_rate_frac_sec: u64,
    /// Counter period maximum error rate (`__le64`).
    pub counter_period_maxerror_rate_frac_sec: u64,
    /// Time, seconds (`__le64`).
    pub time_sec: u64,
    /// Time, fractional seconds (`__le64`).
    pub time_frac_sec: u64,
    /// Estimated time error in nanoseconds (`__le64`).
    pub time_esterror_nanosec: u64,
    /// Maximum time error in nanoseconds (`__le64`).
    pub time_maxerror_nanosec: u64,
}

/// Firecracker: VmClockState — devices/acpi/vmclock.rs (v1.14: no GSI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmClockState {
    /// Guest physical address of the vmclock page.
    pub guest_address: u64,
    /// The shared vmclock structure.
    pub inner: VmClockAbi,
}
