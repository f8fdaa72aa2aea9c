//! Memory-image parsers (zstd seek table and extents frame, page list, arcbox LZ4) on arbitrary
//! files: opening and reading never panics and never allocates out of proportion to the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snaptool::memory::{self, ImageKind};
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let _ = memory::lz4::decode("fuzz", data);
    let Ok(mut f) = tempfile::NamedTempFile::new() else {
        return;
    };
    if f.write_all(data).is_err() {
        return;
    }
    for kind in [ImageKind::Zstd, ImageKind::PageList, ImageKind::Raw] {
        if let Ok(img) = memory::open_as(f.path(), Some(kind)) {
            let len = img.len();
            if let Ok(ext) = img.extents() {
                for e in ext.iter().take(16) {
                    let n = e.len.min(1 << 16) as usize;
                    let mut buf = vec![0u8; n];
                    let _ = img.read_at(e.offset, &mut buf);
                }
            }
            let mut b = [0u8; 64];
            let _ = img.read_at(len / 2, &mut b[..(len - len / 2).min(64) as usize]);
        }
    }
});
