//! The `devices` types that several frozen Firecracker layouts share, as Firecracker v1.12 declares
//! them (snapshot format 6.0.0). Each layout imports the ones it uses by name, so a change here
//! changes every layout listed below; a layout whose type differs defines its own.
//!
//! | type | layouts |
//! |---|---|
//! | `BootSourceConfig` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `HugePageConfig` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `KvmCapability` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `KvmState` | 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `GuestMemoryState` | 5.0.0, 6.0.0, 8.0.0 (v1.13) |
//! | `GuestMemoryRegionState` | 5.0.0, 6.0.0, 8.0.0 (v1.13) |
//! | `MmioDeviceInfo` | 5.0.0, 6.0.0 |
//! | `MmioTransportState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `QueueState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `VirtioDeviceState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `TokenBucketState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `RateLimiterState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `CacheType` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `FileEngineTypeState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `VirtioBlockState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `VhostUserBlockState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `BlockState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `ConnectedBlockState` | 5.0.0, 6.0.0 |
//! | `MmdsNetworkStackState` | 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `MacAddr` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `NetConfigSpaceState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `RxBufferState` | 4.0.0, 5.0.0, 6.0.0 |
//! | `NetState` | 5.0.0, 6.0.0 |
//! | `ConnectedNetState` | 5.0.0, 6.0.0 |
//! | `VsockUdsState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `VsockBackendState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `VsockFrontendState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `VsockState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `ConnectedVsockState` | 5.0.0, 6.0.0 |
//! | `BalloonStatsState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13) |
//! | `BalloonConfigSpaceState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13) |
//! | `BalloonState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `ConnectedBalloonState` | 5.0.0, 6.0.0 |
//! | `MmdsVersionState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `EntropyState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `ConnectedEntropyState` | 5.0.0, 6.0.0 |
//! | `VmGenIdState` | 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `AcpiDeviceManagerState` | 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13) |
//!
//! Other types here are what those need. Moved from the 6.0.0 layout, whose notes follow.
//!
//! Types of snapshot format 6.0.0 shared by x86_64 and aarch64: machine
//! configuration, KVM capability modifiers, guest memory description and
//! every device state.
//!
//! Field order is declaration order in Firecracker v1.12.x, which is the
//! wire order. Do not reorder, add or remove fields: this layout is frozen.

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------
// Machine configuration
// ---------------------------------------------------------------------------

/// Firecracker: BootSourceConfig — vmm_config/boot_source.rs
/// (`serde(deny_unknown_fields)`, irrelevant for the binary codecs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootSourceConfig {
    /// Path of the guest kernel image on the host.
    pub kernel_image_path: String,
    /// Path of the initrd on the host, if any.
    pub initrd_path: Option<String>,
    /// Kernel command line, if any.
    pub boot_args: Option<String>,
}

/// Firecracker: HugePageConfig — vmm_config/machine_config.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HugePageConfig {
    /// No huge pages (index 0).
    None,
    /// 2 MiB hugetlbfs pages (index 1). Upstream has `serde(rename = "2M")`,
    /// which does not affect the index-encoded binary form.
    Hugetlbfs2M,
}

/// Firecracker: KvmCapability — cpu_config/templates.rs (custom serde).
///
/// Serialized as a string: `"N"` = `Add(N)`, `"!N"` = `Remove(N)`.
pub type KvmCapability = String;

/// Firecracker: KvmState — vstate/kvm.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvmState {
    /// KVM capabilities added or removed by the CPU template.
    pub kvm_cap_modifiers: Vec<KvmCapability>,
}

// ---------------------------------------------------------------------------
// Guest memory
// ---------------------------------------------------------------------------

/// Firecracker: GuestMemoryState — vstate/memory.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestMemoryState {
    /// Guest RAM regions, in memory-file order.
    pub regions: Vec<GuestMemoryRegionState>,
}

/// Firecracker: GuestMemoryRegionState — vstate/memory.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestMemoryRegionState {
    /// Guest physical base address.
    pub base_address: u64,
    /// Region size in bytes (`usize` upstream).
    pub size: u64,
}

// ---------------------------------------------------------------------------
// Virtio / MMIO common
// ---------------------------------------------------------------------------

/// Firecracker: MMIODeviceInfo — device_manager/mmio.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmioDeviceInfo {
    /// MMIO base address.
    pub addr: u64,
    /// MMIO window length.
    pub len: u64,
    /// Interrupt line, if any.
    pub irq: Option<NonZeroU32>,
}

/// Firecracker: MmioTransportState — devices/virtio/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmioTransportState {
    /// Device features select register.
    pub features_select: u32,
    /// Driver (acked) features select register.
    pub acked_features_select: u32,
    /// Queue select register.
    pub queue_select: u32,
    /// Device status register.
    pub device_status: u32,
    /// Config generation counter.
    pub config_generation: u32,
}

/// Firecracker: QueueState — devices/virtio/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueState {
    /// Maximum queue size offered by the device.
    pub max_size: u16,
    /// Queue size negotiated by the driver.
    pub size: u16,
    /// Whether the queue is ready.
    pub ready: bool,
    /// Guest physical address of the descriptor table.
    pub desc_table: u64,
    /// Guest physical address of the available ring.
    pub avail_ring: u64,
    /// Guest physical address of the used ring.
    pub used_ring: u64,
    /// Next available index (`Wrapping<u16>` upstream).
    pub next_avail: u16,
    /// Next used index (`Wrapping<u16>` upstream).
    pub next_used: u16,
    /// Number of descriptors added since last notification (`Wrapping<u16>`).
    pub num_added: u16,
}

/// Firecracker: VirtioDeviceState — devices/virtio/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtioDeviceState {
    /// Virtio device id (e.g. 1 = net, 2 = block).
    pub device_type: u32,
    /// Features offered by the device.
    pub avail_features: u64,
    /// Features acknowledged by the driver.
    pub acked_features: u64,
    /// Virtqueues.
    pub queues: Vec<QueueState>,
    /// Interrupt status register.
    pub interrupt_status: u32,
    /// Whether the device was activated.
    pub activated: bool,
}

// ---------------------------------------------------------------------------
// Rate limiter
// ---------------------------------------------------------------------------

/// Firecracker: TokenBucketState — rate_limiter/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenBucketState {
    /// Bucket size.
    pub size: u64,
    /// Initial one-time burst.
    pub one_time_burst: u64,
    /// Refill time in milliseconds.
    pub refill_time: u64,
    /// Current budget.
    pub budget: u64,
    /// Nanoseconds elapsed since last refill.
    pub elapsed_ns: u64,
}

/// Firecracker: RateLimiterState — rate_limiter/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimiterState {
    /// Operations bucket.
    pub ops: Option<TokenBucketState>,
    /// Bandwidth bucket.
    pub bandwidth: Option<TokenBucketState>,
}

// ---------------------------------------------------------------------------
// Block
// ---------------------------------------------------------------------------

/// Firecracker: CacheType — devices/virtio/block/mod.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CacheType {
    /// Flushes are ignored (index 0).
    Unsafe,
    /// Flushes are honoured (index 1).
    Writeback,
}

/// Firecracker: FileEngineTypeState — devices/virtio/block/virtio/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileEngineTypeState {
    /// Synchronous I/O (index 0).
    Sync,
    /// io_uring (index 1).
    Async,
}

/// Firecracker: VirtioBlockState — devices/virtio/block/virtio/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtioBlockState {
    /// Drive id.
    pub id: String,
    /// Partition UUID, if any.
    pub partuuid: Option<String>,
    /// Cache type.
    pub cache_type: CacheType,
    /// Whether this is the root device.
    pub root_device: bool,
    /// Backing file path on the host.
    pub disk_path: String,
    /// Virtio device state.
    pub virtio_state: VirtioDeviceState,
    /// Rate limiter state.
    pub rate_limiter_state: RateLimiterState,
    /// I/O engine.
    pub file_engine_type: FileEngineTypeState,
}

/// Firecracker: VhostUserBlockState — devices/virtio/block/vhost_user/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VhostUserBlockState {
    /// Drive id.
    pub id: String,
    /// Partition UUID, if any.
    pub partuuid: Option<String>,
    /// Cache type.
    pub cache_type: CacheType,
    /// Whether this is the root device.
    pub root_device: bool,
    /// vhost-user backend socket path.
    pub socket_path: String,
    /// Acked vhost-user protocol features.
    pub vu_acked_protocol_features: u64,
    /// Device config space.
    pub config_space: Vec<u8>,
    /// Virtio device state.
    pub virtio_state: VirtioDeviceState,
}

/// Firecracker: BlockState — devices/virtio/block/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockState {
    /// Virtio block device (index 0).
    Virtio(VirtioBlockState),
    /// vhost-user block device (index 1).
    VhostUser(VhostUserBlockState),
}

/// Firecracker: ConnectedBlockState — device_manager/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectedBlockState {
    /// Device id.
    pub device_id: String,
    /// Device state.
    pub device_state: BlockState,
    /// MMIO transport state.
    pub transport_state: MmioTransportState,
    /// MMIO placement.
    pub device_info: MmioDeviceInfo,
}

// ---------------------------------------------------------------------------
// Net
// ---------------------------------------------------------------------------

/// Firecracker: MmdsNetworkStackState — mmds/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmdsNetworkStackState {
    /// MMDS MAC address (`[u8; MAC_ADDR_LEN]`, MAC_ADDR_LEN = 6).
    pub mac_addr: [u8; 6],
    /// MMDS IPv4 address.
    pub ipv4_addr: u32,
    /// MMDS TCP port.
    pub tcp_port: u16,
}

/// Firecracker: MacAddr — utils/net/mac.rs (custom serde).
///
/// Serialized as a string `"aa:bb:cc:dd:ee:ff"`.
pub type MacAddr = String;

/// Firecracker: NetConfigSpaceState — devices/virtio/net/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetConfigSpaceState {
    /// Guest MAC address, if configured.
    pub guest_mac: Option<MacAddr>,
}

/// Firecracker: RxBufferState — devices/virtio/net/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxBufferState {
    /// Number of parsed descriptor chains.
    pub parsed_descriptor_chains_nr: u16,
    /// Number of used descriptors.
    pub used_descriptors: u16,
    /// Number of used bytes.
    pub used_bytes: u32,
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
    /// RX buffer bookkeeping.
    pub rx_buffers_state: RxBufferState,
}

/// Firecracker: ConnectedNetState — device_manager/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectedNetState {
    /// Device id.
    pub device_id: String,
    /// Device state.
    pub device_state: NetState,
    /// MMIO transport state.
    pub transport_state: MmioTransportState,
    /// MMIO placement.
    pub device_info: MmioDeviceInfo,
}

// ---------------------------------------------------------------------------
// Vsock
// ---------------------------------------------------------------------------

/// Firecracker: VsockUdsState — devices/virtio/vsock/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VsockUdsState {
    /// Host Unix domain socket path.
    pub path: String,
}

/// Firecracker: VsockBackendState — devices/virtio/vsock/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VsockBackendState {
    /// Unix domain socket backend (index 0).
    Uds(VsockUdsState),
}

/// Firecracker: VsockFrontendState — devices/virtio/vsock/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VsockFrontendState {
    /// Guest context id.
    pub cid: u64,
    /// Virtio device state.
    pub virtio_state: VirtioDeviceState,
}

/// Firecracker: VsockState — devices/virtio/vsock/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VsockState {
    /// Backend state.
    pub backend: VsockBackendState,
    /// Frontend state.
    pub frontend: VsockFrontendState,
}

/// Firecracker: ConnectedVsockState — device_manager/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectedVsockState {
    /// Device id.
    pub device_id: String,
    /// Device state.
    pub device_state: VsockState,
    /// MMIO transport state.
    pub transport_state: MmioTransportState,
    /// MMIO placement.
    pub device_info: MmioDeviceInfo,
}

// ---------------------------------------------------------------------------
// Balloon
// ---------------------------------------------------------------------------

/// Firecracker: BalloonStatsState — devices/virtio/balloon/persist.rs
/// (10 counters in format 6.0.0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalloonStatsState {
    /// Pages swapped in.
    pub swap_in: Option<u64>,
    /// Pages swapped out.
    pub swap_out: Option<u64>,
    /// Major page faults.
    pub major_faults: Option<u64>,
    /// Minor page faults.
    pub minor_faults: Option<u64>,
    /// Free memory.
    pub free_memory: Option<u64>,
    /// Total memory.
    pub total_memory: Option<u64>,
    /// Available memory.
    pub available_memory: Option<u64>,
    /// Disk caches.
    pub disk_caches: Option<u64>,
    /// Successful hugetlb allocations.
    pub hugetlb_allocations: Option<u64>,
    /// Failed hugetlb allocations.
    pub hugetlb_failures: Option<u64>,
}

/// Firecracker: BalloonConfigSpaceState — devices/virtio/balloon/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalloonConfigSpaceState {
    /// Requested balloon size in pages.
    pub num_pages: u32,
    /// Actual balloon size in pages.
    pub actual_pages: u32,
}

/// Firecracker: BalloonState — devices/virtio/balloon/persist.rs
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
    /// Virtio device state.
    pub virtio_state: VirtioDeviceState,
}

/// Firecracker: ConnectedBalloonState — device_manager/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectedBalloonState {
    /// Device id.
    pub device_id: String,
    /// Device state.
    pub device_state: BalloonState,
    /// MMIO transport state.
    pub transport_state: MmioTransportState,
    /// MMIO placement.
    pub device_info: MmioDeviceInfo,
}

// ---------------------------------------------------------------------------
// MMDS, entropy
// ---------------------------------------------------------------------------

/// Firecracker: MmdsVersionState — device_manager/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MmdsVersionState {
    /// MMDS version 1 (index 0).
    V1,
    /// MMDS version 2 (index 1).
    V2,
}

/// Firecracker: EntropyState — devices/virtio/rng/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntropyState {
    /// Virtio device state.
    pub virtio_state: VirtioDeviceState,
    /// Rate limiter state.
    pub rate_limiter_state: RateLimiterState,
}

/// Firecracker: ConnectedEntropyState — device_manager/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectedEntropyState {
    /// Device id.
    pub device_id: String,
    /// Device state.
    pub device_state: EntropyState,
    /// MMIO transport state.
    pub transport_state: MmioTransportState,
    /// MMIO placement.
    pub device_info: MmioDeviceInfo,
}

// ---------------------------------------------------------------------------
// ACPI
// ---------------------------------------------------------------------------

/// Firecracker: VMGenIDState — devices/acpi/vmgenid.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmGenIdState {
    /// Interrupt line.
    pub gsi: u32,
    /// Guest physical address of the generation id.
    pub addr: u64,
}

/// Firecracker: ACPIDeviceManagerState — device_manager/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcpiDeviceManagerState {
    /// VMGenID device state, if present.
    pub vmgenid: Option<VmGenIdState>,
}
