// SPDX-License-Identifier: GPL-2.0

//! A QEMU TCG plugin for `make bench` (`BENCH_PROFILE=1`): counts the guest
//! instructions executed, per translated block, so that a run's cost can be
//! split by the guest kernel function it was spent in.
//!
//! Under TCG the guest's time follows the instructions it executes far
//! more closely than the guest's own clock-driven samples do (a tick or a
//! perf sample lands wherever the emulator lets it). Counting is exact and
//! repeatable: the counter of every block is bumped by its instruction
//! count each time the block runs (an inline add, no call).
//!
//! The guest cannot reach the host's files, so dumps are asked for by the
//! host: when the file named by the `req=PATH` argument appears, holding an
//! output path, the plugin writes there one `ADDRESS COUNT` line (hex
//! guest address of a block's first instruction, instructions executed
//! since the previous dump) per block that ran since then, then removes
//! the request. A dump at the start of a run and one at its end: the
//! second holds the run's instructions alone (and stays small: a dump of
//! everything since boot, for every run, came to gigabytes per bench).
//!
//! Plugin API version 1 (QEMU 7.2, as Debian 12 ships it).

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::Duration;

type PluginId = u64;

/// QEMU's `struct qemu_plugin_tb`, only ever behind a pointer.
#[repr(C)]
pub struct Tb {
    _opaque: [u8; 0],
}

/// `QEMU_PLUGIN_INLINE_ADD_U64`.
const INLINE_ADD_U64: c_int = 0;

extern "C" {
    fn qemu_plugin_register_vcpu_tb_trans_cb(
        id: PluginId,
        cb: unsafe extern "C" fn(PluginId, *mut Tb),
    );
    fn qemu_plugin_tb_n_insns(tb: *const Tb) -> usize;
    fn qemu_plugin_tb_vaddr(tb: *const Tb) -> u64;
    fn qemu_plugin_register_vcpu_tb_exec_inline(tb: *mut Tb, op: c_int, ptr: *mut c_void, imm: u64);
}

/// The API version this plugin is written against; QEMU reads it.
#[no_mangle]
pub static qemu_plugin_version: c_int = 1;

/// A block's counter, which the translated code adds to, and what it read
/// at the last dump.
struct Counter {
    count: &'static AtomicU64,
    dumped: u64,
}

/// One counter per block, keyed by its address and length (a block
/// retranslated alike shares its counter). Counters are leaked: the
/// translated code adds to them for the life of the emulator.
fn counters() -> &'static Mutex<HashMap<(u64, usize), Counter>> {
    static C: OnceLock<Mutex<HashMap<(u64, usize), Counter>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Called by QEMU for every block it translates.
///
/// # Safety
///
/// `tb` is the block being translated, valid for this call.
unsafe extern "C" fn translated(_id: PluginId, tb: *mut Tb) {
    // SAFETY: `tb` is valid during the callback (QEMU's contract).
    let (vaddr, n) = unsafe { (qemu_plugin_tb_vaddr(tb), qemu_plugin_tb_n_insns(tb)) };
    let counter = {
        let mut map = counters().lock().unwrap_or_else(|e| e.into_inner());
        map.entry((vaddr, n))
            .or_insert_with(|| Counter {
                count: Box::leak(Box::new(AtomicU64::new(0))),
                dumped: 0,
            })
            .count
    };
    // SAFETY: `tb` is valid during the callback; the counter is leaked,
    // so it outlives every execution of the translated code, which adds
    // to it (a plain 64-bit add: two vCPUs running one block at once may
    // lose a count, which the bench tolerates).
    unsafe {
        qemu_plugin_register_vcpu_tb_exec_inline(
            tb,
            INLINE_ADD_U64,
            counter.as_ptr().cast(),
            n as u64,
        )
    };
}

/// Writes what every counter that moved since the last dump moved by to
/// `out` (via a temporary file, so that the host never reads a
/// half-written dump).
fn dump(out: &str) -> std::io::Result<()> {
    let tmp = format!("{out}.tmp");
    let mut w = BufWriter::new(fs::File::create(&tmp)?);
    let snapshot: Vec<(u64, u64)> = {
        let mut map = counters().lock().unwrap_or_else(|e| e.into_inner());
        map.iter_mut()
            .filter_map(|(&(vaddr, _), c)| {
                let now = c.count.load(Ordering::Relaxed);
                let moved = now.wrapping_sub(c.dumped);
                c.dumped = now;
                (moved != 0).then_some((vaddr, moved))
            })
            .collect()
    };
    for (vaddr, n) in snapshot {
        writeln!(w, "{vaddr:x} {n}")?;
    }
    w.flush()?;
    drop(w);
    fs::rename(&tmp, out)
}

/// Polls for dump requests.
fn serve(req: PathBuf) {
    loop {
        thread::sleep(Duration::from_millis(20));
        let Ok(text) = fs::read_to_string(&req) else {
            continue;
        };
        let out = text.trim();
        if out.is_empty() {
            continue;
        }
        if let Err(e) = dump(out) {
            eprintln!("tcgprof: cannot write {out}: {e}");
        }
        let _ = fs::remove_file(&req);
    }
}

/// QEMU's entry point. Arguments: `req=PATH` (required).
///
/// # Safety
///
/// Called once by QEMU with `argc` valid C strings in `argv`.
#[no_mangle]
pub unsafe extern "C" fn qemu_plugin_install(
    id: PluginId,
    _info: *const c_void,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    let mut req = None;
    for i in 0..usize::try_from(argc).unwrap_or(0) {
        // SAFETY: QEMU passes `argc` valid NUL-terminated strings.
        let arg = unsafe { CStr::from_ptr(*argv.add(i)) }.to_string_lossy();
        if let Some(path) = arg.strip_prefix("req=") {
            req = Some(PathBuf::from(path));
        }
    }
    let Some(req) = req else {
        eprintln!("tcgprof: the req=PATH argument is required");
        return -1;
    };
    let _ = fs::remove_file(&req);
    if thread::Builder::new()
        .name("tcgprof".into())
        .spawn(move || serve(req))
        .is_err()
    {
        return -1;
    }
    // SAFETY: `translated` matches the callback's C signature.
    unsafe { qemu_plugin_register_vcpu_tb_trans_cb(id, translated) };
    0
}
