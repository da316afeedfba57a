//! Unit tests of the WAL against the simulated file layer (deterministic, seeded).

use super::sim::{Op, SimFs, XorShift64, EACCES, EIO, ENOSPC, EROFS};
use super::*;

const T: u8 = 1;

fn open(fs: &SimFs, segment_bytes: u64, watermark: u64) -> Result<(Wal<SimFs>, Recovery), WalError> {
    Wal::open(fs.clone(), Options { segment_bytes, watermark })
}

/// Deterministic payload of record `seq`.
fn payload(seq: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    XorShift64::new(seq.wrapping_mul(0x9E37) ^ len as u64).fill(&mut v);
    v
}

/// A durable copy of every file of `fs`.
fn copy_of(fs: &SimFs) -> SimFs {
    let copy = SimFs::new(7);
    for name in fs.names() {
        copy.write_file(&name, &fs.read_file(&name).unwrap());
    }
    copy
}

/// Writes `lens.len()` records (payload(seq, lens[seq])) in batches of `batch`, syncing each.
fn build(fs: &SimFs, segment_bytes: u64, lens: &[usize], batch: usize) -> Vec<Vec<u8>> {
    let (mut wal, _) = open(fs, segment_bytes, 0).unwrap();
    let records: Vec<Vec<u8>> = lens.iter().enumerate().map(|(i, &l)| payload(i as u64, l)).collect();
    for chunk in records.chunks(batch) {
        let refs: Vec<&[u8]> = chunk.iter().map(|r| r.as_slice()).collect();
        wal.append_batch(T, &refs).unwrap();
        wal.sync().unwrap();
    }
    records
}

fn assert_records(wal: &mut Wal<SimFs>, expected: &[Vec<u8>]) {
    assert_eq!(wal.len(), expected.len() as u64);
    let all = wal.records(0).unwrap();
    assert_eq!(all.len(), expected.len());
    for (i, (seq, ty, p)) in all.iter().enumerate() {
        assert_eq!(*seq, i as u64);
        assert_eq!(*ty, T);
        assert_eq!(p, &expected[i], "record {i}");
    }
}

/// (segment name, offset, seq) of a frame.
type FrameAt = (String, u64, u64);
/// (segment name, first seq, length) of a segment.
type SegmentAt = (String, u64, usize);

/// Every frame and every segment of the log in `fs`.
fn layout(fs: &SimFs) -> (Vec<FrameAt>, Vec<SegmentAt>) {
    let mut frames = Vec::new();
    let mut segs = Vec::new();
    for name in fs.names() {
        let Some(first) = parse_segment_name(&name) else { continue };
        let bytes = fs.read_file(&name).unwrap();
        segs.push((name.clone(), first, bytes.len()));
        let mut off = HEADER_LEN;
        let mut seq = first;
        while off < bytes.len() {
            let f = parse_frame(&bytes[off..]).unwrap();
            frames.push((name.clone(), off as u64, seq));
            off += f.size();
            seq += 1;
        }
    }
    (frames, segs)
}

// ---------------------------------------------------------------------------------------------
// CRC-32C and framing

#[test]
fn crc32c_known_answers() {
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    // RFC 3720 appendix B.4
    assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8A91_36AA);
    assert_eq!(crc32c::crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
    let inc: Vec<u8> = (0u8..32).collect();
    assert_eq!(crc32c::crc32c(&inc), 0x46DD_794E);
    let dec: Vec<u8> = (0u8..32).rev().collect();
    assert_eq!(crc32c::crc32c(&dec), 0x113F_DB5C);
    let scsi_read: [u8; 48] = [
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, //
        0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    assert_eq!(crc32c::crc32c(&scsi_read), 0xD996_3A56);
    assert_eq!(crc32c::crc32c(&[]), 0);
    // A zero-filled frame header can never be intact: its CRC field would have to be this.
    assert_eq!(frame_crc(0, &[]), 0x527D_5351);
}

#[test]
fn frame_layout_and_crc_coverage() {
    let mut buf = Vec::new();
    format::encode_frame_into(&mut buf, 7, b"hello");
    assert_eq!(buf.len(), FRAME_HEADER_LEN + 5);
    assert_eq!(&buf[0..4], &5u32.to_le_bytes());
    let mut covered = vec![7u8];
    covered.extend_from_slice(b"hello");
    assert_eq!(&buf[4..8], &crc32c::crc32c(&covered).to_le_bytes());
    assert_eq!(frame_crc(7, b"hello"), crc32c::crc32c(&covered));
    assert_eq!(buf[8], 7);
    assert_eq!(&buf[9..], b"hello");
    assert_eq!(parse_frame(&buf).unwrap(), Frame { record_type: 7, len: 5 });
    // every single-bit flip is caught
    for byte in 0..buf.len() {
        for bit in 0..8 {
            let mut b = buf.clone();
            b[byte] ^= 1 << bit;
            assert!(parse_frame(&b).is_err(), "flip {byte}.{bit}");
        }
    }
    // zeroes and truncation
    assert!(matches!(parse_frame(&[0u8; 9]), Err((FrameProblem::Crc { .. }, _))));
    assert!(matches!(parse_frame(&buf[..5]), Err((FrameProblem::ShortHeader(5), None))));
    assert!(matches!(parse_frame(&buf[..12]), Err((FrameProblem::Short { need: 14, have: 12 }, None))));
    let mut big = buf.clone();
    big[0..4].copy_from_slice(&65_536u32.to_le_bytes());
    assert!(matches!(parse_frame(&big), Err((FrameProblem::BadLength(65_536), None))));
    let mut zero_type = Vec::new();
    zero_type.extend_from_slice(&0u32.to_le_bytes());
    zero_type.extend_from_slice(&frame_crc(0, &[]).to_le_bytes());
    zero_type.push(0);
    assert!(matches!(parse_frame(&zero_type), Err((FrameProblem::ZeroType, Some(9)))));
}

#[test]
fn header_layout_and_rejections() {
    let h = encode_header(42);
    assert_eq!(&h[0..8], b"WDNWAL01");
    assert_eq!(&h[8..12], &1u32.to_le_bytes());
    assert_eq!(&h[12..20], &42u64.to_le_bytes());
    assert_eq!(&h[20..24], &crc32c::crc32c(&h[..20]).to_le_bytes());
    assert_eq!(format::check_header(&h, 42), Ok(()));
    assert_eq!(format::check_header(&h, 41), Err(HeaderProblem::Seq { header: 42, name: 41 }));
    assert_eq!(format::check_header(&h[..23], 42), Err(HeaderProblem::Short(23)));
    let mut m = h;
    m[0] = b'X';
    assert_eq!(format::check_header(&m, 42), Err(HeaderProblem::Magic));
    let mut c = h;
    c[13] ^= 1;
    assert!(matches!(format::check_header(&c, 42), Err(HeaderProblem::Crc { .. })));
    let mut v = h;
    v[8..12].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32c::crc32c(&v[..20]);
    v[20..24].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(format::check_header(&v, 42), Err(HeaderProblem::Version(2)));
}

#[test]
fn segment_names() {
    assert_eq!(segment_name(0), "00000000000000000000.seg");
    assert_eq!(segment_name(52113), "00000000000000052113.seg");
    assert_eq!(segment_name(u64::MAX), "18446744073709551615.seg");
    assert_eq!(parse_segment_name("00000000000000052113.seg"), Some(52113));
    assert_eq!(parse_segment_name("18446744073709551615.seg"), Some(u64::MAX));
    for bad in ["0.seg", "00000000000000000000.seg.tmp", "000000000000000000000.seg", "99999999999999999999.seg", "0000000000000000000a.seg", "00000000000000000000.log"] {
        assert_eq!(parse_segment_name(bad), None, "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// Append, read, replay, rotation

#[test]
fn round_trip_batches_replay_and_reopen() {
    let fs = SimFs::new(1);
    let (mut wal, rec) = open(&fs, 0, 0).unwrap();
    assert_eq!(rec.records, 0);
    assert_eq!(rec.segments, 1);
    assert_eq!(fs.names(), vec![segment_name(0)]);
    let mut rng = XorShift64::new(99);
    let mut expected: Vec<(u8, Vec<u8>)> = Vec::new();
    for b in 0..40 {
        let n = rng.range(1, 30) as usize;
        let ty = (b % 5 + 1) as u8;
        let batch: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let len = match (b + i) % 17 {
                    0 => 0,
                    1 => MAX_PAYLOAD,
                    _ => rng.below(3000) as usize,
                };
                payload(expected.len() as u64 + i as u64, len)
            })
            .collect();
        let refs: Vec<&[u8]> = batch.iter().map(|r| r.as_slice()).collect();
        let first = wal.append_batch(ty, &refs).unwrap();
        assert_eq!(first, expected.len() as u64);
        expected.extend(batch.into_iter().map(|p| (ty, p)));
        if b % 3 == 0 {
            wal.sync().unwrap();
            assert_eq!(wal.durable_len(), expected.len() as u64);
        }
    }
    wal.sync().unwrap();
    let check = |wal: &mut Wal<SimFs>| {
        assert_eq!(wal.len(), expected.len() as u64);
        let mut buf = vec![0u8; MAX_PAYLOAD];
        for (seq, (ty, p)) in expected.iter().enumerate() {
            let (t, n) = wal.read_into(seq as u64, &mut buf).unwrap();
            assert_eq!((t, &buf[..n]), (*ty, p.as_slice()));
        }
        let mut seen = 0u64;
        wal.replay(0, |seq, ty, p| {
            assert_eq!(seq, seen);
            assert_eq!((ty, p), (expected[seq as usize].0, expected[seq as usize].1.as_slice()));
            seen += 1;
        })
        .unwrap();
        assert_eq!(seen, expected.len() as u64);
        let tail = wal.records(expected.len() as u64 - 3).unwrap();
        assert_eq!(tail.len(), 3);
        assert!(matches!(wal.read(expected.len() as u64), Err(WalError::NotFound { .. })));
    };
    check(&mut wal);
    drop(wal);
    let (mut wal, rec) = open(&fs, 0, expected.len() as u64).unwrap();
    assert_eq!(rec.records, expected.len() as u64);
    assert_eq!(rec.truncated_bytes, 0);
    assert_eq!(rec.damage, None);
    check(&mut wal);
    // appending continues the sequence
    assert_eq!(wal.append(T, b"next").unwrap(), expected.len() as u64);
}

#[test]
fn payload_limit_is_enforced_per_batch() {
    let fs = SimFs::new(2);
    let (mut wal, _) = open(&fs, 0, 0).unwrap();
    let max = vec![0xAB; MAX_PAYLOAD];
    assert_eq!(wal.append(T, &max).unwrap(), 0);
    let over = vec![0xCD; MAX_PAYLOAD + 1];
    let before = fs.read_file(&segment_name(0)).unwrap();
    let err = wal.append_batch(T, &[b"ok", &over, b"ok"]).unwrap_err();
    assert!(matches!(err, WalError::TooLarge { index: 1, len } if len == MAX_PAYLOAD + 1));
    assert_eq!(err.code(), ERR_TOO_LARGE);
    assert_eq!(wal.len(), 1, "nothing of a rejected batch is appended");
    assert_eq!(fs.read_file(&segment_name(0)).unwrap(), before);
    assert_eq!(wal.read(0).unwrap().1, max);
    // still usable
    assert_eq!(wal.append(T, b"after").unwrap(), 1);
    wal.sync().unwrap();
    // invalid arguments
    assert_eq!(wal.append(0, b"x").unwrap_err().code(), ERR_INVALID);
    assert_eq!(wal.append_packed(T, b"abc", &[0, 2, 1]).unwrap_err().code(), ERR_INVALID);
    assert_eq!(wal.append_packed(T, b"abc", &[0, 4]).unwrap_err().code(), ERR_INVALID);
    assert_eq!(wal.append_batch(T, &[]).unwrap(), 2);
    assert_eq!(wal.len(), 2);
}

#[test]
fn append_packed_layout() {
    let fs = SimFs::new(3);
    let (mut wal, _) = open(&fs, 0, 0).unwrap();
    let data = b"xxhelloworld!";
    assert_eq!(wal.append_packed(9, data, &[2, 7, 12, 12, 13]).unwrap(), 0);
    let got: Vec<Vec<u8>> = wal.records(0).unwrap().into_iter().map(|r| r.2).collect();
    assert_eq!(got, vec![b"hello".to_vec(), b"world".to_vec(), b"".to_vec(), b"!".to_vec()]);
    assert_eq!(wal.read(0).unwrap().0, 9);
}

#[test]
fn one_write_and_one_fsync_per_batch() {
    let fs = SimFs::new(4);
    let (mut wal, _) = open(&fs, 0, 0).unwrap();
    let before = fs.counts();
    let records: Vec<Vec<u8>> = (0..500).map(|i| payload(i, 200)).collect();
    let refs: Vec<&[u8]> = records.iter().map(|r| r.as_slice()).collect();
    wal.append_batch(T, &refs).unwrap();
    wal.sync().unwrap();
    let after = fs.counts();
    assert_eq!(after.writes - before.writes, 1);
    assert_eq!(after.syncs - before.syncs, 1);
    assert_eq!(after.dir_syncs, before.dir_syncs);
    wal.sync().unwrap(); // nothing new: no fsync
    assert_eq!(fs.counts().syncs, after.syncs);
}

#[test]
fn rotation_across_segments() {
    let fs = SimFs::new(5);
    let segment_bytes = 256;
    let (mut wal, _) = open(&fs, segment_bytes, 0).unwrap();
    let mut rng = XorShift64::new(5);
    let mut expected = Vec::new();
    while expected.len() < 300 {
        let n = rng.range(1, 5) as usize;
        let batch: Vec<Vec<u8>> = (0..n).map(|i| payload((expected.len() + i) as u64, rng.below(40) as usize)).collect();
        let refs: Vec<&[u8]> = batch.iter().map(|r| r.as_slice()).collect();
        let dir_syncs = fs.counts().dir_syncs;
        let segs = wal.segment_names().len();
        wal.append_batch(T, &refs).unwrap();
        if wal.segment_names().len() > segs {
            assert_eq!(fs.counts().dir_syncs, dir_syncs + 1, "directory fsynced when a segment is created");
        }
        expected.extend(batch);
        if rng.chance(1, 2) {
            wal.sync().unwrap();
        }
    }
    // a batch larger than a segment goes whole into a fresh one
    let big: Vec<Vec<u8>> = (0..10).map(|i| payload((expected.len() + i) as u64, 60)).collect();
    let refs: Vec<&[u8]> = big.iter().map(|r| r.as_slice()).collect();
    let first_big = wal.append_batch(T, &refs).unwrap();
    expected.extend(big);
    wal.sync().unwrap();
    assert_eq!(wal.segment_names().last().unwrap(), &segment_name(first_big));

    let (frames, segs) = layout(&fs);
    assert!(segs.len() > 20, "{} segments", segs.len());
    assert_eq!(frames.len(), expected.len());
    for (i, (name, first, len)) in segs.iter().enumerate() {
        assert_eq!(name, &segment_name(*first));
        let is_big = *first == first_big;
        assert!(*len as u64 <= segment_bytes || is_big, "segment {name} has {len} bytes");
        if i + 1 < segs.len() {
            // it was full: the next batch would not have fitted
            assert!(*len as u64 + 9 > segment_bytes / 4, "segment {name} rotated early ({len} bytes)");
        }
    }
    assert_records(&mut wal, &expected);
    drop(wal);
    let (mut wal, rec) = open(&fs, segment_bytes, expected.len() as u64).unwrap();
    assert_eq!(rec.segments, segs.len());
    assert_records(&mut wal, &expected);
    // reads hop between segments
    let mut rng = XorShift64::new(6);
    for _ in 0..500 {
        let seq = rng.below(expected.len() as u64);
        assert_eq!(wal.read(seq).unwrap().1, expected[seq as usize]);
    }
}

#[test]
fn read_batch_stops_at_segment_end_and_buffer_size() {
    let fs = SimFs::new(8);
    let expected = build(&fs, 200, &[10; 40], 3);
    let (mut wal, _) = open(&fs, 200, 40).unwrap();
    let mut out = vec![0u8; 1000];
    let mut offsets = vec![0u32; 65];
    let mut types = vec![0u8; 64];
    let mut seq = 0u64;
    while seq < 40 {
        let n = wal.read_batch(seq, 64, &mut out, &mut offsets, &mut types).unwrap();
        assert!(n > 0);
        for i in 0..n {
            let p = &out[offsets[i] as usize..offsets[i + 1] as usize];
            assert_eq!(p, expected[seq as usize + i].as_slice());
            assert_eq!(types[i], T);
        }
        seq += n as u64;
    }
    assert_eq!(wal.read_batch(40, 64, &mut out, &mut offsets, &mut types).unwrap(), 0);
    let n = wal.read_batch(0, 64, &mut out[..25], &mut offsets, &mut types).unwrap();
    assert_eq!(n, 2);
    let err = wal.read_batch(0, 64, &mut out[..9], &mut offsets, &mut types).unwrap_err();
    assert!(matches!(err, WalError::BufferTooSmall { need: 10 }));
    let err = wal.read_into(0, &mut out[..9]).unwrap_err();
    assert_eq!(err.code(), crate::ERR_BUFFER_TOO_SMALL);
}

// ---------------------------------------------------------------------------------------------
// Recovery

#[test]
fn torn_tail_of_every_length_is_truncated() {
    let lens = [30, 0, 70, 5, 120];
    let fs = SimFs::new(9);
    let expected = build(&fs, 0, &lens, 2);
    let name = segment_name(0);
    let full = fs.read_file(&name).unwrap();
    let (frames, _) = layout(&fs);
    let last_start = frames.last().unwrap().1 as usize;
    let last_len = full.len() - last_start;
    assert_eq!(last_len, FRAME_HEADER_LEN + 120);
    for cut in 0..last_len {
        // watermark 4: the torn record 4 was never acknowledged
        let img = copy_of(&fs);
        img.truncate_file(&name, last_start + cut);
        let (mut wal, rec) = open(&img, 0, 4).unwrap();
        assert_eq!(rec.records, 4, "cut {cut}");
        assert_eq!(rec.truncated_bytes, cut as u64);
        assert_eq!(rec.truncated_records, (cut > 0) as u64);
        assert_eq!(rec.damage.is_some(), cut > 0);
        if let Some(d) = &rec.damage {
            assert_eq!((d.segment.as_str(), d.offset, d.seq), (name.as_str(), last_start as u64, 4));
        }
        assert_eq!(img.read_file(&name).unwrap().len(), last_start, "file truncated to the last whole record");
        assert_records(&mut wal, &expected[..4]);
        // the log continues normally after the cut
        assert_eq!(wal.append(T, b"again").unwrap(), 4);
        wal.sync().unwrap();
        drop(wal);
        let (mut wal, rec) = open(&img, 0, 5).unwrap();
        assert_eq!(rec.truncated_bytes, 0);
        assert_eq!(wal.read(4).unwrap().1, b"again");

        // watermark 5: record 4 was acknowledged, so a torn record 4 is corruption
        let img = copy_of(&fs);
        img.truncate_file(&name, last_start + cut);
        let err = open(&img, 0, 5).map(|_| ()).unwrap_err();
        assert_eq!(err.code(), ERR_CORRUPT);
        let d = err.damage().unwrap();
        assert_eq!((d.segment.as_str(), d.seq), (name.as_str(), 4));
        assert_eq!(img.read_file(&name).unwrap().len(), last_start + cut, "nothing modified on refusal");
        let msg = err.to_string();
        assert!(msg.contains(&name) && msg.contains("seq 4") && msg.contains("byte offset"), "{msg}");
    }
}

#[test]
fn torn_segment_creation_is_removed() {
    let fs = SimFs::new(10);
    let expected = build(&fs, 100, &[40; 6], 1);
    let names = fs.names();
    assert!(names.len() >= 3);
    let last = names.last().unwrap().clone();
    let last_first = parse_segment_name(&last).unwrap();
    for cut in 0..=HEADER_LEN {
        let img = copy_of(&fs);
        img.truncate_file(&last, cut);
        let (mut wal, rec) = open(&img, 100, last_first).unwrap();
        if cut < HEADER_LEN {
            assert_eq!(rec.removed_segments, vec![last.clone()], "cut {cut}");
            assert_eq!(rec.truncated_bytes, cut as u64);
            assert!(!img.names().contains(&last));
            assert_records(&mut wal, &expected[..last_first as usize]);
            // the next rotation re-creates it
        } else {
            assert!(rec.removed_segments.is_empty());
            assert_eq!(rec.segments, names.len());
            assert_records(&mut wal, &expected[..last_first as usize]);
        }
        let first = wal.append(T, &payload(last_first, 40)).unwrap();
        assert_eq!(first, last_first);
        wal.sync().unwrap();
    }
}

#[test]
fn corrupt_last_frame_is_truncated_above_and_refused_below_the_watermark() {
    let fs = SimFs::new(11);
    let expected = build(&fs, 0, &[20; 8], 8);
    let name = segment_name(0);
    let (frames, _) = layout(&fs);
    let last = frames.last().unwrap().1 as usize;
    for (byte, bit) in [(0, 0), (3, 7), (4, 1), (7, 6), (8, 0), (8, 7), (9, 3), (28, 7)] {
        let img = copy_of(&fs);
        img.flip_bit(&name, last + byte, bit);
        let (mut wal, rec) = open(&img, 0, 7).unwrap();
        assert_eq!(rec.records, 7);
        assert_eq!(rec.truncated_bytes, 29);
        assert_records(&mut wal, &expected[..7]);
        let img = copy_of(&fs);
        img.flip_bit(&name, last + byte, bit);
        let err = open(&img, 0, 8).map(|_| ()).unwrap_err();
        assert_eq!(err.damage().unwrap().offset, last as u64);
    }
}

/// Flips every bit of a two-segment log, once below and once above the watermark.
#[test]
fn every_flipped_bit_is_detected_and_located() {
    let fs = SimFs::new(12);
    let lens = [3, 0, 7, 1, 4, 2, 6];
    let expected = build(&fs, 64, &lens, 1);
    let (frames, segs) = layout(&fs);
    assert!(segs.len() >= 2, "{segs:?}");
    let n = expected.len() as u64;
    let mut checked = 0;
    for (name, first, len) in &segs {
        for byte in 0..*len {
            // where the damage must be reported
            let (want_off, want_seq) = if byte < HEADER_LEN {
                (0u64, *first)
            } else {
                let f = frames.iter().rfind(|f| &f.0 == name && f.1 as usize <= byte).unwrap();
                (f.1, f.2)
            };
            for bit in 0..8 {
                let img = copy_of(&fs);
                img.flip_bit(name, byte, bit);
                let err = open(&img, 64, n).map(|_| ()).unwrap_err();
                assert_eq!(err.code(), ERR_CORRUPT, "{name} byte {byte} bit {bit}");
                let d = err.damage().unwrap();
                assert_eq!((&d.segment, d.offset, d.seq), (name, want_off, want_seq), "{name} byte {byte} bit {bit}: {}", d.reason);
                assert_eq!(img.read_file(name).unwrap(), {
                    let mut b = fs.read_file(name).unwrap();
                    b[byte] ^= 1 << bit;
                    b
                });

                // above the watermark: cut there, later segments deleted
                let (mut wal, rec) = open(&img, 64, 0).unwrap();
                assert_eq!(rec.records, want_seq);
                assert_eq!(rec.damage.as_ref().map(|d| (d.offset, d.seq)), Some((want_off, want_seq)));
                assert_records(&mut wal, &expected[..want_seq as usize]);
                for (later, f2, _) in &segs {
                    // (a damaged first segment is removed and then re-created empty)
                    let kept = f2 < first || (later == name && (byte >= HEADER_LEN || *first == 0));
                    assert_eq!(img.names().contains(later), kept, "{later} after flipping {name} byte {byte}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "{checked}");
}

#[test]
fn missing_segments_and_gaps() {
    let fs = SimFs::new(13);
    let expected = build(&fs, 100, &[40; 9], 1);
    let names = fs.names();
    assert!(names.len() >= 4);
    let firsts: Vec<u64> = names.iter().map(|n| parse_segment_name(n).unwrap()).collect();
    let n = expected.len() as u64;

    // a middle segment vanished
    let img = copy_of(&fs);
    img.delete_file(&names[1]);
    let err = open(&img, 100, n).map(|_| ()).unwrap_err();
    let d = err.damage().unwrap();
    assert_eq!((d.segment.as_str(), d.offset, d.seq), (names[2].as_str(), 0, firsts[1]));
    let (mut wal, rec) = open(&img, 100, firsts[1]).unwrap();
    assert_eq!(rec.records, firsts[1]);
    assert_eq!(rec.removed_segments, names[2..].to_vec());
    assert_records(&mut wal, &expected[..firsts[1] as usize]);

    // the first segment vanished
    let img = copy_of(&fs);
    img.delete_file(&names[0]);
    let d = open(&img, 100, 1).map(|_| ()).unwrap_err().damage().cloned().unwrap();
    assert_eq!((d.segment.as_str(), d.seq), (names[1].as_str(), 0));
    let (wal, rec) = open(&img, 100, 0).unwrap();
    assert_eq!((wal.len(), rec.removed_segments.len()), (0, names.len() - 1));

    // the last segment vanished: the log ends before the watermark
    let img = copy_of(&fs);
    img.delete_file(names.last().unwrap());
    let err = open(&img, 100, n).map(|_| ()).unwrap_err();
    assert_eq!(err.code(), ERR_CORRUPT);
    assert!(err.to_string().contains("missing"), "{err}");
    assert!(open(&img, 100, *firsts.last().unwrap()).is_ok());
}

#[test]
fn watermark_beyond_the_end_is_refused() {
    let fs = SimFs::new(14);
    build(&fs, 0, &[5; 3], 3);
    let err = open(&fs, 0, 4).map(|_| ()).unwrap_err();
    assert_eq!(err.code(), ERR_CORRUPT);
    let d = err.damage().unwrap();
    assert_eq!(d.seq, 3);
    let empty = SimFs::new(15);
    assert_eq!(open(&empty, 0, 1).map(|_| ()).unwrap_err().code(), ERR_CORRUPT);
    assert!(empty.names().is_empty(), "a refused open creates nothing");
}

#[test]
fn other_format_versions_and_foreign_files() {
    let fs = SimFs::new(16);
    build(&fs, 0, &[5; 3], 3);
    fs.write_file("notes.txt", b"hello");
    fs.write_file("00000000000000000000.seg.tmp", b"junk");
    let (wal, rec) = open(&fs, 0, 3).unwrap();
    assert_eq!(rec.records, 3);
    drop(wal);
    assert_eq!(fs.read_file("notes.txt").unwrap(), b"hello");
    assert!(fs.names().contains(&"00000000000000000000.seg.tmp".to_string()));

    let mut seg = fs.read_file(&segment_name(0)).unwrap();
    seg[8..12].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32c::crc32c(&seg[..20]);
    seg[20..24].copy_from_slice(&crc.to_le_bytes());
    fs.write_file(&segment_name(0), &seg);
    let err = open(&fs, 0, 0).map(|_| ()).unwrap_err();
    assert_eq!(err.code(), ERR_FORMAT);
    assert_eq!(fs.read_file(&segment_name(0)).unwrap(), seg, "never truncated");

    // a file of another kind under a segment name
    let fs = SimFs::new(17);
    fs.write_file(&segment_name(0), b"PK\x03\x04 this is a zip file, not a WAL segment");
    let err = open(&fs, 0, 1).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("not a Warden WAL segment"), "{err}");
}

#[test]
fn recovery_report_json() {
    let fs = SimFs::new(18);
    build(&fs, 0, &[5; 3], 3);
    let name = segment_name(0);
    let len = fs.read_file(&name).unwrap().len();
    fs.truncate_file(&name, len - 2);
    let (_, rec) = open(&fs, 0, 2).unwrap();
    assert_eq!(
        rec.to_json(),
        format!(
            "{{\"records\":2,\"segments\":1,\"watermark\":2,\"truncated_records\":1,\"truncated_bytes\":12,\
             \"removed_segments\":[],\"damage\":{{\"segment\":\"{name}\",\"offset\":52,\"seq\":2,\
             \"reason\":\"torn frame (12 of 14 bytes)\"}}}}"
        )
    );
    let (_, rec) = open(&fs, 0, 2).unwrap();
    assert_eq!(rec.to_json(), "{\"records\":2,\"segments\":1,\"watermark\":2,\"truncated_records\":0,\"truncated_bytes\":0,\"removed_segments\":[],\"damage\":null}");
}

#[test]
fn damage_after_open_is_reported_on_read() {
    let fs = SimFs::new(19);
    let expected = build(&fs, 0, &[8; 4], 4);
    let (mut wal, _) = open(&fs, 0, 4).unwrap();
    let (frames, _) = layout(&fs);
    fs.flip_bit(&segment_name(0), frames[2].1 as usize + 12, 3);
    let err = wal.read(2).unwrap_err();
    assert_eq!(err.code(), ERR_CORRUPT);
    assert_eq!(err.damage().unwrap().seq, 2);
    assert_eq!(wal.read(1).unwrap().1, expected[1]);
    assert_eq!(wal.replay(0, |_, _, _| {}).unwrap_err().code(), ERR_CORRUPT);
}

// ---------------------------------------------------------------------------------------------
// Errors and the failed state

#[test]
fn full_disk_rolls_back_and_stays_usable() {
    let fs = SimFs::new(20);
    let (mut wal, _) = open(&fs, 0, 0).unwrap();
    let mut expected = Vec::new();
    for i in 0..5 {
        expected.push(payload(i, 100));
        wal.append(T, &expected[i as usize]).unwrap();
    }
    wal.sync().unwrap();
    let len_before = fs.read_file(&segment_name(0)).unwrap().len();
    fs.set_capacity(Some(len_before as u64 + 150));
    let batch: Vec<Vec<u8>> = (5..8).map(|i| payload(i, 100)).collect();
    let refs: Vec<&[u8]> = batch.iter().map(|r| r.as_slice()).collect();
    let err = wal.append_batch(T, &refs).unwrap_err();
    assert_eq!(err.code(), ERR_NOSPACE, "{err}");
    assert!(err.to_string().contains("no space left"), "{err}");
    assert_eq!(wal.len(), 5);
    assert_eq!(fs.read_file(&segment_name(0)).unwrap().len(), len_before, "partial write rolled back");
    assert!(wal.failure().is_none());
    wal.sync().unwrap();
    // space freed: carry on
    fs.set_capacity(None);
    assert_eq!(wal.append_batch(T, &refs).unwrap(), 5);
    expected.extend(batch);
    wal.sync().unwrap();
    assert_records(&mut wal, &expected);
    drop(wal);
    let (mut wal, rec) = open(&fs, 0, 8).unwrap();
    assert_eq!(rec.truncated_bytes, 0);
    assert_records(&mut wal, &expected);
}

#[test]
fn read_only_and_permission_errors_are_distinguished() {
    for errno in [EROFS, EACCES] {
        let fs = SimFs::new(21);
        fs.set_read_only(Some(errno));
        let err = open(&fs, 0, 0).map(|_| ()).unwrap_err();
        assert_eq!(err.code(), ERR_READONLY, "{err}");

        let fs = SimFs::new(22);
        build(&fs, 0, &[5; 2], 2);
        fs.set_read_only(Some(errno));
        assert_eq!(open(&fs, 0, 2).map(|_| ()).unwrap_err().code(), ERR_READONLY);

        fs.set_read_only(None);
        let (mut wal, _) = open(&fs, 0, 2).unwrap();
        fs.fail_nth(Op::Write, 1, errno);
        let err = wal.append(T, b"x").unwrap_err();
        assert_eq!(err.code(), ERR_READONLY);
        assert!(wal.failure().is_none(), "rolled back");
        assert_eq!(wal.append(T, b"y").unwrap(), 2);
        fs.set_read_only(Some(errno));
        assert_eq!(wal.append(T, b"z").unwrap_err().code(), ERR_READONLY);
        // the rollback could not truncate either: the handle gives up
        assert_eq!(wal.append(T, b"z").unwrap_err().code(), ERR_FAILED);
    }
    let e = io::Error::from_raw_os_error(ENOSPC);
    assert_eq!(io_error_code(&e), ERR_NOSPACE);
    assert_eq!(io_error_code(&io::Error::from_raw_os_error(EIO)), ERR_IO);
    assert_eq!(io_error_code(&io::Error::from_raw_os_error(122)), ERR_NOSPACE);
}

#[test]
fn a_failed_fsync_is_fatal_and_never_retried() {
    for (errno, code) in [(EIO, ERR_IO), (ENOSPC, ERR_NOSPACE)] {
        let fs = SimFs::new(23);
        let (mut wal, _) = open(&fs, 0, 0).unwrap();
        let mut acked = Vec::new();
        for i in 0..3 {
            acked.push(payload(i, 50));
            wal.append(T, &acked[i as usize]).unwrap();
        }
        wal.sync().unwrap();
        wal.append(T, &payload(3, 50)).unwrap();
        fs.fail_nth(Op::Sync, 1, errno);
        let syncs = fs.counts().syncs;
        let err = wal.sync().unwrap_err();
        assert_eq!(err.code(), code);
        assert!(wal.failure().is_some());
        assert_eq!(wal.durable_len(), 3);
        for r in [wal.sync(), wal.append(T, b"x").map(|_| ()), wal.read(0).map(|_| ()), wal.replay(0, |_, _, _| {}).map(|_| ())] {
            assert_eq!(r.unwrap_err().code(), ERR_FAILED);
        }
        assert_eq!(fs.counts().syncs, syncs + 1, "no fsync was retried");
        drop(wal);
        // power loss afterwards: everything acknowledged is there
        for seed in 0..20 {
            let img = fs.crash(seed);
            let (mut wal, _) = open(&img, 0, 3).unwrap();
            assert!(wal.len() >= 3);
            for (i, p) in acked.iter().enumerate() {
                assert_eq!(&wal.read(i as u64).unwrap().1, p);
            }
        }
        // or just a restart of the process
        let (wal, _) = open(&fs, 0, 3).unwrap();
        assert!(wal.len() >= 3);
    }
}

#[test]
fn failures_during_rotation() {
    // the directory fsync after creating a segment fails: fatal
    let fs = SimFs::new(24);
    let (mut wal, _) = open(&fs, 100, 0).unwrap();
    wal.append(T, &[1; 50]).unwrap();
    fs.fail_nth(Op::SyncDir, 1, EIO);
    assert_eq!(wal.append(T, &[2; 50]).unwrap_err().code(), ERR_IO);
    assert_eq!(wal.append(T, &[2; 50]).unwrap_err().code(), ERR_FAILED);
    drop(wal);
    let (mut wal, _) = open(&fs, 100, 1).unwrap();
    assert_eq!(wal.len(), 1);
    assert_eq!(wal.append(T, &[2; 50]).unwrap(), 1);

    // creating the next segment fails with ENOSPC: not fatal, nothing appended, retry works
    let fs = SimFs::new(25);
    let (mut wal, _) = open(&fs, 100, 0).unwrap();
    wal.append(T, &[1; 50]).unwrap();
    fs.fail_nth(Op::Create, 1, ENOSPC);
    assert_eq!(wal.append(T, &[2; 50]).unwrap_err().code(), ERR_NOSPACE);
    assert!(wal.failure().is_none());
    assert_eq!(wal.durable_len(), 1, "the full segment was sealed first");
    // the header write fails: the half-created file is removed again
    fs.fail_nth(Op::Write, 1, ENOSPC);
    assert_eq!(wal.append(T, &[2; 50]).unwrap_err().code(), ERR_NOSPACE);
    assert_eq!(fs.names(), vec![segment_name(0)]);
    assert_eq!(wal.append(T, &[2; 50]).unwrap(), 1);
    wal.sync().unwrap();
    assert_eq!(fs.names(), vec![segment_name(0), segment_name(1)]);
}

/// Workload with rotation; returns (records written, how many were acknowledged, first error).
fn faulty_workload(fs: &SimFs, rng: &mut XorShift64) -> (Vec<Vec<u8>>, usize, Option<WalError>) {
    let mut written: Vec<Vec<u8>> = Vec::new();
    let mut acked = 0usize;
    let (mut wal, _) = match open(fs, 300, 0) {
        Ok(w) => w,
        Err(e) => return (written, 0, Some(e)),
    };
    let mut first_error = None;
    for _ in 0..30 {
        let n = rng.range(1, 6) as usize;
        let batch: Vec<Vec<u8>> = (0..n).map(|i| payload((written.len() + i) as u64, rng.below(80) as usize)).collect();
        let refs: Vec<&[u8]> = batch.iter().map(|r| r.as_slice()).collect();
        match wal.append_batch(T, &refs) {
            Ok(first) => {
                assert_eq!(first, written.len() as u64);
                written.extend(batch);
            }
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        }
        match wal.sync() {
            Ok(()) => acked = written.len(),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    (written, acked, first_error)
}

#[test]
fn injected_errors_on_every_operation() {
    let mut runs = 0;
    for op in [Op::Write, Op::Sync, Op::SyncDir, Op::Create, Op::SetLen, Op::Remove] {
        for errno in [EIO, ENOSPC, EROFS] {
            for nth in 1..=12 {
                let seed = runs as u64;
                runs += 1;
                let fs = SimFs::new(seed);
                fs.fail_nth(op, nth, errno);
                let mut rng = XorShift64::new(seed);
                let (written, acked, err) = faulty_workload(&fs, &mut rng);
                if let Some(e) = &err {
                    let want = match errno {
                        EIO => ERR_IO,
                        ENOSPC => ERR_NOSPACE,
                        _ => ERR_READONLY,
                    };
                    assert_eq!(e.code(), want, "{op:?} #{nth}: {e}");
                }
                // Whatever happened, the acknowledged records survive a power cut and a restart.
                for crash_seed in 0..3 {
                    let img = fs.crash(seed * 31 + crash_seed);
                    let (mut wal, _) = open(&img, 300, acked as u64).unwrap_or_else(|e| panic!("{op:?} #{nth}: {e}"));
                    assert!(wal.len() >= acked as u64);
                    let got = wal.records(0).unwrap();
                    for (seq, _, p) in &got {
                        assert_eq!(p, &written[*seq as usize], "{op:?} #{nth} seq {seq}");
                    }
                }
                fs.clear_faults();
                let (wal, _) = open(&fs, 300, acked as u64).unwrap_or_else(|e| panic!("{op:?} #{nth} restart: {e}"));
                assert!(wal.len() >= acked as u64);
            }
        }
    }
    assert_eq!(runs, 6 * 3 * 12);
}

#[test]
fn sync_failure_makes_every_call_fail() {
    let fs = SimFs::new(26);
    let (mut wal, _) = open(&fs, 0, 0).unwrap();
    wal.append(T, b"a").unwrap();
    fs.fail_nth(Op::Sync, 1, EIO);
    assert_eq!(wal.sync().unwrap_err().code(), ERR_IO);
    let mut buf = [0u8; 8];
    assert_eq!(wal.read_into(0, &mut buf).unwrap_err().code(), ERR_FAILED);
    assert_eq!(wal.append_packed(T, b"", &[]).unwrap_err().code(), ERR_FAILED);
    assert!(wal.append_batch(T, &[]).is_err());
    assert!(wal.failure().unwrap().contains("fsync"));
}
