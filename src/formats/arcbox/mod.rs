//! arcbox snapshot directories.
//!
//! arcbox (`arcbox-vmm`'s `SnapshotManager` over `arcbox-hypervisor`'s snapshot types) stores a
//! snapshot as a directory:
//!
//! ```text
//! <dir>/snapshot.json    SnapshotInfo (id, name, target, created, size, parent, labels, state)
//! <dir>/vm_state.json    VmSnapshot (vCPU general registers, devices, memory regions, ...)
//! <dir>/memory.bin       guest memory, regions at their file_offset            (compressed: false)
//! <dir>/memory.bin.lz4   u32 LE length + one LZ4 block of the same bytes        (compressed: true)
//! ```
//!
//! Both JSON files are `serde_json` pretty output of types mirrored in [`types`]. arcbox keeps
//! only general registers per vCPU; snaptool carries everything else it knows in each vCPU's
//! `extra_state` as a versioned blob ([`extra`]), so a snapshot converted to arcbox and back is
//! unchanged. The native fields win over the blob when they disagree ([`convert`]).
//! See `formats/arcbox.md`.

pub mod convert;
pub mod extra;
pub mod types;

#[cfg(test)]
mod tests;

use crate::memory::{MemError, MemoryImage, file::FileImage, lz4};
use crate::model::Snapshot;
use crate::report::{Finding, Severity};
use serde::de::DeserializeOwned;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;
pub use types::*;

/// `snapshot.json`.
pub const FILE_INFO: &str = "snapshot.json";
/// `vm_state.json`.
pub const FILE_STATE: &str = "vm_state.json";
/// `memory.bin`.
pub const FILE_MEM: &str = "memory.bin";
/// `memory.bin.lz4`.
pub const FILE_MEM_LZ4: &str = "memory.bin.lz4";
/// Largest `snapshot.json` read.
pub const INFO_MAX: u64 = 1 << 20;
/// Largest `vm_state.json` read.
pub const STATE_MAX: u64 = 64 << 20;
/// Most vCPUs accepted.
pub const MAX_VCPUS: usize = 1024;
/// Most devices accepted.
pub const MAX_DEVICES: usize = 4096;
/// Most memory regions accepted.
pub const MAX_REGIONS: usize = 4096;

/// Why an arcbox directory could not be read or written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than snaptool reads.
    #[error("{path}: {size} bytes, over the {cap}-byte cap")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The cap.
        cap: u64,
    },
    /// A JSON file does not parse as its arcbox type.
    #[error("{path}: line {line} column {column}, field `{field}`: {reason}")]
    Json {
        /// The file.
        path: String,
        /// JSON path of the failing value (`.` for the top).
        field: String,
        /// Line, 1-based.
        line: usize,
        /// Column, 1-based.
        column: usize,
        /// What was wrong.
        reason: String,
    },
    /// A file parses but its content is refused.
    #[error("{path}: field `{field}`: {what}")]
    Invalid {
        /// The file.
        path: String,
        /// JSON path of the refused value.
        field: String,
        /// Why.
        what: String,
    },
    /// The memory file is malformed or does not match `vm_state.json`.
    #[error(transparent)]
    Memory(#[from] MemError),
    /// The model cannot be written as an arcbox directory.
    #[error("{0}")]
    Model(String),
    /// The output path is refused.
    #[error("{path}: {what}")]
    Refused {
        /// The path.
        path: String,
        /// Why.
        what: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// True for a directory holding `snapshot.json` and `vm_state.json` files.
pub fn sniff_dir(path: &Path) -> bool {
    path.is_dir() && path.join(FILE_INFO).is_file() && path.join(FILE_STATE).is_file()
}

/// An arcbox snapshot directory: both JSON documents in memory, the memory file as an image
/// read on demand (never held whole in memory).
#[derive(Debug, Clone)]
pub struct ArcboxDir {
    /// `snapshot.json`.
    pub info: SnapshotInfo,
    /// `vm_state.json`.
    pub state: VmSnapshot,
    /// The memory file's content (decompressed), when there is one: the directory's own file,
    /// or a temporary copy made by [`from_model`].
    memory: Option<Arc<dyn MemoryImage>>,
    /// The `memory.bin.lz4` file for `memory` and its length, when there is one.
    lz4: Option<(Arc<fs::File>, u64)>,
}

impl PartialEq for ArcboxDir {
    fn eq(&self, other: &Self) -> bool {
        self.info == other.info
            && self.state == other.state
            && same_memory(self.memory.as_deref(), other.memory.as_deref())
    }
}

/// Whether two memory images (or their absence) have the same length and bytes, compared a
/// MiB at a time.
fn same_memory(a: Option<&dyn MemoryImage>, b: Option<&dyn MemoryImage>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) if a.len() == b.len() => {
            const CHUNK: u64 = 1 << 20;
            let (mut x, mut y) = (vec![0u8; CHUNK as usize], vec![0u8; CHUNK as usize]);
            let mut at = 0;
            while at < a.len() {
                let n = CHUNK.min(a.len() - at) as usize;
                if a.read_at(at, &mut x[..n]).is_err()
                    || b.read_at(at, &mut y[..n]).is_err()
                    || x[..n] != y[..n]
                {
                    return false;
                }
                at += n as u64;
            }
            true
        }
        _ => false,
    }
}

impl ArcboxDir {
    /// Converts to the neutral model: from the snaptool blobs when present, with every native
    /// field that disagrees with them applied; from the native fields alone otherwise.
    pub fn to_model(&self) -> Snapshot {
        convert::merge(&self.info, &self.state).0
    }

    /// The native fields that disagree with the snaptool blobs (and so override them), as JSON
    /// paths of `vm_state.json` (`snapshot.json` for that file).
    pub fn native_overrides(&self) -> Vec<String> {
        convert::merge(&self.info, &self.state).1
    }

    /// The decompressed memory file: each region's bytes at its `file_offset`; `None` when the
    /// directory has no memory file. It is read on demand.
    pub fn memory(&self) -> Option<Arc<dyn MemoryImage>> {
        self.memory.clone()
    }

    /// Whether both hold the same snapshot: the same model (as `diff` compares them, provenance
    /// aside) and the same decompressed memory,
    /// however the memory file is compressed. The bytes may still differ where snaptool made up
    /// `snapshot.json` values for a model that had none (a fresh id and the current time), which
    /// are not part of the model.
    pub fn same_content(&self, other: &ArcboxDir) -> bool {
        same_memory(self.memory.as_deref(), other.memory.as_deref())
            && crate::diff::diff(&self.to_model(), &other.to_model(), crate::diff::PROVENANCE)
                .is_empty()
    }

    /// Whether the directory has (or will be written with) a memory file.
    pub fn has_memory(&self) -> bool {
        self.memory.is_some()
    }

    /// The name of the memory file `vm_state.json` selects.
    pub fn memory_file_name(&self) -> &'static str {
        if self.state.compressed {
            FILE_MEM_LZ4
        } else {
            FILE_MEM
        }
    }

    fn memory_file_len(&self) -> u64 {
        match (&self.memory, self.state.compressed, &self.lz4) {
            (None, _, _) => 0,
            (Some(m), false, _) => m.len(),
            (Some(_), true, Some((_, len))) => *len,
            (Some(m), true, None) => {
                lz4::encode_image(m.as_ref(), &mut std::io::sink(), FILE_MEM_LZ4).unwrap_or(0)
            }
        }
    }

    /// The byte size of the directory as written (what arcbox records in `snapshot.json`).
    pub fn dir_size(&self) -> u64 {
        let fixed = json_bytes(&self.state).len() as u64 + self.memory_file_len();
        let mut info = self.info.clone();
        let mut size = fixed;
        for _ in 0..4 {
            info.size = size;
            let next = fixed + json_bytes(&info).len() as u64;
            if next == size {
                break;
            }
            size = next;
        }
        size
    }
}

fn json_bytes<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // The types have string keys and no floats: serialization cannot fail.
    serde_json::to_vec_pretty(v).unwrap_or_default()
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, Error> {
    let f = fs::File::open(path).map_err(io_err(path))?;
    let md = f.metadata().map_err(io_err(path))?;
    if !md.is_file() {
        return Err(Error::Invalid {
            path: path.display().to_string(),
            field: ".".into(),
            what: "not a regular file".into(),
        });
    }
    if md.len() > cap {
        return Err(Error::TooLarge {
            path: path.display().to_string(),
            size: md.len(),
            cap,
        });
    }
    let mut v = Vec::with_capacity(md.len() as usize);
    f.take(cap + 1).read_to_end(&mut v).map_err(io_err(path))?;
    if v.len() as u64 > cap {
        return Err(Error::TooLarge {
            path: path.display().to_string(),
            size: v.len() as u64,
            cap,
        });
    }
    Ok(v)
}

fn parse_json<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let fail = |field: String, e: serde_json::Error| Error::Json {
        path: path.display().to_string(),
        field,
        line: e.line(),
        column: e.column(),
        reason: e.to_string(),
    };
    let v = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        fail(field, e.into_inner())
    })?;
    de.end().map_err(|e| fail(".".into(), e))?;
    Ok(v)
}

/// One problem found in a directory's JSON: an error refuses the directory, a warning does not.
struct Problem {
    error: bool,
    code: &'static str,
    file: &'static str,
    field: String,
    offset: Option<u64>,
    message: String,
}

fn problem(
    error: bool,
    code: &'static str,
    file: &'static str,
    field: impl Into<String>,
    message: impl Into<String>,
) -> Problem {
    Problem {
        error,
        code,
        file,
        field: field.into(),
        offset: None,
        message: message.into(),
    }
}

fn info_problems(info: &SnapshotInfo) -> Vec<Problem> {
    let mut out = Vec::new();
    if !convert::is_rfc3339(&info.created) {
        out.push(problem(
            true,
            "created",
            FILE_INFO,
            "created",
            format!(
                "{:?} is not an RFC 3339 time; arcbox cannot load this snapshot.json",
                info.created
            ),
        ));
    }
    if info.state != SnapshotState::Ready {
        out.push(problem(
            false,
            "snapshot_state",
            FILE_INFO,
            "state",
            format!(
                "state is {:?}; arcbox restores only Ready snapshots",
                info.state
            ),
        ));
    }
    if info.target_type != SnapshotTargetType::Vm {
        out.push(problem(
            false,
            "target_type",
            FILE_INFO,
            "target_type",
            "target_type is Container; arcbox restores container snapshots from CRIU files, not vm_state.json",
        ));
    }
    out
}

fn state_problems(st: &VmSnapshot) -> Vec<Problem> {
    let mut out = Vec::new();
    let e = |code, field: String, msg: String| problem(true, code, FILE_STATE, field, msg);
    let w = |code, field: String, msg: String| problem(false, code, FILE_STATE, field, msg);
    for (name, n, cap) in [
        ("vcpus", st.vcpus.len(), MAX_VCPUS),
        ("devices", st.devices.len(), MAX_DEVICES),
        ("memory_regions", st.memory_regions.len(), MAX_REGIONS),
    ] {
        if n > cap {
            out.push(e(
                "over_cap",
                name.into(),
                format!("{n} entries; at most {cap} are read"),
            ));
        }
    }
    if !out.is_empty() {
        return out;
    }
    if st.version != 1 {
        out.push(w(
            "version",
            "version".into(),
            format!(
                "version {}; arcbox writes 1 (and never checks it)",
                st.version
            ),
        ));
    }
    let arch = convert::model_arch(st.arch);
    for (i, v) in st.vcpus.iter().enumerate() {
        let p = format!("vcpus[{i}]");
        if v.arch != st.arch {
            out.push(e(
                "arch_mismatch",
                format!("{p}.arch"),
                format!("{:?}, but the snapshot is {:?}", v.arch, st.arch),
            ));
        }
        if v.id as usize != i {
            out.push(w(
                "vcpu_id",
                format!("{p}.id"),
                format!(
                    "id {} at position {i}; arcbox restores vCPU n from the snapshot with id n",
                    v.id
                ),
            ));
        }
        let (own, other, own_name, other_name) = match arch {
            crate::model::Arch::X86_64 => (
                v.x86_regs.is_some(),
                v.arm64_regs.is_some(),
                "x86_regs",
                "arm64_regs",
            ),
            crate::model::Arch::Aarch64 => (
                v.arm64_regs.is_some(),
                v.x86_regs.is_some(),
                "arm64_regs",
                "x86_regs",
            ),
        };
        if !own {
            out.push(w(
                "vcpu_regs",
                format!("{p}.{own_name}"),
                "null: the vCPU's general registers read as zero".into(),
            ));
        }
        if other {
            out.push(w(
                "vcpu_regs",
                format!("{p}.{other_name}"),
                format!("set on a {} vCPU; ignored", arch.name()),
            ));
        }
    }
    let decoded = convert::decode_all(st);
    for (i, d) in decoded.iter().enumerate() {
        let p = format!("vcpus[{i}].extra_state");
        match d {
            Err(err) => {
                let mut pr = e("extra_state", p, format!("snaptool extra state {err}"));
                pr.offset = Some(err.offset);
                out.push(pr);
            }
            Ok(extra::Decoded::Foreign) => out.push(w(
                "extra_state_foreign",
                p,
                format!(
                    "{} bytes not written by snaptool; carried as extension {}",
                    st.vcpus[i].extra_state.len(),
                    convert::KEY_FOREIGN
                ),
            )),
            Ok(extra::Decoded::Ours(x)) => {
                let blob_arch = match x.vcpu {
                    crate::model::Vcpu::X86_64(_) => crate::model::Arch::X86_64,
                    crate::model::Vcpu::Aarch64(_) => crate::model::Arch::Aarch64,
                };
                let part_arch = x.vm.as_ref().map(|p| p.provenance.arch);
                if blob_arch != arch || part_arch.is_some_and(|a| a != arch) {
                    out.push(e(
                        "extra_state",
                        p,
                        format!(
                            "the snaptool extra state describes a {} vCPU, the snapshot is {}",
                            blob_arch.name(),
                            arch.name()
                        ),
                    ));
                } else if i == 0 && x.vm.is_none() {
                    out.push(w(
                        "extra_state",
                        p,
                        "vCPU 0's snaptool extra state has no VM-wide part; the VM is read from the native fields".into(),
                    ));
                }
            }
            Ok(extra::Decoded::Empty) => {}
        }
    }
    for (i, r) in st.memory_regions.iter().enumerate() {
        let p = format!("memory_regions[{i}]");
        match r.file_offset.checked_add(r.size) {
            None => out.push(e(
                "region_bounds",
                p.clone(),
                "file_offset + size overflows 64 bits".into(),
            )),
            Some(end) if end > st.total_memory => out.push(e(
                "region_bounds",
                p.clone(),
                format!(
                    "bytes 0x{:x}..0x{end:x} of the memory file, past total_memory 0x{:x}",
                    r.file_offset, st.total_memory
                ),
            )),
            Some(_) => {}
        }
        if r.guest_addr.checked_add(r.size).is_none() {
            out.push(e(
                "region_bounds",
                p.clone(),
                "guest_addr + size overflows 64 bits".into(),
            ));
        }
        if r.file_offset != r.guest_addr {
            out.push(w(
                "file_offset",
                format!("{p}.file_offset"),
                format!(
                    "0x{:x} ≠ guest_addr 0x{:x}; arcbox-vmm's Linux restore loads memory.bin at guest address 0",
                    r.file_offset, r.guest_addr
                ),
            ));
        }
    }
    if let Some(end) = convert::memory_len(&st.memory_regions)
        && end < st.total_memory
        && !st.memory_regions.is_empty()
    {
        out.push(w(
            "total_memory",
            "total_memory".into(),
            format!(
                "{} bytes, but the regions end at {end}: the rest of the memory file belongs to no region",
                st.total_memory
            ),
        ));
    }
    match (st.compressed, st.compression.as_deref()) {
        (true, Some("lz4")) | (false, None) => {}
        (true, other) => out.push(w(
            "compression",
            "compression".into(),
            format!(
                "{other:?} with compressed = true; arcbox always decompresses memory.bin.lz4 as LZ4"
            ),
        )),
        (false, Some(c)) => out.push(w(
            "compression",
            "compression".into(),
            format!("{c:?} with compressed = false; memory.bin is read uncompressed"),
        )),
    }
    out
}

fn first_error(dir: &Path, problems: Vec<Problem>) -> Result<(), Error> {
    match problems.into_iter().find(|p| p.error) {
        None => Ok(()),
        Some(p) => Err(Error::Invalid {
            path: dir.join(p.file).display().to_string(),
            field: p.field,
            what: match p.offset {
                Some(o) => format!("{} (byte {o} of the blob)", p.message),
                None => p.message,
            },
        }),
    }
}

/// A loaded memory file: its (decompressed) content and, for `memory.bin.lz4`, the file and its
/// length.
type Loaded = (Arc<dyn MemoryImage>, Option<(Arc<fs::File>, u64)>);

/// Opens the memory file `st` selects: `Ok(None)` when it is absent (arcbox only warns). The
/// length is checked against `total_memory` before anything is read or decompressed; a
/// `memory.bin` is then read on demand, and a `memory.bin.lz4` is decoded once as a stream to
/// check it (it is never held whole in memory).
fn load_memory(dir: &Path, st: &VmSnapshot) -> Result<Option<Loaded>, Error> {
    let name = if st.compressed {
        FILE_MEM_LZ4
    } else {
        FILE_MEM
    };
    let path = dir.join(name);
    let shown = path.display().to_string();
    let md = match fs::metadata(&path) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    if !md.is_file() {
        return Err(MemError::format(&shown, 0, "not a regular file").into());
    }
    if !st.compressed {
        if md.len() != st.total_memory {
            return Err(MemError::format(
                &shown,
                md.len().min(st.total_memory),
                format!(
                    "{} bytes; vm_state.json total_memory says {}",
                    md.len(),
                    st.total_memory
                ),
            )
            .into());
        }
        let img = FileImage::open(&path)?;
        if img.len() != st.total_memory {
            return Err(MemError::format(&shown, img.len(), "file changed while read").into());
        }
        return Ok(Some((Arc::new(img), None)));
    }
    let f = fs::File::open(&path).map_err(io_err(&path))?;
    let mut prefix = [0u8; 4];
    (&f).read_exact(&mut prefix)
        .map_err(|_| MemError::format(&shown, 0, "shorter than the 4-byte size prefix"))?;
    let declared = u64::from(u32::from_le_bytes(prefix));
    if declared != st.total_memory {
        return Err(MemError::format(
            &shown,
            0,
            format!(
                "size prefix says {declared} bytes; vm_state.json total_memory says {}",
                st.total_memory
            ),
        )
        .into());
    }
    let img = lz4::Lz4Image::from_file(f.try_clone().map_err(io_err(&path))?, &shown)?;
    let len = img.file_len();
    Ok(Some((Arc::new(img), Some((Arc::new(f), len)))))
}

fn read_json(dir: &Path) -> Result<(SnapshotInfo, VmSnapshot), Error> {
    let md = fs::metadata(dir).map_err(io_err(dir))?;
    if !md.is_dir() {
        return Err(Error::Refused {
            path: dir.display().to_string(),
            what: "not a directory; an arcbox snapshot is a directory".into(),
        });
    }
    let ip = dir.join(FILE_INFO);
    let info = read_capped(&ip, INFO_MAX)?;
    let sp = dir.join(FILE_STATE);
    let state = read_capped(&sp, STATE_MAX)?;
    parse_both(dir, &info, &state)
}

fn parse_both(dir: &Path, info: &[u8], state: &[u8]) -> Result<(SnapshotInfo, VmSnapshot), Error> {
    for (name, b, cap) in [(FILE_INFO, info, INFO_MAX), (FILE_STATE, state, STATE_MAX)] {
        if b.len() as u64 > cap {
            return Err(Error::TooLarge {
                path: dir.join(name).display().to_string(),
                size: b.len() as u64,
                cap,
            });
        }
    }
    let info: SnapshotInfo = parse_json(&dir.join(FILE_INFO), info)?;
    let state: VmSnapshot = parse_json(&dir.join(FILE_STATE), state)?;
    first_error(dir, info_problems(&info))?;
    first_error(dir, state_problems(&state))?;
    Ok((info, state))
}

/// Parses and checks the two JSON documents of a directory given as bytes, as [`read_dir`]
/// does (caps, strict parsing, snaptool blobs), without a memory file.
///
/// # Errors
/// The first problem found.
pub fn from_json(snapshot_json: &[u8], vm_state_json: &[u8]) -> Result<ArcboxDir, Error> {
    let (info, state) = parse_both(Path::new(""), snapshot_json, vm_state_json)?;
    Ok(ArcboxDir {
        info,
        state,
        memory: None,
        lz4: None,
    })
}

/// Reads an arcbox snapshot directory: both JSON files (size-capped, parsed strictly, errors
/// with JSON path, line and column), the snaptool blobs (bounded), and the memory file
/// `vm_state.json` selects (its length checked against `total_memory` and the regions first).
/// A missing memory file is accepted, as arcbox accepts it.
///
/// # Errors
/// The first problem found.
pub fn read_dir(path: &Path) -> Result<ArcboxDir, Error> {
    let (info, state) = read_json(path)?;
    let (memory, lz4) = match load_memory(path, &state)? {
        Some((m, z)) => (Some(m), z),
        None => (None, None),
    };
    Ok(ArcboxDir {
        info,
        state,
        memory,
        lz4,
    })
}

/// [`read_dir`] without the memory file (for inspecting large snapshots).
///
/// # Errors
/// The first problem found in the JSON files.
pub fn read_dir_state(path: &Path) -> Result<ArcboxDir, Error> {
    let (info, state) = read_json(path)?;
    Ok(ArcboxDir {
        info,
        state,
        memory: None,
        lz4: None,
    })
}

/// Builds an arcbox directory from the model. `memory` is the memory image of the model's
/// regions (its length must be the furthest region end; regions keep their file offsets);
/// without it the directory gets no memory file. `compress_lz4` writes `memory.bin.lz4`.
/// The notes say what was synthesised (snapshot id, time) and how the rest is carried.
///
/// # Errors
/// [`Error::Model`] when the model does not fit; memory read errors.
pub fn from_model(
    m: &Snapshot,
    memory: Option<&dyn MemoryImage>,
    compress_lz4: bool,
) -> Result<(ArcboxDir, Vec<String>), Error> {
    let b = convert::build(m, compress_lz4).map_err(Error::Model)?;
    let mut notes = b.notes;
    let total = b.state.total_memory;
    let (memory, lz4) = match memory {
        Some(img) => {
            if img.len() != total {
                return Err(Error::Model(format!(
                    "memory image {} is {} bytes; the regions need {total}",
                    img.path(),
                    img.len()
                )));
            }
            if compress_lz4 && u32::try_from(total).is_err() {
                return Err(Error::Model(format!(
                    "{total} bytes of memory do not fit memory.bin.lz4's 32-bit size; write memory.bin instead"
                )));
            }
            let (m, z) = spool(img, compress_lz4)?;
            (Some(m), z)
        }
        None => {
            notes.push(
                "no memory image given: the directory gets no memory file (arcbox then restores \
                 without guest memory, with a warning)"
                    .into(),
            );
            (None, None)
        }
    };
    let mut d = ArcboxDir {
        info: b.info,
        state: b.state,
        memory,
        lz4,
    };
    d.info.size = d.dir_size();
    Ok((d, notes))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut f = fs::File::create(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// A temporary copy of `img` as arcbox would store it (in the system's temporary directory,
/// removed when the last handle goes): `memory.bin.lz4`, or a sparse `memory.bin`. Memory use
/// stays a few MiB whatever the image's size.
fn spool(img: &dyn MemoryImage, compress_lz4: bool) -> Result<Loaded, Error> {
    let tmp_dir = std::env::temp_dir();
    let f = tempfile::tempfile().map_err(io_err(&tmp_dir))?;
    if compress_lz4 {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &f);
        let len = lz4::encode_image(img, &mut w, FILE_MEM_LZ4)?;
        w.flush().map_err(io_err(&tmp_dir))?;
        drop(w);
        let view =
            lz4::Lz4Image::from_file(f.try_clone().map_err(io_err(&tmp_dir))?, FILE_MEM_LZ4)?;
        return Ok((Arc::new(view), Some((Arc::new(f), len))));
    }
    write_sparse(&f, &tmp_dir, img)?;
    Ok((Arc::new(FileImage::from_file(f, FILE_MEM)?), None))
}

/// Copies `img` into `f` with holes for its holes and all-zero 64 KiB chunks.
fn write_sparse(f: &fs::File, path: &Path, img: &dyn MemoryImage) -> Result<(), Error> {
    use std::os::unix::fs::FileExt;
    const CHUNK: u64 = 64 << 10;
    f.set_len(0).map_err(io_err(path))?;
    let mut buf = vec![0u8; CHUNK as usize];
    for e in img.extents()? {
        let mut at = e.offset;
        while at < e.end() {
            let n = CHUNK.min(e.end() - at) as usize;
            img.read_at(at, &mut buf[..n])?;
            if buf[..n].iter().any(|&b| b != 0) {
                f.write_all_at(&buf[..n], at).map_err(io_err(path))?;
            }
            at += n as u64;
        }
    }
    f.set_len(img.len()).map_err(io_err(path))?;
    Ok(())
}

/// Copies the first `len` bytes of `from` into a new file at `path`.
fn write_copy(path: &Path, from: &fs::File, len: u64) -> Result<(), Error> {
    use std::os::unix::fs::FileExt;
    let out = fs::File::create(path).map_err(io_err(path))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < len {
        let n = (len - at).min(buf.len() as u64) as usize;
        from.read_exact_at(&mut buf[..n], at)
            .map_err(io_err(path))?;
        out.write_all_at(&buf[..n], at).map_err(io_err(path))?;
        at += n as u64;
    }
    out.sync_all().map_err(io_err(path))
}

fn sync_dir(path: &Path) {
    // Best effort: not every filesystem lets a directory be fsync'ed.
    if let Ok(d) = fs::File::open(path) {
        let _ = d.sync_all();
    }
}

const KNOWN_FILES: [&str; 4] = [FILE_INFO, FILE_STATE, FILE_MEM, FILE_MEM_LZ4];

/// Refuses `out` unless it is absent, an empty directory, or an arcbox snapshot directory
/// holding nothing but arcbox's files. Returns whether it exists.
fn check_out(out: &Path) -> Result<bool, Error> {
    let refuse = |what: &str| Error::Refused {
        path: out.display().to_string(),
        what: what.into(),
    };
    let md = match fs::symlink_metadata(out) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err(out)(e)),
    };
    if !md.is_dir() {
        return Err(refuse(
            "exists and is not a directory; refusing to overwrite it",
        ));
    }
    let mut names = Vec::new();
    for e in fs::read_dir(out).map_err(io_err(out))? {
        names.push(e.map_err(io_err(out))?.file_name());
    }
    if names.is_empty() {
        return Ok(true);
    }
    if !sniff_dir(out) {
        return Err(refuse(
            "exists and is not an arcbox snapshot directory; refusing to overwrite it",
        ));
    }
    if let Some(n) = names
        .iter()
        .find(|n| !KNOWN_FILES.iter().any(|k| n.as_os_str() == *k))
    {
        return Err(refuse(&format!(
            "is an arcbox snapshot directory but also holds {n:?}; refusing to overwrite it"
        )));
    }
    Ok(true)
}

/// Writes the directory to `out`: everything goes into a temporary directory beside `out`,
/// which is then renamed into place, so `out` is never left partial. An existing `out` is
/// replaced only when it is an empty directory or an arcbox snapshot directory holding nothing
/// but arcbox's files.
///
/// # Errors
/// [`Error::Refused`] for such an `out`; I/O errors.
pub fn write_dir(d: &ArcboxDir, out: &Path) -> Result<(), Error> {
    // First, what killed runs left of `out` (which may put the previous directory back).
    crate::outfile::sweep(out);
    let exists = check_out(out)?;
    let name = out
        .file_name()
        .ok_or_else(|| Error::Refused {
            path: out.display().to_string(),
            what: "has no final name to create".into(),
        })?
        .to_string_lossy()
        .into_owned();
    let parent: PathBuf = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempdir_in(&parent)
        .map_err(io_err(&parent))?;
    let t = tmp.path();
    // Locked while written: a run that finds it unlocked knows its writer was killed.
    let _lock = fs::File::open(t).inspect(crate::outfile::lock);
    write_file(&t.join(FILE_INFO), &json_bytes(&d.info))?;
    write_file(&t.join(FILE_STATE), &json_bytes(&d.state))?;
    if let Some(m) = &d.memory {
        if d.state.compressed {
            let p = t.join(FILE_MEM_LZ4);
            match &d.lz4 {
                Some((z, len)) => write_copy(&p, z, *len)?,
                None => {
                    let f = fs::File::create(&p).map_err(io_err(&p))?;
                    let mut w = std::io::BufWriter::with_capacity(1 << 20, &f);
                    lz4::encode_image(m.as_ref(), &mut w, FILE_MEM_LZ4)?;
                    w.flush().map_err(io_err(&p))?;
                    drop(w);
                    f.sync_all().map_err(io_err(&p))?;
                }
            }
        } else {
            let p = t.join(FILE_MEM);
            let f = fs::File::create(&p).map_err(io_err(&p))?;
            write_sparse(&f, &p, m.as_ref())?;
            f.sync_all().map_err(io_err(&p))?;
        }
    }
    sync_dir(t);
    if exists {
        let old = tempfile::Builder::new()
            .prefix(&format!(".{name}.old-"))
            .tempdir_in(&parent)
            .map_err(io_err(&parent))?
            .keep();
        // Renaming a directory onto an empty directory replaces it.
        fs::rename(out, &old).map_err(io_err(out))?;
        if let Err(e) = fs::rename(t, out) {
            let _ = fs::rename(&old, out);
            let _ = fs::remove_dir(&old);
            return Err(io_err(out)(e));
        }
        let _ = tmp.keep();
        let _ = fs::remove_dir_all(&old);
    } else {
        fs::rename(t, out).map_err(io_err(out))?;
        let _ = tmp.keep();
    }
    sync_dir(&parent);
    Ok(())
}

fn finding(
    severity: Severity,
    code: &'static str,
    path: Option<String>,
    offset: Option<u64>,
    message: String,
) -> Finding {
    Finding {
        severity,
        code,
        offset,
        path,
        message,
    }
}

fn from_problem(p: Problem) -> Finding {
    finding(
        if p.error {
            Severity::Error
        } else {
            Severity::Warning
        },
        p.code,
        Some(p.field),
        p.offset,
        format!("{}: {}", p.file, p.message),
    )
}

fn error_finding(e: &Error) -> Finding {
    let code = match e {
        Error::Io { .. } => "io",
        Error::TooLarge { .. } => "over_cap",
        Error::Json { .. } => "decode_error",
        Error::Memory(_) => "memory",
        _ => "invalid",
    };
    let path = match e {
        Error::Json { field, .. } | Error::Invalid { field, .. } => Some(field.clone()),
        _ => None,
    };
    let offset = match e {
        Error::Memory(MemError::Format { offset, .. }) => Some(*offset),
        _ => None,
    };
    finding(Severity::Error, code, path, offset, e.to_string())
}

/// Every finding about an arcbox snapshot directory. Never fails: problems are findings.
///
/// Codes: `not_dir`, `missing_file`, `io`, `over_cap`, `decode_error` (JSON), `created`,
/// `snapshot_state`, `target_type`, `version`, `arch_mismatch`, `vcpu_id`, `vcpu_regs`,
/// `extra_state`, `extra_state_foreign`, `region_bounds`, `file_offset`, `total_memory`,
/// `compression`, `memory_missing`, `mem_file_size`, `memory`, `stray_memory_file`,
/// `native_override`, plus the model checks of [`crate::verify::model_checks`].
pub fn verify(path: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    if !path.is_dir() {
        out.push(finding(
            Severity::Error,
            "not_dir",
            None,
            None,
            format!(
                "{}: not a directory; an arcbox snapshot is a directory",
                path.display()
            ),
        ));
        return out;
    }
    let mut load = |name: &'static str, cap: u64| -> Option<Vec<u8>> {
        let p = path.join(name);
        if !p.exists() {
            out.push(finding(
                Severity::Error,
                "missing_file",
                None,
                None,
                format!("{name} is missing"),
            ));
            return None;
        }
        read_capped(&p, cap)
            .map_err(|e| out.push(error_finding(&e)))
            .ok()
    };
    let info_bytes = load(FILE_INFO, INFO_MAX);
    let state_bytes = load(FILE_STATE, STATE_MAX);
    let info = info_bytes.and_then(|b| {
        parse_json::<SnapshotInfo>(&path.join(FILE_INFO), &b)
            .map_err(|e| out.push(error_finding(&e)))
            .ok()
    });
    if let Some(i) = &info {
        out.extend(info_problems(i).into_iter().map(from_problem));
    }
    let Some(state) = state_bytes.and_then(|b| {
        parse_json::<VmSnapshot>(&path.join(FILE_STATE), &b)
            .map_err(|e| out.push(error_finding(&e)))
            .ok()
    }) else {
        return out;
    };
    let problems = state_problems(&state);
    let structural = problems.iter().any(|p| p.error);
    out.extend(problems.into_iter().map(from_problem));
    let stray = if state.compressed {
        FILE_MEM
    } else {
        FILE_MEM_LZ4
    };
    if path.join(stray).exists() {
        out.push(finding(
            Severity::Warning,
            "stray_memory_file",
            Some("compressed".into()),
            None,
            format!(
                "{stray} is present but compressed = {}: arcbox reads {} and ignores it",
                state.compressed,
                if state.compressed {
                    FILE_MEM_LZ4
                } else {
                    FILE_MEM
                }
            ),
        ));
    }
    if !structural {
        match load_memory(path, &state) {
            Ok(Some(_)) => {}
            Ok(None) => out.push(finding(
                Severity::Warning,
                "memory_missing",
                Some("compressed".into()),
                None,
                format!(
                    "{} is missing: arcbox restores without guest memory",
                    if state.compressed {
                        FILE_MEM_LZ4
                    } else {
                        FILE_MEM
                    }
                ),
            )),
            Err(e) => {
                let mut f = error_finding(&e);
                if matches!(e, Error::Memory(MemError::Format { .. }))
                    && e.to_string().contains("total_memory")
                {
                    f.code = "mem_file_size";
                }
                out.push(f);
            }
        }
        if let Some(info) = &info {
            let (m, overrides) = convert::merge(info, &state);
            for o in overrides {
                out.push(finding(
                    Severity::Warning,
                    "native_override",
                    Some(o.clone()),
                    None,
                    format!(
                        "{o} disagrees with the snaptool extra state; the native value is used"
                    ),
                ));
            }
            out.extend(crate::verify::model_checks(&m));
        }
    }
    out
}
