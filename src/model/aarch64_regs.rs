//! aarch64 register names and their KVM one-reg ids.
//!
//! The model holds aarch64 registers in two shapes: a KVM one-reg list ([`Aarch64Vcpu::regs`],
//! what Firecracker saves) and core registers plus system registers by architectural name
//! ([`Aarch64Vcpu::core`], [`Aarch64Vcpu::sys_regs`], what HVF-based producers save). This table
//! joins the two: each name is the register's architectural name, each id is what
//! `KVM_GET_ONE_REG` calls it.
//!
//! ```text
//! core register   0x60s0_0000_0010_oooo   s = size (2: u32, 3: u64, 4: u128),
//!                                         o = offset in struct kvm_regs / 4
//! system register 0x6030_0000_0013_eeee   e = op0<<14 | op1<<11 | CRn<<7 | CRm<<3 | op2
//! ```
//!
//! KVM's virtual-timer ids are an exception: `KVM_REG_ARM_TIMER_CVAL` is built from
//! `(3,3,14,0,2)` (architecturally CNTVCT_EL0) and `KVM_REG_ARM_TIMER_CNT` from `(3,3,14,3,2)`
//! (architecturally CNTV_CVAL_EL0). The table follows KVM: `CNTV_CVAL_EL0` has id
//! `0x6030_0000_0013_df02`.

use super::{Aarch64Reg, Aarch64Vcpu, Bytes};

/// `KVM_REG_ARM64`.
pub const KVM_REG_ARM64: u64 = 0x6000_0000_0000_0000;
/// `KVM_REG_SIZE_U32`.
pub const KVM_REG_SIZE_U32: u64 = 0x0020_0000_0000_0000;
/// `KVM_REG_SIZE_U64`.
pub const KVM_REG_SIZE_U64: u64 = 0x0030_0000_0000_0000;
/// `KVM_REG_SIZE_U128`.
pub const KVM_REG_SIZE_U128: u64 = 0x0040_0000_0000_0000;
/// `KVM_REG_ARM_CORE`.
pub const KVM_REG_ARM_CORE: u64 = 0x0010_0000;
/// `KVM_REG_ARM64_SYSREG`.
pub const KVM_REG_ARM64_SYSREG: u64 = 0x0013_0000;

/// A core register id: `size` is one of the `KVM_REG_SIZE_*` constants, `offset` the byte
/// offset of the field in `struct kvm_regs`.
pub const fn core_reg_id(size: u64, offset: u64) -> u64 {
    KVM_REG_ARM64 | size | KVM_REG_ARM_CORE | (offset / 4)
}

/// `ARM64_SYS_REG(op0, op1, crn, crm, op2)`.
pub const fn sys_reg_id(op0: u64, op1: u64, crn: u64, crm: u64, op2: u64) -> u64 {
    KVM_REG_ARM64
        | KVM_REG_SIZE_U64
        | KVM_REG_ARM64_SYSREG
        | ((op0 & 3) << 14)
        | ((op1 & 7) << 11)
        | ((crn & 15) << 7)
        | ((crm & 15) << 3)
        | (op2 & 7)
}

/// Core register ids (`struct kvm_regs` on arm64: `regs.regs[31]`, `regs.sp` (SP_EL0),
/// `regs.pc`, `regs.pstate`, `sp_el1`, `elr_el1`, `spsr[5]`, then the 16-byte aligned
/// `fp_regs.vregs[32]`, `fp_regs.fpsr`, `fp_regs.fpcr`).
pub mod core_ids {
    use super::{KVM_REG_SIZE_U32, KVM_REG_SIZE_U64, KVM_REG_SIZE_U128, core_reg_id};

    /// X`n` (`regs.regs[n]`), n < 31.
    pub const fn x(n: u64) -> u64 {
        core_reg_id(KVM_REG_SIZE_U64, 8 * n)
    }
    /// SP_EL0 (`regs.sp`).
    pub const SP_EL0: u64 = core_reg_id(KVM_REG_SIZE_U64, 248);
    /// PC (`regs.pc`).
    pub const PC: u64 = core_reg_id(KVM_REG_SIZE_U64, 256);
    /// PSTATE (`regs.pstate`).
    pub const PSTATE: u64 = core_reg_id(KVM_REG_SIZE_U64, 264);
    /// SP_EL1 (`sp_el1`).
    pub const SP_EL1: u64 = core_reg_id(KVM_REG_SIZE_U64, 272);
    /// ELR_EL1 (`elr_el1`).
    pub const ELR_EL1: u64 = core_reg_id(KVM_REG_SIZE_U64, 280);
    /// SPSR_EL1 (`spsr[KVM_SPSR_EL1]`, index 0).
    pub const SPSR_EL1: u64 = core_reg_id(KVM_REG_SIZE_U64, 288);
    /// SPSR_abt (`spsr[KVM_SPSR_ABT]`, index 1; AArch32 guests).
    pub const SPSR_ABT: u64 = core_reg_id(KVM_REG_SIZE_U64, 296);
    /// SPSR_und (`spsr[KVM_SPSR_UND]`, index 2).
    pub const SPSR_UND: u64 = core_reg_id(KVM_REG_SIZE_U64, 304);
    /// SPSR_irq (`spsr[KVM_SPSR_IRQ]`, index 3).
    pub const SPSR_IRQ: u64 = core_reg_id(KVM_REG_SIZE_U64, 312);
    /// SPSR_fiq (`spsr[KVM_SPSR_FIQ]`, index 4).
    pub const SPSR_FIQ: u64 = core_reg_id(KVM_REG_SIZE_U64, 320);
    /// V`n` (`fp_regs.vregs[n]`, 128 bits), n < 32.
    pub const fn v(n: u64) -> u64 {
        core_reg_id(KVM_REG_SIZE_U128, 336 + 16 * n)
    }
    /// FPSR (`fp_regs.fpsr`, 32 bits).
    pub const FPSR: u64 = core_reg_id(KVM_REG_SIZE_U32, 848);
    /// FPCR (`fp_regs.fpcr`, 32 bits).
    pub const FPCR: u64 = core_reg_id(KVM_REG_SIZE_U32, 852);
}

/// A register known by name, with its KVM one-reg id and (for system registers) its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedReg {
    /// Architectural name, upper case (`SCTLR_EL1`).
    pub name: &'static str,
    /// KVM one-reg id.
    pub id: u64,
    /// `(op0, op1, CRn, CRm, op2)` the KVM id is built from (the architectural encoding, except
    /// for the two swapped virtual-timer ids, see the module docs); `None` for registers KVM
    /// reaches as core registers.
    pub encoding: Option<[u8; 5]>,
}

const fn sys(name: &'static str, e: [u8; 5]) -> NamedReg {
    NamedReg {
        name,
        id: sys_reg_id(
            e[0] as u64,
            e[1] as u64,
            e[2] as u64,
            e[3] as u64,
            e[4] as u64,
        ),
        encoding: Some(e),
    }
}

const fn core(name: &'static str, id: u64) -> NamedReg {
    NamedReg {
        name,
        id,
        encoding: None,
    }
}

/// Registers by name: the ones snaptool's readers and writers meet outside a KVM list.
pub const NAMED_REGS: &[NamedReg] = &[
    core("SP_EL0", core_ids::SP_EL0),
    core("SP_EL1", core_ids::SP_EL1),
    core("ELR_EL1", core_ids::ELR_EL1),
    core("SPSR_EL1", core_ids::SPSR_EL1),
    core("SPSR_ABT", core_ids::SPSR_ABT),
    core("SPSR_UND", core_ids::SPSR_UND),
    core("SPSR_IRQ", core_ids::SPSR_IRQ),
    core("SPSR_FIQ", core_ids::SPSR_FIQ),
    core("FPSR", core_ids::FPSR),
    core("FPCR", core_ids::FPCR),
    sys("SCTLR_EL1", [3, 0, 1, 0, 0]),
    sys("CPACR_EL1", [3, 0, 1, 0, 2]),
    sys("TTBR0_EL1", [3, 0, 2, 0, 0]),
    sys("TTBR1_EL1", [3, 0, 2, 0, 1]),
    sys("TCR_EL1", [3, 0, 2, 0, 2]),
    sys("AFSR0_EL1", [3, 0, 5, 1, 0]),
    sys("AFSR1_EL1", [3, 0, 5, 1, 1]),
    sys("ESR_EL1", [3, 0, 5, 2, 0]),
    sys("FAR_EL1", [3, 0, 6, 0, 0]),
    sys("PAR_EL1", [3, 0, 7, 4, 0]),
    sys("MAIR_EL1", [3, 0, 10, 2, 0]),
    sys("AMAIR_EL1", [3, 0, 10, 3, 0]),
    sys("VBAR_EL1", [3, 0, 12, 0, 0]),
    sys("CONTEXTIDR_EL1", [3, 0, 13, 0, 1]),
    sys("TPIDR_EL1", [3, 0, 13, 0, 4]),
    sys("CNTKCTL_EL1", [3, 0, 14, 1, 0]),
    sys("MPIDR_EL1", [3, 0, 0, 0, 5]),
    sys("ID_AA64PFR0_EL1", [3, 0, 0, 4, 0]),
    sys("ID_AA64PFR1_EL1", [3, 0, 0, 4, 1]),
    sys("ID_AA64DFR0_EL1", [3, 0, 0, 5, 0]),
    sys("ID_AA64ISAR0_EL1", [3, 0, 0, 6, 0]),
    sys("ID_AA64ISAR1_EL1", [3, 0, 0, 6, 1]),
    sys("ID_AA64MMFR0_EL1", [3, 0, 0, 7, 0]),
    sys("ID_AA64MMFR1_EL1", [3, 0, 0, 7, 1]),
    sys("TPIDR_EL0", [3, 3, 13, 0, 2]),
    sys("TPIDRRO_EL0", [3, 3, 13, 0, 3]),
    sys("PMCR_EL0", [3, 3, 9, 12, 0]),
    sys("PMCNTENSET_EL0", [3, 3, 9, 12, 1]),
    sys("PMSELR_EL0", [3, 3, 9, 12, 5]),
    sys("PMCCNTR_EL0", [3, 3, 9, 13, 0]),
    sys("PMUSERENR_EL0", [3, 3, 9, 14, 0]),
    sys("PMOVSSET_EL0", [3, 3, 9, 14, 3]),
    sys("PMCCFILTR_EL0", [3, 3, 14, 15, 7]),
    sys("CNTFRQ_EL0", [3, 3, 14, 0, 0]),
    sys("CNTP_CTL_EL0", [3, 3, 14, 2, 1]),
    sys("CNTP_CVAL_EL0", [3, 3, 14, 2, 2]),
    sys("CNTV_CTL_EL0", [3, 3, 14, 3, 1]),
    // KVM_REG_ARM_TIMER_CVAL: KVM builds this id from CNTVCT_EL0's encoding (see module docs).
    sys("CNTV_CVAL_EL0", [3, 3, 14, 0, 2]),
    sys("CNTVOFF_EL2", [3, 4, 14, 0, 3]),
    // KVM_REG_ARM_TIMER_CNT (the virtual count), built from CNTV_CVAL_EL0's encoding.
    sys("CNTVCT_EL0", [3, 3, 14, 3, 2]),
    sys("MDSCR_EL1", [2, 0, 0, 2, 2]),
    sys("OSLAR_EL1", [2, 0, 1, 0, 4]),
    sys("OSDLR_EL1", [2, 0, 1, 3, 4]),
];

/// The entry for an architectural name.
pub fn named_reg(name: &str) -> Option<&'static NamedReg> {
    NAMED_REGS.iter().find(|r| r.name == name)
}

/// The architectural name of a KVM one-reg id (core registers X0–X30, PC, PSTATE and V0–V31 are
/// not named here).
pub fn reg_name(id: u64) -> Option<&'static str> {
    NAMED_REGS.iter().find(|r| r.id == id).map(|r| r.name)
}

impl Aarch64Vcpu {
    /// The registers as a KVM one-reg list: [`Self::regs`] when it is not empty, otherwise
    /// derived from [`Self::core`] and [`Self::sys_regs`]: X0–X30, PC, PSTATE, the named core
    /// registers, V0–V31, FPSR and FPCR, then the system registers in id order.
    ///
    /// `core.sp` has no id here: producers disagree on which stack pointer it is (SP_EL0 or
    /// SP_EL1), so only `sys_regs["SP_EL0"]` / `sys_regs["SP_EL1"]` reach the list. A named
    /// system register wins over the core field it duplicates (`FPSR`, `FPCR`). Names not in
    /// [`NAMED_REGS`] are left out.
    pub fn kvm_regs(&self) -> Vec<Aarch64Reg> {
        if !self.regs.is_empty() {
            return self.regs.clone();
        }
        let u64r = |id: u64, v: u64| Aarch64Reg {
            id,
            value: Bytes(v.to_le_bytes().to_vec()),
        };
        let u32r = |id: u64, v: u64| Aarch64Reg {
            id,
            value: Bytes((v as u32).to_le_bytes().to_vec()),
        };
        let named = |n: &str| self.sys_regs.get(n).copied();
        let mut out = Vec::new();
        if let Some(c) = &self.core {
            for (n, &x) in c.x.iter().enumerate().take(31) {
                out.push(u64r(core_ids::x(n as u64), x));
            }
            out.push(u64r(core_ids::PC, c.pc));
            out.push(u64r(core_ids::PSTATE, c.pstate));
        }
        for name in [
            "SP_EL0", "SP_EL1", "ELR_EL1", "SPSR_EL1", "SPSR_ABT", "SPSR_UND", "SPSR_IRQ",
            "SPSR_FIQ",
        ] {
            if let (Some(v), Some(r)) = (named(name), named_reg(name)) {
                out.push(u64r(r.id, v));
            }
        }
        if let Some(c) = &self.core {
            for (n, q) in c.v.iter().enumerate().take(32) {
                let mut b = q[0].to_le_bytes().to_vec();
                b.extend_from_slice(&q[1].to_le_bytes());
                out.push(Aarch64Reg {
                    id: core_ids::v(n as u64),
                    value: Bytes(b),
                });
            }
        }
        let fpsr = named("FPSR").or(self.core.as_ref().map(|c| c.fpsr));
        let fpcr = named("FPCR").or(self.core.as_ref().map(|c| c.fpcr));
        if let Some(v) = fpsr {
            out.push(u32r(core_ids::FPSR, v));
        }
        if let Some(v) = fpcr {
            out.push(u32r(core_ids::FPCR, v));
        }
        let mut sys: Vec<Aarch64Reg> = self
            .sys_regs
            .iter()
            .filter_map(|(n, &v)| {
                let r = named_reg(n)?;
                r.encoding.is_some().then(|| u64r(r.id, v))
            })
            .collect();
        sys.sort_by_key(|r| r.id);
        out.extend(sys);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Aarch64CoreRegs;

    #[test]
    fn ids_match_the_kvm_documentation() {
        // Documentation/virt/kvm/api.rst, "ARM64 registers".
        assert_eq!(core_ids::x(0), 0x6030_0000_0010_0000);
        assert_eq!(core_ids::x(30), 0x6030_0000_0010_003c);
        assert_eq!(core_ids::SP_EL0, 0x6030_0000_0010_003e);
        assert_eq!(core_ids::PC, 0x6030_0000_0010_0040);
        assert_eq!(core_ids::PSTATE, 0x6030_0000_0010_0042);
        assert_eq!(core_ids::SP_EL1, 0x6030_0000_0010_0044);
        assert_eq!(core_ids::ELR_EL1, 0x6030_0000_0010_0046);
        assert_eq!(core_ids::SPSR_EL1, 0x6030_0000_0010_0048);
        assert_eq!(core_ids::v(0), 0x6040_0000_0010_0054);
        assert_eq!(core_ids::v(31), 0x6040_0000_0010_00d0);
        assert_eq!(core_ids::FPSR, 0x6020_0000_0010_00d4);
        assert_eq!(core_ids::FPCR, 0x6020_0000_0010_00d5);
        // KVM_REG_ARM_TIMER_CTL / CVAL and MPIDR_EL1.
        assert_eq!(named_reg("CNTV_CTL_EL0").unwrap().id, 0x6030_0000_0013_df19);
        assert_eq!(
            named_reg("CNTV_CVAL_EL0").unwrap().id,
            0x6030_0000_0013_df02
        );
        assert_eq!(named_reg("MPIDR_EL1").unwrap().id, 0x6030_0000_0013_c005);
        assert_eq!(named_reg("SCTLR_EL1").unwrap().id, 0x6030_0000_0013_c080);
    }

    #[test]
    fn names_and_ids_are_unique() {
        for (i, a) in NAMED_REGS.iter().enumerate() {
            for b in &NAMED_REGS[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.id, b.id, "{} and {}", a.name, b.name);
            }
        }
    }

    #[test]
    fn kvm_list_from_named_shape() {
        let v = Aarch64Vcpu {
            core: Some(Aarch64CoreRegs {
                x: (0..31).collect(),
                sp: 0xdead,
                pc: 0x1000,
                pstate: 0x3c5,
                v: vec![[1, 2]; 32],
                fpsr: 0x10,
                fpcr: 0x20,
            }),
            sys_regs: [("SP_EL1".to_string(), 0x8000), ("FPCR".into(), 0x30)]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let l = v.kvm_regs();
        let get = |id| l.iter().find(|r| r.id == id).map(|r| r.value.0.clone());
        assert_eq!(get(core_ids::PC), Some(0x1000u64.to_le_bytes().to_vec()));
        assert_eq!(
            get(core_ids::SP_EL1),
            Some(0x8000u64.to_le_bytes().to_vec())
        );
        assert_eq!(get(core_ids::SP_EL0), None, "core.sp has no id");
        assert_eq!(get(core_ids::FPCR), Some(0x30u32.to_le_bytes().to_vec()));
        assert_eq!(get(core_ids::FPSR), Some(0x10u32.to_le_bytes().to_vec()));
        assert_eq!(l.len(), 31 + 2 + 1 + 32 + 2);
        assert!(
            l.iter()
                .all(|r| r.value.len() as u64 == Aarch64Reg::declared_size(r.id))
        );
    }
}
