//! The `x86_64` types that several frozen Firecracker layouts share, as Firecracker v1.16 declares
//! them (snapshot format 10.0.0). Each layout imports the ones it uses by name, so a change here
//! changes every layout listed below; a layout whose type differs defines its own.
//!
//! | type | layouts |
//! |---|---|
//! | `StaticCpuTemplate` | 9.0.0, 10.0.0, 11.0.0 |
//! | `VmInfo` | 9.0.0, 10.0.0 |
//! | `VmState` | 9.0.0, 10.0.0 |
//! | `CpuId` | 9.0.0, 10.0.0, 11.0.0 |
//! | `Msrs` | 9.0.0, 10.0.0, 11.0.0 |
//! | `VcpuState` | 9.0.0, 10.0.0, 11.0.0 |
//!
//! Other types here are what those need. Moved from the 10.0.0 layout, whose notes follow.
//!
//! x86_64 `MicrovmState` of snapshot format 10.0.0 (Firecracker v1.16.x).
//!
//! Field order is declaration order upstream, which is the wire order.

use serde::{Deserialize, Serialize};

use super::devices::{BootSourceConfig, GuestMemoryState, HugePageConfig, ResourceAllocator};
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

/// Firecracker: VmState — arch/x86_64/vm.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmState {
    /// Guest memory layout.
    pub memory: GuestMemoryState,
    /// GSI and address-space allocators.
    pub resource_allocator: ResourceAllocator,
    /// `kvm_pit_state2` blob (KVM_GET_PIT2).
    pub pitstate: Blob,
    /// `kvm_clock_data` blob (KVM_GET_CLOCK).
    pub clock: Blob,
    /// `kvm_irqchip` blob, chip 0 (master PIC).
    pub pic_master: Blob,
    /// `kvm_irqchip` blob, chip 1 (slave PIC).
    pub pic_slave: Blob,
    /// `kvm_irqchip` blob, chip 2 (IOAPIC).
    pub ioapic: Blob,
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
