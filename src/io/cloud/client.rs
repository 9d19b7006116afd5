//! The S3 client and the runtime it runs on.
//!
//! [`CloudService`] owns a tokio multi-thread runtime with
//! `cloud_request_threads` workers and one `object_store` S3 client. Every
//! HTTP request runs there; shard tasks await its completion through a
//! oneshot channel whose waker is the shard runtime's cross-thread waker, so
//! a shard never blocks on the network. Threads outside the shards (start,
//! the store's fan-outs, tools, tests) may block on it with
//! [`CloudService::block_on`].
//!
//! [`CloudHandle`] is a shard's view: at most `max_cloud_concurrency`
//! requests in flight and at most `max_upload_batch` files uploading.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{
    BackoffConfig, ClientOptions, MultipartUpload, ObjectStore, ObjectStoreExt, PutMode,
    PutOptions, PutPayload, RetryConfig, UpdateVersion,
};
use tokio::sync::{mpsc, oneshot};

use super::config::CloudConfig;
use super::error::{CloudError, Failure, classify};
use crate::error::{Error, KvError, Result};
use crate::io::sema::{Permit, Semaphore};

/// Bytes a download hands to the shard at a time.
pub const DOWNLOAD_CHUNK: usize = 1 << 20;
/// Files up to this size are uploaded with one PUT; bigger ones in parts.
pub const SINGLE_PUT_MAX: u64 = 16 << 20;
/// Part size of multipart uploads (S3 wants at least 5 MiB but the last).
pub const PART_SIZE: usize = 8 << 20;
/// Parts of one file uploading at once.
const PARTS_IN_FLIGHT: usize = 2;

type CloudResult<T> = std::result::Result<T, CloudError>;

/// One listed object, its key relative to the store's prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    /// ISO-8601 UTC, millisecond precision (S3's `LastModified`).
    pub last_modified: String,
    pub e_tag: Option<String>,
}

/// One page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ListedObject>,
    /// Common prefixes (non-recursive listings), relative to the store's
    /// prefix, without the trailing `/`.
    pub prefixes: Vec<String>,
    /// Token for the next page; `None` on the last one.
    pub next_token: Option<String>,
}

/// An object read whole.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub bytes: Bytes,
    /// The ETag without quotes.
    pub e_tag: Option<String>,
}

/// How a conditional write ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CondPut {
    /// Written; the new ETag (without quotes) when the server sent one.
    Done(Option<String>),
    /// The condition did not hold (412, or 409 from a concurrent write).
    Conflict,
}

fn strip_quotes(e: Option<String>) -> Option<String> {
    e.map(|s| s.trim_matches('"').to_owned())
}

/// The S3 client: cheap to clone, `Send + Sync`; its methods are futures
/// to run on the cloud runtime.
#[derive(Clone, Debug)]
pub struct CloudClient {
    cfg: Arc<CloudConfig>,
    s3: Arc<AmazonS3>,
}

impl CloudClient {
    /// Builds the client (no request is made).
    pub fn new(cfg: CloudConfig) -> Result<CloudClient> {
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: cfg.retry.init,
                max_backoff: cfg.retry.max,
                base: 2.0,
            },
            max_retries: cfg.retry.retries,
            retry_timeout: cfg.retry.total_budget(cfg.attempt_timeout),
        };
        // These options replace the builder's own: allow_http must be set
        // here as well.
        let client_opts = ClientOptions::new()
            .with_allow_http(cfg.is_http())
            .with_allow_invalid_certificates(!cfg.verify_tls)
            .with_timeout(cfg.attempt_timeout)
            .with_connect_timeout(Duration::from_secs(10));
        let s3 = AmazonS3Builder::new()
            .with_endpoint(&cfg.endpoint)
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_access_key_id(&cfg.access_key)
            .with_secret_access_key(&cfg.secret_key)
            .with_allow_http(cfg.is_http())
            .with_virtual_hosted_style_request(false)
            // Bodies are not hashed (upstream's presigned PUTs are unsigned
            // too): no SHA-256 pass over every uploaded file.
            .with_unsigned_payload(true)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_client_options(client_opts)
            .with_retry(retry)
            .build()
            .map_err(|e| {
                Error::invalid_args(format!(
                    "cannot configure the S3 client for {} (cloud_endpoint, cloud_region): {e}",
                    cfg.endpoint
                ))
            })?;
        Ok(CloudClient {
            cfg: Arc::new(cfg),
            s3: Arc::new(s3),
        })
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn config(&self) -> &CloudConfig {
        &self.cfg
    }

    /// The object path of `rel` under the prefix.
    fn path(&self, rel: &str) -> CloudResult<Path> {
        let key = self.cfg.key(rel);
        Path::parse(&key).map_err(|e| CloudError {
            failure: Failure::InvalidKey,
            error: Error::invalid_args(format!("{key:?} cannot be an object key: {e}")),
        })
    }

    fn err(&self, e: &object_store::Error, op: &str, rel: &str) -> CloudError {
        CloudError::new(e, &format!("{op} {}", self.cfg.key(rel)))
    }

    /// Reads a whole object into memory (small objects: `CURRENT_TERM`,
    /// manifests).
    pub async fn get(&self, rel: &str) -> CloudResult<Fetched> {
        let path = self.path(rel)?;
        let r = self
            .s3
            .get(&path)
            .await
            .map_err(|e| self.err(&e, "GET", rel))?;
        let e_tag = strip_quotes(r.meta.e_tag.clone());
        let bytes = r.bytes().await.map_err(|e| self.err(&e, "GET", rel))?;
        Ok(Fetched { bytes, e_tag })
    }

    /// Streams an object: its size first, then chunks of about
    /// [`DOWNLOAD_CHUNK`] bytes into `tx`, which holds few of them, so
    /// memory stays bounded whatever the object's size. Stops early when
    /// the receiver is gone.
    pub async fn download(
        &self,
        rel: &str,
        size_tx: oneshot::Sender<CloudResult<u64>>,
        tx: mpsc::Sender<CloudResult<Bytes>>,
    ) {
        let path = match self.path(rel) {
            Ok(p) => p,
            Err(e) => {
                let _ = size_tx.send(Err(e));
                return;
            }
        };
        let r = match self.s3.get(&path).await {
            Ok(r) => r,
            Err(e) => {
                let _ = size_tx.send(Err(self.err(&e, "GET", rel)));
                return;
            }
        };
        if size_tx.send(Ok(r.meta.size)).is_err() {
            return;
        }
        let mut stream = r.into_stream();
        let mut buf = BytesMut::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(b) => {
                    buf.extend_from_slice(&b);
                    if buf.len() >= DOWNLOAD_CHUNK
                        && tx.send(Ok(buf.split().freeze())).await.is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(self.err(&e, "GET", rel))).await;
                    return;
                }
            }
        }
        if !buf.is_empty() {
            let _ = tx.send(Ok(buf.freeze())).await;
        }
    }

    /// Downloads an object into a local file (for tools outside the
    /// engine: the file is written with blocking calls on the calling
    /// task's thread). Returns its size.
    pub async fn download_file(&self, rel: &str, path: &std::path::Path) -> Result<u64> {
        use std::io::Write;
        let p = self.path(rel).map_err(Error::from)?;
        let r = self
            .s3
            .get(&p)
            .await
            .map_err(|e| Error::from(self.err(&e, "GET", rel)))?;
        let io = |e: std::io::Error| Error::from_io(e, path.display());
        let mut f = std::fs::File::create(path).map_err(io)?;
        let mut n = 0u64;
        let mut stream = r.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::from(self.err(&e, "GET", rel)))?;
            f.write_all(&chunk).map_err(io)?;
            n += chunk.len() as u64;
        }
        f.sync_all().map_err(io)?;
        Ok(n)
    }

    /// Writes an object whole; returns its ETag.
    pub async fn put(&self, rel: &str, body: PutPayload) -> CloudResult<Option<String>> {
        let path = self.path(rel)?;
        let r = self
            .s3
            .put(&path, body)
            .await
            .map_err(|e| self.err(&e, "PUT", rel))?;
        Ok(strip_quotes(r.e_tag))
    }

    /// Writes an object only if it does not exist (`If-None-Match: *`).
    pub async fn put_if_absent(&self, rel: &str, body: Bytes) -> CloudResult<CondPut> {
        self.put_cond(rel, body, PutMode::Create).await
    }

    /// Replaces an object only if its ETag is still `e_tag` (`If-Match`).
    pub async fn put_if_match(&self, rel: &str, body: Bytes, e_tag: &str) -> CloudResult<CondPut> {
        let mode = PutMode::Update(UpdateVersion {
            e_tag: Some(format!("\"{e_tag}\"")),
            version: None,
        });
        self.put_cond(rel, body, mode).await
    }

    async fn put_cond(&self, rel: &str, body: Bytes, mode: PutMode) -> CloudResult<CondPut> {
        let path = self.path(rel)?;
        match self
            .s3
            .put_opts(&path, PutPayload::from(body), PutOptions::from(mode))
            .await
        {
            Ok(r) => Ok(CondPut::Done(strip_quotes(r.e_tag))),
            Err(e) => {
                let ce = self.err(&e, "conditional PUT", rel);
                // object_store reports If-Match on a missing object as a
                // failed precondition too.
                if ce.failure.is_conflict() {
                    Ok(CondPut::Conflict)
                } else {
                    Err(ce)
                }
            }
        }
    }

    /// Deletes an object (deleting a missing one succeeds, as on S3).
    pub async fn delete(&self, rel: &str) -> CloudResult<()> {
        let path = self.path(rel)?;
        match self.s3.delete(&path).await {
            Ok(()) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(&e, "DELETE", rel)),
        }
    }

    /// Server-side copy (tests and tools; upstream's tests move files this
    /// way).
    #[cfg(any(test, feature = "internals"))]
    pub async fn copy(&self, from: &str, to: &str) -> CloudResult<()> {
        let (f, t) = (self.path(from)?, self.path(to)?);
        self.s3
            .copy(&f, &t)
            .await
            .map_err(|e| self.err(&e, "COPY", from))
    }

    /// One page of a ListObjectsV2 of the keys starting with `rel_prefix`
    /// (relative to the store's prefix; pass a trailing `/` to list a
    /// "directory"). Non-recursive listings group deeper keys into common
    /// prefixes.
    pub async fn list_page(
        &self,
        rel_prefix: &str,
        recursive: bool,
        token: Option<String>,
        max_keys: Option<usize>,
    ) -> CloudResult<ListPage> {
        let raw = self.cfg.key(rel_prefix);
        // The store's prefix is a directory: keep its slash when listing
        // the prefix itself.
        let raw = if rel_prefix.is_empty() && !raw.is_empty() {
            format!("{raw}/")
        } else {
            raw
        };
        let what = format!("LIST {raw}");
        let opts = PaginatedListOptions {
            delimiter: (!recursive).then_some("/".into()),
            max_keys,
            page_token: token,
            ..PaginatedListOptions::default()
        };
        let prefix = (!raw.is_empty()).then_some(raw.as_str());
        let r = self
            .s3
            .list_paginated(prefix, opts)
            .await
            .map_err(|e| CloudError::new(&e, &what))?;
        let rel = |p: &str| -> CloudResult<String> {
            self.cfg
                .relative(p)
                .map(str::to_owned)
                .ok_or_else(|| CloudError {
                    failure: Failure::Other,
                    error: Error::new(
                        KvError::CloudErr,
                        format!("{what}: the listing returned {p:?}, outside the prefix"),
                    ),
                })
        };
        let mut page = ListPage {
            next_token: r.page_token.filter(|t| !t.is_empty()),
            ..ListPage::default()
        };
        for o in r.result.objects {
            page.objects.push(ListedObject {
                key: rel(o.location.as_ref())?,
                size: o.size,
                last_modified: o
                    .last_modified
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                e_tag: strip_quotes(o.e_tag),
            });
        }
        for p in r.result.common_prefixes {
            page.prefixes.push(rel(p.as_ref().trim_end_matches('/'))?);
        }
        Ok(page)
    }

    /// Every page of a listing, concatenated.
    pub async fn list_all(&self, rel_prefix: &str, recursive: bool) -> CloudResult<ListPage> {
        let mut all = ListPage::default();
        let mut token = None;
        loop {
            let mut page = self.list_page(rel_prefix, recursive, token, None).await?;
            all.objects.append(&mut page.objects);
            all.prefixes.append(&mut page.prefixes);
            match page.next_token {
                Some(t) => token = Some(t),
                None => return Ok(all),
            }
        }
    }

    /// Starts a multipart upload.
    pub async fn start_multipart(&self, rel: &str) -> CloudResult<Box<dyn MultipartUpload>> {
        let path = self.path(rel)?;
        self.s3
            .put_multipart(&path)
            .await
            .map_err(|e| self.err(&e, "multipart PUT", rel))
    }

    /// Creates the bucket unless it exists (upstream's `EnsureBucketExists`,
    /// one signed `PUT /<bucket>`, no retry): 2xx or 409 (already exists)
    /// is success. A 403 is accepted when the bucket can be listed all the
    /// same (a key allowed on the bucket but not to create buckets; upstream
    /// fails there).
    pub async fn ensure_bucket(&self) -> Result<()> {
        let cfg = &self.cfg;
        let what = format!("creating bucket {} at {}", cfg.bucket, cfg.endpoint);
        let url = self
            .s3
            .signed_url(
                reqwest::Method::PUT,
                &Path::from(""),
                Duration::from_secs(3600),
            )
            .await
            .map_err(|e| classify(&e, &what))?;
        let http = reqwest::Client::builder()
            .timeout(cfg.create_bucket_timeout)
            .connect_timeout(Duration::from_secs(10))
            .tls_danger_accept_invalid_certs(!cfg.verify_tls)
            .no_proxy()
            .build()
            .map_err(|e| Error::new(KvError::CloudErr, format!("{what}: {e}")))?;
        let mut req = http.put(url);
        if cfg.region != cfg.provider.default_region() {
            req = req.body(format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                cfg.region
            ));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let code = if e.is_timeout() {
                    KvError::Timeout
                } else {
                    KvError::CloudErr
                };
                let mut msg = format!("{what}: the cloud service cannot be reached: {e}");
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg.push_str(&format!(": {s}"));
                    src = s.source();
                }
                return Err(Error::new(code, msg));
            }
        };
        let status = resp.status().as_u16();
        if resp.status().is_success() || status == 409 {
            return Ok(());
        }
        let body: String = resp
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        if status == 403 && self.list_page("", false, None, Some(1)).await.is_ok() {
            log::warn!("{what}: HTTP 403, but the bucket can be listed: using it");
            return Ok(());
        }
        let code = super::error::Failure::Status(status).code();
        let hint = if status == 403 || status == 401 {
            " (access denied: check cloud_access_key, cloud_secret_key and cloud_region)"
        } else {
            ""
        };
        Err(Error::new(
            code,
            format!("{what}: HTTP {status}{hint}: {}", body.trim()),
        ))
    }
}

/// The cloud runtime and client of a running store.
pub struct CloudService {
    client: CloudClient,
    rt: Option<tokio::runtime::Runtime>,
    traffic: Traffic,
}

/// Object bytes moved by successful requests since the store started.
#[derive(Debug, Default)]
pub struct Traffic {
    uploaded: std::sync::atomic::AtomicU64,
    downloaded: std::sync::atomic::AtomicU64,
}

impl Traffic {
    fn up(&self, n: usize) {
        self.uploaded
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }

    fn down(&self, n: usize) {
        self.downloaded
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// (uploaded, downloaded) bytes.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.uploaded.load(std::sync::atomic::Ordering::Relaxed),
            self.downloaded.load(std::sync::atomic::Ordering::Relaxed),
        )
    }
}

impl std::fmt::Debug for CloudService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudService")
            .field("bucket", &self.client.cfg.bucket)
            .field("prefix", &self.client.cfg.prefix)
            .field("endpoint", &self.client.cfg.endpoint)
            .finish()
    }
}

impl CloudService {
    /// Starts the runtime (`request_threads` workers) and builds the client.
    pub fn new(cfg: CloudConfig) -> Result<Arc<CloudService>> {
        let threads = cfg.request_threads.max(1);
        let client = CloudClient::new(cfg)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("eloqstore-cloud")
            .enable_all()
            .build()
            .map_err(|e| Error::from_io(e, "starting the cloud request threads"))?;
        Ok(Arc::new(CloudService {
            client,
            rt: Some(rt),
            traffic: Traffic::default(),
        }))
    }

    pub fn client(&self) -> &CloudClient {
        &self.client
    }

    pub fn config(&self) -> &CloudConfig {
        &self.client.cfg
    }

    /// Bytes uploaded and downloaded so far.
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("the runtime lives until drop")
    }

    /// Runs `fut` on the cloud runtime; the returned future (awaitable on
    /// any thread or executor) yields its output. If the runtime shuts down
    /// first, the output is a `CloudErr`.
    pub fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = CloudResult<T>> + Send + 'static,
    ) -> Pending<T> {
        let (tx, rx) = oneshot::channel();
        self.runtime().spawn(async move {
            let _ = tx.send(fut.await);
        });
        Pending(rx)
    }

    /// Runs `fut` on the cloud runtime, detached.
    pub fn spawn_task(&self, fut: impl Future<Output = ()> + Send + 'static) {
        self.runtime().spawn(fut);
    }

    /// Runs `fut` on the cloud runtime and blocks the calling thread until
    /// it finishes. Never call it on a shard thread or a cloud thread.
    pub fn block_on<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        self.runtime().spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().expect("the cloud runtime outlives block_on")
    }

    /// Creates the bucket unless it exists (see
    /// [`CloudClient::ensure_bucket`]).
    pub fn ensure_bucket(&self) -> Result<()> {
        let c = self.client.clone();
        self.block_on(async move { c.ensure_bucket().await })
    }
}

impl Drop for CloudService {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            // Requests still running (none after a clean stop) are dropped.
            // Inside another tokio runtime (the host program's) waiting is
            // not allowed: the threads are then left to exit on their own.
            if tokio::runtime::Handle::try_current().is_ok() {
                rt.shutdown_background();
            } else {
                rt.shutdown_timeout(Duration::from_secs(5));
            }
        }
    }
}

/// The output of [`CloudService::spawn`], awaitable from any thread: the
/// cloud thread that finishes the work wakes the waiting task.
pub struct Pending<T>(oneshot::Receiver<CloudResult<T>>);

impl<T> Future for Pending<T> {
    type Output = CloudResult<T>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<CloudResult<T>> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|r| {
            r.unwrap_or_else(|_| {
                Err(CloudError {
                    failure: Failure::Other,
                    error: Error::new(KvError::CloudErr, "the cloud request threads stopped"),
                })
            })
        })
    }
}

/// A shard's access to the cloud: request and upload slots, and futures
/// the shard's tasks await.
pub struct CloudHandle {
    svc: Arc<CloudService>,
    slots: Semaphore,
    uploads: Semaphore,
}

impl CloudHandle {
    pub fn new(svc: Arc<CloudService>) -> CloudHandle {
        let cfg = svc.config();
        CloudHandle {
            slots: Semaphore::new(cfg.max_concurrency),
            uploads: Semaphore::new(cfg.max_upload_batch),
            svc,
        }
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn service(&self) -> &Arc<CloudService> {
        &self.svc
    }

    pub fn config(&self) -> &CloudConfig {
        self.svc.config()
    }

    /// A request slot (`max_cloud_concurrency` per shard).
    pub async fn slot(&self) -> Permit<'_> {
        self.slots.acquire(1).await
    }

    /// An upload slot (`max_upload_batch` files per shard). Hold it while
    /// the file's bytes are in memory and uploading.
    pub async fn upload_slot(&self) -> Permit<'_> {
        self.uploads.acquire(1).await
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(CloudClient) -> std::pin::Pin<Box<dyn Future<Output = CloudResult<T>> + Send>>,
    ) -> CloudResult<T> {
        let _slot = self.slot().await;
        self.svc.spawn(f(self.svc.client.clone())).await
    }

    pub async fn get(&self, rel: &str) -> CloudResult<Fetched> {
        let rel = rel.to_owned();
        let got = self
            .run(move |c| Box::pin(async move { c.get(&rel).await }))
            .await?;
        self.svc.traffic.down(got.bytes.len());
        Ok(got)
    }

    pub async fn put(&self, rel: &str, body: PutPayload) -> CloudResult<Option<String>> {
        let rel = rel.to_owned();
        let n = body.content_length();
        let tag = self
            .run(move |c| Box::pin(async move { c.put(&rel, body).await }))
            .await?;
        self.svc.traffic.up(n);
        Ok(tag)
    }

    pub async fn put_if_absent(&self, rel: &str, body: Bytes) -> CloudResult<CondPut> {
        let rel = rel.to_owned();
        let n = body.len();
        let r = self
            .run(move |c| Box::pin(async move { c.put_if_absent(&rel, body).await }))
            .await?;
        self.svc.traffic.up(n);
        Ok(r)
    }

    pub async fn put_if_match(&self, rel: &str, body: Bytes, e_tag: &str) -> CloudResult<CondPut> {
        let (rel, e_tag) = (rel.to_owned(), e_tag.to_owned());
        let n = body.len();
        let r = self
            .run(move |c| Box::pin(async move { c.put_if_match(&rel, body, &e_tag).await }))
            .await?;
        self.svc.traffic.up(n);
        Ok(r)
    }

    pub async fn delete(&self, rel: &str) -> CloudResult<()> {
        let rel = rel.to_owned();
        self.run(move |c| Box::pin(async move { c.delete(&rel).await }))
            .await
    }

    pub async fn list_page(
        &self,
        rel_prefix: &str,
        recursive: bool,
        token: Option<String>,
    ) -> CloudResult<ListPage> {
        let rel = rel_prefix.to_owned();
        self.run(move |c| Box::pin(async move { c.list_page(&rel, recursive, token, None).await }))
            .await
    }

    /// Every page of a listing (one request slot per page).
    pub async fn list_all(&self, rel_prefix: &str, recursive: bool) -> CloudResult<ListPage> {
        let mut all = ListPage::default();
        let mut token = None;
        loop {
            let mut page = self.list_page(rel_prefix, recursive, token).await?;
            all.objects.append(&mut page.objects);
            all.prefixes.append(&mut page.prefixes);
            match page.next_token {
                Some(t) => token = Some(t),
                None => return Ok(all),
            }
        }
    }

    /// Starts streaming an object; holds a request slot until the returned
    /// download is finished or dropped.
    pub async fn download(&self, rel: &str) -> CloudResult<Download<'_>> {
        let slot = self.slot().await;
        let (size_tx, size_rx) = oneshot::channel();
        let (tx, rx) = mpsc::channel(2);
        let (c, r) = (self.svc.client.clone(), rel.to_owned());
        let started = self.svc.spawn(async move {
            c.download(&r, size_tx, tx).await;
            Ok(())
        });
        drop(started);
        let size = size_rx.await.unwrap_or_else(|_| {
            Err(CloudError {
                failure: Failure::Other,
                error: Error::new(KvError::CloudErr, "the cloud request threads stopped"),
            })
        })?;
        Ok(Download {
            size,
            rx,
            traffic: &self.svc.traffic,
            _slot: slot,
        })
    }

    /// Starts a multipart upload of `rel`.
    pub async fn multipart(&self, rel: &str) -> CloudResult<MultipartWriter<'_>> {
        let r = rel.to_owned();
        let upload = self
            .run(move |c| Box::pin(async move { c.start_multipart(&r).await }))
            .await?;
        Ok(MultipartWriter {
            handle: self,
            rel: rel.to_owned(),
            upload: Some(upload),
            inflight: std::collections::VecDeque::new(),
        })
    }
}

/// An object being downloaded.
pub struct Download<'a> {
    /// The object's size.
    pub size: u64,
    rx: mpsc::Receiver<CloudResult<Bytes>>,
    traffic: &'a Traffic,
    _slot: Permit<'a>,
}

impl Download<'_> {
    /// The next chunk; `None` after the last.
    pub async fn next_chunk(&mut self) -> Option<CloudResult<Bytes>> {
        let chunk = self.rx.recv().await;
        if let Some(Ok(b)) = &chunk {
            self.traffic.down(b.len());
        }
        chunk
    }
}

type PartFuture = std::pin::Pin<Box<dyn Future<Output = CloudResult<()>>>>;

/// A multipart upload in progress: parts go out [`PARTS_IN_FLIGHT`] at a
/// time, each holding a request slot. Dropped unfinished, it is aborted.
pub struct MultipartWriter<'a> {
    handle: &'a CloudHandle,
    rel: String,
    upload: Option<Box<dyn MultipartUpload>>,
    inflight: std::collections::VecDeque<(Permit<'a>, PartFuture)>,
}

impl<'a> MultipartWriter<'a> {
    /// Sends the next part (at least 5 MiB unless it is the last), waiting
    /// while [`PARTS_IN_FLIGHT`] parts are uploading.
    pub async fn put_part(&mut self, data: Bytes) -> Result<()> {
        while self.inflight.len() >= PARTS_IN_FLIGHT {
            self.wait_oldest().await?;
        }
        let slot = self.handle.slot().await;
        let upload = self.upload.as_mut().expect("not finished");
        let n = data.len();
        let part = upload.put_part(PutPayload::from(data));
        let what = format!("PUT part of {}", self.handle.config().key(&self.rel));
        let svc = self.handle.svc.clone();
        let fut = self.handle.svc.spawn(async move {
            part.await.map_err(|e| CloudError::new(&e, &what))?;
            svc.traffic.up(n);
            Ok(())
        });
        self.inflight.push_back((slot, Box::pin(fut)));
        Ok(())
    }

    async fn wait_oldest(&mut self) -> Result<()> {
        if let Some((slot, fut)) = self.inflight.pop_front() {
            let r = fut.await;
            drop(slot);
            r.map_err(Error::from)?;
        }
        Ok(())
    }

    /// Waits for every part, then completes the upload.
    pub async fn finish(mut self) -> Result<Option<String>> {
        while !self.inflight.is_empty() {
            if let Err(e) = self.wait_oldest().await {
                self.abort().await;
                return Err(e);
            }
        }
        let mut upload = self.upload.take().expect("not finished");
        let what = format!(
            "completing the upload of {}",
            self.handle.config().key(&self.rel)
        );
        let _slot = self.handle.slot().await;
        let r = self
            .handle
            .svc
            .spawn(async move {
                match upload.complete().await {
                    Ok(r) => Ok(strip_quotes(r.e_tag)),
                    Err(e) => {
                        let err = CloudError::new(&e, &what);
                        let _ = upload.abort().await;
                        Err(err)
                    }
                }
            })
            .await;
        r.map_err(Error::from)
    }

    /// Gives the upload up (its parts are discarded by the server).
    pub async fn abort(&mut self) {
        // Parts still uploading finish or fail on their own.
        self.inflight.clear();
        if let Some(mut upload) = self.upload.take() {
            let f = self.handle.svc.spawn(async move {
                let _ = upload.abort().await;
                Ok(())
            });
            let _ = f.await;
        }
    }
}

impl Drop for MultipartWriter<'_> {
    fn drop(&mut self) {
        if let Some(mut upload) = self.upload.take() {
            drop(self.handle.svc.spawn(async move {
                let _ = upload.abort().await;
                Ok(())
            }));
        }
    }
}
