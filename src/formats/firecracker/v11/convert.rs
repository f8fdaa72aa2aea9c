//! Format 11.0.0 ↔ the neutral model.
//!
//! The same model places as format 10.0.0 (`v10::convert`). What differs:
//! - the virtio devices sit in one enum variant: `Pci` ⇔ the `firecracker/pci_enabled`
//!   extension (10.0.0's `pci_enabled`); device states of 9.0.0 / 10.0.0 models are rewritten
//!   as 11.0.0's (`ladder`);
//! - the aarch64 serial console and RTC (`mmio_platform_state`) are model devices with an MMIO
//!   transport and no raw state, so 10.0.0's `legacy_devices` and these map onto each other;
//! - `resource_allocator` has no GSI allocators (a 10.0.0 model's are dropped; writing an
//!   11.0.0 model as 10.0.0 derives them, see `convert_bitcode::alloc_value`);
//! - `HugePageConfig::Transparent` is the model's `"Transparent"`.

use super::aarch64 as arm;
use super::devices::*;
use super::x86_64 as x86;
use crate::formats::firecracker::allocator::Allocator;
use crate::formats::firecracker::convert_bitcode as cb;
use crate::formats::firecracker::convert_common as cc;
use crate::formats::firecracker::device_model as dm;
use crate::formats::firecracker::{Layout, WriteError};
use crate::model::*;

const LAYOUT: &str = "firecracker-11.0.0";

fn huge_pages(h: &HugePageConfig) -> &'static str {
    match h {
        HugePageConfig::None => "None",
        HugePageConfig::Transparent => "Transparent",
        HugePageConfig::Hugetlbfs2M => "2M",
    }
}

fn huge_pages_from_model(m: &Snapshot) -> Result<HugePageConfig, WriteError> {
    match m.vm.huge_pages.as_deref() {
        None | Some("None") => Ok(HugePageConfig::None),
        Some("Transparent") => Ok(HugePageConfig::Transparent),
        Some("2M") => Ok(HugePageConfig::Hugetlbfs2M),
        Some(o) => Err(WriteError::Model(format!(
            "{LAYOUT} cannot hold huge_pages = {o:?} (only None, Transparent and 2M)"
        ))),
    }
}

fn vm_info<T: std::fmt::Debug>(
    i: (&T, u64, bool, &BootSourceConfig, &HugePageConfig),
    caps: &KvmState,
) -> VmInfo {
    let (tpl, mem, smt, boot, hp) = i;
    cb::vm_info(format!("{tpl:?}"), (mem, smt), boot, huge_pages(hp), caps)
}

fn virtio_to_model(m: &mut Snapshot, v: &VirtioDevicesState) {
    match v {
        VirtioDevicesState::Mmio(d) => m.devices.extend(dm::v1_16::v11_mmio_in(d)),
        VirtioDevicesState::Pci(d) => {
            m.devices.extend(dm::v1_16::v11_pci_in(d));
            m.extensions
                .insert(cc::KEY_PCI.into(), cc::ext(LAYOUT, &true));
        }
    }
}

/// 11.0.0 x86_64 → model.
pub fn x86_to_model(s: &x86::MicrovmState) -> Snapshot {
    let i = &s.vm_info;
    let vm = vm_info(
        (
            &i.cpu_template,
            i.mem_size_mib,
            i.smt,
            &i.boot_source,
            &i.huge_pages,
        ),
        &s.kvm_state,
    );
    let v = &s.vm_state;
    let mut m = cb::base(
        Layout::V11_0_0.info(),
        Arch::X86_64,
        vm,
        (&v.memory, &s.kvm_state),
        &Allocator::from_v11(&v.resource_allocator),
    );
    cb::x86_platform_to_model(
        &mut m,
        [
            &v.pitstate,
            &v.clock,
            &v.pic_master,
            &v.pic_slave,
            &v.ioapic,
        ],
    );
    m.vcpus = s
        .vcpu_states
        .iter()
        .map(|c| Vcpu::X86_64(Box::new(cc::x86_vcpu_to_model(&cc::x86_blobs!(c)))))
        .collect();
    let d = &s.device_states;
    virtio_to_model(&mut m, &d.virtio_state);
    cb::acpi_to_model(&mut m, &d.acpi_state);
    if let Some(serial) = &d.serial_state {
        cb::serial_to_model(&mut m, serial, Arch::X86_64);
    }
    m
}

/// 11.0.0 aarch64 → model.
pub fn aarch64_to_model(s: &arm::MicrovmState) -> Snapshot {
    let i = &s.vm_info;
    let vm = vm_info(
        (
            &i.cpu_template,
            i.mem_size_mib,
            i.smt,
            &i.boot_source,
            &i.huge_pages,
        ),
        &s.kvm_state,
    );
    let v = &s.vm_state;
    let mut m = cb::base(
        Layout::V11_0_0.info(),
        Arch::Aarch64,
        vm,
        (&v.memory, &s.kvm_state),
        &Allocator::from_v11(&v.resource_allocator),
    );
    cb::arm_to_model(&mut m, &v.gic, &s.vcpu_states, LAYOUT);
    let d = &s.device_states;
    if let Some(info) = &d.mmio_platform_state.serial {
        cb::platform_device_to_model(&mut m, "serial", DeviceKind::Serial, info);
    }
    if let Some(info) = &d.mmio_platform_state.rtc {
        cb::platform_device_to_model(&mut m, "rtc", DeviceKind::Rtc, info);
    }
    virtio_to_model(&mut m, &d.virtio_state);
    cb::acpi_to_model(&mut m, &d.acpi_state);
    if let Some(serial) = &d.serial_state {
        cb::serial_to_model(&mut m, serial, Arch::Aarch64);
    }
    m
}

/// The fields [`x86_from_model`] / [`aarch64_from_model`] fill from Firecracker's defaults
/// because the model does not carry them (empty for models read from an 11.0.0 file).
pub fn invented(m: &Snapshot) -> Vec<String> {
    cb::invented(m, false)
}

/// The virtio devices of the model on the one transport 11.0.0 allows (9.0.0 / 10.0.0 aarch64
/// legacy devices become `mmio_platform_state`: serial, RTC; the boot timer is not saved).
fn virtio_from_model(m: &Snapshot) -> Result<VirtioDevicesState, WriteError> {
    let virtio = |d: &&Device| d.virtio.is_some();
    let on_pci = m
        .devices
        .iter()
        .filter(virtio)
        .any(|d| matches!(d.transport, Some(Transport::Pci { .. })));
    if cb::pci_enabled(m) || on_pci {
        if let Some(d) = m
            .devices
            .iter()
            .filter(virtio)
            .find(|d| matches!(d.transport, Some(Transport::Mmio { .. })))
        {
            return Err(WriteError::Model(format!(
                "device `{}` is on MMIO while the virtio devices are on PCI; {LAYOUT} keeps all virtio devices on one transport",
                d.id
            )));
        }
        Ok(VirtioDevicesState::Pci(Box::new(dm::v1_16::v11_pci_out(
            &m.devices,
        )?)))
    } else {
        Ok(VirtioDevicesState::Mmio(Box::new(dm::v1_16::v11_mmio_out(
            &m.devices,
        )?)))
    }
}

/// Model → 11.0.0 x86_64.
///
/// # Errors
/// When the model holds something 11.0.0 x86_64 cannot express.
pub fn x86_from_model(m: &Snapshot) -> Result<x86::MicrovmState, WriteError> {
    let c = cb::common_from_model(m, LAYOUT)?;
    let ([pitstate, clock, pic_master, pic_slave, ioapic], vcpu_states) = cb::x86_from_model(m)?;
    Ok(x86::MicrovmState {
        vm_info: x86::VmInfo {
            mem_size_mib: m.vm.mem_size_mib.unwrap_or(m.memory.total_size() >> 20),
            smt: m.vm.smt.unwrap_or(false),
            cpu_template: cb::cpu_template(m, LAYOUT)?,
            boot_source: c.boot,
            huge_pages: huge_pages_from_model(m)?,
        },
        kvm_state: c.caps,
        vm_state: x86::VmState {
            memory: c.memory,
            resource_allocator: c.alloc.to_v11(LAYOUT)?,
            pitstate,
            clock,
            pic_master,
            pic_slave,
            ioapic,
        },
        vcpu_states,
        device_states: x86::DevicesState {
            virtio_state: virtio_from_model(m)?,
            mmio_platform_state: x86::MmioPlatformDevicesState {},
            acpi_state: cb::acpi_from_model(m),
            serial_state: cb::serial_from_model(m),
        },
    })
}

/// Model → 11.0.0 aarch64.
///
/// # Errors
/// When the model holds something 11.0.0 aarch64 cannot express.
pub fn aarch64_from_model(m: &Snapshot) -> Result<arm::MicrovmState, WriteError> {
    let c = cb::common_from_model(m, LAYOUT)?;
    let (gic, vcpu_states) = cb::arm_from_model(m, LAYOUT)?;
    Ok(arm::MicrovmState {
        vm_info: arm::VmInfo {
            mem_size_mib: m.vm.mem_size_mib.unwrap_or(m.memory.total_size() >> 20),
            smt: m.vm.smt.unwrap_or(false),
            cpu_template: cb::cpu_template(m, LAYOUT)?,
            boot_source: c.boot,
            huge_pages: huge_pages_from_model(m)?,
        },
        kvm_state: c.caps,
        vm_state: arm::VmState {
            memory: c.memory,
            gic,
            resource_allocator: c.alloc.to_v11(LAYOUT)?,
        },
        vcpu_states,
        device_states: arm::DevicesState {
            virtio_state: virtio_from_model(m)?,
            mmio_platform_state: arm::MmioPlatformDevicesState {
                serial: cb::platform_device_from_model(m, &DeviceKind::Serial),
                rtc: cb::platform_device_from_model(m, &DeviceKind::Rtc),
            },
            acpi_state: cb::acpi_from_model(m),
            serial_state: cb::serial_from_model(m),
        },
    })
}
