//! squib `MicrovmState` files (squib-snapshot 0.2.0: aarch64, macOS Hypervisor.framework).
//!
//! ```text
//! <id>.snap = bitcode::serialize(Snapshot { header: { magic, version: "5.0.0" }, data })
//!             | crc64 (u64 LE, CRC-64/Jones over the bitcode bytes)
//! <id>.mem  = guest RAM from guest-physical 0x8000_0000, file offset 0, 16 KiB pages;
//!             a diff snapshot is a sparse file whose holes are the clean pages
//! ```
//!
//! squib borrows Firecracker's magic (`0x0710_1984_AAAA_0000`) and a Firecracker format number
//! (5.0.0), but not its envelope: there is no raw header, the magic and version live inside the
//! bitcode payload. [`recognize`] tells a squib file from a Firecracker one by that layout.
//!
//! The reader applies squib's loader rules in squib's order (size ≤ 10,000,000 bytes, ≥ 8 bytes,
//! CRC, bitcode decode, magic, version major 5 and minor ≤ 0); [`load`] adds squib's structural
//! checks (`verify_compatible`). The writer re-encodes byte for byte. Conversion to and from the
//! neutral model is in `convert`: squib's registers become the model's `core` registers and
//! `sys_regs` by architectural name; what a model holds that squib cannot (a KVM register list,
//! KVM GIC state, Firecracker devices, ...) travels in a snaptool-defined device entry (the
//! *carry* blob, see `formats/squib.md`) and comes back on reading, with squib's own fields
//! winning wherever they were edited.

mod convert;
pub mod memory;
pub mod regs;
pub mod wire;

pub use convert::{
    CARRY_FORMAT, CARRY_ID, CARRY_KIND, CARRY_VERSION, Carry, FromModelOptions, GIC_PRODUCER,
    PLACEHOLDER_GIC, from_model,
};
pub use memory::{
    DRAM_BASE, MemoryKind, MemoryReport, PAGE_SIZE, memory_findings, memory_layout, memory_path,
    open_memory, write_memory,
};

use crate::envelope::{self, Era, crc64};
use crate::memory::MemoryImage;
use crate::model::{Arch, Snapshot};
use crate::report::{Finding, Severity};
use thiserror::Error;
use wire::MicrovmState;

/// squib's magic (`SNAPSHOT_MAGIC_AARCH64`, shared with Firecracker aarch64).
pub const MAGIC: u64 = envelope::MAGIC_AARCH64;
/// The version squib 0.2.0 writes.
pub const VERSION: &str = "5.0.0";
/// squib's loader accepts versions with this major...
pub const VERSION_MAJOR: u64 = 5;
/// ... and at most this minor (patch, pre-release and build are not checked).
pub const VERSION_MAX_MINOR: u64 = 0;
/// `SNAPSHOT_DESERIALIZATION_BYTES_LIMIT`: the whole file, CRC included, in decimal bytes.
pub const SIZE_LIMIT: u64 = 10_000_000;
/// Length of the CRC64 trailer.
pub const CRC_LEN: usize = 8;
/// Most vCPUs `verify_compatible` accepts.
pub const MAX_VCPUS: usize = 32;
/// The layout id (`Provenance::layout`).
pub const LAYOUT_ID: &str = "squib-5.0.0";
/// Payload encoding.
pub const ENCODING: &str = "bitcode 0.6.9 (serde)";
/// Releases known to write and read this layout.
pub const RELEASES: &[&str] = &["squib-snapshot 0.2.0"];
/// Offset of `header.magic` in files whose bitcode header has the usual packing (`00` tag, 8
/// bytes).
pub const MAGIC_OFFSET: usize = 1;
/// Offset of the version text in such files (after the 1-byte length at offset 9).
pub const VERSION_OFFSET: usize = 10;

/// Which family of producer a state file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// squib-snapshot (bitcode, magic inside the payload, format 5.x).
    Squib,
    /// Firecracker.
    Firecracker,
}

/// What the first bytes say about a file carrying a Firecracker/squib magic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Recognition {
    /// The producer family.
    pub family: Family,
    /// The envelope era (squib files are bitcode era).
    pub era: Era,
    /// The arch the magic names.
    pub arch: Arch,
    /// The version text.
    pub version: String,
    /// Offset of the magic: 0 for a raw header (Firecracker bincode/versionize eras), 1 inside
    /// a bitcode payload.
    pub magic_offset: usize,
    /// One sentence for `inspect`: what the file is, and why not the other family.
    pub explanation: String,
}

/// Tells a squib file from a Firecracker file with the same magic and version number, by
/// envelope layout: Firecracker's 5.0.0 (v1.11.0) is bincode era with a raw header (magic at
/// offset 0, u64 length, version text), squib's 5.0.0 is one bitcode value with the magic at
/// offset 1. Firecracker's bitcode-era formats start at 9.0.0, so a bitcode-era file with a
/// smaller major is squib's. `None` when the bytes carry neither magic.
pub fn recognize(head: &[u8]) -> Option<Recognition> {
    let h = envelope::parse_header(head).ok()?;
    let version = h.version_text();
    let major = h.version.map(|v| v.major);
    let (family, explanation) = match (h.era, major) {
        (Era::Bitcode, Some(m)) if m < 9 => (
            Family::Squib,
            format!(
                "squib state file (squib-snapshot, format {version}): one bitcode value with the \
                 magic inside it at offset 1 and no raw header; not Firecracker, whose format \
                 5.0.0 (v1.11.0) has a raw bincode header (magic at offset 0) and whose \
                 bitcode-era formats start at 9.0.0"
            ),
        ),
        (Era::Bitcode, _) => (
            Family::Firecracker,
            format!(
                "Firecracker state file, bitcode era, format {version} (magic inside the bitcode \
                 payload at offset 1)"
            ),
        ),
        (Era::Bincode, Some(5)) => (
            Family::Firecracker,
            format!(
                "Firecracker state file, bincode era, format {version} (v1.11.0): raw header with \
                 the magic at offset 0, a u64 length and the version text; not squib, whose 5.0.0 \
                 files are one bitcode value with the magic at offset 1"
            ),
        ),
        (era, _) => (
            Family::Firecracker,
            format!(
                "Firecracker state file, {} era, format {version} (raw header, magic at offset 0)",
                era.name()
            ),
        ),
    };
    Some(Recognition {
        family,
        era: h.era,
        arch: h.arch,
        version,
        magic_offset: if h.era == Era::Bitcode { 1 } else { 0 },
        explanation,
    })
}

/// Whether `head` (the first bytes of a file, 32 are plenty) is a squib state file: a bitcode-era
/// envelope with a Firecracker/squib magic and a format major below 9 (see [`recognize`]).
pub fn sniff(head: &[u8]) -> bool {
    recognize(head).is_some_and(|r| r.family == Family::Squib)
}

/// A squib state file, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SquibFile {
    /// `header.magic` as stored.
    pub magic: u64,
    /// `header.version` exactly as stored.
    pub version: String,
    /// The state.
    pub state: MicrovmState,
    /// The stored CRC64 trailer (0 for a file built by [`from_model`]).
    pub crc: u64,
}

impl SquibFile {
    /// Converts to the neutral model (see the module docs).
    pub fn to_model(&self) -> Snapshot {
        convert::to_model(self)
    }

    /// The snaptool carry blob, when the file has one: `Ok` when it parses, `Err` with the
    /// reason when it does not.
    pub fn carry(&self) -> Option<Result<Carry, String>> {
        convert::split_carry(&self.state).0
    }

    /// squib's `verify_compatible` rules this state breaks (empty: squib's `load` accepts it).
    pub fn incompatibilities(&self) -> Vec<Incompatibility> {
        incompatibilities(&self.state)
    }
}

/// One `MicrovmState::verify_compatible` rule a state breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Incompatibility {
    /// `vcpu_states` empty or longer than 32.
    #[error("field `vcpu_states`: {count} vCPUs; squib accepts 1 to 32")]
    VcpuCount {
        /// The count found.
        count: usize,
    },
    /// `vm_info.smt` is true.
    #[error("field `vm_info.smt`: true; squib requires false (no SMT on Apple Silicon)")]
    Smt,
    /// `gic_state.bytes` is empty.
    #[error("field `gic_state.bytes`: empty; squib requires the HVF GIC state")]
    GicEmpty,
    /// `gic_state.len` disagrees with the blob.
    #[error("field `gic_state.len`: {len}, but `gic_state.bytes` holds {actual} bytes")]
    GicLen {
        /// The stored length.
        len: u64,
        /// The blob's length.
        actual: usize,
    },
}

/// Every `verify_compatible` rule `s` breaks, in squib's check order.
pub fn incompatibilities(s: &MicrovmState) -> Vec<Incompatibility> {
    let mut out = Vec::new();
    let n = s.vcpu_states.len();
    if n == 0 || n > MAX_VCPUS {
        out.push(Incompatibility::VcpuCount { count: n });
    }
    if s.vm_info.smt {
        out.push(Incompatibility::Smt);
    }
    if s.gic_state.bytes.is_empty() {
        out.push(Incompatibility::GicEmpty);
    }
    if usize::try_from(s.gic_state.len).ok() != Some(s.gic_state.bytes.len()) {
        out.push(Incompatibility::GicLen {
            len: s.gic_state.len,
            actual: s.gic_state.bytes.len(),
        });
    }
    out
}

/// Why a squib state file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Over `SNAPSHOT_DESERIALIZATION_BYTES_LIMIT`.
    #[error(
        "file is {len} bytes, over squib's cap of {SIZE_LIMIT} bytes (the whole file, CRC included)"
    )]
    TooLarge {
        /// File length.
        len: u64,
    },
    /// No room for the CRC trailer.
    #[error("file is {len} bytes; a squib state file needs at least 8 (the CRC64 trailer)")]
    TooShort {
        /// File length.
        len: u64,
    },
    /// The CRC trailer does not match.
    #[error(
        "crc64 at offset 0x{offset:x}: stored 0x{stored:016x}, computed 0x{computed:016x} over bytes \
         0x0..0x{offset:x} (CRC-64/Jones; the file is corrupt or was modified)"
    )]
    Crc {
        /// Offset of the trailer.
        offset: usize,
        /// The trailer.
        stored: u64,
        /// The CRC of the bytes before it.
        computed: u64,
    },
    /// The payload is not a squib 0.2.0 `Snapshot<MicrovmState>`.
    #[error(
        "bytes 0x0..0x{end:x} do not decode as squib 0.2.0 `Snapshot<MicrovmState>`: bitcode: \
         {reason} (bitcode is columnar: the failing field and offset are not known){hint}"
    )]
    Decode {
        /// End of the payload (offset of the trailer).
        end: usize,
        /// bitcode's message.
        reason: String,
        /// A hint (e.g. the file is Firecracker's).
        hint: String,
    },
    /// `header.magic` is not squib's.
    #[error(
        "field `header.magic`{at}: found 0x{found:016x}; squib expects 0x{MAGIC:016x} (aarch64)",
        at = at(*offset)
    )]
    Magic {
        /// Offset of the magic, when the header has the usual packing.
        offset: Option<usize>,
        /// The magic found.
        found: u64,
    },
    /// `header.version` is not a version squib's loader accepts.
    #[error("field `header.version`{at}: {found:?} {reason}", at = at(*offset))]
    Version {
        /// Offset of the version text, when the header has the usual packing.
        offset: Option<usize>,
        /// The text found.
        found: String,
        /// Why it is refused.
        reason: String,
    },
    /// A `verify_compatible` rule ([`load`] only).
    #[error("squib's loader refuses the state (Incompatible): {0}")]
    Incompatible(Incompatibility),
}

fn at(offset: Option<usize>) -> String {
    offset
        .map(|o| format!(" at offset 0x{o:x}"))
        .unwrap_or_default()
}

/// Options for [`read_with`].
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Check the CRC64 trailer (turn off for forensics on damaged files, like squib's
    /// `describe`).
    pub check_crc: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { check_crc: true }
    }
}

/// Reads a squib state file as squib's `Snapshot::load` does: size cap, length, CRC, bitcode
/// decode, magic, version. Input is bounded: at most [`SIZE_LIMIT`] bytes are decoded.
///
/// # Errors
/// The first failing stage, in squib's order.
pub fn read(file: &[u8]) -> Result<SquibFile, ReadError> {
    read_with(file, ReadOptions::default())
}

/// [`read`] with options.
///
/// # Errors
/// The first failing stage.
pub fn read_with(file: &[u8], opts: ReadOptions) -> Result<SquibFile, ReadError> {
    let len = file.len() as u64;
    if len > SIZE_LIMIT {
        return Err(ReadError::TooLarge { len });
    }
    if file.len() < CRC_LEN {
        return Err(ReadError::TooShort { len });
    }
    let cut = file.len() - CRC_LEN;
    let (body, trailer) = file.split_at(cut);
    let stored = u64::from_le_bytes(trailer.try_into().unwrap_or([0; 8]));
    if opts.check_crc {
        let computed = crc64(body);
        if computed != stored {
            return Err(ReadError::Crc {
                offset: cut,
                stored,
                computed,
            });
        }
    }
    let snap = decode_body(body)?;
    let (magic_off, version_off) = header_offsets(body);
    if snap.header.magic != MAGIC {
        return Err(ReadError::Magic {
            offset: magic_off,
            found: snap.header.magic,
        });
    }
    check_version(&snap.header.version).map_err(|reason| ReadError::Version {
        offset: version_off,
        found: snap.header.version.clone(),
        reason,
    })?;
    Ok(SquibFile {
        magic: snap.header.magic,
        version: snap.header.version,
        state: snap.data,
        crc: stored,
    })
}

/// [`read`], then squib's `verify_compatible` (what squib's `load::load` does).
///
/// # Errors
/// As [`read`], or [`ReadError::Incompatible`] with the first rule broken.
pub fn load(file: &[u8]) -> Result<SquibFile, ReadError> {
    let f = read(file)?;
    if let Some(i) = incompatibilities(&f.state).first() {
        return Err(ReadError::Incompatible(*i));
    }
    Ok(f)
}

fn decode_body(body: &[u8]) -> Result<wire::Snapshot<MicrovmState>, ReadError> {
    if let Some(n) = wire::prefix::sys_regs_total(body)
        && n > wire::MAX_DECODED_SYS_REGS
    {
        return Err(ReadError::Decode {
            end: body.len(),
            reason: format!(
                "the vCPUs' sys_regs declare {n} entries in all, more than the {} snaptool decodes",
                wire::MAX_DECODED_SYS_REGS
            ),
            hint: String::new(),
        });
    }
    bitcode::deserialize::<wire::Snapshot<MicrovmState>>(body).map_err(|e| {
        let hint = match recognize(body) {
            Some(r) if r.family == Family::Firecracker => {
                format!(" (hint: {}; read it as Firecracker)", r.explanation)
            }
            _ => String::new(),
        };
        ReadError::Decode {
            end: body.len(),
            reason: e.to_string(),
            hint,
        }
    })
}

/// Offsets of the magic and the version text when the bitcode header has the packing squib's
/// files have (`00` = a full u64, the magic, a 1-byte string length, the text).
fn header_offsets(body: &[u8]) -> (Option<usize>, Option<usize>) {
    if body.first() == Some(&0) && body.len() > VERSION_OFFSET {
        (Some(MAGIC_OFFSET), Some(VERSION_OFFSET))
    } else {
        (None, None)
    }
}

/// Parses semver text the way `semver::Version` does (MAJOR.MINOR.PATCH, numbers without
/// leading zeros, optional `-pre` and `+build` of dot-separated `[0-9A-Za-z-]+` identifiers, no
/// leading zeros in numeric pre-release identifiers). Returns (major, minor, patch).
pub fn parse_semver(s: &str) -> Option<(u64, u64, u64)> {
    let num = |p: &str| -> Option<u64> {
        if p.is_empty()
            || !p.bytes().all(|b| b.is_ascii_digit())
            || (p.len() > 1 && p.starts_with('0'))
        {
            return None;
        }
        p.parse().ok()
    };
    let ident_ok =
        |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let (core, build) = match s.split_once('+') {
        Some((c, b)) => (c, Some(b)),
        None => (s, None),
    };
    let (core, pre) = match core.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (core, None),
    };
    if let Some(b) = build
        && !b.split('.').all(ident_ok)
    {
        return None;
    }
    if let Some(p) = pre {
        for id in p.split('.') {
            if !ident_ok(id) {
                return None;
            }
            if id.bytes().all(|b| b.is_ascii_digit()) && id.len() > 1 && id.starts_with('0') {
                return None;
            }
        }
    }
    let mut it = core.split('.');
    let v = (num(it.next()?)?, num(it.next()?)?, num(it.next()?)?);
    it.next().is_none().then_some(v)
}

/// squib's version rule: valid semver, major 5, minor ≤ 0.
fn check_version(text: &str) -> Result<(), String> {
    let Some((major, minor, _)) = parse_semver(text) else {
        return Err("is not semver MAJOR.MINOR.PATCH[-pre][+build]".into());
    };
    if major != VERSION_MAJOR || minor > VERSION_MAX_MINOR {
        return Err(format!(
            "is refused by squib's loader, which accepts major {VERSION_MAJOR} with minor ≤ \
             {VERSION_MAX_MINOR} (it writes {VERSION})"
        ));
    }
    Ok(())
}

/// Whether squib's loader accepts `text` as a version.
pub fn version_accepted(text: &str) -> bool {
    check_version(text).is_ok()
}

/// Encodes the file: bitcode of `Snapshot { header: { magic, version }, data }`, then the CRC64
/// trailer of those bytes (little-endian). The stored `crc` field is not used.
pub fn write(f: &SquibFile) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Ref<'a> {
        header: wire::SnapshotHdr,
        data: &'a MicrovmState,
    }
    // bitcode's serde encoder cannot fail on these types (every sequence has a known length).
    let body = bitcode::serialize(&Ref {
        header: wire::SnapshotHdr {
            magic: f.magic,
            version: f.version.clone(),
        },
        data: &f.state,
    })
    .unwrap_or_default();
    envelope::seal(body)
}

/// Why a model could not be written as a squib file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WriteError {
    /// squib is aarch64-only.
    #[error("squib state files are aarch64-only; this model is {0}")]
    Arch(&'static str),
    /// The file would exceed squib's cap.
    #[error("the state file would be {len} bytes, over squib's cap of {SIZE_LIMIT} bytes")]
    TooLarge {
        /// The encoded length.
        len: u64,
    },
    /// The model holds something squib cannot express.
    #[error("{0}")]
    Model(String),
}

fn finding(severity: Severity, code: &'static str, message: impl Into<String>) -> Finding {
    Finding {
        severity,
        code,
        offset: None,
        path: None,
        message: message.into(),
    }
}

/// Every finding about a squib state file (and, when given, its memory file), not just the first.
/// Stable codes: `over_cap`, `too_short`, `crc_mismatch`, `decode_error`, `bad_magic`,
/// `bad_version`, `unsupported_version`, `not_canonical`, `vcpu_count`, `smt`, `gic_empty`,
/// `gic_len`, `sysreg_unknown`, `sysreg_order`, `mpidr_mismatch`, `carry_blob`,
/// `mem_file_size`, `mem_granularity`, plus the model checks of [`crate::verify::model_checks`].
pub fn verify(bytes: &[u8], mem: Option<&dyn MemoryImage>) -> Vec<Finding> {
    use Severity::{Error as E, Warning as W};
    let mut out = Vec::new();
    let len = bytes.len();
    if len as u64 > SIZE_LIMIT {
        out.push(finding(
            E,
            "over_cap",
            ReadError::TooLarge { len: len as u64 }.to_string(),
        ));
    }
    if len < CRC_LEN {
        out.push(finding(
            E,
            "too_short",
            ReadError::TooShort { len: len as u64 }.to_string(),
        ));
        return out;
    }
    let (body, trailer) = bytes.split_at(len - CRC_LEN);
    let stored = u64::from_le_bytes(trailer.try_into().unwrap_or([0; 8]));
    let computed = crc64(body);
    if computed != stored {
        let e = ReadError::Crc {
            offset: body.len(),
            stored,
            computed,
        };
        let mut f = finding(E, "crc_mismatch", e.to_string());
        f.offset = Some(body.len() as u64);
        f.path = Some("crc64".into());
        out.push(f);
    }
    let snap = match decode_body(body) {
        Ok(s) => s,
        Err(e) => {
            out.push(finding(E, "decode_error", e.to_string()));
            return out;
        }
    };
    let (magic_off, version_off) = header_offsets(body);
    if snap.header.magic != MAGIC {
        let mut f = finding(
            E,
            "bad_magic",
            ReadError::Magic {
                offset: magic_off,
                found: snap.header.magic,
            }
            .to_string(),
        );
        f.offset = magic_off.map(|o| o as u64);
        f.path = Some("header.magic".into());
        out.push(f);
    }
    if let Err(reason) = check_version(&snap.header.version) {
        let code = if parse_semver(&snap.header.version).is_some() {
            "unsupported_version"
        } else {
            "bad_version"
        };
        let mut f = finding(
            E,
            code,
            ReadError::Version {
                offset: version_off,
                found: snap.header.version.clone(),
                reason,
            }
            .to_string(),
        );
        f.offset = version_off.map(|o| o as u64);
        f.path = Some("header.version".into());
        out.push(f);
    }
    let file = SquibFile {
        magic: snap.header.magic,
        version: snap.header.version,
        state: snap.data,
        crc: 0,
    };
    let again = write(&file);
    if again.get(..body.len()) != Some(body) || again.len() != len {
        out.push(finding(
            W,
            "not_canonical",
            "re-encoding the decoded state does not reproduce the file: some value is stored in a \
             non-canonical bitcode packing (squib itself would read it)",
        ));
    }
    for i in file.incompatibilities() {
        let (code, path) = match i {
            Incompatibility::VcpuCount { .. } => ("vcpu_count", "vcpu_states"),
            Incompatibility::Smt => ("smt", "vm_info.smt"),
            Incompatibility::GicEmpty => ("gic_empty", "gic_state.bytes"),
            Incompatibility::GicLen { .. } => ("gic_len", "gic_state.len"),
        };
        let mut f = finding(
            E,
            code,
            format!("{i} (squib's loader refuses the file: verify_compatible → Incompatible)"),
        );
        f.path = Some(path.into());
        out.push(f);
    }
    for (n, v) in file.state.vcpu_states.iter().enumerate() {
        for (k, _) in &v.sys_regs.0 {
            if !regs::known_key(*k) {
                let mut f = finding(
                    E,
                    "sysreg_unknown",
                    format!(
                        "system-register key {k} is not one squib 0.2.0 knows (1–47): its restore \
                         refuses the vCPU (Incompatible)"
                    ),
                );
                f.path = Some(format!("vcpu_states[{n}].sys_regs[{k}]"));
                out.push(f);
            }
        }
        if !v.sys_regs.is_canonical() {
            let mut f = finding(
                W,
                "sysreg_order",
                "keys are not strictly increasing: squib decodes them into a BTreeMap, sorting \
                 them and keeping the last of equal keys",
            );
            f.path = Some(format!("vcpu_states[{n}].sys_regs"));
            out.push(f);
        }
        if let Some(m) = v.sys_regs.get(regs::KEY_MPIDR_EL1)
            && m != v.mpidr
        {
            let mut f = finding(
                W,
                "mpidr_mismatch",
                format!(
                    "mpidr is 0x{:x} but sys_regs[MPIDR_EL1] is 0x{m:x}; squib restores the latter",
                    v.mpidr
                ),
            );
            f.path = Some(format!("vcpu_states[{n}].mpidr"));
            out.push(f);
        }
    }
    if let (Some(Err(e)), _) = convert::split_carry(&file.state) {
        let idx = file
            .state
            .device_states
            .devices
            .iter()
            .position(convert::is_carry_state)
            .unwrap_or(0);
        let mut f = finding(
            W,
            "carry_blob",
            format!(
                "the snaptool carry blob does not parse ({e}); the model holds squib's own fields only"
            ),
        );
        f.path = Some(format!("device_states.devices[{idx}]"));
        out.push(f);
    }
    if let Some(img) = mem {
        out.extend(memory_findings(&file, img));
    }
    let model = file.to_model();
    // vCPU count is squib's own rule above; the model check would repeat it.
    out.extend(
        crate::verify::model_checks(&model)
            .into_iter()
            .filter(|f| f.code != "vcpu_count"),
    );
    out
}

#[cfg(test)]
mod tests;
