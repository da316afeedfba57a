//! Warden's native core, loaded by the gateway through `bun:ffi`.
//!
//! Every exported function is `extern "C"`, takes caller-allocated buffers and returns a status
//! code. A panic must never unwind across the boundary (that aborts the whole gateway), so each
//! export runs its body inside [`guard`].

use std::panic::{catch_unwind, UnwindSafe};

pub mod entropy;
pub mod mmr;
pub mod wal;

/// Status codes shared with `src/native/index.ts`.
pub const OK: i32 = 0;
pub const ERR_BUFFER_TOO_SMALL: i32 = -1;
pub const ERR_PANIC: i32 = -99;

/// Version of this library, compiled in from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs `body`, turning a panic into `ERR_PANIC` instead of unwinding into the caller.
pub(crate) fn guard<F: FnOnce() -> i32 + UnwindSafe>(body: F) -> i32 {
    catch_unwind(body).unwrap_or(ERR_PANIC)
}

/// Writes the library version (UTF-8, no terminator) into `out`.
/// Returns the number of bytes written, or `ERR_BUFFER_TOO_SMALL` when `cap` cannot hold it.
///
/// # Safety
/// `out` must point to `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn warden_core_version(out: *mut u8, cap: usize) -> i32 {
    let out = out as usize; // raw pointers are not UnwindSafe; carry the address instead
    guard(move || {
        let bytes = VERSION.as_bytes();
        if out == 0 || cap < bytes.len() {
            return ERR_BUFFER_TOO_SMALL;
        }
        // SAFETY: the caller guarantees `cap` writable bytes at `out`, and we checked the length.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out as *mut u8, bytes.len()) };
        bytes.len() as i32
    })
}

/// Deliberately panics; lets the TypeScript side test that panics come back as `ERR_PANIC`.
#[no_mangle]
pub extern "C" fn warden_core_selftest_panic() -> i32 {
    guard(|| panic!("self-test panic"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_fits_and_matches_cargo() {
        let mut buf = [0u8; 64];
        let n = unsafe { warden_core_version(buf.as_mut_ptr(), buf.len()) };
        assert_eq!(&buf[..n as usize], VERSION.as_bytes());
    }

    #[test]
    fn version_refuses_small_buffer() {
        let mut buf = [0u8; 2];
        assert_eq!(unsafe { warden_core_version(buf.as_mut_ptr(), buf.len()) }, ERR_BUFFER_TOO_SMALL);
    }

    #[test]
    fn panics_become_error_codes() {
        assert_eq!(warden_core_selftest_panic(), ERR_PANIC);
    }
}
