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

/// serde `with` module for arrays longer than 32 elements, as `serde-big-array` encodes them: a
/// tuple of `N` elements (no length prefix in bincode). Used by the field-wise kvm-bindings
/// structures of format 1.0.0.
pub mod big_array {
    use serde::de::{Deserializer, Error, SeqAccess, Visitor};
    use serde::ser::{SerializeTuple, Serializer};
    use serde::{Deserialize, Serialize};
    use std::fmt;
    use std::marker::PhantomData;

    /// Serializes `a` as a tuple of `N` elements.
    ///
    /// # Errors
    /// Whatever the serializer reports.
    pub fn serialize<S: Serializer, T: Serialize, const N: usize>(
        a: &[T; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(N)?;
        for e in a {
            t.serialize_element(e)?;
        }
        t.end()
    }

    /// Deserializes a tuple of exactly `N` elements.
    ///
    /// # Errors
    /// Fewer than `N` elements, or an element that does not decode.
    pub fn deserialize<'de, D, T, const N: usize>(d: D) -> Result<[T; N], D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + Copy + Default,
    {
        struct V<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Copy + Default, const N: usize> Visitor<'de> for V<T, N> {
            type Value = [T; N];
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an array of {N} elements")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[T; N], A::Error> {
                let mut out = [T::default(); N];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| A::Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }
        d.deserialize_tuple(N, V::<T, N>(PhantomData))
    }
}
