//! Firecracker snapshot format 8.0.0 as written by v1.14.x (the second of the two layouts that
//! carry the number 8.0.0), frozen.
//!
//! Written by Firecracker v1.14.0 – v1.14.4 with bincode 2 (fixint, little-endian; byte-identical
//! to bincode 1). Firecracker v1.13.x writes the same version string with a different layout
//! (module `v8_13`); snaptool tells the two apart by strict decode. These types mirror upstream's
//! `MicrovmState` field for field, in declaration (= wire) order, for both architectures.
//! kvm-bindings structures are opaque byte blobs.
//!
//! This layout is independent of every other format module and must never change.

pub mod aarch64;
pub mod convert;
pub mod devices;
pub mod x86_64;

/// Snapshot format version string stored in the header.
pub const VERSION: &str = "8.0.0";
