//! Format 2.0.0 ↔ the neutral model, and the parts formats 3.0.0 and 4.0.0 share with it
//! (`memory_state` with explicit offsets, capability modifiers inside `VmState`, `irqs` lists).

use super::aarch64 as arm;
use super::devices::{AcpiDeviceManagerState, GuestMemoryRegionState, GuestMemoryState};
use super::x86_64 as x86;
use crate::formats::firecracker::convert_common as cc;
use crate::formats::firecracker::convert_v2_v5::{self as c5, info, vm_info_from_model};
use crate::formats::firecracker::device_model::v1_8::DeviceLists;
use crate::formats::firecracker::{Layout, WriteError};
use crate::model::*;

const LAYOUT: Layout = Layout::V2_0_0;

fn regions(s: &GuestMemoryState) -> impl Iterator<Item = (u64, u64, Option<u64>)> + '_ {
    s.regions
        .iter()
        .map(|r| (r.base_address, r.size, Some(r.offset)))
}

fn memory_from_model(m: &Snapshot) -> GuestMemoryState {
    GuestMemoryState {
        regions: c5::regions_from_model(m)
            .map(|(base_address, size, offset)| GuestMemoryRegionState {
                base_address,
                size,
                offset,
            })
            .collect(),
    }
}

/// The x86_64 `MicrovmState` fields of formats 2.0.0–4.0.0 except `device_states`.
pub(crate) struct X86Parts {
    pub vm_info: x86::VmInfo,
    pub memory_state: GuestMemoryState,
    pub vm_state: x86::VmState,
    pub vcpu_states: Vec<x86::VcpuState>,
    pub acpi_dev_state: AcpiDeviceManagerState,
}

/// The aarch64 `MicrovmState` fields of formats 2.0.0–4.0.0 except `device_states` and
/// `acpi_dev_state`.
pub(crate) struct ArmParts {
    pub vm_info: arm::VmInfo,
    pub memory_state: GuestMemoryState,
    pub vm_state: arm::VmState,
    pub vcpu_states: Vec<arm::VcpuState>,
}

/// The x86_64 `MicrovmState` of formats 2.0.0–4.0.0, borrowed field by field (the device
/// states' type differs).
pub(crate) struct X86Ref<'a, D> {
    pub vm_info: &'a x86::VmInfo,
    pub memory_state: &'a GuestMemoryState,
    pub vm_state: &'a x86::VmState,
    pub vcpu_states: &'a [x86::VcpuState],
    pub device_states: &'a D,
    pub acpi_dev_state: &'a AcpiDeviceManagerState,
}

/// The aarch64 `MicrovmState` of formats 2.0.0–4.0.0, borrowed field by field (`acpi_dev_state`
/// from 3.0.0 on).
pub(crate) struct ArmRef<'a, D> {
    pub vm_info: &'a arm::VmInfo,
    pub memory_state: &'a GuestMemoryState,
    pub vm_state: &'a arm::VmState,
    pub vcpu_states: &'a [arm::VcpuState],
    pub device_states: &'a D,
    pub acpi_dev_state: Option<&'a AcpiDeviceManagerState>,
}

/// x86_64 state of formats 2.0.0–4.0.0 → model.
pub(crate) fn x86_parts_to_model<D: DeviceLists>(layout: Layout, s: X86Ref<'_, D>) -> Snapshot {
    let v = s.vm_state;
    let mut m = c5::base(
        layout,
        Arch::X86_64,
        info!(s.vm_info, &v.kvm_cap_modifiers),
        regions(s.memory_state),
    );
    m.platform = Platform::X86_64(Box::new(cc::x86_platform_to_model(
        &v.pitstate,
        &v.clock,
        &v.pic_master,
        &v.pic_slave,
        &v.ioapic,
    )));
    m.vcpus = c5::x86_vcpus_to_model(s.vcpu_states);
    m.devices = s.device_states.to_devices();
    m.devices.extend(c5::acpi_to_model(s.acpi_dev_state));
    crate::formats::firecracker::device_config::link_mmds(&mut m.devices);
    m
}

/// aarch64 state of formats 2.0.0–4.0.0 → model.
pub(crate) fn arm_parts_to_model<D: DeviceLists>(layout: Layout, s: ArmRef<'_, D>) -> Snapshot {
    let id = layout.info().id;
    let mut m = c5::base(
        layout,
        Arch::Aarch64,
        info!(s.vm_info, &s.vm_state.kvm_cap_modifiers),
        regions(s.memory_state),
    );
    m.platform = c5::gic_to_model(&s.vm_state.gic);
    c5::arm_vcpus_to_model(&mut m, s.vcpu_states, id);
    m.devices = s.device_states.to_devices();
    m.devices
        .extend(s.acpi_dev_state.and_then(c5::acpi_to_model));
    crate::formats::firecracker::device_config::link_mmds(&mut m.devices);
    m
}

/// Model → x86_64 state of formats 2.0.0–4.0.0.
pub(crate) fn x86_parts_from_model<D: DeviceLists>(
    layout: Layout,
    m: &Snapshot,
) -> Result<(X86Parts, D), WriteError> {
    let id = layout.info().id;
    let c = c5::common_from_model(m, id)?;
    let [pitstate, clock, pic_master, pic_slave, ioapic] = c5::x86_platform_from_model(m)?;
    let parts = X86Parts {
        vm_info: vm_info_from_model!(x86, m, c, id),
        memory_state: memory_from_model(m),
        vm_state: x86::VmState {
            pitstate,
            clock,
            pic_master,
            pic_slave,
            ioapic,
            kvm_cap_modifiers: c.caps,
        },
        vcpu_states: c5::x86_vcpus_from_model(m, id)?,
        acpi_dev_state: c5::acpi_from_model(m),
    };
    let devices = D::from_devices(&m.devices)?;
    Ok((parts, devices))
}

/// Model → aarch64 state of formats 2.0.0–4.0.0 (the caller adds `acpi_dev_state` from 3.0.0
/// on).
pub(crate) fn arm_parts_from_model<D: DeviceLists>(
    layout: Layout,
    m: &Snapshot,
) -> Result<(ArmParts, D), WriteError> {
    let id = layout.info().id;
    let c = c5::common_from_model(m, id)?;
    let parts = ArmParts {
        vm_info: vm_info_from_model!(arm, m, c, id),
        memory_state: memory_from_model(m),
        vm_state: arm::VmState {
            gic: c5::gic_from_model(m)?,
            kvm_cap_modifiers: c.caps,
        },
        vcpu_states: c5::arm_vcpus_from_model(m, id)?,
    };
    let devices = D::from_devices(&m.devices)?;
    Ok((parts, devices))
}

/// 2.0.0 x86_64 → model.
pub fn x86_to_model(s: &x86::MicrovmState) -> Snapshot {
    x86_to_model_as(LAYOUT, s)
}

/// The 2.0.0 x86_64 state (also 3.0.0's) → model, with `layout`'s provenance.
pub(crate) fn x86_to_model_as(layout: Layout, s: &x86::MicrovmState) -> Snapshot {
    x86_parts_to_model(
        layout,
        X86Ref {
            vm_info: &s.vm_info,
            memory_state: &s.memory_state,
            vm_state: &s.vm_state,
            vcpu_states: &s.vcpu_states,
            device_states: &s.device_states,
            acpi_dev_state: &s.acpi_dev_state,
        },
    )
}

/// 2.0.0 aarch64 → model.
pub fn aarch64_to_model(s: &arm::MicrovmState) -> Snapshot {
    arm_parts_to_model(
        LAYOUT,
        ArmRef {
            vm_info: &s.vm_info,
            memory_state: &s.memory_state,
            vm_state: &s.vm_state,
            vcpu_states: &s.vcpu_states,
            device_states: &s.device_states,
            acpi_dev_state: None,
        },
    )
}

/// Model → 2.0.0 x86_64.
///
/// # Errors
/// When the model holds something 2.0.0 x86_64 cannot express.
pub fn x86_from_model(m: &Snapshot) -> Result<x86::MicrovmState, WriteError> {
    x86_from_model_as(LAYOUT, m)
}

/// Model → the 2.0.0 x86_64 state (also 3.0.0's), devices taken as `layout`'s.
pub(crate) fn x86_from_model_as(
    layout: Layout,
    m: &Snapshot,
) -> Result<x86::MicrovmState, WriteError> {
    let (p, device_states) = x86_parts_from_model(layout, m)?;
    Ok(x86::MicrovmState {
        vm_info: p.vm_info,
        memory_state: p.memory_state,
        vm_state: p.vm_state,
        vcpu_states: p.vcpu_states,
        device_states,
        acpi_dev_state: p.acpi_dev_state,
    })
}

/// Model → 2.0.0 aarch64. 2.0.0 has no ACPI state on aarch64: a VMGenID device in the model
/// (from a newer layout) is not written, as Firecracker v1.8.0 had none there.
///
/// # Errors
/// When the model holds something 2.0.0 aarch64 cannot express.
pub fn aarch64_from_model(m: &Snapshot) -> Result<arm::MicrovmState, WriteError> {
    let (p, device_states) = arm_parts_from_model(LAYOUT, m)?;
    Ok(arm::MicrovmState {
        vm_info: p.vm_info,
        memory_state: p.memory_state,
        vm_state: p.vm_state,
        vcpu_states: p.vcpu_states,
        device_states,
    })
}

/// The fields the writer fills from Firecracker's defaults because the model does not carry
/// them: none for this layout.
pub fn invented(_m: &Snapshot) -> Vec<String> {
    Vec::new()
}
