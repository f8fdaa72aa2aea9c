//! Property tests of every image kind and operation against a naive oracle: whole images held in
//! memory and compared page by page.

use super::ops::{self, Target, no_progress};
use super::*;
use proptest::prelude::*;
use std::os::unix::fs::FileExt;

const P: u64 = 4096;

/// A generated case: a base image and a chain of diffs (page index → content seed; seed 0 =
/// a page of zeros that is nevertheless present).
#[derive(Debug, Clone)]
struct Case {
    len: u64,
    base: Vec<u8>,
    diffs: Vec<Vec<(u64, u8)>>,
}

fn fill(seed: u8, page: u64, n: usize) -> Vec<u8> {
    if seed == 0 {
        return vec![0; n];
    }
    (0..n)
        .map(|i| (i as u64 * 31 + page * 7 + u64::from(seed)) as u8 | 1)
        .collect()
}

fn case() -> impl Strategy<Value = Case> {
    (0u64..24, 0u64..P, any::<u64>(), 1usize..4)
        .prop_flat_map(|(pages, extra, seed, nd)| {
            let len = pages * P + extra;
            let npages = len.div_ceil(P).max(1);
            let diff = proptest::collection::vec((0..npages, 0u8..4), 0..12);
            (Just(len), Just(seed), proptest::collection::vec(diff, nd))
        })
        .prop_map(|(len, seed, diffs)| {
            let mut base = Vec::with_capacity(len as usize);
            for p in 0..len.div_ceil(P) {
                let n = P.min(len - p * P) as usize;
                let s = ((seed >> (p % 60)) & 3) as u8; // about a quarter zero pages
                base.extend(fill(s, p, n));
            }
            let diffs = diffs
                .into_iter()
                .map(|d| d.into_iter().filter(|(p, _)| p * P < len).collect())
                .collect();
            Case { len, base, diffs }
        })
}

fn write_base(dir: &Path, c: &Case) -> std::path::PathBuf {
    let p = dir.join("base");
    std::fs::write(&p, &c.base).unwrap();
    p
}

fn write_diff(dir: &Path, c: &Case, i: usize) -> std::path::PathBuf {
    let p = dir.join(format!("diff{i}"));
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(c.len).unwrap();
    for &(page, s) in &c.diffs[i] {
        let n = P.min(c.len - page * P) as usize;
        f.write_all_at(&fill(s.wrapping_add(i as u8 * 4), page, n), page * P)
            .unwrap();
    }
    p
}

fn oracle(c: &Case, upto: usize) -> Vec<u8> {
    let mut m = c.base.clone();
    for i in 0..upto {
        for &(page, s) in &c.diffs[i] {
            let n = P.min(c.len - page * P) as usize;
            let o = (page * P) as usize;
            m[o..o + n].copy_from_slice(&fill(s.wrapping_add(i as u8 * 4), page, n));
        }
    }
    m
}

fn pages_of(v: &[Extent]) -> std::collections::BTreeSet<u64> {
    v.iter()
        .flat_map(|e| (e.offset / P)..e.end().div_ceil(P))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn merge_chain_matches_oracle(c in case()) {
        let dir = tempfile::tempdir().unwrap();
        let base = write_base(dir.path(), &c);
        let diffs: Vec<_> = (0..c.diffs.len()).map(|i| write_diff(dir.path(), &c, i)).collect();
        let before: Vec<Vec<u8>> = diffs.iter().map(|d| std::fs::read(d).unwrap()).collect();
        let refs: Vec<&Path> = diffs.iter().map(|d| d.as_path()).collect();
        let out = dir.path().join("out");
        ops::merge(&base, &refs, Some(&out), &no_progress).unwrap();
        let want = oracle(&c, c.diffs.len());
        prop_assert_eq!(std::fs::read(&out).unwrap(), want.clone());
        prop_assert_eq!(std::fs::read(&base).unwrap(), c.base.clone(), "base modified");
        for (d, b) in diffs.iter().zip(&before) {
            prop_assert_eq!(&std::fs::read(d).unwrap(), b, "diff modified");
        }
        // the diff's extents are exactly its pages, zero pages included
        let e = open(&diffs[0]).unwrap().extents().unwrap();
        let want_pages: std::collections::BTreeSet<u64> = c.diffs[0].iter().map(|(p, _)| *p).collect();
        prop_assert_eq!(pages_of(&e), want_pages);
        // in place
        ops::merge(&base, &refs, None, &no_progress).unwrap();
        prop_assert_eq!(std::fs::read(&base).unwrap(), want);
    }

    #[test]
    fn memdiff_matches_oracle_and_its_diff_merges_back(c in case()) {
        let dir = tempfile::tempdir().unwrap();
        let a = write_base(dir.path(), &c);
        let want = oracle(&c, c.diffs.len());
        let b = dir.path().join("b");
        std::fs::write(&b, &want).unwrap();
        let (ia, ib) = (open(&a).unwrap(), open(&b).unwrap());
        let d = ops::memdiff(ia.as_ref(), ib.as_ref(), P, &no_progress).unwrap();
        let naive: Vec<u64> = (0..c.len.div_ceil(P))
            .filter(|p| {
                let (s, e) = ((p * P) as usize, ((p + 1) * P).min(c.len) as usize);
                c.base[s..e] != want[s..e]
            })
            .collect();
        prop_assert_eq!(d.changed_pages, naive.len() as u64);
        let got: Vec<u64> = d.ranges.iter().flat_map(|r| r.first..r.first + r.count).collect();
        prop_assert_eq!(got, naive);
        let out = dir.path().join("d");
        ops::write_diff(ib.as_ref(), &d, &out, &no_progress).unwrap();
        let m = dir.path().join("m");
        ops::merge(&a, &[out.as_path()], Some(&m), &no_progress).unwrap();
        prop_assert_eq!(std::fs::read(&m).unwrap(), want);
        let same = ops::memdiff(ia.as_ref(), ia.as_ref(), P, &no_progress).unwrap();
        prop_assert!(same.identical());
    }

    #[test]
    fn sparsify_keeps_content_and_holes_zero_pages(c in case()) {
        let dir = tempfile::tempdir().unwrap();
        let a = write_base(dir.path(), &c);
        let out = dir.path().join("s");
        let img = open(&a).unwrap();
        let r = ops::sparsify(img.as_ref(), &out, P, &no_progress).unwrap();
        prop_assert_eq!(std::fs::read(&out).unwrap(), c.base.clone());
        let nonzero: std::collections::BTreeSet<u64> = (0..c.len.div_ceil(P))
            .filter(|p| {
                let (s, e) = ((p * P) as usize, ((p + 1) * P).min(c.len) as usize);
                c.base[s..e].iter().any(|&x| x != 0)
            })
            .collect();
        prop_assert_eq!(r.data_pages, nonzero.len() as u64);
        let e = open(&out).unwrap().extents().unwrap();
        prop_assert_eq!(pages_of(&e), nonzero);
    }

    #[test]
    fn every_kind_reads_back_what_was_written(c in case(), at in any::<u64>(), n in 0u64..3 * P) {
        let dir = tempfile::tempdir().unwrap();
        let d = write_diff(dir.path(), &c, 0);
        let src = open(&d).unwrap();
        let content = read_all(src.as_ref()).unwrap();
        let src_ext = src.extents().unwrap();
        for (to, ext) in [("raw", "raw"), ("zstd", "zst"), ("lz4", "lz4"), ("pages", "pgl")] {
            let out = dir.path().join(format!("out.{ext}"));
            let t = Target::parse(to).unwrap();
            ops::convert(src.as_ref(), &out, t, P, 3, &no_progress).unwrap();
            let img = open(&out).unwrap();
            prop_assert_eq!(img.len(), c.len);
            prop_assert_eq!(read_all(img.as_ref()).unwrap(), content.clone(), "{}", to);
            if to != "lz4" {
                prop_assert_eq!(pages_of(&img.extents().unwrap()), pages_of(&src_ext), "{}", to);
            }
            // a random read
            if c.len > 0 {
                let off = at % c.len;
                let len = n.min(c.len - off) as usize;
                let mut buf = vec![0u8; len];
                img.read_at(off, &mut buf).unwrap();
                prop_assert_eq!(&buf[..], &content[off as usize..off as usize + len]);
            }
            prop_assert!(img.read_at(c.len, &mut [0u8]).is_err());
        }
    }
}

#[test]
fn merge_refuses_different_sizes_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::write(&a, vec![1u8; 8192]).unwrap();
    std::fs::write(&b, vec![1u8; 4096]).unwrap();
    let out = dir.path().join("out");
    let e = ops::merge(&a, &[b.as_path()], Some(&out), &no_progress).unwrap_err();
    assert!(e.to_string().contains("sizes differ"), "{e}");
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn hostile_headers_are_refused_without_allocating() {
    let dir = tempfile::tempdir().unwrap();
    // page list claiming 2^60 pages
    let p = dir.path().join("x.pgl");
    let mut h = pagelist::MAGIC.to_vec();
    h.extend(4096u32.to_le_bytes());
    h.extend([0; 4]);
    h.extend(u64::MAX.to_le_bytes());
    h.extend((1u64 << 60).to_le_bytes());
    std::fs::write(&p, &h).unwrap();
    assert!(open(&p).is_err());
    // lz4 claiming 4 GiB from 10 bytes
    let l = dir.path().join("m.lz4");
    std::fs::write(&l, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0]).unwrap();
    assert!(open(&l).unwrap_err().to_string().contains("claims"));
    // zstd seek table claiming 2^32-1 frames
    let z = dir.path().join("z");
    let mut b = zstd::FRAME_MAGIC.to_le_bytes().to_vec();
    b.extend([0; 16]);
    b.extend(u32::MAX.to_le_bytes());
    b.push(0);
    b.extend(zstd::SEEKABLE_MAGIC.to_le_bytes());
    std::fs::write(&z, &b).unwrap();
    assert!(open(&z).is_err());
    // a plain zstd stream is named as such
    let s = dir.path().join("s");
    std::fs::write(&s, ::zstd::bulk::compress(&[0u8; 100], 3).unwrap()).unwrap();
    let e = open(&s).unwrap_err().to_string();
    assert!(e.contains("without a seek table"), "{e}");
}

#[test]
fn zstd_image_decompresses_with_the_zstd_library_to_the_raw_image() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let data: Vec<u8> = (0..(5 << 20) + 123).map(|i: u32| (i % 251) as u8).collect();
    std::fs::write(&a, &data).unwrap();
    let z = dir.path().join("a.zst");
    let img = open(&a).unwrap();
    ops::convert(img.as_ref(), &z, Target::Zstd, P, 3, &no_progress).unwrap();
    let plain = ::zstd::stream::decode_all(std::fs::File::open(&z).unwrap()).unwrap();
    assert!(plain == data);
}
