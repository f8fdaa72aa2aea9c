//! Conversion matrix: every real fixture to every layout snaptool writes and back, through the
//! model. Upgrades must be lossless and come back byte-identical; a refused conversion must be a
//! downgrade, say why, and succeed with `allow_lossy`. Also `diff` and `decode`/`encode`.

use crate::{real_states, rel, root};
use snaptool::convert::{self, ConvertError, Target};
use snaptool::formats::firecracker::{self as fc, LAYOUTS};
use std::process::Command;

fn rank(id: &str) -> usize {
    LAYOUTS.iter().position(|l| l.id == id).unwrap()
}

#[test]
fn every_fixture_converts_to_every_layout_and_back() {
    let mut lossless = 0;
    for p in real_states() {
        let bytes = std::fs::read(&p).unwrap();
        let src = fc::read(&bytes).unwrap();
        let from = src.state.layout();
        for l in LAYOUTS {
            let name = format!("{} -> {}", rel(&p), l.id);
            match convert::convert_firecracker(&bytes, Target::Firecracker(l.layout), false) {
                Ok((out, report)) => {
                    assert!(report.lossless, "{name}");
                    let r = snaptool::verify::verify_state(&name, &out, None);
                    assert!(r.clean, "{name}: {:?}", r.findings);
                    let (back, _) =
                        convert::convert_firecracker(&out, Target::Firecracker(from), true)
                            .unwrap_or_else(|e| panic!("{name} and back: {e}"));
                    assert!(back == bytes, "{name} and back: bytes differ");
                    lossless += 1;
                }
                Err(ConvertError::Lossy(report)) => {
                    assert!(
                        rank(l.id) < rank(from.info().id),
                        "{name}: an upgrade was refused: {}",
                        report.render()
                    );
                    assert!(!report.lost.is_empty(), "{name}: refused without a reason");
                    let (out, _) =
                        convert::convert_firecracker(&bytes, Target::Firecracker(l.layout), true)
                            .unwrap_or_else(|e| panic!("{name} with allow_lossy: {e}"));
                    assert!(fc::read(&out).is_ok(), "{name}: lossy output unreadable");
                }
                // A downgrade the older layout cannot express at all (e.g. a hotplug memory
                // region before v1.14) is refused with the reason, even when lossy.
                Err(e) if rank(l.id) < rank(from.info().id) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains("has no") || msg.contains("cannot hold"),
                        "{name}: {msg}"
                    );
                }
                Err(e) => panic!("{name}: {e}"),
            }
        }
    }
    assert!(
        lossless >= real_states().len(),
        "{lossless} lossless conversions"
    );
}

#[test]
fn targets_parse_by_release_and_refuse_ambiguous_versions() {
    for t in [
        "firecracker@1.12",
        "firecracker@v1.12.1",
        "1.12",
        "firecracker-6.0.0",
    ] {
        assert_eq!(
            convert::parse_target(t).unwrap().id(),
            "firecracker-6.0.0",
            "{t}"
        );
    }
    assert_eq!(
        convert::parse_target("firecracker@1.16").unwrap().id(),
        "firecracker-10.0.0"
    );
    assert!(convert::parse_target("firecracker@0.9").is_err());
    let dup: Vec<_> = LAYOUTS
        .iter()
        .filter(|l| LAYOUTS.iter().filter(|m| m.version == l.version).count() > 1)
        .collect();
    for l in dup {
        let e = convert::parse_target(&format!("firecracker@{}", l.version)).unwrap_err();
        assert!(e.contains("pick one by release"), "{e}");
    }
}

fn snaptool(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_snaptool"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

#[test]
fn decode_encode_is_byte_exact_and_edits_take_effect() {
    let dir = tempfile::tempdir().unwrap();
    for p in real_states() {
        let j = dir.path().join("s.json");
        let out = dir.path().join("re");
        let o = snaptool(&["decode", p.to_str().unwrap(), "-o", j.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}: {o:?}", rel(&p));
        let o = snaptool(&["encode", j.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}: {o:?}", rel(&p));
        assert!(
            std::fs::read(&out).unwrap() == std::fs::read(&p).unwrap(),
            "{}: decode -> encode is not byte-identical",
            rel(&p)
        );
    }
    // an edited register is written, and `diff` names it
    let p = root().join("fixtures/firecracker-1.16.1/counter-1vcpu/vmstate");
    let j = dir.path().join("e.json");
    snaptool(&["decode", p.to_str().unwrap(), "-o", j.to_str().unwrap()]);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&j).unwrap()).unwrap();
    v["vcpus"][0]["regs"]["r9"] = serde_json::json!(12345);
    std::fs::write(&j, serde_json::to_vec(&v).unwrap()).unwrap();
    let out = dir.path().join("edited");
    let o = snaptool(&["encode", j.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let o = snaptool(&["diff", p.to_str().unwrap(), out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("vcpu[0].regs.r9: "), "{text}");
    assert!(text.contains("-> 12345"), "{text}");
    // a JSON error names the path
    v["vcpus"][0]["regs"]["r9"] = serde_json::json!("twelve");
    std::fs::write(&j, serde_json::to_vec(&v).unwrap()).unwrap();
    let o = snaptool(&["encode", j.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("vcpus[0]") && err.contains("\"twelve\""),
        "{err}"
    );
}

#[test]
fn diff_of_full_and_diff_states_names_the_changed_registers() {
    for p in real_states()
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "vmstate"))
    {
        let d = p.with_file_name("vmstate.diff");
        let o = snaptool(&["diff", p.to_str().unwrap(), p.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0));
        assert!(o.stdout.is_empty());
        let o = snaptool(&["diff", p.to_str().unwrap(), d.to_str().unwrap(), "--json"]);
        assert_eq!(o.status.code(), Some(1), "{}", rel(&p));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let paths: Vec<&str> = j["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["path"].as_str().unwrap())
            .collect();
        assert!(paths.contains(&"vcpu[0].regs.r8"), "{}: {paths:?}", rel(&p));
        assert!(
            paths.iter().all(|p| !p.starts_with("provenance")),
            "{paths:?}"
        );
    }
}
