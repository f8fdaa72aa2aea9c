//! How Firecracker's resource allocator moves between the layouts that changed it, one release
//! step at a time.
//!
//! ```text
//! 6.0.0 (v1.12) ─ 8.0.0 (v1.13) ─ 8.0.0 (v1.14) ─ 9.0.0 (v1.15) ─ 10.0.0 (v1.16) ─ 11.0.0
//! ```
//!
//! Devices do not move here: every layout reads its device lists into the typed device model
//! and writes them from it (`device_model`).

use serde_json::{Value, json};

/// Layout ids in step order.
const STEPS: [&str; 6] = [
    "firecracker-6.0.0",
    "firecracker-8.0.0-v1.13",
    "firecracker-8.0.0-v1.14",
    "firecracker-9.0.0",
    "firecracker-10.0.0",
    "firecracker-11.0.0",
];

/// Position of a layout on the ladder (5.0.0 shares 6.0.0's device types).
pub(crate) fn rank(layout: &str) -> Option<usize> {
    match layout {
        "firecracker-5.0.0" => Some(0),
        l => STEPS.iter().position(|s| *s == l),
    }
}

/// The resource allocator of layout `from` (JSON) as layout `to`'s, or `None` when `to` has
/// no allocator (6.0.0) or `from` is not on the ladder. `vmclock_gsi`: the vmclock's interrupt
/// line when it gains one going up past v1.14 (the legacy allocator then records it), or the
/// one it loses going down.
pub(crate) fn allocator(
    from: &str,
    to: &str,
    mut v: Value,
    vmclock_gsi: Option<u64>,
    past_mmio64_default: &Value,
) -> Option<Value> {
    let (f, t) = (rank(from)?, rank(to)?);
    if t == 0 || f == 0 {
        return None;
    }
    let o = v.as_object_mut()?;
    if f == 1 && t > 1 {
        o.insert("past_mmio64_memory".into(), past_mmio64_default.clone());
    } else if f > 1 && t == 1 {
        o.remove("past_mmio64_memory");
    }
    let next = o
        .get_mut("gsi_legacy_allocator")
        .and_then(|a| a.get_mut("next_id"));
    match (vmclock_gsi, next) {
        (Some(g), Some(n)) if f <= 2 && t > 2 && n.as_u64() == Some(g) => *n = json!(g + 1),
        (Some(g), Some(n)) if f > 2 && t <= 2 && n.as_u64() == Some(g + 1) => *n = json!(g),
        _ => {}
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vmclock_gsi_is_allocated_up_and_released_down() {
        let alloc = json!({"gsi_legacy_allocator": {"next_id": 15}});
        let up = allocator(
            "firecracker-8.0.0-v1.14",
            "firecracker-10.0.0",
            alloc.clone(),
            Some(15),
            &Value::Null,
        )
        .unwrap();
        assert_eq!(up["gsi_legacy_allocator"]["next_id"], json!(16));
        let down = allocator(
            "firecracker-10.0.0",
            "firecracker-8.0.0-v1.14",
            up,
            Some(15),
            &Value::Null,
        )
        .unwrap();
        assert_eq!(down, alloc);
    }
}
