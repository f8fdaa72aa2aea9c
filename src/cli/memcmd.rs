//! The memory-image commands: merge, memdiff, sparsify, convert-mem and `inspect --mem`.

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use snaptool::memory::{self, ops};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A progress bar that appears only when stderr is a terminal and the work has taken more than a
/// second.
pub struct Bar {
    pb: ProgressBar,
    start: Instant,
    shown: AtomicBool,
    tty: bool,
}

impl Bar {
    /// A bar for `total` bytes of work described by `msg`.
    pub fn new(total: u64, msg: &str) -> Self {
        let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_message(msg.to_string());
        Bar {
            pb,
            start: Instant::now(),
            shown: AtomicBool::new(false),
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// Records `done` bytes finished.
    pub fn set(&self, done: u64) {
        if !self.tty {
            return;
        }
        if !self.shown.load(Ordering::Relaxed) && self.start.elapsed() > Duration::from_secs(1) {
            self.shown.store(true, Ordering::Relaxed);
            self.pb.set_draw_target(ProgressDrawTarget::stderr());
        }
        if done > self.pb.position() {
            self.pb.set_position(done);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.pb.finish_and_clear();
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    super::print(&(serde_json::to_string_pretty(v)? + "\n"))
}

fn human(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut v, mut i) = (n as f64, 0);
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// `snaptool merge`.
pub fn merge(
    base: &Path,
    diffs: &[PathBuf],
    out: Option<&Path>,
    in_place: bool,
    json: bool,
) -> Result<u8> {
    let out = match (out, in_place) {
        (Some(_), true) => anyhow::bail!("give either -o OUT or --in-place, not both"),
        (None, false) => anyhow::bail!("give -o OUT (or --in-place to modify the base)"),
        (o, _) => o,
    };
    let refs: Vec<&Path> = diffs.iter().map(|p| p.as_path()).collect();
    let total = std::fs::metadata(base).map(|m| m.len()).unwrap_or(0);
    let bar = Bar::new(total, "merge");
    let r = ops::merge(base, &refs, out, &|d| bar.set(d))?;
    bar.finish();
    if json {
        print_json(&r)?;
    } else {
        let taken: Vec<String> = r
            .diffs
            .iter()
            .zip(&r.diff_bytes)
            .map(|(d, b)| format!("{d} ({})", human(*b)))
            .collect();
        super::print(&format!(
            "merged {} onto {} -> {}{}\n",
            taken.join(", "),
            r.base,
            r.output,
            if r.in_place { " (in place)" } else { "" }
        ))?;
    }
    Ok(0)
}

/// `snaptool memdiff`.
pub fn memdiff(a: &Path, b: &Path, out: Option<&Path>, page_size: u64, json: bool) -> Result<u8> {
    let ia = memory::open(a)?;
    let ib = memory::open(b)?;
    let bar = Bar::new(ia.len(), "memdiff");
    let d = ops::memdiff(ia.as_ref(), ib.as_ref(), page_size, &|n| bar.set(n))?;
    if let Some(o) = out {
        ops::write_diff(ib.as_ref(), &d, o, &|_| {})?;
    }
    bar.finish();
    if json {
        print_json(&d)?;
    } else if d.identical() {
        super::print(&format!(
            "{} and {}: identical ({} pages of {} bytes)\n",
            d.a, d.b, d.pages, d.page_size
        ))?;
    } else {
        let mut s = format!(
            "{} and {}: {} of {} pages differ ({}) in {} range{}\n",
            d.a,
            d.b,
            d.changed_pages,
            d.pages,
            human(d.changed_bytes),
            d.ranges.len(),
            if d.ranges.len() == 1 { "" } else { "s" }
        );
        for r in d.ranges.iter().take(32) {
            s.push_str(&format!(
                "  pages {}..{}  bytes 0x{:x}..0x{:x}\n",
                r.first,
                r.first + r.count,
                r.first * d.page_size,
                ((r.first + r.count) * d.page_size).min(d.length)
            ));
        }
        if d.ranges.len() > 32 {
            s.push_str(&format!(
                "  ... {} more ranges (--json lists all)\n",
                d.ranges.len() - 32
            ));
        }
        if let Some(o) = out {
            s.push_str(&format!("diff image: {}\n", o.display()));
        }
        super::print(&s)?;
    }
    Ok(if d.identical() { 0 } else { 1 })
}

/// `snaptool sparsify`.
pub fn sparsify(input: &Path, out: &Path, page_size: u64, json: bool) -> Result<u8> {
    let img = memory::open(input)?;
    let bar = Bar::new(img.len(), "sparsify");
    let r = ops::sparsify(img.as_ref(), out, page_size, &|n| bar.set(n))?;
    bar.finish();
    if json {
        print_json(&r)?;
    } else {
        super::print(&format!(
            "{} -> {}: {} data pages, {} holes ({} stored instead of {})\n",
            r.input,
            r.output,
            r.data_pages,
            r.hole_pages,
            human(r.data_pages * r.page_size),
            human(r.length)
        ))?;
    }
    Ok(0)
}

/// `snaptool convert-mem`.
pub fn convert(
    input: &Path,
    out: &Path,
    to: &str,
    page_size: u64,
    level: i32,
    json: bool,
) -> Result<u8> {
    let target = ops::Target::parse(to)
        .ok_or_else(|| anyhow::anyhow!("--to {to}: expected raw, sparse, zstd, lz4 or pages"))?;
    let img = memory::open(input)?;
    let bar = Bar::new(img.len(), "convert");
    let r = ops::convert(img.as_ref(), out, target, page_size, level, &|n| bar.set(n))?;
    bar.finish();
    if json {
        print_json(&r)?;
    } else {
        let mut s = format!(
            "{} ({}) -> {} ({}): {} logical, {} written\n",
            r.input,
            r.input_kind.name(),
            r.output,
            to,
            human(r.length),
            human(r.output_bytes)
        );
        for n in &r.notes {
            s.push_str(&format!("note: {n}\n"));
        }
        super::print(&s)?;
    }
    Ok(0)
}

/// Page counts of a memory image, for `inspect --mem`.
pub fn stats(mem: &Path, page_size: u64) -> Result<ops::MemStats> {
    let img = memory::open(mem)?;
    let bar = Bar::new(img.len(), "inspect");
    let s = ops::stats(img.as_ref(), page_size, &|n| bar.set(n))?;
    bar.finish();
    Ok(s)
}

/// Text form of [`stats`].
pub fn render_stats(s: &ops::MemStats) -> String {
    let mut o = format!(
        "memory image: {} ({}), {} logical, {} stored\n  {} pages of {} bytes: {} data, {} zero, {} holes; {} extent{}\n",
        s.file,
        s.kind.name(),
        human(s.length),
        human(s.stored_bytes),
        s.pages,
        s.page_size,
        s.data_pages,
        s.zero_pages,
        s.hole_pages,
        s.extent_count,
        if s.extent_count == 1 { "" } else { "s" }
    );
    for e in s.extents.iter().take(8) {
        o.push_str(&format!(
            "  data 0x{:x}..0x{:x} ({})\n",
            e.offset,
            e.end(),
            human(e.len)
        ));
    }
    if s.extent_count > 8 {
        o.push_str(&format!("  ... {} more extents\n", s.extent_count - 8));
    }
    o
}
