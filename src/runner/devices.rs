//! The runner's devices, minimal and honest: a 16550 UART at 0x3f8 whose transmitted bytes are
//! captured, an i8042 that understands the reset command, and a counter for every other port or
//! MMIO access (reads return all ones for ports, zeros for MMIO).

use crate::model::UartState;
use std::collections::BTreeMap;

/// COM1 base port.
pub const COM1: u16 = 0x3f8;
const I8042_DATA: u16 = 0x60;
const I8042_CMD: u16 = 0x64;
const I8042_RESET: u8 = 0xfe;

/// Line status: transmitter holding register empty and transmitter empty.
const LSR_IDLE: u8 = 0x60;
/// Line control: divisor latch access bit.
const LCR_DLAB: u8 = 0x80;

/// A 16550 UART: registers kept, transmit captured, nothing ever received.
#[derive(Debug, Clone)]
pub struct Uart {
    dll: u8,
    dlm: u8,
    ier: u8,
    lcr: u8,
    mcr: u8,
    msr: u8,
    scr: u8,
}

impl Default for Uart {
    fn default() -> Self {
        Uart {
            dll: 12,
            dlm: 0,
            ier: 0,
            lcr: 3,
            mcr: 8,
            msr: 0xb0,
            scr: 0,
        }
    }
}

impl Uart {
    /// A UART with the registers a snapshot recorded.
    pub fn restored(s: &UartState) -> Self {
        Uart {
            dll: s.baud_divisor_low,
            dlm: s.baud_divisor_high,
            ier: s.interrupt_enable,
            lcr: s.line_control,
            mcr: s.modem_control,
            msr: s.modem_status,
            scr: s.scratch,
        }
    }

    /// The registers as snapshot state.
    pub fn state(&self) -> UartState {
        UartState {
            baud_divisor_low: self.dll,
            baud_divisor_high: self.dlm,
            interrupt_enable: self.ier,
            interrupt_identification: 0x01,
            line_control: self.lcr,
            line_status: LSR_IDLE,
            modem_control: self.mcr,
            modem_status: self.msr,
            scratch: self.scr,
            in_buffer: Default::default(),
        }
    }

    /// Register write at `offset` (0–7); returns the byte transmitted, if any.
    pub fn write(&mut self, offset: u16, v: u8) -> Option<u8> {
        let dlab = self.lcr & LCR_DLAB != 0;
        match (offset, dlab) {
            (0, false) => return Some(v),
            (0, true) => self.dll = v,
            (1, true) => self.dlm = v,
            (1, false) => self.ier = v & 0x0f,
            (3, _) => self.lcr = v,
            (4, _) => self.mcr = v,
            (7, _) => self.scr = v,
            _ => {}
        }
        None
    }

    /// Register read at `offset` (0–7).
    pub fn read(&self, offset: u16) -> u8 {
        let dlab = self.lcr & LCR_DLAB != 0;
        match (offset, dlab) {
            (0, true) => self.dll,
            (1, true) => self.dlm,
            (1, false) => self.ier,
            (2, _) => 0x01, // no interrupt pending
            (3, _) => self.lcr,
            (4, _) => self.mcr,
            (5, _) => LSR_IDLE,
            (6, _) => self.msr,
            (7, _) => self.scr,
            _ => 0,
        }
    }
}

/// What a port write asks of the run loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortEffect {
    /// Nothing to do.
    None,
    /// The guest transmitted a byte on COM1.
    Serial(u8),
    /// The guest asked the i8042 to reset the machine.
    Reset,
}

/// Every device the runner emulates, plus counters for the rest.
#[derive(Debug, Default, Clone)]
pub struct Bus {
    /// COM1.
    pub uart: Uart,
    /// Accesses to ports nothing emulates, by port.
    pub other_ports: BTreeMap<u16, u64>,
    /// Accesses to MMIO addresses nothing emulates.
    pub mmio_accesses: u64,
}

impl Bus {
    /// Port write of `data` (first byte used) at `port`.
    pub fn port_write(&mut self, port: u16, data: &[u8]) -> PortEffect {
        let v = data.first().copied().unwrap_or(0);
        match port {
            COM1..=0x3ff => match self.uart.write(port - COM1, v) {
                Some(b) => PortEffect::Serial(b),
                None => PortEffect::None,
            },
            I8042_CMD if v == I8042_RESET => PortEffect::Reset,
            I8042_CMD | I8042_DATA => PortEffect::None,
            _ => {
                *self.other_ports.entry(port).or_default() += 1;
                PortEffect::None
            }
        }
    }

    /// Port read of `data.len()` bytes at `port`.
    pub fn port_read(&mut self, port: u16, data: &mut [u8]) {
        let v = match port {
            COM1..=0x3ff => self.uart.read(port - COM1),
            I8042_CMD | I8042_DATA => 0,
            _ => {
                *self.other_ports.entry(port).or_default() += 1;
                0xff
            }
        };
        data.fill(v);
    }

    /// MMIO read: zeros, counted.
    pub fn mmio_read(&mut self, data: &mut [u8]) {
        self.mmio_accesses += 1;
        data.fill(0);
    }

    /// MMIO write: ignored, counted.
    pub fn mmio_write(&mut self) {
        self.mmio_accesses += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uart_transmits_and_reports_idle() {
        let mut b = Bus::default();
        assert_eq!(b.port_write(COM1, b"A"), PortEffect::Serial(b'A'));
        let mut lsr = [0u8];
        b.port_read(COM1 + 5, &mut lsr);
        assert_eq!(lsr[0] & 0x20, 0x20);
    }

    #[test]
    fn divisor_latch_is_not_transmit() {
        let mut b = Bus::default();
        b.port_write(COM1 + 3, &[0x83]);
        assert_eq!(b.port_write(COM1, &[1]), PortEffect::None);
        b.port_write(COM1 + 3, &[0x03]);
        assert_eq!(b.port_write(COM1, b"x"), PortEffect::Serial(b'x'));
    }

    #[test]
    fn i8042_reset_and_other_ports() {
        let mut b = Bus::default();
        assert_eq!(b.port_write(0x64, &[0xfe]), PortEffect::Reset);
        b.port_write(0x80, &[1]);
        assert_eq!(b.other_ports[&0x80], 1);
    }
}
