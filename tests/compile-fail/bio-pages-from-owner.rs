// expect: borrowed data escapes outside of function
//
// A log bio may only carry pages borrowed from the owner it keeps alive
// until it completes: a page borrowed from anywhere else could be freed
// while the device still reads it.
use crate::abstractions::block::bio::BioSet;
use crate::abstractions::block::io::{submit_write, Completion, IoBatch, WriteKind};
use crate::abstractions::block::BlockDeviceFile;
use crate::abstractions::page::NoIoPage;
use kernel::prelude::*;
use kernel::sync::Arc;

struct Owner;
impl Completion for Owner {}

#[allow(dead_code)]
fn page_not_from_owner(
    bios: &Arc<BioSet>,
    dev: &BlockDeviceFile,
    batch: &Arc<IoBatch>,
    stray: &NoIoPage,
) -> Result {
    let owner = Arc::new(Owner, GFP_KERNEL)?;
    submit_write(bios, dev, 0, WriteKind::Plain, 1, batch, owner, |pages, _owner| {
        pages.add(stray, 512)
    })
}
