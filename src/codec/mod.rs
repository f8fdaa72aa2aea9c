//! Binary codecs used to read and write snapshot payloads.
//!
//! Snapshot formats encode their state with serde-driven binary encodings.
//! This module hosts the codecs snaptool implements itself so that it can
//! control every byte it reads and writes:
//!
//! - [`bincode`]: a serde `Serializer` / `Deserializer` pair that is
//!   byte-compatible with bincode 1.3.3's legacy configuration (fixed-width
//!   little-endian integers, `u64` length prefixes, `u32` enum variant
//!   indices). Firecracker vmstate files (formats 1.0.0 to 8.0.0) use it.
//!
//! The codecs treat their input as hostile: malformed, truncated or
//! oversized input yields an error carrying the byte offset of the problem,
//! never a panic or an unbounded allocation.

pub mod bincode;
