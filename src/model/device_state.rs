//! The runtime state of an emulated device beyond its common virtio state ([`VirtioState`]),
//! its placement ([`Transport`]) and its configuration ([`DeviceConfig`]): what a restore needs
//! for the device to carry on exactly (rate-limiter budgets, the MMDS network stack, balloon
//! statistics, the vsock port counter, transport registers, ...).
//!
//! One neutral shape for every release that records it. A field only some releases record is
//! an `Option`: `None` when the producer's release does not have it, so a writer for a release
//! that does gives it the value that release records for a device that never had it, and a
//! writer for a release that does not leaves it out (a conversion's round trip then shows
//! whether anything was lost).
//!
//! [`VirtioState`]: super::VirtioState
//! [`Transport`]: super::Transport
//! [`DeviceConfig`]: super::DeviceConfig

use super::Bytes;
use serde::{Deserialize, Serialize};

/// A device's runtime state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceState {
    /// MMIO transport registers, for a device on MMIO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mmio: Option<MmioRegs>,
    /// PCI transport state, for a device on PCI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pci: Option<Box<PciTransport>>,
    /// The device's own id inside its state, when it differs from [`Device::id`].
    ///
    /// [`Device::id`]: super::Device::id
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_id: Option<String>,
    /// By kind (flattened: `{"mmio": ..., "net": {...}}`).
    #[serde(flatten)]
    pub kind: KindState,
}

impl DeviceState {
    /// A state with no transport registers.
    pub fn new(kind: KindState) -> Self {
        DeviceState {
            mmio: None,
            pci: None,
            inner_id: None,
            kind,
        }
    }
}

/// The virtio-mmio registers a device keeps besides its status and interrupt status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct MmioRegs {
    pub features_select: u32,
    pub acked_features_select: u32,
    pub queue_select: u32,
    pub config_generation: u32,
}

/// A virtio-pci function's transport state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct PciTransport {
    pub device_activated: bool,
    pub cap_pci_cfg_offset: u16,
    pub cap_pci_cfg: Bytes,
    /// Configuration space registers.
    pub registers: Vec<u32>,
    /// Writable bits of each register.
    pub writable_bits: Vec<u32>,
    /// Last capability (offset, size).
    pub last_capability: Option<(u8, u8)>,
    pub driver_status: u8,
    pub config_generation: u8,
    pub device_feature_select: u32,
    pub driver_feature_select: u32,
    pub queue_select: u16,
    pub msix_config: u16,
    pub msix_queues: Vec<u16>,
    /// MSI-X table entries (address low, address high, data, vector control).
    pub msix_table: Vec<[u32; 4]>,
    pub msix_pba: Vec<u64>,
    pub msix_masked: bool,
    pub msix_enabled: bool,
    /// The interrupt lines (GSIs) of the MSI-X vectors.
    pub msix_vectors: Vec<u32>,
    /// BARs: encoded address, encoded size, "about to be read".
    pub bars: [(u32, u32, bool); 6],
    pub msix_config_cap_offset: u16,
    /// Where the device's BAR is mapped, when the release records it.
    pub bar_address: Option<u64>,
}

/// Per-kind runtime state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KindState {
    /// A block device.
    Block(BlockRuntime),
    /// A network interface.
    Net(NetRuntime),
    /// A vsock device.
    Vsock(VsockRuntime),
    /// A memory balloon.
    Balloon(BalloonRuntime),
    /// An entropy device.
    Entropy(LimiterState),
    /// A virtio-pmem device.
    Pmem(PmemRuntime),
    /// A virtio-mem device.
    Mem(MemRuntime),
    /// The ACPI vmclock device.
    VmClock(VmClock),
}

/// A token bucket's runtime state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct BucketState {
    pub size: u64,
    pub one_time_burst: u64,
    pub refill_time: u64,
    pub budget: u64,
    pub elapsed_ns: u64,
}

/// A rate limiter's runtime state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct LimiterState {
    pub ops: Option<BucketState>,
    pub bandwidth: Option<BucketState>,
}

/// A block device's runtime state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRuntime {
    /// The rate limiter (virtio backend).
    pub rate_limiter: LimiterState,
    /// The vhost-user backend's state, for a vhost-user device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost_user: Option<VhostUserRuntime>,
}

/// A vhost-user block backend's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VhostUserRuntime {
    /// Protocol features the backend acknowledged.
    pub acked_protocol_features: u64,
    /// The device's configuration space.
    pub config_space: Bytes,
}

/// A network interface's runtime state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetRuntime {
    /// Receive rate limiter.
    pub rx_limiter: LimiterState,
    /// Transmit rate limiter.
    pub tx_limiter: LimiterState,
    /// The MMDS network stack on this interface.
    pub mmds_stack: Option<MmdsStack>,
    /// Receive buffer bookkeeping, when the release records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_buffers: Option<RxBuffers>,
}

/// The MMDS network stack of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct MmdsStack {
    pub mac_addr: [u8; 6],
    pub ipv4_addr: u32,
    pub tcp_port: u16,
    /// TCP connection limit, when the release records it (v1.8–v1.10; their default is 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u64>,
    /// Pending-reset limit, when the release records it (v1.8–v1.10; their default is 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pending_resets: Option<u64>,
}

/// Receive buffer bookkeeping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct RxBuffers {
    pub parsed_descriptor_chains_nr: u16,
    pub used_descriptors: u16,
    pub used_bytes: u32,
}

/// A vsock device's runtime state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VsockRuntime {
    /// The last local port handed to a host-initiated connection, when recorded.
    #[serde(default)]
    pub local_port_last: Option<u32>,
    /// A transport-reset event the guest has not acknowledged yet, when recorded.
    #[serde(default)]
    pub pending_event_ack: Option<bool>,
}

/// A balloon's runtime state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalloonRuntime {
    /// The statistics descriptor the guest last gave, if any.
    pub stats_desc_index: Option<u16>,
    /// The latest statistics (a statistic the release does not record is `None`).
    pub latest_stats: BalloonStats,
    /// Target size in 4 KiB pages.
    pub num_pages: u32,
    /// Size the guest reports in 4 KiB pages.
    pub actual_pages: u32,
    /// Free page hinting, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hinting: Option<FreePageHinting>,
}

/// Balloon statistics as the guest last reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct BalloonStats {
    pub swap_in: Option<u64>,
    pub swap_out: Option<u64>,
    pub major_faults: Option<u64>,
    pub minor_faults: Option<u64>,
    pub free_memory: Option<u64>,
    pub total_memory: Option<u64>,
    pub available_memory: Option<u64>,
    pub disk_caches: Option<u64>,
    pub hugetlb_allocations: Option<u64>,
    pub hugetlb_failures: Option<u64>,
    pub oom_kill: Option<u64>,
    pub alloc_stall: Option<u64>,
    pub async_scan: Option<u64>,
    pub direct_scan: Option<u64>,
    pub async_reclaim: Option<u64>,
    pub direct_reclaim: Option<u64>,
}

/// Free page hinting state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct FreePageHinting {
    pub host_cmd: u32,
    pub last_cmd_id: u32,
    pub guest_cmd: Option<u32>,
    pub acknowledge_on_finish: bool,
}

/// A token bucket as configured (`one_time_burst` as given, possibly unset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct BucketConfig {
    pub size: u64,
    pub one_time_burst: Option<u64>,
    pub refill_time: u64,
}

/// A rate limiter as configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct LimiterConfig {
    pub bandwidth: Option<BucketConfig>,
    pub ops: Option<BucketConfig>,
}

/// A virtio-pmem device's runtime state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PmemRuntime {
    /// Guest-physical start of the mapping.
    pub start: u64,
    /// Mapping size.
    pub size: u64,
    /// The rate limiter as configured, when the release records it (`Some(None)`: recorded,
    /// none configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limiter_config: Option<Option<LimiterConfig>>,
    /// The rate limiter's state, when the release records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limiter: Option<LimiterState>,
}

/// A virtio-mem device's runtime state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct MemRuntime {
    pub addr: u64,
    pub region_size: u64,
    pub block_size: u64,
    pub usable_region_size: u64,
    pub requested_size: u64,
    pub slot_size: u64,
    /// One flag per block.
    pub plugged_blocks: Vec<bool>,
}

/// The ACPI vmclock device: where its page is, its interrupt line and the page's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct VmClock {
    pub guest_address: u64,
    /// Interrupt line, when the release gives the device one.
    pub gsi: Option<u32>,
    pub magic: u32,
    pub size: u32,
    pub version: u16,
    pub counter_id: u8,
    pub time_type: u8,
    pub seq_count: u32,
    pub disruption_marker: u64,
    pub flags: u64,
    pub pad: [u8; 2],
    pub clock_status: u8,
    pub leap_second_smearing_hint: u8,
    pub tai_offset_sec: u16,
    pub leap_indicator: u8,
    pub counter_period_shift: u8,
    pub counter_value: u64,
    pub counter_period_frac_sec: u64,
    pub counter_period_esterror_rate_frac_sec: u64,
    pub counter_period_maxerror_rate_frac_sec: u64,
    pub time_sec: u64,
    pub time_frac_sec: u64,
    pub time_esterror_nanosec: u64,
    pub time_maxerror_nanosec: u64,
    /// VM generation counter, when the release records it.
    pub vm_generation_counter: Option<u64>,
}
