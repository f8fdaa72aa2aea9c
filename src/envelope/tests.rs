//! One test per envelope rule, on small hand-built byte arrays.

use super::*;

/// A bincode-era file: magic, u64 length, version, `payload`, CRC.
fn bincode_file(magic: u64, version: &str, payload: &[u8]) -> Vec<u8> {
    let mut b = magic.to_le_bytes().to_vec(); // magic u64 LE
    b.extend_from_slice(&(version.len() as u64).to_le_bytes()); // string length u64 LE
    b.extend_from_slice(version.as_bytes()); // "X.Y.Z"
    b.extend_from_slice(payload); // state
    seal(b) // crc64 u64 LE
}

/// A bitcode-era prefix: tag 0, magic, 1-byte length, version, then `rest`.
fn bitcode_file(magic: u64, version: &str, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8]; // integer column packing tag
    b.extend_from_slice(&magic.to_le_bytes()); // magic
    b.push(version.len() as u8); // version length
    b.extend_from_slice(version.as_bytes()); // "X.Y.Z"
    b.extend_from_slice(rest);
    seal(b)
}

#[test]
fn crc_check_values() {
    assert_eq!(crc64(b"123456789"), 0xE9C6_D914_C4B8_D9CA);
    assert_eq!(crc64(&[0x7b; 16]), 0x29D5_3572_1632_6566);
}

#[test]
fn crc_of_sealed_file_is_zero() {
    let f = bincode_file(MAGIC_X86_64, "6.0.0", &[1, 2, 3]);
    assert_eq!(crc64(&f), 0);
}

#[test]
fn size_too_short_and_too_large() {
    assert!(matches!(
        check_size(3),
        Err(EnvelopeError::TooShort { len: 3, .. })
    ));
    assert!(matches!(
        check_size(SIZE_LIMIT_ANY + 1),
        Err(EnvelopeError::TooLarge { .. })
    ));
    assert!(check_size(4096).is_ok());
}

#[test]
fn bincode_header_x86() {
    let f = bincode_file(MAGIC_X86_64, "6.0.0", &[9; 4]);
    let h = sniff(&f).unwrap();
    assert_eq!(h.era, Era::Bincode);
    assert_eq!(h.arch, Arch::X86_64);
    assert_eq!(h.version, Some(Version::new(6, 0, 0)));
    assert_eq!(h.payload_offset, 21);
}

#[test]
fn bitcode_header_aarch64() {
    let f = bitcode_file(MAGIC_AARCH64, "10.0.0", &[1, 2, 3]);
    let h = sniff(&f).unwrap();
    assert_eq!(h.era, Era::Bitcode);
    assert_eq!(h.arch, Arch::Aarch64);
    assert_eq!(h.version, Some(Version::new(10, 0, 0)));
}

#[test]
fn versionize_header() {
    let mut b = (MAGIC_X86_64 | 1).to_le_bytes().to_vec();
    b.extend_from_slice(&10u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    let h = sniff(&seal(b)).unwrap();
    assert_eq!(h.era, Era::Versionize);
    assert_eq!(h.data_version, Some(10));
}

#[test]
fn bad_magic_names_the_bytes() {
    let f = bincode_file(0x1122_3344_5566_7788, "6.0.0", &[]);
    let e = sniff(&f).unwrap_err();
    assert!(matches!(e, EnvelopeError::BadMagic { .. }));
    assert!(e.to_string().contains("8877665544332211"), "{e}");
}

#[test]
fn bad_version_text() {
    let f = bincode_file(MAGIC_X86_64, "6.x.0", &[]);
    let e = sniff(&f).unwrap_err();
    assert_eq!(
        e,
        EnvelopeError::BadVersion {
            offset: 16,
            found: "\"6.x.0\"".into()
        }
    );
}

#[test]
fn hostile_version_length() {
    let mut b = MAGIC_X86_64.to_le_bytes().to_vec();
    b.extend_from_slice(&u64::MAX.to_le_bytes());
    b.extend_from_slice(b"6.0.0");
    let e = sniff(&seal(b)).unwrap_err();
    assert!(matches!(e, EnvelopeError::BadVersion { offset: 16, .. }));
}

#[test]
fn crc_mismatch_reports_offsets() {
    let mut f = bincode_file(MAGIC_X86_64, "6.0.0", &[1, 2, 3]);
    f[22] ^= 0xff;
    let e = check_crc(&f).unwrap_err();
    let EnvelopeError::CrcMismatch { offset, .. } = e else {
        panic!("{e:?}")
    };
    assert_eq!(offset, f.len() - 8);
}

#[test]
fn version_policy() {
    let s = Version::new(6, 1, 0);
    assert!(Version::new(6, 0, 9).accepted_by(&s));
    assert!(Version::new(6, 1, 0).accepted_by(&s));
    assert!(!Version::new(6, 2, 0).accepted_by(&s));
    assert!(!Version::new(7, 0, 0).accepted_by(&s));
    assert!(!Version::new(5, 0, 0).accepted_by(&s));
}

#[test]
fn version_parse_strict() {
    assert_eq!(Version::parse("10.0.0"), Some(Version::new(10, 0, 0)));
    for bad in [
        "",
        "1",
        "1.2",
        "1.2.3.4",
        "v1.2.3",
        "1.2.3-rc1",
        "1..3",
        "+1.2.3",
    ] {
        assert_eq!(Version::parse(bad), None, "{bad}");
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let f = bitcode_file(MAGIC_X86_64, "10.0.0", &[5; 20]);
    for cut in 0..f.len() {
        let _ = sniff(&f[..cut]);
        let _ = check_crc(&f[..cut]);
    }
}
