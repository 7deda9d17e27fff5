// SPDX-License-Identifier: GPL-2.0

//! The block layer: block devices ([`BlockDevice`]), bios ([`bio`]) and
//! submitting bios of one's own ([`io`]).

pub(crate) mod bio;
pub(crate) mod io;

use crate::abstractions::bindings;
use core::ptr::NonNull;
#[cfg(not(lw_file_ref))]
use core::sync::atomic::{AtomicI64, Ordering};
use kernel::types::Opaque;

/// An open block device (`struct block_device`).
///
/// Only references to it exist, handed out by whatever holds the device
/// open (a device-mapper table device, say), and valid as long as that
/// holder keeps it open.
///
/// # Invariants
///
/// For the lifetime of a `&BlockDevice`, the wrapped `block_device` is open
/// (so it, its disk and its request queue are alive).
#[repr(transparent)]
pub(crate) struct BlockDevice(Opaque<bindings::block_device>);

impl BlockDevice {
    /// Wraps a raw block device.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a block device that stays open for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::block_device) -> &'a BlockDevice {
        // SAFETY: `BlockDevice` is a transparent wrapper; the caller
        // guarantees the device stays open for `'a`.
        unsafe { &*ptr.cast::<BlockDevice>() }
    }

    /// The raw pointer, for C functions that take the device.
    pub(crate) fn as_ptr(&self) -> *mut bindings::block_device {
        self.0.get()
    }

    fn limits(&self) -> *const bindings::queue_limits {
        // SAFETY: An open block device has a live queue (`bdev_get_queue()`,
        // type invariant); no reference to the limits is made.
        unsafe { &raw const (*(*self.as_ptr()).bd_queue).limits }
    }

    /// Where the device starts on its disk, in 512-byte sectors
    /// (`get_start_sect()`).
    #[cfg_attr(not(CONFIG_FS_DAX), allow(dead_code))]
    pub(crate) fn start_sect(&self) -> u64 {
        // SAFETY: The device is open (invariant); `bd_start_sect` is set
        // when the partition is added and never changes.
        unsafe { (*self.as_ptr()).bd_start_sect }
    }

    /// Size in 512-byte sectors (`bdev_nr_sectors()`).
    pub(crate) fn nr_sectors(&self) -> u64 {
        // SAFETY: The device is open (invariant); a resize rewrites the
        // field while I/O runs, so it is read once, as the C inline does.
        unsafe { core::ptr::read_volatile(&raw const (*self.as_ptr()).bd_nr_sectors) }
    }

    /// `bdev_logical_block_size()`.
    pub(crate) fn logical_block_size(&self) -> u32 {
        // SAFETY: `limits()` points into the live queue of an open device.
        unsafe { read_limit(&raw const (*self.limits()).logical_block_size) }
    }

    /// `bdev_physical_block_size()`.
    pub(crate) fn physical_block_size(&self) -> u32 {
        // SAFETY: `limits()` points into the live queue of an open device.
        unsafe { read_limit(&raw const (*self.limits()).physical_block_size) }
    }

    /// `bdev_max_discard_sectors()`: zero when the device cannot discard.
    pub(crate) fn max_discard_sectors(&self) -> u32 {
        // SAFETY: `limits()` points into the live queue of an open device.
        unsafe { read_limit(&raw const (*self.limits()).max_discard_sectors) }
    }

    /// `bdev_write_cache()`: whether the device has a volatile write cache
    /// that is enabled (sysfs `write_cache` says "write back"). Without
    /// one, the block layer drops flushes and FUA before they reach the
    /// driver, and a completed write is already durable.
    pub(crate) fn has_write_cache(&self) -> bool {
        // SAFETY: `limits()` points into the live queue of an open device.
        unsafe { write_cache_enabled(self.limits()) }
    }

    /// The device number (`bd_dev`, `MKDEV(major, minor)`).
    pub(crate) fn devt(&self) -> u32 {
        // SAFETY: The device is open (invariant); `bd_dev` never changes.
        unsafe { (*self.as_ptr()).bd_dev }
    }

    /// Whether both are the same block device.
    pub(crate) fn same_device(&self, other: &BlockDevice) -> bool {
        self.devt() == other.devt()
    }

    /// `bdev_read_only()`: the device or its whole disk is set read-only.
    pub(crate) fn is_read_only(&self) -> bool {
        let ro = bindings::BD_READ_ONLY;
        // SAFETY: The device is open (invariant), so it and its disk (with
        // `part0`) are alive; the flags are read once each, like the C
        // inlines (`atomic_read()`, `test_bit()`) do.
        unsafe {
            let bdev = self.as_ptr();
            let disk = (*bdev).bd_disk;
            let flags = |b: *mut bindings::block_device| {
                core::ptr::read_volatile(&raw const (*b).__bd_flags.counter) as u32
            };
            let state = core::ptr::read_volatile(&raw const (*disk).state);
            flags(bdev) & ro != 0
                || flags((*disk).part0) & ro != 0
                || state & (1 << bindings::GD_READ_ONLY) != 0
        }
    }
}

/// Keeps a block device open by holding one more reference to the
/// `struct file` it was opened with (`bdev_file_open_by_dev()`, as
/// device-mapper's table devices are), for as long as this value lives,
/// whoever else closes it meanwhile: the device is closed by the last
/// `fput()`. Derefs to the [`BlockDevice`].
///
/// # Invariants
///
/// `file` is a block device file of which this value owns one reference,
/// and `bdev` is its block device (`file_bdev()`).
pub(crate) struct BlockDeviceFile {
    file: NonNull<bindings::file>,
    bdev: *mut bindings::block_device,
}

// SAFETY: A file reference may be used and dropped (`fput()`) on any
// thread; the block device is only reached through `&BlockDevice`, which
// is `Sync`.
unsafe impl Send for BlockDeviceFile {}
// SAFETY: Shared access only reads the two pointers.
unsafe impl Sync for BlockDeviceFile {}

impl BlockDeviceFile {
    /// Takes one more reference to `file` (`get_file()`).
    ///
    /// # Safety
    ///
    /// `file` must be a block device file on which the caller holds a
    /// reference for the duration of this call.
    pub(crate) unsafe fn get(file: NonNull<bindings::file>) -> Self {
        // SAFETY: The file is alive (the caller's reference). This is the
        // body of the static inline `get_file()`, which 6.12's Rust has no
        // helper for: a relaxed increment of `f_count`, an `atomic_long_t`
        // whose counter is a naturally aligned `i64` on 64-bit.
        #[cfg(not(lw_file_ref))]
        unsafe {
            AtomicI64::from_ptr(&raw mut (*file.as_ptr()).f_count.counter)
                .fetch_add(1, Ordering::Relaxed)
        };
        // SAFETY: The file is alive (the caller's reference); the kernel's
        // helper takes one more (`f_ref`, a `file_ref_t` since 6.13).
        #[cfg(lw_file_ref)]
        unsafe {
            bindings::get_file(file.as_ptr())
        };
        // SAFETY: A block device file, alive (we hold a reference now).
        let bdev = unsafe { bindings::file_bdev(file.as_ptr()) };
        // INVARIANT: we own the reference taken above; `bdev` is its
        // device.
        BlockDeviceFile { file, bdev }
    }
}

impl Clone for BlockDeviceFile {
    fn clone(&self) -> Self {
        // SAFETY: A block device file, on which `self` holds a reference
        // (invariant).
        unsafe { BlockDeviceFile::get(self.file) }
    }
}

impl core::ops::Deref for BlockDeviceFile {
    type Target = BlockDevice;

    fn deref(&self) -> &BlockDevice {
        // SAFETY: The device stays open while our file reference lives,
        // that is at least as long as `self` is borrowed (invariant).
        unsafe { BlockDevice::from_raw(self.bdev) }
    }
}

impl Drop for BlockDeviceFile {
    fn drop(&mut self) {
        // SAFETY: We own one reference to `file` (invariant); the last
        // `fput()` closes the device, here or in a deferred work item.
        unsafe { bindings::fput(self.file.as_ptr()) };
    }
}

/// Reads one field of a queue's limits as `READ_ONCE()` does: sysfs
/// (`write_cache`) and table loads rewrite the whole `queue_limits` under
/// the queue's `limits_lock` while I/O runs, so no reference to it may be
/// held, and each field is read once, whole.
///
/// # Safety
///
/// `field` must point to a field of the `limits` of a live request queue.
unsafe fn read_limit<F: Copy>(field: *const F) -> F {
    // SAFETY: Guaranteed by the caller; the fields are naturally aligned
    // integers, which the kernel reads this way without the lock.
    unsafe { core::ptr::read_volatile(field) }
}

/// `blk_queue_write_cache()`: the queue has a volatile write cache and sysfs
/// has not turned it off.
///
/// # Safety
///
/// `l` must point to the `limits` of a live request queue.
pub(crate) unsafe fn write_cache_enabled(l: *const bindings::queue_limits) -> bool {
    // SAFETY: Guaranteed by the caller.
    let (features, flags) = unsafe {
        (
            read_limit(&raw const (*l).features),
            read_limit(&raw const (*l).flags),
        )
    };
    features & bindings::BLK_FEAT_WRITE_CACHE != 0
        && flags & bindings::BLK_FLAG_WRITE_CACHE_DISABLED == 0
}
