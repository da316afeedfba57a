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
//! or allocation happens on the append path (the sparse index below gains one entry per
//! `INDEX_EVERY` records, amortised).
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
//! concurrently.
//!
//! # Sparse index
//!
//! The gateway appends thousands of records a second for as long as it runs, so the in-memory
//! index must not grow by a fixed cost per record (a dense 8-byte entry per record was 3.4 MB a
//! minute at 7 000 records/s). Each segment keeps only *anchors*: the byte offset of every
//! `INDEX_EVERY`-th record counted from the segment's first sequence number (8 bytes per
//! `INDEX_EVERY` records, about 0.125 bytes per record), built by the recovery scan and extended
//! by appends. A record is found by a binary search over the segments, its nearest anchor at or
//! below it, and a walk over the frame headers in between (at most `INDEX_EVERY - 1`, read in
//! small windows). The end of the frame before an anchor and of the last frame of a segment are
//! known exactly, so those sizes are checked against what open saw; the others are checked by the
//! frame CRC. [`Wal::read_batch`] and [`Wal::replay`] locate only their first record and then
//! follow the contiguous frames of the span they read.

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

/// Records per anchor of the sparse index (see the module documentation). 64 keeps the index at
/// about 0.125 bytes per record while a random read walks at most 63 frame headers, which the
/// walk usually gets from one `WALK_WINDOW` read when records are small.
const INDEX_EVERY: u64 = 64;
/// Bytes read at a time while walking frame headers from an anchor to a record.
const WALK_WINDOW: u64 = 4096;

// Limits on segment size and count. They date from the dense index, which packed (segment,
// offset) into one u64; the sparse index does not need them, but builds with the dense index
// refuse a log beyond them, so keeping them keeps a log readable after a downgrade.
const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;
const MAX_SEGMENTS: usize = 1 << (64 - OFFSET_BITS);

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
    /// `anchors[i]` is the byte offset of record `first_seq + i * INDEX_EVERY`. A segment holding
    /// `r` records has exactly `ceil(r / INDEX_EVERY)` anchors.
    anchors: Vec<u64>,
}

/// Where [`Wal::locate`] found a record.
struct Located {
    seg: usize,
    /// Byte offset of the frame in the segment.
    off: u64,
    /// Frame size (0 from [`Wal::find`]).
    size: usize,
    /// Where the whole frame already is in `Wal::scratch`, when the walk's last window read it.
    cached: Option<usize>,
}

/// The write-ahead log. `S` is the file layer; the gateway uses [`FsStorage`], tests use
/// [`sim::SimFs`].
pub struct Wal<S: Storage = FsStorage> {
    storage: S,
    segment_bytes: u64,
    segs: Vec<Seg>,
    active: S::File,
    /// Number of records (appended, durable or not): the next sequence number.
    count: u64,
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
        let mut count = 0u64;
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

            let expected = count;
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
            let mut anchors = Vec::new();
            let mut off = HEADER_LEN;
            while off < buf.len() {
                match parse_frame(&buf[off..]) {
                    Ok(frame) => {
                        if (count - first).is_multiple_of(INDEX_EVERY) {
                            anchors.push(off as u64);
                        }
                        count += 1;
                        off += frame.size();
                    }
                    Err((problem, claimed)) => {
                        let damage = Damage {
                            segment: name.clone(),
                            offset: off as u64,
                            seq: count,
                            reason: problem.to_string(),
                        };
                        found = Some(Found { pos, damage, remove_segment: false, claimed });
                        break;
                    }
                }
            }
            anchors.shrink_to_fit();
            segs.push(Seg { first_seq: *first, name: name.clone(), len: off as u64, anchors });
            if found.is_some() {
                break;
            }
        }

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
            count,
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
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
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
        let anchors_before = self.segs[seg_idx].anchors.len();
        let first_rel = first - self.segs[seg_idx].first_seq;
        for (rel, r) in (first_rel..).zip(records) {
            if rel.is_multiple_of(INDEX_EVERY) {
                self.segs[seg_idx].anchors.push(base + self.buf.len() as u64);
            }
            format::encode_frame_into(&mut self.buf, record_type, r);
        }
        debug_assert_eq!(self.buf.len() as u64, total);
        let written = self.active.write_all_at(&self.buf, base);
        if self.buf.capacity() > (16 << 20) {
            self.buf = Vec::new(); // do not keep a huge batch's buffer around
        }
        self.dirty = true;
        if let Err(e) = written {
            self.segs[seg_idx].anchors.truncate(anchors_before);
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
        self.count += n;
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
                // The full segment is sealed: its anchors never grow again, so drop the slack of
                // Vec doubling (it would otherwise be kept for the life of the process).
                if let Some(sealed) = self.segs.last_mut() {
                    sealed.anchors.shrink_to_fit();
                }
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
        let loc = self.locate(seq)?;
        let plen = loc.size - FRAME_HEADER_LEN;
        if out.len() < plen {
            return Err(self.too_small(seq, &loc));
        }
        let (frame, at) = self.read_frame(seq, &loc)?;
        out[..plen].copy_from_slice(&self.scratch[at + FRAME_HEADER_LEN..at + loc.size]);
        Ok((frame.record_type, plen))
    }

    /// Reads record `seq`; returns its type and payload.
    pub fn read(&mut self, seq: u64) -> Result<(u8, Vec<u8>), WalError> {
        self.usable()?;
        // Located once: a second walk from the anchor (through read_into) would double the reads.
        let loc = self.locate(seq)?;
        let (frame, at) = self.read_frame(seq, &loc)?;
        Ok((frame.record_type, self.scratch[at + FRAME_HEADER_LEN..at + loc.size].to_vec()))
    }

    /// The error for a buffer that cannot hold record `seq`. Unless it ends at an anchor or at the
    /// end of the segment, the size came from the frame's own length field, which may have been
    /// damaged since open: verify the frame first, so that damage is reported as damage rather
    /// than as a request for a (bogus) larger buffer. Costs a read only on this error path.
    fn too_small(&mut self, seq: u64, loc: &Located) -> WalError {
        match self.read_frame(seq, loc) {
            Ok(_) => WalError::BufferTooSmall { need: loc.size - FRAME_HEADER_LEN },
            Err(e) => e,
        }
    }

    /// Verifies the frame of record `seq`, reading it unless the walk that located it already
    /// did; returns the frame and where it starts in `self.scratch`.
    fn read_frame(&mut self, seq: u64, loc: &Located) -> Result<(Frame, usize), WalError> {
        let at = match loc.cached {
            Some(at) => at,
            None => {
                self.read_span(loc.seg, loc.off, loc.size)?;
                0
            }
        };
        let frame = self.verify(seq, loc.seg, loc.off, &self.scratch[at..at + loc.size], Some(loc.size))?;
        Ok((frame, at))
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
        let loc = self.locate(from)?;
        if loc.size - FRAME_HEADER_LEN > out.len() {
            return Err(self.too_small(from, &loc));
        }
        let (seg, start) = (loc.seg, loc.off);
        let first_rel = from - self.segs[seg].first_seq;
        let seg_records = self.seg_records(seg);
        let candidates = (max as u64).min(seg_records - first_rel);
        // The sizes of the frames are only known once they are read, so read one span that is
        // sure to hold every frame that can be returned: they end no later than the anchor at or
        // after the last candidate (or the segment end), nor after `out` filled with payloads
        // plus one header per candidate. The first bound overshoots by less than one anchor
        // group, the second by less than one payload plus the headers of the candidates that did
        // not fit, so one read serves the batch and stays in proportion to what was asked for.
        let end_rel = first_rel + candidates;
        let anchor_end = if end_rel == seg_records {
            self.segs[seg].len
        } else {
            let next = end_rel.div_ceil(INDEX_EVERY) as usize;
            self.segs[seg].anchors.get(next).copied().unwrap_or(self.segs[seg].len)
        };
        let out_end =
            start.saturating_add(out.len() as u64).saturating_add(candidates.saturating_mul(FRAME_HEADER_LEN as u64));
        let span = (anchor_end.min(out_end) - start) as usize;
        self.read_span(seg, start, span)?;
        let scratch = std::mem::take(&mut self.scratch);
        let result = self.copy_frames(&scratch[..span], seg, start, from, candidates, out, offsets, types);
        self.scratch = scratch;
        result
    }

    /// The frames of `read_batch`: `bytes` starts with record `from` at `start` of segment `seg`.
    #[allow(clippy::too_many_arguments)]
    fn copy_frames(
        &self,
        bytes: &[u8],
        seg: usize,
        start: u64,
        from: u64,
        candidates: u64,
        out: &mut [u8],
        offsets: &mut [u32],
        types: &mut [u8],
    ) -> Result<usize, WalError> {
        let first_rel = from - self.segs[seg].first_seq;
        let mut pos = 0usize;
        let mut written = 0usize;
        let mut n = 0usize;
        while (n as u64) < candidates {
            let seq = from + n as u64;
            let rest = &bytes[pos..];
            // Stop before a frame whose payload would not fit (the first one is known to fit). A
            // length over the maximum is damage: leave it to `verify` to report.
            if n > 0 && rest.len() >= 4 {
                let plen = u32::from_le_bytes(rest[0..4].try_into().unwrap()) as usize;
                if plen <= MAX_PAYLOAD && written + plen > out.len() {
                    break;
                }
            }
            let frame = self.verify(seq, seg, start + pos as u64, rest, None)?;
            self.check_end(seq, seg, first_rel + n as u64, start + pos as u64, frame.size())?;
            if written + frame.len > out.len() {
                // Only a first frame that changed since `locate` read its header gets here.
                return Err(self.changed(
                    seq,
                    seg,
                    start + pos as u64,
                    "frame size differs from its header read just before",
                ));
            }
            out[written..written + frame.len].copy_from_slice(&rest[FRAME_HEADER_LEN..frame.size()]);
            offsets[n] = written as u32;
            types[n] = frame.record_type;
            written += frame.len;
            pos += frame.size();
            n += 1;
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
            // One walk per segment (none from its first record, an anchor); within it the
            // frames follow each other.
            let Located { seg, off: start, .. } = self.find(seq)?;
            let seg_end = self.segs[seg].first_seq + self.seg_records(seg);
            let span = (self.segs[seg].len - start) as usize;
            self.read_span(seg, start, span)?;
            let scratch = std::mem::take(&mut self.scratch);
            let walked = self.replay_frames(&scratch[..span], seg, start, seq, seg_end, &mut f);
            self.scratch = scratch;
            seq = walked?;
        }
        Ok(end.saturating_sub(from))
    }

    /// The frames of `replay` in one segment: `bytes` starts with record `from` at `start` of
    /// segment `seg`, and the segment's records end before `to`. Returns `to`.
    fn replay_frames<F: FnMut(u64, u8, &[u8])>(
        &self,
        bytes: &[u8],
        seg: usize,
        start: u64,
        from: u64,
        to: u64,
        f: &mut F,
    ) -> Result<u64, WalError> {
        let first_seq = self.segs[seg].first_seq;
        let mut pos = 0usize;
        for seq in from..to {
            let off = start + pos as u64;
            // Running out of bytes before `to` shows up here as a torn frame header.
            let frame = self.verify(seq, seg, off, &bytes[pos..], None)?;
            self.check_end(seq, seg, seq - first_seq, off, frame.size())?;
            f(seq, frame.record_type, &bytes[pos + FRAME_HEADER_LEN..pos + frame.size()]);
            pos += frame.size();
        }
        Ok(to)
    }

    /// Every record from `from` on as `(seq, type, payload)`; convenient for tests and tools.
    pub fn records(&mut self, from: u64) -> Result<Vec<(u64, u8, Vec<u8>)>, WalError> {
        let mut all = Vec::new();
        self.replay(from, |seq, ty, p| all.push((seq, ty, p.to_vec())))?;
        Ok(all)
    }

    /// Records held by segment `seg` (the next segment, or the end of the log, starts after them).
    fn seg_records(&self, seg: usize) -> u64 {
        let end = self.segs.get(seg + 1).map_or(self.count, |s| s.first_seq);
        end - self.segs[seg].first_seq
    }

    /// Where the frame of the record at position `rel` of segment `seg` must end, when that is
    /// known without reading: before an anchor, or at the end of the segment.
    fn known_end(&self, seg: usize, rel: u64) -> Option<u64> {
        let next = rel + 1;
        if next == self.seg_records(seg) {
            Some(self.segs[seg].len)
        } else if next.is_multiple_of(INDEX_EVERY) {
            Some(self.segs[seg].anchors[(next / INDEX_EVERY) as usize])
        } else {
            None
        }
    }

    /// Checks a verified frame of `size` bytes at `off` (record `seq`, position `rel` of segment
    /// `seg`) against the end open or the append recorded for it, where one is known. This is
    /// what catches a frame whose length field and CRC both changed consistently.
    fn check_end(&self, seq: u64, seg: usize, rel: u64, off: u64, size: usize) -> Result<(), WalError> {
        match self.known_end(seg, rel) {
            Some(end) if end != off + size as u64 => Err(self.changed(
                seq,
                seg,
                off,
                format!("frame size {size} differs from {} seen at open", end.saturating_sub(off)),
            )),
            _ => Ok(()),
        }
    }

    /// Where record `seq` is and how long its frame is.
    fn locate(&mut self, seq: u64) -> Result<Located, WalError> {
        self.walk(seq, true)
    }

    /// Where record `seq` is; `size` is left 0, which spares reading the record's own header.
    fn find(&mut self, seq: u64) -> Result<Located, WalError> {
        self.walk(seq, false)
    }

    /// The segment of record `seq` by binary search, then from the nearest anchor at or below
    /// `seq` forward over the frame headers in between.
    fn walk(&mut self, seq: u64, with_size: bool) -> Result<Located, WalError> {
        let len = self.len();
        if seq >= len {
            return Err(WalError::NotFound { seq, len });
        }
        // Segment 0 starts at 0, so some segment starts at or below `seq`. An empty segment
        // shares its first_seq with the next one; taking the last match skips it.
        let seg = self.segs.partition_point(|s| s.first_seq <= seq) - 1;
        let first_seq = self.segs[seg].first_seq;
        let rel = seq - first_seq;
        let group = rel / INDEX_EVERY;
        let mut off = self.segs[seg].anchors[group as usize];
        let group_end = self.segs[seg].anchors.get(group as usize + 1).copied().unwrap_or(self.segs[seg].len);
        // Bytes [win, win + win_len) of the segment are in `self.scratch`.
        let (mut win, mut win_len) = (off, 0u64);
        for at in group * INDEX_EVERY..=rel {
            if at == rel && !with_size {
                return Ok(Located { seg, off, size: 0, cached: None });
            }
            let end = match self.known_end(seg, at) {
                Some(end) => end,
                None => {
                    if off + FRAME_HEADER_LEN as u64 > win + win_len {
                        win = off;
                        win_len = group_end.saturating_sub(off).min(WALK_WINDOW);
                        if win_len < FRAME_HEADER_LEN as u64 {
                            return Err(self.changed(
                                first_seq + at,
                                seg,
                                off,
                                "frame header runs past the frames seen at open",
                            ));
                        }
                        self.read_span(seg, off, win_len as usize)?;
                    }
                    let i = (off - win) as usize;
                    let plen = u32::from_le_bytes(self.scratch[i..i + 4].try_into().unwrap()) as u64;
                    let end = off + FRAME_HEADER_LEN as u64 + plen;
                    // Not the last frame of its group (its end would be known): another frame
                    // header must follow before the group ends.
                    if plen > MAX_PAYLOAD as u64 || end + FRAME_HEADER_LEN as u64 > group_end {
                        return Err(self.changed(
                            first_seq + at,
                            seg,
                            off,
                            format!("length field {plen} does not fit the frames seen at open"),
                        ));
                    }
                    end
                }
            };
            if at == rel {
                let size = end.saturating_sub(off);
                if !(FRAME_HEADER_LEN as u64..=(FRAME_HEADER_LEN + MAX_PAYLOAD) as u64).contains(&size) {
                    // Reachable only after a header walked over changed consistently with its CRC.
                    return Err(self.changed(seq, seg, off, format!("frame size {size} is impossible")));
                }
                let cached = (end <= win + win_len).then_some((off - win) as usize);
                return Ok(Located { seg, off, size: size as usize, cached });
            }
            off = end;
        }
        unreachable!("the walk returns at record {rel}")
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
    /// `expected` is given, its size must be that.
    fn verify(&self, seq: u64, seg: usize, off: u64, bytes: &[u8], expected: Option<usize>) -> Result<Frame, WalError> {
        let problem = match parse_frame(bytes) {
            Ok(frame) if expected.is_none_or(|e| e == frame.size()) => return Ok(frame),
            Ok(frame) => format!("frame size {} differs from {} seen at open", frame.size(), expected.unwrap_or(0)),
            Err((problem, _)) => problem.to_string(),
        };
        Err(self.changed(seq, seg, off, problem))
    }

    /// The error for record `seq` at `off` of segment `seg` found damaged after open.
    fn changed(&self, seq: u64, seg: usize, off: u64, problem: impl fmt::Display) -> WalError {
        let name = self.segs[seg].name.clone();
        let path = self.storage.path_of(&name);
        let damage = Damage { segment: name, offset: off, seq, reason: format!("{problem} (changed since open)") };
        WalError::Corrupt { path, damage, watermark: None }
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
    Ok((f, Seg { first_seq: first, name, len: HEADER_LEN as u64, anchors: Vec::new() }))
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

/// Tests of the sparse index: every way of reading a record, at and around anchor boundaries,
/// across segments, after recovery and after failed appends.
#[cfg(test)]
mod sparse_index_tests {
    use super::sim::{Op, SimFs, XorShift64, ENOSPC};
    use super::*;

    const K: usize = INDEX_EVERY as usize;
    const SIZES: [usize; 6] = [0, 1, K - 1, K, K + 1, 3 * K + 5];
    /// One segment; several segments holding more than one anchor group; about one record each.
    const SEGMENT_BYTES: [u64; 3] = [0, 8192, MIN_SEGMENT_BYTES];

    fn open(fs: &SimFs, segment_bytes: u64, watermark: u64) -> Result<(Wal<SimFs>, Recovery), WalError> {
        Wal::open(fs.clone(), Options { segment_bytes, watermark })
    }

    /// Record `seq`: varied lengths (empty ones, and now and then a long one), type 1..=5.
    fn record(seq: u64) -> (u8, Vec<u8>) {
        let len = match seq % 13 {
            0 => 0,
            7 => 300 + (seq % 5) as usize * 50,
            _ => ((seq * 37) % 90) as usize,
        };
        let mut p = vec![0u8; len];
        XorShift64::new(seq ^ 0xA11CE).fill(&mut p);
        ((seq % 5 + 1) as u8, p)
    }

    /// Appends records `from..to` in batches of varying size (so anchors fall inside batches).
    fn append(wal: &mut Wal<SimFs>, from: u64, to: u64) -> Vec<(u8, Vec<u8>)> {
        let mut all = Vec::new();
        let mut seq = from;
        let mut b = 0;
        while seq < to {
            let n = [1u64, 7, 3, 64, 2, 30][b % 6].min(to - seq);
            b += 1;
            // a batch holds one record type; split at type changes
            let ty = record(seq).0;
            let mut batch = Vec::new();
            while (batch.len() as u64) < n && record(seq + batch.len() as u64).0 == ty {
                batch.push(record(seq + batch.len() as u64).1);
            }
            let refs: Vec<&[u8]> = batch.iter().map(|p| p.as_slice()).collect();
            assert_eq!(wal.append_batch(ty, &refs).unwrap(), seq);
            seq += batch.len() as u64;
            all.extend(batch.into_iter().map(|p| (ty, p)));
        }
        wal.sync().unwrap();
        all
    }

    /// First sequence number of every segment, from the files.
    fn segment_starts(wal: &Wal<SimFs>) -> Vec<u64> {
        wal.segs.iter().map(|s| s.first_seq).collect()
    }

    /// The anchors match the frames in the files: exactly ceil(records / K) per segment, each
    /// at the offset of record first_seq + i * K.
    fn assert_anchors(wal: &Wal<SimFs>, fs: &SimFs) {
        let mut total = 0u64;
        for (i, seg) in wal.segs.iter().enumerate() {
            let bytes = fs.read_file(&seg.name).unwrap();
            assert_eq!(bytes.len() as u64, seg.len, "{}", seg.name);
            let mut offsets = Vec::new();
            let mut off = HEADER_LEN;
            while off < bytes.len() {
                offsets.push(off as u64);
                off += parse_frame(&bytes[off..]).unwrap().size();
            }
            assert_eq!(offsets.len() as u64, wal.seg_records(i), "{}", seg.name);
            let want: Vec<u64> = offsets.iter().copied().step_by(K).collect();
            assert_eq!(seg.anchors, want, "{}", seg.name);
            total += offsets.len() as u64;
        }
        assert_eq!(total, wal.len());
    }

    /// Reads every record back through read, read_into, replay (from every start) and
    /// read_batch (from every start, with small `max` and small `out`).
    fn assert_reads(wal: &mut Wal<SimFs>, expected: &[(u8, Vec<u8>)]) {
        let n = expected.len() as u64;
        assert_eq!(wal.len(), n);
        assert_eq!(wal.is_empty(), n == 0);
        let mut buf = vec![0u8; MAX_PAYLOAD];
        for (seq, (ty, p)) in expected.iter().enumerate() {
            let seq = seq as u64;
            assert_eq!(wal.read(seq).unwrap(), (*ty, p.clone()), "read {seq}");
            let (t, len) = wal.read_into(seq, &mut buf[..p.len()]).unwrap();
            assert_eq!((t, &buf[..len]), (*ty, p.as_slice()), "read_into {seq}");
            if !p.is_empty() {
                let err = wal.read_into(seq, &mut buf[..p.len() - 1]).unwrap_err();
                assert!(matches!(err, WalError::BufferTooSmall { need } if need == p.len()), "{seq}: {err}");
            }
        }
        assert!(matches!(wal.read(n), Err(WalError::NotFound { .. })));
        assert!(matches!(wal.read_into(n + 5, &mut buf), Err(WalError::NotFound { .. })));

        for from in 0..=n + 1 {
            let mut seen = from;
            let visited = wal
                .replay(from, |seq, ty, p| {
                    assert_eq!(seq, seen);
                    assert_eq!((ty, p), (expected[seq as usize].0, expected[seq as usize].1.as_slice()));
                    seen += 1;
                })
                .unwrap();
            assert_eq!(visited, n.saturating_sub(from));
            assert_eq!(seen, n.max(from));
        }

        let starts = segment_starts(wal);
        let mut offsets = vec![0u32; K + 2];
        let mut types = vec![0u8; K + 1];
        for from in 0..=n {
            let seg_end = starts.iter().copied().find(|&s| s > from).unwrap_or(n);
            for max in [1usize, 2, 3, K - 1, K, K + 1] {
                let first = expected.get(from as usize).map_or(0, |r| r.1.len());
                for out_len in [first, first + 40, first.max(256), first.max(4096)] {
                    let mut out = vec![0u8; out_len];
                    let got = wal.read_batch(from, max, &mut out, &mut offsets, &mut types).unwrap();
                    let what = format!("read_batch(from {from}, max {max}, out {out_len})");
                    if from == n {
                        assert_eq!(got, 0, "{what}");
                        continue;
                    }
                    assert!(got >= 1 && got <= max && from + got as u64 <= seg_end, "{what}: {got}");
                    assert_eq!(offsets[0], 0);
                    for i in 0..got {
                        let (ty, p) = &expected[from as usize + i];
                        assert_eq!(types[i], *ty, "{what} #{i}");
                        assert_eq!(&out[offsets[i] as usize..offsets[i + 1] as usize], p.as_slice(), "{what} #{i}");
                    }
                    // it stopped for a reason: max, the segment end, or the next one not fitting
                    let next = from + got as u64;
                    let full = offsets[got] as usize + expected.get(next as usize).map_or(0, |r| r.1.len()) > out_len;
                    assert!(got == max || next == seg_end || full, "{what}: stopped early at {got}");
                }
                if first > 0 {
                    let mut out = vec![0u8; first - 1];
                    let err = wal.read_batch(from, max, &mut out, &mut offsets, &mut types).unwrap_err();
                    assert!(matches!(err, WalError::BufferTooSmall { need } if need == first));
                }
            }
        }
    }

    #[test]
    fn every_read_around_anchor_boundaries_across_segments_and_reopen() {
        for segment_bytes in SEGMENT_BYTES {
            for n in SIZES {
                let fs = SimFs::new(n as u64);
                let (mut wal, _) = open(&fs, segment_bytes, 0).unwrap();
                let expected = append(&mut wal, 0, n as u64);
                if segment_bytes == 8192 && n > 2 * K {
                    let starts = segment_starts(&wal);
                    assert!(starts.len() >= 2, "{starts:?}");
                    assert!(
                        starts.windows(2).any(|w| w[1] - w[0] > INDEX_EVERY),
                        "a segment with two anchors: {starts:?}"
                    );
                }
                assert_anchors(&wal, &fs);
                assert_reads(&mut wal, &expected);
                let appended: Vec<Vec<u64>> = wal.segs.iter().map(|s| s.anchors.clone()).collect();
                drop(wal);

                // recovery rebuilds the same anchors
                let (mut wal, rec) = open(&fs, segment_bytes, n as u64).unwrap();
                assert_eq!((rec.records, rec.damage.clone()), (n as u64, None));
                let rebuilt: Vec<Vec<u64>> = wal.segs.iter().map(|s| s.anchors.clone()).collect();
                assert_eq!(rebuilt, appended, "segment_bytes {segment_bytes}, {n} records");
                assert_reads(&mut wal, &expected);

                // and appends after a reopen extend them
                let mut more = expected.clone();
                more.extend(append(&mut wal, n as u64, n as u64 + K as u64 + 3));
                assert_anchors(&wal, &fs);
                assert_reads(&mut wal, &more);
            }
        }
    }

    #[test]
    fn torn_tail_at_and_around_anchors_is_cut_and_reads_stay_right() {
        let n = 3 * K as u64 + 5;
        for segment_bytes in SEGMENT_BYTES {
            let fs = SimFs::new(40);
            let (mut wal, _) = open(&fs, segment_bytes, 0).unwrap();
            let expected = append(&mut wal, 0, n);
            // (segment, offset) of every record
            let mut at = Vec::new();
            for i in 0..wal.segs.len() {
                let seg = &wal.segs[i];
                let bytes = fs.read_file(&seg.name).unwrap();
                let mut off = HEADER_LEN;
                while off < bytes.len() {
                    at.push((seg.name.clone(), off));
                    off += parse_frame(&bytes[off..]).unwrap().size();
                }
            }
            drop(wal);
            for torn in [0, 1, K - 1, K, K + 1, 2 * K, 3 * K, n as usize - 1] {
                let img = SimFs::new(41);
                for name in fs.names() {
                    img.write_file(&name, &fs.read_file(&name).unwrap());
                }
                // a partial frame header of record `torn`: everything from it on is lost
                let (name, off) = &at[torn];
                img.truncate_file(name, off + 3);
                let (mut wal, rec) = open(&img, segment_bytes, torn as u64).unwrap();
                let what = format!("segment_bytes {segment_bytes}, torn at {torn}");
                assert_eq!(rec.records, torn as u64, "{what}");
                assert_eq!(rec.damage.as_ref().map(|d| d.seq), Some(torn as u64), "{what}");
                assert_anchors(&wal, &img);
                assert_reads(&mut wal, &expected[..torn]);
                // the log goes on from the cut, anchors and all
                let mut again = expected[..torn].to_vec();
                again.extend(append(&mut wal, torn as u64, torn as u64 + K as u64 + 2));
                assert_anchors(&wal, &img);
                assert_reads(&mut wal, &again);
            }
        }
    }

    #[test]
    fn a_failed_append_leaves_count_anchors_and_reads_as_they_were() {
        // Logs that end just before, at and after an anchor; a failing batch that would add one,
        // and (with small segments) one that first rotates into a new segment.
        for segment_bytes in SEGMENT_BYTES {
            for n in [K as u64 - 1, K as u64, K as u64 + 1, 2 * K as u64 - 2] {
                let fs = SimFs::new(50 + n);
                let (mut wal, _) = open(&fs, segment_bytes, 0).unwrap();
                let expected = append(&mut wal, 0, n);
                for batch_len in [1usize, 3, K + 2] {
                    let segs_before = wal.segs.len();
                    let anchors: Vec<Vec<u64>> = wal.segs.iter().map(|s| s.anchors.clone()).collect();
                    let batch: Vec<Vec<u8>> = (0..batch_len).map(|i| vec![i as u8; 40]).collect();
                    let refs: Vec<&[u8]> = batch.iter().map(|p| p.as_slice()).collect();
                    fs.fail_nth(Op::Write, 1, ENOSPC);
                    let err = wal.append_batch(1, &refs).unwrap_err();
                    assert_eq!(err.code(), ERR_NOSPACE, "{err}");
                    assert!(wal.failure().is_none());
                    assert_eq!((wal.len(), wal.durable_len()), (n, n));
                    // a rotation before the failed write leaves an empty segment behind, as before
                    for (i, a) in anchors.iter().enumerate() {
                        assert_eq!(&wal.segs[i].anchors, a);
                    }
                    assert!(wal.segs[segs_before..].iter().all(|s| s.anchors.is_empty() && s.first_seq == n));
                    assert_anchors(&wal, &fs);
                    assert_reads(&mut wal, &expected);
                }
                // after the failures the log carries on where it was
                let mut more = expected.clone();
                more.extend(append(&mut wal, n, n + K as u64 + 1));
                assert_anchors(&wal, &fs);
                assert_reads(&mut wal, &more);
                drop(wal);
                let (mut wal, _) = open(&fs, segment_bytes, more.len() as u64).unwrap();
                assert_anchors(&wal, &fs);
                assert_reads(&mut wal, &more);
            }
        }
    }

    /// A bit flipped after open in any frame byte: every read returns the right record or reports
    /// the damage (never a panic, a wrong record or an I/O error), and records the walk to them
    /// does not cross are unaffected.
    #[test]
    fn damage_after_open_is_reported_by_the_walk() {
        let n = 2 * K as u64 + 3;
        let fs = SimFs::new(60);
        let (mut wal, _) = open(&fs, 0, 0).unwrap();
        let expected = append(&mut wal, 0, n);
        drop(wal);
        let name = segment_name(0);
        let clean = fs.read_file(&name).unwrap();
        let mut starts = Vec::new();
        let mut off = HEADER_LEN;
        while off < clean.len() {
            starts.push(off);
            off += parse_frame(&clean[off..]).unwrap().size();
        }
        let mut out = vec![0u8; 4096];
        let mut offsets = vec![0u32; 2 * K + 1];
        let mut types = vec![0u8; 2 * K];
        let mut reasons = std::collections::BTreeSet::new();
        for byte in HEADER_LEN..clean.len() {
            let damaged = starts.iter().rposition(|&s| s <= byte).unwrap() as u64;
            // every frame-header byte (what the walk reads), a sample of payload bytes
            if byte - starts[damaged as usize] >= FRAME_HEADER_LEN && byte % 5 != 0 {
                continue;
            }
            let (mut wal, _) = open(&fs, 0, n).unwrap();
            fs.flip_bit(&name, byte, (byte % 8) as u8);
            let ok_or_corrupt = |r: Result<(), WalError>, what: &str| match r {
                Ok(()) => {}
                Err(e) => assert_eq!(e.code(), ERR_CORRUPT, "byte {byte}, {what}: {e}"),
            };
            for seq in 0..n {
                let r = wal.read(seq);
                let same_group_after = seq > damaged && seq / INDEX_EVERY == damaged / INDEX_EVERY;
                match r {
                    Ok(rec) => {
                        assert!(seq != damaged, "byte {byte}: damaged record {seq} read back");
                        assert_eq!(rec, expected[seq as usize], "byte {byte}, read {seq}");
                    }
                    Err(e) => {
                        assert_eq!(e.code(), ERR_CORRUPT, "byte {byte}, read {seq}: {e}");
                        assert!(seq == damaged || same_group_after, "byte {byte}: record {seq} is intact: {e}");
                        let reason = &e.damage().unwrap().reason;
                        reasons.insert(reason.split(' ').take(2).collect::<Vec<_>>().join(" "));
                    }
                }
                let mut buf = [0u8; 512];
                let r = wal.read_into(seq, &mut buf).map(|(ty, len)| {
                    assert_eq!((ty, &buf[..len]), (expected[seq as usize].0, expected[seq as usize].1.as_slice()));
                });
                ok_or_corrupt(r, "read_into");
                let r = wal.read_batch(seq, 2 * K, &mut out, &mut offsets, &mut types).map(|got| {
                    for i in 0..got {
                        let (ty, p) = &expected[seq as usize + i];
                        assert_eq!((types[i], &out[offsets[i] as usize..offsets[i + 1] as usize]), (*ty, p.as_slice()));
                    }
                });
                ok_or_corrupt(r, "read_batch");
            }
            assert_eq!(wal.replay(0, |_, _, _| {}).unwrap_err().code(), ERR_CORRUPT, "byte {byte}");
            drop(wal);
            fs.flip_bit(&name, byte, (byte % 8) as u8);
        }
        // damage was caught by the CRC, by a frame running past the size known from open, and
        // by the bounds of the header walk
        for want in ["CRC-32C mismatch", "torn frame", "length field"] {
            assert!(reasons.contains(want), "{want}: {reasons:?}");
        }
    }

    /// A frame rewritten after open as a valid but shorter frame (length field and CRC both
    /// consistent, which no single bit flip produces). Where the frame's end is known (before an
    /// anchor, at the end of a segment) every read reports it; elsewhere the CRC cannot see it,
    /// but the walk past it and a replay do.
    #[test]
    fn consistent_rewrite_after_open_is_caught_by_known_ends() {
        let n = 2 * K as u64 + 4;
        for victim in [K as u64 - 1, n - 1, 5] {
            let fs = SimFs::new(80);
            let (mut wal, _) = open(&fs, 0, 0).unwrap();
            let expected = append(&mut wal, 0, n);
            let name = segment_name(0);
            let mut bytes = fs.read_file(&name).unwrap();
            let mut off = HEADER_LEN;
            for _ in 0..victim {
                off += parse_frame(&bytes[off..]).unwrap().size();
            }
            let (ty, p) = &expected[victim as usize];
            assert!(p.len() >= 3, "victim {victim} needs a payload to shorten");
            let mut frame = Vec::new();
            format::encode_frame_into(&mut frame, *ty, &p[..p.len() - 3]);
            bytes[off..off + frame.len()].copy_from_slice(&frame);
            fs.write_file(&name, &bytes);

            let mut out = vec![0u8; 1 << 16];
            let mut offsets = vec![0u32; n as usize + 1];
            let mut types = vec![0u8; n as usize];
            let what = format!("victim {victim}");
            let replay = wal.replay(0, |_, _, _| {}).unwrap_err();
            assert_eq!(replay.code(), ERR_CORRUPT, "{what}");
            let batch = wal.read_batch(0, n as usize, &mut out, &mut offsets, &mut types);
            if victim % INDEX_EVERY == INDEX_EVERY - 1 || victim == n - 1 {
                let err = wal.read(victim).unwrap_err();
                assert!(err.to_string().contains("differs from"), "{what}: {err}");
                assert_eq!(err.damage().unwrap().seq, victim);
                assert_eq!(replay.damage().unwrap().seq, victim, "{what}: {replay}");
                // read_batch cannot cross a damaged frame, wherever it starts
                assert_eq!(batch.unwrap_err().code(), ERR_CORRUPT);
            } else {
                assert_eq!(wal.read(victim + 1).unwrap_err().code(), ERR_CORRUPT, "{what}");
            }
            // records before it are untouched
            for seq in 0..victim {
                assert_eq!(wal.read(seq).unwrap(), expected[seq as usize]);
            }
        }
    }

    /// Memory of the index: one u64 per `INDEX_EVERY` records (plus one per segment), where the
    /// dense index needed one per record. Run with `--nocapture` to see the numbers.
    #[test]
    fn index_memory_per_record() {
        const N: u64 = 1_000_000;
        let fs = SimFs::new(70);
        let (mut wal, _) = open(&fs, 1 << 20, 0).unwrap();
        let payloads: Vec<[u8; 8]> = (0..1000u64).map(|i| i.to_le_bytes()).collect();
        let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
        for _ in 0..N / 1000 {
            wal.append_batch(1, &refs).unwrap();
            wal.sync().unwrap();
        }
        assert_eq!(wal.len(), N);
        let segments = wal.segs.len() as u64;
        assert!(segments > 10, "{segments}");
        let len: usize = wal.segs.iter().map(|s| s.anchors.len()).sum();
        let cap: usize = wal.segs.iter().map(|s| s.anchors.capacity()).sum();
        let active = wal.segs.last().unwrap().anchors.capacity();
        assert!(len as u64 <= N / INDEX_EVERY + segments, "{len} anchors");
        // sealed segments are shrunk; only the active one keeps Vec growth slack
        assert!(cap as u64 <= N / INDEX_EVERY + segments + active as u64, "{cap} anchor slots");
        let bytes = cap * size_of::<u64>() + wal.segs.capacity() * size_of::<Seg>();
        println!(
            "{N} records, {segments} segments: {len} anchors ({cap} slots), {bytes} bytes of index \
             = {:.3} bytes/record (dense index: 8 bytes/record + Vec doubling)",
            bytes as f64 / N as f64
        );
        assert!(bytes as u64 * 32 < N * 8, "{bytes} bytes");
        // spot checks, and a full read_batch pass
        let mut rng = XorShift64::new(71);
        for _ in 0..1000 {
            let seq = rng.below(N);
            assert_eq!(wal.read(seq).unwrap(), (1, payloads[(seq % 1000) as usize].to_vec()), "{seq}");
        }
        let mut out = vec![0u8; 1 << 20];
        let mut offsets = vec![0u32; 4097];
        let mut types = vec![0u8; 4096];
        let mut seq = 0;
        while seq < N {
            let got = wal.read_batch(seq, 4096, &mut out, &mut offsets, &mut types).unwrap();
            assert!(got > 0);
            assert_eq!(
                &out[offsets[got - 1] as usize..offsets[got] as usize],
                payloads[((seq + got as u64 - 1) % 1000) as usize]
            );
            seq += got as u64;
        }
        drop(wal);
        // after recovery every segment's anchors are exact
        let (wal, _) = open(&fs, 1 << 20, N).unwrap();
        let cap: usize = wal.segs.iter().map(|s| s.anchors.capacity()).sum();
        assert!(cap as u64 <= N / INDEX_EVERY + segments, "{cap} anchor slots after reopen");
    }
}
