//! The cloud I/O layer against a real S3-compatible server (s3s-fs):
//! objects, conditional writes, listings over many pages, multipart
//! uploads and streamed downloads, shard-runtime tasks awaiting cloud
//! requests, and the classification of failures.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::s3::S3Server;
use eloqstore::KvError;
use eloqstore::internals::io::cloud::{
    CloudClient, CloudConfig, CloudHandle, CloudService, CondPut, PART_SIZE, RetrySchedule,
};
use eloqstore::internals::io::runtime::{RuntimeConfig, block_on_runtime};

fn config(server: &S3Server, prefix: &str) -> CloudConfig {
    let dir = tempfile::tempdir().unwrap();
    let mut c = CloudConfig::from_options(&server.options(prefix, dir.path())).unwrap();
    c.retry = RetrySchedule {
        init: Duration::from_millis(50),
        max: Duration::from_millis(200),
        retries: 2,
    };
    c
}

fn service(server: &S3Server, prefix: &str) -> Arc<CloudService> {
    CloudService::new(config(server, prefix)).unwrap()
}

#[test]
fn objects_conditional_writes_and_listings() {
    let server = S3Server::start();
    let svc = service(&server, "unit/objects");
    svc.ensure_bucket().unwrap();
    // Twice: an existing bucket is fine (409).
    svc.ensure_bucket().unwrap();
    let c = svc.client().clone();
    let r = svc.block_on(async move {
        let put = c
            .put("t.0/data_0_0", Bytes::from_static(b"hello").into())
            .await?;
        assert!(put.is_some(), "ETag returned");
        let got = c.get("t.0/data_0_0").await?;
        assert_eq!(&got.bytes[..], b"hello");
        assert_eq!(got.e_tag, put);
        let missing = c.get("t.0/nothing").await.unwrap_err();
        assert_eq!(missing.error.code(), KvError::NotFound);

        // CURRENT_TERM-style compare-and-set.
        let first = c
            .put_if_absent("t.0/CURRENT_TERM", Bytes::from_static(b"1"))
            .await?;
        let CondPut::Done(Some(tag1)) = first else {
            panic!("create-only PUT of a new object: {first:?}")
        };
        assert_eq!(
            c.put_if_absent("t.0/CURRENT_TERM", Bytes::from_static(b"2"))
                .await?,
            CondPut::Conflict
        );
        assert_eq!(
            c.put_if_match("t.0/CURRENT_TERM", Bytes::from_static(b"3"), "0000")
                .await?,
            CondPut::Conflict
        );
        assert!(matches!(
            c.put_if_match("t.0/CURRENT_TERM", Bytes::from_static(b"5"), &tag1)
                .await?,
            CondPut::Done(_)
        ));
        assert_eq!(&c.get("t.0/CURRENT_TERM").await?.bytes[..], b"5");
        // The old ETag no longer matches.
        assert_eq!(
            c.put_if_match("t.0/CURRENT_TERM", Bytes::from_static(b"6"), &tag1)
                .await?,
            CondPut::Conflict
        );
        c.delete("t.0/data_0_0").await?;
        c.delete("t.0/data_0_0").await?; // deleting a missing object succeeds
        assert_eq!(
            c.get("t.0/data_0_0").await.unwrap_err().error.code(),
            KvError::NotFound
        );
        Ok::<_, eloqstore::Error>(())
    });
    r.unwrap();
    // The objects sit under the prefix, with upstream's names.
    assert_eq!(server.keys("unit/objects"), vec!["t.0/CURRENT_TERM"]);
}

#[test]
fn listings_paginate_over_thousands_of_objects() {
    let server = S3Server::start();
    let svc = service(&server, "unit/list");
    // 1,100 objects in one partition, and 3 partitions beside it.
    let c = svc.client().clone();
    svc.block_on(async move {
        for chunk in (0..1100u32).collect::<Vec<_>>().chunks(64) {
            let futs = chunk.iter().map(|i| {
                let c = c.clone();
                async move {
                    c.put(
                        &format!("big.0/data_{i}_0"),
                        Bytes::from_static(b"x").into(),
                    )
                    .await
                }
            });
            for r in futures_util::future::join_all(futs).await {
                r.unwrap();
            }
        }
        for p in 1..4 {
            c.put(
                &format!("big.{p}/manifest_0"),
                Bytes::from_static(b"m").into(),
            )
            .await
            .unwrap();
        }
    });
    let c = svc.client().clone();
    let (pages, all) = svc.block_on(async move {
        let mut pages = 0;
        let mut token = None;
        let mut names = Vec::new();
        loop {
            let p = c.list_page("big.0/", false, token, None).await.unwrap();
            pages += 1;
            names.extend(p.objects.into_iter().map(|o| {
                assert_eq!(o.size, 1);
                assert!(o.last_modified.ends_with('Z'), "{}", o.last_modified);
                o.key
            }));
            match p.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        (pages, names)
    });
    assert!(
        pages >= 2,
        "1,100 objects take more than one page ({pages})"
    );
    assert_eq!(all.len(), 1100);
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 1100, "no object listed twice");
    assert!(all.iter().all(|k| k.starts_with("big.0/data_")));

    // Non-recursive at the root: partitions are common prefixes.
    let c = svc.client().clone();
    let root = svc.block_on(async move { c.list_all("", false).await.unwrap() });
    assert!(root.objects.is_empty());
    assert_eq!(root.prefixes, vec!["big.0", "big.1", "big.2", "big.3"]);
    // Small pages with a delimiter paginate too.
    let c = svc.client().clone();
    let firsts = svc.block_on(async move {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let p = c.list_page("", false, token, Some(1)).await.unwrap();
            out.extend(p.prefixes);
            match p.next_token {
                Some(t) => token = Some(t),
                None => return out,
            }
        }
    });
    assert_eq!(firsts, vec!["big.0", "big.1", "big.2", "big.3"]);
    // A recursive listing of everything.
    let c = svc.client().clone();
    let rec = svc.block_on(async move { c.list_all("", true).await.unwrap() });
    assert_eq!(rec.objects.len(), 1103);
    assert!(rec.prefixes.is_empty());
}

#[test]
fn shard_tasks_await_cloud_requests_with_bounded_slots() {
    let server = S3Server::start();
    let mut cfg = config(&server, "unit/shard");
    cfg.max_concurrency = 3;
    cfg.max_upload_batch = 2;
    let svc = CloudService::new(cfg).unwrap();
    // A 20 MiB object goes up in parts and comes down in chunks.
    let big: Vec<u8> = (0..(20usize << 20)).map(|i| (i * 7 % 251) as u8).collect();
    let big = Arc::new(big);
    let (s2, b2) = (svc.clone(), big.clone());
    block_on_runtime(&RuntimeConfig::default(), move |io| async move {
        let h = CloudHandle::new(s2);
        // Many small requests from concurrent tasks of one shard runtime.
        let h = std::rc::Rc::new(h);
        let done = std::rc::Rc::new(std::cell::Cell::new(0));
        for i in 0..40u32 {
            let (h, done) = (h.clone(), done.clone());
            io.spawn(async move {
                let key = format!("s.0/obj_{i}");
                h.put(&key, Bytes::from(format!("v{i}")).into())
                    .await
                    .unwrap();
                let got = h.get(&key).await.unwrap();
                assert_eq!(got.bytes, Bytes::from(format!("v{i}")));
                done.set(done.get() + 1);
            });
        }
        while done.get() < 40 {
            io.sleep(Duration::from_millis(5)).await;
        }
        let mut w = h.multipart("s.0/data_big").await.unwrap();
        for chunk in b2.chunks(PART_SIZE) {
            w.put_part(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        w.finish().await.unwrap();
        let mut d = h.download("s.0/data_big").await.unwrap();
        assert_eq!(d.size, b2.len() as u64);
        let mut got = Vec::new();
        let mut chunks = 0;
        while let Some(c) = d.next_chunk().await {
            got.extend_from_slice(&c.unwrap());
            chunks += 1;
        }
        assert!(chunks > 1, "streamed in chunks");
        assert!(got == *b2, "downloaded bytes equal the uploaded ones");
        let missing = match h.download("s.0/none").await {
            Ok(_) => panic!("download of a missing object"),
            Err(e) => e,
        };
        assert_eq!(missing.error.code(), KvError::NotFound);
    })
    .unwrap();
    let on_disk = std::fs::read(server.object_path("unit/shard/s.0/data_big")).unwrap();
    assert!(on_disk == *big);
}

#[test]
fn wrong_credentials_are_a_clear_cloud_error() {
    let server = S3Server::start();
    let mut cfg = config(&server, "unit/creds");
    cfg.secret_key = "not-the-secret".into();
    let svc = CloudService::new(cfg).unwrap();
    let e = svc.ensure_bucket().unwrap_err();
    assert_eq!(e.code(), KvError::CloudErr);
    assert!(e.message().contains("403"), "{e}");
    assert!(e.message().contains("cloud_secret_key"), "{e}");
    let c = svc.client().clone();
    let e = svc
        .block_on(async move { c.get("t.0/manifest_0").await })
        .unwrap_err();
    assert_eq!(e.error.code(), KvError::CloudErr);
    assert!(e.error.message().contains("access denied"), "{}", e.error);
}

#[test]
fn unreachable_service_is_cloud_err_after_retries() {
    let server = S3Server::start();
    let mut cfg = config(&server, "unit/down");
    // Nothing listens there any more.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    cfg.endpoint = format!("http://127.0.0.1:{port}");
    let svc = CloudService::new(cfg).unwrap();
    let e = svc.ensure_bucket().unwrap_err();
    assert_eq!(e.code(), KvError::CloudErr, "{e}");
    let c = svc.client().clone();
    let started = std::time::Instant::now();
    let e = svc
        .block_on(async move { c.put("t.0/x", Bytes::from_static(b"x").into()).await })
        .unwrap_err();
    assert_eq!(e.error.code(), KvError::CloudErr, "{}", e.error);
    assert!(
        e.error.message().contains("cannot be reached"),
        "{}",
        e.error
    );
    // The two retries took their back-off (at least 50 ms each).
    assert!(started.elapsed() >= Duration::from_millis(100));
}

/// A socket answering every request with one status: not an object store,
/// just a server in trouble.
fn status_server(status: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                // Read the request head (bodies of these tests are small).
                let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = s.read(&mut buf);
                let body = "<Error><Code>X</Code></Error>";
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

#[test]
fn server_errors_are_timeouts_and_client_errors_cloud_errors() {
    let server = S3Server::start();
    for (status, code) in [
        ("503 Service Unavailable", KvError::Timeout),
        ("500 Internal Server Error", KvError::Timeout),
        ("429 Too Many Requests", KvError::Timeout),
        ("400 Bad Request", KvError::CloudErr),
        ("403 Forbidden", KvError::CloudErr),
        ("404 Not Found", KvError::NotFound),
    ] {
        let port = status_server(status);
        let mut cfg = config(&server, "unit/status");
        cfg.endpoint = format!("http://127.0.0.1:{port}");
        let c = CloudClient::new(cfg.clone()).unwrap();
        let svc = CloudService::new(cfg).unwrap();
        let e = svc
            .block_on(async move { c.get("t.0/manifest_0").await })
            .unwrap_err();
        assert_eq!(e.error.code(), code, "{status}: {}", e.error);
    }
}
