//! Read → write is byte-identical for every real fixture, both directly through the layout's
//! types and through the neutral model (and the model's JSON form).

use crate::real_states;
use snaptool::formats::firecracker as fc;

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
        let back =
            fc::from_model(&m, f.state.layout()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(
            back.state,
            f.state,
            "{}: state differs after the model",
            p.display()
        );
        assert!(
            fc::write(&back).unwrap() == bytes,
            "{}: bytes differ after the model",
            p.display()
        );
        let j = serde_json::to_string(&m).unwrap();
        let m2: snaptool::model::Snapshot = serde_json::from_str(&j).unwrap();
        assert_eq!(m2, m, "{}: model differs after JSON", p.display());
        let again = fc::from_model(&m2, f.state.layout()).unwrap();
        assert!(
            fc::write(&again).unwrap() == bytes,
            "{}: bytes differ after JSON",
            p.display()
        );
    }
}
