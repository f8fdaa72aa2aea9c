//! Bounded decoding: every real Firecracker state file (each era and layout) with 4-byte windows
//! overwritten by 0x7fffffff — an inflated vCPU, MSR, CPUID, device, queue, MMDS or
//! interval-tree count wherever one lies, or a huge string length — is inspected (`--no-crc`) by
//! a child process whose peak RSS must stay under 64 MiB + 8 × the input size, ending with
//! exit 0, 1 or 2 and never a panic.

use crate::real_states;

/// Windows tried per file.
const WINDOWS: usize = 48;

#[test]
fn inflated_counts_stay_within_the_memory_bound() {
    if !crate::have_time() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("h");
    let states = real_states();
    assert!(!states.is_empty());
    let mut worst = (0u64, String::new());
    for state in states {
        let good = std::fs::read(&state).unwrap();
        let limit = 64 * 1024 + 8 * good.len() as u64 / 1024;
        let stride = (good.len().saturating_sub(20) / WINDOWS).max(1);
        for off in (16..good.len().saturating_sub(12)).step_by(stride) {
            let mut b = good.clone();
            b[off..off + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
            std::fs::write(&h, &b).unwrap();
            let (code, kib) = crate::peak_rss(
                dir.path(),
                &["inspect".as_ref(), "--no-crc".as_ref(), h.as_os_str()],
            );
            let what = format!("{} with 0x7fffffff at {off}", state.display());
            assert!(
                matches!(code, Some(0..=2)),
                "{what}: exit {code:?} (a panic or a signal)"
            );
            assert!(
                kib <= limit,
                "{what}: peaked at {kib} KiB (limit {limit} KiB)"
            );
            if kib > worst.0 {
                worst = (kib, what);
            }
        }
    }
    eprintln!("worst peak: {} KiB ({})", worst.0, worst.1);
}
