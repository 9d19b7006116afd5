//! Cloud-mode option rules that need no I/O: the `cloud_store_path`
//! syntax and the provider's defaults.

use crate::error::{Error, Result};

/// Which provider's defaults apply (upstream's `DetermineBackendType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// `"aws"` and every name that is not a GCS one: the S3 protocol.
    Aws,
    /// `"gcs"`, `"google"`, `"google-cloud"`: GCS's S3-compatible API.
    Gcs,
}

impl Provider {
    /// Upstream's rule: GCS names select GCS, anything else AWS.
    pub fn from_name(name: &str) -> Provider {
        match name.to_ascii_lowercase().as_str() {
            "gcs" | "google" | "google-cloud" => Provider::Gcs,
            _ => Provider::Aws,
        }
    }

    /// The endpoint used when `cloud_endpoint` is empty.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            // Upstream's default is a local MinIO address.
            Provider::Aws => "http://127.0.0.1:9900",
            Provider::Gcs => "https://storage.googleapis.com",
        }
    }

    /// The region used when `cloud_region` is empty.
    pub fn default_region(self) -> &'static str {
        match self {
            Provider::Aws => "us-east-1",
            Provider::Gcs => "auto",
        }
    }
}

/// Splits `cloud_store_path` into bucket and prefix as upstream's
/// `ParseCloudPath` does: leading `/` are dropped, the text up to the first
/// `/` is the bucket, the rest without leading and trailing `/` is the
/// prefix. A `:` anywhere or an empty bucket is `InvalidArgs` (upstream
/// aborts). A prefix with an empty segment (`a//b`) cannot be an object key
/// path and is refused too.
pub fn parse_cloud_path(path: &str) -> Result<(String, String)> {
    if path.contains(':') {
        return Err(Error::invalid_args(format!(
            "cloud_store_path {path:?} contains ':'; it is bucket[/prefix] (remote names are no longer supported)"
        )));
    }
    let trimmed = path.trim_start_matches('/');
    let (bucket, prefix) = match trimmed.split_once('/') {
        Some((b, p)) => (b, p.trim_matches('/')),
        None => (trimmed, ""),
    };
    if bucket.is_empty() {
        return Err(Error::invalid_args(format!(
            "cloud_store_path {path:?} names no bucket"
        )));
    }
    if prefix.split('/').any(|s| s.is_empty()) && !prefix.is_empty() {
        return Err(Error::invalid_args(format!(
            "cloud_store_path {path:?} has an empty path segment in its prefix"
        )));
    }
    for seg in prefix.split('/').filter(|s| !s.is_empty()) {
        check_key_segment(seg).map_err(|why| {
            Error::invalid_args(format!(
                "cloud_store_path {path:?}: prefix segment {seg:?} {why}"
            ))
        })?;
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// Whether `seg` can be one `/`-separated segment of an object key.
pub fn check_key_segment(seg: &str) -> std::result::Result<(), &'static str> {
    if seg.is_empty() {
        return Err("is empty");
    }
    if seg == "." || seg == ".." {
        return Err("is a relative path component");
    }
    if seg.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::KvError;

    #[test]
    fn cloud_paths_parse_as_upstream() {
        let p = |s: &str| parse_cloud_path(s).unwrap();
        assert_eq!(
            p("eloqstore/unit-test"),
            ("eloqstore".into(), "unit-test".into())
        );
        assert_eq!(p("/b/p/q/"), ("b".into(), "p/q".into()));
        assert_eq!(p("b"), ("b".into(), "".into()));
        assert_eq!(p("b/"), ("b".into(), "".into()));
        assert_eq!(p("//b///p"), ("b".into(), "p".into()));
        for bad in [
            "",
            "/",
            "remote:bucket",
            "b:x/p",
            "b/p//q",
            "b/./q",
            "b/p/../q",
        ] {
            let e = parse_cloud_path(bad).unwrap_err();
            assert_eq!(e.code(), KvError::InvalidArgs, "{bad:?}");
            assert!(e.message().contains("cloud_store_path"), "{e}");
        }
    }
}
