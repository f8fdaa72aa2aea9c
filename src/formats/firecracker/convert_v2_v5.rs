//! Conversion helpers shared by formats 2.0.0–5.0.0 (bincode 1; kvm structures as blobs; a plain
//! 4096-byte `kvm_xsave`; top-level `memory_state`). They put every shared concept in the same
//! model place the 6.0.0 and 10.0.0 converters use, so a VM reads into the same model whichever
//! of these layouts stored it.

use super::convert_common::{self as cc, KEY_CAPS};
use super::v2::x86_64::VcpuState as X86VcpuState;
use super::v6::aarch64 as arm;
use super::v6::devices::{AcpiDeviceManagerState, BootSourceConfig, HugePageConfig, VmGenIdState};
use super::wire::Blob;
use super::{Layout, WriteError};
use crate::kvm_abi as k;
use crate::model::*;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

/// The machine configuration fields every layout has, borrowed from the layout's `VmInfo`.
pub(crate) struct Info<'a> {
    pub mem_size_mib: u64,
    pub smt: bool,
    pub cpu_template: String,
    pub boot: &'a BootSourceConfig,
    pub huge_pages: &'a HugePageConfig,
    /// The KVM capability modifiers (in `VmState` up to 4.0.0, in `kvm_state` from 5.0.0).
    pub caps: &'a [String],
}

/// A layout's `VmInfo` (either arch) and capability list → [`Info`].
macro_rules! info {
    ($i:expr, $caps:expr) => {{
        let i = &$i;
        $crate::formats::firecracker::convert_v2_v5::Info {
            mem_size_mib: i.mem_size_mib,
            smt: i.smt,
            cpu_template: format!("{:?}", i.cpu_template),
            boot: &i.boot_source,
            huge_pages: &i.huge_pages,
            caps: $caps,
        }
    }};
}

/// [`Common`] → the `VmInfo` of layout module `$m` (`?` on the CPU template).
macro_rules! vm_info_from_model {
    ($m:ident, $model:expr, $c:expr, $layout:expr) => {
        $m::VmInfo {
            mem_size_mib: $c.mem_size_mib,
            smt: $c.smt,
            cpu_template: $crate::formats::firecracker::convert_v2_v5::cpu_template(
                $model, $layout,
            )?,
            boot_source: $c.boot.clone(),
            huge_pages: $c.huge_pages.clone(),
        }
    };
}

pub(crate) use {info, vm_info_from_model};

/// A new model with provenance, machine configuration and memory regions. `regions` are
/// `(base, size, explicit offset)`; formats 2.0.0–4.0.0 store the offset, 5.0.0 does not.
pub(crate) fn base<I>(layout: Layout, arch: Arch, i: Info<'_>, regions: I) -> Snapshot
where
    I: IntoIterator<Item = (u64, u64, Option<u64>)>,
{
    let regions: Vec<_> = regions.into_iter().collect();
    let mut memory = cc::regions_to_model(
        regions
            .iter()
            .map(|r| (r.0, r.1, RegionKind::Dram, Vec::new())),
    );
    for (m, r) in memory.regions.iter_mut().zip(&regions) {
        if let Some(off) = r.2 {
            m.file_offset = off;
            m.explicit_offset = true;
        }
    }
    let caps = cc::caps_to_model(i.caps);
    let mut s = Snapshot {
        provenance: cc::provenance(layout.info(), arch),
        vm: VmInfo {
            mem_size_mib: Some(i.mem_size_mib),
            smt: Some(i.smt),
            cpu_template: Some(i.cpu_template),
            boot_source: Some(BootSource {
                kernel_image_path: i.boot.kernel_image_path.clone(),
                initrd_path: i.boot.initrd_path.clone(),
                boot_args: i.boot.boot_args.clone(),
            }),
            huge_pages: Some(
                match i.huge_pages {
                    HugePageConfig::None => "None",
                    HugePageConfig::Hugetlbfs2M => "2M",
                }
                .into(),
            ),
            kvm_cap_modifiers: caps.clone().unwrap_or_default(),
            ..Default::default()
        },
        memory,
        vcpus: Vec::new(),
        platform: match arch {
            Arch::X86_64 => Platform::X86_64(Box::default()),
            Arch::Aarch64 => Platform::Aarch64(Box::default()),
        },
        devices: Vec::new(),
        extensions: Default::default(),
    };
    if caps.is_none() {
        s.extensions.insert(
            KEY_CAPS.into(),
            cc::ext(layout.info().id, &json!({ "kvm_cap_modifiers": i.caps })),
        );
    }
    s
}

/// What every layout's `VmInfo` and capability list need from the model.
pub(crate) struct Common {
    pub mem_size_mib: u64,
    pub smt: bool,
    pub boot: BootSourceConfig,
    pub huge_pages: HugePageConfig,
    pub caps: Vec<String>,
}

/// Machine configuration and capability modifiers from the model. Absent values get what
/// Firecracker records for a default machine: SMT off, no huge pages, the memory size from the
/// regions, an empty boot source.
pub(crate) fn common_from_model(m: &Snapshot, layout: &str) -> Result<Common, WriteError> {
    let b = m.vm.boot_source.clone().unwrap_or_default();
    let huge_pages = match m.vm.huge_pages.as_deref() {
        None | Some("None") => HugePageConfig::None,
        Some("2M") => HugePageConfig::Hugetlbfs2M,
        Some(o) => {
            return Err(WriteError::Model(format!(
                "{layout} cannot hold huge_pages = {o:?} (only None and 2M)"
            )));
        }
    };
    let caps = match m.extensions.get(KEY_CAPS) {
        Some(e) => cc::value_as(&e.value["kvm_cap_modifiers"], KEY_CAPS, layout)?,
        None => cc::caps_from_model(&m.vm.kvm_cap_modifiers),
    };
    Ok(Common {
        mem_size_mib: m.vm.mem_size_mib.unwrap_or(m.memory.total_size() >> 20),
        smt: m.vm.smt.unwrap_or(false),
        boot: BootSourceConfig {
            kernel_image_path: b.kernel_image_path,
            initrd_path: b.initrd_path,
            boot_args: b.boot_args,
        },
        huge_pages,
        caps,
    })
}

/// The CPU template by name (`None` when the model has none).
pub(crate) fn cpu_template<T: DeserializeOwned>(
    m: &Snapshot,
    layout: &str,
) -> Result<T, WriteError> {
    let name = m.vm.cpu_template.clone().unwrap_or_else(|| "None".into());
    cc::named(&name, "vm.cpu_template", layout)
}

/// Regions as `(base, size, file offset)`. A model from a layout without stored offsets has
/// the running sum of sizes there, which is what Firecracker v1.8–v1.10 stored.
pub(crate) fn regions_from_model(m: &Snapshot) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
    m.memory
        .regions
        .iter()
        .map(|r| (r.guest_addr, r.size, r.file_offset))
}

/// x86_64 vCPUs → model. The 4096-byte `kvm_xsave` becomes the model's `region`, with
/// `len_field = 0` and no `extra`: exactly what a 6.0.0+ file (`kvm_xsave2` with an empty
/// area beyond 4 KiB) gives for the same vCPU.
pub(crate) fn x86_vcpus_to_model(v: &[X86VcpuState]) -> Vec<Vcpu> {
    v.iter()
        .map(|c| {
            let mut hdr = vec![0u8; 8];
            hdr.extend_from_slice(&c.xsave.0);
            let b = cc::X86VcpuBlobs {
                cpuid: c.cpuid.clone(),
                saved_msrs: c.saved_msrs.clone(),
                debug_regs: c.debug_regs.clone(),
                lapic: c.lapic.clone(),
                mp_state: c.mp_state.clone(),
                regs: c.regs.clone(),
                sregs: c.sregs.clone(),
                vcpu_events: c.vcpu_events.clone(),
                xcrs: c.xcrs.clone(),
                xsave: (Blob(hdr), Vec::new()),
                tsc_khz: c.tsc_khz,
            };
            Vcpu::X86_64(Box::new(cc::x86_vcpu_to_model(&b)))
        })
        .collect()
}

/// Model → x86_64 vCPUs. A `kvm_xsave` holds the first 4 KiB only: state beyond it (AMX tiles)
/// is refused unless it is all zero (components in their initial state, which is what
/// KVM_GET_XSAVE2 reports when the guest never used them).
pub(crate) fn x86_vcpus_from_model(
    m: &Snapshot,
    layout: &str,
) -> Result<Vec<X86VcpuState>, WriteError> {
    m.vcpus
        .iter()
        .enumerate()
        .map(|(n, v)| {
            let Vcpu::X86_64(v) = v else {
                return Err(WriteError::Model("aarch64 vCPU in an x86_64 state".into()));
            };
            if let Some(x) = &v.xsave
                && x.extra.iter().any(|&w| w != 0)
            {
                return Err(WriteError::Model(format!(
                    "vCPU {n}: {layout} stores a 4096-byte kvm_xsave, but the XSAVE area has {} \
                     bytes of live state beyond 4 KiB (AMX)",
                    x.extra.len() * 4
                )));
            }
            let b = cc::x86_vcpu_from_model(v);
            Ok(X86VcpuState {
                cpuid: b.cpuid,
                saved_msrs: b.saved_msrs,
                debug_regs: b.debug_regs,
                lapic: b.lapic,
                mp_state: b.mp_state,
                regs: b.regs,
                sregs: b.sregs,
                vcpu_events: b.vcpu_events,
                xcrs: b.xcrs,
                xsave: Blob(b.xsave.0.0.get(8..).unwrap_or_default().to_vec()),
                tsc_khz: b.tsc_khz,
            })
        })
        .collect()
}

/// aarch64 vCPUs → model (register lists whose sizes do not add up go to an extension).
pub(crate) fn arm_vcpus_to_model(m: &mut Snapshot, v: &[arm::VcpuState], layout: &str) {
    for (n, c) in v.iter().enumerate() {
        let regs = cc::arm_regs_to_model(&c.regs.0, &c.regs.1);
        if regs.is_none() {
            m.extensions.insert(
                format!("firecracker/vcpu[{n}].regs"),
                cc::ext(layout, &c.regs),
            );
        }
        m.vcpus.push(Vcpu::Aarch64(Box::new(Aarch64Vcpu {
            mp_state: Some(k::mp_state_from(&c.mp_state.0)),
            regs: regs.unwrap_or_default(),
            mpidr: Some(c.mpidr),
            kvi: Some(k::vcpu_init_from(&c.kvi.0)),
            ..Default::default()
        })));
    }
}

/// Model → aarch64 vCPUs (`pvtime_ipa` of newer layouts has no place here and is dropped).
pub(crate) fn arm_vcpus_from_model(
    m: &Snapshot,
    layout: &str,
) -> Result<Vec<arm::VcpuState>, WriteError> {
    let mut out = Vec::new();
    for (n, v) in m.vcpus.iter().enumerate() {
        let Vcpu::Aarch64(v) = v else {
            return Err(WriteError::Model("x86_64 vCPU in an aarch64 state".into()));
        };
        // The `(ids, data)` pair has the same shape in every layout.
        let key = format!("firecracker/vcpu[{n}].regs");
        let regs = match m.extensions.get(&key) {
            Some(e) => cc::value_as(&e.value, &key, layout)?,
            None => cc::arm_regs_from_model(&v.regs),
        };
        out.push(arm::VcpuState {
            mp_state: Blob(k::mp_state_to(v.mp_state.unwrap_or(0))),
            regs,
            mpidr: v.mpidr.unwrap_or(0),
            kvi: Blob(k::vcpu_init_to(&v.kvi.unwrap_or_default())),
        });
    }
    Ok(out)
}

/// The x86_64 platform blobs (pit, clock, pic master, pic slave, ioapic).
pub(crate) fn x86_platform_from_model(m: &Snapshot) -> Result<[Blob; 5], WriteError> {
    let Platform::X86_64(p) = &m.platform else {
        return Err(WriteError::Model(
            "x86_64 layout needs x86_64 platform state".into(),
        ));
    };
    Ok(cc::x86_platform_from_model(p))
}

/// GIC → model (these layouts have no ITS state).
pub(crate) fn gic_to_model(g: &arm::GicState) -> Platform {
    Platform::Aarch64(Box::new(Aarch64Platform {
        gic: Some(cc::gic_to_model!(g, None)),
        opaque_gic: None,
    }))
}

/// Model → GIC (an ITS state of a newer layout has no place here and is dropped).
pub(crate) fn gic_from_model(m: &Snapshot) -> Result<arm::GicState, WriteError> {
    let Platform::Aarch64(p) = &m.platform else {
        return Err(WriteError::Model(
            "aarch64 layout needs aarch64 platform state".into(),
        ));
    };
    let (dist, gic_vcpu_states) =
        cc::gic_parts_from_model!(arm, &p.gic.clone().unwrap_or_default());
    Ok(arm::GicState {
        dist,
        gic_vcpu_states,
    })
}

/// ACPI state → the model's VMGenID device (none when the file has none).
pub(crate) fn acpi_to_model(a: &AcpiDeviceManagerState) -> Option<Device> {
    let g = a.vmgenid.as_ref()?;
    let mut d = Device::new("vmgenid", DeviceKind::VmGenId);
    d.transport = Some(Transport::Address {
        addr: g.addr,
        irq: Some(g.gsi),
    });
    d.vmgenid = Some(VmGenId {
        gsi: g.gsi,
        addr: g.addr,
    });
    Some(d)
}

/// The model's VMGenID device → ACPI state (`None` when the model has none, as Firecracker
/// records a VM without one).
pub(crate) fn acpi_from_model(m: &Snapshot) -> AcpiDeviceManagerState {
    AcpiDeviceManagerState {
        vmgenid: m
            .devices
            .iter()
            .find_map(|d| d.vmgenid)
            .map(|g| VmGenIdState {
                gsi: g.gsi,
                addr: g.addr,
            }),
    }
}

/// A layout's `DeviceStates` → model devices.
pub(crate) fn devices_to_model<T: Serialize>(states: &T, layout: &str) -> Vec<Device> {
    let v = serde_json::to_value(states).unwrap_or(Value::Null);
    cc::devices_to_model(&v, "mmio", layout)
}
