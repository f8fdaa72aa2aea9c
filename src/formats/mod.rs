//! Snapshot formats: one module per format family, one frozen submodule per shipped layout.

pub mod arcbox;
pub mod firecracker;
pub mod qemu;
pub mod squib;
pub mod veridian;
