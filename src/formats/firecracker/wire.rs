//! Wire shapes shared by every Firecracker layout: how kvm-bindings structures and
//! `FamStructWrapper`s look to serde, and the bitcode-era `Snapshot` wrapper.

use serde::{Deserialize, Serialize};

/// A kvm-bindings C structure serialized as bytes (`serialize_bytes(as_bytes())`): a
/// length-prefixed raw copy of the structure, padding included.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Blob(pub Vec<u8>);

/// A `FamStructWrapper` whose entries are themselves kvm structures (`CpuId`, `Msrs`): the header
/// structure as a blob, then the entries, each a blob.
pub type FamBlob = (Blob, Vec<Blob>);

/// Firecracker's `Xsave` (`FamStructWrapper<kvm_xsave2>`): the 4104-byte header blob (`len` word +
/// 4 KiB XSAVE region), then the area beyond 4 KiB as 32-bit words.
pub type Xsave = (Blob, Vec<u32>);

/// The header every serde-era file starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotHdr {
    /// Architecture magic.
    pub magic: u64,
    /// Format version, `MAJOR.MINOR.PATCH`.
    pub version: String,
}

/// The bitcode-era file body: header and state encoded together as one bitcode value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot<S> {
    /// Header.
    pub header: SnapshotHdr,
    /// The state.
    pub data: S,
}
