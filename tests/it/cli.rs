//! The command line: exit codes and messages, end to end through the binary.

use crate::{real_states, root};
use std::process::{Command, Output};

fn snaptool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_snaptool"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn verify_real_fixtures_is_clean() {
    for p in real_states() {
        let o = snaptool(&["verify", p.to_str().unwrap()]);
        assert_eq!(
            code(&o),
            0,
            "{}: {}",
            p.display(),
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

#[test]
fn verify_malformed_exits_1_and_names_the_file() {
    let o = snaptool(&["verify", "fixtures/malformed/fc-6.0.0-bad-magic.vmstate"]);
    assert_eq!(code(&o), 1);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("fixtures/malformed/fc-6.0.0-bad-magic.vmstate: error[bad_magic]"),
        "{out}"
    );
}

#[test]
fn verify_json_lists_findings() {
    let o = snaptool(&[
        "verify",
        "fixtures/malformed/fc-10.0.0-truncated.vmstate",
        "--json",
    ]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["clean"], false);
    let codes: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["crc_mismatch", "decode_error"]);
}

#[test]
fn verify_checks_the_memory_file_size() {
    let dir = tempfile::tempdir().unwrap();
    let mem = dir.path().join("mem");
    std::fs::File::create(&mem)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let state = "fixtures/firecracker-1.16.1/counter-1vcpu/vmstate";
    assert_eq!(
        code(&snaptool(&[
            "verify",
            state,
            "--mem",
            mem.to_str().unwrap()
        ])),
        0
    );
    std::fs::File::create(&mem)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    let o = snaptool(&["verify", state, "--mem", mem.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stdout).contains("the regions need 67108864"));
}

#[test]
fn missing_file_exits_2() {
    let o = snaptool(&["verify", "no/such/file"]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no/such/file"));
    assert_eq!(code(&snaptool(&["inspect", "no/such/file"])), 2);
    assert_eq!(code(&snaptool(&["frobnicate"])), 2);
}

#[test]
fn inspect_malformed_exits_2_with_the_reason() {
    let o = snaptool(&["inspect", "fixtures/malformed/fc-10.0.0-bad-crc.vmstate"]);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("fc-10.0.0-bad-crc.vmstate: crc64 at offset 0x3473"),
        "{err}"
    );
}

#[test]
fn inspect_no_crc_reads_a_damaged_file() {
    let o = snaptool(&[
        "inspect",
        "--no-crc",
        "fixtures/malformed/fc-10.0.0-bad-crc.vmstate",
    ]);
    assert_eq!(code(&o), 0);
    assert!(String::from_utf8_lossy(&o.stdout).contains("MISMATCH"));
}

#[test]
fn inspect_json_is_the_model() {
    let o = snaptool(&[
        "inspect",
        "fixtures/firecracker-1.12.1/counter-1vcpu/vmstate",
        "--json",
    ]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["file"]["layout"], "firecracker-6.0.0");
    let m: snaptool::model::Snapshot = serde_json::from_value(v["snapshot"].clone()).unwrap();
    assert_eq!(m.vcpus.len(), 1);
}
