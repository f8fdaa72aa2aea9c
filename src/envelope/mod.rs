//! The snapshot envelope: what a file is, judged from its bytes alone.
//!
//! Every Firecracker state file since v0.23 (and squib's) is `header | payload | crc64`:
//!
//! ```text
//! versionize (≤ v1.6)   magic|1 (u64 LE) | data_version (u16 LE)          | state | crc64 LE
//! bincode (v1.7–v1.14)  magic (u64 LE)   | len (u64 LE) | "X.Y.Z"         | state | crc64 LE
//! bitcode (v1.15 →)     00 | magic (8 B LE) | len (1 B) | "X.Y.Z" ...       state | crc64 LE
//! ```
//!
//! The checks run in a fixed order of trust — size, magic, version, CRC — and each stage has its
//! own function so callers can stop early (forensics) or continue past a failure (`verify`). The
//! bitcode-era prefix is an observation of how bitcode 0.6.9 lays out these two fields; it serves
//! only to sniff the version, and the full decode has the last word.

mod crc;

pub use crc::{crc64, crc64_update};

use crate::model::Arch;
use std::fmt;
use thiserror::Error;

/// Magic of x86_64 Firecracker state files.
pub const MAGIC_X86_64: u64 = 0x0710_1984_8664_0000;
/// Magic of aarch64 Firecracker (and squib) state files.
pub const MAGIC_AARCH64: u64 = 0x0710_1984_AAAA_0000;
/// Size of the CRC64 trailer.
pub const CRC_LEN: usize = 8;
/// Firecracker v1.15+ refuses state files larger than this (whole file, CRC included).
pub const SIZE_LIMIT_BITCODE: u64 = 10_000_000;
/// Firecracker v1.7–v1.14 limit the state decode to this many bytes.
pub const SIZE_LIMIT_BINCODE: u64 = 10_485_760;
/// The largest file any release accepts: the bincode-era state limit plus header and trailer.
pub const SIZE_LIMIT_ANY: u64 = SIZE_LIMIT_BINCODE + 8 + 8 + 64 + CRC_LEN as u64;
/// Longest version string snaptool accepts in a header.
const MAX_VERSION_LEN: usize = 32;

/// The envelope generation of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Era {
    /// versionize (Firecracker v0.23–v1.6): u16 data version after the magic.
    Versionize,
    /// bincode 1 / bincode 2 fixint little-endian (v1.7–v1.14).
    Bincode,
    /// bitcode 0.6 (v1.15 onwards): header and state in one bitcode value.
    Bitcode,
}

impl Era {
    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Era::Versionize => "versionize",
            Era::Bincode => "bincode",
            Era::Bitcode => "bitcode",
        }
    }
}

/// A semver `MAJOR.MINOR.PATCH` format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
}

impl Version {
    /// A version from its parts.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Parses `MAJOR.MINOR.PATCH` (digits only, no leading `v`, no pre-release).
    pub fn parse(s: &str) -> Option<Version> {
        let mut it = s.split('.');
        let mut part = || -> Option<u64> {
            let p = it.next()?;
            if p.is_empty() || p.len() > 19 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        let v = Version::new(part()?, part()?, part()?);
        it.next().is_none().then_some(v)
    }

    /// Firecracker's acceptance rule: same major, minor not newer; patch ignored.
    pub fn accepted_by(&self, supported: &Version) -> bool {
        self.major == supported.major && self.minor <= supported.minor
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Guest architecture named by the magic.
    pub arch: Arch,
    /// Envelope generation.
    pub era: Era,
    /// The magic as stored.
    pub magic: u64,
    /// The serde-era format version (bincode and bitcode eras).
    pub version: Option<Version>,
    /// The versionize-era data version.
    pub data_version: Option<u16>,
    /// Offset of the state payload (bincode/versionize eras: after the header; bitcode era: 0,
    /// the header is part of the payload).
    pub payload_offset: usize,
}

impl Header {
    /// The version as text (`10.0.0`, or `data version 10` for versionize files).
    pub fn version_text(&self) -> String {
        match (self.version, self.data_version) {
            (Some(v), _) => v.to_string(),
            (None, Some(d)) => format!("data version {d}"),
            (None, None) => "unknown".into(),
        }
    }
}

/// Why a file is not an acceptable snapshot envelope.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The file cannot even hold the CRC trailer.
    #[error("file is {len} bytes; a state file needs at least {min} (header and CRC64 trailer)")]
    TooShort {
        /// File length.
        len: u64,
        /// Minimum length.
        min: u64,
    },
    /// The file exceeds Firecracker's size cap.
    #[error("file is {len} bytes, over the {limit}-byte cap Firecracker enforces for state files")]
    TooLarge {
        /// File length.
        len: u64,
        /// The cap.
        limit: u64,
    },
    /// No known magic at the start.
    #[error(
        "magic at offset 0x0: expected 0x{MAGIC_X86_64:016x} (x86_64) or 0x{MAGIC_AARCH64:016x} (aarch64) \
         in a bincode- or bitcode-era header, found bytes {found}"
    )]
    BadMagic {
        /// The first bytes, hex.
        found: String,
    },
    /// The version field is not a version.
    #[error("version at offset 0x{offset:x}: expected ASCII MAJOR.MINOR.PATCH, found {found}")]
    BadVersion {
        /// Offset of the version field.
        offset: usize,
        /// What is there (escaped).
        found: String,
    },
    /// The CRC trailer does not match the bytes before it.
    #[error(
        "crc64 at offset 0x{offset:x}: stored 0x{stored:016x}, computed 0x{computed:016x} over bytes 0x0..0x{offset:x} \
         (the file is corrupt or was modified)"
    )]
    CrcMismatch {
        /// Offset of the trailer.
        offset: usize,
        /// Trailer value.
        stored: u64,
        /// CRC of the preceding bytes.
        computed: u64,
    },
}

/// Checks the size rule: at least room for a header and trailer, at most [`SIZE_LIMIT_ANY`].
///
/// # Errors
/// [`EnvelopeError::TooShort`] or [`EnvelopeError::TooLarge`].
pub fn check_size(len: u64) -> Result<(), EnvelopeError> {
    let min = 8 + CRC_LEN as u64 + 1;
    if len < min {
        return Err(EnvelopeError::TooShort { len, min });
    }
    if len > SIZE_LIMIT_ANY {
        return Err(EnvelopeError::TooLarge {
            len,
            limit: SIZE_LIMIT_ANY,
        });
    }
    Ok(())
}

fn arch_of_magic(m: u64) -> Option<Arch> {
    match m {
        MAGIC_X86_64 => Some(Arch::X86_64),
        MAGIC_AARCH64 => Some(Arch::Aarch64),
        _ => None,
    }
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

/// Reads the version string at `off`, `len` bytes long, from `body`.
fn version_at(body: &[u8], off: usize, len: usize) -> Result<Version, EnvelopeError> {
    let bad = |found: String| EnvelopeError::BadVersion { offset: off, found };
    if len > MAX_VERSION_LEN {
        return Err(bad(format!("a length of {len} bytes")));
    }
    let Some(raw) = body.get(off..off + len) else {
        return Err(bad(format!(
            "a {len}-byte string running past the end of the file"
        )));
    };
    let text = String::from_utf8_lossy(raw);
    Version::parse(&text).ok_or_else(|| bad(format!("{:?}", text)))
}

/// Identifies the era, arch and version from the bytes before the CRC trailer.
///
/// # Errors
/// [`EnvelopeError::BadMagic`] when no era's magic matches, [`EnvelopeError::BadVersion`] when
/// the magic matches but the version field is malformed.
pub fn parse_header(body: &[u8]) -> Result<Header, EnvelopeError> {
    // bincode era: magic at 0, u64 length at 8, version text at 16.
    if let Some(arch) = u64_at(body, 0).and_then(arch_of_magic) {
        let magic = u64_at(body, 0).unwrap_or_default();
        let len = u64_at(body, 8).ok_or_else(|| EnvelopeError::BadVersion {
            offset: 8,
            found: "end of file".into(),
        })?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let version = version_at(body, 16, len)?;
        return Ok(Header {
            arch,
            era: Era::Bincode,
            magic,
            version: Some(version),
            data_version: None,
            payload_offset: 16 + len,
        });
    }
    // versionize era: magic with format version 1 in the low 16 bits, then u16 data version.
    if let Some(arch) = u64_at(body, 0).and_then(|m| arch_of_magic(m & !0xffff)) {
        let magic = u64_at(body, 0).unwrap_or_default();
        if magic & 0xffff == 1 {
            let dv = body.get(8..10).map(|b| u16::from_le_bytes([b[0], b[1]]));
            return Ok(Header {
                arch,
                era: Era::Versionize,
                magic,
                version: None,
                data_version: dv,
                payload_offset: 10,
            });
        }
    }
    // bitcode era: 0x00 packing tag, magic, 1-byte length, version text.
    if body.first() == Some(&0)
        && let Some(arch) = u64_at(body, 1).and_then(arch_of_magic)
    {
        let magic = u64_at(body, 1).unwrap_or_default();
        let len = usize::from(*body.get(9).ok_or_else(|| EnvelopeError::BadVersion {
            offset: 9,
            found: "end of file".into(),
        })?);
        let version = version_at(body, 10, len)?;
        return Ok(Header {
            arch,
            era: Era::Bitcode,
            magic,
            version: Some(version),
            data_version: None,
            payload_offset: 0,
        });
    }
    let head = &body[..body.len().min(16)];
    Err(EnvelopeError::BadMagic {
        found: crate::model::to_hex(head),
    })
}

/// Splits `file` into body and trailer and checks the CRC64.
///
/// # Errors
/// [`EnvelopeError::TooShort`] when there is no room for a trailer, [`EnvelopeError::CrcMismatch`]
/// when the trailer is wrong.
pub fn check_crc(file: &[u8]) -> Result<(&[u8], u64), EnvelopeError> {
    let (body, stored) = split_trailer(file)?;
    let computed = crc64(body);
    if computed != stored {
        return Err(EnvelopeError::CrcMismatch {
            offset: body.len(),
            stored,
            computed,
        });
    }
    Ok((body, stored))
}

/// Splits `file` into the body and the stored trailer value, without checking it.
///
/// # Errors
/// [`EnvelopeError::TooShort`] when the file is shorter than the trailer.
pub fn split_trailer(file: &[u8]) -> Result<(&[u8], u64), EnvelopeError> {
    let Some(cut) = file.len().checked_sub(CRC_LEN) else {
        return Err(EnvelopeError::TooShort {
            len: file.len() as u64,
            min: CRC_LEN as u64,
        });
    };
    let stored = u64_at(file, cut).unwrap_or_default();
    Ok((&file[..cut], stored))
}

/// Appends the CRC64 trailer of `body` to it.
pub fn seal(mut body: Vec<u8>) -> Vec<u8> {
    let c = crc64(&body);
    body.extend_from_slice(&c.to_le_bytes());
    body
}

/// The first stages in order — size, magic, version — on a whole file. The CRC is checked
/// separately with [`check_crc`] so that callers can apply their version policy in between.
///
/// # Errors
/// The first failing stage's error.
pub fn sniff(file: &[u8]) -> Result<Header, EnvelopeError> {
    check_size(file.len() as u64)?;
    let (body, _) = split_trailer(file)?;
    parse_header(body)
}

#[cfg(test)]
mod tests;
