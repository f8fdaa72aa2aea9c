//! Devices: typed where snaptool understands them, opaque named blobs otherwise.

use super::{Bytes, DeviceState, Extension};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One emulated device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// The producer's device id or name (e.g. `rootfs`, `eth0`, `serial`).
    pub id: String,
    /// What the device is.
    pub kind: DeviceKind,
    /// How the guest reaches it.
    pub transport: Option<Transport>,
    /// Common virtio state, for virtio devices.
    pub virtio: Option<VirtioState>,
    /// Host resources the device refers to by name (`disk_path`, `tap_if_name`, `uds_path`, ...),
    /// for producers whose devices have no typed [`DeviceConfig`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub host: BTreeMap<String, String>,
    /// What the device is configured as, by kind, with the names Firecracker's API uses
    /// (`path_on_host`, `host_dev_name`, `guest_mac`, `uds_path`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<DeviceConfig>,
    /// 16550 UART registers, for serial ports.
    pub uart: Option<UartState>,
    /// VM generation id device, for VMGenID.
    pub vmgenid: Option<VmGenId>,
    /// Runtime state beyond the common virtio state and the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<DeviceState>,
    /// Device bytes only the producer can interpret.
    pub blob: Option<Bytes>,
    /// The producer's complete structure for a device no typed state describes, for exact
    /// re-writing in the producer's own layout.
    pub raw: Option<Extension>,
}

impl Device {
    /// A device with just an id and a kind.
    pub fn new(id: impl Into<String>, kind: DeviceKind) -> Self {
        Device {
            id: id.into(),
            kind,
            transport: None,
            virtio: None,
            host: BTreeMap::new(),
            config: None,
            uart: None,
            vmgenid: None,
            state: None,
            blob: None,
            raw: None,
        }
    }
}

/// Device kinds snaptool names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// virtio-block (or vhost-user block).
    Block,
    /// virtio-net.
    Net,
    /// virtio-vsock.
    Vsock,
    /// virtio-balloon.
    Balloon,
    /// virtio-rng.
    Rng,
    /// virtio-pmem.
    Pmem,
    /// virtio-mem.
    Mem,
    /// virtio-console.
    Console,
    /// virtio-fs.
    Fs,
    /// virtio-gpu.
    Gpu,
    /// 16550-compatible serial port.
    Serial,
    /// PL031 real-time clock.
    Rtc,
    /// Firecracker's boot timer.
    BootTimer,
    /// ACPI VM generation id.
    VmGenId,
    /// ACPI vmclock.
    VmClock,
    /// Microvm metadata service.
    Mmds,
    /// Anything else, by the producer's name.
    Other(String),
}

impl DeviceKind {
    /// Short name for reports.
    pub fn name(&self) -> &str {
        match self {
            DeviceKind::Block => "block",
            DeviceKind::Net => "net",
            DeviceKind::Vsock => "vsock",
            DeviceKind::Balloon => "balloon",
            DeviceKind::Rng => "rng",
            DeviceKind::Pmem => "pmem",
            DeviceKind::Mem => "mem",
            DeviceKind::Console => "console",
            DeviceKind::Fs => "fs",
            DeviceKind::Gpu => "gpu",
            DeviceKind::Serial => "serial",
            DeviceKind::Rtc => "rtc",
            DeviceKind::BootTimer => "boot_timer",
            DeviceKind::VmGenId => "vmgenid",
            DeviceKind::VmClock => "vmclock",
            DeviceKind::Mmds => "mmds",
            DeviceKind::Other(s) => s,
        }
    }
}

/// How the guest reaches a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Memory-mapped I/O window.
    Mmio {
        /// Guest-physical base.
        addr: u64,
        /// Window length.
        len: u64,
        /// Interrupt line (GSI), if any.
        irq: Option<u32>,
    },
    /// PCI function.
    Pci {
        /// Segment/bus/device/function packed as `seg << 16 | bus << 8 | dev << 3 | fn`.
        sbdf: u32,
    },
    /// x86 I/O ports.
    Port {
        /// First port.
        base: u16,
        /// Interrupt line, if any.
        irq: Option<u32>,
    },
    /// A fixed guest-physical address (ACPI devices).
    Address {
        /// Guest-physical address.
        addr: u64,
        /// Interrupt line, if any.
        irq: Option<u32>,
    },
}

/// Common virtio device state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtioState {
    /// Virtio device id (1 = net, 2 = block, 4 = rng, 5 = balloon, 19 = vsock, ...).
    pub device_type: u32,
    /// Features the device offers.
    pub avail_features: u64,
    /// Features the driver accepted.
    pub acked_features: u64,
    /// Whether the device was activated.
    pub activated: bool,
    /// Virtqueues.
    pub queues: Vec<VirtQueue>,
    /// Interrupt status register, when recorded.
    pub interrupt_status: Option<u32>,
    /// Device status register, when recorded.
    pub device_status: Option<u32>,
}

/// One virtqueue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct VirtQueue {
    pub max_size: u16,
    pub size: u16,
    pub ready: bool,
    /// Guest-physical address of the descriptor table.
    pub desc_table: u64,
    /// Guest-physical address of the available ring.
    pub avail_ring: u64,
    /// Guest-physical address of the used ring.
    pub used_ring: u64,
    pub next_avail: u16,
    pub next_used: u16,
    pub num_added: u16,
}

/// 16550 UART registers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct UartState {
    pub baud_divisor_low: u8,
    pub baud_divisor_high: u8,
    pub interrupt_enable: u8,
    pub interrupt_identification: u8,
    pub line_control: u8,
    pub line_status: u8,
    pub modem_control: u8,
    pub modem_status: u8,
    pub scratch: u8,
    /// Bytes received but not yet read by the guest.
    pub in_buffer: Bytes,
}

/// ACPI VM generation id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmGenId {
    /// Interrupt line.
    pub gsi: u32,
    /// Guest-physical address of the 16-byte generation id.
    pub addr: u64,
}

/// A device's configuration by kind: what the operator set up (host bindings, limits, modes) and
/// the device-specific state a guest sees, with Firecracker's API names.
///
/// A field a producer stores directly is *bound*: the format's raw state refers to it (see
/// [`CONFIG_REF`]) and writing takes the value from here, so an edit changes the file. A field
/// derived from other state (feature bits, page counts, limiter buckets) is shown but not written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceConfig {
    /// A block device.
    Block(BlockConfig),
    /// A network interface.
    Net(NetConfig),
    /// A vsock device.
    Vsock(VsockConfig),
    /// A memory balloon.
    Balloon(BalloonConfig),
    /// An entropy device.
    Entropy(EntropyConfig),
    /// A virtio-pmem device.
    Pmem(PmemConfig),
    /// A virtio-mem device.
    Mem(MemConfig),
    /// The microVM metadata service.
    Mmds(MmdsConfig),
}

impl DeviceConfig {
    /// The configuration as a JSON object of named fields.
    pub fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => match m.into_iter().next() {
                Some((_, serde_json::Value::Object(inner))) => inner,
                _ => serde_json::Map::new(),
            },
            _ => serde_json::Map::new(),
        }
    }
}

/// Marks a raw device-state leaf whose value lives in [`Device::config`]: the raw value is the
/// string `CONFIG_REF` followed by the field name (e.g. `=config.path_on_host`).
pub const CONFIG_REF: &str = "=config.";

/// A token-bucket rate limiter as configured (Firecracker's `TokenBucketConfig` pair).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimiter {
    /// Bytes per refill period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<TokenBucket>,
    /// Operations per refill period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops: Option<TokenBucket>,
}

/// One token bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenBucket {
    /// Bucket size (tokens).
    pub size: u64,
    /// Initial extra tokens.
    pub one_time_burst: u64,
    /// Refill period in milliseconds.
    pub refill_time: u64,
}

/// A block device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockConfig {
    /// Backing file (virtio) on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_on_host: Option<String>,
    /// vhost-user backend socket on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
    /// Read-only (the device offers `VIRTIO_BLK_F_RO`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_read_only: Option<bool>,
    /// The guest's root device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_root_device: Option<bool>,
    /// Root partition UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partuuid: Option<String>,
    /// `Unsafe` or `Writeback`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_type: Option<String>,
    /// `Sync` or `Async`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_engine: Option<String>,
    /// Rate limiter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limiter: Option<RateLimiter>,
}

/// A network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetConfig {
    /// The host tap device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_dev_name: Option<String>,
    /// The guest's MAC address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_mac: Option<String>,
    /// MTU offered to the guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    /// Whether MMDS answers on this interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mmds: Option<bool>,
    /// Receive rate limiter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_rate_limiter: Option<RateLimiter>,
    /// Transmit rate limiter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_rate_limiter: Option<RateLimiter>,
}

/// A vsock device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VsockConfig {
    /// The guest's context id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_cid: Option<u64>,
    /// The host-side Unix socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uds_path: Option<String>,
}

/// A memory balloon.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalloonConfig {
    /// Target size in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_mib: Option<u64>,
    /// Size the guest reports in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_mib: Option<u64>,
    /// Deflate when the guest runs out of memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deflate_on_oom: Option<bool>,
    /// Statistics interval in seconds (0 = off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_polling_interval_s: Option<u64>,
    /// Free page hinting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_page_hinting: Option<bool>,
    /// Free page reporting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_page_reporting: Option<bool>,
}

/// An entropy device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntropyConfig {
    /// Rate limiter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limiter: Option<RateLimiter>,
}

/// A virtio-pmem device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PmemConfig {
    /// Backing file on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_on_host: Option<String>,
    /// The guest's root device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_device: Option<bool>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Guest-physical start of the mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
    /// Mapping size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// A virtio-mem device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemConfig {
    /// Guest-physical start of the hotplug area.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<u64>,
    /// Hotplug area size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_size: Option<u64>,
    /// Block size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_size: Option<u64>,
    /// Slot size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_size: Option<u64>,
    /// Size the host requested the guest to plug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_size: Option<u64>,
    /// Blocks plugged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugged_blocks: Option<u64>,
}

/// The microVM metadata service (its data store is not part of a snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmdsConfig {
    /// `V1` or `V2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// IMDS-compatible responses, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imds_compat: Option<bool>,
    /// The network interfaces MMDS answers on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_interfaces: Vec<String>,
}
