//! snaptool: inspect, verify, compare and convert virtual-machine snapshot files.
//!
//! The crate is format-first. [`envelope`] recognises a state file from its bytes (magic, era,
//! version, CRC64); [`formats`] holds one frozen module per shipped layout with its reader and
//! writer; every layout converts to and from the neutral [`model`]. The tools ([`inspect`],
//! [`verify`]) work on the model only, and so does the KVM `runner`, which restores any
//! snapshot the library reads and resumes it, so a new reader makes every tool work for that format.

//!
//! Start with [`open`]: it recognises and reads any supported snapshot into a [`Loaded`] (the
//! model, the format, and memory the snapshot holds itself). [`convert_loaded`] writes it as
//! another format with a report; [`registry`] is the one place that names the formats;
//! `examples/vcpus.rs` is a whole program.

#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod codec;
pub mod convert;
#[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
pub mod demo;
pub mod diff;
pub mod edit;
pub mod envelope;
pub mod formats;
pub mod hostcheck;
pub mod inspect;
pub mod kvm_abi;
pub mod memory;
pub mod model;
pub mod outfile;
pub mod registry;
pub mod report;
#[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
pub mod runner;
pub mod verify;

pub use convert::{ConversionReport, ConvertError, Converted, convert_loaded};
pub use model::{Arch, Device, DeviceConfig, DeviceKind, Snapshot, Vcpu};
pub use registry::{Encoded, Loaded, Target as Format};

/// Opens a snapshot of any supported format: a state file (Firecracker in every layout, squib,
/// VeridianOS) or a snapshot directory (arcbox). The format is recognised from the bytes (or the
/// directory's files), never from the name.
///
/// ```
/// let snap = snaptool::open("fixtures/firecracker-1.16.1/counter-1vcpu/vmstate".as_ref())?;
/// assert_eq!(snap.format.id(), "firecracker-10.0.0");
/// assert_eq!(snap.model.vcpus.len(), 1);
/// // Write it as another release's layout, with a report of what moved.
/// let to = snaptool::registry::parse_target("firecracker@11.0.0").unwrap();
/// let done = snaptool::convert_loaded(&snap, to, None, false)?;
/// assert!(done.report.lossless);
/// # Ok::<(), snaptool::ConvertError>(())
/// ```
///
/// # Errors
/// When the path cannot be read or is no snapshot snaptool knows, naming the path.
pub fn open(path: &std::path::Path) -> Result<Loaded, ConvertError> {
    registry::load_path(path)
}
