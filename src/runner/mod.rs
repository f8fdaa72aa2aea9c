//! The KVM runner: restores a snapshot from the neutral model and a memory file into a real KVM
//! VM, resumes it and captures what the guest prints on COM1.
//!
//! It takes the model, never a format's own types, so every format that converts to the model can
//! be run. Restore follows the order KVM needs: in-kernel irqchip and PIT, memory slots mapped
//! `MAP_PRIVATE` from the memory file (the guest's writes never reach the file), then per vCPU
//! TSC frequency → CPUID → MP state → regs → sregs → XSAVE → XCRs → debug regs → LAPIC → MSRs →
//! vCPU events, then PIT, clock, PIC master/slave, IOAPIC. State a snapshot lacks keeps KVM's
//! defaults and is listed in the report. This is the only module with `unsafe` code.

#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod boot;
mod capture;
mod devices;
mod exec;
mod restore;
mod state;
mod vm;

pub use devices::{Bus, COM1, PortEffect, Uart};
pub use vm::{Region, Vm};

use exec::run;
use restore::{check, map_memory, restore_platform, restore_vcpu};

use crate::formats::firecracker::WriteError;
use crate::model::*;
use kvm_ioctls::VcpuFd;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};
use thiserror::Error;
use vm_memory::MmapRegion;

/// snaptool's built-in guest (`guest/demo.S`): prints `step NNNNNN h=…` lines on COM1.
pub static BUILTIN_GUEST: &[u8] = include_bytes!("../../guest/demo.elf");

/// Page size the memory slots must be aligned to.
const PAGE: u64 = 4096;
/// More vCPUs than any snapshot snaptool reads can hold.
const MAX_VCPUS: usize = 254;

/// Why a snapshot could not be run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RunError {
    /// The snapshot cannot be run as it is (wrong arch, bad geometry, too many vCPUs, ...).
    #[error("refused: {0}")]
    Refused(String),
    /// A KVM call failed.
    #[error("{what}: {source}")]
    Kvm {
        /// The operation.
        what: String,
        /// KVM's error.
        source: kvm_ioctls::Error,
    },
    /// The memory file could not be opened or mapped.
    #[error("memory file {path}: {reason}")]
    Memory {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A bug in snaptool.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<WriteError> for RunError {
    fn from(e: WriteError) -> Self {
        RunError::Internal(e.to_string())
    }
}

fn kvm_err(what: impl Into<String>) -> impl FnOnce(kvm_ioctls::Error) -> RunError {
    let what = what.into();
    move |source| RunError::Kvm { what, source }
}

/// How long to run and when to stop.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stop after the guest printed this many lines (newlines) on COM1.
    pub lines: Option<usize>,
    /// Stop after this long in any case.
    pub timeout: Duration,
    /// Keep every byte printed before the vCPUs actually stopped (for snapshots), instead of
    /// cutting the output after the requested line.
    pub drain: bool,
}

/// Why the run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The requested number of lines was printed.
    Lines,
    /// The timeout expired with the guest still able to run.
    #[default]
    Timeout,
    /// The timeout expired with every vCPU halted and interrupts disabled: the guest can never
    /// run again.
    Halted,
    /// The guest reset the machine through the i8042 (how a Firecracker guest powers off).
    Reset,
    /// The guest asked for a power-off or reset through a system event.
    Shutdown,
    /// A vCPU triple-faulted (`KVM_EXIT_SHUTDOWN`).
    TripleFault,
    /// KVM could not enter the guest (invalid guest state), with the hardware's reason.
    FailEntry(String),
    /// A vCPU exit the runner does not handle, or a failed `KVM_RUN`.
    Error(String),
}

impl StopReason {
    /// Whether the guest died on its own (triple fault, failed entry, unhandled exit): a run
    /// that ends like this failed whatever was asked.
    pub fn is_crash(&self) -> bool {
        matches!(
            self,
            StopReason::TripleFault | StopReason::FailEntry(_) | StopReason::Error(_)
        )
    }

    /// Whether the guest can no longer print anything (it stopped on its own, crashed or halted
    /// for good).
    pub fn is_final(&self) -> bool {
        !matches!(self, StopReason::Lines | StopReason::Timeout)
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Lines => f.write_str("printed the lines asked for"),
            StopReason::Timeout => f.write_str("timeout"),
            StopReason::Halted => f.write_str("halted with interrupts disabled"),
            StopReason::Reset => f.write_str("reset through the i8042"),
            StopReason::Shutdown => f.write_str("shutdown system event"),
            StopReason::TripleFault => f.write_str("triple fault"),
            StopReason::FailEntry(r) => write!(f, "VM entry failed ({r})"),
            StopReason::Error(e) => write!(f, "vCPU error: {e}"),
        }
    }
}

/// Where a vCPU was when the run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VcpuAtStop {
    /// Instruction pointer.
    pub rip: u64,
    /// RFLAGS.IF: whether the vCPU accepts interrupts.
    pub interrupts_enabled: bool,
    /// KVM's MP state (`runnable`, `halted`, `uninitialized`, `init_received`, `sipi_received`,
    /// or the number).
    pub mp_state: String,
}

/// What happened during a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// Why it ended.
    pub stop: StopReason,
    /// Bytes captured on COM1 (cut after the requested line).
    pub serial_bytes: usize,
    /// Lines captured.
    pub lines: usize,
    /// The lines asked for, if any.
    pub lines_wanted: Option<usize>,
    /// Each vCPU's instruction pointer and state when the run ended (empty when it could not
    /// be read).
    pub vcpus_at_stop: Vec<VcpuAtStop>,
    /// Time from the start of the restore until the vCPUs ran, in milliseconds.
    pub restore_ms: f64,
    /// Time from resuming until the first serial byte, in milliseconds.
    pub first_byte_ms: Option<f64>,
    /// State restored from the snapshot.
    pub restored: Vec<String>,
    /// State the snapshot lacks, left at KVM's defaults.
    pub defaults: Vec<String>,
    /// Problems that did not stop the run (e.g. an MSR KVM refused).
    pub warnings: Vec<String>,
    /// Devices in the snapshot the runner does not emulate.
    pub not_emulated: Vec<String>,
    /// Accesses to ports nothing emulates, by port (hex).
    pub unhandled_ports: BTreeMap<String, u64>,
    /// Accesses to MMIO nothing emulates.
    pub mmio_accesses: u64,
}

impl RunReport {
    /// Why the run failed, or `None` when it did what was asked: the guest printed the lines
    /// asked for, or (without a line count) it neither crashed nor failed to enter. The text names
    /// the stop reason, vCPU 0's last rip and the lines seen.
    pub fn failure(&self) -> Option<String> {
        let short = self.lines_wanted.is_some_and(|n| self.lines < n);
        if !(short || self.stop.is_crash()) {
            return None;
        }
        let rip = match self.vcpus_at_stop.first() {
            Some(v) => format!("last rip 0x{:x}", v.rip),
            None => "last rip unknown".to_string(),
        };
        let seen = match self.lines_wanted {
            Some(n) => format!("{} of {n} lines printed", self.lines),
            None => format!("{} lines printed", self.lines),
        };
        Some(format!("the guest stopped: {} ({rip}, {seen})", self.stop))
    }
}

/// Restores `snapshot` with guest memory from `mem`, resumes it, and streams every COM1 byte to
/// `out` until the options say stop.
///
/// # Errors
/// [`RunError::Refused`] for snapshots that cannot run here, [`RunError::Memory`] and
/// [`RunError::Kvm`] when the host refuses.
pub fn restore(
    snapshot: &Snapshot,
    mem: &Path,
    opts: &RunOptions,
    out: &mut dyn FnMut(&[u8]),
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    check(snapshot)?;
    let mut report = RunReport::default();
    let regions = map_memory(snapshot, mem)?;
    let vm = Vm::new(regions)?;
    let max = vm.kvm().get_max_vcpus().min(MAX_VCPUS);
    if snapshot.vcpus.len() > max {
        return Err(RunError::Refused(format!(
            "{} vCPUs; this host runs at most {max}",
            snapshot.vcpus.len()
        )));
    }
    let mut vcpus = Vec::new();
    for (i, v) in snapshot.vcpus.iter().enumerate() {
        let Vcpu::X86_64(v) = v else {
            return Err(RunError::Refused(
                "aarch64 vCPU in an x86_64 snapshot".into(),
            ));
        };
        let fd = vm.create_vcpu(i as u64)?;
        restore_vcpu(vm.fd(), &fd, i, v, &mut report)?;
        vcpus.push(fd);
    }
    restore_platform(vm.fd(), snapshot, &mut report)?;
    let mut bus = Bus::default();
    for d in &snapshot.devices {
        match (&d.kind, &d.uart, d.virtio.is_some()) {
            (DeviceKind::Serial, Some(u), _) => {
                bus.uart = Uart::restored(u);
                report.restored.push(format!("serial `{}` registers", d.id));
            }
            (_, _, true) => report
                .not_emulated
                .push(format!("{} `{}`", d.kind.name(), d.id)),
            _ => {}
        }
    }
    for fd in &vcpus {
        // Tells the guest's kvmclock that it was paused; fails harmlessly when the guest has no
        // paravirtual clock.
        let _ = fd.kvmclock_ctrl();
    }
    report.restore_ms = started.elapsed().as_secs_f64() * 1e3;
    let (bus, _) = run(vcpus, bus, opts, out, &mut report)?;
    report.unhandled_ports = bus
        .other_ports
        .iter()
        .map(|(p, n)| (format!("0x{p:x}"), *n))
        .collect();
    report.mmio_accesses = bus.mmio_accesses;
    drop(vm);
    Ok(report)
}

/// Checks that `elf` is a kernel the runner can boot and returns its entry point (the ELF
/// parsing of [`boot_and_snapshot`], without KVM).
///
/// # Errors
/// [`RunError::Refused`] naming what is wrong with the file.
pub fn kernel_entry(elf: &[u8]) -> Result<u64, RunError> {
    boot::parse_elf(elf).map(|(entry, _)| entry)
}

/// A snapshot the runner took of a VM it booted.
pub struct Taken {
    /// The state, as the neutral model (provenance: `snaptool-runner`).
    pub snapshot: Snapshot,
    /// Guest memory, as the memory file's bytes.
    pub memory: Vec<u8>,
    /// What the guest printed before the snapshot.
    pub serial: Vec<u8>,
    /// How the run went.
    pub report: RunReport,
    /// A diff snapshot taken later, when asked for.
    pub diff: Option<TakenDiff>,
}

/// A diff snapshot: the state at a later point and the pages written since the full snapshot.
pub struct TakenDiff {
    /// The state at the diff point.
    pub snapshot: Snapshot,
    /// Guest memory at the diff point (only `dirty_pages` go into the diff file).
    pub memory: Vec<u8>,
    /// Indices of the 4 KiB pages the guest wrote since the full snapshot (KVM dirty log).
    pub dirty_pages: Vec<u64>,
    /// What the guest printed from the start up to the diff snapshot.
    pub serial: Vec<u8>,
}

/// Writes a sparse diff memory file of `len` bytes: only `pages` (4 KiB page indices) of
/// `memory` are written, every other page is a hole.
///
/// # Errors
/// I/O errors.
pub fn write_sparse(file: &File, memory: &[u8], pages: &[u64], len: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.set_len(len)?;
    let mut i = 0;
    while i < pages.len() {
        let mut j = i + 1;
        while j < pages.len() && pages[j] == pages[j - 1] + 1 {
            j += 1;
        }
        let start = (pages[i] * PAGE) as usize;
        let end = ((pages[j - 1] + 1) * PAGE) as usize;
        let chunk = memory.get(start..end.min(memory.len())).unwrap_or_default();
        file.write_all_at(chunk, start as u64)?;
        i = j;
    }
    Ok(())
}

/// Boots the ELF `kernel` with `mem_size` bytes of RAM and `vcpus` vCPUs (vCPU 0 at the entry
/// point, the others waiting for INIT/SIPI as on real hardware), runs it until the options
/// say stop, pauses it and snapshots it.
///
/// # Errors
/// When the kernel cannot be loaded, KVM fails, or the guest stops on its own.
pub fn boot_and_snapshot(
    kernel: &[u8],
    kernel_name: &str,
    mem_size: u64,
    vcpus: usize,
    opts: &RunOptions,
    diff_lines: Option<usize>,
) -> Result<Taken, RunError> {
    if !(1..=MAX_VCPUS).contains(&vcpus) {
        return Err(RunError::Refused(format!(
            "{vcpus} vCPUs; expected 1 to {MAX_VCPUS}"
        )));
    }
    if mem_size < (2 << 20) || mem_size % (2 << 20) != 0 || mem_size > (1 << 30) {
        return Err(RunError::Refused(format!(
            "memory size {mem_size} bytes; expected a multiple of 2 MiB from 2 MiB to 1 GiB"
        )));
    }
    let started = Instant::now();
    let mapping = MmapRegion::<()>::new(mem_size as usize)
        .map_err(|e| RunError::Internal(format!("allocating guest memory: {e}")))?;
    let mut vm = Vm::new(vec![Region {
        guest_addr: 0,
        mapping,
    }])?;
    if diff_lines.is_some() {
        vm.enable_dirty_tracking()?;
    }
    let entry = boot::load(&vm, kernel)?;
    let snapshot = Snapshot {
        provenance: Provenance {
            format: "snaptool".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            layout: "snaptool-runner".into(),
            encoding: "in memory".into(),
            arch: Arch::X86_64,
            releases: Vec::new(),
        },
        vm: VmInfo {
            mem_size_mib: Some(mem_size >> 20),
            smt: Some(false),
            cpu_template: Some("None".into()),
            boot_source: Some(BootSource {
                kernel_image_path: kernel_name.into(),
                initrd_path: None,
                boot_args: None,
            }),
            huge_pages: Some("None".into()),
            ..Default::default()
        },
        memory: MemoryLayout {
            regions: vec![MemoryRegion {
                guest_addr: 0,
                size: mem_size,
                file_offset: 0,
                explicit_offset: false,
                kind: RegionKind::Dram,
                plugged: Vec::new(),
                read_only: false,
            }],
            page_size: PAGE,
        },
        vcpus: Vec::new(),
        platform: Platform::X86_64(Box::default()),
        devices: Vec::new(),
        extensions: Default::default(),
    };
    let mut fds = Vec::new();
    for id in 0..vcpus {
        let fd = vm.create_vcpu(id as u64)?;
        if id == 0 {
            boot::setup_vcpu(vm.kvm(), &fd, entry)?;
        } else {
            boot::setup_ap(vm.kvm(), &fd, id.min(255) as u8)?;
        }
        fds.push(fd);
    }
    let mut report = RunReport {
        restore_ms: started.elapsed().as_secs_f64() * 1e3,
        ..RunReport::default()
    };
    let mut serial = Vec::new();
    let opts = RunOptions {
        drain: true,
        ..opts.clone()
    };
    let (bus, mut fds) = run(
        fds,
        Bus::default(),
        &opts,
        &mut |b| serial.extend_from_slice(b),
        &mut report,
    )?;
    ensure_running(&report)?;
    let (snapshot, memory) = capture_all(&vm, &mut fds, &bus, snapshot)?;
    let diff = match diff_lines {
        None => None,
        Some(n) => {
            // Clears the log: from here on it holds the pages written after the full snapshot.
            vm.get_dirty_pages()?;
            let mut dserial = serial.clone();
            let dopts = RunOptions {
                lines: Some(n),
                ..opts.clone()
            };
            let mut dreport = report.clone();
            dreport.lines = 0;
            let (bus, mut fds2) = run(
                fds,
                bus,
                &dopts,
                &mut |b| dserial.extend_from_slice(b),
                &mut dreport,
            )?;
            ensure_running(&dreport)?;
            let (dsnap, dmem) = capture_all(&vm, &mut fds2, &bus, snapshot.clone())?;
            let dirty_pages = vm.get_dirty_pages()?;
            fds = fds2;
            Some(TakenDiff {
                snapshot: dsnap,
                memory: dmem,
                dirty_pages,
                serial: dserial,
            })
        }
    };
    drop(fds);
    drop(vm);
    Ok(Taken {
        snapshot,
        memory,
        serial,
        report,
        diff,
    })
}

fn ensure_running(report: &RunReport) -> Result<(), RunError> {
    if !report.stop.is_final() {
        return Ok(());
    }
    let rip = match report.vcpus_at_stop.first() {
        Some(v) => format!("last rip 0x{:x}", v.rip),
        None => "last rip unknown".to_string(),
    };
    Err(RunError::Refused(format!(
        "the guest stopped before the snapshot: {} ({rip}, {} lines printed)",
        report.stop, report.lines
    )))
}

/// Pauses at an instruction boundary and captures every vCPU, the platform, the UART and memory
/// into a copy of `base`.
fn capture_all(
    vm: &Vm,
    fds: &mut [VcpuFd],
    bus: &Bus,
    mut base: Snapshot,
) -> Result<(Snapshot, Vec<u8>), RunError> {
    base.vcpus.clear();
    for fd in fds.iter_mut() {
        // Let KVM finish an instruction interrupted by the stop (e.g. a port write) so the saved
        // registers are at an instruction boundary.
        fd.set_kvm_immediate_exit(1);
        let _ = fd.run();
        fd.set_kvm_immediate_exit(0);
        base.vcpus.push(Vcpu::X86_64(Box::new(capture::vcpu(
            vm.kvm(),
            vm.fd(),
            fd,
        )?)));
    }
    base.platform = Platform::X86_64(Box::new(capture::platform(vm.fd())?));
    let mut serial_dev = Device::new("serial", DeviceKind::Serial);
    serial_dev.transport = Some(Transport::Port {
        base: COM1,
        irq: Some(4),
    });
    serial_dev.uart = Some(bus.uart.state());
    base.devices = vec![serial_dev];
    Ok((base, vm.dump_memory()?))
}

/// The data extents `(start, end)` of a sparse file, found with `SEEK_DATA` / `SEEK_HOLE`: the
/// pages a diff memory file holds (everything else is a hole, an unchanged page).
///
/// # Errors
/// I/O errors other than "no more data".
pub fn data_extents(file: &File) -> std::io::Result<Vec<(u64, u64)>> {
    use std::os::unix::io::AsRawFd;
    let len = i64::try_from(file.metadata()?.len()).unwrap_or(i64::MAX);
    let fd = file.as_raw_fd();
    let mut out = Vec::new();
    let mut pos = 0i64;
    while pos < len {
        // SAFETY: lseek takes a descriptor `file` keeps open for this call and plain integers;
        // it touches no memory of ours.
        let start = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if start < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENXIO) {
                break;
            }
            return Err(e);
        }
        // SAFETY: as above.
        let end = unsafe { libc::lseek(fd, start, libc::SEEK_HOLE) };
        if end < 0 {
            return Err(std::io::Error::last_os_error());
        }
        out.push((start as u64, end as u64));
        pos = end;
    }
    Ok(out)
}
