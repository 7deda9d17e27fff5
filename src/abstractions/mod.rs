// SPDX-License-Identifier: GPL-2.0

//! Kernel abstractions the target is built on, shaped like upstream
//! `rust/kernel` and written to be sent there: nothing here knows about
//! log-writes. Every `unsafe` block of the module is in this subtree, and
//! so is every difference between the kernels it builds for (6.12 and
//! 7.3): `cfg` flags that Kbuild probes from the kernel tree.
//!
//! - [`block`]: the block layer: [`block::BlockDevice`], bios
//!   ([`block::bio`]) and bio sets, and submitting and waiting for bios of
//!   one's own ([`block::io`]). It does not depend on device mapper.
//! - [`device_mapper`]: a target type (`struct target_type`) as a
//!   `#[vtable]` trait, its registration, the table's devices and the
//!   mapped device, status and message plumbing.
//! - [`page`]: owned pages, page buffers, a page reserve and the no-I/O
//!   allocation scope.
//! - [`kthread`]: a kernel thread that runs a closure until stopped.
//! - [`list`]: a node type for `kernel::list` lists of reference-counted
//!   values.
//! - [`spinlock_irq`]: a spinlock taken with interrupts disabled, for state
//!   shared with completion (interrupt) context.
//! - [`time`]: a point in monotonic time, whichever clock type the kernel
//!   has.
//! - [`bindings`]: the C declarations these need beyond `kernel::bindings`.

pub(crate) mod bindings;
pub(crate) mod block;
pub(crate) mod device_mapper;
pub(crate) mod kthread;
pub(crate) mod list;
pub(crate) mod page;
pub(crate) mod spinlock_irq;
pub(crate) mod time;
