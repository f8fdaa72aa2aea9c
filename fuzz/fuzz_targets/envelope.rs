//! Envelope detection and the whole `verify` pipeline on arbitrary files: never panics, never
//! allocates out of proportion to the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = snaptool::envelope::sniff(data);
    let _ = snaptool::envelope::check_crc(data);
    // With the CRC trailer made valid, the fuzzer reaches the decoders through the envelope.
    let sealed = snaptool::envelope::seal(data.to_vec());
    let r = snaptool::verify::verify_state("fuzz", &sealed, None);
    let _ = r.findings.len();
});
