// SPDX-License-Identifier: GPL-2.0

//! Pages allocated without I/O, for data copied on the I/O path, built on
//! `kernel::page::Page`, and a scope in which every allocation behaves as
//! `GFP_NOIO`.

use crate::abstractions::bindings;
use crate::abstractions::spinlock_irq::{new_spinlock_irq, SpinLockIrq};
use core::mem::ManuallyDrop;
use kernel::alloc::flags::{__GFP_NOWARN, __GFP_ZERO, GFP_KERNEL, GFP_NOWAIT};
use kernel::alloc::{Flags, KVec};
use kernel::error::Result;
use kernel::page::Page;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Bytes in a page.
pub(crate) const PAGE_SIZE: usize = bindings::PAGE_SIZE;

/// One page owned by this value, allocated without starting I/O, so it is
/// safe to allocate while servicing a bio: a [`Page`] whose allocation
/// runs in a [`noio_scope`] (`kernel::alloc::Flags` has no `GFP_NOIO`).
/// Every access copies through the kernel's page mapping, so a page that a
/// device reads by DMA (a bio in flight) is never covered by a reference.
///
/// # Invariants
///
/// The page is written only through `&mut NoIoPage`; while it is borrowed
/// shared (added to a bio, say), it is only read, by the CPU or by a
/// device.
pub(crate) struct NoIoPage(Page);

impl NoIoPage {
    /// Allocates a zeroed page (no warning on failure: the caller reports
    /// it).
    pub(crate) fn new() -> Result<Self> {
        Self::alloc(GFP_KERNEL | __GFP_ZERO)
    }

    /// Allocates a page whose content is left as it was: only for
    /// [`PageBuf`] and [`PageReserve`], which zero or overwrite every byte
    /// they let out.
    fn new_unzeroed() -> Result<Self> {
        Self::alloc(GFP_KERNEL)
    }

    /// Like [`NoIoPage::new_unzeroed`], but fails at once rather than
    /// reclaim (for callers with a reserve to fall back on).
    fn new_unzeroed_or_fail_fast() -> Result<Self> {
        Self::alloc(GFP_NOWAIT)
    }

    fn alloc(flags: Flags) -> Result<Self> {
        let page = noio_scope(|| Page::alloc_page(flags | __GFP_NOWARN))?;
        Ok(NoIoPage(page))
    }

    /// Copies `src` into the page at `offset`. Fails if it does not fit.
    pub(crate) fn write(&mut self, offset: usize, src: &[u8]) -> Result {
        // SAFETY: A slice is valid for reads of its length.
        unsafe { self.write_raw(offset, src.as_ptr(), src.len()) }
    }

    /// Copies `len` bytes from `src` into the page at `offset`, as `memcpy`
    /// does: without claiming that no one else writes them meanwhile (the
    /// data of a write in flight may change under it; the copy then holds
    /// some mix of old and new bytes, never anything else). Fails if they
    /// do not fit.
    ///
    /// # Safety
    ///
    /// `src` must be valid for reads of `len` bytes for the duration of the
    /// call, must not point into this page, and no Rust reference may cover
    /// those bytes while others write them.
    pub(crate) unsafe fn write_raw(&mut self, offset: usize, src: *const u8, len: usize) -> Result {
        // SAFETY: `src` is readable for `len` bytes (the caller's
        // guarantee); `&mut self` excludes any other access to the page
        // through this value, and a page that is in a bio is only borrowed
        // shared, so nothing reads or writes it concurrently.
        unsafe { self.0.write_raw(src, offset, len) }
    }

    /// Copies bytes from the page at `offset` into `dst`. Fails if they do
    /// not fit.
    pub(crate) fn read(&self, offset: usize, dst: &mut [u8]) -> Result {
        // SAFETY: `dst` is ours and valid for writes of its length; writes
        // to the page need `&mut self`, so none races with this read (a
        // device reading the page for a bio is not a write).
        unsafe { self.0.read_raw(dst.as_mut_ptr(), offset, dst.len()) }
    }

    /// Sets `len` bytes of the page at `offset` to zero. Fails if they do
    /// not fit.
    pub(crate) fn zero(&mut self, offset: usize, len: usize) -> Result {
        // SAFETY: `&mut self`: nothing else accesses the page meanwhile.
        unsafe { self.0.fill_zero_raw(offset, len) }
    }

    /// The `struct page`, for adding to a bio.
    pub(crate) fn as_ptr(&self) -> *mut bindings::page {
        self.0.as_ptr()
    }
}

/// Free pages kept for reuse, for tasks that take pages at a high rate and
/// give them back soon: [`PageReserve::get`] and [`PageReserve::take`]
/// hand out a kept page when there is one, and a [`ReservedPage`] goes
/// back to the kept ones when dropped (in any context) unless `keep` are
/// there already, rather than through the page allocator each time. The
/// first `n` pages are allocated when the reserve is made: like a
/// `mempool_alloc_pages` pool, a task that can wait for pages to come back
/// makes progress when memory is short.
#[pin_data]
pub(crate) struct PageReserve {
    #[pin]
    spare: SpinLockIrq<Kept>,
}

/// The pages a [`PageReserve`] keeps: a stack in slots allocated when the
/// reserve is made, so that giving a page back never allocates.
struct Kept {
    slots: KVec<Option<NoIoPage>>,
    /// Slots `..len` hold a page, the others none.
    len: usize,
}

impl Kept {
    fn pop(&mut self) -> Option<NoIoPage> {
        let i = self.len.checked_sub(1)?;
        self.len = i;
        self.slots.get_mut(i)?.take()
    }

    /// Keeps `page`, or gives it back when every slot is taken.
    fn push(&mut self, page: NoIoPage) -> core::result::Result<(), NoIoPage> {
        match self.slots.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(page);
                self.len += 1;
                Ok(())
            }
            None => Err(page),
        }
    }
}

impl PageReserve {
    /// A reserve with `n` pages allocated now, keeping up to `keep` (at
    /// least `n`) of those given back (process context).
    pub(crate) fn new(n: usize, keep: usize) -> Result<Arc<PageReserve>> {
        let keep = keep.max(n);
        let mut slots = KVec::with_capacity(keep, GFP_KERNEL)?;
        for i in 0..keep {
            let page = if i < n {
                Some(NoIoPage::new_unzeroed()?)
            } else {
                None
            };
            slots.push(page, GFP_KERNEL)?;
        }
        let spare = Kept { slots, len: n };
        Arc::pin_init(
            pin_init!(PageReserve {
                spare <- new_spinlock_irq!(spare, "PageReserve::spare"),
            }),
            GFP_KERNEL,
        )
    }

    fn reserved(self: &Arc<Self>, page: NoIoPage) -> ReservedPage {
        ReservedPage {
            page: ManuallyDrop::new(page),
            reserve: self.clone(),
        }
    }

    /// A page whose first `zeroed` bytes (all, past a page) are zero, or
    /// `None` when none is kept and none can be allocated without waiting:
    /// the caller waits for one to come back. The rest of the page holds
    /// what it last held, here or before it was allocated: only the first
    /// `zeroed` bytes, written over as needed, may leave the kernel (be
    /// added to a bio). Zeroing only what is used saves clearing a whole
    /// page for a sector.
    pub(crate) fn get(self: &Arc<Self>, zeroed: usize) -> Option<ReservedPage> {
        let kept = self.spare.lock().pop();
        let mut page = match kept {
            Some(page) => page,
            None => NoIoPage::new_unzeroed_or_fail_fast().ok()?,
        };
        // In bounds, so it cannot fail.
        let _ = page.zero(0, zeroed.min(PAGE_SIZE));
        Some(self.reserved(page))
    }

    /// A page holding whatever it held last, allocated (in a
    /// [`noio_scope`]) when none is kept: only for [`PageBuf`], which
    /// overwrites or zeroes every byte it lets out.
    fn take(self: &Arc<Self>) -> Result<ReservedPage> {
        let kept = self.spare.lock().pop();
        let page = match kept {
            Some(page) => page,
            None => NoIoPage::new_unzeroed()?,
        };
        Ok(self.reserved(page))
    }
}

/// A page from a [`PageReserve`]; back to its kept pages when dropped, if
/// it keeps fewer than it may, else freed.
///
/// # Invariants
///
/// `page` is initialised until `drop` takes it out.
pub(crate) struct ReservedPage {
    /// Valid until `drop` takes it.
    page: ManuallyDrop<NoIoPage>,
    reserve: Arc<PageReserve>,
}

impl core::ops::Deref for ReservedPage {
    type Target = NoIoPage;

    fn deref(&self) -> &NoIoPage {
        &self.page
    }
}

impl core::ops::DerefMut for ReservedPage {
    fn deref_mut(&mut self) -> &mut NoIoPage {
        &mut self.page
    }
}

impl Drop for ReservedPage {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once, and nothing uses `page` after it.
        let page = unsafe { ManuallyDrop::take(&mut self.page) };
        // Kept if there is room; if not, freed, after the lock.
        let unkept = self.reserve.spare.lock().push(page);
        drop(unkept);
    }
}

/// Where [`PageBuf::copy_from`] takes its bytes: appends them, in order,
/// to the buffer's pages.
pub(crate) struct PageSink<'a> {
    pages: &'a mut Pages,
    /// Bytes appended so far.
    at: usize,
    /// Bytes the buffer holds.
    len: usize,
}

impl PageSink<'_> {
    /// Appends `len` bytes read from `src`, which others may be writing
    /// meanwhile (see [`NoIoPage::write_raw`]). Fails, appending nothing,
    /// if they do not fit.
    ///
    /// # Safety
    ///
    /// As for [`NoIoPage::write_raw`]: `src` must be valid for reads of
    /// `len` bytes for the duration of the call and no Rust reference may
    /// cover them while others write them.
    pub(crate) unsafe fn append_raw(&mut self, mut src: *const u8, len: usize) -> Result {
        if len > self.len - self.at {
            return Err(kernel::error::code::EINVAL);
        }
        let end = self.at + len;
        while self.at < end {
            let in_page = self.at % PAGE_SIZE;
            let k = (end - self.at).min(PAGE_SIZE - in_page);
            let page = self
                .pages
                .get_mut(self.at / PAGE_SIZE)
                .ok_or(kernel::error::code::EINVAL)?;
            // SAFETY: `src` is readable for the `k` bytes left of `len`
            // (the caller's guarantee) and cannot point into our pages,
            // which are not reachable from outside the buffer.
            unsafe { page.write_raw(in_page, src, k)? };
            self.at += k;
            // SAFETY: `k` bytes past `src` are still within the `len`
            // bytes the caller said are readable (or one past their end).
            src = unsafe { src.add(k) };
        }
        Ok(())
    }
}

/// Runs `f` with every memory allocation of the current task behaving as
/// `GFP_NOIO`, like `memalloc_noio_save()`/`memalloc_noio_restore()`, whose
/// static inline bodies this mirrors. Used around `map`, so that the target
/// may allocate with ordinary flags there without recursing into I/O. A
/// closure, not a guard: the scope begins and ends on the same task, and
/// nested scopes end in the order they began.
pub(crate) fn noio_scope<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: `get_current` always returns the valid running task, and a
    // task's `flags` are only modified by the task itself.
    let saved = unsafe {
        let task = bindings::get_current();
        let saved = (*task).flags & bindings::PF_MEMALLOC_NOIO;
        (*task).flags |= bindings::PF_MEMALLOC_NOIO;
        saved
    };
    let r = f();
    // SAFETY: As above; still the same task, after `f`.
    unsafe {
        let task = bindings::get_current();
        (*task).flags = ((*task).flags & !bindings::PF_MEMALLOC_NOIO) | saved;
    }
    r
}

/// The pages of a [`PageBuf`], the first one inline: a buffer of one page
/// (a 4 KiB write) costs no allocation when its reserve keeps a page, and
/// one, its page, when not.
struct Pages {
    first: Option<ReservedPage>,
    rest: KVec<ReservedPage>,
}

impl Pages {
    /// `n` pages from `reserve`, not zeroed.
    fn take(reserve: &Arc<PageReserve>, n: usize) -> Result<Self> {
        let first = if n > 0 { Some(reserve.take()?) } else { None };
        let mut rest = KVec::new();
        if n > 1 {
            rest.reserve(n - 1, GFP_KERNEL)?;
            for _ in 1..n {
                rest.push(reserve.take()?, GFP_KERNEL)?;
            }
        }
        Ok(Pages { first, rest })
    }

    fn get(&self, i: usize) -> Option<&NoIoPage> {
        match i {
            0 => self.first.as_deref(),
            i => self.rest.get(i - 1).map(|p| &**p),
        }
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut NoIoPage> {
        match i {
            0 => self.first.as_deref_mut(),
            i => self.rest.get_mut(i - 1).map(|p| &mut **p),
        }
    }

    fn last_mut(&mut self) -> Option<&mut NoIoPage> {
        match self.rest.last_mut() {
            Some(page) => Some(page),
            None => self.first.as_deref_mut(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &NoIoPage> + '_ {
        Iterator::chain(self.first.iter(), self.rest.iter()).map(|p| &**p)
    }
}

/// Data bytes held in whole `GFP_NOIO` pages, filled front to back: the copy
/// of a write kept until it is logged.
///
/// # Invariants
///
/// Every byte of the first `len` bytes has been written through
/// [`PageBuf::copy_from`] before the buffer is returned, and the rest of the
/// last page zeroed, so the pages only hold bytes the caller wrote or
/// zeroes: they are not zeroed first (zeroing what is overwritten at once
/// cost measurable throughput), and no stale kernel memory may reach the
/// log or a reader.
pub(crate) struct PageBuf {
    pages: Pages,
    len: usize,
}

impl PageBuf {
    /// A buffer of `len` bytes in pages from `reserve`, filled, in order,
    /// by `fill` through a [`PageSink`]. Fails unless exactly `len` bytes
    /// arrive. Call within a [`noio_scope`] on the I/O path (the vector of
    /// the pages after the first is a plain allocation).
    pub(crate) fn copy_from(
        reserve: &Arc<PageReserve>,
        len: usize,
        fill: impl FnOnce(&mut PageSink<'_>) -> Result,
    ) -> Result<Self> {
        let mut pages = Pages::take(reserve, len.div_ceil(PAGE_SIZE))?;
        let mut sink = PageSink {
            pages: &mut pages,
            at: 0,
            len,
        };
        fill(&mut sink)?;
        if sink.at != len {
            return Err(kernel::error::code::EINVAL);
        }
        // The rest of the last page: zeroes, not what the page held before.
        let tail = len % PAGE_SIZE;
        if tail != 0 {
            let last = pages.last_mut().ok_or(kernel::error::code::EINVAL)?;
            last.zero(tail, PAGE_SIZE - tail)?;
        }
        // INVARIANT: all `len` bytes were written, in order, by the sink,
        // and the rest of the last page just above.
        Ok(PageBuf { pages, len })
    }

    /// Replaces bytes `at..at + len` with `src`'s bytes `src_at..src_at +
    /// len`. Fails, changing nothing, if either range is out of bounds.
    /// Allocates nothing: usable in any context.
    pub(crate) fn overwrite(
        &mut self,
        at: usize,
        src: &PageBuf,
        src_at: usize,
        len: usize,
    ) -> Result {
        src.check_range(src_at, len)?;
        self.update(at, len, |off, chunk| {
            // The chunk may cross a page of `src` (not of `self`).
            let from = src_at + off;
            let first = chunk.len().min(PAGE_SIZE - from % PAGE_SIZE);
            let (head, tail) = chunk.split_at_mut(first);
            for (part, from) in [(head, from), (tail, from + first)] {
                if !part.is_empty() {
                    let page = src
                        .pages
                        .get(from / PAGE_SIZE)
                        .ok_or(kernel::error::code::EINVAL)?;
                    page.read(from % PAGE_SIZE, part)?;
                }
            }
            Ok(())
        })
    }

    /// Sets bytes `at..at + len` to zero. Fails, changing nothing, if the
    /// range is out of bounds.
    pub(crate) fn zero(&mut self, at: usize, len: usize) -> Result {
        self.update(at, len, |_, chunk| {
            chunk.fill(0);
            Ok(())
        })
    }

    fn check_range(&self, at: usize, len: usize) -> Result {
        match at.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(kernel::error::code::EINVAL),
        }
    }

    /// Writes bytes `at..at + len` in chunks that stay within one page of
    /// both buffers: `fill(offset from at, chunk)` provides each.
    fn update(
        &mut self,
        at: usize,
        len: usize,
        mut fill: impl FnMut(usize, &mut [u8]) -> Result,
    ) -> Result {
        self.check_range(at, len)?;
        // Small enough for any stack, a divisor of the page size, and a
        // multiple of the 512-byte sector every caller works in.
        let mut buf = [0u8; 512];
        let mut done = 0;
        while done < len {
            let pos = at + done;
            let k = (len - done).min(buf.len() - pos % buf.len());
            let chunk = &mut buf[..k];
            fill(done, chunk)?;
            let page = self
                .pages
                .get_mut(pos / PAGE_SIZE)
                .ok_or(kernel::error::code::EINVAL)?;
            page.write(pos % PAGE_SIZE, chunk)?;
            done += k;
        }
        Ok(())
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The pages with the number of bytes used in each.
    pub(crate) fn pages(&self) -> impl Iterator<Item = (&NoIoPage, usize)> + '_ {
        let len = self.len;
        self.pages
            .iter()
            .enumerate()
            .map(move |(i, p)| (p, (len - i * PAGE_SIZE).min(PAGE_SIZE)))
    }
}
