//! A KVM VM with its guest memory: memory regions, IRQ lines, dirty-page tracking, reads and
//! writes of guest memory, vCPU creation. It owns the mappings behind its memory slots, so a slot
//! can never outlive the memory it points at.

use super::{RunError, kvm_err};
use kvm_bindings::{
    KVM_MEM_LOG_DIRTY_PAGES, KVM_PIT_SPEAKER_DUMMY, kvm_pit_config, kvm_userspace_memory_region,
};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use vm_memory::{Bytes as _, MmapRegion, VolatileMemory};

/// Where KVM puts the TSS on Intel hosts (as Firecracker does).
const TSS_ADDRESS: usize = 0xfffb_d000;
/// Page size of the dirty log.
const PAGE: u64 = 4096;

/// One guest RAM region: where the guest sees it and the host mapping behind it.
pub struct Region {
    /// Guest-physical start.
    pub guest_addr: u64,
    /// The host mapping.
    pub mapping: MmapRegion<()>,
}

/// A KVM VM with an in-kernel irqchip and PIT and its memory slots.
pub struct Vm {
    // Field order is drop order: the VM (and its slots) goes before the mappings.
    fd: VmFd,
    kvm: Kvm,
    regions: Vec<Region>,
    dirty_tracking: bool,
}

impl Vm {
    /// Creates the VM (TSS, irqchip, PIT) and one memory slot per region. The regions must not
    /// overlap in guest-physical space.
    ///
    /// # Errors
    /// When KVM refuses.
    pub fn new(regions: Vec<Region>) -> Result<Vm, RunError> {
        let kvm = Kvm::new().map_err(kvm_err("opening /dev/kvm"))?;
        let fd = kvm.create_vm().map_err(kvm_err("creating the VM"))?;
        fd.set_tss_address(TSS_ADDRESS)
            .map_err(kvm_err("setting the TSS address"))?;
        fd.create_irq_chip()
            .map_err(kvm_err("creating the in-kernel irqchip"))?;
        let pit = kvm_pit_config {
            flags: KVM_PIT_SPEAKER_DUMMY,
            ..Default::default()
        };
        fd.create_pit2(pit).map_err(kvm_err("creating the PIT"))?;
        let vm = Vm {
            fd,
            kvm,
            regions,
            dirty_tracking: false,
        };
        vm.register_slots()?;
        Ok(vm)
    }

    fn register_slots(&self) -> Result<(), RunError> {
        for (slot, r) in self.regions.iter().enumerate() {
            let region = kvm_userspace_memory_region {
                slot: slot as u32,
                flags: if self.dirty_tracking {
                    KVM_MEM_LOG_DIRTY_PAGES
                } else {
                    0
                },
                guest_phys_addr: r.guest_addr,
                memory_size: r.mapping.size() as u64,
                userspace_addr: r.mapping.as_ptr() as u64,
            };
            // SAFETY: the mapping is live and exactly `memory_size` bytes long, and `self` owns
            // it and drops it only after the VM (field order); callers pass non-overlapping
            // regions.
            unsafe { self.fd.set_user_memory_region(region) }
                .map_err(kvm_err(format!("adding memory slot {slot}")))?;
        }
        Ok(())
    }

    /// The KVM system handle.
    pub fn kvm(&self) -> &Kvm {
        &self.kvm
    }

    /// The VM file descriptor.
    pub fn fd(&self) -> &VmFd {
        &self.fd
    }

    /// Creates vCPU `id`.
    ///
    /// # Errors
    /// When KVM refuses.
    pub fn create_vcpu(&self, id: u64) -> Result<VcpuFd, RunError> {
        self.fd
            .create_vcpu(id)
            .map_err(kvm_err(format!("creating vCPU {id}")))
    }

    /// Turns on KVM dirty-page logging for every slot.
    ///
    /// # Errors
    /// When KVM refuses.
    pub fn enable_dirty_tracking(&mut self) -> Result<(), RunError> {
        self.dirty_tracking = true;
        self.register_slots()
    }

    /// The 4 KiB pages written since the last call (get-and-clear), as page indices in the
    /// memory file (regions concatenated in order).
    ///
    /// # Errors
    /// When dirty tracking is off or KVM refuses.
    pub fn get_dirty_pages(&self) -> Result<Vec<u64>, RunError> {
        if !self.dirty_tracking {
            return Err(RunError::Internal("dirty tracking is not enabled".into()));
        }
        let mut out = Vec::new();
        let mut base = 0u64;
        for (slot, r) in self.regions.iter().enumerate() {
            let size = r.mapping.size();
            let bitmap = self
                .fd
                .get_dirty_log(slot as u32, size)
                .map_err(kvm_err("KVM_GET_DIRTY_LOG"))?;
            for (w, &bits) in bitmap.iter().enumerate() {
                out.extend(
                    (0..64u64)
                        .filter(|b| bits & (1 << b) != 0)
                        .map(|b| base + w as u64 * 64 + b),
                );
            }
            base += size as u64 / PAGE;
        }
        Ok(out)
    }

    /// Raises or lowers interrupt line `irq` of the in-kernel irqchip.
    ///
    /// # Errors
    /// When KVM refuses.
    pub fn set_irq_line(&self, irq: u32, active: bool) -> Result<(), RunError> {
        self.fd
            .set_irq_line(irq, active)
            .map_err(kvm_err(format!("KVM_IRQ_LINE {irq}")))
    }

    fn locate(&self, gpa: u64, len: usize) -> Result<(&MmapRegion<()>, usize), RunError> {
        self.regions
            .iter()
            .find(|r| {
                gpa >= r.guest_addr
                    && (gpa - r.guest_addr)
                        .checked_add(len as u64)
                        .is_some_and(|e| e <= r.mapping.size() as u64)
            })
            .map(|r| (&r.mapping, (gpa - r.guest_addr) as usize))
            .ok_or_else(|| {
                RunError::Refused(format!(
                    "guest range 0x{gpa:x}+0x{len:x} is not in guest memory"
                ))
            })
    }

    /// Reads guest memory at `gpa` into `buf`.
    ///
    /// # Errors
    /// When the range is not inside one region.
    pub fn read_memory(&self, gpa: u64, buf: &mut [u8]) -> Result<(), RunError> {
        let (m, off) = self.locate(gpa, buf.len())?;
        m.as_volatile_slice()
            .read_slice(buf, off)
            .map_err(|e| RunError::Internal(format!("reading guest memory: {e}")))
    }

    /// Writes `data` to guest memory at `gpa`.
    ///
    /// # Errors
    /// When the range is not inside one region.
    pub fn write_memory(&self, gpa: u64, data: &[u8]) -> Result<(), RunError> {
        let (m, off) = self.locate(gpa, data.len())?;
        m.as_volatile_slice()
            .write_slice(data, off)
            .map_err(|e| RunError::Internal(format!("writing guest memory: {e}")))
    }

    /// Total guest memory in bytes (the memory-file size).
    pub fn memory_size(&self) -> u64 {
        self.regions.iter().map(|r| r.mapping.size() as u64).sum()
    }

    /// The whole guest memory, regions concatenated in order (the memory-file layout).
    ///
    /// # Errors
    /// Never in practice (the ranges come from the regions themselves).
    pub fn dump_memory(&self) -> Result<Vec<u8>, RunError> {
        let total: usize = self.regions.iter().map(|r| r.mapping.size()).sum();
        let mut out = vec![0u8; total];
        let mut off = 0;
        for r in &self.regions {
            let n = r.mapping.size();
            self.read_memory(r.guest_addr, &mut out[off..off + n])?;
            off += n;
        }
        Ok(out)
    }
}
