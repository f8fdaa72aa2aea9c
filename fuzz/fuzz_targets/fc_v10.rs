//! The format 10.0.0 (bitcode 0.6.9) decoder, both arches, then model conversion and re-encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snaptool::formats::firecracker::{self as fc, Layout, checks};
use snaptool::model::Arch;

fuzz_target!(|data: &[u8]| {
    for arch in [Arch::X86_64, Arch::Aarch64] {
        if let Ok(state) = fc::decode_payload(Layout::V10_0_0, arch, data) {
            let _ = checks::layout_checks(&state);
            exercise(state);
        }
    }
});

fn exercise(state: fc::State) {
    let file = fc::FcFile {
        header: snaptool::envelope::Header {
            arch: state.arch(),
            era: snaptool::envelope::Era::Bitcode,
            magic: 0,
            version: None,
            data_version: None,
            payload_offset: 0,
        },
        version_text: "10.0.0".into(),
        state,
        crc: 0,
        trailing: 0,
    };
    let m = file.to_model();
    let _ = snaptool::verify::model_checks(&m);
    let _ = fc::from_model(&m, Layout::V10_0_0);
    let _ = fc::write(&file);
}
