//! Firecracker snapshot format 3.0.0 as written by v1.9.0 and v1.9.1, frozen.
//!
//! bincode 1.3.3 (fixint, little-endian). On x86_64 the layout is byte-identical to format
//! 2.0.0 (only the header's version string differs), so every x86_64 type is re-exported from
//! [`super::v2`]. On aarch64 the state gains `acpi_dev_state` (VMGenID through the device tree).
//!
//! Firecracker v1.10.0 also writes the version string "3.0.0", but for a different layout (the
//! one of format 4.0.0, [`super::v4`]); snaptool tells the two apart by which one decodes the
//! payload exactly.
//!
//! This layout must never change.

pub mod aarch64;
pub mod convert;
pub mod devices;
pub mod x86_64;

/// Snapshot format version string stored in the header.
pub const VERSION: &str = "3.0.0";
