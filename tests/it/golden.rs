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
        let dump_name = format!(
            "{}.info-vmstate-vcpu-states.txt",
            p.file_name().unwrap().to_string_lossy()
        );
        let dump =
            std::fs::read_to_string(p.parent().unwrap().join("reference").join(dump_name)).unwrap();
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
        assert_eq!(r.snapshot.memory.regions.len(), 1);
        assert_eq!(r.snapshot.memory.regions[0].guest_addr, 0);
        assert_eq!(r.snapshot.memory.regions[0].size, 64 << 20);
    }
}
