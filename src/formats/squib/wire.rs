//! squib-snapshot 0.2.0 state types, field for field (`crates/snapshot/src/state.rs` and
//! `envelope.rs` of tyrchen/squib). Field order is declaration order, which is the order bitcode's
//! serde encoder visits them.
//!
//! Two departures from squib's own types keep every decodable file re-encodable byte for byte:
//! the version is kept as its text (squib uses `semver::Version`, which serializes as that text),
//! and `sys_regs` is kept as the list of pairs in stored order (squib uses a `BTreeMap`, which
//! sorts and collapses duplicate keys on decode).

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// squib: `SnapshotHdr` — envelope.rs. Lives inside the bitcode payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotHdr {
    /// Architecture magic (`0x0710_1984_AAAA_0000`).
    pub magic: u64,
    /// `semver::Version` as its text (`"5.0.0"`).
    pub version: String,
}

/// squib: `Snapshot<Data>` — envelope.rs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot<D> {
    /// Magic and version.
    pub header: SnapshotHdr,
    /// The state.
    pub data: D,
}

/// squib: `GpRegs` — state.rs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpRegs {
    /// X0–X30.
    pub x: [u64; 31],
    /// SP_EL1 (HVF `HV_SYS_REG_SP_EL1`).
    pub sp: u64,
    /// PC.
    pub pc: u64,
    /// PSTATE (HVF `HV_REG_CPSR`).
    pub pstate: u64,
}

/// squib: `FpSimdRegs` — state.rs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FpSimdRegs {
    /// V0–V31 as (low, high) 64-bit halves.
    pub v: [[u64; 2]; 32],
    /// FPSR.
    pub fpsr: u64,
    /// FPCR.
    pub fpcr: u64,
}

/// squib: `PsciVcpuState` — state.rs (unit enum: the variant index is on the wire).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PsciVcpuState {
    /// Running (index 0).
    On,
    /// Parked (index 1).
    #[default]
    Off,
    /// CPU_ON received, not yet running (index 2).
    OnPending,
}

impl PsciVcpuState {
    /// The model's name for the state (`on`, `off`, `on_pending`).
    pub fn name(self) -> &'static str {
        match self {
            PsciVcpuState::On => "on",
            PsciVcpuState::Off => "off",
            PsciVcpuState::OnPending => "on_pending",
        }
    }

    /// The state a model name stands for.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "on" => PsciVcpuState::On,
            "off" => PsciVcpuState::Off,
            "on_pending" => PsciVcpuState::OnPending,
            _ => return None,
        })
    }
}

/// squib's `BTreeMap<u64, u64>` of system registers, as the pairs stored (in stored order).
/// Files squib writes hold the keys strictly increasing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SysRegs(pub Vec<(u64, u64)>);

impl SysRegs {
    /// Whether the keys are strictly increasing (what a `BTreeMap` encodes).
    pub fn is_canonical(&self) -> bool {
        self.0.windows(2).all(|w| w[0].0 < w[1].0)
    }

    /// The map squib decodes from these pairs (a later duplicate key wins).
    pub fn to_map(&self) -> std::collections::BTreeMap<u64, u64> {
        self.0.iter().copied().collect()
    }

    /// The value squib would use for `key`.
    pub fn get(&self, key: u64) -> Option<u64> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

impl Serialize for SysRegs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for SysRegs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SysRegs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of u64 to u64")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<SysRegs, A::Error> {
                let mut out = Vec::with_capacity(a.size_hint().unwrap_or(0).min(1024));
                while let Some((k, v)) = a.next_entry::<u64, u64>()? {
                    out.push((k, v));
                }
                Ok(SysRegs(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// squib: `VcpuState` — state.rs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VcpuState {
    /// MPIDR_EL1 affinity assigned at create time.
    pub mpidr: u64,
    /// General-purpose registers.
    pub regs: GpRegs,
    /// FP/SIMD registers.
    pub fp_regs: FpSimdRegs,
    /// System registers by squib's private key (see `super::regs::SQUIB_SYSREGS`).
    pub sys_regs: SysRegs,
    /// PSCI state at save time (diagnostic; restore normalises it).
    pub psci_state: PsciVcpuState,
}

/// squib: `GicState` — state.rs. `hv_gic_state_get_data` bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GicState {
    /// Length of `bytes` (redundant; `verify_compatible` checks it).
    pub len: u64,
    /// The opaque HVF GIC state.
    pub bytes: Vec<u8>,
}

/// squib: `MmdsState` — state.rs (0.2.0: the data store as JSON text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmdsState {
    /// The MMDS data store as JSON (`"null"` when empty).
    pub data_json: String,
    /// MMDS V2 token TTL in seconds; `None` = MMDS V1.
    pub token_ttl_seconds: Option<u32>,
}

/// squib: `VmInfo` — state.rs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmInfo {
    /// Guest RAM in MiB.
    pub mem_size_mib: u64,
    /// SMT (always false on Apple Silicon).
    pub smt: bool,
    /// CPU template name, empty when none.
    pub cpu_template: String,
    /// Kernel image path.
    pub kernel_image_path: String,
    /// Initrd path.
    pub initrd_path: Option<String>,
    /// Effective kernel command line.
    pub boot_args: String,
    /// Dirty-page tracking on at save time (required for a diff snapshot).
    pub track_dirty_pages: bool,
}

/// squib: `DeviceState` — state.rs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceState {
    /// Device class (`virtio-block`, `virtio-net`, ...).
    pub kind: String,
    /// API identifier (`drive_id`, `iface_id`).
    pub id: String,
    /// virtio-MMIO slot index.
    pub mmio_slot: u32,
    /// The device's own (bitcode) state, opaque.
    pub blob: Vec<u8>,
}

/// squib: `DeviceStates` — state.rs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStates {
    /// Devices in `(mmio_slot, id)` order as squib writes them.
    #[serde(deserialize_with = "bounded_devices")]
    pub devices: Vec<DeviceState>,
}

/// squib: `MicrovmState` — state.rs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MicrovmState {
    /// Machine configuration.
    pub vm_info: VmInfo,
    /// One state per vCPU.
    #[serde(deserialize_with = "bounded_vcpus")]
    pub vcpu_states: Vec<VcpuState>,
    /// Device states.
    pub device_states: DeviceStates,
    /// The HVF GIC blob.
    pub gic_state: GicState,
    /// MMDS, when it was enabled.
    pub mmds_state: Option<MmdsState>,
}

/// Most vCPUs the decoder accepts (squib's loader accepts 32; more still decode so that `verify`
/// can say so). A longer list is refused before any of its elements is decoded.
pub const MAX_DECODED_VCPUS: usize = 1024;
/// Most device entries the decoder accepts.
pub const MAX_DECODED_DEVICES: usize = 4096;
/// Most `sys_regs` entries, all vCPUs together (squib knows 47 per vCPU).
pub const MAX_DECODED_SYS_REGS: u64 = 1 << 16;

fn bounded<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    max: usize,
    what: &'static str,
) -> Result<Vec<T>, D::Error> {
    struct V<T>(usize, &'static str, std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "at most {} {}", self.0, self.1)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Vec<T>, A::Error> {
            let n = a.size_hint().unwrap_or(0);
            if n > self.0 {
                return Err(serde::de::Error::custom(format!(
                    "{n} {}, more than the {} snaptool decodes",
                    self.1, self.0
                )));
            }
            let mut out = Vec::with_capacity(n);
            while let Some(x) = a.next_element()? {
                if out.len() == self.0 {
                    return Err(serde::de::Error::custom(format!(
                        "more than {} {}",
                        self.0, self.1
                    )));
                }
                out.push(x);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V(max, what, std::marker::PhantomData))
}

fn bounded_vcpus<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<VcpuState>, D::Error> {
    bounded(d, MAX_DECODED_VCPUS, "vCPU states")
}

fn bounded_devices<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DeviceState>, D::Error> {
    bounded(d, MAX_DECODED_DEVICES, "device states")
}

/// A first, cheap pass over the payload: the types of the real ones up to each vCPU's
/// `sys_regs`, whose lengths it totals without decoding the entries (bitcode decodes a column
/// for all maps at once when the first entry is read, so a hostile file could otherwise make it
/// allocate 128 bits per 2 bits of input).
pub(super) mod prefix {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static TOTAL: Cell<u64> = const { Cell::new(0) };
    }

    struct MapLen;

    impl<'de> Deserialize<'de> for MapLen {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = MapLen;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a map")
                }
                fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<MapLen, A::Error> {
                    let n = a.size_hint().unwrap_or(0) as u64;
                    TOTAL.with(|t| t.set(t.get().saturating_add(n)));
                    Ok(MapLen)
                }
            }
            d.deserialize_map(V)
        }
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Vcpu {
        mpidr: u64,
        regs: GpRegs,
        fp_regs: FpSimdRegs,
        sys_regs: MapLen,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct State {
        vm_info: VmInfo,
        #[serde(deserialize_with = "bounded_prefix")]
        vcpu_states: Vec<Vcpu>,
    }

    fn bounded_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vcpu>, D::Error> {
        bounded(d, MAX_DECODED_VCPUS, "vCPU states")
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Snap {
        header: SnapshotHdr,
        data: State,
    }

    /// The number of `sys_regs` entries of all vCPUs, as the payload declares it (`None` when
    /// the payload does not decode that far: the full decode then fails at the same place).
    pub(crate) fn sys_regs_total(body: &[u8]) -> Option<u64> {
        TOTAL.with(|t| t.set(0));
        // The pass stops after the vCPU list, so bitcode reports the rest as trailing bytes:
        // only whether it got through the vCPUs matters.
        let r = bitcode::deserialize::<Snap>(body);
        let total = TOTAL.with(|t| t.get());
        match r {
            Ok(_) => Some(total),
            Err(e) if e.to_string().contains("Expected EOF") => Some(total),
            Err(_) => None,
        }
    }
}
