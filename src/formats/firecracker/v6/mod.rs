//! Firecracker snapshot format 6.0.0 (v1.12.x), frozen.
//!
//! Written by Firecracker v1.12.0 and v1.12.1 with bincode 2 (fixint,
//! little-endian; byte-identical to bincode 1). These types mirror upstream's
//! `MicrovmState` field for field, in declaration (= wire) order, for both
//! architectures. kvm-bindings structures are opaque byte blobs.
//!
//! This layout is independent of every other format module and must never
//! change.

pub mod aarch64;
pub mod devices;
pub mod x86_64;

/// Snapshot format version string stored in the header.
pub const VERSION: &str = "6.0.0";
pub mod convert;
