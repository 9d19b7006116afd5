//! Value compression, as upstream stores it: zstd level 3, the stored value
//! is `varint32(original_len) ++ zstd frame`, either standalone or with the
//! partition's dictionary (kept in the manifest snapshot).

use std::borrow::Cow;

use rand::seq::IndexedRandom;
use zstd::zstd_safe::{self, CCtx, CDict, DCtx, DDict};

use super::coding::{get_varint32, put_varint32};
use super::data_page::Compression;
use crate::error::{Error, Result};

/// Values shorter than this are never compressed.
pub const SKIP_THRESHOLD: usize = 100;
/// Values longer than this are compressed without the dictionary.
pub const STANDALONE_THRESHOLD: usize = 10 << 20;
/// Size of a trained dictionary as stored (upstream keeps the whole buffer).
pub const DICT_BYTES: usize = 16 * 1024;
/// Sample bytes collected before a dictionary is trained.
pub const SAMPLE_TARGET_BYTES: usize = 100 * DICT_BYTES;
/// Samples wanted for training when the batches offer that many.
pub const MIN_SAMPLES: usize = 5;
const LEVEL: i32 = 3;

/// A zstd dictionary ready for compression and decompression.
pub struct Dictionary {
    bytes: Vec<u8>,
    cdict: CDict<'static>,
    ddict: DDict<'static>,
}

impl Dictionary {
    /// Loads dictionary bytes as found in a manifest snapshot.
    pub fn new(bytes: Vec<u8>) -> Result<Dictionary> {
        let cdict = CDict::try_create(&bytes, LEVEL)
            .ok_or_else(|| Error::corrupted("compression dictionary cannot be loaded"))?;
        let ddict = DDict::try_create(&bytes)
            .ok_or_else(|| Error::corrupted("compression dictionary cannot be loaded"))?;
        Ok(Dictionary {
            bytes,
            cdict,
            ddict,
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dictionary({} bytes)", self.bytes.len())
    }
}

/// Reusable zstd contexts; keep one per thread.
pub struct ValueCodec {
    cctx: CCtx<'static>,
    dctx: DCtx<'static>,
}

impl Default for ValueCodec {
    fn default() -> Self {
        ValueCodec::new()
    }
}

impl ValueCodec {
    pub fn new() -> ValueCodec {
        ValueCodec {
            cctx: CCtx::create(),
            dctx: DCtx::create(),
        }
    }

    fn compress_with(&mut self, value: &[u8], dict: Option<&Dictionary>) -> Option<Vec<u8>> {
        let mut frame = Vec::with_capacity(zstd_safe::compress_bound(value.len()));
        let written = match dict {
            Some(d) => self.cctx.compress_using_cdict(&mut frame, value, &d.cdict),
            None => self.cctx.compress(&mut frame, value, LEVEL),
        }
        .ok()?;
        // Keep compression only when it saves space.
        if written == 0 || written >= value.len() {
            return None;
        }
        let mut out = Vec::with_capacity(5 + written);
        put_varint32(&mut out, value.len() as u32);
        out.extend_from_slice(&frame);
        Some(out)
    }

    /// The bytes to store for a newly written value and how they are
    /// compressed, by upstream's rules: short values stay raw, very long
    /// ones are compressed standalone, others with the dictionary if the
    /// partition has one. Compression that does not shrink is dropped.
    pub fn prepare<'a>(
        &mut self,
        value: &'a [u8],
        dict: Option<&Dictionary>,
    ) -> (Cow<'a, [u8]>, Compression) {
        if value.len() < SKIP_THRESHOLD {
            return (Cow::Borrowed(value), Compression::None);
        }
        if value.len() > STANDALONE_THRESHOLD {
            return match self.compress_with(value, None) {
                Some(c) => (Cow::Owned(c), Compression::Standalone),
                None => (Cow::Borrowed(value), Compression::None),
            };
        }
        match dict.and_then(|d| self.compress_with(value, Some(d))) {
            Some(c) => (Cow::Owned(c), Compression::Dictionary),
            None => (Cow::Borrowed(value), Compression::None),
        }
    }

    /// Restores a stored value. `Corrupted` if the bytes do not decode to
    /// the recorded length, or a dictionary value has no dictionary.
    pub fn decompress(
        &mut self,
        stored: &[u8],
        kind: Compression,
        dict: Option<&Dictionary>,
    ) -> Result<Vec<u8>> {
        let ddict = match (kind, dict) {
            (Compression::None, _) => return Ok(stored.to_vec()),
            (Compression::Standalone, _) => None,
            (Compression::Dictionary, Some(d)) => Some(&d.ddict),
            (Compression::Dictionary, None) => {
                return Err(Error::corrupted(
                    "value is dictionary-compressed but the partition has no dictionary",
                ));
            }
        };
        let bad = |what: &str| Error::corrupted(format!("compressed value: {what}"));
        let mut cur = stored;
        let raw_len = get_varint32(&mut cur).ok_or_else(|| bad("truncated length"))? as usize;
        // Do not trust the length for the allocation: the frame header
        // carries the content size too.
        match zstd_safe::get_frame_content_size(cur) {
            Ok(Some(n)) if n == raw_len as u64 => {}
            Ok(None) if raw_len <= STANDALONE_THRESHOLD * 16 => {}
            _ => return Err(bad("frame size disagrees with the recorded length")),
        }
        let mut out = Vec::with_capacity(raw_len);
        let n = match ddict {
            Some(d) => self.dctx.decompress_using_ddict(&mut out, cur, d),
            None => self.dctx.decompress(&mut out, cur),
        }
        .map_err(|code| bad(zstd_safe::get_error_name(code)))?;
        if n != raw_len {
            return Err(bad("decoded length disagrees with the recorded length"));
        }
        Ok(out)
    }
}

/// Trains a dictionary the way upstream does: into a 16 KiB buffer that is
/// stored whole. Returns an empty dictionary if training fails.
pub fn train_dictionary(samples: &[u8], sizes: &[usize]) -> Vec<u8> {
    match zstd::dict::from_continuous(samples, sizes, DICT_BYTES) {
        Ok(mut d) => {
            d.resize(DICT_BYTES, 0);
            d
        }
        Err(_) => Vec::new(),
    }
}

/// Collects value samples of a partition until a dictionary can be trained.
#[derive(Debug, Default)]
pub struct DictSampler {
    data: Vec<u8>,
    sizes: Vec<usize>,
}

impl DictSampler {
    fn add(&mut self, v: &[u8]) {
        self.data.extend_from_slice(v);
        self.sizes.push(v.len());
    }

    /// Offers the values of a batch about to be written. While the target
    /// is not reached every eligible value is kept; once a batch can reach
    /// it, values are drawn from that batch at random until it is, and the
    /// trained dictionary is returned (possibly empty if training failed).
    pub fn offer<'a>(&mut self, values: impl Iterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
        let eligible: Vec<&[u8]> = values
            .filter(|v| v.len() >= SKIP_THRESHOLD && v.len() <= STANDALONE_THRESHOLD)
            .collect();
        if eligible.is_empty() {
            return None;
        }
        let total: usize = eligible.iter().map(|v| v.len()).sum();
        let remaining = SAMPLE_TARGET_BYTES.saturating_sub(self.data.len());
        if total < remaining {
            for v in eligible {
                self.add(v);
            }
            return None;
        }
        let need_min = self.sizes.len() + eligible.len() >= MIN_SAMPLES;
        let mut rng = rand::rng();
        while self.data.len() < SAMPLE_TARGET_BYTES || (need_min && self.sizes.len() < MIN_SAMPLES)
        {
            let Some(&v) = eligible.choose(&mut rng) else {
                break; // never: `eligible` is not empty
            };
            self.add(v);
        }
        let dict = train_dictionary(&self.data, &self.sizes);
        self.data = Vec::new();
        self.sizes = Vec::new();
        Some(dict)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn text_value(i: usize, len: usize) -> Vec<u8> {
        let words = [
            "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
        ];
        let mut v = Vec::new();
        let mut j = i;
        while v.len() < len {
            v.extend_from_slice(words[j % words.len()].as_bytes());
            v.push(b' ');
            j = j.wrapping_mul(31).wrapping_add(7);
        }
        v.truncate(len);
        v
    }

    #[test]
    fn prepare_rules() {
        let mut c = ValueCodec::new();
        let short = vec![b'a'; 99];
        assert_eq!(c.prepare(&short, None).1, Compression::None);
        let mid = vec![b'a'; 1000];
        // No dictionary yet: stored raw.
        assert_eq!(c.prepare(&mid, None).1, Compression::None);
        let random: Vec<u8> = (0..1000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert_eq!(c.prepare(&random, None).1, Compression::None);
    }

    #[test]
    fn dictionary_roundtrip_and_sampling() {
        let mut sampler = DictSampler::default();
        let values: Vec<Vec<u8>> = (0..3000).map(|i| text_value(i, 600 + i % 400)).collect();
        let mut dict = None;
        for batch in values.chunks(500) {
            if let Some(d) = sampler.offer(batch.iter().map(|v| v.as_slice())) {
                dict = Some(d);
                break;
            }
        }
        let dict = dict.expect("enough samples to train");
        assert_eq!(dict.len(), DICT_BYTES);
        let dict = Dictionary::new(dict).unwrap();
        let mut c = ValueCodec::new();
        for v in values.iter().take(50) {
            let (stored, kind) = c.prepare(v, Some(&dict));
            assert_eq!(kind, Compression::Dictionary);
            assert!(stored.len() < v.len());
            assert_eq!(c.decompress(&stored, kind, Some(&dict)).unwrap(), *v);
            assert!(c.decompress(&stored, kind, None).is_err());
            let mut broken = stored.to_vec();
            let last = broken.len() - 1;
            broken[last] ^= 0x55;
            assert!(c.decompress(&broken, kind, Some(&dict)).is_err());
        }
    }

    #[test]
    fn standalone_roundtrip_and_garbage() {
        let mut c = ValueCodec::new();
        let v = text_value(3, STANDALONE_THRESHOLD + 1);
        let (stored, kind) = c.prepare(&v, None);
        assert_eq!(kind, Compression::Standalone);
        assert_eq!(c.decompress(&stored, kind, None).unwrap(), v);
        assert!(
            c.decompress(
                &[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2],
                Compression::Standalone,
                None
            )
            .is_err()
        );
        assert!(c.decompress(&[], Compression::Standalone, None).is_err());
    }
}
