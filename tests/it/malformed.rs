//! Each committed malformed sample gives its precise error.

use crate::root;
use snaptool::verify::verify_state;

fn findings(name: &str) -> Vec<String> {
    let p = root().join("fixtures/malformed").join(name);
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let r = verify_state(name, &bytes, None);
    assert!(!r.clean, "{name}: no findings");
    r.findings.iter().map(|f| f.to_string()).collect()
}

fn assert_has(name: &str, needles: &[&str]) {
    let all = findings(name).join("\n");
    for n in needles {
        assert!(all.contains(n), "{name}: `{n}` missing from:\n{all}");
    }
}

#[test]
fn truncated() {
    assert_has(
        "fc-10.0.0-truncated.vmstate",
        &[
            "error[crc_mismatch]",
            "error[decode_error]",
            "firecracker-10.0.0",
        ],
    );
    assert_has(
        "fc-6.0.0-truncated.vmstate",
        &[
            "error[crc_mismatch]",
            "error[decode_error]",
            "field `vcpu_states[0].saved_msrs",
            "exceeds the 9 remaining",
        ],
    );
}

/// Decode findings carry the file offset and field path as data, not only in the text.
#[test]
fn decode_findings_carry_offset_and_path() {
    let p = root().join("fixtures/malformed/fc-6.0.0-truncated.vmstate");
    let r = verify_state("t", &std::fs::read(p).unwrap(), None);
    let d = r
        .findings
        .iter()
        .find(|f| f.code == "decode_error")
        .unwrap();
    assert_eq!(d.offset, Some(0x1e47));
    assert_eq!(
        d.path.as_deref(),
        Some("vcpu_states[0].saved_msrs[0][1][127]")
    );
}

#[test]
fn bad_magic() {
    for l in ["10.0.0", "6.0.0"] {
        assert_has(
            &format!("fc-{l}-bad-magic.vmstate"),
            &[
                "error[bad_magic]",
                "offset 0x0",
                "0x0710198486640000",
                "8877665544332211",
            ],
        );
    }
}

#[test]
fn bad_crc() {
    let f = findings("fc-10.0.0-bad-crc.vmstate");
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].contains("crc64 at offset 0x3473") && f[0].contains("computed 0xb29ac9e6eabdf359"),
        "{f:?}"
    );
    let f = findings("fc-6.0.0-bad-crc.vmstate");
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].contains("crc64 at offset 0x3cb9"), "{f:?}");
}

#[test]
fn future_major_version() {
    assert_has(
        "fc-10.0.0-future-major.vmstate",
        &[
            "error[unsupported_version]",
            "offset 0xa",
            "format 99.0.0 (bitcode era) is not supported",
            "10.0.0 (v1.16.0, v1.16.1)",
        ],
    );
    assert_has(
        "fc-6.0.0-future-major.vmstate",
        &[
            "error[unsupported_version]",
            "offset 0x10",
            "format 99.0.0 (bincode era)",
        ],
    );
}

#[test]
fn wrong_arch() {
    for l in ["10.0.0", "6.0.0"] {
        assert_has(
            &format!("fc-{l}-wrong-arch.vmstate"),
            &[
                "error[arch_mismatch]",
                "aarch64",
                "the magic says aarch64 but the state decodes as x86_64",
            ],
        );
    }
}
