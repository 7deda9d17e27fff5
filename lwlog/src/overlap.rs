// SPDX-License-Identifier: GPL-2.0

//! Whether two paths share storage, so that nothing is ever replayed onto
//! the log it reads (or onto any other path that must differ): the same
//! file under two names, a block device and its partitions, a device
//! mapper or md device and the devices it is built on (sysfs `slaves`), a
//! loop device and its backing file, and a block device and the files of a
//! filesystem it holds.

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
    /// The block devices at the bottom of the stack the path is on (for a
    /// file, its filesystem's device).
    disks: BTreeSet<DevNo>,
}

fn sys(dev: DevNo) -> PathBuf {
    PathBuf::from(format!("/sys/dev/block/{}:{}", dev.0, dev.1))
}

fn parse_devno(s: &str) -> Option<DevNo> {
    let (a, b) = s.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The disk a partition is on, or `None` for a whole device.
fn parent(dev: DevNo) -> Option<DevNo> {
    let dir = fs::canonicalize(sys(dev)).ok()?;
    if !dir.join("partition").exists() {
        return None;
    }
    parse_devno(&fs::read_to_string(dir.parent()?.join("dev")).ok()?)
}

/// Adds the devices at the bottom of `dev`'s stack, and the backing files
/// of loop devices in it, to `fp`.
fn add_stack(dev: DevNo, fp: &mut Footprint, depth: u32) {
    let dir = sys(dev);
    if let Ok(f) = fs::read_to_string(dir.join("loop/backing_file")) {
        if let Ok(m) = fs::metadata(f.trim_end_matches('\n')) {
            fp.files.insert((m.dev(), m.ino()));
            add_stack(devno(m.dev()), fp, depth + 1);
        }
    }
    let mut below = Vec::new();
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
            add_stack(d, fp, depth + 1);
        }
    }
}

fn footprint(path: &Path) -> io::Result<Footprint> {
    let m = fs::metadata(path)?;
    let mut fp = Footprint::default();
    if m.file_type().is_block_device() {
        fp.is_block = true;
        add_stack(devno(m.rdev()), &mut fp, 0);
    } else {
        fp.files.insert((m.dev(), m.ino()));
        if sys(devno(m.dev())).exists() {
            add_stack(devno(m.dev()), &mut fp, 0);
        }
    }
    Ok(fp)
}

/// Whether two bottom devices share sectors: the same device, or a
/// partition and the disk it is on.
fn disks_meet(a: DevNo, b: DevNo) -> bool {
    a == b || parent(a) == Some(b) || parent(b) == Some(a)
}

/// How `a` and `b` share storage, if they do.
fn shared(a: &Footprint, b: &Footprint) -> Option<String> {
    if a.files.intersection(&b.files).next().is_some() {
        return Some(if a.is_block || b.is_block {
            "share a file (a loop device's backing file)".into()
        } else {
            "are the same file".into()
        });
    }
    // Two files on one filesystem share its device but not their sectors.
    if a.is_block || b.is_block {
        for &x in &a.disks {
            for &y in &b.disks {
                if disks_meet(x, y) {
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
    }
    None
}

/// Refuses any two of `paths` (each named by its role) that share storage.
/// A path that does not exist yet shares nothing.
pub fn refuse_overlap(paths: &[(&'static str, &Path)]) -> Result<(), Overlap> {
    let fps: Vec<Option<Footprint>> = paths.iter().map(|(_, p)| footprint(p).ok()).collect();
    for i in 0..paths.len() {
        for j in i + 1..paths.len() {
            if let (Some(a), Some(b)) = (&fps[i], &fps[j]) {
                if let Some(how) = shared(a, b) {
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
}
