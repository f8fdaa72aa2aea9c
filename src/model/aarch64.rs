//! aarch64 vCPU and platform state.
//!
//! KVM hosts describe a vCPU as the list of registers `KVM_GET_REG_LIST` returns (ids in KVM's
//! encoding, each with a size coded in the id); HVF-based producers keep core registers and a
//! set of named system registers. Both shapes fit here.

use super::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Architectural state of one aarch64 vCPU.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aarch64Vcpu {
    /// Multiprocessing state (KVM_MP_STATE_*), when recorded.
    pub mp_state: Option<u32>,
    /// Registers as KVM one-reg ids and their little-endian values, in saved order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regs: Vec<Aarch64Reg>,
    /// MPIDR_EL1.
    pub mpidr: Option<u64>,
    /// KVM_ARM_VCPU_INIT arguments.
    pub kvi: Option<VcpuInit>,
    /// Guest-physical address of the paravirtual time structure.
    pub pvtime_ipa: Option<u64>,
    /// Core registers, when the producer stores them apart from a KVM register list.
    pub core: Option<Aarch64CoreRegs>,
    /// System registers by name, when the producer stores them apart from a KVM register list.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sys_regs: BTreeMap<String, u64>,
    /// PSCI power state (`on`, `off`, `on_pending`), when recorded.
    pub psci_state: Option<String>,
}

/// One KVM one-reg register.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aarch64Reg {
    /// KVM register id (size in bits 52–55: `1 << ((id >> 52) & 0xf)` bytes).
    pub id: u64,
    /// Value bytes, little-endian.
    pub value: Bytes,
}

impl Aarch64Reg {
    /// The value size the id declares, in bytes.
    pub fn declared_size(id: u64) -> u64 {
        1u64 << ((id >> 52) & 0xf)
    }
}

/// KVM_ARM_VCPU_INIT arguments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VcpuInit {
    /// Target CPU type.
    pub target: u32,
    /// Feature bitmap words.
    pub features: [u32; 7],
}

/// Core registers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aarch64CoreRegs {
    /// X0–X30.
    pub x: Vec<u64>,
    /// Stack pointer as the producer recorded it.
    pub sp: u64,
    /// Program counter.
    pub pc: u64,
    /// PSTATE.
    pub pstate: u64,
    /// V0–V31 as (low, high) 64-bit halves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub v: Vec<[u64; 2]>,
    /// FPSR.
    pub fpsr: u64,
    /// FPCR.
    pub fpcr: u64,
}

/// aarch64 VM-wide state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aarch64Platform {
    /// KVM vGIC register state.
    pub gic: Option<GicState>,
    /// An interrupt-controller state only its producer can interpret (e.g. HVF's GIC blob).
    pub opaque_gic: Option<OpaqueBlob>,
}

/// KVM vGIC (v2/v3) register state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GicState {
    /// Distributor register groups.
    pub dist: Vec<Vec<u32>>,
    /// Per-vCPU redistributor and CPU-interface state.
    pub vcpus: Vec<GicVcpu>,
    /// ITS registers, when an ITS is present.
    pub its: Option<ItsState>,
}

/// Per-vCPU GIC state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GicVcpu {
    /// Redistributor register groups.
    pub rdist: Vec<Vec<u32>>,
    /// ICC system register groups.
    pub main_icc_regs: Vec<Vec<u64>>,
    /// Active-priority ICC register groups (absent ones as null).
    pub ap_icc_regs: Vec<Option<Vec<u64>>>,
}

/// GICv3 ITS registers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ItsState {
    pub iidr: u64,
    pub cbaser: u64,
    pub creadr: u64,
    pub cwriter: u64,
    pub baser: [u64; 8],
    pub ctlr: u64,
}

/// Bytes only their producer can interpret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpaqueBlob {
    /// Who wrote it (e.g. `squib/hvf`).
    pub producer: String,
    /// The bytes.
    pub bytes: Bytes,
}
