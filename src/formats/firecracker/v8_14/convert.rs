//! Format 8.0.0, v1.14 layout ↔ the neutral model.

use super::aarch64 as arm;
use super::devices::*;
use super::x86_64::{self as x86, VcpuState};
use crate::formats::firecracker::allocator::Allocator;
use crate::formats::firecracker::convert_common::{self as cc, KEY_ALLOC, KEY_CAPS, KEY_PCI};
use crate::formats::firecracker::device_model as dm;
use crate::formats::firecracker::wire::Blob;
use crate::formats::firecracker::{Layout, WriteError};
use crate::kvm_abi as k;
use crate::model::*;
use serde_json::{Value, json};

const LAYOUT: &str = "firecracker-8.0.0-v1.14";

fn vm_info<T: std::fmt::Debug>(
    i: (u64, bool, &T, &BootSourceConfig, &HugePageConfig),
    caps: &KvmState,
) -> VmInfo {
    let (mem, smt, tpl, boot, hp) = i;
    VmInfo {
        mem_size_mib: Some(mem),
        smt: Some(smt),
        cpu_template: Some(format!("{tpl:?}")),
        boot_source: Some(BootSource {
            kernel_image_path: boot.kernel_image_path.clone(),
            initrd_path: boot.initrd_path.clone(),
            boot_args: boot.boot_args.clone(),
        }),
        huge_pages: Some(
            match hp {
                HugePageConfig::None => "None",
                HugePageConfig::Hugetlbfs2M => "2M",
            }
            .into(),
        ),
        kvm_cap_modifiers: cc::caps_to_model(&caps.kvm_cap_modifiers).unwrap_or_default(),
        ..Default::default()
    }
}

fn base(
    arch: Arch,
    vm: VmInfo,
    mem: &GuestMemoryState,
    caps: &KvmState,
    alloc: &ResourceAllocator,
) -> Snapshot {
    let mut s = Snapshot {
        provenance: cc::provenance(Layout::V8_0_0_V1_14.info(), arch),
        vm,
        memory: cc::regions_to_model(mem.regions.iter().map(|r| {
            let kind = match r.region_type {
                GuestRegionType::Dram => RegionKind::Dram,
                GuestRegionType::Hotpluggable => RegionKind::Hotpluggable,
            };
            (r.base_address, r.size, kind, r.plugged.clone())
        })),
        vcpus: Vec::new(),
        platform: Platform::X86_64(Box::default()),
        devices: Vec::new(),
        extensions: Default::default(),
    };
    if cc::caps_to_model(&caps.kvm_cap_modifiers).is_none() {
        s.extensions.insert(KEY_CAPS.into(), cc::ext(LAYOUT, caps));
    }
    s.extensions.insert(
        KEY_ALLOC.into(),
        cc::ext(LAYOUT, &Allocator::from_v8_14(alloc)),
    );
    s
}

/// MMIO and PCI device lists, the PCI switch and VMGenID → model devices.
fn devices_to_model(m: &mut Snapshot, mmio: Vec<Device>, pci: &PciDevicesState, g: &VmGenIdState) {
    m.devices = mmio;
    let pci_json = serde_json::to_value(pci).unwrap_or(Value::Null);
    m.devices
        .extend(cc::devices_to_model(&pci_json, "pci", LAYOUT));
    crate::formats::firecracker::device_config::link_mmds(&mut m.devices);
    if pci.pci_enabled {
        m.extensions.insert(KEY_PCI.into(), cc::ext(LAYOUT, &true));
    }
    let mut d = Device::new("vmgenid", DeviceKind::VmGenId);
    d.transport = Some(Transport::Address {
        addr: g.addr,
        irq: Some(g.gsi),
    });
    d.vmgenid = Some(VmGenId {
        gsi: g.gsi,
        addr: g.addr,
    });
    m.devices.push(d);
}

/// 8.0.0 (v1.14 layout) x86_64 → model.
pub fn x86_to_model(s: &x86::MicrovmState) -> Snapshot {
    let i = &s.vm_info;
    let vm = vm_info(
        (
            i.mem_size_mib,
            i.smt,
            &i.cpu_template,
            &i.boot_source,
            &i.huge_pages,
        ),
        &s.kvm_state,
    );
    let v = &s.vm_state;
    let mut m = base(
        Arch::X86_64,
        vm,
        &v.memory,
        &s.kvm_state,
        &v.resource_allocator,
    );
    m.platform = Platform::X86_64(Box::new(cc::x86_platform_to_model(
        &v.pitstate,
        &v.clock,
        &v.pic_master,
        &v.pic_slave,
        &v.ioapic,
    )));
    m.vcpus = s
        .vcpu_states
        .iter()
        .map(|c| Vcpu::X86_64(Box::new(cc::x86_vcpu_to_model(&cc::x86_blobs!(c)))))
        .collect();
    let d = &s.device_states;
    let mmio = dm::v1_13::v14_x86_in(&d.mmio_state);
    devices_to_model(&mut m, mmio, &d.pci_state, &d.acpi_state.vmgenid);
    m.devices.push(dm::vmclock_device(dm::v1_13::vmclock_in(
        &d.acpi_state.vmclock,
    )));
    m
}

/// 8.0.0 (v1.14 layout) aarch64 → model.
pub fn aarch64_to_model(s: &arm::MicrovmState) -> Snapshot {
    let i = &s.vm_info;
    let vm = vm_info(
        (
            i.mem_size_mib,
            i.smt,
            &i.cpu_template,
            &i.boot_source,
            &i.huge_pages,
        ),
        &s.kvm_state,
    );
    let v = &s.vm_state;
    let mut m = base(
        Arch::Aarch64,
        vm,
        &v.memory,
        &s.kvm_state,
        &v.resource_allocator,
    );
    m.platform = Platform::Aarch64(Box::new(Aarch64Platform {
        gic: Some(gic_to_model(&v.gic)),
        opaque_gic: None,
    }));
    for (n, c) in s.vcpu_states.iter().enumerate() {
        let regs = cc::arm_regs_to_model(&c.regs.0, &c.regs.1);
        if regs.is_none() {
            m.extensions.insert(
                format!("firecracker/vcpu[{n}].regs"),
                cc::ext(LAYOUT, &c.regs),
            );
        }
        m.vcpus.push(Vcpu::Aarch64(Box::new(Aarch64Vcpu {
            mp_state: Some(k::mp_state_from(&c.mp_state.0)),
            regs: regs.unwrap_or_default(),
            mpidr: Some(c.mpidr),
            kvi: Some(k::vcpu_init_from(&c.kvi.0)),
            pvtime_ipa: c.pvtime_ipa,
            ..Default::default()
        })));
    }
    let d = &s.device_states;
    let mmio = dm::v1_13::v14_arm_in(&d.mmio_state);
    devices_to_model(&mut m, mmio, &d.pci_state, &d.acpi_state.vmgenid);
    m
}

fn gic_to_model(g: &arm::GicState) -> GicState {
    cc::gic_to_model!(
        g,
        g.its_state.as_ref().map(|i| ItsState {
            iidr: i.iidr,
            cbaser: i.cbaser,
            creadr: i.creadr,
            cwriter: i.cwriter,
            baser: i.baser,
            ctlr: i.ctlr,
        })
    )
}

fn gic_from_model(g: &GicState) -> arm::GicState {
    let (dist, gic_vcpu_states) = cc::gic_parts_from_model!(arm, g);
    arm::GicState {
        dist,
        gic_vcpu_states,
        its_state: g.its.map(|i| arm::ItsRegisterState {
            iidr: i.iidr,
            cbaser: i.cbaser,
            creadr: i.creadr,
            cwriter: i.cwriter,
            baser: i.baser,
            ctlr: i.ctlr,
        }),
    }
}

/// Model regions → v1.14 regions. A DRAM region without slot flags (from a producer that has
/// none) is one plugged slot, as Firecracker v1.14 records every DRAM region.
fn memory_from_model(m: &Snapshot) -> Result<GuestMemoryState, WriteError> {
    Ok(GuestMemoryState {
        regions: m
            .memory
            .regions
            .iter()
            .map(|r| GuestMemoryRegionState {
                base_address: r.guest_addr,
                size: r.size,
                region_type: match r.kind {
                    RegionKind::Dram => GuestRegionType::Dram,
                    RegionKind::Hotpluggable => GuestRegionType::Hotpluggable,
                },
                plugged: if r.plugged.is_empty() && r.kind == RegionKind::Dram {
                    vec![true]
                } else {
                    r.plugged.clone()
                },
            })
            .collect(),
    })
}

struct Common {
    boot: BootSourceConfig,
    huge_pages: HugePageConfig,
    caps: KvmState,
    alloc: ResourceAllocator,
}

fn common_from_model(m: &Snapshot) -> Result<Common, WriteError> {
    let b = m.vm.boot_source.clone().unwrap_or_default();
    let huge_pages = match m.vm.huge_pages.as_deref() {
        None | Some("None") => HugePageConfig::None,
        Some("2M") => HugePageConfig::Hugetlbfs2M,
        Some(o) => {
            return Err(WriteError::Model(format!(
                "{LAYOUT} cannot hold huge_pages = {o:?} (only None and 2M)"
            )));
        }
    };
    let caps = match m.extensions.get(KEY_CAPS) {
        Some(e) => cc::value_as(&e.value, KEY_CAPS, LAYOUT)?,
        None => KvmState {
            kvm_cap_modifiers: cc::caps_from_model(&m.vm.kvm_cap_modifiers),
        },
    };
    let alloc = cc::alloc_for(
        m,
        LAYOUT,
        &Allocator::defaults(include_str!("defaults.json")),
    )?
    .to_v8_14(LAYOUT)?;
    Ok(Common {
        boot: BootSourceConfig {
            kernel_image_path: b.kernel_image_path,
            initrd_path: b.initrd_path,
            boot_args: b.boot_args,
        },
        huge_pages,
        caps,
        alloc,
    })
}

/// The fields [`x86_from_model`] / [`aarch64_from_model`] fill from Firecracker's defaults
/// because the model does not carry them (empty for models read from a file of this layout).
pub fn invented(m: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    if !m.extensions.contains_key(KEY_ALLOC) {
        out.push(
            "vm_state.resource_allocator (Firecracker v1.14's allocation for a VM without devices)"
                .into(),
        );
    }
    if !m.devices.iter().any(|d| d.vmgenid.is_some()) {
        out.push(
            "device_states.acpi_state.vmgenid (gsi 5 at 0xdfff0, as Firecracker places it)".into(),
        );
    }
    if m.arch() == Arch::X86_64 && dm::model_vmclock(m).is_none() {
        out.push(
            "device_states.acpi_state.vmclock.inner (Firecracker v1.14's initial vmclock page)"
                .into(),
        );
    }
    out
}

fn vmgenid_from_model(m: &Snapshot) -> Result<VmGenIdState, WriteError> {
    match m.devices.iter().find_map(|d| d.vmgenid) {
        Some(g) => Ok(VmGenIdState {
            gsi: g.gsi,
            addr: g.addr,
        }),
        None => Ok(VmGenIdState {
            gsi: dm::VMGENID_DEFAULT.gsi,
            addr: dm::VMGENID_DEFAULT.addr,
        }),
    }
}

/// The model's vmclock (a later release's interrupt line and generation counter left out);
/// without one, Firecracker v1.14's initial page at the address the model gives, or at v1.14's
/// default address.
fn vmclock_from_model(m: &Snapshot) -> Result<VmClockState, WriteError> {
    if let Some(c) = dm::model_vmclock(m) {
        return Ok(dm::v1_13::vmclock_out(c));
    }
    let mut c = dm::v1_13::vmclock_out(&dm::initial_vmclock(None, None, 0));
    let addr = m
        .devices
        .iter()
        .filter(|d| d.kind == DeviceKind::VmClock)
        .find_map(|d| match d.transport {
            Some(Transport::Address { addr, .. }) => Some(addr),
            _ => None,
        });
    if let Some(a) = addr {
        c.guest_address = a;
    }
    Ok(c)
}

fn empty_lists(legacy: bool) -> Value {
    let mut v = json!({"block_devices": [], "net_devices": [], "vsock_device": null,
        "balloon_device": null, "mmds": null, "entropy_device": null, "pmem_devices": [],
        "memory_device": null});
    if legacy {
        v["legacy_devices"] = json!([]);
    }
    v
}

fn pci_from_model(m: &Snapshot) -> Result<PciDevicesState, WriteError> {
    let mut empty = empty_lists(false);
    empty["pci_enabled"] = Value::Bool(
        m.extensions
            .get(KEY_PCI)
            .and_then(|e| e.value.as_bool())
            .unwrap_or(false),
    );
    let v = cc::devices_from_model(&m.devices, empty, "pci", LAYOUT)?;
    cc::value_as(&v, "device_states.pci_state", LAYOUT)
}

fn cpu_template<T: serde::de::DeserializeOwned>(m: &Snapshot) -> Result<T, WriteError> {
    let name = m.vm.cpu_template.clone().unwrap_or_else(|| "None".into());
    cc::named(&name, "vm.cpu_template", LAYOUT)
}

/// Model → 8.0.0 (v1.14 layout) x86_64.
///
/// # Errors
/// When the model holds something this layout cannot express.
pub fn x86_from_model(m: &Snapshot) -> Result<x86::MicrovmState, WriteError> {
    let c = common_from_model(m)?;
    let Platform::X86_64(p) = &m.platform else {
        return Err(WriteError::Model(
            "x86_64 layout needs x86_64 platform state".into(),
        ));
    };
    let [pitstate, clock, pic_master, pic_slave, ioapic] = cc::x86_platform_from_model(p);
    let vcpu_states = m
        .vcpus
        .iter()
        .map(|v| match v {
            Vcpu::X86_64(v) => {
                let b = cc::x86_vcpu_from_model(v);
                Ok(cc::x86_vcpu_state!(VcpuState, b))
            }
            Vcpu::Aarch64(_) => Err(WriteError::Model("aarch64 vCPU in an x86_64 state".into())),
        })
        .collect::<Result<_, _>>()?;
    let mmio = dm::v1_13::v14_x86_out(&m.devices)?;
    Ok(x86::MicrovmState {
        vm_info: x86::VmInfo {
            mem_size_mib: m.vm.mem_size_mib.unwrap_or(m.memory.total_size() >> 20),
            smt: m.vm.smt.unwrap_or(false),
            cpu_template: cpu_template(m)?,
            boot_source: c.boot,
            huge_pages: c.huge_pages,
        },
        kvm_state: c.caps,
        vm_state: x86::VmState {
            memory: memory_from_model(m)?,
            resource_allocator: c.alloc,
            pitstate,
            clock,
            pic_master,
            pic_slave,
            ioapic,
        },
        vcpu_states,
        device_states: x86::DevicesState {
            mmio_state: mmio,
            acpi_state: x86::AcpiDeviceManagerState {
                vmgenid: vmgenid_from_model(m)?,
                vmclock: vmclock_from_model(m)?,
            },
            pci_state: pci_from_model(m)?,
        },
    })
}

/// Model → 8.0.0 (v1.14 layout) aarch64.
///
/// # Errors
/// When the model holds something this layout cannot express.
pub fn aarch64_from_model(m: &Snapshot) -> Result<arm::MicrovmState, WriteError> {
    let c = common_from_model(m)?;
    let Platform::Aarch64(p) = &m.platform else {
        return Err(WriteError::Model(
            "aarch64 layout needs aarch64 platform state".into(),
        ));
    };
    let mut vcpu_states = Vec::new();
    for (n, v) in m.vcpus.iter().enumerate() {
        let Vcpu::Aarch64(v) = v else {
            return Err(WriteError::Model("x86_64 vCPU in an aarch64 state".into()));
        };
        let key = format!("firecracker/vcpu[{n}].regs");
        let regs = match m.extensions.get(&key) {
            Some(e) => cc::value_as(&e.value, &key, LAYOUT)?,
            None => cc::arm_regs_from_model(&v.regs),
        };
        vcpu_states.push(arm::VcpuState {
            mp_state: Blob(k::mp_state_to(v.mp_state.unwrap_or(0))),
            regs,
            mpidr: v.mpidr.unwrap_or(0),
            kvi: Blob(k::vcpu_init_to(&v.kvi.unwrap_or_default())),
            pvtime_ipa: v.pvtime_ipa,
        });
    }
    let mmio = dm::v1_13::v14_arm_out(&m.devices)?;
    Ok(arm::MicrovmState {
        vm_info: arm::VmInfo {
            mem_size_mib: m.vm.mem_size_mib.unwrap_or(m.memory.total_size() >> 20),
            smt: m.vm.smt.unwrap_or(false),
            cpu_template: cpu_template(m)?,
            boot_source: c.boot,
            huge_pages: c.huge_pages,
        },
        kvm_state: c.caps,
        vm_state: arm::VmState {
            memory: memory_from_model(m)?,
            gic: gic_from_model(&p.gic.clone().unwrap_or_default()),
            resource_allocator: c.alloc,
        },
        vcpu_states,
        device_states: arm::DevicesState {
            mmio_state: mmio,
            acpi_state: arm::AcpiDeviceManagerState {
                vmgenid: vmgenid_from_model(m)?,
            },
            pci_state: pci_from_model(m)?,
        },
    })
}
