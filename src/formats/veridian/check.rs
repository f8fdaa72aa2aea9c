//! `verify` for VeridianOS files: the reader's rules (an error stops there), then warnings on
//! what loads but is suspicious, then the model checks every format shares.

use super::convert::{self, Rest};
use super::vmcs;
use super::*;
use crate::report::{Finding, Severity};

fn warning(code: &'static str, path: impl Into<String>, message: impl Into<String>) -> Finding {
    Finding {
        severity: Severity::Warning,
        code,
        offset: None,
        path: Some(path.into()),
        message: message.into(),
    }
}

/// Every finding about a VeridianOS file. Codes: the reader's (`too_short`, from a path
/// `too_large` and `io`, `bad_magic`,
/// `bad_version`, `bad_checksum`, `padding`, `vcpu_count`, `memory_pages`, `region_count`,
/// `total_size`, `region_type`, `vcpu_index`, `duplicate_region`, `region_offset`,
/// `region_size`, `vmcs_field`, `msr_reserved`, `lapic`, `missing_registers`, `truncated`,
/// `page_index`, `device_name`, `trailing_bytes`), then warnings `vcpu_limit`, `model_rest`,
/// `device_json`, `vmcs_missing`, `gpr_mismatch`, `msr_mismatch`, `lapic_enabled`, `lapic_id`,
/// `memory_pages`, then the shared model checks.
pub fn verify(bytes: &[u8]) -> Vec<Finding> {
    match read(bytes) {
        Ok(f) => verify_file(&f),
        Err(e) => vec![read_finding(e)],
    }
}

/// [`verify`] of the file at `path`, read with [`read_path`] (its pages are not held in memory).
pub fn verify_path(path: &std::path::Path) -> Vec<Finding> {
    match read_path(path) {
        Ok(f) => verify_file(&f),
        Err(e) => vec![read_finding(e)],
    }
}

fn read_finding(e: ReadError) -> Finding {
    Finding {
        severity: Severity::Error,
        code: e.code,
        offset: Some(e.offset),
        path: Some(e.field),
        message: e.message,
    }
}

/// The findings after the reader's rules, for a file that reads (see [`verify`]).
pub fn verify_file(f: &VeridianFile) -> Vec<Finding> {
    let mut out = Vec::new();
    let h = &f.header;
    if h.vcpu_count > MAX_VCPUS {
        out.push(warning(
            "vcpu_limit",
            "header.vcpu_count",
            format!(
                "{} vCPUs; VeridianOS's hypervisor runs at most {MAX_VCPUS}",
                h.vcpu_count
            ),
        ));
    }
    let rests = f
        .device_states
        .iter()
        .filter(|d| d.name == MODEL_REST)
        .count();
    if rests > 1 {
        out.push(warning(
            "model_rest",
            "device_states",
            format!("{rests} device blobs named {MODEL_REST}; the first is used"),
        ));
    }
    match convert::rest_of(f) {
        Rest::Absent => {}
        Rest::Bad(why) => out.push(warning(
            "model_rest",
            MODEL_REST,
            format!("the blob is unusable ({why}): state VeridianOS has no field for is defaulted"),
        )),
        Rest::Ok(r) => {
            if !matches!(r.platform, crate::model::Platform::X86_64(_)) {
                out.push(warning(
                    "model_rest",
                    MODEL_REST,
                    "the blob's platform state is not x86_64; it is ignored",
                ));
            }
            if r.vcpus.len() != h.vcpu_count as usize {
                out.push(warning(
                    "model_rest",
                    MODEL_REST,
                    format!(
                        "the blob describes {} vCPUs, the header {}; the header wins",
                        r.vcpus.len(),
                        h.vcpu_count
                    ),
                ));
            }
            let total = r.memory.total_size();
            if total.div_ceil(PAGE_SIZE) != h.memory_pages {
                out.push(warning(
                    "memory_pages",
                    "header.memory_pages",
                    format!(
                        "{} pages, but the blob's memory regions total {total} bytes; one region of memory_pages × 4096 bytes is assumed",
                        h.memory_pages
                    ),
                ));
            }
        }
    }
    for (i, d) in f.device_states.iter().enumerate() {
        if let Some(id) = d.name.strip_prefix(DEVICE_PREFIX)
            && let Err(why) = convert::device_from_json(id, &d.data)
        {
            out.push(warning(
                "device_json",
                format!("device_states[{i}]"),
                format!(
                    "{:?} is not a snaptool device ({why}); it is kept as an opaque blob",
                    d.name
                ),
            ));
        }
    }
    for (i, at) in convert::vcpu_regions(f).iter().enumerate() {
        vcpu_warnings(f, i, *at, &mut out);
    }
    out.extend(crate::verify::model_checks(&f.to_model()));
    out
}

fn vcpu_warnings(f: &VeridianFile, i: usize, at: convert::VcpuRegions, out: &mut Vec<Finding>) {
    let p = format!("vcpu[{i}]");
    let fields = at.vmcs.and_then(|k| f.vmcs_states.get(k));
    let msrs = at.msrs.and_then(|k| f.msr_states.get(k));
    let lapic = at.lapic.and_then(|k| f.lapic_states.get(k));
    let regs = at.regs.and_then(|k| f.register_states.get(k));
    let msr = |index: u32| {
        msrs.into_iter()
            .flatten()
            .find(|m| m.index == index)
            .map(|m| m.value)
    };
    let Some(fields) = fields else {
        out.push(warning(
            "vmcs_missing",
            &p,
            "no VmcsState region: segments, control registers, EFER and descriptor tables are unknown (defaulted to zero)",
        ));
        return;
    };
    for fl in fields {
        let name = vmcs::field_name(fl.encoding).unwrap_or_default();
        let gpr = regs.and_then(|g| match fl.encoding {
            vmcs::GUEST_RIP => Some(g.rip),
            vmcs::GUEST_RSP => Some(g.rsp),
            vmcs::GUEST_RFLAGS => Some(g.rflags),
            _ => None,
        });
        if let Some(g) = gpr
            && g != fl.value
        {
            out.push(warning(
                "gpr_mismatch",
                format!("{p}.{name}"),
                format!(
                    "{name} = 0x{:x} but GeneralRegisters holds 0x{g:x}; the copy that differs from what was written wins (the VMCS without a record)",
                    fl.value
                ),
            ));
        }
        let index = match fl.encoding {
            vmcs::GUEST_SYSENTER_CS => Some(0x174),
            vmcs::GUEST_SYSENTER_ESP => Some(0x175),
            vmcs::GUEST_SYSENTER_EIP => Some(0x176),
            vmcs::GUEST_IA32_PAT => Some(0x277),
            _ => None,
        };
        if let Some(index) = index
            && let Some(v) = msr(index)
            && v != fl.value
        {
            out.push(warning(
                "msr_mismatch",
                format!("{p}.{name}"),
                format!(
                    "{name} = 0x{:x} but MSR 0x{index:x} in the MSR list is 0x{v:x}",
                    fl.value
                ),
            ));
        }
    }
    if let Some(l) = lapic {
        if let Some(v) = msr(0x6E0)
            && v != l.tsc_deadline
        {
            out.push(warning(
                "msr_mismatch",
                format!("{p}.lapic.tsc_deadline"),
                format!(
                    "0x{:x} but MSR 0x6e0 (IA32_TSC_DEADLINE) in the MSR list is 0x{v:x}",
                    l.tsc_deadline
                ),
            ));
        }
        if (l.svr & lapic::SVR_ENABLE != 0) != l.enabled {
            out.push(warning(
                "lapic_enabled",
                format!("{p}.lapic.enabled"),
                format!(
                    "enabled = {} but SVR 0x{:x} has bit 8 {}",
                    l.enabled,
                    l.svr,
                    if l.svr & lapic::SVR_ENABLE != 0 {
                        "set"
                    } else {
                        "clear"
                    }
                ),
            ));
        }
        if l.id > 0xFF {
            out.push(warning(
                "lapic_id",
                format!("{p}.lapic.id"),
                format!(
                    "{} does not fit the 8-bit xAPIC ID field of the register page (bits 31:24); it is truncated",
                    l.id
                ),
            ));
        }
    }
}
