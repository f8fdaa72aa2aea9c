//! Format 1.0.0 ↔ the neutral model.
//!
//! The field-wise kvm structures are turned into the C bytes every later layout stores (their
//! encodings are identical, see [`super::kvm`]) and then go through the same KVM-ABI conversion
//! as the blob layouts, so a 1.0.0 file and a later file of the same VM give the same model.

use super::aarch64 as arm;
use super::devices::*;
use super::kvm::*;
use super::x86_64 as x86;
use crate::codec::bincode as bc;
use crate::formats::firecracker::convert_common::{self as cc, KEY_CAPS};
use crate::formats::firecracker::wire::{Blob, FamBlob};
use crate::formats::firecracker::{Layout, WriteError};
use crate::kvm_abi as k;
use crate::model::*;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

const LAYOUT: &str = "firecracker-1.0.0";
/// A field-wise kvm structure → its C bytes (the two encodings are identical).
fn c_bytes<T: Serialize>(v: &T) -> Blob {
    // The bincode encoder only refuses sequences of unknown length; kvm structures have none.
    Blob(bc::to_vec(v).unwrap_or_default())
}

/// C bytes → field-wise kvm structure; like KVM-side loaders, a short buffer is zero-extended
/// and a long one cut to `size`.
fn from_c<T: DeserializeOwned>(b: &[u8], size: usize, what: &str) -> Result<T, WriteError> {
    let buf = k::fit(b, size);
    bc::from_slice::<T>(&buf)
        .map(|(v, _)| v)
        .map_err(|e| WriteError::Model(format!("{what}: {e}")))
}

/// A `FamStructWrapper` in blob form → field-wise header and entries.
fn fam_from<H: DeserializeOwned, E: DeserializeOwned>(
    f: &FamBlob,
    sizes: (usize, usize),
    what: &str,
) -> Result<(H, Vec<E>), WriteError> {
    let entries =
        f.1.iter()
            .map(|e| from_c(&e.0, sizes.1, what))
            .collect::<Result<_, _>>()?;
    Ok((from_c(&f.0.0, sizes.0, what)?, entries))
}

fn vm_info(
    tpl: String,
    i: (u64, bool, &BootSourceConfig, &HugePageConfig),
    caps: &[KvmCapability],
) -> VmInfo {
    let (mem, smt, boot, hp) = i;
    VmInfo {
        mem_size_mib: Some(mem),
        smt: Some(smt),
        cpu_template: Some(tpl),
        boot_source: Some(BootSource {
            kernel_image_path: boot.kernel_image_path.clone(),
            initrd_path: boot.initrd_path.clone(),
            boot_args: boot.boot_args.clone(),
        }),
        huge_pages: Some(
            match hp {
                HugePageConfig::None => "None",
                HugePageConfig::Hugetlbfs2M => "2M",
            }
            .into(),
        ),
        kvm_cap_modifiers: cc::caps_to_model(caps).unwrap_or_default(),
        ..Default::default()
    }
}

fn base(arch: Arch, vm: VmInfo, mem: &GuestMemoryState, caps: &[KvmCapability]) -> Snapshot {
    let mut s = Snapshot {
        provenance: cc::provenance(Layout::V1_0_0.info(), arch),
        vm,
        memory: MemoryLayout {
            regions: mem
                .regions
                .iter()
                .map(|r| MemoryRegion {
                    guest_addr: r.base_address,
                    size: r.size,
                    file_offset: r.offset,
                    explicit_offset: true,
                    kind: RegionKind::Dram,
                    plugged: Vec::new(),
                    read_only: false,
                })
                .collect(),
            page_size: 4096,
        },
        vcpus: Vec::new(),
        platform: Platform::X86_64(Box::default()),
        devices: Vec::new(),
        extensions: Default::default(),
    };
    if cc::caps_to_model(caps).is_none() {
        s.extensions.insert(
            KEY_CAPS.into(),
            cc::ext(LAYOUT, &json!({ "kvm_cap_modifiers": caps })),
        );
    }
    s
}

fn x86_vcpu_to_model(c: &x86::VcpuState) -> X86Vcpu {
    let fam = |h: Blob, e: Vec<Blob>| (h, e);
    // 1.0.0 stores the bare 4 KiB `kvm_xsave`; the shared conversion expects `kvm_xsave2`'s
    // 8-byte length word in front of it.
    let mut xsave_hdr = vec![0u8; 8];
    xsave_hdr.extend_from_slice(&c_bytes(&c.xsave).0);
    let blobs = cc::X86VcpuBlobs {
        cpuid: fam(c_bytes(&c.cpuid.0), c.cpuid.1.iter().map(c_bytes).collect()),
        saved_msrs: c
            .saved_msrs
            .iter()
            .map(|(h, e)| fam(c_bytes(h), e.iter().map(c_bytes).collect()))
            .collect(),
        debug_regs: c_bytes(&c.debug_regs),
        lapic: c_bytes(&c.lapic),
        mp_state: c_bytes(&c.mp_state),
        regs: c_bytes(&c.regs),
        sregs: c_bytes(&c.sregs),
        vcpu_events: c_bytes(&c.vcpu_events),
        xcrs: c_bytes(&c.xcrs),
        xsave: (Blob(xsave_hdr), Vec::new()),
        tsc_khz: c.tsc_khz,
    };
    // A plain `kvm_xsave` gives `len_field = 0` and no `extra`, as 2.0.0–5.0.0 and a 6.0.0+
    // `kvm_xsave2` with nothing beyond 4 KiB do: the same VM, the same model.
    cc::x86_vcpu_to_model(&blobs)
}

fn x86_vcpu_from_model(v: &X86Vcpu, n: usize) -> Result<x86::VcpuState, WriteError> {
    if let Some(x) = &v.xsave
        && x.extra.iter().any(|&w| w != 0)
    {
        return Err(WriteError::Model(format!(
            "vCPU {n}: {LAYOUT} holds only the 4 KiB KVM_GET_XSAVE area, but the model has \
             {} bytes of live XSAVE state beyond it (AMX)",
            x.extra.len() * 4
        )));
    }
    let what = |f: &str| format!("vcpu_states[{n}].{f}");
    let b = cc::x86_vcpu_from_model(v);
    let xsave = b.xsave.0.0.get(8..).unwrap_or_default();
    Ok(x86::VcpuState {
        cpuid: fam_from(
            &b.cpuid,
            (k::CPUID2_HDR_SIZE, k::CPUID_ENTRY_SIZE),
            &what("cpuid"),
        )?,
        saved_msrs: b
            .saved_msrs
            .iter()
            .map(|c| {
                fam_from(
                    c,
                    (k::MSRS_HDR_SIZE, k::MSR_ENTRY_SIZE),
                    &what("saved_msrs"),
                )
            })
            .collect::<Result<_, _>>()?,
        debug_regs: from_c(&b.debug_regs.0, k::DEBUGREGS_SIZE, &what("debug_regs"))?,
        lapic: from_c(&b.lapic.0, k::LAPIC_SIZE, &what("lapic"))?,
        mp_state: from_c(&b.mp_state.0, k::MP_STATE_SIZE, &what("mp_state"))?,
        regs: from_c(&b.regs.0, k::REGS_SIZE, &what("regs"))?,
        sregs: from_c(&b.sregs.0, k::SREGS_SIZE, &what("sregs"))?,
        vcpu_events: from_c(&b.vcpu_events.0, k::VCPU_EVENTS_SIZE, &what("vcpu_events"))?,
        xcrs: from_c(&b.xcrs.0, k::XCRS_SIZE, &what("xcrs"))?,
        xsave: from_c(xsave, k::XSAVE_SIZE, &what("xsave"))?,
        tsc_khz: b.tsc_khz,
    })
}

/// The MMIO devices of a `DeviceStates` (either arch) → model devices.
fn devices_to_model<T: Serialize>(m: &mut Snapshot, states: &T) {
    let devs = serde_json::to_value(states).unwrap_or(Value::Null);
    m.devices = cc::devices_to_model(&devs, "mmio", LAYOUT);
}

/// 1.0.0 x86_64 → model.
pub fn x86_to_model(s: &x86::MicrovmState) -> Snapshot {
    let i = &s.vm_info;
    let v = &s.vm_state;
    let vm = vm_info(
        format!("{:?}", i.cpu_template),
        (i.mem_size_mib, i.smt, &i.boot_source, &i.huge_pages),
        &v.kvm_cap_modifiers,
    );
    let mut m = base(Arch::X86_64, vm, &s.memory_state, &v.kvm_cap_modifiers);
    m.platform = Platform::X86_64(Box::new(cc::x86_platform_to_model(
        &c_bytes(&v.pitstate),
        &c_bytes(&v.clock),
        &c_bytes(&v.pic_master),
        &c_bytes(&v.pic_slave),
        &c_bytes(&v.ioapic),
    )));
    m.vcpus = s
        .vcpu_states
        .iter()
        .map(|c| Vcpu::X86_64(Box::new(x86_vcpu_to_model(c))))
        .collect();
    devices_to_model(&mut m, &s.device_states);
    m
}

/// 1.0.0 aarch64 → model.
pub fn aarch64_to_model(s: &arm::MicrovmState) -> Snapshot {
    let i = &s.vm_info;
    let v = &s.vm_state;
    let vm = vm_info(
        format!("{:?}", i.cpu_template),
        (i.mem_size_mib, i.smt, &i.boot_source, &i.huge_pages),
        &v.kvm_cap_modifiers,
    );
    let mut m = base(Arch::Aarch64, vm, &s.memory_state, &v.kvm_cap_modifiers);
    m.platform = Platform::Aarch64(Box::new(Aarch64Platform {
        gic: Some(cc::gic_to_model!(&v.gic, None)),
        opaque_gic: None,
    }));
    for (n, c) in s.vcpu_states.iter().enumerate() {
        let regs = cc::arm_regs_to_model(&c.regs.0, &c.regs.1);
        if regs.is_none() {
            m.extensions.insert(
                format!("firecracker/vcpu[{n}].regs"),
                cc::ext(LAYOUT, &c.regs),
            );
        }
        m.vcpus.push(Vcpu::Aarch64(Box::new(Aarch64Vcpu {
            mp_state: Some(c.mp_state.mp_state),
            regs: regs.unwrap_or_default(),
            mpidr: Some(c.mpidr),
            kvi: c.kvi.map(|k| VcpuInit {
                target: k.target,
                features: k.features,
            }),
            ..Default::default()
        })));
    }
    devices_to_model(&mut m, &s.device_states);
    m
}

/// Model regions → 1.0.0 regions. The offset is the model's file offset: for models from
/// layouts without an explicit offset that is the running sum of sizes, which is what
/// Firecracker v1.7.0 itself wrote.
fn memory_from_model(m: &Snapshot) -> Result<GuestMemoryState, WriteError> {
    let regions = m
        .memory
        .regions
        .iter()
        .map(|r| match r.kind {
            RegionKind::Dram => Ok(GuestMemoryRegionState {
                base_address: r.guest_addr,
                size: r.size,
                offset: r.file_offset,
            }),
            RegionKind::Hotpluggable => Err(WriteError::Model(format!(
                "{LAYOUT} has no hotpluggable memory (region at 0x{:x})",
                r.guest_addr
            ))),
        })
        .collect::<Result<_, _>>()?;
    Ok(GuestMemoryState { regions })
}

struct Common {
    boot: BootSourceConfig,
    huge_pages: HugePageConfig,
    caps: Vec<KvmCapability>,
    memory: GuestMemoryState,
}

fn common_from_model(m: &Snapshot) -> Result<Common, WriteError> {
    let b = m.vm.boot_source.clone().unwrap_or_default();
    let huge_pages = match m.vm.huge_pages.as_deref() {
        None | Some("None") => HugePageConfig::None,
        Some("2M") => HugePageConfig::Hugetlbfs2M,
        Some(o) => {
            return Err(WriteError::Model(format!(
                "{LAYOUT} cannot hold huge_pages = {o:?} (only None and 2M)"
            )));
        }
    };
    let caps = match m.extensions.get(KEY_CAPS) {
        Some(e) if e.layout == LAYOUT => {
            cc::value_as(&e.value["kvm_cap_modifiers"], KEY_CAPS, LAYOUT)?
        }
        _ => cc::caps_from_model(&m.vm.kvm_cap_modifiers),
    };
    Ok(Common {
        boot: BootSourceConfig {
            kernel_image_path: b.kernel_image_path,
            initrd_path: b.initrd_path,
            boot_args: b.boot_args,
        },
        huge_pages,
        caps,
        memory: memory_from_model(m)?,
    })
}

fn device_states<T: DeserializeOwned>(m: &Snapshot, legacy: bool) -> Result<T, WriteError> {
    let mut empty = json!({"block_devices": [], "net_devices": [], "vsock_device": null,
        "balloon_device": null, "mmds_version": null, "entropy_device": null});
    if legacy {
        empty["legacy_devices"] = json!([]);
    }
    let v = cc::devices_from_model(&m.devices, empty, "mmio", LAYOUT)?;
    cc::value_as(&v, "device_states", LAYOUT)
}

fn cpu_template<T: DeserializeOwned>(m: &Snapshot) -> Result<T, WriteError> {
    let name = m.vm.cpu_template.clone().unwrap_or_else(|| "None".into());
    cc::named(&name, "vm.cpu_template", LAYOUT)
}

/// Model → 1.0.0 x86_64.
///
/// # Errors
/// When the model holds something 1.0.0 x86_64 cannot express (hotpluggable memory, XSAVE
/// state beyond 4 KiB, devices of another layout).
pub fn x86_from_model(m: &Snapshot) -> Result<x86::MicrovmState, WriteError> {
    let c = common_from_model(m)?;
    let Platform::X86_64(p) = &m.platform else {
        return Err(WriteError::Model(
            "x86_64 layout needs x86_64 platform state".into(),
        ));
    };
    let [pit, clock, pic_master, pic_slave, ioapic] = cc::x86_platform_from_model(p);
    let vcpu_states = m
        .vcpus
        .iter()
        .enumerate()
        .map(|(n, v)| match v {
            Vcpu::X86_64(v) => x86_vcpu_from_model(v, n),
            Vcpu::Aarch64(_) => Err(WriteError::Model("aarch64 vCPU in an x86_64 state".into())),
        })
        .collect::<Result<_, _>>()?;
    Ok(x86::MicrovmState {
        vm_info: x86::VmInfo {
            mem_size_mib: m.vm.mem_size_mib.unwrap_or(m.memory.total_size() >> 20),
            smt: m.vm.smt.unwrap_or(false),
            cpu_template: cpu_template(m)?,
            boot_source: c.boot,
            huge_pages: c.huge_pages,
        },
        memory_state: c.memory,
        vm_state: x86::VmState {
            pitstate: from_c(&pit.0, k::PIT2_SIZE, "vm_state.pitstate")?,
            clock: from_c(&clock.0, k::CLOCK_SIZE, "vm_state.clock")?,
            pic_master: from_c(&pic_master.0, k::IRQCHIP_SIZE, "vm_state.pic_master")?,
            pic_slave: from_c(&pic_slave.0, k::IRQCHIP_SIZE, "vm_state.pic_slave")?,
            ioapic: from_c(&ioapic.0, k::IRQCHIP_SIZE, "vm_state.ioapic")?,
            kvm_cap_modifiers: c.caps,
        },
        vcpu_states,
        device_states: device_states(m, false)?,
    })
}

/// Model → 1.0.0 aarch64.
///
/// # Errors
/// When the model holds something 1.0.0 aarch64 cannot express (hotpluggable memory, a GIC ITS,
/// devices of another layout).
pub fn aarch64_from_model(m: &Snapshot) -> Result<arm::MicrovmState, WriteError> {
    let c = common_from_model(m)?;
    let Platform::Aarch64(p) = &m.platform else {
        return Err(WriteError::Model(
            "aarch64 layout needs aarch64 platform state".into(),
        ));
    };
    let g = p.gic.clone().unwrap_or_default();
    if g.its.is_some() {
        return Err(WriteError::Model(format!(
            "{LAYOUT} has no GIC ITS state, but the model has one"
        )));
    }
    let (dist, gic_vcpu_states) = cc::gic_parts_from_model!(arm, &g);
    let mut vcpu_states = Vec::new();
    for (n, v) in m.vcpus.iter().enumerate() {
        let Vcpu::Aarch64(v) = v else {
            return Err(WriteError::Model("x86_64 vCPU in an aarch64 state".into()));
        };
        // A register list whose sizes do not add up has no typed form; every Firecracker layout
        // stores it as the same `(ids, data)` pair, so the extension is taken from any of them.
        let key = format!("firecracker/vcpu[{n}].regs");
        let regs = match m.extensions.get(&key) {
            Some(e) => cc::value_as(&e.value, &key, LAYOUT)?,
            None => cc::arm_regs_from_model(&v.regs),
        };
        vcpu_states.push(arm::VcpuState {
            mp_state: kvm_mp_state {
                mp_state: v.mp_state.unwrap_or(0),
            },
            regs,
            mpidr: v.mpidr.unwrap_or(0),
            kvi: v.kvi.map(|i| kvm_vcpu_init {
                target: i.target,
                features: i.features,
            }),
        });
    }
    Ok(arm::MicrovmState {
        vm_info: arm::VmInfo {
            mem_size_mib: m.vm.mem_size_mib.unwrap_or(m.memory.total_size() >> 20),
            smt: m.vm.smt.unwrap_or(false),
            cpu_template: cpu_template(m)?,
            boot_source: c.boot,
            huge_pages: c.huge_pages,
        },
        memory_state: c.memory,
        vm_state: arm::VmState {
            gic: arm::GicState {
                dist,
                gic_vcpu_states,
            },
            kvm_cap_modifiers: c.caps,
        },
        vcpu_states,
        device_states: device_states(m, true)?,
    })
}

/// The fields the writer fills from Firecracker's defaults because the model does not carry
/// them: none for this layout.
pub fn invented(_m: &Snapshot) -> Vec<String> {
    Vec::new()
}
