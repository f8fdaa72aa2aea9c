//! VeridianOS `VmSnapshot` files: the strict reader, re-encoding (a file that reads must re-encode
//! to the same bytes), verify, the model, and model → file → model (the identity).
#![no_main]

use libfuzzer_sys::fuzz_target;
use snaptool::formats::veridian as v;

fuzz_target!(|data: &[u8]| {
    let _ = v::sniff(data);
    let _ = v::verify(data);
    let Ok(f) = v::read(data) else { return };
    assert!(
        v::write(&f).expect("pages in memory always write") == data,
        "a file that reads re-encodes to itself"
    );
    let _ = f.memory_len();
    let _ = f.pages().count();
    let m = f.to_model();
    let _ = snaptool::verify::model_checks(&m);
    if let Ok((g, _)) = v::from_model(&m, None) {
        let again = v::read(&v::write(&g).expect("pages in memory always write"))
            .expect("snaptool's own output reads");
        assert_eq!(
            again.to_model(),
            m,
            "model -> file -> model is the identity"
        );
    }
});
