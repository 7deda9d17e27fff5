// SPDX-License-Identifier: GPL-2.0

//! Device-mapper targets: registering a target type ([`Registration`]) and
//! the [`Target`] trait whose methods the callbacks of `struct target_type`
//! call, with typed arguments and results instead of raw pointers and codes.

use crate::abstractions::bindings;
use crate::abstractions::block::bio::Bio;
use crate::abstractions::block::{write_cache_enabled, BlockDevice, BlockDeviceFile};
use crate::abstractions::page::noio_scope;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::alloc::{flags::GFP_KERNEL, KBox, KVec};
use kernel::error::VTABLE_DEFAULT_ERROR;
use kernel::error::{
    code::{EBUSY, ENODEV},
    to_result, Error, Result,
};
use kernel::new_spinlock;
use kernel::prelude::vtable;
// `__pinned_init`, until the kernel's build hid it for `raw_try_init`.
#[cfg(not(lw_pin_init_raw_try_init))]
use kernel::prelude::PinInit;
use kernel::str::CStr;
use kernel::sync::{Arc, SpinLock};
// Where the kernel's `CStr` is core's, its kernel methods are a trait's.
#[cfg(lw_cstr_core)]
use kernel::str::CStrExt;
use kernel::types::Opaque;
use kernel::ThisModule;

/// What `map` did with a bio.
pub(crate) enum MapResult<'a> {
    /// Send the bio to this device, one the target got in its `ctr` (dm
    /// holds those open until every bio of the table has completed); dm
    /// submits it. The sector is the bio's, as the target left it. Any
    /// other device fails the bio, as [`MapResult::Kill`] does.
    Remap(&'a TableDev),
    /// Complete the bio now, successfully, without passing it down; the
    /// target's `end_io` still runs.
    Complete,
    /// Fail the bio with an I/O error; `end_io` does not run.
    Kill,
}

/// Which status `dmsetup` asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusType {
    /// `dmsetup status`.
    Info,
    /// `dmsetup table`.
    Table,
    /// The IMA measurement.
    Ima,
}

/// A device-mapper target. One value exists per table line; `Drop` is the
/// destructor (`dtr`). The suspend and resume callbacks are optional: dm
/// gets them only when the implementation defines them (`#[vtable]`).
#[vtable]
pub(crate) trait Target: Sized + Send + Sync + 'static {
    /// State a bio carries from `map` to `end_io` (`dm_per_bio_data`);
    /// dropped in `end_io`'s context, which may be an interrupt.
    type PerBio: Send;
    /// State every table of the type shares (what a C target keeps in
    /// module globals), given when the type is registered and reached from
    /// [`CtrContext::type_data`]; tables keep it alive as long as they hold
    /// it.
    type TypeData: Send + Sync + 'static;

    /// Builds the target from the table line's arguments (`ctr`). On error,
    /// set the message with [`CtrContext::set_error`].
    fn ctr(ctx: &mut CtrContext<'_, Self>, args: &Args<'_>) -> Result<Self>;
    /// Maps one bio; `pb` is `None` on entry.
    fn map<'a>(&'a self, bio: &mut Bio, pb: &mut Option<Self::PerBio>) -> MapResult<'a>;
    /// Called when a mapped bio completes, with what `map` left in `pb`,
    /// in the bio's completion context: may be an interrupt, no sleeping.
    fn end_io(&self, bio: &mut Bio, pb: Option<Self::PerBio>, status: u8);
    /// Writes the status line.
    fn status(&self, kind: StatusType, out: &mut StatusWriter<'_>);
    /// Handles `dmsetup message`.
    fn message(&self, args: &Args<'_>) -> Result;
    /// Adjusts the queue limits of the mapped device.
    fn io_hints(&self, limits: &mut QueueLimits<'_>);
    /// Reports the underlying devices (`iterate_devices`).
    fn iterate_devices(&self, it: &mut DeviceIterator<'_>) -> i32;
    /// The device ioctls go to, one the target got in `ctr` (any other
    /// fails the ioctl with `ENOTTY`), and whether it maps the whole
    /// target, so that ioctls may pass through unchanged (`prepare_ioctl`).
    fn prepare_ioctl(&self) -> (&TableDev, bool);
    /// Called before the device is resumed, in process context; an error
    /// fails the resume (`preresume`).
    fn preresume(&self) -> Result {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Called when the device has been resumed and I/O may reach the
    /// target (`resume`).
    fn resume(&self) {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Called once the device is suspended: no bio of this table is in
    /// flight any more, and none arrives until a resume (`postsuspend`).
    fn postsuspend(&self) {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// The device the target's DAX operations (`direct_access`,
    /// `dax_zero_page_range`, `dax_recovery_write`) go to unchanged, at the
    /// same offset: a target that maps its whole length onto the start of
    /// this device. Without it (or without `CONFIG_FS_DAX`) the mapped
    /// device offers no DAX.
    fn dax_device(&self) -> &TableDev {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// The string arguments of a table line or message.
///
/// # Invariants
///
/// Every pointer in `argv` is a NUL-terminated string valid for `'a`.
pub(crate) struct Args<'a> {
    argv: &'a [*mut kernel::ffi::c_char],
}

impl<'a> Args<'a> {
    /// # Safety
    ///
    /// `argv` must point to `argc` NUL-terminated strings valid for `'a`.
    unsafe fn new(argc: u32, argv: *mut *mut kernel::ffi::c_char) -> Self {
        let argv = if argc == 0 || argv.is_null() {
            &[]
        } else {
            // SAFETY: Guaranteed by the caller.
            unsafe { core::slice::from_raw_parts(argv, argc as usize) }
        };
        Args { argv }
    }

    /// Number of arguments.
    pub(crate) fn len(&self) -> usize {
        self.argv.len()
    }

    /// Argument `i`, if there is one.
    pub(crate) fn get(&self, i: usize) -> Option<&'a CStr> {
        // SAFETY: Each pointer is a NUL-terminated string valid for `'a`
        // (guaranteed at construction).
        self.argv.get(i).map(|&p| unsafe { CStr::from_char_ptr(p) })
    }

    /// The bytes of argument `i` (without its NUL), if there is one.
    pub(crate) fn bytes(&self, i: usize) -> Option<&'a [u8]> {
        // The kernel's own `CStr` calls them `as_bytes`; core's, which the
        // kernel uses since 6.13's `ffi` crate grew one, `to_bytes`.
        #[cfg(not(lw_cstr_core))]
        return self.get(i).map(CStr::as_bytes);
        #[cfg(lw_cstr_core)]
        return self.get(i).map(CStr::to_bytes);
    }
}

/// A device a table line refers to (`dm_get_device`), open while this
/// value lives. Derefs to the [`BlockDevice`].
///
/// It holds references of its own to what it hands out (the file dm opened
/// the device with, and its DAX device), so it stays valid for as long as
/// it lives, even if safe code keeps it past the target's `dtr`. Device
/// mapper's own reference (`dm_put_device`, which needs the table) is not
/// this value's: the `dtr` callback puts it after the target is dropped.
///
/// # Invariants
///
/// `dax`, if not null, is a reference to the device's DAX device that this
/// value owns (`fs_dax_get_by_bdev`).
pub(crate) struct TableDev {
    bdev: BlockDeviceFile,
    #[cfg(CONFIG_FS_DAX)]
    dax: *mut bindings::dax_device,
    name: [u8; 16],
}

// SAFETY: A DAX device reference may be used and put on any thread;
// `BlockDeviceFile` is `Send`.
unsafe impl Send for TableDev {}
// SAFETY: Shared access only reads the fields.
unsafe impl Sync for TableDev {}

impl TableDev {
    /// Makes the value for `dm_dev`, taking references of its own.
    ///
    /// # Safety
    ///
    /// `dm_dev` must be a live `dm_dev` (from `dm_get_device`).
    unsafe fn new(dm_dev: *mut bindings::dm_dev) -> Self {
        // SAFETY: The caller's guarantee.
        let raw = unsafe { &*dm_dev };
        // SAFETY: dm holds `bdev_file` open while `dm_dev` is live.
        let bdev = unsafe { BlockDeviceFile::get(NonNull::new_unchecked(raw.bdev_file)) };
        // The kernel's `c_char` is `u8` on every architecture.
        let name: [u8; 16] = raw.name;
        // INVARIANT: `dax` is a reference we took, or null.
        TableDev {
            #[cfg(CONFIG_FS_DAX)]
            dax: if raw.dax_dev.is_null() {
                core::ptr::null_mut()
            } else {
                let mut start = 0u64;
                // SAFETY: The device is open; no holder is claimed, so this
                // only takes a reference (null if the device went away).
                unsafe {
                    bindings::fs_dax_get_by_bdev(
                        bdev.as_ptr(),
                        &mut start,
                        core::ptr::null_mut(),
                        core::ptr::null(),
                    )
                }
            },
            bdev,
            name,
        }
    }

    /// The block device, open while this value lives.
    pub(crate) fn bdev(&self) -> &BlockDevice {
        &self.bdev
    }

    /// The reference that keeps the block device open, for I/O that may
    /// outlive a borrow of this value (it takes one of its own).
    pub(crate) fn bdev_file(&self) -> &BlockDeviceFile {
        &self.bdev
    }

    /// The name dm shows for the device, `major:minor`.
    pub(crate) fn name(&self) -> &CStr {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(0);
        CStr::from_bytes_with_nul(&self.name[..=end]).unwrap_or(kernel::c_str!(""))
    }

    /// The DAX device behind it (`dm_dev.dax_dev`), null if none; valid
    /// while this value lives.
    #[cfg(CONFIG_FS_DAX)]
    fn dax_dev(&self) -> *mut bindings::dax_device {
        self.dax
    }
}

impl core::ops::Deref for TableDev {
    type Target = BlockDevice;

    fn deref(&self) -> &BlockDevice {
        self.bdev()
    }
}

#[cfg(CONFIG_FS_DAX)]
impl Drop for TableDev {
    fn drop(&mut self) {
        if !self.dax.is_null() {
            // SAFETY: Our reference (invariant), taken without a holder.
            unsafe { bindings::fs_put_dax(self.dax, core::ptr::null_mut()) };
        }
    }
}

/// The mapped device a target belongs to (the `/dev/dm-N` above it).
///
/// # Invariants
///
/// `disk` is the mapped device's disk, of which this value owns a
/// reference (so it and its request queue stay allocated).
pub(crate) struct OwnDevice {
    disk: NonNull<bindings::gendisk>,
}

// SAFETY: A disk reference may be used and put on any thread.
unsafe impl Send for OwnDevice {}
// SAFETY: Shared access only reads the queue limits, as the block layer
// does without a lock.
unsafe impl Sync for OwnDevice {}

impl OwnDevice {
    /// Whether the mapped device's own write cache is on (its sysfs
    /// `queue/write_cache` says "write back"). When it is off, the block
    /// layer drops flushes and FUA before they reach the target.
    pub(crate) fn has_write_cache(&self) -> bool {
        // SAFETY: We hold a reference to the disk (invariant), and a disk
        // holds its queue until it is released.
        unsafe { write_cache_enabled(&raw const (*(*self.disk.as_ptr()).queue).limits) }
    }
}

impl Drop for OwnDevice {
    fn drop(&mut self) {
        // SAFETY: We own a reference to the disk (invariant).
        unsafe { bindings::put_disk(self.disk.as_ptr()) };
    }
}

/// The target being constructed, as `ctr` sees it.
///
/// # Invariants
///
/// `ti` is the target dm is constructing, valid and ours alone (no other
/// callback runs on it before `ctr` returns) for `'a`.
pub(crate) struct CtrContext<'a, T: Target> {
    ti: *mut bindings::dm_target,
    type_data: Option<Arc<T::TypeData>>,
    /// The devices got for this target, which `dtr` (or a failed `ctr`)
    /// puts.
    devices: KVec<*mut bindings::dm_dev>,
    _p: PhantomData<&'a mut bindings::dm_target>,
}

impl<T: Target> CtrContext<'_, T> {
    /// The state shared by every table of the type ([`Target::TypeData`]);
    /// `ENODEV` when the type's registration was dropped meanwhile.
    pub(crate) fn type_data(&self) -> Result<Arc<T::TypeData>> {
        self.type_data.clone().ok_or(ENODEV)
    }

    fn ti(&mut self) -> &mut bindings::dm_target {
        // SAFETY: `ti` is valid and ours during `ctr`.
        unsafe { &mut *self.ti }
    }

    /// Sets the message `dmsetup` reports when `ctr` fails.
    pub(crate) fn set_error(&mut self, msg: &'static CStr) {
        self.ti().error = msg.as_char_ptr().cast_mut();
    }

    /// The mapped device this target is being built for.
    pub(crate) fn own_device(&mut self) -> OwnDevice {
        // SAFETY: `ti`, its table and mapped device are valid during
        // `ctr`; the disk exists as long as the mapped device does, and
        // `get_device` takes a reference to it (`put_disk` drops it).
        let disk = unsafe {
            let disk = bindings::dm_disk(bindings::dm_table_get_md(self.ti().table));
            bindings::get_device(&raw mut (*(*disk).part0).bd_device);
            NonNull::new_unchecked(disk)
        };
        // INVARIANT: we took a reference to the disk above.
        OwnDevice { disk }
    }

    /// Length of the target in 512-byte sectors.
    pub(crate) fn len(&mut self) -> u64 {
        self.ti().len
    }

    /// Opens `path` with the table's mode (`dm_get_device`).
    pub(crate) fn get_device(&mut self, path: &CStr) -> Result<TableDev> {
        // Room first, so that a device got is always recorded for `dtr`.
        self.devices.reserve(1, GFP_KERNEL)?;
        let mut dev = core::ptr::null_mut();
        // SAFETY: `ti` and its table are valid during `ctr`; `path` is
        // NUL-terminated.
        to_result(unsafe {
            let mode = bindings::dm_table_get_mode(self.ti().table);
            bindings::dm_get_device(self.ti, path.as_char_ptr(), mode, &mut dev)
        })?;
        self.devices.push(dev, GFP_KERNEL)?;
        // SAFETY: `dm_get_device` succeeded, so `dev` is live (until the
        // `dm_put_device` of `dtr` or of a failed `ctr`).
        Ok(unsafe { TableDev::new(dev) })
    }

    /// Asks dm to send empty flushes here (`num_flush_bios`,
    /// `flush_supported`).
    pub(crate) fn want_flushes(&mut self) {
        let ti = self.ti();
        ti.num_flush_bios = 1;
        ti.set_flush_supported(true);
    }

    /// Asks dm to send discards here even if the device below cannot
    /// discard (`num_discard_bios`, `discards_supported`).
    pub(crate) fn want_discards(&mut self) {
        let ti = self.ti();
        ti.num_discard_bios = 1;
        ti.set_discards_supported(true);
    }
}

/// Output buffer of `status`, with `DMEMIT` semantics: text that does not
/// fit is cut off, and the buffer stays NUL-terminated.
pub(crate) struct StatusWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl core::fmt::Write for StatusWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.buf.len().saturating_sub(self.len + 1);
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if let Some(b) = self.buf.get_mut(self.len) {
            *b = 0;
        }
        Ok(())
    }
}

/// The queue limits `io_hints` may adjust.
pub(crate) struct QueueLimits<'a>(&'a mut bindings::queue_limits);

impl QueueLimits<'_> {
    /// Sets the discard granularity and largest discard, in bytes and
    /// 512-byte sectors.
    pub(crate) fn set_discard(&mut self, granularity: u32, max_sectors: u32) {
        self.0.discard_granularity = granularity;
        self.0.max_hw_discard_sectors = max_sectors;
    }

    /// Sets the logical and physical block sizes, `io_min` (the physical
    /// size) and the DMA alignment (logical size - 1), like a stacking
    /// target that must look exactly like its device. Both must be powers
    /// of two, 512 <= logical <= physical, logical at most a page: dm
    /// stacks these limits (and divides by them) before the block layer
    /// validates them. Otherwise nothing changes and `EINVAL` is returned.
    pub(crate) fn set_block_sizes(&mut self, logical: u32, physical: u32) -> Result {
        if !logical.is_power_of_two()
            || !physical.is_power_of_two()
            || logical < 512
            || logical as usize > crate::abstractions::page::PAGE_SIZE
            || physical < logical
        {
            return Err(kernel::error::code::EINVAL);
        }
        self.0.logical_block_size = logical;
        self.0.physical_block_size = physical;
        self.0.io_min = physical;
        self.0.dma_alignment = logical - 1;
        Ok(())
    }
}

/// The callout `iterate_devices` reports devices to.
///
/// # Invariants
///
/// `callout` and `data` are the pair dm passed to `iterate_devices` for
/// the target `ti`, valid to call together for `'a`; `devices` are the
/// live `dm_dev`s the target got in `ctr`.
pub(crate) struct DeviceIterator<'a> {
    ti: *mut bindings::dm_target,
    callout: bindings::iterate_devices_callout_fn,
    data: *mut core::ffi::c_void,
    devices: &'a [*mut bindings::dm_dev],
}

impl DeviceIterator<'_> {
    /// Reports `dev` as mapping `len` sectors from `start`; returns the
    /// callout's result, which `iterate_devices` should return when
    /// non-zero. A device this target did not get in its `ctr` (kept from
    /// another table, say) is not reported: it returns 0.
    pub(crate) fn visit(&mut self, dev: &TableDev, start: u64, len: u64) -> i32 {
        let Some(dm_dev) = held_by(self.devices, dev) else {
            return 0;
        };
        match self.callout {
            // SAFETY: dm passed this callout and its data for this call;
            // `dm_dev` is one of the target's live devices.
            Some(f) => unsafe { f(self.ti, dm_dev, start, len, self.data) },
            None => 0,
        }
    }
}

/// Where a target type lives: tables point to it (`ti->type`) for as long
/// as they exist, which may be longer than the [`Registration`] that
/// registered it (dropped early, say), so it is static and never freed.
/// Declare one `static` per target type and pass it to
/// [`Registration::new`]; it can be registered once.
///
/// # Invariants
///
/// Once `used` is set, `tt` and `data` are written only before `tt` is
/// registered, by the one [`Registration::new`] that set `used`; afterwards
/// only dm changes `tt` (its list links, under its own lock), the callbacks
/// in it are those of `T`, and `data` is an initialised lock, never moved
/// (the storage is static), whose content only that lock guards. `tt` is
/// the first field (`repr(C)`), and dm is given a pointer to the whole
/// storage, so `ti->type` leads back to it.
#[repr(C)]
pub(crate) struct TargetTypeStorage<T: Target> {
    tt: Opaque<bindings::target_type>,
    /// The tables' shared state while the type is registered. A lock, not
    /// the state itself: a static is never dropped, so the state is taken
    /// out (and dropped with the last table holding it) when the
    /// registration goes; a lock needs no drop.
    data: Opaque<SpinLock<Option<Arc<T::TypeData>>>>,
    used: AtomicBool,
    _t: PhantomData<T>,
}

// SAFETY: Shared access writes `tt` and `data` only once, by whoever
// claimed `used` (invariant), before dm or anyone else can see them; after
// that `data` is a lock, and what it guards is `Send` (`T::TypeData` is
// `Send + Sync`).
unsafe impl<T: Target> Sync for TargetTypeStorage<T> {}

impl<T: Target> TargetTypeStorage<T> {
    /// The lock around the shared state.
    ///
    /// # Safety
    ///
    /// `Registration::new` must have initialised `data` (the type was
    /// registered, or its registration failed after that point).
    unsafe fn data(&self) -> &SpinLock<Option<Arc<T::TypeData>>> {
        // SAFETY: Initialised (the caller's promise), never moved or
        // dropped (static), and only ever shared.
        unsafe { &*self.data.get() }
    }
}

impl<T: Target> TargetTypeStorage<T> {
    /// Storage for a target type not registered yet.
    #[allow(clippy::new_without_default)]
    pub(crate) const fn new() -> Self {
        TargetTypeStorage {
            tt: Opaque::uninit(),
            data: Opaque::uninit(),
            used: AtomicBool::new(false),
            _t: PhantomData,
        }
    }
}

/// A registered target type; dropping it unregisters the type. Tables
/// made before stay valid: they hold the module, and the type lives in
/// static storage.
///
/// # Invariants
///
/// `storage.tt` is registered with `dm_register_target` until `drop`.
pub(crate) struct Registration<T: Target + 'static> {
    storage: &'static TargetTypeStorage<T>,
}

impl<T: Target + 'static> Registration<T> {
    /// Registers target type `name` with `version`, kept in `storage`,
    /// with `data`, the state its tables share. Fails with `EBUSY` if
    /// `storage` was registered before (or failed to be).
    pub(crate) fn new(
        storage: &'static TargetTypeStorage<T>,
        name: &'static CStr,
        version: [u32; 3],
        module: &'static ThisModule,
        data: Arc<T::TypeData>,
    ) -> Result<Self> {
        const {
            assert!(core::mem::align_of::<Option<T::PerBio>>() <= 8);
        }
        if storage.used.swap(true, Ordering::AcqRel) {
            return Err(EBUSY);
        }
        let lock = new_spinlock!(Some(data), "dm::TargetTypeStorage::data");
        // SAFETY: We claimed `used`, so nothing else writes `data`, and
        // nothing reads it before `tt` is registered below. It is static,
        // so pinned. A spin lock's initialiser cannot fail.
        #[cfg(not(lw_pin_init_raw_try_init))]
        unsafe {
            lock.__pinned_init(storage.data.get())?
        };
        // SAFETY: As above.
        #[cfg(lw_pin_init_raw_try_init)]
        unsafe {
            pin_init::raw_try_init(storage.data.get(), lock)?
        };
        let tt = bindings::target_type {
            name: name.as_char_ptr(),
            version,
            module: module.as_ptr(),
            ctr: Some(ctr_cb::<T>),
            dtr: Some(dtr_cb::<T>),
            map: Some(map_cb::<T>),
            end_io: Some(end_io_cb::<T>),
            status: Some(status_cb::<T>),
            message: Some(message_cb::<T>),
            io_hints: Some(io_hints_cb::<T>),
            iterate_devices: Some(iterate_devices_cb::<T>),
            prepare_ioctl: Some(prepare_ioctl_cb::<T>),
            preresume: if T::HAS_PRERESUME {
                Some(preresume_cb::<T>)
            } else {
                None
            },
            resume: if T::HAS_RESUME {
                Some(resume_cb::<T>)
            } else {
                None
            },
            postsuspend: if T::HAS_POSTSUSPEND {
                Some(postsuspend_cb::<T>)
            } else {
                None
            },
            ..Default::default()
        };
        #[cfg(CONFIG_FS_DAX)]
        let tt = if T::HAS_DAX_DEVICE {
            bindings::target_type {
                direct_access: Some(dax::direct_access_cb::<T>),
                dax_zero_page_range: Some(dax::zero_page_range_cb::<T>),
                dax_recovery_write: Some(dax::recovery_write_cb::<T>),
                ..tt
            }
        } else {
            tt
        };
        // SAFETY: We claimed `used` above, so nothing else writes `tt`,
        // and it is not registered, so nothing reads it.
        unsafe { storage.tt.get().write(tt) };
        // The whole storage, so that `ctr_cb` can reach `data` from
        // `ti->type`; `tt` is at its start (`repr(C)`).
        let whole = core::ptr::from_ref(storage)
            .cast_mut()
            .cast::<bindings::target_type>();
        // SAFETY: `whole` is `tt`, a valid target type in static storage.
        if let Err(e) = to_result(unsafe { bindings::dm_register_target(whole) }) {
            // SAFETY: Initialised above.
            let _data = unsafe { storage.data() }.lock().take();
            return Err(e);
        }
        // INVARIANT: registered.
        Ok(Registration { storage })
    }
}

impl<T: Target + 'static> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: Registered in `new` (invariant).
        unsafe { bindings::dm_unregister_target(self.storage.tt.get()) };
        // Tables still holding the shared state keep it; a constructor
        // that runs now finds none.
        // SAFETY: Initialised before the type was registered.
        let data = unsafe { self.storage.data() }.lock().take();
        drop(data);
    }
}

/// DAX operations passed through to [`Target::dax_device`].
#[cfg(CONFIG_FS_DAX)]
mod dax {
    use super::{target, Target};
    use crate::abstractions::bindings;
    use kernel::ffi::{c_int, c_long, c_ulong, c_void};

    /// What `dax_direct_access` stores a page frame number in: `pfn_t`
    /// until 7.x removed it for a plain `unsigned long`.
    #[cfg(not(lw_dax_pfn_ulong))]
    type DaxPfn = bindings::pfn_t;
    #[cfg(lw_dax_pfn_ulong)]
    type DaxPfn = c_ulong;

    /// 512-byte sectors per page, as a shift.
    const PAGE_SECTORS_SHIFT: u32 = bindings::PAGE_SHIFT - 9;

    /// Where page `pgoff` of the mapped device is on the DAX device of
    /// [`Target::dax_device`], and how many of that device's pages follow
    /// from there. dm passes the mapped device's page offset: the target's
    /// start (`ti->begin`) comes off it, and the device's start on its disk
    /// (a partition's, as `dm-linear` does) goes on. `Err` with the error
    /// to return when there is no DAX device (`EOPNOTSUPP`) or the page is
    /// not on the device (`ERANGE`), which DAX drivers do not check.
    ///
    /// # Safety
    ///
    /// `ti` must be a live target of type `T` (constructed by `ctr_cb`).
    unsafe fn at<T: Target>(
        ti: *mut bindings::dm_target,
        pgoff: c_ulong,
    ) -> Result<(*mut bindings::dax_device, c_ulong, u64), u32> {
        // SAFETY: The caller's guarantee; `begin` does not change after
        // the table is built.
        let (dev, begin) = unsafe { (target::<T>(ti).dax_device(), (*ti).begin) };
        let dax = dev.dax_dev();
        if dax.is_null() {
            return Err(bindings::EOPNOTSUPP);
        }
        let sector = (pgoff as u64)
            .checked_mul(1 << PAGE_SECTORS_SHIFT)
            .ok_or(bindings::ERANGE)?;
        let rel = sector.checked_sub(begin).ok_or(bindings::ERANGE)?;
        let page = rel >> PAGE_SECTORS_SHIFT;
        let pages = dev.nr_sectors() >> PAGE_SECTORS_SHIFT;
        if rel & ((1 << PAGE_SECTORS_SHIFT) - 1) != 0 || page >= pages {
            return Err(bindings::ERANGE);
        }
        let start = dev.start_sect() >> PAGE_SECTORS_SHIFT;
        Ok((dax, (page + start) as c_ulong, pages - page))
    }

    /// # Safety
    ///
    /// Only dm calls this, for a live target of type `T`, with the
    /// arguments of `dax_direct_access`.
    pub(super) unsafe extern "C" fn direct_access_cb<T: Target>(
        ti: *mut bindings::dm_target,
        pgoff: c_ulong,
        nr_pages: c_long,
        mode: bindings::dax_access_mode,
        kaddr: *mut *mut c_void,
        pfn: *mut DaxPfn,
    ) -> c_long {
        // SAFETY: dm passes a live target of our type.
        let (dax, pgoff, left) = match unsafe { at::<T>(ti, pgoff) } {
            Ok(at) => at,
            Err(e) => return -(e as c_long),
        };
        let nr_pages = nr_pages.min(c_long::try_from(left).unwrap_or(c_long::MAX));
        // SAFETY: The table device holds its DAX device (checked non-null)
        // while it lives, and the pages are on the device (checked); the
        // out-pointers come from dm's caller unchanged.
        unsafe { bindings::dax_direct_access(dax, pgoff, nr_pages, mode, kaddr, pfn) }
    }

    /// # Safety
    ///
    /// As for [`direct_access_cb`], with `dax_zero_page_range`'s arguments.
    pub(super) unsafe extern "C" fn zero_page_range_cb<T: Target>(
        ti: *mut bindings::dm_target,
        pgoff: c_ulong,
        nr_pages: usize,
    ) -> c_int {
        // SAFETY: dm passes a live target of our type.
        let (dax, pgoff, left) = match unsafe { at::<T>(ti, pgoff) } {
            Ok(at) => at,
            Err(e) => return -(e as c_int),
        };
        if nr_pages as u64 > left {
            return -(bindings::ERANGE as c_int);
        }
        // SAFETY: As in `direct_access_cb`.
        unsafe { bindings::dax_zero_page_range(dax, pgoff, nr_pages) }
    }

    /// # Safety
    ///
    /// As for [`direct_access_cb`], with `dax_recovery_write`'s arguments.
    pub(super) unsafe extern "C" fn recovery_write_cb<T: Target>(
        ti: *mut bindings::dm_target,
        pgoff: c_ulong,
        addr: *mut c_void,
        bytes: usize,
        iter: *mut bindings::iov_iter,
    ) -> usize {
        // SAFETY: dm passes a live target of our type.
        let Ok((dax, pgoff, left)) = (unsafe { at::<T>(ti, pgoff) }) else {
            return 0;
        };
        if bytes as u64 > left.saturating_mul(bindings::PAGE_SIZE as u64) {
            return 0;
        }
        // SAFETY: As in `direct_access_cb`; `addr` and `iter` come from
        // dm's caller unchanged.
        unsafe { bindings::dax_recovery_write(dax, pgoff, addr, bytes, iter) }
    }
}

/// What `ti->private` holds: the target, and the devices it got in `ctr`,
/// which `dtr` puts once the target (with its [`TableDev`]s) is dropped.
struct Instance<T> {
    target: T,
    devices: KVec<*mut bindings::dm_dev>,
}

/// # Safety
///
/// `ti` must be a target whose `private` was set by `ctr_cb::<T>` and not
/// yet destroyed, for all of `'a`.
unsafe fn instance<'a, T: Target>(ti: *mut bindings::dm_target) -> &'a Instance<T> {
    // SAFETY: `private` is `ctr_cb`'s `KBox<Instance<T>>` as a raw pointer,
    // which `dtr_cb` takes back only after `'a` (the caller's guarantee).
    unsafe { &*(*ti).private.cast::<Instance<T>>() }
}

/// # Safety
///
/// As for [`instance`].
unsafe fn target<'a, T: Target>(ti: *mut bindings::dm_target) -> &'a T {
    // SAFETY: The caller's guarantee.
    &unsafe { instance::<T>(ti) }.target
}

/// The one of `devices` (the live `dm_dev`s a target got in `ctr`) that
/// holds `dev`'s block device open, if any. A [`TableDev`] says which
/// device it is by its block device, not by a `dm_dev` pointer: one kept
/// past its table's `dtr` would name a freed `dm_dev`, whose address a new
/// one may reuse.
fn held_by(devices: &[*mut bindings::dm_dev], dev: &TableDev) -> Option<*mut bindings::dm_dev> {
    let bdev = dev.bdev().as_ptr();
    devices.iter().copied().find(|&d| {
        // SAFETY: `devices` are live: got in `ctr` and put only in `dtr`.
        unsafe { (*d).bdev == bdev }
    })
}

/// Puts the devices a target got (`dm_put_device`).
///
/// # Safety
///
/// `ti` must be valid and `devices` devices got for it and not put yet.
unsafe fn put_devices(ti: *mut bindings::dm_target, devices: &[*mut bindings::dm_dev]) {
    for &dev in devices {
        // SAFETY: The caller's guarantee.
        unsafe { bindings::dm_put_device(ti, dev) };
    }
}

/// The room dm reserved in front of `bio` for an `Option<T::PerBio>`. It
/// is uninitialised until `map_cb` writes it: a pointer, not a reference.
///
/// # Safety
///
/// `bio` must be a bio dm passes to a target of type `T`.
unsafe fn per_bio<T: Target>(bio: *mut bindings::bio) -> *mut Option<T::PerBio> {
    let size = core::mem::size_of::<Option<T::PerBio>>();
    // SAFETY: `ctr_cb` set `per_io_data_size` to `size`, so dm reserved
    // (suitably aligned, see `Registration::new`) room in front of the bio.
    unsafe { bindings::dm_per_bio_data(bio, size).cast::<Option<T::PerBio>>() }
}

/// Device-mapper's `ctr` callback for target type `T`.
///
/// # Safety
///
/// Only device-mapper calls this, as its C contract for `ctr` says: `ti`
/// is a live target of this type (constructed by `ctr_cb::<T>` unless this
/// is `ctr`) and the other pointers are valid for the call.
unsafe extern "C" fn ctr_cb<T: Target>(
    ti: *mut bindings::dm_target,
    argc: u32,
    argv: *mut *mut kernel::ffi::c_char,
) -> i32 {
    // SAFETY: dm calls `ctr_cb::<T>` only through a target type that
    // `Registration::new` registered with a pointer to a whole, static
    // `TargetTypeStorage<T>` (invariant).
    let storage = unsafe { &*(*ti).type_.cast::<TargetTypeStorage<T>>() };
    let mut ctx = CtrContext {
        ti,
        // SAFETY: `data` was initialised before the type was registered.
        type_data: unsafe { storage.data() }.lock().clone(),
        devices: KVec::new(),
        _p: PhantomData,
    };
    // SAFETY: dm passes `argc` valid strings that outlive `ctr`.
    let args = unsafe { Args::new(argc, argv) };
    // The room first: once `T::ctr` returns, the target exists (its
    // threads run, its devices are held), and nothing may fail after that.
    let room = match KBox::<Instance<T>>::new_uninit(GFP_KERNEL) {
        Ok(room) => room,
        Err(e) => return Error::from(e).to_errno(),
    };
    let target = match T::ctr(&mut ctx, &args) {
        Ok(target) => KBox::write(
            room,
            Instance {
                target,
                devices: ctx.devices,
            },
        ),
        Err(e) => {
            // SAFETY: Got for `ti` in this `ctr`; the target, with its
            // `TableDev`s, is gone.
            unsafe { put_devices(ti, &ctx.devices) };
            return e.to_errno();
        }
    };
    // SAFETY: `ti` is valid and ours during `ctr`.
    unsafe {
        (*ti).per_io_data_size = core::mem::size_of::<Option<T::PerBio>>() as u32;
        (*ti).private = KBox::into_raw(target).cast();
    }
    0
}

/// Device-mapper's `dtr` callback for target type `T`.
///
/// # Safety
///
/// Only device-mapper calls this, as its C contract for `dtr` says: `ti`
/// is a live target of this type (constructed by `ctr_cb::<T>` unless this
/// is `ctr`) and the other pointers are valid for the call.
unsafe extern "C" fn dtr_cb<T: Target>(ti: *mut bindings::dm_target) {
    // SAFETY: `private` is the box `ctr_cb` gave away with `into_raw`; dm
    // calls `dtr` once, after every other callback.
    let instance = unsafe { KBox::from_raw((*ti).private.cast::<Instance<T>>()) };
    let Instance { target, devices } = KBox::into_inner(instance);
    // The target first: its threads and bios use the devices.
    drop(target);
    // SAFETY: Got for `ti` in `ctr` and not put since.
    unsafe { put_devices(ti, &devices) };
}

/// Device-mapper's `map` callback for target type `T`.
///
/// # Safety
///
/// Only device-mapper calls this, as its C contract for `map` says: `ti`
/// is a live target of this type (constructed by `ctr_cb::<T>` unless this
/// is `ctr`) and the other pointers are valid for the call.
unsafe extern "C" fn map_cb<T: Target>(
    ti: *mut bindings::dm_target,
    bio: *mut bindings::bio,
) -> i32 {
    // SAFETY: dm calls `map` on a constructed target with its own clone bio.
    let (instance, pb, b) = unsafe { (instance::<T>(ti), per_bio::<T>(bio), Bio::from_raw(bio)) };
    // The per-bio area is uninitialised: write, don't assign (no drop),
    // and only then take a reference.
    // SAFETY: `pb` points to room for an `Option<T::PerBio>`, which no one
    // else uses while dm maps this bio.
    let pb = unsafe {
        pb.write(None);
        &mut *pb
    };
    let r = noio_scope(|| instance.target.map(b, pb));
    match r {
        MapResult::Remap(dev) if held_by(&instance.devices, dev).is_some() => {
            // SAFETY: A device of the table holds this block device open
            // until the table is destroyed, after all its bios completed.
            unsafe { b.set_dev(dev) };
            bindings::DM_MAPIO_REMAPPED as i32
        }
        MapResult::Remap(_) => {
            dm_print(
                Level::Warn,
                crate::DM_MSG_PREFIX,
                format_args!("map: a bio was remapped to a device the target does not hold"),
            );
            *pb = None;
            bindings::DM_MAPIO_KILL as i32
        }
        MapResult::Complete => {
            // SAFETY: The bio is ours to complete; `end_io` will find `pb`.
            unsafe { bindings::bio_endio(bio) };
            bindings::DM_MAPIO_SUBMITTED as i32
        }
        MapResult::Kill => {
            *pb = None;
            bindings::DM_MAPIO_KILL as i32
        }
    }
}

/// Device-mapper's `end_io` callback for target type `T`.
///
/// # Safety
///
/// Only device-mapper calls this, as its C contract for `end_io` says: `ti`
/// is a live target of this type (constructed by `ctr_cb::<T>` unless this
/// is `ctr`) and the other pointers are valid for the call.
unsafe extern "C" fn end_io_cb<T: Target>(
    ti: *mut bindings::dm_target,
    bio: *mut bindings::bio,
    error: *mut u8,
) -> i32 {
    // SAFETY: dm calls `end_io` for a bio that went through `map_cb`, which
    // initialised the per-bio data; `error` points to its status.
    unsafe {
        let pb = (*per_bio::<T>(bio)).take();
        target::<T>(ti).end_io(Bio::from_raw(bio), pb, *error);
    }
    bindings::DM_ENDIO_DONE as i32
}

/// Device-mapper's `status` callback for target type `T`.
///
/// # Safety
///
/// Only device-mapper calls this, as its C contract for `status` says: `ti`
/// is a live target of this type (constructed by `ctr_cb::<T>` unless this
/// is `ctr`) and the other pointers are valid for the call.
unsafe extern "C" fn status_cb<T: Target>(
    ti: *mut bindings::dm_target,
    kind: bindings::status_type_t,
    _flags: u32,
    result: *mut kernel::ffi::c_char,
    maxlen: u32,
) {
    if result.is_null() || maxlen == 0 {
        return;
    }
    let kind = match kind {
        bindings::status_type_t_STATUSTYPE_INFO => StatusType::Info,
        bindings::status_type_t_STATUSTYPE_TABLE => StatusType::Table,
        _ => StatusType::Ima,
    };
    // SAFETY: dm passes a buffer of `maxlen` bytes.
    let buf = unsafe { core::slice::from_raw_parts_mut(result.cast::<u8>(), maxlen as usize) };
    buf[0] = 0;
    let mut w = StatusWriter { buf, len: 0 };
    // SAFETY: The target is constructed.
    unsafe { target::<T>(ti) }.status(kind, &mut w);
}

/// Device-mapper's `message` callback for target type `T`.
///
/// # Safety
///
/// Only device-mapper calls this, as its C contract for `message` says: `ti`
/// is a live target of this type (constructed by `ctr_cb::<T>` unless this
/// is `ctr`) and the other pointers are valid for the call.
unsafe extern "C" fn message_cb<T: Target>(
    ti: *mut bindings::dm_target,
    argc: u32,
    argv: *mut *mut kernel::ffi::c_char,
    _result: *mut kernel::ffi::c_char,
    _maxlen: u32,
) -> i32 {
    // SAFETY: dm passes `argc` valid strings; the target is constructed.
    let r = unsafe { target::<T>(ti).message(&Args::new(argc, argv)) };
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Device-mapper's `io_hints` callback for target type `T`.
///
/// # Safety
///
/// Only device-mapper calls this, as its C contract for `io_hints` says: `ti`
/// is a live target of this type (constructed by `ctr_cb::<T>` unless this
/// is `ctr`) and the other pointers are valid for the call.
unsafe extern "C" fn io_hints_cb<T: Target>(
    ti: *mut bindings::dm_target,
    limits: *mut bindings::queue_limits,
) {
    // SAFETY: dm passes the limits being stacked, ours to change.
    unsafe { target::<T>(ti).io_hints(&mut QueueLimits(&mut *limits)) };
}

/// Device-mapper's `iterate_devices` callback for target type `T`.
///
/// # Safety
///
/// Only device-mapper calls this, as its C contract for `iterate_devices` says: `ti`
/// is a live target of this type (constructed by `ctr_cb::<T>` unless this
/// is `ctr`) and the other pointers are valid for the call.
unsafe extern "C" fn iterate_devices_cb<T: Target>(
    ti: *mut bindings::dm_target,
    callout: bindings::iterate_devices_callout_fn,
    data: *mut core::ffi::c_void,
) -> i32 {
    // SAFETY: The target is constructed.
    let instance = unsafe { instance::<T>(ti) };
    let mut it = DeviceIterator {
        ti,
        callout,
        data,
        devices: &instance.devices,
    };
    instance.target.iterate_devices(&mut it)
}

/// Device-mapper's `prepare_ioctl` callback for target type `T`.
///
/// # Safety
///
/// Only device-mapper calls this, as its C contract for `prepare_ioctl` says: `ti`
/// is a live target of this type (constructed by `ctr_cb::<T>` unless this
/// is `ctr`) and the other pointers are valid for the call.
unsafe extern "C" fn prepare_ioctl_cb<T: Target>(
    ti: *mut bindings::dm_target,
    bdev: *mut *mut bindings::block_device,
    // Since 7.x dm passes the ioctl and lets the target keep it from the
    // device (`*forward`); every ioctl is forwarded here, as before.
    #[cfg(lw_dm_prepare_ioctl_forward)] _cmd: kernel::ffi::c_uint,
    #[cfg(lw_dm_prepare_ioctl_forward)] _arg: kernel::ffi::c_ulong,
    #[cfg(lw_dm_prepare_ioctl_forward)] _forward: *mut bool,
) -> i32 {
    // SAFETY: The target is constructed; `bdev` is dm's out pointer.
    let instance = unsafe { instance::<T>(ti) };
    let (dev, whole) = instance.target.prepare_ioctl();
    // dm uses the device after this returns, until `dm_unprepare_ioctl`:
    // only one the table holds open is sure to last that long.
    if held_by(&instance.devices, dev).is_none() {
        return -(bindings::ENOTTY as i32);
    }
    // SAFETY: As above.
    unsafe { *bdev = dev.bdev().as_ptr() };
    i32::from(!whole)
}

/// Device-mapper's `preresume` callback for target type `T`.
///
/// # Safety
///
/// Only device-mapper calls this, as its C contract for `preresume` says:
/// `ti` is a live target of this type (constructed by `ctr_cb::<T>`).
unsafe extern "C" fn preresume_cb<T: Target>(ti: *mut bindings::dm_target) -> i32 {
    // The mapped device is suspended: an allocation that waited on
    // writeback to it would never return.
    // SAFETY: The target is constructed.
    match noio_scope(|| unsafe { target::<T>(ti) }.preresume()) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Device-mapper's `resume` callback for target type `T`.
///
/// # Safety
///
/// As for [`preresume_cb`].
unsafe extern "C" fn resume_cb<T: Target>(ti: *mut bindings::dm_target) {
    // Still suspended until this returns (see `preresume_cb`).
    // SAFETY: The target is constructed.
    noio_scope(|| unsafe { target::<T>(ti) }.resume())
}

/// Device-mapper's `postsuspend` callback for target type `T`.
///
/// # Safety
///
/// As for [`preresume_cb`].
unsafe extern "C" fn postsuspend_cb<T: Target>(ti: *mut bindings::dm_target) {
    // Suspended (see `preresume_cb`).
    // SAFETY: The target is constructed.
    noio_scope(|| unsafe { target::<T>(ti) }.postsuspend())
}

/// Kernel log levels for [`dm_print`].
#[doc(hidden)]
pub(crate) enum Level {
    Err,
    Warn,
}

/// Prints `DM_NAME: <prefix>: <args>` as C's `DMERR()`/`DMWARN()` do: the
/// message carries device-mapper's prefix and the target's
/// (`DM_MSG_PREFIX`), not the module name `pr_err!` would add.
#[doc(hidden)]
pub(crate) fn dm_print(level: Level, prefix: &str, args: core::fmt::Arguments<'_>) {
    let format = match level {
        Level::Err => &kernel::print::format_strings::ERR,
        Level::Warn => &kernel::print::format_strings::WARNING,
    };
    // SAFETY: `format` is one of the kernel's fixed format strings and the
    // name is NUL-terminated, which is all `call_printk` asks.
    unsafe {
        kernel::print::call_printk(
            format,
            b"device-mapper\0",
            format_args!("{}: {}\n", prefix, args),
        )
    };
}

/// `DMERR()`: an error for the kernel log, prefixed like C targets' with
/// `device-mapper:` and the crate root's `DM_MSG_PREFIX`.
macro_rules! dm_err {
    ($($arg:tt)*) => {
        $crate::abstractions::device_mapper::dm_print($crate::abstractions::device_mapper::Level::Err, $crate::DM_MSG_PREFIX, format_args!($($arg)*))
    };
}
pub(crate) use dm_err;

/// `DMWARN()`.
macro_rules! dm_warn {
    ($($arg:tt)*) => {
        $crate::abstractions::device_mapper::dm_print($crate::abstractions::device_mapper::Level::Warn, $crate::DM_MSG_PREFIX, format_args!($($arg)*))
    };
}
pub(crate) use dm_warn;
