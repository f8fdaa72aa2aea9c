//! Firecracker device states ↔ the neutral device model, typed.
//!
//! Every layout's device list entry maps to one [`Device`]: its [`Transport`], common
//! [`VirtioState`], [`DeviceConfig`] (with the names of Firecracker's API) and [`DeviceState`]
//! (the rest of the runtime state, one shape for every release). Writing builds the layout's own
//! types from those, so moving a device between releases is reading one layout's types and
//! writing another's: a field a release adds gets the value that release records for a device
//! that never had it (the `None` of an optional neutral field), a field it lacks is left out.
//!
//! Per layout, the types differ in a few places only; each distinct Rust type implements
//! [`Kind`] (a device kind's state) or [`Entry`] (a list entry: the state with its transport)
//! once, in the module of the release that declares it:
//!
//! | module | types of |
//! |---|---|
//! | [`v1_8`] | formats 2.0.0, 3.0.0 and 4.0.0 (v1.8–v1.10: `irqs` lists, the MMDS stack's limits) |
//! | [`v1_12`] | formats 5.0.0 and 6.0.0 (`Connected*State`, the `mmds_version` slot) |
//! | [`v1_13`] | format 8.0.0 (v1.13 and v1.14 layouts: numeric device types, the v1.14 balloon, pmem, virtio-mem and vmclock) |
//! | [`v1_16`] | formats 9.0.0, 10.0.0 and 11.0.0 (the 9.0.0 network device, the 11.0.0 vsock, PCI) |
//!
//! Device lists are filled and read through [`Slot`] (a `Vec` or `Option` of entries) with the
//! [`read_lists!`] and [`write_lists!`] macros, so a layout names its list fields once.

pub(crate) mod v1_12;
pub(crate) mod v1_13;
pub(crate) mod v1_16;
pub(crate) mod v1_8;

use crate::model::*;

/// A device kind's state in one layout (the `T` of `MmioDevice<T>`).
pub(crate) trait Kind: Sized {
    /// The model kind.
    const KIND: DeviceKind;
    /// Fills the device's virtio state, configuration and runtime state (transport aside).
    fn read(&self, d: &mut Device);
    /// Builds the state from a device of [`Kind::KIND`] with a runtime state.
    ///
    /// # Errors
    /// A field the layout needs that the device does not have, by name.
    fn write(d: &Device) -> Result<Self, String>;
}

/// A device list entry: a kind's state with its transport (or a slot that is not a device state
/// at all: MMDS, legacy devices).
pub(crate) trait Entry: Sized {
    /// The model device.
    fn to_device(&self) -> Device;
    /// This entry for `d`, or `None` when `d` does not belong in this list.
    ///
    /// # Errors
    /// `d` belongs in this list but lacks something the layout needs.
    fn from_device(d: &Device) -> Option<Result<Self, String>>;
}

/// A device list field: `Vec<E>` or `Option<E>`.
pub(crate) trait Slot: Sized {
    /// Appends the list's devices.
    fn read(&self, out: &mut Vec<Device>);
    /// The list holding every device of `devices` that belongs in it (`Option`: the first).
    ///
    /// # Errors
    /// A device that belongs in the list but cannot be written.
    fn collect(devices: &[Device]) -> Result<Self, String>;
}

impl<E: Entry> Slot for Vec<E> {
    fn read(&self, out: &mut Vec<Device>) {
        out.extend(self.iter().map(E::to_device));
    }
    fn collect(devices: &[Device]) -> Result<Self, String> {
        devices.iter().filter_map(E::from_device).collect()
    }
}

impl<E: Entry> Slot for Option<E> {
    fn read(&self, out: &mut Vec<Device>) {
        out.extend(self.iter().map(E::to_device));
    }
    fn collect(devices: &[Device]) -> Result<Self, String> {
        devices.iter().find_map(E::from_device).transpose()
    }
}

/// Appends the devices of the named list fields of a device-state struct to a `Vec<Device>`.
macro_rules! read_lists {
    ($s:expr, $out:expr, [$($f:ident),* $(,)?]) => {{
        let s = $s;
        let out: &mut Vec<$crate::model::Device> = $out;
        $( $crate::formats::firecracker::device_model::Slot::read(&s.$f, out); )*
    }};
}

/// A device-state struct `$ty` whose named list fields are filled from `$devices`, its other
/// fields given after `;` (`Result<$ty, WriteError>`).
macro_rules! write_lists {
    ($($ty:ident)::+, $devices:expr, [$($f:ident),* $(,)?] $(; $($k:ident : $v:expr),* $(,)?)?) => {{
        let devices: &[$crate::model::Device] = $devices;
        (|| -> Result<$($ty)::+, String> {
            Ok($($ty)::+ {
                $( $f: $crate::formats::firecracker::device_model::Slot::collect(devices)?, )*
                $( $($k: $v,)* )?
            })
        })()
        .map_err($crate::formats::firecracker::WriteError::Model)
    }};
}

/// `$in(&States) -> Vec<Device>` and `$out(&[Device]) -> Result<States, WriteError>` for a
/// device-state struct made of the named list fields only, on PCI (`$pci` = `Some(true)`), on
/// MMIO (`Some(false)`) or either (`None`), which decides whether it holds the MMDS state.
macro_rules! list_fns {
    ($in:ident, $out:ident, $($ty:ident)::+, $pci:expr, [$($f:ident),* $(,)?]) => {
        #[doc = concat!("`", stringify!($($ty)::+), "` → model devices.")]
        pub(crate) fn $in(s: &$($ty)::+) -> Vec<Device> {
            let mut out = Vec::new();
            read_lists!(s, &mut out, [$($f),*]);
            out
        }

        #[doc = concat!("Model devices → `", stringify!($($ty)::+), "`.")]
        pub(crate) fn $out(
            devices: &[Device],
        ) -> Result<$($ty)::+, $crate::formats::firecracker::WriteError> {
            write_lists!($($ty)::+, &$crate::formats::firecracker::device_model::mmds_view(devices, $pci), [$($f),*])
        }
    };
}

/// Whether MMDS answers on an interface on PCI: Firecracker records the MMDS state with the
/// device list of the transport that interface is on.
fn mmds_on_pci(devices: &[Device]) -> bool {
    devices.iter().any(|d| {
        matches!(d.transport, Some(Transport::Pci { .. }))
            && matches!(&d.config, Some(DeviceConfig::Net(n)) if n.mmds == Some(true))
    })
}

/// The devices with the MMDS device kept only when it belongs to the list of transport `pci`
/// (`None`: the layout has one list for every transport).
pub(crate) fn mmds_view(devices: &[Device], pci: Option<bool>) -> Vec<Device> {
    let keep = pci.is_none_or(|p| mmds_on_pci(devices) == p);
    devices
        .iter()
        .filter(|d| d.kind != DeviceKind::Mmds || keep)
        .cloned()
        .collect()
}

pub(crate) use {list_fns, read_lists, write_lists};

/// Virtio device id ↔ Firecracker's `VirtioDeviceType` name.
pub(crate) const VIRTIO_TYPES: [(u32, &str); 7] = [
    (1, "Net"),
    (2, "Block"),
    (4, "Rng"),
    (5, "Balloon"),
    (19, "Vsock"),
    (24, "Mem"),
    (27, "Pmem"),
];

/// The muxer's `local_port_last` before any host-initiated connection (v1.15 on): ports for
/// such connections start at 2^30.
pub(crate) const VSOCK_LOCAL_PORT_LAST: u32 = (1 << 30) - 1;

/// Feature bits the configuration shows.
const VIRTIO_BLK_F_RO: u32 = 5;
const VIRTIO_BALLOON_F_DEFLATE_ON_OOM: u32 = 2;
const VIRTIO_BALLOON_F_FREE_PAGE_HINT: u32 = 3;
const VIRTIO_BALLOON_F_PAGE_REPORTING: u32 = 5;

fn bit(v: &VirtioState, n: u32) -> Option<bool> {
    Some(v.avail_features & (1 << n) != 0)
}

/// A configured rate limiter as its runtime buckets show it.
fn limiter_config(l: &LimiterState) -> Option<RateLimiter> {
    let b = |b: &Option<BucketState>| {
        b.map(|b| TokenBucket {
            size: b.size,
            one_time_burst: b.one_time_burst,
            refill_time: b.refill_time,
        })
    };
    let r = RateLimiter {
        bandwidth: b(&l.bandwidth),
        ops: b(&l.ops),
    };
    (r != RateLimiter::default()).then_some(r)
}

/// The device's runtime state of kind `K`, or an error naming the device.
fn runtime<'a, T>(
    d: &'a Device,
    pick: impl Fn(&'a KindState) -> Option<&'a T>,
) -> Result<&'a T, String> {
    d.state
        .as_ref()
        .and_then(|s| pick(&s.kind))
        .ok_or_else(|| format!("device `{}` has no {} state", d.id, d.kind.name()))
}

fn virtio(d: &Device) -> Result<&VirtioState, String> {
    d.virtio
        .as_ref()
        .ok_or_else(|| format!("device `{}` has no virtio state", d.id))
}

fn need<T: Clone>(d: &Device, v: &Option<T>, field: &str) -> Result<T, String> {
    v.clone().ok_or_else(|| {
        format!(
            "device `{}`: devices.{}[{}].{field} is not set",
            d.id,
            d.kind.name(),
            d.id
        )
    })
}

/// The device's own id inside its state.
fn inner_id(d: &Device) -> String {
    d.state
        .as_ref()
        .and_then(|s| s.inner_id.clone())
        .unwrap_or_else(|| d.id.clone())
}

/// Records the state's own id when it differs from the list entry's.
fn set_inner_id(d: &mut Device, id: &str) {
    if id != d.id
        && let Some(s) = &mut d.state
    {
        s.inner_id = Some(id.to_string());
    }
}

// ---------------------------------------------------------------------------
// Per-kind pieces every layout shares (the parts of a kind's state whose shape never changed)
// ---------------------------------------------------------------------------

/// A block device's fields, as every layout stores them.
pub(crate) struct BlockFields {
    pub id: String,
    pub partuuid: Option<String>,
    pub cache_type: String,
    pub root_device: bool,
    /// `disk_path` (virtio) or `socket_path` (vhost-user).
    pub path: String,
    pub engine: Option<String>,
    pub limiter: LimiterState,
    pub vhost_user: Option<VhostUserRuntime>,
}

fn read_block(d: &mut Device, v: VirtioState, f: BlockFields) {
    let vhost = f.vhost_user.is_some();
    d.config = Some(DeviceConfig::Block(BlockConfig {
        path_on_host: (!vhost).then(|| f.path.clone()),
        socket: vhost.then(|| f.path.clone()),
        is_read_only: bit(&v, VIRTIO_BLK_F_RO),
        is_root_device: Some(f.root_device),
        partuuid: f.partuuid,
        cache_type: Some(f.cache_type),
        io_engine: f.engine,
        rate_limiter: (!vhost).then(|| limiter_config(&f.limiter)).flatten(),
    }));
    d.virtio = Some(v);
    d.state = Some(DeviceState::new(KindState::Block(BlockRuntime {
        rate_limiter: f.limiter,
        vhost_user: f.vhost_user,
    })));
    set_inner_id(d, &f.id);
}

fn write_block(d: &Device) -> Result<(BlockFields, VirtioState), String> {
    let r = runtime(d, |k| match k {
        KindState::Block(b) => Some(b),
        _ => None,
    })?;
    let Some(DeviceConfig::Block(c)) = &d.config else {
        return Err(format!("device `{}` has no block configuration", d.id));
    };
    let path = match &r.vhost_user {
        Some(_) => need(d, &c.socket, "socket")?,
        None => need(d, &c.path_on_host, "path_on_host")?,
    };
    Ok((
        BlockFields {
            id: inner_id(d),
            partuuid: c.partuuid.clone(),
            cache_type: need(d, &c.cache_type, "cache_type")?,
            root_device: c.is_root_device.unwrap_or(false),
            path,
            engine: match &r.vhost_user {
                Some(_) => None,
                None => Some(c.io_engine.clone().unwrap_or_else(|| "Sync".into())),
            },
            limiter: r.rate_limiter,
            vhost_user: r.vhost_user.clone(),
        },
        virtio(d)?.clone(),
    ))
}

/// A network device's fields, as every layout stores them (`mtu` from v1.16, `rx_buffers` up to
/// v1.12).
pub(crate) struct NetFields {
    pub id: String,
    pub tap: String,
    pub guest_mac: Option<String>,
    pub mtu: Option<u16>,
    pub rx: LimiterState,
    pub tx: LimiterState,
    pub mmds: Option<MmdsStack>,
    pub rx_buffers: Option<RxBuffers>,
}

fn read_net(d: &mut Device, v: VirtioState, f: NetFields) {
    d.config = Some(DeviceConfig::Net(NetConfig {
        host_dev_name: Some(f.tap),
        guest_mac: f.guest_mac,
        mtu: f.mtu,
        mmds: Some(f.mmds.is_some()),
        rx_rate_limiter: limiter_config(&f.rx),
        tx_rate_limiter: limiter_config(&f.tx),
    }));
    d.virtio = Some(v);
    d.state = Some(DeviceState::new(KindState::Net(NetRuntime {
        rx_limiter: f.rx,
        tx_limiter: f.tx,
        mmds_stack: f.mmds,
        rx_buffers: f.rx_buffers,
    })));
    set_inner_id(d, &f.id);
}

fn write_net(d: &Device) -> Result<(NetFields, VirtioState), String> {
    let r = runtime(d, |k| match k {
        KindState::Net(n) => Some(n),
        _ => None,
    })?;
    let Some(DeviceConfig::Net(c)) = &d.config else {
        return Err(format!("device `{}` has no net configuration", d.id));
    };
    Ok((
        NetFields {
            id: inner_id(d),
            tap: need(d, &c.host_dev_name, "host_dev_name")?,
            guest_mac: c.guest_mac.clone(),
            mtu: c.mtu,
            rx: r.rx_limiter,
            tx: r.tx_limiter,
            mmds: r.mmds_stack,
            rx_buffers: r.rx_buffers,
        },
        virtio(d)?.clone(),
    ))
}

/// A vsock device's fields.
pub(crate) struct VsockFields {
    pub cid: u64,
    pub uds_path: String,
    pub runtime: VsockRuntime,
}

fn read_vsock(d: &mut Device, v: VirtioState, f: VsockFields) {
    d.config = Some(DeviceConfig::Vsock(VsockConfig {
        guest_cid: Some(f.cid),
        uds_path: Some(f.uds_path),
    }));
    d.virtio = Some(v);
    d.state = Some(DeviceState::new(KindState::Vsock(f.runtime)));
}

fn write_vsock(d: &Device) -> Result<(VsockFields, VirtioState), String> {
    let r = runtime(d, |k| match k {
        KindState::Vsock(n) => Some(n),
        _ => None,
    })?;
    let Some(DeviceConfig::Vsock(c)) = &d.config else {
        return Err(format!("device `{}` has no vsock configuration", d.id));
    };
    Ok((
        VsockFields {
            cid: need(d, &c.guest_cid, "guest_cid")?,
            uds_path: need(d, &c.uds_path, "uds_path")?,
            runtime: *r,
        },
        virtio(d)?.clone(),
    ))
}

fn read_balloon(d: &mut Device, v: VirtioState, interval: u16, r: BalloonRuntime) {
    let mib = |p: u32| Some(u64::from(p).saturating_mul(4096) >> 20);
    d.config = Some(DeviceConfig::Balloon(BalloonConfig {
        amount_mib: mib(r.num_pages),
        actual_mib: mib(r.actual_pages),
        deflate_on_oom: bit(&v, VIRTIO_BALLOON_F_DEFLATE_ON_OOM),
        stats_polling_interval_s: Some(u64::from(interval)),
        free_page_hinting: bit(&v, VIRTIO_BALLOON_F_FREE_PAGE_HINT),
        free_page_reporting: bit(&v, VIRTIO_BALLOON_F_PAGE_REPORTING),
    }));
    d.virtio = Some(v);
    d.state = Some(DeviceState::new(KindState::Balloon(r)));
}

fn write_balloon(d: &Device) -> Result<(u16, BalloonRuntime, VirtioState), String> {
    let r = runtime(d, |k| match k {
        KindState::Balloon(n) => Some(n),
        _ => None,
    })?;
    let Some(DeviceConfig::Balloon(c)) = &d.config else {
        return Err(format!("device `{}` has no balloon configuration", d.id));
    };
    let interval = need(d, &c.stats_polling_interval_s, "stats_polling_interval_s")?;
    let interval = u16::try_from(interval).map_err(|_| {
        format!(
            "device `{}`: stats_polling_interval_s {interval} does not fit in 16 bits",
            d.id
        )
    })?;
    Ok((interval, r.clone(), virtio(d)?.clone()))
}

fn read_entropy(d: &mut Device, v: VirtioState, l: LimiterState) {
    d.config = Some(DeviceConfig::Entropy(EntropyConfig {
        rate_limiter: limiter_config(&l),
    }));
    d.virtio = Some(v);
    d.state = Some(DeviceState::new(KindState::Entropy(l)));
}

fn write_entropy(d: &Device) -> Result<(LimiterState, VirtioState), String> {
    let r = runtime(d, |k| match k {
        KindState::Entropy(n) => Some(n),
        _ => None,
    })?;
    Ok((*r, virtio(d)?.clone()))
}

/// A pmem device's configured fields.
pub(crate) struct PmemFields {
    pub id: String,
    pub path_on_host: String,
    pub root_device: bool,
    pub read_only: bool,
}

fn read_pmem(d: &mut Device, v: VirtioState, f: PmemFields, r: PmemRuntime) {
    d.config = Some(DeviceConfig::Pmem(PmemConfig {
        path_on_host: Some(f.path_on_host),
        root_device: Some(f.root_device),
        read_only: Some(f.read_only),
        start: Some(r.start),
        size: Some(r.size),
    }));
    d.virtio = Some(v);
    d.state = Some(DeviceState::new(KindState::Pmem(r)));
    set_inner_id(d, &f.id);
}

fn write_pmem(d: &Device) -> Result<(PmemFields, PmemRuntime, VirtioState), String> {
    let r = runtime(d, |k| match k {
        KindState::Pmem(n) => Some(n),
        _ => None,
    })?;
    let Some(DeviceConfig::Pmem(c)) = &d.config else {
        return Err(format!("device `{}` has no pmem configuration", d.id));
    };
    Ok((
        PmemFields {
            id: inner_id(d),
            path_on_host: need(d, &c.path_on_host, "path_on_host")?,
            root_device: c.root_device.unwrap_or(false),
            read_only: c.read_only.unwrap_or(false),
        },
        r.clone(),
        virtio(d)?.clone(),
    ))
}

fn read_mem(d: &mut Device, v: VirtioState, r: MemRuntime) {
    d.config = Some(DeviceConfig::Mem(MemConfig {
        addr: Some(r.addr),
        region_size: Some(r.region_size),
        block_size: Some(r.block_size),
        slot_size: Some(r.slot_size),
        requested_size: Some(r.requested_size),
        plugged_blocks: Some(r.plugged_blocks.iter().filter(|b| **b).count() as u64),
    }));
    d.virtio = Some(v);
    d.state = Some(DeviceState::new(KindState::Mem(r)));
}

fn write_mem(d: &Device) -> Result<(MemRuntime, VirtioState), String> {
    let r = runtime(d, |k| match k {
        KindState::Mem(n) => Some(n),
        _ => None,
    })?;
    Ok((r.clone(), virtio(d)?.clone()))
}

/// The MMDS device from its version and (8.0.0 on) IMDS compatibility.
fn mmds_device(version: &str, imds_compat: Option<bool>) -> Device {
    let mut d = Device::new("mmds", DeviceKind::Mmds);
    d.config = Some(DeviceConfig::Mmds(MmdsConfig {
        version: Some(version.to_string()),
        imds_compat,
        network_interfaces: Vec::new(),
    }));
    d
}

/// The MMDS version and IMDS compatibility of an MMDS device.
fn mmds_fields(d: &Device) -> Option<Result<(String, bool), String>> {
    if d.kind != DeviceKind::Mmds {
        return None;
    }
    // Another producer's MMDS device without Firecracker's configuration has no place here
    // (a conversion's round trip reports it).
    let Some(DeviceConfig::Mmds(c)) = &d.config else {
        return None;
    };
    Some(match c.version.as_deref() {
        Some(v @ ("V1" | "V2")) => Ok((v.to_string(), c.imds_compat.unwrap_or(false))),
        Some(v) => Err(format!(
            "devices.mmds[mmds].version is {v:?}; Firecracker knows V1 and V2"
        )),
        None => Err("devices.mmds[mmds].version is not set".into()),
    })
}

/// The legacy MMIO device kinds (aarch64) ↔ Firecracker's `DeviceType` names.
fn legacy_kind(name: &str) -> (DeviceKind, String) {
    match name {
        "Serial" => (DeviceKind::Serial, "serial".into()),
        "Rtc" => (DeviceKind::Rtc, "rtc".into()),
        "BootTimer" => (DeviceKind::BootTimer, "boot_timer".into()),
        other => (
            DeviceKind::Other(format!("legacy {other}")),
            format!("legacy {other}"),
        ),
    }
}

/// A legacy device's MMIO placement, when `d` is one.
fn legacy_placement(d: &Device) -> Option<(&'static str, u64, u64, Option<u32>)> {
    let name = match d.kind {
        DeviceKind::Serial => "Serial",
        DeviceKind::Rtc => "Rtc",
        DeviceKind::BootTimer => "BootTimer",
        _ => return None,
    };
    let Some(Transport::Mmio { addr, len, irq }) = d.transport else {
        return None;
    };
    Some((name, addr, len, irq))
}

/// A virtio device on MMIO of kind `kind` with a runtime state: the device an MMIO list entry
/// of that kind is written from.
fn mmio_of_kind(d: &Device, kind: &DeviceKind) -> Option<(u64, u64, Option<u32>, MmioRegs)> {
    if d.kind != *kind {
        return None;
    }
    let Some(Transport::Mmio { addr, len, irq }) = d.transport else {
        return None;
    };
    let s = d.state.as_ref()?;
    Some((addr, len, irq, s.mmio.unwrap_or_default()))
}

/// A device on MMIO with its registers recorded.
fn on_mmio(
    mut d: Device,
    addr: u64,
    len: u64,
    irq: Option<u32>,
    regs: MmioRegs,
    device_status: u32,
    interrupt_status: Option<u32>,
) -> Device {
    d.transport = Some(Transport::Mmio { addr, len, irq });
    if let Some(s) = &mut d.state {
        s.mmio = Some(regs);
    }
    if let Some(v) = &mut d.virtio {
        v.device_status = Some(device_status);
        if interrupt_status.is_some() {
            v.interrupt_status = interrupt_status;
        }
    }
    d
}

/// The vmclock page's interrupt line (v1.15 on), when `d` is the vmclock.
pub(crate) fn vmclock(d: &Device) -> Option<&VmClock> {
    match &d.state.as_ref()?.kind {
        KindState::VmClock(c) => Some(c),
        _ => None,
    }
}

/// Where Firecracker places VMGenID (v1.10 on): interrupt line 5, the 16-byte id at 0xdfff0.
pub(crate) const VMGENID_DEFAULT: VmGenId = VmGenId {
    gsi: 5,
    addr: 0xdfff0,
};

/// The vmclock page Firecracker writes before the guest runs (v1.14 on): at 0xde000, the
/// `VMCLOCK_MAGIC`, one page, ABI version 1, no counter (`counter_id` 0xff), no time yet.
/// From v1.15 the device has interrupt line 6 and a generation counter of 0; v1.16's page sets
/// the `VM_GENERATION_COUNTER_PRESENT` and `NOTIFICATION_PRESENT` flags (0x300).
pub(crate) fn initial_vmclock(gsi: Option<u32>, counter: Option<u64>, flags: u64) -> VmClock {
    VmClock {
        guest_address: 0xde000,
        gsi,
        magic: 0x4b4c_4356,
        size: 4096,
        version: 1,
        counter_id: 0xff,
        time_type: 0,
        seq_count: 0,
        disruption_marker: 0,
        flags,
        pad: [0; 2],
        clock_status: 0,
        leap_second_smearing_hint: 0,
        tai_offset_sec: 0,
        leap_indicator: 0,
        counter_period_shift: 0,
        counter_value: 0,
        counter_period_frac_sec: 0,
        counter_period_esterror_rate_frac_sec: 0,
        counter_period_maxerror_rate_frac_sec: 0,
        time_sec: 0,
        time_frac_sec: 0,
        time_esterror_nanosec: 0,
        time_maxerror_nanosec: 0,
        vm_generation_counter: counter,
    }
}

/// The model's vmclock state, if any.
pub(crate) fn model_vmclock(m: &Snapshot) -> Option<&VmClock> {
    m.devices
        .iter()
        .filter(|d| d.kind == DeviceKind::VmClock)
        .find_map(vmclock)
}

/// The vmclock device of a model.
pub(crate) fn vmclock_device(c: VmClock) -> Device {
    let mut d = Device::new("vmclock", DeviceKind::VmClock);
    d.transport = Some(Transport::Address {
        addr: c.guest_address,
        irq: c.gsi,
    });
    d.state = Some(DeviceState::new(KindState::VmClock(c)));
    d
}

/// The interrupt lines of the MSI-X vectors of the model's PCI devices.
pub(crate) fn msi_vectors(m: &Snapshot) -> Vec<u32> {
    m.devices
        .iter()
        .filter_map(|d| d.state.as_ref()?.pci.as_ref())
        .flat_map(|p| p.msix_vectors.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests;

/// Queue, rate-limiter and MMDS-stack conversions for a module `$m` declaring `QueueState`,
/// `RateLimiterState`, `TokenBucketState` and `MmdsNetworkStackState` (their shapes never
/// changed; the types are per release).
macro_rules! common_conv {
    ($m:ident) => {
        pub(crate) fn queue_in(q: &$m::QueueState) -> VirtQueue {
            VirtQueue {
                max_size: q.max_size,
                size: q.size,
                ready: q.ready,
                desc_table: q.desc_table,
                avail_ring: q.avail_ring,
                used_ring: q.used_ring,
                next_avail: q.next_avail,
                next_used: q.next_used,
                num_added: q.num_added,
            }
        }

        pub(crate) fn queue_out(q: &VirtQueue) -> $m::QueueState {
            $m::QueueState {
                max_size: q.max_size,
                size: q.size,
                ready: q.ready,
                desc_table: q.desc_table,
                avail_ring: q.avail_ring,
                used_ring: q.used_ring,
                next_avail: q.next_avail,
                next_used: q.next_used,
                num_added: q.num_added,
            }
        }

        pub(crate) fn limiter_in(l: &$m::RateLimiterState) -> LimiterState {
            let b = |b: &Option<$m::TokenBucketState>| {
                b.as_ref().map(|b| BucketState {
                    size: b.size,
                    one_time_burst: b.one_time_burst,
                    refill_time: b.refill_time,
                    budget: b.budget,
                    elapsed_ns: b.elapsed_ns,
                })
            };
            LimiterState {
                ops: b(&l.ops),
                bandwidth: b(&l.bandwidth),
            }
        }

        pub(crate) fn limiter_out(l: &LimiterState) -> $m::RateLimiterState {
            let b = |b: &Option<BucketState>| {
                b.map(|b| $m::TokenBucketState {
                    size: b.size,
                    one_time_burst: b.one_time_burst,
                    refill_time: b.refill_time,
                    budget: b.budget,
                    elapsed_ns: b.elapsed_ns,
                })
            };
            $m::RateLimiterState {
                ops: b(&l.ops),
                bandwidth: b(&l.bandwidth),
            }
        }

        pub(crate) fn stack_in(s: &$m::MmdsNetworkStackState) -> MmdsStack {
            MmdsStack {
                mac_addr: s.mac_addr,
                ipv4_addr: s.ipv4_addr,
                tcp_port: s.tcp_port,
                max_connections: None,
                max_pending_resets: None,
            }
        }

        pub(crate) fn stack_out(s: &MmdsStack) -> $m::MmdsNetworkStackState {
            $m::MmdsNetworkStackState {
                mac_addr: s.mac_addr,
                ipv4_addr: s.ipv4_addr,
                tcp_port: s.tcp_port,
            }
        }
    };
}

/// `Kind` for a module's `BlockState` (`Virtio` / `VhostUser`; the same fields in every
/// release), given its virtio-state and rate-limiter conversions.
macro_rules! block_kind {
    ($m:ident, $vin:path, $vout:path, $lin:path, $lout:path) => {
        impl $crate::formats::firecracker::device_model::Kind for $m::BlockState {
            const KIND: DeviceKind = DeviceKind::Block;

            fn read(&self, d: &mut Device) {
                let cache = |c: &$m::CacheType| match c {
                    $m::CacheType::Unsafe => "Unsafe".to_string(),
                    $m::CacheType::Writeback => "Writeback".to_string(),
                };
                let (v, f) = match self {
                    $m::BlockState::Virtio(b) => (
                        $vin(&b.virtio_state),
                        BlockFields {
                            id: b.id.clone(),
                            partuuid: b.partuuid.clone(),
                            cache_type: cache(&b.cache_type),
                            root_device: b.root_device,
                            path: b.disk_path.clone(),
                            engine: Some(
                                match b.file_engine_type {
                                    $m::FileEngineTypeState::Sync => "Sync",
                                    $m::FileEngineTypeState::Async => "Async",
                                }
                                .to_string(),
                            ),
                            limiter: $lin(&b.rate_limiter_state),
                            vhost_user: None,
                        },
                    ),
                    $m::BlockState::VhostUser(b) => (
                        $vin(&b.virtio_state),
                        BlockFields {
                            id: b.id.clone(),
                            partuuid: b.partuuid.clone(),
                            cache_type: cache(&b.cache_type),
                            root_device: b.root_device,
                            path: b.socket_path.clone(),
                            engine: None,
                            limiter: LimiterState::default(),
                            vhost_user: Some(VhostUserRuntime {
                                acked_protocol_features: b.vu_acked_protocol_features,
                                config_space: Bytes(b.config_space.clone()),
                            }),
                        },
                    ),
                };
                read_block(d, v, f);
            }

            fn write(d: &Device) -> Result<Self, String> {
                let (f, v) = write_block(d)?;
                let cache_type = match f.cache_type.as_str() {
                    "Unsafe" => $m::CacheType::Unsafe,
                    "Writeback" => $m::CacheType::Writeback,
                    o => {
                        return Err(format!(
                            "device `{}`: cache_type {o:?} is not Unsafe or Writeback",
                            d.id
                        ));
                    }
                };
                Ok(match f.vhost_user {
                    None => $m::BlockState::Virtio($m::VirtioBlockState {
                        id: f.id,
                        partuuid: f.partuuid,
                        cache_type,
                        root_device: f.root_device,
                        disk_path: f.path,
                        virtio_state: $vout(&v)?,
                        rate_limiter_state: $lout(&f.limiter),
                        file_engine_type: match f.engine.as_deref() {
                            Some("Async") => $m::FileEngineTypeState::Async,
                            Some("Sync") | None => $m::FileEngineTypeState::Sync,
                            Some(o) => {
                                return Err(format!(
                                    "device `{}`: io_engine {o:?} is not Sync or Async",
                                    d.id
                                ));
                            }
                        },
                    }),
                    Some(vu) => $m::BlockState::VhostUser($m::VhostUserBlockState {
                        id: f.id,
                        partuuid: f.partuuid,
                        cache_type,
                        root_device: f.root_device,
                        socket_path: f.path,
                        vu_acked_protocol_features: vu.acked_protocol_features,
                        config_space: vu.config_space.0,
                        virtio_state: $vout(&v)?,
                    }),
                })
            }
        }
    };
}

/// `Kind` for a module's `EntropyState` (the same fields in every release).
macro_rules! entropy_kind {
    ($m:ident, $vin:path, $vout:path, $lin:path, $lout:path) => {
        impl $crate::formats::firecracker::device_model::Kind for $m::EntropyState {
            const KIND: DeviceKind = DeviceKind::Rng;

            fn read(&self, d: &mut Device) {
                read_entropy(d, $vin(&self.virtio_state), $lin(&self.rate_limiter_state));
            }

            fn write(d: &Device) -> Result<Self, String> {
                let (l, v) = write_entropy(d)?;
                Ok($m::EntropyState {
                    virtio_state: $vout(&v)?,
                    rate_limiter_state: $lout(&l),
                })
            }
        }
    };
}

/// `Kind` for a module's `VirtioMemState` (the same fields in v1.14 and v1.16), given its
/// virtio-state conversions.
macro_rules! mem_kind {
    ($m:ident, $vin:path, $vout:path) => {
        impl $crate::formats::firecracker::device_model::Kind for $m::VirtioMemState {
            const KIND: DeviceKind = DeviceKind::Mem;

            fn read(&self, dev: &mut Device) {
                read_mem(
                    dev,
                    $vin(&self.virtio_state),
                    MemRuntime {
                        addr: self.addr,
                        region_size: self.region_size,
                        block_size: self.block_size,
                        usable_region_size: self.usable_region_size,
                        requested_size: self.requested_size,
                        slot_size: self.slot_size,
                        plugged_blocks: self.plugged_blocks.clone(),
                    },
                );
            }

            fn write(dev: &Device) -> Result<Self, String> {
                let (r, v) = write_mem(dev)?;
                Ok($m::VirtioMemState {
                    virtio_state: $vout(&v)?,
                    addr: r.addr,
                    region_size: r.region_size,
                    block_size: r.block_size,
                    usable_region_size: r.usable_region_size,
                    requested_size: r.requested_size,
                    slot_size: r.slot_size,
                    plugged_blocks: r.plugged_blocks,
                })
            }
        }
    };
}

/// `Kind` for a module's `PmemState` without rate limiting (v1.14, v1.15), whose config space
/// type is module `$space`'s, given its virtio-state conversions.
macro_rules! pmem_kind {
    ($m:ident, $space:ident, $vin:path, $vout:path) => {
        impl $crate::formats::firecracker::device_model::Kind for $m::PmemState {
            const KIND: DeviceKind = DeviceKind::Pmem;

            fn read(&self, dev: &mut Device) {
                let c = &self.config;
                read_pmem(
                    dev,
                    $vin(&self.virtio_state),
                    PmemFields {
                        id: c.id.clone(),
                        path_on_host: c.path_on_host.clone(),
                        root_device: c.root_device,
                        read_only: c.read_only,
                    },
                    PmemRuntime {
                        start: self.config_space.start,
                        size: self.config_space.size,
                        rate_limiter_config: None,
                        rate_limiter: None,
                    },
                );
            }

            fn write(dev: &Device) -> Result<Self, String> {
                let (f, r, v) = write_pmem(dev)?;
                Ok($m::PmemState {
                    virtio_state: $vout(&v)?,
                    config_space: $space::PmemConfigSpace {
                        start: r.start,
                        size: r.size,
                    },
                    config: $m::PmemConfig {
                        id: f.id,
                        path_on_host: f.path_on_host,
                        root_device: f.root_device,
                        read_only: f.read_only,
                    },
                })
            }
        }
    };
}

/// `Entry` for `MmioDevice<T>`-shaped list entries of module `$m` (`$entry` with fields
/// `device_id`, `device_state`, `transport_state`, `device_info`) whose device info has an
/// interrupt line `$irq` read by `$irq_in` and written by `$irq_out`, and whose transport state
/// does (`true`) or does not (`false`) hold the interrupt status.
macro_rules! mmio_entry {
    ($entry:ty, $state:ty, $m:ident, $irq:ident, $irq_in:expr, $irq_out:expr, $status_in_transport:tt) => {
        impl $crate::formats::firecracker::device_model::Entry for $entry {
            fn to_device(&self) -> Device {
                let kind = <$state as $crate::formats::firecracker::device_model::Kind>::KIND;
                let mut d = Device::new(self.device_id.clone(), kind);
                $crate::formats::firecracker::device_model::Kind::read(&self.device_state, &mut d);
                let t = &self.transport_state;
                let i = &self.device_info;
                let regs = MmioRegs {
                    features_select: t.features_select,
                    acked_features_select: t.acked_features_select,
                    queue_select: t.queue_select,
                    config_generation: t.config_generation,
                };
                let status = mmio_entry!(@status_in $status_in_transport, t);
                on_mmio(d, i.addr, i.len, $irq_in(&i.$irq), regs, t.device_status, status)
            }

            fn from_device(d: &Device) -> Option<Result<Self, String>> {
                let kind = <$state as $crate::formats::firecracker::device_model::Kind>::KIND;
                let (addr, len, irq, r) = mmio_of_kind(d, &kind)?;
                let v = d.virtio.as_ref();
                Some(
                    <$state as $crate::formats::firecracker::device_model::Kind>::write(d).map(
                        |device_state| Self {
                            device_id: d.id.clone(),
                            device_state,
                            transport_state: mmio_entry!(@transport $status_in_transport, $m, r, v),
                            device_info: $m::MmioDeviceInfo {
                                addr,
                                len,
                                $irq: $irq_out(irq),
                            },
                        },
                    ),
                )
            }
        }
    };
    (@status_in true, $t:expr) => { Some($t.interrupt_status) };
    (@status_in false, $t:expr) => { None };
    (@transport true, $m:ident, $r:expr, $v:expr) => {
        $m::MmioTransportState {
            features_select: $r.features_select,
            acked_features_select: $r.acked_features_select,
            queue_select: $r.queue_select,
            device_status: $v.and_then(|v| v.device_status).unwrap_or(0),
            config_generation: $r.config_generation,
            interrupt_status: $v.and_then(|v| v.interrupt_status).unwrap_or(0),
        }
    };
    (@transport false, $m:ident, $r:expr, $v:expr) => {
        $m::MmioTransportState {
            features_select: $r.features_select,
            acked_features_select: $r.acked_features_select,
            queue_select: $r.queue_select,
            device_status: $v.and_then(|v| v.device_status).unwrap_or(0),
            config_generation: $r.config_generation,
        }
    };
}

pub(crate) use {block_kind, common_conv, entropy_kind, mem_kind, mmio_entry, pmem_kind};

/// A device carried as a layout's raw list entry (`{list, state}` JSON, as older models and
/// other formats' carried state hold it) → the typed device, for the layouts with a typed
/// device model; `None` for other layouts or an entry that is not that layout's.
pub(crate) fn from_raw(layout: &str, list: &str, state: &serde_json::Value) -> Option<Device> {
    use crate::formats::firecracker::shared::v1_12::{aarch64 as a12, devices as d12};
    use crate::formats::firecracker::shared::v1_16::{aarch64 as a16, devices as d16};
    use crate::formats::firecracker::{v8_13, v8_14, v9, v10, v11};
    fn e<E: Entry + serde::de::DeserializeOwned>(v: &serde_json::Value) -> Option<Device> {
        serde_json::from_value::<E>(v.clone())
            .ok()
            .map(|x| x.to_device())
    }
    macro_rules! mmio_lists {
        ($m:ident, $legacy:ty, $list:expr, $v:expr) => {
            match $list {
                "mmio.block_devices" => e::<d16::MmioDevice<$m::BlockState>>($v),
                "mmio.net_devices" => e::<d16::MmioDevice<$m::NetState>>($v),
                "mmio.vsock_device" => e::<d16::MmioDevice<$m::VsockState>>($v),
                "mmio.balloon_device" => e::<d16::MmioDevice<$m::BalloonState>>($v),
                "mmio.entropy_device" => e::<d16::MmioDevice<$m::EntropyState>>($v),
                "mmio.mmds" | "pci.mmds" => e::<d16::MmdsState>($v),
                "mmio.legacy_devices" => e::<$legacy>($v),
                _ => None,
            }
        };
    }
    macro_rules! newer_lists {
        ($m:ident, $list:expr, $v:expr) => {
            match $list {
                "mmio.pmem_devices" => e::<d16::MmioDevice<$m::PmemState>>($v),
                "mmio.memory_device" => e::<d16::MmioDevice<$m::VirtioMemState>>($v),
                l => mmio_lists!($m, a16::ConnectedLegacyState, l, $v),
            }
        };
    }
    macro_rules! pci_lists {
        ($m:ident, $list:expr, $v:expr) => {
            match $list {
                "pci.block_devices" => e::<$m::PciDevice<$m::BlockState>>($v),
                "pci.net_devices" => e::<$m::PciDevice<$m::NetState>>($v),
                "pci.vsock_device" => e::<$m::PciDevice<$m::VsockState>>($v),
                "pci.balloon_device" => e::<$m::PciDevice<$m::BalloonState>>($v),
                "pci.entropy_device" => e::<$m::PciDevice<$m::EntropyState>>($v),
                "pci.pmem_devices" => e::<$m::PciDevice<$m::PmemState>>($v),
                "pci.memory_device" => e::<$m::PciDevice<$m::VirtioMemState>>($v),
                l => newer_lists!($m, l, $v),
            }
        };
    }
    use v8_13::devices as d13;
    use v8_14::devices as d14;
    use v9::devices as d9;
    use v10::devices as d10;
    use v11::devices as d11;
    match layout {
        "firecracker-5.0.0" | "firecracker-6.0.0" => match list {
            "mmio.block_devices" => e::<d12::ConnectedBlockState>(state),
            "mmio.net_devices" => e::<d12::ConnectedNetState>(state),
            "mmio.vsock_device" => e::<d12::ConnectedVsockState>(state),
            "mmio.balloon_device" => e::<d12::ConnectedBalloonState>(state),
            "mmio.entropy_device" => e::<d12::ConnectedEntropyState>(state),
            "mmio.mmds_version" => e::<d12::MmdsVersionState>(state),
            "mmio.legacy_devices" => e::<a12::ConnectedLegacyState>(state),
            _ => None,
        },
        "firecracker-8.0.0-v1.13" => mmio_lists!(d13, a16::ConnectedLegacyState, list, state),
        "firecracker-8.0.0-v1.14" => newer_lists!(d14, list, state),
        "firecracker-9.0.0" => newer_lists!(d9, list, state),
        "firecracker-10.0.0" => pci_lists!(d10, list, state),
        "firecracker-11.0.0" => pci_lists!(d11, list, state),
        _ => None,
    }
}

/// A vmclock carried as a layout's raw `VmClockState` → the typed vmclock device.
pub(crate) fn vmclock_from_raw(layout: &str, v: &serde_json::Value) -> Option<Device> {
    use crate::formats::firecracker::shared::v1_16::devices as d16;
    use crate::formats::firecracker::v8_14::devices as d14;
    let c = match layout {
        "firecracker-8.0.0-v1.14" => {
            v1_13::vmclock_in(&serde_json::from_value::<d14::VmClockState>(v.clone()).ok()?)
        }
        "firecracker-9.0.0" | "firecracker-10.0.0" | "firecracker-11.0.0" => {
            v1_16::vmclock_in(&serde_json::from_value::<d16::VmClockState>(v.clone()).ok()?)
        }
        _ => return None,
    };
    Some(vmclock_device(c))
}
