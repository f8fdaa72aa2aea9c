//! Types as Firecracker v1.16 (format 10.0.0) declares them, shared by several layouts.

pub mod aarch64;
pub mod devices;
pub mod x86_64;
