//! QEMU migration streams: the stream parser (records, sections, RAM, vmdesc), verify's checks,
//! the model and the extension, then model → stream → model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snaptool::formats::qemu;
use snaptool::memory::MemoryImage;

/// Writing a stream emits one record per guest page; inputs claiming more RAM than this are
/// read and modelled but not re-written, so one run stays within the fuzzer's memory limit.
const WRITE_RAM_LIMIT: u64 = 256 << 20;

fuzz_target!(|data: &[u8]| {
    let _ = qemu::sniff(data);
    let Ok(f) = qemu::read(data.to_vec(), "fuzz") else {
        return;
    };
    let _ = qemu::describe(&f);
    let _ = f.extension();
    let mem = f.memory();
    let Ok(m) = f.to_model() else { return };
    let _ = snaptool::verify::model_checks(&m);
    let Some(mem) = mem else { return };
    if mem.len() > WRITE_RAM_LIMIT {
        return;
    }
    let mut probe = [0u8; 64];
    let _ = mem.read_at(0, &mut probe);
    if let Ok((bytes, _)) = qemu::from_model(&m, Some(&mem)) {
        let again = qemu::read(bytes, "again").expect("snaptool's own stream reads");
        let _ = again.to_model().expect("snaptool's own stream models");
    }
});
