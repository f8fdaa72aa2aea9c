//! Firecracker `MicrovmState` files.
//!
//! One frozen module per layout (`v1` = format 1.0.0, `v2` = 2.0.0 … `v6` = 6.0.0, `v8_13` / `v8_14` = the
//! two layouts of format 8.0.0, `v9` = 9.0.0, `v10` = 10.0.0, `v11` = 11.0.0), each with serde
//! types mirroring Firecracker's field tree for x86_64 and aarch64 and a conversion to and from
//! the neutral model. This module picks the layout from the envelope, decodes strictly (exact
//! length, CRC) and re-encodes byte-exactly. Where one version string names two layouts ("3.0.0":
//! v1.9.x and v1.10.0; "8.0.0": v1.13.x and v1.14.x), each candidate is tried and the one that
//! decodes the payload exactly wins.
//!
//! ```text
//! file = envelope header | MicrovmState (layout-specific encoding) | crc64 (u64 LE)
//! ```

mod allocator;
pub mod checks;
mod convert_bitcode;
mod convert_common;
mod convert_v2_v5;
mod device_config;
mod device_model;
mod ladder;
pub mod shared;
pub mod v1;
pub mod v10;
pub mod v11;
pub mod v2;
pub mod v3;
pub mod v4;
pub mod v5;
pub mod v6;
pub mod v8_13;
pub mod v8_14;
pub mod v9;
pub mod versionize;
pub mod wire;

pub(crate) use allocator::report as allocator_report;
pub use device_config::{denormalize, normalize};

use crate::codec::bincode as bc;
use crate::envelope::{self, EnvelopeError, Era, Header, Version};
use crate::model::{Arch, RegionKind, Snapshot};
use serde::{Serialize, de::DeserializeOwned};
use thiserror::Error;
use wire::SnapshotHdr;

/// A layout snaptool reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Format 1.0.0, written by Firecracker v1.7.0 (bincode fixint LE; KVM structures field by
    /// field).
    V1_0_0,
    /// Format 2.0.0, written by Firecracker v1.8.0 (bincode fixint LE).
    V2_0_0,
    /// Format 3.0.0 as written by Firecracker v1.9.0 and v1.9.1 (bincode fixint LE).
    V3_0_0,
    /// Format 4.0.0, written by Firecracker v1.10.1, and the same layout under the version
    /// "3.0.0" as written by v1.10.0 (bincode fixint LE).
    V4_0_0,
    /// Format 5.0.0, written by Firecracker v1.11.0 (bincode fixint LE).
    V5_0_0,
    /// Format 6.0.0, written by Firecracker v1.12.x (bincode fixint LE).
    V6_0_0,
    /// Format 8.0.0 as written by Firecracker v1.13.x (bincode fixint LE).
    #[allow(non_camel_case_types)]
    V8_0_0_V1_13,
    /// Format 8.0.0 as written by Firecracker v1.14.x (bincode fixint LE; same version string,
    /// different layout).
    #[allow(non_camel_case_types)]
    V8_0_0_V1_14,
    /// Format 9.0.0, written by Firecracker v1.15.0 and v1.15.1 (bitcode 0.6.9).
    V9_0_0,
    /// Format 10.0.0, written by Firecracker v1.16.0 and v1.16.1 (bitcode 0.6.9).
    V10_0_0,
    /// Format 11.0.0, written by Firecracker v1.16.2 and main before 1.17 (bitcode 0.6.9).
    V11_0_0,
    /// The versionize era (Firecracker v0.23–v1.6) at the given data version (1–10); see
    /// [`versionize`].
    Versionize(u16),
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

/// Releases that write a layout under a version string other than the layout's own: v1.10.0
/// wrote the 4.0.0 layout as "3.0.0" (renumbered in v1.10.1).
const RELEASE_VERSIONS: &[(&str, Version)] = &[("v1.10.0", Version::new(3, 0, 0))];

impl LayoutInfo {
    /// The version string `release` (one of [`LayoutInfo::releases`]) writes for this layout.
    pub fn version_of(&self, release: &str) -> Version {
        RELEASE_VERSIONS
            .iter()
            .find(|(r, _)| *r == release)
            .map_or(self.version, |(_, v)| *v)
    }

    /// The releases that accept a file of this layout carrying `version` (Firecracker's rule:
    /// same major, minor not newer than the release's own).
    pub fn readers_of(&self, version: &Version) -> Vec<&'static str> {
        self.releases
            .iter()
            .copied()
            .filter(|r| version.accepted_by(&self.version_of(r)))
            .collect()
    }
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
        layout: Layout::V2_0_0,
        id: "firecracker-2.0.0",
        version: Version::new(2, 0, 0),
        era: Era::Bincode,
        encoding: "bincode fixint little-endian",
        releases: &["v1.8.0"],
    },
    LayoutInfo {
        layout: Layout::V3_0_0,
        id: "firecracker-3.0.0",
        version: Version::new(3, 0, 0),
        era: Era::Bincode,
        encoding: "bincode fixint little-endian",
        releases: &["v1.9.0", "v1.9.1"],
    },
    LayoutInfo {
        layout: Layout::V4_0_0,
        id: "firecracker-4.0.0",
        version: Version::new(4, 0, 0),
        era: Era::Bincode,
        encoding: "bincode fixint little-endian",
        releases: &["v1.10.0", "v1.10.1"],
    },
    LayoutInfo {
        layout: Layout::V5_0_0,
        id: "firecracker-5.0.0",
        version: Version::new(5, 0, 0),
        era: Era::Bincode,
        encoding: "bincode fixint little-endian",
        releases: &["v1.11.0"],
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
        layout: Layout::V8_0_0_V1_13,
        id: "firecracker-8.0.0-v1.13",
        version: Version::new(8, 0, 0),
        era: Era::Bincode,
        encoding: "bincode fixint little-endian",
        releases: &["v1.13.0", "v1.13.1", "v1.13.2"],
    },
    LayoutInfo {
        layout: Layout::V8_0_0_V1_14,
        id: "firecracker-8.0.0-v1.14",
        version: Version::new(8, 0, 0),
        era: Era::Bincode,
        encoding: "bincode fixint little-endian",
        releases: &["v1.14.0", "v1.14.1", "v1.14.2", "v1.14.3", "v1.14.4"],
    },
    LayoutInfo {
        layout: Layout::V9_0_0,
        id: "firecracker-9.0.0",
        version: Version::new(9, 0, 0),
        era: Era::Bitcode,
        encoding: "bitcode 0.6.9 (serde)",
        releases: &["v1.15.0", "v1.15.1"],
    },
    LayoutInfo {
        layout: Layout::V10_0_0,
        id: "firecracker-10.0.0",
        version: Version::new(10, 0, 0),
        era: Era::Bitcode,
        encoding: "bitcode 0.6.9 (serde)",
        releases: &["v1.16.0", "v1.16.1"],
    },
    LayoutInfo {
        layout: Layout::V11_0_0,
        id: "firecracker-11.0.0",
        version: Version::new(11, 0, 0),
        era: Era::Bitcode,
        encoding: "bitcode 0.6.9 (serde)",
        releases: &["v1.16.2"],
    },
];

impl Layout {
    /// Facts about this layout.
    pub fn info(self) -> &'static LayoutInfo {
        if let Layout::Versionize(dv) = self {
            return versionize::info(dv).unwrap_or(&versionize::LAYOUTS[0]);
        }
        LAYOUTS
            .iter()
            .find(|l| l.layout == self)
            .unwrap_or(&LAYOUTS[0])
    }
}

/// The layouts a header can name, oldest first: same era, and some release writing the layout
/// accepts the version (so "3.0.0" names both the v1.9.x layout and v1.10.0's 4.0.0 layout).
pub fn candidates(header: &Header) -> Vec<&'static LayoutInfo> {
    let Some(v) = header.version else {
        return Vec::new();
    };
    LAYOUTS
        .iter()
        .filter(|l| l.era == header.era && !l.readers_of(&v).is_empty())
        .collect()
}

/// The serde-era layouts, in release order, once: layout, module, the `State` variants for
/// x86_64 and aarch64, and the encoding. Every function that dispatches on a layout is generated
/// from this table (`$cb!{(args) rows}`), so adding a layout is one line here and its module.
macro_rules! serde_layouts {
    ($cb:ident ! ($($args:tt)*)) => {
        $cb! { ($($args)*)
            V1_0_0 v1 V1X86 V1Aarch64 bincode "1.0.0",
            V2_0_0 v2 V2X86 V2Aarch64 bincode "2.0.0",
            V3_0_0 v3 V3X86 V3Aarch64 bincode "3.0.0 (v1.9.x)",
            V4_0_0 v4 V4X86 V4Aarch64 bincode "4.0.0 (also v1.10.0's \"3.0.0\")",
            V5_0_0 v5 V5X86 V5Aarch64 bincode "5.0.0",
            V6_0_0 v6 V6X86 V6Aarch64 bincode "6.0.0",
            V8_0_0_V1_13 v8_13 V8_13X86 V8_13Aarch64 bincode "8.0.0 (v1.13 layout)",
            V8_0_0_V1_14 v8_14 V8_14X86 V8_14Aarch64 bincode "8.0.0 (v1.14 layout)",
            V9_0_0 v9 V9X86 V9Aarch64 bitcode "9.0.0",
            V10_0_0 v10 V10X86 V10Aarch64 bitcode "10.0.0",
            V11_0_0 v11 V11X86 V11Aarch64 bitcode "11.0.0",
        }
    };
}

macro_rules! state_enum {
    (() $($l:ident $m:ident $x:ident $a:ident $enc:ident $doc:literal,)*) => {
        /// A decoded state, in its layout's own types.
        #[derive(Debug, Clone, PartialEq)]
        pub enum State {
            $(
                #[doc = concat!($doc, ", x86_64.")]
                $x(Box<$m::x86_64::MicrovmState>),
                #[doc = concat!($doc, ", aarch64.")]
                $a(Box<$m::aarch64::MicrovmState>),
            )*
            /// Versionize era (v0.23–v1.6), x86_64, at the data version it holds.
            Versionize(Box<versionize::MicrovmState>),
        }
    };
}

serde_layouts!(state_enum!());

macro_rules! state_layout {
    (($s:expr) $($l:ident $m:ident $x:ident $a:ident $enc:ident $doc:literal,)*) => {
        match $s {
            $( State::$x(_) | State::$a(_) => Layout::$l, )*
            State::Versionize(s) => Layout::Versionize(s.data_version),
        }
    };
}

macro_rules! state_arch {
    (($s:expr) $($l:ident $m:ident $x:ident $a:ident $enc:ident $doc:literal,)*) => {
        match $s {
            $( State::$x(_) => Arch::X86_64, State::$a(_) => Arch::Aarch64, )*
            State::Versionize(_) => Arch::X86_64,
        }
    };
}

macro_rules! state_to_model {
    (($s:expr) $($l:ident $m:ident $x:ident $a:ident $enc:ident $doc:literal,)*) => {
        match $s {
            $(
                State::$x(s) => $m::convert::x86_to_model(s),
                State::$a(s) => $m::convert::aarch64_to_model(s),
            )*
            State::Versionize(s) => versionize::convert::to_model(s),
        }
    };
}

macro_rules! decode_one {
    (bincode, $v:ident, $body:ident, $at:ident, $text:ident) => {
        bincode_state($body, $at).map(|(s, t)| (State::$v(Box::new(s)), $text, t))
    };
    (bitcode, $v:ident, $body:ident, $at:ident, $text:ident) => {
        bitcode_state($body).map(|(s, v)| (State::$v(Box::new(s)), v, 0))
    };
}

macro_rules! state_decode {
    (($key:expr, $body:ident, $at:ident, $text:ident) $($l:ident $m:ident $x:ident $a:ident $enc:ident $doc:literal,)*) => {
        match $key {
            (Layout::Versionize(dv), Arch::X86_64) => {
                versionize_state($body, $at, dv).map(|s| (s, $text, 0))
            }
            (Layout::Versionize(dv), Arch::Aarch64) => Err(DecodeFailure {
                offset: None,
                path: None,
                reason: format!(
                    "data version {dv}: snaptool reads x86_64 versionize-era files only"
                ),
            }),
            $(
                (Layout::$l, Arch::X86_64) => decode_one!($enc, $x, $body, $at, $text),
                (Layout::$l, Arch::Aarch64) => decode_one!($enc, $a, $body, $at, $text),
            )*
        }
    };
}

macro_rules! encode_one {
    (bincode, $hdr:ident, $s:ident) => {
        bincode_body(&$hdr, $s)?
    };
    (bitcode, $hdr:ident, $s:ident) => {
        bitcode_body(&$hdr, $s)
    };
}

macro_rules! state_encode {
    (($st:expr, $hdr:ident, $f:ident) $($l:ident $m:ident $x:ident $a:ident $enc:ident $doc:literal,)*) => {
        match $st {
            $(
                State::$x(s) => encode_one!($enc, $hdr, s),
                State::$a(s) => encode_one!($enc, $hdr, s),
            )*
            State::Versionize(s) => return Ok(versionize::write($f.header.magic, s)),
        }
    };
}

macro_rules! state_from_model {
    (($key:expr, $model:ident) $($l:ident $m:ident $x:ident $a:ident $enc:ident $doc:literal,)*) => {
        match $key {
            $(
                (Layout::$l, Arch::X86_64) => State::$x(Box::new($m::convert::x86_from_model($model)?)),
                (Layout::$l, Arch::Aarch64) => State::$a(Box::new($m::convert::aarch64_from_model($model)?)),
            )*
            (Layout::Versionize(_), _) => {
                return Err(WriteError::Model(
                    "versionize layouts are built above".into(),
                ));
            }
        }
    };
}

macro_rules! layout_invented {
    (($layout:expr, $model:ident) $($l:ident $m:ident $x:ident $a:ident $enc:ident $doc:literal,)*) => {
        match $layout {
            $( Layout::$l => $m::convert::invented($model), )*
            Layout::Versionize(dv) => versionize::convert::invented($model, dv),
        }
    };
}

impl State {
    /// The layout of this state.
    pub fn layout(&self) -> Layout {
        serde_layouts!(state_layout!(self))
    }

    /// The architecture of this state.
    pub fn arch(&self) -> Arch {
        serde_layouts!(state_arch!(self))
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

    /// The releases that read this file: those writing its layout under a version that accepts
    /// the file's, and those of every other layout that decodes it exactly too (a "3.0.0" file
    /// without network devices is the same bytes in the v1.9.x and v1.10.0 layouts).
    pub fn readers(&self) -> Vec<&'static str> {
        if let State::Versionize(s) = &self.state {
            return versionize::readers(s.data_version);
        }
        let Some(v) = Version::parse(&self.version_text) else {
            return self.layout().releases.to_vec();
        };
        let own = self.state.layout();
        let others: Vec<_> = LAYOUTS
            .iter()
            .filter(|l| l.era == self.header.era && l.layout != own && !l.readers_of(&v).is_empty())
            .collect();
        let body = match others.is_empty() {
            true => None,
            false => write(self).ok(),
        };
        let mut out = Vec::new();
        for l in LAYOUTS.iter().filter(|l| l.era == self.header.era) {
            let decodes = l.layout == own
                || body.as_ref().is_some_and(|b| {
                    others.iter().any(|o| o.layout == l.layout)
                        && b.len() >= envelope::CRC_LEN
                        && matches!(
                            decode_arch(
                                l,
                                self.state.arch(),
                                &self.header,
                                &b[..b.len() - envelope::CRC_LEN]
                            ),
                            Ok((_, _, 0))
                        )
                });
            if decodes {
                out.extend(l.readers_of(&v));
            }
        }
        out
    }

    /// Converts to the neutral model; the provenance carries the file's version string and the
    /// releases that read it.
    pub fn to_model(&self) -> Snapshot {
        let mut m = self.state_to_model();
        m.provenance.version = self.version_text.clone();
        m.provenance.releases = self.readers().iter().map(|r| r.to_string()).collect();
        m
    }

    fn state_to_model(&self) -> Snapshot {
        serde_layouts!(state_to_model!(&self.state))
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
    layout_for(&header)?;
    if header.era == Era::Versionize {
        return read_versionize(file, header, opts);
    }
    let (body, crc) = if opts.check_crc {
        envelope::check_crc(file)?
    } else {
        envelope::split_trailer(file)?
    };
    let (state, version_text, trailing) = decode_candidates(&header, body)?;
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
        if let Some(why) = versionize::refusal(header) {
            return Err(ReadError::Versionize(why));
        }
        return Ok(Layout::Versionize(header.data_version.unwrap_or(0)).info());
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

/// Decodes with each candidate layout of the header, oldest first: the first that consumes the
/// payload exactly wins, else the first that decodes with bytes left over (the trailing-bytes
/// warning of `verify`), else the first candidate's error (naming the others).
fn decode_candidates(header: &Header, body: &[u8]) -> Result<(State, String, usize), ReadError> {
    let cands = candidates(header);
    let mut loose = None;
    let mut first_err: Option<ReadError> = None;
    let mut others = Vec::new();
    for info in &cands {
        match decode(info, header, body) {
            Ok(v) if v.2 == 0 => return Ok(v),
            Ok(v) => {
                loose.get_or_insert(v);
            }
            Err(e) if first_err.is_none() => first_err = Some(e),
            Err(e) => others.push(e.to_string()),
        }
    }
    if let Some(v) = loose {
        return Ok(v);
    }
    match first_err {
        Some(ReadError::Decode {
            layout,
            arch,
            detail,
            mut hint,
        }) => {
            for o in others {
                hint.push_str(&format!(
                    "; nor does it as the other layout of this version: {o}"
                ));
            }
            Err(ReadError::Decode {
                layout,
                arch,
                detail,
                hint,
            })
        }
        Some(e) => Err(e),
        // `layout_for` has already refused a header without candidates.
        None => Err(layout_for(header)
            .err()
            .unwrap_or(ReadError::Versionize(String::new()))),
    }
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
    let at = header.payload_offset;
    serde_layouts!(state_decode!((info.layout, arch), body, at, version_text))
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

/// Decodes a versionize-era state at data version `dv` from `body` (header included when
/// `start` is 10, a bare payload when 0).
fn versionize_state(body: &[u8], start: usize, dv: u16) -> Result<State, DecodeFailure> {
    let s = match start {
        0 => versionize::decode_payload(body, dv)?,
        _ => versionize::decode_body(body, dv)?,
    };
    Ok(State::Versionize(Box::new(s)))
}

/// [`read_with`] for a versionize-era file (the header was sniffed and accepted).
fn read_versionize(file: &[u8], header: Header, opts: ReadOptions) -> Result<FcFile, ReadError> {
    let (body, crc) = if opts.check_crc {
        envelope::check_crc(file)?
    } else {
        envelope::split_trailer(file)?
    };
    let info = layout_for(&header)?;
    let (state, version_text, trailing) = decode(info, &header, body)?;
    Ok(FcFile {
        header,
        version_text,
        state,
        crc,
        trailing,
    })
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
    let body = serde_layouts!(state_encode!(&f.state, hdr, f));
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
    serde_layouts!(layout_invented!(layout, m))
}

impl Layout {
    /// Parses a layout name: `firecracker-10.0.0`, `firecracker@1.16`, `10.0.0`, `v1.12.1`,
    /// `firecracker-8.0.0-v1.14`, ... A version two layouts share (`8.0.0`) names the older one;
    /// name a release (`v1.14`) or the layout id for the other. Versionize-era layouts are
    /// named by id (`firecracker-versionize-8`) or by a release before v1.7 (`firecracker@1.4`).
    pub fn parse(s: &str) -> Option<Layout> {
        Layout::parse_serde(s).or_else(|| versionize::parse(s))
    }

    /// [`Layout::parse`] over the serde-era layouts (a format version such as `1.0.0` names
    /// the serde-era layout, not the release v1.0.0).
    fn parse_serde(s: &str) -> Option<Layout> {
        let t = s.trim();
        if let Some(l) = LAYOUTS.iter().find(|l| l.id == t) {
            return Some(l.layout);
        }
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
    if let Layout::Versionize(dv) = layout {
        let header = versionize::header(dv);
        return Ok(FcFile {
            version_text: header.version_text(),
            header,
            state: State::Versionize(Box::new(versionize::convert::from_model(m, dv)?)),
            crc: 0,
            trailing: 0,
        });
    }
    let info = layout.info();
    let before_v1_14 = LAYOUTS.iter().position(|l| l.layout == layout)
        < LAYOUTS
            .iter()
            .position(|l| l.layout == Layout::V8_0_0_V1_14);
    // Before v1.14 there is no hotplug memory. A hotplug area after boot memory in the memory
    // file is left out (boot memory keeps its file offsets; `convert` reports the area and its
    // virtio-mem device as lost); one in between cannot be.
    let trimmed;
    let m = if before_v1_14
        && m.memory
            .regions
            .iter()
            .any(|r| r.kind == RegionKind::Hotpluggable)
    {
        let boot_end = m
            .memory
            .regions
            .iter()
            .filter(|r| r.kind != RegionKind::Hotpluggable)
            .map(|r| r.file_offset.saturating_add(r.size))
            .max()
            .unwrap_or(0);
        if let Some(r) = m
            .memory
            .regions
            .iter()
            .find(|r| r.kind == RegionKind::Hotpluggable && r.file_offset < boot_end)
        {
            return Err(WriteError::Model(format!(
                "{} cannot hold the hotpluggable memory region at 0x{:x}, which lies between boot memory regions in the memory file (virtio-mem came with v1.14)",
                info.id, r.guest_addr
            )));
        }
        let mut c = m.clone();
        c.memory
            .regions
            .retain(|r| r.kind != RegionKind::Hotpluggable);
        trimmed = c;
        &trimmed
    } else {
        m
    };
    let state = serde_layouts!(state_from_model!((layout, m.arch()), m));
    let magic = match m.arch() {
        Arch::X86_64 => envelope::MAGIC_X86_64,
        Arch::Aarch64 => envelope::MAGIC_AARCH64,
    };
    // The model's version string when it came from this layout and some release writing the
    // layout uses it (v1.10.0's "3.0.0" for the 4.0.0 layout stays "3.0.0"), else the layout's.
    let version_text = match Version::parse(&m.provenance.version) {
        Some(v) if m.provenance.layout == info.id && !info.readers_of(&v).is_empty() => {
            m.provenance.version.clone()
        }
        _ => info.version.to_string(),
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
