// SPDX-License-Identifier: GPL-2.0

//! Block device access the workloads need: O_DIRECT with aligned buffers,
//! size queries and discards.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

// From <linux/fs.h>.
const BLKSSZGET: libc::c_ulong = 0x1268; // _IO(0x12, 104)
const BLKDISCARD: libc::c_ulong = 0x1277; // _IO(0x12, 119)
const BLKGETSIZE64: libc::c_ulong = 0x8008_1272; // _IOR(0x12, 114, size_t)

/// Opens `path` for O_DIRECT writes, adding `O_DSYNC` (FUA writes on a
/// block device) when `dsync` is set.
pub fn open_direct(path: &Path, dsync: bool) -> io::Result<File> {
    let mut flags = libc::O_DIRECT;
    if dsync {
        flags |= libc::O_DSYNC;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(flags)
        .open(path)
}

/// Size in bytes of the block device behind `f`.
pub fn size(f: &File) -> io::Result<u64> {
    let mut v: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which points
    // to a live u64.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), BLKGETSIZE64, &mut v as *mut u64) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v)
}

/// Logical block size of the block device behind `f`.
pub fn logical_block_size(f: &File) -> io::Result<u64> {
    let mut v: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int through the pointer, which points to
    // a live int.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), BLKSSZGET, &mut v as *mut libc::c_int) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v as u64)
}

/// Discards `len` bytes at `start`.
pub fn discard(f: &File, start: u64, len: u64) -> io::Result<()> {
    let range = [start, len];
    // SAFETY: BLKDISCARD reads two u64 through the pointer, which points to
    // a live array of two u64.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), BLKDISCARD, range.as_ptr()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A heap buffer aligned for O_DIRECT.
///
/// # Invariants
///
/// `ptr` points to an allocation of `len` bytes made with `layout()`.
pub struct AlignedBuf {
    ptr: *mut u8,
    len: usize,
}

const ALIGN: usize = 4096;

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes (`len` > 0).
    pub fn new(len: usize) -> AlignedBuf {
        let layout = Self::layout(len);
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // INVARIANT: allocated just above with `layout(len)`.
        AlignedBuf { ptr, len }
    }

    fn layout(len: usize) -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(len.max(1), ALIGN).expect("buffer size overflows")
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: by the type invariant `ptr` is valid for `len` bytes,
        // initialised (alloc_zeroed) and owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl std::ops::DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the allocation was made with this
        // layout and is freed only here.
        unsafe { std::alloc::dealloc(self.ptr, Self::layout(self.len)) }
    }
}

// SAFETY: the buffer is plain owned memory with no thread affinity.
unsafe impl Send for AlignedBuf {}
