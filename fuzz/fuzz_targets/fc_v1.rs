//! The format 1.0.0 (bincode, field-wise KVM structures) decoder, both arches, then model
//! conversion and re-encoding.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use snaptool::formats::firecracker::Layout;

fuzz_target!(|data: &[u8]| common::exercise(Layout::V1_0_0, data));
