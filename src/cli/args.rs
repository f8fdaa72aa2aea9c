//! Command-line arguments.

use clap::{Parser, Subcommand};
use snaptool::memory;
use std::path::PathBuf;

/// Inspect, verify and convert virtual-machine snapshot files.
#[derive(Parser)]
#[command(name = "snaptool", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Show what a state file is and what it holds; with --mem, also the memory image's size,
    /// extents and data/zero/hole page counts (the state file may then be left out).
    Inspect {
        /// The state file (vmstate, VeridianOS or squib file) or arcbox snapshot directory.
        #[arg(required_unless_present = "mem")]
        vmstate: Option<PathBuf>,
        /// The guest memory file beside it (raw, sparse, zstd, lz4 or page list).
        #[arg(long)]
        mem: Option<PathBuf>,
        /// Page size for the memory image's page counts.
        #[arg(long, default_value_t = memory::DEFAULT_PAGE_SIZE)]
        page_size: u64,
        /// Print the whole model as JSON.
        #[arg(long)]
        json: bool,
        /// Do not check the CRC64 trailer (for damaged files).
        #[arg(long)]
        no_crc: bool,
    },
    /// Change named fields (the paths `diff` prints) and write the snapshot again in its own
    /// format, every other byte unchanged: `--set 'devices.block[rootfs].path_on_host=/new'`,
    /// `--set 'devices.net[eth0].host_dev_name=tap1'`, `--set 'vcpu[*].tsc_khz=host'`.
    Edit {
        /// The snapshot (state file or arcbox directory).
        input: PathBuf,
        /// The output.
        #[arg(short, long)]
        out: PathBuf,
        /// `PATH=VALUE`, repeatable.
        #[arg(long = "set", required = true)]
        sets: Vec<String>,
        /// Print the changes as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Convert a state file to another layout through the model (exit 2 when refused).
    Convert {
        /// The state file.
        input: PathBuf,
        /// The output state file.
        #[arg(short, long)]
        out: PathBuf,
        /// Target: `firecracker@1.14`, `firecracker@v1.14.4`, `firecracker@11.0.0`, `veridian`,
        /// `squib`, `arcbox` (`-o` then names a directory), ...
        #[arg(long)]
        to: String,
        /// The guest memory file beside the input (embedded by targets that carry memory).
        #[arg(long)]
        mem: Option<PathBuf>,
        /// Compress the memory an arcbox directory holds: `lz4` (memory.bin.lz4) or `none`.
        #[arg(long, value_parser = ["lz4", "none"])]
        compress: Option<String>,
        /// Write even when converting back would not give the input byte for byte.
        #[arg(long)]
        allow_lossy: bool,
        /// Print the conversion report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare two state files field by field through the model (exit 1 if they differ).
    Diff {
        /// The first state file.
        a: PathBuf,
        /// The second state file.
        b: PathBuf,
        /// Print the differences as JSON.
        #[arg(long)]
        json: bool,
        /// Also compare provenance (format, layout, releases).
        #[arg(long)]
        provenance: bool,
    },
    /// Write a state file as editable JSON (the neutral model, with its format and layout).
    /// Memory a VeridianOS file or arcbox directory holds is written beside it (`JSON.mem`).
    Decode {
        /// The state file or arcbox snapshot directory.
        vmstate: PathBuf,
        /// The JSON output.
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Write JSON made by `decode` back as a state file (byte-identical when unedited).
    /// VeridianOS and arcbox outputs take their memory from --mem, or from `JSON.mem` beside the
    /// JSON when it exists.
    Encode {
        /// The JSON input.
        json_file: PathBuf,
        /// The state file (for arcbox: the directory) to write.
        #[arg(short, long)]
        out: PathBuf,
        /// Write this layout instead of the one recorded in the JSON.
        #[arg(long)]
        to: Option<String>,
        /// Guest memory for a target that holds it (VeridianOS, arcbox).
        #[arg(long)]
        mem: Option<PathBuf>,
        /// Compress an arcbox directory's memory: `lz4` (memory.bin.lz4) or `none`.
        #[arg(long, value_parser = ["lz4", "none"])]
        compress: Option<String>,
    },
    /// Apply diff memory images (oldest first) onto a base image. Present pages of a diff are
    /// copied, zero-filled ones included; holes leave the base unchanged.
    Merge {
        /// The base (full) memory image.
        base: PathBuf,
        /// Diff images, oldest first.
        #[arg(required = true)]
        diffs: Vec<PathBuf>,
        /// Write the merged image here (the inputs are not modified).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Modify the base image itself instead.
        #[arg(long)]
        in_place: bool,
        /// Print a JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Compare two memory images page by page (exit 1 if they differ).
    Memdiff {
        /// The older image.
        a: PathBuf,
        /// The newer image.
        b: PathBuf,
        /// Also write a sparse diff image such that `merge A DIFF` gives B.
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Page size of the comparison.
        #[arg(long, default_value_t = memory::DEFAULT_PAGE_SIZE)]
        page_size: u64,
        /// Print a JSON report with every changed range.
        #[arg(long)]
        json: bool,
    },
    /// Copy a full memory image with every zero page left as a hole.
    Sparsify {
        /// The full image.
        input: PathBuf,
        /// The sparse output.
        #[arg(short, long)]
        out: PathBuf,
        /// Page size.
        #[arg(long, default_value_t = memory::DEFAULT_PAGE_SIZE)]
        page_size: u64,
        /// Print a JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Convert a memory image to another kind: raw (keeps holes), sparse (zero pages become
    /// holes), zstd (seekable), lz4 (arcbox memory.bin.lz4) or pages (page list).
    ConvertMem {
        /// The input image (any kind).
        input: PathBuf,
        /// The output image.
        #[arg(short, long)]
        out: PathBuf,
        /// raw, sparse, zstd, lz4 or pages.
        #[arg(long)]
        to: String,
        /// Page size (sparse, pages).
        #[arg(long, default_value_t = memory::DEFAULT_PAGE_SIZE)]
        page_size: u64,
        /// zstd compression level.
        #[arg(long, default_value_t = 3)]
        level: i32,
        /// Print a JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Check a state file and report every finding (exit 1 if any).
    Verify {
        /// The state file (vmstate).
        vmstate: PathBuf,
        /// The guest memory file beside it.
        #[arg(long)]
        mem: Option<PathBuf>,
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check on this host whether a snapshot will restore here: CPU vendor, CPUID features,
    /// TSC rate, XSAVE, MSRs, KVM capabilities, vCPU count and memory against this host's KVM
    /// (exit 1 with findings, 2 when the host cannot be checked, e.g. no /dev/kvm).
    #[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
    CheckHost {
        /// The state file or arcbox snapshot directory.
        vmstate: PathBuf,
        /// The guest memory file beside it (checked to cover the memory regions).
        #[arg(long)]
        mem: Option<PathBuf>,
        /// Print the report as JSON (`findings` as `verify --json` has them).
        #[arg(long)]
        json: bool,
    },
    /// Restore a snapshot into a KVM VM, resume it and print what the guest writes to COM1.
    #[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
    Restore {
        /// The state file (vmstate).
        vmstate: PathBuf,
        /// The guest memory file (for a diff snapshot: the merged memory). Not needed for a
        /// VeridianOS file, which embeds its pages.
        #[arg(long)]
        mem: Option<PathBuf>,
        /// Stop after the guest printed this many lines.
        #[arg(long)]
        lines: Option<usize>,
        /// Stop after this many seconds in any case.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
        /// Exit 1 unless the output starts with this file's content.
        #[arg(long)]
        expect: Option<PathBuf>,
        /// Print a JSON report (with the output) instead of the raw output.
        #[arg(long)]
        json: bool,
        /// Refuse (exit 1, before touching KVM) when `check-host` finds an error; by default
        /// its findings are printed as warnings and the restore goes on.
        #[arg(long)]
        refuse_host_mismatch: bool,
    },
    /// Boot a kernel (default: the built-in guest) in KVM and snapshot it mid-run.
    #[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
    Run {
        /// An x86_64 ELF kernel entered in 64-bit mode (default: the built-in guest).
        #[arg(long)]
        kernel: Option<PathBuf>,
        /// Guest memory in MiB (a multiple of 2, at most 1024).
        #[arg(long, default_value_t = 64)]
        mem_size: u64,
        /// vCPUs: vCPU 0 starts at the entry point, the others wait for INIT/SIPI.
        #[arg(long, default_value_t = 1)]
        vcpus: usize,
        /// Snapshot after the guest printed this many lines.
        #[arg(long, default_value_t = 10)]
        snapshot_after_lines: usize,
        /// Also take a diff snapshot (vmstate.diff, sparse mem.diff from the KVM dirty log) after
        /// this many more lines.
        #[arg(long)]
        diff_after_lines: Option<usize>,
        /// Directory for vmstate, mem and serial-before.log.
        #[arg(long)]
        out: PathBuf,
        /// Layout of the vmstate (`firecracker-10.0.0`, `firecracker@1.12`, `6.0.0`, ...).
        #[arg(long, default_value = "firecracker-10.0.0")]
        format: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
    },
    /// Boot the built-in guest, snapshot it, write every layout, restore each and check it.
    #[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
    Demo {
        /// Print the table as JSON.
        #[arg(long)]
        json: bool,
    },
}
