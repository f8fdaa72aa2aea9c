//! CRC-64/Jones as Firecracker computes it: the `crc64` crate's table-driven reflected CRC with
//! polynomial 0xAD93D23594C935A9, initial value 0, no final xor.

/// CRC64 of `bytes` starting from 0.
pub fn crc64(bytes: &[u8]) -> u64 {
    crc64::crc64(0, bytes)
}

/// Continues a CRC64 over more bytes.
pub fn crc64_update(crc: u64, bytes: &[u8]) -> u64 {
    crc64::crc64(crc, bytes)
}
