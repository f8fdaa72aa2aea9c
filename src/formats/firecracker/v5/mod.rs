//! Firecracker snapshot format 5.0.0 (v1.11.0), frozen.
//!
//! bincode 1.3.3 (fixint, little-endian). Against 4.0.0: region offsets are gone (implicit, the
//! running sum of sizes), the KVM capability modifiers move out of `VmState` into a top-level
//! `kvm_state`, `MMIODeviceInfo.irqs: Vec<u32>` becomes `irq: Option<NonZeroU32>` and the MMDS
//! network stack limits are dropped. Every device type is byte-identical to format 6.0.0's and
//! is imported from [`super::shared::v1_12`], as 6.0.0's are; 6.0.0 then moves the memory description into `VmState`
//! and widens the XSAVE area to `kvm_xsave2`.
//!
//! This layout must never change.

pub mod aarch64;
pub mod convert;
pub mod devices;
pub mod x86_64;

/// Snapshot format version string stored in the header.
pub const VERSION: &str = "5.0.0";
