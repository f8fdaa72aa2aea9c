//! `edit`: change named fields of a snapshot and write it again in its own format, every other
//! byte unchanged.
//!
//! Paths are the ones `diff` prints:
//!
//! ```text
//! vcpu[0].tsc_khz                       vcpu[*].tsc_khz=host   (every vCPU; this host's rate)
//! vcpu[1].regs.rip                      devices.block[rootfs].path_on_host
//! devices.net[eth0].host_dev_name       devices.vsock[vsock].uds_path
//! vm.boot_source.kernel_image_path      memory.regions[0].guest_addr
//! ```
//!
//! A device is named by kind and id (`devices.<kind>[<id>]`, `*` for every device of a kind);
//! its fields are the typed configuration's (Firecracker's API names), then any other field of
//! the device. A value is JSON (`42`, `true`, `"text"`) or plain text; it must have the type the
//! field has. A path that does not exist, a value of the wrong type, or a field the format
//! derives from other state (so that the written file would not keep it) is refused and nothing
//! is written.

use crate::convert::{self, ConvertError, Encoded, Loaded};
use crate::diff::{self, Change};
use crate::model::Snapshot;
use serde_json::Value;
use thiserror::Error;

/// One `PATH=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The field path, as `diff` names it.
    pub path: String,
    /// The value as typed.
    pub value: String,
}

/// Why an edit was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EditError {
    /// Not of the form `PATH=VALUE`.
    #[error("`{0}` is not PATH=VALUE")]
    Syntax(String),
    /// The path names nothing in this snapshot.
    #[error("`{path}` does not exist in this snapshot{hint}")]
    NoSuchPath {
        /// The path.
        path: String,
        /// What exists there instead.
        hint: String,
    },
    /// The value does not fit the field.
    #[error("`{path}`: {reason}")]
    BadValue {
        /// The path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The format does not keep the field (it derives it from other state).
    #[error(
        "`{path}`: {format} does not store this field itself (it is derived from other state), so the edit would not reach the file"
    )]
    NotKept {
        /// The path.
        path: String,
        /// The format.
        format: String,
    },
    /// Writing or reading back failed.
    #[error(transparent)]
    Convert(#[from] ConvertError),
}

impl Assignment {
    /// Parses `PATH=VALUE`.
    ///
    /// # Errors
    /// [`EditError::Syntax`].
    pub fn parse(s: &str) -> Result<Assignment, EditError> {
        match s.split_once('=') {
            Some((p, v)) if !p.trim().is_empty() => Ok(Assignment {
                path: p.trim().to_string(),
                value: v.to_string(),
            }),
            _ => Err(EditError::Syntax(s.to_string())),
        }
    }
}

/// The result of an edit: the encoded snapshot and what changed.
#[derive(Debug)]
pub struct Edited {
    /// The snapshot in its own format.
    pub output: Encoded,
    /// The changes, as `diff` names them (read back from the output).
    pub changes: Vec<Change>,
}

/// Applies the assignments to a loaded snapshot and encodes it in its own format.
/// `host_tsc_khz` answers the value `host` of a `tsc_khz` field.
///
/// # Errors
/// See [`EditError`].
pub fn edit(
    src: &Loaded,
    sets: &[Assignment],
    host_tsc_khz: &dyn Fn() -> Result<u32, String>,
) -> Result<Edited, EditError> {
    let edited = apply(&src.model, sets, host_tsc_khz)?;
    let (output, _) = convert::encode_to(&edited, src.format, src.memory.as_deref())?;
    let back = crate::registry::reload(&output)?;
    let (want, got) = (to_value(&edited), to_value(&back.model));
    for a in sets {
        for p in pointers(&want, &a.path)? {
            if want.pointer(&p) != got.pointer(&p) {
                return Err(EditError::NotKept {
                    path: a.path.clone(),
                    format: src.format.id().to_string(),
                });
            }
        }
    }
    let changes = diff::diff(&src.model, &back.model, diff::PROVENANCE);
    Ok(Edited { output, changes })
}

fn to_value(m: &Snapshot) -> Value {
    serde_json::to_value(m).unwrap_or(Value::Null)
}

/// Applies the assignments to a model.
///
/// # Errors
/// See [`EditError`].
pub fn apply(
    m: &Snapshot,
    sets: &[Assignment],
    host_tsc_khz: &dyn Fn() -> Result<u32, String>,
) -> Result<Snapshot, EditError> {
    let mut v = to_value(m);
    for a in sets {
        let bad = |reason: String| EditError::BadValue {
            path: a.path.clone(),
            reason,
        };
        let value = if a.value.trim() == "host" && a.path.ends_with("tsc_khz") {
            Value::from(host_tsc_khz().map_err(|e| bad(format!("this host's TSC rate: {e}")))?)
        } else {
            serde_json::from_str(&a.value).unwrap_or_else(|_| Value::String(a.value.clone()))
        };
        for p in pointers(&v, &a.path)? {
            let slot = v.pointer_mut(&p).ok_or_else(|| EditError::NoSuchPath {
                path: a.path.clone(),
                hint: String::new(),
            })?;
            *slot = typed(slot, &value, &a.value).map_err(bad)?;
        }
    }
    let de = serde_json::from_value::<Snapshot>(v);
    de.map_err(|e| EditError::BadValue {
        path: sets
            .iter()
            .map(|a| a.path.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        reason: format!("the snapshot no longer holds together: {e}"),
    })
}

/// `value` in the type of `old` (`text` is the value as typed, for string fields).
fn typed(old: &Value, value: &Value, text: &str) -> Result<Value, String> {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    match (old, value) {
        (Value::Null, v) => Ok(v.clone()),
        (Value::String(_), Value::String(_)) => Ok(value.clone()),
        (Value::String(_), _) => Ok(Value::String(text.to_string())),
        (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Array(_), Value::Array(_))
        | (Value::Object(_), Value::Object(_)) => Ok(value.clone()),
        (o, v) => Err(format!("the field is {}, `{text}` is {}", kind(o), kind(v))),
    }
}

/// Splits a path at dots outside brackets.
fn segments(path: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in path.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => {
                out.push(&path[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&path[start..]);
    out
}

/// `name[key]` → (`name`, `Some(key)`).
fn split_key(seg: &str) -> (&str, Option<&str>) {
    match seg.split_once('[') {
        Some((n, rest)) => (n, Some(rest.trim_end_matches(']'))),
        None => (seg, None),
    }
}

fn esc(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The JSON pointers a path names in the model (several for `*`).
fn pointers(root: &Value, path: &str) -> Result<Vec<String>, EditError> {
    let none = |hint: String| EditError::NoSuchPath {
        path: path.to_string(),
        hint,
    };
    let segs = segments(path);
    let (first, key) = split_key(segs[0]);
    let (mut bases, rest): (Vec<String>, &[&str]) = match (first, key) {
        ("vcpu" | "vcpus", Some(k)) => {
            let n = root["vcpus"].as_array().map_or(0, Vec::len);
            let idx: Vec<usize> = match k {
                "*" => (0..n).collect(),
                k => vec![
                    k.parse()
                        .ok()
                        .filter(|&i| i < n)
                        .ok_or_else(|| none(format!(" (the snapshot has {n} vCPU(s))")))?,
                ],
            };
            (
                idx.iter().map(|i| format!("/vcpus/{i}")).collect(),
                &segs[1..],
            )
        }
        ("devices", None) if segs.len() >= 3 => {
            let bases = device_pointers(root, segs[1]).map_err(none)?;
            let field = segs[2];
            let mut out = Vec::new();
            for b in &bases {
                let cfg = root
                    .pointer(&format!("{b}/config"))
                    .and_then(Value::as_object);
                let variant = cfg.and_then(|c| c.keys().next().cloned());
                match variant {
                    Some(var)
                        if root
                            .pointer(&format!("{b}/config/{var}/{}", esc(field)))
                            .is_some() =>
                    {
                        out.push(format!("{b}/config/{var}/{}", esc(field)));
                    }
                    _ => out.push(format!("{b}/{}", esc(field))),
                }
            }
            (out, &segs[3..])
        }
        _ => (vec![String::new()], &segs[..]),
    };
    for seg in rest {
        let (name, key) = split_key(seg);
        for b in &mut bases {
            b.push('/');
            b.push_str(&esc(name));
            if let Some(k) = key {
                b.push('/');
                b.push_str(k);
            }
        }
    }
    for b in &bases {
        if root.pointer(b).is_none() {
            let parent = b.rsplit_once('/').map_or("", |(p, _)| p);
            let hint = match root.pointer(parent) {
                Some(Value::Object(m)) => format!(
                    " (there: {})",
                    m.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
                _ => String::new(),
            };
            return Err(none(hint));
        }
    }
    Ok(bases)
}

/// The devices `kind[id]` names (`*` = every device of the kind).
fn device_pointers(root: &Value, seg: &str) -> Result<Vec<String>, String> {
    let (kind, id) = split_key(seg);
    let id =
        id.ok_or_else(|| format!(" (name a device as `devices.<kind>[<id>]`, not `{seg}`)"))?;
    let kind = match kind {
        "entropy" => "rng",
        "vmclock" => "vm_clock",
        "vmgenid" => "vm_gen_id",
        k => k,
    };
    let devices = root["devices"].as_array().cloned().unwrap_or_default();
    let out: Vec<String> = devices
        .iter()
        .enumerate()
        .filter(|(_, d)| d["kind"].as_str() == Some(kind))
        .filter(|(_, d)| id == "*" || d["id"].as_str() == Some(id))
        .map(|(i, _)| format!("/devices/{i}"))
        .collect();
    if out.is_empty() {
        let have: Vec<String> = devices
            .iter()
            .filter_map(|d| Some(format!("{}[{}]", d["kind"].as_str()?, d["id"].as_str()?)))
            .collect();
        return Err(format!(" (devices here: {})", have.join(", ")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn root() -> Value {
        json!({"vcpus": [{"tsc_khz": 1}, {"tsc_khz": 2}],
            "devices": [{"kind": "net", "id": "eth0", "config": {"net": {"host_dev_name": "tap0"}}},
                        {"kind": "block", "id": "rootfs", "transport": {"mmio": {"irq": 5}}}]})
    }

    #[test]
    fn paths_name_vcpus_devices_and_config_fields() {
        let r = root();
        assert_eq!(
            pointers(&r, "vcpu[*].tsc_khz").unwrap(),
            ["/vcpus/0/tsc_khz", "/vcpus/1/tsc_khz"]
        );
        assert_eq!(
            pointers(&r, "devices.net[eth0].host_dev_name").unwrap(),
            ["/devices/0/config/net/host_dev_name"]
        );
        assert_eq!(
            pointers(&r, "devices.block[rootfs].transport.mmio.irq").unwrap(),
            ["/devices/1/transport/mmio/irq"]
        );
    }

    #[test]
    fn missing_paths_are_refused_with_what_exists() {
        let r = root();
        let e = pointers(&r, "devices.net[nosuch].host_dev_name")
            .unwrap_err()
            .to_string();
        assert!(e.contains("net[eth0]"), "{e}");
        assert!(pointers(&r, "vcpu[2].tsc_khz").is_err());
        assert!(pointers(&r, "vcpu[0].nosuch").is_err());
    }

    #[test]
    fn values_keep_the_field_type() {
        assert_eq!(typed(&json!(1), &json!(7), "7").unwrap(), json!(7));
        assert_eq!(typed(&json!("a"), &json!(7), "7").unwrap(), json!("7"));
        assert!(typed(&json!(1), &json!("x"), "x").is_err());
        assert!(typed(&json!(true), &json!(1), "1").is_err());
        assert!(Assignment::parse("novalue").is_err());
        assert_eq!(Assignment::parse("a.b=c=d").unwrap().value, "c=d");
    }
}
