//! The vmdesc: QEMU's JSON description of every field it wrote for each device section
//! (`name`, `type`, `size`, `array_len`, nested `struct`s, `subsections`). snaptool uses it to
//! find where a section ends and where each named field is in its payload.

use serde_json::Value;

/// The deepest nesting of structs and subsections snaptool follows.
const MAX_DEPTH: usize = 32;

/// One device section as the vmdesc describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDesc {
    /// Section name.
    pub name: String,
    /// Instance id.
    pub instance_id: u32,
    /// The fields and subsections written.
    pub body: Body,
}

/// Fields, then subsections, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    /// Fields in order.
    pub fields: Vec<FieldDesc>,
    /// Subsections in order.
    pub subsections: Vec<SubDesc>,
}

/// One field (or array of fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDesc {
    /// The field's name (`env.regs`, `env.segs`, `isr`).
    pub name: String,
    /// QEMU's type name (`uint64`, `struct`, `buffer`, ...).
    pub ty: String,
    /// Bytes one element took in the stream.
    pub size: u64,
    /// Elements (1 unless an array).
    pub count: u64,
    /// The struct's own fields, for `struct` fields.
    pub inner: Option<Body>,
}

/// One subsection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubDesc {
    /// The subsection's VMState name (`cpu/tsc_khz`).
    pub name: String,
    /// Its version.
    pub version: u32,
    /// Its fields and nested subsections.
    pub body: Body,
}

/// Parses the vmdesc's `devices` list.
///
/// # Errors
/// A message naming what is malformed.
pub fn parse_vmdesc(text: &str) -> Result<Vec<DeviceDesc>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let devices = v
        .get("devices")
        .and_then(Value::as_array)
        .ok_or("no `devices` list")?;
    devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let name = d
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!("devices[{i}]: no name"))?;
            let instance_id = d
                .get("instance_id")
                .and_then(Value::as_u64)
                .and_then(|x| u32::try_from(x).ok())
                .ok_or(format!("devices[{i}] ({name}): no instance_id"))?;
            Ok(DeviceDesc {
                name: name.to_string(),
                instance_id,
                body: body(d, 0).map_err(|e| format!("devices[{i}] ({name}): {e}"))?,
            })
        })
        .collect()
}

fn body(v: &Value, depth: usize) -> Result<Body, String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH}"));
    }
    let mut b = Body::default();
    for f in v
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = f
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a field without a name")?
            .to_string();
        let size = f
            .get("size")
            .and_then(Value::as_u64)
            .ok_or(format!("field {name}: no size"))?;
        let count = f.get("array_len").and_then(Value::as_u64).unwrap_or(1);
        let inner = match f.get("struct") {
            Some(s) => Some(body(s, depth + 1).map_err(|e| format!("{name}: {e}"))?),
            None => None,
        };
        b.fields.push(FieldDesc {
            ty: f
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            name,
            size,
            count,
            inner,
        });
    }
    for s in v
        .get("subsections")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = s
            .get("vmsd_name")
            .and_then(Value::as_str)
            .ok_or("a subsection without vmsd_name")?
            .to_string();
        let version = s
            .get("version")
            .and_then(Value::as_u64)
            .and_then(|x| u32::try_from(x).ok())
            .unwrap_or(0);
        b.subsections.push(SubDesc {
            body: body(s, depth + 1).map_err(|e| format!("{name}: {e}"))?,
            name,
            version,
        });
    }
    Ok(b)
}

fn fields_len(b: &Body) -> Result<u64, String> {
    b.fields.iter().try_fold(0u64, |a, f| {
        f.size
            .checked_mul(f.count)
            .and_then(|n| a.checked_add(n))
            .ok_or_else(|| format!("field {}: size overflows", f.name))
    })
}

/// The payload length of a section described by `d`. `peek(offset)` gives the stream's bytes
/// at a payload offset (at least the next subsection header), to check each subsection
/// marker and name.
///
/// # Errors
/// When a subsection header is not where the vmdesc puts it.
pub fn payload_len(
    d: &DeviceDesc,
    peek: &mut dyn FnMut(u64) -> Option<Vec<u8>>,
) -> Result<u64, String> {
    body_len(&d.body, 0, peek)
}

fn body_len(
    b: &Body,
    at: u64,
    peek: &mut dyn FnMut(u64) -> Option<Vec<u8>>,
) -> Result<u64, String> {
    let mut n = fields_len(b)?;
    for s in &b.subsections {
        let head = 1 + 1 + s.name.len() as u64 + 4;
        let bytes = peek(at + n).ok_or(format!("subsection {}: past the end", s.name))?;
        let ok = bytes.first() == Some(&super::stream::SUBSECTION)
            && bytes.get(1).map(|&l| l as usize) == Some(s.name.len())
            && bytes.get(2..2 + s.name.len()) == Some(s.name.as_bytes());
        if !ok {
            return Err(format!(
                "subsection {} expected at payload offset {:#x}",
                s.name,
                at + n
            ));
        }
        let inner = body_len(&s.body, at + n + head, peek)?;
        n = n
            .checked_add(head)
            .and_then(|x| x.checked_add(inner))
            .ok_or("length overflows")?;
    }
    Ok(n)
}

/// Where a named scalar field is in a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    /// `env.regs[3]`, `env.segs[1].base`, `cpu/tsc_khz:env.tsc_khz`.
    pub path: String,
    /// Offset in the payload.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
}

/// Every scalar field of a section with its offset (fields of a subsection are prefixed with
/// its name and `:`).
pub fn locate(d: &DeviceDesc) -> Vec<Loc> {
    let mut out = Vec::new();
    locate_body(&d.body, "", 0, &mut out, 0);
    out
}

fn locate_body(b: &Body, prefix: &str, mut at: u64, out: &mut Vec<Loc>, depth: usize) -> u64 {
    if depth > MAX_DEPTH {
        return at;
    }
    for f in &b.fields {
        for i in 0..f.count.min(4096) {
            let name = if f.count > 1 {
                format!("{prefix}{}[{i}]", f.name)
            } else {
                format!("{prefix}{}", f.name)
            };
            match &f.inner {
                Some(inner) => {
                    locate_body(inner, &format!("{name}."), at, out, depth + 1);
                }
                None => out.push(Loc {
                    path: name,
                    offset: at as usize,
                    size: f.size as usize,
                }),
            }
            at = at.saturating_add(f.size);
        }
    }
    for s in &b.subsections {
        at = at.saturating_add(1 + 1 + s.name.len() as u64 + 4);
        at = locate_body(&s.body, &format!("{}:", s.name), at, out, depth + 1);
    }
    at
}

/// A section's payload with its fields by name: big-endian integers, as QEMU writes them.
pub struct Fields<'a> {
    locs: Vec<Loc>,
    payload: &'a [u8],
}

impl<'a> Fields<'a> {
    /// The fields of `payload` as `d` describes them.
    pub fn new(d: &DeviceDesc, payload: &'a [u8]) -> Self {
        Fields {
            locs: locate(d),
            payload,
        }
    }

    /// The location of `path`.
    pub fn loc(&self, path: &str) -> Option<&Loc> {
        self.locs.iter().find(|l| l.path == path)
    }

    /// The raw bytes of `path`.
    pub fn bytes(&self, path: &str) -> Option<&'a [u8]> {
        let l = self.loc(path)?;
        self.payload.get(l.offset..l.offset.checked_add(l.size)?)
    }

    /// An unsigned big-endian integer of 1, 2, 4 or 8 bytes.
    pub fn u(&self, path: &str) -> Option<u64> {
        let b = self.bytes(path)?;
        if b.is_empty() || b.len() > 8 {
            return None;
        }
        Some(b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    }

    /// A signed big-endian integer, sign-extended from its size.
    pub fn i(&self, path: &str) -> Option<i64> {
        let b = self.bytes(path)?;
        let v = self.u(path)?;
        let bits = b.len() * 8;
        Some(if bits == 64 {
            v as i64
        } else {
            ((v << (64 - bits)) as i64) >> (64 - bits)
        })
    }

    /// Whether the section has `path`.
    pub fn has(&self, path: &str) -> bool {
        self.loc(path).is_some()
    }
}
