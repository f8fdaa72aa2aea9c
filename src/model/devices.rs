//! Devices: typed where snaptool understands them, opaque named blobs otherwise.

use super::{Bytes, Extension};
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
    /// Host resources the device refers to by name (`disk_path`, `tap_if_name`, `uds_path`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub host: BTreeMap<String, String>,
    /// 16550 UART registers, for serial ports.
    pub uart: Option<UartState>,
    /// VM generation id device, for VMGenID.
    pub vmgenid: Option<VmGenId>,
    /// Device bytes only the producer can interpret.
    pub blob: Option<Bytes>,
    /// The producer's complete structure for this device, for exact re-writing.
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
            uart: None,
            vmgenid: None,
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
