//! Running vCPUs: one thread each, port and MMIO exits to the device bus, COM1 bytes to the
//! caller, and a signal that kicks vCPUs out of `KVM_RUN` when the run ends.

use super::{Bus, PortEffect, RunError, RunOptions, RunReport, StopReason};
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
