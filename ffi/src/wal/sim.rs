//! A fault-injecting, in-memory [`Storage`] for tests: a model of a page cache over a disk that
//! loses power.
//!
//! * Every file has a **volatile** image (what reads see: the page cache) and a **durable** image
//!   (what is on the disk). Writes and truncations change the volatile image and are queued as
//!   pending operations; [`StorageFile::sync_data`] applies the queue to the durable image.
//! * Directory entries work the same way: `create`/`remove` change the volatile directory at once
//!   and are queued; [`Storage::sync_dir`] makes them durable. Syncing a file does *not* make its
//!   directory entry durable (POSIX does not promise it, so neither does the model).
//! * [`SimFs::crash`] builds the disk image a power cut leaves behind: starting from the durable
//!   state, each pending write is independently dropped, kept, or torn (a strict prefix kept,
//!   followed by nothing, zeros or random garbage for some of the rest), each pending truncation is
//!   kept or lost, and each pending directory operation is kept or lost.
//! * Faults: the n-th `create`/`remove`/`write`/`set_len`/`sync`/`sync_dir` can fail with any errno
//!   ([`SimFs::fail_nth`]); a failing write may still have written a prefix. A failing sync
//!   behaves like Linux after a writeback error ("fsyncgate"): the queued writes reach the disk
//!   only partly (randomly), the page cache keeps the new bytes, and a later successful sync does
//!   not write them again. [`SimFs::set_capacity`] gives a disk that fills up (ENOSPC, possibly
//!   after a short write), [`SimFs::set_read_only`] a read-only mount (EROFS/EACCES), and
//!   [`SimFs::cut_power_after`] stops the machine after a number of mutating operations (every
//!   later call fails with EIO and changes nothing), so a crash can hit the middle of a segment
//!   rotation or of recovery itself.
//!
//! Everything is deterministic: randomness comes from a seeded [`XorShift64`].

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;

use super::storage::{Storage, StorageFile};

pub const ENOENT: i32 = 2;
pub const EIO: i32 = 5;
pub const EACCES: i32 = 13;
pub const ENOSPC: i32 = 28;
pub const EROFS: i32 = 30;

/// Marsaglia's xorshift64, seeded through splitmix64 so small seeds (0, 1, 2, ...) diverge at once.
#[derive(Debug, Clone)]
pub struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift64 { state: if z == 0 { 0x2545_F491_4F6C_DD1D } else { z } }
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }
    /// Uniform-ish in `0..n` (0 when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    /// Uniform-ish in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo))
    }
    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Kinds of operation a fault can be attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Remove,
    Write,
    SetLen,
    Sync,
    SyncDir,
}

/// How many operations of each kind have been attempted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub creates: u64,
    pub removes: u64,
    pub writes: u64,
    pub set_lens: u64,
    pub syncs: u64,
    pub dir_syncs: u64,
}

impl Counts {
    fn bump(&mut self, op: Op) -> u64 {
        let c = match op {
            Op::Create => &mut self.creates,
            Op::Remove => &mut self.removes,
            Op::Write => &mut self.writes,
            Op::SetLen => &mut self.set_lens,
            Op::Sync => &mut self.syncs,
            Op::SyncDir => &mut self.dir_syncs,
        };
        *c += 1;
        *c
    }
}

#[derive(Debug, Clone)]
enum Pending {
    Write { off: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Clone, Default)]
struct Inode {
    durable: Vec<u8>,
    volatile: Vec<u8>,
    pending: Vec<Pending>,
}

#[derive(Debug, Clone)]
enum DirOp {
    Link(String, usize),
    Unlink(String),
}

#[derive(Debug)]
struct Inner {
    inodes: Vec<Inode>,
    dir: BTreeMap<String, usize>,
    durable_dir: BTreeMap<String, usize>,
    pending_dir: Vec<DirOp>,
    rng: XorShift64,
    counts: Counts,
    faults: Vec<(Op, u64, i32)>,
    capacity: Option<u64>,
    read_only: Option<i32>,
    mutations: u64,
    power_cut_at: Option<u64>,
    powered_off: bool,
}

fn err(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

fn write_into(buf: &mut Vec<u8>, off: u64, data: &[u8]) {
    let off = off as usize;
    if buf.len() < off + data.len() {
        buf.resize(off + data.len(), 0);
    }
    buf[off..off + data.len()].copy_from_slice(data);
}

fn apply_exact(content: &mut Vec<u8>, p: &Pending) {
    match p {
        Pending::Write { off, data } => write_into(content, *off, data),
        Pending::SetLen(n) => content.resize(*n as usize, 0),
    }
}

/// The durable image after the pending operations met a power cut (or a failed writeback).
fn resolve(inode: &Inode, rng: &mut XorShift64) -> Vec<u8> {
    let mut c = inode.durable.clone();
    for p in &inode.pending {
        match p {
            Pending::SetLen(n) => {
                if rng.chance(1, 2) {
                    c.resize(*n as usize, 0);
                }
            }
            Pending::Write { off, data } => match rng.below(4) {
                0 => {} // dropped
                1 => write_into(&mut c, *off, data),
                _ => {
                    // torn: a strict prefix survives, then nothing, zeros, or garbage
                    let k = rng.below(data.len() as u64) as usize;
                    let mut torn = data[..k].to_vec();
                    let rest = (data.len() - k) as u64;
                    match rng.below(3) {
                        0 => {}
                        1 => {
                            let g = rng.below(rest + 1) as usize;
                            let mut garbage = vec![0u8; g];
                            rng.fill(&mut garbage);
                            torn.extend_from_slice(&garbage);
                        }
                        _ => {
                            let z = rng.below(rest + 1) as usize;
                            torn.resize(k + z, 0);
                        }
                    }
                    write_into(&mut c, *off, &torn);
                }
            },
        }
    }
    c
}

fn apply_dir(dir: &mut BTreeMap<String, usize>, op: &DirOp) {
    match op {
        DirOp::Link(name, ino) => {
            dir.insert(name.clone(), *ino);
        }
        DirOp::Unlink(name) => {
            dir.remove(name);
        }
    }
}

impl Inner {
    fn new(seed: u64) -> Inner {
        Inner {
            inodes: Vec::new(),
            dir: BTreeMap::new(),
            durable_dir: BTreeMap::new(),
            pending_dir: Vec::new(),
            rng: XorShift64::new(seed),
            counts: Counts::default(),
            faults: Vec::new(),
            capacity: None,
            read_only: None,
            mutations: 0,
            power_cut_at: None,
            powered_off: false,
        }
    }

    fn alive(&self) -> io::Result<()> {
        if self.powered_off {
            Err(err(EIO))
        } else {
            Ok(())
        }
    }

    /// Accounts one mutating operation of kind `op`; returns the errno of a fault due now.
    fn begin(&mut self, op: Op) -> io::Result<Option<i32>> {
        self.alive()?;
        if let Some(at) = self.power_cut_at {
            if self.mutations >= at {
                self.powered_off = true;
                return Err(err(EIO));
            }
        }
        self.mutations += 1;
        let n = self.counts.bump(op);
        Ok(self.faults.iter().find(|(o, at, _)| *o == op && *at == n).map(|f| f.2))
    }

    fn used(&self) -> u64 {
        self.dir.values().map(|&i| self.inodes[i].volatile.len() as u64).sum()
    }

    fn write_volatile(&mut self, ino: usize, off: u64, data: &[u8]) {
        let inode = &mut self.inodes[ino];
        write_into(&mut inode.volatile, off, data);
        inode.pending.push(Pending::Write { off, data: data.to_vec() });
    }

    fn write(&mut self, ino: usize, off: u64, data: &[u8]) -> io::Result<()> {
        let fault = self.begin(Op::Write)?;
        if let Some(e) = self.read_only {
            return Err(err(e));
        }
        if let Some(errno) = fault {
            let k = self.rng.below(data.len() as u64 + 1) as usize;
            if k > 0 {
                self.write_volatile(ino, off, &data[..k]);
            }
            return Err(err(errno));
        }
        if let Some(cap) = self.capacity {
            let cur = self.inodes[ino].volatile.len() as u64;
            let growth = (off + data.len() as u64).saturating_sub(cur);
            let used = self.used();
            if used + growth > cap {
                let room = cap.saturating_sub(used);
                let fit = ((cur + room).saturating_sub(off) as usize).min(data.len());
                if fit > 0 {
                    self.write_volatile(ino, off, &data[..fit]);
                }
                return Err(err(ENOSPC));
            }
        }
        self.write_volatile(ino, off, data);
        Ok(())
    }

    fn set_len(&mut self, ino: usize, len: u64) -> io::Result<()> {
        let fault = self.begin(Op::SetLen)?;
        if let Some(e) = self.read_only {
            return Err(err(e));
        }
        if let Some(errno) = fault {
            return Err(err(errno));
        }
        let inode = &mut self.inodes[ino];
        inode.volatile.resize(len as usize, 0);
        inode.pending.push(Pending::SetLen(len));
        Ok(())
    }

    fn sync(&mut self, ino: usize) -> io::Result<()> {
        let fault = self.begin(Op::Sync)?;
        if let Some(errno) = fault {
            // Writeback failed: part of the queue reached the disk, the rest is lost, and the
            // page cache keeps the new bytes marked clean (a later sync will not retry them).
            let durable = resolve(&self.inodes[ino], &mut self.rng);
            let inode = &mut self.inodes[ino];
            inode.durable = durable;
            inode.pending.clear();
            return Err(err(errno));
        }
        let inode = &mut self.inodes[ino];
        for p in std::mem::take(&mut inode.pending) {
            apply_exact(&mut inode.durable, &p);
        }
        Ok(())
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        let fault = self.begin(Op::SyncDir)?;
        let ops = std::mem::take(&mut self.pending_dir);
        if let Some(errno) = fault {
            for op in &ops {
                if self.rng.chance(1, 2) {
                    apply_dir(&mut self.durable_dir, op);
                }
            }
            return Err(err(errno));
        }
        for op in &ops {
            apply_dir(&mut self.durable_dir, op);
        }
        Ok(())
    }
}

/// The simulated directory. Clones share the same state (the WAL owns one, the test keeps one).
#[derive(Debug, Clone)]
pub struct SimFs {
    inner: Rc<RefCell<Inner>>,
}

/// An open file of a [`SimFs`]. Like a real descriptor it keeps working after its name is removed.
#[derive(Debug)]
pub struct SimFile {
    inner: Rc<RefCell<Inner>>,
    ino: usize,
}

impl SimFs {
    /// An empty directory; `seed` drives the random outcomes of failed syncs and short writes.
    pub fn new(seed: u64) -> SimFs {
        SimFs { inner: Rc::new(RefCell::new(Inner::new(seed))) }
    }

    /// The disk image a power cut leaves right now (see the module docs). The result is a fresh,
    /// powered-on, fault-free file system whose volatile and durable images are that disk image.
    pub fn crash(&self, seed: u64) -> SimFs {
        let inner = self.inner.borrow();
        let mut rng = XorShift64::new(seed);
        let mut dir = inner.durable_dir.clone();
        for op in &inner.pending_dir {
            if rng.chance(1, 2) {
                apply_dir(&mut dir, op);
            }
        }
        let mut inodes = vec![Inode::default(); inner.inodes.len()];
        for &ino in dir.values() {
            let content = resolve(&inner.inodes[ino], &mut rng);
            inodes[ino] = Inode { durable: content.clone(), volatile: content, pending: Vec::new() };
        }
        let mut fresh = Inner::new(seed ^ 0x5EED);
        fresh.inodes = inodes;
        fresh.durable_dir = dir.clone();
        fresh.dir = dir;
        SimFs { inner: Rc::new(RefCell::new(fresh)) }
    }

    /// Makes the `nth` (1-based, counted from now) future operation of kind `op` fail with `errno`.
    pub fn fail_nth(&self, op: Op, nth: u64, errno: i32) {
        let mut inner = self.inner.borrow_mut();
        let now = match op {
            Op::Create => inner.counts.creates,
            Op::Remove => inner.counts.removes,
            Op::Write => inner.counts.writes,
            Op::SetLen => inner.counts.set_lens,
            Op::Sync => inner.counts.syncs,
            Op::SyncDir => inner.counts.dir_syncs,
        };
        inner.faults.push((op, now + nth, errno));
    }

    /// Removes pending faults, capacity and read-only settings (not a power cut).
    pub fn clear_faults(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.faults.clear();
        inner.capacity = None;
        inner.read_only = None;
    }

    /// Total bytes the files may hold (`None`: unlimited). Writes beyond fail with ENOSPC after
    /// writing what fits.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.inner.borrow_mut().capacity = bytes;
    }

    /// Makes every mutating call (and opening for writing) fail with `errno` (EROFS, EACCES).
    pub fn set_read_only(&self, errno: Option<i32>) {
        self.inner.borrow_mut().read_only = errno;
    }

    /// After `n` more mutating operations the power is gone: every call fails with EIO and
    /// nothing changes any more. Take the disk image with [`SimFs::crash`].
    pub fn cut_power_after(&self, n: u64) {
        let mut inner = self.inner.borrow_mut();
        inner.power_cut_at = Some(inner.mutations + n);
    }

    /// Cancels a power cut scheduled by [`SimFs::cut_power_after`] that has not happened yet.
    pub fn cancel_power_cut(&self) {
        let mut inner = self.inner.borrow_mut();
        if !inner.powered_off {
            inner.power_cut_at = None;
        }
    }

    pub fn powered_off(&self) -> bool {
        self.inner.borrow().powered_off
    }

    /// Number of mutating operations attempted so far.
    pub fn mutations(&self) -> u64 {
        self.inner.borrow().mutations
    }

    pub fn counts(&self) -> Counts {
        self.inner.borrow().counts.clone()
    }

    /// Names in the (volatile) directory, sorted.
    pub fn names(&self) -> Vec<String> {
        self.inner.borrow().dir.keys().cloned().collect()
    }

    /// What a read of `name` returns now.
    pub fn read_file(&self, name: &str) -> Option<Vec<u8>> {
        let inner = self.inner.borrow();
        inner.dir.get(name).map(|&i| inner.inodes[i].volatile.clone())
    }

    /// Stores `content` as `name`, durably (bypasses faults): for crafting test images.
    pub fn write_file(&self, name: &str, content: &[u8]) {
        let mut inner = self.inner.borrow_mut();
        let ino = match inner.dir.get(name) {
            Some(&i) => i,
            None => {
                inner.inodes.push(Inode::default());
                let i = inner.inodes.len() - 1;
                inner.dir.insert(name.to_string(), i);
                inner.durable_dir.insert(name.to_string(), i);
                i
            }
        };
        inner.inodes[ino] = Inode { durable: content.to_vec(), volatile: content.to_vec(), pending: Vec::new() };
    }

    /// Removes `name` durably (bypasses faults).
    pub fn delete_file(&self, name: &str) {
        let mut inner = self.inner.borrow_mut();
        inner.dir.remove(name);
        inner.durable_dir.remove(name);
    }

    /// Flips one bit of `name` in both images (bit rot).
    pub fn flip_bit(&self, name: &str, byte: usize, bit: u8) {
        let mut inner = self.inner.borrow_mut();
        let ino = inner.dir[name];
        let inode = &mut inner.inodes[ino];
        inode.volatile[byte] ^= 1 << bit;
        if byte < inode.durable.len() {
            inode.durable[byte] ^= 1 << bit;
        }
    }

    /// Truncates `name` to `len` in both images.
    pub fn truncate_file(&self, name: &str, len: usize) {
        let mut c = self.read_file(name).expect("no such file");
        c.truncate(len);
        self.write_file(name, &c);
    }
}

impl Storage for SimFs {
    type File = SimFile;

    fn list(&self) -> io::Result<Vec<String>> {
        let inner = self.inner.borrow();
        inner.alive()?;
        Ok(inner.dir.keys().cloned().collect())
    }

    fn create(&self, name: &str) -> io::Result<SimFile> {
        let mut inner = self.inner.borrow_mut();
        let fault = inner.begin(Op::Create)?;
        if let Some(e) = inner.read_only {
            return Err(err(e));
        }
        if let Some(errno) = fault {
            return Err(err(errno));
        }
        let ino = match inner.dir.get(name) {
            Some(&i) => {
                let inode = &mut inner.inodes[i];
                inode.volatile.clear();
                inode.pending.push(Pending::SetLen(0));
                i
            }
            None => {
                inner.inodes.push(Inode::default());
                let i = inner.inodes.len() - 1;
                inner.dir.insert(name.to_string(), i);
                inner.pending_dir.push(DirOp::Link(name.to_string(), i));
                i
            }
        };
        Ok(SimFile { inner: self.inner.clone(), ino })
    }

    fn open(&self, name: &str) -> io::Result<SimFile> {
        let inner = self.inner.borrow();
        inner.alive()?;
        if let Some(e) = inner.read_only {
            return Err(err(e));
        }
        let ino = *inner.dir.get(name).ok_or_else(|| err(ENOENT))?;
        Ok(SimFile { inner: self.inner.clone(), ino })
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut inner = self.inner.borrow_mut();
        let fault = inner.begin(Op::Remove)?;
        if let Some(e) = inner.read_only {
            return Err(err(e));
        }
        if let Some(errno) = fault {
            return Err(err(errno));
        }
        inner.dir.remove(name).ok_or_else(|| err(ENOENT))?;
        inner.pending_dir.push(DirOp::Unlink(name.to_string()));
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        self.inner.borrow_mut().sync_dir()
    }

    fn path_of(&self, name: &str) -> String {
        format!("sim:/{name}")
    }
}

impl StorageFile for SimFile {
    fn len(&self) -> io::Result<u64> {
        let inner = self.inner.borrow();
        inner.alive()?;
        Ok(inner.inodes[self.ino].volatile.len() as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let inner = self.inner.borrow();
        inner.alive()?;
        let v = &inner.inodes[self.ino].volatile;
        let start = offset as usize;
        if start.checked_add(buf.len()).is_none_or(|end| end > v.len()) {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past end of file"));
        }
        buf.copy_from_slice(&v[start..start + buf.len()]);
        Ok(())
    }

    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.inner.borrow_mut().write(self.ino, offset, buf)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.borrow_mut().set_len(self.ino, len)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.inner.borrow_mut().sync(self.ino)
    }
}
