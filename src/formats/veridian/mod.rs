//! VeridianOS `VmSnapshot` files (x86_64, Intel VT-x).
//!
//! The VeridianOS kernel (`kernel/src/virt/hypervisor/snapshot.rs`) defines a snapshot only as an
//! in-memory structure of `repr(C)` parts and leaves every region offset "computed during
//! serialization". snaptool defines the byte stream, faithful to those types: all integers
//! little-endian, the kernel's sizes, its `finalize()` arithmetic and its XOR checksum. Byte
//! tables, validation rules and the model mapping: `formats/veridian.md`.
//!
//! ```text
//! 0                 SnapshotHeader (64 bytes)
//! 64                region_count × SnapshotRegionDescriptor (24 bytes each)
//! 64 + 24·n         region payloads, contiguous, in descriptor order      (ends at total_size)
//! total_size        index section: memory_page_indices (u64 each), then device names
//! ```
//!
//! A file written by snaptool embeds the bytes of every guest page that holds data (one
//! `MemoryPage` region per 4 KiB page, as the kernel builder makes them) and carries everything
//! VeridianOS has no field for in named device blobs (`snaptool/model-rest`,
//! `snaptool/device/<id>`), so Firecracker → VeridianOS → Firecracker is byte-identical.

mod check;
mod convert;
pub mod lapic;
pub mod pages;
#[cfg(test)]
mod tests;
pub mod vmcs;

pub use check::{verify, verify_file, verify_path};
pub use convert::{FromModelError, from_model};
pub use lapic::LapicSnapshot;
pub use pages::{PageStore, PagesInFile};
pub use vmcs::VmcsField;

use std::borrow::Cow;
use thiserror::Error;

/// `SNAPSHOT_MAGIC` (the comment in the kernel says "VMSN"; little-endian bytes `4E 53 4D 56`).
pub const MAGIC: u32 = 0x564D_534E;
/// `SNAPSHOT_VERSION`.
pub const VERSION: u32 = 1;
/// Guest page size of `MemoryPage` regions and of `memory_pages`.
pub const PAGE_SIZE: u64 = 4096;
/// `size_of::<SnapshotHeader>()`.
pub const HEADER_SIZE: usize = 64;
/// `size_of::<SnapshotRegionDescriptor>()`.
pub const DESCRIPTOR_SIZE: usize = 24;
/// `size_of::<GuestRegisters>()`.
pub const GUEST_REGISTERS_SIZE: usize = 144;
/// One VMCS field: encoding u32 + value u64 (the kernel's `field_count * 12`).
pub const VMCS_FIELD_SIZE: usize = 12;
/// `size_of::<MsrEntry>()` (= `struct kvm_msr_entry`).
pub const MSR_ENTRY_SIZE: usize = 16;
/// The fixed byte form of `LapicSnapshot` (`size_of` in the kernel).
pub const LAPIC_SNAPSHOT_SIZE: usize = lapic::SIZE;
/// VeridianOS's hypervisor limit (`MAX_VCPUS`); `verify` warns above it.
pub const MAX_VCPUS: u32 = 16;
/// snaptool's read limit on `vcpu_count`.
pub const VCPU_COUNT_LIMIT: u32 = 256;
/// snaptool's read limit on VMCS fields per region.
pub const VMCS_FIELDS_LIMIT: u64 = 4096;
/// snaptool's read limit on MSR entries per region.
pub const MSRS_LIMIT: u64 = 65536;
/// snaptool's read limit on a device name, in bytes.
pub const NAME_LIMIT: u32 = 4096;
/// snaptool's read limit on a whole file (it embeds the guest's non-zero pages).
pub const READ_LIMIT: u64 = 16 << 30;
/// Name of the device blob holding the model state VeridianOS has no field for.
pub const MODEL_REST: &str = "snaptool/model-rest";
/// Name prefix of device blobs holding one model device as JSON.
pub const DEVICE_PREFIX: &str = "snaptool/device/";

/// `SnapshotRegionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum RegionType {
    /// A VMCS field list of one vCPU.
    VmcsState = 1,
    /// `GuestRegisters` of one vCPU.
    GeneralRegisters = 2,
    /// The MSR list of one vCPU.
    MsrValues = 3,
    /// One 4 KiB guest page.
    MemoryPage = 4,
    /// One device blob.
    DeviceState = 5,
    /// `LapicSnapshot` of one vCPU.
    LapicState = 6,
    /// Defined by the kernel, never written by it; snaptool refuses it.
    VcpuState = 7,
}

impl RegionType {
    /// The type with this number.
    pub fn from_u32(v: u32) -> Option<RegionType> {
        Some(match v {
            1 => RegionType::VmcsState,
            2 => RegionType::GeneralRegisters,
            3 => RegionType::MsrValues,
            4 => RegionType::MemoryPage,
            5 => RegionType::DeviceState,
            6 => RegionType::LapicState,
            7 => RegionType::VcpuState,
            _ => return None,
        })
    }

    /// The kernel's name.
    pub fn name(self) -> &'static str {
        match self {
            RegionType::VmcsState => "VmcsState",
            RegionType::GeneralRegisters => "GeneralRegisters",
            RegionType::MsrValues => "MsrValues",
            RegionType::MemoryPage => "MemoryPage",
            RegionType::DeviceState => "DeviceState",
            RegionType::LapicState => "LapicState",
            RegionType::VcpuState => "VcpuState",
        }
    }

    /// Whether regions of this type belong to one vCPU (`vcpu_index` is meaningful).
    pub fn per_vcpu(self) -> bool {
        matches!(
            self,
            RegionType::VmcsState
                | RegionType::GeneralRegisters
                | RegionType::MsrValues
                | RegionType::LapicState
        )
    }
}

/// `SnapshotHeader` (64 bytes, `repr(C)`, padding at 20 and 36).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: u32,
    /// [`VERSION`].
    pub version: u32,
    /// VM id.
    pub vm_id: u64,
    /// Number of vCPUs.
    pub vcpu_count: u32,
    /// Guest memory size in 4 KiB pages.
    pub memory_pages: u64,
    /// Number of region descriptors.
    pub region_count: u32,
    /// Header + descriptors + payloads, in bytes (the kernel's `finalize()`).
    pub total_size: u64,
    /// Kernel ticks at snapshot time.
    pub timestamp: u64,
    /// XOR of the other fields, zero-extended ([`Header::compute_checksum`]).
    pub checksum: u64,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            magic: MAGIC,
            version: VERSION,
            vm_id: 0,
            vcpu_count: 0,
            memory_pages: 0,
            region_count: 0,
            total_size: 0,
            timestamp: 0,
            checksum: 0,
        }
    }
}

impl Header {
    /// The kernel's `compute_checksum()`: XOR of magic, version, vm_id, vcpu_count,
    /// memory_pages, region_count, total_size and timestamp, each zero-extended to u64.
    pub fn compute_checksum(&self) -> u64 {
        u64::from(self.magic)
            ^ u64::from(self.version)
            ^ self.vm_id
            ^ u64::from(self.vcpu_count)
            ^ self.memory_pages
            ^ u64::from(self.region_count)
            ^ self.total_size
            ^ self.timestamp
    }

    /// The kernel's `is_valid()`: magic and version.
    pub fn is_valid(&self) -> bool {
        self.magic == MAGIC && self.version == VERSION
    }

    /// The 64-byte form (padding zero).
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        b[0..4].copy_from_slice(&self.magic.to_le_bytes());
        b[4..8].copy_from_slice(&self.version.to_le_bytes());
        b[8..16].copy_from_slice(&self.vm_id.to_le_bytes());
        b[16..20].copy_from_slice(&self.vcpu_count.to_le_bytes());
        b[24..32].copy_from_slice(&self.memory_pages.to_le_bytes());
        b[32..36].copy_from_slice(&self.region_count.to_le_bytes());
        b[40..48].copy_from_slice(&self.total_size.to_le_bytes());
        b[48..56].copy_from_slice(&self.timestamp.to_le_bytes());
        b[56..64].copy_from_slice(&self.checksum.to_le_bytes());
        b
    }

    /// Parses the first 64 bytes (no checks; padding ignored). `None` when shorter.
    pub fn parse(b: &[u8]) -> Option<Header> {
        let b = b.get(..HEADER_SIZE)?;
        Some(Header {
            magic: le32(b, 0),
            version: le32(b, 4),
            vm_id: le64(b, 8),
            vcpu_count: le32(b, 16),
            memory_pages: le64(b, 24),
            region_count: le32(b, 32),
            total_size: le64(b, 40),
            timestamp: le64(b, 48),
            checksum: le64(b, 56),
        })
    }
}

/// `SnapshotRegionDescriptor` (24 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegionDescriptor {
    /// `SnapshotRegionType` number.
    pub region_type: u32,
    /// vCPU index (per-vCPU types), 0 otherwise.
    pub vcpu_index: u32,
    /// Absolute file offset of the payload.
    pub offset: u64,
    /// Payload size in bytes.
    pub size: u64,
}

impl RegionDescriptor {
    /// The region type, when known.
    pub fn kind(&self) -> Option<RegionType> {
        RegionType::from_u32(self.region_type)
    }
}

/// `GuestRegisters` (144 bytes, `repr(C)`): note **rbp before rsp**, unlike KVM's `kvm_regs`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct GuestRegisters {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
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

impl GuestRegisters {
    /// The registers in byte order.
    pub fn to_array(&self) -> [u64; 18] {
        [
            self.rax,
            self.rbx,
            self.rcx,
            self.rdx,
            self.rsi,
            self.rdi,
            self.rbp,
            self.rsp,
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
            self.rip,
            self.rflags,
        ]
    }

    /// From the registers in byte order.
    pub fn from_array(a: [u64; 18]) -> Self {
        let [
            rax,
            rbx,
            rcx,
            rdx,
            rsi,
            rdi,
            rbp,
            rsp,
            r8,
            r9,
            r10,
            r11,
            r12,
            r13,
            r14,
            r15,
            rip,
            rflags,
        ] = a;
        GuestRegisters {
            rax,
            rbx,
            rcx,
            rdx,
            rsi,
            rdi,
            rbp,
            rsp,
            r8,
            r9,
            r10,
            r11,
            r12,
            r13,
            r14,
            r15,
            rip,
            rflags,
        }
    }
}

/// `MsrEntry` (16 bytes; the layout of KVM's `kvm_msr_entry`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MsrEntry {
    /// MSR index.
    pub index: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// Value.
    pub value: u64,
}

/// `DeviceStateBlob`: a named opaque device state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceBlob {
    /// Device name (UTF-8, stored in the index section).
    pub name: String,
    /// State bytes (the region payload).
    pub data: Vec<u8>,
}

/// A VeridianOS snapshot file: the kernel's `VmSnapshot` with the page bytes it lacks. Payload
/// vectors pair with descriptors of their type by order, as in the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VeridianFile {
    /// The header.
    pub header: Header,
    /// Region descriptors, in file order.
    pub regions: Vec<RegionDescriptor>,
    /// One field list per `VmcsState` region.
    pub vmcs_states: Vec<Vec<VmcsField>>,
    /// One per `GeneralRegisters` region.
    pub register_states: Vec<GuestRegisters>,
    /// One list per `MsrValues` region.
    pub msr_states: Vec<Vec<MsrEntry>>,
    /// One per `LapicState` region.
    pub lapic_states: Vec<LapicSnapshot>,
    /// Page index (guest-memory offset / 4096) of each `MemoryPage` region.
    pub memory_page_indices: Vec<u64>,
    /// The bytes of those pages, 4096 each, in the same order (in memory, or read on demand
    /// from the file they came from).
    pub memory_page_data: PageStore,
    /// One per `DeviceState` region.
    pub device_states: Vec<DeviceBlob>,
}

impl VeridianFile {
    /// The kernel's `VmSnapshot::new`: an empty snapshot with these header fields.
    pub fn new(vm_id: u64, vcpu_count: u32, memory_pages: u64, timestamp: u64) -> Self {
        VeridianFile {
            header: Header {
                vm_id,
                vcpu_count,
                memory_pages,
                timestamp,
                ..Header::default()
            },
            ..VeridianFile::default()
        }
    }

    fn push_region(&mut self, t: RegionType, vcpu_index: u32, size: u64) {
        self.regions.push(RegionDescriptor {
            region_type: t as u32,
            vcpu_index,
            offset: 0,
            size,
        });
        self.header.region_count = self.header.region_count.wrapping_add(1);
    }

    /// `add_register_state`.
    pub fn add_register_state(&mut self, vcpu: u32, regs: GuestRegisters) {
        self.register_states.push(regs);
        self.push_region(
            RegionType::GeneralRegisters,
            vcpu,
            GUEST_REGISTERS_SIZE as u64,
        );
    }

    /// `add_vmcs_state`.
    pub fn add_vmcs_state(&mut self, vcpu: u32, fields: Vec<VmcsField>) {
        let size = (fields.len() * VMCS_FIELD_SIZE) as u64;
        self.vmcs_states.push(fields);
        self.push_region(RegionType::VmcsState, vcpu, size);
    }

    /// `add_msr_state`.
    pub fn add_msr_state(&mut self, vcpu: u32, msrs: Vec<MsrEntry>) {
        let size = (msrs.len() * MSR_ENTRY_SIZE) as u64;
        self.msr_states.push(msrs);
        self.push_region(RegionType::MsrValues, vcpu, size);
    }

    /// `add_lapic_state`.
    pub fn add_lapic_state(&mut self, vcpu: u32, lapic: LapicSnapshot) {
        self.lapic_states.push(lapic);
        self.push_region(RegionType::LapicState, vcpu, LAPIC_SNAPSHOT_SIZE as u64);
    }

    /// `add_memory_page`, with the page's bytes (cut or zero-padded to 4096).
    ///
    /// # Errors
    /// When the pages have moved to a temporary file (past [`pages::SPILL_AT`] bytes) and the
    /// write to it failed.
    pub fn add_memory_page(&mut self, page_index: u64, bytes: &[u8]) -> std::io::Result<()> {
        self.memory_page_data.push(bytes)?;
        self.memory_page_indices.push(page_index);
        self.push_region(RegionType::MemoryPage, 0, PAGE_SIZE);
        Ok(())
    }

    /// `add_device_state`.
    pub fn add_device_state(&mut self, name: String, data: Vec<u8>) {
        let size = data.len() as u64;
        self.device_states.push(DeviceBlob { name, data });
        self.push_region(RegionType::DeviceState, 0, size);
    }

    /// The kernel's `finalize()` plus what it leaves to serialization: lays the payloads out
    /// contiguously after the descriptors (setting each `offset`), sets `region_count`,
    /// `total_size` = 64 + 24·n + Σ size, and the checksum.
    pub fn finalize(&mut self) {
        let n = self.regions.len() as u64;
        let mut off = (HEADER_SIZE as u64).saturating_add(n.saturating_mul(DESCRIPTOR_SIZE as u64));
        for r in &mut self.regions {
            r.offset = off;
            off = off.saturating_add(r.size);
        }
        self.header.region_count = u32::try_from(n).unwrap_or(u32::MAX);
        self.header.total_size = off;
        self.header.checksum = self.header.compute_checksum();
    }

    /// The kernel's `validate()`: magic, version and header checksum.
    pub fn validate(&self) -> bool {
        self.header.is_valid() && self.header.checksum == self.header.compute_checksum()
    }

    /// The embedded guest pages: (page index, its 4096 bytes), in file order. Pages not listed
    /// are zero. A page read from its file can fail.
    pub fn pages(&self) -> impl Iterator<Item = std::io::Result<(u64, Cow<'_, [u8]>)>> {
        self.memory_page_indices
            .iter()
            .enumerate()
            .map(|(k, &i)| self.memory_page_data.page(k).map(|p| (i, p)))
    }

    /// The embedded pages as a memory image of [`Self::memory_len`] bytes named `name` (sharing
    /// the pages, not copying them).
    pub fn memory_image(&self, name: &str) -> PagesInFile {
        PagesInFile::new(
            name,
            self.memory_len(),
            self.memory_page_indices.clone(),
            self.memory_page_data.clone(),
        )
    }

    /// The length of [`write()`]'s output, computed without writing it.
    pub fn encoded_len(&self) -> u64 {
        let payload = self
            .regions
            .iter()
            .map(|r| r.size)
            .fold(0, u64::saturating_add);
        (HEADER_SIZE as u64)
            .saturating_add((self.regions.len() * DESCRIPTOR_SIZE) as u64)
            .saturating_add(payload)
            .saturating_add(8 * self.memory_page_indices.len() as u64)
            .saturating_add(
                self.device_states
                    .iter()
                    .map(|d| 4 + d.name.len() as u64)
                    .sum::<u64>(),
            )
    }

    /// Logical guest memory size in bytes: the model's memory regions (as [`Self::to_model`]
    /// resolves them), which total `memory_pages` × 4096 unless the last page is partial.
    pub fn memory_len(&self) -> u64 {
        convert::resolved_memory(self).total_size()
    }

    /// Converts to the neutral model (never fails: whatever VeridianOS lacks is taken from the
    /// `snaptool/model-rest` blob when present, otherwise defaulted).
    pub fn to_model(&self) -> crate::model::Snapshot {
        convert::to_model(self)
    }
}

fn le32(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn le64(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Cheap recognition: the first four bytes are the magic (`4E 53 4D 56`).
pub fn sniff(head: &[u8]) -> bool {
    head.len() >= 4 && le32(head, 0) == MAGIC
}

/// Why a file is not a valid VeridianOS snapshot. Names the byte offset and the field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("at byte 0x{offset:x}, `{field}`: {message}")]
pub struct ReadError {
    /// Stable code, as `verify` reports it (`bad_magic`, `bad_checksum`, `region_count`, ...).
    pub code: &'static str,
    /// File offset of the offending value.
    pub offset: u64,
    /// Field path, e.g. `header.total_size` or `regions[3].size`.
    pub field: String,
    /// Expected vs found.
    pub message: String,
}

fn err(code: &'static str, offset: u64, field: impl Into<String>, message: String) -> ReadError {
    ReadError {
        code,
        offset,
        field: field.into(),
        message,
    }
}

/// Reads a file: the kernel's `validate()` (magic, version, checksum), then snaptool's structure
/// rules (see `formats/veridian.md`). Never allocates more than a small multiple of the input.
///
/// # Errors
/// The first rule broken, with offset and field.
pub fn read(b: &[u8]) -> Result<VeridianFile, ReadError> {
    read_from(Src::Mem(b), None)
}

/// Reads the file at `path` as [`read`] does, without holding its pages in memory: the
/// structure is read piece by piece, and the pages are read back from the file on demand (see
/// [`PageStore`]).
///
/// # Errors
/// An I/O error (code `io`), or the first rule broken, as [`read`].
pub fn read_path(path: &std::path::Path) -> Result<VeridianFile, ReadError> {
    let io = |e: std::io::Error| err("io", 0, "file", format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > READ_LIMIT {
        return Err(err(
            "too_large",
            0,
            "file",
            format!("{len} bytes, over snaptool's {READ_LIMIT}-byte limit for VeridianOS files"),
        ));
    }
    let file = std::sync::Arc::new(file);
    read_from(Src::File(&file, len), Some(file.clone()))
}

/// The bytes [`read_from`] parses: a slice, or a file read piece by piece.
#[derive(Clone, Copy)]
enum Src<'a> {
    Mem(&'a [u8]),
    File(&'a std::fs::File, u64),
}

impl<'a> Src<'a> {
    fn len(&self) -> u64 {
        match self {
            Src::Mem(b) => b.len() as u64,
            Src::File(_, len) => *len,
        }
    }

    /// `n` bytes at `off` (the caller has checked that they are within the length).
    fn get(&self, off: u64, n: u64) -> Result<Cow<'a, [u8]>, ReadError> {
        match *self {
            Src::Mem(b) => Ok(Cow::Borrowed(&b[off as usize..(off + n) as usize])),
            Src::File(f, _) => {
                use std::os::unix::fs::FileExt;
                let mut v = vec![0u8; usize::try_from(n).unwrap_or(usize::MAX)];
                f.read_exact_at(&mut v, off)
                    .map_err(|e| err("io", off, "file", format!("reading {n} bytes: {e}")))?;
                Ok(Cow::Owned(v))
            }
        }
    }
}

/// Reads `src`; with `file` (the file `src` reads), the pages stay in it.
fn read_from(
    src: Src<'_>,
    file: Option<std::sync::Arc<std::fs::File>>,
) -> Result<VeridianFile, ReadError> {
    let len = src.len();
    let head = src.get(0, len.min(HEADER_SIZE as u64))?;
    let Some(h) = Header::parse(&head) else {
        return Err(err(
            "too_short",
            len,
            "header",
            format!("file is {len} bytes; the header alone is {HEADER_SIZE}"),
        ));
    };
    if h.magic != MAGIC {
        return Err(err(
            "bad_magic",
            0,
            "header.magic",
            format!("0x{:08x}; expected 0x{MAGIC:08x} (\"NSMV\")", h.magic),
        ));
    }
    if h.version != VERSION {
        return Err(err(
            "bad_version",
            4,
            "header.version",
            format!("{}; expected {VERSION}", h.version),
        ));
    }
    let ck = h.compute_checksum();
    if h.checksum != ck {
        return Err(err(
            "bad_checksum",
            56,
            "header.checksum",
            format!(
                "0x{:016x}; the XOR of the header fields is 0x{ck:016x}",
                h.checksum
            ),
        ));
    }
    for (o, name) in [(20usize, "header.pad0"), (36, "header.pad1")] {
        if head[o..o + 4] != [0; 4] {
            return Err(err(
                "padding",
                o as u64,
                name,
                "header padding is not zero".into(),
            ));
        }
    }
    if h.vcpu_count == 0 || h.vcpu_count > VCPU_COUNT_LIMIT {
        return Err(err(
            "vcpu_count",
            16,
            "header.vcpu_count",
            format!("{}; expected 1 to {VCPU_COUNT_LIMIT}", h.vcpu_count),
        ));
    }
    if h.memory_pages.checked_mul(PAGE_SIZE).is_none() {
        return Err(err(
            "memory_pages",
            24,
            "header.memory_pages",
            format!("{} pages of 4096 bytes overflow a u64", h.memory_pages),
        ));
    }
    let n = u64::from(h.region_count);
    let data_start = HEADER_SIZE as u64 + n * DESCRIPTOR_SIZE as u64;
    if data_start > len {
        return Err(err(
            "region_count",
            32,
            "header.region_count",
            format!("{n} descriptors need {data_start} bytes, but the file has only {len}"),
        ));
    }
    if h.total_size < data_start || h.total_size > len {
        return Err(err(
            "total_size",
            40,
            "header.total_size",
            format!(
                "{}; expected between {data_start} (header + descriptors) and the file length {len}",
                h.total_size
            ),
        ));
    }
    let mut f = VeridianFile {
        header: h,
        ..VeridianFile::default()
    };
    let vcpus = h.vcpu_count as usize;
    // seen[vcpu][type]: GeneralRegisters, VmcsState, MsrValues, LapicState
    let mut seen = vec![[false; 4]; vcpus];
    let table = src.get(HEADER_SIZE as u64, n * DESCRIPTOR_SIZE as u64)?;
    let mut device_count = 0usize;
    let (mut page_bytes, mut page_offsets) = (Vec::new(), Vec::new());
    let mut off = data_start;
    for k in 0..n {
        let at = HEADER_SIZE as u64 + k * DESCRIPTOR_SIZE as u64;
        let p = (k * DESCRIPTOR_SIZE as u64) as usize;
        let d = RegionDescriptor {
            region_type: le32(&table, p),
            vcpu_index: le32(&table, p + 4),
            offset: le64(&table, p + 8),
            size: le64(&table, p + 16),
        };
        let field = |s: &str| format!("regions[{k}].{s}");
        let Some(t) = d.kind().filter(|t| *t != RegionType::VcpuState) else {
            let why = if d.region_type == 7 {
                "7 (VcpuState) is defined by VeridianOS but never written; its payload is unknown"
                    .to_string()
            } else {
                format!("{}; expected 1 to 6", d.region_type)
            };
            return Err(err("region_type", at, field("region_type"), why));
        };
        if t.per_vcpu() {
            if d.vcpu_index >= h.vcpu_count {
                return Err(err(
                    "vcpu_index",
                    at + 4,
                    field("vcpu_index"),
                    format!(
                        "{} region for vCPU {}, but vcpu_count is {}",
                        t.name(),
                        d.vcpu_index,
                        h.vcpu_count
                    ),
                ));
            }
            let slot = match t {
                RegionType::GeneralRegisters => 0,
                RegionType::VmcsState => 1,
                RegionType::MsrValues => 2,
                _ => 3,
            };
            let s = &mut seen[d.vcpu_index as usize][slot];
            if *s {
                return Err(err(
                    "duplicate_region",
                    at,
                    field("region_type"),
                    format!("a second {} region for vCPU {}", t.name(), d.vcpu_index),
                ));
            }
            *s = true;
        } else if d.vcpu_index != 0 {
            return Err(err(
                "vcpu_index",
                at + 4,
                field("vcpu_index"),
                format!("{} for a {} region; expected 0", d.vcpu_index, t.name()),
            ));
        }
        if d.offset != off {
            return Err(err(
                "region_offset",
                at + 8,
                field("offset"),
                format!(
                    "0x{:x}; expected 0x{off:x} (payloads are contiguous, in descriptor order, after the descriptors)",
                    d.offset
                ),
            ));
        }
        let size_err = |m: String| err("region_size", at + 16, field("size"), m);
        match t {
            RegionType::GeneralRegisters if d.size != GUEST_REGISTERS_SIZE as u64 => {
                return Err(size_err(format!(
                    "{}; GeneralRegisters is {GUEST_REGISTERS_SIZE} bytes",
                    d.size
                )));
            }
            RegionType::LapicState if d.size != LAPIC_SNAPSHOT_SIZE as u64 => {
                return Err(size_err(format!(
                    "{}; LapicState is {LAPIC_SNAPSHOT_SIZE} bytes",
                    d.size
                )));
            }
            RegionType::MemoryPage if d.size != PAGE_SIZE => {
                return Err(size_err(format!("{}; MemoryPage is 4096 bytes", d.size)));
            }
            RegionType::VmcsState
                if d.size % VMCS_FIELD_SIZE as u64 != 0
                    || d.size / VMCS_FIELD_SIZE as u64 > VMCS_FIELDS_LIMIT =>
            {
                return Err(size_err(format!(
                    "{}; VmcsState is a multiple of {VMCS_FIELD_SIZE} bytes, at most {VMCS_FIELDS_LIMIT} fields",
                    d.size
                )));
            }
            RegionType::MsrValues
                if d.size % MSR_ENTRY_SIZE as u64 != 0
                    || d.size / MSR_ENTRY_SIZE as u64 > MSRS_LIMIT =>
            {
                return Err(size_err(format!(
                    "{}; MsrValues is a multiple of {MSR_ENTRY_SIZE} bytes, at most {MSRS_LIMIT} entries",
                    d.size
                )));
            }
            _ => {}
        }
        let end = match off.checked_add(d.size) {
            Some(e) if e <= h.total_size => e,
            _ => {
                return Err(size_err(format!(
                    "{} bytes at 0x{off:x} run past total_size 0x{:x}",
                    d.size, h.total_size
                )));
            }
        };
        let payload = if t == RegionType::MemoryPage && file.is_some() {
            Cow::Borrowed(&[][..])
        } else {
            src.get(off, d.size)?
        };
        let payload = &payload[..];
        match t {
            RegionType::GeneralRegisters => {
                let a = std::array::from_fn(|i| le64(payload, 8 * i));
                f.register_states.push(GuestRegisters::from_array(a));
            }
            RegionType::VmcsState => f.vmcs_states.push(parse_vmcs(payload, off, k)?),
            RegionType::MsrValues => {
                let mut v = Vec::with_capacity(payload.len() / MSR_ENTRY_SIZE);
                for (i, e) in payload.chunks_exact(MSR_ENTRY_SIZE).enumerate() {
                    let m = MsrEntry {
                        index: le32(e, 0),
                        reserved: le32(e, 4),
                        value: le64(e, 8),
                    };
                    if m.reserved != 0 {
                        return Err(err(
                            "msr_reserved",
                            off + (i * MSR_ENTRY_SIZE) as u64 + 4,
                            format!("regions[{k}].msrs[{i}]._reserved"),
                            format!("0x{:x}; expected 0", m.reserved),
                        ));
                    }
                    v.push(m);
                }
                f.msr_states.push(v);
            }
            RegionType::LapicState => match LapicSnapshot::parse(payload) {
                Ok(l) => f.lapic_states.push(l),
                Err((o, name, m)) => {
                    return Err(err(
                        "lapic",
                        off + o as u64,
                        format!("regions[{k}].lapic.{name}"),
                        m,
                    ));
                }
            },
            RegionType::MemoryPage => {
                if file.is_some() {
                    page_offsets.push(off);
                } else {
                    page_bytes.extend_from_slice(payload);
                }
            }
            RegionType::DeviceState => {
                device_count += 1;
                f.device_states.push(DeviceBlob {
                    name: String::new(),
                    data: payload.to_vec(),
                });
            }
            RegionType::VcpuState => {}
        }
        f.regions.push(d);
        off = end;
    }
    if off != h.total_size {
        return Err(err(
            "total_size",
            40,
            "header.total_size",
            format!(
                "0x{:x}; header, descriptors and payloads end at 0x{off:x}",
                h.total_size
            ),
        ));
    }
    if let Some(v) = seen.iter().position(|s| !s[0]) {
        return Err(err(
            "missing_registers",
            16,
            "header.vcpu_count",
            format!(
                "vcpu_count is {} but vCPU {v} has no GeneralRegisters region",
                h.vcpu_count
            ),
        ));
    }
    // Index section: page indices, then device names.
    let mut pos = off;
    f.memory_page_data = match file {
        Some(file) => PageStore::in_file(file, page_offsets),
        None => PageStore::from_bytes(page_bytes),
    };
    let pages = f.memory_page_data.len();
    let need = pages as u64 * 8;
    if len - pos < need {
        return Err(err(
            "truncated",
            pos,
            "memory_page_indices",
            format!(
                "{pages} MemoryPage regions need {need} bytes of page indices; {} remain",
                len - pos
            ),
        ));
    }
    f.memory_page_indices.reserve_exact(pages);
    let index = src.get(pos, need)?;
    for i in 0..pages {
        let at = pos + 8 * i as u64;
        let idx = le64(&index, 8 * i);
        if idx >= h.memory_pages {
            return Err(err(
                "page_index",
                at,
                format!("memory_page_indices[{i}]"),
                format!("{idx}; memory_pages is {}", h.memory_pages),
            ));
        }
        if let Some(&prev) = f.memory_page_indices.last()
            && idx <= prev
        {
            return Err(err(
                "page_index",
                at,
                format!("memory_page_indices[{i}]"),
                format!("{idx} after {prev}; indices are strictly increasing"),
            ));
        }
        f.memory_page_indices.push(idx);
    }
    pos += need;
    for i in 0..device_count {
        let field = format!("device_states[{i}].name");
        if len - pos < 4 {
            return Err(err(
                "truncated",
                pos,
                field,
                "the name length (u32) is missing".into(),
            ));
        }
        let n = le32(&src.get(pos, 4)?, 0);
        if n > NAME_LIMIT {
            return Err(err(
                "device_name",
                pos,
                field,
                format!("length {n}; at most {NAME_LIMIT}"),
            ));
        }
        if len - pos - 4 < u64::from(n) {
            return Err(err(
                "truncated",
                pos + 4,
                field,
                format!("{n} name bytes; {} remain", len - pos - 4),
            ));
        }
        let s = src.get(pos + 4, u64::from(n))?;
        match std::str::from_utf8(&s) {
            Ok(s) => f.device_states[i].name = s.to_string(),
            Err(e) => {
                return Err(err(
                    "device_name",
                    pos + 4 + e.valid_up_to() as u64,
                    field,
                    "not UTF-8".into(),
                ));
            }
        }
        pos += 4 + u64::from(n);
    }
    if pos != len {
        return Err(err(
            "trailing_bytes",
            pos,
            "index section",
            format!("{} bytes after the index section", len - pos),
        ));
    }
    Ok(f)
}

fn parse_vmcs(payload: &[u8], off: u64, k: u64) -> Result<Vec<VmcsField>, ReadError> {
    let mut v: Vec<VmcsField> = Vec::with_capacity(payload.len() / VMCS_FIELD_SIZE);
    for (i, e) in payload.chunks_exact(VMCS_FIELD_SIZE).enumerate() {
        let at = off + (i * VMCS_FIELD_SIZE) as u64;
        let field = format!("regions[{k}].vmcs[{i}]");
        let fv = VmcsField {
            encoding: le32(e, 0),
            value: le64(e, 4),
        };
        let name =
            vmcs::field_name(fv.encoding).unwrap_or_else(|| format!("0x{:04x}", fv.encoding));
        let Some(width) = vmcs::field_width(fv.encoding) else {
            return Err(err(
                "vmcs_field",
                at,
                format!("{field}.encoding"),
                format!("0x{:08x} sets reserved encoding bits", fv.encoding),
            ));
        };
        if width < 64 && fv.value >> width != 0 {
            return Err(err(
                "vmcs_field",
                at + 4,
                format!("{field}.value"),
                format!(
                    "{name} = 0x{:x} does not fit the {width}-bit field",
                    fv.value
                ),
            ));
        }
        let limit16 = matches!(fv.encoding, vmcs::GUEST_GDTR_LIMIT | vmcs::GUEST_IDTR_LIMIT);
        if limit16 && fv.value > 0xFFFF {
            return Err(err(
                "vmcs_field",
                at + 4,
                format!("{field}.value"),
                format!("{name} = 0x{:x}; bits 31:16 must be 0", fv.value),
            ));
        }
        if matches!(
            vmcs::segment_field(fv.encoding),
            Some((_, vmcs::SegField::AccessRights))
        ) && fv.value as u32 & vmcs::AR_RESERVED != 0
        {
            return Err(err(
                "vmcs_field",
                at + 4,
                format!("{field}.value"),
                format!(
                    "{name} = 0x{:x} sets reserved access-rights bits (11:8, 31:17)",
                    fv.value
                ),
            ));
        }
        if let Some(j) = v.iter().position(|x| x.encoding == fv.encoding) {
            return Err(err(
                "vmcs_field",
                at,
                format!("{field}.encoding"),
                format!("{name} appears twice (first as field {j})"),
            ));
        }
        v.push(fv);
    }
    Ok(v)
}

/// Encodes a file exactly as its struct says (descriptors, offsets and header as stored; call
/// [`VeridianFile::finalize`] after editing). Payloads follow the descriptors in order, each
/// taken from its type's vector by position; then the index section.
///
/// # Errors
/// When a page held in a file cannot be read back.
pub fn write(f: &VeridianFile) -> std::io::Result<Vec<u8>> {
    let cap = usize::try_from(f.encoded_len()).unwrap_or(0).min(1 << 32);
    let mut out = Vec::with_capacity(cap);
    write_to(f, &mut out)?;
    Ok(out)
}

/// [`write()`] to `w`, a piece at a time (pages are read from their file one by one).
///
/// # Errors
/// I/O errors of `w` or of reading a page back.
pub fn write_to(f: &VeridianFile, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, w);
    let out = &mut out;
    out.write_all(&f.header.to_bytes())?;
    for r in &f.regions {
        out.write_all(&r.region_type.to_le_bytes())?;
        out.write_all(&r.vcpu_index.to_le_bytes())?;
        out.write_all(&r.offset.to_le_bytes())?;
        out.write_all(&r.size.to_le_bytes())?;
    }
    let mut page = vec![0u8; PAGE_SIZE as usize];
    let (mut vm, mut gr, mut ms, mut la, mut pg, mut dv) = (0, 0, 0, 0, 0, 0);
    for r in &f.regions {
        match r.kind() {
            Some(RegionType::VmcsState) => {
                for x in f.vmcs_states.get(vm).into_iter().flatten() {
                    out.write_all(&x.encoding.to_le_bytes())?;
                    out.write_all(&x.value.to_le_bytes())?;
                }
                vm += 1;
            }
            Some(RegionType::GeneralRegisters) => {
                if let Some(g) = f.register_states.get(gr) {
                    for v in g.to_array() {
                        out.write_all(&v.to_le_bytes())?;
                    }
                }
                gr += 1;
            }
            Some(RegionType::MsrValues) => {
                for m in f.msr_states.get(ms).into_iter().flatten() {
                    out.write_all(&m.index.to_le_bytes())?;
                    out.write_all(&m.reserved.to_le_bytes())?;
                    out.write_all(&m.value.to_le_bytes())?;
                }
                ms += 1;
            }
            Some(RegionType::LapicState) => {
                if let Some(l) = f.lapic_states.get(la) {
                    out.write_all(&l.to_bytes())?;
                }
                la += 1;
            }
            Some(RegionType::MemoryPage) => {
                if pg < f.memory_page_data.len() {
                    f.memory_page_data.read_page(pg, &mut page)?;
                    out.write_all(&page)?;
                }
                pg += 1;
            }
            Some(RegionType::DeviceState) => {
                if let Some(d) = f.device_states.get(dv) {
                    out.write_all(&d.data)?;
                }
                dv += 1;
            }
            Some(RegionType::VcpuState) | None => {}
        }
    }
    for i in &f.memory_page_indices {
        out.write_all(&i.to_le_bytes())?;
    }
    for d in &f.device_states {
        out.write_all(&(d.name.len() as u32).to_le_bytes())?;
        out.write_all(d.name.as_bytes())?;
    }
    out.flush()
}
