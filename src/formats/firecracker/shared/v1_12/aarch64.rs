//! The `aarch64` types that several frozen Firecracker layouts share, as Firecracker v1.12 declares
//! them (snapshot format 6.0.0). Each layout imports the ones it uses by name, so a change here
//! changes every layout listed below; a layout whose type differs defines its own.
//!
//! | type | layouts |
//! |---|---|
//! | `StaticCpuTemplate` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `VmInfo` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0, 8.0.0 (v1.13), 8.0.0 (v1.14) |
//! | `GicRegState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `VgicSysRegsState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `GicVcpuState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `GicState` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `Aarch64RegisterVec` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `VcpuState` | 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `DeviceType` | 1.0.0, 2.0.0, 3.0.0, 4.0.0, 5.0.0, 6.0.0 |
//! | `ConnectedLegacyState` | 5.0.0, 6.0.0 |
//! | `DeviceStates` | 5.0.0, 6.0.0 |
//!
//! Other types here are what those need. Moved from the 6.0.0 layout, whose notes follow.
//!
//! aarch64 `MicrovmState` of snapshot format 6.0.0 (Firecracker v1.12.x).
//!
//! Field order is declaration order upstream, which is the wire order.

use serde::{Deserialize, Serialize};

use super::devices::{
    BootSourceConfig, ConnectedBalloonState, ConnectedBlockState, ConnectedEntropyState,
    ConnectedNetState, ConnectedVsockState, HugePageConfig, MmdsVersionState, MmioDeviceInfo,
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

/// Firecracker: GicState — arch/aarch64/gic/regs.rs
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GicState {
    /// Distributor registers.
    pub dist: Vec<GicRegState<u32>>,
    /// Per-vCPU GIC state.
    pub gic_vcpu_states: Vec<GicVcpuState>,
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

/// Firecracker: DeviceStates — device_manager/persist.rs (aarch64: starts
/// with `legacy_devices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStates {
    /// Legacy MMIO devices (serial, RTC, boot timer).
    pub legacy_devices: Vec<ConnectedLegacyState>,
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
