// SPDX-License-Identifier: GPL-2.0

//! A value that can sit on a [`kernel::list::List`] and can still be changed
//! by whoever holds it alone.
//!
//! A list item must be pinned (the list points at its links), and the
//! kernel crate offers no safe projection from a pinned item to its other
//! fields. [`ListNode`] keeps the links and the value apart, pins only the
//! links, and so can hand out `&mut` to the value of a uniquely owned node.

use core::ops::Deref;
use core::pin::Pin;
use kernel::alloc::Flags;
use kernel::list::{ListArc, ListLinks};
use kernel::prelude::*;
use kernel::sync::{Arc, UniqueArc};

/// `value` with the links of a list.
#[pin_data]
pub(crate) struct ListNode<T> {
    #[pin]
    links: ListLinks<0>,
    value: T,
}

#[cfg(not(lw_list_item_links))]
kernel::list::impl_has_list_links! {
    impl<T> HasListLinks<0> for ListNode<T> { self.links }
}
kernel::list::impl_list_arc_safe! {
    impl{T} ListArcSafe<0> for ListNode<T> { untracked; }
}
#[cfg(not(lw_list_item_links))]
kernel::list::impl_list_item! {
    impl{T} ListItem<0> for ListNode<T> { using ListLinks; }
}
// Where `impl_list_item!` is told the field, it implements `HasListLinks`.
#[cfg(lw_list_item_links)]
kernel::list::impl_list_item! {
    impl{T} ListItem<0> for ListNode<T> { using ListLinks { self.links }; }
}

impl<T> ListNode<T> {
    /// A node holding `value`, owned alone until it is turned into a
    /// [`ListArc`] to go on a list.
    pub(crate) fn new(value: T, flags: Flags) -> Result<Pin<UniqueArc<Self>>> {
        UniqueArc::pin_init(
            try_pin_init!(ListNode { links <- ListLinks::new(), value }? Error),
            flags,
        )
    }

    /// The value, to change it.
    pub(crate) fn value_mut(self: Pin<&mut Self>) -> &mut T {
        // SAFETY: Only `links` is structurally pinned; `value` is never
        // pinned (no `Pin<&mut T>` to it is ever made), so handing out
        // `&mut T` cannot move anything that relies on its address.
        unsafe { &mut self.get_unchecked_mut().value }
    }

    /// Takes a node off list ownership to change it. Fails when another
    /// `Arc` to the node exists; `node` is then given up (the other
    /// reference keeps it alive), so call it only on nodes never shared.
    pub(crate) fn into_unique(node: ListArc<Self>) -> Option<Pin<UniqueArc<Self>>> {
        Arc::into_unique_or_drop(node.into_arc())
    }
}

impl<T> Deref for ListNode<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}
