//! serde types mirroring arcbox's on-disk JSON exactly: field names, order, types and enum
//! spellings of `arcbox-hypervisor`'s `VmSnapshot` tree (`vm_state.json`) and `arcbox-vmm`'s
//! `SnapshotInfo` (`snapshot.json`). Like the originals they carry no serde attributes: unknown
//! keys are ignored, a missing `Option` is `None`, every other field is required, and `Vec<u8>`
//! is a JSON array of numbers.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `CpuArch`: `"X86_64"` or `"Aarch64"` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CpuArch {
    /// x86_64.
    X86_64,
    /// aarch64.
    Aarch64,
}

/// `Registers`: the x86_64 general registers, in KVM `kvm_regs` order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Registers {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rsp: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
}

/// `Arm64Registers`: aarch64 core and FP/SIMD registers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arm64Registers {
    /// X0–X30.
    pub x: [u64; 31],
    /// SP (arcbox's KVM backend reads core register 31, which is SP_EL0).
    pub sp: u64,
    /// PC.
    pub pc: u64,
    /// PSTATE.
    pub pstate: u64,
    /// FPCR.
    pub fpcr: u64,
    /// FPSR.
    pub fpsr: u64,
    /// V0–V31 as (low, high) halves.
    pub v: [[u64; 2]; 32],
}

/// `VcpuSnapshot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VcpuSnapshot {
    /// vCPU id.
    pub id: u32,
    /// Architecture of this vCPU.
    pub arch: CpuArch,
    /// x86_64 general registers.
    pub x86_regs: Option<Registers>,
    /// aarch64 registers.
    pub arm64_regs: Option<Arm64Registers>,
    /// Opaque bytes (arcbox leaves this empty; snaptool puts its extra-state blob here).
    pub extra_state: Vec<u8>,
}

/// `VirtioDeviceType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum VirtioDeviceType {
    Block,
    Net,
    Console,
    Fs,
    Vsock,
    Rng,
    Balloon,
    Gpu,
}

impl VirtioDeviceType {
    /// All types, in declaration order.
    pub const ALL: [VirtioDeviceType; 8] = [
        VirtioDeviceType::Block,
        VirtioDeviceType::Net,
        VirtioDeviceType::Console,
        VirtioDeviceType::Fs,
        VirtioDeviceType::Vsock,
        VirtioDeviceType::Rng,
        VirtioDeviceType::Balloon,
        VirtioDeviceType::Gpu,
    ];

    /// The type byte of arcbox's KVM device record (not the declaration order).
    pub fn record_code(self) -> u8 {
        match self {
            VirtioDeviceType::Block => 0,
            VirtioDeviceType::Net => 1,
            VirtioDeviceType::Console => 2,
            VirtioDeviceType::Rng => 3,
            VirtioDeviceType::Balloon => 4,
            VirtioDeviceType::Fs => 5,
            VirtioDeviceType::Vsock => 6,
            VirtioDeviceType::Gpu => 7,
        }
    }

    /// The type a record's type byte names.
    pub fn from_record_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.record_code() == code)
    }
}

/// `DeviceSnapshot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSnapshot {
    /// Device type.
    pub device_type: VirtioDeviceType,
    /// Device name (arcbox's KVM backend writes `<Type>-<index>`).
    pub name: String,
    /// Device state bytes (arcbox's KVM backend writes a 21-byte [`DeviceRecord`]).
    pub state: Vec<u8>,
}

/// `MemoryRegionSnapshot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryRegionSnapshot {
    /// Guest-physical start.
    pub guest_addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// Read-only region.
    pub read_only: bool,
    /// Offset of the region's bytes in the (decompressed) memory file.
    pub file_offset: u64,
}

/// `VmSnapshot`: the whole of `vm_state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSnapshot {
    /// Format version (arcbox writes 1 and never checks it).
    pub version: u32,
    /// Architecture.
    pub arch: CpuArch,
    /// vCPUs.
    pub vcpus: Vec<VcpuSnapshot>,
    /// Devices.
    pub devices: Vec<DeviceSnapshot>,
    /// Memory regions.
    pub memory_regions: Vec<MemoryRegionSnapshot>,
    /// Length of the (decompressed) memory file.
    pub total_memory: u64,
    /// Memory is in `memory.bin.lz4` rather than `memory.bin`.
    pub compressed: bool,
    /// Compression name (`"lz4"` when compressed).
    pub compression: Option<String>,
    /// Parent snapshot id (incremental chains).
    pub parent_id: Option<String>,
}

/// `SnapshotTargetType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum SnapshotTargetType {
    Vm,
    Container,
}

/// `SnapshotState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum SnapshotState {
    Creating,
    Ready,
    Invalid,
}

/// `SnapshotInfo`: the whole of `snapshot.json`. `created` is chrono's `DateTime<Utc>`, kept as
/// its RFC 3339 text; `labels` is a `HashMap` in arcbox (any key order), sorted here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Snapshot id (arcbox: a UUID v4 without dashes, also the directory name).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The VM or container the snapshot is of.
    pub target_id: String,
    /// VM or container.
    pub target_type: SnapshotTargetType,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Size of the snapshot directory in bytes.
    pub size: u64,
    /// Parent snapshot id.
    pub parent: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Lifecycle state (arcbox restores only `Ready`).
    pub state: SnapshotState,
}

/// The 21-byte device state arcbox's KVM backend writes: type byte, MMIO base, MMIO size, IRQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Device type.
    pub device_type: VirtioDeviceType,
    /// MMIO window base.
    pub mmio_base: u64,
    /// MMIO window size.
    pub mmio_size: u64,
    /// Interrupt line.
    pub irq: u32,
}

impl DeviceRecord {
    /// Record length in bytes.
    pub const LEN: usize = 21;

    /// Parses a record; `None` unless `b` is exactly 21 bytes with a known type byte.
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() != Self::LEN {
            return None;
        }
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
        Some(DeviceRecord {
            device_type: VirtioDeviceType::from_record_code(b[0])?,
            mmio_base: u64_at(1),
            mmio_size: u64_at(9),
            irq: u32::from_le_bytes(b[17..21].try_into().unwrap_or([0; 4])),
        })
    }

    /// The 21 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::LEN);
        v.push(self.device_type.record_code());
        v.extend_from_slice(&self.mmio_base.to_le_bytes());
        v.extend_from_slice(&self.mmio_size.to_le_bytes());
        v.extend_from_slice(&self.irq.to_le_bytes());
        v
    }
}
