//! The node file: reopen after batched appends, truncation, torn tails, locking.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use warden_core::mmr::{
    hash_leaf, node_count, verify_consistency, verify_inclusion, Error, Hash, Mmr,
};

fn leaves(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| hash_leaf(&(i as u64).to_le_bytes()))
        .collect()
}

fn file_len(p: &Path) -> u64 {
    fs::metadata(p).unwrap().len()
}

/// Size, every root, and a grid of inclusion and consistency proofs.
type Snapshot = (u64, Vec<Hash>, Vec<Vec<Hash>>, Vec<Vec<Hash>>);

/// Everything observable about a tree, for comparing a reopened tree with the original.
fn snapshot(mmr: &Mmr) -> Snapshot {
    let n = mmr.size();
    let roots = (0..=n).map(|s| mmr.root_at(s).unwrap()).collect();
    let step = (n / 17).max(1);
    let mut incl = Vec::new();
    let mut cons = Vec::new();
    for size in (1..=n).step_by(step as usize) {
        for index in (0..size).step_by(step as usize) {
            incl.push(mmr.inclusion_proof(index, size).unwrap());
        }
        cons.push(mmr.consistency_proof(size, n).unwrap());
    }
    (n, roots, incl, cons)
}

#[test]
fn reopen_after_batches_gives_the_same_tree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.mmr");
    let d = leaves(1500);
    let mut mem = Mmr::in_memory();
    let before;
    {
        let mut mmr = Mmr::open(&path).unwrap();
        assert_eq!(mmr.size(), 0);
        let mut at = 0;
        for batch in [1usize, 2, 5, 0, 100, 1, 391, 1000] {
            let n = mmr.append_leaf_hashes(&d[at..at + batch]).unwrap();
            at += batch;
            assert_eq!(n, at as u64);
            assert_eq!(
                file_len(&path),
                node_count(n) * 32,
                "one node file entry per node"
            );
        }
        mmr.sync().unwrap();
        mem.append_leaf_hashes(&d).unwrap();
        assert_eq!(mmr.root(), mem.root());
        before = snapshot(&mmr);
    }
    let mmr = Mmr::open(&path).unwrap();
    assert_eq!(snapshot(&mmr), before);
    assert_eq!(
        snapshot(&mem),
        before,
        "file-backed and in-memory trees agree"
    );
    assert_eq!(mmr.first_inconsistent_leaf(0), None);
    for i in [0u64, 1, 777, 1499] {
        assert_eq!(mmr.leaf_hash(i).unwrap(), d[i as usize]);
    }
    let p = mmr.inclusion_proof(777, 1500).unwrap();
    assert!(verify_inclusion(&d[777], 777, 1500, &p, &mmr.root()));
    let c = mmr.consistency_proof(1000, 1500).unwrap();
    assert!(verify_consistency(
        1000,
        1500,
        &mmr.root_at(1000).unwrap(),
        &mmr.root(),
        &c
    ));
}

#[test]
fn truncate_shrinks_memory_and_file_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.mmr");
    let d = leaves(300);
    let mut reference = Mmr::in_memory();
    reference.append_leaf_hashes(&d).unwrap();

    let mut mmr = Mmr::open(&path).unwrap();
    mmr.append_leaf_hashes(&d).unwrap();
    for n in [299u64, 256, 255, 100, 3] {
        mmr.truncate(n).unwrap();
        assert_eq!(mmr.size(), n);
        assert_eq!(file_len(&path), node_count(n) * 32);
        assert_eq!(mmr.root(), reference.root_at(n).unwrap());
        assert!(matches!(mmr.leaf_hash(n), Err(Error::Range)));
    }
    assert!(matches!(mmr.truncate(4), Err(Error::Range)));
    mmr.sync().unwrap();
    drop(mmr);

    let mut mmr = Mmr::open(&path).unwrap();
    assert_eq!(mmr.size(), 3);
    assert_eq!(mmr.root(), reference.root_at(3).unwrap());
    // Appending after a truncation continues exactly where the shorter tree ended.
    mmr.append_leaf_hashes(&d[3..]).unwrap();
    assert_eq!(mmr.root(), reference.root());
    drop(mmr);
    assert_eq!(Mmr::open(&path).unwrap().root(), reference.root());

    let mut mmr = Mmr::open(&path).unwrap();
    mmr.truncate(0).unwrap();
    assert_eq!(file_len(&path), 0);
    assert_eq!(mmr.root(), warden_core::mmr::EMPTY_ROOT);
}

#[test]
fn torn_tail_is_cut_back_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.mmr");
    let d = leaves(12);
    let mut reference = Mmr::in_memory();
    reference.append_leaf_hashes(&d).unwrap();
    {
        let mut mmr = Mmr::open(&path).unwrap();
        mmr.append_leaf_hashes(&d[..11]).unwrap();
    }
    let good = node_count(11) * 32;
    assert_eq!(file_len(&path), good);

    // Leaf 11 writes three nodes (the leaf and two parents). Any prefix of those 96 bytes, in
    // whole hashes or not, is a torn append of leaf 11 and must fall back to 11 leaves.
    let full_group: Vec<u8> = {
        let full = dir.path().join("full.mmr");
        let mut f = Mmr::open(&full).unwrap();
        f.append_leaf_hashes(&d).unwrap();
        drop(f);
        fs::read(&full).unwrap()[good as usize..].to_vec()
    };
    assert_eq!(full_group.len(), 96);
    for torn in [1usize, 17, 31, 32, 33, 64, 95] {
        {
            let mut f = OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(&full_group[..torn]).unwrap();
        }
        let mmr = Mmr::open(&path).unwrap();
        assert_eq!(mmr.size(), 11, "torn {torn} bytes");
        assert_eq!(mmr.root(), reference.root_at(11).unwrap());
        assert_eq!(file_len(&path), good, "repair cut the file back");
    }
    // The whole group is a complete append, not a torn one.
    {
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&full_group).unwrap();
    }
    let mut mmr = Mmr::open(&path).unwrap();
    assert_eq!(mmr.size(), 12);
    assert_eq!(mmr.root(), reference.root());
    // And appends after a repair land right behind the last good node.
    mmr.truncate(11).unwrap();
    drop(mmr);
    {
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0xAA; 40]).unwrap();
    }
    let mut mmr = Mmr::open(&path).unwrap();
    assert_eq!(mmr.append_leaf_hashes(&d[11..]).unwrap(), 12);
    drop(mmr);
    assert_eq!(Mmr::open(&path).unwrap().root(), reference.root());
}

#[test]
fn damaged_interior_node_on_disk_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.mmr");
    {
        let mut mmr = Mmr::open(&path).unwrap();
        mmr.append_leaf_hashes(&leaves(64)).unwrap();
    }
    let mut bytes = fs::read(&path).unwrap();
    // Flip a byte in the node completed by leaf 47 (the height-4 node over leaves 32..48).
    let pos = warden_core::mmr::node_pos(4, 2) as usize;
    bytes[pos * 32 + 5] ^= 0x40;
    fs::write(&path, &bytes).unwrap();
    let mmr = Mmr::open(&path).unwrap();
    assert_eq!(mmr.size(), 64);
    assert_eq!(mmr.first_inconsistent_leaf(0), Some(47));
}

#[test]
fn second_open_of_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.mmr");
    let first = Mmr::open(&path).unwrap();
    assert!(matches!(Mmr::open(&path), Err(Error::Locked)));
    drop(first);
    Mmr::open(&path).unwrap();
}

#[test]
fn open_fails_cleanly_on_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = Mmr::open(dir.path().join("no/such/dir/ledger.mmr")).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err}");
    assert_eq!(err.code(), warden_core::mmr::ERR_IO);
}

#[test]
fn a_failed_write_poisons_the_handle() {
    // /dev/full accepts opens and seeks but fails every write with ENOSPC.
    let full = Path::new("/dev/full");
    if !full.exists() {
        return;
    }
    let mut mmr = match Mmr::open(full) {
        Ok(m) => m,
        Err(Error::Locked) => return, // another test run holds it right now
        Err(e) => panic!("{e}"),
    };
    let err = mmr.append_leaf_hashes(&leaves(3)).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err}");
    // Memory is rolled back to what the file is known to hold, and the handle refuses to go on
    // (a retried write or fsync could report success for data that never reached the disk).
    assert_eq!(mmr.size(), 0);
    assert_eq!(mmr.root(), warden_core::mmr::EMPTY_ROOT);
    assert!(matches!(
        mmr.append_leaf_hashes(&leaves(1)),
        Err(Error::Poisoned)
    ));
    assert!(matches!(mmr.sync(), Err(Error::Poisoned)));
    assert!(matches!(mmr.truncate(0), Err(Error::Poisoned)));
    assert_eq!(
        mmr.inclusion_proof(0, 1).unwrap_err().code(),
        warden_core::mmr::ERR_RANGE
    );
}

#[test]
fn node_file_bytes_do_not_depend_on_batching() {
    let dir = tempfile::tempdir().unwrap();
    let d = leaves(9001);
    let (a, b) = (dir.path().join("a.mmr"), dir.path().join("b.mmr"));
    {
        let mut m = Mmr::open(&a).unwrap();
        m.append_leaf_hashes(&d).unwrap(); // several 4096-leaf write slices
    }
    {
        let mut m = Mmr::open(&b).unwrap();
        for chunk in d.chunks(37) {
            m.append_leaf_hashes(chunk).unwrap();
        }
    }
    assert_eq!(file_len(&a), node_count(9001) * 32);
    assert!(fs::read(&a).unwrap() == fs::read(&b).unwrap());
    let m = Mmr::open(&a).unwrap();
    assert_eq!(m.size(), 9001);
    assert_eq!(m.first_inconsistent_leaf(0), None);
}

#[test]
fn a_file_backed_tree_reads_its_nodes_back_and_agrees_with_one_in_memory() {
    // With a file, nodes leave memory after every append: later appends read the peaks they
    // complete, and roots and proofs read what they need, from the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nodes.mmr");
    let mut disk = Mmr::open(&path).unwrap();
    let mut mem = Mmr::in_memory();
    let d = leaves(3000);
    let mut at = 0;
    for batch in [1usize, 2, 3, 5, 8, 13, 100, 511, 1, 1024, 1332] {
        disk.append_leaf_hashes(&d[at..at + batch]).unwrap();
        mem.append_leaf_hashes(&d[at..at + batch]).unwrap();
        at += batch;
        assert_eq!(snapshot(&disk), snapshot(&mem), "after {at} leaves");
        assert_eq!(disk.first_inconsistent_leaf(0), None);
    }
    assert_eq!(at, 3000);
    for from in [0u64, 1, 7, 64, 1023, 2999, 3000] {
        assert_eq!(disk.first_inconsistent_leaf(from), None, "check from {from}");
    }
    assert_eq!(file_len(&path), node_count(3000) * 32);
}
