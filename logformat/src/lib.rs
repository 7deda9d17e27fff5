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
//!
//! Grouped logs (this project's extension, the `group:<name>` table option)
//! carry two more things where the C format has zeroes that xfstests'
//! replay-log never reads: the last [`GROUP_TRAILER_LEN`] bytes of every
//! header sector hold the entry's place in the group's order of events
//! ([`GroupStamp`], [`group_trailer`]), and the last [`GROUP_TAG_LEN`] bytes of the
//! super block sector hold the group's name ([`group_tag`]). A log without
//! them is byte for byte the C target's.

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

/// Bytes at the end of a grouped log's header sectors: [`GROUP_MAGIC`],
/// then the entry's [`GroupStamp`].
pub const GROUP_TRAILER_LEN: usize = 24;
/// Marks a header sector's trailer.
pub const GROUP_MAGIC: u64 = u64::from_le_bytes(*b"lw-group");
/// Longest group name.
pub const GROUP_NAME_MAX: usize = 64;
/// Bytes at the end of a grouped log's super block sector: the group name,
/// NUL-padded to [`GROUP_NAME_MAX`], then [`GROUP_NAME_MAGIC`].
pub const GROUP_TAG_LEN: usize = GROUP_NAME_MAX + 8;
/// Marks the super block's group tag.
pub const GROUP_NAME_MAGIC: u64 = u64::from_le_bytes(*b"lw-grpnm");

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
    /// A super block's group tag holds no valid group name.
    BadGroupName,
    /// A header sector of a group member's log lacks the group trailer.
    NoGroupTrailer,
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
            FormatError::BadGroupName => write!(f, "group tag holds no valid group name"),
            FormatError::NoGroupTrailer => {
                write!(
                    f,
                    "no group trailer in a header sector of a group member's log"
                )
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

/// Longest mark text in a grouped log, whose header sectors end with the
/// group trailer.
pub fn max_grouped_mark_len(sector_size: u32) -> usize {
    max_mark_len(sector_size).saturating_sub(GROUP_TRAILER_LEN)
}

/// Whether `name` can name a group: 1 to [`GROUP_NAME_MAX`] bytes of
/// ASCII letters, digits, `_`, `-` and `.`.
pub fn valid_group_name(name: &[u8]) -> bool {
    (1..=GROUP_NAME_MAX).contains(&name.len())
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Where a grouped entry is in its group's order of events. Every event of
/// every member takes the group's next number: an entry becoming durable
/// (`seq`), and a plain write completing into a volatile cache before that
/// (`completed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupStamp {
    /// The event of the entry becoming durable: the group point from which
    /// on the member holds it.
    pub seq: u64,
    /// For a plain write, the event of its completion: from then until
    /// `seq` it sat in a volatile cache, and a crash may or may not have
    /// kept it. For any other entry, `seq`.
    pub completed: u64,
}

/// The trailer of a grouped entry stamped `stamp`, to be written at
/// [`group_trailer_offset`] of its header sector.
pub fn group_trailer(stamp: GroupStamp) -> [u8; GROUP_TRAILER_LEN] {
    let mut b = [0u8; GROUP_TRAILER_LEN];
    b[0..8].copy_from_slice(&GROUP_MAGIC.to_le_bytes());
    b[8..16].copy_from_slice(&stamp.seq.to_le_bytes());
    b[16..24].copy_from_slice(&stamp.completed.to_le_bytes());
    b
}

/// Where the group trailer starts in a header sector of `sector_size` bytes.
pub fn group_trailer_offset(sector_size: u32) -> usize {
    (sector_size as usize).saturating_sub(GROUP_TRAILER_LEN)
}

/// The stamp in a header sector's group trailer, if it has one.
pub fn group_stamp(sector: &[u8]) -> Option<GroupStamp> {
    let at = sector.len().checked_sub(GROUP_TRAILER_LEN)?;
    (at >= ENTRY_LEN && get_u64(sector, at) == GROUP_MAGIC).then(|| GroupStamp {
        seq: get_u64(sector, at + 8),
        completed: get_u64(sector, at + 16),
    })
}

/// The super block tag of group `name` (a [`valid_group_name`]), to be
/// written at [`group_tag_offset`] of the super block sector.
pub fn group_tag(name: &[u8]) -> Result<[u8; GROUP_TAG_LEN], FormatError> {
    if !valid_group_name(name) {
        return Err(FormatError::BadGroupName);
    }
    let mut b = [0u8; GROUP_TAG_LEN];
    b[..name.len()].copy_from_slice(name);
    b[GROUP_NAME_MAX..].copy_from_slice(&GROUP_NAME_MAGIC.to_le_bytes());
    Ok(b)
}

/// Where the group tag starts in a super block sector of `sector_size` bytes.
pub fn group_tag_offset(sector_size: u32) -> usize {
    (sector_size as usize).saturating_sub(GROUP_TAG_LEN)
}

/// The group name in a super block sector: `Ok(None)` for a log of no
/// group, an error for a tag whose name is not valid.
pub fn group_name(sector: &[u8]) -> Result<Option<&[u8]>, FormatError> {
    let Some(at) = sector.len().checked_sub(GROUP_TAG_LEN) else {
        return Ok(None);
    };
    if at < SUPER_LEN || get_u64(sector, at + GROUP_NAME_MAX) != GROUP_NAME_MAGIC {
        return Ok(None);
    }
    let field = &sector[at..at + GROUP_NAME_MAX];
    let len = field.iter().position(|&b| b == 0).unwrap_or(GROUP_NAME_MAX);
    let name = &field[..len];
    if !valid_group_name(name) || field[len..].iter().any(|&b| b != 0) {
        return Err(FormatError::BadGroupName);
    }
    Ok(Some(name))
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

    /// Reads the header from a whole header sector of a log of no group,
    /// checking flags, mark length and that every byte after the header
    /// (and the mark text) is zero. Returns the header and the mark text
    /// (empty unless a mark).
    pub fn decode(sector: &[u8]) -> Result<(Self, &[u8]), FormatError> {
        Self::decode_within(sector, sector.len())
    }

    /// As [`EntryHeader::decode`], for a header sector of a group member's
    /// log (its super block carries a group tag, [`group_name`]): the
    /// sector must end with the group trailer, which the mark text must not
    /// reach. Returns its stamp too.
    pub fn decode_grouped(sector: &[u8]) -> Result<(Self, &[u8], GroupStamp), FormatError> {
        let stamp = group_stamp(sector).ok_or(FormatError::NoGroupTrailer)?;
        let (h, text) = Self::decode_within(sector, sector.len() - GROUP_TRAILER_LEN)?;
        Ok((h, text, stamp))
    }

    /// Decodes a header whose text and zero padding end at byte `end`.
    fn decode_within(sector: &[u8], end: usize) -> Result<(Self, &[u8]), FormatError> {
        if sector.len() < ENTRY_LEN || end < ENTRY_LEN || end > sector.len() {
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
        let room = (end - ENTRY_LEN) as u64;
        let text_len = if h.is_mark() {
            if h.data_len > room {
                return Err(FormatError::MarkTooLong(h.data_len));
            }
            h.data_len as usize
        } else {
            0
        };
        let text = &sector[ENTRY_LEN..ENTRY_LEN + text_len];
        if let Some(i) = sector[ENTRY_LEN + text_len..end]
            .iter()
            .position(|&b| b != 0)
        {
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
    fn group_trailer_and_tag_round_trip() {
        let mut s = [0u8; 512];
        let h = EntryHeader {
            flags: FLAG_MARK,
            data_len: 4,
            ..Default::default()
        };
        h.encode(b"mark", &mut s).unwrap();
        assert_eq!(group_stamp(&s), None);
        let stamp = GroupStamp {
            seq: 0x1234,
            completed: 0x1200,
        };
        s[group_trailer_offset(512)..].copy_from_slice(&group_trailer(stamp));
        assert_eq!(&s[488..496], b"lw-group");
        assert_eq!(group_stamp(&s), Some(stamp));
        assert_eq!(
            EntryHeader::decode_grouped(&s),
            Ok((h, &b"mark"[..], stamp))
        );
        // In a log of no group, the trailer is padding that is not zero.
        assert_eq!(
            EntryHeader::decode(&s),
            Err(FormatError::NonZeroPadding(488))
        );
        // The padding before the trailer is still checked.
        s[487] = 1;
        assert_eq!(
            EntryHeader::decode_grouped(&s),
            Err(FormatError::NonZeroPadding(487))
        );
        s[487] = 0;
        // A mark that runs into the trailer is not a mark of a grouped log.
        s[24..32].copy_from_slice(&457u64.to_le_bytes());
        assert_eq!(
            EntryHeader::decode_grouped(&s),
            Err(FormatError::MarkTooLong(457))
        );
        // A long mark of a log of no group may hold the magic where a
        // trailer would be: it is text, not a trailer.
        let mut c = [0u8; 512];
        let mut text = [b'x'; 479];
        text[456..464].copy_from_slice(b"lw-group");
        let long = EntryHeader {
            flags: FLAG_MARK,
            data_len: 479,
            ..Default::default()
        };
        long.encode(&text, &mut c).unwrap();
        assert_eq!(EntryHeader::decode(&c), Ok((long, &text[..])));
        let mut plain = [0u8; 512];
        h.encode(b"mark", &mut plain).unwrap();
        assert_eq!(
            EntryHeader::decode_grouped(&plain),
            Err(FormatError::NoGroupTrailer)
        );
        assert_eq!(max_grouped_mark_len(512), 455);

        let mut sb = [0u8; 512];
        Super {
            nr_entries: 3,
            sector_size: 512,
        }
        .encode(&mut sb)
        .unwrap();
        assert_eq!(group_name(&sb), Ok(None));
        sb[group_tag_offset(512)..].copy_from_slice(&group_tag(b"xfs-ext.log").unwrap());
        assert_eq!(group_name(&sb), Ok(Some(&b"xfs-ext.log"[..])));
        assert_eq!(&sb[504..], b"lw-grpnm");
        assert_eq!(Super::decode(&sb).unwrap().nr_entries, 3);
        sb[group_tag_offset(512) + 20] = b'x';
        assert_eq!(group_name(&sb), Err(FormatError::BadGroupName));
        for bad in [&b""[..], b"a b", b"a:b", &[b'a'; 65]] {
            assert_eq!(group_tag(bad), Err(FormatError::BadGroupName));
        }
        assert!(group_tag(&[b'a'; 64]).is_ok());
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
