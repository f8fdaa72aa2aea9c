//! Firecracker snapshot format 4.0.0 (v1.10.1), and the same layout under the version string
//! "3.0.0" as written by v1.10.0, frozen.
//!
//! bincode 1.3.3 (fixint, little-endian). Against the 3.0.0 layout of v1.9.x, `NetState` gains
//! `rx_buffers_state` and the MMDS network stack limits become `NonZeroUsize` (same bytes, zero
//! refused). v1.10.0 shipped this change without a version bump; v1.10.1 renumbered it to 4.0.0
//! without any other change. A file keeps the version string it was written with, and only the
//! release that writes that string reads it (v1.10.0 for "3.0.0", v1.10.1 for "4.0.0").
//!
//! This layout must never change.

pub mod aarch64;
pub mod convert;
pub mod devices;
pub mod x86_64;

/// Snapshot format version string stored in the header by v1.10.1.
pub const VERSION: &str = "4.0.0";

/// Version string v1.10.0 stores for this same layout.
pub const VERSION_V1_10_0: &str = "3.0.0";
