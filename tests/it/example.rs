//! The `examples/vcpus.rs` program, as `cargo test` builds it.

use crate::root;
use std::process::Command;

/// `target/<profile>/examples/vcpus`, beside this test binary's `deps/` folder.
fn example() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join("vcpus")
}

#[test]
fn the_example_opens_a_snapshot_and_converts_it() {
    let bin = example();
    assert!(
        bin.is_file(),
        "{} was not built by cargo test",
        bin.display()
    );
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("v14");
    let o = Command::new(&bin)
        .current_dir(root())
        .args([
            "fixtures/firecracker-1.16.1/counter-1vcpu/vmstate",
            "firecracker@11.0.0",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("firecracker-10.0.0 (x86_64)"), "{text}");
    assert!(text.contains("vcpu 0: rip 0x"), "{text}");
    assert!(text.contains("firecracker-11.0.0 (lossless)"), "{text}");
    let back = snaptool::open(&out).unwrap();
    assert_eq!(back.format.id(), "firecracker-11.0.0");
}
