/**
 * Tells, without a system call, whether a WAL-mode SQLite database may have had a commit since
 * the last look.
 *
 * Why: the key store must see a revocation made by another process (`warden keys revoke`) on the
 * very next request, and `PRAGMA data_version` answers that exactly but costs a read transaction
 * (two fcntl locks and an fstat) on every request, about 5 % of the gateway's main-thread time at
 * c=32. Every commit, by any connection, rewrites the wal-index header at the start of the
 * `-shm` file (https://sqlite.org/walformat.html: its change counter, frame count and checksums),
 * and every SQLite reader decides what it sees from that same header. So reading those 48 bytes
 * from a shared mapping says "nothing was committed" for certain when they are unchanged; when
 * they changed, the caller asks `PRAGMA data_version` as before. A torn read of a header being
 * rewritten only makes the next look report a change too, never hide one: SQLite writes the
 * header's second copy before the first, which is the copy compared here.
 *
 * Without a `-shm` file (a database not in WAL mode), every look reports a change.
 *
 * @example
 * const commits = watchCommits("/var/lib/warden/keys.db");
 * if (commits.changed()) version = db.query("PRAGMA data_version").get();
 */
export interface CommitWatch {
  /** True on the first call, and whenever the database may have had a commit since the last call. */
  changed(): boolean;
  /** Drops the mapping; call it before the database connection closes. */
  close(): void;
}

/** The first copy of the wal-index header: 48 bytes, as 12 words. */
const HEADER_WORDS = 12;

export function watchCommits(dbPath: string): CommitWatch {
  let words: Uint32Array | null = null;
  try {
    const map = Bun.mmap(`${dbPath}-shm`, { shared: true });
    if (map.byteLength >= HEADER_WORDS * 4) words = new Uint32Array(map.buffer, map.byteOffset, HEADER_WORDS);
  } catch {
    words = null; // no -shm file: not in WAL mode
  }
  const seen = new Uint32Array(HEADER_WORDS);
  let first = true;
  return {
    changed() {
      if (words === null) return true;
      let changed = first;
      first = false;
      for (let i = 0; i < HEADER_WORDS; i++) {
        const w = words[i];
        if (w !== seen[i]) {
          seen[i] = w;
          changed = true;
        }
      }
      return changed;
    },
    close() {
      words = null;
    },
  };
}
