//! Read → write is byte-identical for every real fixture, both directly through the layout's
//! types and through the neutral model.

use snaptool::formats::firecracker as fc;
use std::path::PathBuf;

/// Every real vmstate file under fixtures/.
pub fn real_states() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = glob_states(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures"));
    v.sort();
    v
}

fn glob_states(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() && p.file_name().is_some_and(|n| n != "malformed") {
            out.extend(glob_states(&p));
        } else if matches!(p.file_name().and_then(|n| n.to_str()), Some("vmstate" | "vmstate.diff")) {
            out.push(p);
        }
    }
    out
}

#[test]
fn fixtures_exist() {
    assert!(real_states().len() >= 6, "{:?}", real_states());
}

#[test]
fn read_write_is_byte_identical() {
    for p in real_states() {
        let bytes = std::fs::read(&p).unwrap();
        let f = fc::read(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let out = fc::write(&f).unwrap();
        assert!(out == bytes, "{}: re-encoded bytes differ", p.display());
    }
}

#[test]
fn read_model_write_is_byte_identical() {
    for p in real_states() {
        let bytes = std::fs::read(&p).unwrap();
        let f = fc::read(&bytes).unwrap();
        let m = f.to_model();
        let back = fc::from_model(&m, f.state.layout()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(back.state, f.state, "{}: state differs after the model", p.display());
        assert!(fc::write(&back).unwrap() == bytes, "{}: bytes differ after the model", p.display());
        // and the model survives JSON
        let j = serde_json::to_string(&m).unwrap();
        let m2: snaptool::model::Snapshot = serde_json::from_str(&j).unwrap();
        assert_eq!(m2, m, "{}: model differs after JSON", p.display());
    }
}
