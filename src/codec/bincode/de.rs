//! Deserialization from the bincode wire format (see the parent module docs).

use serde::Deserialize;
use serde::de::value::U32Deserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::Error;

/// Upper bound reported by `SeqAccess::size_hint` / `MapAccess::size_hint`,
/// which keeps serde's up-front preallocation small on hostile counts.
const MAX_SIZE_HINT: usize = 4096;

/// Deserializes a `T` from the start of `input`.
///
/// Returns the value and the number of bytes consumed; trailing bytes are
/// left to the caller.
///
/// # Errors
///
/// Fails on truncated, malformed or oversized input (see [`Error`]).
pub fn from_slice<'de, T: Deserialize<'de>>(input: &'de [u8]) -> Result<(T, usize), Error> {
    let mut de = Deserializer::new(input);
    let value = T::deserialize(&mut de)?;
    Ok((value, de.offset()))
}

/// A serde deserializer reading bincode-encoded bytes from a slice.
///
/// Use it through `&mut Deserializer` (for example wrapped by
/// `serde_path_to_error::deserialize(&mut de)`); [`Deserializer::offset`]
/// then tells how many bytes were consumed.
#[derive(Debug)]
pub struct Deserializer<'de> {
    input: &'de [u8],
    pos: usize,
}

impl<'de> Deserializer<'de> {
    /// Creates a deserializer reading from the start of `input`.
    pub fn new(input: &'de [u8]) -> Self {
        Self { input, pos: 0 }
    }

    /// Creates a deserializer over `input` that starts reading at `offset`, so that every
    /// offset it reports is an offset into `input` (e.g. a whole file whose payload follows a
    /// header).
    pub fn starting_at(input: &'de [u8], offset: usize) -> Self {
        Self {
            input,
            pos: offset.min(input.len()),
        }
    }

    /// Returns the number of bytes consumed so far.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Returns the number of input bytes not consumed yet.
    pub fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    /// Consumes exactly `n` bytes.
    fn take(&mut self, n: usize) -> Result<&'de [u8], Error> {
        let input = self.input;
        let start = self.pos;
        let end = start.checked_add(n);
        match end.and_then(|end| input.get(start..end).map(|bytes| (end, bytes))) {
            Some((end, bytes)) => {
                self.pos = end;
                Ok(bytes)
            }
            None => Err(Error::UnexpectedEof {
                offset: start,
                needed: n,
                available: self.remaining(),
            }),
        }
    }

    /// Consumes exactly `N` bytes into an array.
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let start = self.pos;
        let bytes = self.take(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| Error::UnexpectedEof {
            offset: start,
            needed: N,
            available: bytes.len(),
        })
    }

    fn read_u8(&mut self) -> Result<u8, Error> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    fn read_u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a `u64` length/count prefix and checks it against the
    /// remaining input, so that no caller allocates from it unchecked.
    fn read_len(&mut self) -> Result<usize, Error> {
        let start = self.pos;
        let len = u64::from_le_bytes(self.array()?);
        let remaining = self.remaining();
        match usize::try_from(len) {
            Ok(n) if n <= remaining => Ok(n),
            _ => Err(Error::LengthTooLarge {
                offset: start,
                len,
                remaining,
            }),
        }
    }

    fn read_bytes(&mut self) -> Result<&'de [u8], Error> {
        let len = self.read_len()?;
        self.take(len)
    }

    fn read_str(&mut self) -> Result<&'de str, Error> {
        let len = self.read_len()?;
        let start = self.pos;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|e| Error::InvalidUtf8 {
            offset: start.saturating_add(e.valid_up_to()),
        })
    }

    fn read_bool(&mut self) -> Result<bool, Error> {
        let start = self.pos;
        match self.read_u8()? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(Error::InvalidBool {
                offset: start,
                value,
            }),
        }
    }

    /// Reads one UTF-8 encoded `char` (1 to 4 bytes, no length prefix).
    fn read_char(&mut self) -> Result<char, Error> {
        let start = self.pos;
        let invalid = || Error::InvalidChar { offset: start };
        let first = self.read_u8()?;
        let width = utf8_width(first).ok_or_else(invalid)?;
        let rest = self.take(width - 1)?;
        let mut buf = [first, 0, 0, 0];
        for (dst, src) in buf.iter_mut().skip(1).zip(rest) {
            *dst = *src;
        }
        let encoded = buf.get(..width).ok_or_else(invalid)?;
        let text = std::str::from_utf8(encoded).map_err(|_| invalid())?;
        text.chars().next().ok_or_else(invalid)
    }
}

/// Returns the length of a UTF-8 sequence from its first byte, or `None`
/// for bytes that cannot start a sequence.
fn utf8_width(first: u8) -> Option<usize> {
    match first {
        0x00..=0x7f => Some(1),
        0xc2..=0xdf => Some(2),
        0xe0..=0xef => Some(3),
        0xf0..=0xf4 => Some(4),
        _ => None,
    }
}

/// Attaches `offset` to a [`Error::Custom`] error that has none yet.
fn at<T>(result: Result<T, Error>, offset: usize) -> Result<T, Error> {
    result.map_err(|e| e.or_offset(offset))
}

macro_rules! deserialize_numbers {
    ($($method:ident => $visit:ident($ty:ty),)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let start = self.pos;
            let value = <$ty>::from_le_bytes(self.array()?);
            at(visitor.$visit(value), start)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(Error::Unsupported {
            what: "deserialize_any",
        })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(Error::Unsupported {
            what: "deserialize_ignored_any",
        })
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(Error::Unsupported {
            what: "deserialize_identifier",
        })
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        let value = self.read_bool()?;
        at(visitor.visit_bool(value), start)
    }

    deserialize_numbers! {
        deserialize_i8 => visit_i8(i8),
        deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32),
        deserialize_i64 => visit_i64(i64),
        deserialize_i128 => visit_i128(i128),
        deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64),
        deserialize_u128 => visit_u128(u128),
        deserialize_f32 => visit_f32(f32),
        deserialize_f64 => visit_f64(f64),
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        let value = self.read_char()?;
        at(visitor.visit_char(value), start)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        let value = self.read_str()?;
        at(visitor.visit_borrowed_str(value), start)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        let value = self.read_bytes()?;
        at(visitor.visit_borrowed_bytes(value), start)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        match self.read_u8()? {
            0 => at(visitor.visit_none(), start),
            1 => at(visitor.visit_some(self), start),
            value => Err(Error::InvalidOptionTag {
                offset: start,
                value,
            }),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        at(visitor.visit_unit(), start)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let start = self.pos;
        at(visitor.visit_newtype_struct(self), start)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        let len = self.read_len()?;
        at(
            visitor.visit_seq(Seq {
                de: self,
                left: len,
            }),
            start,
        )
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        at(
            visitor.visit_seq(Seq {
                de: self,
                left: len,
            }),
            start,
        )
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        let len = self.read_len()?;
        at(
            visitor.visit_map(Map {
                de: self,
                left: len,
            }),
            start,
        )
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // Fields are positional on the wire; handing them to the visitor as a map keyed by
        // their names lets wrappers such as serde_path_to_error report field paths by name.
        let start = self.pos;
        at(
            visitor.visit_map(Fields {
                de: self,
                fields,
                next: 0,
            }),
            start,
        )
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let start = self.pos;
        at(visitor.visit_enum(Enum { de: self }), start)
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

/// Gives access to a known number of consecutive values (seq elements,
/// tuple/struct fields, tuple/struct variant fields).
struct Seq<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Seq<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let start = self.de.pos;
        at(seed.deserialize(&mut *self.de), start).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left.min(MAX_SIZE_HINT))
    }
}

/// Gives access to a known number of key, value pairs.
struct Map<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    left: usize,
}

impl<'de> de::MapAccess<'de> for Map<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let start = self.de.pos;
        at(seed.deserialize(&mut *self.de), start).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let start = self.de.pos;
        at(seed.deserialize(&mut *self.de), start)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left.min(MAX_SIZE_HINT))
    }
}

/// Resolves an enum: a `u32` variant index, then the variant's payload.
struct Enum<'a, 'de> {
    de: &'a mut Deserializer<'de>,
}

impl<'de> de::EnumAccess<'de> for Enum<'_, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let start = self.de.pos;
        let index = self.de.read_u32()?;
        let index_de: U32Deserializer<Error> = index.into_deserializer();
        let value = at(seed.deserialize(index_de), start)?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for Enum<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        let start = self.de.pos;
        at(seed.deserialize(self.de), start)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        let start = self.de.pos;
        at(
            visitor.visit_seq(Seq {
                de: self.de,
                left: len,
            }),
            start,
        )
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.tuple_variant(fields.len(), visitor)
    }
}

/// A struct's fields, in wire order, presented as a map keyed by field name.
struct Fields<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    fields: &'static [&'static str],
    next: usize,
}

impl<'de> de::MapAccess<'de> for Fields<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(name) = self.fields.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        let key: de::value::StrDeserializer<'_, Error> = name.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let start = self.de.pos;
        at(seed.deserialize(&mut *self.de), start)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.fields.len() - self.next)
    }
}
