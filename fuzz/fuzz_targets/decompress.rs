//! Value decompression, with and without a dictionary. The first byte
//! picks:
//! - 0: the rest is a stored standalone-compressed value;
//! - 1: `u16 n`, `n` dictionary bytes (the fixture's trained dictionary in
//!   the corpus), then a stored dictionary-compressed value;
//! - 2: `u16 n`, `n` dictionary bytes (none if 0), then a value that is
//!   compressed as the writer would and must decompress to itself.
//!
//! A stored value decompresses to exactly the length it records, or fails
//! with `Corrupted`; a dictionary value without a dictionary is `Corrupted`.
#![no_main]

use eloqstore::KvError;
use eloqstore::internals::format::coding::get_varint32;
use eloqstore::internals::format::compression::{Dictionary, ValueCodec};
use eloqstore::internals::format::data_page::Compression;
use libfuzzer_sys::fuzz_target;

fn check(got: eloqstore::Result<Vec<u8>>, stored: &[u8]) {
    match got {
        Ok(v) => {
            let mut cur = stored;
            let len = get_varint32(&mut cur).expect("a decoded value has a length");
            assert_eq!(v.len(), len as usize);
        }
        Err(e) => assert_eq!(e.code(), KvError::Corrupted, "{e}"),
    }
}

/// Splits `u16 n`, `n` bytes, rest.
fn split_dict(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = u16::from_le_bytes([*data.first()?, *data.get(1)?]) as usize;
    let dict = data.get(2..2 + n)?;
    Some((dict, &data[2 + n..]))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut codec = ValueCodec::new();
    match mode % 3 {
        0 => {
            check(codec.decompress(rest, Compression::Standalone, None), rest);
            assert_eq!(
                codec
                    .decompress(rest, Compression::None, None)
                    .expect("raw"),
                rest
            );
            let e = codec
                .decompress(rest, Compression::Dictionary, None)
                .expect_err("dictionary value without a dictionary");
            assert_eq!(e.code(), KvError::Corrupted);
        }
        1 => {
            let Some((dict, stored)) = split_dict(rest) else {
                return;
            };
            match Dictionary::new(dict.to_vec()) {
                Ok(d) => {
                    check(
                        codec.decompress(stored, Compression::Dictionary, Some(&d)),
                        stored,
                    );
                    // The same contexts keep working after a failure.
                    check(
                        codec.decompress(stored, Compression::Standalone, Some(&d)),
                        stored,
                    );
                }
                Err(e) => assert_eq!(e.code(), KvError::Corrupted),
            }
        }
        _ => {
            let Some((dict, value)) = split_dict(rest) else {
                return;
            };
            let dict = if dict.is_empty() {
                None
            } else {
                match Dictionary::new(dict.to_vec()) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        assert_eq!(e.code(), KvError::Corrupted);
                        return;
                    }
                }
            };
            let (stored, kind) = codec.prepare(value, dict.as_ref());
            if kind == Compression::None {
                assert_eq!(&stored[..], value);
            } else {
                assert!(stored.len() < value.len() + 5);
            }
            let back = codec
                .decompress(&stored, kind, dict.as_ref())
                .expect("a value the writer compressed decompresses");
            assert!(back == value, "round trip changed the value");
        }
    }
});
