//! QEMU's x86 `cpu`, `cpu_common` and `apic` sections ↔ the model's vCPU, field by field
//! (QEMU 7.2, `cpu` version 12, `apic` version 3, in-kernel irqchip).

use super::desc::{DeviceDesc, Fields, locate};
use crate::model::{
    Bytes, DebugRegs, Lapic, Msr, Regs, Segment, VcpuEvents, X86Vcpu, Xcr, Xcrs, Xsave,
};

/// QEMU's `env.regs` order: RAX RCX RDX RBX RSP RBP RSI RDI R8..R15.
fn regs_order(r: &mut Regs) -> [&mut u64; 16] {
    [
        &mut r.rax, &mut r.rcx, &mut r.rdx, &mut r.rbx, &mut r.rsp, &mut r.rbp, &mut r.rsi,
        &mut r.rdi, &mut r.r8, &mut r.r9, &mut r.r10, &mut r.r11, &mut r.r12, &mut r.r13,
        &mut r.r14, &mut r.r15,
    ]
}

const DESC_TYPE_SHIFT: u32 = 8;
const DESC_S_MASK: u32 = 1 << 12;
const DESC_DPL_SHIFT: u32 = 13;
const DESC_P_MASK: u32 = 1 << 15;
const DESC_AVL_MASK: u32 = 1 << 20;
const DESC_L_SHIFT: u32 = 21;
const DESC_B_SHIFT: u32 = 22;
const DESC_G_MASK: u32 = 1 << 23;

/// A QEMU segment cache's flags → the model's segment bits (as QEMU's KVM code does).
fn seg_from(selector: u64, base: u64, limit: u64, flags: u32) -> Segment {
    let present = u8::from(flags & DESC_P_MASK != 0);
    Segment {
        base,
        limit: limit as u32,
        selector: selector as u16,
        type_: ((flags >> DESC_TYPE_SHIFT) & 15) as u8,
        present,
        dpl: ((flags >> DESC_DPL_SHIFT) & 3) as u8,
        db: ((flags >> DESC_B_SHIFT) & 1) as u8,
        s: u8::from(flags & DESC_S_MASK != 0),
        l: ((flags >> DESC_L_SHIFT) & 1) as u8,
        g: u8::from(flags & DESC_G_MASK != 0),
        avl: u8::from(flags & DESC_AVL_MASK != 0),
        unusable: u8::from(present == 0),
    }
}

/// The model's segment → QEMU's flags (0 for an unusable segment).
fn seg_flags(s: &Segment) -> u32 {
    if s.unusable != 0 {
        return 0;
    }
    (u32::from(s.type_ & 15) << DESC_TYPE_SHIFT)
        | (u32::from(s.present != 0) * DESC_P_MASK)
        | (u32::from(s.dpl & 3) << DESC_DPL_SHIFT)
        | (u32::from(s.db & 1) << DESC_B_SHIFT)
        | (u32::from(s.s != 0) * DESC_S_MASK)
        | (u32::from(s.l & 1) << DESC_L_SHIFT)
        | (u32::from(s.g != 0) * DESC_G_MASK)
        | (u32::from(s.avl != 0) * DESC_AVL_MASK)
}

/// MSRs the `cpu` section holds as plain fields: (field, MSR index).
const MSR_FIELDS: &[(&str, u32)] = &[
    ("env.sysenter_cs", 0x174),
    ("env.sysenter_esp", 0x175),
    ("env.sysenter_eip", 0x176),
    ("env.star", 0xc000_0081),
    ("env.lstar", 0xc000_0082),
    ("env.cstar", 0xc000_0083),
    ("env.fmask", 0xc000_0084),
    ("env.kernelgsbase", 0xc000_0102),
    ("env.pat", 0x277),
    ("env.tsc", 0x10),
    ("env.tsc_aux", 0xc000_0103),
    ("env.mtrr_deftype", 0x2ff),
    ("env.mcg_status", 0x17a),
    ("env.mcg_ctl", 0x17b),
    ("env.system_time_msr", 0x4b56_4d01),
    ("env.wall_clock_msr", 0x4b56_4d00),
];

/// Fixed-range MTRRs, in `env.mtrr_fixed` order.
const MTRR_FIXED: [u32; 11] = [
    0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f,
];

/// `cpu` subsections that hold one MSR each: (subsection, field, MSR, value QEMU leaves out).
pub(super) const MSR_SUBSECTIONS: &[(&str, &str, u32, u64)] = &[
    ("cpu/async_pf_msr", "env.async_pf_en_msr", 0x4b56_4d02, 0),
    ("cpu/pv_eoi_msr", "env.pv_eoi_en_msr", 0x4b56_4d04, 0),
    ("cpu/steal_time_msr", "env.steal_time_msr", 0x4b56_4d03, 0),
    ("cpu/msr_tsc_adjust", "env.tsc_adjust", 0x3b, 0),
    ("cpu/msr_tscdeadline", "env.tsc_deadline", 0x6e0, 0),
    (
        "cpu/msr_ia32_misc_enable",
        "env.msr_ia32_misc_enable",
        0x1a0,
        1,
    ),
    (
        "cpu/msr_ia32_feature_control",
        "env.msr_ia32_feature_control",
        0x3a,
        0,
    ),
    ("cpu/spec_ctrl", "env.spec_ctrl", 0x48, 0),
    ("cpu/xss", "env.xss", 0xda0, 0),
];

/// Every MSR index snaptool writes into the `cpu` section (the MCE banks, `env.mce_banks`, are
/// carried as written and not taken from the model).
pub fn holds_msr(index: u32) -> bool {
    MSR_FIELDS.iter().any(|&(_, i)| i == index)
        || MTRR_FIXED.contains(&index)
        || (0x200..0x210).contains(&index)
        || MSR_SUBSECTIONS.iter().any(|&(_, _, i, _)| i == index)
}

/// The model's vCPU from QEMU's `cpu` section (and `apic`, `cpu_common` when present).
pub fn vcpu_from(cpu: &Fields<'_>, apic: Option<&Fields<'_>>) -> X86Vcpu {
    let g = |p: &str| cpu.u(p).unwrap_or(0);
    let mut v = X86Vcpu::default();
    for (i, r) in regs_order(&mut v.regs).into_iter().enumerate() {
        *r = g(&format!("env.regs[{i}]"));
    }
    v.regs.rip = g("env.eip");
    v.regs.rflags = g("env.eflags");
    let seg = |p: &str| {
        seg_from(
            g(&format!("{p}.selector")),
            g(&format!("{p}.base")),
            g(&format!("{p}.limit")),
            g(&format!("{p}.flags")) as u32,
        )
    };
    let s = &mut v.sregs;
    s.es = seg("env.segs[0]");
    s.cs = seg("env.segs[1]");
    s.ss = seg("env.segs[2]");
    s.ds = seg("env.segs[3]");
    s.fs = seg("env.segs[4]");
    s.gs = seg("env.segs[5]");
    s.ldt = seg("env.ldt");
    s.tr = seg("env.tr");
    s.gdt.base = g("env.gdt.base");
    s.gdt.limit = g("env.gdt.limit") as u16;
    s.idt.base = g("env.idt.base");
    s.idt.limit = g("env.idt.limit") as u16;
    s.cr0 = g("env.cr[0]");
    s.cr2 = g("env.cr[2]");
    s.cr3 = g("env.cr[3]");
    s.cr4 = g("env.cr[4]");
    s.efer = g("env.efer");
    if let Some(a) = apic {
        s.apic_base = a.u("apicbase").unwrap_or(0);
        s.cr8 = (a.u("tpr").unwrap_or(0) >> 4) & 15;
    }
    let injected = cpu.i("env.interrupt_injected").unwrap_or(-1);
    if injected >= 0 {
        let n = injected as u64;
        s.interrupt_bitmap[(n / 64) as usize % 4] |= 1 << (n % 64);
    }
    v.mp_state = Some(g("env.mp_state") as u32);
    v.debug_regs = Some(DebugRegs {
        db: [
            g("env.dr[0]"),
            g("env.dr[1]"),
            g("env.dr[2]"),
            g("env.dr[3]"),
        ],
        dr6: g("env.dr[6]"),
        dr7: g("env.dr[7]"),
        flags: 0,
    });
    v.xcrs = Some(Xcrs {
        flags: 0,
        xcrs: vec![Xcr {
            xcr: 0,
            value: g("env.xcr0"),
        }],
    });
    v.xsave = Some(xsave_from(cpu));
    v.lapic = apic.map(lapic_from);
    let mut msrs = Vec::new();
    for &(f, index) in MSR_FIELDS {
        // MCG_CTL takes effect only with the machine-check setup QEMU does itself
        // (KVM_X86_SETUP_MCE); QEMU writes it whatever the state.
        if index == 0x17b {
            continue;
        }
        msrs.push(Msr { index, value: g(f) });
    }
    for (i, &index) in MTRR_FIXED.iter().enumerate() {
        msrs.push(Msr {
            index,
            value: g(&format!("env.mtrr_fixed[{i}]")),
        });
    }
    for i in 0..8u32 {
        msrs.push(Msr {
            index: 0x200 + 2 * i,
            value: g(&format!("env.mtrr_var[{i}].base")),
        });
        // QEMU keeps a mask with the bits above the CPU's physical address width set; KVM takes
        // it without them (a 48-bit width assumed); a mask without its valid bit is 0 to KVM.
        let mask = g(&format!("env.mtrr_var[{i}].mask"));
        msrs.push(Msr {
            index: 0x201 + 2 * i,
            value: if mask & (1 << 11) == 0 {
                0
            } else {
                mask & ((1 << 48) - 1)
            },
        });
    }
    // An MSR kept in a subsection is there only when QEMU had it (and it was not the default).
    for &(sub, f, index, _) in MSR_SUBSECTIONS {
        if let Some(value) = cpu.u(&format!("{sub}:{f}")) {
            msrs.push(Msr { index, value });
        }
    }
    msrs.sort_by_key(|m| m.index);
    v.msrs = msrs;
    let exc = cpu.i("env.exception_nr").unwrap_or(-1);
    let hflags = g("env.hflags");
    let hflags2 = g("env.hflags2");
    v.events = Some(VcpuEvents {
        exception_injected: u8::from(exc >= 0),
        exception_nr: if exc >= 0 { exc as u8 } else { 0 },
        exception_has_error_code: g("env.has_error_code") as u8,
        interrupt_injected: u8::from(injected >= 0),
        interrupt_nr: if injected >= 0 { injected as u8 } else { 0 },
        interrupt_soft: g("env.soft_interrupt") as u8,
        interrupt_shadow: u8::from(hflags & HF_INHIBIT_IRQ != 0),
        nmi_injected: g("env.nmi_injected") as u8,
        nmi_pending: g("env.nmi_pending") as u8,
        nmi_masked: u8::from(hflags2 & HF2_NMI != 0),
        sipi_vector: g("env.sipi_vector") as u32,
        // KVM_VCPUEVENT_VALID_NMI_PENDING | _SIPI_VECTOR | _SHADOW
        flags: 0x7,
        ..Default::default()
    });
    v.tsc_khz = cpu
        .u("cpu/tsc_khz:env.tsc_khz")
        .and_then(|k| u32::try_from(k).ok())
        .filter(|&k| k != 0);
    v
}

const HF_INHIBIT_IRQ: u64 = 1 << 3;
const HF2_GIF: u64 = 1 << 0;
const HF2_NMI: u64 = 1 << 2;

/// The 4 KiB KVM XSAVE area from QEMU's FPU, SSE and AVX fields.
fn xsave_from(cpu: &Fields<'_>) -> Xsave {
    let g = |p: &str| cpu.u(p).unwrap_or(0);
    let mut x = vec![0u8; 4096];
    x[0..2].copy_from_slice(&(g("env.fpuc") as u16).to_le_bytes());
    x[2..4].copy_from_slice(&(g("env.fpus_vmstate") as u16).to_le_bytes());
    x[4] = g("env.fptag_vmstate") as u8;
    x[6..8].copy_from_slice(&(g("cpu/fpop_ip_dp:env.fpop") as u16).to_le_bytes());
    x[8..16].copy_from_slice(&g("cpu/fpop_ip_dp:env.fpip").to_le_bytes());
    x[16..24].copy_from_slice(&g("cpu/fpop_ip_dp:env.fpdp").to_le_bytes());
    x[24..28].copy_from_slice(&(g("env.mxcsr") as u32).to_le_bytes());
    x[28..32].copy_from_slice(&0xffffu32.to_le_bytes());
    for i in 0..8 {
        if let Some(b) = cpu.bytes(&format!("env.fpregs[{i}].tmp")) {
            if b.len() == 10 {
                let mant = u64::from_be_bytes(b[0..8].try_into().expect("8"));
                let exp = u16::from_be_bytes(b[8..10].try_into().expect("2"));
                let o = 32 + 16 * i;
                x[o..o + 8].copy_from_slice(&mant.to_le_bytes());
                x[o + 8..o + 10].copy_from_slice(&exp.to_le_bytes());
            }
        }
    }
    for i in 0..16 {
        let o = 160 + 16 * i;
        x[o..o + 8]
            .copy_from_slice(&g(&format!("env.xmm_regs[0][{i}]._q_ZMMReg[0]")).to_le_bytes());
        x[o + 8..o + 16]
            .copy_from_slice(&g(&format!("env.xmm_regs[0][{i}]._q_ZMMReg[1]")).to_le_bytes());
        let y = 576 + 16 * i;
        x[y..y + 8]
            .copy_from_slice(&g(&format!("env.xmm_regs[1][{i}]._q_ZMMReg[2]")).to_le_bytes());
        x[y + 8..y + 16]
            .copy_from_slice(&g(&format!("env.xmm_regs[1][{i}]._q_ZMMReg[3]")).to_le_bytes());
    }
    x[512..520].copy_from_slice(&g("env.xstate_bv").to_le_bytes());
    Xsave {
        region: Bytes(x),
        extra: Vec::new(),
        len_field: None,
    }
}

/// KVM's APIC register page from QEMU's `apic` fields (as QEMU's `kvm_put_apic_state` builds it).
fn lapic_from(a: &Fields<'_>) -> Lapic {
    let g = |p: &str| a.u(p).unwrap_or(0) as u32;
    let mut page = vec![0u8; 1024];
    let mut set =
        |reg: usize, v: u32| page[reg * 16..reg * 16 + 4].copy_from_slice(&v.to_le_bytes());
    set(0x2, g("id") << 24);
    set(0x8, g("tpr"));
    set(0x9, g("arb_id"));
    set(0xd, g("log_dest") << 24);
    set(0xe, (g("dest_mode") << 28) | 0x0fff_ffff);
    set(0xf, g("spurious_vec"));
    for i in 0..8 {
        set(0x10 + i, g(&format!("isr[{i}]")));
        set(0x18 + i, g(&format!("tmr[{i}]")));
        set(0x20 + i, g(&format!("irr[{i}]")));
    }
    set(0x28, g("esr"));
    set(0x30, g("icr[0]"));
    set(0x31, g("icr[1]"));
    for i in 0..6 {
        set(0x32 + i, g(&format!("lvt[{i}]")));
    }
    set(0x38, g("initial_count"));
    set(0x3e, g("divide_conf"));
    Lapic { regs: Bytes(page) }
}

/// A section payload being patched field by field.
pub struct Patch<'a> {
    locs: Vec<super::desc::Loc>,
    payload: &'a mut [u8],
}

impl<'a> Patch<'a> {
    /// Patches `payload`, laid out as `d` says.
    pub fn new(d: &DeviceDesc, payload: &'a mut [u8]) -> Self {
        Patch {
            locs: locate(d),
            payload,
        }
    }

    /// Sets a big-endian integer field; false when the section has no such field.
    pub fn set(&mut self, path: &str, v: u64) -> bool {
        let Some(l) = self.locs.iter().find(|l| l.path == path) else {
            return false;
        };
        let Some(b) = self.payload.get_mut(l.offset..l.offset + l.size) else {
            return false;
        };
        let n = b.len().min(8);
        b[..n].copy_from_slice(&v.to_be_bytes()[8 - n..]);
        true
    }

    /// Sets raw bytes of a field of the same size.
    pub fn set_bytes(&mut self, path: &str, v: &[u8]) -> bool {
        let Some(l) = self.locs.iter().find(|l| l.path == path) else {
            return false;
        };
        match self.payload.get_mut(l.offset..l.offset + l.size) {
            Some(b) if b.len() == v.len() => {
                b.copy_from_slice(v);
                true
            }
            _ => false,
        }
    }
}

fn le_u64(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8)
        .map_or(0, |s| u64::from_le_bytes(s.try_into().expect("8")))
}

fn le_u32(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .map_or(0, |s| u32::from_le_bytes(s.try_into().expect("4")))
}

fn le_u16(b: &[u8], o: usize) -> u16 {
    b.get(o..o + 2)
        .map_or(0, |s| u16::from_le_bytes(s.try_into().expect("2")))
}

/// QEMU's `hflags` for this state (what `x86_update_hflags` computes), keeping the bits it
/// does not derive from `keep`.
pub fn hflags(v: &X86Vcpu, xcr0: u64, keep: u64) -> u64 {
    let s = &v.sregs;
    let cs = seg_flags(&s.cs);
    let ss = seg_flags(&s.ss);
    // HF_SMM, HF_SVME, HF_GUEST, HF_INHIBIT_IRQ stay as they were.
    let mut h = keep & ((1 << 19) | (1 << 20) | (1 << 21));
    if v.events.is_some_and(|e| e.interrupt_shadow != 0) {
        h |= HF_INHIBIT_IRQ;
    }
    h |= u64::from((ss >> DESC_DPL_SHIFT) & 3);
    h |= (s.cr0 & 1) << 7;
    h |= (s.cr0 << 8) & ((1 << 9) | (1 << 10) | (1 << 11));
    h |= v.regs.rflags & ((1 << 8) | (1 << 17) | (3 << 12));
    h |= ((s.cr4 >> 9) & 1) << 22;
    let lma = s.efer & (1 << 10) != 0;
    if lma {
        h |= 1 << 14;
    }
    if lma && cs & (1 << DESC_L_SHIFT) != 0 {
        h |= (1 << 4) | (1 << 5) | (1 << 15);
    } else {
        h |= u64::from((cs >> DESC_B_SHIFT) & 1) << 4;
        h |= u64::from((ss >> DESC_B_SHIFT) & 1) << 5;
        if s.cr0 & 1 == 0
            || v.regs.rflags & (1 << 17) != 0
            || h & (1 << 4) == 0
            || (s.ds.base | s.es.base | s.ss.base) != 0
        {
            h |= 1 << 6;
        }
    }
    // SMAP at CPL < 3, UMIP, AVX enabled.
    if s.cr4 & (1 << 21) != 0 && h & 3 != 3 {
        h |= 1 << 23;
    }
    if s.cr4 & (1 << 11) != 0 {
        h |= 1 << 27;
    }
    if s.cr4 & (1 << 18) != 0 && xcr0 & 6 == 6 {
        h |= 1 << 28;
    }
    h
}

/// Writes the model's vCPU into QEMU's `cpu` section payload (laid out as `d`, main fields
/// and the subsections already there). MSRs without a field or subsection here are left to the
/// caller (see [`holds_msr`]).
pub fn patch_cpu(d: &DeviceDesc, payload: &mut [u8], v: &X86Vcpu) {
    let keep_h = Fields::new(d, payload).u("env.hflags").unwrap_or(0);
    let keep_h2 = Fields::new(d, payload).u("env.hflags2").unwrap_or(HF2_GIF);
    let xcr0 = v
        .xcrs
        .as_ref()
        .and_then(|x| x.xcrs.iter().find(|x| x.xcr == 0))
        .map_or(1, |x| x.value);
    let mut p = Patch::new(d, payload);
    let mut r = v.regs;
    for (i, reg) in regs_order(&mut r).into_iter().enumerate() {
        p.set(&format!("env.regs[{i}]"), *reg);
    }
    p.set("env.eip", v.regs.rip);
    p.set("env.eflags", v.regs.rflags);
    p.set("env.hflags", hflags(v, xcr0, keep_h));
    let s = &v.sregs;
    let segs = [
        ("env.segs[0]", &s.es),
        ("env.segs[1]", &s.cs),
        ("env.segs[2]", &s.ss),
        ("env.segs[3]", &s.ds),
        ("env.segs[4]", &s.fs),
        ("env.segs[5]", &s.gs),
        ("env.ldt", &s.ldt),
        ("env.tr", &s.tr),
    ];
    for (name, seg) in segs {
        p.set(&format!("{name}.selector"), u64::from(seg.selector));
        p.set(&format!("{name}.base"), seg.base);
        p.set(&format!("{name}.limit"), u64::from(seg.limit));
        p.set(&format!("{name}.flags"), u64::from(seg_flags(seg)));
    }
    p.set("env.gdt.base", s.gdt.base);
    p.set("env.gdt.limit", u64::from(s.gdt.limit));
    p.set("env.idt.base", s.idt.base);
    p.set("env.idt.limit", u64::from(s.idt.limit));
    p.set("env.cr[0]", s.cr0);
    p.set("env.cr[2]", s.cr2);
    p.set("env.cr[3]", s.cr3);
    p.set("env.cr[4]", s.cr4);
    p.set("env.efer", s.efer);
    if let Some(dr) = &v.debug_regs {
        for i in 0..4 {
            p.set(&format!("env.dr[{i}]"), dr.db[i]);
        }
        p.set("env.dr[6]", dr.dr6);
        p.set("env.dr[7]", dr.dr7);
    }
    p.set("env.xcr0", xcr0);
    if let Some(x) = &v.xsave {
        let b = &x.region.0;
        p.set("env.fpuc", u64::from(le_u16(b, 0)));
        p.set("env.fpus_vmstate", u64::from(le_u16(b, 2)));
        p.set(
            "env.fptag_vmstate",
            u64::from(b.get(4).copied().unwrap_or(0)),
        );
        p.set("env.fpregs_format_vmstate", 0);
        p.set("cpu/fpop_ip_dp:env.fpop", u64::from(le_u16(b, 6)));
        p.set("cpu/fpop_ip_dp:env.fpip", le_u64(b, 8));
        p.set("cpu/fpop_ip_dp:env.fpdp", le_u64(b, 16));
        p.set("env.mxcsr", u64::from(le_u32(b, 24)));
        for i in 0..8 {
            let o = 32 + 16 * i;
            let mut t = [0u8; 10];
            t[0..8].copy_from_slice(&le_u64(b, o).to_be_bytes());
            t[8..10].copy_from_slice(&le_u16(b, o + 8).to_be_bytes());
            p.set_bytes(&format!("env.fpregs[{i}].tmp"), &t);
        }
        for i in 0..16 {
            let o = 160 + 16 * i;
            p.set(&format!("env.xmm_regs[0][{i}]._q_ZMMReg[0]"), le_u64(b, o));
            p.set(
                &format!("env.xmm_regs[0][{i}]._q_ZMMReg[1]"),
                le_u64(b, o + 8),
            );
            let y = 576 + 16 * i;
            p.set(&format!("env.xmm_regs[1][{i}]._q_ZMMReg[2]"), le_u64(b, y));
            p.set(
                &format!("env.xmm_regs[1][{i}]._q_ZMMReg[3]"),
                le_u64(b, y + 8),
            );
        }
        p.set("env.xstate_bv", le_u64(b, 512));
    }
    let msr = |i: u32| v.msrs.iter().find(|m| m.index == i).map(|m| m.value);
    for &(f, index) in MSR_FIELDS {
        if let Some(x) = msr(index) {
            p.set(f, x);
        }
    }
    for (i, &index) in MTRR_FIXED.iter().enumerate() {
        if let Some(x) = msr(index) {
            p.set(&format!("env.mtrr_fixed[{i}]"), x);
        }
    }
    for i in 0..8u32 {
        if let Some(x) = msr(0x200 + 2 * i) {
            p.set(&format!("env.mtrr_var[{i}].base"), x);
        }
        if let Some(x) = msr(0x201 + 2 * i) {
            p.set(&format!("env.mtrr_var[{i}].mask"), x);
        }
    }
    for &(sub, f, index, _) in MSR_SUBSECTIONS {
        if let Some(x) = msr(index) {
            p.set(&format!("{sub}:{f}"), x);
        }
    }
    p.set("env.mp_state", u64::from(v.mp_state.unwrap_or(0)));
    let e = v.events.unwrap_or_default();
    let injected = if e.interrupt_injected != 0 {
        u64::from(e.interrupt_nr)
    } else {
        u64::from(u32::MAX)
    };
    p.set("env.interrupt_injected", injected);
    p.set("env.soft_interrupt", u64::from(e.interrupt_soft));
    let exc = if e.exception_injected != 0 || e.exception_pending != 0 {
        u64::from(e.exception_nr)
    } else {
        u64::from(u32::MAX)
    };
    p.set("env.exception_nr", exc);
    p.set("env.has_error_code", u64::from(e.exception_has_error_code));
    p.set("env.nmi_injected", u64::from(e.nmi_injected));
    p.set("env.nmi_pending", u64::from(e.nmi_pending));
    p.set("env.sipi_vector", u64::from(e.sipi_vector));
    let h2 = if e.nmi_masked != 0 {
        keep_h2 | HF2_NMI
    } else {
        keep_h2 & !HF2_NMI
    };
    p.set("env.hflags2", h2);
    if let Some(k) = v.tsc_khz {
        p.set("cpu/tsc_khz:env.tsc_khz", u64::from(k));
    }
}

/// Writes the model's local APIC into QEMU's `apic` section payload.
pub fn patch_apic(d: &DeviceDesc, payload: &mut [u8], v: &X86Vcpu) {
    let mut p = Patch::new(d, payload);
    p.set("apicbase", v.sregs.apic_base);
    let Some(l) = &v.lapic else { return };
    let r = |reg: usize| l.reg(reg * 16).unwrap_or(0);
    p.set("id", u64::from(r(0x2) >> 24));
    p.set("tpr", u64::from(r(0x8)));
    p.set("arb_id", u64::from(r(0x9)));
    p.set("log_dest", u64::from(r(0xd) >> 24));
    p.set("dest_mode", u64::from(r(0xe) >> 28));
    p.set("spurious_vec", u64::from(r(0xf)));
    for i in 0..8 {
        p.set(&format!("isr[{i}]"), u64::from(r(0x10 + i)));
        p.set(&format!("tmr[{i}]"), u64::from(r(0x18 + i)));
        p.set(&format!("irr[{i}]"), u64::from(r(0x20 + i)));
    }
    p.set("esr", u64::from(r(0x28)));
    p.set("icr[0]", u64::from(r(0x30)));
    p.set("icr[1]", u64::from(r(0x31)));
    for i in 0..6 {
        p.set(&format!("lvt[{i}]"), u64::from(r(0x32 + i)));
    }
    p.set("initial_count", u64::from(r(0x38)));
    let div = r(0x3e);
    p.set("divide_conf", u64::from(div));
    let shift = ((div & 3) | ((div >> 1) & 4)) + 1;
    p.set("count_shift", u64::from(shift & 7));
}
