//! The format 4.0.0 (v1.10.x, bincode) decoder, both arches, then model conversion and re-encoding.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use snaptool::formats::firecracker::Layout;

fuzz_target!(|data: &[u8]| common::exercise(Layout::V4_0_0, data));
