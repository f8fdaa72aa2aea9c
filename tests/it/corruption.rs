//! Damaged real files: every single-byte change is reported, no input panics.

use crate::real_states;
use snaptool::verify::verify_state;

/// Flips every byte of one real file of each layout: verify always reports (at least the CRC)
/// and never panics; inspect-level reading without the CRC check never panics either.
#[test]
fn every_single_byte_flip_is_reported() {
    let files: Vec<_> = real_states()
        .into_iter()
        .filter(|p| p.ends_with("counter-1vcpu/vmstate"))
        .collect();
    assert!(files.len() >= 3, "{files:?}");
    for p in files {
        let good = std::fs::read(&p).unwrap();
        let mut bad = good.clone();
        for i in 0..good.len() {
            bad[i] ^= 0x5a;
            let r = verify_state("flipped", &bad, None);
            assert!(!r.clean, "{}: flip at {i} not reported", p.display());
            let _ = snaptool::formats::firecracker::read_with(
                &bad,
                snaptool::formats::firecracker::ReadOptions { check_crc: false },
            );
            bad[i] = good[i];
        }
    }
}

/// Every truncation of a real file is an error, never a panic.
#[test]
fn every_truncation_is_reported() {
    for p in real_states() {
        let good = std::fs::read(&p).unwrap();
        let step = (good.len() / 400).max(1);
        for cut in (0..good.len()).step_by(step) {
            let r = verify_state("cut", &good[..cut], None);
            assert!(!r.clean, "{}: cut at {cut} not reported", p.display());
        }
    }
}
