//! Types of snapshot format 1.0.0 shared by x86_64 and aarch64: machine
//! configuration, guest memory description and every device state.
//!
//! Field order is declaration order in Firecracker v1.7.0, which is the wire
//! order. Types byte-identical to format 6.0.0 are re-exported from there.
//! Do not reorder, add or remove fields: this layout is frozen.

use serde::{Deserialize, Serialize};

pub use crate::formats::firecracker::shared::v1_12::devices::{
    BalloonConfigSpaceState, BalloonState, BalloonStatsState, BlockState, BootSourceConfig,
    CacheType, EntropyState, FileEngineTypeState, HugePageConfig, KvmCapability, MacAddr,
    MmdsVersionState, MmioTransportState, NetConfigSpaceState, QueueState, RateLimiterState,
    TokenBucketState, VhostUserBlockState, VirtioBlockState, VirtioDeviceState, VsockBackendState,
    VsockFrontendState, VsockState, VsockUdsState,
};

// ---------------------------------------------------------------------------
// Guest memory
// ---------------------------------------------------------------------------

/// Firecracker: GuestMemoryState — vstate/memory.rs (top-level `memory_state` in 1.0.0).
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
    /// Offset of the region in the memory file (Firecracker writes the running sum of sizes).
    pub offset: u64,
}

// ---------------------------------------------------------------------------
// MMIO placement
// ---------------------------------------------------------------------------

/// Firecracker: MMIODeviceInfo — device_manager/mmio.rs (1.0.0: a list of IRQs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmioDeviceInfo {
    /// MMIO base address.
    pub addr: u64,
    /// MMIO window length.
    pub len: u64,
    /// Interrupt lines (Firecracker assigns one).
    pub irqs: Vec<u32>,
}

// ---------------------------------------------------------------------------
// Block
// ---------------------------------------------------------------------------

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

/// Firecracker: MmdsNetworkStackState — mmds/persist.rs (1.0.0: with connection limits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmdsNetworkStackState {
    /// MMDS MAC address (`[u8; MAC_ADDR_LEN]`, MAC_ADDR_LEN = 6).
    pub mac_addr: [u8; 6],
    /// MMDS IPv4 address.
    pub ipv4_addr: u32,
    /// MMDS TCP port.
    pub tcp_port: u16,
    /// Maximum number of TCP connections (`usize` upstream).
    pub max_connections: u64,
    /// Maximum number of pending RST segments (`usize` upstream).
    pub max_pending_resets: u64,
}

/// Firecracker: NetState — devices/virtio/net/persist.rs (1.0.0: no RX buffer state).
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
// Vsock, balloon, entropy
// ---------------------------------------------------------------------------

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
