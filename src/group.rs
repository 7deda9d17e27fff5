// SPDX-License-Identifier: GPL-2.0

//! Groups of log-writes devices (the `group:<name>` table option): one
//! order of durability events across several logs.
//!
//! Every entry a member logs takes the group's next number at the moment
//! it becomes durable, under the member's queue lock, where the member's
//! own order is decided ([`crate::log_thread::Queues`]); a plain write
//! takes one more when it completes into the device's cache. So each
//! member's log is in number order, and the numbers are one total order of
//! the events of every member, consistent with time: an event that
//! completed before another began has the smaller number. A filesystem
//! that writes to one member because a write on another became durable (a
//! journal commit after its log blocks were flushed, say) can only do so
//! after that member's completion took its number, so the dependent write's
//! number is larger. Members share nothing else: one atomic increment per
//! event is all they order each other by.
//!
//! The numbers are stored in the entry's header sector
//! ([`crate::logformat::group_trailer`]), the group name in the super
//! block; both are where the C format has zeroes that xfstests' replay-log
//! ignores.
//!
//! Safe code on top of the abstractions.

use crate::abstractions::list::ListNode;
use crate::logformat::{valid_group_name, GROUP_NAME_MAX};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use kernel::alloc::flags::GFP_KERNEL;
use kernel::list::List;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// One group: its name and its sequence.
pub(crate) struct Group {
    name: [u8; GROUP_NAME_MAX],
    name_len: usize,
    /// The number of the group's latest durability event.
    seq: AtomicU64,
    /// What the last [`Membership::continue_after`] raised `seq` to: while
    /// `seq` still equals it, no event has been numbered since. Changed
    /// under the lock of [`Groups`].
    continued_to: AtomicU64,
    /// Tables in the group; changed under the lock of [`Groups`].
    members: AtomicUsize,
}

impl Group {
    /// The group's name.
    pub(crate) fn name(&self) -> &[u8] {
        &self.name[..self.name_len]
    }

    /// The number of a durability event happening now. The caller holds
    /// the queue lock of the member logging it, so that the member's
    /// entries are numbered in its log's order.
    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A reference to a group, which members hold.
pub(crate) type GroupRef = Arc<ListNode<Group>>;

/// A table's membership: leaves the group when dropped.
pub(crate) struct Membership {
    groups: Arc<Groups>,
    group: GroupRef,
}

impl Membership {
    pub(crate) fn group(&self) -> &GroupRef {
        &self.group
    }

    /// This member continues a log (`append`) whose last entry had number
    /// `last`: the group's later events must come after it. If the group
    /// has numbered events since it last continued and is still below
    /// `last`, those events, later than this log's, have smaller numbers:
    /// returns the group's number then (every member must be loaded, which
    /// continues its log, before any resumes).
    pub(crate) fn continue_after(&self, last: u64) -> Result<(), u64> {
        let g = &self.group;
        // Serialises members continuing at once; events are numbered
        // meanwhile without the lock, hence the exchange.
        let _list = self.groups.list.lock();
        let mut cur = g.seq.load(Ordering::Relaxed);
        loop {
            if cur >= last {
                return Ok(());
            }
            if cur != g.continued_to.load(Ordering::Relaxed) {
                return Err(cur);
            }
            match g
                .seq
                .compare_exchange(cur, last, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    g.continued_to.store(last, Ordering::Relaxed);
                    return Ok(());
                }
                Err(now) => cur = now,
            }
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.groups.leave(&self.group);
    }
}

/// Every group with at least one table in it (the target type's shared
/// state, which each member holds). A group exists from its first
/// member's constructor to its last member's destructor; its sequence
/// continues as long as it exists.
#[pin_data]
pub(crate) struct Groups {
    #[pin]
    list: Mutex<List<ListNode<Group>>>,
}

impl Groups {
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            try_pin_init!(Groups {
                list <- new_mutex!(List::new(), "log_writes::Groups"),
            }),
            GFP_KERNEL,
        )
    }

    /// Joins group `name` (a [`valid_group_name`]), creating it if it has
    /// no member yet.
    pub(crate) fn join(self: Arc<Self>, name: &[u8]) -> Result<Membership> {
        if !valid_group_name(name) {
            return Err(EINVAL);
        }
        let mut list = self.list.lock();
        if let Some(g) = list.iter().find(|g| g.name() == name) {
            g.members.fetch_add(1, Ordering::Relaxed);
            let group = g.into();
            drop(list);
            return Ok(Membership {
                groups: self,
                group,
            });
        }
        let mut fixed = [0u8; GROUP_NAME_MAX];
        fixed[..name.len()].copy_from_slice(name);
        let node = ListNode::new(
            Group {
                name: fixed,
                name_len: name.len(),
                seq: AtomicU64::new(0),
                continued_to: AtomicU64::new(0),
                members: AtomicUsize::new(1),
            },
            GFP_KERNEL,
        )?;
        let node = kernel::list::ListArc::from(node);
        let group = node.clone_arc();
        list.push_back(node);
        drop(list);
        Ok(Membership {
            groups: self,
            group,
        })
    }

    fn leave(&self, group: &GroupRef) {
        let mut list = self.list.lock();
        if group.members.fetch_sub(1, Ordering::Relaxed) != 1 {
            return;
        }
        // The last member: the group goes (lists of groups are short).
        let mut kept = List::new();
        while let Some(g) = list.pop_front() {
            if !core::ptr::eq::<ListNode<Group>>(&*g, &**group) {
                kept.push_back(g);
            }
        }
        *list = kept;
    }
}
