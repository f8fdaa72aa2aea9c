//! The snaptool extra-state blob that travels in `VcpuSnapshot.extra_state`.
//!
//! arcbox keeps only general registers per vCPU. Everything else snaptool knows about a snapshot
//! rides in this blob so a conversion through arcbox loses nothing. Every vCPU's blob holds that
//! vCPU's whole model state; vCPU 0's also holds the VM-wide part (provenance, machine
//! configuration, memory layout, platform, devices, extensions) and a copy of the
//! `snapshot.json` snaptool wrote. The native JSON fields win over the blob when they disagree
//! (see `convert.rs`).
//!
//! ```text
//! offset size field
//!  0     8    magic "SNAPTLXS"
//!  8     2    version, u16 LE (1)
//! 10     1    codec: 0 = JSON as is, 1 = one zstd frame holding the JSON
//! 11     1    reserved, 0
//! 12     4    JSON length in bytes, u32 LE (at most 16 MiB)
//! 16     ..   payload: the JSON (codec 0) or the zstd frame (codec 1), to the end
//! ```
//!
//! The JSON (version 1) is an object `{"vcpu": <model vCPU>, "vm": <VmPart>?}` in the JSON form
//! of snaptool's model (`snaptool decode`); unknown keys are refused.

use super::types::SnapshotInfo;
use crate::model::{Device, Extension, MemoryLayout, Platform, Provenance, Vcpu, VmInfo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The blob magic.
pub const MAGIC: [u8; 8] = *b"SNAPTLXS";
/// The blob version snaptool writes and reads.
pub const VERSION: u16 = 1;
/// Header length.
pub const HEADER_LEN: usize = 16;
/// Largest JSON payload one blob may declare.
pub const MAX_JSON: u32 = 16 << 20;
/// Largest sum of declared JSON lengths over all blobs of one snapshot.
pub const MAX_TOTAL_JSON: u64 = 64 << 20;
/// Codec: JSON as is.
pub const CODEC_JSON: u8 = 0;
/// Codec: one zstd frame.
pub const CODEC_ZSTD: u8 = 1;
/// zstd level snaptool compresses with.
const ZSTD_LEVEL: i32 = 9;

/// The payload of one blob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraState {
    /// The vCPU's complete model state (its general registers are superseded by the native ones).
    pub vcpu: Vcpu,
    /// The VM-wide part, in vCPU 0's blob only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<Box<VmPart>>,
}

/// The VM-wide model state: the model minus its vCPUs, plus what snaptool wrote natively where
/// the model has no value to compare against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmPart {
    /// Model provenance.
    pub provenance: Provenance,
    /// Machine configuration.
    pub vm: VmInfo,
    /// Memory layout (native `memory_regions` win).
    pub memory: MemoryLayout,
    /// Platform state.
    pub platform: Platform,
    /// Devices (native `devices` win for the ones with an arcbox device type).
    pub devices: Vec<Device>,
    /// Model extensions.
    #[serde(default)]
    pub extensions: BTreeMap<String, Extension>,
    /// `snapshot.json` as snaptool wrote it, with `size` 0: when the file on disk still says
    /// this (size aside), it adds nothing to the model.
    pub info: SnapshotInfo,
}

/// What an `extra_state` holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// Nothing (what arcbox writes).
    Empty,
    /// Bytes without snaptool's magic: another producer's.
    Foreign,
    /// A snaptool blob.
    Ours(Box<ExtraState>),
}

/// Why a blob did not decode: byte offset in the blob and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobError {
    /// Offset in the blob (for JSON errors: the payload start).
    pub offset: u64,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for BlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.what)
    }
}

/// Encodes a blob (zstd codec).
///
/// # Errors
/// A message when the JSON is larger than [`MAX_JSON`].
pub fn encode(x: &ExtraState) -> Result<Vec<u8>, String> {
    let json = serde_json::to_vec(x).map_err(|e| format!("extra state to JSON: {e}"))?;
    let len = u32::try_from(json.len())
        .ok()
        .filter(|&l| l <= MAX_JSON)
        .ok_or_else(|| {
            format!(
                "extra state is {} bytes of JSON, over the {MAX_JSON}-byte blob cap",
                json.len()
            )
        })?;
    let frame = zstd::bulk::compress(&json, ZSTD_LEVEL).map_err(|e| format!("zstd: {e}"))?;
    let mut out = Vec::with_capacity(HEADER_LEN + frame.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.push(CODEC_ZSTD);
    out.push(0);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&frame);
    Ok(out)
}

/// The JSON length a blob declares, when `b` starts like a snaptool blob with a whole header.
pub fn declared_len(b: &[u8]) -> Option<u32> {
    if b.len() < HEADER_LEN || b[..8] != MAGIC {
        return None;
    }
    Some(u32::from_le_bytes([b[12], b[13], b[14], b[15]]))
}

/// Decodes an `extra_state`. `budget` is the JSON still allowed for this snapshot; the declared
/// length is taken from it before anything is decompressed.
///
/// # Errors
/// Where and why a blob with snaptool's magic is malformed.
pub fn decode(b: &[u8], budget: &mut u64) -> Result<Decoded, BlobError> {
    let err = |offset: u64, what: String| BlobError { offset, what };
    if b.is_empty() {
        return Ok(Decoded::Empty);
    }
    if b.len() < MAGIC.len() || b[..8] != MAGIC {
        return Ok(Decoded::Foreign);
    }
    if b.len() < HEADER_LEN {
        return Err(err(
            b.len() as u64,
            format!("{} bytes; the header alone is {HEADER_LEN} bytes", b.len()),
        ));
    }
    let version = u16::from_le_bytes([b[8], b[9]]);
    if version != VERSION {
        return Err(err(
            8,
            format!("version {version}; this snaptool reads version {VERSION}"),
        ));
    }
    let codec = b[10];
    if b[11] != 0 {
        return Err(err(11, format!("reserved byte is {}, expected 0", b[11])));
    }
    let len = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
    if len > MAX_JSON {
        return Err(err(
            12,
            format!("declares {len} bytes of JSON, over the {MAX_JSON}-byte cap"),
        ));
    }
    if u64::from(len) > *budget {
        return Err(err(
            12,
            format!(
                "declares {len} bytes of JSON; the blobs of one snapshot may hold {MAX_TOTAL_JSON} in all"
            ),
        ));
    }
    *budget -= u64::from(len);
    let payload = &b[HEADER_LEN..];
    let json: std::borrow::Cow<'_, [u8]> = match codec {
        CODEC_JSON => payload.into(),
        CODEC_ZSTD => zstd::bulk::decompress(payload, len as usize)
            .map_err(|e| err(HEADER_LEN as u64, format!("zstd frame: {e}")))?
            .into(),
        other => {
            return Err(err(
                10,
                format!("unknown codec {other} (0 = JSON, 1 = zstd)"),
            ));
        }
    };
    if json.len() != len as usize {
        return Err(err(
            HEADER_LEN as u64,
            format!(
                "payload holds {} bytes of JSON, the header says {len}",
                json.len()
            ),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(&json);
    let x: ExtraState = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        err(
            HEADER_LEN as u64,
            format!(
                "JSON line {} column {}, field `{path}`: {inner}",
                inner.line(),
                inner.column()
            ),
        )
    })?;
    de.end().map_err(|e| {
        err(
            HEADER_LEN as u64,
            format!("trailing data after the JSON: {e}"),
        )
    })?;
    Ok(Decoded::Ours(Box::new(x)))
}
