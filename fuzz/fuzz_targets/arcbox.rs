//! arcbox snapshot directories from bytes: the snaptool extra-state blob decoder, and
//! `snapshot.json` + `vm_state.json` (split at the first NUL byte) through parsing, checks, the
//! model, model checks and conversion back. Never panics, never allocates out of proportion to
//! the input (blobs are capped and budgeted).
#![no_main]

use libfuzzer_sys::fuzz_target;
use snaptool::formats::arcbox::{self, extra};

fuzz_target!(|data: &[u8]| {
    let mut budget = extra::MAX_TOTAL_JSON;
    let _ = extra::decode(data, &mut budget);
    let (info, state) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"{}"[..], data),
    };
    if let Ok(d) = arcbox::from_json(info, state) {
        let m = d.to_model();
        let _ = d.native_overrides();
        let _ = snaptool::verify::model_checks(&m);
        if let Ok((again, _)) = arcbox::from_model(&m, None, false) {
            let _ = again.to_model();
        }
    }
});
