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
mod state;

pub use devices::{Bus, COM1, PortEffect, Uart};

use crate::formats::firecracker::WriteError;
use crate::kvm_abi::Irqchip;
use crate::model::*;
use kvm_bindings::{
    KVM_PIT_SPEAKER_DUMMY, kvm_mp_state, kvm_pit_config, kvm_userspace_memory_region,
};
use kvm_ioctls::{Cap, Kvm, VcpuExit, VcpuFd, VmFd};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;
use vm_memory::{FileOffset, MmapRegion, VolatileMemory};

/// snaptool's built-in guest (`guest/demo.S`): prints `step NNNNNN h=…` lines on COM1.
pub static BUILTIN_GUEST: &[u8] = include_bytes!("../../guest/demo.elf");

/// Where KVM puts the TSS on Intel hosts (as Firecracker does).
const TSS_ADDRESS: usize = 0xfffb_d000;
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
    /// The timeout expired.
    #[default]
    Timeout,
    /// The guest reset the machine through the i8042.
    Reset,
    /// The guest shut down (triple fault or system event).
    Shutdown,
    /// A vCPU failed.
    Error(String),
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
    // Declared before the VM so that the mappings outlive the memory slots that point at them.
    let regions = map_memory(snapshot, mem)?;
    let kvm = Kvm::new().map_err(kvm_err("opening /dev/kvm"))?;
    if snapshot.vcpus.len() > kvm.get_max_vcpus().min(MAX_VCPUS) {
        return Err(RunError::Refused(format!(
            "{} vCPUs; this host runs at most {}",
            snapshot.vcpus.len(),
            kvm.get_max_vcpus().min(MAX_VCPUS)
        )));
    }
    let vm = create_vm(&kvm, snapshot, &regions, false)?;
    let mut vcpus = Vec::new();
    for (i, v) in snapshot.vcpus.iter().enumerate() {
        let Vcpu::X86_64(v) = v else {
            return Err(RunError::Refused(
                "aarch64 vCPU in an x86_64 snapshot".into(),
            ));
        };
        let fd = vm
            .create_vcpu(i as u64)
            .map_err(kvm_err(format!("creating vCPU {i}")))?;
        restore_vcpu(&vm, &fd, i, v, &mut report)?;
        vcpus.push(fd);
    }
    restore_platform(&vm, snapshot, &mut report)?;
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
    drop(regions);
    Ok(report)
}

/// Refuses snapshots that cannot run here, before touching KVM.
fn check(s: &Snapshot) -> Result<(), RunError> {
    if s.arch() != Arch::X86_64 {
        return Err(RunError::Refused(format!(
            "a {} snapshot cannot run on this x86_64 host",
            s.arch().name()
        )));
    }
    if s.vcpus.is_empty() || s.vcpus.len() > MAX_VCPUS {
        return Err(RunError::Refused(format!(
            "{} vCPUs; expected 1 to {MAX_VCPUS}",
            s.vcpus.len()
        )));
    }
    let regions = &s.memory.regions;
    if regions.is_empty() {
        return Err(RunError::Refused("no memory regions".into()));
    }
    for (i, r) in regions.iter().enumerate() {
        if r.size == 0 || r.size % PAGE != 0 || r.guest_addr % PAGE != 0 {
            return Err(RunError::Refused(format!(
                "memory.regions[{i}]: 0x{:x}+0x{:x} is empty or not page-aligned",
                r.guest_addr, r.size
            )));
        }
        if r.guest_addr.checked_add(r.size).is_none() {
            return Err(RunError::Refused(format!(
                "memory.regions[{i}] runs past the end of the address space"
            )));
        }
        for (j, o) in regions.iter().enumerate().skip(i + 1) {
            if r.guest_addr < o.guest_addr + o.size && o.guest_addr < r.guest_addr + r.size {
                return Err(RunError::Refused(format!(
                    "memory.regions[{i}] overlaps memory.regions[{j}]"
                )));
            }
        }
    }
    Ok(())
}

/// Maps every region `MAP_PRIVATE` from the memory file.
fn map_memory(s: &Snapshot, path: &Path) -> Result<Vec<MmapRegion<()>>, RunError> {
    let merr = |reason: String| RunError::Memory {
        path: path.display().to_string(),
        reason,
    };
    let file = File::open(path).map_err(|e| merr(e.to_string()))?;
    let len = file.metadata().map_err(|e| merr(e.to_string()))?.len();
    let mut out = Vec::new();
    for (i, r) in s.memory.regions.iter().enumerate() {
        let end = r.file_offset.checked_add(r.size);
        if end.is_none_or(|e| e > len) {
            return Err(merr(format!(
                "{len} bytes, but memory.regions[{i}] needs bytes 0x{:x}..0x{:x}",
                r.file_offset,
                r.file_offset.saturating_add(r.size)
            )));
        }
        let size = usize::try_from(r.size).map_err(|e| merr(e.to_string()))?;
        let fo = FileOffset::new(
            file.try_clone().map_err(|e| merr(e.to_string()))?,
            r.file_offset,
        );
        let region = MmapRegion::<()>::build(
            Some(fo),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_NORESERVE,
        )
        .map_err(|e| merr(format!("mapping memory.regions[{i}]: {e}")))?;
        out.push(region);
    }
    Ok(out)
}

fn create_vm(
    kvm: &Kvm,
    s: &Snapshot,
    regions: &[MmapRegion<()>],
    dirty_log: bool,
) -> Result<VmFd, RunError> {
    let vm = kvm.create_vm().map_err(kvm_err("creating the VM"))?;
    vm.set_tss_address(TSS_ADDRESS)
        .map_err(kvm_err("setting the TSS address"))?;
    vm.create_irq_chip()
        .map_err(kvm_err("creating the in-kernel irqchip"))?;
    let pit = kvm_pit_config {
        flags: KVM_PIT_SPEAKER_DUMMY,
        ..Default::default()
    };
    vm.create_pit2(pit).map_err(kvm_err("creating the PIT"))?;
    for (slot, (r, m)) in s.memory.regions.iter().zip(regions).enumerate() {
        let region = kvm_userspace_memory_region {
            slot: slot as u32,
            flags: if dirty_log {
                kvm_bindings::KVM_MEM_LOG_DIRTY_PAGES
            } else {
                0
            },
            guest_phys_addr: r.guest_addr,
            memory_size: r.size,
            userspace_addr: m.as_ptr() as u64,
        };
        // SAFETY: `m` is a live mapping of exactly `r.size` bytes that the caller keeps alive
        // until after the VM is dropped (`restore` declares the mappings before the VM), and the
        // slots do not overlap (checked by `check`).
        unsafe { vm.set_user_memory_region(region) }
            .map_err(kvm_err(format!("adding memory slot {slot}")))?;
    }
    Ok(vm)
}

fn restore_vcpu(
    vm: &VmFd,
    fd: &VcpuFd,
    i: usize,
    v: &X86Vcpu,
    report: &mut RunReport,
) -> Result<(), RunError> {
    let what = |s: &str| format!("vCPU {i}: {s}");
    if let Some(khz) = v.tsc_khz {
        let host = fd.get_tsc_khz().unwrap_or(0);
        // Firecracker's rule: set the frequency when it differs by more than 250 ppm.
        if u64::from(host.abs_diff(khz)) * 1_000_000 > u64::from(khz) * 250 {
            match fd.set_tsc_khz(khz) {
                Ok(()) => report.restored.push(what(&format!("TSC {khz} kHz"))),
                Err(e) => report.warnings.push(what(&format!(
                    "TSC frequency {khz} kHz could not be set (host {host} kHz): {e}"
                ))),
            }
        }
    }
    fd.set_cpuid2(&state::cpuid(&v.cpuid)?)
        .map_err(kvm_err(what("KVM_SET_CPUID2")))?;
    match v.mp_state {
        Some(m) => fd
            .set_mp_state(kvm_mp_state { mp_state: m })
            .map_err(kvm_err(what("KVM_SET_MP_STATE")))?,
        None => report.defaults.push(what("mp_state")),
    }
    fd.set_regs(&state::regs(&v.regs)?)
        .map_err(kvm_err(what("KVM_SET_REGS")))?;
    fd.set_sregs(&state::sregs(&v.sregs)?)
        .map_err(kvm_err(what("KVM_SET_SREGS")))?;
    match &v.xsave {
        Some(x) => set_xsave(vm, fd, x).map_err(kvm_err(what("KVM_SET_XSAVE")))?,
        None => report.defaults.push(what("xsave (FPU/SSE/AVX)")),
    }
    match &v.xcrs {
        Some(x) => fd
            .set_xcrs(&state::xcrs(x)?)
            .map_err(kvm_err(what("KVM_SET_XCRS")))?,
        None => report.defaults.push(what("xcrs")),
    }
    match &v.debug_regs {
        Some(d) => fd
            .set_debug_regs(&state::debugregs(d)?)
            .map_err(kvm_err(what("KVM_SET_DEBUGREGS")))?,
        None => report.defaults.push(what("debug registers")),
    }
    match &v.lapic {
        Some(l) => fd
            .set_lapic(&state::lapic(l)?)
            .map_err(kvm_err(what("KVM_SET_LAPIC")))?,
        None => report.defaults.push(what("lapic")),
    }
    set_msrs(fd, i, &v.msrs, report)?;
    match &v.events {
        Some(e) => fd
            .set_vcpu_events(&state::events(e)?)
            .map_err(kvm_err(what("KVM_SET_VCPU_EVENTS")))?,
        None => report.defaults.push(what("vcpu events")),
    }
    report.restored.push(what(&format!(
        "regs, sregs, {} cpuid entries, {} MSRs",
        v.cpuid.len(),
        v.msrs.len()
    )));
    Ok(())
}

/// XSAVE through KVM_SET_XSAVE2 sized as the host asks, or plain KVM_SET_XSAVE on older hosts.
fn set_xsave(vm: &VmFd, fd: &VcpuFd, x: &crate::model::Xsave) -> Result<(), kvm_ioctls::Error> {
    let base = state::xsave(x).map_err(|_| kvm_ioctls::Error::new(libc::EINVAL))?;
    let size = usize::try_from(vm.check_extension_int(Cap::Xsave2)).unwrap_or(0);
    if size <= std::mem::size_of::<kvm_bindings::kvm_xsave>() {
        // SAFETY: without KVM_CAP_XSAVE2 (or with an area that fits), KVM reads exactly
        // `sizeof(kvm_xsave)` bytes, which is what `base` is.
        return unsafe { fd.set_xsave(&base) };
    }
    let extra = (size - std::mem::size_of::<kvm_bindings::kvm_xsave>()).div_ceil(4);
    let mut area =
        kvm_bindings::Xsave::new(extra).map_err(|_| kvm_ioctls::Error::new(libc::ENOMEM))?;
    // SAFETY: `as_mut_fam_struct` gives the header of a wrapper allocated for `extra` entries;
    // only the fixed 4 KiB part is written here.
    unsafe { area.as_mut_fam_struct() }.xsave = base;
    for (dst, src) in area.as_mut_slice().iter_mut().zip(&x.extra) {
        *dst = *src;
    }
    // SAFETY: `area` holds `sizeof(kvm_xsave) + 4 * extra` ≥ the size KVM_CAP_XSAVE2 reported,
    // so KVM reads only allocated memory.
    unsafe { fd.set_xsave2(&area) }
}

/// KVM_SET_MSRS in chunks; an MSR the host refuses is reported and skipped.
fn set_msrs(fd: &VcpuFd, i: usize, list: &[Msr], report: &mut RunReport) -> Result<(), RunError> {
    let mut rest = list;
    while !rest.is_empty() {
        let chunk = &rest[..rest.len().min(256)];
        let n = fd
            .set_msrs(&state::msrs(chunk)?)
            .map_err(kvm_err(format!("vCPU {i}: KVM_SET_MSRS")))?;
        if n < chunk.len() {
            let m = chunk[n];
            let name = msr_name(m.index).unwrap_or("?");
            report.warnings.push(format!(
                "vCPU {i}: KVM refused MSR 0x{:x} ({name}) = 0x{:x}; skipped",
                m.index, m.value
            ));
            rest = &rest[n + 1..];
        } else {
            rest = &rest[chunk.len()..];
        }
    }
    Ok(())
}

fn restore_platform(vm: &VmFd, s: &Snapshot, report: &mut RunReport) -> Result<(), RunError> {
    let Platform::X86_64(p) = &s.platform else {
        return Err(RunError::Refused(
            "aarch64 platform state in an x86_64 snapshot".into(),
        ));
    };
    let mut note = |done: bool, what: &str| {
        if done {
            report.restored.push(what.to_string());
        } else {
            report.defaults.push(what.to_string());
        }
    };
    if let Some(pit) = &p.pit {
        vm.set_pit2(&state::pit(pit)?)
            .map_err(kvm_err("KVM_SET_PIT2"))?;
    }
    note(p.pit.is_some(), "PIT");
    if let Some(c) = &p.clock {
        vm.set_clock(&state::clock(c)?)
            .map_err(kvm_err("KVM_SET_CLOCK"))?;
    }
    note(p.clock.is_some(), "kvmclock");
    let chips = [
        (p.pic_master.map(|c| Irqchip::Pic(0, c)), "PIC master"),
        (p.pic_slave.map(|c| Irqchip::Pic(1, c)), "PIC slave"),
        (p.ioapic.clone().map(Irqchip::Ioapic), "IOAPIC"),
    ];
    for (chip, name) in chips {
        if let Some(c) = &chip {
            vm.set_irqchip(&state::irqchip(c)?)
                .map_err(kvm_err(format!("KVM_SET_IRQCHIP ({name})")))?;
        }
        note(chip.is_some(), name);
    }
    Ok(())
}

enum Event {
    Serial(u8),
    Stop(StopReason),
}

/// A no-op handler: its only job is to make a blocked KVM_RUN return with EINTR.
extern "C" fn kick_handler(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

fn run(
    vcpus: Vec<VcpuFd>,
    bus: Bus,
    opts: &RunOptions,
    out: &mut dyn FnMut(&[u8]),
    report: &mut RunReport,
) -> Result<(Bus, Vec<VcpuFd>), RunError> {
    use vmm_sys_util::signal::{Killable, SIGRTMIN, register_signal_handler};
    let kick = SIGRTMIN();
    register_signal_handler(kick, kick_handler)
        .map_err(|e| RunError::Internal(format!("installing the vCPU kick handler: {e}")))?;
    let bus = Arc::new(Mutex::new(bus));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let resumed = Instant::now();
    let handles: Vec<_> = vcpus
        .into_iter()
        .map(|fd| {
            let (bus, stop, tx) = (bus.clone(), stop.clone(), tx.clone());
            std::thread::spawn(move || vcpu_loop(fd, &bus, &tx, &stop))
        })
        .collect();
    drop(tx);
    let deadline = resumed + opts.timeout;
    let mut line_buf = Vec::new();
    report.stop = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Event::Serial(b)) => {
                report
                    .first_byte_ms
                    .get_or_insert(resumed.elapsed().as_secs_f64() * 1e3);
                report.serial_bytes += 1;
                line_buf.push(b);
                if b == b'\n' {
                    report.lines += 1;
                    out(&line_buf);
                    line_buf.clear();
                    if opts.lines.is_some_and(|n| report.lines >= n) {
                        break StopReason::Lines;
                    }
                }
            }
            Ok(Event::Stop(r)) => break r,
            Err(RecvTimeoutError::Timeout) => break StopReason::Timeout,
            Err(RecvTimeoutError::Disconnected) => {
                break StopReason::Error("every vCPU thread ended".into());
            }
        }
    };
    if report.stop != StopReason::Lines && !line_buf.is_empty() && !opts.drain {
        out(&line_buf);
        line_buf.clear();
    }
    stop.store(true, Ordering::SeqCst);
    let mut fds = Vec::new();
    for h in handles {
        while !h.is_finished() {
            let _ = h.kill(kick);
            std::thread::sleep(Duration::from_millis(5));
        }
        fds.push(
            h.join()
                .map_err(|_| RunError::Internal("a vCPU thread panicked".into()))?,
        );
    }
    // What the vCPUs printed after the stop decision but before they stopped: with `drain`, it
    // belongs to the output (a snapshot taken now must not lose it).
    if opts.drain {
        let rest: Vec<u8> = rx
            .try_iter()
            .filter_map(|e| match e {
                Event::Serial(b) => Some(b),
                Event::Stop(_) => None,
            })
            .collect();
        report.serial_bytes += rest.len();
        line_buf.extend_from_slice(&rest);
        if !line_buf.is_empty() {
            out(&line_buf);
        }
    }
    let bus =
        Arc::try_unwrap(bus).map_err(|_| RunError::Internal("device bus still shared".into()))?;
    Ok((bus.into_inner().unwrap_or_else(|p| p.into_inner()), fds))
}

fn vcpu_loop(mut fd: VcpuFd, bus: &Mutex<Bus>, tx: &Sender<Event>, stop: &AtomicBool) -> VcpuFd {
    let lock = || bus.lock().unwrap_or_else(|p| p.into_inner());
    while !stop.load(Ordering::SeqCst) {
        let event = match fd.run() {
            Ok(VcpuExit::IoOut(port, data)) => match lock().port_write(port, data) {
                PortEffect::Serial(b) => Some(Event::Serial(b)),
                PortEffect::Reset => Some(Event::Stop(StopReason::Reset)),
                PortEffect::None => None,
            },
            Ok(VcpuExit::IoIn(port, data)) => {
                lock().port_read(port, data);
                None
            }
            Ok(VcpuExit::MmioRead(_, data)) => {
                lock().mmio_read(data);
                None
            }
            Ok(VcpuExit::MmioWrite(..)) => {
                lock().mmio_write();
                None
            }
            Ok(VcpuExit::Hlt) => {
                std::thread::sleep(Duration::from_millis(1));
                None
            }
            Ok(VcpuExit::Shutdown | VcpuExit::SystemEvent(..)) => {
                Some(Event::Stop(StopReason::Shutdown))
            }
            Ok(other) => Some(Event::Stop(StopReason::Error(format!(
                "unexpected vCPU exit {other:?}"
            )))),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => None,
            Err(e) => Some(Event::Stop(StopReason::Error(format!("KVM_RUN: {e}")))),
        };
        if let Some(ev) = event {
            let last = matches!(ev, Event::Stop(_));
            if tx.send(ev).is_err() || last {
                break;
            }
        }
    }
    fd
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

/// Boots the ELF `kernel` with `mem_size` bytes of RAM and one vCPU, runs it until the options
/// say stop, pauses it and snapshots it.
///
/// # Errors
/// When the kernel cannot be loaded, KVM fails, or the guest stops on its own.
pub fn boot_and_snapshot(
    kernel: &[u8],
    kernel_name: &str,
    mem_size: u64,
    opts: &RunOptions,
    diff_lines: Option<usize>,
) -> Result<Taken, RunError> {
    if mem_size < (2 << 20) || mem_size % (2 << 20) != 0 || mem_size > (1 << 30) {
        return Err(RunError::Refused(format!(
            "memory size {mem_size} bytes; expected a multiple of 2 MiB from 2 MiB to 1 GiB"
        )));
    }
    let started = Instant::now();
    let mem = MmapRegion::<()>::new(mem_size as usize)
        .map_err(|e| RunError::Internal(format!("allocating guest memory: {e}")))?;
    let entry = boot::load(&mem, kernel)?;
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
    let kvm = Kvm::new().map_err(kvm_err("opening /dev/kvm"))?;
    let vm = create_vm(&kvm, &snapshot, std::slice::from_ref(&mem), true)?;
    let fd = vm.create_vcpu(0).map_err(kvm_err("creating vCPU 0"))?;
    boot::setup_vcpu(&kvm, &fd, entry)?;
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
        vec![fd],
        Bus::default(),
        &opts,
        &mut |b| serial.extend_from_slice(b),
        &mut report,
    )?;
    ensure_running(&report)?;
    let (snapshot, memory) = capture_all(&kvm, &vm, &mut fds, &bus, &mem, snapshot)?;
    let diff = match diff_lines {
        None => None,
        Some(n) => {
            let size = mem.size();
            // Clears the log: from here on it holds the pages written after the full snapshot.
            vm.get_dirty_log(0, size)
                .map_err(kvm_err("KVM_GET_DIRTY_LOG"))?;
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
            let (dsnap, dmem) = capture_all(&kvm, &vm, &mut fds2, &bus, &mem, snapshot.clone())?;
            let bitmap = vm
                .get_dirty_log(0, size)
                .map_err(kvm_err("KVM_GET_DIRTY_LOG"))?;
            let dirty_pages = bitmap
                .iter()
                .enumerate()
                .flat_map(|(w, &bits)| {
                    (0..64u64)
                        .filter(move |b| bits & (1 << b) != 0)
                        .map(move |b| w as u64 * 64 + b)
                })
                .collect();
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
    if matches!(report.stop, StopReason::Lines | StopReason::Timeout) {
        Ok(())
    } else {
        Err(RunError::Refused(format!(
            "the guest stopped before the snapshot: {:?}",
            report.stop
        )))
    }
}

/// Pauses at an instruction boundary and captures every vCPU, the platform, the UART and memory
/// into a copy of `base`.
fn capture_all(
    kvm: &Kvm,
    vm: &VmFd,
    fds: &mut [VcpuFd],
    bus: &Bus,
    mem: &MmapRegion<()>,
    mut base: Snapshot,
) -> Result<(Snapshot, Vec<u8>), RunError> {
    base.vcpus.clear();
    for fd in fds.iter_mut() {
        // Let KVM finish an instruction interrupted by the stop (e.g. a port write) so the saved
        // registers are at an instruction boundary.
        fd.set_kvm_immediate_exit(1);
        let _ = fd.run();
        fd.set_kvm_immediate_exit(0);
        base.vcpus
            .push(Vcpu::X86_64(Box::new(capture::vcpu(kvm, vm, fd)?)));
    }
    base.platform = Platform::X86_64(Box::new(capture::platform(vm)?));
    let mut serial_dev = Device::new("serial", DeviceKind::Serial);
    serial_dev.transport = Some(Transport::Port {
        base: COM1,
        irq: Some(4),
    });
    serial_dev.uart = Some(bus.uart.state());
    base.devices = vec![serial_dev];
    let mut memory = vec![0u8; mem.size()];
    vm_memory::Bytes::read_slice(&mem.as_volatile_slice(), &mut memory, 0)
        .map_err(|e| RunError::Internal(format!("reading guest memory: {e}")))?;
    Ok((base, memory))
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
