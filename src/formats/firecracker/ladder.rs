//! How Firecracker's resource allocator moves between the layouts that changed it, one release
//! step at a time.
//!
//! ```text
//! 6.0.0 (v1.12) ─ 8.0.0 (v1.13) ─ 8.0.0 (v1.14) ─ 9.0.0 (v1.15) ─ 10.0.0 (v1.16) ─ 11.0.0
//! ```
//!
//! Devices do not move here: every layout reads its device lists into the typed device model
//! and writes them from it (`device_model`).

use super::allocator::Allocator;
use super::shared::v1_16::devices::AddressAllocator;

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

/// The resource allocator of layout `from` as layout `to`'s, or `None` when `to` has no
/// allocator (6.0.0) or `from` is not on the ladder. v1.14 adds the space past 64-bit MMIO
/// (`past_mmio64`: the release's, free, going up; gone going down). `vmclock_gsi`: the vmclock's
/// interrupt line when it gains one going up past v1.14 (the legacy allocator then records it
/// as handed out), or the one it loses going down.
pub(crate) fn allocator(
    from: &str,
    to: &str,
    mut a: Allocator,
    vmclock_gsi: Option<u32>,
    past_mmio64: &Option<AddressAllocator>,
) -> Option<Allocator> {
    let (f, t) = (rank(from)?, rank(to)?);
    if t == 0 || f == 0 {
        return None;
    }
    if f == 1 && t > 1 {
        a.past_mmio64_memory = past_mmio64.clone();
    } else if f > 1 && t == 1 {
        a.past_mmio64_memory = None;
    }
    if let (Some(g), Some(legacy)) = (vmclock_gsi, &mut a.gsi_legacy_allocator) {
        match legacy.next_id {
            Some(n) if f <= 2 && t > 2 && n == g => legacy.next_id = g.checked_add(1),
            Some(n) if f > 2 && t <= 2 && Some(n) == g.checked_add(1) => legacy.next_id = Some(g),
            _ => {}
        }
    }
    Some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vmclock_gsi_is_allocated_up_and_released_down() {
        let mut alloc = Allocator::defaults(include_str!("v8_14/defaults.json"));
        alloc.gsi_legacy_allocator.as_mut().unwrap().next_id = Some(15);
        let up = allocator(
            "firecracker-8.0.0-v1.14",
            "firecracker-10.0.0",
            alloc.clone(),
            Some(15),
            &None,
        )
        .unwrap();
        assert_eq!(up.gsi_legacy_allocator.as_ref().unwrap().next_id, Some(16));
        let down = allocator(
            "firecracker-10.0.0",
            "firecracker-8.0.0-v1.14",
            up,
            Some(15),
            &None,
        )
        .unwrap();
        assert_eq!(down, alloc);
    }

    #[test]
    fn the_space_past_64_bit_mmio_comes_and_goes_with_v1_14() {
        let a13 = Allocator::defaults(include_str!("v8_13/defaults.json"));
        let past = Allocator::defaults(include_str!("v8_14/defaults.json")).past_mmio64_memory;
        let up = allocator(
            "firecracker-8.0.0-v1.13",
            "firecracker-8.0.0-v1.14",
            a13.clone(),
            None,
            &past,
        )
        .unwrap();
        assert_eq!(up.past_mmio64_memory, past);
        let down = allocator(
            "firecracker-8.0.0-v1.14",
            "firecracker-8.0.0-v1.13",
            up,
            None,
            &past,
        )
        .unwrap();
        assert_eq!(down, a13);
        assert!(allocator("firecracker-10.0.0", "firecracker-6.0.0", a13, None, &past).is_none());
    }
}
