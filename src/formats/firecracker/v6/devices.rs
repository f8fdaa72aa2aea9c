//! Types of snapshot format 6.0.0 shared by x86_64 and aarch64: machine
//! configuration, KVM capability modifiers, guest memory description and
//! every device state.
//!
//! Field order is declaration order in Firecracker v1.12.x, which is the
//! wire order. Do not reorder, add or remove fields: this layout is frozen.

pub use crate::formats::firecracker::shared::v1_12::devices::{
    AcpiDeviceManagerState, BalloonConfigSpaceState, BalloonState, BalloonStatsState, BlockState,
    BootSourceConfig, CacheType, ConnectedBalloonState, ConnectedBlockState, ConnectedEntropyState,
    ConnectedNetState, ConnectedVsockState, EntropyState, FileEngineTypeState,
    GuestMemoryRegionState, GuestMemoryState, HugePageConfig, KvmCapability, KvmState, MacAddr,
    MmdsNetworkStackState, MmdsVersionState, MmioDeviceInfo, MmioTransportState,
    NetConfigSpaceState, NetState, QueueState, RateLimiterState, RxBufferState, TokenBucketState,
    VhostUserBlockState, VirtioBlockState, VirtioDeviceState, VmGenIdState, VsockBackendState,
    VsockFrontendState, VsockState, VsockUdsState,
};
