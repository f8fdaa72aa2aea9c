//! KVM's x86_64 and aarch64 ABI structures as bytes ↔ the neutral model.
//!
//! Producers that store KVM structures as raw C bytes (Firecracker ≥ format 2.0.0) are read
//! through here. Like KVM's own loaders, a short buffer is zero-extended and a long one is cut to
//! the structure size; [`fit`] tells the caller when either happened so it can report it.
//! Padding and reserved fields are written as zero.

use crate::model::*;

/// `sizeof(struct kvm_regs)`.
pub const REGS_SIZE: usize = 144;
/// `sizeof(struct kvm_sregs)`.
pub const SREGS_SIZE: usize = 312;
/// `sizeof(struct kvm_debugregs)`.
pub const DEBUGREGS_SIZE: usize = 128;
/// `sizeof(struct kvm_xcrs)`.
pub const XCRS_SIZE: usize = 392;
/// `sizeof(struct kvm_lapic_state)`.
pub const LAPIC_SIZE: usize = 1024;
/// `sizeof(struct kvm_mp_state)`.
pub const MP_STATE_SIZE: usize = 4;
/// `sizeof(struct kvm_vcpu_events)`.
pub const VCPU_EVENTS_SIZE: usize = 64;
/// `sizeof(struct kvm_pit_state2)`.
pub const PIT2_SIZE: usize = 112;
/// `sizeof(struct kvm_clock_data)`.
pub const CLOCK_SIZE: usize = 48;
/// `sizeof(struct kvm_irqchip)`.
pub const IRQCHIP_SIZE: usize = 520;
/// `sizeof(struct kvm_cpuid2)` without entries.
pub const CPUID2_HDR_SIZE: usize = 8;
/// `sizeof(struct kvm_cpuid_entry2)`.
pub const CPUID_ENTRY_SIZE: usize = 40;
/// `sizeof(struct kvm_msrs)` without entries.
pub const MSRS_HDR_SIZE: usize = 8;
/// `sizeof(struct kvm_msr_entry)`.
pub const MSR_ENTRY_SIZE: usize = 16;
/// `sizeof(struct kvm_xsave)`.
pub const XSAVE_SIZE: usize = 4096;
/// `sizeof(struct kvm_xsave2)` header: `len` word + `kvm_xsave`.
pub const XSAVE2_HDR_SIZE: usize = 8 + XSAVE_SIZE;
/// `sizeof(struct kvm_vcpu_init)`.
pub const VCPU_INIT_SIZE: usize = 32;

/// Copies `b` into a zeroed buffer of `size` bytes (what KVM-side loaders do).
pub fn fit(b: &[u8], size: usize) -> Vec<u8> {
    let mut v = vec![0u8; size];
    let n = b.len().min(size);
    v[..n].copy_from_slice(&b[..n]);
    v
}

/// Little-endian reader over a fixed-size buffer (callers [`fit`] it first).
struct R<'a>(&'a [u8], usize);

impl R<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        if let Some(s) = self.0.get(self.1..self.1 + N) {
            a.copy_from_slice(s);
        }
        self.1 += N;
        a
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn skip(&mut self, n: usize) {
        self.1 += n;
    }
    fn at(&mut self, off: usize) {
        self.1 = off;
    }
}

/// Little-endian writer.
#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn zero(&mut self, n: usize) {
        self.0.resize(self.0.len() + n, 0);
    }
    fn pad_to(mut self, size: usize) -> Vec<u8> {
        self.0.resize(size, 0);
        self.0
    }
}

/// `kvm_regs` → [`Regs`].
pub fn regs_from(b: &[u8]) -> Regs {
    let b = fit(b, REGS_SIZE);
    let mut r = R(&b, 0);
    Regs {
        rax: r.u64(),
        rbx: r.u64(),
        rcx: r.u64(),
        rdx: r.u64(),
        rsi: r.u64(),
        rdi: r.u64(),
        rsp: r.u64(),
        rbp: r.u64(),
        r8: r.u64(),
        r9: r.u64(),
        r10: r.u64(),
        r11: r.u64(),
        r12: r.u64(),
        r13: r.u64(),
        r14: r.u64(),
        r15: r.u64(),
        rip: r.u64(),
        rflags: r.u64(),
    }
}

/// [`Regs`] → `kvm_regs`.
pub fn regs_to(g: &Regs) -> Vec<u8> {
    let mut w = W::default();
    for v in [
        g.rax, g.rbx, g.rcx, g.rdx, g.rsi, g.rdi, g.rsp, g.rbp, g.r8, g.r9, g.r10, g.r11, g.r12,
        g.r13, g.r14, g.r15, g.rip, g.rflags,
    ] {
        w.u64(v);
    }
    w.pad_to(REGS_SIZE)
}

fn segment_from(r: &mut R) -> Segment {
    let s = Segment {
        base: r.u64(),
        limit: r.u32(),
        selector: r.u16(),
        type_: r.u8(),
        present: r.u8(),
        dpl: r.u8(),
        db: r.u8(),
        s: r.u8(),
        l: r.u8(),
        g: r.u8(),
        avl: r.u8(),
        unusable: r.u8(),
    };
    r.skip(1);
    s
}

fn segment_to(w: &mut W, s: &Segment) {
    w.u64(s.base);
    w.u32(s.limit);
    w.u16(s.selector);
    for v in [
        s.type_, s.present, s.dpl, s.db, s.s, s.l, s.g, s.avl, s.unusable, 0,
    ] {
        w.u8(v);
    }
}

fn dtable_from(r: &mut R) -> DescriptorTable {
    let t = DescriptorTable {
        base: r.u64(),
        limit: r.u16(),
    };
    r.skip(6);
    t
}

fn dtable_to(w: &mut W, t: &DescriptorTable) {
    w.u64(t.base);
    w.u16(t.limit);
    w.zero(6);
}

/// `kvm_sregs` → [`Sregs`].
pub fn sregs_from(b: &[u8]) -> Sregs {
    let b = fit(b, SREGS_SIZE);
    let mut r = R(&b, 0);
    Sregs {
        cs: segment_from(&mut r),
        ds: segment_from(&mut r),
        es: segment_from(&mut r),
        fs: segment_from(&mut r),
        gs: segment_from(&mut r),
        ss: segment_from(&mut r),
        tr: segment_from(&mut r),
        ldt: segment_from(&mut r),
        gdt: dtable_from(&mut r),
        idt: dtable_from(&mut r),
        cr0: r.u64(),
        cr2: r.u64(),
        cr3: r.u64(),
        cr4: r.u64(),
        cr8: r.u64(),
        efer: r.u64(),
        apic_base: r.u64(),
        interrupt_bitmap: [r.u64(), r.u64(), r.u64(), r.u64()],
    }
}

/// [`Sregs`] → `kvm_sregs`.
pub fn sregs_to(s: &Sregs) -> Vec<u8> {
    let mut w = W::default();
    for seg in [&s.cs, &s.ds, &s.es, &s.fs, &s.gs, &s.ss, &s.tr, &s.ldt] {
        segment_to(&mut w, seg);
    }
    dtable_to(&mut w, &s.gdt);
    dtable_to(&mut w, &s.idt);
    for v in [s.cr0, s.cr2, s.cr3, s.cr4, s.cr8, s.efer, s.apic_base] {
        w.u64(v);
    }
    for v in s.interrupt_bitmap {
        w.u64(v);
    }
    w.pad_to(SREGS_SIZE)
}

/// `kvm_debugregs` → [`DebugRegs`].
pub fn debugregs_from(b: &[u8]) -> DebugRegs {
    let b = fit(b, DEBUGREGS_SIZE);
    let mut r = R(&b, 0);
    DebugRegs {
        db: [r.u64(), r.u64(), r.u64(), r.u64()],
        dr6: r.u64(),
        dr7: r.u64(),
        flags: r.u64(),
    }
}

/// [`DebugRegs`] → `kvm_debugregs`.
pub fn debugregs_to(d: &DebugRegs) -> Vec<u8> {
    let mut w = W::default();
    for v in d.db {
        w.u64(v);
    }
    w.u64(d.dr6);
    w.u64(d.dr7);
    w.u64(d.flags);
    w.pad_to(DEBUGREGS_SIZE)
}

/// `kvm_xcrs` → [`Xcrs`] (at most 16 registers, as the structure holds).
pub fn xcrs_from(b: &[u8]) -> Xcrs {
    let b = fit(b, XCRS_SIZE);
    let mut r = R(&b, 0);
    let n = r.u32().min(16);
    let flags = r.u32();
    let xcrs = (0..n)
        .map(|_| {
            let xcr = r.u32();
            r.skip(4);
            Xcr {
                xcr,
                value: r.u64(),
            }
        })
        .collect();
    Xcrs { flags, xcrs }
}

/// [`Xcrs`] → `kvm_xcrs` (registers beyond 16 cannot be held and are cut).
pub fn xcrs_to(x: &Xcrs) -> Vec<u8> {
    let mut w = W::default();
    let n = x.xcrs.len().min(16);
    w.u32(n as u32);
    w.u32(x.flags);
    for e in &x.xcrs[..n] {
        w.u32(e.xcr);
        w.u32(0);
        w.u64(e.value);
    }
    w.pad_to(XCRS_SIZE)
}

/// `kvm_mp_state` → state word.
pub fn mp_state_from(b: &[u8]) -> u32 {
    R(&fit(b, MP_STATE_SIZE), 0).u32()
}

/// State word → `kvm_mp_state`.
pub fn mp_state_to(v: u32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// `kvm_vcpu_events` → [`VcpuEvents`].
pub fn events_from(b: &[u8]) -> VcpuEvents {
    let b = fit(b, VCPU_EVENTS_SIZE);
    let mut r = R(&b, 0);
    let mut e = VcpuEvents {
        exception_injected: r.u8(),
        exception_nr: r.u8(),
        exception_has_error_code: r.u8(),
        exception_pending: r.u8(),
        exception_error_code: r.u32(),
        interrupt_injected: r.u8(),
        interrupt_nr: r.u8(),
        interrupt_soft: r.u8(),
        interrupt_shadow: r.u8(),
        nmi_injected: r.u8(),
        nmi_pending: r.u8(),
        nmi_masked: r.u8(),
        ..Default::default()
    };
    r.skip(1);
    e.sipi_vector = r.u32();
    e.flags = r.u32();
    e.smi_smm = r.u8();
    e.smi_pending = r.u8();
    e.smi_inside_nmi = r.u8();
    e.smi_latched_init = r.u8();
    e.triple_fault_pending = r.u8();
    r.at(55);
    e.exception_has_payload = r.u8();
    e.exception_payload = r.u64();
    e
}

/// [`VcpuEvents`] → `kvm_vcpu_events`.
pub fn events_to(e: &VcpuEvents) -> Vec<u8> {
    let mut w = W::default();
    for v in [
        e.exception_injected,
        e.exception_nr,
        e.exception_has_error_code,
        e.exception_pending,
    ] {
        w.u8(v);
    }
    w.u32(e.exception_error_code);
    for v in [
        e.interrupt_injected,
        e.interrupt_nr,
        e.interrupt_soft,
        e.interrupt_shadow,
        e.nmi_injected,
        e.nmi_pending,
        e.nmi_masked,
        0,
    ] {
        w.u8(v);
    }
    w.u32(e.sipi_vector);
    w.u32(e.flags);
    for v in [
        e.smi_smm,
        e.smi_pending,
        e.smi_inside_nmi,
        e.smi_latched_init,
        e.triple_fault_pending,
    ] {
        w.u8(v);
    }
    w.zero(26);
    w.u8(e.exception_has_payload);
    w.u64(e.exception_payload);
    w.pad_to(VCPU_EVENTS_SIZE)
}

/// `kvm_pit_state2` → [`Pit`].
pub fn pit_from(b: &[u8]) -> Pit {
    let b = fit(b, PIT2_SIZE);
    let mut r = R(&b, 0);
    let channels = (0..3)
        .map(|_| PitChannel {
            count: r.u32(),
            latched_count: r.u16(),
            count_latched: r.u8(),
            status_latched: r.u8(),
            status: r.u8(),
            read_state: r.u8(),
            write_state: r.u8(),
            write_latch: r.u8(),
            rw_mode: r.u8(),
            mode: r.u8(),
            bcd: r.u8(),
            gate: r.u8(),
            count_load_time: r.u64() as i64,
        })
        .collect();
    Pit {
        channels,
        flags: r.u32(),
    }
}

/// [`Pit`] → `kvm_pit_state2` (channels beyond 3 cannot be held).
pub fn pit_to(p: &Pit) -> Vec<u8> {
    let mut w = W::default();
    for i in 0..3 {
        let c = p.channels.get(i).copied().unwrap_or_default();
        w.u32(c.count);
        w.u16(c.latched_count);
        for v in [
            c.count_latched,
            c.status_latched,
            c.status,
            c.read_state,
            c.write_state,
            c.write_latch,
            c.rw_mode,
            c.mode,
            c.bcd,
            c.gate,
        ] {
            w.u8(v);
        }
        w.u64(c.count_load_time as u64);
    }
    w.u32(p.flags);
    w.pad_to(PIT2_SIZE)
}

/// `kvm_clock_data` → [`KvmClock`].
pub fn clock_from(b: &[u8]) -> KvmClock {
    let b = fit(b, CLOCK_SIZE);
    let mut r = R(&b, 0);
    let clock = r.u64();
    let flags = r.u32();
    r.skip(4);
    KvmClock {
        clock,
        flags,
        realtime: r.u64(),
        host_tsc: r.u64(),
    }
}

/// [`KvmClock`] → `kvm_clock_data`.
pub fn clock_to(c: &KvmClock) -> Vec<u8> {
    let mut w = W::default();
    w.u64(c.clock);
    w.u32(c.flags);
    w.u32(0);
    w.u64(c.realtime);
    w.u64(c.host_tsc);
    w.pad_to(CLOCK_SIZE)
}

/// The chip a `kvm_irqchip` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Irqchip {
    /// Chip 0 or 1: an 8259.
    Pic(u32, Pic),
    /// Chip 2: the IOAPIC.
    Ioapic(IoApic),
}

/// `kvm_irqchip` → [`Irqchip`], by its `chip_id` (unknown ids read as an IOAPIC only when 2).
pub fn irqchip_from(b: &[u8]) -> Irqchip {
    let b = fit(b, IRQCHIP_SIZE);
    let mut r = R(&b, 0);
    let chip_id = r.u32();
    r.skip(4);
    if chip_id == 2 {
        let base_address = r.u64();
        let ioregsel = r.u32();
        let id = r.u32();
        let irr = r.u32();
        r.skip(4);
        let redirtbl = (0..24).map(|_| r.u64()).collect();
        return Irqchip::Ioapic(IoApic {
            base_address,
            ioregsel,
            id,
            irr,
            redirtbl,
        });
    }
    let mut f = [0u8; 16];
    for v in f.iter_mut() {
        *v = r.u8();
    }
    let [
        last_irr,
        irr,
        imr,
        isr,
        priority_add,
        irq_base,
        read_reg_select,
        poll,
        special_mask,
        init_state,
        auto_eoi,
        rotate_on_auto_eoi,
        special_fully_nested_mode,
        init4,
        elcr,
        elcr_mask,
    ] = f;
    Irqchip::Pic(
        chip_id,
        Pic {
            last_irr,
            irr,
            imr,
            isr,
            priority_add,
            irq_base,
            read_reg_select,
            poll,
            special_mask,
            init_state,
            auto_eoi,
            rotate_on_auto_eoi,
            special_fully_nested_mode,
            init4,
            elcr,
            elcr_mask,
        },
    )
}

/// [`Irqchip`] → `kvm_irqchip`.
pub fn irqchip_to(c: &Irqchip) -> Vec<u8> {
    let mut w = W::default();
    match c {
        Irqchip::Pic(id, p) => {
            w.u32(*id);
            w.u32(0);
            for v in [
                p.last_irr,
                p.irr,
                p.imr,
                p.isr,
                p.priority_add,
                p.irq_base,
                p.read_reg_select,
                p.poll,
                p.special_mask,
                p.init_state,
                p.auto_eoi,
                p.rotate_on_auto_eoi,
                p.special_fully_nested_mode,
                p.init4,
                p.elcr,
                p.elcr_mask,
            ] {
                w.u8(v);
            }
        }
        Irqchip::Ioapic(a) => {
            w.u32(2);
            w.u32(0);
            w.u64(a.base_address);
            w.u32(a.ioregsel);
            w.u32(a.id);
            w.u32(a.irr);
            w.u32(0);
            for i in 0..24 {
                w.u64(a.redirtbl.get(i).copied().unwrap_or_default());
            }
        }
    }
    w.pad_to(IRQCHIP_SIZE)
}

/// `kvm_cpuid_entry2` → [`CpuidEntry`].
pub fn cpuid_entry_from(b: &[u8]) -> CpuidEntry {
    let b = fit(b, CPUID_ENTRY_SIZE);
    let mut r = R(&b, 0);
    CpuidEntry {
        function: r.u32(),
        index: r.u32(),
        flags: r.u32(),
        eax: r.u32(),
        ebx: r.u32(),
        ecx: r.u32(),
        edx: r.u32(),
    }
}

/// [`CpuidEntry`] → `kvm_cpuid_entry2`.
pub fn cpuid_entry_to(e: &CpuidEntry) -> Vec<u8> {
    let mut w = W::default();
    for v in [e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx] {
        w.u32(v);
    }
    w.pad_to(CPUID_ENTRY_SIZE)
}

/// `kvm_msr_entry` → [`Msr`].
pub fn msr_from(b: &[u8]) -> Msr {
    let b = fit(b, MSR_ENTRY_SIZE);
    let mut r = R(&b, 0);
    let index = r.u32();
    r.skip(4);
    Msr {
        index,
        value: r.u64(),
    }
}

/// [`Msr`] → `kvm_msr_entry`.
pub fn msr_to(m: &Msr) -> Vec<u8> {
    let mut w = W::default();
    w.u32(m.index);
    w.u32(0);
    w.u64(m.value);
    w.pad_to(MSR_ENTRY_SIZE)
}

/// The count word of a FAM header (`kvm_cpuid2.nent`, `kvm_msrs.nmsrs`).
pub fn fam_count(hdr: &[u8]) -> u32 {
    R(&fit(hdr, 4), 0).u32()
}

/// A FAM header (`kvm_cpuid2`, `kvm_msrs`) with `count` entries.
pub fn fam_header(count: u32) -> Vec<u8> {
    let mut w = W::default();
    w.u32(count);
    w.pad_to(8)
}

/// `kvm_vcpu_init` → [`VcpuInit`].
pub fn vcpu_init_from(b: &[u8]) -> VcpuInit {
    let b = fit(b, VCPU_INIT_SIZE);
    let mut r = R(&b, 0);
    let target = r.u32();
    let mut features = [0u32; 7];
    for f in features.iter_mut() {
        *f = r.u32();
    }
    VcpuInit { target, features }
}

/// [`VcpuInit`] → `kvm_vcpu_init`.
pub fn vcpu_init_to(v: &VcpuInit) -> Vec<u8> {
    let mut w = W::default();
    w.u32(v.target);
    for f in v.features {
        w.u32(f);
    }
    w.pad_to(VCPU_INIT_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regs_layout() {
        let mut b = vec![0u8; REGS_SIZE];
        b[6 * 8] = 0x11; // rsp
        b[7 * 8] = 0x22; // rbp
        b[16 * 8] = 0x33; // rip
        let r = regs_from(&b);
        assert_eq!((r.rsp, r.rbp, r.rip), (0x11, 0x22, 0x33));
        assert_eq!(regs_to(&r), b);
    }

    #[test]
    fn sregs_round_trip_and_offsets() {
        let mut s = Sregs::default();
        s.cs.selector = 0x10;
        s.cs.l = 1;
        s.cr3 = 0x10_3000;
        s.efer = 0xd01;
        let b = sregs_to(&s);
        assert_eq!(b.len(), SREGS_SIZE);
        assert_eq!(
            u64::from_le_bytes(b[240..248].try_into().unwrap()),
            0x10_3000
        ); // cr3
        assert_eq!(u64::from_le_bytes(b[264..272].try_into().unwrap()), 0xd01); // efer
        assert_eq!(sregs_from(&b), s);
    }

    #[test]
    fn events_round_trip() {
        let e = VcpuEvents {
            nmi_masked: 1,
            flags: 0x1f,
            triple_fault_pending: 1,
            exception_payload: 7,
            ..Default::default()
        };
        let b = events_to(&e);
        assert_eq!(b.len(), VCPU_EVENTS_SIZE);
        assert_eq!(b[56], 7); // exception_payload at 56
        assert_eq!(events_from(&b), e);
    }

    #[test]
    fn irqchip_round_trip() {
        let a = Irqchip::Ioapic(IoApic {
            base_address: 0xfec0_0000,
            id: 0,
            redirtbl: (0..24).map(|i| 0x10000 | i).collect(),
            ..Default::default()
        });
        assert_eq!(irqchip_from(&irqchip_to(&a)), a);
        let p = Irqchip::Pic(
            1,
            Pic {
                imr: 0xff,
                irq_base: 0x28,
                ..Default::default()
            },
        );
        assert_eq!(irqchip_from(&irqchip_to(&p)), p);
    }

    #[test]
    fn short_and_long_blobs_do_not_panic() {
        let _ = sregs_from(&[1, 2, 3]);
        let _ = pit_from(&[0xff; 1000]);
        let _ = xcrs_from(&[0xff; 8]);
    }
}
