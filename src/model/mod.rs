//! The neutral snapshot model: one in-memory description of a paused VM that every format reads
//! into and writes from.
//!
//! The model holds no I/O and no format knowledge. It is wide enough for every layout snaptool
//! knows: Firecracker `MicrovmState` (all serde-era layouts, x86_64 and aarch64), squib's aarch64
//! `MicrovmState`, VeridianOS `VmSnapshot` and arcbox snapshot directories. What a format carries
//! that the model has no typed home for travels in [`Snapshot::extensions`] (format-private,
//! named, JSON-valued), so a read → write in the same layout loses nothing.
//!
//! ```text
//! Snapshot
//! ├─ provenance   format family, format version, layout, arch, producing releases
//! ├─ vm           machine configuration (memory size, SMT, CPU template, boot source, ...)
//! ├─ memory       guest RAM regions and where each lives in the memory file
//! ├─ vcpus[]      per-vCPU architectural state (x86_64 or aarch64)
//! ├─ platform     VM-wide state: x86 PIT/clock/PIC/IOAPIC, aarch64 GIC
//! ├─ devices[]    typed where understood (virtio, UART, VMGenID), otherwise opaque blobs
//! └─ extensions   format-private values, keyed by `format/name`
//! ```

mod aarch64;
mod aarch64_regs;
mod bytes;
mod device_state;
mod devices;
mod x86;

pub use aarch64::*;
pub use aarch64_regs::*;
pub use bytes::{Bytes, from_hex, to_hex};
pub use device_state::*;
pub use devices::*;
pub use x86::*;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A CPU architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// x86_64 (Intel/AMD, KVM or VT-x).
    X86_64,
    /// aarch64 (KVM or Apple HVF).
    Aarch64,
}

impl Arch {
    /// The name used in reports (`x86_64`, `aarch64`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

/// One snapshot: the state of a paused VM, independent of the file format it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Where this snapshot came from.
    pub provenance: Provenance,
    /// Machine configuration.
    pub vm: VmInfo,
    /// Guest memory layout.
    pub memory: MemoryLayout,
    /// One entry per vCPU, in vCPU index order.
    pub vcpus: Vec<Vcpu>,
    /// VM-wide architectural state (interrupt controllers, timers, clock).
    pub platform: Platform,
    /// Emulated devices.
    pub devices: Vec<Device>,
    /// Format-private values without a typed home, keyed by `<format>/<name>`
    /// (e.g. `firecracker/resource_allocator`). Writers of the same format read them back;
    /// converters report them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, Extension>,
}

impl Snapshot {
    /// The architecture of this snapshot.
    pub fn arch(&self) -> Arch {
        self.provenance.arch
    }
}

/// A format-private value: the JSON form of a structure of the named format layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extension {
    /// The layout whose type `value` is an instance of (e.g. `firecracker 10.0.0`).
    pub layout: String,
    /// The value, as that layout's structure in JSON.
    pub value: serde_json::Value,
}

/// Where a snapshot came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Format family, e.g. `firecracker`, `squib`, `veridian`, `arcbox`.
    pub format: String,
    /// The format version as recorded in the file, e.g. `10.0.0`.
    pub version: String,
    /// The exact layout, e.g. `firecracker-10.0.0` (a version may name several layouts).
    pub layout: String,
    /// Encoding of the state payload, e.g. `bitcode 0.6.9`, `bincode fixint le`.
    pub encoding: String,
    /// Guest architecture.
    pub arch: Arch,
    /// Releases of the producing software known to write (and read) this layout.
    pub releases: Vec<String>,
}

/// Machine configuration recorded with the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmInfo {
    /// Configured guest memory in MiB, when the format records it.
    pub mem_size_mib: Option<u64>,
    /// Simultaneous multithreading enabled.
    pub smt: Option<bool>,
    /// CPU template name (`None` = no template), when the format records one.
    pub cpu_template: Option<String>,
    /// Boot source, when recorded.
    pub boot_source: Option<BootSource>,
    /// Huge-page backing (`None`, `Transparent`, `2M`), when recorded.
    pub huge_pages: Option<String>,
    /// Whether dirty-page tracking was on, when recorded.
    pub track_dirty_pages: Option<bool>,
    /// KVM capability modifiers of the CPU template: `+N` adds, `-N` removes capability N.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kvm_cap_modifiers: Vec<KvmCapModifier>,
    /// A VM identifier, when recorded (VeridianOS `vm_id`, arcbox snapshot id).
    pub vm_id: Option<String>,
    /// Creation time as the producer recorded it (ticks or RFC 3339 text).
    pub created: Option<String>,
    /// Parent snapshot (incremental chains), when recorded.
    pub parent_id: Option<String>,
}

/// Kernel, initrd and command line the VM booted from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootSource {
    /// Kernel image path on the host.
    pub kernel_image_path: String,
    /// Initrd path on the host.
    pub initrd_path: Option<String>,
    /// Kernel command line.
    pub boot_args: Option<String>,
}

/// A KVM capability the CPU template adds or removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvmCapModifier {
    /// Require capability N.
    Add(u32),
    /// Mask capability N.
    Remove(u32),
}

/// Guest memory layout: regions in memory-file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryLayout {
    /// Regions, in the order their bytes appear in the memory file.
    pub regions: Vec<MemoryRegion>,
    /// Page size of the memory file in bytes (4096 on KVM hosts, 16384 on squib).
    pub page_size: u64,
}

impl MemoryLayout {
    /// Sum of region sizes: the logical size of the memory file.
    pub fn total_size(&self) -> u64 {
        self.regions
            .iter()
            .fold(0u64, |a, r| a.saturating_add(r.size))
    }
}

/// One guest RAM region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryRegion {
    /// Guest-physical start address.
    pub guest_addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// Byte offset of the region in the memory file.
    pub file_offset: u64,
    /// Whether the format stores the offset explicitly (else it is the running sum of sizes).
    pub explicit_offset: bool,
    /// Kind of region.
    pub kind: RegionKind,
    /// Per-slot plug state for hotpluggable regions (empty when the format has no slots).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugged: Vec<bool>,
    /// Read-only region.
    pub read_only: bool,
}

/// Kind of a memory region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionKind {
    /// Ordinary boot RAM.
    Dram,
    /// Hotpluggable RAM (virtio-mem).
    Hotpluggable,
}

/// One vCPU's architectural state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "arch")]
pub enum Vcpu {
    /// An x86_64 vCPU.
    X86_64(Box<X86Vcpu>),
    /// An aarch64 vCPU.
    Aarch64(Box<Aarch64Vcpu>),
}

/// VM-wide architectural state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "arch")]
pub enum Platform {
    /// x86_64: PIT, kvmclock, PICs, IOAPIC.
    X86_64(Box<X86Platform>),
    /// aarch64: the interrupt controller.
    Aarch64(Box<Aarch64Platform>),
}
