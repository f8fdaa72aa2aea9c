//! The versionize-era (Firecracker v0.23–v1.6) decoder: the first byte picks the data version
//! (1–10), the rest is the state payload; then model conversion and re-encoding.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use snaptool::formats::firecracker::Layout;

fuzz_target!(|data: &[u8]| {
    let Some((&first, payload)) = data.split_first() else {
        return;
    };
    common::exercise(Layout::Versionize(1 + u16::from(first % 10)), payload);
});
