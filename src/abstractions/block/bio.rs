// SPDX-License-Identifier: GPL-2.0

//! `struct bio` as seen by a device-mapper target: its operation, flags,
//! position and data, remapping, and copying its data out.

use crate::abstractions::bindings;
use crate::abstractions::block::BlockDevice;
use crate::abstractions::page::{PageBuf, PageReserve, PAGE_SIZE};
use crate::abstractions::spinlock_irq::{new_spinlock_irq, SpinLockIrq};
use core::pin::Pin;
use kernel::error::{code::EINVAL, Result};
#[cfg(not(lw_pin_init_crate))]
use kernel::init::pin_init_from_closure;
use kernel::new_condvar;
use kernel::prelude::PinInit;
use kernel::prelude::{pin_data, pinned_drop, try_pin_init};
use kernel::sync::{Arc, CondVar};
use kernel::types::Opaque;
#[cfg(lw_pin_init_crate)]
use pin_init::pin_init_from_closure;

/// The operation of a bio (`bio_op()`), as far as targets here care.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ReqOp {
    /// `REQ_OP_READ`.
    Read,
    /// `REQ_OP_WRITE`.
    Write,
    /// `REQ_OP_FLUSH`.
    Flush,
    /// `REQ_OP_DISCARD`.
    Discard,
    /// `REQ_OP_WRITE_ZEROES`.
    WriteZeroes,
    /// Any other operation.
    Other(u32),
}

/// A bio handed to a target.
///
/// # Invariants
///
/// The wrapped `struct bio` is valid for as long as the reference to this
/// value, and the target may inspect it and change its device.
#[repr(transparent)]
pub(crate) struct Bio(Opaque<bindings::bio>);

impl Bio {
    /// Wraps a raw bio.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid bio that nothing else accesses for `'a`,
    /// other than through the returned reference.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::bio) -> &'a mut Bio {
        // SAFETY: `Bio` is a transparent wrapper of `bio`; validity and
        // exclusivity are guaranteed by the caller.
        unsafe { &mut *ptr.cast::<Bio>() }
    }

    fn raw(&self) -> &bindings::bio {
        // SAFETY: The bio is valid for the lifetime of `self` (invariant).
        unsafe { &*self.0.get() }
    }

    fn opf(&self) -> u32 {
        self.raw().bi_opf
    }

    /// The operation (`bio_op()`).
    pub(crate) fn op(&self) -> ReqOp {
        match self.opf() & ((1 << bindings::REQ_OP_BITS) - 1) {
            bindings::req_op_REQ_OP_READ => ReqOp::Read,
            bindings::req_op_REQ_OP_WRITE => ReqOp::Write,
            bindings::req_op_REQ_OP_FLUSH => ReqOp::Flush,
            bindings::req_op_REQ_OP_DISCARD => ReqOp::Discard,
            bindings::req_op_REQ_OP_WRITE_ZEROES => ReqOp::WriteZeroes,
            op => ReqOp::Other(op),
        }
    }

    /// Whether data flows to the device (`op_is_write()`: odd operations).
    pub(crate) fn is_write(&self) -> bool {
        self.opf() & 1 != 0
    }

    /// `REQ_PREFLUSH`: flush the device's volatile cache first.
    pub(crate) fn is_preflush(&self) -> bool {
        self.opf() & (1 << bindings::req_flag_bits___REQ_PREFLUSH) != 0
    }

    /// `REQ_FUA`: the data is durable when the bio completes.
    pub(crate) fn is_fua(&self) -> bool {
        self.opf() & (1 << bindings::req_flag_bits___REQ_FUA) != 0
    }

    /// `REQ_META`: filesystem metadata.
    pub(crate) fn is_meta(&self) -> bool {
        self.opf() & (1 << bindings::req_flag_bits___REQ_META) != 0
    }

    /// First 512-byte sector.
    pub(crate) fn sector(&self) -> u64 {
        self.raw().bi_iter.bi_sector
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> u32 {
        self.raw().bi_iter.bi_size
    }

    /// Size in 512-byte sectors (`bio_sectors()`).
    pub(crate) fn sectors(&self) -> u64 {
        u64::from(self.size()) >> bindings::SECTOR_SHIFT
    }

    /// Sends the bio to `dev` (`bio_set_dev()`, whose static inline body
    /// this mirrors).
    ///
    /// # Safety
    ///
    /// `dev` must stay open until the bio has completed (the borrow may
    /// end sooner).
    pub(crate) unsafe fn set_dev(&mut self, dev: &BlockDevice) {
        let bdev = dev.as_ptr();
        // SAFETY: The bio is valid and ours to change (invariant).
        let bio = unsafe { &mut *self.0.get() };
        bio.bi_flags &= !(1 << bindings::BIO_REMAPPED);
        if bio.bi_bdev != bdev {
            bio.bi_flags &= !(1 << bindings::BIO_BPS_THROTTLED);
        }
        bio.bi_bdev = bdev;
        #[cfg(CONFIG_BLK_CGROUP)]
        // SAFETY: The bio is valid and now has a device.
        unsafe {
            bindings::bio_associate_blkg(bio)
        };
    }

    /// `bio_has_data()`: the bio carries data pages. A discard or a
    /// write-zeroes bio has a size but no vector to walk.
    pub(crate) fn has_data(&self) -> bool {
        self.size() != 0
            && !matches!(self.op(), ReqOp::Discard | ReqOp::WriteZeroes)
            && self.opf() & ((1 << bindings::REQ_OP_BITS) - 1)
                != bindings::req_op_REQ_OP_SECURE_ERASE
    }

    /// Copies the bio's data into a new [`PageBuf`] of pages from `pages`:
    /// every segment in order, as `bio_for_each_segment()` walks them (this
    /// mirrors its `bvec_iter_*` arithmetic on a copy of the iterator).
    /// Fails with `EINVAL` for a bio that carries no data
    /// ([`Bio::has_data`]).
    pub(crate) fn copy_data(&self, pages: &Arc<PageReserve>) -> Result<PageBuf> {
        if !self.has_data() {
            return Err(EINVAL);
        }
        let raw = self.raw();
        PageBuf::copy_from(pages, raw.bi_iter.bi_size as usize, |sink| {
            let mut iter = raw.bi_iter;
            while iter.bi_size > 0 {
                // SAFETY: While `bi_size` is non-zero, `bi_idx` indexes a
                // valid entry of the bio's vector (block layer invariant).
                let bv = unsafe { &*raw.bi_io_vec.add(iter.bi_idx as usize) };
                let seg = iter.bi_size.min(bv.bv_len - *bvec_done(&mut iter)) as usize;
                let off = (bv.bv_offset + *bvec_done(&mut iter)) as usize;
                // `nth_page()`: page structs are contiguous with a vmemmap
                // or without sparse memory (refused at build time below
                // otherwise).
                // SAFETY: `bv_page` plus the offset's page index stays within
                // the (possibly multi-page) segment the bvec describes.
                let page = unsafe { bv.bv_page.add(off / PAGE_SIZE) };
                let in_page = off % PAGE_SIZE;
                let len = seg.min(PAGE_SIZE - in_page);
                // SAFETY: `page` is a valid page of the bio's data; the local
                // mapping is released below.
                let addr = unsafe { bindings::kmap_local_page(page) }.cast::<u8>();
                // The writer may still change these bytes (an `O_DIRECT`
                // buffer, a page under writeback): copy them as memory
                // others write, never through a slice.
                // SAFETY: `addr + in_page` maps `len` readable bytes inside
                // that page, which is not one of the sink's.
                let r = unsafe { sink.append_raw(addr.add(in_page), len) };
                // SAFETY: `addr` came from `kmap_local_page` above.
                unsafe { bindings::kunmap_local(addr.cast()) };
                r?;
                // `bvec_iter_advance_single()`.
                iter.bi_size -= len as u32;
                *bvec_done(&mut iter) += len as u32;
                if *bvec_done(&mut iter) == bv.bv_len {
                    iter.bi_idx += 1;
                    *bvec_done(&mut iter) = 0;
                }
            }
            Ok(())
        })
    }
}

/// The bytes of the current bvec an iterator is past: `bi_bvec_done`,
/// which 7.x renamed `bi_offset`.
#[cfg(not(lw_bvec_bi_offset))]
fn bvec_done(iter: &mut bindings::bvec_iter) -> &mut u32 {
    &mut iter.bi_bvec_done
}
#[cfg(lw_bvec_bi_offset)]
fn bvec_done(iter: &mut bindings::bvec_iter) -> &mut u32 {
    &mut iter.bi_offset
}

// `nth_page()` is plain pointer arithmetic only where page structs are
// contiguous; `copy_data` relies on it.
#[cfg(all(CONFIG_SPARSEMEM, not(CONFIG_SPARSEMEM_VMEMMAP)))]
compile_error!("Bio::copy_data needs SPARSEMEM_VMEMMAP or flat memory (nth_page())");

/// A private pool of bios (`struct bio_set`): allocations from it with a
/// flag that may sleep wait for one of its own bios to be freed instead of
/// failing, so a submitter that must make progress (a logging thread that
/// writers wait on) does not depend on the general-purpose pool that the
/// filesystems above share.
///
/// Dropping the set waits until every bio allocated from it is freed, so
/// bios need not keep it alive: the set is torn down (`bioset_exit`, which
/// sleeps) where its owner drops it, never in a bio's completion.
///
/// # Invariants
///
/// `inner` was initialised by `bioset_init` with `front_pad` bytes before
/// each bio, and is torn down with `bioset_exit` on drop, once `live`, the
/// number of bios allocated by [`BioSet::alloc`] and not yet freed by
/// [`BioSet::free`], is zero.
#[pin_data(PinnedDrop)]
pub(crate) struct BioSet {
    #[pin]
    inner: Opaque<bindings::bio_set>,
    front_pad: u32,
    #[pin]
    live: SpinLockIrq<usize>,
    /// Signalled when `live` drops to zero.
    #[pin]
    all_freed: CondVar,
}

// SAFETY: A bio set is used from any thread; the kernel synchronises it,
// and `live` is under its lock.
unsafe impl Send for BioSet {}
// SAFETY: As above: allocation and freeing are thread-safe.
unsafe impl Sync for BioSet {}

impl BioSet {
    /// A bio set that keeps `pool_size` bios (with their vectors) in
    /// reserve, each with `front_pad` bytes of the owner's before it.
    pub(crate) fn new(pool_size: u32, front_pad: u32) -> impl PinInit<Self, kernel::error::Error> {
        // SAFETY: On `Ok` the slot is initialised by `bioset_init`; on
        // error `bioset_init` has already undone its partial work (it calls
        // `bioset_exit`, which needs the zeroed fields written first).
        let init = unsafe {
            pin_init_from_closure(move |slot: *mut Opaque<bindings::bio_set>| {
                // The bio sits `front_pad` bytes into its allocation: the
                // padding must keep it aligned, and stay small.
                if front_pad as usize % core::mem::align_of::<bindings::bio>() != 0
                    || front_pad as usize > PAGE_SIZE
                {
                    return Err(EINVAL);
                }
                // `Opaque<T>` is a transparent wrapper of `T`.
                let bs = slot.cast::<bindings::bio_set>();
                core::ptr::write_bytes(bs, 0, 1);
                kernel::error::to_result(bindings::bioset_init(
                    bs,
                    pool_size,
                    front_pad,
                    bindings::BIOSET_NEED_BVECS,
                ))
            })
        };
        try_pin_init!(BioSet {
            inner <- init,
            front_pad,
            live <- new_spinlock_irq!(0, "BioSet::live"),
            all_freed <- new_condvar!("BioSet::all_freed"),
        }? kernel::error::Error)
    }

    /// Bytes before each bio of the set that belong to its owner.
    pub(crate) fn front_pad(&self) -> u32 {
        self.front_pad
    }

    /// Allocates a bio from the set (`bio_alloc_bioset()`) for `bdev`, with
    /// room for `nr_vecs` pages and operation `opf`, or null. Free it with
    /// [`BioSet::free`], on this set, or the set's drop waits forever.
    ///
    /// # Safety
    ///
    /// `bdev` must be an open block device, and `nr_vecs` at most
    /// `BIO_MAX_VECS`.
    pub(crate) unsafe fn alloc(
        &self,
        bdev: *mut bindings::block_device,
        nr_vecs: u16,
        opf: u32,
        gfp: bindings::gfp_t,
    ) -> *mut bindings::bio {
        // Counted first: the set must not go away under the allocation.
        *self.live.lock() += 1;
        // SAFETY: The set is initialised (invariant); the rest is the
        // caller's guarantee.
        let bio = unsafe { bindings::bio_alloc_bioset(bdev, nr_vecs, opf, gfp, self.inner.get()) };
        if bio.is_null() {
            // No bio: the set is ours (`&self`) past this, unlike in `free`.
            self.freed_one();
        }
        bio
    }

    /// Drops the last reference to a bio [`BioSet::alloc`] returned
    /// (`bio_put()`). Callable in any context. Takes the set by pointer:
    /// once the count drops, the set may be freed, even before this
    /// returns, so no reference to it may be live across that point.
    ///
    /// # Safety
    ///
    /// `this` must point to the set `bio` came from, which is alive until
    /// the count drops; the caller must hold the bio's last reference, and
    /// must not use the set afterwards.
    pub(crate) unsafe fn free(this: *const BioSet, bio: *mut bindings::bio) {
        // SAFETY: The caller's guarantee; the bio goes back to this set,
        // which `live` keeps alive until the count below.
        unsafe { bindings::bio_put(bio) };
        // SAFETY: As above: the set is alive until `live` drops to zero,
        // which happens inside this call, with nothing touched after it
        // but the lock's release.
        unsafe { (*this).freed_one() };
    }

    fn freed_one(&self) {
        let mut live = self.live.lock();
        *live -= 1;
        if *live == 0 {
            // Under the lock: the waiter in `drop` cannot free the set
            // before this returns and the lock is released.
            self.all_freed.notify_all();
        }
    }
}

#[pinned_drop]
impl PinnedDrop for BioSet {
    fn drop(self: Pin<&mut Self>) {
        let mut live = self.live.lock();
        while *live > 0 {
            self.all_freed.wait(&mut live);
        }
        drop(live);
        // SAFETY: Initialised by `bioset_init` (invariant); every bio of the
        // set has been freed.
        unsafe { bindings::bioset_exit(self.inner.get()) };
    }
}
