//! The API client against the fake Sync API on a loopback port: one test
//! per policy of the client. Nothing here leaves the machine.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use syncbatch::api::BatchStatus;
use syncbatch::client::{Client, ClientErrorKind, CreateOptions, Created, ListFilter};
use syncbatch::fake_api::{FakeApi, FakeConfig, Fault, Origin};

fn batch_file(name: &str, records: usize) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncbatch-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, syncbatch::generate::records(records as u64, records)).unwrap();
    path
}

async fn fake(config: FakeConfig) -> (FakeApi, Client) {
    let fake =
        FakeApi::start(config.timing(Duration::from_millis(100), Duration::from_millis(200)))
            .await
            .unwrap();
    let client = Client::builder()
        .api_key(fake.key())
        .base_url(fake.base_url())
        .rate_limit(6000)
        .build()
        .unwrap();
    (fake, client)
}

async fn wait_completed(client: &Client, id: &str) -> syncbatch::api::Batch {
    for _ in 0..100 {
        let batch = client.get_batch(id).await.unwrap();
        if batch.status == BatchStatus::Completed {
            return batch;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("batch {id} never completed");
}

/// The whole round: create, get until completed, list, download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_list_and_download() {
    let (fake, client) = fake(FakeConfig::default()).await;
    let file = batch_file("round.jsonl", 25);
    let Created::Batch(batch) = client
        .create_batch(&file, &CreateOptions::default())
        .await
        .unwrap()
    else {
        panic!("a batch");
    };
    assert_eq!(batch.metrics.unwrap().total_generations, 25);
    let done = wait_completed(&client, &batch.id).await;
    let listed = client
        .list_batches(&ListFilter::default().status("COMPLETED"))
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|b| &b.id).collect::<Vec<_>>(),
        [&batch.id]
    );
    let mut out = Vec::new();
    let n = client.download_results(&done, &mut out).await.unwrap();
    assert_eq!(n as usize, out.len());
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 25);
    let dry = client
        .create_batch(&file, &CreateOptions::default().dry_run(true))
        .await
        .unwrap();
    assert!(matches!(dry, Created::DryRun(d) if d.status == BatchStatus::Validated));
    assert_eq!(fake.creates(), 1);
    let models = client.list_models().await.unwrap();
    assert!(models.iter().any(|m| m.name == "lipsync-2"));
}

/// Policy: no two requests start closer than 60/N seconds apart, counted
/// on the fake's side (N = 120: half a second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_spaced_by_the_rate_limit() {
    let (fake, _) = fake(FakeConfig::default()).await;
    let client = Client::builder()
        .api_key(fake.key())
        .base_url(fake.base_url())
        .rate_limit(120)
        .build()
        .unwrap();
    let clone = client.clone();
    let a = tokio::spawn(async move {
        for _ in 0..3 {
            clone.list_batches(&ListFilter::default()).await.unwrap();
        }
    });
    for _ in 0..3 {
        client.list_models().await.unwrap();
    }
    a.await.unwrap();
    let log = fake.log();
    assert_eq!(log.len(), 6);
    for pair in log.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(gap >= Duration::from_millis(490), "{gap:?}");
    }
}

/// Policy: a 429 waits as retry-after-ms says, then the request goes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_waits_as_its_retry_hint_says() {
    let (fake, client) = fake(FakeConfig::default()).await;
    fake.inject(Fault::TooManyRequests {
        retry_after_ms: 400,
    });
    client.list_batches(&ListFilter::default()).await.unwrap();
    let log = fake.log();
    assert_eq!(log.iter().map(|l| l.status).collect::<Vec<_>>(), [429, 200]);
    assert!(log[1].at.duration_since(log[0].at) >= Duration::from_millis(400));
    assert_eq!(client.counts(), (2, 1));
}

/// Policy: a 5xx on a GET backs off (at least half of one second) and the
/// request goes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_backs_off_and_retries_a_server_error() {
    let (fake, client) = fake(FakeConfig::default()).await;
    fake.inject(Fault::ServerError);
    fake.inject(Fault::ServerError);
    client.list_models().await.unwrap();
    let log = fake.log();
    assert_eq!(
        log.iter().map(|l| l.status).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    assert!(log[1].at.duration_since(log[0].at) >= Duration::from_millis(500));
    assert!(log[2].at.duration_since(log[1].at) >= Duration::from_millis(1000));
}

/// Policy: a create that may have made a batch (a 500 after making it, or
/// a connection dropped unanswered) is never sent again; the error says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_may_have_created_is_not_sent_again() {
    for fault in [Fault::CreateThenFail, Fault::CreateThenDrop] {
        let (fake, client) = fake(FakeConfig::default()).await;
        fake.inject(fault.clone());
        let file = batch_file("ambiguous.jsonl", 21);
        let err = client
            .create_batch(&file, &CreateOptions::default())
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ClientErrorKind::MayHaveCreated,
            "{fault:?}: {err}"
        );
        assert!(err.may_have_created() && !err.is_retryable());
        assert_eq!(fake.creates(), 1, "{fault:?}");
        let posts = fake.log().iter().filter(|l| l.method == "POST").count();
        assert_eq!(posts, 1, "{fault:?}");
    }
    // A 429 on a create made nothing: it goes again.
    let (fake, client) = fake(FakeConfig::default()).await;
    fake.inject(Fault::TooManyRequests { retry_after_ms: 50 });
    let file = batch_file("throttled.jsonl", 21);
    client
        .create_batch(&file, &CreateOptions::default())
        .await
        .unwrap();
    assert_eq!(fake.creates(), 1);
}

/// Policy: read timeouts. A server that accepts and never answers: a GET
/// gives up after its attempts, a create says it may have made a batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_are_retried_on_gets_and_never_on_creates() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let client = Client::builder()
        .api_key("sk-x")
        .base_url(format!("http://{addr}"))
        .read_timeout(Duration::from_millis(200))
        .attempts(Some(2))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.get_batch("batch_1").await.unwrap_err();
    assert_eq!(err.kind(), ClientErrorKind::GaveUp, "{err}");
    assert!(err.is_retryable());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "a back-off between the two"
    );
    let file = batch_file("silent.jsonl", 21);
    let err = client
        .create_batch(&file, &CreateOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ClientErrorKind::MayHaveCreated, "{err}");
}

/// Policy: the key goes to the API's origin on every request, and never to
/// the storage the results redirect to; it is in no Debug or error text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_reaches_the_api_origin_only() {
    let (fake, client) = fake(FakeConfig::default()).await;
    let file = batch_file("keyed.jsonl", 22);
    let Created::Batch(batch) = client
        .create_batch(&file, &CreateOptions::default())
        .await
        .unwrap()
    else {
        panic!()
    };
    let done = wait_completed(&client, &batch.id).await;
    client
        .download_results(&done, &mut Vec::new())
        .await
        .unwrap();
    let log = fake.log();
    let storage: Vec<_> = log.iter().filter(|l| l.origin == Origin::Storage).collect();
    assert!(!storage.is_empty());
    assert!(storage.iter().all(|l| !l.keyed), "{storage:?}");
    assert!(log
        .iter()
        .filter(|l| l.origin == Origin::Api)
        .all(|l| l.keyed));
    assert!(!format!("{client:?}").contains(&fake.key()));
    let wrong = Client::builder()
        .api_key("sk-wrong-secret")
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let err = wrong.get_batch(&batch.id).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(!err.to_string().contains("sk-wrong-secret"), "{err}");
    assert!(!format!("{err:?} {wrong:?}").contains("sk-wrong-secret"));
}

/// Policy: an expired signed URL (403 on the storage) is met by asking the
/// outputUrl again; a download cut short says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_urls_are_asked_again_and_cut_downloads_are_reported() {
    let (fake, client) = fake(FakeConfig::default()).await;
    let file = batch_file("expired.jsonl", 30);
    let Created::Batch(batch) = client
        .create_batch(&file, &CreateOptions::default())
        .await
        .unwrap()
    else {
        panic!()
    };
    let done = wait_completed(&client, &batch.id).await;
    fake.inject(Fault::ExpiredUrl);
    let mut out = Vec::new();
    client.download_results(&done, &mut out).await.unwrap();
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 30);
    let storage: Vec<u16> = fake
        .log()
        .iter()
        .filter(|l| l.origin == Origin::Storage)
        .map(|l| l.status)
        .collect();
    assert_eq!(storage, [403, 200]);
    fake.inject(Fault::CutDownload);
    let err = client
        .download_results(&done, &mut Vec::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ClientErrorKind::CutShort, "{err}");
    // A batch not completed has no results.
    let pending = client
        .create_batch(&file, &CreateOptions::default())
        .await
        .unwrap();
    let Created::Batch(pending) = pending else {
        panic!()
    };
    let err = client
        .download_results(&pending, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not COMPLETED"), "{err}");
}

/// The fake's own rate limit (600 a minute here) against a client allowed
/// far more: the fake answers 429 with its hint, and the client waits as
/// told, then gets through; nothing fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_side_rate_limit_is_waited_out() {
    let (fake, client) = fake(FakeConfig::default().rate_limit(Some(600))).await;
    for _ in 0..3 {
        client.list_models().await.unwrap();
    }
    let statuses: Vec<u16> = fake.log().iter().map(|l| l.status).collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    let (_, throttled) = client.counts();
    assert!(throttled >= 1);
}

/// After a create that may have made a batch, `candidates` finds it (the
/// one made since, with the file's record count; not one of another
/// size), and a download cut short is fetched again, whole, by
/// `download_results_retrying`, leaving nothing aside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_after_an_ambiguous_create_and_downloads_fetched_again() {
    let (fake, client) = fake(FakeConfig::default()).await;
    let other = batch_file("other-size.jsonl", 33);
    client
        .create_batch(&other, &CreateOptions::default())
        .await
        .unwrap();
    fake.inject(Fault::CreateThenFail);
    let file = batch_file("lost.jsonl", 27);
    let attempt = std::time::SystemTime::now();
    let err = client
        .create_batch(&file, &CreateOptions::default())
        .await
        .unwrap_err();
    assert!(err.may_have_created());
    let found = client.candidates(attempt, 27).await.unwrap();
    assert_eq!(
        found.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(),
        ["batch_000002"]
    );
    let done = wait_completed(&client, "batch_000002").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.jsonl");
    fake.inject(Fault::CutDownload);
    let n = client
        .download_results_retrying(&done, &path, 3)
        .await
        .unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), n);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 27);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing left aside"
    );
}

/// A refused connection (nothing listens) sent nothing: a GET and a create
/// alike are sent again after a back-off, then given up on; the create is
/// never taken for one that may have made a batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_sent_again_then_given_up_on() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let client = Client::builder()
        .api_key("sk-x")
        .base_url(format!("http://{closed}"))
        .connect_timeout(Duration::from_millis(500))
        .attempts(Some(2))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.list_models().await.unwrap_err();
    assert_eq!(err.kind(), ClientErrorKind::GaveUp, "{err}");
    assert!(err.to_string().contains("could not connect"), "{err}");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "a back-off between the two"
    );
    let file = batch_file("refused.jsonl", 21);
    let err = client
        .create_batch(&file, &CreateOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ClientErrorKind::GaveUp, "{err}");
    assert!(!err.may_have_created());
}
