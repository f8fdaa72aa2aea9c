//! `check-host`: will this snapshot restore on this machine?
//!
//! [`HostInfo`] is what this host's KVM offers, read with read-only queries on `/dev/kvm`
//! (supported CPUID, MSR index lists, feature MSRs, capabilities, the TSC rate of a throwaway
//! vCPU, the XSAVE area size) plus the host's CPU and memory counts. [`check`] compares a
//! snapshot's model with it and returns findings in the shape `verify` uses; it is pure, so it
//! works on any [`HostInfo`] (tests build one by hand). [`check_host`] does both on this host.
//!
//! Every finding says what fails and how: which producer's restore refuses the snapshot (with
//! its error text where known), or what the guest will see after a restore that succeeds.

pub mod cpuid;
#[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
mod kvm;

#[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
pub use kvm::{HostError, check_host, host_tsc_khz, query_host};

use crate::model::*;
use crate::verify::{Finding, Severity};
use cpuid::Reg;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// KVM capabilities Firecracker requires on x86_64 before it creates (or restores) a VM.
pub const FIRECRACKER_CAPS: &[(u32, &str)] = &[
    (0, "KVM_CAP_IRQCHIP"),
    (36, "KVM_CAP_IOEVENTFD"),
    (32, "KVM_CAP_IRQFD"),
    (3, "KVM_CAP_USER_MEMORY"),
    (4, "KVM_CAP_SET_TSS_ADDR"),
    (33, "KVM_CAP_PIT2"),
    (35, "KVM_CAP_PIT_STATE2"),
    (39, "KVM_CAP_ADJUST_CLOCK"),
    (50, "KVM_CAP_DEBUGREGS"),
    (14, "KVM_CAP_MP_STATE"),
    (41, "KVM_CAP_VCPU_EVENTS"),
    (56, "KVM_CAP_XCRS"),
    (55, "KVM_CAP_XSAVE"),
    (7, "KVM_CAP_EXT_CPUID"),
];

/// `KVM_CAP_TSC_CONTROL`: KVM can run a vCPU's TSC at another rate than the host's.
pub const KVM_CAP_TSC_CONTROL: u32 = 60;
/// `KVM_CAP_TSC_DEADLINE_TIMER`.
pub const KVM_CAP_TSC_DEADLINE_TIMER: u32 = 72;

/// Firecracker's tolerance for a TSC rate difference (parts per million): within it, it does
/// not set the rate at all (KVM's own tolerance is the same).
pub const TSC_TOLERANCE_PPM: u64 = 250;

/// The fix `check-host` names for a TSC rate this host cannot run.
pub const TSC_FIX: &str = "snaptool edit SNAPSHOT -o OUT --set 'vcpu[*].tsc_khz=host'";

/// What this host's KVM offers, as `check` needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostInfo {
    /// Host CPU vendor string (CPUID leaf 0 as KVM reports it).
    pub vendor: Option<String>,
    /// `KVM_GET_SUPPORTED_CPUID`.
    #[serde(skip)]
    pub supported_cpuid: Vec<CpuidEntry>,
    /// The CPUID a new vCPU presents after `KVM_SET_CPUID2` with the supported CPUID: on most
    /// hosts the same bits, on some (e.g. PVM) more, because their vCPUs show the CPU's own
    /// features whatever the supported list says. A feature bit counts as offered when either
    /// list has it.
    #[serde(skip)]
    pub vcpu_cpuid: Vec<CpuidEntry>,
    /// `KVM_GET_MSR_INDEX_LIST`: the MSRs KVM saves and restores.
    #[serde(skip)]
    pub msr_index_list: Vec<u32>,
    /// `KVM_GET_MSR_FEATURE_INDEX_LIST` with the values KVM reports for them.
    #[serde(skip)]
    pub feature_msrs: Vec<Msr>,
    /// The TSC rate of a new vCPU (the host's), from `KVM_GET_TSC_KHZ`.
    pub tsc_khz: Option<u32>,
    /// `KVM_CAP_TSC_CONTROL`: KVM can scale a vCPU's TSC to another rate.
    pub tsc_control: bool,
    /// `KVM_CAP_TSC_DEADLINE_TIMER`.
    pub tsc_deadline_timer: bool,
    /// Bytes of XSAVE state `KVM_SET_XSAVE` takes (`KVM_CAP_XSAVE2`, at least 4096).
    pub xsave_size: u64,
    /// Most vCPUs one VM may have (`KVM_CAP_MAX_VCPUS`).
    pub max_vcpus: usize,
    /// CPUs this process may run on.
    pub cpus: Option<usize>,
    /// Host memory in bytes (`MemTotal`).
    pub mem_total: Option<u64>,
    /// Capabilities asked about: number → present.
    #[serde(skip)]
    pub capabilities: BTreeMap<u32, bool>,
    /// What a throwaway vCPU given each snapshot vCPU's CPUID said, by vCPU index (empty when
    /// no snapshot was tried).
    #[serde(skip)]
    pub vcpu_trials: Vec<VcpuTrial>,
}

/// What KVM said when a throwaway vCPU was given one snapshot vCPU's CPUID and asked for its
/// MSRs (nothing is run; the VM has no memory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VcpuTrial {
    /// The error of `KVM_SET_CPUID2` with the snapshot's CPUID, when KVM refused it.
    pub cpuid_error: Option<String>,
    /// Indices of the snapshot's MSRs that `KVM_GET_MSRS` refused: MSRs this host's KVM does not
    /// handle for a guest with that CPUID, so `KVM_SET_MSRS` stops at them too.
    pub unknown_msrs: Vec<u32>,
}

impl HostInfo {
    /// The XCR0 bits KVM lets a guest enable (CPUID leaf 0xd subleaf 0 EDX:EAX).
    pub fn supported_xcr0(&self) -> Option<u64> {
        cpuid::entry(&self.supported_cpuid, 0xd, 0)
            .map(|e| u64::from(e.eax) | (u64::from(e.edx) << 32))
    }

    /// A summary for reports.
    pub fn summary(&self) -> HostSummary {
        HostSummary {
            vendor: self.vendor.clone(),
            tsc_khz: self.tsc_khz,
            tsc_control: self.tsc_control,
            supported_xcr0: self.supported_xcr0().map(|x| format!("0x{x:x}")),
            xsave_size: self.xsave_size,
            max_vcpus: self.max_vcpus,
            cpus: self.cpus,
            mem_total: self.mem_total,
            cpuid_entries: self.supported_cpuid.len(),
            msrs: self.msr_index_list.len(),
            feature_msrs: self.feature_msrs.len(),
        }
    }
}

/// This host as a report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSummary {
    /// CPU vendor string.
    pub vendor: Option<String>,
    /// TSC rate in kHz.
    pub tsc_khz: Option<u32>,
    /// Whether KVM can scale a guest's TSC (`KVM_CAP_TSC_CONTROL`).
    pub tsc_control: bool,
    /// XCR0 bits KVM supports, hex.
    pub supported_xcr0: Option<String>,
    /// XSAVE area bytes KVM takes.
    pub xsave_size: u64,
    /// Most vCPUs per VM.
    pub max_vcpus: usize,
    /// CPUs available.
    pub cpus: Option<usize>,
    /// Memory in bytes.
    pub mem_total: Option<u64>,
    /// Entries in `KVM_GET_SUPPORTED_CPUID`.
    pub cpuid_entries: usize,
    /// MSRs in `KVM_GET_MSR_INDEX_LIST`.
    pub msrs: usize,
    /// Feature MSRs.
    pub feature_msrs: usize,
}

/// The verdict of `check-host` on one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The snapshot, as given.
    pub file: String,
    /// Its layout.
    pub layout: String,
    /// Its guest architecture.
    pub arch: String,
    /// This host.
    pub host: HostSummary,
    /// True when there are no findings.
    pub clean: bool,
    /// True when no finding is an error (nothing known makes a restore here fail).
    pub restorable: bool,
    /// Every finding.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Builds the report from the findings.
    pub fn new(
        file: &str,
        layout: &str,
        arch: Arch,
        host: &HostInfo,
        findings: Vec<Finding>,
    ) -> Report {
        Report {
            file: file.to_string(),
            layout: layout.to_string(),
            arch: arch.name().to_string(),
            host: host.summary(),
            clean: findings.is_empty(),
            restorable: findings.iter().all(|f| f.severity != Severity::Error),
            findings,
        }
    }

    /// The text report: one line per finding, then a summary line.
    pub fn render(&self) -> String {
        let name = &self.file;
        let mut s = String::new();
        for f in &self.findings {
            s.push_str(&format!("{name}: {f}\n"));
        }
        let h = &self.host;
        let host = format!(
            "host: {}, TSC {} kHz{}, XCR0 {}, {} vCPUs max",
            h.vendor.as_deref().unwrap_or("unknown vendor"),
            h.tsc_khz.map_or("unknown".into(), |k| k.to_string()),
            if h.tsc_control {
                " (KVM can scale it)"
            } else {
                " (no TSC scaling)"
            },
            h.supported_xcr0.as_deref().unwrap_or("?"),
            h.max_vcpus
        );
        if self.clean {
            s.push_str(&format!(
                "{name}: clean: nothing found that prevents restoring this {} snapshot here ({host})\n",
                self.layout
            ));
        } else {
            let n = |sev| self.findings.iter().filter(|f| f.severity == sev).count();
            let (e, w) = (n(Severity::Error), n(Severity::Warning));
            s.push_str(&format!(
                "{name}: {e} error{}, {w} warning{}: {} ({host})\n",
                if e == 1 { "" } else { "s" },
                if w == 1 { "" } else { "s" },
                if self.restorable {
                    "a restore here is expected to work, with the differences above"
                } else {
                    "a restore here is expected to fail or to break the guest"
                }
            ));
        }
        s
    }
}

fn finding(severity: Severity, code: &'static str, path: String, message: String) -> Finding {
    Finding {
        severity,
        code,
        offset: None,
        path: Some(path),
        message,
    }
}

/// A finding about one vCPU, before identical findings of several vCPUs are merged.
struct VcpuFinding {
    vcpu: usize,
    severity: Severity,
    code: &'static str,
    /// The field path below `vcpus[i]`.
    sub: String,
    message: String,
}

/// Compares `s` with `host`. Never fails: what cannot run here is a finding.
pub fn check(s: &Snapshot, host: &HostInfo) -> Vec<Finding> {
    let mut out = Vec::new();
    if s.arch() != Arch::X86_64 {
        out.push(finding(
            Severity::Error,
            "arch",
            "provenance.arch".into(),
            format!(
                "an {} snapshot; this host is x86_64: no producer restores it here (Firecracker \
                 and snaptool restore only snapshots of the host's architecture)",
                s.arch().name()
            ),
        ));
        return out;
    }
    check_vm(s, host, &mut out);
    let mut per_vcpu = Vec::new();
    for (i, v) in s.vcpus.iter().enumerate() {
        if let Vcpu::X86_64(v) = v {
            check_vcpu(i, v, host, &mut per_vcpu);
        }
    }
    out.extend(merge(per_vcpu, s.vcpus.len()));
    out
}

/// Merges findings that every vCPU has alike into one `vcpus[*]` finding.
fn merge(list: Vec<VcpuFinding>, n: usize) -> Vec<Finding> {
    let mut groups: Vec<(VcpuFinding, BTreeSet<usize>)> = Vec::new();
    for f in list {
        match groups.iter_mut().find(|(g, _)| {
            (g.code, &g.sub, &g.message, g.severity) == (f.code, &f.sub, &f.message, f.severity)
        }) {
            Some((_, set)) => {
                set.insert(f.vcpu);
            }
            None => {
                let v = f.vcpu;
                groups.push((f, BTreeSet::from([v])));
            }
        }
    }
    let mut out = Vec::new();
    for (g, set) in groups {
        if set.len() == n && n > 1 {
            out.push(finding(
                g.severity,
                g.code,
                format!("vcpus[*]{}", g.sub),
                g.message,
            ));
        } else {
            for v in set {
                out.push(finding(
                    g.severity,
                    g.code,
                    format!("vcpus[{v}]{}", g.sub),
                    g.message.clone(),
                ));
            }
        }
    }
    out
}

/// The checks of the VM as a whole: vCPU count, memory, KVM capabilities.
fn check_vm(s: &Snapshot, host: &HostInfo, out: &mut Vec<Finding>) {
    let n = s.vcpus.len();
    if host.max_vcpus > 0 && n > host.max_vcpus {
        out.push(finding(
            Severity::Error,
            "vcpu-count",
            "vcpus".into(),
            format!(
                "{n} vCPUs; this host's KVM allows at most {} per VM: KVM_CREATE_VCPU fails \
                 (Firecracker's restore stops there, snaptool restore refuses)",
                host.max_vcpus
            ),
        ));
    } else if let Some(cpus) = host.cpus.filter(|&c| n > c) {
        out.push(finding(
            Severity::Warning,
            "vcpu-count-above-host-cpus",
            "vcpus".into(),
            format!(
                "{n} vCPUs on a host with {cpus} CPUs: the restore works, the vCPUs share \
                 CPUs (a guest with spin locks or tight timeouts may stall)"
            ),
        ));
    }
    let total = s.memory.total_size();
    if let Some(mem) = host.mem_total.filter(|&m| total > m) {
        out.push(finding(
            Severity::Warning,
            "memory-size",
            "memory.regions".into(),
            format!(
                "the guest has {} MiB of memory, this host {} MiB: the restore maps the memory \
                 file and works, but the host runs out of memory when the guest touches more \
                 than the host has",
                total >> 20,
                mem >> 20
            ),
        ));
    }
    let mut wanted: Vec<(u32, String)> = FIRECRACKER_CAPS
        .iter()
        .map(|&(c, n)| (c, n.to_string()))
        .collect();
    for m in &s.vm.kvm_cap_modifiers {
        if let KvmCapModifier::Add(c) = m {
            if !wanted.iter().any(|w| w.0 == *c) {
                wanted.push((
                    *c,
                    format!("KVM capability {c} (required by the CPU template)"),
                ));
            }
        }
    }
    for (cap, name) in wanted {
        if host.capabilities.get(&cap) == Some(&false) {
            out.push(finding(
                Severity::Error,
                "kvm-cap-missing",
                "vm.kvm_cap_modifiers".into(),
                format!(
                    "{name} ({cap}) is missing on this host: Firecracker refuses to start: \
                     \"Missing KVM capabilities: {cap:#x}\""
                ),
            ));
        }
    }
}

/// Names the bits of `mask` as XSAVE components (`avx`, `avx512_opmask`, ... or `component N`).
fn xstate_names(mask: u64) -> String {
    (0..64)
        .filter(|b| mask & (1u64 << b) != 0)
        .map(|b| {
            u8::try_from(b)
                .ok()
                .filter(|&b| b < 32)
                .and_then(|b| cpuid::feature_name(0xd, 0, Reg::Eax, b))
                .map_or(format!("component {b}"), |n| {
                    n.trim_start_matches("xstate_").to_string()
                })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every check of one x86_64 vCPU.
fn check_vcpu(i: usize, v: &X86Vcpu, host: &HostInfo, out: &mut Vec<VcpuFinding>) {
    let mut push = |severity, code, sub: String, message: String| {
        out.push(VcpuFinding {
            vcpu: i,
            severity,
            code,
            sub,
            message,
        })
    };
    check_vendor(v, host, &mut push);
    check_cpuid(v, host, &mut push);
    check_phys_bits(v, host, &mut push);
    check_tsc(v, host, &mut push);
    check_xsave(v, host, &mut push);
    check_msrs(i, v, host, &mut push);
}

/// The CPU vendor string of CPUID leaf 0.
fn check_vendor(
    v: &X86Vcpu,
    host: &HostInfo,
    push: &mut impl FnMut(Severity, &'static str, String, String),
) {
    // CPU vendor.
    if let (Some(guest), Some(hostv)) = (cpuid::vendor(&v.cpuid), host.vendor.as_deref()) {
        if guest != hostv {
            push(
                Severity::Error,
                "cpu-vendor-mismatch",
                ".cpuid[0x0]".into(),
                format!(
                    "the guest saw a {guest} CPU (CPUID leaf 0x0 EBX/EDX/ECX); this host is \
                     {hostv}: Firecracker only logs \"Host CPU vendor id differs from the \
                     snapshotted one\" and restores, snaptool restore too; the guest kernel keeps \
                     its {guest} code paths (system-call entry, vendor MSRs, mitigations) on a \
                     {hostv} CPU and typically crashes soon after"
                ),
            );
        }
    }
}

/// The feature bits of the table in [`cpuid`], against what the host offers.
fn check_cpuid(
    v: &X86Vcpu,
    host: &HostInfo,
    push: &mut impl FnMut(Severity, &'static str, String, String),
) {
    // CPUID feature bits.
    for (leaf, subleaf, reg, mask) in cpuid::compared_registers() {
        let Some(g) = cpuid::entry(&v.cpuid, leaf, subleaf) else {
            continue;
        };
        let h = [&host.supported_cpuid, &host.vcpu_cpuid]
            .iter()
            .filter_map(|list| cpuid::entry(list, leaf, subleaf))
            .fold(0, |a, e| a | reg.of(e));
        let missing = reg.of(g) & mask & !h;
        for bit in (0..32u8).filter(|b| missing & (1 << b) != 0) {
            let feat = cpuid::feature(leaf, subleaf, reg, bit);
            let name = feat.map_or("?", |x| x.name);
            let hint = feat.is_some_and(|x| x.hint);
            let what = format!(
                "CPUID leaf 0x{leaf:x} subleaf {subleaf} {} bit {bit} ({name}): the guest saw \
                 this feature, this host's KVM does not offer it (neither \
                 KVM_GET_SUPPORTED_CPUID nor a new vCPU has it); KVM_SET_CPUID2 takes it anyway, \
                 so Firecracker and snaptool restore succeed",
                reg.name().to_uppercase()
            );
            let (severity, consequence) = if hint {
                (
                    Severity::Warning,
                    format!(
                        "; {name} is a hint, so code that chose it still runs correctly here, \
                         only slower"
                    ),
                )
            } else {
                (
                    Severity::Error,
                    format!(
                        ", and the guest faults (#UD, SIGILL in a process) or misbehaves when it \
                         uses {name}"
                    ),
                )
            };
            push(
                severity,
                "cpuid-feature-missing",
                format!(".cpuid[0x{leaf:x}.{subleaf}].{}[{bit}]", reg.name()),
                what + &consequence,
            );
        }
    }
}

/// The guest physical address width (CPUID leaf 0x80000008 EAX[7:0]).
fn check_phys_bits(
    v: &X86Vcpu,
    host: &HostInfo,
    push: &mut impl FnMut(Severity, &'static str, String, String),
) {
    // Physical address width.
    let bits = |e: Option<&CpuidEntry>| e.map(|e| e.eax & 0xff).filter(|&b| b > 0);
    if let (Some(g), Some(h)) = (
        bits(cpuid::entry(&v.cpuid, 0x8000_0008, 0)),
        bits(cpuid::entry(&host.supported_cpuid, 0x8000_0008, 0)),
    ) {
        if g > h {
            push(
                Severity::Warning,
                "cpuid-phys-addr-bits",
                ".cpuid[0x80000008.0].eax[7:0]".into(),
                format!(
                    "the guest saw {g} physical address bits, this host's KVM offers {h}: the \
                     restore works; guest page-table bits between {h} and {g} are reserved on \
                     this host, so a guest that uses addresses above 2^{h} faults"
                ),
            );
        }
    }
}

/// XCR0 and the XSAVE area against the host's supported XCR0 and `KVM_CAP_XSAVE2`.
fn check_xsave(
    v: &X86Vcpu,
    host: &HostInfo,
    push: &mut impl FnMut(Severity, &'static str, String, String),
) {
    // XCR0 and the XSAVE area.
    if let Some(supported) = host.supported_xcr0() {
        let xcr0 = v
            .xcrs
            .as_ref()
            .and_then(|x| x.xcrs.iter().find(|x| x.xcr == 0))
            .map(|x| x.value);
        if let Some(extra) = xcr0.map(|x| x & !supported).filter(|&e| e != 0) {
            push(
                Severity::Error,
                "xsave-xcr0-unsupported",
                ".xcrs.xcr0".into(),
                format!(
                    "XCR0 0x{:x} enables XSAVE components this host's KVM does not support \
                     (supported 0x{supported:x}; missing: {}): KVM_SET_XCRS fails; Firecracker's \
                     restore fails with \"Failed to set KVM vcpu xcrs: Invalid argument (os \
                     error 22)\", snaptool restore with \"KVM_SET_XCRS: Invalid argument\"",
                    xcr0.unwrap_or(0),
                    xstate_names(extra)
                ),
            );
        }
        let xstate_bv = v
            .xsave
            .as_ref()
            .and_then(|x| x.region.0.get(512..520))
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes);
        // Only user components are compared: bit 63 (compacted format) and the supervisor
        // components (8 and 10-16, enabled through IA32_XSS, not XCR0) are left out.
        let user = supported | (1u64 << 63) | 0x1_fd00;
        if let Some(extra) = xstate_bv.map(|x| x & !user).filter(|&e| e != 0) {
            push(
                Severity::Error,
                "xsave-features-unsupported",
                ".xsave.region[512..520]".into(),
                format!(
                    "the XSAVE area holds state of components this host's KVM does not support \
                     (XSTATE_BV 0x{:x}; missing: {}): KVM_SET_XSAVE fails; Firecracker's restore \
                     fails with \"Failed to set KVM vcpu xsave: Invalid argument (os error \
                     22)\"",
                    xstate_bv.unwrap_or(0),
                    xstate_names(extra)
                ),
            );
        }
    }
    if let Some(x) = &v.xsave {
        let len = 4096 + 4 * x.extra.len() as u64;
        let lost_nonzero = usize::try_from(host.xsave_size.saturating_sub(4096) / 4)
            .ok()
            .and_then(|keep| x.extra.get(keep..))
            .is_some_and(|rest| rest.iter().any(|&w| w != 0));
        if host.xsave_size >= 4096 && len > host.xsave_size && lost_nonzero {
            push(
                Severity::Warning,
                "xsave-size",
                ".xsave.extra".into(),
                format!(
                    "the XSAVE area is {len} bytes, this host's KVM takes {} \
                     (KVM_CAP_XSAVE2): the state past byte {} is not restored",
                    host.xsave_size, host.xsave_size
                ),
            );
        }
    }
}

/// The guest TSC rate against the host's and whether KVM can scale to it.
fn check_tsc(
    v: &X86Vcpu,
    host: &HostInfo,
    push: &mut impl FnMut(Severity, &'static str, String, String),
) {
    let Some(khz) = v.tsc_khz else { return };
    let Some(hkhz) = host.tsc_khz else {
        push(
            Severity::Warning,
            "tsc-rate-unknown",
            ".tsc_khz".into(),
            format!(
                "the guest's TSC ran at {khz} kHz; this host's KVM did not report its TSC rate \
                 (KVM_GET_TSC_KHZ), so whether it can run that rate is unknown"
            ),
        );
        return;
    };
    if u64::from(hkhz.abs_diff(khz)) * 1_000_000 <= u64::from(khz) * TSC_TOLERANCE_PPM {
        return;
    }
    if host.tsc_control {
        // KVM scales the guest's TSC to the recorded rate; the restore sets it and works.
        return;
    }
    let pct = (f64::from(hkhz) / f64::from(khz) - 1.0) * 100.0;
    if khz < hkhz {
        push(
            Severity::Error,
            "tsc-rate-below-host",
            ".tsc_khz".into(),
            format!(
                "the guest's TSC ran at {khz} kHz, this host's runs at {hkhz} kHz and its KVM \
                 cannot scale the TSC (no KVM_CAP_TSC_CONTROL), so it refuses a rate below the \
                 hardware's (kernel log: \"user requested TSC rate below hardware speed\"): \
                 Firecracker's restore fails with \"Could not set TSC scaling within the \
                 snapshot: Invalid argument (os error 22)\"; snaptool restore warns and runs \
                 the guest at {hkhz} kHz. Fix: {TSC_FIX} (the guest's TSC then runs at the \
                 host's rate, {pct:.1}% faster than the guest calibrated: time the guest \
                 measures with the TSC alone runs fast; kvmclock time is unaffected)"
            ),
        );
    } else {
        push(
            Severity::Warning,
            "tsc-rate-above-host",
            ".tsc_khz".into(),
            format!(
                "the guest's TSC ran at {khz} kHz, this host's runs at {hkhz} kHz and its KVM \
                 cannot scale the TSC (no KVM_CAP_TSC_CONTROL): KVM accepts a faster rate and \
                 keeps the guest's TSC caught up in software on every guest entry, so the \
                 restore works (Firecracker and snaptool) and the guest's TSC advances in steps \
                 (slower exits); to run it at the host's rate instead: {TSC_FIX}"
            ),
        );
    }
}

/// Feature MSRs whose value KVM checks against its own when a VMM sets them.
const CHECKED_FEATURE_MSRS: &[u32] = &[0x10a, 0x345];

/// The MSRs the snapshot restores, against the throwaway vCPU's answers and the feature MSRs.
fn check_msrs(
    i: usize,
    v: &X86Vcpu,
    host: &HostInfo,
    push: &mut impl FnMut(Severity, &'static str, String, String),
) {
    let trial = host.vcpu_trials.get(i);
    if let Some(e) = trial.and_then(|t| t.cpuid_error.as_ref()) {
        push(
            Severity::Error,
            "cpuid-rejected",
            ".cpuid".into(),
            format!(
                "this host's KVM refuses the guest's CPUID (KVM_SET_CPUID2: {e}): Firecracker's \
                 restore fails with \"Failed to set KVM vcpu cpuid: {e}\", snaptool restore \
                 with \"KVM_SET_CPUID2: {e}\""
            ),
        );
    }
    let unknown: BTreeSet<u32> = trial
        .map(|t| t.unknown_msrs.iter().copied().collect())
        .unwrap_or_default();
    for (j, m) in v.msrs.iter().enumerate() {
        let name = msr_name(m.index).unwrap_or("?");
        if unknown.contains(&m.index) {
            push(
                Severity::Error,
                "msr-unknown",
                format!(".msrs[{j}]"),
                format!(
                    "MSR 0x{:x} ({name}) is restored by the snapshot, and this host's KVM does \
                     not handle it for a guest with this CPUID (KVM_GET_MSRS refuses it): \
                     KVM_SET_MSRS stops at it; Firecracker's restore fails with \"Failed to set \
                     all KVM MSRs for this vCPU. Only a partial write was done.\", snaptool \
                     restore skips it with a warning",
                    m.index
                ),
            );
            continue;
        }
        if !CHECKED_FEATURE_MSRS.contains(&m.index) {
            continue;
        }
        let Some(h) = host.feature_msrs.iter().find(|f| f.index == m.index) else {
            continue;
        };
        let extra = m.value & !h.value;
        if extra != 0 {
            push(
                Severity::Error,
                "msr-feature-bits",
                format!(".msrs[{j}]"),
                format!(
                    "MSR 0x{:x} ({name}) = 0x{:x} claims bits 0x{extra:x} this host's KVM does \
                     not report (its value: 0x{:x}, KVM_GET_MSR_FEATURE_INDEX_LIST): KVM may \
                     refuse the write, and then Firecracker's restore fails with \"Failed to set \
                     all KVM MSRs for this vCPU. Only a partial write was done.\"; a guest that \
                     gets the value believes the CPU has properties this one lacks (e.g. skips \
                     mitigations)",
                    m.index, m.value, h.value
                ),
            );
        }
    }
}

/// A finding when the memory file given with the snapshot is too short for its regions.
pub fn check_memory_file(s: &Snapshot, path: &str, len: u64) -> Option<Finding> {
    let need = s
        .memory
        .regions
        .iter()
        .map(|r| r.file_offset.saturating_add(r.size))
        .max()?;
    (len < need).then(|| {
        finding(
            Severity::Error,
            "memory-file-size",
            "memory.regions".into(),
            format!(
                "{path} is {len} bytes, the memory regions need {need}: the restore cannot map \
                 the guest's memory (Firecracker and snaptool restore fail)"
            ),
        )
    })
}
