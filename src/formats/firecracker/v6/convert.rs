//! Format 6.0.0 ↔ the neutral model.

use super::aarch64 as arm;
use super::devices::*;
use super::x86_64::{self as x86, VcpuState};
use crate::formats::firecracker::convert_common as cc;
use crate::formats::firecracker::device_config as dc;
use crate::formats::firecracker::device_model as dm;
use crate::formats::firecracker::wire::Blob;
use crate::formats::firecracker::{Layout, WriteError};
use crate::kvm_abi as k;
use crate::model::*;

const LAYOUT: &str = "firecracker-6.0.0";

fn vm_info(
    mem: u64,
    smt: bool,
    tpl: String,
    boot: &BootSourceConfig,
    hp: &HugePageConfig,
    caps: &KvmState,
) -> VmInfo {
    VmInfo {
        mem_size_mib: Some(mem),
        smt: Some(smt),
        cpu_template: Some(tpl),
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

fn base(info_arch: Arch, vm: VmInfo, memory: &GuestMemoryState, caps: &KvmState) -> Snapshot {
    let mut s = Snapshot {
        provenance: cc::provenance(Layout::V6_0_0.info(), info_arch),
        vm,
        memory: cc::regions_to_model(
            memory
                .regions
                .iter()
                .map(|r| (r.base_address, r.size, RegionKind::Dram, Vec::new())),
        ),
        vcpus: Vec::new(),
        platform: Platform::X86_64(Box::default()),
        devices: Vec::new(),
        extensions: Default::default(),
    };
    if cc::caps_to_model(&caps.kvm_cap_modifiers).is_none() {
        s.extensions
            .insert("firecracker/kvm_state".into(), cc::ext(LAYOUT, caps));
    }
    s
}

fn acpi_to_model(a: &AcpiDeviceManagerState) -> Option<Device> {
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

fn acpi_from_model(m: &Snapshot) -> AcpiDeviceManagerState {
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

/// 6.0.0 x86_64 → model.
pub fn x86_to_model(s: &x86::MicrovmState) -> Snapshot {
    let i = &s.vm_info;
    let tpl = format!("{:?}", i.cpu_template);
    let vm = vm_info(
        i.mem_size_mib,
        i.smt,
        tpl,
        &i.boot_source,
        &i.huge_pages,
        &s.kvm_state,
    );
    let mut m = base(Arch::X86_64, vm, &s.vm_state.memory, &s.kvm_state);
    let v = &s.vm_state;
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
    m.devices = dm::v1_12::x86_in(&s.device_states);
    m.devices.extend(acpi_to_model(&s.acpi_dev_state));
    dc::link_mmds(&mut m.devices);
    m
}

/// 6.0.0 aarch64 → model.
pub fn aarch64_to_model(s: &arm::MicrovmState) -> Snapshot {
    let i = &s.vm_info;
    let tpl = format!("{:?}", i.cpu_template);
    let vm = vm_info(
        i.mem_size_mib,
        i.smt,
        tpl,
        &i.boot_source,
        &i.huge_pages,
        &s.kvm_state,
    );
    let mut m = base(Arch::Aarch64, vm, &s.vm_state.memory, &s.kvm_state);
    m.platform = Platform::Aarch64(Box::new(Aarch64Platform {
        gic: Some(gic_to_model(&s.vm_state.gic)),
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
            ..Default::default()
        })));
    }
    m.devices = dm::v1_12::arm_in(&s.device_states);
    m.devices.extend(acpi_to_model(&s.acpi_dev_state));
    dc::link_mmds(&mut m.devices);
    m
}

fn gic_to_model(g: &arm::GicState) -> GicState {
    cc::gic_to_model!(g, None)
}

fn gic_from_model(g: &GicState) -> arm::GicState {
    let (dist, gic_vcpu_states) = cc::gic_parts_from_model!(arm, g);
    arm::GicState {
        dist,
        gic_vcpu_states,
    }
}

fn memory_from_model(m: &Snapshot) -> GuestMemoryState {
    GuestMemoryState {
        regions: m
            .memory
            .regions
            .iter()
            .map(|r| GuestMemoryRegionState {
                base_address: r.guest_addr,
                size: r.size,
            })
            .collect(),
    }
}

fn common_from_model(
    m: &Snapshot,
) -> Result<(BootSourceConfig, HugePageConfig, KvmState), WriteError> {
    let b = m.vm.boot_source.clone().unwrap_or_default();
    let hp = match m.vm.huge_pages.as_deref() {
        None | Some("None") => HugePageConfig::None,
        Some("2M") => HugePageConfig::Hugetlbfs2M,
        Some(o) => {
            return Err(WriteError::Model(format!(
                "{LAYOUT} cannot hold huge_pages = {o:?} (only None and 2M)"
            )));
        }
    };
    let caps = match m.extensions.get("firecracker/kvm_state") {
        Some(e) => cc::value_as(&e.value, "firecracker/kvm_state", LAYOUT)?,
        None => KvmState {
            kvm_cap_modifiers: cc::caps_from_model(&m.vm.kvm_cap_modifiers),
        },
    };
    Ok((
        BootSourceConfig {
            kernel_image_path: b.kernel_image_path,
            initrd_path: b.initrd_path,
            boot_args: b.boot_args,
        },
        hp,
        caps,
    ))
}

fn cpu_template<T: serde::de::DeserializeOwned>(m: &Snapshot) -> Result<T, WriteError> {
    let name = m.vm.cpu_template.clone().unwrap_or_else(|| "None".into());
    cc::named(&name, "vm.cpu_template", LAYOUT)
}

/// Model → 6.0.0 x86_64.
///
/// # Errors
/// When the model holds something 6.0.0 x86_64 cannot express.
pub fn x86_from_model(m: &Snapshot) -> Result<x86::MicrovmState, WriteError> {
    let (boot_source, huge_pages, kvm_state) = common_from_model(m)?;
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
    Ok(x86::MicrovmState {
        vm_info: x86::VmInfo {
            mem_size_mib: m.vm.mem_size_mib.unwrap_or(m.memory.total_size() >> 20),
            smt: m.vm.smt.unwrap_or(false),
            cpu_template: cpu_template(m)?,
            boot_source,
            huge_pages,
        },
        kvm_state,
        vm_state: x86::VmState {
            memory: memory_from_model(m),
            pitstate,
            clock,
            pic_master,
            pic_slave,
            ioapic,
        },
        vcpu_states,
        device_states: dm::v1_12::x86_out(&m.devices)?,
        acpi_dev_state: acpi_from_model(m),
    })
}

/// Model → 6.0.0 aarch64.
///
/// # Errors
/// When the model holds something 6.0.0 aarch64 cannot express.
pub fn aarch64_from_model(m: &Snapshot) -> Result<arm::MicrovmState, WriteError> {
    let (boot_source, huge_pages, kvm_state) = common_from_model(m)?;
    let Platform::Aarch64(p) = &m.platform else {
        return Err(WriteError::Model(
            "aarch64 layout needs aarch64 platform state".into(),
        ));
    };
    let gic = gic_from_model(&p.gic.clone().unwrap_or_default());
    let mut vcpu_states = Vec::new();
    for (n, v) in m.vcpus.iter().enumerate() {
        let Vcpu::Aarch64(v) = v else {
            return Err(WriteError::Model("x86_64 vCPU in an aarch64 state".into()));
        };
        let key = format!("firecracker/vcpu[{n}].regs");
        let regs = match m.extensions.get(&key) {
            Some(e) => cc::value_as(&e.value, &key, LAYOUT)?,
            None => cc::arm_regs_from_model(&v.kvm_regs()),
        };
        vcpu_states.push(arm::VcpuState {
            mp_state: Blob(k::mp_state_to(v.mp_state.unwrap_or(0))),
            regs,
            mpidr: v.mpidr.unwrap_or(0),
            kvi: Blob(k::vcpu_init_to(&v.kvi.unwrap_or_default())),
        });
    }
    Ok(arm::MicrovmState {
        vm_info: arm::VmInfo {
            mem_size_mib: m.vm.mem_size_mib.unwrap_or(m.memory.total_size() >> 20),
            smt: m.vm.smt.unwrap_or(false),
            cpu_template: cpu_template(m)?,
            boot_source,
            huge_pages,
        },
        kvm_state,
        vm_state: arm::VmState {
            memory: memory_from_model(m),
            gic,
        },
        vcpu_states,
        device_states: dm::v1_12::arm_out(&m.devices)?,
        acpi_dev_state: acpi_from_model(m),
    })
}

/// The fields the writer fills from Firecracker's defaults because the model does not carry
/// them: none for this layout.
pub fn invented(_m: &Snapshot) -> Vec<String> {
    Vec::new()
}
