//! Format 5.0.0 ↔ the neutral model.

use super::aarch64 as arm;
use super::devices::{GuestMemoryRegionState, GuestMemoryState, KvmState};
use super::x86_64 as x86;
use crate::formats::firecracker::convert_common as cc;
use crate::formats::firecracker::convert_v2_v5::{self as c5, info, vm_info_from_model};
use crate::formats::firecracker::device_config as dc;
use crate::formats::firecracker::device_model as dm;
use crate::formats::firecracker::{Layout, WriteError};
use crate::model::*;

const LAYOUT: Layout = Layout::V5_0_0;

fn id() -> &'static str {
    LAYOUT.info().id
}

/// Regions with implicit offsets (the running sum of sizes).
fn regions(s: &GuestMemoryState) -> impl Iterator<Item = (u64, u64, Option<u64>)> + '_ {
    s.regions.iter().map(|r| (r.base_address, r.size, None))
}

/// The region list. 5.0.0 has no offsets: the memory file holds the regions back to back, which
/// is how every Firecracker release lays it out.
fn memory_from_model(m: &Snapshot) -> GuestMemoryState {
    GuestMemoryState {
        regions: c5::regions_from_model(m)
            .map(|(base_address, size, _)| GuestMemoryRegionState { base_address, size })
            .collect(),
    }
}

/// 5.0.0 x86_64 → model.
pub fn x86_to_model(s: &x86::MicrovmState) -> Snapshot {
    let v = &s.vm_state;
    let mut m = c5::base(
        LAYOUT,
        Arch::X86_64,
        info!(s.vm_info, &s.kvm_state.kvm_cap_modifiers),
        regions(&s.memory_state),
    );
    m.platform = Platform::X86_64(Box::new(cc::x86_platform_to_model(
        &v.pitstate,
        &v.clock,
        &v.pic_master,
        &v.pic_slave,
        &v.ioapic,
    )));
    m.vcpus = c5::x86_vcpus_to_model(&s.vcpu_states);
    m.devices = dm::v1_12::x86_in(&s.device_states);
    m.devices.extend(c5::acpi_to_model(&s.acpi_dev_state));
    dc::link_mmds(&mut m.devices);
    m
}

/// 5.0.0 aarch64 → model.
pub fn aarch64_to_model(s: &arm::MicrovmState) -> Snapshot {
    let mut m = c5::base(
        LAYOUT,
        Arch::Aarch64,
        info!(s.vm_info, &s.kvm_state.kvm_cap_modifiers),
        regions(&s.memory_state),
    );
    m.platform = c5::gic_to_model(&s.vm_state.gic);
    c5::arm_vcpus_to_model(&mut m, &s.vcpu_states, id());
    m.devices = dm::v1_12::arm_in(&s.device_states);
    m.devices.extend(c5::acpi_to_model(&s.acpi_dev_state));
    dc::link_mmds(&mut m.devices);
    m
}

/// Model → 5.0.0 x86_64.
///
/// # Errors
/// When the model holds something 5.0.0 x86_64 cannot express.
pub fn x86_from_model(m: &Snapshot) -> Result<x86::MicrovmState, WriteError> {
    let c = c5::common_from_model(m, id())?;
    let [pitstate, clock, pic_master, pic_slave, ioapic] = c5::x86_platform_from_model(m)?;
    Ok(x86::MicrovmState {
        vm_info: vm_info_from_model!(x86, m, c, id()),
        memory_state: memory_from_model(m),
        kvm_state: KvmState {
            kvm_cap_modifiers: c.caps,
        },
        vm_state: x86::VmState {
            pitstate,
            clock,
            pic_master,
            pic_slave,
            ioapic,
        },
        vcpu_states: c5::x86_vcpus_from_model(m, id())?,
        device_states: dm::v1_12::x86_out(&m.devices)?,
        acpi_dev_state: c5::acpi_from_model(m),
    })
}

/// Model → 5.0.0 aarch64.
///
/// # Errors
/// When the model holds something 5.0.0 aarch64 cannot express.
pub fn aarch64_from_model(m: &Snapshot) -> Result<arm::MicrovmState, WriteError> {
    let c = c5::common_from_model(m, id())?;
    Ok(arm::MicrovmState {
        vm_info: vm_info_from_model!(arm, m, c, id()),
        memory_state: memory_from_model(m),
        kvm_state: KvmState {
            kvm_cap_modifiers: c.caps,
        },
        vm_state: arm::VmState {
            gic: c5::gic_from_model(m)?,
        },
        vcpu_states: c5::arm_vcpus_from_model(m, id())?,
        device_states: dm::v1_12::arm_out(&m.devices)?,
        acpi_dev_state: c5::acpi_from_model(m),
    })
}

/// The fields the writer fills from Firecracker's defaults because the model does not carry
/// them: none for this layout.
pub fn invented(_m: &Snapshot) -> Vec<String> {
    Vec::new()
}
