//! Firecracker snapshot format 9.0.0 (v1.15.x), frozen.
//!
//! Written by Firecracker v1.15.0 and v1.15.1 with bitcode 0.6.9 (serde
//! API), the first bitcode-era format. These types mirror upstream's
//! `MicrovmState` field for field, in declaration (= wire) order, for both
//! architectures. kvm-bindings structures are opaque byte blobs.
//!
//! Types byte-identical to format 10.0.0's are imported from
//! [`super::shared::v1_16`] (bitcode encodes a struct column by column, so only types
//! whose whole nested tree is identical are shared). This layout must never
//! change.

pub mod aarch64;
pub mod convert;
pub mod devices;
pub mod x86_64;

/// Snapshot format version string stored in the header.
pub const VERSION: &str = "9.0.0";
