//! squib's register slots and how they meet the model and KVM one-reg ids.
//!
//! squib keeps, per vCPU, `GpRegs` (X0–X30, SP, PC, PSTATE), `FpSimdRegs` (V0–V31, FPSR, FPCR)
//! and `sys_regs`, a map from squib-private keys (`SysReg::as_encoded`, 1–47) to values. The
//! model keeps the same registers as `core` plus `sys_regs` by architectural name; Firecracker
//! keeps a KVM one-reg list. [`SQUIB_SYSREGS`] is the key ↔ name table; names map to KVM ids
//! through [`crate::model::NAMED_REGS`].
//!
//! Facts about the slots (squib-hv `vcpu_save.rs`): `GpRegs.sp` is read from HVF's `SP_EL1`
//! system register, `GpRegs.pstate` is HVF's `CPSR`; FPCR and FPSR are read into `fp_regs` and
//! again into `sys_regs` (keys 42, 43); SP_EL1 is in both `GpRegs.sp` and `sys_regs[7]`. Restore
//! writes `GpRegs`, then `FpSimdRegs`, then every `sys_regs` entry, so a `sys_regs` value wins
//! over the `GpRegs`/`FpSimdRegs` field it duplicates. SP_EL0 is not saved at all.

use crate::model::core_ids;

/// One squib system-register key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SquibSysReg {
    /// squib's wire key (`SysReg::as_encoded`).
    pub key: u64,
    /// squib's `SysReg` variant name.
    pub variant: &'static str,
    /// Architectural name: the model's `sys_regs` key and the [`crate::model::NAMED_REGS`] name.
    pub name: &'static str,
}

const fn r(key: u64, variant: &'static str, name: &'static str) -> SquibSysReg {
    SquibSysReg { key, variant, name }
}

/// squib-snapshot 0.2.0 / squib-arch 0.2.0 `SysReg::as_encoded` keys.
pub const SQUIB_SYSREGS: &[SquibSysReg] = &[
    r(1, "SctlrEl1", "SCTLR_EL1"),
    r(2, "Ttbr0El1", "TTBR0_EL1"),
    r(3, "Ttbr1El1", "TTBR1_EL1"),
    r(4, "MairEl1", "MAIR_EL1"),
    r(5, "AmairEl1", "AMAIR_EL1"),
    r(6, "TcrEl1", "TCR_EL1"),
    r(7, "SpEl1", "SP_EL1"),
    r(8, "ElrEl1", "ELR_EL1"),
    r(9, "SpsrEl1", "SPSR_EL1"),
    r(10, "VbarEl1", "VBAR_EL1"),
    r(11, "IdAa64Mmfr0El1", "ID_AA64MMFR0_EL1"),
    r(12, "IdAa64Mmfr1El1", "ID_AA64MMFR1_EL1"),
    r(13, "IdAa64Pfr0El1", "ID_AA64PFR0_EL1"),
    r(14, "IdAa64Pfr1El1", "ID_AA64PFR1_EL1"),
    r(15, "IdAa64Dfr0El1", "ID_AA64DFR0_EL1"),
    r(16, "IdAa64Isar0El1", "ID_AA64ISAR0_EL1"),
    r(17, "IdAa64Isar1El1", "ID_AA64ISAR1_EL1"),
    r(18, "MpidrEl1", "MPIDR_EL1"),
    r(19, "CntvCtlEl0", "CNTV_CTL_EL0"),
    r(20, "CntvCvalEl0", "CNTV_CVAL_EL0"),
    r(21, "CntvOffEl2", "CNTVOFF_EL2"),
    r(22, "CntFrqEl0", "CNTFRQ_EL0"),
    r(23, "CntKctlEl1", "CNTKCTL_EL1"),
    r(24, "CntpCtlEl0", "CNTP_CTL_EL0"),
    r(25, "CntpCvalEl0", "CNTP_CVAL_EL0"),
    r(26, "PmCcntrEl0", "PMCCNTR_EL0"),
    r(27, "PmCcfiltrEl0", "PMCCFILTR_EL0"),
    r(28, "PmUserEnrEl0", "PMUSERENR_EL0"),
    r(29, "PmCrEl0", "PMCR_EL0"),
    r(30, "PmCntEnSetEl0", "PMCNTENSET_EL0"),
    r(31, "PmOvsSetEl0", "PMOVSSET_EL0"),
    r(32, "PmSelrEl0", "PMSELR_EL0"),
    r(33, "EsrEl1", "ESR_EL1"),
    r(34, "FarEl1", "FAR_EL1"),
    r(35, "Afsr0El1", "AFSR0_EL1"),
    r(36, "Afsr1El1", "AFSR1_EL1"),
    r(37, "ContextIdrEl1", "CONTEXTIDR_EL1"),
    r(38, "TpidrEl0", "TPIDR_EL0"),
    r(39, "TpidrroEl0", "TPIDRRO_EL0"),
    r(40, "TpidrEl1", "TPIDR_EL1"),
    r(41, "ParEl1", "PAR_EL1"),
    r(42, "Fpcr", "FPCR"),
    r(43, "Fpsr", "FPSR"),
    r(44, "CpacrEl1", "CPACR_EL1"),
    r(45, "MdscrEl1", "MDSCR_EL1"),
    r(46, "OslarEl1", "OSLAR_EL1"),
    r(47, "OsdlrEl1", "OSDLR_EL1"),
];

/// Key of SP_EL1.
pub const KEY_SP_EL1: u64 = 7;
/// Key of MPIDR_EL1.
pub const KEY_MPIDR_EL1: u64 = 18;
/// Key of FPCR.
pub const KEY_FPCR: u64 = 42;
/// Key of FPSR.
pub const KEY_FPSR: u64 = 43;

/// Prefix of the model name of a key squib 0.2.0 does not know (`squib_key_99`).
pub const UNKNOWN_KEY_PREFIX: &str = "squib_key_";

/// Whether squib 0.2.0 knows `key` (its restore refuses any other key).
pub fn known_key(key: u64) -> bool {
    SQUIB_SYSREGS.iter().any(|r| r.key == key)
}

/// The model name of a squib key: the architectural name, or `squib_key_<n>` for a key squib
/// 0.2.0 does not know.
pub fn key_name(key: u64) -> String {
    SQUIB_SYSREGS
        .iter()
        .find(|r| r.key == key)
        .map(|r| r.name.to_string())
        .unwrap_or_else(|| format!("{UNKNOWN_KEY_PREFIX}{key}"))
}

/// The squib key of a model name (inverse of [`key_name`]).
pub fn name_key(name: &str) -> Option<u64> {
    if let Some(r) = SQUIB_SYSREGS.iter().find(|r| r.name == name) {
        return Some(r.key);
    }
    let n = name.strip_prefix(UNKNOWN_KEY_PREFIX)?;
    // Only the canonical spelling, so that key_name(name_key(s)) == s.
    let k: u64 = n.parse().ok()?;
    (k.to_string() == n && !known_key(k)).then_some(k)
}

/// A native squib register slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    /// `regs.x[n]`.
    X(usize),
    /// `regs.sp` (SP_EL1).
    Sp,
    /// `regs.pc`.
    Pc,
    /// `regs.pstate`.
    Pstate,
    /// `fp_regs.v[n]`.
    V(usize),
    /// `fp_regs.fpsr`.
    Fpsr,
    /// `fp_regs.fpcr`.
    Fpcr,
    /// `sys_regs[key]`.
    Sys(u64),
}

/// The squib slots a KVM one-reg id stands for, in squib's restore precedence (the first slot
/// present is the value squib would restore). Empty when squib has no slot for the register.
pub fn kvm_targets(id: u64) -> Vec<Slot> {
    const X_END: u64 = core_ids::x(31);
    const V_END: u64 = core_ids::v(32);
    match id {
        _ if (core_ids::x(0)..X_END).contains(&id) && (id - core_ids::x(0)) % 2 == 0 => {
            vec![Slot::X(((id - core_ids::x(0)) / 2) as usize)]
        }
        core_ids::PC => vec![Slot::Pc],
        core_ids::PSTATE => vec![Slot::Pstate],
        core_ids::SP_EL1 => vec![Slot::Sys(KEY_SP_EL1), Slot::Sp],
        core_ids::FPSR => vec![Slot::Sys(KEY_FPSR), Slot::Fpsr],
        core_ids::FPCR => vec![Slot::Sys(KEY_FPCR), Slot::Fpcr],
        _ if (core_ids::v(0)..V_END).contains(&id) && (id - core_ids::v(0)) % 4 == 0 => {
            vec![Slot::V(((id - core_ids::v(0)) / 4) as usize)]
        }
        _ => crate::model::reg_name(id)
            .and_then(|n| SQUIB_SYSREGS.iter().find(|r| r.name == n))
            .map(|r| vec![Slot::Sys(r.key)])
            .unwrap_or_default(),
    }
}

/// The model slot a `sys_regs` name stands for.
pub fn name_target(name: &str) -> Option<Slot> {
    name_key(name).map(Slot::Sys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_a_kvm_id() {
        for r in SQUIB_SYSREGS {
            let named = crate::model::named_reg(r.name)
                .unwrap_or_else(|| panic!("{} has no KVM id", r.name));
            let t = kvm_targets(named.id);
            assert_eq!(t.first(), Some(&Slot::Sys(r.key)), "{}", r.name);
        }
        assert_eq!(SQUIB_SYSREGS.len(), 47);
        for (i, r) in SQUIB_SYSREGS.iter().enumerate() {
            assert_eq!(r.key, i as u64 + 1);
        }
    }

    #[test]
    fn names_round_trip() {
        for k in 0..60 {
            assert_eq!(name_key(&key_name(k)), Some(k));
        }
        assert_eq!(name_key("squib_key_07"), None);
        assert_eq!(name_key("squib_key_7"), None, "7 is SP_EL1");
        assert_eq!(name_key("CNTVCT_EL0"), None);
    }

    #[test]
    fn core_ids_map_to_slots() {
        assert_eq!(kvm_targets(core_ids::x(30)), vec![Slot::X(30)]);
        assert_eq!(kvm_targets(core_ids::x(30) + 1), vec![]);
        assert_eq!(kvm_targets(core_ids::v(31)), vec![Slot::V(31)]);
        assert_eq!(kvm_targets(core_ids::SP_EL0), vec![]);
        assert_eq!(
            kvm_targets(core_ids::SP_EL1),
            vec![Slot::Sys(KEY_SP_EL1), Slot::Sp]
        );
        assert_eq!(kvm_targets(core_ids::ELR_EL1), vec![Slot::Sys(8)]);
    }
}
