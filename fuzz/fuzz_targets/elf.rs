//! The runner's ELF kernel parser on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = snaptool::runner::kernel_entry(data);
});
