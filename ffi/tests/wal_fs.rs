//! The WAL on the real file system (tempfile): write, reopen, rotate, torn tail, flipped bit,
//! directory lock, read-only directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use warden_core::wal::{
    parse_frame, segment_name, Options, Recovery, Wal, WalError, ERR_CORRUPT, ERR_LOCKED, ERR_READONLY, HEADER_LEN,
    MAGIC,
};

fn open(dir: &Path, segment_bytes: u64, watermark: u64) -> Result<(Wal, Recovery), WalError> {
    Wal::open_dir(dir, Options { segment_bytes, watermark })
}

fn record(seq: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq * 131 + i * 7) as u8).collect()
}

/// Frame offsets of a segment file.
fn frame_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offs = Vec::new();
    let mut off = HEADER_LEN;
    while off < bytes.len() {
        offs.push(off);
        off += parse_frame(&bytes[off..]).unwrap().size();
    }
    offs
}

#[test]
fn write_rotate_reopen_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state/wal"); // created, parents too
    let (mut wal, rec) = open(&dir, 4096, 0).unwrap();
    assert_eq!(rec.records, 0);
    let records: Vec<Vec<u8>> = (0..300).map(|i| record(i, i % 97)).collect();
    for chunk in records.chunks(25) {
        let refs: Vec<&[u8]> = chunk.iter().map(|r| r.as_slice()).collect();
        wal.append_batch(3, &refs).unwrap();
        wal.sync().unwrap();
    }
    let names = wal.segment_names();
    assert!(names.len() > 3, "{names:?}");
    drop(wal);
    let mut on_disk: Vec<String> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    on_disk.sort();
    assert_eq!(on_disk, names);
    for name in &names {
        let bytes = fs::read(dir.join(name)).unwrap();
        assert_eq!(&bytes[..8], &MAGIC);
        assert!(bytes.len() <= 4096);
    }
    let (mut wal, rec) = open(&dir, 4096, 300).unwrap();
    assert_eq!((rec.records, rec.truncated_bytes), (300, 0));
    let all = wal.records(0).unwrap();
    assert_eq!(all.len(), 300);
    for (seq, ty, p) in all {
        assert_eq!((ty, p), (3, records[seq as usize].clone()));
    }
    assert_eq!(wal.read(123).unwrap().1, records[123]);
    assert_eq!(wal.append(3, b"more").unwrap(), 300);
    wal.sync().unwrap();
}

#[test]
fn torn_tail_on_disk_is_truncated_at_every_length() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (mut wal, _) = open(dir, 0, 0).unwrap();
    for i in 0..5 {
        wal.append(1, &record(i, 40)).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    let path = dir.join(segment_name(0));
    let full = fs::read(&path).unwrap();
    let last = *frame_offsets(&full).last().unwrap();
    for cut in 0..(full.len() - last) {
        fs::write(&path, &full[..last + cut]).unwrap();
        let (mut wal, rec) = open(dir, 0, 4).unwrap();
        assert_eq!(rec.records, 4);
        assert_eq!(rec.truncated_bytes, cut as u64);
        assert_eq!(fs::metadata(&path).unwrap().len(), last as u64);
        assert_eq!(wal.read(3).unwrap().1, record(3, 40));
    }
}

#[test]
fn flipped_bit_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (mut wal, _) = open(dir, 0, 0).unwrap();
    for i in 0..10 {
        wal.append(1, &record(i, 30)).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    let path = dir.join(segment_name(0));
    let mut bytes = fs::read(&path).unwrap();
    let off = frame_offsets(&bytes)[3];
    bytes[off + 20] ^= 0x10;
    fs::write(&path, &bytes).unwrap();

    // below the watermark: refuse, name the place, touch nothing
    let err = open(dir, 0, 10).map(|_| ()).unwrap_err();
    assert_eq!(err.code(), ERR_CORRUPT);
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("byte offset {off}")) && msg.contains("seq 3") && msg.contains("CRC-32C"), "{msg}");
    assert_eq!(fs::read(&path).unwrap(), bytes);

    // above: a torn tail, cut automatically
    let (mut wal, rec) = open(dir, 0, 3).unwrap();
    assert_eq!(rec.records, 3);
    assert_eq!(rec.truncated_records, 7);
    assert_eq!(fs::metadata(&path).unwrap().len(), off as u64);
    assert_eq!(wal.records(0).unwrap().len(), 3);
}

#[test]
fn one_handle_per_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = open(tmp.path(), 0, 0).unwrap();
    let err = open(tmp.path(), 0, 0).map(|_| ()).unwrap_err();
    assert_eq!(err.code(), ERR_LOCKED);
    drop(wal);
    assert!(open(tmp.path(), 0, 0).is_ok());
}

#[test]
fn read_only_directory_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ro");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    // root ignores permissions; then there is nothing to observe here
    let privileged = fs::write(dir.join("probe"), b"x").is_ok();
    if privileged {
        eprintln!("skipping: running with privileges that bypass directory permissions");
    } else {
        let err = open(&dir, 0, 0).map(|_| ()).unwrap_err();
        assert_eq!(err.code(), ERR_READONLY, "{err}");
        assert!(err.to_string().contains("read-only file system or permission denied"), "{err}");
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
}
