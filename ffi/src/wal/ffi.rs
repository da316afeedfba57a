//! C ABI of the WAL (loaded by `src/native/index.ts` through `bun:ffi`).
//!
//! Conventions: the handle is opaque (`Box::into_raw`); buffers are caller-allocated; statuses
//! are negative error codes (see the `ERR_*` constants in [`crate::wal`] and
//! [`crate::ERR_BUFFER_TOO_SMALL`]); a panic inside Rust returns [`crate::ERR_PANIC`] and puts the
//! handle into the failed state. Calls on one handle must not run concurrently. After any error,
//! `warden_wal_last_error` gives the message.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::panic::AssertUnwindSafe;
use std::path::Path;

use super::{Options, Wal, WalError, ERR_INVALID};

/// Runs `body` under [`crate::guard`] for functions that return an `i64`.
fn guard64<F: FnOnce() -> i64>(body: F) -> i64 {
    let mut result = 0i64;
    let status = crate::guard(AssertUnwindSafe(|| {
        result = body();
        crate::OK
    }));
    if status == crate::ERR_PANIC {
        crate::ERR_PANIC as i64
    } else {
        result
    }
}

/// Copies `msg` into `out` (at most `cap - 1` bytes, cut at a UTF-8 boundary) and a NUL byte.
/// Returns the number of message bytes written.
///
/// # Safety
/// `out` is 0 or points to `cap` writable bytes.
unsafe fn write_message(out: usize, cap: usize, msg: &str) -> usize {
    if out == 0 || cap == 0 {
        return 0;
    }
    let mut n = msg.len().min(cap - 1);
    while !msg.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: the caller guarantees `cap` writable bytes and n + 1 <= cap.
    unsafe {
        std::ptr::copy_nonoverlapping(msg.as_ptr(), out as *mut u8, n);
        *(out as *mut u8).add(n) = 0;
    }
    n
}

/// Runs `f` on the handle; records the message of an error and turns a panic into the failed state.
///
/// # Safety
/// `h` is 0 or a live handle from `warden_wal_open`.
unsafe fn with_wal<F>(h: usize, f: F) -> i64
where
    F: FnOnce(&mut Wal) -> Result<i64, WalError>,
{
    if h == 0 {
        return ERR_INVALID as i64;
    }
    let status = guard64(|| {
        // SAFETY: the caller passes a live handle and no concurrent call uses it.
        let wal = unsafe { &mut *(h as *mut Wal) };
        match f(wal) {
            Ok(v) => v,
            Err(e) => {
                wal.last_error = e.to_string();
                e.code() as i64
            }
        }
    });
    if status == crate::ERR_PANIC as i64 {
        // SAFETY: as above; a panic leaves the struct memory-valid, only its invariants are in doubt.
        let wal = unsafe { &mut *(h as *mut Wal) };
        wal.last_error = "panic inside the WAL".to_string();
        wal.fail("panic inside the WAL".to_string());
    }
    status
}

/// Opens (creating when needed) and recovers the log in directory `dir_ptr[..dir_len]` (a path,
/// bytes as given, no terminator). `segment_bytes` is the rotation size (0: 64 MiB); `watermark`
/// is the tree size of the last signed checkpoint.
///
/// Returns the number of records after recovery and stores the handle in `*out_handle`; the
/// recovery report (one line of JSON, see [`super::Recovery::to_json`]) is written NUL-terminated
/// into `report_ptr[..report_cap]` (cut when longer; 4096 bytes always suffice). On error returns
/// a negative code, stores a null handle and writes the message into the report buffer instead:
/// for `ERR_CORRUPT` it names the segment file, the byte offset and the sequence number.
///
/// # Safety
/// `dir_ptr` points to `dir_len` readable bytes, `out_handle` to a writable pointer, and
/// `report_ptr` is null or points to `report_cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn warden_wal_open(
    dir_ptr: *const u8,
    dir_len: usize,
    segment_bytes: u64,
    watermark: u64,
    out_handle: *mut *mut Wal,
    report_ptr: *mut u8,
    report_cap: usize,
) -> i64 {
    let (dir_a, out_a, report_a) = (dir_ptr as usize, out_handle as usize, report_ptr as usize);
    guard64(move || {
        if out_a == 0 {
            return ERR_INVALID as i64;
        }
        // SAFETY: checked non-null; the caller guarantees it is writable.
        unsafe { *(out_a as *mut *mut Wal) = std::ptr::null_mut() };
        if dir_a == 0 || dir_len == 0 {
            unsafe { write_message(report_a, report_cap, "WAL: invalid argument: empty directory path") };
            return ERR_INVALID as i64;
        }
        // SAFETY: the caller guarantees `dir_len` readable bytes.
        let dir = unsafe { std::slice::from_raw_parts(dir_a as *const u8, dir_len) };
        let dir = Path::new(OsStr::from_bytes(dir));
        match Wal::open_dir(dir, Options { segment_bytes, watermark }) {
            Ok((wal, recovery)) => {
                unsafe { write_message(report_a, report_cap, &recovery.to_json()) };
                let records = recovery.records as i64;
                // SAFETY: checked non-null above.
                unsafe { *(out_a as *mut *mut Wal) = Box::into_raw(Box::new(wal)) };
                records
            }
            Err(e) => {
                unsafe { write_message(report_a, report_cap, &e.to_string()) };
                e.code() as i64
            }
        }
    })
}

/// Closes the handle (does not sync: call `warden_wal_sync` first). Null is ignored.
///
/// # Safety
/// `h` is null or a live handle from `warden_wal_open`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn warden_wal_close(h: *mut Wal) -> i32 {
    let h = h as usize;
    crate::guard(move || {
        if h != 0 {
            // SAFETY: the handle came from Box::into_raw in warden_wal_open.
            drop(unsafe { Box::from_raw(h as *mut Wal) });
        }
        crate::OK
    })
}

/// Appends `count` records of type `record_type` (1..=255) with one write: record `i` is
/// `data_ptr[offsets_ptr[i]..offsets_ptr[i + 1]]` (`offsets_ptr` has `count + 1` ascending
/// entries). Returns the sequence number of the first record. Written, not yet durable.
///
/// # Safety
/// `h` is a live handle; `offsets_ptr` points to `count + 1` u32s; `data_ptr` points to at least
/// `offsets_ptr[count]` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn warden_wal_append(
    h: *mut Wal,
    record_type: u8,
    data_ptr: *const u8,
    offsets_ptr: *const u32,
    count: usize,
) -> i64 {
    let (h, data_a, offsets_a) = (h as usize, data_ptr as usize, offsets_ptr as usize);
    unsafe {
        with_wal(h, move |wal| {
            if count == 0 {
                return wal.append_packed(record_type, &[], &[]).map(|s| s as i64);
            }
            if offsets_a == 0 {
                return Err(WalError::Invalid("null offsets".into()));
            }
            // SAFETY: the caller guarantees count + 1 offsets.
            let offsets = std::slice::from_raw_parts(offsets_a as *const u32, count + 1);
            let end = offsets[count] as usize;
            if data_a == 0 && end > 0 {
                return Err(WalError::Invalid("null data".into()));
            }
            let data: &[u8] = if end == 0 { &[] } else { std::slice::from_raw_parts(data_a as *const u8, end) };
            wal.append_packed(record_type, data, offsets).map(|s| s as i64)
        })
    }
}

/// Makes every appended record durable (one fsync). 0 on success. An fsync error is fatal: this
/// call returns its code (`ERR_IO`, `ERR_NOSPACE`, ...) and every later call `ERR_FAILED`.
///
/// # Safety
/// `h` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn warden_wal_sync(h: *mut Wal) -> i32 {
    unsafe { with_wal(h as usize, |wal| wal.sync().map(|_| 0)) as i32 }
}

/// Number of records in the log (appended, durable or not).
///
/// # Safety
/// `h` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn warden_wal_len(h: *mut Wal) -> i64 {
    unsafe {
        with_wal(h as usize, |wal| {
            wal.usable()?;
            Ok(wal.len() as i64)
        })
    }
}

/// Number of records known durable (present at open or covered by a successful sync).
///
/// # Safety
/// `h` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn warden_wal_durable_len(h: *mut Wal) -> i64 {
    unsafe {
        with_wal(h as usize, |wal| {
            wal.usable()?;
            Ok(wal.durable_len() as i64)
        })
    }
}

/// Reads record `seq` into `out_ptr[..cap]` and its type into `*out_type`. Returns the payload
/// length, `ERR_BUFFER_TOO_SMALL` (a 65535-byte buffer always suffices), `ERR_NOT_FOUND`, or
/// `ERR_CORRUPT` when its bytes changed since open.
///
/// # Safety
/// `h` is a live handle; `out_ptr` points to `cap` writable bytes; `out_type` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn warden_wal_read(h: *mut Wal, seq: u64, out_ptr: *mut u8, cap: usize, out_type: *mut u8) -> i64 {
    let (out_a, type_a) = (out_ptr as usize, out_type as usize);
    unsafe {
        with_wal(h as usize, move |wal| {
            let out: &mut [u8] = if out_a == 0 || cap == 0 {
                &mut []
            } else {
                std::slice::from_raw_parts_mut(out_a as *mut u8, cap)
            };
            let (ty, len) = wal.read_into(seq, out)?;
            if type_a != 0 {
                *(type_a as *mut u8) = ty;
            }
            Ok(len as i64)
        })
    }
}

/// Reads up to `max_count` consecutive records from `from_seq` (stopping at the end of a segment
/// or when `out_ptr[..cap]` is full) back to back into `out_ptr`; record `from_seq + i` is
/// `out[offsets_out[i]..offsets_out[i + 1]]` with type `types_out[i]`. Returns how many were read
/// (0 at the end of the log) or `ERR_BUFFER_TOO_SMALL` when not even the first fits.
///
/// # Safety
/// `h` is a live handle; `out_ptr` points to `cap` writable bytes, `offsets_out` to
/// `max_count + 1` writable u32s, `types_out` to `max_count` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn warden_wal_read_batch(
    h: *mut Wal,
    from_seq: u64,
    max_count: usize,
    out_ptr: *mut u8,
    cap: usize,
    offsets_out: *mut u32,
    types_out: *mut u8,
) -> i64 {
    let (out_a, offsets_a, types_a) = (out_ptr as usize, offsets_out as usize, types_out as usize);
    unsafe {
        with_wal(h as usize, move |wal| {
            if offsets_a == 0 || types_a == 0 || (out_a == 0 && cap > 0) {
                return Err(WalError::Invalid("null buffer".into()));
            }
            let out: &mut [u8] = if cap == 0 { &mut [] } else { std::slice::from_raw_parts_mut(out_a as *mut u8, cap) };
            let offsets = std::slice::from_raw_parts_mut(offsets_a as *mut u32, max_count + 1);
            let types: &mut [u8] =
                if max_count == 0 { &mut [] } else { std::slice::from_raw_parts_mut(types_a as *mut u8, max_count) };
            wal.read_batch(from_seq, max_count, out, offsets, types).map(|n| n as i64)
        })
    }
}

/// Writes the message of the last error on this handle (NUL-terminated, cut to `cap`) into
/// `out_ptr`; returns its length in bytes (0: no error so far). Works in the failed state.
///
/// # Safety
/// `h` is a live handle; `out_ptr` is null or points to `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn warden_wal_last_error(h: *mut Wal, out_ptr: *mut u8, cap: usize) -> i64 {
    let out_a = out_ptr as usize;
    unsafe {
        with_wal(h as usize, move |wal| {
            let msg = match (&wal.last_error, wal.failure()) {
                (m, Some(cause)) if m.is_empty() => cause.to_string(),
                (m, _) => m.clone(),
            };
            Ok(write_message(out_a, cap, &msg) as i64)
        })
    }
}
