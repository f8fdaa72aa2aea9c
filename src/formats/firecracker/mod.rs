//! Firecracker `MicrovmState` files.
//!
//! One frozen module per layout (`v1` = format 1.0.0, `v6` = format 6.0.0, `v10` = format
//! 10.0.0), each with serde
//! types mirroring Firecracker's field tree for x86_64 and aarch64 and a conversion to and from
//! the neutral model. This module picks the layout from the envelope, decodes strictly (exact
//! length, CRC) and re-encodes byte-exactly.
//!
//! ```text
//! file = envelope header | MicrovmState (layout-specific encoding) | crc64 (u64 LE)
//! ```

pub mod checks;
mod convert_common;
pub mod v1;
pub mod v10;
pub mod v6;
pub mod wire;

use crate::codec::bincode as bc;
use crate::envelope::{self, EnvelopeError, Era, Header, Version};
use crate::model::{Arch, Snapshot};
use serde::{Serialize, de::DeserializeOwned};
use thiserror::Error;
use wire::SnapshotHdr;

/// A layout snaptool reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Format 1.0.0, written by Firecracker v1.7.0 (bincode fixint LE; KVM structures field by
    /// field).
    V1_0_0,
    /// Format 6.0.0, written by Firecracker v1.12.x (bincode fixint LE).
    V6_0_0,
    /// Format 10.0.0, written by Firecracker v1.16.0 and v1.16.1 (bitcode 0.6.9).
    V10_0_0,
}

/// Facts about a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutInfo {
    /// The layout.
    pub layout: Layout,
    /// Stable identifier, e.g. `firecracker-10.0.0`.
    pub id: &'static str,
    /// Format version it carries.
    pub version: Version,
    /// Envelope era.
    pub era: Era,
    /// Payload encoding.
    pub encoding: &'static str,
    /// Firecracker releases that write (and alone read) this layout.
    pub releases: &'static [&'static str],
}

/// Every layout snaptool reads and writes, oldest first.
pub const LAYOUTS: &[LayoutInfo] = &[
    LayoutInfo {
        layout: Layout::V1_0_0,
        id: "firecracker-1.0.0",
        version: Version::new(1, 0, 0),
        era: Era::Bincode,
        encoding: "bincode fixint little-endian",
        releases: &["v1.7.0"],
    },
    LayoutInfo {
        layout: Layout::V6_0_0,
        id: "firecracker-6.0.0",
        version: Version::new(6, 0, 0),
        era: Era::Bincode,
        encoding: "bincode fixint little-endian",
        releases: &["v1.12.0", "v1.12.1"],
    },
    LayoutInfo {
        layout: Layout::V10_0_0,
        id: "firecracker-10.0.0",
        version: Version::new(10, 0, 0),
        era: Era::Bitcode,
        encoding: "bitcode 0.6.9 (serde)",
        releases: &["v1.16.0", "v1.16.1"],
    },
];

impl Layout {
    /// Facts about this layout.
    pub fn info(self) -> &'static LayoutInfo {
        LAYOUTS
            .iter()
            .find(|l| l.layout == self)
            .unwrap_or(&LAYOUTS[0])
    }
}

/// The layouts a header can name: same era, version accepted by the layout's version rule.
pub fn candidates(header: &Header) -> Vec<&'static LayoutInfo> {
    let Some(v) = header.version else {
        return Vec::new();
    };
    LAYOUTS
        .iter()
        .filter(|l| l.era == header.era && v.accepted_by(&l.version))
        .collect()
}

/// A decoded state, in its layout's own types.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// 1.0.0, x86_64.
    V1X86(Box<v1::x86_64::MicrovmState>),
    /// 1.0.0, aarch64.
    V1Aarch64(Box<v1::aarch64::MicrovmState>),
    /// 6.0.0, x86_64.
    V6X86(Box<v6::x86_64::MicrovmState>),
    /// 6.0.0, aarch64.
    V6Aarch64(Box<v6::aarch64::MicrovmState>),
    /// 10.0.0, x86_64.
    V10X86(Box<v10::x86_64::MicrovmState>),
    /// 10.0.0, aarch64.
    V10Aarch64(Box<v10::aarch64::MicrovmState>),
}

impl State {
    /// The layout of this state.
    pub fn layout(&self) -> Layout {
        match self {
            State::V1X86(_) | State::V1Aarch64(_) => Layout::V1_0_0,
            State::V6X86(_) | State::V6Aarch64(_) => Layout::V6_0_0,
            State::V10X86(_) | State::V10Aarch64(_) => Layout::V10_0_0,
        }
    }

    /// The architecture of this state.
    pub fn arch(&self) -> Arch {
        match self {
            State::V1X86(_) | State::V6X86(_) | State::V10X86(_) => Arch::X86_64,
            State::V1Aarch64(_) | State::V6Aarch64(_) | State::V10Aarch64(_) => Arch::Aarch64,
        }
    }
}

/// A Firecracker state file, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct FcFile {
    /// The envelope header as read.
    pub header: Header,
    /// The version string exactly as stored.
    pub version_text: String,
    /// The decoded state.
    pub state: State,
    /// The stored CRC64 trailer.
    pub crc: u64,
    /// Bytes after the state and before the trailer (bincode era; Firecracker ignores them).
    pub trailing: usize,
}

impl FcFile {
    /// Facts about the layout.
    pub fn layout(&self) -> &'static LayoutInfo {
        self.state.layout().info()
    }

    /// Converts to the neutral model.
    pub fn to_model(&self) -> Snapshot {
        match &self.state {
            State::V1X86(s) => v1::convert::x86_to_model(s),
            State::V1Aarch64(s) => v1::convert::aarch64_to_model(s),
            State::V6X86(s) => v6::convert::x86_to_model(s),
            State::V6Aarch64(s) => v6::convert::aarch64_to_model(s),
            State::V10X86(s) => v10::convert::x86_to_model(s),
            State::V10Aarch64(s) => v10::convert::aarch64_to_model(s),
        }
    }
}

/// Why a Firecracker state file could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The envelope is wrong (size, magic, version text, CRC).
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// A versionize-era file (Firecracker ≤ v1.6).
    #[error(
        "versionize-era file (Firecracker v0.23–v1.6, {0}); snaptool reads serde-era layouts only"
    )]
    Versionize(String),
    /// No layout snaptool knows accepts this version.
    #[error(
        "version at offset 0x{offset:x}: format {version} ({era} era) is not supported; snaptool reads {supported}"
    )]
    UnsupportedVersion {
        /// Offset of the version field.
        offset: usize,
        /// The version found.
        version: Version,
        /// Its era.
        era: &'static str,
        /// What is supported.
        supported: String,
    },
    /// The state does not decode as the layout the header names.
    #[error("state does not decode as {layout} {arch}: {detail}{hint}")]
    Decode {
        /// Layout id.
        layout: &'static str,
        /// Arch from the magic.
        arch: &'static str,
        /// Position, field path and reason.
        detail: DecodeFailure,
        /// A hint, e.g. when the payload decodes as the other arch.
        hint: String,
    },
}

/// Where and why a state failed to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeFailure {
    /// File offset of the failing value, when the encoding has positions (bincode era).
    pub offset: Option<usize>,
    /// Field path of the failing value (e.g. `vcpu_states[0].regs`), when known.
    pub path: Option<String>,
    /// What was wrong, expected vs found.
    pub reason: String,
}

impl std::fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "field `{p}`: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// Options for [`read_with`].
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Check the CRC64 trailer (turn off for forensics on damaged files).
    pub check_crc: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { check_crc: true }
    }
}

/// Reads a Firecracker state file strictly: size → magic → version → CRC → decode.
///
/// # Errors
/// The first failing stage.
pub fn read(file: &[u8]) -> Result<FcFile, ReadError> {
    read_with(file, ReadOptions::default())
}

/// [`read`] with options.
///
/// # Errors
/// The first failing stage.
pub fn read_with(file: &[u8], opts: ReadOptions) -> Result<FcFile, ReadError> {
    let header = envelope::sniff(file)?;
    let info = layout_for(&header)?;
    let (body, crc) = if opts.check_crc {
        envelope::check_crc(file)?
    } else {
        envelope::split_trailer(file)?
    };
    let (state, version_text, trailing) = decode(info, &header, body)?;
    Ok(FcFile {
        header,
        version_text,
        state,
        crc,
        trailing,
    })
}

/// The layout the header's version selects, by Firecracker's rule.
///
/// # Errors
/// [`ReadError::Versionize`] or [`ReadError::UnsupportedVersion`].
pub fn layout_for(header: &Header) -> Result<&'static LayoutInfo, ReadError> {
    if header.era == Era::Versionize {
        return Err(ReadError::Versionize(header.version_text()));
    }
    let version = header.version.unwrap_or(Version::new(0, 0, 0));
    candidates(header)
        .first()
        .copied()
        .ok_or_else(|| ReadError::UnsupportedVersion {
            offset: if header.era == Era::Bitcode { 10 } else { 16 },
            version,
            era: header.era.name(),
            supported: LAYOUTS
                .iter()
                .map(|l| format!("{} ({})", l.version, l.releases.join(", ")))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn decode(
    info: &'static LayoutInfo,
    header: &Header,
    body: &[u8],
) -> Result<(State, String, usize), ReadError> {
    match decode_arch(info, header.arch, header, body) {
        Ok(v) => Ok(v),
        Err(detail) => {
            let other = match header.arch {
                Arch::X86_64 => Arch::Aarch64,
                Arch::Aarch64 => Arch::X86_64,
            };
            let hint = match decode_arch(info, other, header, body) {
                Ok(_) => format!(
                    " (hint: the magic says {} but the state decodes as {}; the magic is wrong)",
                    header.arch.name(),
                    other.name()
                ),
                Err(_) => String::new(),
            };
            Err(ReadError::Decode {
                layout: info.id,
                arch: header.arch.name(),
                detail,
                hint,
            })
        }
    }
}

fn decode_arch(
    info: &LayoutInfo,
    arch: Arch,
    header: &Header,
    body: &[u8],
) -> Result<(State, String, usize), DecodeFailure> {
    let version_text = header.version_text();
    match (info.layout, arch) {
        (Layout::V1_0_0, Arch::X86_64) => bincode_state(body, header.payload_offset)
            .map(|(s, t)| (State::V1X86(Box::new(s)), version_text, t)),
        (Layout::V1_0_0, Arch::Aarch64) => bincode_state(body, header.payload_offset)
            .map(|(s, t)| (State::V1Aarch64(Box::new(s)), version_text, t)),
        (Layout::V6_0_0, Arch::X86_64) => bincode_state(body, header.payload_offset)
            .map(|(s, t)| (State::V6X86(Box::new(s)), version_text, t)),
        (Layout::V6_0_0, Arch::Aarch64) => bincode_state(body, header.payload_offset)
            .map(|(s, t)| (State::V6Aarch64(Box::new(s)), version_text, t)),
        (Layout::V10_0_0, Arch::X86_64) => {
            bitcode_state(body).map(|(s, v)| (State::V10X86(Box::new(s)), v, 0))
        }
        (Layout::V10_0_0, Arch::Aarch64) => {
            bitcode_state(body).map(|(s, v)| (State::V10Aarch64(Box::new(s)), v, 0))
        }
    }
}

/// Decodes a payload as one layout and arch, without any envelope: for bincode-era layouts the
/// state bytes alone, for bitcode-era layouts the whole bitcode value (header included). Used by
/// fuzzing and by layout fingerprinting.
///
/// # Errors
/// A message with position (where the encoding has one) and field path.
pub fn decode_payload(layout: Layout, arch: Arch, payload: &[u8]) -> Result<State, DecodeFailure> {
    let header = Header {
        arch,
        era: layout.info().era,
        magic: 0,
        version: None,
        data_version: None,
        payload_offset: 0,
    };
    decode_arch(layout.info(), arch, &header, payload).map(|(s, _, _)| s)
}

/// Decodes a bincode-era state starting at `start` in `body`; returns it and the number of
/// trailing bytes. Error offsets are file offsets.
fn bincode_state<T: DeserializeOwned>(
    body: &[u8],
    start: usize,
) -> Result<(T, usize), DecodeFailure> {
    let mut de = bc::Deserializer::starting_at(body, start);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => Ok((v, de.remaining())),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            Err(DecodeFailure {
                offset: inner.offset().or(Some(de.offset())),
                path: Some(path).filter(|p| p != "."),
                reason: inner.to_string(),
            })
        }
    }
}

/// Decodes a bitcode-era body (header and state in one value).
fn bitcode_state<T: DeserializeOwned>(body: &[u8]) -> Result<(T, String), DecodeFailure> {
    bitcode::deserialize::<wire::Snapshot<T>>(body)
        .map(|s| (s.data, s.header.version))
        .map_err(|e| DecodeFailure {
            offset: None,
            path: None,
            reason: format!("bitcode: {e} (bitcode is columnar: no byte offset is known)"),
        })
}

/// Encodes a state in its layout, with the given header, and appends the CRC64 trailer.
///
/// # Errors
/// Only if the codec refuses a value (a sequence without a known length never occurs in these
/// types).
pub fn write(f: &FcFile) -> Result<Vec<u8>, WriteError> {
    let hdr = SnapshotHdr {
        magic: f.header.magic,
        version: f.version_text.clone(),
    };
    let body = match &f.state {
        State::V1X86(s) => bincode_body(&hdr, s)?,
        State::V1Aarch64(s) => bincode_body(&hdr, s)?,
        State::V6X86(s) => bincode_body(&hdr, s)?,
        State::V6Aarch64(s) => bincode_body(&hdr, s)?,
        State::V10X86(s) => bitcode_body(&hdr, s),
        State::V10Aarch64(s) => bitcode_body(&hdr, s),
    };
    Ok(envelope::seal(body))
}

/// Why a state could not be written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The bincode encoder refused a value.
    #[error("encoding the state: {0}")]
    Bincode(#[from] bc::Error),
    /// The model cannot be expressed in the target layout.
    #[error("{0}")]
    Model(String),
}

fn bincode_body<T: Serialize>(hdr: &SnapshotHdr, s: &T) -> Result<Vec<u8>, WriteError> {
    let mut out = bc::to_vec(hdr)?;
    bc::serialize_into(&mut out, s)?;
    Ok(out)
}

fn bitcode_body<T: Serialize + Clone>(hdr: &SnapshotHdr, s: &T) -> Vec<u8> {
    #[derive(Serialize)]
    struct Ref<'a, T> {
        header: &'a SnapshotHdr,
        data: &'a T,
    }
    // bitcode's serde encoder is infallible for these types (no maps with unknown length).
    bitcode::serialize(&Ref {
        header: hdr,
        data: s,
    })
    .unwrap_or_default()
}

/// The fields [`from_model`] fills with Firecracker's defaults for `layout` because the model
/// does not carry them; a converter reports these.
pub fn invented_fields(m: &Snapshot, layout: Layout) -> Vec<String> {
    match layout {
        Layout::V1_0_0 | Layout::V6_0_0 => Vec::new(),
        Layout::V10_0_0 => v10::convert::invented(m),
    }
}

impl Layout {
    /// Parses a layout name: `firecracker-10.0.0`, `firecracker@1.16`, `10.0.0`, `v1.12.1`, ...
    pub fn parse(s: &str) -> Option<Layout> {
        let t = s.trim();
        let t = t.strip_prefix("firecracker").unwrap_or(t);
        let t = t.trim_start_matches(['-', '@']);
        LAYOUTS.iter().map(|l| l.layout).find(|&l| {
            let info = l.info();
            info.version.to_string() == t
                || info.releases.iter().any(|r| {
                    let r = r.trim_start_matches('v');
                    let t = t.trim_start_matches('v');
                    r == t || r.starts_with(&format!("{t}."))
                })
        })
    }
}

/// Builds a file of `layout` from the model (header magic from its arch).
///
/// # Errors
/// [`WriteError::Model`] when the model does not fit the layout.
pub fn from_model(m: &Snapshot, layout: Layout) -> Result<FcFile, WriteError> {
    let info = layout.info();
    let state = match (layout, m.arch()) {
        (Layout::V1_0_0, Arch::X86_64) => State::V1X86(Box::new(v1::convert::x86_from_model(m)?)),
        (Layout::V1_0_0, Arch::Aarch64) => {
            State::V1Aarch64(Box::new(v1::convert::aarch64_from_model(m)?))
        }
        (Layout::V6_0_0, Arch::X86_64) => State::V6X86(Box::new(v6::convert::x86_from_model(m)?)),
        (Layout::V6_0_0, Arch::Aarch64) => {
            State::V6Aarch64(Box::new(v6::convert::aarch64_from_model(m)?))
        }
        (Layout::V10_0_0, Arch::X86_64) => {
            State::V10X86(Box::new(v10::convert::x86_from_model(m)?))
        }
        (Layout::V10_0_0, Arch::Aarch64) => {
            State::V10Aarch64(Box::new(v10::convert::aarch64_from_model(m)?))
        }
    };
    let magic = match m.arch() {
        Arch::X86_64 => envelope::MAGIC_X86_64,
        Arch::Aarch64 => envelope::MAGIC_AARCH64,
    };
    let version_text = if m.provenance.layout == info.id {
        m.provenance.version.clone()
    } else {
        info.version.to_string()
    };
    let header = Header {
        arch: m.arch(),
        era: info.era,
        magic,
        version: Version::parse(&version_text),
        data_version: None,
        payload_offset: if info.era == Era::Bincode {
            16 + version_text.len()
        } else {
            0
        },
    };
    Ok(FcFile {
        header,
        version_text,
        state,
        crc: 0,
        trailing: 0,
    })
}
