//! Types of snapshot format 5.0.0 (v1.11.0) shared by x86_64 and aarch64: all byte-identical to
//! format 6.0.0's (top-level `memory_state` uses the same `GuestMemoryState`).

pub use crate::formats::firecracker::shared::v1_12::devices::*;
