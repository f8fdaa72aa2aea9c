//! Names of well-known CPUID feature bits, and which of them `check-host` compares.
//!
//! Only bits listed here are compared with the host: feature flags a guest acts on. Fields that
//! describe topology, APIC ids, cache descriptors, family/model/stepping or counts are not
//! features and differ between any two hosts (and between vCPUs), so they are never compared.
//! A few listed bits are not compared either, because KVM or the VMM sets them from other
//! state rather than from what the CPU can do (see [`Feature::compared`]).

use crate::model::CpuidEntry;

/// A CPUID output register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reg {
    /// EAX.
    Eax,
    /// EBX.
    Ebx,
    /// ECX.
    Ecx,
    /// EDX.
    Edx,
}

impl Reg {
    /// Lower-case name (`eax`, ...), as in field paths.
    pub fn name(self) -> &'static str {
        match self {
            Reg::Eax => "eax",
            Reg::Ebx => "ebx",
            Reg::Ecx => "ecx",
            Reg::Edx => "edx",
        }
    }

    /// The register's value in `e`.
    pub fn of(self, e: &CpuidEntry) -> u32 {
        match self {
            Reg::Eax => e.eax,
            Reg::Ebx => e.ebx,
            Reg::Ecx => e.ecx,
            Reg::Edx => e.edx,
        }
    }
}

/// One CPUID feature bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// Leaf (EAX input).
    pub leaf: u32,
    /// Subleaf (ECX input).
    pub subleaf: u32,
    /// Output register.
    pub reg: Reg,
    /// Bit number.
    pub bit: u8,
    /// Name as Linux's `/proc/cpuinfo` (or the vendor manual) spells it.
    pub name: &'static str,
    /// Whether `check-host` compares this bit with the host. False for bits KVM or the VMM
    /// derive from guest state or topology (OSXSAVE and OSPKE follow the guest's CR4, APIC the
    /// APIC_BASE enable bit, HTT and CMP_LEGACY the vCPU count) and for TSC-deadline, which KVM
    /// offers through `KVM_CAP_TSC_DEADLINE_TIMER` rather than in its supported CPUID.
    pub compared: bool,
    /// A hint rather than a capability: code that acts on it runs correctly on a CPU without
    /// it, only slower or differently (fast string operations, FPU CS/DS deprecation). Missing
    /// hints are warnings, missing features errors.
    pub hint: bool,
}

const fn f(leaf: u32, subleaf: u32, reg: Reg, bit: u8, name: &'static str) -> Feature {
    Feature {
        leaf,
        subleaf,
        reg,
        bit,
        name,
        compared: true,
        hint: false,
    }
}

const fn hint(leaf: u32, subleaf: u32, reg: Reg, bit: u8, name: &'static str) -> Feature {
    Feature {
        hint: true,
        ..f(leaf, subleaf, reg, bit, name)
    }
}

const fn derived(leaf: u32, subleaf: u32, reg: Reg, bit: u8, name: &'static str) -> Feature {
    Feature {
        compared: false,
        ..f(leaf, subleaf, reg, bit, name)
    }
}

use Reg::*;

/// Every named feature bit, by leaf, subleaf, register and bit.
pub static FEATURES: &[Feature] = &[
    // Leaf 1 ECX.
    f(1, 0, Ecx, 0, "sse3"),
    f(1, 0, Ecx, 1, "pclmulqdq"),
    f(1, 0, Ecx, 2, "dtes64"),
    f(1, 0, Ecx, 3, "monitor"),
    f(1, 0, Ecx, 4, "ds_cpl"),
    f(1, 0, Ecx, 5, "vmx"),
    f(1, 0, Ecx, 6, "smx"),
    f(1, 0, Ecx, 7, "est"),
    f(1, 0, Ecx, 8, "tm2"),
    f(1, 0, Ecx, 9, "ssse3"),
    f(1, 0, Ecx, 10, "cnxt_id"),
    f(1, 0, Ecx, 11, "sdbg"),
    f(1, 0, Ecx, 12, "fma"),
    f(1, 0, Ecx, 13, "cx16"),
    f(1, 0, Ecx, 14, "xtpr"),
    f(1, 0, Ecx, 15, "pdcm"),
    f(1, 0, Ecx, 17, "pcid"),
    f(1, 0, Ecx, 18, "dca"),
    f(1, 0, Ecx, 19, "sse4_1"),
    f(1, 0, Ecx, 20, "sse4_2"),
    f(1, 0, Ecx, 21, "x2apic"),
    f(1, 0, Ecx, 22, "movbe"),
    f(1, 0, Ecx, 23, "popcnt"),
    derived(1, 0, Ecx, 24, "tsc_deadline_timer"),
    f(1, 0, Ecx, 25, "aes"),
    f(1, 0, Ecx, 26, "xsave"),
    derived(1, 0, Ecx, 27, "osxsave"),
    f(1, 0, Ecx, 28, "avx"),
    f(1, 0, Ecx, 29, "f16c"),
    f(1, 0, Ecx, 30, "rdrand"),
    f(1, 0, Ecx, 31, "hypervisor"),
    // Leaf 1 EDX.
    f(1, 0, Edx, 0, "fpu"),
    f(1, 0, Edx, 1, "vme"),
    f(1, 0, Edx, 2, "de"),
    f(1, 0, Edx, 3, "pse"),
    f(1, 0, Edx, 4, "tsc"),
    f(1, 0, Edx, 5, "msr"),
    f(1, 0, Edx, 6, "pae"),
    f(1, 0, Edx, 7, "mce"),
    f(1, 0, Edx, 8, "cx8"),
    derived(1, 0, Edx, 9, "apic"),
    f(1, 0, Edx, 11, "sep"),
    f(1, 0, Edx, 12, "mtrr"),
    f(1, 0, Edx, 13, "pge"),
    f(1, 0, Edx, 14, "mca"),
    f(1, 0, Edx, 15, "cmov"),
    f(1, 0, Edx, 16, "pat"),
    f(1, 0, Edx, 17, "pse36"),
    f(1, 0, Edx, 18, "pn"),
    f(1, 0, Edx, 19, "clflush"),
    f(1, 0, Edx, 21, "dts"),
    f(1, 0, Edx, 22, "acpi"),
    f(1, 0, Edx, 23, "mmx"),
    f(1, 0, Edx, 24, "fxsr"),
    f(1, 0, Edx, 25, "sse"),
    f(1, 0, Edx, 26, "sse2"),
    f(1, 0, Edx, 27, "ss"),
    derived(1, 0, Edx, 28, "ht"),
    f(1, 0, Edx, 29, "tm"),
    f(1, 0, Edx, 30, "ia64"),
    f(1, 0, Edx, 31, "pbe"),
    // Leaf 7 subleaf 0 EBX.
    f(7, 0, Ebx, 0, "fsgsbase"),
    f(7, 0, Ebx, 1, "tsc_adjust"),
    f(7, 0, Ebx, 2, "sgx"),
    f(7, 0, Ebx, 3, "bmi1"),
    f(7, 0, Ebx, 4, "hle"),
    f(7, 0, Ebx, 5, "avx2"),
    hint(7, 0, Ebx, 6, "fdp_excptn_only"),
    f(7, 0, Ebx, 7, "smep"),
    f(7, 0, Ebx, 8, "bmi2"),
    hint(7, 0, Ebx, 9, "erms"),
    f(7, 0, Ebx, 10, "invpcid"),
    f(7, 0, Ebx, 11, "rtm"),
    f(7, 0, Ebx, 12, "cqm"),
    hint(7, 0, Ebx, 13, "zero_fcs_fds"),
    f(7, 0, Ebx, 14, "mpx"),
    f(7, 0, Ebx, 15, "rdt_a"),
    f(7, 0, Ebx, 16, "avx512f"),
    f(7, 0, Ebx, 17, "avx512dq"),
    f(7, 0, Ebx, 18, "rdseed"),
    f(7, 0, Ebx, 19, "adx"),
    f(7, 0, Ebx, 20, "smap"),
    f(7, 0, Ebx, 21, "avx512ifma"),
    f(7, 0, Ebx, 22, "pcommit"),
    f(7, 0, Ebx, 23, "clflushopt"),
    f(7, 0, Ebx, 24, "clwb"),
    f(7, 0, Ebx, 25, "intel_pt"),
    f(7, 0, Ebx, 26, "avx512pf"),
    f(7, 0, Ebx, 27, "avx512er"),
    f(7, 0, Ebx, 28, "avx512cd"),
    f(7, 0, Ebx, 29, "sha_ni"),
    f(7, 0, Ebx, 30, "avx512bw"),
    f(7, 0, Ebx, 31, "avx512vl"),
    // Leaf 7 subleaf 0 ECX (bits 17-21 are the MAWAU value, not features).
    f(7, 0, Ecx, 0, "prefetchwt1"),
    f(7, 0, Ecx, 1, "avx512vbmi"),
    f(7, 0, Ecx, 2, "umip"),
    f(7, 0, Ecx, 3, "pku"),
    derived(7, 0, Ecx, 4, "ospke"),
    f(7, 0, Ecx, 5, "waitpkg"),
    f(7, 0, Ecx, 6, "avx512_vbmi2"),
    f(7, 0, Ecx, 7, "shstk"),
    f(7, 0, Ecx, 8, "gfni"),
    f(7, 0, Ecx, 9, "vaes"),
    f(7, 0, Ecx, 10, "vpclmulqdq"),
    f(7, 0, Ecx, 11, "avx512_vnni"),
    f(7, 0, Ecx, 12, "avx512_bitalg"),
    f(7, 0, Ecx, 13, "tme"),
    f(7, 0, Ecx, 14, "avx512_vpopcntdq"),
    f(7, 0, Ecx, 16, "la57"),
    f(7, 0, Ecx, 22, "rdpid"),
    f(7, 0, Ecx, 23, "keylocker"),
    f(7, 0, Ecx, 24, "bus_lock_detect"),
    f(7, 0, Ecx, 25, "cldemote"),
    f(7, 0, Ecx, 27, "movdiri"),
    f(7, 0, Ecx, 28, "movdir64b"),
    f(7, 0, Ecx, 29, "enqcmd"),
    f(7, 0, Ecx, 30, "sgx_lc"),
    f(7, 0, Ecx, 31, "pks"),
    // Leaf 7 subleaf 0 EDX.
    f(7, 0, Edx, 2, "avx512_4vnniw"),
    f(7, 0, Edx, 3, "avx512_4fmaps"),
    hint(7, 0, Edx, 4, "fsrm"),
    f(7, 0, Edx, 5, "uintr"),
    f(7, 0, Edx, 8, "avx512_vp2intersect"),
    f(7, 0, Edx, 9, "srbds_ctrl"),
    f(7, 0, Edx, 10, "md_clear"),
    f(7, 0, Edx, 11, "rtm_always_abort"),
    f(7, 0, Edx, 13, "tsx_force_abort"),
    f(7, 0, Edx, 14, "serialize"),
    f(7, 0, Edx, 15, "hybrid_cpu"),
    f(7, 0, Edx, 16, "tsxldtrk"),
    f(7, 0, Edx, 18, "pconfig"),
    f(7, 0, Edx, 19, "arch_lbr"),
    f(7, 0, Edx, 20, "ibt"),
    f(7, 0, Edx, 22, "amx_bf16"),
    f(7, 0, Edx, 23, "avx512_fp16"),
    f(7, 0, Edx, 24, "amx_tile"),
    f(7, 0, Edx, 25, "amx_int8"),
    f(7, 0, Edx, 26, "spec_ctrl"),
    f(7, 0, Edx, 27, "intel_stibp"),
    f(7, 0, Edx, 28, "flush_l1d"),
    f(7, 0, Edx, 29, "arch_capabilities"),
    f(7, 0, Edx, 30, "core_capabilities"),
    f(7, 0, Edx, 31, "spec_ctrl_ssbd"),
    // Leaf 7 subleaf 1 EAX and EDX.
    f(7, 1, Eax, 0, "sha512"),
    f(7, 1, Eax, 1, "sm3"),
    f(7, 1, Eax, 2, "sm4"),
    f(7, 1, Eax, 4, "avx_vnni"),
    f(7, 1, Eax, 5, "avx512_bf16"),
    f(7, 1, Eax, 7, "cmpccxadd"),
    hint(7, 1, Eax, 10, "fzrm"),
    hint(7, 1, Eax, 11, "fsrs"),
    hint(7, 1, Eax, 12, "fsrc"),
    f(7, 1, Eax, 17, "fred"),
    f(7, 1, Eax, 18, "lkgs"),
    f(7, 1, Eax, 19, "wrmsrns"),
    f(7, 1, Eax, 21, "amx_fp16"),
    f(7, 1, Eax, 22, "hreset"),
    f(7, 1, Eax, 23, "avx_ifma"),
    f(7, 1, Eax, 26, "lam"),
    f(7, 1, Eax, 27, "msrlist"),
    f(7, 1, Edx, 4, "avx_vnni_int8"),
    f(7, 1, Edx, 5, "avx_ne_convert"),
    f(7, 1, Edx, 10, "avx_vnni_int16"),
    f(7, 1, Edx, 14, "prefetchiti"),
    f(7, 1, Edx, 19, "avx10"),
    f(7, 1, Edx, 21, "apx_f"),
    // Leaf 0xd subleaf 0 EAX: the user XSAVE components XCR0 may enable.
    f(0xd, 0, Eax, 0, "xstate_x87"),
    f(0xd, 0, Eax, 1, "xstate_sse"),
    f(0xd, 0, Eax, 2, "xstate_avx"),
    f(0xd, 0, Eax, 3, "xstate_mpx_bndregs"),
    f(0xd, 0, Eax, 4, "xstate_mpx_bndcsr"),
    f(0xd, 0, Eax, 5, "xstate_avx512_opmask"),
    f(0xd, 0, Eax, 6, "xstate_avx512_zmm_hi256"),
    f(0xd, 0, Eax, 7, "xstate_avx512_hi16_zmm"),
    f(0xd, 0, Eax, 9, "xstate_pkru"),
    f(0xd, 0, Eax, 17, "xstate_amx_tilecfg"),
    f(0xd, 0, Eax, 18, "xstate_amx_tiledata"),
    f(0xd, 0, Eax, 19, "xstate_apx"),
    // Leaf 0xd subleaf 1 EAX.
    f(0xd, 1, Eax, 0, "xsaveopt"),
    f(0xd, 1, Eax, 1, "xsavec"),
    f(0xd, 1, Eax, 2, "xgetbv1"),
    f(0xd, 1, Eax, 3, "xsaves"),
    f(0xd, 1, Eax, 4, "xfd"),
    // Leaf 0x80000001 ECX.
    f(0x8000_0001, 0, Ecx, 0, "lahf_lm"),
    derived(0x8000_0001, 0, Ecx, 1, "cmp_legacy"),
    f(0x8000_0001, 0, Ecx, 2, "svm"),
    f(0x8000_0001, 0, Ecx, 3, "extapic"),
    f(0x8000_0001, 0, Ecx, 4, "cr8_legacy"),
    f(0x8000_0001, 0, Ecx, 5, "abm"),
    f(0x8000_0001, 0, Ecx, 6, "sse4a"),
    f(0x8000_0001, 0, Ecx, 7, "misalignsse"),
    f(0x8000_0001, 0, Ecx, 8, "3dnowprefetch"),
    f(0x8000_0001, 0, Ecx, 9, "osvw"),
    f(0x8000_0001, 0, Ecx, 10, "ibs"),
    f(0x8000_0001, 0, Ecx, 11, "xop"),
    f(0x8000_0001, 0, Ecx, 12, "skinit"),
    f(0x8000_0001, 0, Ecx, 13, "wdt"),
    f(0x8000_0001, 0, Ecx, 15, "lwp"),
    f(0x8000_0001, 0, Ecx, 16, "fma4"),
    f(0x8000_0001, 0, Ecx, 17, "tce"),
    f(0x8000_0001, 0, Ecx, 19, "nodeid_msr"),
    f(0x8000_0001, 0, Ecx, 21, "tbm"),
    f(0x8000_0001, 0, Ecx, 22, "topoext"),
    f(0x8000_0001, 0, Ecx, 23, "perfctr_core"),
    f(0x8000_0001, 0, Ecx, 24, "perfctr_nb"),
    f(0x8000_0001, 0, Ecx, 26, "bpext"),
    f(0x8000_0001, 0, Ecx, 27, "ptsc"),
    f(0x8000_0001, 0, Ecx, 28, "perfctr_llc"),
    f(0x8000_0001, 0, Ecx, 29, "mwaitx"),
    // Leaf 0x80000001 EDX (the bits that are not copies of leaf 1 EDX).
    f(0x8000_0001, 0, Edx, 11, "syscall"),
    f(0x8000_0001, 0, Edx, 19, "mp"),
    f(0x8000_0001, 0, Edx, 20, "nx"),
    f(0x8000_0001, 0, Edx, 22, "mmxext"),
    f(0x8000_0001, 0, Edx, 25, "fxsr_opt"),
    f(0x8000_0001, 0, Edx, 26, "pdpe1gb"),
    f(0x8000_0001, 0, Edx, 27, "rdtscp"),
    f(0x8000_0001, 0, Edx, 29, "lm"),
    f(0x8000_0001, 0, Edx, 30, "3dnowext"),
    f(0x8000_0001, 0, Edx, 31, "3dnow"),
    // Leaf 0x80000007 EDX.
    f(0x8000_0007, 0, Edx, 8, "constant_tsc (invariant TSC)"),
    // Leaf 0x80000008 EBX.
    f(0x8000_0008, 0, Ebx, 0, "clzero"),
    f(0x8000_0008, 0, Ebx, 1, "irperf"),
    f(0x8000_0008, 0, Ebx, 2, "xsaveerptr"),
    f(0x8000_0008, 0, Ebx, 4, "rdpru"),
    f(0x8000_0008, 0, Ebx, 9, "wbnoinvd"),
    f(0x8000_0008, 0, Ebx, 12, "amd_ibpb"),
    f(0x8000_0008, 0, Ebx, 14, "amd_ibrs"),
    f(0x8000_0008, 0, Ebx, 15, "amd_stibp"),
    f(0x8000_0008, 0, Ebx, 17, "amd_stibp_always_on"),
    f(0x8000_0008, 0, Ebx, 18, "amd_ibrs_preferred"),
    f(0x8000_0008, 0, Ebx, 19, "amd_ibrs_same_mode"),
    f(0x8000_0008, 0, Ebx, 23, "amd_ppin"),
    f(0x8000_0008, 0, Ebx, 24, "amd_ssbd"),
    f(0x8000_0008, 0, Ebx, 25, "virt_ssbd"),
    f(0x8000_0008, 0, Ebx, 26, "amd_ssb_no"),
    f(0x8000_0008, 0, Ebx, 27, "cppc"),
    f(0x8000_0008, 0, Ebx, 28, "amd_psfd"),
    f(0x8000_0008, 0, Ebx, 29, "btc_no"),
    f(0x8000_0008, 0, Ebx, 30, "ibpb_ret"),
];

/// The name of feature bit `bit` of `reg` in leaf `leaf`, subleaf `subleaf`, when known.
pub fn feature_name(leaf: u32, subleaf: u32, reg: Reg, bit: u8) -> Option<&'static str> {
    feature(leaf, subleaf, reg, bit).map(|x| x.name)
}

/// The table's entry for bit `bit` of `reg` in leaf `leaf`, subleaf `subleaf`.
pub fn feature(leaf: u32, subleaf: u32, reg: Reg, bit: u8) -> Option<&'static Feature> {
    FEATURES
        .iter()
        .find(|x| x.leaf == leaf && x.subleaf == subleaf && x.reg == reg && x.bit == bit)
}

/// The registers the table covers, each with the mask of the bits `check-host` compares.
pub fn compared_registers() -> Vec<(u32, u32, Reg, u32)> {
    let mut out: Vec<(u32, u32, Reg, u32)> = Vec::new();
    for x in FEATURES.iter().filter(|x| x.compared) {
        match out
            .iter_mut()
            .find(|(l, s, r, _)| (*l, *s, *r) == (x.leaf, x.subleaf, x.reg))
        {
            Some(e) => e.3 |= 1 << x.bit,
            None => out.push((x.leaf, x.subleaf, x.reg, 1 << x.bit)),
        }
    }
    out
}

/// The entry for `leaf`/`subleaf` in `entries`: an exact match, or for a leaf whose entries do
/// not depend on the subleaf (no `KVM_CPUID_FLAG_SIGNIFCANT_INDEX`), its only entry.
pub fn entry(entries: &[CpuidEntry], leaf: u32, subleaf: u32) -> Option<&CpuidEntry> {
    entries
        .iter()
        .find(|e| e.function == leaf && e.index == subleaf)
        .or_else(|| {
            entries
                .iter()
                .find(|e| e.function == leaf && e.flags & 1 == 0 && subleaf == 0)
        })
}

/// The vendor string of leaf 0 (`GenuineIntel`, `AuthenticAMD`, ...), when the entries have
/// leaf 0.
pub fn vendor(entries: &[CpuidEntry]) -> Option<String> {
    let e = entry(entries, 0, 0)?;
    let mut b = Vec::with_capacity(12);
    for r in [e.ebx, e.edx, e.ecx] {
        b.extend_from_slice(&r.to_le_bytes());
    }
    Some(
        b.iter()
            .map(|&c| {
                if c.is_ascii_graphic() || c == b' ' {
                    c as char
                } else {
                    '?'
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_no_duplicate_bits() {
        for (i, a) in FEATURES.iter().enumerate() {
            for b in &FEATURES[i + 1..] {
                assert!(
                    (a.leaf, a.subleaf, a.reg, a.bit) != (b.leaf, b.subleaf, b.reg, b.bit),
                    "{} and {} share a bit",
                    a.name,
                    b.name
                );
                assert!(a.bit < 32);
            }
        }
    }

    #[test]
    fn names_and_masks() {
        assert_eq!(feature_name(7, 0, Reg::Ebx, 5), Some("avx2"));
        assert_eq!(feature_name(7, 0, Reg::Ecx, 17), None);
        let regs = compared_registers();
        let leaf1_ecx = regs
            .iter()
            .find(|r| (r.0, r.1, r.2) == (1, 0, Reg::Ecx))
            .unwrap()
            .3;
        assert_eq!(leaf1_ecx & (1 << 27), 0, "OSXSAVE follows CR4");
        assert_ne!(leaf1_ecx & (1 << 28), 0, "AVX is compared");
    }

    #[test]
    fn vendor_string() {
        let e = CpuidEntry {
            function: 0,
            ebx: u32::from_le_bytes(*b"Genu"),
            edx: u32::from_le_bytes(*b"ineI"),
            ecx: u32::from_le_bytes(*b"ntel"),
            ..Default::default()
        };
        assert_eq!(vendor(&[e]).as_deref(), Some("GenuineIntel"));
        assert_eq!(vendor(&[]), None);
    }
}
