//! Structural checks on a decoded state that the model cannot see: FAM header counts, KVM blob
//! sizes, register-list sizes. Firecracker's own loader applies some of these (FAM counts,
//! register sizes); the others catch files whose blobs KVM would silently pad or cut.

use super::State;
use super::wire::{Blob, FamBlob};
use crate::kvm_abi as k;
use crate::model::Aarch64Reg;

/// A structural problem at a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutFinding {
    /// Stable code: `fam_count`, `blob_size`, `arm_reg_sizes` or `gic_vcpu_count`.
    pub code: &'static str,
    /// Field path, e.g. `vcpu_states[0].cpuid`.
    pub path: String,
    /// What is wrong, expected vs found.
    pub message: String,
}

struct Out(Vec<LayoutFinding>);

impl Out {
    fn blob(&mut self, path: String, b: &Blob, size: usize) {
        if b.0.len() != size {
            self.0.push(LayoutFinding {
                code: "blob_size",
                path,
                message: format!("KVM structure of {} bytes, expected {size}", b.0.len()),
            });
        }
    }

    fn fam(&mut self, path: String, f: &FamBlob, entry: usize, what: &str) {
        self.blob(format!("{path}.header"), &f.0, 8);
        let count = k::fam_count(&f.0.0);
        if count as usize != f.1.len() {
            self.0.push(LayoutFinding {
                code: "fam_count",
                path: format!("{path}.header.{what}"),
                message: format!("{what} = {count}, but {} entries follow", f.1.len()),
            });
        }
        for (i, e) in f.1.iter().enumerate() {
            self.blob(format!("{path}.entries[{i}]"), e, entry);
        }
    }

    /// A field-wise `FamStructWrapper` (format 1.0.0): header count vs entries.
    fn fam_count(&mut self, path: String, count: u32, entries: usize, what: &str) {
        if count as usize != entries {
            self.0.push(LayoutFinding {
                code: "fam_count",
                path: format!("{path}.header.{what}"),
                message: format!("{what} = {count}, but {entries} entries follow"),
            });
        }
    }

    fn arm_regs(&mut self, path: String, ids: &[u64], data: &[u8]) {
        let total = ids.iter().fold(0u64, |a, &id| {
            a.saturating_add(Aarch64Reg::declared_size(id))
        });
        if total != data.len() as u64 {
            self.0.push(LayoutFinding {
                code: "arm_reg_sizes",
                path,
                message: format!(
                    "register sizes add up to {total} bytes, but the data holds {}",
                    data.len()
                ),
            });
        }
    }
}

macro_rules! x86_checks {
    ($s:expr, $out:expr) => {{
        x86_checks!($s, $out, |c| (
            &c.xsave.0,
            k::XSAVE2_HDR_SIZE,
            "xsave.header"
        ))
    }};
    ($s:expr, $out:expr, |$c:ident| $xsave:expr) => {{
        let v = &$s.vm_state;
        $out.blob("vm_state.pitstate".into(), &v.pitstate, k::PIT2_SIZE);
        $out.blob("vm_state.clock".into(), &v.clock, k::CLOCK_SIZE);
        $out.blob("vm_state.pic_master".into(), &v.pic_master, k::IRQCHIP_SIZE);
        $out.blob("vm_state.pic_slave".into(), &v.pic_slave, k::IRQCHIP_SIZE);
        $out.blob("vm_state.ioapic".into(), &v.ioapic, k::IRQCHIP_SIZE);
        for (i, c) in $s.vcpu_states.iter().enumerate() {
            let p = |f: &str| format!("vcpu_states[{i}].{f}");
            $out.fam(p("cpuid"), &c.cpuid, k::CPUID_ENTRY_SIZE, "nent");
            for (j, m) in c.saved_msrs.iter().enumerate() {
                $out.fam(
                    p(&format!("saved_msrs[{j}]")),
                    m,
                    k::MSR_ENTRY_SIZE,
                    "nmsrs",
                );
            }
            $out.blob(p("debug_regs"), &c.debug_regs, k::DEBUGREGS_SIZE);
            $out.blob(p("lapic"), &c.lapic, k::LAPIC_SIZE);
            $out.blob(p("mp_state"), &c.mp_state, k::MP_STATE_SIZE);
            $out.blob(p("regs"), &c.regs, k::REGS_SIZE);
            $out.blob(p("sregs"), &c.sregs, k::SREGS_SIZE);
            $out.blob(p("vcpu_events"), &c.vcpu_events, k::VCPU_EVENTS_SIZE);
            $out.blob(p("xcrs"), &c.xcrs, k::XCRS_SIZE);
            let $c = c;
            let (blob, size, name) = $xsave;
            $out.blob(p(name), blob, size);
        }
    }};
}

/// Format 1.0.0 x86_64: KVM structures are field-wise (fixed sizes); only FAM counts can be off.
fn v1_x86_checks(s: &super::v1::x86_64::MicrovmState, out: &mut Out) {
    for (i, c) in s.vcpu_states.iter().enumerate() {
        let p = |f: &str| format!("vcpu_states[{i}].{f}");
        out.fam_count(p("cpuid"), c.cpuid.0.nent, c.cpuid.1.len(), "nent");
        for (j, m) in c.saved_msrs.iter().enumerate() {
            out.fam_count(
                p(&format!("saved_msrs[{j}]")),
                m.0.nmsrs,
                m.1.len(),
                "nmsrs",
            );
        }
    }
}

macro_rules! arm_checks {
    ($s:expr, $out:expr) => {{
        arm_checks!(@common $s, $out);
        for (i, c) in $s.vcpu_states.iter().enumerate() {
            $out.blob(format!("vcpu_states[{i}].kvi"), &c.kvi, k::VCPU_INIT_SIZE);
            $out.blob(
                format!("vcpu_states[{i}].mp_state"),
                &c.mp_state,
                k::MP_STATE_SIZE,
            );
        }
    }};
    // Register sizes and GIC vCPU count: every layout (1.0.0 has no blobs to size-check).
    (@common $s:expr, $out:expr) => {{
        for (i, c) in $s.vcpu_states.iter().enumerate() {
            $out.arm_regs(format!("vcpu_states[{i}].regs"), &c.regs.0, &c.regs.1);
        }
        let gic = $s.vm_state.gic.gic_vcpu_states.len();
        if gic != $s.vcpu_states.len() {
            $out.0.push(LayoutFinding {
                code: "gic_vcpu_count",
                path: "vm_state.gic.gic_vcpu_states".into(),
                message: format!(
                    "GIC state for {gic} vCPUs, but the file has {} vCPUs",
                    $s.vcpu_states.len()
                ),
            });
        }
    }};
}

/// Every structural problem in `state`.
pub fn layout_checks(state: &State) -> Vec<LayoutFinding> {
    let mut out = Out(Vec::new());
    // Formats 2.0.0–5.0.0 store a plain 4096-byte `kvm_xsave`.
    match state {
        State::V1X86(s) => v1_x86_checks(s, &mut out),
        State::V1Aarch64(s) => arm_checks!(@common s, out),
        State::V2X86(s) | State::V3X86(s) => {
            x86_checks!(s, out, |c| (&c.xsave, k::XSAVE_SIZE, "xsave"))
        }
        State::V4X86(s) => x86_checks!(s, out, |c| (&c.xsave, k::XSAVE_SIZE, "xsave")),
        State::V5X86(s) => x86_checks!(s, out, |c| (&c.xsave, k::XSAVE_SIZE, "xsave")),
        State::V2Aarch64(s) => arm_checks!(s, out),
        State::V3Aarch64(s) => arm_checks!(s, out),
        State::V4Aarch64(s) => arm_checks!(s, out),
        State::V5Aarch64(s) => arm_checks!(s, out),
        State::V6X86(s) => x86_checks!(s, out),
        State::V8_13X86(s) => x86_checks!(s, out),
        State::V8_14X86(s) => x86_checks!(s, out),
        State::V9X86(s) => x86_checks!(s, out),
        State::V10X86(s) => x86_checks!(s, out),
        State::V11X86(s) => x86_checks!(s, out),
        State::V6Aarch64(s) => arm_checks!(s, out),
        State::V8_13Aarch64(s) => arm_checks!(s, out),
        State::V8_14Aarch64(s) => arm_checks!(s, out),
        State::V9Aarch64(s) => arm_checks!(s, out),
        State::V10Aarch64(s) => arm_checks!(s, out),
        State::V11Aarch64(s) => arm_checks!(s, out),
        // Every KVM structure of a decoded versionize-era state has its exact C size.
        State::Versionize(_) => {}
    }
    out.0
}
