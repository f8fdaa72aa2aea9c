//! Conversion helpers of the bitcode-era layouts (9.0.0, 10.0.0, 11.0.0). Their machine, memory,
//! GIC, vCPU, ACPI and serial types are format 10.0.0's (9.0.0 and 11.0.0 re-export them), so
//! the conversions of those parts are shared here. Also: how device states and allocator state
//! move between these three layouts when a model made from one is written as another.

use super::allocator::Allocator;
use super::convert_common::{self as cc, KEY_ALLOC, KEY_CAPS, KEY_PCI};
use super::device_model as dm;
use super::v10::aarch64 as arm;
use super::v10::devices::{
    AcpiDeviceManagerState, BootSourceConfig, GuestMemoryRegionState, GuestMemoryState,
    GuestRegionType, KvmState, MmioDeviceInfo, SerialState, VmGenIdState,
};
use super::v10::x86_64 as x86;
use super::v10::x86_64::VcpuState as X86VcpuState;
use super::wire::Blob;
use super::{LayoutInfo, WriteError};
use crate::kvm_abi as k;
use crate::model::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Layout → model
// ---------------------------------------------------------------------------

/// The machine configuration as the model holds it.
pub(crate) fn vm_info(
    cpu_template: String,
    (mem, smt): (u64, bool),
    boot: &BootSourceConfig,
    huge_pages: &str,
    caps: &KvmState,
) -> VmInfo {
    VmInfo {
        mem_size_mib: Some(mem),
        smt: Some(smt),
        cpu_template: Some(cpu_template),
        boot_source: Some(BootSource {
            kernel_image_path: boot.kernel_image_path.clone(),
            initrd_path: boot.initrd_path.clone(),
            boot_args: boot.boot_args.clone(),
        }),
        huge_pages: Some(huge_pages.into()),
        kvm_cap_modifiers: cc::caps_to_model(&caps.kvm_cap_modifiers).unwrap_or_default(),
        ..Default::default()
    }
}

/// A model with provenance, machine, memory and the allocator / capability extensions filled.
pub(crate) fn base(
    info: &LayoutInfo,
    arch: Arch,
    vm: VmInfo,
    (mem, caps): (&GuestMemoryState, &KvmState),
    alloc: &Allocator,
) -> Snapshot {
    let mut s = Snapshot {
        provenance: cc::provenance(info, arch),
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
        s.extensions.insert(KEY_CAPS.into(), cc::ext(info.id, caps));
    }
    s.extensions
        .insert(KEY_ALLOC.into(), cc::ext(info.id, alloc));
    s
}

/// x86_64 vCPUs and VM-level blobs → model.
pub(crate) fn x86_to_model(m: &mut Snapshot, v: &x86::VmState, vcpus: &[x86::VcpuState]) {
    x86_platform_to_model(
        m,
        [
            &v.pitstate,
            &v.clock,
            &v.pic_master,
            &v.pic_slave,
            &v.ioapic,
        ],
    );
    m.vcpus = vcpus
        .iter()
        .map(|c| Vcpu::X86_64(Box::new(cc::x86_vcpu_to_model(&cc::x86_blobs!(c)))))
        .collect();
}

/// The five x86_64 VM-level blobs (pit, clock, pic master, pic slave, ioapic) → model platform.
pub(crate) fn x86_platform_to_model(m: &mut Snapshot, b: [&Blob; 5]) {
    m.platform = Platform::X86_64(Box::new(cc::x86_platform_to_model(
        b[0], b[1], b[2], b[3], b[4],
    )));
}

/// aarch64 GIC and vCPUs → model (register lists whose sizes do not add up go to an extension).
pub(crate) fn arm_to_model(
    m: &mut Snapshot,
    gic: &arm::GicState,
    vcpus: &[arm::VcpuState],
    layout: &str,
) {
    m.platform = Platform::Aarch64(Box::new(Aarch64Platform {
        gic: Some(cc::gic_to_model!(
            gic,
            gic.its_state.as_ref().map(|i| ItsState {
                iidr: i.iidr,
                cbaser: i.cbaser,
                creadr: i.creadr,
                cwriter: i.cwriter,
                baser: i.baser,
                ctlr: i.ctlr,
            })
        )),
        opaque_gic: None,
    }));
    for (n, c) in vcpus.iter().enumerate() {
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
            pvtime_ipa: c.pvtime_ipa,
            ..Default::default()
        })));
    }
}

/// A virtio device-state struct (MMIO or PCI) → model devices; `pci` also records the PCI flag.
pub(crate) fn virtio_to_model<T: Serialize>(
    m: &mut Snapshot,
    states: &T,
    transport: &str,
    layout: &str,
) {
    let v = serde_json::to_value(states).unwrap_or(Value::Null);
    m.devices
        .extend(cc::devices_to_model(&v, transport, layout));
    super::device_config::link_mmds(&mut m.devices);
}

/// ACPI devices (VMGenID, vmclock) → model devices.
pub(crate) fn acpi_to_model(m: &mut Snapshot, acpi: &AcpiDeviceManagerState) {
    let g = &acpi.vmgenid;
    let mut gen_id = Device::new("vmgenid", DeviceKind::VmGenId);
    gen_id.transport = Some(Transport::Address {
        addr: g.addr,
        irq: Some(g.gsi),
    });
    gen_id.vmgenid = Some(VmGenId {
        gsi: g.gsi,
        addr: g.addr,
    });
    m.devices.push(gen_id);
    m.devices
        .push(dm::vmclock_device(dm::v1_16::vmclock_in(&acpi.vmclock)));
}

/// The serial console's registers → the model's serial device (created on x86_64 at COM1 when
/// no serial device exists yet).
pub(crate) fn serial_to_model(m: &mut Snapshot, s: &SerialState, arch: Arch) {
    let uart = UartState {
        baud_divisor_low: s.baud_divisor_low,
        baud_divisor_high: s.baud_divisor_high,
        interrupt_enable: s.interrupt_enable,
        interrupt_identification: s.interrupt_identification,
        line_control: s.line_control,
        line_status: s.line_status,
        modem_control: s.modem_control,
        modem_status: s.modem_status,
        scratch: s.scratch,
        in_buffer: Bytes(s.in_buffer.clone()),
    };
    match m.devices.iter_mut().find(|d| d.kind == DeviceKind::Serial) {
        Some(dev) => dev.uart = Some(uart),
        None => {
            let mut dev = Device::new("serial", DeviceKind::Serial);
            if arch == Arch::X86_64 {
                dev.transport = Some(Transport::Port {
                    base: 0x3f8,
                    irq: Some(4),
                });
            }
            dev.uart = Some(uart);
            m.devices.push(dev);
        }
    }
}

/// An MMIO platform device (aarch64 serial console, RTC) → model device.
pub(crate) fn platform_device_to_model(
    m: &mut Snapshot,
    id: &str,
    kind: DeviceKind,
    info: &MmioDeviceInfo,
) {
    let mut d = Device::new(id, kind);
    d.transport = Some(Transport::Mmio {
        addr: info.addr,
        len: info.len,
        irq: info.gsi,
    });
    m.devices.push(d);
}

// ---------------------------------------------------------------------------
// Model → layout
// ---------------------------------------------------------------------------

/// The parts every bitcode-era layout takes from the model the same way.
pub(crate) struct Common {
    /// Boot source.
    pub boot: BootSourceConfig,
    /// KVM capability modifiers.
    pub caps: KvmState,
    /// Guest memory.
    pub memory: GuestMemoryState,
    /// Resource allocator, moved to the target layout.
    pub alloc: Allocator,
}

/// Boot source, capabilities, memory and allocators from the model.
///
/// # Errors
/// When the capability extension is not a `KvmState`.
pub(crate) fn common_from_model(m: &Snapshot, layout: &str) -> Result<Common, WriteError> {
    let b = m.vm.boot_source.clone().unwrap_or_default();
    let caps = match m.extensions.get(KEY_CAPS) {
        Some(e) => cc::value_as(&e.value, KEY_CAPS, layout)?,
        None => KvmState {
            kvm_cap_modifiers: cc::caps_from_model(&m.vm.kvm_cap_modifiers),
        },
    };
    Ok(Common {
        boot: BootSourceConfig {
            kernel_image_path: b.kernel_image_path,
            initrd_path: b.initrd_path,
            boot_args: b.boot_args,
        },
        caps,
        memory: memory_from_model(m),
        alloc: alloc_value(m, layout)?,
    })
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
                region_type: match r.kind {
                    RegionKind::Dram => GuestRegionType::Dram,
                    RegionKind::Hotpluggable => GuestRegionType::Hotpluggable,
                },
                // A producer without slots: one plugged slot per DRAM region, as Firecracker.
                plugged: if r.plugged.is_empty() && r.kind == RegionKind::Dram {
                    vec![true]
                } else {
                    r.plugged.clone()
                },
            })
            .collect(),
    }
}

/// The resource allocator state for a bitcode-era layout (see `convert_common::alloc_for`),
/// over Firecracker v1.16.1's allocators for a VM without devices (`v10/defaults.json`).
///
/// # Errors
/// The model's allocator extension is not an allocator.
pub(crate) fn alloc_value(m: &Snapshot, layout: &str) -> Result<Allocator, WriteError> {
    cc::alloc_for(
        m,
        layout,
        &Allocator::defaults(include_str!("v10/defaults.json")),
    )
}

/// ACPI devices from the model; absent ones get Firecracker v1.16.1's (VMGenID at gsi 5,
/// 0xdfff0; the initial vmclock page at gsi 6).
pub(crate) fn acpi_from_model(m: &Snapshot) -> AcpiDeviceManagerState {
    let vmgenid = match m.devices.iter().find_map(|d| d.vmgenid) {
        Some(g) => VmGenIdState {
            gsi: g.gsi,
            addr: g.addr,
        },
        None => VmGenIdState {
            gsi: dm::VMGENID_DEFAULT.gsi,
            addr: dm::VMGENID_DEFAULT.addr,
        },
    };
    let vmclock = match dm::model_vmclock(m) {
        Some(c) => dm::v1_16::vmclock_out(c, cc::legacy_next_id(m).unwrap_or(0)),
        None => dm::v1_16::vmclock_out(&dm::initial_vmclock(Some(6), Some(0), 0x300), 6),
    };
    AcpiDeviceManagerState { vmgenid, vmclock }
}

/// The serial console's registers from the model's first UART.
pub(crate) fn serial_from_model(m: &Snapshot) -> Option<SerialState> {
    let u = m.devices.iter().find_map(|d| d.uart.as_ref())?;
    Some(SerialState {
        baud_divisor_low: u.baud_divisor_low,
        baud_divisor_high: u.baud_divisor_high,
        interrupt_enable: u.interrupt_enable,
        interrupt_identification: u.interrupt_identification,
        line_control: u.line_control,
        line_status: u.line_status,
        modem_control: u.modem_control,
        modem_status: u.modem_status,
        scratch: u.scratch,
        in_buffer: u.in_buffer.0.clone(),
    })
}

/// The MMIO placement of the model's first device of `kind` (aarch64 serial console, RTC).
pub(crate) fn platform_device_from_model(
    m: &Snapshot,
    kind: &DeviceKind,
) -> Option<MmioDeviceInfo> {
    m.devices
        .iter()
        .filter(|d| &d.kind == kind)
        .find_map(|d| match d.transport {
            Some(Transport::Mmio { addr, len, irq }) => Some(MmioDeviceInfo {
                addr,
                len,
                gsi: irq,
            }),
            _ => None,
        })
}

/// The empty virtio device lists (JSON) of a `DeviceStates` / `PciDevicesState`.
pub(crate) fn empty_lists(legacy: bool) -> Value {
    let mut v = json!({"block_devices": [], "net_devices": [], "vsock_device": null, "balloon_device": null,
        "mmds": null, "entropy_device": null, "pmem_devices": [], "memory_device": null});
    if legacy {
        v["legacy_devices"] = json!([]);
    }
    v
}

/// Whether the model's virtio devices are on PCI.
pub(crate) fn pci_enabled(m: &Snapshot) -> bool {
    m.extensions
        .get(KEY_PCI)
        .and_then(|e| e.value.as_bool())
        .unwrap_or(false)
}

/// The model's CPU template name as the layout's `StaticCpuTemplate` (`None` when unset).
///
/// # Errors
/// When the layout has no template of that name.
pub(crate) fn cpu_template<T: DeserializeOwned>(
    m: &Snapshot,
    layout: &str,
) -> Result<T, WriteError> {
    let name = m.vm.cpu_template.clone().unwrap_or_else(|| "None".into());
    cc::named(&name, "vm.cpu_template", layout)
}

/// x86_64 vCPUs and VM-level blobs from the model.
///
/// # Errors
/// When the model is not an x86_64 one.
pub(crate) fn x86_from_model(m: &Snapshot) -> Result<([Blob; 5], Vec<x86::VcpuState>), WriteError> {
    let Platform::X86_64(p) = &m.platform else {
        return Err(WriteError::Model(
            "x86_64 layout needs x86_64 platform state".into(),
        ));
    };
    let vcpus = m
        .vcpus
        .iter()
        .map(|v| match v {
            Vcpu::X86_64(v) => {
                let b = cc::x86_vcpu_from_model(v);
                Ok(cc::x86_vcpu_state!(X86VcpuState, b))
            }
            Vcpu::Aarch64(_) => Err(WriteError::Model("aarch64 vCPU in an x86_64 state".into())),
        })
        .collect::<Result<_, _>>()?;
    Ok((cc::x86_platform_from_model(p), vcpus))
}

/// aarch64 GIC and vCPUs from the model.
///
/// # Errors
/// When the model is not an aarch64 one, or a register extension does not fit.
pub(crate) fn arm_from_model(
    m: &Snapshot,
    layout: &str,
) -> Result<(arm::GicState, Vec<arm::VcpuState>), WriteError> {
    let Platform::Aarch64(p) = &m.platform else {
        return Err(WriteError::Model(
            "aarch64 layout needs aarch64 platform state".into(),
        ));
    };
    let mut vcpus = Vec::new();
    for (n, v) in m.vcpus.iter().enumerate() {
        let Vcpu::Aarch64(v) = v else {
            return Err(WriteError::Model("x86_64 vCPU in an aarch64 state".into()));
        };
        let key = format!("firecracker/vcpu[{n}].regs");
        let regs = match m.extensions.get(&key) {
            Some(e) => cc::value_as(&e.value, &key, layout)?,
            None => cc::arm_regs_from_model(&v.regs),
        };
        vcpus.push(arm::VcpuState {
            mp_state: Blob(k::mp_state_to(v.mp_state.unwrap_or(0))),
            regs,
            mpidr: v.mpidr.unwrap_or(0),
            kvi: Blob(k::vcpu_init_to(&v.kvi.unwrap_or_default())),
            pvtime_ipa: v.pvtime_ipa,
        });
    }
    let g = p.gic.clone().unwrap_or_default();
    let (dist, gic_vcpu_states) = cc::gic_parts_from_model!(arm, &g);
    let gic = arm::GicState {
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
    };
    Ok((gic, vcpus))
}

/// The fields a bitcode-era writer fills from Firecracker's defaults because the model does not
/// carry them. `gsi` = the layout saves GSI allocators.
pub(crate) fn invented(m: &Snapshot, gsi: bool) -> Vec<String> {
    let mut out = Vec::new();
    match m.extensions.get(KEY_ALLOC) {
        None => out.push(
            "vm_state.resource_allocator (Firecracker v1.16.1's allocation for a VM without devices)"
                .into(),
        ),
        Some(e) if gsi && e.value.get("gsi_legacy_allocator").is_none() => out.push(
            "vm_state.resource_allocator.gsi_legacy_allocator / gsi_msi_allocator (next ids after the devices' interrupt lines)"
                .into(),
        ),
        Some(_) => {}
    }
    if !m.devices.iter().any(|d| d.vmgenid.is_some()) {
        out.push(
            "device_states.acpi_state.vmgenid (gsi 5 at 0xdfff0, as Firecracker places it)".into(),
        );
    }
    if dm::model_vmclock(m).is_none() {
        out.push("device_states.acpi_state.vmclock (Firecracker's initial vmclock page)".into());
    }
    out
}
