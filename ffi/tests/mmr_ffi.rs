//! The C ABI exercised from Rust exactly as bun:ffi calls it: raw pointers, caller buffers,
//! status codes.

use std::ptr;

use warden_core::mmr::*;
use warden_core::{ERR_BUFFER_TOO_SMALL, OK};

fn open(path: &std::path::Path) -> *mut MmrHandle {
    let p = path.to_str().unwrap().as_bytes();
    let mut h: *mut MmrHandle = ptr::null_mut();
    let rc = unsafe { warden_mmr_open(p.as_ptr(), p.len(), &mut h) };
    assert_eq!(rc, OK);
    assert!(!h.is_null());
    h
}

fn root(h: *mut MmrHandle, size: u64) -> Result<Hash, i32> {
    let mut out = [0u8; 32];
    match unsafe { warden_mmr_root(h, size, out.as_mut_ptr()) } {
        OK => Ok(out),
        rc => Err(rc),
    }
}

fn proof_from(buf: &[u8], n: i32) -> Vec<Hash> {
    buf[..n as usize * 32]
        .chunks_exact(32)
        .map(|c| c.try_into().unwrap())
        .collect()
}

#[test]
fn append_prove_and_reopen_through_the_c_abi() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.mmr");
    let records: Vec<Vec<u8>> = (0..1000u32)
        .map(|i| format!("{{\"seq\":{i}}}").into_bytes())
        .collect();
    let hashes: Vec<Hash> = records.iter().map(|r| hash_leaf(r)).collect();
    let mut reference = Mmr::in_memory();
    reference.append_leaf_hashes(&hashes).unwrap();

    let h = open(&path);
    assert_eq!(unsafe { warden_mmr_size(h) }, 0);
    assert_eq!(root(h, 0), Ok(EMPTY_ROOT));

    // 600 pre-hashed leaves in one call.
    let flat: Vec<u8> = hashes[..600].concat();
    assert_eq!(unsafe { warden_mmr_append(h, flat.as_ptr(), 600) }, 600);
    // 400 raw records in one call, sliced by offsets.
    let mut data = Vec::new();
    let mut offsets = vec![0u32];
    for r in &records[600..] {
        data.extend_from_slice(r);
        offsets.push(data.len() as u32);
    }
    assert_eq!(
        unsafe { warden_mmr_append_leaves(h, data.as_ptr(), offsets.as_ptr(), 400) },
        1000
    );
    // Empty batches are no-ops that report the size; null pointers are fine with count 0.
    assert_eq!(unsafe { warden_mmr_append(h, ptr::null(), 0) }, 1000);
    assert_eq!(
        unsafe { warden_mmr_append_leaves(h, ptr::null(), ptr::null(), 0) },
        1000
    );
    assert_eq!(unsafe { warden_mmr_size(h) }, 1000);
    assert_eq!(unsafe { warden_mmr_sync(h) }, OK);
    assert_eq!(root(h, 1000), Ok(reference.root()));
    assert_eq!(root(h, 437), Ok(reference.root_at(437).unwrap()));

    let mut leaf = [0u8; 32];
    assert_eq!(
        unsafe { warden_mmr_leaf_hash(h, 999, leaf.as_mut_ptr()) },
        OK
    );
    assert_eq!(leaf, hashes[999]);
    assert_eq!(
        unsafe { warden_mmr_leaf_hash(h, 1000, leaf.as_mut_ptr()) },
        ERR_RANGE
    );

    let mut buf = vec![0u8; MAX_PROOF_HASHES * 32];
    let n = unsafe { warden_mmr_inclusion(h, 612, 1000, buf.as_mut_ptr(), MAX_PROOF_HASHES) };
    assert!(n > 0);
    let p = proof_from(&buf, n);
    assert_eq!(p, reference.inclusion_proof(612, 1000).unwrap());
    assert!(verify_inclusion(
        &hashes[612],
        612,
        1000,
        &p,
        &reference.root()
    ));

    let n = unsafe { warden_mmr_consistency(h, 437, 1000, buf.as_mut_ptr(), MAX_PROOF_HASHES) };
    assert!(n > 0);
    let p = proof_from(&buf, n);
    assert!(verify_consistency(
        437,
        1000,
        &reference.root_at(437).unwrap(),
        &reference.root(),
        &p
    ));
    assert_eq!(
        unsafe { warden_mmr_consistency(h, 1000, 1000, ptr::null_mut(), 0) },
        0
    );
    assert_eq!(
        unsafe { warden_mmr_inclusion(h, 0, 1, ptr::null_mut(), 0) },
        0
    );
    assert_eq!(unsafe { warden_mmr_check(h, 0) }, 1000);

    assert_eq!(unsafe { warden_mmr_close(h) }, OK);

    let h = open(&path);
    assert_eq!(unsafe { warden_mmr_size(h) }, 1000);
    assert_eq!(root(h, 1000), Ok(reference.root()));
    assert_eq!(unsafe { warden_mmr_truncate(h, 500) }, OK);
    assert_eq!(unsafe { warden_mmr_size(h) }, 500);
    assert_eq!(root(h, 500), Ok(reference.root_at(500).unwrap()));
    assert_eq!(root(h, 501), Err(ERR_RANGE));
    assert_eq!(unsafe { warden_mmr_truncate(h, 501) }, ERR_RANGE);
    assert_eq!(unsafe { warden_mmr_sync(h) }, OK);
    assert_eq!(unsafe { warden_mmr_close(h) }, OK);

    let h = open(&path);
    assert_eq!(unsafe { warden_mmr_size(h) }, 500);
    assert_eq!(unsafe { warden_mmr_close(h) }, OK);
}

#[test]
fn small_buffers_and_bad_ranges_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let h = open(&dir.path().join("ledger.mmr"));
    let flat: Vec<u8> = (0..100u32)
        .flat_map(|i| hash_leaf(&i.to_be_bytes()))
        .collect();
    assert_eq!(unsafe { warden_mmr_append(h, flat.as_ptr(), 100) }, 100);

    // PATH(5, D[100]) has 7 hashes: 6 do not fit, and nothing is written.
    let mut buf = vec![0xEEu8; 7 * 32];
    assert_eq!(
        unsafe { warden_mmr_inclusion(h, 5, 100, buf.as_mut_ptr(), 6) },
        ERR_BUFFER_TOO_SMALL
    );
    assert!(buf.iter().all(|&b| b == 0xEE));
    assert_eq!(
        unsafe { warden_mmr_inclusion(h, 5, 100, buf.as_mut_ptr(), 7) },
        7
    );
    assert_eq!(
        unsafe { warden_mmr_consistency(h, 3, 100, buf.as_mut_ptr(), 1) },
        ERR_BUFFER_TOO_SMALL
    );

    // Out of range: index ≥ size, size beyond the tree, size1 = 0, size1 > size2.
    assert_eq!(
        unsafe { warden_mmr_inclusion(h, 100, 100, buf.as_mut_ptr(), 7) },
        ERR_RANGE
    );
    assert_eq!(
        unsafe { warden_mmr_inclusion(h, 5, 101, buf.as_mut_ptr(), 7) },
        ERR_RANGE
    );
    assert_eq!(
        unsafe { warden_mmr_inclusion(h, 0, 0, buf.as_mut_ptr(), 7) },
        ERR_RANGE
    );
    assert_eq!(
        unsafe { warden_mmr_consistency(h, 0, 10, buf.as_mut_ptr(), 7) },
        ERR_RANGE
    );
    assert_eq!(
        unsafe { warden_mmr_consistency(h, 11, 10, buf.as_mut_ptr(), 7) },
        ERR_RANGE
    );
    assert_eq!(
        unsafe { warden_mmr_consistency(h, 10, 101, buf.as_mut_ptr(), 7) },
        ERR_RANGE
    );
    assert_eq!(
        unsafe { warden_mmr_root(h, u64::MAX, buf.as_mut_ptr()) },
        ERR_RANGE
    );

    // Null output buffers where something must be written.
    assert_eq!(unsafe { warden_mmr_root(h, 1, ptr::null_mut()) }, ERR_ARG);
    assert_eq!(
        unsafe { warden_mmr_inclusion(h, 5, 100, ptr::null_mut(), 7) },
        ERR_ARG
    );
    assert_eq!(
        unsafe { warden_mmr_leaf_hash(h, 0, ptr::null_mut()) },
        ERR_ARG
    );

    // Offsets that go backwards append nothing.
    let data = b"abcdef";
    let offsets = [0u32, 4, 2];
    assert_eq!(
        unsafe { warden_mmr_append_leaves(h, data.as_ptr(), offsets.as_ptr(), 2) },
        i64::from(ERR_ARG)
    );
    assert_eq!(
        unsafe { warden_mmr_append(h, ptr::null(), 3) },
        i64::from(ERR_ARG)
    );
    assert_eq!(unsafe { warden_mmr_size(h) }, 100);
    // Leaves may be empty and need not start at offset 0.
    let offsets = [1u32, 1, 6];
    assert_eq!(
        unsafe { warden_mmr_append_leaves(h, data.as_ptr(), offsets.as_ptr(), 2) },
        102
    );
    let mut leaf = [0u8; 32];
    assert_eq!(
        unsafe { warden_mmr_leaf_hash(h, 100, leaf.as_mut_ptr()) },
        OK
    );
    assert_eq!(leaf, hash_leaf(b""));
    assert_eq!(
        unsafe { warden_mmr_leaf_hash(h, 101, leaf.as_mut_ptr()) },
        OK
    );
    assert_eq!(leaf, hash_leaf(b"bcdef"));

    assert_eq!(unsafe { warden_mmr_close(h) }, OK);
}

#[test]
fn null_handles_and_bad_open_arguments() {
    let null: *mut MmrHandle = ptr::null_mut();
    let mut out = [0u8; 32];
    assert_eq!(unsafe { warden_mmr_size(null) }, i64::from(ERR_ARG));
    assert_eq!(
        unsafe { warden_mmr_append(null, out.as_ptr(), 1) },
        i64::from(ERR_ARG)
    );
    assert_eq!(unsafe { warden_mmr_sync(null) }, ERR_ARG);
    assert_eq!(unsafe { warden_mmr_truncate(null, 0) }, ERR_ARG);
    assert_eq!(
        unsafe { warden_mmr_root(null, 0, out.as_mut_ptr()) },
        ERR_ARG
    );
    assert_eq!(
        unsafe { warden_mmr_leaf_hash(null, 0, out.as_mut_ptr()) },
        ERR_ARG
    );
    assert_eq!(
        unsafe { warden_mmr_inclusion(null, 0, 1, out.as_mut_ptr(), 1) },
        ERR_ARG
    );
    assert_eq!(
        unsafe { warden_mmr_consistency(null, 1, 1, out.as_mut_ptr(), 1) },
        ERR_ARG
    );
    assert_eq!(unsafe { warden_mmr_check(null, 0) }, i64::from(ERR_ARG));
    assert_eq!(unsafe { warden_mmr_close(null) }, OK);

    let mut h: *mut MmrHandle = ptr::dangling_mut(); // must be reset to null on failure
    assert_eq!(unsafe { warden_mmr_open(ptr::null(), 5, &mut h) }, ERR_ARG);
    assert!(h.is_null());
    let p = b"x";
    assert_eq!(unsafe { warden_mmr_open(p.as_ptr(), 0, &mut h) }, ERR_ARG);
    assert_eq!(
        unsafe { warden_mmr_open(p.as_ptr(), 1, ptr::null_mut()) },
        ERR_ARG
    );
    let nul = b"a\0b";
    assert_eq!(
        unsafe { warden_mmr_open(nul.as_ptr(), nul.len(), &mut h) },
        ERR_ARG
    );

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing/ledger.mmr");
    let m = missing.to_str().unwrap().as_bytes();
    assert_eq!(
        unsafe { warden_mmr_open(m.as_ptr(), m.len(), &mut h) },
        ERR_IO
    );
    assert!(h.is_null());

    let path = dir.path().join("ledger.mmr");
    let first = open(&path);
    let p = path.to_str().unwrap().as_bytes();
    assert_eq!(
        unsafe { warden_mmr_open(p.as_ptr(), p.len(), &mut h) },
        ERR_LOCKED
    );
    assert!(h.is_null());
    assert_eq!(unsafe { warden_mmr_close(first) }, OK);
}

#[test]
fn one_handle_serves_several_threads() {
    let dir = tempfile::tempdir().unwrap();
    let h = open(&dir.path().join("ledger.mmr")) as usize;
    let writer = std::thread::spawn(move || {
        for i in 0..200u32 {
            let leaf = hash_leaf(&i.to_le_bytes());
            assert_eq!(
                unsafe { warden_mmr_append(h as *mut MmrHandle, leaf.as_ptr(), 1) },
                i64::from(i) + 1
            );
        }
    });
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; MAX_PROOF_HASHES * 32];
        for _ in 0..200 {
            let size = unsafe { warden_mmr_size(h as *mut MmrHandle) };
            assert!((0..=200).contains(&size));
            if size > 0 {
                let rc = unsafe {
                    warden_mmr_inclusion(
                        h as *mut MmrHandle,
                        0,
                        size as u64,
                        buf.as_mut_ptr(),
                        MAX_PROOF_HASHES,
                    )
                };
                assert!(rc >= 0);
            }
        }
    });
    writer.join().unwrap();
    reader.join().unwrap();
    assert_eq!(unsafe { warden_mmr_size(h as *mut MmrHandle) }, 200);
    assert_eq!(unsafe { warden_mmr_close(h as *mut MmrHandle) }, OK);
}
