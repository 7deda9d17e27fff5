// expect: E0597
//
// A thread may outlive the function that starts it: its closure cannot
// borrow that function's locals.
use crate::abstractions::kthread::Kthread;
use kernel::c_str;
use kernel::prelude::*;

#[allow(dead_code)]
fn thread_borrows_a_local() -> Result {
    let count = 0u32;
    let r = &count;
    let _t = Kthread::run(c_str!("compile-fail"), move || {
        core::hint::black_box(*r);
    })?;
    Ok(())
}
