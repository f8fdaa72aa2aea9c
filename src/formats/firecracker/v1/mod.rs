//! Firecracker snapshot format 1.0.0 (v1.7.0), frozen.
//!
//! Written by Firecracker v1.7.0 with bincode 1.3.3 (fixint, little-endian), the first
//! serde-era layout. These types mirror upstream's `MicrovmState` field for field, in
//! declaration (= wire) order, for both architectures. Unlike every later layout, kvm-bindings
//! structures are serialized field by field (Firecracker's kvm-bindings fork v0.7.0-2 derived
//! serde on them): see [`kvm`]. Guest memory is described by a top-level `memory_state` whose
//! regions carry an explicit file `offset`, and the KVM capability modifiers live in `VmState`.
//!
//! This layout is independent of every other format module and must never change; types that
//! are byte-identical to format 6.0.0's are imported from [`super::shared::v1_12`].

pub mod aarch64;
pub mod convert;
pub mod devices;
pub mod kvm;
pub mod x86_64;

/// Snapshot format version string stored in the header.
pub const VERSION: &str = "1.0.0";
