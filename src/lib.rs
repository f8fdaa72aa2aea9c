//! snaptool: inspect, verify, compare and convert virtual-machine snapshot files.
//!
//! The crate is format-first. [`envelope`] recognises a state file from its bytes (magic, era,
//! version, CRC64); [`formats`] holds one frozen module per shipped layout with its reader and
//! writer; every layout converts to and from the neutral [`model`]. The tools ([`inspect`],
//! [`verify`]) work on the model only, so a new reader makes every tool work for that format.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod codec;
pub mod envelope;
pub mod formats;
pub mod inspect;
pub mod kvm_abi;
pub mod model;
pub mod verify;
