//! The format 5.0.0 (v1.11.0, bincode) decoder, both arches, then model conversion and re-encoding.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use snaptool::formats::firecracker::Layout;

fuzz_target!(|data: &[u8]| common::exercise(Layout::V5_0_0, data));
