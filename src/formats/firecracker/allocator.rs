//! Firecracker's resource allocator (v1.13 on), typed, in one shape for every layout that saves
//! it: the GSI allocators (up to 10.0.0), the 32- and 64-bit MMIO address spaces, the address
//! space past 64-bit MMIO (v1.14 on) and system memory, each with its vm-allocator interval tree.
//!
//! The model carries it as the extension `firecracker/resource_allocator` (the producer's field
//! names, so every layout's allocator reads as an [`Allocator`]); writers move it to the target
//! release with [`super::ladder::allocator`] and build the layout's own types from it here.

use super::WriteError;
use super::convert_common::KEY_ALLOC;
use super::shared::v1_16::devices as d16;
use super::v8_13::devices as d13;
use super::v8_14::devices as d14;
use super::v11::devices as d11;
use crate::model::{Device, KindState, Snapshot, Transport};
use serde::{Deserialize, Serialize};

/// The resource allocator of any layout from 8.0.0 (v1.13) on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Allocator {
    /// Legacy interrupt lines (up to 10.0.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi_legacy_allocator: Option<d16::IdAllocator>,
    /// MSI interrupt lines (up to 10.0.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi_msi_allocator: Option<d16::IdAllocator>,
    /// 32-bit MMIO.
    pub mmio32_memory: d16::AddressAllocator,
    /// 64-bit MMIO.
    pub mmio64_memory: d16::AddressAllocator,
    /// Past 64-bit MMIO (v1.14 on): pmem and virtio-mem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_mmio64_memory: Option<d16::AddressAllocator>,
    /// System memory (ACPI tables, VMGenID, vmclock).
    pub system_memory: d16::AddressAllocator,
}

fn node13_in(n: &d13::InnerNode) -> d16::InnerNode {
    d16::InnerNode {
        key: n.key.clone(),
        node_state: n.node_state.clone(),
        left: n.left.as_deref().map(|l| Box::new(node13_in(l))),
        right: n.right.as_deref().map(|r| Box::new(node13_in(r))),
        height: n.height,
    }
}

fn node13_out(n: &d16::InnerNode) -> d13::InnerNode {
    d13::InnerNode {
        key: n.key.clone(),
        node_state: n.node_state.clone(),
        left: n.left.as_deref().map(|l| Box::new(node13_out(l))),
        right: n.right.as_deref().map(|r| Box::new(node13_out(r))),
        height: n.height,
    }
}

fn space13_in(a: &d13::AddressAllocator) -> d16::AddressAllocator {
    d16::AddressAllocator {
        address_space: a.address_space.clone(),
        interval_tree: d16::IntervalTree {
            root: a
                .interval_tree
                .root
                .as_deref()
                .map(|n| Box::new(node13_in(n))),
        },
    }
}

fn space13_out(a: &d16::AddressAllocator) -> d13::AddressAllocator {
    d13::AddressAllocator {
        address_space: a.address_space.clone(),
        interval_tree: d13::IntervalTree {
            root: a
                .interval_tree
                .root
                .as_deref()
                .map(|n| Box::new(node13_out(n))),
        },
    }
}

fn need<T: Clone>(v: &Option<T>, field: &str, layout: &str) -> Result<T, WriteError> {
    v.clone().ok_or_else(|| {
        WriteError::Model(format!(
            "{layout} needs vm_state.resource_allocator.{field}, which the model does not have"
        ))
    })
}

impl Allocator {
    /// The 8.0.0 (v1.13) allocator.
    pub(crate) fn from_v8_13(a: &d13::ResourceAllocator) -> Self {
        Allocator {
            gsi_legacy_allocator: Some(a.gsi_legacy_allocator.clone()),
            gsi_msi_allocator: Some(a.gsi_msi_allocator.clone()),
            mmio32_memory: space13_in(&a.mmio32_memory),
            mmio64_memory: space13_in(&a.mmio64_memory),
            past_mmio64_memory: None,
            system_memory: space13_in(&a.system_memory),
        }
    }

    /// The 8.0.0 (v1.14) allocator.
    pub(crate) fn from_v8_14(a: &d14::ResourceAllocator) -> Self {
        Allocator {
            gsi_legacy_allocator: Some(a.gsi_legacy_allocator.clone()),
            gsi_msi_allocator: Some(a.gsi_msi_allocator.clone()),
            mmio32_memory: space13_in(&a.mmio32_memory),
            mmio64_memory: space13_in(&a.mmio64_memory),
            past_mmio64_memory: Some(space13_in(&a.past_mmio64_memory)),
            system_memory: space13_in(&a.system_memory),
        }
    }

    /// The 9.0.0 / 10.0.0 allocator.
    pub(crate) fn from_v1_16(a: &d16::ResourceAllocator) -> Self {
        Allocator {
            gsi_legacy_allocator: Some(a.gsi_legacy_allocator.clone()),
            gsi_msi_allocator: Some(a.gsi_msi_allocator.clone()),
            mmio32_memory: a.mmio32_memory.clone(),
            mmio64_memory: a.mmio64_memory.clone(),
            past_mmio64_memory: Some(a.past_mmio64_memory.clone()),
            system_memory: a.system_memory.clone(),
        }
    }

    /// The 11.0.0 allocator (no GSI allocators).
    pub(crate) fn from_v11(a: &d11::ResourceAllocatorState) -> Self {
        Allocator {
            gsi_legacy_allocator: None,
            gsi_msi_allocator: None,
            mmio32_memory: a.mmio32_memory.clone(),
            mmio64_memory: a.mmio64_memory.clone(),
            past_mmio64_memory: Some(a.past_mmio64_memory.clone()),
            system_memory: a.system_memory.clone(),
        }
    }

    /// As 8.0.0 (v1.13) saves it.
    ///
    /// # Errors
    /// A GSI allocator is missing.
    pub(crate) fn to_v8_13(&self, layout: &str) -> Result<d13::ResourceAllocator, WriteError> {
        Ok(d13::ResourceAllocator {
            gsi_legacy_allocator: need(&self.gsi_legacy_allocator, "gsi_legacy_allocator", layout)?,
            gsi_msi_allocator: need(&self.gsi_msi_allocator, "gsi_msi_allocator", layout)?,
            mmio32_memory: space13_out(&self.mmio32_memory),
            mmio64_memory: space13_out(&self.mmio64_memory),
            system_memory: space13_out(&self.system_memory),
        })
    }

    /// As 8.0.0 (v1.14) saves it.
    ///
    /// # Errors
    /// A GSI allocator or the past-64-bit space is missing.
    pub(crate) fn to_v8_14(&self, layout: &str) -> Result<d14::ResourceAllocator, WriteError> {
        Ok(d14::ResourceAllocator {
            gsi_legacy_allocator: need(&self.gsi_legacy_allocator, "gsi_legacy_allocator", layout)?,
            gsi_msi_allocator: need(&self.gsi_msi_allocator, "gsi_msi_allocator", layout)?,
            mmio32_memory: space13_out(&self.mmio32_memory),
            mmio64_memory: space13_out(&self.mmio64_memory),
            past_mmio64_memory: space13_out(&need(
                &self.past_mmio64_memory,
                "past_mmio64_memory",
                layout,
            )?),
            system_memory: space13_out(&self.system_memory),
        })
    }

    /// As 9.0.0 and 10.0.0 save it.
    ///
    /// # Errors
    /// A GSI allocator or the past-64-bit space is missing.
    pub(crate) fn to_v1_16(&self, layout: &str) -> Result<d16::ResourceAllocator, WriteError> {
        Ok(d16::ResourceAllocator {
            gsi_legacy_allocator: need(&self.gsi_legacy_allocator, "gsi_legacy_allocator", layout)?,
            gsi_msi_allocator: need(&self.gsi_msi_allocator, "gsi_msi_allocator", layout)?,
            mmio32_memory: self.mmio32_memory.clone(),
            mmio64_memory: self.mmio64_memory.clone(),
            past_mmio64_memory: need(&self.past_mmio64_memory, "past_mmio64_memory", layout)?,
            system_memory: self.system_memory.clone(),
        })
    }

    /// As 11.0.0 saves it.
    ///
    /// # Errors
    /// The past-64-bit space is missing.
    pub(crate) fn to_v11(&self, layout: &str) -> Result<d11::ResourceAllocatorState, WriteError> {
        Ok(d11::ResourceAllocatorState {
            mmio32_memory: self.mmio32_memory.clone(),
            mmio64_memory: self.mmio64_memory.clone(),
            past_mmio64_memory: need(&self.past_mmio64_memory, "past_mmio64_memory", layout)?,
            system_memory: self.system_memory.clone(),
        })
    }

    /// Firecracker's allocator for a VM without devices, from a layout's `defaults.json`.
    pub(crate) fn defaults(json: &str) -> Allocator {
        #[derive(Deserialize)]
        struct Defaults {
            resource_allocator: Allocator,
        }
        // The files are part of the source: a parse failure is a build defect the tests catch.
        serde_json::from_str::<Defaults>(json)
            .map(|d| d.resource_allocator)
            .unwrap_or_else(|e| panic!("defaults.json: {e}"))
    }
}

/// One range an address allocator has handed out, and the device that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Allocation {
    /// Which address space: `mmio32`, `mmio64`, `past_mmio64` or `system`.
    pub space: &'static str,
    /// First address.
    pub start: u64,
    /// Last address (inclusive, as vm-allocator records it).
    pub end: u64,
    /// `kind[id]` of the device whose address lies in the range; `None` for what no device
    /// claims (in x86_64 system memory, Firecracker's ACPI tables).
    pub owner: Option<String>,
}

fn allocated(n: &d16::InnerNode, out: &mut Vec<(u64, u64)>) {
    if let Some(l) = &n.left {
        allocated(l, out);
    }
    if n.node_state == d16::NodeState::Allocated {
        out.push((n.key.start, n.key.end));
    }
    if let Some(r) = &n.right {
        allocated(r, out);
    }
}

/// Guest addresses a device sits at: its transport, its PCI BAR, its pmem or virtio-mem area,
/// its ACPI page.
fn claims(d: &Device) -> Vec<u64> {
    let mut v = Vec::new();
    match d.transport {
        Some(Transport::Mmio { addr, .. }) | Some(Transport::Address { addr, .. }) => v.push(addr),
        _ => {}
    }
    if let Some(g) = &d.vmgenid {
        v.push(g.addr);
    }
    if let Some(st) = &d.state {
        if let Some(a) = st.pci.as_ref().and_then(|p| p.bar_address) {
            v.push(a);
        }
        match &st.kind {
            KindState::Pmem(p) => v.push(p.start),
            KindState::Mem(m) => v.push(m.addr),
            KindState::VmClock(c) => v.push(c.guest_address),
            _ => {}
        }
    }
    v
}

impl Allocator {
    /// Every range the address allocators have handed out, in address order per space, each
    /// with the device whose address lies in it.
    pub(crate) fn allocations(&self, devices: &[Device]) -> Vec<Allocation> {
        // Sorted by address (stable: the first device wins a tie), so each range finds its
        // owner by binary search however many ranges and devices a file holds.
        let mut claimed: Vec<(u64, String)> = devices
            .iter()
            .flat_map(|d| {
                let name = format!("{}[{}]", d.kind.name(), d.id);
                claims(d).into_iter().map(move |a| (a, name.clone()))
            })
            .collect();
        claimed.sort_by_key(|c| c.0);
        let spaces = [
            ("mmio32", Some(&self.mmio32_memory)),
            ("mmio64", Some(&self.mmio64_memory)),
            ("past_mmio64", self.past_mmio64_memory.as_ref()),
            ("system", Some(&self.system_memory)),
        ];
        let mut out = Vec::new();
        for (space, a) in spaces {
            let mut ranges = Vec::new();
            if let Some(root) = a.and_then(|a| a.interval_tree.root.as_deref()) {
                allocated(root, &mut ranges);
            }
            out.extend(ranges.into_iter().map(|(start, end)| {
                Allocation {
                    space,
                    start,
                    end,
                    owner: claimed
                        .get(claimed.partition_point(|c| c.0 < start))
                        .filter(|c| c.0 <= end)
                        .map(|c| c.1.clone()),
                }
            }));
        }
        out
    }
}

/// `inspect`'s lines for the resource allocator a snapshot carries (none without one): the GSI
/// allocators, then every allocated range with its owner.
pub(crate) fn report(s: &Snapshot) -> Vec<String> {
    let Some(e) = s.extensions.get(KEY_ALLOC) else {
        return Vec::new();
    };
    let a: Allocator = match serde_json::from_value(e.value.clone()) {
        Ok(a) => a,
        Err(err) => return vec![format!("allocator: not readable as an allocator: {err}")],
    };
    let list = a.allocations(&s.devices);
    // Firecracker writes its x86_64 ACPI tables into system memory; no device claims them.
    let x86 = s.arch() == crate::model::Arch::X86_64;
    let gsi = |name: &str, g: &Option<d16::IdAllocator>| {
        g.as_ref().map(|g| {
            let next = g.next_id.map_or("none".to_string(), |n| n.to_string());
            format!("{name} {}..={} next {next}", g.range_base, g.range_end)
        })
    };
    let gsis: Vec<String> = [
        gsi("legacy", &a.gsi_legacy_allocator),
        gsi("msi", &a.gsi_msi_allocator),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut lines = vec![format!(
        "allocator: {} ranges handed out{}",
        list.len(),
        if gsis.is_empty() {
            String::new()
        } else {
            format!(", gsi {}", gsis.join(", "))
        }
    )];
    lines.extend(list.iter().map(|r| {
        format!(
            "  {:<11} 0x{:016x}..=0x{:016x}  {}",
            r.space,
            r.start,
            r.end,
            r.owner.as_deref().unwrap_or(if r.space == "system" && x86 {
                "(acpi tables)"
            } else {
                "-"
            })
        )
    }));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_defaults_file_reads_and_round_trips_through_its_layout() {
        let a = Allocator::defaults(include_str!("v8_13/defaults.json"));
        assert!(a.past_mmio64_memory.is_none());
        let back = Allocator::from_v8_13(&a.to_v8_13("t").unwrap());
        assert_eq!(back, a);
        let a = Allocator::defaults(include_str!("v8_14/defaults.json"));
        assert_eq!(Allocator::from_v8_14(&a.to_v8_14("t").unwrap()), a);
        let a = Allocator::defaults(include_str!("v10/defaults.json"));
        assert_eq!(Allocator::from_v1_16(&a.to_v1_16("t").unwrap()), a);
        let mut no_gsi = a.clone();
        no_gsi.gsi_legacy_allocator = None;
        assert!(
            no_gsi
                .to_v1_16("t")
                .unwrap_err()
                .to_string()
                .contains("gsi_legacy")
        );
        no_gsi.gsi_msi_allocator = None;
        assert_eq!(Allocator::from_v11(&no_gsi.to_v11("t").unwrap()), no_gsi);
    }
}
