//! Golden output of `inspect` (text and JSON) over every real fixture.

use crate::{real_states, rel};
use snaptool::inspect::{InspectReport, inspect, render_text};

fn report(p: &std::path::Path) -> InspectReport {
    let bytes = std::fs::read(p).unwrap();
    inspect(&rel(p), &bytes, true, None).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn slug(p: &std::path::Path) -> String {
    rel(p)
        .trim_start_matches("fixtures/")
        .replace(['/', '.'], "_")
}

#[test]
fn inspect_text_golden() {
    for p in real_states() {
        insta::assert_snapshot!(
            format!("inspect_text__{}", slug(&p)),
            render_text(&report(&p))
        );
    }
}

#[test]
fn inspect_json_golden() {
    for p in real_states() {
        insta::assert_json_snapshot!(format!("inspect_json__{}", slug(&p)), report(&p));
    }
}

/// The JSON form carries the whole model and parses back into it.
#[test]
fn inspect_json_parses_back() {
    for p in real_states() {
        let r = report(&p);
        let j = serde_json::to_string(&r).unwrap();
        let back: InspectReport = serde_json::from_str(&j).unwrap();
        assert_eq!(back, r, "{}", p.display());
    }
}

/// The registers `inspect` shows are the ones Firecracker's own dump shows.
#[test]
fn registers_match_firecrackers_dump() {
    for p in real_states() {
        // A release without snapshot-editor (v1.4.1) has the dump of a newer one that reads it.
        let reference = p.parent().unwrap().join("reference");
        let name = p.file_name().unwrap().to_string_lossy();
        let own = reference.join(format!("{name}.info-vmstate-vcpu-states.txt"));
        let via = reference.join(format!(
            "{name}.info-vmstate-vcpu-states.via-1.6.0-snapshot-editor.txt"
        ));
        let dump = std::fs::read_to_string(if own.exists() { own } else { via }).unwrap();
        let field = |name: &str| -> u64 {
            dump.lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
                .and_then(|v| v.trim_end_matches(',').parse().ok())
                .unwrap_or_else(|| panic!("{name} not in the dump of {}", p.display()))
        };
        let r = report(&p);
        let snaptool::model::Vcpu::X86_64(v) = &r.snapshot.vcpus[0] else {
            panic!()
        };
        assert_eq!(v.regs.rip, field("rip"), "{}", p.display());
        assert_eq!(v.regs.rsp, field("rsp"), "{}", p.display());
        assert_eq!(v.regs.rflags, field("rflags"), "{}", p.display());
        assert_eq!(v.sregs.cr3, field("cr3"), "{}", p.display());
        assert_eq!(v.sregs.cr0, field("cr0"), "{}", p.display());
        assert_eq!(v.sregs.efer, field("efer"), "{}", p.display());
        assert_eq!(r.snapshot.vcpus.len(), 1);
        // The device fixtures add a virtio-mem hotplug region after boot memory.
        let regions = if rel(&p).contains("devices") { 2 } else { 1 };
        assert_eq!(r.snapshot.memory.regions.len(), regions);
        assert_eq!(r.snapshot.memory.regions[0].guest_addr, 0);
        assert_eq!(r.snapshot.memory.regions[0].size, 64 << 20);
    }
}

/// Every integer in `text` that stands alone (not part of an identifier such as `cr0` or
/// `bindgen_ty_1`), in order.
fn ints(text: &str) -> Vec<i128> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let word_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let neg = b[i] == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit);
        if !word_before && (b[i].is_ascii_digit() || neg) {
            let start = i;
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push(text[start..i].parse().unwrap());
        } else {
            i += 1;
        }
    }
    out
}

/// `text` from the first `from` up to the first `to` after it.
fn section<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
    let a = text.find(from).unwrap_or_else(|| panic!("{from} missing"));
    let b = text[a..].find(to).map_or(text.len(), |b| a + b);
    &text[a..b]
}

/// Format 1.0.0 stores KVM structures field by field: every value snaptool decodes is the value
/// Firecracker v1.7.0's own `snapshot-editor info-vmstate` printed (Rust `Debug` of the same
/// field-wise structures; `kvm_irqchip` unions print as `"?"` there and are not compared).
#[test]
fn v1_kvm_structures_match_firecrackers_dump() {
    use snaptool::formats::firecracker::{self as fc, State};
    for name in ["vmstate", "vmstate.diff"] {
        let dir = crate::root().join("fixtures/firecracker-1.7.0/counter-1vcpu");
        let f = fc::read(&std::fs::read(dir.join(name)).unwrap()).unwrap();
        let State::V1X86(s) = &f.state else {
            panic!("{name}: not a 1.0.0 x86_64 state")
        };
        let read = |suffix: &str| {
            std::fs::read_to_string(dir.join(format!("reference/{name}.info-vmstate-{suffix}.txt")))
                .unwrap()
        };
        let (vcpus, vm) = (read("vcpu-states"), read("vm-state"));
        let c = &s.vcpu_states[0];
        // FamStructWrapper prints its buffer as header-sized units: (u32, u32) pairs.
        let mut cpuid = vec![c.cpuid.0.nent, c.cpuid.0.padding];
        for e in &c.cpuid.1 {
            cpuid.extend([e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx]);
            cpuid.extend(e.padding);
        }
        let cpuid: Vec<i128> = cpuid.into_iter().map(i128::from).collect();
        assert_eq!(
            ints(section(&vcpus, "cpuid:", "saved_msrs:")),
            cpuid,
            "{name}"
        );
        let mut msrs = Vec::new();
        for (h, es) in &c.saved_msrs {
            msrs.extend([h.nmsrs, h.pad]);
            for e in es {
                msrs.extend([e.index, e.reserved, e.data as u32, (e.data >> 32) as u32]);
            }
        }
        // Firecracker's dump lists these (u32, u32) units sorted: compare them as a multiset.
        let mut msrs: Vec<(i128, i128)> = msrs
            .chunks(2)
            .map(|p| (i128::from(p[0]), i128::from(p[1])))
            .collect();
        msrs.sort_unstable();
        let dumped = ints(section(&vcpus, "saved_msrs:", "debug_regs:"));
        let dumped: Vec<(i128, i128)> = dumped.chunks(2).map(|p| (p[0], p[1])).collect();
        assert!(
            dumped.is_sorted(),
            "{name}: the dump's MSR units are sorted"
        );
        assert_eq!(dumped, msrs, "{name}");
        let ours = format!("{c:#?}");
        let theirs = section(&vcpus, "debug_regs:", "\u{0}");
        assert!(
            ints(theirs).len() > 2000,
            "{name}: lapic, xsave, ... compared"
        );
        assert_eq!(
            ints(theirs),
            ints(section(&ours, "debug_regs:", "\u{0}")),
            "{name}"
        );
        let ours = format!("{s:#?}");
        for (from, to) in [
            ("vm_info:", "vm_state:"),
            ("pitstate:", "pic_master:"),
            ("device_states:", "\u{0}"),
        ] {
            assert_eq!(
                ints(section(&vm, from, to)),
                ints(section(&ours, from, to)),
                "{name}: {from}"
            );
        }
    }
}
