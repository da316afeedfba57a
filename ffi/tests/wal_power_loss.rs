//! Power-loss simulation of the WAL on the fault-injecting page-cache model (`wal::sim`).
//!
//! Each case: a writer appends random batches to a log with a small rotation size and syncs most
//! of them, remembering which records were acknowledged (a sync covering them returned Ok). After
//! a random number of file-system operations the power is cut — possibly in the middle of a
//! segment rotation — and the disk image keeps, drops or tears every write that was not synced
//! and keeps or loses every directory operation that was not dir-synced. Recovery runs on that
//! image with watermark = number of acknowledged records (sometimes losing power again in the
//! middle of recovery), and must:
//!   * succeed without any manual step,
//!   * return every acknowledged record intact,
//!   * return no garbage: every record present equals what the writer appended at that seq,
//!   * leave a log that accepts and durably keeps new records.
//!
//! Everything is seeded; a failing seed reproduces exactly.

use warden_core::wal::sim::{Op, SimFs, XorShift64, EIO, ENOSPC};
use warden_core::wal::{Options, Wal, WalError, MAX_PAYLOAD};

#[derive(Default, Debug)]
struct Stats {
    images: u64,
    recovery_crashes: u64,
    truncated: u64,
    removed_segments: u64,
    unacked_survivors: u64,
    acked_records: u64,
    faults_hit: u64,
}

type Record = (u8, Vec<u8>);

fn random_record(rng: &mut XorShift64) -> Record {
    let len = match rng.below(1000) {
        0..=2 => MAX_PAYLOAD,
        3..=40 => rng.below(3000) as usize,
        _ => rng.below(120) as usize,
    };
    let mut p = vec![0u8; len];
    rng.fill(&mut p);
    (rng.range(1, 256) as u8, p)
}

/// Appends batches until the power goes (or the workload ends). Returns how many records are
/// acknowledged in total (including `acked` from before).
fn write_until_power_cut(
    wal: &mut Wal<SimFs>,
    fs: &SimFs,
    rng: &mut XorShift64,
    written: &mut Vec<Record>,
    mut acked: usize,
    batches: u64,
    stats: &mut Stats,
) -> usize {
    for _ in 0..batches {
        let n = rng.range(1, 13) as usize;
        let batch: Vec<Record> = (0..n).map(|_| random_record(rng)).collect();
        // one type per batch: split by type as the caller would
        let ty = batch[0].0;
        let refs: Vec<&[u8]> = batch.iter().map(|r| r.1.as_slice()).collect();
        match wal.append_batch(ty, &refs) {
            Ok(first) => {
                assert_eq!(first, written.len() as u64);
                written.extend(batch.into_iter().map(|(_, p)| (ty, p)));
            }
            Err(e) => {
                if wal.failure().is_some() {
                    // The rollback of the partial write failed too (an injected fault or the power
                    // cut): frames of this batch may or may not survive (whole, never garbage);
                    // they were never acknowledged.
                    written.extend(batch.into_iter().map(|(_, p)| (ty, p)));
                    return acked;
                }
                if fs.powered_off() {
                    return acked;
                }
                stats.faults_hit += 1;
                assert_ne!(e.code(), warden_core::wal::ERR_CORRUPT, "{e}");
                continue;
            }
        }
        if rng.chance(3, 4) {
            match wal.sync() {
                Ok(()) => acked = written.len(),
                Err(_) if fs.powered_off() => return acked,
                Err(e) => {
                    stats.faults_hit += 1;
                    assert!(wal.failure().is_some(), "a failed sync must be fatal: {e}");
                    assert_eq!(wal.sync().unwrap_err().code(), warden_core::wal::ERR_FAILED);
                    assert_eq!(wal.append(1, b"x").unwrap_err().code(), warden_core::wal::ERR_FAILED);
                    return acked;
                }
            }
        }
    }
    acked
}

/// Opens `img` with the watermark, cutting the power during recovery now and then; returns the
/// recovered log and its file system.
fn recover(
    mut img: SimFs,
    segment_bytes: u64,
    acked: usize,
    rng: &mut XorShift64,
    stats: &mut Stats,
    case: u64,
) -> (Wal<SimFs>, SimFs) {
    for attempt in 0.. {
        let cut_recovery = attempt < 3 && rng.chance(1, 3);
        if cut_recovery {
            img.cut_power_after(rng.below(6));
        }
        match Wal::open(img.clone(), Options { segment_bytes, watermark: acked as u64 }) {
            Ok((wal, rec)) => {
                if rec.damage.is_some() || !rec.removed_segments.is_empty() {
                    stats.truncated += 1;
                }
                stats.removed_segments += rec.removed_segments.len() as u64;
                if img.powered_off() {
                    // the cut came after the last operation of open: treat as a crash anyway
                    drop(wal);
                    stats.recovery_crashes += 1;
                    img = img.crash(rng.next_u64());
                    continue;
                }
                img.cancel_power_cut();
                return (wal, img);
            }
            Err(e) => {
                assert!(img.powered_off(), "case {case}: recovery failed without a power cut: {e}");
                stats.recovery_crashes += 1;
                img = img.crash(rng.next_u64());
            }
        }
    }
    unreachable!()
}

fn check(wal: &mut Wal<SimFs>, written: &[Record], acked: usize, case: u64) -> usize {
    let len = wal.len() as usize;
    assert!(len >= acked, "case {case}: {len} records after recovery, {acked} acknowledged");
    assert!(len <= written.len(), "case {case}: {len} records but only {} were written", written.len());
    let mut seen = 0usize;
    wal.replay(0, |seq, ty, p| {
        let (wty, wp) = &written[seq as usize];
        assert_eq!(ty, *wty, "case {case}: record {seq} type");
        assert!(p == wp.as_slice(), "case {case}: record {seq} differs from what was written");
        seen += 1;
    })
    .unwrap_or_else(|e| panic!("case {case}: {e}"));
    assert_eq!(seen, len);
    // random reads go through the index
    for seq in [0, len / 2, len.saturating_sub(1)] {
        if seq < len {
            assert_eq!(wal.read(seq as u64).unwrap().1, written[seq].1);
        }
    }
    len
}

/// One crash image (plus the crashes during its recovery). `fault` injects an error first.
fn run_case(case: u64, fault: bool, stats: &mut Stats) {
    let mut rng = XorShift64::new(case);
    let segment_bytes = [64u64, 200, 512, 2048, 8192, 1 << 20][rng.below(6) as usize];
    let fs = SimFs::new(case);
    if fault {
        let op = [Op::Write, Op::Sync, Op::SyncDir, Op::Create, Op::SetLen][rng.below(5) as usize];
        let errno = if rng.chance(1, 2) { EIO } else { ENOSPC };
        fs.fail_nth(op, rng.range(1, 20), errno);
        if rng.chance(1, 4) {
            fs.set_capacity(Some(rng.range(2_000, 60_000)));
        }
    }
    fs.cut_power_after(rng.range(1, 400));

    let mut written: Vec<Record> = Vec::new();
    let mut acked = 0;
    match Wal::open(fs.clone(), Options { segment_bytes, watermark: 0 }) {
        Ok((mut wal, _)) => {
            let batches = rng.range(1, 80);
            acked = write_until_power_cut(&mut wal, &fs, &mut rng, &mut written, 0, batches, stats);
        }
        Err(e) => assert!(fs.powered_off() || fault, "case {case}: {e}"),
    }
    stats.images += 1;
    stats.acked_records += acked as u64;
    let img = fs.crash(rng.next_u64());

    let (mut wal, img) = recover(img, segment_bytes, acked, &mut rng, stats, case);
    let len = check(&mut wal, &written, acked, case);
    if len > acked {
        stats.unacked_survivors += 1;
    }

    // The recovered log keeps working: everything it holds now is durable, and new records too.
    written.truncate(len);
    let mut more = Vec::new();
    for _ in 0..rng.range(1, 5) {
        more.push(random_record(&mut rng));
    }
    for (ty, p) in &more {
        assert_eq!(wal.append(*ty, p).unwrap(), written.len() as u64);
        written.push((*ty, p.clone()));
    }
    wal.sync().unwrap_or_else(|e| panic!("case {case}: {e}"));
    let acked = written.len();
    // unsynced records after the last sync may be lost, acknowledged ones never
    let extra = random_record(&mut rng);
    wal.append(extra.0, &extra.1).unwrap();
    written.push(extra);
    let img2 = img.crash(rng.next_u64());
    drop(wal);
    let (mut wal, _) = recover(img2, segment_bytes, acked, &mut rng, stats, case);
    check(&mut wal, &written, acked, case);
}

fn run_range(cases: std::ops::Range<u64>, fault: bool) -> Stats {
    let mut stats = Stats::default();
    for case in cases {
        run_case(case, fault, &mut stats);
    }
    eprintln!("{stats:?}");
    // the simulation must actually exercise recovery
    assert!(stats.truncated * 5 > stats.images, "{stats:?}");
    assert!(stats.unacked_survivors > 0 && stats.acked_records > stats.images, "{stats:?}");
    stats
}

// 4 × 300 plain power cuts + 300 with injected ENOSPC/EIO before the cut = 1500 crash images,
// plus the crashes during recovery. Split in several tests so they run in parallel.
#[test]
fn power_loss_images_0() {
    run_range(0..300, false);
}

#[test]
fn power_loss_images_1() {
    run_range(300..600, false);
}

#[test]
fn power_loss_images_2() {
    run_range(600..900, false);
}

#[test]
fn power_loss_images_3() {
    let s = run_range(900..1200, false);
    assert!(s.recovery_crashes > 0, "{s:?}");
}

#[test]
fn power_loss_with_injected_errors() {
    let s = run_range(10_000..10_300, true);
    assert!(s.faults_hit > 50, "{s:?}");
}

/// The error a caller sees for a full disk is ERR_NOSPACE and a crash afterwards loses nothing
/// that was acknowledged.
#[test]
fn full_disk_then_power_loss() {
    for case in 0..50u64 {
        let mut rng = XorShift64::new(case + 777);
        let fs = SimFs::new(case);
        fs.set_capacity(Some(rng.range(500, 5000)));
        let (mut wal, _) = Wal::open(fs.clone(), Options { segment_bytes: 1024, watermark: 0 }).unwrap();
        let mut written = Vec::new();
        let mut acked = 0;
        let mut nospace = 0;
        for _ in 0..40 {
            let r = (1u8, vec![case as u8; rng.below(300) as usize]);
            match wal.append(r.0, &r.1) {
                Ok(_) => written.push(r),
                Err(WalError::Io { source, .. }) if source.raw_os_error() == Some(ENOSPC) => nospace += 1,
                Err(e) => assert!(wal.failure().is_some() || e.code() == warden_core::wal::ERR_NOSPACE, "{e}"),
            }
            if wal.failure().is_some() {
                break;
            }
            if wal.sync().is_ok() {
                acked = written.len();
            }
        }
        assert!(nospace > 0, "case {case}: the disk never filled");
        let img = fs.crash(case);
        let (mut wal, _) = Wal::open(img, Options { segment_bytes: 1024, watermark: acked as u64 }).unwrap();
        assert!(wal.len() as usize >= acked);
        for (seq, (_, p)) in written.iter().enumerate().take(wal.len() as usize) {
            assert_eq!(&wal.read(seq as u64).unwrap().1, p);
        }
    }
}
