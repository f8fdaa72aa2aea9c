//! Read-only queries of this host's KVM: what [`HostInfo`] holds. The only state created is a
//! throwaway VM (no memory, never run) with a vCPU for the host's TSC rate and the CPUID a vCPU
//! presents, and one vCPU per snapshot vCPU that is given the snapshot's CPUID and asked for the
//! snapshot's MSRs. Nothing on the host changes.

use super::{
    FIRECRACKER_CAPS, HostInfo, KVM_CAP_TSC_CONTROL, KVM_CAP_TSC_DEADLINE_TIMER, VcpuTrial,
};
use crate::model::{CpuidEntry, KvmCapModifier, Msr, Snapshot, Vcpu};
use crate::verify::Finding;
use kvm_bindings::{CpuId, KVM_MAX_CPUID_ENTRIES, Msrs, kvm_cpuid_entry2, kvm_msr_entry};
use kvm_ioctls::{Cap, Kvm, VcpuFd};
use thiserror::Error;

/// Why this host could not be checked.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HostError {
    /// `/dev/kvm` could not be opened.
    #[error(
        "cannot open /dev/kvm ({0}): check-host asks this host's KVM what it supports; run it on \
         the machine that will restore the snapshot, as a user allowed to open /dev/kvm"
    )]
    NoKvm(kvm_ioctls::Error),
    /// A KVM query failed.
    #[error("{what}: {source}")]
    Kvm {
        /// The query.
        what: &'static str,
        /// KVM's error.
        source: kvm_ioctls::Error,
    },
}

fn kerr(what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> HostError {
    move |source| HostError::Kvm { what, source }
}

fn open() -> Result<Kvm, HostError> {
    Kvm::new().map_err(HostError::NoKvm)
}

/// This host's TSC rate in kHz: `KVM_GET_TSC_KHZ` of a new vCPU in a throwaway VM (KVM gives
/// a new vCPU the host's rate).
///
/// # Errors
/// [`HostError::NoKvm`] without `/dev/kvm`, [`HostError::Kvm`] when KVM refuses.
pub fn host_tsc_khz() -> Result<u32, HostError> {
    let kvm = open()?;
    let vm = kvm.create_vm().map_err(kerr("creating a VM"))?;
    let vcpu = vm.create_vcpu(0).map_err(kerr("creating a vCPU"))?;
    vcpu.get_tsc_khz().map_err(kerr("KVM_GET_TSC_KHZ"))
}

fn to_model(c: &CpuId) -> Vec<CpuidEntry> {
    c.as_slice()
        .iter()
        .map(|e| CpuidEntry {
            function: e.function,
            index: e.index,
            flags: e.flags,
            eax: e.eax,
            ebx: e.ebx,
            ecx: e.ecx,
            edx: e.edx,
        })
        .collect()
}

fn to_kvm(entries: &[CpuidEntry]) -> Result<CpuId, String> {
    if entries.len() > KVM_MAX_CPUID_ENTRIES {
        return Err(format!(
            "{} entries, more than KVM takes ({KVM_MAX_CPUID_ENTRIES})",
            entries.len()
        ));
    }
    let list: Vec<kvm_cpuid_entry2> = entries
        .iter()
        .map(|e| kvm_cpuid_entry2 {
            function: e.function,
            index: e.index,
            flags: e.flags,
            eax: e.eax,
            ebx: e.ebx,
            ecx: e.ecx,
            edx: e.edx,
            ..Default::default()
        })
        .collect();
    CpuId::from_entries(&list).map_err(|e| format!("{e:?}"))
}

/// The indices among `indices` that `KVM_GET_MSRS` on `fd` refuses.
fn unreadable_msrs(fd: &VcpuFd, indices: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut rest = indices;
    while !rest.is_empty() {
        let chunk = &rest[..rest.len().min(256)];
        let entries: Vec<kvm_msr_entry> = chunk
            .iter()
            .map(|&index| kvm_msr_entry {
                index,
                ..Default::default()
            })
            .collect();
        let read = match Msrs::from_entries(&entries) {
            Ok(mut m) => fd.get_msrs(&mut m).unwrap_or(0),
            Err(_) => chunk.len(),
        };
        // KVM reads in order and stops at the first MSR it refuses.
        if read < chunk.len() {
            out.push(chunk[read]);
            rest = &rest[read + 1..];
        } else {
            rest = &rest[chunk.len()..];
        }
    }
    out
}

/// Reads what this host's KVM offers. `extra_caps` are capability numbers to ask about besides
/// the ones Firecracker requires and the TSC ones; with `snapshot`, a throwaway vCPU per
/// snapshot vCPU is given its CPUID and asked for its MSRs ([`HostInfo::vcpu_trials`]).
///
/// # Errors
/// [`HostError::NoKvm`] without `/dev/kvm`, [`HostError::Kvm`] when a query KVM always answers
/// fails.
pub fn query_host(extra_caps: &[u32], snapshot: Option<&Snapshot>) -> Result<HostInfo, HostError> {
    let kvm = open()?;
    let supported = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(kerr("KVM_GET_SUPPORTED_CPUID"))?;
    let supported_cpuid = to_model(&supported);
    let msr_index_list = kvm
        .get_msr_index_list()
        .map_err(kerr("KVM_GET_MSR_INDEX_LIST"))?
        .as_slice()
        .to_vec();
    // Older kernels have no feature MSR list: then there are none to compare.
    let feature_list: Vec<u32> = kvm
        .get_msr_feature_index_list()
        .map(|l| l.as_slice().to_vec())
        .unwrap_or_default();
    let mut feature_msrs = Vec::new();
    for chunk in feature_list.chunks(64) {
        let entries: Vec<kvm_msr_entry> = chunk
            .iter()
            .map(|&index| kvm_msr_entry {
                index,
                ..Default::default()
            })
            .collect();
        let Ok(mut msrs) = Msrs::from_entries(&entries) else {
            continue;
        };
        let n = kvm.get_msrs(&mut msrs).unwrap_or(0);
        feature_msrs.extend(msrs.as_slice()[..n.min(chunk.len())].iter().map(|e| Msr {
            index: e.index,
            value: e.data,
        }));
    }
    let has = |c: u32| kvm.check_extension_raw(libc::c_ulong::from(c)) > 0;
    let capabilities = FIRECRACKER_CAPS
        .iter()
        .map(|c| c.0)
        .chain(extra_caps.iter().copied())
        .map(|c| (c, has(c)))
        .collect();
    let max_vcpus = kvm.get_max_vcpus();
    let vm = kvm.create_vm().map_err(kerr("creating a VM"))?;
    // As a VMM sets the VM up before its vCPUs (some MSRs need the in-kernel LAPIC); a host
    // that refuses leaves the MSR answers as they are.
    let _ = vm.set_tss_address(0xfffb_d000);
    let _ = vm.create_irq_chip();
    let xsave_size = u64::try_from(vm.check_extension_int(Cap::Xsave2))
        .unwrap_or(0)
        .max(4096);
    let vcpu = vm.create_vcpu(0).map_err(kerr("creating a vCPU"))?;
    let tsc_khz = vcpu.get_tsc_khz().ok();
    let vcpu_cpuid = match vcpu.set_cpuid2(&supported) {
        Ok(()) => vcpu
            .get_cpuid2(KVM_MAX_CPUID_ENTRIES)
            .map(|c| to_model(&c))
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let mut vcpu_fds = vec![vcpu];
    let mut vcpu_trials = Vec::new();
    let vcpus = snapshot.map_or(&[][..], |s| &s.vcpus[..]);
    for (i, v) in vcpus.iter().enumerate().take(max_vcpus.max(1)) {
        let Vcpu::X86_64(v) = v else { break };
        // More vCPUs than KVM creates is a finding of its own; the first ones were tried.
        let Ok(fd) = vm.create_vcpu(1 + i as u64) else {
            break;
        };
        let cpuid_error = match to_kvm(&v.cpuid) {
            Ok(c) => fd.set_cpuid2(&c).err().map(|e| e.to_string()),
            Err(e) => Some(e),
        };
        let indices: Vec<u32> = v.msrs.iter().map(|m| m.index).collect();
        vcpu_trials.push(VcpuTrial {
            cpuid_error,
            unknown_msrs: unreadable_msrs(&fd, &indices),
        });
        vcpu_fds.push(fd);
    }
    // Tearing a VM down takes the kernel milliseconds (over 10 on nested hosts); `restore`
    // asks before it creates its own VM, so the throwaway one goes away in the background.
    std::thread::spawn(move || drop((vcpu_fds, vm)));
    Ok(HostInfo {
        vendor: super::cpuid::vendor(&supported_cpuid),
        supported_cpuid,
        vcpu_cpuid,
        msr_index_list,
        feature_msrs,
        tsc_khz,
        tsc_control: has(KVM_CAP_TSC_CONTROL),
        tsc_deadline_timer: has(KVM_CAP_TSC_DEADLINE_TIMER),
        xsave_size,
        max_vcpus,
        cpus: std::thread::available_parallelism().ok().map(|n| n.get()),
        mem_total: mem_total(),
        capabilities,
        vcpu_trials,
    })
}

/// `MemTotal` from /proc/meminfo, in bytes.
fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// Queries this host and checks `s` against it: [`query_host`] then [`super::check`].
///
/// # Errors
/// As [`query_host`]: the host could not be queried.
pub fn check_host(s: &Snapshot) -> Result<(HostInfo, Vec<Finding>), HostError> {
    let extra: Vec<u32> =
        s.vm.kvm_cap_modifiers
            .iter()
            .filter_map(|m| match m {
                KvmCapModifier::Add(c) => Some(*c),
                KvmCapModifier::Remove(_) => None,
            })
            .collect();
    let host = query_host(&extra, Some(s))?;
    let findings = super::check(s, &host);
    Ok((host, findings))
}
