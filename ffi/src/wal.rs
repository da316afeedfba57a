//! Write-ahead log of the audit ledger.
//!
//! The audit worker appends every ledger record here before it reaches the MMR; a record is
//! *acknowledged* once a [`Wal::sync`] that covers it has returned `Ok`. The log lives in one
//! directory of segment files and is read back in order on start-up.
//!
//! # On-disk format (version 1)
//!
//! A segment is named after the sequence number of its first record, as 20 decimal digits:
//! `00000000000000000000.seg`, `00000000000000052113.seg`, ... Other names in the directory are
//! ignored and never touched; a file that carries a segment name is presumed to be a segment.
//!
//! Every segment starts with a 24-byte header:
//!
//! | bytes  | field                                                       |
//! |--------|-------------------------------------------------------------|
//! | 0..8   | magic `WDNWAL01` (ASCII)                                    |
//! | 8..12  | format version, u32 little-endian (`1`)                     |
//! | 12..20 | sequence number of the first record, u64 little-endian      |
//! | 20..24 | CRC-32C of bytes 0..20, u32 little-endian                   |
//!
//! followed by frames, back to back, to the end of the file:
//!
//! | bytes        | field                                                  |
//! |--------------|--------------------------------------------------------|
//! | 0..4         | payload length `n`, u32 little-endian, `n ≤ 65535`     |
//! | 4..8         | CRC-32C, u32 little-endian                             |
//! | 8            | record type, u8, `1..=255` (0 is reserved)             |
//! | 9..9+n       | payload                                                |
//!
//! **The frame CRC is CRC-32C (Castagnoli, reflected, init and xor-out `0xFFFFFFFF`, the iSCSI
//! CRC of RFC 3720) computed over the record type byte followed by the payload bytes — exactly
//! the `1 + n` bytes from offset 8 to the end of the frame.** It does not cover the length field;
//! a damaged length shows up as a length over the maximum, a frame running past the end of the
//! file, or a CRC mismatch over the wrong span. Type 0 is reserved so that a zero-filled region
//! (what a dropped write before a kept one leaves behind) can never be an intact frame (its CRC
//! field would also have to be `crc32c([0]) = 0x527D5351`).
//!
//! Records have implicit sequence numbers 0, 1, 2, ... in append order across segments; segment
//! `k+1` starts with the sequence number that follows the last record of segment `k`.
//! The payload limit (65 535 bytes) is the largest entry a C2SP tlog-tiles entry bundle can hold
//! (each entry there has a big-endian uint16 length prefix). Future format versions must keep
//! the 24-byte header layout so that this version refuses them ([`ERR_FORMAT`]) instead of
//! treating them as damage.
//!
//! # Group commit
//!
//! [`Wal::append_batch`] (or [`Wal::append_packed`], the layout the FFI uses) encodes a whole
//! batch into one reused buffer and writes it with **one** positioned write; the records are then
//! written but not durable. [`Wal::sync`] is **one** `fdatasync` of the active segment and makes
//! everything appended so far durable. The batching policy lives in the caller:
//!
//! ```text
//! loop {
//!     let batch = queue.take(up to N records or until a short linger expires);
//!     let first = wal.append_batch(TYPE, &batch)?;   // one write(2)
//!     wal.sync()?;                                    // one fsync for the whole batch
//!     acknowledge(first .. first + batch.len());      // now, and only now
//! }
//! ```
//!
//! A batch is never split across segments: when the active segment already holds records and the
//! batch would take it past the rotation size, the WAL first rotates (fsync the full segment,
//! create the next one, write and fsync its header, fsync the directory). A segment therefore
//! exceeds the rotation size only when a single batch is larger than it. No per-record system call
//! or allocation happens on the append path (the sequence-number index grows amortised).
//!
//! # Failure semantics
//!
//! * An fsync error (of a segment or of the directory) is fatal: the handle enters the failed
//!   state and every later call returns [`ERR_FAILED`]. Nothing is retried: after a failed
//!   writeback Linux may have dropped the dirty pages and marks them clean, so a second fsync
//!   would report success for data that is not on disk (PostgreSQL's "fsyncgate"). Reopen the log
//!   (recovery) to continue; records appended since the last successful sync were never
//!   acknowledged and may or may not be there afterwards.
//! * A failed write (for example ENOSPC) is rolled back by truncating the segment to its previous
//!   length and fsyncing it (so no frame of the failed batch can reappear after a crash); the call
//!   returns the error and the handle stays usable (nothing of the batch was appended). If the
//!   rollback fails too, the handle enters the failed state, and frames of that batch may be
//!   found (whole, never garbage) after recovery like any other unacknowledged record.
//! * Errors are classified: full disk or quota ([`ERR_NOSPACE`]), read-only file system or
//!   permission denied ([`ERR_READONLY`]), anything else ([`ERR_IO`]).
//!
//! # Recovery (on every open)
//!
//! The caller passes the *durability watermark*: the tree size of the last signed checkpoint.
//! Every record below it was acknowledged and is covered by a signature, so it must be intact.
//! Open scans all segments in order and verifies every header and frame. The first problem found
//! — a torn or invalid header, a short frame, a length over the maximum, a CRC mismatch, or a
//! segment whose first sequence number does not continue the previous one — is *the damage*,
//! located by segment file, byte offset and sequence number (the sequence number the damaged
//! record would have). Then:
//!
//! 1. Damage at a sequence number **below the watermark**: open fails with [`ERR_CORRUPT`] and a
//!    message naming segment, offset and sequence number. Nothing is modified; the gateway must
//!    refuse to serve rather than silently drop acknowledged records.
//! 2. Damage **at or above the watermark** is a torn tail: every later segment is deleted (last
//!    first), the directory is fsynced, and the damaged segment is truncated at the damage offset
//!    with `ftruncate` + fsync — or deleted too when its header is the damage. The recovery report
//!    says how many bytes and (best effort: a partial frame counts as one, frames after a damaged
//!    length cannot be counted) how many records were dropped. No manual step is ever needed.
//! 3. A last segment that holds nothing but a torn header (at most 24 bytes, header invalid) is the
//!    remnant of an interrupted segment creation; it holds no record and is deleted.
//! 4. A log that ends cleanly before the watermark is missing acknowledged records: [`ERR_CORRUPT`].
//! 5. A segment with an intact header of another format version: [`ERR_FORMAT`], whatever the
//!    watermark (a newer build wrote it; never truncate it).
//!
//! After recovery the last segment is fsynced (whatever the page cache held of a killed process is
//! now durable) and so is the directory; then every record in the log is durable.
//!
//! Recovery is idempotent: a crash in the middle of it leaves a state the next open repairs.
//!
//! # Threads
//!
//! A [`Wal`] is used by one thread at a time (the audit worker); calls on one handle must not run
//! concurrently. Reads after open are O(1): an in-memory index (8 bytes per record) maps a
//! sequence number to its segment and offset.

use std::fmt;
use std::io;
use std::path::Path;

mod ffi;
mod format;
pub mod sim;
mod storage;
#[cfg(test)]
mod tests;

pub use ffi::{
    warden_wal_append, warden_wal_close, warden_wal_durable_len, warden_wal_last_error, warden_wal_len,
    warden_wal_open, warden_wal_read, warden_wal_read_batch, warden_wal_sync,
};
pub use format::{
    count_frames, encode_header, frame_crc, parse_frame, parse_segment_name, segment_name, Frame, FrameProblem,
    HeaderProblem, FORMAT_VERSION, FRAME_HEADER_LEN, HEADER_LEN, MAGIC, MAX_PAYLOAD,
};
pub use storage::{FsFile, FsStorage, OpenDirError, Storage, StorageFile};

/// Generic I/O error (EIO and anything not classified below).
pub const ERR_IO: i32 = -2;
/// Invalid argument: null pointer, record type 0, offsets not ascending, bad segment size.
pub const ERR_INVALID: i32 = -3;
/// `seq` is not below the number of records.
pub const ERR_NOT_FOUND: i32 = -4;
/// Damaged data: at open, damage below the watermark or acknowledged records missing; when
/// reading, a record whose bytes changed since open.
pub const ERR_CORRUPT: i32 = -5;
/// A payload is longer than [`MAX_PAYLOAD`] bytes; nothing of the batch was written.
pub const ERR_TOO_LARGE: i32 = -6;
/// The disk (or the quota) is full (ENOSPC, EDQUOT).
pub const ERR_NOSPACE: i32 = -7;
/// The file system is read-only or access is denied (EROFS, EACCES, EPERM).
pub const ERR_READONLY: i32 = -8;
/// The handle is in the failed state after an fsync error (or an unrecoverable write error);
/// close it and open the log again.
pub const ERR_FAILED: i32 = -9;
/// A segment of an unsupported format version.
pub const ERR_FORMAT: i32 = -10;
/// The directory is locked by another open handle (this or another process).
pub const ERR_LOCKED: i32 = -11;

/// Default rotation size of a segment.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// Smallest accepted rotation size.
pub const MIN_SEGMENT_BYTES: u64 = 64;

const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;
const MAX_SEGMENTS: usize = 1 << (64 - OFFSET_BITS);

#[inline]
fn pack(segment: usize, offset: u64) -> u64 {
    ((segment as u64) << OFFSET_BITS) | offset
}

#[inline]
fn unpack(entry: u64) -> (usize, u64) {
    ((entry >> OFFSET_BITS) as usize, entry & OFFSET_MASK)
}

/// Where a damaged record or header is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Segment file name.
    pub segment: String,
    /// Byte offset of the damaged frame (0 for a damaged header or a misnamed segment).
    pub offset: u64,
    /// Sequence number the damaged record has (or would have).
    pub seq: u64,
    /// What is wrong, in words.
    pub reason: String,
}

/// Errors of the WAL. [`WalError::code`] maps each to a stable status code.
#[derive(Debug)]
pub enum WalError {
    Io { op: &'static str, path: String, source: io::Error },
    /// Damage. `watermark` is `Some` when found at open (damage below the watermark).
    Corrupt { path: String, damage: Damage, watermark: Option<u64> },
    Format { path: String, version: u32 },
    TooLarge { index: usize, len: usize },
    Invalid(String),
    NotFound { seq: u64, len: u64 },
    BufferTooSmall { need: usize },
    Failed { cause: String },
    Locked { dir: String },
}

/// Status code of an I/O error: full disk, read-only, or generic.
pub fn io_error_code(e: &io::Error) -> i32 {
    use io::ErrorKind as K;
    match e.kind() {
        K::StorageFull | K::QuotaExceeded => return ERR_NOSPACE,
        K::ReadOnlyFilesystem | K::PermissionDenied => return ERR_READONLY,
        _ => {}
    }
    match e.raw_os_error() {
        Some(28) | Some(122) => ERR_NOSPACE,
        Some(30) | Some(13) | Some(1) => ERR_READONLY,
        _ => ERR_IO,
    }
}

impl WalError {
    /// The status code the FFI returns for this error.
    pub fn code(&self) -> i32 {
        match self {
            WalError::Io { source, .. } => io_error_code(source),
            WalError::Corrupt { .. } => ERR_CORRUPT,
            WalError::Format { .. } => ERR_FORMAT,
            WalError::TooLarge { .. } => ERR_TOO_LARGE,
            WalError::Invalid(_) => ERR_INVALID,
            WalError::NotFound { .. } => ERR_NOT_FOUND,
            WalError::BufferTooSmall { .. } => crate::ERR_BUFFER_TOO_SMALL,
            WalError::Failed { .. } => ERR_FAILED,
            WalError::Locked { .. } => ERR_LOCKED,
        }
    }

    /// The location of the damage, for [`WalError::Corrupt`].
    pub fn damage(&self) -> Option<&Damage> {
        match self {
            WalError::Corrupt { damage, .. } => Some(damage),
            _ => None,
        }
    }
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalError::Io { op, path, source } => {
                let what = match io_error_code(source) {
                    ERR_NOSPACE => "no space left on the device",
                    ERR_READONLY => "read-only file system or permission denied",
                    _ => "I/O error",
                };
                write!(f, "WAL {op} of {path} failed: {what} ({source})")
            }
            WalError::Corrupt { path, damage, watermark: Some(w) } => write!(
                f,
                "WAL damage below the durability watermark: segment {path}, byte offset {}, record seq {}: {}. \
                 The last signed checkpoint covers {w} records, so this record was acknowledged; refusing to start \
                 rather than drop it (restore the segment from a backup or investigate the disk)",
                damage.offset, damage.seq, damage.reason
            ),
            WalError::Corrupt { path, damage, watermark: None } => write!(
                f,
                "WAL record seq {} in segment {path} at byte offset {} is damaged: {}",
                damage.seq, damage.offset, damage.reason
            ),
            WalError::Format { path, version } => write!(
                f,
                "WAL segment {path} has format version {version}; this build reads version {FORMAT_VERSION} \
                 (was the log written by a newer Warden?)"
            ),
            WalError::TooLarge { index, len } => write!(
                f,
                "WAL record {index} of the batch has {len} bytes; the maximum is {MAX_PAYLOAD} (C2SP tlog-tiles \
                 entries carry a 16-bit length); nothing of the batch was written"
            ),
            WalError::Invalid(msg) => write!(f, "WAL: invalid argument: {msg}"),
            WalError::NotFound { seq, len } => write!(f, "WAL has no record {seq} (it holds {len} records)"),
            WalError::BufferTooSmall { need } => write!(f, "WAL: the buffer is too small; {need} bytes needed"),
            WalError::Failed { cause } => {
                write!(f, "WAL is in the failed state after an earlier fatal error ({cause}); reopen it")
            }
            WalError::Locked { dir } => write!(f, "WAL directory {dir} is in use by another open handle or process"),
        }
    }
}

impl std::error::Error for WalError {}

/// Settings of [`Wal::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Rotation size of a segment in bytes; 0 means [`DEFAULT_SEGMENT_BYTES`].
    pub segment_bytes: u64,
    /// Durability watermark: the tree size of the last signed checkpoint.
    pub watermark: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { segment_bytes: DEFAULT_SEGMENT_BYTES, watermark: 0 }
    }
}

/// What recovery found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Records in the log after recovery.
    pub records: u64,
    /// Segment files after recovery.
    pub segments: usize,
    /// The watermark recovery checked against.
    pub watermark: u64,
    /// Damage at or above the watermark that was cut off (the first damaged place).
    pub damage: Option<Damage>,
    /// Frames dropped (best effort: a partial frame counts as one).
    pub truncated_records: u64,
    /// Bytes dropped (truncated from the damaged segment plus the size of deleted segments).
    pub truncated_bytes: u64,
    /// Segment files deleted (including a torn segment creation).
    pub removed_segments: Vec<String>,
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Recovery {
    /// The report as one line of JSON:
    /// `{"records":n,"segments":k,"watermark":w,"truncated_records":r,"truncated_bytes":b,
    /// "removed_segments":[..],"damage":null|{"segment":..,"offset":..,"seq":..,"reason":..}}`.
    pub fn to_json(&self) -> String {
        let mut s = format!(
            "{{\"records\":{},\"segments\":{},\"watermark\":{},\"truncated_records\":{},\"truncated_bytes\":{},\"removed_segments\":[",
            self.records, self.segments, self.watermark, self.truncated_records, self.truncated_bytes
        );
        for (i, name) in self.removed_segments.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            json_str(&mut s, name);
        }
        s.push_str("],\"damage\":");
        match &self.damage {
            None => s.push_str("null"),
            Some(d) => {
                s.push_str("{\"segment\":");
                json_str(&mut s, &d.segment);
                s.push_str(&format!(",\"offset\":{},\"seq\":{},\"reason\":", d.offset, d.seq));
                json_str(&mut s, &d.reason);
                s.push('}');
            }
        }
        s.push('}');
        s
    }
}

#[derive(Debug, Clone)]
struct Seg {
    first_seq: u64,
    name: String,
    /// Length in bytes (of the intact part, for the active segment: the append position).
    len: u64,
}

/// The write-ahead log. `S` is the file layer; the gateway uses [`FsStorage`], tests use
/// [`sim::SimFs`].
pub struct Wal<S: Storage = FsStorage> {
    storage: S,
    segment_bytes: u64,
    segs: Vec<Seg>,
    active: S::File,
    /// seq → (segment index, byte offset), packed by [`pack`].
    index: Vec<u64>,
    durable: u64,
    dirty: bool,
    failed: Option<String>,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    reader: Option<(usize, S::File)>,
    pub(crate) last_error: String,
}

fn io_err(op: &'static str, path: String, source: io::Error) -> WalError {
    WalError::Io { op, path, source }
}

/// What the scan found wrong first.
struct Found {
    /// Position in the sorted list of segment names.
    pos: usize,
    damage: Damage,
    /// The whole segment goes (damaged header or misnamed), not just its tail.
    remove_segment: bool,
    /// Frame size the damaged frame claimed, when plausible (to count what follows).
    claimed: Option<usize>,
}

impl Wal<FsStorage> {
    /// Opens (creating when needed) the log in directory `dir` and recovers it.
    pub fn open_dir(dir: impl AsRef<Path>, opts: Options) -> Result<(Self, Recovery), WalError> {
        let storage = FsStorage::open(dir.as_ref()).map_err(|e| match e {
            OpenDirError::Io(op, path, source) => io_err(op, path.display().to_string(), source),
            OpenDirError::Locked(path) => WalError::Locked { dir: path.display().to_string() },
        })?;
        Wal::open(storage, opts)
    }
}

impl<S: Storage> Wal<S> {
    /// Opens the log kept in `storage`, recovering it as described in the module documentation.
    pub fn open(storage: S, opts: Options) -> Result<(Self, Recovery), WalError> {
        let segment_bytes = match opts.segment_bytes {
            0 => DEFAULT_SEGMENT_BYTES,
            n if n < MIN_SEGMENT_BYTES => {
                return Err(WalError::Invalid(format!("segment size {n} is below the minimum {MIN_SEGMENT_BYTES}")))
            }
            n => n,
        };
        let watermark = opts.watermark;
        let listed = storage.list().map_err(|e| io_err("listing", storage.path_of(""), e))?;
        let mut names: Vec<(u64, String)> =
            listed.into_iter().filter_map(|n| parse_segment_name(&n).map(|s| (s, n))).collect();
        names.sort();

        // Phase 1: scan, read-only.
        let mut segs: Vec<Seg> = Vec::new();
        let mut index: Vec<u64> = Vec::new();
        let mut found: Option<Found> = None;
        let mut torn_creation: Option<usize> = None;
        let mut buf: Vec<u8> = Vec::new();
        for (pos, (first, name)) in names.iter().enumerate() {
            let path = storage.path_of(name);
            let file = storage.open(name).map_err(|e| io_err("open", path.clone(), e))?;
            let len = file.len().map_err(|e| io_err("stat", path.clone(), e))?;
            buf.clear();
            buf.resize(len as usize, 0);
            file.read_exact_at(&mut buf, 0).map_err(|e| io_err("read", path.clone(), e))?;
            drop(file);

            let expected = index.len() as u64;
            let header = format::check_header(&buf, *first);
            if let Err(HeaderProblem::Version(version)) = header {
                return Err(WalError::Format { path, version });
            }
            if header.is_err() && buf.len() <= HEADER_LEN && pos + 1 == names.len() {
                torn_creation = Some(pos);
                break;
            }
            if *first != expected {
                let reason = if *first > expected {
                    format!("records {expected}..{first} are missing: the segment starts at {first} but the log so far ends at {expected}")
                } else {
                    format!("the segment starts at {first} but the previous segments already hold records up to {expected}")
                };
                let damage = Damage { segment: name.clone(), offset: 0, seq: (*first).min(expected), reason };
                found = Some(Found { pos, damage, remove_segment: true, claimed: None });
                break;
            }
            if let Err(problem) = header {
                let damage = Damage { segment: name.clone(), offset: 0, seq: *first, reason: problem.to_string() };
                found = Some(Found { pos, damage, remove_segment: true, claimed: None });
                break;
            }
            if segs.len() >= MAX_SEGMENTS || len > OFFSET_MASK {
                return Err(WalError::Invalid(format!("segment {path} is beyond the supported size or count")));
            }
            let seg_idx = segs.len();
            let mut off = HEADER_LEN;
            while off < buf.len() {
                match parse_frame(&buf[off..]) {
                    Ok(frame) => {
                        index.push(pack(seg_idx, off as u64));
                        off += frame.size();
                    }
                    Err((problem, claimed)) => {
                        let damage = Damage {
                            segment: name.clone(),
                            offset: off as u64,
                            seq: index.len() as u64,
                            reason: problem.to_string(),
                        };
                        found = Some(Found { pos, damage, remove_segment: false, claimed });
                        break;
                    }
                }
            }
            segs.push(Seg { first_seq: *first, name: name.clone(), len: off as u64 });
            if found.is_some() {
                break;
            }
        }
        let count = index.len() as u64;

        // Phase 2: decide, still without touching anything.
        if let Some(f) = &found {
            if f.damage.seq < watermark {
                let path = storage.path_of(&f.damage.segment);
                return Err(WalError::Corrupt { path, damage: f.damage.clone(), watermark: Some(watermark) });
            }
        } else if count < watermark {
            let (segment, offset) = match segs.last() {
                Some(s) => (s.name.clone(), s.len),
                None => ("(none)".to_string(), 0),
            };
            let damage = Damage {
                segment: segment.clone(),
                offset,
                seq: count,
                reason: format!(
                    "the log ends after {count} records but the durability watermark is {watermark}: \
                     acknowledged records {count}..{watermark} are missing"
                ),
            };
            return Err(WalError::Corrupt { path: storage.path_of(&segment), damage, watermark: Some(watermark) });
        }

        // Phase 3: cut the torn tail.
        let mut recovery = Recovery { watermark, ..Recovery::default() };
        let cut_from = found.as_ref().map(|f| f.pos).or(torn_creation);
        if let Some(pos) = cut_from {
            let whole = torn_creation.is_some() || found.as_ref().is_some_and(|f| f.remove_segment);
            let first_removed = if whole { pos } else { pos + 1 };
            if let Some(f) = found.as_ref().filter(|f| !f.remove_segment) {
                // `buf` still holds the damaged segment.
                let off = f.damage.offset as usize;
                recovery.truncated_bytes += (buf.len() - off) as u64;
                recovery.truncated_records += 1;
                if let Some(claimed) = f.claimed {
                    recovery.truncated_records += count_frames(&buf[off + claimed..]);
                }
            }
            for (_, name) in &names[first_removed..] {
                let (bytes, frames) = best_effort_count(&storage, name);
                recovery.truncated_bytes += bytes;
                recovery.truncated_records += frames;
            }
            for (_, name) in names[first_removed..].iter().rev() {
                storage.remove(name).map_err(|e| io_err("remove", storage.path_of(name), e))?;
                recovery.removed_segments.push(name.clone());
            }
            recovery.removed_segments.reverse();
            if first_removed < names.len() {
                storage.sync_dir().map_err(|e| io_err("fsync directory", storage.path_of(""), e))?;
            }
            if let Some(f) = found.as_ref().filter(|f| !f.remove_segment) {
                let path = storage.path_of(&f.damage.segment);
                let mut file = storage.open(&f.damage.segment).map_err(|e| io_err("open", path.clone(), e))?;
                file.set_len(f.damage.offset).map_err(|e| io_err("truncate", path.clone(), e))?;
                file.sync_data().map_err(|e| io_err("fsync", path.clone(), e))?;
            }
            recovery.damage = found.map(|f| f.damage);
        }

        // Phase 4: the active segment; make everything visible durable.
        let active = match segs.last() {
            Some(last) => {
                let path = storage.path_of(&last.name);
                let mut f = storage.open(&last.name).map_err(|e| io_err("open", path.clone(), e))?;
                f.sync_data().map_err(|e| io_err("fsync", path, e))?;
                f
            }
            None => {
                let (f, seg) = create_segment(&storage, count)?;
                segs.push(seg);
                f
            }
        };
        storage.sync_dir().map_err(|e| io_err("fsync directory", storage.path_of(""), e))?;

        recovery.records = count;
        recovery.segments = segs.len();
        let wal = Wal {
            storage,
            segment_bytes,
            segs,
            active,
            index,
            durable: count,
            dirty: false,
            failed: None,
            buf: Vec::new(),
            scratch: Vec::new(),
            reader: None,
            last_error: String::new(),
        };
        Ok((wal, recovery))
    }

    /// Number of records (appended, durable or not).
    pub fn len(&self) -> u64 {
        self.index.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Number of records known durable (covered by a successful sync, or present at open).
    pub fn durable_len(&self) -> u64 {
        self.durable
    }

    /// The cause of the failed state, if the handle is in it.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Names of the segment files, in order.
    pub fn segment_names(&self) -> Vec<String> {
        self.segs.iter().map(|s| s.name.clone()).collect()
    }

    /// The file layer.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    fn usable(&self) -> Result<(), WalError> {
        match &self.failed {
            Some(cause) => Err(WalError::Failed { cause: cause.clone() }),
            None => Ok(()),
        }
    }

    fn fail(&mut self, cause: String) {
        if self.failed.is_none() {
            self.failed = Some(cause);
        }
    }

    fn active_path(&self) -> String {
        self.storage.path_of(&self.segs.last().expect("active segment").name)
    }

    /// Appends `records` (all of type `record_type`) with one write and returns the sequence
    /// number of the first. The records are written but not durable until [`Wal::sync`].
    pub fn append_batch(&mut self, record_type: u8, records: &[&[u8]]) -> Result<u64, WalError> {
        self.append_iter(record_type, records.iter().copied())
    }

    /// Appends one record; see [`Wal::append_batch`].
    pub fn append(&mut self, record_type: u8, record: &[u8]) -> Result<u64, WalError> {
        self.append_iter(record_type, std::iter::once(record))
    }

    /// Appends `offsets.len() - 1` records laid out contiguously: record `i` is
    /// `data[offsets[i]..offsets[i + 1]]`. Returns the sequence number of the first.
    pub fn append_packed(&mut self, record_type: u8, data: &[u8], offsets: &[u32]) -> Result<u64, WalError> {
        if offsets.len() < 2 {
            self.usable()?;
            return Ok(self.len());
        }
        for (i, w) in offsets.windows(2).enumerate() {
            if w[0] > w[1] || w[1] as usize > data.len() {
                return Err(WalError::Invalid(format!(
                    "offsets[{i}..={}] = {}..{} is not an ascending range inside the {}-byte buffer",
                    i + 1,
                    w[0],
                    w[1],
                    data.len()
                )));
            }
        }
        self.append_iter(record_type, offsets.windows(2).map(|w| &data[w[0] as usize..w[1] as usize]))
    }

    fn append_iter<'a, I>(&mut self, record_type: u8, records: I) -> Result<u64, WalError>
    where
        I: Iterator<Item = &'a [u8]> + Clone,
    {
        self.usable()?;
        if record_type == 0 {
            return Err(WalError::Invalid("record type 0 is reserved".into()));
        }
        let mut n = 0u64;
        let mut total = 0u64;
        for (i, r) in records.clone().enumerate() {
            if r.len() > MAX_PAYLOAD {
                return Err(WalError::TooLarge { index: i, len: r.len() });
            }
            total += (FRAME_HEADER_LEN + r.len()) as u64;
            n += 1;
        }
        let first = self.len();
        if n == 0 {
            return Ok(first);
        }
        let active_records = first - self.segs.last().expect("active segment").first_seq;
        let active_len = self.segs.last().expect("active segment").len;
        if active_records > 0 && active_len + total > self.segment_bytes {
            self.rotate()?;
        }
        let seg_idx = self.segs.len() - 1;
        let base = self.segs[seg_idx].len;
        if base + total > OFFSET_MASK {
            return Err(WalError::Invalid("batch would make the segment larger than 1 TiB".into()));
        }

        self.buf.clear();
        self.buf.reserve(total as usize);
        self.index.reserve(n as usize);
        for r in records {
            self.index.push(pack(seg_idx, base + self.buf.len() as u64));
            format::encode_frame_into(&mut self.buf, record_type, r);
        }
        debug_assert_eq!(self.buf.len() as u64, total);
        let written = self.active.write_all_at(&self.buf, base);
        if self.buf.capacity() > (16 << 20) {
            self.buf = Vec::new(); // do not keep a huge batch's buffer around
        }
        self.dirty = true;
        if let Err(e) = written {
            self.index.truncate(first as usize);
            let err = io_err("write", self.active_path(), e);
            // Roll back whatever part of the batch reached the file, durably: the caller was told
            // the batch failed, so its frames must not reappear after a crash.
            match self.active.set_len(base).and_then(|_| self.active.sync_data()) {
                Ok(()) => {
                    self.dirty = false;
                    self.durable = first;
                }
                Err(e2) => self.fail(format!("{err}; rolling back the partial write failed too: {e2}")),
            }
            return Err(err);
        }
        self.segs[seg_idx].len = base + total;
        Ok(first)
    }

    /// Makes every appended record durable: one `fdatasync` of the active segment (none when
    /// nothing was appended since the last sync). An error is fatal (failed state).
    pub fn sync(&mut self) -> Result<(), WalError> {
        self.usable()?;
        if !self.dirty {
            return Ok(());
        }
        self.sync_active()
    }

    fn sync_active(&mut self) -> Result<(), WalError> {
        match self.active.sync_data() {
            Ok(()) => {
                self.dirty = false;
                self.durable = self.len();
                Ok(())
            }
            Err(e) => {
                let err = io_err("fsync", self.active_path(), e);
                self.fail(err.to_string());
                Err(err)
            }
        }
    }

    /// Seals the active segment and starts a new one at the next sequence number.
    fn rotate(&mut self) -> Result<(), WalError> {
        if self.segs.len() >= MAX_SEGMENTS {
            return Err(WalError::Invalid("too many segments".into()));
        }
        // Everything in the full segment must be durable before a later segment can exist.
        if self.dirty {
            self.sync_active()?;
        }
        let first = self.len();
        match create_segment(&self.storage, first) {
            Ok((file, seg)) => {
                if let Err(e) = self.storage.sync_dir() {
                    let err = io_err("fsync directory", self.storage.path_of(""), e);
                    self.fail(err.to_string());
                    return Err(err);
                }
                self.active = file;
                self.segs.push(seg);
                self.reader = None;
                Ok(())
            }
            Err((err, fatal)) => {
                if fatal {
                    self.fail(err.to_string());
                }
                Err(err)
            }
        }
    }

    /// Reads record `seq` into `out`; returns its type and payload length.
    pub fn read_into(&mut self, seq: u64, out: &mut [u8]) -> Result<(u8, usize), WalError> {
        self.usable()?;
        let (seg, off, frame_len) = self.locate(seq)?;
        let plen = frame_len - FRAME_HEADER_LEN;
        if out.len() < plen {
            return Err(WalError::BufferTooSmall { need: plen });
        }
        self.read_span(seg, off, frame_len)?;
        let frame = self.verify(seq, seg, off, &self.scratch[..frame_len], Some(frame_len))?;
        out[..plen].copy_from_slice(&self.scratch[FRAME_HEADER_LEN..frame_len]);
        Ok((frame.record_type, plen))
    }

    /// Reads record `seq`; returns its type and payload.
    pub fn read(&mut self, seq: u64) -> Result<(u8, Vec<u8>), WalError> {
        self.usable()?;
        let (_, _, frame_len) = self.locate(seq)?;
        let mut out = vec![0u8; frame_len - FRAME_HEADER_LEN];
        let (ty, _) = self.read_into(seq, &mut out)?;
        Ok((ty, out))
    }

    /// Reads consecutive records starting at `from` (at most `max`, never past the end of the
    /// segment holding `from`) into `out`, back to back. `offsets[i]..offsets[i + 1]` is record
    /// `from + i` in `out` and `types[i]` its type; returns how many records were read (0 at the
    /// end of the log). `offsets` needs `max + 1` entries and `types` `max`.
    pub fn read_batch(
        &mut self,
        from: u64,
        max: usize,
        out: &mut [u8],
        offsets: &mut [u32],
        types: &mut [u8],
    ) -> Result<usize, WalError> {
        self.usable()?;
        let max = max.min(types.len()).min(offsets.len().saturating_sub(1));
        if from >= self.len() || max == 0 {
            return Ok(0);
        }
        let (seg, start, first_len) = self.locate(from)?;
        if first_len - FRAME_HEADER_LEN > out.len() {
            return Err(WalError::BufferTooSmall { need: first_len - FRAME_HEADER_LEN });
        }
        // How many fit (lengths come from the index: frames of one segment are contiguous).
        let mut n = 0usize;
        let mut payload_total = 0usize;
        let mut span_end = start;
        while n < max {
            let seq = from + n as u64;
            if seq >= self.len() {
                break;
            }
            let (s, off, flen) = self.locate(seq)?;
            if s != seg || payload_total + flen - FRAME_HEADER_LEN > out.len() {
                break;
            }
            payload_total += flen - FRAME_HEADER_LEN;
            span_end = off + flen as u64;
            n += 1;
        }
        let span = (span_end - start) as usize;
        self.read_span(seg, start, span)?;
        let mut pos = 0usize;
        let mut written = 0usize;
        for i in 0..n {
            let seq = from + i as u64;
            let (_, off, flen) = self.locate(seq)?;
            debug_assert_eq!(off, start + pos as u64);
            let scratch = std::mem::take(&mut self.scratch);
            let checked = self.verify(seq, seg, off, &scratch[pos..span], Some(flen));
            let frame = match checked {
                Ok(f) => f,
                Err(e) => {
                    self.scratch = scratch;
                    return Err(e);
                }
            };
            out[written..written + frame.len].copy_from_slice(&scratch[pos + FRAME_HEADER_LEN..pos + frame.size()]);
            self.scratch = scratch;
            offsets[i] = written as u32;
            types[i] = frame.record_type;
            written += frame.len;
            pos += frame.size();
        }
        offsets[n] = written as u32;
        Ok(n)
    }

    /// Calls `f(seq, type, payload)` for every record from `from` to the end, in order, verifying
    /// each frame again. Returns the number of records visited.
    pub fn replay<F: FnMut(u64, u8, &[u8])>(&mut self, from: u64, mut f: F) -> Result<u64, WalError> {
        self.usable()?;
        let end = self.len();
        let mut seq = from;
        while seq < end {
            let (seg, start, _) = self.locate(seq)?;
            let span = (self.segs[seg].len - start) as usize;
            self.read_span(seg, start, span)?;
            let scratch = std::mem::take(&mut self.scratch);
            let mut pos = 0usize;
            while pos < span && seq < end {
                let frame = match self.verify(seq, seg, start + pos as u64, &scratch[pos..span], None) {
                    Ok(frame) => frame,
                    Err(e) => {
                        self.scratch = scratch;
                        return Err(e);
                    }
                };
                f(seq, frame.record_type, &scratch[pos + FRAME_HEADER_LEN..pos + frame.size()]);
                pos += frame.size();
                seq += 1;
            }
            self.scratch = scratch;
        }
        Ok(end.saturating_sub(from))
    }

    /// Every record from `from` on as `(seq, type, payload)`; convenient for tests and tools.
    pub fn records(&mut self, from: u64) -> Result<Vec<(u64, u8, Vec<u8>)>, WalError> {
        let mut all = Vec::new();
        self.replay(from, |seq, ty, p| all.push((seq, ty, p.to_vec())))?;
        Ok(all)
    }

    /// (segment index, offset, frame length) of record `seq`.
    fn locate(&self, seq: u64) -> Result<(usize, u64, usize), WalError> {
        let len = self.len();
        if seq >= len {
            return Err(WalError::NotFound { seq, len });
        }
        let (seg, off) = unpack(self.index[seq as usize]);
        let end = match self.index.get(seq as usize + 1).map(|&e| unpack(e)) {
            Some((s, o)) if s == seg => o,
            _ => self.segs[seg].len,
        };
        Ok((seg, off, (end - off) as usize))
    }

    /// Reads `len` bytes at `off` of segment `seg` into `self.scratch[..len]`.
    fn read_span(&mut self, seg: usize, off: u64, len: usize) -> Result<(), WalError> {
        if self.scratch.len() < len {
            self.scratch.resize(len, 0);
        }
        let path = || self.storage.path_of(&self.segs[seg].name);
        let result = if seg + 1 == self.segs.len() {
            self.active.read_exact_at(&mut self.scratch[..len], off)
        } else {
            if self.reader.as_ref().map(|r| r.0) != Some(seg) {
                let f = self.storage.open(&self.segs[seg].name).map_err(|e| io_err("open", path(), e))?;
                self.reader = Some((seg, f));
            }
            self.reader.as_ref().expect("reader").1.read_exact_at(&mut self.scratch[..len], off)
        };
        let result = result.map_err(|e| io_err("read", path(), e));
        if self.scratch.len() > (16 << 20) && len <= (1 << 20) {
            self.scratch.truncate(1 << 20);
            self.scratch.shrink_to_fit();
        }
        result
    }

    /// Checks the frame at the start of `bytes` (record `seq` at `off` of segment `seg`); when
    /// `expected` is given, its size must match the index built at open.
    fn verify(&self, seq: u64, seg: usize, off: u64, bytes: &[u8], expected: Option<usize>) -> Result<Frame, WalError> {
        let problem = match parse_frame(bytes) {
            Ok(frame) if expected.is_none_or(|e| e == frame.size()) => return Ok(frame),
            Ok(frame) => format!("frame size {} differs from {} seen at open", frame.size(), expected.unwrap_or(0)),
            Err((problem, _)) => problem.to_string(),
        };
        let name = self.segs[seg].name.clone();
        let path = self.storage.path_of(&name);
        let damage = Damage { segment: name, offset: off, seq, reason: format!("{problem} (changed since open)") };
        Err(WalError::Corrupt { path, damage, watermark: None })
    }
}

/// Creates segment `first`: create, write the header, fsync it. The caller fsyncs the directory.
/// On failure returns the error and whether it is fatal (an fsync failed, or a half-created file
/// could not be removed again).
fn create_segment<S: Storage>(storage: &S, first: u64) -> Result<(S::File, Seg), (WalError, bool)> {
    let name = segment_name(first);
    let path = storage.path_of(&name);
    let mut f = storage.create(&name).map_err(|e| (io_err("create", path.clone(), e), false))?;
    let header = encode_header(first);
    if let Err(e) = f.write_all_at(&header, 0) {
        let err = io_err("write header", path.clone(), e);
        drop(f);
        // Do not leave a half-written segment behind: the log keeps appending to the previous one.
        let cleanup = storage.remove(&name).and_then(|_| storage.sync_dir());
        return match cleanup {
            Ok(()) => Err((err, false)),
            Err(e2) => Err((WalError::Io { op: "remove half-created segment", path, source: e2 }, true)),
        };
    }
    if let Err(e) = f.sync_data() {
        return Err((io_err("fsync", path, e), true));
    }
    Ok((f, Seg { first_seq: first, name, len: HEADER_LEN as u64 }))
}

impl From<(WalError, bool)> for WalError {
    fn from((e, _): (WalError, bool)) -> Self {
        e
    }
}

/// (bytes, intact frames) of a segment about to be deleted; errors count as nothing.
fn best_effort_count<S: Storage>(storage: &S, name: &str) -> (u64, u64) {
    let Ok(f) = storage.open(name) else { return (0, 0) };
    let Ok(len) = f.len() else { return (0, 0) };
    let mut buf = vec![0u8; len as usize];
    if f.read_exact_at(&mut buf, 0).is_err() || buf.len() < HEADER_LEN {
        return (len, 0);
    }
    (len, count_frames(&buf[HEADER_LEN..]))
}
