//! Types of snapshot format 8.0.0 as written by Firecracker v1.13.x, shared by x86_64 and
//! aarch64: guest memory description, resource allocators, every virtio device state (MMIO and
//! PCI transports) and the ACPI devices.
//!
//! Field order is declaration order in Firecracker v1.13.x, which is the wire order. Do not
//! reorder, add or remove fields: this layout is frozen. Types that are byte-identical (and
//! serde-identical) to those of another frozen module are re-exported from it.

use std::cell::Cell;

use serde::{Deserialize, Deserializer, Serialize, de::Error as _};

pub use crate::formats::firecracker::shared::v1_12::devices::{
    AcpiDeviceManagerState, BalloonConfigSpaceState, BalloonStatsState, BootSourceConfig,
    CacheType, FileEngineTypeState, GuestMemoryRegionState, GuestMemoryState, HugePageConfig,
    KvmCapability, KvmState, MacAddr, MmdsNetworkStackState, NetConfigSpaceState, QueueState,
    RateLimiterState, TokenBucketState, VmGenIdState, VsockBackendState, VsockUdsState,
};
pub use crate::formats::firecracker::shared::v1_16::devices::{
    IdAllocator, MmdsState, MmdsVersion, MmioDevice, MmioDeviceInfo, MmioTransportState,
    MsixTableEntry, NodeState, RangeInclusive, VirtioPciCommonConfigState,
};

// ---------------------------------------------------------------------------
// Resource allocators (vm-allocator crate, `serde` feature)
// ---------------------------------------------------------------------------

// The interval tree is recursive. The shapes are the ones of the 10.0.0 module (same vm-allocator
// types), but they are defined here, not re-exported, because this decoder bounds the depth of
// the tree: bincode decodes a recursive type by recursing on the stack, and a hostile file could
// nest `left` children until the stack overflows.

/// Deepest interval-tree node snaptool decodes (the root is at depth 1).
///
/// vm-allocator keeps the tree AVL-balanced, so a tree of height `h` has at least
/// `Fib(h + 2) − 1` nodes. A node takes at least 30 bytes on the wire and a state is at most
/// 10 MiB, so no real tree is higher than about 27; 64 leaves a wide margin.
pub const MAX_TREE_DEPTH: u32 = 64;

thread_local! {
    static TREE_DEPTH: Cell<u32> = const { Cell::new(0) };
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

/// vm-allocator: InnerNode — allocation_engine/interval_tree.rs (recursive AVL node).
///
/// Decoding refuses trees deeper than [`MAX_TREE_DEPTH`].
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
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
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

/// Firecracker: ResourceAllocator — vstate/resources.rs (v1.13: no `past_mmio64_memory`).
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
    /// System memory allocator.
    pub system_memory: AddressAllocator,
}

// ---------------------------------------------------------------------------
// Virtio common state
// ---------------------------------------------------------------------------

/// Firecracker: VirtioDeviceState — devices/virtio/persist.rs (the common virtio state embedded
/// in every device state; v1.13–v1.14: `device_type` is the virtio id as a u32, and
/// `interrupt_status` lives in the transport state).
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
    /// Whether the device was activated.
    pub activated: bool,
}

// ---------------------------------------------------------------------------
// Block
// ---------------------------------------------------------------------------

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
// Net, vsock, balloon, entropy
// ---------------------------------------------------------------------------

/// Firecracker: NetState — devices/virtio/net/persist.rs (v1.13: no `rx_buffers_state`).
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
    /// Backend state (an enum with the single variant `Uds`).
    pub backend: VsockBackendState,
    /// Frontend state.
    pub frontend: VsockFrontendState,
}

/// Firecracker: BalloonState — devices/virtio/balloon/persist.rs (v1.13: 10 counters, no hinting).
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

/// Firecracker: EntropyState — devices/virtio/rng/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntropyState {
    /// Virtio device state.
    pub virtio_state: VirtioDeviceState,
    /// Rate limiter state.
    pub rate_limiter_state: RateLimiterState,
}

// ---------------------------------------------------------------------------
// PCI transport (the `pci` crate of Firecracker v1.13)
// ---------------------------------------------------------------------------

/// Firecracker: PciBdf — ../../pci/src/lib.rs (custom serde).
///
/// Serialized as a string `"ssss:bb:dd.f"` (hex segment, bus, device, function).
pub type PciBdf = String;

/// Firecracker: PciBarRegionType — ../../pci/src/configuration.rs
///
/// Upstream declares explicit discriminants (0, 0x01, 0x04); serde encodes the declaration index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PciBarRegionType {
    /// 32-bit memory BAR (index 0).
    Memory32BitRegion,
    /// I/O BAR (index 1).
    IoRegion,
    /// 64-bit memory BAR (index 2).
    Memory64BitRegion,
}

/// Firecracker: PciBarPrefetchable — ../../pci/src/configuration.rs
///
/// Upstream declares explicit discriminants (0, 0x08); serde encodes the declaration index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PciBarPrefetchable {
    /// Not prefetchable (index 0).
    NotPrefetchable,
    /// Prefetchable (index 1).
    Prefetchable,
}

/// Firecracker: PciBar — ../../pci/src/configuration.rs (v1.13: with the region type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciBar {
    /// BAR address.
    pub addr: u32,
    /// BAR size.
    pub size: u32,
    /// Whether the BAR is in use.
    pub used: bool,
    /// Region type (`r#type` upstream), if the BAR is in use.
    pub r#type: Option<PciBarRegionType>,
}

/// Firecracker: PciConfigurationState — ../../pci/src/configuration.rs (v1.13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciConfigurationState {
    /// Configuration space registers.
    pub registers: Vec<u32>,
    /// Writable-bit masks of the registers.
    pub writable_bits: Vec<u32>,
    /// The BARs.
    pub bars: Vec<PciBar>,
    /// Expansion ROM BAR address.
    pub rom_bar_addr: u32,
    /// Expansion ROM BAR size.
    pub rom_bar_size: u32,
    /// Whether the expansion ROM BAR is in use.
    pub rom_bar_used: bool,
    /// Last capability `(offset, length)` (`(usize, usize)` upstream), if any.
    pub last_capability: Option<(u64, u64)>,
    /// Register index of the MSI-X capability (`usize` upstream), if any.
    pub msix_cap_reg_idx: Option<u64>,
}

/// Firecracker: MsixConfigState — ../../pci/src/msix.rs (v1.13: no `vectors`).
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
}

/// Firecracker: PciBarConfiguration — ../../pci/src/configuration.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciBarConfiguration {
    /// BAR address.
    pub addr: u64,
    /// BAR size.
    pub size: u64,
    /// BAR index (`usize` upstream).
    pub idx: u64,
    /// Region type.
    pub region_type: PciBarRegionType,
    /// Prefetchability.
    pub prefetchable: PciBarPrefetchable,
}

/// Firecracker: VirtioPciDeviceState — devices/virtio/transport/pci/device.rs (v1.13).
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
    /// GSIs of the MSI vector group.
    pub msi_vector_group: Vec<u32>,
    /// Configuration of the device's BAR.
    pub bar_configuration: PciBarConfiguration,
}

/// Firecracker: `VirtioDeviceState<T>` — device_manager/pci_mngr.rs (the PCI-transport device
/// wrapper, v1.13).
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

/// Firecracker: PciDevicesState — device_manager/pci_mngr.rs (v1.13).
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::bincode as bc;

    fn leaf(start: u64) -> InnerNode {
        InnerNode {
            key: RangeInclusive {
                start,
                end: start + 1,
            },
            node_state: NodeState::Free,
            left: None,
            right: None,
            height: 1,
        }
    }

    /// A left-leaning chain of `depth` nodes.
    fn chain(depth: u32) -> IntervalTree {
        let mut root = leaf(0);
        for i in 1..depth {
            let mut n = leaf(u64::from(i) * 2);
            n.left = Some(Box::new(root));
            n.height = u64::from(i) + 1;
            root = n;
        }
        IntervalTree {
            root: Some(Box::new(root)),
        }
    }

    #[test]
    fn tree_up_to_the_bound_round_trips() {
        let t = chain(MAX_TREE_DEPTH);
        let bytes = bc::to_vec(&t).unwrap();
        let (back, used) = bc::from_slice::<IntervalTree>(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(back, t);
        let j = serde_json::to_value(&t).unwrap();
        assert_eq!(serde_json::from_value::<IntervalTree>(j).unwrap(), t);
    }

    #[test]
    fn hostile_deep_tree_is_refused_without_recursing_further() {
        // One node past the bound is refused.
        let bytes = bc::to_vec(&chain(MAX_TREE_DEPTH + 1)).unwrap();
        let e = bc::from_slice::<IntervalTree>(&bytes).unwrap_err();
        assert!(e.to_string().contains("deeper than 64"), "{e}");
        // A million nested `Some` tags (each node: key, state, then `left = Some(...)`) would
        // overflow any stack if decoded recursively; it fails at the bound instead.
        let mut node = Vec::new();
        node.extend_from_slice(&[0u8; 16]); // key
        node.extend_from_slice(&[0u8; 4]); // node_state Free
        node.push(1); // left = Some
        let mut hostile = vec![1u8]; // root = Some
        for _ in 0..1_000_000 {
            hostile.extend_from_slice(&node);
        }
        assert!(bc::from_slice::<IntervalTree>(&hostile).is_err());
        // The depth counter is back to zero afterwards: a normal tree still decodes.
        let ok = bc::to_vec(&chain(3)).unwrap();
        assert!(bc::from_slice::<IntervalTree>(&ok).is_ok());
    }
}
