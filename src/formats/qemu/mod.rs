//! QEMU migration streams (x86_64): what `migrate`, `savevm` and `virsh save` write
//! (`formats/qemu.md`).
//!
//! Read: the configuration, the RAM section (guest RAM as a memory image read on demand from
//! the stream; zero pages are holes), and every device section, cut out with the stream's own
//! vmdesc. The vCPUs (`cpu`, `cpu_common`, `apic`), the kvmclock, the 8254 PIT, both 8259 PICs,
//! the IOAPIC and the 16550 UART go into the model; every section is also kept as written in
//! the `qemu/stream` extension, so a stream re-written from an unchanged model gives the same
//! bytes, and sections snaptool does not interpret are never changed.
//!
//! Written: the stream in QEMU's order (RAM, then device sections, end of stream, vmdesc).
//! A model that did not come from QEMU is written on a template: a stream QEMU 7.2 itself wrote
//! for `-machine microvm` with one vCPU, whose vCPU, APIC and clock sections are replaced from
//! the model, cloned per vCPU, and whose RAM is the model's memory. [`command`] gives the QEMU
//! command line that resumes a written stream.

mod cpu;
mod desc;
mod ram;
mod stream;

pub use desc::{DeviceDesc, Fields};
pub use ram::QemuRam;
pub use stream::{PAGE_SIZE, ReadError, Source, sniff};

use crate::memory::MemoryImage;
use crate::model::{
    Arch, Bytes, Device, DeviceKind, Extension, IoApic, KvmClock, MemoryLayout, MemoryRegion, Pic,
    Pit, PitChannel, Platform, Provenance, RegionKind, Snapshot, UartState, Vcpu, VmInfo,
    X86Platform, X86Vcpu,
};
use crate::report::Finding;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use stream::{PageData, Stream, Writer};

/// The layout id of a QEMU stream (stream version 3).
pub const LAYOUT_ID: &str = "qemu-3";
/// The model extension holding the stream's sections as written.
pub const EXT_STREAM: &str = "qemu/stream";

/// The QEMU 7.2.22 stream of `-machine microvm -m 64 -smp 1` used as the template for models
/// that did not come from QEMU.
const TEMPLATE: &[u8] =
    include_bytes!("../../../fixtures/qemu-7.2/counter-microvm-1vcpu/vmstate.qemu");
/// Where the template comes from, for reports.
pub const TEMPLATE_NAME: &str = "QEMU 7.2.22's own stream of `-machine microvm -cpu host -smp 1` (fixtures/qemu-7.2/counter-microvm-1vcpu)";

/// A QEMU stream read: the parsed stream and where its bytes are.
#[derive(Debug, Clone)]
pub struct QemuFile {
    /// The parsed stream.
    pub stream: Stream,
    /// Its bytes.
    pub source: Source,
    /// A name for reports (the path).
    pub name: String,
}

/// Reads a stream from a file without loading its RAM.
///
/// # Errors
/// I/O errors and [`ReadError`]s, as text naming the file.
pub fn read_path(path: &Path) -> Result<QemuFile, String> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| format!("{name}: {e}"))?;
    let len = file.metadata().map_err(|e| format!("{name}: {e}"))?.len();
    let source = Source::File {
        file: Arc::new(file),
        len,
    };
    let stream = stream::parse(&source).map_err(|e| format!("{name}: {e}"))?;
    Ok(QemuFile {
        stream,
        source,
        name,
    })
}

/// Reads a stream held in memory.
///
/// # Errors
/// A [`ReadError`].
pub fn read(bytes: Vec<u8>, name: &str) -> Result<QemuFile, ReadError> {
    let source = Source::Bytes(Arc::new(bytes));
    let stream = stream::parse(&source)?;
    Ok(QemuFile {
        stream,
        source,
        name: name.to_string(),
    })
}

/// The stream as a model extension: every section as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamExt {
    /// Machine type from the configuration section.
    pub machine: Option<String>,
    /// Configuration subsections as written.
    #[serde(default)]
    pub config_extra: Bytes,
    /// Whether sections end with footers.
    pub footers: bool,
    /// The RAM section's framing.
    pub ram: Option<RamExt>,
    /// Device sections in stream order, payloads as written.
    pub sections: Vec<SectionExt>,
    /// The vmdesc JSON as written.
    pub vmdesc: String,
}

/// The RAM section's framing and the blocks other than guest RAM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RamExt {
    /// Section id.
    pub section_id: u32,
    /// Instance id.
    pub instance: u32,
    /// Section version.
    pub version: u32,
    /// Blocks in stream order: (name, length).
    pub blocks: Vec<(String, u64)>,
    /// The block that is guest RAM (the model's memory).
    pub main: Option<String>,
    /// Page records per PART/END section, when the stream is canonical.
    pub parts: Vec<u64>,
    /// Whether the stream sent each page once, in order (then re-writing gives its bytes).
    pub canonical: bool,
    /// The non-zero pages of the other blocks (firmware, option ROMs, ACPI tables, video RAM):
    /// block → page index → 4096 bytes.
    pub pages: BTreeMap<String, BTreeMap<u64, Bytes>>,
}

/// One device section as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionExt {
    /// 4 = full, 1 = start.
    pub kind: u8,
    /// Section id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Instance id.
    pub instance: u32,
    /// Version.
    pub version: u32,
    /// The payload.
    pub payload: Bytes,
}

/// The most bytes of non-RAM blocks (firmware, ROMs, video RAM) snaptool keeps in the model.
pub const OTHER_BLOCKS_LIMIT: u64 = 256 << 20;

/// Which RAM block is guest RAM: QEMU's board RAM names, else a memory backend, else the largest.
fn main_block(blocks: &[stream::RamBlock]) -> Option<usize> {
    let named = ["pc.ram", "microvm.ram", "ram"];
    blocks
        .iter()
        .position(|b| named.contains(&b.name.as_str()))
        .or_else(|| blocks.iter().position(|b| b.name.starts_with("/objects/")))
        .or_else(|| {
            blocks
                .iter()
                .enumerate()
                .filter(|(_, b)| !b.name.contains("rom") && !b.name.contains("vga"))
                .max_by_key(|(_, b)| b.length)
                .map(|(i, _)| i)
        })
}

/// Where a machine type puts RAM below 4 GiB: guest RAM of `len` bytes is `[0, low)` and, when
/// longer, `[4 GiB, 4 GiB + len - low)`.
fn low_mem(machine: Option<&str>, len: u64) -> u64 {
    let m = machine.unwrap_or("");
    let (threshold, low) = if m.contains("q35") {
        (0xb000_0000, 0x8000_0000)
    } else if m == "microvm" {
        (0xc000_0000, 0xc000_0000)
    } else {
        (0xe000_0000, 0xc000_0000)
    };
    if len >= threshold { low } else { len }
}

impl QemuFile {
    /// Guest RAM: the main block, read on demand from the stream.
    pub fn memory(&self) -> Option<QemuRam> {
        let ram = self.stream.ram.as_ref()?;
        let i = main_block(&ram.blocks)?;
        Some(QemuRam::new(
            &self.name,
            self.source.clone(),
            ram.blocks[i].length,
            ram.pages[i].clone(),
        ))
    }

    /// The stream as the model's extension.
    ///
    /// # Errors
    /// When the other blocks hold more than [`OTHER_BLOCKS_LIMIT`] bytes of data, or a page
    /// cannot be read.
    pub fn extension(&self) -> Result<StreamExt, String> {
        let st = &self.stream;
        let ram = match &st.ram {
            Some(r) => {
                let main = main_block(&r.blocks);
                let mut pages = BTreeMap::new();
                let mut kept = 0u64;
                for (i, b) in r.blocks.iter().enumerate() {
                    if Some(i) == main {
                        continue;
                    }
                    let mut m = BTreeMap::new();
                    for (&p, d) in &r.pages[i] {
                        let mut buf = vec![0u8; PAGE_SIZE as usize];
                        match *d {
                            PageData::Fill(0) => continue,
                            PageData::Fill(x) => buf.fill(x),
                            PageData::At(o) => self
                                .source
                                .read_at(o, &mut buf)
                                .map_err(|e| format!("{}: offset {o:#x}: {e}", self.name))?,
                        }
                        if buf.iter().all(|&x| x == 0) {
                            continue;
                        }
                        kept += PAGE_SIZE;
                        if kept > OTHER_BLOCKS_LIMIT {
                            return Err(format!(
                                "{}: blocks other than guest RAM hold over {OTHER_BLOCKS_LIMIT} bytes",
                                self.name
                            ));
                        }
                        m.insert(p, Bytes(buf));
                    }
                    if !m.is_empty() {
                        pages.insert(b.name.clone(), m);
                    }
                }
                Some(RamExt {
                    section_id: r.section_id,
                    instance: r.instance,
                    version: r.version,
                    blocks: r
                        .blocks
                        .iter()
                        .map(|b| (b.name.clone(), b.length))
                        .collect(),
                    main: main.map(|i| r.blocks[i].name.clone()),
                    parts: r.parts.clone(),
                    canonical: r.canonical,
                    pages,
                })
            }
            None => None,
        };
        Ok(StreamExt {
            machine: st.machine.clone(),
            config_extra: Bytes(st.config_extra.clone()),
            footers: st.footers,
            ram,
            sections: st
                .sections
                .iter()
                .map(|s| SectionExt {
                    kind: s.kind,
                    id: s.id,
                    name: s.name.clone(),
                    instance: s.instance,
                    version: s.version,
                    payload: Bytes(s.payload.clone()),
                })
                .collect(),
            vmdesc: st.vmdesc.clone(),
        })
    }

    /// The model.
    ///
    /// # Errors
    /// As [`QemuFile::extension`].
    pub fn to_model(&self) -> Result<Snapshot, String> {
        let ext = self.extension()?;
        Ok(model_from(&self.stream, &ext))
    }
}

fn vcpu_instances(st: &Stream) -> Vec<u32> {
    let mut v: Vec<u32> = st
        .sections
        .iter()
        .filter(|s| s.name == "cpu")
        .map(|s| s.instance)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn fields_in<'a>(st: &'a Stream, name: &str, instance: u32) -> Option<Fields<'a>> {
    let s = st.section(name, instance)?;
    Some(Fields::new(st.desc_of(s)?, &s.payload))
}

fn vcpus_of(st: &Stream) -> Vec<X86Vcpu> {
    vcpu_instances(st)
        .into_iter()
        .filter_map(|i| {
            let c = fields_in(st, "cpu", i)?;
            let a = fields_in(st, "apic", i);
            Some(cpu::vcpu_from(&c, a.as_ref()))
        })
        .collect()
}

fn platform_of(st: &Stream) -> X86Platform {
    let mut p = X86Platform::default();
    if let Some(f) = fields_in(st, "kvmclock", 0) {
        p.clock = Some(KvmClock {
            clock: f.u("clock").unwrap_or(0),
            ..Default::default()
        });
    }
    if let Some(f) = fields_in(st, "i8254", 0) {
        let ch = |i: usize| {
            let g = |n: &str| f.u(&format!("channels[{i}].{n}")).unwrap_or(0);
            PitChannel {
                count: g("count") as u32,
                latched_count: g("latched_count") as u16,
                count_latched: g("count_latched") as u8,
                status_latched: g("status_latched") as u8,
                status: g("status") as u8,
                read_state: g("read_state") as u8,
                write_state: g("write_state") as u8,
                write_latch: g("write_latch") as u8,
                rw_mode: g("rw_mode") as u8,
                mode: g("mode") as u8,
                bcd: g("bcd") as u8,
                gate: g("gate") as u8,
                count_load_time: f.i(&format!("channels[{i}].count_load_time")).unwrap_or(0),
            }
        };
        p.pit = Some(Pit {
            channels: (0..3).map(ch).collect(),
            flags: 0,
        });
    }
    let pic = |inst: u32| {
        fields_in(st, "i8259", inst).map(|f| {
            let g = |n: &str| f.u(n).unwrap_or(0) as u8;
            Pic {
                last_irr: g("last_irr"),
                irr: g("irr"),
                imr: g("imr"),
                isr: g("isr"),
                priority_add: g("priority_add"),
                irq_base: g("irq_base"),
                read_reg_select: g("read_reg_select"),
                poll: g("poll"),
                special_mask: g("special_mask"),
                init_state: g("init_state"),
                auto_eoi: g("auto_eoi"),
                rotate_on_auto_eoi: g("rotate_on_auto_eoi"),
                special_fully_nested_mode: g("special_fully_nested_mode"),
                init4: g("init4"),
                elcr: g("elcr"),
                elcr_mask: if inst == 0 { 0xf8 } else { 0xde },
            }
        })
    };
    p.pic_master = pic(0);
    p.pic_slave = pic(1);
    if let Some(f) = fields_in(st, "ioapic", 0) {
        p.ioapic = Some(IoApic {
            base_address: 0xfec0_0000,
            ioregsel: f.u("ioregsel").unwrap_or(0) as u32,
            id: f.u("id").unwrap_or(0) as u32,
            irr: f.u("irr").unwrap_or(0) as u32,
            redirtbl: (0..24)
                .map(|i| f.u(&format!("ioredtbl[{i}]")).unwrap_or(0))
                .collect(),
        });
    }
    p
}

fn uart_of(f: &Fields<'_>) -> UartState {
    let g = |n: &str| f.u(&format!("state.{n}")).unwrap_or(0);
    let div = g("divider");
    UartState {
        baud_divisor_low: div as u8,
        baud_divisor_high: (div >> 8) as u8,
        interrupt_enable: g("ier") as u8,
        interrupt_identification: g("iir") as u8,
        line_control: g("lcr") as u8,
        line_status: g("lsr") as u8,
        modem_control: g("mcr") as u8,
        modem_status: g("msr") as u8,
        scratch: g("scr") as u8,
        in_buffer: Bytes::default(),
    }
}

fn model_from(st: &Stream, ext: &StreamExt) -> Snapshot {
    let vcpus = vcpus_of(st)
        .into_iter()
        .map(|v| Vcpu::X86_64(Box::new(v)))
        .collect();
    let mut regions = Vec::new();
    let mut mem_len = 0;
    if let Some(r) = &st.ram {
        if let Some(i) = main_block(&r.blocks) {
            mem_len = r.blocks[i].length;
            let low = low_mem(st.machine.as_deref(), mem_len);
            regions.push(region(0, low, 0));
            if mem_len > low {
                regions.push(region(1 << 32, mem_len - low, low));
            }
        }
    }
    let mut devices = Vec::new();
    for s in st.sections.iter().filter(|s| s.name == "serial") {
        if let Some(d) = st.desc_of(s) {
            let mut dev = Device::new(format!("serial{}", s.instance), DeviceKind::Serial);
            dev.uart = Some(uart_of(&Fields::new(d, &s.payload)));
            devices.push(dev);
        }
    }
    let machine = st.machine.clone().unwrap_or_default();
    let mut extensions = BTreeMap::new();
    extensions.insert(
        EXT_STREAM.to_string(),
        Extension {
            layout: LAYOUT_ID.to_string(),
            value: serde_json::to_value(ext).unwrap_or_default(),
        },
    );
    Snapshot {
        provenance: Provenance {
            format: "qemu".into(),
            version: stream::VERSION.to_string(),
            layout: LAYOUT_ID.into(),
            encoding: "QEMU migration stream (big-endian VMState, vmdesc)".into(),
            arch: Arch::X86_64,
            releases: vec![format!("QEMU, machine {machine}")],
        },
        vm: VmInfo {
            mem_size_mib: Some(mem_len >> 20),
            ..Default::default()
        },
        memory: MemoryLayout {
            regions,
            page_size: PAGE_SIZE,
        },
        vcpus,
        platform: Platform::X86_64(Box::new(platform_of(st))),
        devices,
        extensions,
    }
}

fn region(guest_addr: u64, size: u64, file_offset: u64) -> MemoryRegion {
    MemoryRegion {
        guest_addr,
        size,
        file_offset,
        explicit_offset: false,
        kind: RegionKind::Dram,
        plugged: Vec::new(),
        read_only: false,
    }
}

/// The built-in template as an extension: QEMU 7.2's microvm stream without its user-mode
/// network backend (the command line says `-net none`), set to run on arrival.
fn template() -> Result<StreamExt, String> {
    let f = read(TEMPLATE.to_vec(), "(built-in template)").map_err(|e| e.to_string())?;
    let mut ext = f.extension()?;
    ext.sections.retain(|s| s.name != "slirp");
    let mut desc: serde_json::Value =
        serde_json::from_str(&ext.vmdesc).map_err(|e| e.to_string())?;
    if let Some(d) = desc.get_mut("devices").and_then(|d| d.as_array_mut()) {
        d.retain(|x| x.get("name").and_then(|n| n.as_str()) != Some("slirp"));
    }
    ext.vmdesc = vmdesc_text(&desc);
    Ok(ext)
}

/// JSON text in QEMU's own spacing (`", "` and `": "`).
fn vmdesc_text(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), vmdesc_text(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(vmdesc_text).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// Writes a model as a QEMU stream. `memory` is the guest RAM (required).
///
/// # Errors
/// When the model is not x86_64, has more vCPUs than the template can be cloned for, has no
/// memory, or memory in a layout QEMU's machine does not have.
pub fn from_model(
    m: &Snapshot,
    memory: Option<&dyn MemoryImage>,
) -> Result<(Vec<u8>, Vec<String>), String> {
    if m.arch() != Arch::X86_64 {
        return Err("a QEMU stream here holds an x86_64 VM; this snapshot is aarch64".into());
    }
    let mut notes = Vec::new();
    let own = m
        .extensions
        .get(EXT_STREAM)
        .map(|e| serde_json::from_value::<StreamExt>(e.value.clone()))
        .transpose()
        .map_err(|e| format!("extension {EXT_STREAM}: {e}"))?;
    let from_qemu = own.is_some();
    let mut ext = match own {
        Some(e) => e,
        None => {
            notes.push(format!(
                "devices the model does not hold (timer, fw_cfg, kvm-tpr-opt, IOAPICs, acpi-ged, PICs, PIT, serial port, firmware and ACPI blocks) are taken from {TEMPLATE_NAME}"
            ));
            template()?
        }
    };
    let mut desc: serde_json::Value =
        serde_json::from_str(&ext.vmdesc).map_err(|e| format!("vmdesc: {e}"))?;
    let mut desc_changed = false;
    let vcpus: Vec<&X86Vcpu> = m
        .vcpus
        .iter()
        .filter_map(|v| match v {
            Vcpu::X86_64(x) => Some(x.as_ref()),
            Vcpu::Aarch64(_) => None,
        })
        .collect();
    let have = ext.sections.iter().filter(|s| s.name == "cpu").count();
    if vcpus.is_empty() {
        return Err("the model has no vCPU".into());
    }
    if vcpus.len() < have {
        return Err(format!(
            "the model has {} vCPU(s), the stream it is written on {have}",
            vcpus.len()
        ));
    }
    if vcpus.len() > have {
        clone_vcpus(&mut ext, &mut desc, have, vcpus.len())?;
        desc_changed = true;
        notes.push(format!(
            "vCPU sections 1..{} are copies of vCPU 0's, with the model's state",
            vcpus.len()
        ));
    }
    // Per-vCPU sections: replaced from the model where the model differs from what they say.
    let descs = desc::parse_vmdesc(&vmdesc_text(&desc))?;
    for s in ext.sections.iter_mut() {
        let Some(d) = descs
            .iter()
            .find(|d| d.name == s.name && d.instance_id == s.instance)
        else {
            continue;
        };
        let Some(v) = vcpus.get(s.instance as usize) else {
            continue;
        };
        match s.name.as_str() {
            "cpu" => {
                let was = cpu::vcpu_from(&Fields::new(d, &s.payload.0), None);
                if !same_cpu(&was, v) {
                    cpu::patch_cpu(d, &mut s.payload.0, v);
                }
            }
            "apic" => {
                let was = cpu::vcpu_from(&Fields::new(d, &[]), Some(&Fields::new(d, &s.payload.0)));
                if was.lapic != v.lapic || was.sregs.apic_base != v.sregs.apic_base {
                    cpu::patch_apic(d, &mut s.payload.0, v);
                }
            }
            "cpu_common" => {
                let halted = u64::from(v.mp_state == Some(3));
                let f = Fields::new(d, &s.payload.0);
                if f.u("halted") != Some(halted) && v.mp_state.is_some() {
                    cpu::Patch::new(d, &mut s.payload.0).set("halted", halted);
                }
            }
            _ => {}
        }
    }
    // MSRs the stream cannot hold.
    for (i, v) in vcpus.iter().enumerate() {
        let lost: Vec<String> = v
            .msrs
            .iter()
            .filter(|x| !cpu::holds_msr(x.index) && x.value != 0)
            .map(|x| format!("{:#x}", x.index))
            .collect();
        if !lost.is_empty() {
            notes.push(format!(
                "vCPU {i}: MSRs with no place in QEMU's cpu section: {}",
                lost.join(", ")
            ));
        }
        if !v.cpuid.is_empty() {
            notes.push(format!(
                "vCPU {i}: CPUID is not part of a QEMU stream: QEMU presents what its -cpu option says"
            ));
        }
    }
    if let Platform::X86_64(p) = &m.platform {
        if let (Some(c), Some(s)) = (
            p.clock,
            ext.sections.iter_mut().find(|s| s.name == "kvmclock"),
        ) {
            if let Some(d) = descs.iter().find(|d| d.name == "kvmclock") {
                if Fields::new(d, &s.payload.0).u("clock") != Some(c.clock) {
                    cpu::Patch::new(d, &mut s.payload.0).set("clock", c.clock);
                }
            }
        }
    }
    if !from_qemu {
        set_runstate(&mut ext, &descs, "running");
        notes.push("the stream resumes the guest as soon as QEMU has loaded it".into());
    }
    let vmdesc = if desc_changed {
        vmdesc_text(&desc)
    } else {
        ext.vmdesc.clone()
    };
    let mem = memory.ok_or(
        "a QEMU stream holds the guest's memory: give the memory file (--mem)".to_string(),
    )?;
    let bytes = write_stream(&ext, &vmdesc, m, mem, &mut notes)?;
    Ok((bytes, notes))
}

fn same_cpu(a: &X86Vcpu, b: &X86Vcpu) -> bool {
    let msr = |v: &X86Vcpu| -> Vec<(u32, u64)> {
        let mut x: Vec<(u32, u64)> = v
            .msrs
            .iter()
            .filter(|m| cpu::holds_msr(m.index))
            .map(|m| (m.index, m.value))
            .collect();
        x.sort_unstable();
        x
    };
    a.regs == b.regs
        && a.sregs.cs == b.sregs.cs
        && a.sregs.ds == b.sregs.ds
        && a.sregs.es == b.sregs.es
        && a.sregs.fs == b.sregs.fs
        && a.sregs.gs == b.sregs.gs
        && a.sregs.ss == b.sregs.ss
        && a.sregs.tr == b.sregs.tr
        && a.sregs.ldt == b.sregs.ldt
        && a.sregs.gdt == b.sregs.gdt
        && a.sregs.idt == b.sregs.idt
        && (
            a.sregs.cr0,
            a.sregs.cr2,
            a.sregs.cr3,
            a.sregs.cr4,
            a.sregs.efer,
        ) == (
            b.sregs.cr0,
            b.sregs.cr2,
            b.sregs.cr3,
            b.sregs.cr4,
            b.sregs.efer,
        )
        && a.mp_state == b.mp_state
        && a.debug_regs == b.debug_regs
        && a.xcrs == b.xcrs
        && a.xsave == b.xsave
        && msr(a) == msr(b)
        && a.events == b.events
        && a.tsc_khz == b.tsc_khz
}

fn set_runstate(ext: &mut StreamExt, descs: &[DeviceDesc], state: &str) {
    let Some(s) = ext.sections.iter_mut().find(|s| s.name == "globalstate") else {
        return;
    };
    let Some(d) = descs.iter().find(|d| d.name == "globalstate") else {
        return;
    };
    let mut buf = [0u8; 100];
    buf[..state.len()].copy_from_slice(state.as_bytes());
    let mut p = cpu::Patch::new(d, &mut s.payload.0);
    if p.set_bytes("runstate", &buf) {
        p.set("size", state.len() as u64 + 1);
    }
}

/// Copies vCPU 0's `cpu_common`, `cpu` and `apic` sections (and their vmdesc entries) for
/// vCPUs `from..to`, then numbers every section again.
fn clone_vcpus(
    ext: &mut StreamExt,
    desc: &mut serde_json::Value,
    from: usize,
    to: usize,
) -> Result<(), String> {
    let names = ["cpu_common", "cpu", "apic"];
    let devs = desc
        .get_mut("devices")
        .and_then(|d| d.as_array_mut())
        .ok_or("vmdesc: no devices")?;
    for i in from..to {
        for name in names {
            let Some(pos) = ext
                .sections
                .iter()
                .rposition(|s| s.name == name && (s.instance as usize) < i)
            else {
                continue;
            };
            let mut s = ext
                .sections
                .iter()
                .find(|s| s.name == name && s.instance == 0)
                .cloned()
                .ok_or(format!("no {name} section to copy"))?;
            s.instance = i as u32;
            let mut d = devs
                .iter()
                .find(|d| {
                    d.get("name").and_then(|n| n.as_str()) == Some(name)
                        && d.get("instance_id").and_then(|n| n.as_u64()) == Some(0)
                })
                .cloned()
                .ok_or(format!("vmdesc: no {name} entry to copy"))?;
            d["instance_id"] = serde_json::json!(i);
            // The vmdesc lists device sections in stream order: insert after the same place.
            let before = ext.sections[..=pos].len();
            let dpos = devs
                .iter()
                .enumerate()
                .filter(|(_, d)| {
                    let n = d.get("name").and_then(|n| n.as_str()).unwrap_or("");
                    let inst = d.get("instance_id").and_then(|n| n.as_u64()).unwrap_or(0);
                    ext.sections[..before]
                        .iter()
                        .any(|s| s.name == n && u64::from(s.instance) == inst)
                })
                .map(|(k, _)| k)
                .max()
                .map_or(devs.len(), |k| k + 1);
            ext.sections.insert(pos + 1, s);
            devs.insert(dpos, d);
        }
    }
    // Section ids: RAM keeps its id, the others are numbered after it, in order.
    let ram_id = ext.ram.as_ref().map(|r| r.section_id);
    let mut next = 0u32;
    for s in ext.sections.iter_mut() {
        if Some(next) == ram_id {
            next += 1;
        }
        s.id = next;
        next += 1;
    }
    Ok(())
}

/// Page `p` of the guest RAM block, read through the model's regions from `mem`.
struct RamReader<'a> {
    mem: &'a dyn MemoryImage,
    /// (block offset, length, image offset) per region, in block order.
    map: Vec<(u64, u64, u64)>,
    extents: Vec<crate::memory::Extent>,
}

impl RamReader<'_> {
    /// The page's bytes, or `None` when it is a hole or all zeros.
    fn page(&self, block_off: u64, buf: &mut [u8]) -> Result<bool, String> {
        let Some(&(b, _, img)) = self
            .map
            .iter()
            .find(|&&(b, l, _)| block_off >= b && block_off < b + l)
        else {
            return Ok(false);
        };
        let at = img + (block_off - b);
        let i = self.extents.partition_point(|e| e.offset + e.len <= at);
        if self
            .extents
            .get(i)
            .is_none_or(|e| e.offset >= at + PAGE_SIZE)
        {
            return Ok(false);
        }
        let n = (self.mem.len().saturating_sub(at)).min(PAGE_SIZE) as usize;
        buf.fill(0);
        self.mem
            .read_at(at, &mut buf[..n])
            .map_err(|e| e.to_string())?;
        Ok(buf.iter().any(|&x| x != 0))
    }
}

fn write_stream(
    ext: &StreamExt,
    vmdesc: &str,
    m: &Snapshot,
    mem: &dyn MemoryImage,
    notes: &mut Vec<String>,
) -> Result<Vec<u8>, String> {
    let mut w = Writer::default();
    w.out.extend_from_slice(stream::MAGIC);
    w.u32(stream::VERSION);
    if let Some(machine) = &ext.machine {
        w.u8(stream::CONFIGURATION);
        w.u32(machine.len() as u32);
        w.out.extend_from_slice(machine.as_bytes());
        w.out.extend_from_slice(&ext.config_extra.0);
    }
    if let Some(r) = &ext.ram {
        // Guest RAM: the model's DRAM regions in guest-address order make the main block.
        let mut dram: Vec<&MemoryRegion> = m
            .memory
            .regions
            .iter()
            .filter(|r| r.kind == RegionKind::Dram)
            .collect();
        dram.sort_by_key(|r| r.guest_addr);
        let hot = m.memory.regions.len() - dram.len();
        if hot > 0 {
            notes.push(format!(
                "{hot} hotpluggable memory region(s) left out: the machine has no virtio-mem device here"
            ));
        }
        let total: u64 = dram.iter().map(|r| r.size).sum();
        let low = low_mem(ext.machine.as_deref(), total);
        let expect: Vec<(u64, u64)> = if total > low {
            vec![(0, low), (1 << 32, total - low)]
        } else {
            vec![(0, total)]
        };
        let have: Vec<(u64, u64)> = dram.iter().map(|r| (r.guest_addr, r.size)).collect();
        if have != expect {
            return Err(format!(
                "guest RAM at {have:x?} is not where machine {} puts {total} bytes ({expect:x?})",
                ext.machine.as_deref().unwrap_or("?")
            ));
        }
        if total % (1 << 20) != 0 {
            return Err(format!("guest RAM of {total} bytes is not whole MiB (-m)"));
        }
        let mut map = Vec::new();
        let mut off = 0;
        for r in &dram {
            map.push((off, r.size, r.file_offset));
            off += r.size;
        }
        let reader = RamReader {
            mem,
            map,
            extents: mem.extents().map_err(|e| e.to_string())?,
        };
        let main = r.main.clone();
        let blocks: Vec<(String, u64)> = r
            .blocks
            .iter()
            .map(|(n, l)| {
                if Some(n) == main.as_ref() {
                    (n.clone(), total)
                } else {
                    (n.clone(), *l)
                }
            })
            .collect();
        let footers = ext.footers;
        // START: the block list.
        w.u8(stream::SECTION_START);
        w.u32(r.section_id);
        w.name("ram");
        w.u32(r.instance);
        w.u32(r.version);
        let sum: u64 = blocks.iter().map(|b| b.1).sum();
        w.u64(sum | stream::RAM_MEM_SIZE);
        for (n, l) in &blocks {
            if n.len() > 255 {
                return Err(format!("ram block name {n:?} is longer than 255 bytes"));
            }
            w.name(n);
            w.u64(*l);
        }
        w.u64(stream::RAM_EOS);
        w.footer(footers, r.section_id);
        // Every page once, in block order; split into PART/END sections as the input was.
        let pages_total: u64 = blocks.iter().map(|b| b.1.div_ceil(PAGE_SIZE)).sum();
        let mut parts = if r.canonical && r.parts.iter().sum::<u64>() == pages_total {
            r.parts.clone()
        } else {
            vec![pages_total, 0]
        };
        if parts.len() < 2 {
            parts.push(0);
        }
        let mut iter = blocks
            .iter()
            .enumerate()
            .flat_map(|(bi, (_, l))| (0..l.div_ceil(PAGE_SIZE)).map(move |p| (bi, p)));
        let mut last: Option<usize> = None;
        let mut buf = vec![0u8; PAGE_SIZE as usize];
        let nparts = parts.len();
        for (k, n) in parts.into_iter().enumerate() {
            w.u8(if k + 1 == nparts {
                stream::SECTION_END
            } else {
                stream::SECTION_PART
            });
            w.u32(r.section_id);
            for _ in 0..n {
                let Some((bi, p)) = iter.next() else { break };
                let name = &blocks[bi].0;
                let data = if Some(name) == main.as_ref() {
                    reader.page(p * PAGE_SIZE, &mut buf)?
                } else {
                    match r.pages.get(name).and_then(|m| m.get(&p)) {
                        Some(b) if b.0.len() == PAGE_SIZE as usize => {
                            buf.copy_from_slice(&b.0);
                            buf.iter().any(|&x| x != 0)
                        }
                        _ => false,
                    }
                };
                let cont = last == Some(bi);
                let flags = if data {
                    stream::RAM_PAGE
                } else {
                    stream::RAM_ZERO
                } | if cont { stream::RAM_CONTINUE } else { 0 };
                w.u64((p * PAGE_SIZE) | flags);
                if !cont {
                    w.name(name);
                }
                if data {
                    w.out.extend_from_slice(&buf);
                } else {
                    w.u8(0);
                }
                last = Some(bi);
            }
            w.u64(stream::RAM_EOS);
            w.footer(footers, r.section_id);
        }
    }
    for s in &ext.sections {
        w.u8(s.kind);
        w.u32(s.id);
        w.name(&s.name);
        w.u32(s.instance);
        w.u32(s.version);
        w.out.extend_from_slice(&s.payload.0);
        w.footer(ext.footers, s.id);
    }
    w.u8(stream::EOF);
    w.u8(stream::VMDESCRIPTION);
    w.u32(vmdesc.len() as u32);
    w.out.extend_from_slice(vmdesc.as_bytes());
    Ok(w.out)
}

/// The QEMU command line that resumes `stream` (the bytes of a stream written to `out`): the
/// machine, CPU, memory and vCPU count it was written for, the serial port on standard output,
/// no monitor, and `-incoming` reading the file.
///
/// # Errors
/// When `stream` is not a readable QEMU stream.
pub fn command(stream_bytes: &[u8], out: &Path) -> Result<Vec<String>, String> {
    let f = read(stream_bytes.to_vec(), &out.display().to_string()).map_err(|e| e.to_string())?;
    let st = &f.stream;
    let machine = match st.machine.as_deref() {
        Some(m) if m.starts_with("pc-i440fx") => m.to_string(),
        Some(m) => m.to_string(),
        None => "pc".to_string(),
    };
    let mem = st
        .ram
        .as_ref()
        .and_then(|r| main_block(&r.blocks).map(|i| r.blocks[i].length >> 20))
        .unwrap_or(0);
    let smp = vcpu_instances(st).len().max(1);
    let path = out.display().to_string();
    let quoted = format!("'{}'", path.replace('\'', r"'\''"));
    let mut argv: Vec<String> = [
        "qemu-system-x86_64",
        "-accel",
        "kvm",
        "-machine",
        &machine,
        "-cpu",
        "host,arch-capabilities=off",
        "-m",
        &mem.to_string(),
        "-smp",
        &smp.to_string(),
        "-display",
        "none",
        "-serial",
        "stdio",
        "-monitor",
        "none",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if st.section("slirp", 0).is_none() {
        argv.extend(["-net".to_string(), "none".to_string()]);
    }
    argv.extend(["-incoming".to_string(), format!("exec:cat {quoted}")]);
    Ok(argv)
}

/// Checks a stream: it parses (every record, section and footer), its RAM blocks are listed
/// and guest RAM is found, and the vCPU sections are readable.
pub fn verify(path: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    let f = match read_path(path) {
        Ok(f) => f,
        Err(e) => {
            let mut x = Finding::error("decode", e);
            x.offset = None;
            out.push(x);
            return out;
        }
    };
    let st = &f.stream;
    match &st.ram {
        None => out.push(Finding::error("memory", "the stream has no ram section")),
        Some(r) => {
            if main_block(&r.blocks).is_none() {
                out.push(Finding::error(
                    "memory",
                    "no RAM block is guest RAM (pc.ram, microvm.ram, a memory backend)",
                ));
            }
            for (i, b) in r.blocks.iter().enumerate() {
                let sent = r.pages[i].len() as u64;
                let want = b.length.div_ceil(PAGE_SIZE);
                if sent < want {
                    out.push(Finding::warning(
                        "memory",
                        format!(
                            "block {}: {} of {want} pages sent; the rest keep what the destination has",
                            b.name, sent
                        ),
                    ));
                }
            }
        }
    }
    if vcpu_instances(st).is_empty() {
        out.push(Finding::error("vcpu", "the stream has no cpu section"));
    }
    if !st.footers {
        out.push(Finding::warning(
            "footer",
            "sections have no footers (send-section-footer off): boundaries rest on the vmdesc alone",
        ));
    }
    out
}

/// What `inspect` says of a stream: the machine and the sections.
pub fn describe(f: &QemuFile) -> String {
    format!(
        "QEMU migration stream (version {}), machine {}, {} device sections",
        stream::VERSION,
        f.stream.machine.as_deref().unwrap_or("(none recorded)"),
        f.stream.sections.len()
    )
}

#[cfg(test)]
mod tests;
