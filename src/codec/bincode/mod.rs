//! A bincode-compatible serde codec (fixed-width integers, little-endian).
//!
//! The encoding is byte-identical to bincode 1.3.3's legacy configuration
//! (`bincode::serialize` / `bincode::deserialize`), which is also bincode 2's
//! `standard().with_fixed_int_encoding().with_little_endian()`. Firecracker
//! vmstate files (formats 1.0.0 to 8.0.0) are written in this encoding.
//!
//! # Wire rules
//!
//! | serde type                          | bytes                                          |
//! |-------------------------------------|------------------------------------------------|
//! | `bool`                              | 1 byte, `0` or `1` (anything else is an error) |
//! | `u8`..`u128`, `i8`..`i128`          | fixed width, little-endian                     |
//! | `f32`, `f64`                        | IEEE-754 bits, little-endian                   |
//! | `char`                              | its 1 to 4 UTF-8 bytes, no length prefix       |
//! | `str`, `bytes`, `byte_buf`          | `u64` length, then the bytes                   |
//! | `Option`                            | `u8` tag: `0` = `None`, `1` = `Some` + value   |
//! | unit, unit struct                   | nothing                                        |
//! | newtype struct                      | the inner value                                |
//! | tuple, tuple struct, struct         | the fields in order, no prefix, no names       |
//! | seq                                 | `u64` element count, then the elements         |
//! | map                                 | `u64` entry count, then key, value pairs       |
//! | enum                                | `u32` variant index, then the payload          |
//!
//! The format is not self-describing: `deserialize_any`,
//! `deserialize_ignored_any` and `deserialize_identifier` (outside enum
//! variant resolution) fail with [`Error::Unsupported`], so serde features
//! that rely on them (`#[serde(flatten)]`, untagged / internally tagged
//! enums) cannot be used with this codec.
//!
//! # Hostile input
//!
//! Decoding never panics and never reads past the input. Before anything is
//! allocated, a `str`/`bytes` length must not exceed the remaining input, and
//! a seq/map count must not exceed the remaining input either (every element
//! snaptool decodes occupies at least one byte). As a consequence, sequences
//! of zero-sized elements (e.g. `Vec<()>`) with a count larger than the
//! remaining input are refused with [`Error::LengthTooLarge`] even though
//! bincode would accept them. `SeqAccess::size_hint` / `MapAccess::size_hint`
//! are capped at 4096 so that serde's preallocation stays small.

mod de;
mod ser;

pub use de::{Deserializer, from_slice};
pub use ser::{Serializer, serialize_into, to_vec};

use std::fmt::Display;

/// Errors produced while encoding or decoding the bincode wire format.
///
/// Read-side variants carry `offset`, the byte offset into the input where
/// the problem was found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before a value was complete.
    #[error(
        "unexpected end of input at 0x{offset:x}: needed {needed} bytes, {available} available"
    )]
    UnexpectedEof {
        /// Offset where the incomplete read started.
        offset: usize,
        /// Number of bytes the read required.
        needed: usize,
        /// Number of bytes left in the input.
        available: usize,
    },
    /// A `bool` byte was neither 0 nor 1.
    #[error("invalid bool value 0x{value:02x} at 0x{offset:x}")]
    InvalidBool {
        /// Offset of the bool byte.
        offset: usize,
        /// The byte found.
        value: u8,
    },
    /// An `Option` tag byte was neither 0 nor 1.
    #[error("invalid option tag 0x{value:02x} at 0x{offset:x}")]
    InvalidOptionTag {
        /// Offset of the tag byte.
        offset: usize,
        /// The byte found.
        value: u8,
    },
    /// A string's bytes were not valid UTF-8.
    #[error("invalid utf-8 in string at 0x{offset:x}")]
    InvalidUtf8 {
        /// Offset of the first byte that is not valid UTF-8.
        offset: usize,
    },
    /// A `char` was not a valid UTF-8 encoded scalar value.
    #[error("invalid char encoding at 0x{offset:x}")]
    InvalidChar {
        /// Offset of the char's first byte.
        offset: usize,
    },
    /// A length or count prefix exceeds the remaining input.
    #[error("length {len} at 0x{offset:x} exceeds the {remaining} remaining input bytes")]
    LengthTooLarge {
        /// Offset of the `u64` length prefix.
        offset: usize,
        /// The length read.
        len: u64,
        /// Input bytes left after the length prefix.
        remaining: usize,
    },
    /// The requested serde operation needs a self-describing format.
    #[error("{what} is not supported by the bincode format")]
    Unsupported {
        /// The unsupported operation.
        what: &'static str,
    },
    /// A seq or map was serialized without a known length.
    #[error("sequence or map length must be known before serialization")]
    SeqLengthUnknown,
    /// An error raised by a `Serialize` / `Deserialize` implementation or a
    /// serde visitor (wrong variant index, failed validation, ...).
    ///
    /// The deserializer fills in `offset` (the start of the innermost value,
    /// seq element, map entry or enum tag whose decoding raised the error)
    /// when the error passes through it. Errors raised at the top level after
    /// the outermost value was read, and all serialization errors, keep
    /// `None`.
    #[error("{}{}", .message, offset_suffix(.offset))]
    Custom {
        /// Offset of the value being decoded, when known.
        offset: Option<usize>,
        /// The error message.
        message: String,
    },
}

impl Error {
    /// Returns the input byte offset the error refers to, if any.
    pub fn offset(&self) -> Option<usize> {
        match self {
            Self::UnexpectedEof { offset, .. }
            | Self::InvalidBool { offset, .. }
            | Self::InvalidOptionTag { offset, .. }
            | Self::InvalidUtf8 { offset }
            | Self::InvalidChar { offset }
            | Self::LengthTooLarge { offset, .. } => Some(*offset),
            Self::Custom { offset, .. } => *offset,
            Self::Unsupported { .. } | Self::SeqLengthUnknown => None,
        }
    }

    /// Sets the offset of a [`Error::Custom`] error that has none yet.
    fn or_offset(self, at: usize) -> Self {
        match self {
            Self::Custom {
                offset: None,
                message,
            } => Self::Custom {
                offset: Some(at),
                message,
            },
            other => other,
        }
    }

    fn custom_message(msg: impl Display) -> Self {
        Self::Custom {
            offset: None,
            message: msg.to_string(),
        }
    }
}

/// Formats the optional offset suffix of [`Error::Custom`].
fn offset_suffix(offset: &Option<usize>) -> String {
    match offset {
        Some(offset) => format!(" at 0x{offset:x}"),
        None => String::new(),
    }
}

impl serde::de::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Self::custom_message(msg)
    }
}

impl serde::ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Self::custom_message(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Serialize};
    use std::fmt::Debug;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum E {
        A,
        B(u32),
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Header {
        magic: u64,
        version: String,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Kind {
        Unit,
        Tuple(u8, u16),
        Struct { x: i32, y: Option<bool> },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Inner(bool, Vec<u16>);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Nested {
        id: u32,
        name: String,
        mac: [u8; 6],
        pair: (u8, i64),
        maybe: Option<u16>,
        list: Vec<Inner>,
        kinds: Vec<Kind>,
        inner: Option<Inner>,
        ch: char,
        big: u128,
        ratio: f64,
        tail: E,
    }

    fn sample() -> Nested {
        let y = Some(false);
        Nested {
            id: 0xdead_beef,
            name: "vcpu-0".to_owned(),
            mac: [0x06, 0x00, 0xac, 0x10, 0x00, 0x02],
            pair: (7, -3),
            maybe: Some(0x1234),
            list: vec![Inner(true, vec![1, 2, 3]), Inner(false, vec![])],
            kinds: vec![Kind::Unit, Kind::Tuple(1, 2), Kind::Struct { x: -1, y }],
            inner: None,
            ch: 'é',
            big: u128::MAX - 1,
            ratio: 0.5,
            tail: E::B(9),
        }
    }

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
        let bytes = to_vec(value).expect("serialize");
        let (back, used) = from_slice::<T>(&bytes).expect("deserialize");
        assert_eq!(&back, value);
        assert_eq!(used, bytes.len());
    }

    /// Decodes `input` as `T`, expecting failure; returns the error's Debug form.
    fn err_of<T: DeserializeOwned + Debug>(input: &[u8]) -> String {
        format!("{:?}", from_slice::<T>(input).unwrap_err())
    }

    #[test]
    fn vec_u16_bytes() {
        let expected = [
            0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // element count = 2 (u64)
            0x01, 0x00, // [0] = 1 (u16)
            0x02, 0x00, // [1] = 2 (u16)
        ];
        assert_eq!(to_vec(&vec![1u16, 2]).unwrap(), expected);
        assert_eq!(from_slice::<Vec<u16>>(&expected).unwrap(), (vec![1, 2], 12));
    }

    #[test]
    fn enum_bytes() {
        let b5 = [
            0x01, 0x00, 0x00, 0x00, // variant index 1 = B (u32)
            0x05, 0x00, 0x00, 0x00, // B.0 = 5 (u32)
        ];
        assert_eq!(to_vec(&E::B(5)).unwrap(), b5);
        assert_eq!(from_slice::<E>(&b5).unwrap(), (E::B(5), 8));
        let a = [0x00, 0x00, 0x00, 0x00]; // variant index 0 = A (u32), no payload
        assert_eq!(to_vec(&E::A).unwrap(), a);
        assert_eq!(from_slice::<E>(&a).unwrap(), (E::A, 4));
    }

    #[test]
    fn option_bytes() {
        let some = [
            0x01, // tag 1 = Some
            0x07, 0x00, 0x00, 0x00, // value = 7 (u32)
        ];
        assert_eq!(to_vec(&Some(7u32)).unwrap(), some);
        assert_eq!(from_slice::<Option<u32>>(&some).unwrap(), (Some(7), 5));
        let none = [0x00]; // tag 0 = None
        assert_eq!(to_vec(&None::<u32>).unwrap(), none);
        assert_eq!(from_slice::<Option<u32>>(&none).unwrap(), (None, 1));
    }

    #[test]
    fn header_bytes() {
        let version = "6.0.0".to_owned();
        let header = Header {
            magic: 0x0710_1984_8664_0000,
            version,
        };
        let expected = [
            0x00, 0x00, 0x64, 0x86, 0x84, 0x19, 0x10, 0x07, // magic (u64)
            0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // version length = 5 (u64)
            0x36, 0x2e, 0x30, 0x2e, 0x30, // version = "6.0.0"
        ];
        assert_eq!(to_vec(&header).unwrap(), expected);
        assert_eq!(from_slice::<Header>(&expected).unwrap(), (header, 21));
    }

    #[test]
    fn scalar_bytes() {
        let expected = [
            0x01, // true (bool)
            0xfe, 0xff, // -2 (i16)
            0xc3, 0xa9, // 'é' (char, UTF-8, no prefix)
            0x00, 0x00, 0x80, 0x3f, // 1.0 (f32 bits)
        ];
        assert_eq!(to_vec(&(true, -2i16, 'é', 1.0f32)).unwrap(), expected);
    }

    #[test]
    fn round_trips() {
        round_trip(&sample());
        round_trip(&Kind::Struct {
            x: i32::MIN,
            y: None,
        });
        round_trip(&(u64::MAX, i128::MIN, '\u{10ffff}', String::new()));
        let map = [(1u8, "a".to_owned()), (2, "b".to_owned())];
        round_trip(&std::collections::BTreeMap::from(map));
    }

    #[test]
    fn append_borrow_and_trailing_bytes() {
        let mut out = vec![0xaa];
        serialize_into(&mut out, "hi").unwrap();
        assert_eq!(out, [0xaa, 2, 0, 0, 0, 0, 0, 0, 0, b'h', b'i']);
        out.push(0xff); // trailing byte, not consumed
        let (s, used) = from_slice::<&str>(&out[1..]).unwrap();
        assert_eq!((s, used), ("hi", 10));
    }

    #[test]
    fn every_truncation_errors() {
        let bytes = to_vec(&sample()).unwrap();
        for cut in 0..bytes.len() {
            let err = from_slice::<Nested>(&bytes[..cut]).unwrap_err();
            // Bytes left in the input when the error was detected.
            let left = match err {
                Error::UnexpectedEof { available, .. } => available,
                Error::LengthTooLarge { remaining, .. } => remaining + 8,
                ref other => panic!("cut {cut}: unexpected error {other:?}"),
            };
            assert_eq!(err.offset().map(|o| o + left), Some(cut), "{err:?}");
        }
    }

    #[test]
    fn invalid_bool() {
        let input = [
            0x2a, 0x00, 0x00, 0x00, // .0 = 42 (u32)
            0x02, // .1 (bool) = 2: invalid
        ];
        let err = from_slice::<(u32, bool)>(&input).unwrap_err();
        assert_eq!(format!("{err:?}"), "InvalidBool { offset: 4, value: 2 }");
        assert_eq!(err.to_string(), "invalid bool value 0x02 at 0x4");
    }

    #[test]
    fn invalid_option_tag() {
        let input = [
            0x01, 0x00, // .0 = 1 (u16)
            0x05, // .1 option tag = 5: invalid
            0x09, // would-be payload (u8)
        ];
        let expected = "InvalidOptionTag { offset: 2, value: 5 }";
        assert_eq!(err_of::<(u16, Option<u8>)>(&input), expected);
    }

    #[test]
    fn huge_lengths() {
        let seq = [
            0x07, // .0 = 7 (u8)
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // .1 count = u64::MAX
            0x01, 0x02, // two bytes of would-be elements
        ];
        let err = from_slice::<(u8, Vec<u64>)>(&seq).unwrap_err();
        assert_eq!(err.offset(), Some(1));
        let expected = format!(
            "LengthTooLarge {{ offset: 1, len: {}, remaining: 2 }}",
            u64::MAX
        );
        assert_eq!(format!("{err:?}"), expected);
        let string = [
            0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // length = 100 (u64)
            0x61, 0x62, 0x63, // only 3 bytes follow
        ];
        let expected = "LengthTooLarge { offset: 0, len: 100, remaining: 3 }";
        assert_eq!(err_of::<String>(&string), expected);
    }

    #[test]
    fn zero_sized_elements_are_refused() {
        let count = 2u64.to_le_bytes(); // count = 2 (u64), no element bytes follow
        let expected = "LengthTooLarge { offset: 0, len: 2, remaining: 0 }";
        assert_eq!(err_of::<Vec<()>>(&count), expected);
    }

    #[test]
    fn invalid_utf8() {
        let input = [
            0x00, // .0 = 0 (u8)
            0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // .1 length = 3 (u64)
            0x61, 0xff, 0x62, // .1 bytes: 'a', invalid 0xff, 'b'
        ];
        assert_eq!(err_of::<(u8, String)>(&input), "InvalidUtf8 { offset: 10 }");
    }

    #[test]
    fn invalid_char() {
        let lone = [0xff]; // not a UTF-8 leading byte
        assert_eq!(err_of::<char>(&lone), "InvalidChar { offset: 0 }");
        let surrogate = [0xed, 0xa0, 0x80]; // U+D800: surrogates are not chars
        assert_eq!(err_of::<char>(&surrogate), "InvalidChar { offset: 0 }");
    }

    #[test]
    fn bad_variant_index_gets_offset() {
        let input = [
            0x00, // .0 = 0 (u8)
            0x09, 0x00, 0x00, 0x00, // .1 variant index = 9: E has 2 variants
        ];
        let err = from_slice::<(u8, E)>(&input).unwrap_err();
        assert!(matches!(err, Error::Custom { .. }), "{err:?}");
        assert_eq!(err.offset(), Some(1));
        assert!(err.to_string().ends_with(" at 0x1"), "{err}");
    }

    #[test]
    fn not_self_describing() {
        let err = from_slice::<serde::de::IgnoredAny>(&[0]).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    }

    struct Filtered;

    impl Serialize for Filtered {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq([1u8, 2, 3].iter().filter(|b| **b > 1))
        }
    }

    #[test]
    fn unknown_seq_length() {
        let mut out = vec![0xaa];
        let err = serialize_into(&mut out, &Filtered).unwrap_err();
        assert!(matches!(err, Error::SeqLengthUnknown), "{err:?}");
        assert_eq!(out, [0xaa]);
    }

    /// Deserializes a seq and reports the `size_hint` it was offered.
    struct Hint(Option<usize>);

    impl<'de> Deserialize<'de> for Hint {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Hint;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a seq")
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Hint, A::Error> {
                    Ok(Hint(seq.size_hint()))
                }
            }
            d.deserialize_seq(V)
        }
    }

    #[test]
    fn size_hint_is_capped() {
        let mut input = 5000u64.to_le_bytes().to_vec(); // count = 5000 (u64)
        input.resize(8 + 5000, 0); // 5000 one-byte elements
        assert_eq!(from_slice::<Hint>(&input).unwrap().0.0, Some(4096));
        let small = [
            0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // count = 3 (u64)
            0x01, 0x02, 0x03, // elements
        ];
        assert_eq!(from_slice::<Hint>(&small).unwrap().0.0, Some(3));
    }
}
