//! Merkle mountain range of the audit ledger.
//!
//! Hashing is RFC 6962 / RFC 9162: leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ l ‖ r).
//! The range stores every node of every perfect subtree, so the RFC 9162 Merkle Tree Hash of
//! any prefix, and the RFC 9162 inclusion and consistency proofs for any earlier size, are read
//! from stored nodes; only the one imperfect right part a proof or root needs is bagged on the
//! fly (O(log n) node hashes, never a rehash of leaves).
//!
//! # Layout
//! Nodes sit in MMR post-order: leaf i is written, then the trailing_ones(i) parents it
//! completes. That order is append-only (a new leaf never changes an old node), which makes the
//! node file a plain array of 32-byte hashes with nothing else in it, and makes "n leaves" and
//! "2n - popcount(n) nodes" interchangeable, so the file length alone encodes the tree size.
//! The perfect subtree of height h over leaves [k·2^h, (k+1)·2^h) lives at [`node_pos`]`(h, k)`.
//!
//! # Memory
//! A range backed by a file keeps no node in memory between appends: 64 bytes a record would
//! make a gateway's memory grow without bound (a soak at 7 000 records/s grew 27 MB a minute).
//! Nodes are read back with positioned reads when a root or a proof needs them (O(log n) each,
//! from the page cache), and an append needs only the peaks it completes, read the same way.
//!
//! # Status codes (FFI)
//! `OK = 0`; `ERR_BUFFER_TOO_SMALL = -1` (lib.rs); [`ERR_IO`] `= -2`; [`ERR_RANGE`] `= -3`;
//! [`ERR_ARG`] `= -4`; [`ERR_POISONED`] `= -5`; [`ERR_LOCKED`] `= -6`; `ERR_PANIC = -99` (lib.rs).
//!
//! # Threading
//! A Rust [`Mmr`] is an ordinary `&mut` value. The FFI handle wraps it in a mutex, because the
//! gateway may serve proofs from one thread while the audit worker appends on another; a call
//! that panicked poisons the mutex and later calls on that handle answer `ERR_POISONED`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, a node hash or a root.
pub type Hash = [u8; 32];

/// RFC 9162 MTH of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// I/O failed (open, read, write, truncate or fsync). After a failed write, truncate or fsync the
/// handle is poisoned: the on-disk state is unknown, so close, reopen and reconcile with the WAL.
pub const ERR_IO: i32 = -2;
/// An index or size lies outside the tree (`index < size ≤ current size`, `0 < size1 ≤ size2`).
pub const ERR_RANGE: i32 = -3;
/// A null pointer, an unusable path, offsets that go backwards, or a byte count that overflows.
pub const ERR_ARG: i32 = -4;
/// An earlier write, truncate or fsync failed (or a call panicked) on this handle: it refuses to
/// write or sync again, because a retried fsync can report success for data the kernel dropped.
pub const ERR_POISONED: i32 = -5;
/// Another open handle (this or another process) holds the node file's exclusive lock.
pub const ERR_LOCKED: i32 = -6;

/// Leaves per fill pass of an append: their nodes (64 bytes a leaf) stay in L2 while the
/// levels above them are computed.
const FILL_CHUNK: usize = 4096;

/// Hashes in the longest proof for tree sizes below 2^63; a caller buffer of this many always
/// fits an inclusion or consistency proof.
pub const MAX_PROOF_HASHES: usize = 65;

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ data).
pub fn hash_leaf(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right).
#[inline]
pub fn hash_children(left: &Hash, right: &Hash) -> Hash {
    // One contiguous 65-byte update lets sha2 compress the first block straight from the stack
    // buffer instead of staging three small updates through its block buffer.
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    Sha256::digest(buf).into()
}

/// Computes two independent node hashes at once where the CPU has SHA extensions: one SHA-256
/// block is a serial chain of sha256rnds2 steps, so a single hash leaves most of the unit idle
/// and two interleaved chains cost little more than one. Elsewhere it is two plain hashes.
#[derive(Clone, Copy)]
struct PairHasher {
    #[cfg(target_arch = "x86_64")]
    shani: bool,
}

impl PairHasher {
    fn detect() -> Self {
        PairHasher {
            #[cfg(target_arch = "x86_64")]
            shani: shani::available(),
        }
    }

    #[inline]
    fn hash(self, l0: &Hash, r0: &Hash, l1: &Hash, r1: &Hash) -> (Hash, Hash) {
        #[cfg(target_arch = "x86_64")]
        if self.shani {
            // SAFETY: `available()` confirmed the CPU features `node_x2` is compiled for.
            return unsafe { shani::node_x2(l0, r0, l1, r1) };
        }
        (hash_children(l0, r0), hash_children(l1, r1))
    }
}

/// Two-lane SHA-256 of the fixed 65-byte node message with x86 SHA extensions. It follows the
/// Intel SHA-NI reference schedule (as in the sha2 crate's x86 backend) with the two lanes'
/// instructions interleaved; tests pin it to `hash_children` on random and edge inputs.
#[cfg(target_arch = "x86_64")]
mod shani {
    use super::Hash;
    use core::arch::x86_64::*;

    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    const H0: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];

    pub(super) fn available() -> bool {
        std::is_x86_feature_detected!("sha")
            && std::is_x86_feature_detected!("sse2")
            && std::is_x86_feature_detected!("ssse3")
            && std::is_x86_feature_detected!("sse4.1")
    }

    /// Four rounds on both lanes with message words `xw` / `yw` and constants K[4i..4i+4].
    macro_rules! rounds4 {
        ($xa:ident, $xc:ident, $xw:expr, $ya:ident, $yc:ident, $yw:expr, $i:expr) => {{
            let k = _mm_loadu_si128(K.as_ptr().add(4 * $i) as *const __m128i);
            let xt = _mm_add_epi32($xw, k);
            let yt = _mm_add_epi32($yw, k);
            $xc = _mm_sha256rnds2_epu32($xc, $xa, xt);
            $yc = _mm_sha256rnds2_epu32($yc, $ya, yt);
            $xa = _mm_sha256rnds2_epu32($xa, $xc, _mm_shuffle_epi32(xt, 0x0E));
            $ya = _mm_sha256rnds2_epu32($ya, $yc, _mm_shuffle_epi32(yt, 0x0E));
        }};
    }

    /// Next four message words from the previous sixteen (w[i-16..i-12] is `v0`).
    macro_rules! schedule {
        ($v0:expr, $v1:expr, $v2:expr, $v3:expr) => {
            _mm_sha256msg2_epu32(
                _mm_add_epi32(_mm_sha256msg1_epu32($v0, $v1), _mm_alignr_epi8($v3, $v2, 4)),
                $v3,
            )
        };
    }

    /// One compression of a 64-byte block on each lane.
    macro_rules! block {
        ($xa:ident, $xc:ident, $xb:expr, $ya:ident, $yc:ident, $yb:expr, $mask:expr) => {{
            let (xa0, xc0, ya0, yc0) = ($xa, $xc, $ya, $yc);
            let (xp, yp) = (
                $xb.as_ptr() as *const __m128i,
                $yb.as_ptr() as *const __m128i,
            );
            let mut x0 = _mm_shuffle_epi8(_mm_loadu_si128(xp), $mask);
            let mut x1 = _mm_shuffle_epi8(_mm_loadu_si128(xp.add(1)), $mask);
            let mut x2 = _mm_shuffle_epi8(_mm_loadu_si128(xp.add(2)), $mask);
            let mut x3 = _mm_shuffle_epi8(_mm_loadu_si128(xp.add(3)), $mask);
            let mut y0 = _mm_shuffle_epi8(_mm_loadu_si128(yp), $mask);
            let mut y1 = _mm_shuffle_epi8(_mm_loadu_si128(yp.add(1)), $mask);
            let mut y2 = _mm_shuffle_epi8(_mm_loadu_si128(yp.add(2)), $mask);
            let mut y3 = _mm_shuffle_epi8(_mm_loadu_si128(yp.add(3)), $mask);
            rounds4!($xa, $xc, x0, $ya, $yc, y0, 0);
            rounds4!($xa, $xc, x1, $ya, $yc, y1, 1);
            rounds4!($xa, $xc, x2, $ya, $yc, y2, 2);
            rounds4!($xa, $xc, x3, $ya, $yc, y3, 3);
            let mut i = 4;
            while i < 16 {
                x0 = schedule!(x0, x1, x2, x3);
                y0 = schedule!(y0, y1, y2, y3);
                rounds4!($xa, $xc, x0, $ya, $yc, y0, i);
                x1 = schedule!(x1, x2, x3, x0);
                y1 = schedule!(y1, y2, y3, y0);
                rounds4!($xa, $xc, x1, $ya, $yc, y1, i + 1);
                x2 = schedule!(x2, x3, x0, x1);
                y2 = schedule!(y2, y3, y0, y1);
                rounds4!($xa, $xc, x2, $ya, $yc, y2, i + 2);
                x3 = schedule!(x3, x0, x1, x2);
                y3 = schedule!(y3, y0, y1, y2);
                rounds4!($xa, $xc, x3, $ya, $yc, y3, i + 3);
                i += 4;
            }
            $xa = _mm_add_epi32($xa, xa0);
            $xc = _mm_add_epi32($xc, xc0);
            $ya = _mm_add_epi32($ya, ya0);
            $yc = _mm_add_epi32($yc, yc0);
        }};
    }

    /// SHA-256(0x01 ‖ l0 ‖ r0) and SHA-256(0x01 ‖ l1 ‖ r1).
    ///
    /// # Safety
    /// The CPU must support SHA, SSE2, SSSE3 and SSE4.1 ([`available`]).
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn node_x2(l0: &Hash, r0: &Hash, l1: &Hash, r1: &Hash) -> (Hash, Hash) {
        // The 65-byte message pads to two blocks: 01 ‖ l ‖ r[..31], then r[31] ‖ 80 ‖ 0… ‖ 520
        // as a 64-bit big-endian bit count.
        let first = |l: &Hash, r: &Hash| {
            let mut b = [0u8; 64];
            b[0] = 1;
            b[1..33].copy_from_slice(l);
            b[33..].copy_from_slice(&r[..31]);
            b
        };
        let second = |r: &Hash| {
            let mut b = [0u8; 64];
            b[0] = r[31];
            b[1] = 0x80;
            b[62] = 0x02;
            b[63] = 0x08;
            b
        };
        let (xb1, yb1, xb2, yb2) = (first(l0, r0), first(l1, r1), second(r0), second(r1));

        // Byte order within each 32-bit word: big-endian message words and output.
        let mask = _mm_set_epi64x(
            0x0C0D_0E0F_0809_0A0Bu64 as i64,
            0x0405_0607_0001_0203u64 as i64,
        );
        // sha256rnds2 wants the state as ABEF / CDGH word pairs.
        let dcba = _mm_loadu_si128(H0.as_ptr() as *const __m128i);
        let efgh = _mm_shuffle_epi32(_mm_loadu_si128(H0.as_ptr().add(4) as *const __m128i), 0x1B);
        let cdab = _mm_shuffle_epi32(dcba, 0xB1);
        let abef = _mm_alignr_epi8(cdab, efgh, 8);
        let cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
        let (mut xa, mut xc, mut ya, mut yc) = (abef, cdgh, abef, cdgh);
        block!(xa, xc, xb1, ya, yc, yb1, mask);
        block!(xa, xc, xb2, ya, yc, yb2, mask);

        let out = |abef: __m128i, cdgh: __m128i| {
            let feba = _mm_shuffle_epi32(abef, 0x1B);
            let dchg = _mm_shuffle_epi32(cdgh, 0xB1);
            let dcba = _mm_blend_epi16(feba, dchg, 0xF0);
            let hgef = _mm_alignr_epi8(dchg, feba, 8);
            let mut h = [0u8; 32];
            let p = h.as_mut_ptr() as *mut __m128i;
            _mm_storeu_si128(p, _mm_shuffle_epi8(dcba, mask));
            _mm_storeu_si128(p.add(1), _mm_shuffle_epi8(hgef, mask));
            h
        };
        (out(xa, xc), out(ya, yc))
    }
}

/// Number of stored nodes for `n` leaves: each perfect subtree of 2^h leaves has 2^(h+1) - 1
/// nodes and the peaks follow the binary digits of `n`.
#[inline]
pub const fn node_count(n: u64) -> u64 {
    2 * n - n.count_ones() as u64
}

/// Post-order position of the root of the perfect subtree of height `h` over leaves
/// [k·2^h, (k+1)·2^h). That root is written right after the last leaf of its range, followed
/// only by the ancestors that end at the same leaf, of which there are trailing_zeros(k+1).
#[inline]
pub const fn node_pos(h: u32, k: u64) -> u64 {
    let e = k + 1;
    (e << (h + 1)) - e.count_ones() as u64 - e.trailing_zeros() as u64 - 1
}

/// Largest tree size whose nodes all fit in `nodes` stored hashes (a torn append leaves a
/// partial node group, which belongs to no size and is dropped).
pub fn size_for_nodes(nodes: u64) -> u64 {
    // node_count is strictly increasing and node_count(n) ≥ n, so the answer is in [0, nodes].
    let (mut lo, mut hi) = (0u64, nodes);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if node_count(mid) <= nodes {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// Largest power of two strictly below `n` (n ≥ 2): the RFC 9162 split point k.
#[inline]
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// Why an MMR operation failed; [`Error::code`] gives the FFI status code.
#[derive(Debug)]
pub enum Error {
    Io(io::Error),
    Range,
    Arg,
    Poisoned,
    Locked,
}

impl Error {
    pub fn code(&self) -> i32 {
        match self {
            Error::Io(_) => ERR_IO,
            Error::Range => ERR_RANGE,
            Error::Arg => ERR_ARG,
            Error::Poisoned => ERR_POISONED,
            Error::Locked => ERR_LOCKED,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "mmr node file: {e}"),
            Error::Range => f.write_str("mmr: index or size out of range"),
            Error::Arg => f.write_str("mmr: invalid argument"),
            Error::Poisoned => f.write_str("mmr: an earlier write or fsync failed; reopen"),
            Error::Locked => f.write_str("mmr: node file is locked by another handle"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// A Merkle mountain range in an append-only node file, or (built with [`Mmr::in_memory`]) in
/// memory only.
#[derive(Debug)]
pub struct Mmr {
    /// Nodes in post-order from position `base` on: in memory only, all of them (`base` is 0);
    /// with a file, the nodes of an append until they are written (`base` is then the file's
    /// node count and this is empty).
    nodes: Vec<Hash>,
    base: u64,
    size: u64,
    /// Its cursor always sits at the end of the valid nodes, so appends never seek.
    file: Option<File>,
    poisoned: bool,
}

impl Mmr {
    /// A range with no backing file (for `warden verify`, which rebuilds the tree from records).
    pub fn in_memory() -> Self {
        Mmr {
            nodes: Vec::new(),
            base: 0,
            size: 0,
            file: None,
            poisoned: false,
        }
    }

    /// Opens (or creates) the node file at `path`; nothing is read yet. A trailing partial hash
    /// or partial node group (a torn append) is cut back to the last whole tree size. The file is
    /// locked exclusively for the life of the value so two writers can never interleave appends.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let (mut file, created) = match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(f) => (f, true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                (OpenOptions::new().read(true).write(true).open(path)?, false)
            }
            Err(e) => return Err(e.into()),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Locked),
            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
        }
        if created {
            // The new directory entry is not durable until its directory is synced.
            sync_parent_dir(path)?;
        }

        let len = file.metadata()?.len();
        let size = size_for_nodes(len / 32);
        let keep = node_count(size);
        if keep * 32 != len {
            file.set_len(keep * 32)?;
            // Make the repair durable now; a later crash must not resurrect the torn tail.
            file.sync_data()?;
        }
        file.seek(SeekFrom::Start(keep * 32))?;
        Ok(Mmr {
            nodes: Vec::new(),
            base: keep,
            size,
            file: Some(file),
            poisoned: false,
        })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// RFC 9162 MTH of all leaves.
    pub fn root(&self) -> Hash {
        self.root_or_empty(self.size)
    }

    /// RFC 9162 MTH of the first `n` leaves, `n ≤ size()`.
    pub fn root_at(&self, n: u64) -> Result<Hash, Error> {
        if n > self.size {
            return Err(Error::Range);
        }
        Ok(self.root_or_empty(n))
    }

    fn root_or_empty(&self, n: u64) -> Hash {
        if n == 0 {
            EMPTY_ROOT
        } else {
            self.range_hash(0, n)
        }
    }

    /// Stored leaf hash of leaf `index`.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, Error> {
        self.subtree_hash(0, index).ok_or(Error::Range)
    }

    /// Stored hash of the perfect subtree over leaves [k·2^h, (k+1)·2^h), if that range is
    /// complete at the current size. O(1).
    pub fn subtree_hash(&self, h: u32, k: u64) -> Option<Hash> {
        let end = k.checked_add(1)?.checked_shl(h)?;
        if h >= 63 || end >> h != k + 1 || end > self.size {
            return None;
        }
        Some(self.perfect(h, k))
    }

    #[inline]
    fn perfect(&self, h: u32, k: u64) -> Hash {
        node_at(&self.nodes, self.base, self.file.as_ref(), node_pos(h, k))
    }

    /// MTH of leaves [lo, hi). Callers pass only ranges that occur in the RFC 9162 recursion,
    /// whose start is aligned to the range's bit length, so the range splits into perfect stored
    /// subtrees following the binary digits of its length; bagging them right to left is exactly
    /// the RFC recursion (each split takes the largest power of two, i.e. the top digit).
    fn range_hash(&self, lo: u64, hi: u64) -> Hash {
        let mut bits = hi - lo;
        debug_assert!(bits > 0);
        let h = bits.trailing_zeros();
        let mut end = hi - (1 << h);
        debug_assert_eq!(end % (1 << h), 0);
        let mut acc = self.perfect(h, end >> h);
        bits &= bits - 1;
        while bits != 0 {
            let h = bits.trailing_zeros();
            end -= 1 << h;
            debug_assert_eq!(end % (1 << h), 0);
            acc = hash_children(&self.perfect(h, end >> h), &acc);
            bits &= bits - 1;
        }
        acc
    }

    /// Appends leaf hashes; returns the new size. New nodes reach the file in one write per 4096
    /// leaves (so one write for most batches); call [`Mmr::sync`] to make them durable.
    pub fn append_leaf_hashes(&mut self, leaves: &[Hash]) -> Result<u64, Error> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        if leaves.is_empty() {
            return Ok(self.size);
        }
        let (s, e) = (self.size, self.size + leaves.len() as u64);
        let old_nodes = self.nodes.len();
        self.nodes.resize((node_count(e) - self.base) as usize, [0u8; 32]);
        let pairs = PairHasher::detect();
        // The batch is computed and written in slices of FILL_CHUNK leaves (≈ 256 KiB of nodes):
        // one write for a typical batch, and for a huge one each slice is copied to the page
        // cache while still in L2 (a single multi-MiB write measured 2-3× slower end to end).
        let mut written = old_nodes;
        for (k, chunk) in leaves.chunks(FILL_CHUNK).enumerate() {
            let a = s + (k * FILL_CHUNK) as u64;
            self.fill(a, chunk, pairs);
            let upto = (node_count(a + chunk.len() as u64) - self.base) as usize;
            if let Some(file) = self.file.as_mut() {
                if let Err(err) = file.write_all(self.nodes[written..upto].as_flattened()) {
                    // Memory goes back to the last state the file is known to extend; the file
                    // may hold part of the batch, which the next open or truncate deals with.
                    self.nodes.truncate(old_nodes);
                    self.poisoned = true;
                    return Err(err.into());
                }
            }
            written = upto;
        }
        self.size = e;
        if self.file.is_some() {
            // On file now: read back when needed (see Memory in the module docs).
            self.base = node_count(e);
            self.nodes.clear();
            if self.nodes.capacity() > 4 * FILL_CHUNK {
                self.nodes.shrink_to(4 * FILL_CHUNK);
            }
        }
        Ok(e)
    }

    /// Stores leaves [a, a + leaves.len()) and every parent they complete into already-sized
    /// `nodes`. Parents are filled level by level rather than leaf by leaf: within a level they
    /// are independent, so two can share one pass of the SHA-256 unit ([`PairHasher`]). Level t
    /// gains the parents j whose last leaf (j+1)·2^t - 1 falls in the range.
    fn fill(&mut self, a: u64, leaves: &[Hash], pairs: PairHasher) {
        let b = a + leaves.len() as u64;
        let (base, file) = (self.base, self.file.as_ref());
        for (i, leaf) in (a..b).zip(leaves) {
            self.nodes[(node_pos(0, i) - base) as usize] = *leaf;
        }
        let nodes = &mut self.nodes;
        // A left child from an earlier append is a peak of the old tree, read back from the file.
        let kids = |n: &[Hash], t: u32, j: u64| {
            (
                node_at(n, base, file, node_pos(t - 1, 2 * j)),
                node_at(n, base, file, node_pos(t - 1, 2 * j + 1)),
            )
        };
        let mut t = 1;
        while a >> t != b >> t {
            let (mut j, hi) = (a >> t, b >> t);
            while j + 1 < hi {
                let ((l0, r0), (l1, r1)) = (kids(nodes, t, j), kids(nodes, t, j + 1));
                let (h0, h1) = pairs.hash(&l0, &r0, &l1, &r1);
                nodes[(node_pos(t, j) - base) as usize] = h0;
                nodes[(node_pos(t, j + 1) - base) as usize] = h1;
                j += 2;
            }
            if j < hi {
                let (l, r) = kids(nodes, t, j);
                nodes[(node_pos(t, j) - base) as usize] = hash_children(&l, &r);
            }
            t += 1;
        }
    }

    /// Hashes raw leaf bytes (RFC 6962 leaf hash) and appends them; returns the new size.
    pub fn append_leaf_data<'a, I>(&mut self, leaves: I) -> Result<u64, Error>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let hashes: Vec<Hash> = leaves.into_iter().map(hash_leaf).collect();
        self.append_leaf_hashes(&hashes)
    }

    /// Makes every appended node and every truncation durable (fdatasync; the file size is
    /// data-relevant metadata, so it is covered). A failure poisons the handle.
    pub fn sync(&mut self) -> Result<(), Error> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        if let Some(file) = self.file.as_mut() {
            if let Err(e) = file.sync_data() {
                self.poisoned = true;
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Drops leaves ≥ `n` and their nodes, in memory and in the file (the WAL found a torn tail).
    pub fn truncate(&mut self, n: u64) -> Result<(), Error> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        if n > self.size {
            return Err(Error::Range);
        }
        let keep = node_count(n);
        if let Some(file) = self.file.as_mut() {
            let res = file
                .set_len(keep * 32)
                .and_then(|()| file.seek(SeekFrom::Start(keep * 32)));
            if let Err(e) = res {
                self.poisoned = true;
                return Err(e.into());
            }
        }
        if self.file.is_some() {
            self.base = keep;
            self.nodes.clear();
        } else {
            self.nodes.truncate(keep as usize);
        }
        self.size = n;
        Ok(())
    }

    /// RFC 9162 §2.1.3.1 audit path PATH(index, D[size]), leaf end first.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, Error> {
        if index >= size || size > self.size {
            return Err(Error::Range);
        }
        let mut path = Vec::with_capacity(64);
        let (mut lo, mut hi) = (0, size);
        // Walking down from the root yields the path root end first; it is reversed at the end.
        // Only a step to the left leaves an imperfect sibling (the right part), and after it
        // every range is perfect, so at most one sibling is bagged.
        while hi - lo > 1 {
            let k = split(hi - lo);
            if index < lo + k {
                path.push(self.range_hash(lo + k, hi));
                hi = lo + k;
            } else {
                path.push(self.range_hash(lo, lo + k));
                lo += k;
            }
        }
        path.reverse();
        Ok(path)
    }

    /// RFC 9162 §2.1.4.1 consistency proof PROOF(size1, D[size2]) = SUBPROOF(size1, D[size2],
    /// true); empty when the sizes are equal.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, Error> {
        if size1 == 0 || size1 > size2 || size2 > self.size {
            return Err(Error::Range);
        }
        let mut proof = Vec::with_capacity(64);
        let (mut lo, mut hi, mut whole) = (0, size2, true);
        loop {
            if size1 == hi {
                // SUBPROOF(m, D[m], b): the old root itself is only omitted while it is still
                // the root the verifier already holds (b = true).
                if !whole {
                    proof.push(self.range_hash(lo, hi));
                }
                break;
            }
            let k = split(hi - lo);
            if size1 - lo <= k {
                proof.push(self.range_hash(lo + k, hi));
                hi = lo + k;
            } else {
                proof.push(self.range_hash(lo, lo + k));
                lo += k;
                whole = false;
            }
        }
        proof.reverse();
        Ok(proof)
    }

    /// Recomputes every parent completed by leaves ≥ `from` and returns the first leaf whose node
    /// group disagrees with its children, if any. Leaf hashes themselves can only be checked
    /// against the records, which the WAL does; this catches damaged interior nodes.
    ///
    /// One sequential pass over the nodes after `from`'s (post-order puts each parent right after
    /// its children's groups), with the subtrees still waiting for a right sibling on a stack
    /// that starts as the peaks of the first `from` leaves.
    pub fn first_inconsistent_leaf(&self, from: u64) -> Option<u64> {
        let mut stack: Vec<Hash> = Vec::with_capacity(64);
        let mut start = 0u64;
        for h in (0..64u32).rev() {
            if from & (1 << h) != 0 {
                stack.push(self.perfect(h, start >> h));
                start += 1 << h;
            }
        }
        let mut nodes = NodeReader::new(self, node_count(from));
        for i in from..self.size {
            stack.push(nodes.next());
            for _ in 1..=i.trailing_ones() {
                let stored = nodes.next();
                let right = stack.pop().expect("a left and a right child");
                let left = stack.pop().expect("a left and a right child");
                if hash_children(&left, &right) != stored {
                    return Some(i);
                }
                stack.push(stored);
            }
        }
        None
    }
}

/// The node at post-order position `pos`: from `nodes` (which start at position `base`) or,
/// below `base`, read from the node file. A read that fails panics (the FFI answers ERR_PANIC
/// and poisons the handle): the file is ours, locked, and was written and synced by us.
#[inline]
fn node_at(nodes: &[Hash], base: u64, file: Option<&File>, pos: u64) -> Hash {
    if pos >= base {
        return nodes[(pos - base) as usize];
    }
    let mut h = [0u8; 32];
    file.expect("nodes below base are on file")
        .read_exact_at(&mut h, pos * 32)
        .expect("reading the node file");
    h
}

/// Nodes in post-order from a position on, read from the file in blocks.
struct NodeReader<'a> {
    mmr: &'a Mmr,
    pos: u64,
    block: Vec<Hash>,
    at: usize,
}

impl<'a> NodeReader<'a> {
    fn new(mmr: &'a Mmr, pos: u64) -> Self {
        NodeReader { mmr, pos, block: Vec::new(), at: 0 }
    }

    fn next(&mut self) -> Hash {
        let (base, pos) = (self.mmr.base, self.pos);
        self.pos += 1;
        if pos >= base {
            return self.mmr.nodes[(pos - base) as usize];
        }
        if self.at == self.block.len() {
            let n = (base - pos).min(FILL_CHUNK as u64) as usize;
            self.block.resize(n, [0u8; 32]);
            self.mmr
                .file
                .as_ref()
                .expect("nodes below base are on file")
                .read_exact_at(self.block.as_flattened_mut(), pos * 32)
                .expect("reading the node file");
            self.at = 0;
        }
        self.at += 1;
        self.block[self.at - 1]
    }
}

fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// RFC 9162 §2.1.3.2: checks that `proof` proves `leaf_hash` is leaf `index` of the tree of
/// `size` leaves whose root is `root`. Independent of [`Mmr`], so it can vouch for it.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = hash_children(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = hash_children(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: checks that the tree of `size2` leaves with root `root2` extends the tree
/// of `size1` leaves with root `root1`. Equal sizes need equal roots and an empty proof. Size 0
/// is consistent with everything, but unlike transparency-dev we also insist that `root1` is
/// then the empty-tree hash: a checkpoint claiming size 0 with any other root is false.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> bool {
    if size1 > size2 {
        return false;
    }
    if size1 == 0 {
        return proof.is_empty() && *root1 == EMPTY_ROOT && (size2 > 0 || *root2 == EMPTY_ROOT);
    }
    if size1 == size2 {
        return proof.is_empty() && root1 == root2;
    }
    if proof.is_empty() {
        return false;
    }
    // A power-of-two old tree is itself a node of the new one, so the proof leaves it out.
    let (seed, rest) = if size1.is_power_of_two() {
        (root1, proof)
    } else {
        (&proof[0], &proof[1..])
    };
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = hash_children(c, &fr);
            sr = hash_children(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = hash_children(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *root1 && sr == *root2 && sn == 0
}

// ------------------------------------------------------------------------------------------------
// FFI
// ------------------------------------------------------------------------------------------------

/// Opaque handle given to the TypeScript side.
pub struct MmrHandle {
    inner: Mutex<Mmr>,
}

/// Runs `f` on the handle's range. A null handle is an argument error; a mutex poisoned by an
/// earlier panic means the range may be half-updated, so it is refused.
fn with_mmr<R>(handle: usize, f: impl FnOnce(&mut Mmr) -> Result<R, Error>) -> Result<R, Error> {
    if handle == 0 {
        return Err(Error::Arg);
    }
    // SAFETY: a non-null handle came from `warden_mmr_open` and has not been closed (caller
    // contract); the mutex serialises concurrent callers.
    let h = unsafe { &*(handle as *const MmrHandle) };
    let mut mmr = h.inner.lock().map_err(|_| Error::Poisoned)?;
    f(&mut mmr)
}

fn status(r: Result<i32, Error>) -> i32 {
    r.unwrap_or_else(|e| e.code())
}

/// `crate::guard` for exports that return an i64 (sizes do not fit an i32).
fn guard64(body: impl FnOnce() -> i64) -> i64 {
    let mut out = 0i64;
    // The closure's only captured state is `out` and `body`; a panic leaves `out` unread.
    let rc = crate::guard(AssertUnwindSafe(|| {
        out = body();
        crate::OK
    }));
    if rc == crate::ERR_PANIC {
        i64::from(crate::ERR_PANIC)
    } else {
        out
    }
}

fn size_i64(r: Result<u64, Error>) -> i64 {
    match r {
        Ok(n) => n as i64,
        Err(e) => i64::from(e.code()),
    }
}

/// Copies `proof` into the caller's buffer of `cap` hashes; returns the hash count.
fn write_proof(proof: &[Hash], out: usize, cap: usize) -> Result<i32, Error> {
    if proof.len() > cap {
        return Ok(crate::ERR_BUFFER_TOO_SMALL);
    }
    if !proof.is_empty() {
        if out == 0 {
            return Err(Error::Arg);
        }
        let bytes = proof.as_flattened();
        // SAFETY: the caller guarantees `cap` × 32 writable bytes at `out`; we write fewer.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out as *mut u8, bytes.len()) };
    }
    Ok(proof.len() as i32)
}

fn write_hash(h: &Hash, out: usize) -> Result<i32, Error> {
    if out == 0 {
        return Err(Error::Arg);
    }
    // SAFETY: the caller guarantees 32 writable bytes at `out`.
    unsafe { std::ptr::copy_nonoverlapping(h.as_ptr(), out as *mut u8, 32) };
    Ok(crate::OK)
}

/// Opens or creates the node file at the `path_len` bytes of `path_ptr` (no terminator) and
/// stores a new handle in `*out_handle` (null on failure). Returns `OK` or a negative code.
///
/// # Safety
/// `path_ptr` must point to `path_len` readable bytes; `out_handle` must be writable.
#[no_mangle]
pub unsafe extern "C" fn warden_mmr_open(
    path_ptr: *const u8,
    path_len: usize,
    out_handle: *mut *mut MmrHandle,
) -> i32 {
    let (path_ptr, out_handle) = (path_ptr as usize, out_handle as usize);
    crate::guard(move || {
        if out_handle == 0 {
            return ERR_ARG;
        }
        // SAFETY: checked non-null; the caller guarantees it is writable.
        unsafe { *(out_handle as *mut *mut MmrHandle) = std::ptr::null_mut() };
        if path_ptr == 0 || path_len == 0 {
            return ERR_ARG;
        }
        // SAFETY: the caller guarantees `path_len` readable bytes.
        let raw = unsafe { std::slice::from_raw_parts(path_ptr as *const u8, path_len) };
        let Some(path) = path_from_bytes(raw) else {
            return ERR_ARG;
        };
        match Mmr::open(path) {
            Ok(mmr) => {
                let h = Box::into_raw(Box::new(MmrHandle {
                    inner: Mutex::new(mmr),
                }));
                // SAFETY: as above.
                unsafe { *(out_handle as *mut *mut MmrHandle) = h };
                crate::OK
            }
            Err(e) => e.code(),
        }
    })
}

#[cfg(unix)]
fn path_from_bytes(raw: &[u8]) -> Option<&Path> {
    use std::os::unix::ffi::OsStrExt;
    if raw.contains(&0) {
        return None;
    }
    Some(Path::new(std::ffi::OsStr::from_bytes(raw)))
}

#[cfg(not(unix))]
fn path_from_bytes(raw: &[u8]) -> Option<&Path> {
    std::str::from_utf8(raw)
        .ok()
        .filter(|s| !s.contains('\0'))
        .map(Path::new)
}

/// Closes the handle (releasing the file lock) without syncing; call `warden_mmr_sync` first if
/// the tail must be durable. A null handle is ignored. Returns `OK`.
///
/// # Safety
/// `handle` is null or came from `warden_mmr_open`, is closed once, and is not used afterwards
/// or concurrently with this call.
#[no_mangle]
pub unsafe extern "C" fn warden_mmr_close(handle: *mut MmrHandle) -> i32 {
    let handle = handle as usize;
    crate::guard(move || {
        if handle != 0 {
            // SAFETY: caller contract above; ownership returns to the Box we created.
            drop(unsafe { Box::from_raw(handle as *mut MmrHandle) });
        }
        crate::OK
    })
}

/// Appends `count` leaf hashes (32 bytes each, contiguous at `leaves_ptr`) in one write.
/// Returns the new size, or a negative code.
///
/// # Safety
/// `handle` is live; `leaves_ptr` points to `count` × 32 readable bytes (may be null if 0).
#[no_mangle]
pub unsafe extern "C" fn warden_mmr_append(
    handle: *mut MmrHandle,
    leaves_ptr: *const u8,
    count: usize,
) -> i64 {
    let (handle, leaves_ptr) = (handle as usize, leaves_ptr as usize);
    guard64(move || {
        size_i64(with_mmr(handle, |mmr| {
            if count == 0 {
                return Ok(mmr.size());
            }
            if leaves_ptr == 0 || count.checked_mul(32).is_none() {
                return Err(Error::Arg);
            }
            // SAFETY: caller contract; [u8; 32] has alignment 1, so any address is aligned.
            let leaves = unsafe { std::slice::from_raw_parts(leaves_ptr as *const Hash, count) };
            mmr.append_leaf_hashes(leaves)
        }))
    })
}

/// Hashes and appends `count` raw leaves: leaf i is `data[offsets[i]..offsets[i+1]]`, so
/// `offsets` holds `count + 1` non-decreasing entries. Returns the new size, or a negative code
/// (`ERR_ARG` if the offsets go backwards; nothing is appended then).
///
/// # Safety
/// `handle` is live; `offsets_ptr` points to `count + 1` readable u32 (4-byte aligned) and
/// `data_ptr` to at least `offsets[count]` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn warden_mmr_append_leaves(
    handle: *mut MmrHandle,
    data_ptr: *const u8,
    offsets_ptr: *const u32,
    count: usize,
) -> i64 {
    let (handle, data_ptr, offsets_ptr) =
        (handle as usize, data_ptr as usize, offsets_ptr as usize);
    guard64(move || {
        size_i64(with_mmr(handle, |mmr| {
            if count == 0 {
                return Ok(mmr.size());
            }
            if offsets_ptr == 0 || offsets_ptr % std::mem::align_of::<u32>() != 0 {
                return Err(Error::Arg);
            }
            let n_off = count.checked_add(1).ok_or(Error::Arg)?;
            // SAFETY: caller contract; alignment checked above.
            let offsets = unsafe { std::slice::from_raw_parts(offsets_ptr as *const u32, n_off) };
            if offsets.windows(2).any(|w| w[0] > w[1]) {
                return Err(Error::Arg);
            }
            let end = offsets[count] as usize;
            if end > 0 && data_ptr == 0 {
                return Err(Error::Arg);
            }
            let data: &[u8] = if end == 0 {
                &[]
            } else {
                // SAFETY: caller contract: `offsets[count]` readable bytes at `data_ptr`.
                unsafe { std::slice::from_raw_parts(data_ptr as *const u8, end) }
            };
            mmr.append_leaf_data(
                offsets
                    .windows(2)
                    .map(|w| &data[w[0] as usize..w[1] as usize]),
            )
        }))
    })
}

/// Current number of leaves, or a negative code.
///
/// # Safety
/// `handle` is live.
#[no_mangle]
pub unsafe extern "C" fn warden_mmr_size(handle: *mut MmrHandle) -> i64 {
    let handle = handle as usize;
    guard64(move || size_i64(with_mmr(handle, |mmr| Ok(mmr.size()))))
}

/// fsyncs the node file (appends and truncations). Returns `OK`, `ERR_IO` (the handle is then
/// poisoned) or `ERR_POISONED`.
///
/// # Safety
/// `handle` is live.
#[no_mangle]
pub unsafe extern "C" fn warden_mmr_sync(handle: *mut MmrHandle) -> i32 {
    let handle = handle as usize;
    crate::guard(move || status(with_mmr(handle, |mmr| mmr.sync().map(|()| crate::OK))))
}

/// Drops leaves ≥ `n` (and their nodes) in memory and in the file. `ERR_RANGE` if `n > size`.
///
/// # Safety
/// `handle` is live.
#[no_mangle]
pub unsafe extern "C" fn warden_mmr_truncate(handle: *mut MmrHandle, n: u64) -> i32 {
    let handle = handle as usize;
    crate::guard(move || status(with_mmr(handle, |mmr| mmr.truncate(n).map(|()| crate::OK))))
}

/// Writes the RFC 9162 root of the first `size` leaves (`size ≤` current; 0 gives the empty-tree
/// hash) to the 32 bytes at `out32`.
///
/// # Safety
/// `handle` is live; `out32` points to 32 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn warden_mmr_root(handle: *mut MmrHandle, size: u64, out32: *mut u8) -> i32 {
    let (handle, out) = (handle as usize, out32 as usize);
    crate::guard(move || status(with_mmr(handle, |mmr| write_hash(&mmr.root_at(size)?, out))))
}

/// Writes the RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves
/// (`index < size ≤` current) to `out_ptr`, which holds `out_cap_hashes` × 32 bytes. Returns the
/// number of hashes written, `ERR_BUFFER_TOO_SMALL`, or another negative code.
///
/// # Safety
/// `handle` is live; `out_ptr` points to `out_cap_hashes` × 32 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn warden_mmr_inclusion(
    handle: *mut MmrHandle,
    index: u64,
    size: u64,
    out_ptr: *mut u8,
    out_cap_hashes: usize,
) -> i32 {
    let (handle, out) = (handle as usize, out_ptr as usize);
    crate::guard(move || {
        status(with_mmr(handle, |mmr| {
            write_proof(&mmr.inclusion_proof(index, size)?, out, out_cap_hashes)
        }))
    })
}

/// Writes the RFC 9162 consistency proof from `size1` to `size2` leaves
/// (`0 < size1 ≤ size2 ≤` current; empty when equal) to `out_ptr` (`out_cap_hashes` × 32 bytes).
/// Returns the number of hashes written, `ERR_BUFFER_TOO_SMALL`, or another negative code.
///
/// # Safety
/// `handle` is live; `out_ptr` points to `out_cap_hashes` × 32 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn warden_mmr_consistency(
    handle: *mut MmrHandle,
    size1: u64,
    size2: u64,
    out_ptr: *mut u8,
    out_cap_hashes: usize,
) -> i32 {
    let (handle, out) = (handle as usize, out_ptr as usize);
    crate::guard(move || {
        status(with_mmr(handle, |mmr| {
            write_proof(&mmr.consistency_proof(size1, size2)?, out, out_cap_hashes)
        }))
    })
}

/// Writes the stored hash of leaf `index` to the 32 bytes at `out32` (the WAL compares it with
/// its own records when it reconciles a tail).
///
/// # Safety
/// `handle` is live; `out32` points to 32 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn warden_mmr_leaf_hash(
    handle: *mut MmrHandle,
    index: u64,
    out32: *mut u8,
) -> i32 {
    let (handle, out) = (handle as usize, out32 as usize);
    crate::guard(move || {
        status(with_mmr(handle, |mmr| {
            write_hash(&mmr.leaf_hash(index)?, out)
        }))
    })
}

/// Recomputes the interior nodes completed by leaves ≥ `from_leaf`. Returns the first leaf whose
/// node group is damaged, the current size if none is, or a negative code.
///
/// # Safety
/// `handle` is live.
#[no_mangle]
pub unsafe extern "C" fn warden_mmr_check(handle: *mut MmrHandle, from_leaf: u64) -> i64 {
    let handle = handle as usize;
    guard64(move || {
        size_i64(with_mmr(handle, |mmr| {
            Ok(mmr.first_inconsistent_leaf(from_leaf).unwrap_or(mmr.size()))
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Naive RFC 9162 §2.1.1 / §2.1.3.1 / §2.1.4.1 definitions over a list of leaf hashes, kept
    // deliberately literal (recursive, rehashing everything) to cross-check the stored-node code.
    // They hash through sha2's Digest API directly rather than `hash_children`.
    fn ref_node(l: &Hash, r: &Hash) -> Hash {
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(l);
        h.update(r);
        h.finalize().into()
    }

    fn ref_mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => Sha256::digest([]).into(),
            1 => d[0],
            n => {
                let k = split(n as u64) as usize;
                ref_node(&ref_mth(&d[..k]), &ref_mth(&d[k..]))
            }
        }
    }

    fn ref_path(m: usize, d: &[Hash]) -> Vec<Hash> {
        let n = d.len();
        if n == 1 {
            return vec![];
        }
        let k = split(n as u64) as usize;
        let (mut p, sib) = if m < k {
            (ref_path(m, &d[..k]), ref_mth(&d[k..]))
        } else {
            (ref_path(m - k, &d[k..]), ref_mth(&d[..k]))
        };
        p.push(sib);
        p
    }

    fn ref_subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![ref_mth(d)] };
        }
        let k = split(n as u64) as usize;
        let (mut p, sib) = if m <= k {
            (ref_subproof(m, &d[..k], b), ref_mth(&d[k..]))
        } else {
            (ref_subproof(m - k, &d[k..], false), ref_mth(&d[..k]))
        };
        p.push(sib);
        p
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| hash_leaf(format!("leaf {i}").as_bytes()))
            .collect()
    }

    /// Small deterministic PRNG (xorshift64*), so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn layout_formulas_match_a_simulated_append() {
        // Replay the append order and record where each perfect subtree's root lands.
        let mut pos = 0u64;
        for i in 0u64..2048 {
            assert_eq!(node_pos(0, i), pos, "leaf {i}");
            assert_eq!(node_count(i), pos);
            pos += 1;
            for t in 1..=i.trailing_ones() {
                assert_eq!(node_pos(t, i >> t), pos, "height {t} ending at leaf {i}");
                pos += 1;
            }
            assert_eq!(node_count(i + 1), pos);
        }
    }

    #[test]
    fn size_for_nodes_cuts_partial_groups() {
        assert_eq!(size_for_nodes(0), 0);
        for n in 0u64..3000 {
            assert_eq!(size_for_nodes(node_count(n)), n);
            for c in node_count(n)..node_count(n + 1) {
                assert_eq!(size_for_nodes(c), n, "nodes {c}");
            }
        }
        let big = (1u64 << 40) + 12345;
        assert_eq!(size_for_nodes(node_count(big)), big);
        assert_eq!(size_for_nodes(node_count(big) + 1), big);
        assert_eq!(size_for_nodes(node_count(big) - 1), big - 1);
    }

    #[test]
    fn split_is_largest_power_of_two_below() {
        for (n, k) in [
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 4),
            (7, 4),
            (8, 4),
            (9, 8),
            (63, 32),
            (28937, 16384),
        ] {
            assert_eq!(split(n), k, "{n}");
        }
        assert_eq!(split(u64::MAX), 1 << 63);
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest([])));
        assert_eq!(Mmr::in_memory().root(), EMPTY_ROOT);
        assert_eq!(ref_mth(&[]), EMPTY_ROOT);
    }

    #[test]
    fn node_hash_matches_reference() {
        let (a, b) = (hash_leaf(b"a"), hash_leaf(b"b"));
        assert_eq!(hash_children(&a, &b), ref_node(&a, &b));
        assert_ne!(hash_children(&a, &b), hash_children(&b, &a));
    }

    #[test]
    fn pair_hasher_matches_single_hashes() {
        let mut rng = Rng(0x5eed);
        let mut random = || {
            let mut h = [0u8; 32];
            for c in h.chunks_mut(8) {
                c.copy_from_slice(&rng.next().to_le_bytes());
            }
            h
        };
        let mut inputs: Vec<[Hash; 4]> = (0..2000)
            .map(|_| [random(), random(), random(), random()])
            .collect();
        let (z, f) = ([0u8; 32], [0xffu8; 32]);
        inputs.extend([
            [z, z, z, z],
            [f, f, f, f],
            [z, f, f, z],
            [f, z, z, f],
            EMPTY_ROOT_X4,
        ]);
        let detected = PairHasher::detect();
        #[cfg(target_arch = "x86_64")]
        let plain = PairHasher { shani: false };
        #[cfg(not(target_arch = "x86_64"))]
        let plain = PairHasher {};
        for [a, b, c, d] in inputs {
            let want = (ref_node(&a, &b), ref_node(&c, &d));
            assert_eq!(detected.hash(&a, &b, &c, &d), want);
            assert_eq!(plain.hash(&a, &b, &c, &d), want);
        }
    }
    const EMPTY_ROOT_X4: [Hash; 4] = [EMPTY_ROOT; 4];

    #[test]
    fn roots_match_reference_for_every_size_up_to_200() {
        let d = leaves(200);
        let mut mmr = Mmr::in_memory();
        for (i, l) in d.iter().enumerate() {
            mmr.append_leaf_hashes(std::slice::from_ref(l)).unwrap();
            assert_eq!(mmr.root(), ref_mth(&d[..=i]), "size {}", i + 1);
        }
        for n in 0..=200 {
            assert_eq!(
                mmr.root_at(n as u64).unwrap(),
                ref_mth(&d[..n]),
                "root_at {n}"
            );
        }
        assert!(matches!(mmr.root_at(201), Err(Error::Range)));
    }

    #[test]
    fn inclusion_proofs_match_reference_for_all_sizes_up_to_64() {
        let d = leaves(64);
        let mut mmr = Mmr::in_memory();
        mmr.append_leaf_hashes(&d).unwrap();
        for size in 1..=64usize {
            let root = ref_mth(&d[..size]);
            for index in 0..size {
                let p = mmr.inclusion_proof(index as u64, size as u64).unwrap();
                assert_eq!(p, ref_path(index, &d[..size]), "PATH({index}, D[{size}])");
                assert!(verify_inclusion(
                    &d[index],
                    index as u64,
                    size as u64,
                    &p,
                    &root
                ));
                // The same proof must not vouch for a neighbouring leaf.
                let other = (index + 1) % size;
                if other != index {
                    assert!(!verify_inclusion(
                        &d[other],
                        index as u64,
                        size as u64,
                        &p,
                        &root
                    ));
                }
            }
            assert!(matches!(
                mmr.inclusion_proof(size as u64, size as u64),
                Err(Error::Range)
            ));
        }
        assert!(matches!(mmr.inclusion_proof(0, 65), Err(Error::Range)));
    }

    #[test]
    fn consistency_proofs_match_reference_for_all_sizes_up_to_64() {
        let d = leaves(64);
        let mut mmr = Mmr::in_memory();
        mmr.append_leaf_hashes(&d).unwrap();
        for size2 in 1..=64usize {
            let root2 = ref_mth(&d[..size2]);
            for size1 in 1..=size2 {
                let root1 = ref_mth(&d[..size1]);
                let p = mmr.consistency_proof(size1 as u64, size2 as u64).unwrap();
                assert_eq!(
                    p,
                    ref_subproof(size1, &d[..size2], true),
                    "PROOF({size1}, D[{size2}])"
                );
                assert!(verify_consistency(
                    size1 as u64,
                    size2 as u64,
                    &root1,
                    &root2,
                    &p
                ));
                if size1 != size2 {
                    assert!(!verify_consistency(
                        size1 as u64,
                        size2 as u64,
                        &root2,
                        &root1,
                        &p
                    ));
                }
            }
        }
        assert!(matches!(mmr.consistency_proof(0, 5), Err(Error::Range)));
        assert!(matches!(mmr.consistency_proof(6, 5), Err(Error::Range)));
        assert!(matches!(mmr.consistency_proof(5, 65), Err(Error::Range)));
    }

    #[test]
    fn random_sample_up_to_10000_leaves() {
        const N: usize = 10_000;
        let d = leaves(N);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // Random batch sizes exercise every carry pattern across batch boundaries.
        let mut mmr = Mmr::in_memory();
        let mut at = 0;
        while at < N {
            let take = (1 + rng.below(700) as usize).min(N - at);
            mmr.append_leaf_hashes(&d[at..at + take]).unwrap();
            at += take;
        }
        assert_eq!(mmr.size(), N as u64);

        // Every size's root against an independent peak stack (one push per leaf).
        let mut peaks: Vec<(u32, Hash)> = Vec::new();
        for (i, l) in d.iter().enumerate() {
            let mut cur = (0u32, *l);
            while let Some(&(h, p)) = peaks.last() {
                if h != cur.0 {
                    break;
                }
                peaks.pop();
                cur = (h + 1, ref_node(&p, &cur.1));
            }
            peaks.push(cur);
            let mut bag = peaks.last().unwrap().1;
            for (_, p) in peaks.iter().rev().skip(1) {
                bag = ref_node(p, &bag);
            }
            assert_eq!(mmr.root_at(i as u64 + 1).unwrap(), bag, "size {}", i + 1);
        }

        // The naive reference rehashes ~size2 nodes per call, so the sample stays small; the
        // fixed triples pin the edges (full tree, power-of-two boundaries, last leaf).
        let fixed = [
            (N, N, N - 1),
            (N - 1, N, 0),
            (8192, N, 8191),
            (8191, 8193, 8192),
            (1, N, 4096),
        ];
        let random = (0..10).map(|_| {
            let size2 = 1 + rng.below(N as u64) as usize;
            (
                1 + rng.below(size2 as u64) as usize,
                size2,
                rng.below(size2 as u64) as usize,
            )
        });
        for (size1, size2, index) in fixed.into_iter().chain(random.collect::<Vec<_>>()) {
            let (root1, root2) = (ref_mth(&d[..size1]), ref_mth(&d[..size2]));
            let ip = mmr.inclusion_proof(index as u64, size2 as u64).unwrap();
            assert_eq!(
                ip,
                ref_path(index, &d[..size2]),
                "PATH({index}, D[{size2}])"
            );
            assert!(verify_inclusion(
                &d[index],
                index as u64,
                size2 as u64,
                &ip,
                &root2
            ));
            let cp = mmr.consistency_proof(size1 as u64, size2 as u64).unwrap();
            assert_eq!(
                cp,
                ref_subproof(size1, &d[..size2], true),
                "PROOF({size1}, D[{size2}])"
            );
            assert!(verify_consistency(
                size1 as u64,
                size2 as u64,
                &root1,
                &root2,
                &cp
            ));
        }
    }

    #[test]
    fn batch_shape_does_not_change_the_nodes() {
        let d = leaves(3 * FILL_CHUNK + 9);
        let mut one_by_one = Mmr::in_memory();
        for l in &d {
            one_by_one
                .append_leaf_hashes(std::slice::from_ref(l))
                .unwrap();
        }
        // Odd starting offsets make fill chunks straddle every level's pair boundaries.
        for first in [0usize, 1, 3, 5, 4095, 4097] {
            let mut batched = Mmr::in_memory();
            batched.append_leaf_hashes(&d[..first]).unwrap();
            batched.append_leaf_hashes(&d[first..]).unwrap();
            assert!(batched.nodes == one_by_one.nodes, "first batch {first}");
        }
    }

    #[test]
    fn subtree_hash_bounds() {
        let mut mmr = Mmr::in_memory();
        mmr.append_leaf_hashes(&leaves(6)).unwrap();
        assert!(mmr.subtree_hash(2, 0).is_some());
        assert!(mmr.subtree_hash(1, 2).is_some());
        assert!(mmr.subtree_hash(2, 1).is_none());
        assert!(mmr.subtree_hash(0, 6).is_none());
        assert!(mmr.subtree_hash(63, 0).is_none());
        assert!(mmr.subtree_hash(1, u64::MAX).is_none());
        assert!(mmr.subtree_hash(40, 1 << 30).is_none());
    }

    #[test]
    fn append_leaf_data_hashes_as_rfc6962_leaves() {
        let mut a = Mmr::in_memory();
        let mut b = Mmr::in_memory();
        let raw: Vec<Vec<u8>> = (0..37u8).map(|i| vec![i; i as usize]).collect();
        a.append_leaf_data(raw.iter().map(|v| v.as_slice()))
            .unwrap();
        b.append_leaf_hashes(&raw.iter().map(|v| hash_leaf(v)).collect::<Vec<_>>())
            .unwrap();
        assert_eq!(a.root(), b.root());
        assert_eq!(a.leaf_hash(5).unwrap(), ref_mth(&[hash_leaf(&[5; 5])]));
    }

    #[test]
    fn truncate_then_regrow_in_memory() {
        let d = leaves(100);
        let mut mmr = Mmr::in_memory();
        mmr.append_leaf_hashes(&d).unwrap();
        for n in [99u64, 64, 63, 33, 1, 0] {
            mmr.truncate(n).unwrap();
            assert_eq!(mmr.size(), n);
            assert_eq!(mmr.root(), ref_mth(&d[..n as usize]));
            assert_eq!(mmr.nodes.len() as u64, node_count(n));
        }
        mmr.append_leaf_hashes(&d).unwrap();
        assert_eq!(mmr.root(), ref_mth(&d));
        assert!(matches!(mmr.truncate(101), Err(Error::Range)));
    }

    #[test]
    fn damaged_interior_node_is_found() {
        let mut mmr = Mmr::in_memory();
        mmr.append_leaf_hashes(&leaves(40)).unwrap();
        assert_eq!(mmr.first_inconsistent_leaf(0), None);
        // The height-2 node over leaves 16..20 is checked against its children when leaf 19
        // completes it, and its parent over 16..24 is checked when leaf 23 completes that.
        mmr.nodes[node_pos(2, 4) as usize][7] ^= 1;
        assert_eq!(mmr.first_inconsistent_leaf(0), Some(19));
        assert_eq!(mmr.first_inconsistent_leaf(20), Some(23));
        assert_eq!(mmr.first_inconsistent_leaf(24), None);
    }
}
