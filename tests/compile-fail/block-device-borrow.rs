// expect: E0505
//
// A `&BlockDevice` is valid only while what holds the device open lives:
// it cannot be used after the table device that lent it is dropped.
use crate::abstractions::block::BlockDevice;
use crate::abstractions::device_mapper::TableDev;

#[allow(dead_code)]
fn used_after_close(dev: TableDev) -> u64 {
    let bdev: &BlockDevice = &dev;
    drop(dev);
    bdev.nr_sectors()
}
