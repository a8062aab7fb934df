//! The campaign driven from the library, as a program that links the
//! crate runs it: split into a directory, start, run to the merge, over
//! the fake Sync API on a loopback port.

use std::path::Path;
use std::time::Duration;

use syncbatch::campaign::driver::{files_of_manifest, JOURNAL};
use syncbatch::campaign::{Campaign, CampaignError, Note, Outcome, RunOptions, Settings, Watch};
use syncbatch::client::Client;
use syncbatch::fake_api::{FakeApi, FakeConfig};
use syncbatch::split::{split, DirSink, SplitOptions};
use syncbatch::validate::Limits;
use syncbatch::Input;

fn fake() -> FakeApi {
    FakeApi::spawn(
        FakeConfig::default().timing(Duration::from_millis(50), Duration::from_millis(150)),
    )
    .unwrap()
}

fn client(fake: &FakeApi) -> Client {
    Client::builder()
        .api_key(fake.key())
        .base_url(fake.base_url())
        .rate_limit(6000)
        .build()
        .unwrap()
}

/// Splits `records` generated requests into `dir/batches` and starts a
/// campaign there.
fn start(dir: &Path, records: usize, max_records: u64) -> Campaign {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let input = Input::from_bytes("requests.jsonl", syncbatch::generate::records(2, records));
    let limits = Limits::default().max_records(max_records);
    let sink = DirSink::create(&dir.join("batches"), "batch", false).unwrap();
    split(vec![input], SplitOptions::new().limits(limits), sink).unwrap();
    let files = files_of_manifest(&dir.join("batches"), "batches").unwrap();
    let mut settings = Settings::default();
    settings.max_records = max_records;
    Campaign::start(dir, files, settings).unwrap()
}

#[derive(Default)]
struct Notes(Vec<String>);

impl Watch for Notes {
    fn note(&mut self, note: Note<'_>) {
        self.0.push(format!("{note:?}"));
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "syncbatch-campaign-driver-{}-{name}",
        std::process::id()
    ))
}

#[tokio::test]
async fn a_program_runs_a_campaign_with_one_call() {
    let fake = fake();
    let dir = scratch("one-call");
    let mut campaign = start(&dir, 75, 25);
    let options = RunOptions::new().poll_interval(Duration::from_millis(50));
    let mut notes = Notes::default();
    let outcome = campaign
        .run(&client(&fake), &options, &mut notes)
        .await
        .unwrap();
    let Outcome::Finished { summary, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(summary.requests, 75);
    assert_eq!(summary.missing, 0);
    assert_eq!(fake.creates(), 3);
    assert!(
        notes.0.iter().any(|n| n.starts_with("Merged")),
        "{:?}",
        notes.0
    );
    assert!(campaign.is_finished());
    let rows = campaign.rows();
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|r| r.downloaded && r.status.as_deref() == Some("COMPLETED")));
    // A second hold on the same directory is refused while this one lives.
    let err = Campaign::open(&dir).unwrap_err();
    assert!(err.to_string().contains("another run"), "{err}");
    drop(campaign);
    let again = Campaign::open(&dir).unwrap();
    assert!(again.is_finished());
    assert!(dir.join(JOURNAL).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A batch of the campaign that the API does not know answers `404`: it is
/// waited on for the grace period, then the run stops naming it.
#[tokio::test]
async fn a_batch_that_vanished_stops_the_run_after_the_grace() {
    let fake = fake();
    let dir = scratch("vanished");
    let mut campaign = start(&dir, 20, 500);
    campaign.adopt("batch-00001.jsonl", "batch_gone").unwrap();
    let options = RunOptions::new()
        .poll_interval(Duration::from_millis(50))
        .vanished_grace(Duration::from_millis(400));
    let started = std::time::Instant::now();
    let err = campaign
        .run(&client(&fake), &options, ())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CampaignError::Vanished { file, id } if file == "batches/batch-00001.jsonl" && id == "batch_gone"),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
    let gets = fake
        .log()
        .iter()
        .filter(|l| l.path.ends_with("/batch_gone") && l.status == 404)
        .count();
    assert!(gets >= 2, "asked again while in grace: {gets}");
    assert_eq!(fake.creates(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A stop asked for while waiting ends the run at once, journal intact.
#[tokio::test]
async fn a_stop_ends_the_wait() {
    let fake = FakeApi::spawn(
        FakeConfig::default().timing(Duration::from_secs(60), Duration::from_secs(60)),
    )
    .unwrap();
    let dir = scratch("stop");
    let mut campaign = start(&dir, 20, 500);
    let since = std::time::Instant::now();
    let options = RunOptions::new()
        .poll_interval(Duration::from_secs(3600))
        .stop_when(move || since.elapsed() > Duration::from_millis(500));
    let err = campaign
        .run(&client(&fake), &options, ())
        .await
        .unwrap_err();
    assert!(matches!(err, CampaignError::Interrupted), "{err}");
    assert!(since.elapsed() < Duration::from_secs(5));
    drop(campaign);
    let resumed = Campaign::open(&dir).unwrap();
    assert_eq!(resumed.progress().created, 1);
    assert_eq!(fake.creates(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
