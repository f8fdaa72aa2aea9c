//! The real QEMU 7.2 streams in `fixtures/qemu-7.2`: parsed, modelled and written back.

use super::*;
use crate::memory::ops;

fn fixture(name: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/qemu-7.2");
    let raw = dir.join(name).join("vmstate.qemu");
    if raw.is_file() {
        return std::fs::read(raw).expect("fixture");
    }
    let zst = std::fs::read(dir.join(name).join("vmstate.qemu.zst")).expect("fixture");
    zstd::decode_all(&zst[..]).expect("zstd")
}

const FIXTURES: [&str; 2] = ["counter-microvm-1vcpu", "counter-pc-1vcpu"];

#[test]
fn fixtures_parse_with_every_section_and_block() {
    for name in FIXTURES {
        let f = read(fixture(name), name).expect(name);
        let st = &f.stream;
        let ram = st.ram.as_ref().expect("ram");
        assert!(ram.canonical, "{name}: QEMU sent every page once, in order");
        assert!(st.footers);
        assert!(st.section("cpu", 0).is_some());
        assert!(st.section("globalstate", 0).is_some());
        assert_eq!(
            ram.blocks[main_block(&ram.blocks).unwrap()].length,
            64 << 20
        );
        assert_eq!(st.sections.len(), st.descs.len(), "{name}");
    }
}

#[test]
fn guest_ram_holds_the_counter_state() {
    for name in FIXTURES {
        let f = read(fixture(name), name).expect(name);
        let mem = f.memory().expect("ram");
        let mut magic = [0u8; 8];
        mem.read_at(0x20_0000, &mut magic).unwrap();
        assert_eq!(&magic, b"FCOUNTER", "{name}: the counter's state page");
        let st = ops::stats(&mem, 4096, &ops::no_progress).expect("stats");
        assert!(st.data_pages >= 10, "{name}: {st:?}");
    }
}

#[test]
fn model_has_the_vcpu_in_user_mode() {
    let f = read(fixture("counter-microvm-1vcpu"), "m").unwrap();
    let m = f.to_model().unwrap();
    assert_eq!(m.vcpus.len(), 1);
    let Vcpu::X86_64(v) = &m.vcpus[0] else {
        panic!()
    };
    assert_eq!(v.sregs.cs.selector, 0x33);
    assert_eq!(v.sregs.cs.dpl, 3);
    assert_eq!(v.sregs.cs.l, 1);
    assert_eq!(v.sregs.efer & 0x500, 0x500);
    assert_eq!(v.tsc_khz, Some(2_596_134));
    let lapic = v
        .lapic
        .as_ref()
        .expect("the apic section gives the LAPIC page");
    assert_eq!(lapic.regs.0.len(), 1024);
    assert_eq!(lapic.reg(0x20).unwrap() >> 24, 0, "APIC id of vCPU 0");
}

#[test]
fn hflags_are_what_qemu_computed() {
    for name in FIXTURES {
        let f = read(fixture(name), name).unwrap();
        let s = f.stream.section("cpu", 0).unwrap();
        let d = f.stream.desc_of(s).unwrap();
        let fields = Fields::new(d, &s.payload);
        let v = cpu::vcpu_from(&fields, None);
        let xcr0 = fields.u("env.xcr0").unwrap();
        let h = fields.u("env.hflags").unwrap();
        assert_eq!(cpu::hflags(&v, xcr0, h), h, "{name}: {h:#x}");
    }
}

#[test]
fn write_back_is_byte_exact() {
    for name in FIXTURES {
        let bytes = fixture(name);
        let f = read(bytes.clone(), name).unwrap();
        let m = f.to_model().unwrap();
        let mem = f.memory().unwrap();
        let (out, _) = from_model(&m, Some(&mem)).unwrap();
        assert_eq!(out.len(), bytes.len(), "{name}");
        assert!(out == bytes, "{name}: the stream re-written differs");
    }
}

#[test]
fn patched_cpu_section_reads_back_the_same_vcpu() {
    let f = read(fixture("counter-microvm-1vcpu"), "m").unwrap();
    let s = f.stream.section("cpu", 0).unwrap();
    let d = f.stream.desc_of(s).unwrap();
    let v = cpu::vcpu_from(&Fields::new(d, &s.payload), None);
    let mut payload = s.payload.clone();
    // Write it onto zeros: every field read must come back.
    payload.iter_mut().for_each(|b| *b = 0);
    cpu::patch_cpu(d, &mut payload, &v);
    let back = cpu::vcpu_from(&Fields::new(d, &payload), None);
    assert_eq!(back.regs, v.regs);
    assert_eq!(back.sregs, v.sregs);
    assert_eq!(back.xsave, v.xsave);
    // MCG_CTL is listed only when MCG_CAP (not a model field) says it exists.
    let no_mcg = |m: &[crate::model::Msr]| -> Vec<_> {
        m.iter().filter(|x| x.index != 0x17b).copied().collect()
    };
    assert_eq!(no_mcg(&back.msrs), no_mcg(&v.msrs));
    assert_eq!(back.events, v.events);
}

#[test]
fn model_written_on_the_template_runs_and_names_its_command() {
    let f = read(fixture("counter-microvm-1vcpu"), "m").unwrap();
    let mut m = f.to_model().unwrap();
    m.extensions.clear();
    let mem = f.memory().unwrap();
    let (out, notes) = from_model(&m, Some(&mem)).unwrap();
    assert!(notes.iter().any(|n| n.contains("taken from")));
    let back = read(out.clone(), "out").unwrap();
    assert!(back.stream.section("slirp", 0).is_none());
    let g = back.stream.section("globalstate", 0).unwrap();
    assert!(g.payload[4..].starts_with(b"running\0"));
    let cmd = command(&out, std::path::Path::new("/tmp/x y.qemu")).unwrap();
    assert!(cmd.contains(&"-net".to_string()));
    assert_eq!(cmd.last().unwrap(), "exec:cat '/tmp/x y.qemu'");
    let m2 = back.to_model().unwrap();
    assert_eq!(m2.vcpus, m.vcpus);
}

#[test]
fn two_vcpus_clone_the_sections() {
    let f = read(fixture("counter-microvm-1vcpu"), "m").unwrap();
    let mut m = f.to_model().unwrap();
    m.extensions.clear();
    let v1 = m.vcpus[0].clone();
    m.vcpus.push(v1);
    let mem = f.memory().unwrap();
    let (out, _) = from_model(&m, Some(&mem)).unwrap();
    let back = read(out, "out").unwrap();
    assert_eq!(vcpu_instances(&back.stream), vec![0, 1]);
    assert!(back.stream.section("apic", 1).is_some());
    assert_eq!(back.to_model().unwrap().vcpus.len(), 2);
}

#[test]
fn truncated_and_damaged_streams_are_errors_not_panics() {
    let bytes = fixture("counter-microvm-1vcpu");
    for cut in [
        0,
        3,
        8,
        20,
        200,
        0x421b7,
        0x42300,
        bytes.len() - 10,
        bytes.len() - 1,
    ] {
        let _ = read(bytes[..cut].to_vec(), "cut");
    }
    let mut b = bytes.clone();
    for i in (0..b.len()).step_by(997) {
        b[i] ^= 0xff;
        let _ = read(b.clone(), "flip");
        b[i] ^= 0xff;
    }
    assert!(read(bytes[..100].to_vec(), "cut").is_err());
}
