use super::*;
use crate::formats::firecracker as fc;
use crate::memory::{Extent, ImageKind, MemError, MemoryImage};
use crate::model::{self, Snapshot, Vcpu};
use std::path::PathBuf;

/// A memory image held in memory.
#[derive(Debug)]
struct VecImage(Vec<u8>);

impl MemoryImage for VecImage {
    fn path(&self) -> &str {
        "mem"
    }
    fn kind(&self) -> ImageKind {
        ImageKind::Raw
    }
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let o = offset as usize;
        let s = self
            .0
            .get(o..o + buf.len())
            .ok_or_else(|| MemError::Mismatch("read past the end".into()))?;
        buf.copy_from_slice(s);
        Ok(())
    }
    fn extents(&self) -> Result<Vec<Extent>, MemError> {
        Ok(vec![Extent {
            offset: 0,
            len: self.len(),
        }])
    }
}

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

fn x86(m: &Snapshot, i: usize) -> &model::X86Vcpu {
    match &m.vcpus[i] {
        Vcpu::X86_64(v) => v,
        Vcpu::Aarch64(_) => panic!("aarch64 vCPU"),
    }
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// Rewrites header fields of an encoded file and fixes the checksum, so a test reaches the rule
/// it aims at.
fn patch_header(b: &mut [u8], f: impl FnOnce(&mut Header)) {
    let mut h = Header::parse(b).unwrap();
    f(&mut h);
    h.checksum = h.compute_checksum();
    let hb = h.to_bytes();
    b[..HEADER_SIZE].copy_from_slice(&hb);
}

fn code(b: &[u8]) -> &'static str {
    read(b).expect_err("must be refused").code
}

// ---------------------------------------------------------------------------------------------
// Hand-checked bytes

#[test]
fn header_checksum_and_registers_by_hand() {
    let mut f = VeridianFile::new(0x1122, 1, 2, 0x99);
    f.add_register_state(
        0,
        GuestRegisters {
            rbp: 0x0B,
            rsp: 0x05,
            rip: 0x1000,
            ..Default::default()
        },
    );
    f.finalize();
    let b = write(&f).unwrap();
    // total_size = 64 + 24 + 144
    assert_eq!(b.len(), 232);
    #[rustfmt::skip]
    let header: [u8; 64] = [
        0x4E, 0x53, 0x4D, 0x56, 0x01, 0x00, 0x00, 0x00, // magic "NSMV", version 1
        0x22, 0x11, 0, 0, 0, 0, 0, 0,                   // vm_id
        0x01, 0, 0, 0, 0, 0, 0, 0,                      // vcpu_count, padding
        0x02, 0, 0, 0, 0, 0, 0, 0,                      // memory_pages
        0x01, 0, 0, 0, 0, 0, 0, 0,                      // region_count, padding
        0xE8, 0, 0, 0, 0, 0, 0, 0,                      // total_size 232
        0x99, 0, 0, 0, 0, 0, 0, 0,                      // timestamp
        // checksum: 0x564D534E ^ 1 ^ 0x1122 ^ 1 ^ 2 ^ 1 ^ 232 ^ 0x99 = 0x564D421E
        0x1E, 0x42, 0x4D, 0x56, 0, 0, 0, 0,
    ];
    assert_eq!(&b[..64], &header);
    #[rustfmt::skip]
    let desc: [u8; 24] = [
        0x02, 0, 0, 0, 0, 0, 0, 0,    // GeneralRegisters, vCPU 0
        0x58, 0, 0, 0, 0, 0, 0, 0,    // offset 88
        0x90, 0, 0, 0, 0, 0, 0, 0,    // size 144
    ];
    assert_eq!(&b[64..88], &desc);
    // rbp (7th register) before rsp (8th)
    assert_eq!(u64_at(&b, 88 + 6 * 8), 0x0B);
    assert_eq!(u64_at(&b, 88 + 7 * 8), 0x05);
    assert_eq!(u64_at(&b, 88 + 16 * 8), 0x1000);
    assert!(f.validate());
    let r = read(&b).unwrap();
    assert_eq!(r, f);
    let m = r.to_model();
    assert_eq!(x86(&m, 0).regs.rbp, 0x0B);
    assert_eq!(x86(&m, 0).regs.rsp, 0x05);
}

#[test]
fn index_section_by_hand() {
    let mut f = VeridianFile::new(7, 1, 4, 0);
    f.add_register_state(0, GuestRegisters::default());
    f.add_memory_page(1, &[0xAB; 4096]).unwrap();
    f.add_device_state("d".into(), vec![1, 2, 3]);
    f.finalize();
    let b = write(&f).unwrap();
    let total = 64 + 3 * 24 + 144 + 4096 + 3;
    assert_eq!(f.header.total_size, total as u64);
    assert_eq!(b.len(), total + 8 + 4 + 1);
    // descriptors: page at 64+72+144 = 280, device right after it
    assert_eq!(u32_at(&b, 64 + 24), 4);
    assert_eq!(u64_at(&b, 64 + 24 + 8), 280);
    assert_eq!(u64_at(&b, 64 + 24 + 16), 4096);
    assert_eq!(u32_at(&b, 64 + 48), 5);
    assert_eq!(u64_at(&b, 64 + 48 + 8), 280 + 4096);
    assert_eq!(u64_at(&b, 64 + 48 + 16), 3);
    assert_eq!(&b[280..284], &[0xAB; 4]);
    assert_eq!(&b[total - 3..total], &[1, 2, 3]);
    // index section: page index 1, then name "d"
    assert_eq!(u64_at(&b, total), 1);
    assert_eq!(&b[total + 8..], &[1, 0, 0, 0, b'd']);
    let r = read(&b).unwrap();
    assert_eq!(r, f);
    let pages: Vec<(u64, Vec<u8>)> = r
        .pages()
        .map(|p| p.map(|(i, d)| (i, d.into_owned())).unwrap())
        .collect();
    assert_eq!(pages, vec![(1, vec![0xAB; 4096])]);
    assert_eq!(r.memory_len(), 4 * 4096);
}

#[test]
fn lapic_byte_form_in_a_file() {
    let mut f = VeridianFile::new(0, 1, 0, 0);
    f.add_register_state(0, GuestRegisters::default());
    let l = LapicSnapshot {
        id: 3,
        svr: 0x1FF,
        tsc_deadline: 0xAABB,
        dfr: 0xFFFF_FFFF,
        enabled: true,
        ..Default::default()
    };
    f.add_lapic_state(0, l);
    f.finalize();
    let b = write(&f).unwrap();
    let p = 64 + 48 + 144;
    assert_eq!(b.len(), p + 176);
    assert_eq!(u32_at(&b, p), 3);
    assert_eq!(u32_at(&b, p + 8), 0x1FF);
    assert_eq!(u64_at(&b, p + 144), 0xAABB);
    assert_eq!(u32_at(&b, p + 164), 0xFFFF_FFFF);
    assert_eq!(b[p + 168], 1);
    let m = read(&b).unwrap().to_model();
    let v = x86(&m, 0);
    let page = &v.lapic.as_ref().unwrap().regs.0;
    assert_eq!(page.len(), 1024);
    assert_eq!(u32_at(page, 0x20), 3 << 24);
    assert_eq!(u32_at(page, 0x30), 0x0005_0014);
    assert_eq!(u32_at(page, 0xF0), 0x1FF);
    assert_eq!(u32_at(page, 0xE0), 0xFFFF_FFFF);
    // the TSC deadline becomes MSR 0x6E0
    assert_eq!(
        v.msrs.iter().find(|m| m.index == 0x6E0).map(|m| m.value),
        Some(0xAABB)
    );
}

#[test]
fn sniff_recognises_the_magic() {
    assert!(sniff(&[0x4E, 0x53, 0x4D, 0x56]));
    assert!(sniff(&MAGIC.to_le_bytes()));
    assert!(!sniff(b"NSM"));
    assert!(!sniff(&0x0710_1984_8664_0000u64.to_le_bytes()));
}

// ---------------------------------------------------------------------------------------------
// A native file (no snaptool blobs), as another producer would write it

fn native_sample() -> VeridianFile {
    let mut f = VeridianFile::new(42, 2, 8, 123_456);
    for v in 0..2u32 {
        f.add_register_state(
            v,
            GuestRegisters {
                rax: 1 + u64::from(v),
                rbp: 0x7000,
                rsp: 0x6ff0,
                rip: 0x10_0000 + u64::from(v),
                rflags: 0x2,
                ..Default::default()
            },
        );
        let mut fields = vec![
            VmcsField {
                encoding: vmcs::GUEST_RIP,
                value: 0x10_0000 + u64::from(v),
            },
            VmcsField {
                encoding: vmcs::GUEST_CR0,
                value: 0x8005_0033,
            },
            VmcsField {
                encoding: vmcs::GUEST_CR3,
                value: 0x1000,
            },
            VmcsField {
                encoding: vmcs::GUEST_IA32_EFER,
                value: 0x500,
            },
            VmcsField {
                encoding: vmcs::selector_enc(1),
                value: 0x10,
            },
            VmcsField {
                encoding: vmcs::ar_enc(1),
                value: 0xA09B,
            },
            VmcsField {
                encoding: vmcs::limit_enc(1),
                value: 0xFFFF_FFFF,
            },
            VmcsField {
                encoding: vmcs::GUEST_GDTR_LIMIT,
                value: 0x27,
            },
            VmcsField {
                encoding: vmcs::GUEST_SYSENTER_CS,
                value: 0x10,
            },
            // not mapped by snaptool: interruptibility state
            VmcsField {
                encoding: 0x4824,
                value: 1,
            },
        ];
        if v == 1 {
            fields.push(VmcsField {
                encoding: vmcs::GUEST_DR7,
                value: 0x400,
            });
        }
        f.add_vmcs_state(v, fields);
        f.add_msr_state(
            v,
            vec![MsrEntry {
                index: 0xC000_0082,
                reserved: 0,
                value: 0xFFFF_FFFF_8100_0000,
            }],
        );
        f.add_lapic_state(
            v,
            LapicSnapshot {
                id: v,
                tpr: 0x10,
                svr: 0x1FF,
                lvt_timer_raw: 0x0001_0000,
                dfr: 0xFFFF_FFFF,
                enabled: true,
                ..Default::default()
            },
        );
    }
    f.add_memory_page(2, &[0x5A; 4096]).unwrap();
    f.add_memory_page(5, &[0xC3; 100]).unwrap();
    f.add_device_state("uart0".into(), b"uart state".to_vec());
    f.finalize();
    f
}

#[test]
fn native_file_reads_into_a_sensible_model() {
    let f = native_sample();
    let b = write(&f).unwrap();
    assert_eq!(read(&b).unwrap(), f);
    let m = f.to_model();
    assert_eq!(m.provenance.format, "veridian");
    assert_eq!(m.vm.vm_id.as_deref(), Some("42"));
    assert_eq!(m.vm.created.as_deref(), Some("123456"));
    assert_eq!(m.memory.total_size(), 8 * 4096);
    assert_eq!(m.vcpus.len(), 2);
    let v = x86(&m, 1);
    assert_eq!(v.regs.rax, 2);
    assert_eq!(v.regs.rbp, 0x7000);
    assert_eq!(v.regs.rsp, 0x6ff0);
    assert_eq!(v.regs.rip, 0x10_0001);
    assert_eq!(v.sregs.cr0, 0x8005_0033);
    assert_eq!(v.sregs.efer, 0x500);
    assert_eq!(v.sregs.cs.selector, 0x10);
    assert_eq!(v.sregs.cs.limit, 0xFFFF_FFFF);
    assert_eq!(
        (
            v.sregs.cs.type_,
            v.sregs.cs.s,
            v.sregs.cs.present,
            v.sregs.cs.l,
            v.sregs.cs.g
        ),
        (11, 1, 1, 1, 1)
    );
    assert_eq!(v.sregs.gdt.limit, 0x27);
    assert_eq!(v.debug_regs.unwrap().dr7, 0x400);
    assert!(x86(&m, 0).debug_regs.is_none());
    // SYSENTER_CS from the VMCS joins the MSR list
    assert!(v.msrs.iter().any(|m| m.index == 0x174 && m.value == 0x10));
    assert_eq!(u32_at(&v.lapic.as_ref().unwrap().regs.0, 0x20), 1 << 24);
    assert_eq!(u32_at(&v.lapic.as_ref().unwrap().regs.0, 0x80), 0x10);
    assert!(m.extensions.contains_key("veridian/vmcs_extra"));
    assert_eq!(m.devices.len(), 1);
    assert_eq!(m.devices[0].id, "uart0");
    assert_eq!(m.devices[0].blob.as_ref().unwrap().0, b"uart state");
    assert_eq!(f.memory_len(), 8 * 4096);
    let pages: Vec<u64> = f.pages().map(|p| p.unwrap().0).collect();
    assert_eq!(pages, vec![2, 5]);
    assert!(
        f.pages().nth(1).unwrap().unwrap().1[100..]
            .iter()
            .all(|&x| x == 0)
    );
    assert!(
        verify(&b)
            .iter()
            .all(|x| x.severity == crate::verify::Severity::Warning)
    );
}

/// Model → file → model is the identity, for a model read from a native file.
fn assert_model_round_trip(m: &Snapshot, mem: Option<&dyn MemoryImage>) -> VeridianFile {
    let (g, _) = from_model(m, mem).unwrap();
    let b = write(&g).unwrap();
    let g2 = read(&b).unwrap_or_else(|e| panic!("own output refused: {e}"));
    assert_eq!(g2, g);
    assert_eq!(&g2.to_model(), m);
    g2
}

#[test]
fn native_model_round_trips_with_its_memory() {
    let f = native_sample();
    let m = f.to_model();
    let mut mem = vec![0u8; f.memory_len() as usize];
    for (i, p) in f.pages().map(Result::unwrap) {
        mem[i as usize * 4096..][..4096].copy_from_slice(&p);
    }
    let g = assert_model_round_trip(&m, Some(&VecImage(mem)));
    assert_eq!(
        g.pages().map(Result::unwrap).collect::<Vec<_>>(),
        f.pages().map(Result::unwrap).collect::<Vec<_>>()
    );
    // the unmapped VMCS field is written back
    assert!(
        g.vmcs_states[0]
            .iter()
            .any(|x| x.encoding == 0x4824 && x.value == 1)
    );
}

// ---------------------------------------------------------------------------------------------
// Firecracker → VeridianOS → Firecracker

struct Fixture {
    state: Vec<u8>,
    mem: Vec<u8>,
}

fn load(dir: &str) -> Fixture {
    let d = fixture(dir);
    let state = std::fs::read(d.join("vmstate")).unwrap();
    let mem = zstd::decode_all(std::fs::File::open(d.join("mem.zst")).unwrap()).unwrap();
    Fixture { state, mem }
}

fn fc_round_trip(dir: &str) {
    let fx = load(dir);
    let f = fc::read(&fx.state).unwrap();
    let m = f.to_model();
    let img = VecImage(fx.mem.clone());
    let (x, notes) = from_model(&m, Some(&img)).unwrap();
    assert!(notes.iter().any(|n| n.contains(MODEL_REST)), "{notes:?}");
    let bytes2 = write(&x).unwrap();
    let y = read(&bytes2).unwrap_or_else(|e| panic!("{dir}: {e}"));
    assert_eq!(y, x);
    assert!(write(&y).unwrap() == bytes2);
    let m2 = y.to_model();
    let back = fc::write(&fc::from_model(&m2, f.state.layout()).unwrap()).unwrap();
    assert!(
        back == fx.state,
        "{dir}: Firecracker bytes differ after VeridianOS"
    );
    // memory travels inside the file
    assert_eq!(y.memory_len(), fx.mem.len() as u64);
    let mut mem = vec![0u8; y.memory_len() as usize];
    for (i, p) in y.pages().map(Result::unwrap) {
        mem[i as usize * 4096..][..4096].copy_from_slice(&p);
    }
    assert!(mem == fx.mem, "{dir}: memory differs");
    // rip: the model, GeneralRegisters and the VMCS agree with the original
    let rip = x86(&m, 0).regs.rip;
    assert_ne!(rip, 0);
    assert_eq!(x86(&m2, 0).regs.rip, rip);
    assert_eq!(y.register_states[0].rip, rip);
    assert!(
        y.vmcs_states[0]
            .iter()
            .any(|x| x.encoding == vmcs::GUEST_RIP && x.value == rip)
    );
    // the native fields are the real ones, not placeholders
    let v = x86(&m, 0);
    let cr3 = y.vmcs_states[0]
        .iter()
        .find(|x| x.encoding == vmcs::GUEST_CR3)
        .unwrap();
    assert_eq!(cr3.value, v.sregs.cr3);
    assert_eq!(y.msr_states[0].len(), v.msrs.len());
    assert_eq!(
        y.lapic_states[0].svr,
        v.lapic.as_ref().unwrap().reg(0xF0).unwrap()
    );
    let findings = verify(&bytes2);
    assert!(findings.is_empty(), "{dir}: {findings:?}");
    // the model, also through its JSON form, converts identically
    let j: Snapshot = serde_json::from_str(&serde_json::to_string(&m2).unwrap()).unwrap();
    assert_eq!(j, m2);
}

#[test]
fn firecracker_1_16_1_round_trips_byte_identically() {
    fc_round_trip("firecracker-1.16.1/counter-1vcpu");
}

#[test]
fn firecracker_1_12_1_round_trips_byte_identically() {
    fc_round_trip("firecracker-1.12.1/counter-1vcpu");
}

#[test]
fn firecracker_fpu_fixture_round_trips_byte_identically() {
    if fixture("firecracker-1.16.1/counter-fpu-1vcpu").exists() {
        fc_round_trip("firecracker-1.16.1/counter-fpu-1vcpu");
    }
}

#[test]
fn diff_states_round_trip_without_memory() {
    for dir in [
        "firecracker-1.16.1/counter-1vcpu",
        "firecracker-1.12.1/counter-1vcpu",
    ] {
        let bytes = std::fs::read(fixture(dir).join("vmstate.diff")).unwrap();
        let f = fc::read(&bytes).unwrap();
        let (x, notes) = from_model(&f.to_model(), None).unwrap();
        assert!(notes.iter().any(|n| n.contains("no memory image")));
        assert_eq!(x.pages().count(), 0);
        let m2 = read(&write(&x).unwrap()).unwrap().to_model();
        let back = fc::write(&fc::from_model(&m2, f.state.layout()).unwrap()).unwrap();
        assert!(back == bytes, "{dir}: vmstate.diff differs");
    }
}

// ---------------------------------------------------------------------------------------------
// Native fields win

fn converted() -> (Snapshot, VeridianFile, fc::Layout) {
    let fx = load("firecracker-1.16.1/counter-1vcpu");
    let f = fc::read(&fx.state).unwrap();
    let m = f.to_model();
    let (x, _) = from_model(&m, None).unwrap();
    (m, x, f.state.layout())
}

fn reread(x: &VeridianFile) -> Snapshot {
    read(&write(x).unwrap()).unwrap().to_model()
}

fn vmcs_field(x: &mut VeridianFile, enc: u32) -> &mut u64 {
    &mut x.vmcs_states[0]
        .iter_mut()
        .find(|f| f.encoding == enc)
        .unwrap()
        .value
}

#[test]
fn edited_native_registers_win_over_the_blob() {
    let (m, x, layout) = converted();
    let v0 = x86(&m, 0).clone();

    let mut e = x.clone();
    e.register_states[0].rax ^= 0xFFFF;
    e.register_states[0].rbp = 0x1234_5678;
    let m2 = reread(&e);
    assert_eq!(x86(&m2, 0).regs.rax, v0.regs.rax ^ 0xFFFF);
    assert_eq!(x86(&m2, 0).regs.rbp, 0x1234_5678);
    assert_eq!(x86(&m2, 0).regs.rsp, v0.regs.rsp);
    // and the edit reaches Firecracker
    let f2 = fc::from_model(&m2, layout).unwrap();
    let back = fc::read(&fc::write(&f2).unwrap()).unwrap().to_model();
    assert_eq!(x86(&back, 0).regs.rbp, 0x1234_5678);

    // RIP is held twice: editing either copy shows
    let mut e = x.clone();
    e.register_states[0].rip = 0xDEAD;
    assert_eq!(x86(&reread(&e), 0).regs.rip, 0xDEAD);
    let mut e = x.clone();
    *vmcs_field(&mut e, vmcs::GUEST_RIP) = 0xBEEF;
    assert_eq!(x86(&reread(&e), 0).regs.rip, 0xBEEF);
    // both edited differently: the VMCS wins
    e.register_states[0].rip = 0xDEAD;
    assert_eq!(x86(&reread(&e), 0).regs.rip, 0xBEEF);
}

#[test]
fn edited_vmcs_msr_lapic_and_header_fields_win() {
    let (m, x, _) = converted();
    let v0 = x86(&m, 0).clone();

    let mut e = x.clone();
    *vmcs_field(&mut e, vmcs::GUEST_CR3) = 0x5000;
    *vmcs_field(&mut e, vmcs::ar_enc(1)) = 0xC093; // CS → 32-bit data segment, G, D/B
    *vmcs_field(&mut e, vmcs::selector_enc(1)) = 0x18;
    *vmcs_field(&mut e, vmcs::GUEST_IDTR_LIMIT) = 0xFFF;
    let m2 = reread(&e);
    let v = x86(&m2, 0);
    assert_eq!(v.sregs.cr3, 0x5000);
    assert_eq!(v.sregs.cs.selector, 0x18);
    assert_eq!(
        (v.sregs.cs.type_, v.sregs.cs.l, v.sregs.cs.db, v.sregs.cs.g),
        (3, 0, 1, 1)
    );
    assert_eq!(v.sregs.idt.limit, 0xFFF);
    assert_eq!(v.sregs.ss, v0.sregs.ss);

    let mut e = x.clone();
    e.msr_states[0][0].value ^= 1;
    e.lapic_states[0].tpr = 0x20;
    e.lapic_states[0].enabled = !e.lapic_states[0].enabled;
    let m2 = reread(&e);
    let v = x86(&m2, 0);
    assert_eq!(v.msrs[0].value, v0.msrs[0].value ^ 1);
    let page = &v.lapic.as_ref().unwrap().regs.0;
    assert_eq!(u32_at(page, 0x80), 0x20);
    let svr0 = v0.lapic.as_ref().unwrap().reg(0xF0).unwrap();
    assert_eq!(u32_at(page, 0xF0), svr0 ^ 0x100);
    // the LAPIC bytes LapicSnapshot does not hold come from the blob
    let p0 = &v0.lapic.as_ref().unwrap().regs.0;
    assert_eq!(&page[0x30..0x40], &p0[0x30..0x40]);

    let mut e = x.clone();
    e.header.vm_id = 77;
    e.header.timestamp = 5;
    e.finalize();
    let m2 = reread(&e);
    assert_eq!(m2.vm.vm_id.as_deref(), Some("77"));
    assert_eq!(m2.vm.created.as_deref(), Some("5"));
    assert_eq!(m.vm.vm_id, None);

    // a removed device blob is a removed device
    let mut e = x.clone();
    let k = e
        .device_states
        .iter()
        .position(|d| d.name.starts_with(DEVICE_PREFIX))
        .unwrap();
    e.device_states.remove(k);
    let pos = e
        .regions
        .iter()
        .enumerate()
        .filter(|(_, r)| r.kind() == Some(RegionType::DeviceState))
        .nth(k)
        .unwrap()
        .0;
    e.regions.remove(pos);
    e.finalize();
    assert_eq!(reread(&e).devices.len(), m.devices.len() - 1);
}

#[test]
fn inexact_segment_bytes_travel_in_the_blob() {
    let (mut m, _, _) = converted();
    if let Vcpu::X86_64(v) = &mut m.vcpus[0] {
        v.sregs.fs.present = 2; // not a bit: VMX access rights cannot hold it
    }
    let (x, notes) = from_model(&m, None).unwrap();
    assert!(notes.iter().any(|n| n.contains("segment fs")), "{notes:?}");
    let m2 = reread(&x);
    assert_eq!(x86(&m2, 0).sregs.fs.present, 2);
    // ... until the native field is edited
    let mut e = x.clone();
    *vmcs_field(&mut e, vmcs::ar_enc(4)) = 0x93;
    let m3 = reread(&e);
    assert_eq!(x86(&m3, 0).sregs.fs.present, 1);
    assert_eq!(x86(&m3, 0).sregs.fs.type_, 3);
}

#[test]
fn text_ids_travel_in_the_blob() {
    let (mut m, _, _) = converted();
    m.vm.vm_id = Some("web-1".into());
    m.vm.created = Some("2026-01-01T00:00:00Z".into());
    let (x, notes) = from_model(&m, None).unwrap();
    assert_eq!(x.header.vm_id, 0);
    assert_eq!(notes.iter().filter(|n| n.contains("travels in")).count(), 2);
    let m2 = reread(&x);
    assert_eq!(m2.vm.vm_id.as_deref(), Some("web-1"));
    assert_eq!(m2.vm.created.as_deref(), Some("2026-01-01T00:00:00Z"));
}

// ---------------------------------------------------------------------------------------------
// Refusals: the kernel's validate() and snaptool's rules

fn sample_bytes() -> Vec<u8> {
    write(&native_sample()).unwrap()
}

#[test]
fn validate_rules_bad_magic_version_checksum() {
    let good = sample_bytes();
    assert!(read(&good).is_ok());
    let mut b = good.clone();
    b[0] ^= 1;
    assert_eq!(code(&b), "bad_magic");
    assert_eq!(read(&b).unwrap_err().offset, 0);
    let mut b = good.clone();
    b[4] = 2;
    assert_eq!(code(&b), "bad_version");
    let mut b = good.clone();
    b[56] ^= 1;
    let e = read(&b).unwrap_err();
    assert_eq!(
        (e.code, e.offset, e.field.as_str()),
        ("bad_checksum", 56, "header.checksum")
    );
    // any header field change without a new checksum is caught
    for o in [8usize, 16, 24, 32, 40, 48] {
        let mut b = good.clone();
        b[o] ^= 0x40;
        assert_eq!(code(&b), "bad_checksum", "offset {o}");
    }
    let mut b = good.clone();
    b[21] = 1;
    assert_eq!(code(&b), "padding");
}

#[test]
fn region_count_and_total_size_must_match_the_regions() {
    let good = sample_bytes();
    let n = Header::parse(&good).unwrap().region_count;
    let mut b = good.clone();
    patch_header(&mut b, |h| h.region_count = n - 1);
    // one descriptor fewer: the last descriptor's bytes are read as payload → offsets disagree
    assert!(matches!(code(&b), "region_offset" | "total_size"));
    let mut b = good.clone();
    patch_header(&mut b, |h| h.region_count = n + 1);
    assert!(matches!(
        code(&b),
        "region_type" | "region_offset" | "vcpu_index"
    ));
    let mut b = good.clone();
    patch_header(&mut b, |h| h.total_size -= 1);
    assert_eq!(code(&b), "region_size");
    let mut b = good.clone();
    patch_header(&mut b, |h| h.total_size += 1);
    assert_eq!(code(&b), "total_size");
    let mut b = good.clone();
    b[64 + 8] += 1; // first region's offset
    assert_eq!(code(&b), "region_offset");
    let mut b = good.clone();
    b[64 + 16] = 143; // GeneralRegisters size
    assert_eq!(code(&b), "region_size");
    let mut b = good.clone();
    b[64] = 7;
    assert_eq!(code(&b), "region_type");
    let mut b = good.clone();
    b[64] = 9;
    assert_eq!(code(&b), "region_type");
}

#[test]
fn truncated_files_are_refused_at_every_length() {
    let good = sample_bytes();
    for len in 0..good.len() {
        let e = read(&good[..len]).expect_err("truncated");
        if len < 64 {
            assert_eq!(e.code, "too_short");
        }
    }
    let mut b = good.clone();
    b.push(0);
    assert_eq!(code(&b), "trailing_bytes");
}

#[test]
fn hostile_counts_are_refused_without_allocating() {
    let good = sample_bytes();
    let mut b = good.clone();
    patch_header(&mut b, |h| h.region_count = u32::MAX);
    let e = read(&b).unwrap_err();
    assert_eq!((e.code, e.offset), ("region_count", 32));
    let mut b = good.clone();
    patch_header(&mut b, |h| h.vcpu_count = u32::MAX);
    assert_eq!(code(&b), "vcpu_count");
    let mut b = good.clone();
    patch_header(&mut b, |h| h.vcpu_count = 0);
    assert_eq!(code(&b), "vcpu_count");
    let mut b = good.clone();
    patch_header(&mut b, |h| h.memory_pages = u64::MAX);
    assert_eq!(code(&b), "memory_pages");
    let mut b = good.clone();
    patch_header(&mut b, |h| h.total_size = u64::MAX);
    assert_eq!(code(&b), "total_size");
    // a region size far beyond the file
    let mut b = good.clone();
    let vmcs_desc = 64 + 24; // second descriptor: vCPU 0's VMCS
    assert_eq!(u32_at(&b, vmcs_desc), 1);
    b[vmcs_desc + 16..vmcs_desc + 24].copy_from_slice(&(u64::MAX - 11).to_le_bytes());
    assert_eq!(code(&b), "region_size");
    // a device name length far beyond the file
    let mut b = good.clone();
    let name_at = b.len() - 4 - "uart0".len();
    b[name_at..name_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(code(&b), "device_name");
    let mut b = good.clone();
    b[name_at..name_at + 4].copy_from_slice(&100u32.to_le_bytes());
    assert_eq!(code(&b), "truncated");
}

#[test]
fn per_vcpu_and_payload_rules() {
    let f = native_sample();
    // vCPU index out of range
    let mut g = f.clone();
    g.regions[0].vcpu_index = 2;
    assert_eq!(code(&write(&g).unwrap()), "vcpu_index");
    // a second GeneralRegisters region for vCPU 0 (and none for vCPU 1)
    let mut g = f.clone();
    let k = g
        .regions
        .iter()
        .position(|r| r.kind() == Some(RegionType::GeneralRegisters) && r.vcpu_index == 1)
        .unwrap();
    g.regions[k].vcpu_index = 0;
    assert_eq!(code(&write(&g).unwrap()), "duplicate_region");
    // a vCPU without registers
    let mut g = VeridianFile::new(0, 2, 0, 0);
    g.add_register_state(0, GuestRegisters::default());
    g.finalize();
    assert_eq!(code(&write(&g).unwrap()), "missing_registers");
    // memory pages and devices belong to no vCPU
    let mut g = f.clone();
    let k = g
        .regions
        .iter()
        .position(|r| r.kind() == Some(RegionType::MemoryPage))
        .unwrap();
    g.regions[k].vcpu_index = 1;
    assert_eq!(code(&write(&g).unwrap()), "vcpu_index");
    // page indices: in range, strictly increasing
    let mut g = f.clone();
    g.memory_page_indices[1] = 8;
    assert_eq!(code(&write(&g).unwrap()), "page_index");
    let mut g = f.clone();
    g.memory_page_indices[1] = 2;
    assert_eq!(code(&write(&g).unwrap()), "page_index");
    // MSR reserved word
    let mut g = f.clone();
    g.msr_states[0][0].reserved = 1;
    assert_eq!(code(&write(&g).unwrap()), "msr_reserved");
    // LAPIC bool byte and padding
    let mut b = write(&f).unwrap();
    let lapic_at = f
        .regions
        .iter()
        .find(|r| r.kind() == Some(RegionType::LapicState))
        .unwrap()
        .offset as usize;
    b[lapic_at + 168] = 2;
    assert_eq!(code(&b), "lapic");
    b[lapic_at + 168] = 1;
    b[lapic_at + 170] = 1;
    assert_eq!(code(&b), "lapic");
    // VMCS fields: width, reserved encoding bits, access-rights reserved bits, duplicates
    for (enc, value) in [
        (vmcs::selector_enc(1), 0x1_0000u64),
        (vmcs::ar_enc(1), 0x100),
        (vmcs::GUEST_GDTR_LIMIT, 0x1_0000),
        (0x8000_0000, 0),
    ] {
        let mut g = f.clone();
        g.vmcs_states[0][0] = VmcsField {
            encoding: enc,
            value,
        };
        assert_eq!(
            code(&write(&g).unwrap()),
            "vmcs_field",
            "0x{enc:x} = 0x{value:x}"
        );
    }
    let mut g = f.clone();
    g.vmcs_states[0][1].encoding = vmcs::GUEST_RIP;
    assert_eq!(code(&write(&g).unwrap()), "vmcs_field");
    // device names are UTF-8
    let mut g = f.clone();
    g.device_states[0].name = "ok".into();
    let mut b = write(&g).unwrap();
    let n = b.len();
    b[n - 1] = 0xFF;
    assert_eq!(code(&b), "device_name");
}

#[test]
fn every_single_byte_flip_reads_or_is_refused_and_reads_back_consistently() {
    let good = sample_bytes();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flipped");
    for i in 0..good.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = good.clone();
            b[i] ^= bit;
            // Read from a path (pages left in the file), the verdict and the file are the same.
            std::fs::write(&path, &b).unwrap();
            match (read(&b), read_path(&path)) {
                (Ok(x), Ok(y)) => assert_eq!(x, y, "byte {i}"),
                (Err(x), Err(y)) => assert_eq!((x.code, x.offset), (y.code, y.offset), "byte {i}"),
                (x, y) => panic!(
                    "byte {i}: {:?} from bytes, {:?} from the path",
                    x.err(),
                    y.err()
                ),
            }
            if let Ok(f) = read(&b) {
                assert!(write(&f).unwrap() == b, "byte {i}: re-encoding differs");
                let m = f.to_model();
                let _ = verify(&b);
                let (g, _) = from_model(&m, None).unwrap();
                let g2 = read(&write(&g).unwrap()).unwrap();
                assert_eq!(g2.to_model(), m, "byte {i}");
            }
        }
    }
}

#[test]
fn verify_reports_read_errors_and_warnings() {
    let mut b = sample_bytes();
    b[4] = 9;
    let v = verify(&b);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].code, "bad_version");
    assert_eq!(v[0].offset, Some(4));
    let mut f = native_sample();
    f.lapic_states[0].enabled = false;
    f.register_states[1].rip = 1;
    let codes: Vec<&str> = verify(&write(&f).unwrap()).iter().map(|x| x.code).collect();
    assert!(codes.contains(&"lapic_enabled"), "{codes:?}");
    assert!(codes.contains(&"gpr_mismatch"), "{codes:?}");
}

#[test]
fn from_model_refusals() {
    let (m, _, _) = converted();
    let mut a = m.clone();
    a.provenance.arch = model::Arch::Aarch64;
    assert!(matches!(from_model(&a, None), Err(FromModelError::Arch(_))));
    let short = VecImage(vec![0; 4096]);
    assert!(matches!(
        from_model(&m, Some(&short)),
        Err(FromModelError::Memory(_))
    ));
    let mut none = m.clone();
    none.vcpus.clear();
    assert!(matches!(
        from_model(&none, None),
        Err(FromModelError::Model(_))
    ));
}

#[test]
fn a_file_read_from_its_path_keeps_its_pages_there_and_writes_the_same_bytes() {
    let f = native_sample();
    let b = write(&f).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.vmsnap");
    std::fs::write(&p, &b).unwrap();
    let g = read_path(&p).unwrap();
    assert!(g.memory_page_data.is_in_file());
    assert!(!f.memory_page_data.is_in_file());
    assert_eq!(g, f, "the same file, whichever way it was read");
    assert_eq!(write(&g).unwrap(), b);
    let mut img = vec![0u8; 6 * 4096];
    g.memory_image("m").read_at(0, &mut img).unwrap();
    assert!(img[2 * 4096..3 * 4096].iter().all(|&x| x == 0x5A));
    assert_eq!(img[5 * 4096 + 99], 0xC3);
    assert_eq!(img[5 * 4096 + 100], 0);
    assert!(img[..2 * 4096].iter().all(|&x| x == 0));
    let ext = g.memory_image("m").extents().unwrap();
    assert_eq!(
        ext.iter().map(|e| (e.offset, e.len)).collect::<Vec<_>>(),
        vec![(2 * 4096, 4096), (5 * 4096, 4096)]
    );
    // Every truncation reads as an error, from the path as from the bytes.
    for cut in [0, 10, 64, 100, b.len() - 4097, b.len() - 1] {
        std::fs::write(&p, &b[..cut]).unwrap();
        let (x, y) = (read_path(&p).unwrap_err(), read(&b[..cut]).unwrap_err());
        assert_eq!((x.code, x.offset), (y.code, y.offset), "cut at {cut}");
    }
}

#[test]
fn pages_past_the_spill_size_move_to_a_temporary_file() {
    let mut s = PageStore::default();
    let n = pages::SPILL_AT / 4096 + 3;
    for i in 0..n {
        s.push(&(i as u32).to_le_bytes()).unwrap();
    }
    assert!(s.is_in_file());
    assert_eq!(s.len(), n);
    for i in [0, 1, n / 2, n - 2, n - 1] {
        let p = s.page(i).unwrap();
        assert_eq!(&p[..4], &(i as u32).to_le_bytes(), "page {i}");
        assert!(p[4..].iter().all(|&x| x == 0));
    }
    // A clone appends after the shared pages, never over them.
    let mut t = s.clone();
    t.push(&[7]).unwrap();
    s.push(&[9]).unwrap();
    assert_eq!(t.page(n).unwrap()[0], 7);
    assert_eq!(s.page(n).unwrap()[0], 9);
    assert_eq!(t.page(n - 1).unwrap()[..4], ((n - 1) as u32).to_le_bytes());
}
