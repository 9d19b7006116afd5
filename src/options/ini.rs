//! Loading [`KvOptions`] from an INI file, as upstream's
//! `KvOptions::LoadFromIni`.
//!
//! # Syntax (upstream parses with inih's `INIReader`, default build flags)
//!
//! * Lines end at `\n`; surrounding whitespace (C `isspace`, so a trailing
//!   `\r` too) is ignored. A UTF-8 byte order mark on line 1 is skipped.
//! * A line starting with `;` or `#` is a comment, as is a blank line. An
//!   inline comment starts at a `;` preceded by whitespace (`a = b;c` keeps
//!   `b;c`; `#` is never an inline comment).
//! * `[name]` starts a section (text after the `]` is ignored; the name is
//!   taken verbatim, so `[ run ]` is the section ` run `).
//! * `name = value` or `name : value`, split at whichever of `=` and `:`
//!   comes first; name and value are trimmed.
//! * Section and key names are case-insensitive.
//! * An indented non-comment line following a `name = value` line (even
//!   across blank or comment lines, but not across a section header)
//!   continues that value: it is appended after a `\n`. A repeated key is
//!   joined the same way.
//! * Any other line is an error reported by its 1-based line number.
//!
//! # Semantics kept from upstream
//!
//! * Error codes: -1 the file cannot be opened, -2 `[run]` or `[permanent]` is
//!   missing (a section counts only if it holds at least one key, as
//!   `INIReader::HasSection` sees it), N > 0 the line at fault.
//! * Only keys present overwrite fields; everything else keeps its value.
//! * Integers are read like C's `strtoul(.., 0)`: decimal, `0x` hex, or octal
//!   with a leading `0`. Booleans are `true/yes/on/1` or `false/no/off/0`, in
//!   any case.
//! * `buffer_pool_size`, `root_meta_cache_size`, `data_page_size` and
//!   `data_file_size` are decimal sizes with an optional `KB`, `MB`, `GB` or
//!   `TB` suffix (binary multiples, any case, spaces allowed before the
//!   suffix). `local_space_limit` is a plain integer.
//! * `data_page_size = 0` means 4 KiB and `data_file_size = 0` means 8 MiB.
//! * `data_page_size` is applied before `data_file_size`, which sets
//!   `pages_per_file_shift = floor(log2(data_file_size / data_page_size))`,
//!   0 when the file is smaller than a page (a warning is logged when
//!   rounding).
//! * `store_path` is split at every `:` and every space; consecutive
//!   separators give empty entries (`a::b` is `["a", "", "b"]`, and an empty
//!   value is `[""]`, not an in-memory store).
//!
//! # Deliberate differences from upstream
//!
//! * (a) An unknown section, an unknown key, or a key before any section is
//!   an error naming it, with its line number as the code (upstream ignores
//!   them silently, so a typo loses a setting).
//! * (b) A value that does not parse, or does not fit the field's type, is an
//!   error naming the key and the value, with the key's line as the code
//!   (upstream falls back to a default, stops at the first bad character or
//!   truncates; `strtoul` even accepts `-1`). This includes a repeated key
//!   whose joined value is no longer a number.
//! * (c) Two extra keys, carried by the project's fixture files, are read:
//!   `[run] enable_compression` (boolean) and `[permanent]
//!   pages_per_file_shift` (integer). When `data_file_size` is present too,
//!   both must give the same shift.
//! * (d) Loading is all-or-nothing: on any error the options are unchanged
//!   (upstream has already applied `[run]` when it reports a missing
//!   `[permanent]`).
//! * (e) Lines may be of any length (inih's stack buffer holds 199 bytes per
//!   line), and a file must be UTF-8 (else the first bad line is the error).
//! * (f) Only a regular file of at most [`MAX_INI_BYTES`] is read; anything
//!   else (a device such as `/dev/zero`, a FIFO, a directory, a larger file)
//!   is refused with code -1 and `InvalidArgs` (upstream reads `/dev/zero`
//!   forever, blocks on a FIFO nobody writes, and reads a directory as an
//!   empty file).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use super::table::{INI_FIELD_KEYS, apply_ini_section};
use super::{KvOptions, MB};
use crate::error::{Error, KvError};

const RUN: &str = "run";
const PERMANENT: &str = "permanent";

/// INI keys that are no field: `[permanent] data_file_size` sets
/// `pages_per_file_shift`.
const EXTRA_KEYS: &[(&str, &str)] = &[(PERMANENT, "data_file_size")];

/// Every key of `section` (each field's from the options table, then the
/// extra ones); `None` for an unknown section.
fn section_keys(section: &str) -> Option<impl Iterator<Item = &'static str> + Clone> {
    (section == RUN || section == PERMANENT).then(|| {
        INI_FIELD_KEYS
            .iter()
            .chain(EXTRA_KEYS)
            .filter(move |(s, _)| *s == section)
            .map(|&(_, k)| k)
    })
}

/// The largest options file read: 1 MiB. Every key upstream knows fits in
/// a few KiB with comments, so a larger file is not an options file; the
/// bound keeps a wrong path from filling memory.
pub const MAX_INI_BYTES: u64 = 1 << 20;

/// Why an INI file could not be loaded. `code` is what upstream's
/// `LoadFromIni` would return: -1 the file cannot be opened or read (or is
/// refused: not a regular file, or over [`MAX_INI_BYTES`]), -2 a required
/// section is missing, N > 0 the 1-based line at fault. `kind` is the
/// error code a `KvError` caller sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IniError {
    /// Upstream's return code: -1, -2 or the line number.
    pub code: i32,
    /// The error code for callers that see a `KvError`.
    pub kind: KvError,
    /// What is wrong, naming the file, line, section and key.
    pub message: String,
}

impl IniError {
    /// Code: the file cannot be opened or read.
    pub const CANNOT_OPEN: i32 = -1;
    /// Code: `[run]` or `[permanent]` is missing.
    pub const MISSING_SECTION: i32 = -2;

    fn at_line(line: usize, message: impl fmt::Display) -> IniError {
        IniError {
            code: i32::try_from(line).unwrap_or(i32::MAX),
            kind: KvError::InvalidArgs,
            message: format!("line {line}: {message}"),
        }
    }

    fn missing_section(section: &str) -> IniError {
        IniError {
            code: IniError::MISSING_SECTION,
            kind: KvError::InvalidArgs,
            message: format!("missing section [{section}] (or it holds no key)"),
        }
    }

    fn in_file(self, path: &Path) -> IniError {
        IniError {
            code: self.code,
            kind: self.kind,
            message: format!("{}: {}", path.display(), self.message),
        }
    }
}

impl fmt::Display for IniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for IniError {}

impl From<IniError> for Error {
    fn from(e: IniError) -> Error {
        Error::new(e.kind, e.message)
    }
}

impl KvOptions {
    /// Defaults overwritten by the keys of the INI file at `path`.
    pub fn from_ini_file(path: impl AsRef<Path>) -> Result<KvOptions, IniError> {
        let mut options = KvOptions::default();
        options.load_from_ini(path)?;
        Ok(options)
    }

    /// Upstream's `LoadFromIni`: overwrites the fields whose keys appear in
    /// the file. On error `self` is unchanged.
    pub fn load_from_ini(&mut self, path: impl AsRef<Path>) -> Result<(), IniError> {
        let path = path.as_ref();
        let bytes = read_options_file(path)?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let valid = &bytes[..e.valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            IniError::at_line(line, "not valid UTF-8").in_file(path)
        })?;
        self.load_from_ini_str(text).map_err(|e| e.in_file(path))
    }

    /// [`KvOptions::load_from_ini`] on the text of a file.
    pub fn load_from_ini_str(&mut self, text: &str) -> Result<(), IniError> {
        let mut doc = Document::parse(text)?;
        let mut next = self.clone();
        apply(&mut doc, &mut next)?;
        debug_assert!(doc.entries.is_empty(), "keys left unapplied: {doc:?}");
        *self = next;
        Ok(())
    }
}

/// The bytes of an options file: a regular file of at most
/// [`MAX_INI_BYTES`]. The file is opened non-blocking (opening a FIFO
/// nobody writes would otherwise wait forever) and checked on the open
/// descriptor, so it cannot be swapped between the check and the read; the
/// read itself stops past the limit (a file may grow, and procfs files
/// report size 0).
fn read_options_file(path: &Path) -> Result<Vec<u8>, IniError> {
    let cannot_read = |e: std::io::Error| {
        let message = format!("cannot read {}: {e}", path.display());
        IniError {
            code: IniError::CANNOT_OPEN,
            kind: Error::from_io(e, "").code(),
            message,
        }
    };
    let refused = |why: String| IniError {
        code: IniError::CANNOT_OPEN,
        kind: KvError::InvalidArgs,
        message: format!(
            "{}: {why}; an options file must be a regular file of at most {MAX_INI_BYTES} bytes",
            path.display()
        ),
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(cannot_read)?;
    let meta = file.metadata().map_err(cannot_read)?;
    let ty = meta.file_type();
    if !ty.is_file() {
        let what = if ty.is_dir() {
            "a directory"
        } else if ty.is_fifo() {
            "a FIFO"
        } else if ty.is_char_device() {
            "a character device"
        } else if ty.is_block_device() {
            "a block device"
        } else if ty.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(refused(format!("is {what}")));
    }
    if meta.len() > MAX_INI_BYTES {
        return Err(refused(format!("is {} bytes", meta.len())));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_INI_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_INI_BYTES {
        return Err(refused(format!("holds more than {MAX_INI_BYTES} bytes")));
    }
    Ok(bytes)
}

/// C's `isspace` in the "C" locale.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

fn trim_c(s: &str) -> &str {
    s.trim_matches(is_c_space)
}

/// Byte index of the first of `stops`, or of an inline comment (a `;` right
/// after whitespace), or `s.len()`.
fn find_stop_or_comment(s: &str, stops: &[u8]) -> usize {
    let mut after_space = false;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if stops.contains(&b) || (after_space && b == b';') {
            return i;
        }
        after_space = is_c_space(b as char);
    }
    s.len()
}

/// A value and the lines it was assembled from.
#[derive(Debug)]
struct Entry {
    value: String,
    lines: Vec<usize>,
}

/// The parsed file: values keyed by lower-cased (section, key).
#[derive(Debug, Default)]
struct Document {
    entries: BTreeMap<(String, String), Entry>,
}

impl Document {
    fn parse(text: &str) -> Result<Document, IniError> {
        let mut doc = Document::default();
        // Lower-cased current section, and the last key seen in it (for
        // continuation lines); both as inih tracks them.
        let mut section = String::new();
        let mut prev_name = String::new();
        for (index, raw) in text.split('\n').enumerate() {
            let lineno = index + 1;
            let line = if index == 0 {
                raw.strip_prefix('\u{feff}').unwrap_or(raw)
            } else {
                raw
            };
            let start = trim_c(line);
            // inih's `start > line`: leading whitespace, or a skipped BOM.
            let indented = line.len() < raw.len() || line.starts_with(is_c_space);
            if start.is_empty() || start.starts_with([';', '#']) {
                continue;
            }
            if !prev_name.is_empty() && indented {
                let end = find_stop_or_comment(start, b"");
                let value = start[..end].trim_end_matches(is_c_space);
                doc.add(&section, &prev_name, value, lineno)?;
            } else if let Some(rest) = start.strip_prefix('[') {
                let end = find_stop_or_comment(rest, b"]");
                if rest.as_bytes().get(end) != Some(&b']') {
                    return Err(IniError::at_line(
                        lineno,
                        format!("section header {start:?} lacks its closing ']'"),
                    ));
                }
                section = rest[..end].to_ascii_lowercase();
                prev_name.clear();
                if section_keys(&section).is_none() {
                    return Err(IniError::at_line(
                        lineno,
                        format!(
                            "unknown section [{}] (expected [{RUN}] or [{PERMANENT}])",
                            &rest[..end]
                        ),
                    ));
                }
            } else {
                let end = find_stop_or_comment(start, b"=:");
                if !matches!(start.as_bytes().get(end), Some(b'=' | b':')) {
                    return Err(IniError::at_line(
                        lineno,
                        format!(
                            "{start:?} is neither `name = value`, a [section] header nor a comment"
                        ),
                    ));
                }
                let name = start[..end].trim_end_matches(is_c_space);
                let rest = &start[end + 1..];
                let value = trim_c(&rest[..find_stop_or_comment(rest, b"")]);
                prev_name = name.to_ascii_lowercase();
                doc.add(&section, &prev_name, value, lineno)?;
            }
        }
        Ok(doc)
    }

    /// inih's handler: store the value, or append it to an earlier one.
    fn add(&mut self, section: &str, name: &str, value: &str, line: usize) -> Result<(), IniError> {
        let Some(keys) = section_keys(section) else {
            // Only reachable before the first section header.
            return Err(IniError::at_line(
                line,
                format!("key `{name}` outside any section"),
            ));
        };
        if !keys.clone().any(|k| k == name) {
            return Err(IniError::at_line(
                line,
                format!("unknown key `{name}` in section [{section}]"),
            ));
        }
        let entry = self
            .entries
            .entry((section.to_owned(), name.to_owned()))
            .or_insert_with(|| Entry {
                value: String::new(),
                lines: Vec::new(),
            });
        if !entry.value.is_empty() {
            entry.value.push('\n');
        }
        entry.value.push_str(value);
        entry.lines.push(line);
        Ok(())
    }

    fn has_section(&self, section: &str) -> bool {
        self.entries.keys().any(|(s, _)| s == section)
    }
}

/// Integer field types an INI value may be read into.
pub(super) trait IniUint: Copy + TryFrom<u64> {
    const MAX: u64;
}

macro_rules! ini_uint {
    ($($t:ty),*) => {$(
        impl IniUint for $t {
            const MAX: u64 = <$t>::MAX as u64;
        }
    )*};
}
ini_uint!(u8, u16, u32, u64, usize);

/// Keys of one section, removed from the document as they are applied.
pub(super) struct Section<'a> {
    doc: &'a mut Document,
    name: &'static str,
}

impl Section<'_> {
    /// The section's name.
    pub(super) fn name(&self) -> &str {
        self.name
    }

    fn take(&mut self, key: &str) -> Option<Entry> {
        debug_assert!(section_keys(self.name).unwrap().any(|k| k == key));
        self.doc
            .entries
            .remove(&(self.name.to_owned(), key.to_owned()))
    }

    fn bad_value(&self, key: &str, entry: &Entry, why: impl fmt::Display) -> IniError {
        let mut message = format!(
            "invalid value {:?} for [{}] {key}: {why}",
            entry.value, self.name
        );
        if entry.lines.len() > 1 {
            let lines: Vec<String> = entry.lines.iter().map(|l| l.to_string()).collect();
            message.push_str(&format!(
                " (joined from lines {}: a repeated key or a continuation line)",
                lines.join(", ")
            ));
        }
        IniError::at_line(entry.lines[0], message)
    }

    fn fit<T: IniUint>(&self, key: &str, entry: &Entry, v: u64) -> Result<T, IniError> {
        T::try_from(v).map_err(|_| self.bad_value(key, entry, format!("larger than {}", T::MAX)))
    }

    pub(super) fn uint<T: IniUint>(&mut self, key: &str, field: &mut T) -> Result<(), IniError> {
        if let Some(entry) = self.take(key) {
            let v = parse_unsigned(&entry.value).map_err(|why| self.bad_value(key, &entry, why))?;
            *field = self.fit(key, &entry, v)?;
        }
        Ok(())
    }

    pub(super) fn size<T: IniUint>(&mut self, key: &str, field: &mut T) -> Result<(), IniError> {
        if let Some(entry) = self.take(key) {
            let v = parse_size(&entry.value).map_err(|why| self.bad_value(key, &entry, why))?;
            *field = self.fit(key, &entry, v)?;
        }
        Ok(())
    }

    pub(super) fn boolean(&mut self, key: &str, field: &mut bool) -> Result<(), IniError> {
        if let Some(entry) = self.take(key) {
            *field = parse_bool(&entry.value).map_err(|why| self.bad_value(key, &entry, why))?;
        }
        Ok(())
    }

    pub(super) fn string(&mut self, key: &str, field: &mut String) -> Result<(), IniError> {
        if let Some(entry) = self.take(key) {
            *field = entry.value;
        }
        Ok(())
    }
}

/// C's `strtoul(s, _, 0)`, but the whole value must be the number.
fn parse_unsigned(s: &str) -> Result<u64, String> {
    const WHAT: &str = "not an unsigned integer (decimal, 0x hex or 0-prefixed octal)";
    let body = s.strip_prefix('+').unwrap_or(s);
    let (digits, radix) = if let Some(hex) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (hex, 16)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8)
    } else {
        (body, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(WHAT.to_owned());
    }
    u64::from_str_radix(digits, radix).map_err(|_| "larger than 2^64 - 1".to_owned())
}

/// inih's `GetBoolean`, without its fallback.
fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err("not a boolean (true/yes/on/1 or false/no/off/0)".to_owned()),
    }
}

/// Upstream's `ParseSizeWithUnit`: decimal digits and an optional binary
/// `KB|MB|GB|TB` suffix, without its fallback to 0.
fn parse_size(s: &str) -> Result<u64, String> {
    const WHAT: &str = "not a size (decimal digits with an optional KB, MB, GB or TB suffix)";
    let s = trim_c(s);
    let b = s.as_bytes();
    let mut number = s;
    let mut multiplier = 1u64;
    if b.len() >= 2 && b[b.len() - 1].eq_ignore_ascii_case(&b'B') {
        let shift = match b[b.len() - 2].to_ascii_uppercase() {
            b'K' => Some(10),
            b'M' => Some(20),
            b'G' => Some(30),
            b'T' => Some(40),
            _ => None,
        };
        if let Some(shift) = shift {
            multiplier = 1 << shift;
            number = s[..s.len() - 2].trim_end_matches(is_c_space);
        }
    }
    if number.is_empty() || !number.bytes().all(|c| c.is_ascii_digit()) {
        return Err(WHAT.to_owned());
    }
    number
        .parse::<u64>()
        .ok()
        .and_then(|v| v.checked_mul(multiplier))
        .ok_or_else(|| "larger than 2^64 - 1 bytes".to_owned())
}

/// `floor(log2(file_size / page_size))`, 0 when the file is smaller than a
/// page; `page_size` is not zero.
fn shift_for_file_size(file_size: u32, page_size: u16) -> u8 {
    let pages = file_size / u32::from(page_size);
    if pages == 0 {
        log::warn!(
            "data_file_size {file_size} is smaller than data_page_size {page_size}, using one page per file"
        );
        return 0;
    }
    let shift = (u32::BITS - 1 - pages.leading_zeros()) as u8;
    if !pages.is_power_of_two() {
        log::warn!(
            "data_file_size {file_size} is not a power-of-two multiple of data_page_size {page_size}, rounding down to {} bytes",
            (u64::from(page_size)) << shift
        );
    }
    shift
}

/// Applies the document to `o`, in upstream's order.
fn apply(doc: &mut Document, o: &mut KvOptions) -> Result<(), IniError> {
    if !doc.has_section(RUN) {
        return Err(IniError::missing_section(RUN));
    }
    let mut run = Section {
        doc: &mut *doc,
        name: RUN,
    };
    apply_ini_section(&mut run, o)?;

    if !doc.has_section(PERMANENT) {
        return Err(IniError::missing_section(PERMANENT));
    }
    let mut perm = Section {
        doc,
        name: PERMANENT,
    };
    apply_ini_section(&mut perm, o)?;
    // The `custom` keys of the options table.
    if let Some(entry) = perm.take("store_path") {
        o.store_path = entry.value.split([':', ' ']).map(str::to_owned).collect();
    }
    if let Some(entry) = perm.take("data_page_size") {
        let key = "data_page_size";
        let v = parse_size(&entry.value).map_err(|why| perm.bad_value(key, &entry, why))?;
        // Upstream: zero means the default 4 KiB.
        o.data_page_size = if v == 0 {
            4096
        } else {
            perm.fit(key, &entry, v)?
        };
    }
    let derived_shift = match perm.take("data_file_size") {
        Some(entry) => {
            let key = "data_file_size";
            let v = parse_size(&entry.value).map_err(|why| perm.bad_value(key, &entry, why))?;
            // Upstream: zero means the default 8 MiB; it holds the size in
            // 32 bits.
            let size: u32 = if v == 0 {
                (8 * MB) as u32
            } else {
                perm.fit(key, &entry, v)?
            };
            if o.data_page_size == 0 {
                return Err(perm.bad_value(key, &entry, "data_page_size is 0"));
            }
            Some((shift_for_file_size(size, o.data_page_size), entry))
        }
        None => None,
    };
    let mut explicit_shift = None;
    if let Some(entry) = perm.take("pages_per_file_shift") {
        let key = "pages_per_file_shift";
        let v = parse_unsigned(&entry.value).map_err(|why| perm.bad_value(key, &entry, why))?;
        explicit_shift = Some((perm.fit::<u8>(key, &entry, v)?, entry));
    }
    match (derived_shift, explicit_shift) {
        (Some((derived, file_entry)), Some((explicit, shift_entry))) => {
            if derived != explicit {
                return Err(IniError::at_line(
                    shift_entry.lines[0],
                    format!(
                        "[{PERMANENT}] pages_per_file_shift = {explicit} contradicts data_file_size = {} \
                         (line {}), which gives shift {derived} with data_page_size {}",
                        file_entry.value, file_entry.lines[0], o.data_page_size
                    ),
                ));
            }
            o.pages_per_file_shift = derived;
        }
        (Some((shift, _)), None) | (None, Some((shift, _))) => o.pages_per_file_shift = shift,
        (None, None) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn load(text: &str) -> Result<KvOptions, IniError> {
        let mut o = KvOptions::default();
        o.load_from_ini_str(text).map(|()| o)
    }

    /// Loads `[run] <run>` and `[permanent] <perm>`.
    fn load2(run: &str, perm: &str) -> Result<KvOptions, IniError> {
        load(&format!("[run]\n{run}\n[permanent]\n{perm}\n"))
    }

    fn run_value(key: &str, value: &str) -> Result<KvOptions, IniError> {
        load2(&format!("{key} = {value}"), "data_append_mode = false")
    }

    fn perm_value(key: &str, value: &str) -> Result<KvOptions, IniError> {
        load2("num_threads = 1", &format!("{key} = {value}"))
    }

    fn assert_err(r: Result<KvOptions, IniError>, code: i32, needles: &[&str]) {
        let e = r.expect_err("expected an error");
        assert_eq!(e.code, code, "{e}");
        for n in needles {
            assert!(e.message.contains(n), "{:?} lacks {n:?}", e.message);
        }
    }

    const EVERY_KEY: &str = "\
[run]
num_threads = 7
data_page_restart_interval = 9
index_page_restart_interval = 10
init_page_count = 1000
skip_verify_checksum = true
buffer_pool_size = 64MB
root_meta_cache_size = 2GB
manifest_limit = 1048576
fd_limit = 2048
io_queue_size = 512
max_inflight_write = 100
max_write_batch_pages = 32
buf_ring_size = 1024
coroutine_stack_size = 65536
num_retained_archives = 4
archive_interval_secs = 3600
max_archive_tasks = 12
file_amplify_factor = 5
local_space_limit = 1000000
reserve_space_ratio = 50
max_upload_batch = 6
max_cloud_concurrency = 30
cloud_request_threads = 2
direct_io_buffer_pool_size = 8
allow_reuse_local_caches = yes
prewarm_cloud_cache = on
prewarm_task_count = 5
enable_compression = true

[permanent]
store_path = /a:/b
cloud_store_path = bucket/pre
cloud_provider = gcs
cloud_endpoint = http://localhost:9000
cloud_region = eu-west-1
cloud_access_key = ak
cloud_secret_key = sk
cloud_verify_ssl = true
data_page_size = 8KB
data_file_size = 64MB
pages_per_file_shift = 13
overflow_pointers = 64
data_append_mode = true
";

    #[test]
    fn every_key_of_every_section() {
        // The text above names every key the loader knows.
        for key in section_keys(RUN)
            .unwrap()
            .chain(section_keys(PERMANENT).unwrap())
        {
            assert!(
                EVERY_KEY.contains(&format!("\n{key} = ")),
                "{key} missing from the test"
            );
        }
        let o = load(EVERY_KEY).unwrap();
        assert_eq!(o.num_threads, 7);
        assert_eq!(o.data_page_restart_interval, 9);
        assert_eq!(o.index_page_restart_interval, 10);
        assert_eq!(o.init_page_count, 1000);
        assert!(o.skip_verify_checksum);
        assert_eq!(o.buffer_pool_size, 64 << 20);
        assert_eq!(o.root_meta_cache_size, 2 << 30);
        assert_eq!(o.manifest_limit, 1 << 20);
        assert_eq!(o.fd_limit, 2048);
        assert_eq!(o.io_queue_size, 512);
        assert_eq!(o.max_inflight_write, 100);
        assert_eq!(o.max_write_batch_pages, 32);
        assert_eq!(o.buf_ring_size, 1024);
        assert_eq!(o.coroutine_stack_size, 65536);
        assert_eq!(o.num_retained_archives, 4);
        assert_eq!(o.archive_interval_secs, 3600);
        assert_eq!(o.max_archive_tasks, 12);
        assert_eq!(o.file_amplify_factor, 5);
        assert_eq!(o.local_space_limit, 1_000_000);
        assert_eq!(o.reserve_space_ratio, 50);
        assert_eq!(o.max_upload_batch, 6);
        assert_eq!(o.max_cloud_concurrency, 30);
        assert_eq!(o.cloud_request_threads, 2);
        assert_eq!(o.direct_io_buffer_pool_size, 8);
        assert!(o.allow_reuse_local_caches);
        assert!(o.prewarm_cloud_cache);
        assert_eq!(o.prewarm_task_count, 5);
        assert!(o.enable_compression);
        assert_eq!(o.store_path, ["/a", "/b"]);
        assert_eq!(o.cloud_store_path, "bucket/pre");
        assert_eq!(o.cloud_provider, "gcs");
        assert_eq!(o.cloud_endpoint, "http://localhost:9000");
        assert_eq!(o.cloud_region, "eu-west-1");
        assert_eq!(o.cloud_access_key, "ak");
        assert_eq!(o.cloud_secret_key, "sk");
        assert!(o.cloud_verify_ssl);
        assert_eq!(o.data_page_size, 8192);
        assert_eq!(o.pages_per_file_shift, 13);
        assert_eq!(o.data_file_size(), 64 << 20);
        assert_eq!(o.overflow_pointers, 64);
        assert!(o.data_append_mode);
        // Fields the INI cannot set keep their values.
        assert_eq!(o.mapping_arena_size, 128);
        assert!(o.partition_filter.is_none());
    }

    #[test]
    fn only_present_keys_overwrite() {
        let mut o = KvOptions {
            fd_limit: 77,
            store_path: vec!["/keep".into()],
            pages_per_file_shift: 5,
            enable_compression: true,
            ..KvOptions::default()
        };
        let before = o.clone();
        o.load_from_ini_str("[run]\nnum_threads = 3\n[permanent]\noverflow_pointers = 8\n")
            .unwrap();
        let expected = KvOptions {
            num_threads: 3,
            overflow_pointers: 8,
            ..before
        };
        assert_eq!(o, expected);
        assert!(o.enable_compression);
        assert_eq!(o.pages_per_file_shift, 5);
    }

    #[test]
    fn size_units() {
        for (text, bytes) in [
            ("123", 123u64),
            ("4KB", 4 << 10),
            ("4kb", 4 << 10),
            ("4 Kb", 4 << 10),
            ("  16 mB  ", 16 << 20),
            ("3GB", 3 << 30),
            ("2TB", 2 << 40),
            ("0", 0),
            ("007MB", 7 << 20),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
            let o = run_value("buffer_pool_size", text).unwrap();
            assert_eq!(o.buffer_pool_size, bytes, "{text}");
            let o = run_value("root_meta_cache_size", text).unwrap();
            assert_eq!(o.root_meta_cache_size, bytes, "{text}");
        }
        for bad in [
            "",
            "KB",
            "4K",
            "4 B",
            "0x10",
            "-1",
            "+1",
            "1.5MB",
            "4KB4",
            "20000000TB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert_err(
            run_value("buffer_pool_size", "lots"),
            2,
            &["buffer_pool_size", "\"lots\""],
        );
        assert_err(
            run_value("root_meta_cache_size", "99999999999TB"),
            2,
            &["root_meta_cache_size", "99999999999TB"],
        );
    }

    #[test]
    fn unsigned_forms_and_ranges() {
        for (text, v) in [
            ("0", 0u64),
            ("42", 42),
            ("+42", 42),
            ("0x1F", 31),
            ("0X1f", 31),
            ("010", 8),
            ("0777", 511),
            ("18446744073709551615", u64::MAX),
        ] {
            assert_eq!(parse_unsigned(text), Ok(v), "{text}");
        }
        for bad in [
            "",
            "-1",
            "09",
            "0x",
            "12abc",
            "1 2",
            "0x1g",
            "1.0",
            "18446744073709551616",
        ] {
            assert!(parse_unsigned(bad).is_err(), "{bad:?}");
        }
        assert_eq!(run_value("fd_limit", "0x800").unwrap().fd_limit, 2048);
        assert_eq!(run_value("fd_limit", "0100").unwrap().fd_limit, 64);
        // Out of range for the field's type.
        assert_err(
            run_value("num_threads", "65536"),
            2,
            &["num_threads", "65536", "65535"],
        );
        assert_err(
            run_value("file_amplify_factor", "256"),
            2,
            &["file_amplify_factor", "255"],
        );
        assert_err(
            run_value("fd_limit", "0x100000000"),
            2,
            &["fd_limit", "0x100000000"],
        );
        assert_err(run_value("fd_limit", "-1"), 2, &["fd_limit", "-1"]);
        assert_err(run_value("fd_limit", ""), 2, &["fd_limit", "\"\""]);
        // local_space_limit is a plain integer, no units.
        assert_eq!(
            run_value("local_space_limit", "0x100")
                .unwrap()
                .local_space_limit,
            256
        );
        assert_err(
            run_value("local_space_limit", "1KB"),
            2,
            &["local_space_limit", "1KB"],
        );
    }

    #[test]
    fn booleans() {
        for t in ["true", "TRUE", "Yes", "on", "1"] {
            assert!(
                run_value("skip_verify_checksum", t)
                    .unwrap()
                    .skip_verify_checksum
            );
            assert!(perm_value("data_append_mode", t).unwrap().data_append_mode);
        }
        for f in ["false", "False", "NO", "Off", "0"] {
            let mut o = KvOptions {
                cloud_verify_ssl: true,
                ..KvOptions::default()
            };
            o.load_from_ini_str(&format!(
                "[run]\nnum_threads=1\n[permanent]\ncloud_verify_ssl = {f}"
            ))
            .unwrap();
            assert!(!o.cloud_verify_ssl, "{f}");
        }
        for bad in ["", "2", "y", "truthy", "enabled"] {
            assert_err(
                run_value("prewarm_cloud_cache", bad),
                2,
                &["prewarm_cloud_cache", "boolean"],
            );
        }
    }

    #[test]
    fn store_path_splitting() {
        for (text, parts) in [
            ("/data", vec!["/data"]),
            ("a:b c", vec!["a", "b", "c"]),
            ("a::b", vec!["a", "", "b"]),
            ("a  b", vec!["a", "", "b"]),
            (":a", vec!["", "a"]),
            ("a:", vec!["a", ""]),
            ("", vec![""]),
        ] {
            let o = perm_value("store_path", text).unwrap();
            assert_eq!(o.store_path, parts, "{text:?}");
        }
    }

    #[test]
    fn data_file_size_gives_the_shift() {
        let shift = |page: &str, file: &str| {
            load2(
                "num_threads = 1",
                &format!("data_page_size = {page}\ndata_file_size = {file}"),
            )
            .unwrap()
            .pages_per_file_shift
        };
        assert_eq!(shift("4KB", "1024KB"), 8);
        assert_eq!(shift("4KB", "8MB"), 11);
        assert_eq!(shift("4KB", "4096KB"), 10);
        assert_eq!(shift("4KB", "12KB"), 1); // 3 pages round down to 2
        assert_eq!(shift("4KB", "1000000"), 7); // 244 pages round down to 128
        assert_eq!(shift("8KB", "4KB"), 0); // smaller than a page
        assert_eq!(shift("4KB", "4KB"), 0);
        assert_eq!(shift("4KB", "2GB"), 19);
        assert_eq!(shift("4KB", "4294967295"), 19); // the largest size
        // Zero means the defaults: 4 KiB pages, 8 MiB files.
        assert_eq!(shift("0", "0"), 11);
        let o = perm_value("data_page_size", "0").unwrap();
        assert_eq!(o.data_page_size, 4096);
        // data_page_size is applied before data_file_size whatever the order
        // in the file.
        let o = load2(
            "num_threads = 1",
            "data_file_size = 64KB\ndata_page_size = 16KB",
        )
        .unwrap();
        assert_eq!((o.data_page_size, o.pages_per_file_shift), (16384, 2));
        // data_file_size alone uses the current page size.
        let mut o = KvOptions {
            data_page_size: 16384,
            ..KvOptions::default()
        };
        o.load_from_ini_str("[run]\nfd_limit=1\n[permanent]\ndata_file_size = 1MB")
            .unwrap();
        assert_eq!(o.pages_per_file_shift, 6);
        // Out of the types upstream holds them in.
        assert_err(
            perm_value("data_page_size", "64KB"),
            4,
            &["data_page_size", "64KB", "65535"],
        );
        assert_err(
            perm_value("data_file_size", "4TB"),
            4,
            &["data_file_size", "4TB", "4294967295"],
        );
        assert_err(
            perm_value("data_file_size", "big"),
            4,
            &["data_file_size", "big"],
        );
    }

    #[test]
    fn explicit_pages_per_file_shift() {
        let o = perm_value("pages_per_file_shift", "12").unwrap();
        assert_eq!(o.pages_per_file_shift, 12);
        let o = load2(
            "num_threads = 1",
            "data_file_size = 1024KB\npages_per_file_shift = 8",
        )
        .unwrap();
        assert_eq!(o.pages_per_file_shift, 8);
        assert_err(
            load2(
                "num_threads = 1",
                "data_file_size = 1024KB\npages_per_file_shift = 9",
            ),
            5,
            &[
                "pages_per_file_shift = 9",
                "data_file_size = 1024KB",
                "(line 4)",
                "shift 8",
            ],
        );
        assert_err(
            perm_value("pages_per_file_shift", "256"),
            4,
            &["pages_per_file_shift", "256"],
        );
    }

    #[test]
    fn enable_compression_key() {
        assert!(
            run_value("enable_compression", "true")
                .unwrap()
                .enable_compression
        );
        let mut o = KvOptions {
            enable_compression: true,
            ..KvOptions::default()
        };
        o.load_from_ini_str("[run]\nenable_compression = off\n[permanent]\nstore_path=x")
            .unwrap();
        assert!(!o.enable_compression);
    }

    #[test]
    fn missing_sections() {
        assert_err(load(""), -2, &["[run]"]);
        assert_err(load("[permanent]\nstore_path = x\n"), -2, &["[run]"]);
        assert_err(load("[run]\nnum_threads = 2\n"), -2, &["[permanent]"]);
        // A section without keys counts as missing, as in INIReader.
        assert_err(load("[run]\n[permanent]\nstore_path = x\n"), -2, &["[run]"]);
        assert_err(
            load("[run]\nnum_threads = 2\n[permanent]\n"),
            -2,
            &["[permanent]"],
        );
        // Nothing is applied when an error is reported.
        let mut o = KvOptions::default();
        let e = o.load_from_ini_str("[run]\nnum_threads = 2\n").unwrap_err();
        assert_eq!(e.code, IniError::MISSING_SECTION);
        assert_eq!(o.num_threads, 1);
        let e = o
            .load_from_ini_str("[run]\nnum_threads = 2\n[permanent]\noverflow_pointers = x\n")
            .unwrap_err();
        assert_eq!(e.code, 4);
        assert_eq!(o.num_threads, 1);
    }

    #[test]
    fn missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.ini");
        let e = KvOptions::from_ini_file(&path).unwrap_err();
        assert_eq!(e.code, -1);
        assert!(e.message.contains("absent.ini"), "{e}");
        let err: Error = e.into();
        assert_eq!(err.code(), KvError::NotFound);
        // A directory is not loaded either.
        assert_eq!(KvOptions::from_ini_file(dir.path()).unwrap_err().code, -1);
    }

    /// Loads `path` on another thread: a regression that blocks (a FIFO)
    /// or reads forever (/dev/zero) fails here instead of hanging the suite.
    fn load_guarded(path: &Path) -> Result<KvOptions, IniError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(KvOptions::from_ini_file(&p));
        });
        rx.recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("loading {} did not return", path.display()))
    }

    fn assert_refused(path: &Path, needle: &str) {
        let e = load_guarded(path).unwrap_err();
        assert_eq!(e.code, IniError::CANNOT_OPEN, "{e}");
        assert_eq!(e.kind, KvError::InvalidArgs, "{e}");
        assert!(e.message.contains(&path.display().to_string()), "{e}");
        assert!(e.message.contains(needle), "{e}");
        assert!(e.message.contains("regular file"), "{e}");
        let err: Error = e.into();
        assert_eq!(err.code(), KvError::InvalidArgs);
    }

    /// Issue 10, defect 7: devices, FIFOs, directories and oversized files
    /// are refused with InvalidArgs instead of being read without bound.
    #[test]
    fn only_small_regular_files_are_read() {
        assert_refused(Path::new("/dev/zero"), "character device");
        let dir = tempfile::tempdir().unwrap();
        assert_refused(dir.path(), "directory");
        // A FIFO nobody writes: opening it for reading would block.
        let fifo = dir.path().join("fifo.ini");
        let st = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(st.success());
        assert_refused(&fifo, "FIFO");
        // One byte over the limit is refused; a file at the limit loads.
        let big = dir.path().join("big.ini");
        let head = "[run]\nnum_threads = 2\n[permanent]\nstore_path = x\n";
        let pad = |total: usize| {
            let mut t = head.to_string();
            t.push_str(&"#".repeat(total - head.len() - 1));
            t.push('\n');
            t
        };
        std::fs::write(&big, pad(MAX_INI_BYTES as usize + 1)).unwrap();
        assert_refused(&big, &format!("{} bytes", MAX_INI_BYTES + 1));
        std::fs::write(&big, pad(MAX_INI_BYTES as usize)).unwrap();
        assert_eq!(load_guarded(&big).unwrap().num_threads, 2);
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.ini");
        std::fs::write(&path, "[run]\nnum_thread = 2\n[permanent]\nstore_path=x\n").unwrap();
        let e = KvOptions::from_ini_file(&path).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(e.message.contains("o.ini"), "{e}");
        assert!(e.message.contains("num_thread"), "{e}");
        let err: Error = e.clone().into();
        assert_eq!(err.code(), KvError::InvalidArgs);
        assert!(err.message().contains("line 2"), "{err}");
        assert_eq!(e.to_string(), e.message);

        std::fs::write(&path, b"[run]\nnum_threads = 2\n; \xff\n").unwrap();
        let e = KvOptions::from_ini_file(&path).unwrap_err();
        assert_eq!(e.code, 3);
        assert!(e.message.contains("UTF-8"), "{e}");

        std::fs::write(&path, "[run]\nnum_threads = 2\n[permanent]\nstore_path=x\n").unwrap();
        let o = KvOptions::from_ini_file(&path).unwrap();
        assert_eq!(
            (o.num_threads, o.store_path.clone()),
            (2, vec!["x".to_owned()])
        );
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_err(
            load("[run]\nnum_threads = 1\n\nnum_treads = 2\n[permanent]\nstore_path=x"),
            4,
            &["line 4", "num_treads", "[run]"],
        );
        assert_err(
            load("[run]\nnum_threads = 1\n[permanent]\nnum_threads = 2"),
            4,
            &["num_threads", "[permanent]"],
        );
        assert_err(
            load("[run]\nnum_threads = 1\n[cloud]\nx = 1\n[permanent]\nstore_path=x"),
            3,
            &["line 3", "[cloud]"],
        );
        // Even an empty unknown section.
        assert_err(load("[run]\nnum_threads = 1\n[extra]\n"), 3, &["[extra]"]);
        assert_err(
            load("num_threads = 1\n[run]\nfd_limit = 1"),
            1,
            &["num_threads", "outside any section"],
        );
        // Section names are not trimmed.
        assert_err(load("[ run ]\nnum_threads = 1"), 1, &["[ run ]"]);
    }

    #[test]
    fn syntax_errors_report_the_line() {
        assert_err(load("[run]\nnum_threads\n"), 2, &["line 2", "num_threads"]);
        assert_err(load("; c\n[run\nfd_limit=1"), 2, &["line 2", "']'"]);
        // A ';' after whitespace starts a comment, even inside brackets.
        assert_err(load("[run ;]\n"), 1, &["']'"]);
        assert_err(load("[run]\nfd_limit ;= 5\n"), 2, &["line 2"]);
    }

    #[test]
    fn lexical_rules() {
        let text = "\u{feff}; leading comment\r\n\
                    # hash comment\r\n\
                    \r\n\
                    [RUN] ; sections may carry comments\r\n\
                    \tNum_Threads : 3 ; inline comment\r\n\
                    \x20  ; an indented comment\r\n\
                    fd_limit=12#not a comment start\n\
                    [Permanent]\n\
                    cloud_endpoint = first\n\
                    \n\
                    \x20 second ; continuation after a blank line\n\
                    cloud_region=a;b\n\
                    cloud_access_key = x = y : z\n\
                    cloud_secret_key = one\n\
                    CLOUD_SECRET_KEY = two\n";
        // `fd_limit=12#...` is not a number: '#' is not an inline comment.
        assert_err(load(text), 7, &["fd_limit", "12#not a comment start"]);

        let text = text.replace("12#not a comment start", "12 ;12");
        let o = load(&text).unwrap();
        assert_eq!(o.num_threads, 3);
        assert_eq!(o.fd_limit, 12);
        assert_eq!(o.cloud_endpoint, "first\nsecond");
        assert_eq!(o.cloud_region, "a;b");
        assert_eq!(o.cloud_access_key, "x = y : z");
        assert_eq!(o.cloud_secret_key, "one\ntwo");
    }

    #[test]
    fn joined_values_that_are_not_numbers() {
        assert_err(
            load("[run]\nnum_threads = 2\nnum_threads = 3\n[permanent]\nstore_path=x"),
            2,
            &["num_threads", "\"2\\n3\"", "lines 2, 3"],
        );
        assert_err(
            load("[run]\nnum_threads = 2\n  3\n[permanent]\nstore_path=x"),
            2,
            &["num_threads", "lines 2, 3"],
        );
        // A continuation right after a section header is an ordinary line.
        let o = load("[run]\n  num_threads = 2\n[permanent]\n  store_path=x").unwrap();
        assert_eq!((o.num_threads, o.store_path), (2, vec!["x".to_owned()]));
        // An indented header after a key continues the key, as in inih.
        assert_err(
            load("[run]\nfd_limit = 2\n  [permanent]\n"),
            2,
            &["fd_limit", "lines 2, 3"],
        );
    }

    #[test]
    fn ini_error_conversions() {
        let e = IniError {
            code: -2,
            kind: KvError::InvalidArgs,
            message: "missing section [run]".into(),
        };
        assert_eq!(e.to_string(), "missing section [run]");
        let err: Error = e.into();
        assert_eq!(err.code(), KvError::InvalidArgs);
        assert_eq!(err.message(), "missing section [run]");
        let boxed: Box<dyn std::error::Error> = Box::new(IniError::at_line(3, "x"));
        assert_eq!(boxed.to_string(), "line 3: x");
    }

    /// As `tests/common`: `$ELOQSTORE_FIXTURES`, else `../shared/fixtures`
    /// beside the crate, else `/work/shared/fixtures`.
    fn fixtures_dir() -> PathBuf {
        let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
        match std::env::var_os("ELOQSTORE_FIXTURES") {
            Some(dir) => PathBuf::from(dir),
            None if beside.is_dir() => beside,
            None => PathBuf::from("/work/shared/fixtures"),
        }
    }

    /// The number on the fixture's own `pages_per_file_shift = N` line.
    fn stated_shift(text: &str) -> u8 {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("pages_per_file_shift"))
            .filter_map(|rest| rest.trim().strip_prefix('='))
            .map(|n| n.trim().parse().unwrap())
            .next()
            .expect("fixture states pages_per_file_shift")
    }

    #[test]
    fn fixture_option_files_load() {
        let dir = fixtures_dir();
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let folder = entry.unwrap().path();
            let ini = folder.join("options.ini");
            if !ini.is_file() {
                continue;
            }
            seen += 1;
            let text = std::fs::read_to_string(&ini).unwrap();
            let mut o =
                KvOptions::from_ini_file(&ini).unwrap_or_else(|e| panic!("{}: {e}", ini.display()));
            assert_eq!(
                o.pages_per_file_shift,
                stated_shift(&text),
                "{}",
                ini.display()
            );
            assert!(!o.store_path.is_empty());
            o.resolve_store_paths(&folder);
            for p in &o.store_path {
                assert!(
                    Path::new(p).is_dir(),
                    "{}: {p} is not a directory",
                    ini.display()
                );
            }
            o.validate().unwrap();
        }
        assert!(seen >= 1, "no options.ini under {}", dir.display());
    }
}
