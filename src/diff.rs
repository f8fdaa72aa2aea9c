//! Structural diff of two snapshots through the neutral model.
//!
//! Both snapshots are flattened into `path = value` leaves with stable, named paths, then compared
//! leaf by leaf. Lists whose items have an identity are keyed by it rather than by position, so an
//! inserted MSR or device does not shift every later entry:
//!
//! ```text
//! vcpu[0].regs.rip                         vcpu[0].msr[IA32_EFER (0xc0000080)]
//! vcpu[0].cpuid[0x7.0].ebx                 devices.net[eth0].virtio.queue[0].next_avail
//! memory.region[1].size                    vcpu[0].reg[0x6030000000100000]   (aarch64)
//! extensions[firecracker/resource_allocator].value.system_memory...
//! ```
//!
//! Byte blobs (hex strings in the model) are compared whole; the change names how many bytes
//! differ and where the first difference is.

use crate::model::Snapshot;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The stable path of the leaf.
    pub path: String,
    /// The value in the first snapshot (`None`: absent there).
    pub a: Option<Value>,
    /// The value in the second snapshot (`None`: absent there).
    pub b: Option<Value>,
    /// For byte blobs: how many bytes differ and the first differing offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| match v {
            None => "(absent)".to_string(),
            Some(Value::String(s)) if s == "{...}" => s.clone(),
            Some(Value::String(s)) if s.len() > 48 && s.bytes().all(|c| c.is_ascii_hexdigit()) => {
                format!(
                    "{}… ({} bytes)",
                    s.chars().take(32).collect::<String>(),
                    s.len() / 2
                )
            }
            Some(v) => short(v),
        };
        write!(f, "{}: {} -> {}", self.path, show(&self.a), show(&self.b))?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(x) if x > 0xffff => format!("{x} (0x{x:x})"),
            _ => n.to_string(),
        },
        v => {
            let s = v.to_string();
            if s.len() > 80 {
                format!("{}…", s.chars().take(77).collect::<String>())
            } else {
                s
            }
        }
    }
}

/// Well-known x86 MSR names, for paths.
fn msr_name(index: u64) -> Option<&'static str> {
    Some(match index {
        0x10 => "IA32_TSC",
        0x1b => "IA32_APIC_BASE",
        0x3a => "IA32_FEATURE_CONTROL",
        0x3b => "IA32_TSC_ADJUST",
        0x48 => "IA32_SPEC_CTRL",
        0x8b => "IA32_BIOS_SIGN_ID",
        0x10a => "IA32_ARCH_CAPABILITIES",
        0x122 => "IA32_TSX_CTRL",
        0x174 => "IA32_SYSENTER_CS",
        0x175 => "IA32_SYSENTER_ESP",
        0x176 => "IA32_SYSENTER_EIP",
        0x1a0 => "IA32_MISC_ENABLE",
        0x277 => "IA32_PAT",
        0x2ff => "IA32_MTRR_DEF_TYPE",
        0x6e0 => "IA32_TSC_DEADLINE",
        0xda0 => "IA32_XSS",
        0xc000_0080 => "IA32_EFER",
        0xc000_0081 => "IA32_STAR",
        0xc000_0082 => "IA32_LSTAR",
        0xc000_0083 => "IA32_CSTAR",
        0xc000_0084 => "IA32_FMASK",
        0xc000_0100 => "IA32_FS_BASE",
        0xc000_0101 => "IA32_GS_BASE",
        0xc000_0102 => "IA32_KERNEL_GS_BASE",
        0xc000_0103 => "IA32_TSC_AUX",
        0x4b56_4d00 => "KVM_WALL_CLOCK_NEW",
        0x4b56_4d01 => "KVM_SYSTEM_TIME_NEW",
        0x4b56_4d02 => "KVM_ASYNC_PF_EN",
        0x4b56_4d03 => "KVM_STEAL_TIME",
        0x4b56_4d04 => "KVM_PV_EOI_EN",
        0x4b56_4d05 => "KVM_POLL_CONTROL",
        0x4b56_4d06 => "KVM_ASYNC_PF_INT",
        0x4b56_4d07 => "KVM_ASYNC_PF_ACK",
        0x11 => "KVM_WALL_CLOCK",
        0x12 => "KVM_SYSTEM_TIME",
        _ => return None,
    })
}

/// The segment name and key of item `i` of the list at `name` (the parent path's last field).
fn item_key(name: &str, i: usize, item: &Value) -> (String, String) {
    let num = |k: &str| item.get(k).and_then(Value::as_u64);
    let text = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
    match name {
        "vcpus" => ("vcpu".into(), i.to_string()),
        "regions" => ("region".into(), i.to_string()),
        "queues" => ("queue".into(), i.to_string()),
        "msrs" => match num("index") {
            Some(x) => (
                "msr".into(),
                match msr_name(x) {
                    Some(n) => format!("{n} (0x{x:x})"),
                    None => format!("0x{x:x}"),
                },
            ),
            None => ("msr".into(), i.to_string()),
        },
        "cpuid" => match (num("function"), num("index")) {
            (Some(f), Some(x)) => ("cpuid".into(), format!("0x{f:x}.{x}")),
            _ => ("cpuid".into(), i.to_string()),
        },
        "regs" => match num("id") {
            Some(id) => ("reg".into(), format!("0x{id:016x}")),
            None => ("regs".into(), i.to_string()),
        },
        "devices" => match (text("kind"), text("id")) {
            (Some(k), Some(id)) => (k, id),
            _ => ("device".into(), i.to_string()),
        },
        _ => (name.to_string(), i.to_string()),
    }
}

/// Flattens a model into `(path, leaf)` pairs in document order.
pub fn flatten(s: &Snapshot) -> Vec<(String, Value)> {
    let v = serde_json::to_value(s).unwrap_or(Value::Null);
    let mut out = Vec::new();
    if let Value::Object(m) = v {
        for (k, x) in m {
            match k.as_str() {
                "extensions" => {
                    if let Value::Object(e) = x {
                        for (name, ext) in e {
                            walk(&format!("extensions[{name}]"), "", &ext, &mut out);
                        }
                    }
                }
                "devices" => {
                    let view = match x {
                        Value::Array(a) => Value::Array(a.into_iter().map(device_view).collect()),
                        other => other,
                    };
                    walk("devices", "devices", &view, &mut out)
                }
                _ => walk(&k, &k, &x, &mut out),
            }
        }
    }
    out
}

/// A device as the diff names it: its typed configuration's fields directly under the device
/// (`devices.block[rootfs].path_on_host`), its raw producer state without the leaves that only
/// refer to that configuration and without the layout tag (a conversion changes it everywhere).
fn device_view(mut d: Value) -> Value {
    let Some(o) = d.as_object_mut() else {
        return d;
    };
    if let Some(Value::Object(cfg)) = o.remove("config") {
        for (_, inner) in cfg {
            if let Value::Object(fields) = inner {
                o.extend(fields);
            }
        }
    }
    if let Some(raw) = o.get_mut("raw").and_then(Value::as_object_mut) {
        raw.remove("layout");
        if let Some(v) = raw.get_mut("value") {
            drop_refs(v);
        }
    }
    d
}

fn drop_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| {
                !x.as_str()
                    .is_some_and(|s| s.starts_with(crate::model::CONFIG_REF))
            });
            m.values_mut().for_each(drop_refs);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_refs),
        _ => {}
    }
}

fn walk(path: &str, name: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                walk(&format!("{path}.{k}"), k, x, out);
            }
        }
        Value::Array(a) if a.iter().any(|x| x.is_object()) => {
            let parent = path.rsplit_once('.').map_or("", |(p, _)| p);
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for (i, item) in a.iter().enumerate() {
                let (seg, key) = item_key(name, i, item);
                // keep keys unique even when two items share an identity
                let n = seen.entry(format!("{seg}[{key}]")).or_insert(0);
                let key = if *n == 0 { key } else { format!("{key}#{n}") };
                *n += 1;
                let p = if name == "devices" {
                    format!("devices.{seg}[{key}]")
                } else if matches!(
                    seg.as_str(),
                    "vcpu" | "region" | "queue" | "msr" | "cpuid" | "reg"
                ) {
                    if parent.is_empty() {
                        format!("{seg}[{key}]")
                    } else {
                        format!("{parent}.{seg}[{key}]")
                    }
                } else {
                    format!("{path}[{key}]")
                };
                walk(&p, "", item, out);
            }
        }
        Value::Null => {}
        v => out.push((path.to_string(), v.clone())),
    }
}

/// The prefixes of `path` at segment boundaries (`a`, `a.b`, `a.b[c]`, ...), shortest first.
fn prefixes(path: &str) -> Vec<&str> {
    let mut v = Vec::new();
    let mut depth = 0usize;
    for (i, c) in path.char_indices() {
        match c {
            // a list item is collapsed at the item, never at the bare list name
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => v.push(&path[..i]),
            _ => {}
        }
    }
    v.push(path);
    v
}

/// Replaces the leaves of a subtree present on one side only by one change at its root.
fn collapse(changes: Vec<Change>, fa: &[(String, Value)], fb: &[(String, Value)]) -> Vec<Change> {
    use std::collections::HashSet;
    let pre = |f: &[(String, Value)]| -> HashSet<String> {
        f.iter()
            .flat_map(|(p, _)| prefixes(p).into_iter().map(str::to_string))
            .collect()
    };
    let (pa, pb) = (pre(fa), pre(fb));
    let mut out: Vec<Change> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    for c in changes {
        let root = match (&c.a, &c.b) {
            (None, Some(_)) => prefixes(&c.path).into_iter().find(|p| !pa.contains(*p)),
            (Some(_), None) => prefixes(&c.path).into_iter().find(|p| !pb.contains(*p)),
            _ => None,
        }
        .map(str::to_string);
        match root {
            Some(r) if r != c.path => {
                if let Some(last) = out.last_mut().filter(|l| l.path == r) {
                    if let Some(n) = counts.last_mut() {
                        *n += 1;
                    }
                    let _ = last;
                } else {
                    out.push(Change {
                        path: r,
                        a: c.a.as_ref().map(|_| Value::String("{...}".into())),
                        b: c.b.as_ref().map(|_| Value::String("{...}".into())),
                        detail: None,
                    });
                    counts.push(1);
                }
            }
            _ => {
                out.push(c);
                counts.push(0);
            }
        }
    }
    for (c, n) in out.iter_mut().zip(counts) {
        if n > 0 {
            c.detail = Some(format!("{n} value{}", if n == 1 { "" } else { "s" }));
        }
    }
    out
}

fn hex_detail(a: &str, b: &str) -> Option<String> {
    let is_hex =
        |s: &str| s.len() >= 32 && s.len() % 2 == 0 && s.bytes().all(|c| c.is_ascii_hexdigit());
    if !(is_hex(a) && is_hex(b)) {
        return None;
    }
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let n = x.len().min(y.len()) / 2;
    let mut first = None;
    let mut count = 0;
    for i in 0..n {
        if x[2 * i..2 * i + 2] != y[2 * i..2 * i + 2] {
            count += 1;
            first.get_or_insert(i);
        }
    }
    let mut s = format!("{count} of {n} bytes differ");
    if let Some(f) = first {
        s.push_str(&format!(", first at byte 0x{f:x}"));
    }
    if x.len() != y.len() {
        s.push_str(&format!("; lengths {} and {}", x.len() / 2, y.len() / 2));
    }
    Some(s)
}

/// The paths that say where a model came from rather than what the VM is: `provenance`, and the
/// source a VeridianOS file's blob records. Skipped by `diff` unless asked for.
pub const PROVENANCE: &[&str] = crate::registry::PROVENANCE_KEYS;

/// Every leaf that differs between `a` and `b` (leaves of `a` in order, then leaves only in `b`).
/// `skip` filters out paths by prefix (e.g. [`PROVENANCE`]).
pub fn diff(a: &Snapshot, b: &Snapshot, skip: &[&str]) -> Vec<Change> {
    let fa = flatten(a);
    let fb = flatten(b);
    let keep = |p: &str| {
        !skip
            .iter()
            .any(|s| p == *s || p.starts_with(&format!("{s}.")) || p.starts_with(&format!("{s}[")))
    };
    let mb: BTreeMap<&str, &Value> = fb.iter().map(|(p, v)| (p.as_str(), v)).collect();
    let ma: BTreeMap<&str, &Value> = fa.iter().map(|(p, v)| (p.as_str(), v)).collect();
    let mut out = Vec::new();
    for (p, va) in &fa {
        if !keep(p) {
            continue;
        }
        match mb.get(p.as_str()) {
            Some(vb) if *vb == va => {}
            Some(vb) => {
                let detail = match (va, vb) {
                    (Value::String(x), Value::String(y)) => hex_detail(x, y),
                    _ => None,
                };
                out.push(Change {
                    path: p.clone(),
                    a: Some(va.clone()),
                    b: Some((*vb).clone()),
                    detail,
                })
            }
            None => out.push(Change {
                path: p.clone(),
                a: Some(va.clone()),
                b: None,
                detail: None,
            }),
        }
    }
    for (p, vb) in &fb {
        if keep(p) && !ma.contains_key(p.as_str()) {
            out.push(Change {
                path: p.clone(),
                a: None,
                b: Some(vb.clone()),
                detail: None,
            });
        }
    }
    collapse(out, &fa, &fb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::firecracker as fc;

    fn fixture() -> Snapshot {
        let b = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/firecracker-1.16.1/counter-1vcpu/vmstate"
        ))
        .unwrap();
        fc::read(&b).unwrap().to_model()
    }

    #[test]
    fn a_snapshot_equals_itself() {
        let m = fixture();
        assert!(diff(&m, &m, &[]).is_empty());
    }

    #[test]
    fn paths_name_registers_msrs_cpuid_and_regions() {
        let a = fixture();
        let mut b = a.clone();
        let crate::model::Vcpu::X86_64(v) = &mut b.vcpus[0] else {
            panic!("x86 fixture")
        };
        v.regs.r8 ^= 1;
        let efer = v.msrs.iter_mut().find(|m| m.index == 0x10).unwrap();
        efer.value ^= 1;
        let leaf7 = v
            .cpuid
            .iter_mut()
            .find(|c| c.function == 7 && c.index == 0)
            .unwrap();
        leaf7.ebx ^= 1;
        b.memory.regions[0].size += 4096;
        let d = diff(&a, &b, &[]);
        let paths: Vec<&str> = d.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "memory.region[0].size",
                "vcpu[0].cpuid[0x7.0].ebx",
                "vcpu[0].msr[IA32_TSC (0x10)].value",
                "vcpu[0].regs.r8",
            ],
            "{d:#?}"
        );
        assert!(d[3].to_string().starts_with("vcpu[0].regs.r8: "));
    }

    #[test]
    fn blobs_report_the_first_differing_byte() {
        let a = fixture();
        let mut b = a.clone();
        let crate::model::Vcpu::X86_64(v) = &mut b.vcpus[0] else {
            panic!("x86 fixture")
        };
        v.lapic.as_mut().unwrap().regs.0[0x80] ^= 0xff;
        let d = diff(&a, &b, &[]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].path, "vcpu[0].lapic.regs");
        assert_eq!(
            d[0].detail.as_deref(),
            Some("1 of 1024 bytes differ, first at byte 0x80")
        );
    }
}
