// SPDX-License-Identifier: GPL-2.0

//! On-disk format of a device-mapper `log-writes` log.
//!
//! The single source of truth for the layout, compiled both into the kernel
//! module (as a plain module, through `#[path]`) and into the userspace tools
//! (as the `logformat` crate). It is `no_std`, allocation-free and never
//! panics: encoders write into caller-provided sectors, decoders validate
//! before they return.
//!
//! Layout, all little-endian. Log sector 0 holds the [`Super`]. Each entry
//! then takes one log sector for its [`EntryHeader`] (followed, for a mark, by
//! the mark text), zero-padded to the end of the sector, and then
//! `nr_sectors` sectors of data, except for discards and marks, which carry
//! none. "Sector" means the log's sector size, the logical block size of the
//! logged device (512 or 4096), not the kernel's 512-byte unit.

#![cfg_attr(not(MODULE), no_std)]

/// `WRITE_LOG_MAGIC` of the C target.
pub const MAGIC: u64 = 0x006a_7366_7773_6872;
/// The only format version there is.
pub const VERSION: u64 = 1;
/// Bytes of the super block's fields (`struct log_write_super`, not packed:
/// 8 + 8 + 8 + 4 plus 4 bytes of trailing padding, written as zeroes).
pub const SUPER_LEN: usize = 32;
/// Bytes of an entry header's fields (`struct log_write_entry`).
pub const ENTRY_LEN: usize = 32;
/// Smallest and largest log sector sizes the format allows.
pub const MIN_SECTOR_SIZE: u32 = 512;
/// See [`MIN_SECTOR_SIZE`].
pub const MAX_SECTOR_SIZE: u32 = 65536;

/// Entry flag: the entry is a cache flush (`REQ_PREFLUSH`).
pub const FLAG_FLUSH: u64 = 1 << 0;
/// Entry flag: forced unit access (`REQ_FUA`).
pub const FLAG_FUA: u64 = 1 << 1;
/// Entry flag: a discard; no data follows the header.
pub const FLAG_DISCARD: u64 = 1 << 2;
/// Entry flag: a mark; its text follows the header inside the header sector.
pub const FLAG_MARK: u64 = 1 << 3;
/// Entry flag: metadata write (`REQ_META`).
pub const FLAG_METADATA: u64 = 1 << 4;
/// Entry flag (this project's, with [`FLAG_FLUSH`]): a flush the target sent
/// to the data device on its own (to bound the memory it holds, or before a
/// suspend or remove), not one the filesystem asked for. It is a real
/// durability point; a crash-consistency check that must only stop where
/// the filesystem flushed skips it. xfstests' replay-log shows unknown bits
/// and otherwise treats the entry as a flush.
pub const FLAG_TARGET: u64 = 1 << 5;
/// Every flag bit the format defines.
pub const KNOWN_FLAGS: u64 =
    FLAG_FLUSH | FLAG_FUA | FLAG_DISCARD | FLAG_MARK | FLAG_METADATA | FLAG_TARGET;

/// Names of the flags, in bit order, for display.
pub const FLAG_NAMES: [(u64, &str); 6] = [
    (FLAG_FLUSH, "FLUSH"),
    (FLAG_FUA, "FUA"),
    (FLAG_DISCARD, "DISCARD"),
    (FLAG_MARK, "MARK"),
    (FLAG_METADATA, "METADATA"),
    (FLAG_TARGET, "TARGET"),
];

/// Why a sector did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// The buffer is shorter than the structure or the sector.
    Short,
    /// The super block's magic is not [`MAGIC`].
    BadMagic(u64),
    /// The super block's version is not [`VERSION`].
    BadVersion(u64),
    /// The sector size is not a power of two in the allowed range.
    BadSectorSize(u32),
    /// An entry uses flag bits the format does not define.
    UnknownFlags(u64),
    /// A mark's text does not fit in the header sector.
    MarkTooLong(u64),
    /// An entry with no flags and no sectors (what a zeroed sector decodes
    /// to; replay-log rejects it too).
    Empty,
    /// A byte that must be zero (padding after header or mark) is not, at
    /// this offset within the sector.
    NonZeroPadding(usize),
}

impl core::fmt::Display for FormatError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            FormatError::Short => write!(f, "buffer shorter than a sector"),
            FormatError::BadMagic(m) => write!(f, "bad magic {m:#x} (expected {MAGIC:#x})"),
            FormatError::BadVersion(v) => write!(f, "unsupported version {v} (expected {VERSION})"),
            FormatError::BadSectorSize(s) => write!(f, "invalid sector size {s}"),
            FormatError::UnknownFlags(fl) => write!(f, "unknown flag bits {fl:#x}"),
            FormatError::MarkTooLong(n) => write!(f, "mark of {n} bytes does not fit its sector"),
            FormatError::Empty => write!(f, "empty entry (no flags, no sectors)"),
            FormatError::NonZeroPadding(o) => {
                write!(f, "non-zero byte at offset {o} of the header sector")
            }
        }
    }
}

fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

/// Whether `size` is a log sector size the format allows.
pub fn valid_sector_size(size: u32) -> bool {
    size.is_power_of_two() && (MIN_SECTOR_SIZE..=MAX_SECTOR_SIZE).contains(&size)
}

/// Longest mark text that fits in a header sector of `sector_size` bytes.
/// One byte less than the room after the header, as in the C target, which
/// keeps a terminating NUL.
pub fn max_mark_len(sector_size: u32) -> usize {
    (sector_size as usize).saturating_sub(ENTRY_LEN + 1)
}

/// A 64-bit FNV-1a hash of `data`: what tests record of each 512-byte
/// sector written, and compare with the sector's copy in a log.
pub fn sector_hash(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The log super block (log sector 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Super {
    /// Entries written when the super block was last updated.
    pub nr_entries: u64,
    /// Log sector size in bytes.
    pub sector_size: u32,
}

impl Super {
    /// The 32 bytes of the super block's fields (trailing padding zero).
    pub fn fields(&self) -> [u8; SUPER_LEN] {
        let mut b = [0u8; SUPER_LEN];
        b[0..8].copy_from_slice(&MAGIC.to_le_bytes());
        b[8..16].copy_from_slice(&VERSION.to_le_bytes());
        b[16..24].copy_from_slice(&self.nr_entries.to_le_bytes());
        b[24..28].copy_from_slice(&self.sector_size.to_le_bytes());
        b
    }

    /// Writes the super block into `sector` (one whole log sector), zeroing
    /// everything after the fields. Fails if `sector` is shorter than 32 bytes.
    pub fn encode(&self, sector: &mut [u8]) -> Result<(), FormatError> {
        if sector.len() < SUPER_LEN {
            return Err(FormatError::Short);
        }
        sector.fill(0);
        sector[..SUPER_LEN].copy_from_slice(&self.fields());
        Ok(())
    }

    /// Reads and validates the super block from the start of the log.
    pub fn decode(buf: &[u8]) -> Result<Self, FormatError> {
        if buf.len() < SUPER_LEN {
            return Err(FormatError::Short);
        }
        let magic = get_u64(buf, 0);
        if magic != MAGIC {
            return Err(FormatError::BadMagic(magic));
        }
        let version = get_u64(buf, 8);
        if version != VERSION {
            return Err(FormatError::BadVersion(version));
        }
        let sector_size = get_u32(buf, 24);
        if !valid_sector_size(sector_size) {
            return Err(FormatError::BadSectorSize(sector_size));
        }
        Ok(Super {
            nr_entries: get_u64(buf, 16),
            sector_size,
        })
    }
}

/// One entry's header, as stored at the start of its header sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryHeader {
    /// First sector written on the logged device, in log sectors.
    pub sector: u64,
    /// Sectors written (or discarded), in log sectors.
    pub nr_sectors: u64,
    /// `FLAG_*` bits.
    pub flags: u64,
    /// Length of the mark text for a mark; zero otherwise.
    pub data_len: u64,
}

impl EntryHeader {
    /// The 32 bytes of the header's fields.
    pub fn fields(&self) -> [u8; ENTRY_LEN] {
        let mut b = [0u8; ENTRY_LEN];
        b[0..8].copy_from_slice(&self.sector.to_le_bytes());
        b[8..16].copy_from_slice(&self.nr_sectors.to_le_bytes());
        b[16..24].copy_from_slice(&self.flags.to_le_bytes());
        b[24..32].copy_from_slice(&self.data_len.to_le_bytes());
        b
    }

    /// Writes the header and, for a mark, its `text` into `sector` (one
    /// whole log sector), zeroing the rest. `data_len` must equal
    /// `text.len()` and the text must fit (see [`max_mark_len`]).
    pub fn encode(&self, text: &[u8], sector: &mut [u8]) -> Result<(), FormatError> {
        if sector.len() < ENTRY_LEN {
            return Err(FormatError::Short);
        }
        if text.len() as u64 != self.data_len || text.len() > sector.len() - ENTRY_LEN {
            return Err(FormatError::MarkTooLong(self.data_len));
        }
        sector.fill(0);
        sector[..ENTRY_LEN].copy_from_slice(&self.fields());
        sector[ENTRY_LEN..ENTRY_LEN + text.len()].copy_from_slice(text);
        Ok(())
    }

    /// Reads the header from a whole header sector, checking flags, mark
    /// length and that every byte after the header (and the mark text) is
    /// zero. Returns the header and the mark text (empty unless a mark).
    pub fn decode(sector: &[u8]) -> Result<(Self, &[u8]), FormatError> {
        if sector.len() < ENTRY_LEN {
            return Err(FormatError::Short);
        }
        let h = EntryHeader {
            sector: get_u64(sector, 0),
            nr_sectors: get_u64(sector, 8),
            flags: get_u64(sector, 16),
            data_len: get_u64(sector, 24),
        };
        if h.flags & !KNOWN_FLAGS != 0 {
            return Err(FormatError::UnknownFlags(h.flags & !KNOWN_FLAGS));
        }
        if h.flags == 0 && h.nr_sectors == 0 {
            return Err(FormatError::Empty);
        }
        let room = (sector.len() - ENTRY_LEN) as u64;
        let text_len = if h.is_mark() {
            if h.data_len > room {
                return Err(FormatError::MarkTooLong(h.data_len));
            }
            h.data_len as usize
        } else {
            0
        };
        let text = &sector[ENTRY_LEN..ENTRY_LEN + text_len];
        if let Some(i) = sector[ENTRY_LEN + text_len..].iter().position(|&b| b != 0) {
            return Err(FormatError::NonZeroPadding(ENTRY_LEN + text_len + i));
        }
        Ok((h, text))
    }

    /// Whether this entry is a mark.
    pub fn is_mark(&self) -> bool {
        self.flags & FLAG_MARK != 0
    }

    /// Whether this entry is a discard.
    pub fn is_discard(&self) -> bool {
        self.flags & FLAG_DISCARD != 0
    }

    /// Log sectors of data that follow the header sector: `nr_sectors`,
    /// except for a discard, whose range carries no data. (A mark has
    /// `nr_sectors == 0`.)
    pub fn data_sectors(&self) -> u64 {
        if self.is_discard() {
            0
        } else {
            self.nr_sectors
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn super_layout_matches_the_c_struct() {
        let mut s = [0xffu8; 512];
        Super {
            nr_entries: 0x0102,
            sector_size: 4096,
        }
        .encode(&mut s)
        .unwrap();
        assert_eq!(&s[0..8], &0x6a736677736872u64.to_le_bytes());
        assert_eq!(&s[8..16], &1u64.to_le_bytes());
        assert_eq!(&s[16..24], &0x0102u64.to_le_bytes());
        assert_eq!(&s[24..28], &4096u32.to_le_bytes());
        assert!(s[28..].iter().all(|&b| b == 0));
        assert_eq!(
            Super::decode(&s),
            Ok(Super {
                nr_entries: 0x0102,
                sector_size: 4096
            })
        );
    }

    #[test]
    fn super_rejects_bad_magic_version_and_sector_size() {
        let mut s = [0u8; 512];
        Super {
            nr_entries: 1,
            sector_size: 512,
        }
        .encode(&mut s)
        .unwrap();
        let mut bad = s;
        bad[0] ^= 1;
        assert!(matches!(Super::decode(&bad), Err(FormatError::BadMagic(_))));
        let mut bad = s;
        bad[8] = 2;
        assert_eq!(Super::decode(&bad), Err(FormatError::BadVersion(2)));
        for size in [0u32, 256, 513, 1 << 20] {
            let mut bad = s;
            bad[24..28].copy_from_slice(&size.to_le_bytes());
            assert_eq!(Super::decode(&bad), Err(FormatError::BadSectorSize(size)));
        }
        assert_eq!(Super::decode(&s[..31]), Err(FormatError::Short));
    }

    #[test]
    fn mark_round_trips_and_is_zero_padded() {
        let mut s = [0xaau8; 512];
        let h = EntryHeader {
            flags: FLAG_MARK,
            data_len: 4,
            ..Default::default()
        };
        h.encode(b"mark", &mut s).unwrap();
        assert_eq!(&s[32..36], b"mark");
        assert!(s[36..].iter().all(|&b| b == 0));
        let (d, text) = EntryHeader::decode(&s).unwrap();
        assert_eq!((d, text), (h, &b"mark"[..]));
        assert_eq!(d.data_sectors(), 0);
    }

    #[test]
    fn write_and_discard_data_sectors() {
        let w = EntryHeader {
            sector: 8,
            nr_sectors: 16,
            flags: FLAG_FUA,
            data_len: 0,
        };
        assert_eq!(w.data_sectors(), 16);
        let d = EntryHeader {
            sector: 8,
            nr_sectors: 16,
            flags: FLAG_DISCARD,
            data_len: 0,
        };
        assert_eq!(d.data_sectors(), 0);
    }

    #[test]
    fn decode_rejects_malformed_headers() {
        let mut s = [0u8; 512];
        assert_eq!(EntryHeader::decode(&s), Err(FormatError::Empty));
        s[16] = 0x40;
        assert_eq!(
            EntryHeader::decode(&s),
            Err(FormatError::UnknownFlags(0x40))
        );
        s[16] = FLAG_FLUSH as u8;
        s[100] = 1;
        assert_eq!(
            EntryHeader::decode(&s),
            Err(FormatError::NonZeroPadding(100))
        );
        s[100] = 0;
        s[16] = FLAG_MARK as u8;
        s[24..32].copy_from_slice(&481u64.to_le_bytes());
        assert_eq!(EntryHeader::decode(&s), Err(FormatError::MarkTooLong(481)));
        assert_eq!(EntryHeader::decode(&s[..31]), Err(FormatError::Short));
    }

    #[test]
    fn encode_refuses_marks_that_do_not_fit() {
        let mut s = [0u8; 512];
        let text = [b'x'; 481];
        let h = EntryHeader {
            flags: FLAG_MARK,
            data_len: 481,
            ..Default::default()
        };
        assert!(h.encode(&text, &mut s).is_err());
        assert_eq!(max_mark_len(512), 479);
        assert_eq!(max_mark_len(4096), 4063);
    }
}
