//! Firecracker snapshot format 10.0.0 (v1.16.x), frozen.
//!
//! Written by Firecracker v1.16.0 and v1.16.1 with bitcode 0.6.9 (serde
//! API). These types mirror upstream's `MicrovmState` field for field, in
//! declaration (= wire) order, for both architectures. kvm-bindings
//! structures are opaque byte blobs.
//!
//! This layout is independent of every other format module and must never
//! change.

pub mod aarch64;
pub mod devices;
pub mod x86_64;

/// Snapshot format version string stored in the header.
pub const VERSION: &str = "10.0.0";
pub mod convert;
