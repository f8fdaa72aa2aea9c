//! kvm-bindings structures as format 1.0.0 writes them: field by field.
//!
//! Firecracker v1.7.0 used its fork of kvm-bindings (tag `v0.7.0-2`), whose bindgen structures
//! derive serde. Each structure is therefore encoded as its fields in declaration order (= the
//! kernel's C field order, explicit padding fields included), with no length prefix:
//!
//! - arrays of up to 32 elements: serde's built-in tuple form; longer ones through
//!   `serde-big-array` (also a tuple, no length prefix) — [`big_array`] here;
//! - `__IncompleteArrayField<T>` (the flexible array member of `kvm_cpuid2`, `kvm_msrs`,
//!   `kvm_xsave`): zero bytes;
//! - unions: `kvm_irqchip.chip` as its `[c_char; 512]` dummy member.
//!
//! No C structure here has implicit padding, so the field-wise bytes of each structure are
//! exactly its C bytes (the blob later layouts store); `convert.rs` relies on that and a test
//! below checks every size.
//!
//! Types: kvm-bindings v0.7.0-2, `src/x86/bindings.rs` (x86_64) and `src/arm64/bindings.rs`
//! (aarch64). Frozen: never change a field.

#![allow(non_camel_case_types)]

use crate::formats::firecracker::wire::big_array;
use serde::{Deserialize, Serialize};

/// kvm-bindings: `__IncompleteArrayField<T>` (a C flexible array member): serialized as nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncompleteArrayField;

/// kvm-bindings: `kvm_regs` (x86_64 general-purpose registers, 144 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_regs {
    /// RAX.
    pub rax: u64,
    /// RBX.
    pub rbx: u64,
    /// RCX.
    pub rcx: u64,
    /// RDX.
    pub rdx: u64,
    /// RSI.
    pub rsi: u64,
    /// RDI.
    pub rdi: u64,
    /// RSP.
    pub rsp: u64,
    /// RBP.
    pub rbp: u64,
    /// R8.
    pub r8: u64,
    /// R9.
    pub r9: u64,
    /// R10.
    pub r10: u64,
    /// R11.
    pub r11: u64,
    /// R12.
    pub r12: u64,
    /// R13.
    pub r13: u64,
    /// R14.
    pub r14: u64,
    /// R15.
    pub r15: u64,
    /// RIP.
    pub rip: u64,
    /// RFLAGS.
    pub rflags: u64,
}

/// kvm-bindings: `kvm_segment` (24 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_segment {
    /// Base address.
    pub base: u64,
    /// Limit.
    pub limit: u32,
    /// Selector.
    pub selector: u16,
    /// Type (`type` in C).
    pub type_: u8,
    /// Present bit.
    pub present: u8,
    /// Descriptor privilege level.
    pub dpl: u8,
    /// Default operation size.
    pub db: u8,
    /// Descriptor type (system / code-data).
    pub s: u8,
    /// 64-bit code segment.
    pub l: u8,
    /// Granularity.
    pub g: u8,
    /// Available for software.
    pub avl: u8,
    /// Unusable segment.
    pub unusable: u8,
    /// Explicit padding byte.
    pub padding: u8,
}

/// kvm-bindings: `kvm_dtable` (16 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_dtable {
    /// Base address.
    pub base: u64,
    /// Limit.
    pub limit: u16,
    /// Explicit padding.
    pub padding: [u16; 3],
}

/// kvm-bindings: `kvm_sregs` (x86_64 special registers, 312 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_sregs {
    /// CS.
    pub cs: kvm_segment,
    /// DS.
    pub ds: kvm_segment,
    /// ES.
    pub es: kvm_segment,
    /// FS.
    pub fs: kvm_segment,
    /// GS.
    pub gs: kvm_segment,
    /// SS.
    pub ss: kvm_segment,
    /// Task register.
    pub tr: kvm_segment,
    /// LDT.
    pub ldt: kvm_segment,
    /// GDT.
    pub gdt: kvm_dtable,
    /// IDT.
    pub idt: kvm_dtable,
    /// CR0.
    pub cr0: u64,
    /// CR2.
    pub cr2: u64,
    /// CR3.
    pub cr3: u64,
    /// CR4.
    pub cr4: u64,
    /// CR8.
    pub cr8: u64,
    /// EFER.
    pub efer: u64,
    /// IA32_APIC_BASE.
    pub apic_base: u64,
    /// Pending external interrupts (256 bits).
    pub interrupt_bitmap: [u64; 4],
}

/// kvm-bindings: `kvm_debugregs` (128 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_debugregs {
    /// DR0–DR3.
    pub db: [u64; 4],
    /// DR6.
    pub dr6: u64,
    /// DR7.
    pub dr7: u64,
    /// Flags.
    pub flags: u64,
    /// Reserved.
    pub reserved: [u64; 9],
}

/// kvm-bindings: `kvm_lapic_state` (the 1 KiB local APIC register page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_lapic_state {
    /// Register page (`[c_char; 1024]`, `serde-big-array`).
    #[serde(with = "big_array")]
    pub regs: [i8; 1024],
}

/// kvm-bindings: `kvm_mp_state` (4 bytes; both arches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_mp_state {
    /// KVM_MP_STATE_* value.
    pub mp_state: u32,
}

/// kvm-bindings: `kvm_vcpu_events.exception` (`kvm_vcpu_events__bindgen_ty_1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_vcpu_events_exception {
    /// Exception injected.
    pub injected: u8,
    /// Vector.
    pub nr: u8,
    /// Has an error code.
    pub has_error_code: u8,
    /// Exception pending.
    pub pending: u8,
    /// Error code.
    pub error_code: u32,
}

/// kvm-bindings: `kvm_vcpu_events.interrupt` (`kvm_vcpu_events__bindgen_ty_2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_vcpu_events_interrupt {
    /// Interrupt injected.
    pub injected: u8,
    /// Vector.
    pub nr: u8,
    /// Soft interrupt.
    pub soft: u8,
    /// Interrupt shadow.
    pub shadow: u8,
}

/// kvm-bindings: `kvm_vcpu_events.nmi` (`kvm_vcpu_events__bindgen_ty_3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_vcpu_events_nmi {
    /// NMI injected.
    pub injected: u8,
    /// NMI pending.
    pub pending: u8,
    /// NMIs masked.
    pub masked: u8,
    /// Explicit padding.
    pub pad: u8,
}

/// kvm-bindings: `kvm_vcpu_events.smi` (`kvm_vcpu_events__bindgen_ty_4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_vcpu_events_smi {
    /// In SMM.
    pub smm: u8,
    /// SMI pending.
    pub pending: u8,
    /// SMM entered from inside an NMI handler.
    pub smm_inside_nmi: u8,
    /// INIT latched.
    pub latched_init: u8,
}

/// kvm-bindings: `kvm_vcpu_events.triple_fault` (`kvm_vcpu_events__bindgen_ty_5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_vcpu_events_triple_fault {
    /// Triple fault pending.
    pub pending: u8,
}

/// kvm-bindings: `kvm_vcpu_events` (64 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_vcpu_events {
    /// Exception state.
    pub exception: kvm_vcpu_events_exception,
    /// Interrupt state.
    pub interrupt: kvm_vcpu_events_interrupt,
    /// NMI state.
    pub nmi: kvm_vcpu_events_nmi,
    /// SIPI vector.
    pub sipi_vector: u32,
    /// KVM_VCPUEVENT_VALID_* flags.
    pub flags: u32,
    /// SMM state.
    pub smi: kvm_vcpu_events_smi,
    /// Triple-fault state.
    pub triple_fault: kvm_vcpu_events_triple_fault,
    /// Reserved.
    pub reserved: [u8; 26],
    /// The pending exception has a payload.
    pub exception_has_payload: u8,
    /// Exception payload.
    pub exception_payload: u64,
}

/// kvm-bindings: `kvm_xcr` (16 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_xcr {
    /// XCR index.
    pub xcr: u32,
    /// Reserved.
    pub reserved: u32,
    /// Value.
    pub value: u64,
}

/// kvm-bindings: `kvm_xcrs` (392 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_xcrs {
    /// Number of valid entries in `xcrs`.
    pub nr_xcrs: u32,
    /// Flags.
    pub flags: u32,
    /// Registers.
    pub xcrs: [kvm_xcr; 16],
    /// Padding.
    pub padding: [u64; 16],
}

/// kvm-bindings: `kvm_xsave` (the 4 KiB legacy XSAVE area of `KVM_GET_XSAVE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_xsave {
    /// The XSAVE region as 32-bit words (`serde-big-array`).
    #[serde(with = "big_array")]
    pub region: [u32; 1024],
    /// Flexible array member: nothing on the wire.
    pub extra: IncompleteArrayField,
}

/// kvm-bindings: `kvm_pit_channel_state` (24 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_pit_channel_state {
    /// Count.
    pub count: u32,
    /// Latched count.
    pub latched_count: u16,
    /// Count latched.
    pub count_latched: u8,
    /// Status latched.
    pub status_latched: u8,
    /// Status.
    pub status: u8,
    /// Read state.
    pub read_state: u8,
    /// Write state.
    pub write_state: u8,
    /// Write latch.
    pub write_latch: u8,
    /// Read/write mode.
    pub rw_mode: u8,
    /// Mode.
    pub mode: u8,
    /// BCD.
    pub bcd: u8,
    /// Gate.
    pub gate: u8,
    /// Count load time (ns).
    pub count_load_time: i64,
}

/// kvm-bindings: `kvm_pit_state2` (112 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_pit_state2 {
    /// The three PIT channels.
    pub channels: [kvm_pit_channel_state; 3],
    /// Flags.
    pub flags: u32,
    /// Reserved.
    pub reserved: [u32; 9],
}

/// kvm-bindings: `kvm_clock_data` (48 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_clock_data {
    /// kvmclock value (ns).
    pub clock: u64,
    /// Flags.
    pub flags: u32,
    /// Explicit padding.
    pub pad0: u32,
    /// Host realtime (ns).
    pub realtime: u64,
    /// Host TSC.
    pub host_tsc: u64,
    /// Padding.
    pub pad: [u32; 4],
}

/// kvm-bindings: `kvm_irqchip` (520 bytes). The `chip` union (`kvm_pic_state` /
/// `kvm_ioapic_state`) is serialized as its `dummy: [c_char; 512]` member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_irqchip {
    /// 0 = master PIC, 1 = slave PIC, 2 = IOAPIC.
    pub chip_id: u32,
    /// Explicit padding.
    pub pad: u32,
    /// The chip state as raw bytes (`serde-big-array`).
    #[serde(with = "big_array")]
    pub chip: [i8; 512],
}

/// kvm-bindings: `kvm_cpuid_entry2` (40 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_cpuid_entry2 {
    /// Leaf.
    pub function: u32,
    /// Sub-leaf.
    pub index: u32,
    /// KVM_CPUID_FLAG_* flags.
    pub flags: u32,
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
    /// Padding.
    pub padding: [u32; 3],
}

/// kvm-bindings: `kvm_cpuid2` without its entries (8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_cpuid2 {
    /// Number of entries.
    pub nent: u32,
    /// Padding.
    pub padding: u32,
    /// Flexible array member: nothing on the wire.
    pub entries: IncompleteArrayField,
}

/// kvm-bindings: `kvm_msr_entry` (16 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_msr_entry {
    /// MSR index.
    pub index: u32,
    /// Reserved.
    pub reserved: u32,
    /// Value.
    pub data: u64,
}

/// kvm-bindings: `kvm_msrs` without its entries (8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_msrs {
    /// Number of entries.
    pub nmsrs: u32,
    /// Padding.
    pub pad: u32,
    /// Flexible array member: nothing on the wire.
    pub entries: IncompleteArrayField,
}

/// kvm-bindings: `CpuId` = `FamStructWrapper<kvm_cpuid2>` (vmm-sys-util `with-serde`): the
/// header, then the entries as a length-prefixed sequence.
pub type CpuId = (kvm_cpuid2, Vec<kvm_cpuid_entry2>);

/// kvm-bindings: `Msrs` = `FamStructWrapper<kvm_msrs>`: the header, then the entries.
pub type Msrs = (kvm_msrs, Vec<kvm_msr_entry>);

/// kvm-bindings (arm64): `kvm_vcpu_init` (32 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct kvm_vcpu_init {
    /// Target CPU type (KVM_ARM_TARGET_*).
    pub target: u32,
    /// KVM_ARM_VCPU_* feature bits.
    pub features: [u32; 7],
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::bincode as bc;
    use crate::kvm_abi as k;
    use serde::de::DeserializeOwned;

    /// Decodes `size` bytes as `T`, checks all of them are consumed and that re-encoding gives
    /// them back.
    fn exact<T: Serialize + DeserializeOwned>(size: usize) {
        let bytes: Vec<u8> = (0..size).map(|i| (i * 7 + 1) as u8).collect();
        let (v, used) = bc::from_slice::<T>(&bytes).unwrap();
        assert_eq!(used, size, "{}", std::any::type_name::<T>());
        assert_eq!(bc::to_vec(&v).unwrap(), bytes);
    }

    #[test]
    fn field_wise_sizes_are_c_sizes() {
        exact::<kvm_regs>(k::REGS_SIZE);
        exact::<kvm_sregs>(k::SREGS_SIZE);
        exact::<kvm_debugregs>(k::DEBUGREGS_SIZE);
        exact::<kvm_lapic_state>(k::LAPIC_SIZE);
        exact::<kvm_mp_state>(k::MP_STATE_SIZE);
        exact::<kvm_vcpu_events>(k::VCPU_EVENTS_SIZE);
        exact::<kvm_xcrs>(k::XCRS_SIZE);
        exact::<kvm_xsave>(k::XSAVE_SIZE);
        exact::<kvm_pit_state2>(k::PIT2_SIZE);
        exact::<kvm_clock_data>(k::CLOCK_SIZE);
        exact::<kvm_irqchip>(k::IRQCHIP_SIZE);
        exact::<kvm_cpuid2>(k::CPUID2_HDR_SIZE);
        exact::<kvm_cpuid_entry2>(k::CPUID_ENTRY_SIZE);
        exact::<kvm_msrs>(k::MSRS_HDR_SIZE);
        exact::<kvm_msr_entry>(k::MSR_ENTRY_SIZE);
        exact::<kvm_vcpu_init>(k::VCPU_INIT_SIZE);
    }
}
