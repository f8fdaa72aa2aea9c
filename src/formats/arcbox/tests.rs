//! Hostile and malformed inputs, the blob codec, time formatting, register ids.

use super::convert::*;
use super::extra::{self, Decoded, ExtraState};
use super::*;
use crate::model::{Aarch64Reg, Aarch64Vcpu, Bytes, Vcpu};
use std::path::Path;

fn fixture_model() -> Snapshot {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/firecracker-1.16.1/counter-1vcpu/vmstate");
    crate::formats::firecracker::read(&fs::read(p).unwrap())
        .unwrap()
        .to_model()
}

/// A small valid directory: 2 vCPUs x86_64, 1 MiB of memory, written by snaptool.
fn small_dir(tmp: &Path, lz4: bool) -> PathBuf {
    let mut m = fixture_model();
    m.memory.regions.truncate(1);
    m.memory.regions[0].size = 1 << 20;
    let v = m.vcpus[0].clone();
    m.vcpus.push(v);
    let (d, _) = from_model(&m, None, lz4).unwrap();
    let out = tmp.join("snap");
    write_dir(&d, &out).unwrap();
    let mem: Vec<u8> = (0..1u32 << 20).map(|i| (i % 7) as u8).collect();
    if lz4 {
        fs::write(out.join(FILE_MEM_LZ4), lz4::encode("m", &mem).unwrap()).unwrap();
    } else {
        fs::write(out.join(FILE_MEM), &mem).unwrap();
    }
    out
}

fn edit(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join(FILE_STATE);
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    f(&mut v);
    fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

fn codes(dir: &Path) -> Vec<&'static str> {
    verify(dir).into_iter().map(|f| f.code).collect()
}

#[test]
fn small_dir_is_clean() {
    let tmp = tempfile::tempdir().unwrap();
    for lz4 in [false, true] {
        let d = small_dir(tmp.path(), lz4);
        let findings = verify(&d);
        // The fixture's mem_size_mib (64) no longer matches the 1 MiB region.
        assert!(
            findings.iter().all(|f| f.code == "mem_size_mib"),
            "{findings:#?}"
        );
        let r = read_dir(&d).unwrap();
        assert_eq!(r.memory().map(|m| m.len()), Some(1 << 20));
        assert_eq!(r.state.vcpus.len(), 2);
        fs::remove_dir_all(&d).unwrap();
    }
}

#[test]
fn json_errors_name_file_field_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let d = small_dir(tmp.path(), false);
    edit(&d, |v| v["vcpus"][1]["x86_regs"]["rip"] = "x".into());
    let e = read_dir(&d).unwrap_err();
    let Error::Json { field, line, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(field, "vcpus[1].x86_regs.rip");
    assert!(*line > 1);
    assert!(e.to_string().contains("vm_state.json"), "{e}");
    assert!(codes(&d).contains(&"decode_error"));

    fs::write(d.join(FILE_STATE), b"{\"version\": 1} trailing").unwrap();
    assert!(matches!(read_dir(&d), Err(Error::Json { .. })));
    fs::write(d.join(FILE_INFO), b"[]").unwrap();
    assert!(
        read_dir(&d)
            .unwrap_err()
            .to_string()
            .contains("snapshot.json")
    );
}

#[test]
fn oversized_json_is_refused_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let d = small_dir(tmp.path(), false);
    let f = fs::OpenOptions::new()
        .write(true)
        .open(d.join(FILE_STATE))
        .unwrap();
    f.set_len(STATE_MAX + 1).unwrap();
    assert!(matches!(read_dir(&d), Err(Error::TooLarge { .. })));
    assert!(codes(&d).contains(&"over_cap"));
    let f = fs::OpenOptions::new()
        .write(true)
        .open(d.join(FILE_INFO))
        .unwrap();
    f.set_len(INFO_MAX + 1).unwrap();
    assert!(matches!(read_dir(&d), Err(Error::TooLarge { .. })));
}

#[test]
fn regions_must_lie_inside_the_memory_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = small_dir(tmp.path(), false);
    edit(&d, |v| v["memory_regions"][0]["file_offset"] = 4096.into());
    let e = read_dir(&d).unwrap_err();
    assert!(
        matches!(&e, Error::Invalid { field, .. } if field == "memory_regions[0]"),
        "{e}"
    );
    assert!(codes(&d).contains(&"region_bounds"));
    edit(&d, |v| {
        v["memory_regions"][0]["file_offset"] = u64::MAX.into();
    });
    assert!(read_dir(&d).unwrap_err().to_string().contains("overflows"));
}

#[test]
fn memory_length_is_checked_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let d = small_dir(tmp.path(), false);
    // A huge total_memory with a region to match: the plain file's length refuses it, nothing
    // of that size is allocated.
    edit(&d, |v| {
        v["total_memory"] = (1u64 << 50).into();
        v["memory_regions"][0]["size"] = (1u64 << 50).into();
    });
    let e = read_dir(&d).unwrap_err();
    assert!(matches!(e, Error::Memory(_)), "{e}");
    assert!(codes(&d).contains(&"mem_file_size"));
    // Without the memory file the directory reads (arcbox only warns).
    fs::remove_file(d.join(FILE_MEM)).unwrap();
    let r = read_dir(&d).unwrap();
    assert!(!r.has_memory());
    assert!(r.memory().is_none_or(|m| m.is_empty()));
    assert!(codes(&d).contains(&"memory_missing"));
}

#[test]
fn lz4_declared_size_is_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let d = small_dir(tmp.path(), true);
    // Prefix disagrees with total_memory.
    let mut raw = fs::read(d.join(FILE_MEM_LZ4)).unwrap();
    raw[..4].copy_from_slice(&(2u32 << 20).to_le_bytes());
    fs::write(d.join(FILE_MEM_LZ4), &raw).unwrap();
    assert!(read_dir(&d).unwrap_err().to_string().contains("prefix"));
    // Prefix and total_memory agree on 4 GiB − 1, but 16 bytes of block cannot hold that: refused
    // before allocating.
    edit(&d, |v| {
        v["total_memory"] = u64::from(u32::MAX).into();
        v["memory_regions"][0]["size"] = 4096.into();
    });
    let mut raw = u32::MAX.to_le_bytes().to_vec();
    raw.extend_from_slice(&[0x1f; 16]);
    fs::write(d.join(FILE_MEM_LZ4), &raw).unwrap();
    let e = read_dir(&d).unwrap_err();
    assert!(e.to_string().contains("more than"), "{e}");
    // A corrupt block.
    edit(&d, |v| v["total_memory"] = 4096.into());
    let mut raw = 4096u32.to_le_bytes().to_vec();
    raw.extend_from_slice(&[0xff; 40]);
    fs::write(d.join(FILE_MEM_LZ4), &raw).unwrap();
    assert!(matches!(read_dir(&d), Err(Error::Memory(_))));
    assert!(codes(&d).contains(&"memory"));
    fs::write(d.join(FILE_MEM_LZ4), [1u8, 0]).unwrap();
    assert!(read_dir(&d).is_err());
}

#[test]
fn counts_and_arches_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let d = small_dir(tmp.path(), false);
    edit(&d, |v| v["vcpus"][1]["arch"] = "Aarch64".into());
    assert!(
        read_dir(&d)
            .unwrap_err()
            .to_string()
            .contains("vcpus[1].arch")
    );
    assert!(codes(&d).contains(&"arch_mismatch"));
    edit(&d, |v| {
        v["vcpus"][1]["arch"] = "X86_64".into();
        let one = v["devices"].clone();
        let dev = serde_json::json!({"device_type": "Rng", "name": "r", "state": []});
        let mut many = one.as_array().unwrap().clone();
        many.resize(MAX_DEVICES + 1, dev);
        v["devices"] = many.into();
    });
    assert!(read_dir(&d).unwrap_err().to_string().contains("at most"));
    edit(&d, |v| {
        v["devices"] = serde_json::json!([{"device_type": "Sound", "name": "s", "state": []}]);
    });
    let e = read_dir(&d).unwrap_err();
    assert!(
        matches!(&e, Error::Json { field, .. } if field == "devices[0].device_type"),
        "{e}"
    );
}

#[test]
fn damaged_blobs_are_refused_with_their_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let d = small_dir(tmp.path(), false);
    let st: VmSnapshot = serde_json::from_slice(&fs::read(d.join(FILE_STATE)).unwrap()).unwrap();
    let good = st.vcpus[1].extra_state.clone();
    let cases: Vec<(Vec<u8>, u64)> = vec![
        (good[..10].to_vec(), 10),
        (
            {
                let mut b = good.clone();
                b[8] = 2;
                b
            },
            8,
        ),
        (
            {
                let mut b = good.clone();
                b[10] = 9;
                b
            },
            10,
        ),
        (
            {
                let mut b = good.clone();
                b[11] = 1;
                b
            },
            11,
        ),
        (
            {
                let mut b = good.clone();
                b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
                b
            },
            12,
        ),
        (
            {
                let mut b = good.clone();
                b[12..16].copy_from_slice(&3u32.to_le_bytes());
                b
            },
            16,
        ),
        (
            {
                let mut b = good.clone();
                b.truncate(b.len() - 5);
                b
            },
            16,
        ),
        (
            {
                let mut b = good[..16].to_vec();
                b[10] = 0;
                b[12..16].copy_from_slice(&4u32.to_le_bytes());
                b.extend_from_slice(b"{}  ");
                b
            },
            16,
        ),
    ];
    for (i, (blob, offset)) in cases.into_iter().enumerate() {
        let mut budget = extra::MAX_TOTAL_JSON;
        let e = extra::decode(&blob, &mut budget).unwrap_err();
        assert_eq!(e.offset, offset, "case {i}: {e}");
        edit(&d, |v| {
            v["vcpus"][1]["extra_state"] = serde_json::to_value(&blob).unwrap()
        });
        let err = read_dir(&d).unwrap_err().to_string();
        assert!(err.contains("vcpus[1].extra_state"), "case {i}: {err}");
        assert!(codes(&d).contains(&"extra_state"), "case {i}");
    }
    // Foreign bytes are carried, not refused.
    edit(&d, |v| {
        v["vcpus"][1]["extra_state"] = serde_json::json!([1, 2, 3])
    });
    let r = read_dir(&d).unwrap();
    let m = r.to_model();
    assert_eq!(m.extensions[KEY_FOREIGN].value["1"], "010203");
    assert!(codes(&d).contains(&"extra_state_foreign"));
    // ... and kept through a snaptool write and read, in extra_state itself: the producer that
    // wrote them finds its bytes where it left them.
    let (again, _) = from_model(&m, None, false).unwrap();
    assert_eq!(again.state.vcpus[1].extra_state, vec![1, 2, 3]);
    let out = tmp.path().join("again");
    write_dir(&again, &out).unwrap();
    assert_eq!(read_dir(&out).unwrap().to_model(), m);
}

#[test]
fn blob_budget_bounds_the_whole_snapshot() {
    let x = ExtraState {
        vcpu: Vcpu::X86_64(Box::default()),
        vm: None,
    };
    let b = extra::encode(&x).unwrap();
    let len = u64::from(extra::declared_len(&b).unwrap());
    let mut budget = len;
    assert!(matches!(
        extra::decode(&b, &mut budget),
        Ok(Decoded::Ours(_))
    ));
    assert_eq!(budget, 0);
    assert!(extra::decode(&b, &mut budget).is_err());
    assert!(matches!(
        extra::decode(&[], &mut budget),
        Ok(Decoded::Empty)
    ));
}

#[test]
fn blob_decoder_survives_arbitrary_bytes() {
    use proptest::prelude::*;
    let x = ExtraState {
        vcpu: Vcpu::X86_64(Box::default()),
        vm: None,
    };
    let good = extra::encode(&x).unwrap();
    proptest!(|(pos in 0usize..64, byte: u8, tail in proptest::collection::vec(any::<u8>(), 0..64))| {
        let mut b = good.clone();
        let p = pos % b.len();
        b[p] = byte;
        let mut budget = extra::MAX_TOTAL_JSON;
        let _ = extra::decode(&b, &mut budget);
        let mut c = extra::MAGIC.to_vec();
        c.extend_from_slice(&tail);
        let _ = extra::decode(&c, &mut budget);
    });
}

#[test]
fn write_dir_refuses_a_path_without_a_name() {
    let m = fixture_model();
    let (d, _) = from_model(&m, None, false).unwrap();
    assert!(write_dir(&d, Path::new("/")).is_err());
}

#[test]
fn memory_image_must_match_the_regions() {
    let m = fixture_model();
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("short");
    fs::write(&p, [0u8; 4096]).unwrap();
    let img = crate::memory::open(&p).unwrap();
    let e = from_model(&m, Some(img.as_ref()), false).unwrap_err();
    assert!(e.to_string().contains("the regions need"), "{e}");
}

#[test]
fn from_model_refuses_mixed_arches() {
    let mut m = fixture_model();
    m.vcpus.push(Vcpu::Aarch64(Box::default()));
    assert!(from_model(&m, None, false).is_err());
}

#[test]
fn times_format_as_chrono_does() {
    assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_700_000_000, 0), "2023-11-14T22:13:20Z");
    assert_eq!(rfc3339(951_782_400, 5_000_000), "2000-02-29T00:00:00.005Z");
    assert_eq!(rfc3339(4_107_542_400, 1_000), "2100-03-01T00:00:00.000001Z");
    assert_eq!(
        rfc3339(86_399, 123_456_789),
        "1970-01-01T23:59:59.123456789Z"
    );
    for ok in [
        "2026-04-27T10:11:12Z",
        "2026-04-27T10:11:12.345678Z",
        "2026-04-27T10:11:12+02:00",
        &now_rfc3339(),
    ] {
        assert!(is_rfc3339(ok), "{ok}");
    }
    for bad in [
        "",
        "12345",
        "2026-13-27T10:11:12Z",
        "2026-04-27T10:11:12",
        "2026-04-27T10:11:12.Z",
        "2026-04-27T10:11:12+0200",
    ] {
        assert!(!is_rfc3339(bad), "{bad}");
    }
    let id = fresh_id();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn arm_core_register_ids_match_kvm() {
    assert_eq!(arm_x_id(0), 0x6030_0000_0010_0000);
    assert_eq!(arm_x_id(30), 0x6030_0000_0010_003c);
    assert_eq!(ARM_SP_ID, 0x6030_0000_0010_003e);
    assert_eq!(ARM_PC_ID, 0x6030_0000_0010_0040);
    assert_eq!(ARM_PSTATE_ID, 0x6030_0000_0010_0042);
    assert_eq!(arm_v_id(0), 0x6040_0000_0010_0054);
    assert_eq!(arm_v_id(31), 0x6040_0000_0010_00d0);
    assert_eq!(ARM_FPSR_ID, 0x6020_0000_0010_00d4);
    assert_eq!(ARM_FPCR_ID, 0x6020_0000_0010_00d5);
    let mut v = Aarch64Vcpu {
        regs: vec![
            Aarch64Reg {
                id: ARM_FPSR_ID,
                value: Bytes(vec![1, 0, 0, 0]),
            },
            Aarch64Reg {
                id: arm_v_id(2),
                value: Bytes((0..16).collect()),
            },
        ],
        ..Default::default()
    };
    let mut n = arm_native(&v);
    assert_eq!(n.fpsr, 1);
    assert_eq!(n.v[2], [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908]);
    n.fpsr = 0x10;
    n.pstate = 5;
    arm_apply(&mut v, &n);
    assert_eq!(v.regs[0].value.0, vec![0x10, 0, 0, 0], "FPSR stays 32-bit");
    assert_eq!(v.regs.len(), 3);
    assert_eq!(arm_native(&v), n);
}

#[test]
fn device_records_round_trip() {
    let r = DeviceRecord {
        device_type: VirtioDeviceType::Vsock,
        mmio_base: 0x0a00_0400,
        mmio_size: 0x200,
        irq: 6,
    };
    let b = r.to_bytes();
    assert_eq!(b.len(), 21);
    assert_eq!(b[0], 6);
    assert_eq!(DeviceRecord::parse(&b), Some(r));
    assert_eq!(DeviceRecord::parse(&b[..20]), None);
    let mut bad = b.clone();
    bad[0] = 8;
    assert_eq!(DeviceRecord::parse(&bad), None);
}
