//! Format 9.0.0 ↔ the neutral model.
//!
//! The same model places as format 10.0.0 (`v10::convert`): what 9.0.0 lacks (the serial
//! console's registers) is simply absent, and a model from 10.0.0 or 11.0.0 loses it on the way
//! in. Device states of 10.0.0 / 11.0.0 models are rewritten as 9.0.0's
//! (`ladder`).

use super::aarch64 as arm;
use super::devices::*;
use super::x86_64 as x86;
use crate::formats::firecracker::allocator::Allocator;
use crate::formats::firecracker::convert_bitcode as cb;
use crate::formats::firecracker::convert_common as cc;
use crate::formats::firecracker::device_model as dm;
use crate::formats::firecracker::{Layout, WriteError};
use crate::model::*;
use serde_json::Value;

const LAYOUT: &str = "firecracker-9.0.0";

fn huge_pages(h: &HugePageConfig) -> &'static str {
    match h {
        HugePageConfig::None => "None",
        HugePageConfig::Hugetlbfs2M => "2M",
    }
}

fn huge_pages_from_model(m: &Snapshot) -> Result<HugePageConfig, WriteError> {
    match m.vm.huge_pages.as_deref() {
        None | Some("None") => Ok(HugePageConfig::None),
        Some("2M") => Ok(HugePageConfig::Hugetlbfs2M),
        Some(o) => Err(WriteError::Model(format!(
            "{LAYOUT} cannot hold huge_pages = {o:?} (only None and 2M)"
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

/// MMIO devices (typed) and PCI devices (the v1.15 PCI transport has no neutral form: kept as
/// this layout's own state).
fn devices_to_model(m: &mut Snapshot, mmio: Vec<Device>, pci: &PciDevicesState) {
    m.devices.extend(mmio);
    cb::virtio_to_model(m, pci, "pci", LAYOUT);
    if pci.pci_enabled {
        m.extensions
            .insert(cc::KEY_PCI.into(), cc::ext(LAYOUT, &true));
    }
}

/// 9.0.0 x86_64 → model.
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
        Layout::V9_0_0.info(),
        Arch::X86_64,
        vm,
        (&v.memory, &s.kvm_state),
        &Allocator::from_v1_16(&v.resource_allocator),
    );
    cb::x86_to_model(&mut m, v, &s.vcpu_states);
    let d = &s.device_states;
    devices_to_model(&mut m, dm::v1_16::v9_x86_in(&d.mmio_state), &d.pci_state);
    cb::acpi_to_model(&mut m, &d.acpi_state);
    m
}

/// 9.0.0 aarch64 → model.
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
        Layout::V9_0_0.info(),
        Arch::Aarch64,
        vm,
        (&v.memory, &s.kvm_state),
        &Allocator::from_v1_16(&v.resource_allocator),
    );
    cb::arm_to_model(&mut m, &v.gic, &s.vcpu_states, LAYOUT);
    let d = &s.device_states;
    devices_to_model(&mut m, dm::v1_16::v9_arm_in(&d.mmio_state), &d.pci_state);
    cb::acpi_to_model(&mut m, &d.acpi_state);
    m
}

/// The fields [`x86_from_model`] / [`aarch64_from_model`] fill from Firecracker's defaults
/// because the model does not carry them (empty for models read from a 9.0.0 file).
pub fn invented(m: &Snapshot) -> Vec<String> {
    cb::invented(m, true)
}

fn pci_from_model(m: &Snapshot) -> Result<PciDevicesState, WriteError> {
    let mut empty = cb::empty_lists(false);
    empty["pci_enabled"] = Value::Bool(cb::pci_enabled(m));
    let v = cc::devices_from_model(&m.devices, empty, "pci", LAYOUT)?;
    cc::value_as(&v, "device_states.pci_state", LAYOUT)
}

/// Model → 9.0.0 x86_64.
///
/// # Errors
/// When the model holds something 9.0.0 x86_64 cannot express.
pub fn x86_from_model(m: &Snapshot) -> Result<x86::MicrovmState, WriteError> {
    let c = cb::common_from_model(m, LAYOUT)?;
    let ([pitstate, clock, pic_master, pic_slave, ioapic], vcpu_states) = cb::x86_from_model(m)?;
    let mmio = dm::v1_16::v9_x86_out(&m.devices)?;
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
            resource_allocator: c.alloc.to_v1_16(LAYOUT)?,
            pitstate,
            clock,
            pic_master,
            pic_slave,
            ioapic,
        },
        vcpu_states,
        device_states: x86::DevicesState {
            mmio_state: mmio,
            acpi_state: cb::acpi_from_model(m),
            pci_state: pci_from_model(m)?,
        },
    })
}

/// Model → 9.0.0 aarch64.
///
/// # Errors
/// When the model holds something 9.0.0 aarch64 cannot express.
pub fn aarch64_from_model(m: &Snapshot) -> Result<arm::MicrovmState, WriteError> {
    let c = cb::common_from_model(m, LAYOUT)?;
    let (gic, vcpu_states) = cb::arm_from_model(m, LAYOUT)?;
    let mmio = dm::v1_16::v9_arm_out(&m.devices)?;
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
            resource_allocator: c.alloc.to_v1_16(LAYOUT)?,
        },
        vcpu_states,
        device_states: arm::DevicesState {
            mmio_state: mmio,
            acpi_state: cb::acpi_from_model(m),
            pci_state: pci_from_model(m)?,
        },
    })
}
