//! x86_64 `MicrovmState` of snapshot format 3.0.0 (Firecracker v1.9.x): byte-identical to
//! format 2.0.0's.

pub use super::super::v2::x86_64::*;
