//! x86_64 vCPU and platform state, field by field.
//!
//! Names follow the architecture (and KVM's structures, which mirror it): general registers,
//! segment and control registers, debug registers, XCRs, the XSAVE area, the local APIC register
//! page, MSRs, CPUID, pending events; for the VM: the 8254 PIT, the kvmclock, both 8259 PICs and
//! the IOAPIC.

use super::Bytes;
use serde::{Deserialize, Serialize};

/// Architectural state of one x86_64 vCPU.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct X86Vcpu {
    /// General-purpose registers, RIP and RFLAGS.
    pub regs: Regs,
    /// Segment, descriptor-table and control registers.
    pub sregs: Sregs,
    /// Multiprocessing state (KVM_MP_STATE_*: 0 runnable, 1 uninitialized, 2 INIT received,
    /// 3 halted, 4 SIPI received).
    pub mp_state: Option<u32>,
    /// Debug registers.
    pub debug_regs: Option<DebugRegs>,
    /// Extended control registers (XCR0, ...).
    pub xcrs: Option<Xcrs>,
    /// The XSAVE area (x87, SSE, AVX and later components).
    pub xsave: Option<Xsave>,
    /// Local APIC register page.
    pub lapic: Option<Lapic>,
    /// Model-specific registers, in saved order.
    pub msrs: Vec<Msr>,
    /// How the producer grouped the MSRs (entry counts per chunk); empty = one group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub msr_chunks: Vec<u32>,
    /// CPUID entries presented to the guest.
    pub cpuid: Vec<CpuidEntry>,
    /// Pending exceptions, interrupts, NMIs, SMIs.
    pub events: Option<VcpuEvents>,
    /// TSC frequency in kHz, when recorded.
    pub tsc_khz: Option<u32>,
}

/// General-purpose registers (KVM `kvm_regs` order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Regs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rsp: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
}

/// A segment register with its hidden part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Base address.
    pub base: u64,
    /// Limit (byte granular as KVM reports it).
    pub limit: u32,
    /// Selector.
    pub selector: u16,
    /// Segment type (4 bits).
    #[serde(rename = "type")]
    pub type_: u8,
    /// Present bit.
    pub present: u8,
    /// Descriptor privilege level.
    pub dpl: u8,
    /// Default operation size (D/B).
    pub db: u8,
    /// Descriptor type (S: 1 = code/data).
    pub s: u8,
    /// 64-bit code segment (L).
    pub l: u8,
    /// Granularity.
    pub g: u8,
    /// Available for software.
    pub avl: u8,
    /// Unusable (VMX).
    pub unusable: u8,
}

/// A descriptor-table register (GDTR, IDTR).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescriptorTable {
    /// Linear base address.
    pub base: u64,
    /// Limit.
    pub limit: u16,
}

/// Segment, descriptor-table and control registers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Sregs {
    pub cs: Segment,
    pub ds: Segment,
    pub es: Segment,
    pub fs: Segment,
    pub gs: Segment,
    pub ss: Segment,
    pub tr: Segment,
    pub ldt: Segment,
    pub gdt: DescriptorTable,
    pub idt: DescriptorTable,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub cr8: u64,
    pub efer: u64,
    pub apic_base: u64,
    /// Pending external interrupt bitmap (256 bits).
    pub interrupt_bitmap: [u64; 4],
}

/// Debug registers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebugRegs {
    /// DR0–DR3.
    pub db: [u64; 4],
    /// DR6.
    pub dr6: u64,
    /// DR7.
    pub dr7: u64,
    /// KVM flags word.
    pub flags: u64,
}

/// Extended control registers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xcrs {
    /// KVM flags word.
    pub flags: u32,
    /// The registers present.
    pub xcrs: Vec<Xcr>,
}

/// One extended control register.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xcr {
    /// XCR index (0 = XCR0).
    pub xcr: u32,
    /// Value.
    pub value: u64,
}

/// The XSAVE area.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xsave {
    /// The first 4096 bytes (legacy region, XSAVE header, first extended components).
    pub region: Bytes,
    /// The area beyond 4 KiB (KVM_GET_XSAVE2 with AMX), as 32-bit words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<u32>,
    /// The length word of KVM's `kvm_xsave2` header as the producer stored it, when it had one.
    pub len_field: Option<u64>,
}

/// The local APIC register page (1 KiB, registers at their MMIO offsets / 16 * 16).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lapic {
    /// The 1024-byte register page.
    pub regs: Bytes,
}

impl Lapic {
    /// Reads the 32-bit APIC register at MMIO `offset` (e.g. 0x20 = ID), if in range.
    pub fn reg(&self, offset: usize) -> Option<u32> {
        let b = self.regs.0.get(offset..offset.checked_add(4)?)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }
}

/// One model-specific register.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Msr {
    /// MSR index.
    pub index: u32,
    /// Value.
    pub value: u64,
}

/// One CPUID entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct CpuidEntry {
    pub function: u32,
    pub index: u32,
    /// KVM_CPUID_FLAG_* bits.
    pub flags: u32,
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

/// Pending and injected events (KVM `kvm_vcpu_events`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct VcpuEvents {
    pub exception_injected: u8,
    pub exception_nr: u8,
    pub exception_has_error_code: u8,
    pub exception_pending: u8,
    pub exception_error_code: u32,
    pub interrupt_injected: u8,
    pub interrupt_nr: u8,
    pub interrupt_soft: u8,
    pub interrupt_shadow: u8,
    pub nmi_injected: u8,
    pub nmi_pending: u8,
    pub nmi_masked: u8,
    pub sipi_vector: u32,
    /// KVM_VCPUEVENT_VALID_* bits.
    pub flags: u32,
    pub smi_smm: u8,
    pub smi_pending: u8,
    pub smi_inside_nmi: u8,
    pub smi_latched_init: u8,
    pub triple_fault_pending: u8,
    pub exception_has_payload: u8,
    pub exception_payload: u64,
}

/// x86_64 VM-wide state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct X86Platform {
    /// The 8254 PIT.
    pub pit: Option<Pit>,
    /// The kvmclock.
    pub clock: Option<KvmClock>,
    /// Master 8259 PIC.
    pub pic_master: Option<Pic>,
    /// Slave 8259 PIC.
    pub pic_slave: Option<Pic>,
    /// The IOAPIC.
    pub ioapic: Option<IoApic>,
}

/// The 8254 programmable interval timer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pit {
    /// The three counters.
    pub channels: Vec<PitChannel>,
    /// KVM_PIT_FLAGS_* bits.
    pub flags: u32,
}

/// One PIT counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct PitChannel {
    pub count: u32,
    pub latched_count: u16,
    pub count_latched: u8,
    pub status_latched: u8,
    pub status: u8,
    pub read_state: u8,
    pub write_state: u8,
    pub write_latch: u8,
    pub rw_mode: u8,
    pub mode: u8,
    pub bcd: u8,
    pub gate: u8,
    pub count_load_time: i64,
}

/// The kvmclock (KVM_GET_CLOCK).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvmClock {
    /// Guest clock in ns.
    pub clock: u64,
    /// KVM_CLOCK_* flags.
    pub flags: u32,
    /// Host realtime in ns at the time of the read.
    pub realtime: u64,
    /// Host TSC at the time of the read.
    pub host_tsc: u64,
}

/// One 8259 PIC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Pic {
    pub last_irr: u8,
    pub irr: u8,
    pub imr: u8,
    pub isr: u8,
    pub priority_add: u8,
    pub irq_base: u8,
    pub read_reg_select: u8,
    pub poll: u8,
    pub special_mask: u8,
    pub init_state: u8,
    pub auto_eoi: u8,
    pub rotate_on_auto_eoi: u8,
    pub special_fully_nested_mode: u8,
    pub init4: u8,
    pub elcr: u8,
    pub elcr_mask: u8,
}

/// The IOAPIC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoApic {
    /// MMIO base address.
    pub base_address: u64,
    /// Register select.
    pub ioregsel: u32,
    /// IOAPIC id.
    pub id: u32,
    /// Interrupt request register.
    pub irr: u32,
    /// Redirection table (24 entries).
    pub redirtbl: Vec<u64>,
}

/// Well-known MSR names, for reports.
pub fn msr_name(index: u32) -> Option<&'static str> {
    Some(match index {
        0x10 => "IA32_TSC",
        0x1b => "IA32_APIC_BASE",
        0x3a => "IA32_FEATURE_CONTROL",
        0x3b => "IA32_TSC_ADJUST",
        0x48 => "IA32_SPEC_CTRL",
        0x8b => "IA32_BIOS_SIGN_ID",
        0xfe => "IA32_MTRRCAP",
        0x10a => "IA32_ARCH_CAPABILITIES",
        0x122 => "IA32_TSX_CTRL",
        0x174 => "IA32_SYSENTER_CS",
        0x175 => "IA32_SYSENTER_ESP",
        0x176 => "IA32_SYSENTER_EIP",
        0x1a0 => "IA32_MISC_ENABLE",
        0x277 => "IA32_PAT",
        0x2ff => "IA32_MTRR_DEF_TYPE",
        0x6e0 => "IA32_TSC_DEADLINE",
        0xda0 => "IA32_XSS",
        0xc000_0080 => "IA32_EFER",
        0xc000_0081 => "IA32_STAR",
        0xc000_0082 => "IA32_LSTAR",
        0xc000_0083 => "IA32_CSTAR",
        0xc000_0084 => "IA32_FMASK",
        0xc000_0100 => "IA32_FS_BASE",
        0xc000_0101 => "IA32_GS_BASE",
        0xc000_0102 => "IA32_KERNEL_GS_BASE",
        0xc000_0103 => "IA32_TSC_AUX",
        0x4b56_4d00 => "MSR_KVM_WALL_CLOCK_NEW",
        0x4b56_4d01 => "MSR_KVM_SYSTEM_TIME_NEW",
        0x4b56_4d02 => "MSR_KVM_ASYNC_PF_EN",
        0x4b56_4d03 => "MSR_KVM_STEAL_TIME",
        0x4b56_4d04 => "MSR_KVM_PV_EOI_EN",
        0x4b56_4d05 => "MSR_KVM_POLL_CONTROL",
        0x4b56_4d06 => "MSR_KVM_ASYNC_PF_INT",
        0x4b56_4d07 => "MSR_KVM_ASYNC_PF_ACK",
        _ => return None,
    })
}
