//! The format 8.0.0 decoder in its v1.14 layout (bincode), both arches, then model conversion and
//! re-encoding.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use snaptool::formats::firecracker::Layout;

fuzz_target!(|data: &[u8]| common::exercise(Layout::V8_0_0_V1_14, data));
