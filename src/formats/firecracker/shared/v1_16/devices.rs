//! The `devices` types that several frozen Firecracker layouts share, as Firecracker v1.16 declares
//! them (snapshot format 10.0.0). Each layout imports the ones it uses by name, so a change here
//! changes every layout listed below; a layout whose type differs defines its own.
//!
//! | type | layouts |
//! |---|---|
//! | `BootSourceConfig` | 9.0.0, 10.0.0, 11.0.0 |
//! | `HugePageConfig` | 9.0.0, 10.0.0 |
//! | `KvmCapability` | 9.0.0, 10.0.0, 11.0.0 |
//! | `KvmState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `GuestRegionType` | 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `GuestMemoryRegionState` | 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `GuestMemoryState` | 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `RangeInclusive` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `NodeState` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `InnerNode` | 9.0.0, 10.0.0, 11.0.0 |
//! | `IntervalTree` | 9.0.0, 10.0.0, 11.0.0 |
//! | `AddressAllocator` | 9.0.0, 10.0.0, 11.0.0 |
//! | `IdAllocator` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0 |
//! | `ResourceAllocator` | 9.0.0, 10.0.0 |
//! | `MmioDeviceInfo` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `MmioTransportState` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `VirtioDeviceType` | 9.0.0, 10.0.0, 11.0.0 |
//! | `QueueState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `VirtioDeviceState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `TokenBucketState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `RateLimiterState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `TokenBucketConfig` | 10.0.0, 11.0.0 |
//! | `RateLimiterConfig` | 10.0.0, 11.0.0 |
//! | `CacheType` | 9.0.0, 10.0.0, 11.0.0 |
//! | `FileEngineTypeState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `VirtioBlockState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `VhostUserBlockState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `BlockState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `MmdsNetworkStackState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `MacAddr` | 9.0.0, 10.0.0, 11.0.0 |
//! | `NetConfigSpaceState` | 10.0.0, 11.0.0 |
//! | `NetState` | 10.0.0, 11.0.0 |
//! | `VsockBackendState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `VsockFrontendState` | 9.0.0, 10.0.0 |
//! | `VsockState` | 9.0.0, 10.0.0 |
//! | `BalloonStatsState` | 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `BalloonConfigSpaceState` | 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `HintingState` | 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `BalloonState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `MmdsVersion` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `MmdsState` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `EntropyState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `PmemConfigSpace` | 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `PmemConfig` | 10.0.0, 11.0.0 |
//! | `PmemState` | 10.0.0, 11.0.0 |
//! | `VirtioMemState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `MmioDevice` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `PciSbdf` | 10.0.0, 11.0.0 |
//! | `PciConfigurationState` | 10.0.0, 11.0.0 |
//! | `VirtioPciCommonConfigState` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `MsixTableEntry` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `MsixConfigState` | 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `Bar` | 10.0.0, 11.0.0 |
//! | `Bars` | 10.0.0, 11.0.0 |
//! | `VmGenIdState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `VmClockAbi` | 9.0.0, 10.0.0, 11.0.0 |
//! | `VmClockState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `AcpiDeviceManagerState` | 9.0.0, 10.0.0, 11.0.0 |
//! | `SerialState` | 10.0.0, 11.0.0 |
//!
//! Other types here are what those need. Moved from the 10.0.0 layout, whose notes follow.
//!
//! Types of snapshot format 10.0.0 shared by x86_64 and aarch64: machine
//! configuration, KVM capability modifiers, guest memory description,
//! resource allocators, every virtio device state (MMIO and PCI transports),
//! ACPI devices and the serial console.
//!
//! Field order is declaration order in Firecracker v1.16.x, which is the
//! wire order. Do not reorder, add or remove fields: this layout is frozen.

use std::collections::BTreeSet;

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

/// Firecracker: GuestRegionType — vstate/memory.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GuestRegionType {
    /// Boot-time DRAM (index 0).
    Dram,
    /// virtio-mem hotpluggable region (index 1).
    Hotpluggable,
}

/// Firecracker: GuestMemoryRegionState — vstate/memory.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestMemoryRegionState {
    /// Guest physical base address.
    pub base_address: u64,
    /// Region size in bytes (`usize` upstream).
    pub size: u64,
    /// Region kind.
    pub region_type: GuestRegionType,
    /// Per-slot plugged flags.
    pub plugged: Vec<bool>,
}

/// Firecracker: GuestMemoryState — vstate/memory.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestMemoryState {
    /// Guest RAM regions, in memory-file order.
    pub regions: Vec<GuestMemoryRegionState>,
}

// ---------------------------------------------------------------------------
// Resource allocators (vm-allocator crate, `serde` feature)
// ---------------------------------------------------------------------------

// NOTE: the layout trees do not expand the vm-allocator types; the shapes
// below follow firecracker.md §1.7 and rust-vmm/vm-allocator's source
// (serde derive on RangeInclusive, NodeState, InnerNode, IntervalTree,
// AddressAllocator, IdAllocator).

/// vm-allocator: RangeInclusive — lib.rs (closed interval `[start, end]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeInclusive {
    /// Lower bound (inclusive).
    pub start: u64,
    /// Upper bound (inclusive).
    pub end: u64,
}

/// vm-allocator: NodeState — allocation_engine/interval_tree.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    /// Range is free (index 0).
    Free,
    /// Range is allocated (index 1).
    Allocated,
}

// The interval tree is recursive and serde decoders recurse on the stack, so a hostile file
// could nest `left` children until the stack overflows: decoding counts the depth and refuses
// trees deeper than any vm-allocator can build.

/// Deepest interval-tree node snaptool decodes (the root is at depth 1).
///
/// vm-allocator keeps the tree AVL-balanced, so a tree of height `h` has at least
/// `Fib(h + 2) − 1` nodes; no state under the 10 MiB cap holds a tree higher than about 30.
pub const MAX_TREE_DEPTH: u32 = 64;

thread_local! {
    static TREE_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Counts one level of interval-tree nesting while a node decodes.
struct DepthGuard;

impl DepthGuard {
    fn enter() -> Option<DepthGuard> {
        TREE_DEPTH.with(|d| {
            let n = d.get();
            (n < MAX_TREE_DEPTH).then(|| {
                d.set(n + 1);
                DepthGuard
            })
        })
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        TREE_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// vm-allocator: InnerNode — allocation_engine/interval_tree.rs
/// (recursive AVL node). Decoding refuses trees deeper than [`MAX_TREE_DEPTH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InnerNode {
    /// Interval handled by this node.
    pub key: RangeInclusive,
    /// Free or allocated.
    pub node_state: NodeState,
    /// Left child.
    pub left: Option<Box<InnerNode>>,
    /// Right child.
    pub right: Option<Box<InnerNode>>,
    /// Cached height of the node.
    pub height: u64,
}

/// The derived decoder of [`InnerNode`], called under a [`DepthGuard`].
#[derive(Deserialize)]
#[serde(rename = "InnerNode")]
struct InnerNodeWire {
    key: RangeInclusive,
    node_state: NodeState,
    left: Option<Box<InnerNode>>,
    right: Option<Box<InnerNode>>,
    height: u64,
}

impl<'de> Deserialize<'de> for InnerNode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let Some(_guard) = DepthGuard::enter() else {
            return Err(D::Error::custom(format!(
                "interval tree deeper than {MAX_TREE_DEPTH} levels"
            )));
        };
        let w = InnerNodeWire::deserialize(d)?;
        Ok(InnerNode {
            key: w.key,
            node_state: w.node_state,
            left: w.left,
            right: w.right,
            height: w.height,
        })
    }
}

/// vm-allocator: IntervalTree — allocation_engine/interval_tree.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalTree {
    /// Root node, if any.
    pub root: Option<Box<InnerNode>>,
}

/// vm-allocator: AddressAllocator — address_allocator.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressAllocator {
    /// Managed address space.
    pub address_space: RangeInclusive,
    /// Allocation tree.
    pub interval_tree: IntervalTree,
}

/// vm-allocator: IdAllocator — id_allocator.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdAllocator {
    /// First managed id.
    pub range_base: u32,
    /// First id never allocated (`None` after overflow).
    pub next_id: Option<u32>,
    /// Last managed id.
    pub range_end: u32,
    /// Released ids available for reuse (a sorted set upstream, serialized
    /// as a sequence in ascending order).
    pub freed_ids: BTreeSet<u32>,
}

/// Firecracker: ResourceAllocator — vstate/resources.rs
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
// Virtio / MMIO common
// ---------------------------------------------------------------------------

/// Firecracker: MMIODeviceInfo — device_manager/mmio.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmioDeviceInfo {
    /// MMIO base address.
    pub addr: u64,
    /// MMIO window length.
    pub len: u64,
    /// Interrupt GSI, if any.
    pub gsi: Option<u32>,
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
    /// Interrupt status register.
    pub interrupt_status: u32,
}

/// Firecracker: VirtioDeviceType — devices/virtio/device.rs
///
/// Upstream declares explicit discriminants (the virtio ids), but serde
/// encodes the declaration index, which is what the wire carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VirtioDeviceType {
    /// Network device (index 0; virtio id 1).
    Net,
    /// Block device (index 1; virtio id 2).
    Block,
    /// Entropy device (index 2; virtio id 4).
    Rng,
    /// Balloon device (index 3; virtio id 5).
    Balloon,
    /// Vsock device (index 4; virtio id 19).
    Vsock,
    /// virtio-mem device (index 5; virtio id 24).
    Mem,
    /// virtio-pmem device (index 6; virtio id 27).
    Pmem,
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

/// Firecracker: VirtioDeviceState — devices/virtio/persist.rs (the common
/// virtio state embedded in every device state; not the transport wrapper).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtioDeviceState {
    /// Device type.
    pub device_type: VirtioDeviceType,
    /// Features offered by the device.
    pub avail_features: u64,
    /// Features acknowledged by the driver.
    pub acked_features: u64,
    /// Virtqueues.
    pub queues: Vec<QueueState>,
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

/// Firecracker: TokenBucketConfig — vmm_config/mod.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenBucketConfig {
    /// Bucket size.
    pub size: u64,
    /// Initial one-time burst, if any.
    pub one_time_burst: Option<u64>,
    /// Refill time in milliseconds.
    pub refill_time: u64,
}

/// Firecracker: RateLimiterConfig — vmm_config/mod.rs
/// (`serde(deny_unknown_fields)`). Note the order: `bandwidth` before `ops`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimiterConfig {
    /// Bandwidth bucket configuration.
    pub bandwidth: Option<TokenBucketConfig>,
    /// Operations bucket configuration.
    pub ops: Option<TokenBucketConfig>,
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
    /// MTU, if configured (`serde(default)` upstream; no effect on the
    /// binary codecs).
    #[serde(default)]
    pub mtu: Option<u16>,
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
// Vsock
// ---------------------------------------------------------------------------

/// Firecracker: VsockBackendState — devices/virtio/vsock/persist.rs
/// (a struct since format 9.0.0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VsockBackendState {
    /// Host Unix domain socket path.
    pub uds_path: String,
    /// Last local port handed out.
    pub local_port_last: u32,
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

// ---------------------------------------------------------------------------
// Balloon
// ---------------------------------------------------------------------------

/// Firecracker: BalloonStatsState — devices/virtio/balloon/persist.rs
/// (16 counters in format 10.0.0).
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
    /// OOM kills.
    pub oom_kill: Option<u64>,
    /// Allocation stalls.
    pub alloc_stall: Option<u64>,
    /// Pages scanned asynchronously.
    pub async_scan: Option<u64>,
    /// Pages scanned directly.
    pub direct_scan: Option<u64>,
    /// Pages reclaimed asynchronously.
    pub async_reclaim: Option<u64>,
    /// Pages reclaimed directly.
    pub direct_reclaim: Option<u64>,
}

/// Firecracker: BalloonConfigSpaceState — devices/virtio/balloon/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalloonConfigSpaceState {
    /// Requested balloon size in pages.
    pub num_pages: u32,
    /// Actual balloon size in pages.
    pub actual_pages: u32,
}

/// Firecracker: HintingState — devices/virtio/balloon/device.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HintingState {
    /// Last command sent by the host.
    pub host_cmd: u32,
    /// Id of the last command.
    pub last_cmd_id: u32,
    /// Last command reported by the guest, if any.
    pub guest_cmd: Option<u32>,
    /// Whether to acknowledge when hinting finishes.
    pub acknowledge_on_finish: bool,
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
    /// Free-page hinting state.
    pub hinting_state: HintingState,
    /// Virtio device state.
    pub virtio_state: VirtioDeviceState,
}

// ---------------------------------------------------------------------------
// MMDS, entropy
// ---------------------------------------------------------------------------

/// Firecracker: MmdsVersion — mmds/data_store.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MmdsVersion {
    /// MMDS version 1 (index 0).
    V1,
    /// MMDS version 2 (index 1).
    V2,
}

/// Firecracker: MmdsState — device_manager/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmdsState {
    /// MMDS version.
    pub version: MmdsVersion,
    /// Whether IMDS-compatible responses are enabled.
    pub imds_compat: bool,
}

/// Firecracker: EntropyState — devices/virtio/rng/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntropyState {
    /// Virtio device state.
    pub virtio_state: VirtioDeviceState,
    /// Rate limiter state.
    pub rate_limiter_state: RateLimiterState,
}

// ---------------------------------------------------------------------------
// Pmem, virtio-mem
// ---------------------------------------------------------------------------

/// Firecracker: ConfigSpace — devices/virtio/pmem/device.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PmemConfigSpace {
    /// Guest physical start address.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
}

/// Firecracker: PmemConfig — vmm_config/pmem.rs (`serde(deny_unknown_fields)`).
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
    /// Rate limiter configuration, if any.
    pub rate_limiter: Option<RateLimiterConfig>,
}

/// Firecracker: PmemState — devices/virtio/pmem/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PmemState {
    /// Virtio device state.
    pub virtio_state: VirtioDeviceState,
    /// Config space.
    pub config_space: PmemConfigSpace,
    /// Device configuration.
    pub config: PmemConfig,
    /// Rate limiter state.
    pub rate_limiter_state: RateLimiterState,
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
// MMIO transport wrapper
// ---------------------------------------------------------------------------

/// Firecracker: `VirtioDeviceState<T>` — device_manager/persist.rs
/// (the MMIO-transport device wrapper).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmioDevice<T> {
    /// Device id.
    pub device_id: String,
    /// Device state.
    pub device_state: T,
    /// MMIO transport state.
    pub transport_state: MmioTransportState,
    /// MMIO placement.
    pub device_info: MmioDeviceInfo,
}

// ---------------------------------------------------------------------------
// PCI transport
// ---------------------------------------------------------------------------

/// Firecracker: PciSBDF — pci/mod.rs (`struct PciSBDF(u32)`: segment, bus,
/// device, function packed into a u32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciSbdf(pub u32);

/// Firecracker: PciConfigurationState — pci/configuration.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciConfigurationState {
    /// Configuration space registers.
    pub registers: Vec<u32>,
    /// Writable-bit masks of the registers.
    pub writable_bits: Vec<u32>,
    /// Last capability `(offset, length)`, if any.
    pub last_capability: Option<(u8, u8)>,
}

/// Firecracker: VirtioPciCommonConfigState — devices/virtio/transport/pci/common_config.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtioPciCommonConfigState {
    /// Driver status.
    pub driver_status: u8,
    /// Config generation counter.
    pub config_generation: u8,
    /// Device feature select.
    pub device_feature_select: u32,
    /// Driver feature select.
    pub driver_feature_select: u32,
    /// Queue select.
    pub queue_select: u16,
    /// MSI-X vector for config changes.
    pub msix_config: u16,
    /// MSI-X vector per queue.
    pub msix_queues: Vec<u16>,
}

/// Firecracker: MsixTableEntry — pci/msix.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsixTableEntry {
    /// Message address, low 32 bits.
    pub msg_addr_lo: u32,
    /// Message address, high 32 bits.
    pub msg_addr_hi: u32,
    /// Message data.
    pub msg_data: u32,
    /// Vector control.
    pub vector_ctl: u32,
}

/// Firecracker: MsixConfigState — pci/msix.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsixConfigState {
    /// MSI-X table.
    pub table_entries: Vec<MsixTableEntry>,
    /// Pending bit array.
    pub pba_entries: Vec<u64>,
    /// Function mask.
    pub masked: bool,
    /// MSI-X enable.
    pub enabled: bool,
    /// GSIs backing the vectors.
    pub vectors: Vec<u32>,
}

/// Firecracker: Bar — pci/configuration.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    /// Encoded BAR address register value.
    pub encoded_addr: u32,
    /// Encoded BAR size mask.
    pub encoded_size: u32,
    /// Whether the next read returns the size (after an all-ones write).
    pub about_to_be_read: bool,
}

/// Firecracker: Bars — pci/configuration.rs
// NOTE: the tree writes `[Bar; NUM_BAR_REGS as usize]`; NUM_BAR_REGS = 6
// per firecracker.md §1.8 (`[Bar{..}; 6]`) and the PCI type-0 header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bars {
    /// The six BARs.
    pub bars: [Bar; 6],
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

/// Firecracker: vmclock_abi — devices/acpi/generated/vmclock_abi.rs
/// (serde derive, serialized field by field, not as a blob).
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
    /// VM generation counter (`__le64`).
    pub vm_generation_counter: u64,
}

/// Firecracker: VmClockState — devices/acpi/vmclock.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmClockState {
    /// Guest physical address of the vmclock page.
    pub guest_address: u64,
    /// Interrupt line.
    pub gsi: u32,
    /// The shared vmclock structure.
    pub inner: VmClockAbi,
}

/// Firecracker: ACPIDeviceManagerState — device_manager/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcpiDeviceManagerState {
    /// VMGenID device state.
    pub vmgenid: VmGenIdState,
    /// vmclock device state.
    pub vmclock: VmClockState,
}

// ---------------------------------------------------------------------------
// Serial
// ---------------------------------------------------------------------------

/// Firecracker: SerialState — device_manager/persist.rs (8250 UART registers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerialState {
    /// Divisor latch, low byte.
    pub baud_divisor_low: u8,
    /// Divisor latch, high byte.
    pub baud_divisor_high: u8,
    /// Interrupt enable register.
    pub interrupt_enable: u8,
    /// Interrupt identification register.
    pub interrupt_identification: u8,
    /// Line control register.
    pub line_control: u8,
    /// Line status register.
    pub line_status: u8,
    /// Modem control register.
    pub modem_control: u8,
    /// Modem status register.
    pub modem_status: u8,
    /// Scratch register.
    pub scratch: u8,
    /// Pending input bytes.
    pub in_buffer: Vec<u8>,
}
