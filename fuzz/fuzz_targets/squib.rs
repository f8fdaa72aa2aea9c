//! The squib state-file reader (bitcode payload, CRC trailer), then everything downstream of a
//! successful decode: verify, the model, writing the model back, re-encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snaptool::formats::squib::{self as sq, FromModelOptions, ReadOptions};

fuzz_target!(|data: &[u8]| {
    let _ = sq::sniff(data);
    let _ = sq::recognize(data);
    // With the CRC trailer made valid, the fuzzer reaches the decoder.
    let sealed = snaptool::envelope::seal(data.to_vec());
    let _ = sq::verify(&sealed, None);
    for bytes in [data, &sealed[..]] {
        let Ok(f) = sq::read_with(bytes, ReadOptions { check_crc: false }) else {
            continue;
        };
        let _ = f.incompatibilities();
        let again = sq::write(&f);
        assert!(
            sq::read(&again).is_ok(),
            "a decoded file re-encodes readably"
        );
        let m = f.to_model();
        let _ = snaptool::verify::model_checks(&m);
        if let Ok((g, _)) = sq::from_model(&m, None, &FromModelOptions::default()) {
            let _ = sq::write(&g);
        }
    }
});
