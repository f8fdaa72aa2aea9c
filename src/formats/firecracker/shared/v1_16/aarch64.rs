//! The `aarch64` types that several frozen Firecracker layouts share, as Firecracker v1.16 declares
//! them (snapshot format 10.0.0). Each layout imports the ones it uses by name, so a change here
//! changes every layout listed below; a layout whose type differs defines its own.
//!
//! | type | layouts |
//! |---|---|
//! | `StaticCpuTemplate` | 9.0.0, 10.0.0, 11.0.0 |
//! | `VmInfo` | 9.0.0, 10.0.0 |
//! | `GicRegState` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `VgicSysRegsState` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `GicVcpuState` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `ItsRegisterState` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `GicState` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `VmState` | 9.0.0, 10.0.0 |
//! | `Aarch64RegisterVec` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `VcpuState` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0, 11.0.0 |
//! | `DeviceType` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0 |
//! | `ConnectedLegacyState` | 8.0.0 (v1.13), 8.0.0 (v1.14), 9.0.0, 10.0.0 |
//!
//! Other types here are what those need. Moved from the 10.0.0 layout, whose notes follow.
//!
//! aarch64 `MicrovmState` of snapshot format 10.0.0 (Firecracker v1.16.x).
//!
//! Field order is declaration order upstream, which is the wire order.

use serde::{Deserialize, Serialize};

use super::devices::{
    BootSourceConfig, GuestMemoryState, HugePageConfig, MmioDeviceInfo, ResourceAllocator,
};
use crate::formats::firecracker::wire::Blob;

/// Firecracker: StaticCpuTemplate — cpu_config/aarch64/static_cpu_templates/mod.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StaticCpuTemplate {
    /// Neoverse V1 → N1 template (index 0).
    V1N1,
    /// No template (index 1).
    None,
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

/// Firecracker: GicRegState — arch/aarch64/gic/regs.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GicRegState<T> {
    /// Register values.
    pub chunks: Vec<T>,
}

/// Firecracker: VgicSysRegsState — arch/aarch64/gic/regs.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VgicSysRegsState {
    /// Main ICC system registers.
    pub main_icc_regs: Vec<GicRegState<u64>>,
    /// Active-priority ICC registers (absent ones are `None`).
    pub ap_icc_regs: Vec<Option<GicRegState<u64>>>,
}

/// Firecracker: GicVcpuState — arch/aarch64/gic/regs.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GicVcpuState {
    /// Redistributor registers.
    pub rdist: Vec<GicRegState<u32>>,
    /// CPU interface system registers.
    pub icc: VgicSysRegsState,
}

/// Firecracker: ItsRegisterState — arch/aarch64/gic/gicv3/regs/its_regs.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItsRegisterState {
    /// GITS_IIDR.
    pub iidr: u64,
    /// GITS_CBASER.
    pub cbaser: u64,
    /// GITS_CREADR.
    pub creadr: u64,
    /// GITS_CWRITER.
    pub cwriter: u64,
    /// `GITS_BASER<n>`.
    pub baser: [u64; 8],
    /// GITS_CTLR.
    pub ctlr: u64,
}

/// Firecracker: GicState — arch/aarch64/gic/regs.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GicState {
    /// Distributor registers.
    pub dist: Vec<GicRegState<u32>>,
    /// Per-vCPU GIC state.
    pub gic_vcpu_states: Vec<GicVcpuState>,
    /// ITS state, if an ITS is present.
    pub its_state: Option<ItsRegisterState>,
}

/// Firecracker: VmState — arch/aarch64/vm.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmState {
    /// Guest memory layout.
    pub memory: GuestMemoryState,
    /// GIC state.
    pub gic: GicState,
    /// GSI and address-space allocators.
    pub resource_allocator: ResourceAllocator,
}

/// Firecracker: Aarch64RegisterVec — arch/aarch64/regs.rs (custom serde):
/// `(ids, data)`; each register's size is `1 << ((id >> 52) & 0xf)` bytes.
pub type Aarch64RegisterVec = (Vec<u64>, Vec<u8>);

/// Firecracker: VcpuState — arch/aarch64/vcpu.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VcpuState {
    /// `kvm_mp_state` blob.
    pub mp_state: Blob,
    /// All vCPU registers (ids and packed data).
    pub regs: Aarch64RegisterVec,
    /// MPIDR_EL1 value.
    pub mpidr: u64,
    /// `kvm_vcpu_init` blob.
    pub kvi: Blob,
    /// Guest physical address of the PV-time structure, if enabled.
    pub pvtime_ipa: Option<u64>,
}

/// Firecracker: DeviceType — arch/mod.rs, as compiled for aarch64
/// (`Serial` and `Rtc` are `cfg(target_arch = "aarch64")`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceType {
    /// Virtio device with the given virtio id (index 0).
    Virtio(u32),
    /// 8250 serial console (index 1).
    Serial,
    /// PL031 RTC (index 2).
    Rtc,
    /// Boot timer (index 3).
    BootTimer,
}

/// Firecracker: ConnectedLegacyState — device_manager/persist.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectedLegacyState {
    /// Device type (`type_` upstream).
    pub type_: DeviceType,
    /// MMIO placement.
    pub device_info: MmioDeviceInfo,
}
