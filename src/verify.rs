//! `verify`: every finding about a state file, not just the first.
//!
//! The envelope stages run in their order of trust (size → magic → version → CRC), but a failed
//! stage does not end the run when later stages can still say something: a CRC mismatch is
//! reported and the state is decoded anyway, so a user learns both that the file was modified and
//! where it no longer parses. Model checks apply to every format through the neutral model.

use crate::envelope::{self, EnvelopeError, Era};
use crate::formats::firecracker::{self as fc, ReadError, checks};
use crate::model::*;
use serde::Serialize;

pub use crate::report::{Finding, Severity};

/// The memory file given beside the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemFile {
    /// Path as given.
    pub path: String,
    /// Logical size in bytes.
    pub size: u64,
}

impl Report {
    /// The closing line of the text report: `clean (layout, arch)` or `N errors, M warnings`.
    pub fn summary(&self) -> String {
        if self.clean {
            let what = [self.layout.as_deref(), self.arch.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            return format!("clean ({what})");
        }
        let count = |sev| self.findings.iter().filter(|f| f.severity == sev).count();
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        format!(
            "{}, {}",
            plural(count(Severity::Error), "error"),
            plural(count(Severity::Warning), "warning")
        )
    }
}

/// The verdict on one state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The state file.
    pub file: String,
    /// The layout the file was read as, when it decoded (e.g. `firecracker-10.0.0`).
    pub layout: Option<String>,
    /// The guest architecture, when the magic named one.
    pub arch: Option<String>,
    /// True when there are no findings.
    pub clean: bool,
    /// Every finding, in check order.
    pub findings: Vec<Finding>,
}

/// Verifies a state file's bytes. Never fails: problems are findings.
pub fn verify_state(file: &str, bytes: &[u8], mem: Option<&MemFile>) -> Report {
    let mut findings = Vec::new();
    let model = envelope_and_decode(bytes, &mut findings);
    if let Some(model) = &model {
        findings.extend(model_checks(model));
        if let Some(mem) = mem {
            findings.extend(memory_file_checks(model, mem));
        }
    }
    let arch = envelope::sniff(bytes)
        .ok()
        .map(|h| h.arch.name().to_string());
    Report {
        file: file.to_string(),
        layout: model.map(|m| m.provenance.layout),
        arch,
        clean: findings.is_empty(),
        findings,
    }
}

fn envelope_finding(e: &EnvelopeError) -> Finding {
    match e {
        EnvelopeError::TooShort { .. } => Finding::error("too_short", e.to_string()),
        EnvelopeError::TooLarge { .. } => Finding::error("over_cap", e.to_string()),
        EnvelopeError::BadMagic { .. } => Finding::error("bad_magic", e.to_string()).at(0),
        EnvelopeError::BadVersion { offset, .. } => {
            Finding::error("bad_version", e.to_string()).at(*offset as u64)
        }
        EnvelopeError::CrcMismatch { offset, .. } => Finding::error("crc_mismatch", e.to_string())
            .at(*offset as u64)
            .path("crc64"),
    }
}

/// Envelope stages and decode; returns the model when the state decodes.
fn envelope_and_decode(bytes: &[u8], out: &mut Vec<Finding>) -> Option<Snapshot> {
    let header = match envelope::sniff(bytes) {
        Ok(h) => h,
        Err(e) => {
            out.push(envelope_finding(&e));
            return None;
        }
    };
    let info = match fc::layout_for(&header) {
        Ok(i) => i,
        Err(e) => {
            let off = if header.era == Era::Bitcode { 10 } else { 16 };
            out.push(decode_finding(&e).at(off));
            if let Err(e) = envelope::check_crc(bytes) {
                out.push(envelope_finding(&e));
            }
            return None;
        }
    };
    if let Err(e) = envelope::check_crc(bytes) {
        out.push(envelope_finding(&e));
    }
    if header.era == Era::Bitcode && bytes.len() as u64 > envelope::SIZE_LIMIT_BITCODE {
        out.push(Finding::error(
            "over_cap",
            format!(
                "{} bytes, over the {}-byte cap of {} readers",
                bytes.len(),
                envelope::SIZE_LIMIT_BITCODE,
                info.releases.join(", ")
            ),
        ));
    }
    let file = match fc::read_with(bytes, fc::ReadOptions { check_crc: false }) {
        Ok(f) => f,
        Err(e) => {
            out.push(decode_finding(&e));
            return None;
        }
    };
    if file.trailing > 0 {
        let at = bytes.len() - envelope::CRC_LEN - file.trailing;
        out.push(
            Finding::warning(
                "trailing_bytes",
                format!(
                    "{} bytes follow the state before the CRC trailer (expected none; Firecracker ignores them)",
                    file.trailing
                ),
            )
            .at(at as u64),
        );
    } else {
        let body = &bytes[..bytes.len() - envelope::CRC_LEN];
        match fc::write(&file) {
            Ok(again) if again.get(..body.len()) == Some(body) && again.len() == bytes.len() => {}
            Ok(_) => out.push(Finding::warning(
                "not_canonical",
                "re-encoding the decoded state does not reproduce the file: some value is stored in a \
                 non-canonical form",
            )),
            Err(e) => out.push(Finding::error("not_canonical", format!("re-encoding failed: {e}"))),
        }
    }
    for f in checks::layout_checks(&file.state) {
        let f = if f.code == "blob_size" {
            Finding::warning(f.code, f.message)
        } else {
            Finding::error(f.code, f.message)
        }
        .path(f.path);
        out.push(f);
    }
    Some(file.to_model())
}

fn decode_finding(e: &ReadError) -> Finding {
    match e {
        ReadError::Envelope(e) => envelope_finding(e),
        ReadError::Versionize(_) => Finding::error("versionize_era", e.to_string()).at(8),
        ReadError::UnsupportedVersion { offset, .. } => {
            Finding::error("unsupported_version", e.to_string()).at(*offset as u64)
        }
        ReadError::Decode { hint, detail, .. } => {
            let code = if hint.is_empty() {
                "decode_error"
            } else {
                "arch_mismatch"
            };
            let mut f = Finding::error(code, e.to_string());
            f.offset = detail.offset.map(|o| o as u64);
            f.path = detail.path.clone();
            f
        }
    }
}

fn is_pow2(v: u16) -> bool {
    v != 0 && v & (v - 1) == 0
}

/// Checks any snapshot through the model: memory geometry, vCPU count, virtqueues.
pub fn model_checks(m: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    memory_checks(m, &mut out);
    let n = m.vcpus.len();
    if !(1..=32).contains(&n) {
        out.push(
            Finding::error("vcpu_count", format!("{n} vCPUs; expected 1 to 32")).path("vcpus"),
        );
    }
    for (i, v) in m.vcpus.iter().enumerate() {
        let ok = matches!(
            (v, m.arch()),
            (Vcpu::X86_64(_), Arch::X86_64) | (Vcpu::Aarch64(_), Arch::Aarch64)
        );
        if !ok {
            out.push(
                Finding::error(
                    "vcpu_count",
                    format!("vCPU state is not {}", m.arch().name()),
                )
                .path(format!("vcpus[{i}]")),
            );
        }
    }
    for d in &m.devices {
        virtio_checks(d, &mut out);
    }
    out
}

fn memory_checks(m: &Snapshot, out: &mut Vec<Finding>) {
    let regions = &m.memory.regions;
    if regions.is_empty() {
        out.push(
            Finding::error(
                "no_memory_region",
                "no memory regions; expected at least one",
            )
            .path("memory.regions"),
        );
        return;
    }
    if !regions.iter().any(|r| r.kind == RegionKind::Dram) {
        out.push(
            Finding::error("no_dram_region", "no DRAM region; expected at least one")
                .path("memory.regions"),
        );
    }
    let page = m.memory.page_size.max(1);
    for (i, r) in regions.iter().enumerate() {
        let p = format!("memory.regions[{i}]");
        if r.size == 0 {
            out.push(Finding::error("region_empty", "region of size 0").path(&p));
        }
        if r.guest_addr % page != 0 || r.size % page != 0 {
            out.push(
                Finding::error(
                    "region_unaligned",
                    format!(
                        "region 0x{:x}+0x{:x} is not aligned to the {page}-byte page",
                        r.guest_addr, r.size
                    ),
                )
                .path(&p),
            );
        }
        if r.guest_addr.checked_add(r.size).is_none() {
            out.push(
                Finding::error(
                    "region_unaligned",
                    "region runs past the end of the address space",
                )
                .path(&p),
            );
        }
        if r.kind == RegionKind::Dram && !r.plugged.is_empty() && r.plugged != [true] {
            out.push(
                Finding::error(
                    "dram_plug",
                    format!(
                        "DRAM region has plug slots {:?}; expected exactly one, plugged",
                        r.plugged
                    ),
                )
                .path(format!("{p}.plugged")),
            );
        }
        for (j, o) in regions.iter().enumerate().skip(i + 1) {
            let overlap = r.guest_addr < o.guest_addr.saturating_add(o.size)
                && o.guest_addr < r.guest_addr.saturating_add(r.size);
            if overlap {
                out.push(Finding::error("region_overlap", format!("overlaps region {j}")).path(&p));
            }
        }
    }
    if let Some(mib) = m.vm.mem_size_mib {
        let dram: u64 = regions
            .iter()
            .filter(|r| r.kind == RegionKind::Dram)
            .fold(0u64, |a, r| a.saturating_add(r.size));
        if dram != mib.saturating_mul(1 << 20) {
            out.push(
                Finding::warning(
                    "mem_size_mib",
                    format!(
                        "mem_size_mib = {mib} ({} bytes), but DRAM regions total {dram} bytes",
                        mib << 20
                    ),
                )
                .path("vm.mem_size_mib"),
            );
        }
    }
}

fn virtio_checks(d: &Device, out: &mut Vec<Finding>) {
    let Some(v) = &d.virtio else { return };
    for (i, q) in v.queues.iter().enumerate() {
        if !q.ready {
            continue;
        }
        let p = format!("devices[{}].virtio.queues[{i}]", d.id);
        if !is_pow2(q.size) || q.size > q.max_size {
            out.push(
                Finding::error(
                    "queue_size",
                    format!(
                        "size {} is not a power of two ≤ max_size {}",
                        q.size, q.max_size
                    ),
                )
                .path(&p),
            );
        }
        for (name, addr, align) in [
            ("desc_table", q.desc_table, 16),
            ("avail_ring", q.avail_ring, 2),
            ("used_ring", q.used_ring, 4),
        ] {
            if addr % align != 0 {
                out.push(
                    Finding::error(
                        "queue_align",
                        format!("{name} 0x{addr:x} is not {align}-byte aligned"),
                    )
                    .path(format!("{p}.{name}")),
                );
            }
        }
    }
}

/// Checks the memory file against the regions.
pub fn memory_file_checks(m: &Snapshot, mem: &MemFile) -> Vec<Finding> {
    let want = m.memory.total_size();
    if mem.size == want {
        return Vec::new();
    }
    let rel = if mem.size < want {
        "too short: restore would refuse it"
    } else {
        "longer than the regions"
    };
    vec![
        Finding::error(
            "mem_file_size",
            format!(
                "{} is {} bytes; the regions need {want} ({rel})",
                mem.path, mem.size
            ),
        )
        .path("memory"),
    ]
}
