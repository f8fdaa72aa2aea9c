//! Real snapshots with devices (`fixtures/firecracker-{1.14.4,1.16.1}/counter-devices-1vcpu`):
//! typed configuration and runtime state, conversion through the typed device model, `edit`.

use crate::root;
use snaptool::convert::{self, ConvertError, Target};
use snaptool::formats::firecracker::{self as fc, LAYOUTS, Layout};
use snaptool::model::{DeviceConfig, DeviceKind, KindState, Snapshot};
use std::path::PathBuf;
use std::process::{Command, Output};

fn fixtures() -> Vec<PathBuf> {
    ["1.14.4", "1.16.1"]
        .iter()
        .map(|r| root().join(format!("fixtures/firecracker-{r}/counter-devices-1vcpu")))
        .collect()
}

fn model(p: &std::path::Path) -> Snapshot {
    fc::read(&std::fs::read(p).unwrap()).unwrap().to_model()
}

fn config<'a>(m: &'a Snapshot, kind: DeviceKind, id: &str) -> &'a DeviceConfig {
    m.devices
        .iter()
        .find(|d| d.kind == kind && d.id == id)
        .and_then(|d| d.config.as_ref())
        .unwrap_or_else(|| panic!("no configured {} `{id}`", kind.name()))
}

/// Every device of a real snapshot with devices is typed: configuration, virtio state and
/// runtime state, no producer JSON. A device of each kind carries its kind's state, and a field
/// the fixtures set (the net RX limiter's bucket) is in it.
#[test]
fn every_device_is_typed() {
    for dir in fixtures() {
        let m = model(&dir.join("vmstate"));
        for d in &m.devices {
            assert!(
                d.raw.is_none(),
                "{}: {} keeps raw JSON",
                dir.display(),
                d.id
            );
            if d.virtio.is_some() {
                let s = d.state.as_ref().expect("virtio device without state");
                assert!(s.mmio.is_some(), "{}: no MMIO registers", d.id);
                let ok = matches!(
                    (&d.kind, &s.kind),
                    (DeviceKind::Block, KindState::Block(_))
                        | (DeviceKind::Net, KindState::Net(_))
                        | (DeviceKind::Vsock, KindState::Vsock(_))
                        | (DeviceKind::Balloon, KindState::Balloon(_))
                        | (DeviceKind::Rng, KindState::Entropy(_))
                        | (DeviceKind::Pmem, KindState::Pmem(_))
                        | (DeviceKind::Mem, KindState::Mem(_))
                );
                assert!(ok, "{}: kind {:?} with state {:?}", d.id, d.kind, s.kind);
            }
        }
        let net = m.devices.iter().find(|d| d.id == "eth0").unwrap();
        let Some(KindState::Net(n)) = net.state.as_ref().map(|s| &s.kind) else {
            panic!("eth0 has no net state");
        };
        assert!(n.rx_limiter.bandwidth.is_some(), "{}", dir.display());
        assert!(n.mmds_stack.is_some(), "MMDS answers on eth0");
        assert!(
            m.devices.iter().any(|d| d.kind == DeviceKind::VmClock
                && matches!(
                    d.state.as_ref().map(|s| &s.kind),
                    Some(KindState::VmClock(_))
                )),
            "{}: no typed vmclock",
            dir.display()
        );
    }
}

/// What the fixtures' READMEs say was configured through Firecracker's API.
#[test]
fn the_configuration_is_what_the_api_calls_set() {
    for dir in fixtures() {
        let m = model(&dir.join("vmstate"));
        let DeviceConfig::Block(root) = config(&m, DeviceKind::Block, "rootfs") else {
            panic!()
        };
        assert_eq!(root.path_on_host.as_deref(), Some("disk0.img"));
        assert_eq!(root.cache_type.as_deref(), Some("Writeback"));
        assert_eq!(root.is_read_only, Some(false));
        let DeviceConfig::Block(data) = config(&m, DeviceKind::Block, "data") else {
            panic!()
        };
        assert_eq!(data.is_read_only, Some(true));
        let rl = data.rate_limiter.clone().unwrap();
        assert_eq!(
            rl.bandwidth.map(|b| (b.size, b.refill_time)),
            Some((1048576, 100))
        );
        assert_eq!(rl.ops.map(|b| (b.size, b.refill_time)), Some((1000, 1000)));
        let DeviceConfig::Block(scratch) = config(&m, DeviceKind::Block, "scratch") else {
            panic!()
        };
        assert_eq!(scratch.io_engine.as_deref(), Some("Async"));
        let DeviceConfig::Net(net) = config(&m, DeviceKind::Net, "eth0") else {
            panic!()
        };
        assert_eq!(net.guest_mac.as_deref(), Some("06:00:ac:10:00:02"));
        assert!(net.host_dev_name.as_deref().unwrap().starts_with("fcd11"));
        assert_eq!(net.mmds, Some(true));
        let DeviceConfig::Vsock(v) = config(&m, DeviceKind::Vsock, "vsock") else {
            panic!()
        };
        assert_eq!(
            (v.guest_cid, v.uds_path.as_deref()),
            (Some(3), Some("v.sock"))
        );
        let DeviceConfig::Balloon(b) = config(&m, DeviceKind::Balloon, "balloon") else {
            panic!()
        };
        assert_eq!(b.amount_mib, Some(4));
        assert_eq!(b.deflate_on_oom, Some(true));
        assert_eq!(b.free_page_hinting, Some(true));
        assert_eq!(b.free_page_reporting, Some(true));
        assert_eq!(b.stats_polling_interval_s, Some(1));
        let DeviceConfig::Mmds(mmds) = config(&m, DeviceKind::Mmds, "mmds") else {
            panic!()
        };
        assert_eq!(mmds.version.as_deref(), Some("V2"));
        assert_eq!(mmds.network_interfaces, ["eth0"]);
        let DeviceConfig::Entropy(e) = config(&m, DeviceKind::Rng, "rng") else {
            panic!()
        };
        assert_eq!(
            e.rate_limiter.clone().unwrap().bandwidth.map(|b| b.size),
            Some(4096)
        );
    }
}

fn rank(l: Layout) -> usize {
    LAYOUTS.iter().position(|i| i.layout == l).unwrap()
}

/// Every newer layout takes the devices without loss and gives the input's bytes back; every
/// older one is refused (or, lossy, names the devices and fields it cannot hold).
#[test]
fn devices_upgrade_losslessly_and_downgrades_name_what_is_lost() {
    for dir in fixtures() {
        for name in ["vmstate", "vmstate.diff"] {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let own = fc::read(&bytes).unwrap().state.layout();
            for l in LAYOUTS {
                let what = format!("{} {name} -> {}", dir.display(), l.id);
                let r = convert::convert_firecracker(&bytes, Target::Firecracker(l.layout), false);
                if rank(l.layout) >= rank(own) {
                    let (out, report) = r.unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert!(report.lossless && report.lost.is_empty(), "{what}");
                    let (back, _) =
                        convert::convert_firecracker(&out, Target::Firecracker(own), false)
                            .unwrap_or_else(|e| panic!("{what} and back: {e}"));
                    assert!(back == bytes, "{what} and back: bytes differ");
                    continue;
                }
                match r {
                    Err(ConvertError::Lossy(report)) => {
                        let lost: Vec<String> =
                            report.lost.iter().map(|c| c.path.clone()).collect();
                        // Only device and device-field paths, never a field both layouts hold.
                        assert!(!lost.is_empty(), "{what}");
                        for p in &lost {
                            assert!(!p.contains("raw.layout"), "{what}: {p}");
                        }
                        // Allowed, the conversion writes what the older release can hold.
                        let (out, r) = convert::convert_firecracker(
                            &bytes,
                            Target::Firecracker(l.layout),
                            true,
                        )
                        .unwrap_or_else(|e| panic!("{what} with --allow-lossy: {e}"));
                        assert!(!r.lossless, "{what}");
                        assert!(fc::read(&out).is_ok(), "{what}: unreadable output");
                        if rank(l.layout) < rank(Layout::V8_0_0_V1_14) {
                            assert!(
                                lost.iter().any(|p| p.starts_with("memory.region[1]")),
                                "{what}: {lost:?}"
                            );
                            assert!(
                                lost.iter().any(|p| p.starts_with("devices.mem[mem]")),
                                "{what}: {lost:?}"
                            );
                        }
                    }
                    Err(e) => panic!("{what}: {e}"),
                    Ok(_) => panic!("{what}: a downgrade that drops devices was not refused"),
                }
            }
        }
    }
}

/// 1.16.1 → 1.15 loses exactly what v1.15 has no place for: the net MTU, pmem rate limiting and
/// the serial console's registers.
#[test]
fn a_downgrade_to_v1_15_names_exactly_the_missing_fields() {
    let bytes = std::fs::read(fixtures()[1].join("vmstate")).unwrap();
    let Err(ConvertError::Lossy(r)) =
        convert::convert_firecracker(&bytes, Target::Firecracker(Layout::V9_0_0), false)
    else {
        panic!("not refused")
    };
    let lost: Vec<&str> = r.lost.iter().map(|c| c.path.as_str()).collect();
    assert!(lost.contains(&"devices.net[eth0].mtu"), "{lost:?}");
    assert!(
        lost.iter().any(|p| p.starts_with("devices.pmem[pmem0]")),
        "{lost:?}"
    );
    assert!(
        lost.iter().any(|p| p.starts_with("devices.serial[serial]")),
        "{lost:?}"
    );
    assert!(lost.iter().all(|p| p.starts_with("devices.")), "{lost:?}");
}

fn snaptool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_snaptool"))
        .args(args)
        .output()
        .unwrap()
}

/// `edit` changes exactly the fields named; the result verifies; refused edits write nothing.
#[test]
fn edit_changes_exactly_the_named_fields() {
    let t = tempfile::tempdir().unwrap();
    for dir in fixtures() {
        let input = dir.join("vmstate");
        let out = t.path().join("edited");
        let o = snaptool(&[
            "edit",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--set",
            "devices.block[rootfs].path_on_host=/srv/vm/disk0.img",
            "--set",
            "devices.net[eth0].host_dev_name=tap-moved",
            "--set",
            "devices.vsock[vsock].uds_path=/run/vm/v.sock",
            "--set",
            "vcpu[0].tsc_khz=2000000",
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let (a, b) = (model(&input), model(&out));
        let changes: Vec<String> = snaptool::diff::diff(&a, &b, snaptool::diff::PROVENANCE)
            .iter()
            .map(|c| c.path.clone())
            .collect();
        assert_eq!(changes.len(), 4, "{changes:?}");
        for p in [
            "devices.block[rootfs].path_on_host",
            "devices.net[eth0].host_dev_name",
            "devices.vsock[vsock].uds_path",
            "vcpu[0].tsc_khz",
        ] {
            assert!(changes.iter().any(|c| c == p), "{p} not in {changes:?}");
        }
        let v = snaptool(&["verify", out.to_str().unwrap()]);
        assert_eq!(
            v.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&v.stdout)
        );
        // Editing the fields back gives the input's bytes.
        let back = t.path().join("back");
        let DeviceConfig::Net(n) = config(&a, DeviceKind::Net, "eth0") else {
            panic!()
        };
        let tap = format!(
            "devices.net[eth0].host_dev_name={}",
            n.host_dev_name.clone().unwrap()
        );
        let tsc = format!(
            "vcpu[0].tsc_khz={}",
            match &a.vcpus[0] {
                snaptool::model::Vcpu::X86_64(v) => v.tsc_khz.unwrap(),
                _ => panic!(),
            }
        );
        let o = snaptool(&[
            "edit",
            out.to_str().unwrap(),
            "-o",
            back.to_str().unwrap(),
            "--set",
            "devices.block[rootfs].path_on_host=disk0.img",
            "--set",
            &tap,
            "--set",
            "devices.vsock[vsock].uds_path=v.sock",
            "--set",
            &tsc,
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(std::fs::read(&back).unwrap() == std::fs::read(&input).unwrap());
        for bad in [
            "devices.net[nosuch].host_dev_name=x",
            "vcpu[0].tsc_khz=fast",
            "devices.block[data].is_read_only=false",
            "vcpu[7].tsc_khz=1",
        ] {
            let refused = t.path().join("refused");
            let o = snaptool(&[
                "edit",
                input.to_str().unwrap(),
                "-o",
                refused.to_str().unwrap(),
                "--set",
                bad,
            ]);
            assert_eq!(o.status.code(), Some(2), "{bad}");
            assert!(!refused.exists(), "{bad}: a refused edit wrote a file");
            assert!(
                String::from_utf8_lossy(&o.stderr).contains(bad.split('=').next().unwrap()),
                "{bad}"
            );
        }
    }
}

/// A 6.0.0 (v1.12) state with devices — the v1.14.4 fixture's devices less those v1.12 lacks
/// (pmem, virtio-mem and its hotplug region), written as 6.0.0 — climbs every step of the
/// layout ladder and comes back byte for byte. (No real v1.12 snapshot with devices is in
/// fixtures/; this checks the ladder's 6.0.0 ↔ 8.0.0 step against 6.0.0's own types.)
#[test]
fn a_v1_12_state_with_devices_goes_up_and_back() {
    let mut m = model(&fixtures()[0].join("vmstate"));
    m.devices
        .retain(|d| !matches!(d.kind, DeviceKind::Pmem | DeviceKind::Mem));
    m.memory.regions.truncate(1);
    let v14 = convert::encode_model(&m, Layout::V8_0_0_V1_14).unwrap();
    let (v12, report) =
        convert::convert_firecracker(&v14, Target::Firecracker(Layout::V6_0_0), true).unwrap();
    assert!(
        !report.lossless,
        "6.0.0 has no resource allocator: the downgrade loses it"
    );
    let m12 = fc::read(&v12).unwrap().to_model();
    for kind in [
        DeviceKind::Block,
        DeviceKind::Net,
        DeviceKind::Vsock,
        DeviceKind::Balloon,
        DeviceKind::Rng,
        DeviceKind::Mmds,
    ] {
        assert!(
            m12.devices.iter().any(|d| d.kind == kind),
            "{} lost in 6.0.0",
            kind.name()
        );
    }
    let mmds = config(&m12, DeviceKind::Mmds, "mmds");
    assert!(matches!(mmds, DeviceConfig::Mmds(c) if c.version.as_deref() == Some("V2")));
    for l in LAYOUTS
        .iter()
        .filter(|l| rank(l.layout) > rank(Layout::V6_0_0))
    {
        let (up, report) = convert::convert_firecracker(&v12, Target::Firecracker(l.layout), false)
            .unwrap_or_else(|e| panic!("6.0.0 -> {}: {e}", l.id));
        assert!(report.lossless, "6.0.0 -> {}", l.id);
        let (back, _) =
            convert::convert_firecracker(&up, Target::Firecracker(Layout::V6_0_0), false)
                .unwrap_or_else(|e| panic!("{} -> 6.0.0: {e}", l.id));
        assert!(back == v12, "6.0.0 -> {} -> 6.0.0: bytes differ", l.id);
        // The devices keep their configuration on the way.
        let mu = fc::read(&up).unwrap().to_model();
        assert_eq!(
            config(&mu, DeviceKind::Block, "rootfs"),
            config(&m12, DeviceKind::Block, "rootfs"),
            "{}",
            l.id
        );
    }
}

/// `inspect` lists the resource allocator as the ranges it handed out, each with its owner:
/// every MMIO device holds the 32-bit MMIO page at its transport address, pmem and virtio-mem
/// hold their areas past 64-bit MMIO, VMGenID and vmclock their system-memory pages; no range
/// outside system memory is unclaimed.
#[test]
fn inspect_names_the_owner_of_every_allocated_range() {
    use snaptool::model::Transport;
    for dir in fixtures() {
        let m = model(&dir.join("vmstate"));
        let text = snaptool::inspect::render_model(&m);
        let ranges: Vec<(&str, u64, &str)> = text
            .lines()
            .skip_while(|l| !l.starts_with("allocator: "))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let start = f[1].split("..=").next().unwrap().trim_start_matches("0x");
                (f[0], u64::from_str_radix(start, 16).unwrap(), f[2])
            })
            .collect();
        assert!(
            !ranges.is_empty(),
            "{}: no allocator lines:\n{text}",
            dir.display()
        );
        for d in &m.devices {
            let name = format!("{}[{}]", d.kind.name(), d.id);
            let held: Vec<_> = ranges.iter().filter(|r| r.2 == name).collect();
            if let Some(Transport::Mmio { addr, .. }) = d.transport {
                assert!(
                    held.iter().any(|r| r.0 == "mmio32" && r.1 == addr),
                    "{name}: {held:?}"
                );
            }
            let want = match d.kind {
                DeviceKind::Pmem | DeviceKind::Mem => Some("past_mmio64"),
                DeviceKind::VmGenId | DeviceKind::VmClock => Some("system"),
                _ => None,
            };
            if let Some(space) = want {
                assert!(held.iter().any(|r| r.0 == space), "{name}: {held:?}");
            }
        }
        assert!(
            ranges.iter().all(|r| r.0 == "system" || r.2 != "-"),
            "{}: unclaimed range: {ranges:?}",
            dir.display()
        );
        assert!(ranges.iter().any(|r| r.2 == "(acpi"), "{ranges:?}");
    }
}
