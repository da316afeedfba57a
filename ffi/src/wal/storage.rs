//! The file-system operations the WAL needs, behind a small trait, and the real implementation.
//!
//! A [`Storage`] is one directory. The WAL only ever appends to a file, truncates its tail, reads
//! it at an offset, creates and removes whole files, and syncs files and the directory. Keeping
//! the surface this small is what lets [`super::sim::SimFs`] model a page cache faithfully.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One directory of files.
pub trait Storage {
    type File: StorageFile;
    /// Names of the entries in the directory (any order).
    fn list(&self) -> io::Result<Vec<String>>;
    /// Creates `name` (truncating it if it exists) for reading and writing. The new directory
    /// entry is durable only after [`Storage::sync_dir`].
    fn create(&self, name: &str) -> io::Result<Self::File>;
    /// Opens an existing `name` for reading and writing.
    fn open(&self, name: &str) -> io::Result<Self::File>;
    /// Removes `name`. Durable only after [`Storage::sync_dir`].
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Makes the directory's entries (creations, removals) durable.
    fn sync_dir(&self) -> io::Result<()>;
    /// Human-readable location of `name`, for error messages.
    fn path_of(&self, name: &str) -> String;
}

/// One open file.
#[allow(clippy::len_without_is_empty)]
pub trait StorageFile {
    fn len(&self) -> io::Result<u64>;
    /// Fills `buf` from `offset`; a short file is an `UnexpectedEof` error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`. Not durable until [`StorageFile::sync_data`].
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Truncates (or extends) the file to `len`. Not durable until [`StorageFile::sync_data`].
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Makes the file's data and size durable (`fdatasync`). An error here is fatal for the WAL.
    fn sync_data(&mut self) -> io::Result<()>;
}

/// The real directory, through `std::fs`. Holds an exclusive `flock` on the directory for its
/// lifetime, so two gateways (for example two instances sharing a port through `SO_REUSEPORT`)
/// never append to the same log.
#[derive(Debug)]
pub struct FsStorage {
    dir: PathBuf,
    _lock: File,
}

/// Why [`FsStorage::open`] failed.
#[derive(Debug)]
pub enum OpenDirError {
    Io(&'static str, PathBuf, io::Error),
    /// Another handle (in this or another process) holds the directory.
    Locked(PathBuf),
}

impl FsStorage {
    /// Opens (creating it and its parents when missing) the directory `dir` and locks it.
    /// When the directory is created, its parent is fsynced so the new entry survives a crash.
    pub fn open(dir: &Path) -> Result<FsStorage, OpenDirError> {
        let dir = dir.to_path_buf();
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).map_err(|e| OpenDirError::Io("create directory", dir.clone(), e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                File::open(parent)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| OpenDirError::Io("fsync directory", parent.to_path_buf(), e))?;
            }
        }
        let lock = File::open(&dir).map_err(|e| OpenDirError::Io("open directory", dir.clone(), e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(OpenDirError::Locked(dir)),
            Err(std::fs::TryLockError::Error(e)) => return Err(OpenDirError::Io("lock directory", dir, e)),
        }
        Ok(FsStorage { dir, _lock: lock })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Storage for FsStorage {
    type File = FsFile;

    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn create(&self, name: &str) -> io::Result<FsFile> {
        let f = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(self.dir.join(name))?;
        Ok(FsFile(f))
    }

    fn open(&self, name: &str) -> io::Result<FsFile> {
        Ok(FsFile(OpenOptions::new().read(true).write(true).open(self.dir.join(name))?))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.dir.join(name))
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn path_of(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// A segment file on the real file system.
#[derive(Debug)]
pub struct FsFile(File);

impl StorageFile for FsFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(&self.0, buf, offset)
    }
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(&self.0, buf, offset)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}
