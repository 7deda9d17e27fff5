// SPDX-License-Identifier: GPL-2.0

//! Whether two paths share storage, so that nothing is ever replayed onto
//! the log it reads (or onto any other path that must differ): the same
//! file under two names, a block device and its partitions, a device
//! mapper or md device and the devices it is built on (sysfs `slaves`), a
//! loop device and its backing file, and a block device and the files of a
//! filesystem it holds (btrfs too, whose files name no block device).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Two paths that must not share storage do.
#[derive(Debug)]
pub struct Overlap {
    pub first: (&'static str, PathBuf),
    pub second: (&'static str, PathBuf),
    /// How they share it, e.g. "are the same file".
    pub how: String,
}

impl std::fmt::Display for Overlap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} {} and the {} {} {}; refusing to write anything",
            self.first.0,
            self.first.1.display(),
            self.second.0,
            self.second.1.display(),
            self.how
        )
    }
}

impl std::error::Error for Overlap {}

/// A block device number as sysfs names it.
type DevNo = (u32, u32);

fn devno(dev: u64) -> DevNo {
    (libc::major(dev), libc::minor(dev))
}

/// What a path occupies.
#[derive(Debug, Default)]
struct Footprint {
    is_block: bool,
    /// Files, by (device, inode): the path itself, or the backing files of
    /// loop devices under a block device.
    files: BTreeSet<(u64, u64)>,
    /// The backing files of loop devices under a block device, by path.
    backing_files: BTreeSet<PathBuf>,
    /// The block devices at the bottom of the stack the path is on (for a
    /// file, its filesystem's device).
    disks: BTreeSet<DevNo>,
    /// For a partition of a device built on others (a partitioned loop,
    /// md or dm device), the disks and files that device is built on,
    /// each with that device: the partition lies somewhere on them. Two
    /// partitions of one such device are apart, as two of a plain disk.
    covered_disks: BTreeSet<(DevNo, DevNo)>,
    covered_files: BTreeSet<((u64, u64), DevNo)>,
    /// Where the block device (a file's: its filesystem's) lies, sector
    /// by sector, when its stack is only partitions and linear
    /// device-mapper targets, as LVM volumes are: two volumes on one disk
    /// are apart unless their sectors meet.
    extents: Option<Vec<Extent>>,
}

/// Where the kernel says how block devices are built: sysfs (tests give a
/// tree of their own).
#[derive(Clone, Copy)]
struct Sys<'a> {
    root: &'a Path,
    /// The mount table, `/proc/self/mountinfo`.
    mountinfo: &'a Path,
    /// Device-mapper tables as files named `MAJOR:MINOR` (tests); `None`:
    /// ask `dmsetup table`.
    dm_tables: Option<&'a Path>,
}

/// Sectors (512 bytes) `first..first + count` of a device at the bottom of
/// a stack.
type Extent = (DevNo, u64, u64);

const SYSTEM: &str = "/sys";

impl Sys<'_> {
    fn dev(&self, dev: DevNo) -> PathBuf {
        self.root.join(format!("dev/block/{}:{}", dev.0, dev.1))
    }

    /// The disk a partition is on, or `None` for a whole device.
    fn parent(&self, dev: DevNo) -> Option<DevNo> {
        let dir = fs::canonicalize(self.dev(dev)).ok()?;
        if !dir.join("partition").exists() {
            return None;
        }
        parse_devno(&fs::read_to_string(dir.parent()?.join("dev")).ok()?)
    }

    /// Adds the devices at the bottom of `dev`'s stack, and the backing
    /// files of loop devices in it, to `fp`.
    fn add_stack(&self, dev: DevNo, fp: &mut Footprint, depth: u32) {
        // A partition's own sysfs directory says nothing of what is below
        // it: its disk's does.
        if let Some(whole) = self.parent(dev).filter(|_| depth <= 16) {
            let mut below = Footprint::default();
            self.add_stack(whole, &mut below, depth + 1);
            let plain = below.files.is_empty()
                && below.covered_disks.is_empty()
                && below.covered_files.is_empty()
                && below.disks.len() == 1
                && below.disks.contains(&whole);
            if !plain {
                fp.disks.insert(dev);
                // The disk itself meets its partitions as any disk does.
                let disks = below.disks.into_iter().filter(|&d| d != whole);
                let disks = disks.map(|d| (d, whole));
                fp.covered_disks.extend(disks.chain(below.covered_disks));
                let files = below.files.into_iter().map(|f| (f, whole));
                fp.covered_files.extend(files.chain(below.covered_files));
                return;
            }
        }
        let dir = self.dev(dev);
        let mut below = Vec::new();
        if let Ok(f) = fs::read_to_string(dir.join("loop/backing_file")) {
            let f = f.trim_end_matches('\n');
            if let Ok(m) = fs::metadata(f) {
                if m.file_type().is_block_device() {
                    // A loop device over a block device is that device.
                    below.push(devno(m.rdev()));
                } else {
                    fp.files.insert((m.dev(), m.ino()));
                    fp.backing_files.insert(PathBuf::from(f));
                    self.add_stack(devno(m.dev()), fp, depth + 1);
                }
            }
        }
        if let Ok(rd) = fs::read_dir(dir.join("slaves")) {
            for s in rd.flatten() {
                if let Some(d) = fs::read_to_string(s.path().join("dev"))
                    .ok()
                    .and_then(|t| parse_devno(&t))
                {
                    below.push(d);
                }
            }
        }
        // A stack deeper than this is a loop in what sysfs says.
        if below.is_empty() || depth > 16 {
            fp.disks.insert(dev);
        } else {
            for d in below {
                self.add_stack(d, fp, depth + 1);
            }
        }
    }

    /// A device-mapper device's table, `None` for any other device (or
    /// when it cannot be read).
    fn dm_table(&self, dev: DevNo) -> Option<String> {
        if !self.dev(dev).join("dm").exists() {
            return None;
        }
        let name = format!("{}:{}", dev.0, dev.1);
        if let Some(dir) = self.dm_tables {
            return fs::read_to_string(dir.join(name)).ok();
        }
        let out = std::process::Command::new("dmsetup")
            .args(["table", "-j", &dev.0.to_string(), "-m", &dev.1.to_string()])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The device a table names, as `MAJOR:MINOR` or a path.
    fn table_dev(word: &str) -> Option<DevNo> {
        parse_devno(word).or_else(|| {
            let m = fs::metadata(word).ok()?;
            m.file_type().is_block_device().then(|| devno(m.rdev()))
        })
    }

    /// Where sectors `first..first + count` of `dev` lie at the bottom of
    /// its stack, when the stack is made of partitions and linear
    /// device-mapper targets only; `None` for anything else (md, loop,
    /// other targets), which is then judged device by device.
    fn extents(&self, dev: DevNo, first: u64, count: u64, depth: u32) -> Option<Vec<Extent>> {
        if depth > 16 {
            return None;
        }
        let dir = fs::canonicalize(self.dev(dev)).ok()?;
        let number =
            |p: PathBuf| -> Option<u64> { fs::read_to_string(p).ok()?.trim().parse().ok() };
        if dir.join("partition").exists() {
            let start = number(dir.join("start"))?;
            let disk = parse_devno(&fs::read_to_string(dir.parent()?.join("dev")).ok()?)?;
            return self.extents(disk, start.checked_add(first)?, count, depth + 1);
        }
        if let Some(table) = self.dm_table(dev) {
            let end = first.checked_add(count)?;
            let mut out = Vec::new();
            for line in table.lines().filter(|l| !l.trim().is_empty()) {
                let f: Vec<&str> = line.split_whitespace().collect();
                let t_first: u64 = f.first()?.parse().ok()?;
                let t_end = t_first.checked_add(f.get(1)?.parse().ok()?)?;
                let (lo, hi) = (first.max(t_first), end.min(t_end));
                if lo >= hi {
                    continue;
                }
                if *f.get(2)? != "linear" {
                    return None;
                }
                let under = Self::table_dev(f.get(3)?)?;
                let offset: u64 = f.get(4)?.parse().ok()?;
                let at = offset.checked_add(lo - t_first)?;
                out.extend(self.extents(under, at, hi - lo, depth + 1)?);
            }
            return Some(out);
        }
        let built_on_others = dir.join("loop").exists()
            || fs::read_dir(dir.join("slaves")).is_ok_and(|mut d| d.next().is_some());
        (!built_on_others).then(|| vec![(dev, first, count)])
    }

    /// `extents` of the whole of `dev`.
    fn device_extents(&self, dev: DevNo) -> Option<Vec<Extent>> {
        let size = fs::read_to_string(self.dev(dev).join("size")).ok()?;
        self.extents(dev, 0, size.trim().parse().ok()?, 0)
    }

    fn footprint(&self, path: &Path) -> io::Result<Footprint> {
        let m = fs::metadata(path)?;
        let mut fp = Footprint::default();
        if m.file_type().is_block_device() {
            fp.is_block = true;
            self.add_stack(devno(m.rdev()), &mut fp, 0);
            fp.extents = self.device_extents(devno(m.rdev()));
        } else {
            fp.files.insert((m.dev(), m.ino()));
            if self.dev(devno(m.dev())).exists() {
                self.add_stack(devno(m.dev()), &mut fp, 0);
                fp.extents = self.device_extents(devno(m.dev()));
            } else {
                // btrfs gives its files an anonymous device number: the
                // devices are the mount's source and, for btrfs, the
                // other devices of its filesystem.
                for d in self.mounted_from(devno(m.dev())) {
                    self.add_stack(d, &mut fp, 0);
                }
            }
        }
        Ok(fp)
    }

    /// The block devices a filesystem whose files have the device number
    /// `dev` is mounted from, when that number is not a block device's.
    fn mounted_from(&self, dev: DevNo) -> Vec<DevNo> {
        let Ok(table) = fs::read_to_string(self.mountinfo) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for line in table.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let Some(sep) = fields.iter().position(|&f| f == "-") else {
                continue;
            };
            if fields.get(2).and_then(|f| parse_devno(f)) != Some(dev) {
                continue;
            }
            let Some(source) = fields.get(sep + 2) else {
                continue;
            };
            let Ok(m) = fs::metadata(unescape(source)) else {
                continue;
            };
            if m.file_type().is_block_device() && !found.contains(&devno(m.rdev())) {
                found.push(devno(m.rdev()));
            }
        }
        // The other devices of a multi-device btrfs.
        let btrfs = self.root.join("fs/btrfs");
        for fsdir in fs::read_dir(btrfs).into_iter().flatten().flatten() {
            let devs: Vec<DevNo> = fs::read_dir(fsdir.path().join("devices"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|d| parse_devno(&fs::read_to_string(d.path().join("dev")).ok()?))
                .collect();
            if devs.iter().any(|d| found.contains(d)) {
                for d in devs {
                    if !found.contains(&d) {
                        found.push(d);
                    }
                }
            }
        }
        found
    }

    /// Whether two bottom devices share sectors: the same device, or a
    /// partition and the disk it is on.
    fn disks_meet(&self, a: DevNo, b: DevNo) -> bool {
        a == b || self.parent(a) == Some(b) || self.parent(b) == Some(a)
    }

    /// How `a` and `b` share storage, if they do.
    fn shared(&self, a: &Footprint, b: &Footprint) -> Option<String> {
        if a.files.intersection(&b.files).next().is_some() {
            return Some(if a.is_block || b.is_block {
                "share a file (a loop device's backing file)".into()
            } else {
                "are the same file".into()
            });
        }
        for (x, y) in [(a, b), (b, a)] {
            let shares_file = x.covered_files.iter().any(|(f, via)| {
                y.files.contains(f) || y.covered_files.iter().any(|(g, v)| g == f && v != via)
            });
            if shares_file {
                return Some("share a file (a partitioned loop device's backing file)".into());
            }
        }
        // Two files on one filesystem share its device but not their sectors.
        if a.is_block || b.is_block {
            if let (Some(x), Some(y)) = (&a.extents, &b.extents) {
                return x.iter().find_map(|&(d, first, count)| {
                    y.iter()
                        .find(|&&(e, f, c)| {
                            e == d && first < f.saturating_add(c) && f < first.saturating_add(count)
                        })
                        .map(|&(_, f, c)| {
                            let lo = first.max(f);
                            let hi = first.saturating_add(count).min(f.saturating_add(c));
                            format!(
                                "share sectors {lo}..{hi} of the block device {}:{}",
                                d.0, d.1
                            )
                        })
                });
            }
            for &x in &a.disks {
                for &y in &b.disks {
                    if self.disks_meet(x, y) {
                        return Some(format!(
                            "share the block device {}:{}{}",
                            x.0,
                            x.1,
                            if x == y {
                                String::new()
                            } else {
                                format!(" and {}:{} (a partition and its disk)", y.0, y.1)
                            }
                        ));
                    }
                }
            }
            for (x, y) in [(a, b), (b, a)] {
                for &(c, via) in &x.covered_disks {
                    let meets = y.disks.iter().any(|&d| self.disks_meet(c, d))
                        || y.covered_disks
                            .iter()
                            .any(|&(d, v)| v != via && self.disks_meet(c, d));
                    if meets {
                        return Some(format!(
                            "share the block device {}:{} (under a partition of {}:{})",
                            c.0, c.1, via.0, via.1
                        ));
                    }
                }
            }
        }
        None
    }

    fn refuse_overlap(&self, paths: &[(&'static str, &Path)]) -> Result<(), Overlap> {
        let fps: Vec<Option<Footprint>> =
            paths.iter().map(|(_, p)| self.footprint(p).ok()).collect();
        for i in 0..paths.len() {
            for j in i + 1..paths.len() {
                if let (Some(a), Some(b)) = (&fps[i], &fps[j]) {
                    if let Some(how) = self.shared(a, b) {
                        return Err(Overlap {
                            first: (paths[i].0, paths[i].1.to_path_buf()),
                            second: (paths[j].0, paths[j].1.to_path_buf()),
                            how,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// Where a path's contents are stored, as far as the kernel tells: what
/// would have to change for the contents to change.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Storage {
    /// Regular files: the path itself, or the backing files of loop
    /// devices in a block device's stack.
    pub files: Vec<PathBuf>,
    /// For a block device, the whole disks at the bottom of its stack (a
    /// partition's disk in its place: the disk's counters include the
    /// partition's, and writes to the disk around the partition).
    pub disks: Vec<(u32, u32)>,
}

impl Sys<'_> {
    fn storage(&self, path: &Path) -> io::Result<Storage> {
        let m = fs::metadata(path)?;
        if !m.file_type().is_block_device() {
            return Ok(Storage {
                files: vec![path.to_path_buf()],
                disks: Vec::new(),
            });
        }
        let mut fp = Footprint::default();
        self.add_stack(devno(m.rdev()), &mut fp, 0);
        let bottom = fp
            .disks
            .iter()
            .chain(fp.covered_disks.iter().map(|(d, _)| d));
        let disks: BTreeSet<DevNo> = bottom.map(|&d| self.parent(d).unwrap_or(d)).collect();
        Ok(Storage {
            files: fp.backing_files.into_iter().collect(),
            disks: disks.into_iter().collect(),
        })
    }
}

/// Where `path`'s contents are stored (see `Storage`).
pub fn storage(path: &Path) -> io::Result<Storage> {
    Sys {
        root: Path::new(SYSTEM),
        mountinfo: Path::new("/proc/self/mountinfo"),
        dm_tables: None,
    }
    .storage(path)
}

/// A mount table field with its `\\ooo` octal escapes (space, tab,
/// newline, backslash) undone.
fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let code = b
            .get(i + 1..i + 4)
            .filter(|_| b[i] == b'\\')
            .and_then(|o| std::str::from_utf8(o).ok())
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(c) => {
                out.push(c);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

fn parse_devno(s: &str) -> Option<DevNo> {
    let (a, b) = s.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Refuses any two of `paths` (each named by its role) that share storage.
/// A path that does not exist yet shares nothing.
pub fn refuse_overlap(paths: &[(&'static str, &Path)]) -> Result<(), Overlap> {
    Sys {
        root: Path::new(SYSTEM),
        mountinfo: Path::new("/proc/self/mountinfo"),
        dm_tables: None,
    }
    .refuse_overlap(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_file_under_two_names_is_refused() {
        let dir = std::env::temp_dir().join(format!("lwlog-overlap-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
        fs::write(&a, b"x").unwrap();
        fs::write(&c, b"y").unwrap();
        let _ = fs::remove_file(&b);
        fs::hard_link(&a, &b).unwrap();
        let err = refuse_overlap(&[("log", &a), ("target", &b)]).unwrap_err();
        assert!(err.to_string().contains("are the same file"), "{err}");
        assert!(refuse_overlap(&[("log", &a), ("target", &dir.join("./a"))]).is_err());
        // Two files on one filesystem do not overlap.
        assert!(refuse_overlap(&[("log", &a), ("target", &c)]).is_ok());
        // Nor does a path that is not there yet.
        assert!(refuse_overlap(&[("log", &a), ("target", &dir.join("none"))]).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A sysfs tree of made-up block devices (major 240, one for local
    /// use), with device nodes for them: what a stack of loop, md or dm
    /// devices looks like without making one.
    struct Fake {
        dir: PathBuf,
        sys: PathBuf,
        mountinfo: PathBuf,
        tables: PathBuf,
    }

    impl Fake {
        /// `None` where device nodes cannot be made (not root).
        fn new(name: &str) -> Option<Fake> {
            let dir = std::env::temp_dir().join(format!("lwlog-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            let sys = dir.join("sys");
            fs::create_dir_all(sys.join("dev/block")).unwrap();
            fs::create_dir_all(sys.join("devices")).unwrap();
            fs::create_dir_all(dir.join("nodes")).unwrap();
            let mountinfo = dir.join("mountinfo");
            let tables = dir.join("tables");
            let fake = Fake {
                dir,
                sys,
                mountinfo,
                tables,
            };
            if !fake.node("probe", 0) {
                eprintln!("cannot make device nodes: skipped");
                return None;
            }
            Some(fake)
        }

        fn sys(&self) -> Sys<'_> {
            Sys {
                root: &self.sys,
                mountinfo: &self.mountinfo,
                dm_tables: Some(&self.tables),
            }
        }

        /// Makes device `rel` a device-mapper device with `table`.
        fn dm(&self, rel: &str, minor: u32, table: &str) {
            let d = self.sys.join("devices").join(rel);
            fs::create_dir_all(d.join("dm")).unwrap();
            fs::create_dir_all(&self.tables).unwrap();
            fs::write(self.tables.join(format!("240:{minor}")), table).unwrap();
        }

        fn size(&self, rel: &str, sectors: u64, start: Option<u64>) {
            let d = self.sys.join("devices").join(rel);
            fs::write(d.join("size"), format!("{sectors}\n")).unwrap();
            if let Some(s) = start {
                fs::write(d.join("start"), format!("{s}\n")).unwrap();
            }
        }

        fn node(&self, name: &str, minor: u32) -> bool {
            let c = std::ffi::CString::new(self.path(name).to_str().unwrap()).unwrap();
            // SAFETY: mknod only reads the NUL-terminated path.
            unsafe {
                libc::mknod(c.as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(240, minor)) == 0
            }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.join("nodes").join(name)
        }

        /// Device `240:minor` at `devices/rel` (a partition inside its
        /// disk's directory), with its node `nodes/NAME`.
        fn device(&self, rel: &str, minor: u32, partition: bool) {
            let d = self.sys.join("devices").join(rel);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("dev"), format!("240:{minor}\n")).unwrap();
            if partition {
                fs::write(d.join("partition"), "1\n").unwrap();
            }
            std::os::unix::fs::symlink(&d, self.sys.join(format!("dev/block/240:{minor}")))
                .unwrap();
            let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
            assert!(self.node(name, minor));
        }

        fn backing_file(&self, rel: &str, file: &Path) {
            let d = self.sys.join("devices").join(rel).join("loop");
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("backing_file"), format!("{}\n", file.display())).unwrap();
        }

        fn slave(&self, rel: &str, below: &str) {
            let d = self.sys.join("devices").join(rel).join("slaves");
            fs::create_dir_all(&d).unwrap();
            let name = Path::new(below).file_name().unwrap();
            std::os::unix::fs::symlink(self.sys.join("devices").join(below), d.join(name)).unwrap();
        }

        fn refused(&self, a: &str, b: &Path) -> bool {
            self.sys()
                .refuse_overlap(&[("log", &self.path(a)), ("target", b)])
                .is_err()
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn a_loop_device_over_a_block_device_is_that_device() {
        let Some(f) = Fake::new("overlap-loop") else {
            return;
        };
        f.device("sdb", 1, false);
        f.device("loop0", 2, false);
        f.backing_file("loop0", &f.path("sdb"));
        f.device("sdc", 3, false);
        assert!(f.refused("loop0", &f.path("sdb")));
        assert!(f.refused("sdb", &f.path("loop0")));
        assert!(!f.refused("loop0", &f.path("sdc")));
    }

    #[test]
    fn a_file_on_btrfs_shares_the_devices_of_its_filesystem() {
        let Some(f) = Fake::new("overlap-btrfs") else {
            return;
        };
        let log = f.dir.join("log");
        fs::write(&log, b"log").unwrap();
        // The log's filesystem, as btrfs: a device number sysfs does not
        // know, mounted from sdb (named with a space), sdc its second
        // device.
        let m = fs::metadata(&log).unwrap();
        f.device("sdb", 1, false);
        f.device("sdc", 2, false);
        f.device("sdd", 3, false);
        let source = f.dir.join("nodes/sd b");
        fs::rename(f.path("sdb"), &source).unwrap();
        let escaped = source.to_str().unwrap().replace(' ', "\\040");
        fs::write(
            &f.mountinfo,
            format!(
                "22 27 0:21 / /proc rw - proc proc rw\n\
                 90 27 {}:{} / /mnt rw,relatime shared:1 - btrfs {escaped} rw,space_cache\n",
                libc::major(m.dev()),
                libc::minor(m.dev())
            ),
        )
        .unwrap();
        let devs = f.sys.join("fs/btrfs/0123-4567/devices");
        fs::create_dir_all(&devs).unwrap();
        for d in ["sdb", "sdc"] {
            std::os::unix::fs::symlink(f.sys.join("devices").join(d), devs.join(d)).unwrap();
        }
        let sys = f.sys();
        let refused = |b: &Path| sys.refuse_overlap(&[("log", &log), ("target", b)]).is_err();
        if sys.dev(devno(m.dev())).exists() {
            eprintln!("the made-up sysfs knows the log's device: skipped");
            return;
        }
        assert!(refused(&source));
        assert!(refused(&f.path("sdc")));
        assert!(!refused(&f.path("sdd")));
    }

    #[test]
    fn a_partition_of_a_stacked_device_shares_what_it_is_built_on() {
        let Some(f) = Fake::new("overlap-part") else {
            return;
        };
        let log = f.dir.join("log");
        fs::write(&log, b"log").unwrap();
        // loop0 over the log file, with two partitions.
        f.device("loop0", 1, false);
        f.backing_file("loop0", &log);
        f.device("loop0/loop0p1", 2, true);
        f.device("loop0/loop0p2", 3, true);
        // md0 over sdb and sdc, with two partitions; sdd apart.
        f.device("sdb", 4, false);
        f.device("sdc", 5, false);
        f.device("sdd", 6, false);
        f.device("md0", 7, false);
        f.slave("md0", "sdb");
        f.slave("md0", "sdc");
        f.device("md0/md0p1", 8, true);
        f.device("md0/md0p2", 9, true);
        // dm-0 over md0p2, and a plain disk with two partitions.
        f.device("dm-0", 10, false);
        f.slave("dm-0", "md0/md0p2");
        f.device("sde", 11, false);
        f.device("sde/sde1", 12, true);
        f.device("sde/sde2", 13, true);

        let refused = |a: &str, b: &str| f.refused(a, &f.path(b));
        assert!(f
            .sys()
            .refuse_overlap(&[("log", &log), ("target", &f.path("loop0p1"))])
            .is_err());
        assert!(refused("md0p1", "sdb"));
        assert!(refused("sdc", "md0p2"));
        assert!(refused("md0p1", "md0"));
        assert!(refused("dm-0", "md0p2"));
        assert!(refused("dm-0", "sdb"));
        assert!(refused("sde1", "sde"));
        // Partitions of one device, and what is built on them, are apart.
        assert!(!refused("loop0p1", "loop0p2"));
        assert!(!refused("md0p1", "md0p2"));
        assert!(!refused("md0p1", "dm-0"));
        assert!(!refused("md0p1", "sdd"));
        assert!(!refused("sde1", "sde2"));
    }

    #[test]
    fn linear_volumes_on_one_disk_meet_only_where_their_sectors_do() {
        let Some(f) = Fake::new("overlap-lvm") else {
            return;
        };
        // sdb with a partition at sector 2048, and volumes as LVM makes
        // them: linear targets on the partition, one in two pieces.
        f.device("sdb", 1, false);
        f.size("sdb", 100_000, None);
        f.device("sdb/sdb1", 2, true);
        f.size("sdb/sdb1", 90_000, Some(2048));
        f.device("dm-0", 3, false);
        f.dm("dm-0", 3, "0 1000 linear 240:2 0\n");
        f.size("dm-0", 1000, None);
        f.device("dm-1", 4, false);
        f.dm(
            "dm-1",
            4,
            "0 500 linear 240:2 1000\n500 500 linear 240:2 5000\n",
        );
        f.size("dm-1", 1000, None);
        f.device("dm-2", 5, false);
        f.dm("dm-2", 5, "0 100 linear 240:2 5400\n");
        f.size("dm-2", 100, None);
        // A volume on dm-0 (dm on dm), and a thin volume: not linear.
        f.device("dm-3", 6, false);
        f.dm("dm-3", 6, "0 10 linear 240:3 990\n");
        f.size("dm-3", 10, None);
        f.device("dm-4", 7, false);
        f.dm("dm-4", 7, "0 1000 thin 240:3 1\n");
        f.size("dm-4", 1000, None);
        f.slave("dm-4", "dm-0");
        // sysfs names what each volume is on, as the kernel does.
        for v in ["dm-0", "dm-1", "dm-2"] {
            f.slave(v, "sdb/sdb1");
        }
        f.slave("dm-3", "dm-0");
        let refused = |a: &str, b: &str| f.refused(a, &f.path(b));
        // Apart: the log on one volume, the target another.
        assert!(!refused("dm-0", "dm-1"));
        assert!(!refused("dm-0", "dm-2"));
        // Meeting: dm-2 inside dm-1's second piece; dm-3 on dm-0's end;
        // any volume and the partition or disk under it.
        assert!(refused("dm-1", "dm-2"));
        assert!(refused("dm-3", "dm-0"));
        assert!(!refused("dm-3", "dm-1"));
        assert!(refused("sdb1", "dm-1"));
        assert!(refused("sdb", "dm-2"));
        // Not linear: judged by the devices it is on, as before.
        assert!(refused("dm-4", "dm-0"));
        let err = f
            .sys()
            .refuse_overlap(&[("log", &f.path("dm-1")), ("target", &f.path("dm-2"))])
            .unwrap_err();
        assert!(err.to_string().contains("sectors 7448..7548"), "{err}");
    }
}
