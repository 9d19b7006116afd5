//! The deterministic batches of the crash test, shared by the writer
//! process (`eloqstore-crash-writer`) and the test that verifies what
//! survived a kill.

use eloqstore::{TableIdent, WriteDataEntry, WriteOp};

/// Partitions the batches rotate over.
pub const PARTITIONS: u32 = 2;
const SHARED_KEYS: u64 = 4000;

/// The partition batch `n` goes to.
pub fn partition(n: u64) -> TableIdent {
    TableIdent::new("crash", (n % PARTITIONS as u64) as u32)
}

/// The marker key batch `n` writes, proving it is durable.
pub fn marker(n: u64) -> Vec<u8> {
    format!("m{n:010}").into_bytes()
}

/// A small deterministic generator (SplitMix64).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Batch `n`: its marker plus upserts and deletes of shared keys, some
/// values large enough for overflow pages. Sorted, unique keys, ts = n + 1.
pub fn batch(n: u64) -> Vec<WriteDataEntry> {
    let mut g = Gen(n.wrapping_mul(0x1234_5678_9abc_def1) ^ 0x5eed);
    let ts = n + 1;
    let mut out = std::collections::BTreeMap::new();
    out.insert(
        marker(n),
        WriteDataEntry::upsert(marker(n), n.to_string().into_bytes(), ts),
    );
    for _ in 0..(20 + g.below(150)) {
        let j = g.below(SHARED_KEYS);
        let key = format!("s{j:06}").into_bytes();
        let e = if g.below(10) == 0 {
            WriteDataEntry::delete(key.clone(), ts)
        } else {
            let len = if g.below(60) == 0 {
                6000 + g.below(20_000)
            } else {
                g.below(300)
            } as usize;
            let mut v = format!("{n}:{j}:").into_bytes();
            v.resize(len.max(v.len()), b'a' + (n % 26) as u8);
            WriteDataEntry::new(key.clone(), v, ts, WriteOp::Upsert, 0)
        };
        out.insert(key, e);
    }
    out.into_values().collect()
}
