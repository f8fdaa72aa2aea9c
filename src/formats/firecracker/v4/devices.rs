//! Types of snapshot format 4.0.0 (v1.10.0, v1.10.1) shared by x86_64 and aarch64.
//!
//! Field order is declaration order in Firecracker v1.10.1, which is the wire order. Do not
//! reorder, add or remove fields: this layout is frozen. Only the network device differs from
//! format 3.0.0; everything else is re-exported.

use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

pub use super::super::v2::devices::{
    AcpiDeviceManagerState, BalloonConfigSpaceState, BalloonState, BalloonStatsState, BlockState,
    BootSourceConfig, CacheType, ConnectedBalloonState, ConnectedBlockState, ConnectedEntropyState,
    ConnectedVsockState, EntropyState, FileEngineTypeState, GuestMemoryRegionState,
    GuestMemoryState, HugePageConfig, KvmCapability, MacAddr, MmdsVersionState, MmioDeviceInfo,
    MmioTransportState, NetConfigSpaceState, QueueState, RateLimiterState, TokenBucketState,
    VhostUserBlockState, VirtioBlockState, VirtioDeviceState, VmGenIdState, VsockBackendState,
    VsockFrontendState, VsockState, VsockUdsState,
};
pub use crate::formats::firecracker::shared::v1_12::devices::RxBufferState;

/// Firecracker: MmdsNetworkStackState — mmds/persist.rs (format 4.0.0: limits as
/// `NonZeroUsize`, so a zero is refused on load).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmdsNetworkStackState {
    /// MMDS MAC address (`[u8; MAC_ADDR_LEN]`, MAC_ADDR_LEN = 6).
    pub mac_addr: [u8; 6],
    /// MMDS IPv4 address.
    pub ipv4_addr: u32,
    /// MMDS TCP port.
    pub tcp_port: u16,
    /// Most concurrent MMDS connections (`NonZeroUsize` upstream).
    pub max_connections: NonZeroU64,
    /// Most pending RST segments (`NonZeroUsize` upstream).
    pub max_pending_resets: NonZeroU64,
}

/// Firecracker: NetState — devices/virtio/net/persist.rs (with `rx_buffers_state` from v1.10.0).
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
    /// RX buffer bookkeeping (MRG_RXBUF).
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
