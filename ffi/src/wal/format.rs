//! Byte layout of segment headers and frames (see the module documentation of [`crate::wal`]).

use std::fmt;

/// First 8 bytes of every segment file.
pub const MAGIC: [u8; 8] = *b"WDNWAL01";
/// Format version written into (and required in) every segment header.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the segment header: magic (8) ‖ version u32 LE (4) ‖ first seq u64 LE (8) ‖ CRC-32C u32 LE (4).
pub const HEADER_LEN: usize = 24;
/// Size of a frame header: payload length u32 LE (4) ‖ CRC-32C u32 LE (4) ‖ record type u8 (1).
pub const FRAME_HEADER_LEN: usize = 9;
/// Largest payload of one record. C2SP tlog-tiles entry bundles prefix every entry with a
/// big-endian uint16 length, so an entry can never be longer than this.
pub const MAX_PAYLOAD: usize = 65_535;

/// File name of the segment whose first record has sequence number `first_seq`.
pub fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.seg")
}

/// Inverse of [`segment_name`]: `Some(first_seq)` for exactly 20 decimal digits followed by `.seg`.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// CRC-32C (Castagnoli) of `type ‖ payload` — exactly what a frame's CRC field holds.
#[inline]
pub fn frame_crc(record_type: u8, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&[record_type]), payload)
}

/// The 24-byte header of a segment starting at `first_seq`.
pub fn encode_header(first_seq: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..20]);
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Why a segment header was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderProblem {
    /// Fewer than [`HEADER_LEN`] bytes in the file.
    Short(usize),
    /// The first 8 bytes are not [`MAGIC`].
    Magic,
    /// The header CRC does not match.
    Crc { stored: u32, computed: u32 },
    /// A well-formed header (magic and CRC fine) of another format version: never ours to repair.
    Version(u32),
    /// The header names another first sequence number than the file name.
    Seq { header: u64, name: u64 },
}

impl fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderProblem::Short(n) => write!(f, "segment header is torn ({n} of {HEADER_LEN} bytes)"),
            HeaderProblem::Magic => write!(f, "not a Warden WAL segment (magic is not WDNWAL01)"),
            HeaderProblem::Crc { stored, computed } => {
                write!(f, "segment header CRC-32C mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            HeaderProblem::Version(v) => write!(f, "unsupported WAL format version {v} (this build reads version {FORMAT_VERSION})"),
            HeaderProblem::Seq { header, name } => {
                write!(f, "segment header says the first record is {header} but the file name says {name}")
            }
        }
    }
}

/// Checks a segment header (the first bytes of `file`) against the first sequence number taken
/// from the file name. The CRC is checked before the version, so a flipped bit in the version
/// field reads as damage, not as a newer format.
pub fn check_header(file: &[u8], name_seq: u64) -> Result<(), HeaderProblem> {
    if file.len() < HEADER_LEN {
        return Err(HeaderProblem::Short(file.len()));
    }
    if file[0..8] != MAGIC {
        return Err(HeaderProblem::Magic);
    }
    let stored = u32::from_le_bytes(file[20..24].try_into().unwrap());
    let computed = crc32c::crc32c(&file[0..20]);
    if stored != computed {
        return Err(HeaderProblem::Crc { stored, computed });
    }
    let version = u32::from_le_bytes(file[8..12].try_into().unwrap());
    if version != FORMAT_VERSION {
        return Err(HeaderProblem::Version(version));
    }
    let header = u64::from_le_bytes(file[12..20].try_into().unwrap());
    if header != name_seq {
        return Err(HeaderProblem::Seq { header, name: name_seq });
    }
    Ok(())
}

/// Appends one frame (`len ‖ crc ‖ type ‖ payload`) to `buf`.
#[inline]
pub fn encode_frame_into(buf: &mut Vec<u8>, record_type: u8, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_PAYLOAD);
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&frame_crc(record_type, payload).to_le_bytes());
    buf.push(record_type);
    buf.extend_from_slice(payload);
}

/// Why the bytes at some offset are not a whole, intact frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameProblem {
    /// Fewer than [`FRAME_HEADER_LEN`] bytes left.
    ShortHeader(usize),
    /// The length field exceeds [`MAX_PAYLOAD`].
    BadLength(u32),
    /// The frame runs past the end of the file.
    Short { need: usize, have: usize },
    /// CRC-32C over type ‖ payload does not match.
    Crc { stored: u32, computed: u32 },
    /// Record type 0 is reserved (it is what a zero-filled region looks like).
    ZeroType,
}

impl fmt::Display for FrameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameProblem::ShortHeader(n) => write!(f, "torn frame header ({n} of {FRAME_HEADER_LEN} bytes)"),
            FrameProblem::BadLength(n) => write!(f, "length field {n} exceeds the {MAX_PAYLOAD}-byte maximum"),
            FrameProblem::Short { need, have } => write!(f, "torn frame ({have} of {need} bytes)"),
            FrameProblem::Crc { stored, computed } => {
                write!(f, "CRC-32C mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            FrameProblem::ZeroType => write!(f, "record type 0 is reserved"),
        }
    }
}

/// A frame that passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub record_type: u8,
    /// Payload length; the payload is at `FRAME_HEADER_LEN..FRAME_HEADER_LEN + len`.
    pub len: usize,
}

impl Frame {
    /// Total size of the frame in bytes.
    #[inline]
    pub fn size(&self) -> usize {
        FRAME_HEADER_LEN + self.len
    }
}

/// Parses and verifies the frame at the start of `bytes`.
/// On failure also returns the frame size the length field claims when that size would fit
/// into `bytes` (lets recovery count what lies after a damaged frame).
pub fn parse_frame(bytes: &[u8]) -> Result<Frame, (FrameProblem, Option<usize>)> {
    if bytes.len() < FRAME_HEADER_LEN {
        return Err((FrameProblem::ShortHeader(bytes.len()), None));
    }
    let len = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    if len as usize > MAX_PAYLOAD {
        return Err((FrameProblem::BadLength(len), None));
    }
    let need = FRAME_HEADER_LEN + len as usize;
    if need > bytes.len() {
        return Err((FrameProblem::Short { need, have: bytes.len() }, None));
    }
    let stored = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
    let record_type = bytes[8];
    let computed = frame_crc(record_type, &bytes[FRAME_HEADER_LEN..need]);
    if stored != computed {
        return Err((FrameProblem::Crc { stored, computed }, Some(need)));
    }
    if record_type == 0 {
        return Err((FrameProblem::ZeroType, Some(need)));
    }
    Ok(Frame { record_type, len: len as usize })
}

/// Number of intact frames at the start of `bytes` (stops at the first bad one).
pub fn count_frames(mut bytes: &[u8]) -> u64 {
    let mut n = 0;
    while !bytes.is_empty() {
        match parse_frame(bytes) {
            Ok(f) => {
                n += 1;
                bytes = &bytes[f.size()..];
            }
            Err(_) => break,
        }
    }
    n
}
