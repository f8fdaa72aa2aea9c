//! Firecracker v0.23–v1.6 state files: the versionize era.
//!
//! ```text
//! magic | 1 (u64 LE: low 16 bits = snapshot format version 1) | data_version (u16 LE) | state | crc64 (u64 LE)
//! ```
//!
//! `data_version` 1–10 names the Firecracker minor release that wrote the file (v0.23 … v1.6);
//! every release reads its own and all older data versions. The state is versionize-encoded at
//! that data version ([`state`] has the per-version field table). snaptool reads and writes the
//! x86_64 state of VMs without virtio devices (the legacy serial console and i8042 keep no
//! state in these releases), which is what every counter-guest fixture is.

pub mod convert;
pub mod state;
pub mod wire;

use super::{DecodeFailure, Layout, LayoutInfo};
use crate::envelope::{self, Era, Header, Version};
use crate::model::Arch;
pub use state::MicrovmState;

/// The newest data version (Firecracker v1.6).
pub const LATEST: u16 = 10;

/// The releases writing each data version (index = data version − 1).
const WRITERS: [&[&str]; LATEST as usize] = [
    &[
        "v0.23.0", "v0.23.1", "v0.23.2", "v0.23.3", "v0.23.4", "v0.23.5",
    ],
    &[
        "v0.24.0", "v0.24.1", "v0.24.2", "v0.24.3", "v0.24.4", "v0.24.5", "v0.24.6",
    ],
    &["v0.25.0", "v0.25.1", "v0.25.2"],
    &["v1.0.0", "v1.0.1", "v1.0.2"],
    &["v1.1.0", "v1.1.1", "v1.1.2", "v1.1.3", "v1.1.4"],
    &["v1.2.0", "v1.2.1"],
    &["v1.3.0", "v1.3.1", "v1.3.2", "v1.3.3"],
    &["v1.4.0", "v1.4.1"],
    &["v1.5.0", "v1.5.1"],
    &["v1.6.0"],
];

macro_rules! layout {
    ($dv:literal, $id:literal) => {
        LayoutInfo {
            layout: Layout::Versionize($dv),
            id: $id,
            version: Version::new(0, $dv, 0),
            era: Era::Versionize,
            encoding: "versionize 0.1 (bincode fixint little-endian primitives)",
            releases: WRITERS[$dv - 1],
        }
    };
}

/// One layout per data version, oldest first. `version` holds the data version as its minor
/// number (the era has no semver format version; the file stores the data version alone).
pub const LAYOUTS: [LayoutInfo; LATEST as usize] = [
    layout!(1, "firecracker-versionize-1"),
    layout!(2, "firecracker-versionize-2"),
    layout!(3, "firecracker-versionize-3"),
    layout!(4, "firecracker-versionize-4"),
    layout!(5, "firecracker-versionize-5"),
    layout!(6, "firecracker-versionize-6"),
    layout!(7, "firecracker-versionize-7"),
    layout!(8, "firecracker-versionize-8"),
    layout!(9, "firecracker-versionize-9"),
    layout!(10, "firecracker-versionize-10"),
];

/// Facts about data version `dv` (1–10).
pub fn info(dv: u16) -> Option<&'static LayoutInfo> {
    LAYOUTS.get(usize::from(dv).checked_sub(1)?)
}

/// The Firecracker release `--describe-snapshot` names for data version `dv` (`v1.6.0`).
pub fn describe(dv: u16) -> Option<String> {
    let (major, minor) = match dv {
        1..=3 => (0, 22 + dv),
        4..=LATEST => (1, dv - 4),
        _ => return None,
    };
    Some(format!("v{major}.{minor}.0"))
}

/// Every release that loads a file of data version `dv`: the writers of `dv` and of every
/// newer data version up to v1.6.
pub fn readers(dv: u16) -> Vec<&'static str> {
    LAYOUTS
        .iter()
        .filter(|l| matches!(l.layout, Layout::Versionize(d) if d >= dv))
        .flat_map(|l| l.releases.iter().copied())
        .collect()
}

/// The version text snaptool shows for a data version (`data version 10`).
pub fn version_text(dv: u16) -> String {
    format!("data version {dv}")
}

/// Parses a versionize layout name: `firecracker-versionize-8`, `versionize-8`,
/// `firecracker@1.4`, `v1.4.1`, `0.23`, ...
pub fn parse(s: &str) -> Option<Layout> {
    let t = s.trim();
    let t = t.strip_prefix("firecracker").unwrap_or(t);
    let t = t.trim_start_matches(['-', '@']);
    if let Some(n) = t.strip_prefix("versionize-") {
        return n
            .parse::<u16>()
            .ok()
            .filter(|d| (1..=LATEST).contains(d))
            .map(Layout::Versionize);
    }
    let t = t.trim_start_matches('v');
    LAYOUTS.iter().map(|l| l.layout).find(|&l| {
        l.info().releases.iter().any(|r| {
            let r = r.trim_start_matches('v');
            r == t || r.starts_with(&format!("{t}."))
        })
    })
}

/// Why the header cannot be read as a versionize-era file snaptool handles; `None` when it can.
pub fn refusal(header: &Header) -> Option<String> {
    match (header.arch, header.data_version) {
        (_, None) => Some("no data version: the file ends inside the header".into()),
        (_, Some(dv)) if !(1..=LATEST).contains(&dv) => Some(format!(
            "data version {dv} at offset 0x8: Firecracker v0.23–v1.6 wrote data versions 1–{LATEST}"
        )),
        (Arch::Aarch64, Some(dv)) => Some(format!(
            "data version {dv}, aarch64: snaptool reads x86_64 versionize-era files only"
        )),
        (Arch::X86_64, Some(_)) => None,
    }
}

/// Decodes the state of a versionize-era body (the bytes before the CRC trailer), header
/// included, at data version `dv`. Bytes left after the state are an error: Firecracker reads
/// the CRC right after the state.
///
/// # Errors
/// Position, field path and reason of the first failure.
pub fn decode_body(body: &[u8], dv: u16) -> Result<MicrovmState, DecodeFailure> {
    let mut r = wire::Reader::new(body, 10);
    decode_at(&mut r, dv)
}

/// Decodes a bare state payload (no header) at data version `dv`; offsets are payload
/// offsets. Used by fuzzing.
///
/// # Errors
/// As [`decode_body`].
pub fn decode_payload(payload: &[u8], dv: u16) -> Result<MicrovmState, DecodeFailure> {
    let mut r = wire::Reader::new(payload, 0);
    decode_at(&mut r, dv)
}

fn decode_at(r: &mut wire::Reader<'_>, dv: u16) -> Result<MicrovmState, DecodeFailure> {
    if !(1..=LATEST).contains(&dv) {
        return Err(r.fail("data_version", format!("unknown data version {dv}")));
    }
    let s = state::decode(r, dv)?;
    if r.left() > 0 {
        return Err(r.fail(
            "(end of state)",
            format!(
                "{} bytes follow the state before the CRC trailer; Firecracker reads the CRC right after the state",
                r.left()
            ),
        ));
    }
    Ok(s)
}

/// The whole file: header (`magic`, data version), state, CRC64 trailer.
pub fn write(magic: u64, s: &MicrovmState) -> Vec<u8> {
    let mut body = magic.to_le_bytes().to_vec();
    body.extend_from_slice(&s.data_version.to_le_bytes());
    body.extend_from_slice(&state::encode(s));
    envelope::seal(body)
}

/// The header of a file snaptool writes for data version `dv` (x86_64).
pub fn header(dv: u16) -> Header {
    Header {
        arch: Arch::X86_64,
        era: Era::Versionize,
        magic: envelope::MAGIC_X86_64 | 1,
        version: None,
        data_version: Some(dv),
        payload_offset: 10,
    }
}

#[cfg(test)]
mod tests;
