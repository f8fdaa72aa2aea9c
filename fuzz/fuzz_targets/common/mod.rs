//! What the per-layout fuzz targets share: decode a payload as one layout (both arches), then run
//! everything downstream of a successful decode — structure checks, the model, model checks,
//! conversion back, re-encoding.

use snaptool::envelope::Header;
use snaptool::formats::firecracker::{self as fc, Layout, checks};
use snaptool::model::Arch;

/// Decodes `data` as `layout` for each arch and exercises every consumer of the result.
pub fn exercise(layout: Layout, data: &[u8]) {
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let Ok(state) = fc::decode_payload(layout, arch, data) else {
            continue;
        };
        let _ = checks::layout_checks(&state);
        let info = layout.info();
        let file = fc::FcFile {
            header: Header {
                arch,
                era: info.era,
                magic: 0,
                version: None,
                data_version: None,
                payload_offset: 0,
            },
            version_text: info.version.to_string(),
            state,
            crc: 0,
            trailing: 0,
        };
        let m = file.to_model();
        let _ = snaptool::verify::model_checks(&m);
        let _ = fc::from_model(&m, layout);
        let _ = fc::write(&file);
    }
}
