//! `inspect`: what a snapshot is and what is in it, as text or as JSON (the whole model).

use crate::envelope;
use crate::formats::firecracker::{self as fc, ReadError, ReadOptions};
use crate::model::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// Facts about the state file itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFacts {
    /// Path as given.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Stored CRC64 trailer, hex.
    pub crc64: String,
    /// Whether the trailer matches (`None` when not checked).
    pub crc_ok: Option<bool>,
    /// Envelope era.
    pub era: envelope::Era,
    /// Layout id.
    pub layout: String,
    /// Format version as stored.
    pub version: String,
    /// Releases that read this file (those writing its layout under a version that accepts the
    /// file's).
    pub releases: Vec<String>,
    /// Bytes between the state and the trailer.
    pub trailing_bytes: u64,
    /// For a file whose magic and version a squib state file shares (Firecracker 5.0.0): how
    /// the envelope tells the two apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

/// Facts about the memory file given beside the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryFacts {
    /// Path as given.
    pub path: String,
    /// Logical size in bytes.
    pub size: u64,
    /// Size the regions need.
    pub expected_size: u64,
    /// Whether the two agree.
    pub matches: bool,
}

/// Everything `inspect` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectReport {
    /// The state file.
    pub file: FileFacts,
    /// The memory file, when given.
    pub memory_file: Option<MemoryFacts>,
    /// The whole snapshot, as the neutral model.
    pub snapshot: Snapshot,
}

/// Reads a state file and builds the report.
///
/// # Errors
/// When the file cannot be read as any supported layout (with `check_crc`, also on a CRC
/// mismatch).
pub fn inspect(
    path: &str,
    bytes: &[u8],
    check_crc: bool,
    mem: Option<(&str, u64)>,
) -> Result<InspectReport, ReadError> {
    let f = fc::read_with(bytes, ReadOptions { check_crc })?;
    let crc_ok = if check_crc {
        Some(true)
    } else {
        Some(envelope::check_crc(bytes).is_ok())
    };
    let info = f.layout();
    let mut snapshot = f.to_model();
    snapshot.provenance.version = f.version_text.clone();
    let memory_file = mem.map(|(p, size)| {
        let expected_size = snapshot.memory.total_size();
        MemoryFacts {
            path: p.to_string(),
            size,
            expected_size,
            matches: size == expected_size,
        }
    });
    Ok(InspectReport {
        file: FileFacts {
            path: path.to_string(),
            size: bytes.len() as u64,
            crc64: format!("0x{:016x}", f.crc),
            crc_ok,
            era: f.header.era,
            layout: info.id.to_string(),
            version: f.version_text.clone(),
            releases: f.readers().iter().map(|s| s.to_string()).collect(),
            trailing_bytes: f.trailing as u64,
            family: crate::registry::family_note(bytes),
        },
        memory_file,
        snapshot,
    })
}

/// Human-readable size: `64 MiB`, `4 KiB`, `1234 bytes`.
pub fn human_size(n: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (u, shift) in UNITS {
        if n >= 1 << shift && n % (1 << shift) == 0 {
            return format!("{} {u}", n >> shift);
        }
    }
    format!("{n} bytes")
}

/// Renders the report as text.
pub fn render_text(r: &InspectReport) -> String {
    let mut o = String::new();
    let f = &r.file;
    let s = &r.snapshot;
    let crc = match f.crc_ok {
        Some(true) => "ok",
        Some(false) => "MISMATCH",
        None => "not checked",
    };
    let _ = writeln!(
        o,
        "file:      {} ({} bytes, crc64 {} {crc})",
        f.path, f.size, f.crc64
    );
    // A versionize-era file is written by one minor release and read by it and every later one
    // up to v1.6.
    let versionize = (f.era == envelope::Era::Versionize)
        .then(|| fc::Layout::parse(&f.layout))
        .flatten()
        .map(|l| l.info());
    match versionize {
        Some(info) => {
            let _ = writeln!(
                o,
                "format:    {} {} ({} era, layout {}, written by Firecracker {}, read by {})",
                s.provenance.format,
                f.version,
                f.era.name(),
                f.layout,
                info.releases.join(", "),
                f.releases.join(", ")
            );
        }
        None => {
            let _ = writeln!(
                o,
                "format:    {} {} ({} era, layout {}, read and written by Firecracker {})",
                s.provenance.format,
                f.version,
                f.era.name(),
                f.layout,
                f.releases.join(", ")
            );
        }
    }
    if let Some(fam) = &f.family {
        let _ = writeln!(o, "family:    {fam}");
    }
    if f.trailing_bytes > 0 {
        let _ = writeln!(o, "trailing:  {} bytes after the state", f.trailing_bytes);
    }
    render_body(&mut o, s, r.memory_file.as_ref());
    o
}

/// Renders what the model holds (arch, VM, memory, vCPUs, platform, devices), for snapshots
/// of any format.
pub fn render_model(s: &Snapshot) -> String {
    let mut o = String::new();
    render_body(&mut o, s, None);
    o
}

fn render_body(o: &mut String, s: &Snapshot, mem: Option<&MemoryFacts>) {
    let _ = writeln!(o, "arch:      {}", s.arch().name());
    render_vm(o, &s.vm);
    render_memory(o, s, mem);
    let _ = writeln!(o, "vcpus:     {}", s.vcpus.len());
    for (i, v) in s.vcpus.iter().enumerate() {
        render_vcpu(o, i, v);
    }
    render_platform(o, &s.platform);
    let _ = writeln!(o, "devices:   {}", s.devices.len());
    for d in &s.devices {
        render_device(o, d);
    }
    for line in fc::allocator_report(s) {
        let _ = writeln!(o, "{line}");
    }
    if !s.extensions.is_empty() {
        let keys: Vec<&str> = s.extensions.keys().map(String::as_str).collect();
        let _ = writeln!(o, "format-private: {}", keys.join(", "));
    }
}

fn render_vm(o: &mut String, vm: &VmInfo) {
    let mut parts = Vec::new();
    if let Some(m) = vm.mem_size_mib {
        parts.push(format!("{m} MiB"));
    }
    if let Some(smt) = vm.smt {
        parts.push(format!("smt {}", if smt { "on" } else { "off" }));
    }
    if let Some(t) = &vm.cpu_template {
        parts.push(format!("cpu template {t}"));
    }
    if let Some(h) = &vm.huge_pages {
        parts.push(format!("huge pages {h}"));
    }
    let _ = writeln!(o, "vm:        {}", parts.join(", "));
    if let Some(b) = &vm.boot_source {
        let _ = writeln!(
            o,
            "boot:      kernel {}{}{}",
            b.kernel_image_path,
            b.initrd_path
                .as_ref()
                .map(|p| format!(", initrd {p}"))
                .unwrap_or_default(),
            b.boot_args
                .as_ref()
                .map(|a| format!(", args {a:?}"))
                .unwrap_or_default()
        );
    }
    if !vm.kvm_cap_modifiers.is_empty() {
        let _ = writeln!(o, "kvm caps:  {:?}", vm.kvm_cap_modifiers);
    }
}

fn render_memory(o: &mut String, s: &Snapshot, mem: Option<&MemoryFacts>) {
    let m = &s.memory;
    let _ = writeln!(
        o,
        "memory:    {} region{}, {} total",
        m.regions.len(),
        if m.regions.len() == 1 { "" } else { "s" },
        human_size(m.total_size())
    );
    for (i, r) in m.regions.iter().enumerate() {
        let kind = match r.kind {
            RegionKind::Dram => "dram",
            RegionKind::Hotpluggable => "hotpluggable",
        };
        let _ = writeln!(
            o,
            "  [{i}] 0x{:016x}..0x{:016x}  {:>9}  {kind}  file offset 0x{:x}",
            r.guest_addr,
            r.guest_addr.saturating_add(r.size),
            human_size(r.size),
            r.file_offset
        );
    }
    if let Some(f) = mem {
        let verdict = if f.matches {
            "matches the regions".to_string()
        } else {
            format!("regions need {} bytes", f.expected_size)
        };
        let _ = writeln!(o, "memory file: {} ({} bytes; {verdict})", f.path, f.size);
    }
}

fn seg(s: &Segment) -> String {
    format!("{:#x}", s.selector)
}

fn render_vcpu(o: &mut String, i: usize, v: &Vcpu) {
    match v {
        Vcpu::X86_64(v) => {
            let r = &v.regs;
            let s = &v.sregs;
            let _ = writeln!(
                o,
                "  vcpu {i}: rip={:#018x} rsp={:#018x} rflags={:#x}",
                r.rip, r.rsp, r.rflags
            );
            let _ = writeln!(
                o,
                "           cr0={:#x} cr3={:#x} cr4={:#x} efer={:#x} cs={} ss={}",
                s.cr0,
                s.cr3,
                s.cr4,
                s.efer,
                seg(&s.cs),
                seg(&s.ss)
            );
            let _ = writeln!(
                o,
                "           mp_state={} tsc_khz={} msrs={} cpuid={} xsave={}",
                v.mp_state
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "-".into()),
                v.tsc_khz
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "-".into()),
                v.msrs.len(),
                v.cpuid.len(),
                v.xsave
                    .as_ref()
                    .map(|x| format!("{} bytes", x.region.len() + 4 * x.extra.len()))
                    .unwrap_or_else(|| "-".into())
            );
        }
        Vcpu::Aarch64(v) => {
            // KVM's register list, or the one derived from named core and system registers.
            let regs = v.kvm_regs();
            let reg = |id: u64| {
                regs.iter()
                    .find(|r| r.id == id)
                    .and_then(|r| r.value.0.get(..8))
                    .map(|b| format!("{:#x}", u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))))
                    .unwrap_or_else(|| "-".into())
            };
            // KVM core register ids: regs.sp = offset 31, pc = 32, pstate = 33 (u64 units).
            let core = |off: u64| 0x6030_0000_0010_0000u64 | (off * 2);
            let sp = match &v.core {
                Some(c) if v.regs.is_empty() => format!("{:#x}", c.sp),
                _ => reg(core(31)),
            };
            let _ = writeln!(
                o,
                "  vcpu {i}: pc={} sp={sp} pstate={} mpidr={} registers={}",
                reg(core(32)),
                reg(core(33)),
                v.mpidr
                    .map(|m| format!("{m:#x}"))
                    .unwrap_or_else(|| "-".into()),
                regs.len()
            );
        }
    }
}

fn render_platform(o: &mut String, p: &Platform) {
    match p {
        Platform::X86_64(p) => {
            let mut parts = Vec::new();
            if let Some(c) = &p.clock {
                parts.push(format!("kvmclock {} ns", c.clock));
            }
            if let Some(pit) = &p.pit {
                let modes: Vec<String> = pit.channels.iter().map(|c| c.mode.to_string()).collect();
                parts.push(format!("pit modes [{}]", modes.join(",")));
            }
            if let (Some(m), Some(s)) = (&p.pic_master, &p.pic_slave) {
                parts.push(format!("pic imr {:#04x}/{:#04x}", m.imr, s.imr));
            }
            if let Some(a) = &p.ioapic {
                parts.push(format!("ioapic at {:#x}", a.base_address));
            }
            let _ = writeln!(o, "platform:  {}", parts.join(", "));
        }
        Platform::Aarch64(p) => {
            let gic = p
                .gic
                .as_ref()
                .map(|g| {
                    format!(
                        "gic: {} dist groups, {} vcpus{}",
                        g.dist.len(),
                        g.vcpus.len(),
                        if g.its.is_some() { ", its" } else { "" }
                    )
                })
                .unwrap_or_else(|| "no gic state".into());
            let _ = writeln!(o, "platform:  {gic}");
        }
    }
}

/// A configuration value as `inspect` prints it (rate limiters as `bandwidth 1048576/100ms`).
fn field_text(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(field_text).collect::<Vec<_>>().join("+"),
        Value::Object(m) => m
            .iter()
            .map(|(k, b)| {
                let n = |f: &str| b.get(f).and_then(Value::as_u64).unwrap_or(0);
                format!("{k} {}/{}ms", n("size"), n("refill_time"))
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

fn render_device(o: &mut String, d: &Device) {
    let t = match d.transport {
        Some(Transport::Mmio { addr, len, irq }) => format!(
            "mmio {addr:#x}+{len:#x}{}",
            irq.map(|i| format!(" irq {i}")).unwrap_or_default()
        ),
        Some(Transport::Pci { sbdf }) => format!("pci {sbdf:#010x}"),
        Some(Transport::Port { base, irq }) => format!(
            "port {base:#x}{}",
            irq.map(|i| format!(" irq {i}")).unwrap_or_default()
        ),
        Some(Transport::Address { addr, irq }) => format!(
            "addr {addr:#x}{}",
            irq.map(|i| format!(" gsi {i}")).unwrap_or_default()
        ),
        None => "-".into(),
    };
    let mut extra = Vec::new();
    if let Some(v) = &d.virtio {
        extra.push(format!(
            "virtio type {} {} queues{}",
            v.device_type,
            v.queues.len(),
            if v.activated { " activated" } else { "" }
        ));
    }
    for (k, v) in &d.host {
        extra.push(format!("{k}={v}"));
    }
    if let Some(c) = &d.config {
        extra.extend(
            c.fields()
                .iter()
                .map(|(k, v)| format!("{k}={}", field_text(v))),
        );
    }
    if let Some(u) = &d.uart {
        extra.push(format!(
            "lcr {:#x} lsr {:#x} ier {:#x}",
            u.line_control, u.line_status, u.interrupt_enable
        ));
    }
    let _ = writeln!(
        o,
        "  {:<10} {:<12} {t}  {}",
        d.kind.name(),
        d.id,
        extra.join(", ")
    );
}
