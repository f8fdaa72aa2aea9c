//! snaptool: inspect, verify, compare and convert virtual-machine snapshot files.
//!
//! The crate is format-first. [`envelope`] recognises a state file from its bytes (magic, era,
//! version, CRC64); [`formats`] holds one frozen module per shipped layout with its reader and
//! writer; every layout converts to and from the neutral [`model`]. The tools ([`inspect`],
//! [`verify`]) work on the model only, and so does the KVM `runner`, which restores any
//! snapshot the library reads and resumes it, so a new reader makes every tool work for that format.

#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod codec;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub mod convert;
pub mod demo;
pub mod diff;
pub mod envelope;
pub mod formats;
pub mod hostcheck;
pub mod inspect;
pub mod kvm_abi;
pub mod memory;
pub mod model;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub mod runner;
pub mod verify;
