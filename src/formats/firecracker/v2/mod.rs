//! Firecracker snapshot format 2.0.0 (v1.8.0), frozen.
//!
//! Written by Firecracker v1.8.0 with bincode 1.3.3 (fixint, little-endian). The first format
//! that stores kvm-bindings structures as opaque byte blobs (`u64` length + raw C structure); the
//! XSAVE area is a plain 4096-byte `kvm_xsave`. Guest memory regions carry an explicit file
//! `offset`, and the KVM capability modifiers live inside `VmState`. These types mirror
//! upstream's `MicrovmState` field for field, in declaration (= wire) order, for both
//! architectures.
//!
//! The x86_64 layout of format 3.0.0 (v1.9.x) is byte-identical to this one; see
//! [`super::v3`].
//!
//! This layout must never change. Types byte-identical to format 6.0.0's are imported from
//! [`super::shared::v1_12`].

pub mod aarch64;
pub mod convert;
pub mod devices;
pub mod x86_64;

/// Snapshot format version string stored in the header.
pub const VERSION: &str = "2.0.0";
