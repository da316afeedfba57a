//! The C ABI of the WAL, called the way bun:ffi calls it.

use std::ptr::null_mut;

use warden_core::wal::*;
use warden_core::ERR_BUFFER_TOO_SMALL;

fn report_str(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).expect("NUL-terminated");
    String::from_utf8(buf[..end].to_vec()).unwrap()
}

unsafe fn open(dir: &std::path::Path, watermark: u64, h: &mut *mut Wal, report: &mut [u8]) -> i64 {
    let p = dir.as_os_str().as_encoded_bytes();
    unsafe { warden_wal_open(p.as_ptr(), p.len(), 0, watermark, h, report.as_mut_ptr(), report.len()) }
}

#[test]
fn ffi_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h: *mut Wal = null_mut();
    let mut report = [0u8; 4096];
    unsafe {
        assert_eq!(open(tmp.path(), 0, &mut h, &mut report), 0);
        assert!(!h.is_null());
        assert!(report_str(&report).starts_with("{\"records\":0,"), "{}", report_str(&report));

        let data = b"helloworld!";
        let offsets = [0u32, 5, 10, 11];
        assert_eq!(warden_wal_append(h, 1, data.as_ptr(), offsets.as_ptr(), 3), 0);
        assert_eq!(warden_wal_append(h, 2, data.as_ptr(), offsets.as_ptr(), 3), 3);
        assert_eq!(warden_wal_append(h, 2, null_mut(), null_mut(), 0), 6);
        assert_eq!(warden_wal_durable_len(h), 0);
        assert_eq!(warden_wal_sync(h), 0);
        assert_eq!(warden_wal_len(h), 6);
        assert_eq!(warden_wal_durable_len(h), 6);

        let mut buf = [0u8; 16];
        let mut ty = 0u8;
        assert_eq!(warden_wal_read(h, 4, buf.as_mut_ptr(), buf.len(), &mut ty), 5);
        assert_eq!((&buf[..5], ty), (&b"world"[..], 2));
        assert_eq!(warden_wal_read(h, 4, buf.as_mut_ptr(), 2, &mut ty), ERR_BUFFER_TOO_SMALL as i64);
        assert_eq!(warden_wal_read(h, 99, buf.as_mut_ptr(), buf.len(), &mut ty), ERR_NOT_FOUND as i64);
        let mut msg = [0u8; 256];
        let n = warden_wal_last_error(h, msg.as_mut_ptr(), msg.len());
        assert!(n > 0);
        assert!(report_str(&msg).contains("no record 99"), "{}", report_str(&msg));

        let mut out = [0u8; 64];
        let mut offs = [0u32; 9];
        let mut types = [0u8; 8];
        let n = warden_wal_read_batch(h, 1, 8, out.as_mut_ptr(), out.len(), offs.as_mut_ptr(), types.as_mut_ptr());
        assert_eq!(n, 5);
        assert_eq!(&out[..offs[5] as usize], b"world!helloworld!");
        assert_eq!(&types[..5], &[1, 1, 2, 2, 2]);

        // argument errors leave the handle usable
        assert_eq!(warden_wal_append(h, 0, data.as_ptr(), offsets.as_ptr(), 3), ERR_INVALID as i64);
        let bad = [0u32, 6, 5];
        assert_eq!(warden_wal_append(h, 1, data.as_ptr(), bad.as_ptr(), 2), ERR_INVALID as i64);
        let big = vec![7u8; MAX_PAYLOAD + 1];
        let big_offsets = [0u32, big.len() as u32];
        assert_eq!(warden_wal_append(h, 1, big.as_ptr(), big_offsets.as_ptr(), 1), ERR_TOO_LARGE as i64);
        assert_eq!(warden_wal_len(h), 6);
        assert_eq!(warden_wal_len(null_mut()), ERR_INVALID as i64);
        assert_eq!(warden_wal_sync(null_mut()), ERR_INVALID);

        // one handle per directory
        let mut h2: *mut Wal = null_mut();
        assert_eq!(open(tmp.path(), 0, &mut h2, &mut report), ERR_LOCKED as i64);
        assert!(h2.is_null());
        assert!(report_str(&report).contains("in use"));

        assert_eq!(warden_wal_close(h), 0);
        assert_eq!(warden_wal_close(null_mut()), 0);

        // reopen with the watermark
        assert_eq!(open(tmp.path(), 6, &mut h, &mut report), 6);
        assert_eq!(warden_wal_read(h, 0, buf.as_mut_ptr(), buf.len(), &mut ty), 5);
        assert_eq!(&buf[..5], b"hello");
        warden_wal_close(h);

        // a watermark beyond the log: acknowledged records are missing
        assert_eq!(open(tmp.path(), 7, &mut h, &mut report), ERR_CORRUPT as i64);
        assert!(h.is_null());
        assert!(report_str(&report).contains("missing"), "{}", report_str(&report));
    }
}

#[test]
fn ffi_reports_corruption_with_location() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h: *mut Wal = null_mut();
    let mut report = [0u8; 4096];
    unsafe {
        assert_eq!(open(tmp.path(), 0, &mut h, &mut report), 0);
        let data = [5u8; 100];
        let offsets: Vec<u32> = (0..=10).map(|i| i * 10).collect();
        assert_eq!(warden_wal_append(h, 1, data.as_ptr(), offsets.as_ptr(), 10), 0);
        assert_eq!(warden_wal_sync(h), 0);
        warden_wal_close(h);
    }
    let seg = tmp.path().join(segment_name(0));
    let mut bytes = std::fs::read(&seg).unwrap();
    let off = HEADER_LEN + 6 * (FRAME_HEADER_LEN + 10);
    bytes[off + 4] ^= 1; // the CRC field of record 6
    std::fs::write(&seg, &bytes).unwrap();
    unsafe {
        assert_eq!(open(tmp.path(), 10, &mut h, &mut report), ERR_CORRUPT as i64);
        assert!(h.is_null());
        let msg = report_str(&report);
        assert!(msg.contains(&segment_name(0)) && msg.contains(&format!("byte offset {off}")) && msg.contains("seq 6"), "{msg}");

        // above the watermark: truncated, and the report says so
        assert_eq!(open(tmp.path(), 6, &mut h, &mut report), 6);
        let json = report_str(&report);
        assert!(json.contains("\"truncated_records\":4"), "{json}");
        assert!(json.contains(&format!("\"offset\":{off},\"seq\":6")), "{json}");
        // a small report buffer is cut, still NUL-terminated
        warden_wal_close(h);
        let mut small = [0xFFu8; 10];
        assert_eq!(open(tmp.path(), 6, &mut h, &mut small), 6);
        assert_eq!(report_str(&small), "{\"records"); // 9 bytes and the NUL
        warden_wal_close(h);
    }
}
