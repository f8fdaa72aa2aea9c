//! The QEMU migration stream (`QEVM`, version 3): records, sections, the RAM section and the
//! trailing vmdesc, read with every length and count checked against the bytes left, and
//! written back in QEMU's order.
//!
//! Section payloads carry no length: a device section's end is found from the stream's own
//! vmdesc (the JSON description of every field QEMU wrote, with its size), so a stream
//! without one is refused. The RAM section is parsed record by record.

use super::desc::{self, DeviceDesc};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// `QEVM`.
pub const MAGIC: &[u8; 4] = b"QEVM";
/// The stream version QEMU writes since 2.x.
pub const VERSION: u32 = 3;

pub(crate) const EOF: u8 = 0x00;
pub(crate) const SECTION_START: u8 = 0x01;
pub(crate) const SECTION_PART: u8 = 0x02;
pub(crate) const SECTION_END: u8 = 0x03;
pub(crate) const SECTION_FULL: u8 = 0x04;
pub(crate) const SUBSECTION: u8 = 0x05;
pub(crate) const VMDESCRIPTION: u8 = 0x06;
pub(crate) const CONFIGURATION: u8 = 0x07;
pub(crate) const COMMAND: u8 = 0x08;
pub(crate) const SECTION_FOOTER: u8 = 0x7e;

pub(crate) const RAM_ZERO: u64 = 0x02;
pub(crate) const RAM_MEM_SIZE: u64 = 0x04;
pub(crate) const RAM_PAGE: u64 = 0x08;
pub(crate) const RAM_EOS: u64 = 0x10;
pub(crate) const RAM_CONTINUE: u64 = 0x20;

/// The x86 target page size: RAM records address pages of this size.
pub const PAGE_SIZE: u64 = 4096;

/// The most bytes of vmdesc JSON snaptool reads.
pub const VMDESC_LIMIT: u64 = 16 << 20;

/// Where a stream could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// Byte offset in the stream.
    pub offset: u64,
    /// What was being read (`section[cpu 0].payload`, `ram.block_list`, ...).
    pub field: String,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "offset {:#x}: {}: {}",
            self.offset, self.field, self.message
        )
    }
}

impl std::error::Error for ReadError {}

fn err(offset: u64, field: impl Into<String>, message: impl Into<String>) -> ReadError {
    ReadError {
        offset,
        field: field.into(),
        message: message.into(),
    }
}

/// Where the stream's bytes are: in memory, or a file read on demand.
#[derive(Debug, Clone)]
pub enum Source {
    /// The whole stream in memory.
    Bytes(Arc<Vec<u8>>),
    /// A file, read with positioned reads.
    File {
        /// The open file.
        file: Arc<std::fs::File>,
        /// Its length.
        len: u64,
    },
}

impl Source {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Source::Bytes(b) => b.len() as u64,
            Source::File { len, .. } => *len,
        }
    }

    /// Whether the source is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` from `offset`; short sources are an error.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        match self {
            Source::Bytes(b) => {
                let s = usize::try_from(offset)
                    .ok()
                    .and_then(|o| b.get(o..o.checked_add(buf.len())?))
                    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
                buf.copy_from_slice(s);
                Ok(())
            }
            Source::File { file, .. } => {
                use std::os::unix::fs::FileExt;
                file.read_exact_at(buf, offset)
            }
        }
    }
}

/// A buffered cursor over a [`Source`].
struct Cur<'a> {
    src: &'a Source,
    pos: u64,
    /// Bytes the parse may use (the vmdesc, once found, is excluded).
    end: u64,
    buf: Vec<u8>,
    buf_at: u64,
}

const WINDOW: usize = 1 << 16;

impl<'a> Cur<'a> {
    fn new(src: &'a Source, end: u64) -> Self {
        Cur {
            src,
            pos: 0,
            end,
            buf: Vec::new(),
            buf_at: 0,
        }
    }

    fn left(&self) -> u64 {
        self.end.saturating_sub(self.pos)
    }

    /// `n` bytes at the cursor, without moving it.
    fn look(&mut self, n: usize, field: &str) -> Result<&[u8], ReadError> {
        if (n as u64) > self.left() {
            return Err(err(
                self.pos,
                field,
                format!("needs {n} bytes, {} left", self.left()),
            ));
        }
        let in_buf =
            self.pos >= self.buf_at && self.pos + n as u64 <= self.buf_at + self.buf.len() as u64;
        if !in_buf {
            let want = (n.max(WINDOW) as u64).min(self.end - self.pos) as usize;
            self.buf.resize(want, 0);
            self.src
                .read_at(self.pos, &mut self.buf)
                .map_err(|e| err(self.pos, field, e.to_string()))?;
            self.buf_at = self.pos;
        }
        let o = (self.pos - self.buf_at) as usize;
        Ok(&self.buf[o..o + n])
    }

    fn take(&mut self, n: usize, field: &str) -> Result<Vec<u8>, ReadError> {
        if n > WINDOW {
            if (n as u64) > self.left() {
                return Err(err(
                    self.pos,
                    field,
                    format!("needs {n} bytes, {} left", self.left()),
                ));
            }
            let mut v = vec![0u8; n];
            self.src
                .read_at(self.pos, &mut v)
                .map_err(|e| err(self.pos, field, e.to_string()))?;
            self.pos += n as u64;
            return Ok(v);
        }
        let v = self.look(n, field)?.to_vec();
        self.pos += n as u64;
        Ok(v)
    }

    fn skip(&mut self, n: u64, field: &str) -> Result<(), ReadError> {
        if n > self.left() {
            return Err(err(
                self.pos,
                field,
                format!("needs {n} bytes, {} left", self.left()),
            ));
        }
        self.pos += n;
        Ok(())
    }

    fn u8(&mut self, field: &str) -> Result<u8, ReadError> {
        let v = self.look(1, field)?[0];
        self.pos += 1;
        Ok(v)
    }

    fn peek_u8(&mut self, field: &str) -> Result<u8, ReadError> {
        Ok(self.look(1, field)?[0])
    }

    fn u32(&mut self, field: &str) -> Result<u32, ReadError> {
        let b: [u8; 4] = self.look(4, field)?.try_into().expect("4 bytes");
        self.pos += 4;
        Ok(u32::from_be_bytes(b))
    }

    fn u64(&mut self, field: &str) -> Result<u64, ReadError> {
        let b: [u8; 8] = self.look(8, field)?.try_into().expect("8 bytes");
        self.pos += 8;
        Ok(u64::from_be_bytes(b))
    }

    /// A `u8`-length-prefixed string.
    fn name(&mut self, field: &str) -> Result<String, ReadError> {
        let at = self.pos;
        let n = self.u8(field)? as usize;
        let b = self.take(n, field)?;
        String::from_utf8(b).map_err(|_| err(at, field, "not UTF-8"))
    }
}

/// One RAM block the stream lists (`RAM_SAVE_FLAG_MEM_SIZE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamBlock {
    /// QEMU's block id (`pc.ram`, `microvm.ram`, `pc.bios`, `/rom@etc/acpi/tables`, ...).
    pub name: String,
    /// Used length in bytes.
    pub length: u64,
}

/// What the last record for a page said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageData {
    /// A page filled with one byte (QEMU's "zero page" record; the byte is 0 in practice).
    Fill(u8),
    /// A page whose 4096 bytes are at this offset of the stream.
    At(u64),
}

/// The `ram` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ram {
    /// Section id.
    pub section_id: u32,
    /// Instance id.
    pub instance: u32,
    /// Section version (4).
    pub version: u32,
    /// The blocks, in stream order.
    pub blocks: Vec<RamBlock>,
    /// Per block: page index → the last record for it.
    pub pages: Vec<BTreeMap<u64, PageData>>,
    /// Page records in each `PART` and the final `END` section, in order.
    pub parts: Vec<u64>,
    /// Whether every page of every block was sent exactly once, in block and page order, zero
    /// pages as zero records, `CONTINUE` whenever the block did not change: then the writer
    /// gives the same bytes.
    pub canonical: bool,
}

/// One device section (`SECTION_FULL`, or a non-RAM `SECTION_START`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// `SECTION_FULL` (4) or `SECTION_START` (1).
    pub kind: u8,
    /// Section id.
    pub id: u32,
    /// Section name (`cpu`, `apic`, `serial`, `0000:00:02.0/vga`, ...).
    pub name: String,
    /// Instance id (vCPU index for `cpu`).
    pub instance: u32,
    /// Version.
    pub version: u32,
    /// Offset of the payload in the stream.
    pub offset: u64,
    /// The payload as written (fields and subsections, without the footer).
    pub payload: Vec<u8>,
}

/// A parsed stream.
#[derive(Debug, Clone)]
pub struct Stream {
    /// The machine type from the configuration section (`microvm`, `pc-i440fx-7.2`).
    pub machine: Option<String>,
    /// Configuration subsections after the machine name, as written.
    pub config_extra: Vec<u8>,
    /// Whether sections end with footers (`send-section-footer`).
    pub footers: bool,
    /// The RAM section.
    pub ram: Option<Ram>,
    /// Device sections, in stream order.
    pub sections: Vec<Section>,
    /// The vmdesc JSON text, exactly as written.
    pub vmdesc: String,
    /// The vmdesc, per device section, parsed.
    pub descs: Vec<DeviceDesc>,
}

impl Stream {
    /// The first device section named `name` with `instance`.
    pub fn section(&self, name: &str, instance: u32) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.name == name && s.instance == instance)
    }

    /// The vmdesc of a section.
    pub fn desc_of(&self, s: &Section) -> Option<&DeviceDesc> {
        self.descs
            .iter()
            .find(|d| d.name == s.name && d.instance_id == s.instance)
    }
}

/// Finds the vmdesc record at the end of the stream: `0x06`, a big-endian `u32` length, and
/// that many bytes of JSON ending the stream. Returns its offset.
fn find_vmdesc(src: &Source) -> Result<Option<(u64, String)>, ReadError> {
    let len = src.len();
    let tail_len = len.min(VMDESC_LIMIT + 5);
    let start = len - tail_len;
    let mut tail = vec![0u8; tail_len as usize];
    src.read_at(start, &mut tail)
        .map_err(|e| err(start, "vmdesc", e.to_string()))?;
    for i in (0..tail.len().saturating_sub(5)).rev() {
        if tail[i] != VMDESCRIPTION || tail.get(i + 5) != Some(&b'{') {
            continue;
        }
        let n = u32::from_be_bytes(tail[i + 1..i + 5].try_into().expect("4 bytes")) as usize;
        if i + 5 + n == tail.len() {
            let at = start + i as u64;
            let text = String::from_utf8(tail[i + 5..].to_vec())
                .map_err(|_| err(at + 5, "vmdesc", "not UTF-8"))?;
            return Ok(Some((at, text)));
        }
    }
    Ok(None)
}

/// Whether `head` starts a QEMU migration stream.
pub fn sniff(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// Parses a stream.
///
/// # Errors
/// A [`ReadError`] naming the offset and field: bad magic or version, a truncated record, a
/// count or length larger than the bytes left, a section the vmdesc does not describe, RAM
/// record kinds snaptool does not read (XBZRLE, compressed pages, multifd), a missing footer.
pub fn parse(src: &Source) -> Result<Stream, ReadError> {
    let (desc_at, vmdesc) = find_vmdesc(src)?.ok_or_else(|| {
        err(
            src.len(),
            "vmdesc",
            "the stream has no vmdesc (the JSON QEMU writes after the last section); snaptool needs it to find where each device section ends",
        )
    })?;
    let descs = desc::parse_vmdesc(&vmdesc).map_err(|m| err(desc_at + 5, "vmdesc", m))?;
    let mut c = Cur::new(src, desc_at);
    let magic = c.take(4, "magic")?;
    if magic != MAGIC {
        return Err(err(0, "magic", format!("{magic:02x?}, expected \"QEVM\"")));
    }
    let version = c.u32("version")?;
    if version != VERSION {
        return Err(err(
            4,
            "version",
            format!("{version}, snaptool reads version {VERSION}"),
        ));
    }
    let mut st = Stream {
        machine: None,
        config_extra: Vec::new(),
        footers: false,
        ram: None,
        sections: Vec::new(),
        vmdesc,
        descs,
    };
    let mut next_desc = 0usize;
    let mut footers: Option<bool> = None;
    loop {
        let at = c.pos;
        let kind = c.u8("record")?;
        match kind {
            EOF => break,
            CONFIGURATION => {
                let n = c.u32("configuration.len")? as usize;
                let name = c.take(n, "configuration.name")?;
                st.machine = Some(
                    String::from_utf8(name)
                        .map_err(|_| err(at + 5, "configuration.name", "not UTF-8"))?,
                );
                let from = c.pos;
                while c.peek_u8("configuration")? == SUBSECTION {
                    c.u8("configuration.subsection")?;
                    let name = c.name("configuration.subsection.name")?;
                    c.u32("configuration.subsection.version")?;
                    match name.as_str() {
                        "configuration/target-page-bits" => {
                            c.u32("configuration.target-page-bits")?;
                        }
                        "configuration/capabilities" => {
                            let n = c.u32("configuration.capabilities.count")?;
                            for _ in 0..n {
                                c.name("configuration.capability")?;
                            }
                        }
                        "configuration/uuid" => {
                            c.skip(16, "configuration.uuid")?;
                        }
                        other => {
                            return Err(err(
                                at,
                                "configuration",
                                format!("subsection {other:?} is not one snaptool reads"),
                            ));
                        }
                    }
                }
                let to = c.pos;
                c.pos = from;
                st.config_extra = c.take((to - from) as usize, "configuration")?;
            }
            SECTION_START | SECTION_FULL => {
                let id = c.u32("section.id")?;
                let name = c.name("section.name")?;
                let instance = c.u32("section.instance")?;
                let ver = c.u32("section.version")?;
                if name == "ram" && kind == SECTION_START {
                    if st.ram.is_some() {
                        return Err(err(at, "ram", "a second ram section"));
                    }
                    let mut ram = Ram {
                        section_id: id,
                        instance,
                        version: ver,
                        blocks: Vec::new(),
                        pages: Vec::new(),
                        parts: Vec::new(),
                        canonical: true,
                    };
                    let mut state = RamWalk::default();
                    ram_records(&mut c, &mut ram, &mut state, true)?;
                    // The first section tells whether footers follow.
                    let f = c.peek_u8("section.footer")? == SECTION_FOOTER;
                    footers = Some(f);
                    footer(&mut c, f, id, "ram")?;
                    st.ram = Some(ram);
                    // PART/END records of ram are read below, keeping the walk state.
                    loop {
                        let at2 = c.pos;
                        let k = c.peek_u8("record")?;
                        if k != SECTION_PART && k != SECTION_END {
                            break;
                        }
                        c.u8("record")?;
                        let sid = c.u32("section.id")?;
                        if sid != id {
                            return Err(err(
                                at2,
                                "section.id",
                                format!("part of section {sid}, which is not the ram section"),
                            ));
                        }
                        let ram = st.ram.as_mut().expect("ram set above");
                        let before = state.records;
                        ram_records(&mut c, ram, &mut state, false)?;
                        ram.parts.push(state.records - before);
                        footer(&mut c, f, sid, "ram")?;
                    }
                    let ram = st.ram.as_mut().expect("ram set above");
                    if !state.complete(ram) {
                        ram.canonical = false;
                    }
                    continue;
                }
                let d = st.descs.get(next_desc).ok_or_else(|| {
                    err(
                        at,
                        format!("section[{name} {instance}]"),
                        "the vmdesc describes no more sections",
                    )
                })?;
                if d.name != name || d.instance_id != instance {
                    return Err(err(
                        at,
                        format!("section[{name} {instance}]"),
                        format!(
                            "the vmdesc describes section {} {} here",
                            d.name, d.instance_id
                        ),
                    ));
                }
                next_desc += 1;
                let payload_at = c.pos;
                let n = desc::payload_len(d, &mut |off| {
                    let p = payload_at + off;
                    if p >= c.end {
                        return None;
                    }
                    let save = c.pos;
                    c.pos = p;
                    let r = c
                        .look(64.min((c.end - p) as usize), "subsection")
                        .ok()?
                        .to_vec();
                    c.pos = save;
                    Some(r)
                })
                .map_err(|m| err(payload_at, format!("section[{name} {instance}]"), m))?;
                let payload = c.take(
                    usize::try_from(n).map_err(|_| err(payload_at, "section", "too long"))?,
                    &format!("section[{name} {instance}].payload"),
                )?;
                let f = match footers {
                    Some(f) => f,
                    None => {
                        let f = c.peek_u8("section.footer")? == SECTION_FOOTER;
                        footers = Some(f);
                        f
                    }
                };
                footer(&mut c, f, id, &name)?;
                st.sections.push(Section {
                    kind,
                    id,
                    name,
                    instance,
                    version: ver,
                    offset: payload_at,
                    payload,
                });
            }
            SECTION_PART | SECTION_END => {
                let id = c.u32("section.id")?;
                return Err(err(
                    at,
                    "section",
                    format!(
                        "part of iterative section {id}, which is not ram: not read by snaptool"
                    ),
                ));
            }
            COMMAND => {
                let cmd = c.u32("command").unwrap_or(0) >> 16;
                return Err(err(
                    at,
                    "command",
                    format!(
                        "stream command {cmd:#x} (postcopy or switchover): not read by snaptool"
                    ),
                ));
            }
            other => {
                return Err(err(
                    at,
                    "record",
                    format!("unknown record type {other:#04x}"),
                ));
            }
        }
    }
    if c.pos != desc_at {
        return Err(err(
            c.pos,
            "eof",
            format!(
                "{} bytes between the end-of-stream record and the vmdesc",
                desc_at - c.pos
            ),
        ));
    }
    st.footers = footers.unwrap_or(false);
    Ok(st)
}

fn footer(c: &mut Cur<'_>, on: bool, id: u32, name: &str) -> Result<(), ReadError> {
    if !on {
        return Ok(());
    }
    let at = c.pos;
    let b = c.u8("section.footer")?;
    let sid = c.u32("section.footer.id")?;
    if b != SECTION_FOOTER || sid != id {
        return Err(err(
            at,
            format!("section[{name}].footer"),
            format!("expected footer 0x7e for section {id}, found {b:#04x} {sid}"),
        ));
    }
    Ok(())
}

/// Where a canonical RAM walk is.
#[derive(Default)]
struct RamWalk {
    records: u64,
    /// The next (block, page) a canonical stream sends.
    next: (usize, u64),
    last_block: Option<usize>,
}

impl RamWalk {
    fn complete(&self, ram: &Ram) -> bool {
        let mut n = self.next;
        while n.0 < ram.blocks.len() && ram.blocks[n.0].length.div_ceil(PAGE_SIZE) == n.1 {
            n = (n.0 + 1, 0);
        }
        n.0 == ram.blocks.len()
    }

    fn expect(&mut self, ram: &Ram, block: usize, page: u64) -> bool {
        let mut n = self.next;
        while n.0 < ram.blocks.len() && ram.blocks[n.0].length.div_ceil(PAGE_SIZE) <= n.1 {
            n = (n.0 + 1, 0);
        }
        let ok = n == (block, page);
        self.next = (n.0, n.1 + 1);
        ok
    }
}

fn ram_records(
    c: &mut Cur<'_>,
    ram: &mut Ram,
    w: &mut RamWalk,
    start: bool,
) -> Result<(), ReadError> {
    loop {
        let at = c.pos;
        let word = c.u64("ram.record")?;
        let flags = word & (PAGE_SIZE - 1);
        let addr = word & !(PAGE_SIZE - 1);
        if flags & RAM_EOS != 0 {
            if flags != RAM_EOS {
                return Err(err(at, "ram.record", format!("flags {flags:#x} with EOS")));
            }
            return Ok(());
        }
        if flags == RAM_MEM_SIZE {
            if !start || !ram.blocks.is_empty() {
                return Err(err(at, "ram.block_list", "a second block list"));
            }
            let mut total = addr;
            while total > 0 {
                let bat = c.pos;
                let name = c.name("ram.block.name")?;
                let length = c.u64("ram.block.length")?;
                total = total.checked_sub(length).ok_or_else(|| {
                    err(
                        bat,
                        "ram.block.length",
                        "blocks longer than the total announced",
                    )
                })?;
                if length == 0 {
                    return Err(err(bat, "ram.block.length", "a block of length 0"));
                }
                ram.blocks.push(RamBlock { name, length });
                ram.pages.push(BTreeMap::new());
            }
            continue;
        }
        let kind = flags & !RAM_CONTINUE;
        if kind != RAM_ZERO && kind != RAM_PAGE {
            return Err(err(
                at,
                "ram.record",
                format!(
                    "flags {flags:#x}: only zero and normal pages are read (no XBZRLE, compression, multifd or RDMA)"
                ),
            ));
        }
        let block = if flags & RAM_CONTINUE != 0 {
            w.last_block
                .ok_or_else(|| err(at, "ram.record", "CONTINUE before any block was named"))?
        } else {
            let name = c.name("ram.record.block")?;
            let b = ram
                .blocks
                .iter()
                .position(|b| b.name == name)
                .ok_or_else(|| err(at, "ram.record.block", format!("unknown block {name:?}")))?;
            if w.last_block == Some(b) {
                ram.canonical = false;
            }
            b
        };
        if flags & RAM_CONTINUE == 0 && w.last_block == Some(block) {
            ram.canonical = false;
        }
        w.last_block = Some(block);
        if addr >= ram.blocks[block].length {
            return Err(err(
                at,
                "ram.record",
                format!(
                    "page {addr:#x} past the end of block {} ({:#x} bytes)",
                    ram.blocks[block].name, ram.blocks[block].length
                ),
            ));
        }
        let page = addr / PAGE_SIZE;
        if !w.expect(ram, block, page) {
            ram.canonical = false;
        }
        w.records += 1;
        let data = if kind == RAM_ZERO {
            let fill = c.u8("ram.record.fill")?;
            if fill != 0 {
                ram.canonical = false;
            }
            PageData::Fill(fill)
        } else {
            let p = c.pos;
            c.skip(PAGE_SIZE, "ram.record.page")?;
            PageData::At(p)
        };
        ram.pages[block].insert(page, data);
    }
}

/// Bytes of a stream being written.
#[derive(Default)]
pub(crate) struct Writer {
    pub out: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    pub fn name(&mut self, s: &str) {
        self.u8(s.len() as u8);
        self.out.extend_from_slice(s.as_bytes());
    }
    pub fn footer(&mut self, on: bool, id: u32) {
        if on {
            self.u8(SECTION_FOOTER);
            self.u32(id);
        }
    }
}
