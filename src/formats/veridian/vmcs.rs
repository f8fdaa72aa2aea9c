//! VMCS field lists: the guest-state fields VeridianOS serializes, their encodings and widths, and
//! the VMX access-rights layout of segment registers.
//!
//! A field encoding (Intel SDM Vol. 3C, "Field Encoding in VMCS") is a 32-bit value: bit 0 access
//! type (1 = high half of a 64-bit field), bits 9:1 index, bits 11:10 type (0 control, 1 VM-exit
//! information, 2 guest state, 3 host state), bit 12 reserved (0), bits 14:13 width (0 16-bit,
//! 1 64-bit, 2 32-bit, 3 natural width), bits 31:15 reserved (0).

use crate::model::{Segment, Sregs};

/// One serialized VMCS field: `encoding` u32 LE then `value` u64 LE, 12 bytes, no padding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VmcsField {
    /// The VMCS field encoding.
    pub encoding: u32,
    /// The field value, zero-extended to 64 bits.
    pub value: u64,
}

/// Guest RIP.
pub const GUEST_RIP: u32 = 0x681E;
/// Guest RSP.
pub const GUEST_RSP: u32 = 0x681C;
/// Guest RFLAGS.
pub const GUEST_RFLAGS: u32 = 0x6820;
/// Guest CR0.
pub const GUEST_CR0: u32 = 0x6800;
/// Guest CR3.
pub const GUEST_CR3: u32 = 0x6802;
/// Guest CR4.
pub const GUEST_CR4: u32 = 0x6804;
/// Guest DR7.
pub const GUEST_DR7: u32 = 0x681A;
/// Guest IA32_SYSENTER_CS (32-bit field).
pub const GUEST_SYSENTER_CS: u32 = 0x482A;
/// Guest IA32_SYSENTER_ESP.
pub const GUEST_SYSENTER_ESP: u32 = 0x6824;
/// Guest IA32_SYSENTER_EIP.
pub const GUEST_SYSENTER_EIP: u32 = 0x6826;
/// Guest IA32_EFER.
pub const GUEST_IA32_EFER: u32 = 0x2806;
/// Guest IA32_PAT.
pub const GUEST_IA32_PAT: u32 = 0x2804;
/// Guest GDTR base.
pub const GUEST_GDTR_BASE: u32 = 0x6816;
/// Guest IDTR base.
pub const GUEST_IDTR_BASE: u32 = 0x6818;
/// Guest GDTR limit (32-bit field; bits 31:16 must be 0).
pub const GUEST_GDTR_LIMIT: u32 = 0x4810;
/// Guest IDTR limit (32-bit field; bits 31:16 must be 0).
pub const GUEST_IDTR_LIMIT: u32 = 0x4812;

/// The VMX segment index (ES 0, CS 1, SS 2, DS 3, FS 4, GS 5, LDTR 6, TR 7) → name.
pub const SEGMENT_NAMES: [&str; 8] = ["es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr"];

/// Selector field of VMX segment `i` (16-bit).
pub const fn selector_enc(i: u32) -> u32 {
    0x0800 + 2 * i
}
/// Limit field of VMX segment `i` (32-bit).
pub const fn limit_enc(i: u32) -> u32 {
    0x4800 + 2 * i
}
/// Access-rights field of VMX segment `i` (32-bit).
pub const fn ar_enc(i: u32) -> u32 {
    0x4814 + 2 * i
}
/// Base field of VMX segment `i` (natural width).
pub const fn base_enc(i: u32) -> u32 {
    0x6806 + 2 * i
}

/// The order VeridianOS lists segments in (`serialize_guest_segments`): CS, SS, DS, ES, FS, GS,
/// TR, LDTR, as VMX indices.
pub const KERNEL_SEGMENT_ORDER: [u32; 8] = [1, 2, 3, 0, 4, 5, 7, 6];

/// Access-rights bits that are reserved (must be 0): 11:8 and 31:17.
pub const AR_RESERVED: u32 = 0x0000_0F00 | 0xFFFE_0000;

/// A field's width in bits (16, 32 or 64), or `None` when the encoding sets reserved bits.
pub fn field_width(encoding: u32) -> Option<u32> {
    if encoding & 0xFFFF_8000 != 0 || encoding & 0x1000 != 0 {
        return None;
    }
    Some(match (encoding >> 13) & 3 {
        0 => 16,
        1 if encoding & 1 == 1 => 32,
        1 => 64,
        2 => 32,
        _ => 64,
    })
}

/// A readable name for the fields snaptool maps, e.g. `GUEST_CS_ACCESS_RIGHTS`.
pub fn field_name(encoding: u32) -> Option<String> {
    let fixed = match encoding {
        GUEST_RIP => "GUEST_RIP",
        GUEST_RSP => "GUEST_RSP",
        GUEST_RFLAGS => "GUEST_RFLAGS",
        GUEST_CR0 => "GUEST_CR0",
        GUEST_CR3 => "GUEST_CR3",
        GUEST_CR4 => "GUEST_CR4",
        GUEST_DR7 => "GUEST_DR7",
        GUEST_SYSENTER_CS => "GUEST_SYSENTER_CS",
        GUEST_SYSENTER_ESP => "GUEST_SYSENTER_ESP",
        GUEST_SYSENTER_EIP => "GUEST_SYSENTER_EIP",
        GUEST_IA32_EFER => "GUEST_IA32_EFER",
        GUEST_IA32_PAT => "GUEST_IA32_PAT",
        GUEST_GDTR_BASE => "GUEST_GDTR_BASE",
        GUEST_IDTR_BASE => "GUEST_IDTR_BASE",
        GUEST_GDTR_LIMIT => "GUEST_GDTR_LIMIT",
        GUEST_IDTR_LIMIT => "GUEST_IDTR_LIMIT",
        _ => {
            let (i, what) = segment_field(encoding)?;
            return Some(format!(
                "GUEST_{}_{}",
                SEGMENT_NAMES[i as usize].to_uppercase(),
                match what {
                    SegField::Selector => "SELECTOR",
                    SegField::Base => "BASE",
                    SegField::Limit => "LIMIT",
                    SegField::AccessRights => "ACCESS_RIGHTS",
                }
            ));
        }
    };
    Some(fixed.to_string())
}

/// Which part of a segment register a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegField {
    /// The selector.
    Selector,
    /// The base address.
    Base,
    /// The limit.
    Limit,
    /// The access rights.
    AccessRights,
}

/// The segment (VMX index) and part a field encoding names, if it is a segment field.
pub fn segment_field(encoding: u32) -> Option<(u32, SegField)> {
    for i in 0..8 {
        if encoding == selector_enc(i) {
            return Some((i, SegField::Selector));
        }
        if encoding == base_enc(i) {
            return Some((i, SegField::Base));
        }
        if encoding == limit_enc(i) {
            return Some((i, SegField::Limit));
        }
        if encoding == ar_enc(i) {
            return Some((i, SegField::AccessRights));
        }
    }
    None
}

/// Whether snaptool maps this encoding to a model field.
pub fn is_mapped(encoding: u32) -> bool {
    matches!(
        encoding,
        GUEST_RIP
            | GUEST_RSP
            | GUEST_RFLAGS
            | GUEST_CR0
            | GUEST_CR3
            | GUEST_CR4
            | GUEST_DR7
            | GUEST_SYSENTER_CS
            | GUEST_SYSENTER_ESP
            | GUEST_SYSENTER_EIP
            | GUEST_IA32_EFER
            | GUEST_IA32_PAT
            | GUEST_GDTR_BASE
            | GUEST_IDTR_BASE
            | GUEST_GDTR_LIMIT
            | GUEST_IDTR_LIMIT
    ) || segment_field(encoding).is_some()
}

/// The model segment for VMX segment index `i`.
pub fn segment(s: &Sregs, i: u32) -> &Segment {
    match i {
        0 => &s.es,
        1 => &s.cs,
        2 => &s.ss,
        3 => &s.ds,
        4 => &s.fs,
        5 => &s.gs,
        6 => &s.ldt,
        _ => &s.tr,
    }
}

/// The model segment for VMX segment index `i`, mutable.
pub fn segment_mut(s: &mut Sregs, i: u32) -> &mut Segment {
    match i {
        0 => &mut s.es,
        1 => &mut s.cs,
        2 => &mut s.ss,
        3 => &mut s.ds,
        4 => &mut s.fs,
        5 => &mut s.gs,
        6 => &mut s.ldt,
        _ => &mut s.tr,
    }
}

/// The VMX access rights of a model segment: type bits 3:0, S bit 4, DPL bits 6:5, P bit 7,
/// AVL bit 12, L bit 13, D/B bit 14, G bit 15, unusable bit 16. Each flag byte is masked to its
/// width.
pub fn encode_ar(s: &Segment) -> u32 {
    u32::from(s.type_ & 0xF)
        | u32::from(s.s & 1) << 4
        | u32::from(s.dpl & 3) << 5
        | u32::from(s.present & 1) << 7
        | u32::from(s.avl & 1) << 12
        | u32::from(s.l & 1) << 13
        | u32::from(s.db & 1) << 14
        | u32::from(s.g & 1) << 15
        | u32::from(s.unusable & 1) << 16
}

/// Sets the flag bytes of `s` from VMX access rights (selector, base and limit untouched).
pub fn decode_ar(ar: u32, s: &mut Segment) {
    s.type_ = (ar & 0xF) as u8;
    s.s = ((ar >> 4) & 1) as u8;
    s.dpl = ((ar >> 5) & 3) as u8;
    s.present = ((ar >> 7) & 1) as u8;
    s.avl = ((ar >> 12) & 1) as u8;
    s.l = ((ar >> 13) & 1) as u8;
    s.db = ((ar >> 14) & 1) as u8;
    s.g = ((ar >> 15) & 1) as u8;
    s.unusable = ((ar >> 16) & 1) as u8;
}

/// Whether the access rights hold the segment's flag bytes exactly (every byte fits its width).
pub fn ar_exact(s: &Segment) -> bool {
    let mut t = *s;
    decode_ar(encode_ar(s), &mut t);
    t == *s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_follow_the_encoding() {
        assert_eq!(field_width(GUEST_RIP), Some(64));
        assert_eq!(field_width(selector_enc(1)), Some(16));
        assert_eq!(field_width(ar_enc(1)), Some(32));
        assert_eq!(field_width(GUEST_IA32_EFER), Some(64));
        assert_eq!(field_width(GUEST_IA32_EFER | 1), Some(32));
        assert_eq!(field_width(0x1_0000), None);
        assert_eq!(field_width(0x1000), None);
    }

    #[test]
    fn access_rights_layout() {
        // A 64-bit code segment as KVM reports it: type 11, S, DPL 0, P, L, G.
        let cs = Segment {
            type_: 11,
            s: 1,
            present: 1,
            l: 1,
            g: 1,
            ..Default::default()
        };
        assert_eq!(encode_ar(&cs), 0xA09B);
        let unusable = Segment {
            unusable: 1,
            ..Default::default()
        };
        assert_eq!(encode_ar(&unusable), 0x1_0000);
        let mut back = Segment::default();
        decode_ar(0xA09B, &mut back);
        assert_eq!(back, cs);
        assert!(ar_exact(&cs));
        assert!(!ar_exact(&Segment {
            present: 2,
            ..Default::default()
        }));
    }

    #[test]
    fn names() {
        assert_eq!(
            field_name(ar_enc(1)).as_deref(),
            Some("GUEST_CS_ACCESS_RIGHTS")
        );
        assert_eq!(field_name(base_enc(7)).as_deref(), Some("GUEST_TR_BASE"));
        assert_eq!(field_name(0x4826), None);
    }
}
