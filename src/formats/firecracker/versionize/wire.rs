//! The versionize wire primitives, bounded: every read is checked against the bytes left and
//! every length against both the bytes left and the `versionize` crate's own caps.
//!
//! ```text
//! u8 … u64, usize   fixed width, little-endian (bincode 1 fixint)
//! bool              1 byte, 0 or 1
//! Option<T>         u8 tag (0 = None, 1 = Some) then T
//! String            u64 length (≤ 16,384) then UTF-8 bytes
//! Vec<T>            u64 length (≤ 10,485,760 / size_of::<T>()) then the elements
//! enum              u32 variant index (declaration order) then the variant's fields
//! [T; N], structs   the elements / fields in order, nothing between them
//! ```

use super::super::DecodeFailure;

/// Longest string the `versionize` crate reads or writes.
pub const MAX_STRING_LEN: usize = 16_384;
/// The `versionize` crate's cap on a vector's size in memory.
pub const MAX_VEC_SIZE: usize = 10_485_760;

/// A bounded reader over a state payload; offsets it reports are file offsets.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes` (the body before the CRC trailer) starting at `pos`.
    pub fn new(bytes: &'a [u8], pos: usize) -> Self {
        Reader { bytes, pos }
    }

    /// Current file offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left before the trailer.
    pub fn left(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// An error at the current offset.
    pub fn fail(&self, path: &str, reason: impl Into<String>) -> DecodeFailure {
        DecodeFailure {
            offset: Some(self.pos),
            path: Some(path.to_string()),
            reason: reason.into(),
        }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, path: &str) -> Result<&'a [u8], DecodeFailure> {
        if n > self.left() {
            return Err(self.fail(
                path,
                format!(
                    "needs {n} bytes at offset 0x{:x}, only {} left before the CRC trailer",
                    self.pos,
                    self.left()
                ),
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A fixed-size array.
    pub fn array<const N: usize>(&mut self, path: &str) -> Result<[u8; N], DecodeFailure> {
        let s = self.take(N, path)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// `u8`.
    pub fn u8(&mut self, path: &str) -> Result<u8, DecodeFailure> {
        Ok(self.array::<1>(path)?[0])
    }

    /// `u32` LE.
    pub fn u32(&mut self, path: &str) -> Result<u32, DecodeFailure> {
        Ok(u32::from_le_bytes(self.array(path)?))
    }

    /// `u64` LE.
    pub fn u64(&mut self, path: &str) -> Result<u64, DecodeFailure> {
        Ok(u64::from_le_bytes(self.array(path)?))
    }

    /// `bool`: one byte, 0 or 1 (bincode refuses anything else).
    pub fn bool(&mut self, path: &str) -> Result<bool, DecodeFailure> {
        let at = self.pos;
        match self.u8(path)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(DecodeFailure {
                offset: Some(at),
                path: Some(path.into()),
                reason: format!("expected a bool (0 or 1), found {v}"),
            }),
        }
    }

    /// The tag of an `Option`: `true` for `Some`.
    pub fn option(&mut self, path: &str) -> Result<bool, DecodeFailure> {
        let at = self.pos;
        match self.u8(path)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(DecodeFailure {
                offset: Some(at),
                path: Some(path.into()),
                reason: format!("expected an Option tag (0 or 1), found {v}"),
            }),
        }
    }

    /// An enum variant index below `count`.
    pub fn variant(&mut self, path: &str, count: u32) -> Result<u32, DecodeFailure> {
        let at = self.pos;
        let v = self.u32(path)?;
        if v >= count {
            return Err(DecodeFailure {
                offset: Some(at),
                path: Some(path.into()),
                reason: format!("variant index {v}, the type has {count} variants"),
            });
        }
        Ok(v)
    }

    /// A vector length: at most the crate's cap for elements of `mem_size` bytes in memory,
    /// and at most what the bytes left can hold at `wire_min` bytes per element.
    pub fn len(
        &mut self,
        path: &str,
        mem_size: usize,
        wire_min: usize,
    ) -> Result<usize, DecodeFailure> {
        let at = self.pos;
        let n = self.u64(path)?;
        let cap = (MAX_VEC_SIZE / mem_size.max(1)) as u64;
        let fail = |reason: String| DecodeFailure {
            offset: Some(at),
            path: Some(path.into()),
            reason,
        };
        if n > cap {
            return Err(fail(format!(
                "vector length {n} exceeds the versionize cap of {cap} elements"
            )));
        }
        let need = n.saturating_mul(wire_min.max(1) as u64);
        if need > self.left() as u64 {
            return Err(fail(format!(
                "vector length {n} needs at least {need} bytes, only {} left before the CRC trailer",
                self.left()
            )));
        }
        Ok(n as usize)
    }

    /// A `String`.
    pub fn string(&mut self, path: &str) -> Result<String, DecodeFailure> {
        let at = self.pos;
        let n = self.u64(path)?;
        if n > MAX_STRING_LEN as u64 {
            return Err(DecodeFailure {
                offset: Some(at),
                path: Some(path.into()),
                reason: format!("string length {n} exceeds the versionize cap of {MAX_STRING_LEN}"),
            });
        }
        let raw = self.take(n as usize, path)?;
        String::from_utf8(raw.to_vec()).map_err(|e| DecodeFailure {
            offset: Some(at + 8),
            path: Some(path.into()),
            reason: format!("string is not UTF-8: {e}"),
        })
    }

    /// An `Option<String>`.
    pub fn opt_string(&mut self, path: &str) -> Result<Option<String>, DecodeFailure> {
        match self.option(path)? {
            true => self.string(path).map(Some),
            false => Ok(None),
        }
    }
}

/// Appends versionize encodings to a byte vector.
#[derive(Default)]
pub struct Writer {
    /// The bytes written so far.
    pub out: Vec<u8>,
}

impl Writer {
    /// Raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    /// `u8`.
    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    /// `u16` LE.
    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }

    /// `u32` LE.
    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }

    /// `u64` LE.
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    /// `bool`.
    pub fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }

    /// A vector or string length.
    pub fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }

    /// A `String`.
    pub fn string(&mut self, s: &str) {
        self.len(s.len());
        self.bytes(s.as_bytes());
    }

    /// An `Option<String>`.
    pub fn opt_string(&mut self, s: &Option<String>) {
        match s {
            Some(s) => {
                self.u8(1);
                self.string(s);
            }
            None => self.u8(0),
        }
    }
}
