//! Booting a freestanding x86_64 ELF kernel directly in 64-bit mode, the way Firecracker starts
//! an ELF `vmlinux`: segments loaded at their physical addresses, identity-mapped first GiB with
//! 2 MiB pages (PML4 at 0x9000), a flat GDT at 0x500, `rsi` = 0x7000 (an empty boot-params page),
//! `rsp` = 0x8ff0, entry point in `rip`.

use super::Vm;
use super::{RunError, kvm_err};
use kvm_ioctls::{Kvm, VcpuFd};

const GDT: usize = 0x500;
const IDT: usize = 0x520;
const BOOT_PARAMS: u64 = 0x7000;
const STACK: u64 = 0x8ff0;
const PML4: usize = 0x9000;
const PDPT: usize = 0xa000;
const PD: usize = 0xb000;
/// Kernel segments must lie above the boot tables.
const LOW_LIMIT: u64 = 0x1_0000;

/// A loadable segment of an ELF file.
pub(super) struct Segment {
    paddr: u64,
    offset: u64,
    filesz: u64,
    memsz: u64,
}

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(o..o.checked_add(2)?)?.try_into().ok()?,
    ))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(o..o.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(o..o.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Parses an ELF64 x86_64 executable: entry point and `PT_LOAD` segments (bounded by the input).
pub(super) fn parse_elf(b: &[u8]) -> Result<(u64, Vec<Segment>), RunError> {
    let bad = |m: &str| RunError::Refused(format!("kernel: {m}"));
    if b.get(..4) != Some(b"\x7fELF") || b.get(4) != Some(&2) || b.get(5) != Some(&1) {
        return Err(bad("not a little-endian ELF64 file"));
    }
    if u16_at(b, 18) != Some(62) {
        return Err(bad("not an x86_64 ELF file (e_machine != 62)"));
    }
    let entry = u64_at(b, 24).ok_or_else(|| bad("truncated header"))?;
    let phoff = u64_at(b, 32).ok_or_else(|| bad("truncated header"))? as usize;
    let phentsize = usize::from(u16_at(b, 54).ok_or_else(|| bad("truncated header"))?);
    let phnum = usize::from(u16_at(b, 56).ok_or_else(|| bad("truncated header"))?);
    if phentsize < 56 {
        return Err(bad("program header entries are too small"));
    }
    let mut segs = Vec::new();
    for i in 0..phnum {
        let o = phoff
            .checked_add(
                i.checked_mul(phentsize)
                    .ok_or_else(|| bad("bad program headers"))?,
            )
            .ok_or_else(|| bad("bad program headers"))?;
        let field = |off: usize| {
            u64_at(b, o.saturating_add(off)).ok_or_else(|| bad("truncated program header"))
        };
        if u32_at(b, o).ok_or_else(|| bad("truncated program header"))? != 1 {
            continue; // not PT_LOAD
        }
        let s = Segment {
            offset: field(8)?,
            paddr: field(24)?,
            filesz: field(32)?,
            memsz: field(40)?,
        };
        if s.filesz > s.memsz
            || s.offset
                .checked_add(s.filesz)
                .is_none_or(|e| e > b.len() as u64)
        {
            return Err(bad(&format!("segment {i} lies outside the file")));
        }
        segs.push(s);
    }
    if segs.is_empty() {
        return Err(bad("no loadable segments"));
    }
    Ok((entry, segs))
}

/// Loads `elf` into `mem` (guest-physical 0) and returns the entry point.
pub fn load(vm: &Vm, elf: &[u8]) -> Result<u64, RunError> {
    let (entry, segs) = parse_elf(elf)?;
    let size = vm.memory_size();
    for s in &segs {
        if s.paddr < LOW_LIMIT || s.paddr.checked_add(s.memsz).is_none_or(|e| e > size) {
            return Err(RunError::Refused(format!(
                "kernel: segment at 0x{:x}+0x{:x} does not fit in guest memory above the boot tables (0x10000)",
                s.paddr, s.memsz
            )));
        }
        let data = &elf[s.offset as usize..(s.offset + s.filesz) as usize];
        vm.write_memory(s.paddr, data)?;
        let zeros = vec![0u8; (s.memsz - s.filesz) as usize];
        vm.write_memory(s.paddr + s.filesz, &zeros)?;
    }
    write_tables(vm)?;
    Ok(entry)
}

fn write_tables(vm: &Vm) -> Result<(), RunError> {
    let w = |off: usize, v: u64| vm.write_memory(off as u64, &v.to_le_bytes());
    // null, 64-bit code, data, TSS
    for (i, d) in [
        0u64,
        0x00af_9b00_0000_ffff,
        0x00cf_9300_0000_ffff,
        0x008f_8b00_0000_ffff,
    ]
    .into_iter()
    .enumerate()
    {
        w(GDT + 8 * i, d)?;
    }
    w(IDT, 0)?;
    w(PML4, PDPT as u64 | 0x03)?;
    w(PDPT, PD as u64 | 0x03)?;
    for i in 0..512u64 {
        w(PD + 8 * i as usize, (i << 21) | 0x83)?;
    }
    Ok(())
}

/// The host's supported CPUID with this vCPU's APIC id in it (leaf 1 EBX[31:24], and the
/// x2APIC id of the topology leaves 0xb and 0x1f), as Firecracker normalises it.
fn cpuid_for(kvm: &Kvm, id: u8) -> Result<kvm_bindings::CpuId, RunError> {
    let mut cpuid = kvm
        .get_supported_cpuid(kvm_bindings::KVM_MAX_CPUID_ENTRIES)
        .map_err(kvm_err("KVM_GET_SUPPORTED_CPUID"))?;
    for e in cpuid.as_mut_slice() {
        match e.function {
            1 => e.ebx = (e.ebx & 0x00ff_ffff) | (u32::from(id) << 24),
            0xb | 0x1f => e.edx = u32::from(id),
            _ => {}
        }
    }
    Ok(cpuid)
}

/// Gives application processor `id` its CPUID; KVM keeps it waiting for INIT/SIPI.
pub fn setup_ap(kvm: &Kvm, fd: &VcpuFd, id: u8) -> Result<(), RunError> {
    fd.set_cpuid2(&cpuid_for(kvm, id)?)
        .map_err(kvm_err("KVM_SET_CPUID2"))
}

/// Puts vCPU `fd` at `entry` in 64-bit mode with the host's supported CPUID.
pub fn setup_vcpu(kvm: &Kvm, fd: &VcpuFd, entry: u64) -> Result<(), RunError> {
    fd.set_cpuid2(&cpuid_for(kvm, 0)?)
        .map_err(kvm_err("KVM_SET_CPUID2"))?;
    let mut s = fd.get_sregs().map_err(kvm_err("KVM_GET_SREGS"))?;
    let seg = |selector: u16, type_: u8, l: u8, db: u8| kvm_bindings::kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl: 0,
        db,
        s: 1,
        l,
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    };
    s.cs = seg(0x08, 0xb, 1, 0);
    let data = seg(0x10, 0x3, 0, 1);
    (s.ds, s.es, s.fs, s.gs, s.ss) = (data, data, data, data, data);
    s.tr = kvm_bindings::kvm_segment {
        s: 0,
        ..seg(0x18, 0xb, 0, 0)
    };
    s.gdt.base = GDT as u64;
    s.gdt.limit = 31;
    s.idt.base = IDT as u64;
    s.idt.limit = 7;
    s.cr3 = PML4 as u64;
    s.cr4 |= 0x20; // PAE
    s.cr0 |= 0x8000_0001; // PG | PE
    s.efer |= 0x500; // LME | LMA
    fd.set_sregs(&s).map_err(kvm_err("KVM_SET_SREGS"))?;
    let regs = kvm_bindings::kvm_regs {
        rflags: 2,
        rip: entry,
        rsp: STACK,
        rbp: STACK,
        rsi: BOOT_PARAMS,
        ..Default::default()
    };
    fd.set_regs(&regs).map_err(kvm_err("KVM_SET_REGS"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_guest_parses() {
        let (entry, segs) = parse_elf(crate::runner::BUILTIN_GUEST).unwrap();
        assert_eq!(entry, 0x10_0000);
        assert!(!segs.is_empty());
    }

    #[test]
    fn hostile_elf_is_refused() {
        let mut e = crate::runner::BUILTIN_GUEST.to_vec();
        for cut in [0, 4, 20, 63, 100] {
            assert!(parse_elf(&e[..cut]).is_err());
        }
        e[32..40].copy_from_slice(&u64::MAX.to_le_bytes()); // e_phoff
        assert!(parse_elf(&e).is_err());
    }
}
