//! Types of snapshot format 3.0.0 (v1.9.x) shared by x86_64 and aarch64: all byte-identical to
//! format 2.0.0's.

pub use super::super::v2::devices::*;
