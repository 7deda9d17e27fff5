// SPDX-License-Identifier: GPL-2.0

//! Writing to the log device: bios the target builds and submits itself,
//! and [`IoBatch`], which counts them until they complete so that the
//! submitter can wait for all of them and learn whether any failed.

use crate::abstractions::bindings;
use crate::abstractions::block::bio::BioSet;
use crate::abstractions::block::{BlockDevice, BlockDeviceFile};
use crate::abstractions::page::{NoIoPage, PAGE_SIZE};
use crate::abstractions::spinlock_irq::{new_spinlock_irq, SpinLockIrq};
use core::marker::PhantomData;
use kernel::alloc::flags::GFP_KERNEL;
use kernel::error::{code::*, Result};
use kernel::new_condvar;
use kernel::prelude::*;
use kernel::sync::{Arc, CondVar};

struct BatchState {
    /// Bios submitted and not completed yet.
    pending: usize,
    /// `blk_status_t` of the first bio that failed, 0 if none. Kept:
    /// a batch that saw a failure reports it to every later wait.
    error: u8,
}

/// Bios in flight to the log device, and whether any failed.
#[pin_data]
pub(crate) struct IoBatch {
    #[pin]
    state: SpinLockIrq<BatchState>,
    #[pin]
    idle: CondVar,
}

impl IoBatch {
    /// Creates an empty batch.
    pub(crate) fn new() -> Result<Arc<IoBatch>> {
        Arc::pin_init(
            pin_init!(IoBatch {
                state <- new_spinlock_irq!(BatchState { pending: 0, error: 0 }, "IoBatch::state"),
                idle <- new_condvar!("IoBatch::idle"),
            }),
            GFP_KERNEL,
        )
    }

    fn complete(&self, status: u8) {
        let mut s = self.state.lock();
        if status != 0 && s.error == 0 {
            s.error = status;
        }
        s.pending -= 1;
        if s.pending == 0 {
            self.idle.notify_all();
        }
    }

    /// Counts a write of the batch that could not be submitted as one that
    /// failed: every later [`IoBatch::wait`] reports it, so that nothing
    /// written after it (a record that counts it, say) is taken for
    /// complete while a hole lies before it.
    pub(crate) fn not_sent(&self) {
        let mut s = self.state.lock();
        if s.error == 0 {
            s.error = BLK_STS_IOERR;
        }
    }

    /// Waits until every bio submitted so far has completed. Returns the
    /// `blk_status_t` of the first bio of the batch that ever failed, or
    /// `Ok` if none has: the failure is not forgotten, so that of two
    /// tasks waiting, neither can take it from the other and go on as if
    /// every write had landed.
    pub(crate) fn wait(&self) -> core::result::Result<(), u8> {
        let mut s = self.state.lock();
        while s.pending > 0 {
            self.idle.wait(&mut s);
        }
        match s.error {
            0 => Ok(()),
            e => Err(e),
        }
    }
}

/// `BLK_STS_IOERR` (`include/linux/blk_types.h`, a macro bindgen does not
/// see): the status of a write [`submit_write`] could not send.
const BLK_STS_IOERR: u8 = 10;

/// Most pages one bio can carry (`BIO_MAX_VECS`).
pub(crate) const BIO_MAX_VECS: usize = 256;

/// The pages of a bio being built. `'x` brands the pages: only pages
/// borrowed from the owner that the bio keeps alive can be added.
///
/// # Invariants
///
/// `bio` was allocated by [`submit_write`] and is not submitted yet; its
/// context holds the owner that every page borrowed for `'x` belongs to,
/// until the bio completes.
pub(crate) struct BioPages<'x> {
    bio: *mut bindings::bio,
    _brand: PhantomData<fn(&'x ()) -> &'x ()>,
}

impl<'x> BioPages<'x> {
    /// Appends the first `len` bytes of `page` (1 to `PAGE_SIZE`).
    pub(crate) fn add(&mut self, page: &'x NoIoPage, len: usize) -> Result {
        // `bio_add_page` takes multi-page segments: a longer length would
        // have the device read the pages after this one.
        if len == 0 || len > PAGE_SIZE {
            return Err(EINVAL);
        }
        let len_u32 = u32::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: `self.bio` is a live bio that has not been submitted; the
        // page stays alive until the bio completes, because it is borrowed
        // (brand `'x`) from the owner that `submit_write` keeps in the bio.
        let added = unsafe { bindings::bio_add_page(self.bio, page.as_ptr(), len_u32, 0) };
        if added as usize == len {
            Ok(())
        } else {
            Err(E2BIG)
        }
    }
}

/// What a bio built by [`submit_write`] carries, in the front padding of
/// the bio (no allocation of its own: a bio from the set's reserve comes
/// with it).
///
/// # Invariants
///
/// Written once when the bio is allocated and read out once, when it
/// completes or is put unsubmitted; `bios` is the set the bio came from.
struct BioContext<T> {
    batch: Arc<IoBatch>,
    owner: Arc<T>,
    /// Keeps the device open until the bio has completed, however soon
    /// the submitter lets go of it.
    dev: BlockDeviceFile,
    /// The set the bio came from: valid until the bio is freed, since
    /// dropping the set waits for that.
    bios: *const BioSet,
}

/// Front padding a [`BioSet`] needs for [`submit_write`]: a
/// [`BioContext`], whatever its owner type (five pointers), kept at the
/// bio's alignment.
pub(crate) const BIO_CONTEXT_PAD: u32 = {
    let size = core::mem::size_of::<BioContext<IoBatch>>();
    let align = core::mem::align_of::<bindings::bio>();
    (size.div_ceil(align) * align) as u32
};

impl<T> BioContext<T> {
    /// Where the context of `bio` lives: right before it.
    ///
    /// # Safety
    ///
    /// `bio` must come from a set with at least [`BIO_CONTEXT_PAD`] bytes
    /// of front padding.
    unsafe fn slot(bio: *mut bindings::bio) -> *mut BioContext<T> {
        const {
            assert!(core::mem::size_of::<BioContext<T>>() <= BIO_CONTEXT_PAD as usize);
            assert!(
                core::mem::align_of::<BioContext<T>>() <= core::mem::align_of::<bindings::bio>()
            );
        }
        // SAFETY: The padding is part of the same allocation (caller).
        unsafe { bio.cast::<u8>().sub(BIO_CONTEXT_PAD as usize).cast() }
    }
}

/// How a log write reaches the device.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteKind {
    /// A plain write: durable only after a later flush.
    Plain,
    /// `REQ_PREFLUSH | REQ_FUA`: every write completed before it is made
    /// durable first, then this one is durable when it completes.
    Durable,
    /// An empty `REQ_PREFLUSH`: makes every write completed before it
    /// durable (no pages).
    Flush,
}

/// What the owner of a bio's pages does when the bio completes, in its
/// completion context (may be an interrupt: no sleeping), before the
/// owner reference is dropped and the batch counts the completion.
///
/// That drop runs in the completion context too: if it may be the last
/// reference, nothing the owner holds may sleep when dropped (a table
/// device, a bio set, a thread handle). And `done` may run before
/// [`submit_write`] returns (the block layer ends an empty flush to a
/// device without a write cache, or a bio past the end, at once), so the
/// caller must not hold a lock that `done` takes.
pub(crate) trait Completion {
    /// `status` is the bio's `blk_status_t` (0: success).
    fn done(&self, _status: u8) {}
}

/// Builds and submits one write bio, allocated from `bios`, to `dev` at
/// 512-byte `sector` with room for `nr_vecs` pages. `fill` adds pages
/// borrowed from `owner`; the bio holds `owner` until it completes, then
/// `batch` counts the completion. Nothing is submitted if `fill` fails, or
/// (`EINVAL`) if it added nothing to a write that is not a flush, or a
/// length that is not a multiple of 512 bytes; a write not submitted counts
/// in `batch` as one that failed.
///
/// Process context (the allocation may sleep), and not from a bio's
/// submission path (`map`): the bio set has no rescuer.
#[allow(clippy::too_many_arguments)]
pub(crate) fn submit_write<T, F>(
    bios: &Arc<BioSet>,
    dev: &BlockDeviceFile,
    sector: u64,
    kind: WriteKind,
    nr_vecs: u16,
    batch: &Arc<IoBatch>,
    owner: Arc<T>,
    fill: F,
) -> Result
where
    T: Completion + Send + Sync + 'static,
    F: for<'x> FnOnce(&mut BioPages<'x>, &'x T) -> Result,
{
    // Every way out without a submitted bio counts in the batch.
    let submitted = move || -> Result {
        // More vectors than `BIO_MAX_VECS` is a `BUG()` in `bvec_alloc()`.
        if bios.front_pad() < BIO_CONTEXT_PAD || usize::from(nr_vecs) > BIO_MAX_VECS {
            return Err(EINVAL);
        }
        let opf = match kind {
            WriteKind::Plain => bindings::req_op_REQ_OP_WRITE,
            WriteKind::Durable => {
                bindings::req_op_REQ_OP_WRITE
                    | 1 << bindings::req_flag_bits___REQ_PREFLUSH
                    | 1 << bindings::req_flag_bits___REQ_FUA
            }
            WriteKind::Flush => {
                bindings::req_op_REQ_OP_WRITE | 1 << bindings::req_flag_bits___REQ_PREFLUSH
            }
        };
        // The bio's own reference to the device, taken before the bio exists.
        let dev = dev.clone();
        // SAFETY: `dev` is open until the bio completes (the context below
        // holds it); `nr_vecs` was checked above. GFP_NOIO may sleep, so the
        // allocation waits for the set's reserve rather than fail.
        let bio = unsafe { bios.alloc(dev.as_ptr(), nr_vecs, opf, bindings::GFP_NOIO) };
        if bio.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `bios` has the padding (checked above), so the slot is in the
        // bio's allocation, unused by anyone else, and suitably aligned.
        let ctx = unsafe {
            let ctx = BioContext::<T>::slot(bio);
            ctx.write(BioContext {
                batch: batch.clone(),
                owner,
                dev,
                bios: &raw const **bios,
            });
            ctx
        };
        // SAFETY: The context was written above; the owner it holds is dropped
        // only when the bio completes (or right here if `fill` fails, before
        // the unsubmitted bio is put).
        let owner_ref: &T = unsafe { &(*ctx).owner };
        let mut pages = BioPages {
            bio,
            _brand: PhantomData,
        };
        // A plain or FUA write must carry data: an empty one is not a request
        // the block layer defines (only an empty flush is).
        let filled = fill(&mut pages, owner_ref).and_then(|()| {
            // SAFETY: `bio` is ours and unsubmitted.
            let size = unsafe { (*bio).bi_iter.bi_size };
            // Whole sectors only: the block layer checks a bio against the end
            // of the device in sectors, so a shorter tail would pass unchecked.
            if (kind != WriteKind::Flush && size == 0) || size % 512 != 0 {
                Err(EINVAL)
            } else {
                Ok(())
            }
        });
        if let Err(e) = filled {
            // SAFETY: The context was written above and is dropped once; the
            // bio was allocated from `bios` above and never submitted.
            unsafe {
                core::ptr::drop_in_place(ctx);
                BioSet::free(&raw const **bios, bio);
            }
            return Err(e);
        }
        batch.state.lock().pending += 1;
        // SAFETY: `bio` is valid and ours until submitted; `write_end_io` takes
        // back the context from the front padding.
        unsafe {
            (*bio).bi_iter.bi_sector = sector;
            (*bio).bi_end_io = Some(write_end_io::<T>);
            bindings::submit_bio(bio);
        }
        Ok(())
    };
    let r = submitted();
    if r.is_err() {
        batch.not_sent();
    }
    r
}

/// Completion of a bio built by [`submit_write`].
///
/// # Safety
///
/// Only the block layer calls this, once, for a bio `submit_write::<T>`
/// submitted.
unsafe extern "C" fn write_end_io<T: Completion + Send + Sync + 'static>(bio: *mut bindings::bio) {
    // SAFETY: The block layer passes the completed bio, from a set with the
    // padding, where `submit_write` wrote the context: it is read out once,
    // before the bio (and with it the padding) is freed.
    let (ctx, status) = unsafe { (BioContext::<T>::slot(bio).read(), (*bio).bi_status) };
    let BioContext {
        batch,
        owner,
        dev,
        bios,
    } = ctx;
    // SAFETY: The set is alive until its bios are freed, this one included;
    // we own the bio's last reference (from `BioSet::alloc`), and do not
    // use the set afterwards.
    unsafe { BioSet::free(bios, bio) };
    // The bio is gone: the device may close (`fput()` defers that out of
    // interrupt context).
    drop(dev);
    // Release the data before counting the completion: once the batch is
    // idle, the target may go away.
    owner.done(status);
    drop(owner);
    batch.complete(status);
}

/// Runs `f` with the current task's bios plugged (`blk_start_plug()` /
/// `blk_finish_plug()`): bios `f` submits are held on the task and sent
/// down together at the end (or when the task sleeps), so the block layer
/// can merge consecutive log writes into fewer, larger requests.
pub(crate) fn plugged<R>(f: impl FnOnce() -> R) -> R {
    let mut plug = core::mem::MaybeUninit::<bindings::blk_plug>::uninit();
    // SAFETY: `blk_start_plug` initialises the plug and makes it the task's
    // current plug; it stays in this frame, unmoved, until
    // `blk_finish_plug` below detaches it. A task may nest plugs (an inner
    // one is ignored).
    unsafe { bindings::blk_start_plug(plug.as_mut_ptr()) };
    let r = f();
    // SAFETY: The plug was started above in this frame and is still the
    // task's plug.
    unsafe { bindings::blk_finish_plug(plug.as_mut_ptr()) };
    r
}

/// Reads `buf.len()` bytes (at most a page, a non-zero multiple of 512) at 512-byte
/// `sector` of `dev` into `buf`, waiting for the read. The bio comes from
/// `bios`, not from the kernel's shared `fs_bio_set`: while a device above
/// is suspended, bios of that set may be held there, and a reserve they
/// hold up must not be the one this read waits on. Process context.
pub(crate) fn read_sync(bios: &BioSet, dev: &BlockDevice, sector: u64, buf: &mut [u8]) -> Result {
    let len = u32::try_from(buf.len()).map_err(|_| EINVAL)?;
    // An empty read would reach the driver as a read of no defined size.
    if len == 0 || buf.len() > crate::abstractions::page::PAGE_SIZE || len % 512 != 0 {
        return Err(EINVAL);
    }
    let page = NoIoPage::new()?;
    // SAFETY: `dev` is open while borrowed; one vector.
    let bio = unsafe {
        bios.alloc(
            dev.as_ptr(),
            1,
            bindings::req_op_REQ_OP_READ,
            bindings::GFP_NOIO,
        )
    };
    if bio.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `bio` is ours and unsubmitted; `page` outlives the bio, which
    // is waited for and freed below, before `page` drops; `bios` is
    // borrowed, so alive after the free.
    let r = unsafe {
        (*bio).bi_iter.bi_sector = sector;
        let r = if bindings::bio_add_page(bio, page.as_ptr(), len, 0) as u32 != len {
            -(bindings::EIO as i32)
        } else {
            bindings::submit_bio_wait(bio)
        };
        BioSet::free(bios, bio);
        r
    };
    kernel::error::to_result(r)?;
    page.read(0, buf)
}
