//! The format 9.0.0 (bitcode 0.6.9) decoder, both arches, then model conversion and re-encoding.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use snaptool::formats::firecracker::Layout;

fuzz_target!(|data: &[u8]| common::exercise(Layout::V9_0_0, data));
