//! What the cloud tier needs from `KvOptions`, resolved once: bucket and
//! prefix, endpoint, region, credentials, TLS, limits and the retry
//! schedule.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::options::KvOptions;
pub use crate::options::cloud::{Provider, parse_cloud_path};

/// Environment variable overriding the retry schedule, for tests only:
/// `init_ms,max_ms,retries` (for example `200,1000,2`).
pub const RETRY_ENV: &str = "ELOQSTORE_CLOUD_RETRY";

/// How failed requests are retried: delays start at `init`, double up to
/// `max`, at most `retries` times (upstream: 10 s, 40 s, 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    pub init: Duration,
    pub max: Duration,
    pub retries: usize,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule {
            init: Duration::from_secs(10),
            max: Duration::from_secs(40),
            retries: 5,
        }
    }
}

impl RetrySchedule {
    /// Upstream's schedule, or the test override in [`RETRY_ENV`].
    pub fn from_env() -> Result<RetrySchedule> {
        match std::env::var(RETRY_ENV) {
            Ok(v) => RetrySchedule::parse(&v),
            Err(_) => Ok(RetrySchedule::default()),
        }
    }

    /// Parses `init_ms,max_ms,retries`.
    pub fn parse(v: &str) -> Result<RetrySchedule> {
        let bad = || {
            Error::invalid_args(format!(
                "{RETRY_ENV}={v:?}: expected init_ms,max_ms,retries (for example 200,1000,2)"
            ))
        };
        let parts: Vec<&str> = v.split(',').map(str::trim).collect();
        let [init, max, retries] = parts.as_slice() else {
            return Err(bad());
        };
        let init: u64 = init.parse().map_err(|_| bad())?;
        let max: u64 = max.parse().map_err(|_| bad())?;
        let retries: usize = retries.parse().map_err(|_| bad())?;
        if max < init {
            return Err(bad());
        }
        Ok(RetrySchedule {
            init: Duration::from_millis(init),
            max: Duration::from_millis(max),
            retries,
        })
    }

    /// The longest a request may spend retrying: every delay at its cap,
    /// plus room for the attempts themselves.
    pub fn total_budget(&self, attempt_timeout: Duration) -> Duration {
        let n = self.retries as u32;
        self.max * n + attempt_timeout * (n + 1)
    }
}

/// Everything the cloud client needs, resolved from the options.
#[derive(Clone, Debug)]
pub struct CloudConfig {
    pub provider: Provider,
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// Endpoint URL with its scheme.
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// Verify the server's TLS certificate.
    pub verify_tls: bool,
    /// Worker threads of the HTTP runtime.
    pub request_threads: usize,
    /// HTTP requests in flight per shard.
    pub max_concurrency: usize,
    /// Files uploading at once per shard.
    pub max_upload_batch: usize,
    pub retry: RetrySchedule,
    /// Timeout of one HTTP attempt (upstream: 300 s).
    pub attempt_timeout: Duration,
    /// Timeout of the bucket creation at start (upstream: 60 s).
    pub create_bucket_timeout: Duration,
}

impl CloudConfig {
    /// The cloud configuration of cloud-mode options (`InvalidArgs` naming
    /// the option at fault).
    pub fn from_options(opts: &KvOptions) -> Result<CloudConfig> {
        let (bucket, prefix) = parse_cloud_path(&opts.cloud_store_path)?;
        let provider = Provider::from_name(&opts.cloud_provider);
        let (endpoint, verify_tls) = if opts.cloud_endpoint.trim().is_empty() {
            // Upstream verifies the default endpoint only for GCS.
            (
                provider.default_endpoint().to_owned(),
                provider == Provider::Gcs,
            )
        } else {
            let e = opts.cloud_endpoint.trim().trim_end_matches('/');
            // Upstream speaks HTTPS only for an https:// endpoint.
            let e = if e.contains("://") {
                e.to_owned()
            } else {
                format!("http://{e}")
            };
            (e, opts.cloud_verify_ssl)
        };
        let lower = endpoint.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(Error::invalid_args(format!(
                "cloud_endpoint {:?} is neither http:// nor https://",
                opts.cloud_endpoint
            )));
        }
        let region = if opts.cloud_region.trim().is_empty() {
            provider.default_region().to_owned()
        } else {
            opts.cloud_region.trim().to_owned()
        };
        Ok(CloudConfig {
            provider,
            bucket,
            prefix,
            endpoint,
            region,
            access_key: opts.cloud_access_key.clone(),
            secret_key: opts.cloud_secret_key.clone(),
            verify_tls,
            request_threads: (opts.cloud_request_threads as usize).max(1),
            max_concurrency: (opts.max_cloud_concurrency as usize).max(1),
            max_upload_batch: (opts.max_upload_batch as usize).max(1),
            retry: RetrySchedule::from_env()?,
            attempt_timeout: Duration::from_secs(300),
            create_bucket_timeout: Duration::from_secs(60),
        })
    }

    /// Whether requests go over plain HTTP.
    pub fn is_http(&self) -> bool {
        self.endpoint.to_ascii_lowercase().starts_with("http://")
    }

    /// The object key of `rel` (a `/`-separated path) under the prefix.
    pub fn key(&self, rel: &str) -> String {
        match (self.prefix.is_empty(), rel.is_empty()) {
            (true, _) => rel.to_owned(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{rel}", self.prefix),
        }
    }

    /// The key relative to the prefix, if `key` lies under it.
    pub fn relative<'a>(&self, key: &'a str) -> Option<&'a str> {
        if self.prefix.is_empty() {
            return Some(key);
        }
        key.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::KvError;

    #[test]
    fn provider_defaults() {
        let mut o = KvOptions::default();
        o.cloud_store_path = "bkt/pre".into();
        let c = CloudConfig::from_options(&o).unwrap();
        assert_eq!(c.provider, Provider::Aws);
        assert_eq!(c.endpoint, "http://127.0.0.1:9900");
        assert_eq!(c.region, "us-east-1");
        assert!(!c.verify_tls);
        assert!(c.is_http());
        assert_eq!(c.key("t.0/data_0_0"), "pre/t.0/data_0_0");
        assert_eq!(c.relative("pre/t.0/x"), Some("t.0/x"));
        assert_eq!(c.relative("prefix/t.0/x"), None);

        o.cloud_provider = "Google".into();
        o.cloud_region = String::new();
        let c = CloudConfig::from_options(&o).unwrap();
        assert_eq!(c.provider, Provider::Gcs);
        assert_eq!(c.endpoint, "https://storage.googleapis.com");
        assert_eq!(c.region, "auto");
        assert!(c.verify_tls);

        // A typo still means AWS, as upstream.
        o.cloud_provider = "amazon".into();
        o.cloud_endpoint = "https://s3.eu-west-1.amazonaws.com/".into();
        o.cloud_region = "eu-west-1".into();
        o.cloud_verify_ssl = true;
        let c = CloudConfig::from_options(&o).unwrap();
        assert_eq!(c.provider, Provider::Aws);
        assert_eq!(c.endpoint, "https://s3.eu-west-1.amazonaws.com");
        assert!(c.verify_tls && !c.is_http());

        o.cloud_endpoint = "minio:9000".into();
        o.cloud_verify_ssl = false;
        let c = CloudConfig::from_options(&o).unwrap();
        assert_eq!(c.endpoint, "http://minio:9000");
        assert!(!c.verify_tls);

        o.cloud_endpoint = "ftp://x".into();
        assert_eq!(
            CloudConfig::from_options(&o).unwrap_err().code(),
            KvError::InvalidArgs
        );
    }

    #[test]
    fn retry_schedule_override() {
        assert_eq!(RetrySchedule::default().retries, 5);
        let s = RetrySchedule::parse("200, 1000,2").unwrap();
        assert_eq!(s.init, Duration::from_millis(200));
        assert_eq!(s.max, Duration::from_secs(1));
        assert_eq!(s.retries, 2);
        for bad in ["", "1,2", "a,b,c", "5,1,1", "1,2,3,4"] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad:?}");
        }
    }
}
