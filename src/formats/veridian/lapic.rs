//! `LapicSnapshot`: VeridianOS's local-APIC snapshot, its fixed 176-byte little-endian form, and
//! its mapping to KVM's 1 KiB register page (`kvm_lapic_state.regs`).
//!
//! The kernel type is not `repr(C)` (`size_of` = 176 on x86_64, layout unspecified), so snaptool
//! fixes a byte form: the fields in declaration order at their natural alignment, which is what
//! `repr(C)` would give and also totals 176 bytes.

/// Size of the byte form.
pub const SIZE: usize = 176;
/// Size of KVM's LAPIC register page.
pub const PAGE: usize = 1024;

/// APIC ID register (the ID is in bits 31:24).
pub const REG_ID: usize = 0x20;
/// APIC version register.
pub const REG_VERSION: usize = 0x30;
/// Task priority.
pub const REG_TPR: usize = 0x80;
/// Logical destination.
pub const REG_LDR: usize = 0xD0;
/// Destination format.
pub const REG_DFR: usize = 0xE0;
/// Spurious-interrupt vector (bit 8 = APIC software enable).
pub const REG_SVR: usize = 0xF0;
/// In-service registers (8 × 32 bits at a 0x10 stride).
pub const REG_ISR: usize = 0x100;
/// Trigger-mode registers.
pub const REG_TMR: usize = 0x180;
/// Interrupt-request registers.
pub const REG_IRR: usize = 0x200;
/// Interrupt command, low half.
pub const REG_ICR_LOW: usize = 0x300;
/// Interrupt command, high half.
pub const REG_ICR_HIGH: usize = 0x310;
/// LVT timer, thermal, perfmon, LINT0, LINT1, error (0x320 … 0x370).
pub const REG_LVT: usize = 0x320;
/// Timer initial count.
pub const REG_TMICT: usize = 0x380;
/// Timer current count.
pub const REG_TMCCT: usize = 0x390;
/// Timer divide configuration.
pub const REG_TDCR: usize = 0x3E0;

/// SVR bit 8: APIC software enable (what VeridianOS keeps as `enabled`).
pub const SVR_ENABLE: u32 = 1 << 8;

/// The APIC version register VeridianOS reports (version 0x14, 6 LVT entries - 1 = 5).
pub const VERSION_VALUE: u32 = 0x0005_0014;

/// VeridianOS `LapicSnapshot`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct LapicSnapshot {
    /// APIC ID (the register holds it in bits 31:24).
    pub id: u32,
    pub tpr: u32,
    pub svr: u32,
    pub isr: [u32; 8],
    pub irr: [u32; 8],
    pub tmr: [u32; 8],
    pub lvt_timer_raw: u32,
    pub lvt_thermal_raw: u32,
    pub lvt_perfmon_raw: u32,
    pub lvt_lint0_raw: u32,
    pub lvt_lint1_raw: u32,
    pub lvt_error_raw: u32,
    pub timer_initial_count: u32,
    pub timer_current_count: u32,
    pub timer_divide_config: u32,
    /// IA32_TSC_DEADLINE (MSR 0x6E0), not in the register page.
    pub tsc_deadline: u64,
    pub icr_low: u32,
    pub icr_high: u32,
    pub ldr: u32,
    pub dfr: u32,
    /// Software enable, as VeridianOS keeps it (SVR bit 8).
    pub enabled: bool,
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    if let Some(s) = b.get_mut(off..off + 4) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

impl LapicSnapshot {
    /// The 32-bit registers this snapshot holds, as (register-page offset, value), in order. The
    /// ID register, SVR's bit 8 and the TSC deadline are handled apart.
    fn page_regs(&self) -> Vec<(usize, u32)> {
        let mut v = vec![
            (REG_TPR, self.tpr),
            (REG_SVR, self.svr),
            (REG_LDR, self.ldr),
            (REG_DFR, self.dfr),
            (REG_ICR_LOW, self.icr_low),
            (REG_ICR_HIGH, self.icr_high),
            (REG_LVT, self.lvt_timer_raw),
            (REG_LVT + 0x10, self.lvt_thermal_raw),
            (REG_LVT + 0x20, self.lvt_perfmon_raw),
            (REG_LVT + 0x30, self.lvt_lint0_raw),
            (REG_LVT + 0x40, self.lvt_lint1_raw),
            (REG_LVT + 0x50, self.lvt_error_raw),
            (REG_TMICT, self.timer_initial_count),
            (REG_TMCCT, self.timer_current_count),
            (REG_TDCR, self.timer_divide_config),
        ];
        for i in 0..8 {
            v.push((REG_ISR + 0x10 * i, self.isr[i]));
            v.push((REG_TMR + 0x10 * i, self.tmr[i]));
            v.push((REG_IRR + 0x10 * i, self.irr[i]));
        }
        v
    }

    /// Every register-page offset whose 32-bit register a snapshot carries (the ID register
    /// included: its bits 31:24).
    pub fn covered_offsets() -> Vec<usize> {
        let mut v: Vec<usize> = LapicSnapshot::default()
            .page_regs()
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        v.push(REG_ID);
        v.sort_unstable();
        v
    }

    /// Reads the snapshot fields out of a KVM register page (zero-extended when short).
    /// `enabled` is SVR bit 8.
    pub fn from_page(page: &[u8], tsc_deadline: u64) -> Self {
        let r = |o| u32_at(page, o);
        let arr = |base: usize| std::array::from_fn(|i| r(base + 0x10 * i));
        LapicSnapshot {
            id: r(REG_ID) >> 24,
            tpr: r(REG_TPR),
            svr: r(REG_SVR),
            isr: arr(REG_ISR),
            irr: arr(REG_IRR),
            tmr: arr(REG_TMR),
            lvt_timer_raw: r(REG_LVT),
            lvt_thermal_raw: r(REG_LVT + 0x10),
            lvt_perfmon_raw: r(REG_LVT + 0x20),
            lvt_lint0_raw: r(REG_LVT + 0x30),
            lvt_lint1_raw: r(REG_LVT + 0x40),
            lvt_error_raw: r(REG_LVT + 0x50),
            timer_initial_count: r(REG_TMICT),
            timer_current_count: r(REG_TMCCT),
            timer_divide_config: r(REG_TDCR),
            tsc_deadline,
            icr_low: r(REG_ICR_LOW),
            icr_high: r(REG_ICR_HIGH),
            ldr: r(REG_LDR),
            dfr: r(REG_DFR),
            enabled: r(REG_SVR) & SVR_ENABLE != 0,
        }
    }

    /// Writes the snapshot into a 1 KiB register page, keeping every byte it does not carry:
    /// the ID goes to bits 31:24 of the ID register (bits 23:0 kept), SVR bit 8 is `enabled`.
    pub fn apply_to_page(&self, page: &mut [u8]) {
        for (o, v) in self.page_regs() {
            put_u32(page, o, v);
        }
        let svr = (self.svr & !SVR_ENABLE) | if self.enabled { SVR_ENABLE } else { 0 };
        put_u32(page, REG_SVR, svr);
        let low = u32_at(page, REG_ID) & 0x00FF_FFFF;
        put_u32(page, REG_ID, (self.id << 24) | low);
    }

    /// Zeroes in `page` what a snapshot of it carries (the ID register keeps bits 23:0), leaving
    /// the bytes only the page has.
    pub fn strip_page(page: &mut [u8]) {
        for (o, _) in LapicSnapshot::default().page_regs() {
            put_u32(page, o, 0);
        }
        let low = u32_at(page, REG_ID) & 0x00FF_FFFF;
        put_u32(page, REG_ID, low);
    }

    /// The 176-byte form.
    pub fn to_bytes(&self) -> [u8; SIZE] {
        let mut b = [0u8; SIZE];
        let mut o = 0;
        let mut w = |v: u32| {
            b[o..o + 4].copy_from_slice(&v.to_le_bytes());
            o += 4;
        };
        w(self.id);
        w(self.tpr);
        w(self.svr);
        for a in [&self.isr, &self.irr, &self.tmr] {
            for &v in a {
                w(v);
            }
        }
        for v in [
            self.lvt_timer_raw,
            self.lvt_thermal_raw,
            self.lvt_perfmon_raw,
            self.lvt_lint0_raw,
            self.lvt_lint1_raw,
            self.lvt_error_raw,
            self.timer_initial_count,
            self.timer_current_count,
            self.timer_divide_config,
        ] {
            w(v);
        }
        b[144..152].copy_from_slice(&self.tsc_deadline.to_le_bytes());
        for (i, v) in [self.icr_low, self.icr_high, self.ldr, self.dfr]
            .into_iter()
            .enumerate()
        {
            b[152 + 4 * i..156 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        b[168] = u8::from(self.enabled);
        b
    }

    /// Parses the 176-byte form. Errors name the offset within the form and the field.
    pub fn parse(b: &[u8]) -> Result<Self, (usize, &'static str, String)> {
        if b.len() != SIZE {
            return Err((0, "lapic", format!("{} bytes; expected {SIZE}", b.len())));
        }
        let r = |o: usize| u32_at(b, o);
        let arr = |base: usize| std::array::from_fn(|i| r(base + 4 * i));
        let enabled = match b[168] {
            0 => false,
            1 => true,
            v => {
                return Err((168, "enabled", format!("bool byte is {v}; expected 0 or 1")));
            }
        };
        if let Some(p) = b[169..].iter().position(|&x| x != 0) {
            return Err((
                169 + p,
                "padding",
                "padding after `enabled` is not zero".into(),
            ));
        }
        Ok(LapicSnapshot {
            id: r(0),
            tpr: r(4),
            svr: r(8),
            isr: arr(12),
            irr: arr(44),
            tmr: arr(76),
            lvt_timer_raw: r(108),
            lvt_thermal_raw: r(112),
            lvt_perfmon_raw: r(116),
            lvt_lint0_raw: r(120),
            lvt_lint1_raw: r(124),
            lvt_error_raw: r(128),
            timer_initial_count: r(132),
            timer_current_count: r(136),
            timer_divide_config: r(140),
            tsc_deadline: u64::from_le_bytes(b[144..152].try_into().unwrap_or([0; 8])),
            icr_low: r(152),
            icr_high: r(156),
            ldr: r(160),
            dfr: r(164),
            enabled,
        })
    }
}

/// A register page VeridianOS would start from for a fresh LAPIC with no other information:
/// version 0x00050014, everything else zero (the snapshot's own fields are written over it).
pub fn default_page() -> Vec<u8> {
    let mut p = vec![0u8; PAGE];
    put_u32(&mut p, REG_VERSION, VERSION_VALUE);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_form_offsets() {
        let l = LapicSnapshot {
            id: 1,
            tpr: 2,
            svr: 0x1FF,
            isr: [3; 8],
            irr: [4; 8],
            tmr: [5; 8],
            lvt_timer_raw: 6,
            lvt_thermal_raw: 7,
            lvt_perfmon_raw: 8,
            lvt_lint0_raw: 9,
            lvt_lint1_raw: 10,
            lvt_error_raw: 11,
            timer_initial_count: 12,
            timer_current_count: 13,
            timer_divide_config: 14,
            tsc_deadline: 0x1122_3344_5566_7788,
            icr_low: 15,
            icr_high: 16,
            ldr: 17,
            dfr: 18,
            enabled: true,
        };
        let b = l.to_bytes();
        assert_eq!(&b[0..4], &1u32.to_le_bytes());
        assert_eq!(&b[12..16], &3u32.to_le_bytes());
        assert_eq!(&b[44..48], &4u32.to_le_bytes());
        assert_eq!(&b[76..80], &5u32.to_le_bytes());
        assert_eq!(&b[108..112], &6u32.to_le_bytes());
        assert_eq!(&b[140..144], &14u32.to_le_bytes());
        assert_eq!(&b[144..152], &0x1122_3344_5566_7788u64.to_le_bytes());
        assert_eq!(&b[164..168], &18u32.to_le_bytes());
        assert_eq!(b[168], 1);
        assert_eq!(&b[169..], &[0; 7]);
        assert_eq!(LapicSnapshot::parse(&b).unwrap(), l);
        let mut page = default_page();
        l.apply_to_page(&mut page);
        assert_eq!(u32_at(&page, REG_ID), 1 << 24);
        assert_eq!(u32_at(&page, REG_LVT + 0x50), 11);
        assert_eq!(LapicSnapshot::from_page(&page, l.tsc_deadline), l);
    }

    #[test]
    fn strip_then_apply_restores_the_page() {
        let mut page: Vec<u8> = (0..PAGE).map(|i| (i * 7 + 3) as u8).collect();
        let l = LapicSnapshot::from_page(&page, 0);
        let mut rest = page.clone();
        LapicSnapshot::strip_page(&mut rest);
        l.apply_to_page(&mut rest);
        assert_eq!(rest, page);
        // enabled wins over SVR bit 8
        let mut l2 = l;
        l2.enabled = !l.enabled;
        l2.apply_to_page(&mut page);
        assert_eq!(u32_at(&page, REG_SVR) & SVR_ENABLE != 0, l2.enabled);
    }
}
