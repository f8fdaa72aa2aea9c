//! Running vCPUs: one thread each, port and MMIO exits to the device bus, COM1 bytes to the
//! caller, and a signal that kicks vCPUs out of `KVM_RUN` when the run ends.

use super::{Bus, PortEffect, RunError, RunOptions, RunReport, StopReason, VcpuAtStop};
use kvm_ioctls::{VcpuExit, VcpuFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

enum Event {
    Serial(u8),
    Stop(StopReason),
}

/// A no-op handler: its only job is to make a blocked KVM_RUN return with EINTR.
extern "C" fn kick_handler(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

pub(super) fn run(
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
    report.lines_wanted = opts.lines;
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
    report.vcpus_at_stop = fds.iter().filter_map(at_stop).collect();
    if report.stop == StopReason::Timeout && halted_for_good(&report.vcpus_at_stop) {
        report.stop = StopReason::Halted;
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
            Ok(VcpuExit::Shutdown) => Some(Event::Stop(StopReason::TripleFault)),
            Ok(VcpuExit::SystemEvent(kind, _)) => Some(Event::Stop(match kind {
                kvm_bindings::KVM_SYSTEM_EVENT_SHUTDOWN => StopReason::Shutdown,
                kvm_bindings::KVM_SYSTEM_EVENT_RESET => StopReason::Reset,
                other => StopReason::Error(format!("system event {other}")),
            })),
            Ok(VcpuExit::FailEntry(reason, cpu)) => Some(Event::Stop(StopReason::FailEntry(
                format!("hardware reason 0x{reason:x} on host CPU {cpu}"),
            ))),
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

/// KVM's MP state values (`KVM_MP_STATE_*`).
const MP_RUNNABLE: u32 = 0;
const MP_UNINITIALIZED: u32 = 1;
const MP_INIT_RECEIVED: u32 = 2;
const MP_HALTED: u32 = 3;
const MP_SIPI_RECEIVED: u32 = 4;
/// RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;

/// Where a stopped vCPU is, or `None` when KVM does not say.
fn at_stop(fd: &VcpuFd) -> Option<VcpuAtStop> {
    let regs = fd.get_regs().ok()?;
    let mp = fd.get_mp_state().ok()?.mp_state;
    let mp_state = match mp {
        MP_RUNNABLE => "runnable".to_string(),
        MP_UNINITIALIZED => "uninitialized".to_string(),
        MP_INIT_RECEIVED => "init_received".to_string(),
        MP_HALTED => "halted".to_string(),
        MP_SIPI_RECEIVED => "sipi_received".to_string(),
        n => n.to_string(),
    };
    Some(VcpuAtStop {
        rip: regs.rip,
        interrupts_enabled: regs.rflags & RFLAGS_IF != 0,
        mp_state,
    })
}

/// Whether no vCPU can ever run again: at least one is halted with interrupts disabled and the
/// others are halted the same way or wait for an INIT/SIPI nobody can send.
pub(super) fn halted_for_good(v: &[VcpuAtStop]) -> bool {
    let stuck = |c: &VcpuAtStop| c.mp_state == "halted" && !c.interrupts_enabled;
    v.iter().any(stuck)
        && v.iter()
            .all(|c| stuck(c) || c.mp_state == "uninitialized" || c.mp_state == "init_received")
}
