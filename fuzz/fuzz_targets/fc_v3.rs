//! The format 3.0.0 (v1.9.x, bincode) decoder, both arches, then model conversion and re-encoding.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use snaptool::formats::firecracker::Layout;

fuzz_target!(|data: &[u8]| common::exercise(Layout::V3_0_0, data));
