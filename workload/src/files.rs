// SPDX-License-Identifier: GPL-2.0

//! `lw-workload files`: several threads change a directory tree at once
//! with the operations a filesystem's crash consistency depends on: create,
//! write, fsync, fdatasync, rename (also over an existing file), unlink,
//! truncate, hard links, mkdir and rmdir, and fsync of directories.
//!
//! Each thread owns the subtree `w<N>` of the directory, so its operations
//! never race with another thread's and the same seed gives the same tree.
//! A thread first reads back what its subtree holds, so successive runs
//! (one per test phase, each with its own seed) keep changing one tree.

use crate::rng::Rng;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Options {
    pub dir: PathBuf,
    pub threads: u64,
    pub ops: u64,
    pub seed: u64,
    pub max_file: u64,
}

/// The operations, with the weight each is picked with.
const OPS: [(Op, u64); 12] = [
    (Op::Create, 16),
    (Op::Write, 18),
    (Op::Append, 8),
    (Op::Fsync, 10),
    (Op::Fdatasync, 8),
    (Op::Rename, 8),
    (Op::Unlink, 6),
    (Op::Truncate, 7),
    (Op::Link, 5),
    (Op::Mkdir, 5),
    (Op::Rmdir, 3),
    (Op::FsyncDir, 4),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Create,
    Write,
    Append,
    Fsync,
    Fdatasync,
    Rename,
    Unlink,
    Truncate,
    Link,
    Mkdir,
    Rmdir,
    FsyncDir,
}

/// Deepest directory a thread makes below its own.
const MAX_DEPTH: usize = 3;

/// What one thread knows of its subtree.
struct Tree {
    root: PathBuf,
    /// Directories, `root` first.
    dirs: Vec<PathBuf>,
    /// File names (a file with several links appears once per link).
    files: Vec<PathBuf>,
    rng: Rng,
}

pub fn run(o: &Options) -> Result<(), String> {
    if o.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    if o.max_file == 0 {
        return Err("--max-file must be at least 1".into());
    }
    let md = fs::metadata(&o.dir).map_err(|e| at(&o.dir, e))?;
    if !md.is_dir() {
        return Err(format!("{}: not a directory", o.dir.display()));
    }
    let counts: Vec<AtomicU64> = OPS.iter().map(|_| AtomicU64::new(0)).collect();
    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..o.threads)
            .map(|t| {
                let counts = &counts;
                scope.spawn(move || {
                    let seed = o.seed ^ (t + 1).wrapping_mul(0x2545_f491_4f6c_dd1d);
                    let mut tree = Tree::load(o.dir.join(format!("w{t}")), seed)?;
                    for _ in 0..o.ops {
                        let op = tree.pick();
                        if tree.apply(op, o.max_file)? {
                            let i = OPS.iter().position(|(p, _)| *p == op).unwrap_or(0);
                            counts[i].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect()
    });
    results.into_iter().collect::<Result<Vec<()>, String>>()?;
    let summary: Vec<String> = OPS
        .iter()
        .zip(&counts)
        .map(|((op, _), n)| format!("{op:?}={}", n.load(Ordering::Relaxed)))
        .collect();
    println!("files: {} threads: {}", o.threads, summary.join(" "));
    Ok(())
}

fn at(path: &Path, e: io::Error) -> String {
    format!("{}: {e}", path.display())
}

impl Tree {
    /// Reads back the subtree at `root`, creating it if needed.
    fn load(root: PathBuf, seed: u64) -> Result<Tree, String> {
        fs::create_dir_all(&root).map_err(|e| at(&root, e))?;
        let mut tree = Tree {
            root: root.clone(),
            dirs: vec![],
            files: vec![],
            rng: Rng::new(seed),
        };
        let mut todo = vec![root];
        while let Some(dir) = todo.pop() {
            let mut entries: Vec<_> = fs::read_dir(&dir)
                .map_err(|e| at(&dir, e))?
                .map(|e| e.map(|e| e.path()))
                .collect::<io::Result<_>>()
                .map_err(|e| at(&dir, e))?;
            // Directory order is the filesystem's: sort, so the same tree
            // gives the same choices.
            entries.sort();
            for p in entries {
                if p.is_dir() {
                    todo.push(p);
                } else {
                    tree.files.push(p);
                }
            }
            tree.dirs.push(dir);
        }
        tree.dirs[1..].sort();
        Ok(tree)
    }

    fn pick(&mut self) -> Op {
        let total: u64 = OPS.iter().map(|(_, w)| w).sum();
        let mut n = self.rng.below(total);
        for (op, w) in OPS {
            if n < w {
                return op;
            }
            n -= w;
        }
        Op::Create
    }

    /// A new name in a random directory.
    fn new_name(&mut self, prefix: &str) -> PathBuf {
        let d = self.rng.below(self.dirs.len() as u64) as usize;
        let name = format!("{prefix}{:012x}", self.rng.next_u64() >> 16);
        self.dirs[d].join(name)
    }

    fn some_file(&mut self) -> Option<usize> {
        (!self.files.is_empty()).then(|| self.rng.below(self.files.len() as u64) as usize)
    }

    /// A size: mostly small, sometimes up to `max`.
    fn size(&mut self, max: u64) -> u64 {
        if self.rng.below(8) == 0 {
            self.rng.below(max + 1)
        } else {
            self.rng.below(max.min(16 << 10) + 1)
        }
    }

    fn data(&mut self, len: u64) -> Vec<u8> {
        let mut buf = vec![0; len as usize];
        self.rng.fill(&mut buf);
        buf
    }

    /// Does `op` if the tree allows it; returns whether it was done.
    fn apply(&mut self, op: Op, max_file: u64) -> Result<bool, String> {
        match op {
            Op::Create => {
                let path = self.new_name("f");
                let len = self.size(max_file);
                let data = self.data(len);
                let sync = self.rng.below(2) == 0;
                let f = File::create(&path).map_err(|e| at(&path, e))?;
                f.write_all_at(&data, 0).map_err(|e| at(&path, e))?;
                if sync {
                    f.sync_all().map_err(|e| at(&path, e))?;
                }
                self.files.push(path);
            }
            Op::Write | Op::Append => {
                let Some(i) = self.some_file() else {
                    return Ok(false);
                };
                let path = self.files[i].clone();
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| at(&path, e))?;
                let end = f.metadata().map_err(|e| at(&path, e))?.len();
                let off = if op == Op::Append {
                    end
                } else {
                    self.rng.below(end.min(max_file) + 1)
                };
                let room = max_file.saturating_sub(off).max(1);
                let len = self.size(room).max(1);
                let data = self.data(len);
                f.write_all_at(&data, off).map_err(|e| at(&path, e))?;
            }
            Op::Fsync | Op::Fdatasync => {
                let Some(i) = self.some_file() else {
                    return Ok(false);
                };
                let path = &self.files[i];
                let f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| at(path, e))?;
                if op == Op::Fsync {
                    f.sync_all()
                } else {
                    f.sync_data()
                }
                .map_err(|e| at(path, e))?;
            }
            Op::Rename => {
                let Some(i) = self.some_file() else {
                    return Ok(false);
                };
                // A quarter of the renames replace another file.
                let to = match self.some_file() {
                    Some(j) if j != i && self.rng.below(4) == 0 => self.files[j].clone(),
                    _ => self.new_name("r"),
                };
                let from = self.files[i].clone();
                if from == to {
                    return Ok(false);
                }
                fs::rename(&from, &to).map_err(|e| at(&from, e))?;
                // Every name `to` had (one) is gone; `from` is now `to`.
                self.files.retain(|p| *p != to);
                let k = self.files.iter().position(|p| *p == from).unwrap_or(0);
                self.files[k] = to;
            }
            Op::Unlink => {
                let Some(i) = self.some_file() else {
                    return Ok(false);
                };
                let path = self.files.swap_remove(i);
                fs::remove_file(&path).map_err(|e| at(&path, e))?;
            }
            Op::Truncate => {
                let Some(i) = self.some_file() else {
                    return Ok(false);
                };
                let len = self.size(max_file);
                let path = &self.files[i];
                let f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| at(path, e))?;
                f.set_len(len).map_err(|e| at(path, e))?;
            }
            Op::Link => {
                let Some(i) = self.some_file() else {
                    return Ok(false);
                };
                let to = self.new_name("l");
                let from = &self.files[i];
                fs::hard_link(from, &to).map_err(|e| at(from, e))?;
                self.files.push(to);
            }
            Op::Mkdir => {
                let d = self.rng.below(self.dirs.len() as u64) as usize;
                let depth = self.dirs[d]
                    .strip_prefix(&self.root)
                    .map_or(0, |p| p.components().count());
                if depth >= MAX_DEPTH {
                    return Ok(false);
                }
                let path = self.dirs[d].join(format!("d{:08x}", self.rng.next_u64() >> 32));
                fs::create_dir(&path).map_err(|e| at(&path, e))?;
                self.dirs.push(path);
            }
            Op::Rmdir => {
                // An empty directory other than the thread's own.
                let empty: Vec<usize> = (1..self.dirs.len())
                    .filter(|&d| {
                        let dir = &self.dirs[d];
                        !self.files.iter().any(|f| f.starts_with(dir))
                            && !self.dirs.iter().any(|o| o != dir && o.starts_with(dir))
                    })
                    .collect();
                if empty.is_empty() {
                    return Ok(false);
                }
                let d = empty[self.rng.below(empty.len() as u64) as usize];
                let path = self.dirs.swap_remove(d);
                fs::remove_dir(&path).map_err(|e| at(&path, e))?;
            }
            Op::FsyncDir => {
                let d = self.rng.below(self.dirs.len() as u64) as usize;
                let path = &self.dirs[d];
                File::open(path)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| at(path, e))?;
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree_listing(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = vec![];
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    out.push((p.strip_prefix(dir).unwrap().to_path_buf(), vec![]));
                    todo.push(p);
                } else {
                    let data = fs::read(&p).unwrap();
                    out.push((p.strip_prefix(dir).unwrap().to_path_buf(), data));
                }
            }
        }
        out.sort();
        out
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lw-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn opts(dir: &Path, seed: u64) -> Options {
        Options {
            dir: dir.to_path_buf(),
            threads: 3,
            ops: 150,
            seed,
            max_file: 64 << 10,
        }
    }

    #[test]
    fn same_seed_same_tree_and_runs_continue_a_tree() {
        let (a, b) = (scratch("a"), scratch("b"));
        for seed in [5, 6] {
            run(&opts(&a, seed)).unwrap();
            run(&opts(&b, seed)).unwrap();
        }
        let la = tree_listing(&a);
        assert_eq!(la, tree_listing(&b));
        // Files, links and directories were all made.
        assert!(la
            .iter()
            .any(|(p, d)| !d.is_empty() && p.components().count() > 2));
        assert!(la.iter().any(|(p, _)| p.to_string_lossy().contains("/l")));
        let (c, d) = (scratch("c"), scratch("d"));
        run(&opts(&c, 5)).unwrap();
        run(&opts(&d, 7)).unwrap();
        assert_ne!(tree_listing(&c), tree_listing(&d));
        for d in [a, b, c, d] {
            fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn rejects_a_file_as_the_directory() {
        let d = scratch("e");
        let f = d.join("plain");
        fs::write(&f, b"x").unwrap();
        assert!(run(&opts(&f, 1)).unwrap_err().contains("not a directory"));
        fs::remove_dir_all(d).unwrap();
    }
}
