//! Format 3.0.0 of v1.9.x ↔ the neutral model. x86_64 shares 2.0.0's converter (same types);
//! aarch64 adds `acpi_dev_state`.

use super::aarch64 as arm;
use super::x86_64 as x86;
use crate::formats::firecracker::convert_v2_v5 as c5;
use crate::formats::firecracker::v2::convert::{self as v2c, ArmRef};
use crate::formats::firecracker::{Layout, WriteError};
use crate::model::*;

const LAYOUT: Layout = Layout::V3_0_0;

/// 3.0.0 x86_64 → model.
pub fn x86_to_model(s: &x86::MicrovmState) -> Snapshot {
    v2c::x86_to_model_as(LAYOUT, s)
}

/// 3.0.0 aarch64 → model.
pub fn aarch64_to_model(s: &arm::MicrovmState) -> Snapshot {
    v2c::arm_parts_to_model(
        LAYOUT,
        ArmRef {
            vm_info: &s.vm_info,
            memory_state: &s.memory_state,
            vm_state: &s.vm_state,
            vcpu_states: &s.vcpu_states,
            device_states: &s.device_states,
            acpi_dev_state: Some(&s.acpi_dev_state),
        },
    )
}

/// Model → 3.0.0 x86_64.
///
/// # Errors
/// When the model holds something 3.0.0 x86_64 cannot express.
pub fn x86_from_model(m: &Snapshot) -> Result<x86::MicrovmState, WriteError> {
    v2c::x86_from_model_as(LAYOUT, m)
}

/// Model → 3.0.0 aarch64.
///
/// # Errors
/// When the model holds something 3.0.0 aarch64 cannot express.
pub fn aarch64_from_model(m: &Snapshot) -> Result<arm::MicrovmState, WriteError> {
    let (p, device_states) = v2c::arm_parts_from_model(LAYOUT, m)?;
    Ok(arm::MicrovmState {
        vm_info: p.vm_info,
        memory_state: p.memory_state,
        vm_state: p.vm_state,
        vcpu_states: p.vcpu_states,
        device_states,
        acpi_dev_state: c5::acpi_from_model(m),
    })
}

/// The fields the writer fills from Firecracker's defaults because the model does not carry
/// them: none for this layout.
pub fn invented(_m: &Snapshot) -> Vec<String> {
    Vec::new()
}
