//! `demo`: the whole round trip on snaptool's own guest. Boot the built-in guest, snapshot it
//! mid-run, write the snapshot in every layout snaptool writes, read each file back, restore it in
//! the KVM runner and check that the guest's sequence carries on exactly.

use crate::formats::firecracker::{self as fc, LAYOUTS};
use crate::runner::{self, RunError, RunOptions, StopReason};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// One layout's result.
#[derive(Debug, Clone, Serialize)]
pub struct DemoRow {
    /// Layout id.
    pub layout: String,
    /// Whether the file was written and read back.
    pub written: bool,
    /// Whether the runner restored it and the guest printed again.
    pub restored: bool,
    /// Whether the guest's sequence continued with no gap and no divergence.
    pub continues: bool,
    /// Time from resuming to the first serial byte, in milliseconds.
    pub first_byte_ms: Option<f64>,
    /// Fields the writer had to invent, or what went wrong.
    pub note: String,
}

impl DemoRow {
    /// True when every check passed.
    pub fn ok(&self) -> bool {
        self.written && self.restored && self.continues
    }
}

/// The counter guest's step function (see `guest/demo.S`).
pub fn counter_next(h: u64, n: u64) -> u64 {
    let mut x = h ^ n;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x.wrapping_mul(0x100000001b3) ^ (x >> 29)
}

/// Checks that `before` followed by `after` is one unbroken `step NNNNNN h=…` sequence (a line
/// may be split between the two) with at least `min_after` lines completed after the restore.
///
/// # Errors
/// The first break, by step number.
pub fn check_counter(before: &[u8], after: &[u8], min_after: usize) -> Result<usize, String> {
    let text = String::from_utf8_lossy(&[before, after].concat()).into_owned();
    let split = before.len();
    let mut last: Option<(u64, u64)> = None;
    let mut after_count = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let end = pos + line.len();
        pos = end;
        let Some(l) = line.strip_suffix('\n') else {
            continue;
        };
        let parsed = l
            .strip_prefix("step ")
            .and_then(|r| r.split_once(" h="))
            .and_then(|(n, h)| Some((n.parse::<u64>().ok()?, u64::from_str_radix(h, 16).ok()?)));
        let Some((n, h)) = parsed else { continue };
        if let Some((pn, ph)) = last {
            if n != pn + 1 {
                return Err(format!("step {n} follows step {pn}"));
            }
            if counter_next(ph, n) != h {
                return Err(format!("step {n}: hash does not follow from step {pn}"));
            }
        }
        last = Some((n, h));
        if end > split {
            after_count += 1;
        }
    }
    if last.is_none() {
        return Err("no step lines".into());
    }
    if after_count < min_after {
        return Err(format!(
            "only {after_count} lines after the restore; expected {min_after}"
        ));
    }
    Ok(after_count)
}

/// Runs the demo in `dir` (files are written there).
///
/// # Errors
/// When the guest cannot be booted or snapshotted at all; per-layout failures are rows.
pub fn demo(dir: &Path, before_lines: usize, after_lines: usize) -> Result<Vec<DemoRow>, RunError> {
    let opts = RunOptions {
        lines: Some(before_lines),
        timeout: Duration::from_secs(60),
        drain: true,
    };
    let taken = runner::boot_and_snapshot(
        runner::BUILTIN_GUEST,
        "built-in guest",
        64 << 20,
        1,
        &opts,
        None,
    )?;
    let io = |e: std::io::Error| RunError::Internal(format!("{}: {e}", dir.display()));
    let mem = dir.join("mem");
    std::fs::write(&mem, &taken.memory).map_err(io)?;
    std::fs::write(dir.join("serial-before.log"), &taken.serial).map_err(io)?;
    let mut rows = Vec::new();
    for info in LAYOUTS {
        let mut row = DemoRow {
            layout: info.id.to_string(),
            written: false,
            restored: false,
            continues: false,
            first_byte_ms: None,
            note: fc::invented_fields(&taken.snapshot, info.layout).join("; "),
        };
        let file = fc::from_model(&taken.snapshot, info.layout)
            .and_then(|f| fc::write(&f))
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                std::fs::write(dir.join(format!("vmstate.{}", info.id)), &bytes)
                    .map_err(|e| e.to_string())?;
                fc::read(&bytes).map_err(|e| e.to_string())
            });
        let model = match file {
            Ok(f) => f.to_model(),
            Err(e) => {
                row.note = e;
                rows.push(row);
                continue;
            }
        };
        row.written = true;
        let mut out = Vec::new();
        let ropts = RunOptions {
            lines: Some(after_lines),
            timeout: Duration::from_secs(60),
            drain: false,
        };
        match runner::restore(&model, &mem, &ropts, &mut |b| out.extend_from_slice(b)) {
            Ok(r) => {
                row.restored = r.stop == StopReason::Lines;
                row.first_byte_ms = r.first_byte_ms;
                match check_counter(&taken.serial, &out, after_lines) {
                    Ok(_) => row.continues = true,
                    Err(e) => row.note = e,
                }
            }
            Err(e) => row.note = e.to_string(),
        }
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checker_accepts_a_split_line_and_rejects_a_gap() {
        let h1 = counter_next(0xcbf2_9ce4_8422_2325, 1);
        let h2 = counter_next(h1, 2);
        let h3 = counter_next(h2, 3);
        let before = format!("step 000001 h={h1:016x}\nstep 000002 h=");
        let after = format!("{h2:016x}\nstep 000003 h={h3:016x}\n");
        assert_eq!(check_counter(before.as_bytes(), after.as_bytes(), 2), Ok(2));
        let gap = format!("{h2:016x}\nstep 000004 h={h3:016x}\n");
        assert!(check_counter(before.as_bytes(), gap.as_bytes(), 1).is_err());
        let wrong = format!("{h2:016x}\nstep 000003 h={h2:016x}\n");
        assert!(check_counter(before.as_bytes(), wrong.as_bytes(), 1).is_err());
    }
}
