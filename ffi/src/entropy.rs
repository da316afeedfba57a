//! Shannon entropy (bits per symbol) of byte and token distributions, many spans per call.
//!
//! Used by the WAF's secret scoring (random-looking strings score near 6 bits/byte for base64,
//! 4 for hex) and by the audit worker's response analysis (degenerate repetition scores near 0,
//! encoded or random exfiltration scores high over long spans).

use crate::{guard, ERR_BUFFER_TOO_SMALL};

pub const ERR_ARG: i32 = -3;

/// Entropy in bits per byte of `data`; 0 for an empty slice.
pub fn byte_entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    from_counts(counts.iter().copied().filter(|&c| c > 0), data.len())
}

/// Entropy in bits per token of a sequence of token ids; 0 for an empty slice.
pub fn token_entropy(tokens: &[u32]) -> f64 {
    if tokens.is_empty() {
        return 0.0;
    }
    // Sorting a copy beats a hash map for the few thousand tokens of one reply.
    let mut sorted = tokens.to_vec();
    sorted.sort_unstable();
    let mut runs = Vec::new();
    let mut run = 1u32;
    for w in sorted.windows(2) {
        if w[0] == w[1] {
            run += 1;
        } else {
            runs.push(run);
            run = 1;
        }
    }
    runs.push(run);
    from_counts(runs.into_iter(), tokens.len())
}

fn from_counts(counts: impl Iterator<Item = u32>, total: usize) -> f64 {
    let n = total as f64;
    let h: f64 = counts.map(|c| {
        let p = c as f64 / n;
        -p * p.log2()
    }).sum();
    h.max(0.0) // -0.0 for a single symbol
}

/// Spans `offsets[i]..offsets[i+1]` of a buffer, checked against its length.
unsafe fn spans<'a>(offsets: *const u32, count: usize, len: usize) -> Option<&'a [u32]> {
    if offsets.is_null() {
        return None;
    }
    let o = std::slice::from_raw_parts(offsets, count + 1);
    if o.windows(2).any(|w| w[0] > w[1]) || o[count] as usize > len {
        return None;
    }
    Some(o)
}

/// Runs `f` over `count` spans of a caller's buffer of `len` elements (span i =
/// items[offsets[i]..offsets[i+1]]) and writes the results to `out[0..count]`.
unsafe fn each_span<T>(items: usize, len: usize, offsets: usize, count: usize, out: usize, out_cap: usize, f: fn(&[T]) -> f64) -> i32 {
    guard(move || {
        if out_cap < count {
            return ERR_BUFFER_TOO_SMALL;
        }
        if (items == 0 && len > 0) || out == 0 || count > i32::MAX as usize {
            return ERR_ARG;
        }
        // SAFETY: the exported functions' callers guarantee the buffer sizes they document.
        let items: &[T] = if len == 0 { &[] } else { unsafe { std::slice::from_raw_parts(items as *const T, len) } };
        let Some(o) = (unsafe { spans(offsets as *const u32, count, len) }) else { return ERR_ARG };
        let out = unsafe { std::slice::from_raw_parts_mut(out as *mut f64, count) };
        for i in 0..count {
            out[i] = f(&items[o[i] as usize..o[i + 1] as usize]);
        }
        count as i32
    })
}

/// Byte entropy of `count` spans of `data` (span i = data[offsets[i]..offsets[i+1]], `offsets`
/// has count+1 entries) written to `out[0..count]`. Returns count, or a negative error.
///
/// # Safety
/// `data` must hold `len` bytes, `offsets` count+1 u32s, `out` `out_cap` f64s.
#[no_mangle]
pub unsafe extern "C" fn warden_entropy_bytes(data: *const u8, len: usize, offsets: *const u32, count: usize, out: *mut f64, out_cap: usize) -> i32 {
    each_span(data as usize, len, offsets as usize, count, out as usize, out_cap, byte_entropy)
}

/// Token entropy of `count` spans of `tokens` (u32 ids), like [`warden_entropy_bytes`].
///
/// # Safety
/// `tokens` must hold `len` u32s, `offsets` count+1 u32s, `out` `out_cap` f64s.
#[no_mangle]
pub unsafe extern "C" fn warden_entropy_tokens(tokens: *const u32, len: usize, offsets: *const u32, count: usize, out: *mut f64, out_cap: usize) -> i32 {
    each_span(tokens as usize, len, offsets as usize, count, out as usize, out_cap, token_entropy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn known_values() {
        assert!(close(byte_entropy(b""), 0.0));
        assert!(close(byte_entropy(b"aaaaaaaa"), 0.0));
        assert!(close(byte_entropy(b"abababab"), 1.0));
        assert!(close(byte_entropy(b"abcd"), 2.0));
        let all: Vec<u8> = (0..=255u8).collect();
        assert!(close(byte_entropy(&all), 8.0));
        // p = (1/2, 1/4, 1/4) → 1.5 bits
        assert!(close(byte_entropy(b"aabc"), 1.5));
        assert!(close(token_entropy(&[7, 7, 7]), 0.0));
        assert!(close(token_entropy(&[1, 2, 3, 4, 1, 2, 3, 4]), 2.0));
        assert!(close(token_entropy(&[9, 9, 5, 6]), 1.5));
    }

    #[test]
    fn batched_spans_through_the_c_interface() {
        let data = b"aaaaabababab";
        let offsets = [0u32, 4, 4, 12];
        let mut out = [f64::NAN; 3];
        let n = unsafe { warden_entropy_bytes(data.as_ptr(), data.len(), offsets.as_ptr(), 3, out.as_mut_ptr(), 3) };
        assert_eq!(n, 3);
        assert!(close(out[0], 0.0) && close(out[1], 0.0) && close(out[2], 1.0));

        let toks = [1u32, 2, 1, 2, 3, 3, 3, 3];
        let offsets = [0u32, 4, 8];
        let mut out = [0f64; 2];
        assert_eq!(unsafe { warden_entropy_tokens(toks.as_ptr(), toks.len(), offsets.as_ptr(), 2, out.as_mut_ptr(), 2) }, 2);
        assert!(close(out[0], 1.0) && close(out[1], 0.0));
    }

    #[test]
    fn bad_spans_are_refused_not_read_out_of_bounds() {
        let data = b"abc";
        let mut out = [0f64; 1];
        let past_end = [0u32, 4];
        assert_eq!(unsafe { warden_entropy_bytes(data.as_ptr(), 3, past_end.as_ptr(), 1, out.as_mut_ptr(), 1) }, ERR_ARG);
        let backwards = [2u32, 1];
        assert_eq!(unsafe { warden_entropy_bytes(data.as_ptr(), 3, backwards.as_ptr(), 1, out.as_mut_ptr(), 1) }, ERR_ARG);
        assert_eq!(unsafe { warden_entropy_bytes(data.as_ptr(), 3, past_end.as_ptr(), 1, out.as_mut_ptr(), 0) }, ERR_BUFFER_TOO_SMALL);
    }
}
