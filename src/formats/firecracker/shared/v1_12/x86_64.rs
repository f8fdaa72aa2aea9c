//! The `x86_64` types that several frozen Firecracker layouts share, as Firecracker v1.12 declares
//! them (snapshot format 6.0.0). Each layout imports the ones it uses by name, so a change here
//! changes every layout listed below; a layout whose type differs defines its own.
//!
//! | type | layouts |
//! |---|---|
//! | `StaticCpuTemplate` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `VmInfo` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `CpuId` | 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `Msrs` | 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `VcpuState` | 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `DeviceStates` | 5.0.0, 6.0.0 |
//!
//! Other types here are what those need. Moved from the 6.0.0 layout, whose notes follow.
//!
//! x86_64 `MicrovmState` of snapshot format 6.0.0 (Firecracker v1.12.x).
//!
//! Field order is declaration order upstream, which is the wire order.

use serde::{Deserialize, Serialize};

use super::devices::{
    BootSourceConfig, ConnectedBalloonState, ConnectedBlockState, ConnectedEntropyState,
    ConnectedNetState, ConnectedVsockState, HugePageConfig, MmdsVersionState,
};
use crate::formats::firecracker::wire::{Blob, FamBlob, Xsave};

/// Firecracker: StaticCpuTemplate — cpu_config/x86_64/static_cpu_templates/mod.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StaticCpuTemplate {
    /// Intel C3 template (index 0).
    C3,
    /// Intel T2 template (index 1).
    T2,
    /// Intel T2S template (index 2).
    T2S,
    /// No template (index 3).
    None,
    /// Intel T2CL template (index 4).
    T2CL,
    /// AMD T2A template (index 5).
    T2A,
}

/// Firecracker: VmInfo — persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmInfo {
    /// Guest memory size in MiB.
    pub mem_size_mib: u64,
    /// Whether SMT is enabled.
    pub smt: bool,
    /// Static CPU template.
    pub cpu_template: StaticCpuTemplate,
    /// Boot source configuration.
    pub boot_source: BootSourceConfig,
    /// Huge page configuration.
    pub huge_pages: HugePageConfig,
}

/// Firecracker: CpuId (`FamStructWrapper<kvm_cpuid2>`): header blob + entry blobs.
pub type CpuId = FamBlob;

/// Firecracker: Msrs (`FamStructWrapper<kvm_msrs>`): header blob + entry blobs.
pub type Msrs = FamBlob;

/// Firecracker: VcpuState — arch/x86_64/vcpu.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VcpuState {
    /// CPUID entries (KVM_GET_CPUID2).
    pub cpuid: CpuId,
    /// MSRs, in chunks.
    pub saved_msrs: Vec<Msrs>,
    /// `kvm_debugregs` blob.
    pub debug_regs: Blob,
    /// `kvm_lapic_state` blob.
    pub lapic: Blob,
    /// `kvm_mp_state` blob.
    pub mp_state: Blob,
    /// `kvm_regs` blob.
    pub regs: Blob,
    /// `kvm_sregs` blob.
    pub sregs: Blob,
    /// `kvm_vcpu_events` blob.
    pub vcpu_events: Blob,
    /// `kvm_xcrs` blob.
    pub xcrs: Blob,
    /// XSAVE area (`FamStructWrapper<kvm_xsave2>`).
    pub xsave: Xsave,
    /// TSC frequency in kHz, if known.
    pub tsc_khz: Option<u32>,
}

/// Firecracker: DeviceStates — device_manager/persist.rs (x86_64: no
/// `legacy_devices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStates {
    /// Block devices.
    pub block_devices: Vec<ConnectedBlockState>,
    /// Network devices.
    pub net_devices: Vec<ConnectedNetState>,
    /// Vsock device, if any.
    pub vsock_device: Option<ConnectedVsockState>,
    /// Balloon device, if any.
    pub balloon_device: Option<ConnectedBalloonState>,
    /// MMDS version, if MMDS is configured.
    pub mmds_version: Option<MmdsVersionState>,
    /// Entropy device, if any.
    pub entropy_device: Option<ConnectedEntropyState>,
}
