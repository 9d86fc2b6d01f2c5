//! Oversized DATA is discarded without buffering: the process's peak RSS stays far below the
//! amount sent. A separate test binary, so no other test shares the process.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use kvc_mocks::{KvcClientConfig, SessionEnd};

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn oversized_data_is_not_buffered() {
    let pki = pki();
    let cfg = KvcClientConfig {
        max_message_bytes: 1024 * 1024,
        idle_timeout: Duration::from_secs(10),
        ..kvc_mocks::kvc::client::default_config()
    };
    let mock = start(cfg, &pki).await;
    let mut c = smtp_login(mock.smtp_addr(), &pki).await;
    c.cmd("MAIL FROM:<a@b.test>").await;
    c.cmd("RCPT TO:<c@d.test>").await;
    assert!(c.cmd("DATA").await.starts_with("354"));
    let before = peak_rss_kib();
    let line = format!("{}\r\n", "A".repeat(76));
    let chunk = line.repeat(1024 * 1024 / line.len() + 1); // ~1 MiB, reused
    let total_mib = 160;
    let t = Instant::now();
    for _ in 0..total_mib {
        c.send(chunk.as_bytes()).await;
    }
    c.send(b".\r\n").await;
    let r = c.reply().await;
    assert!(r.starts_with("552"), "{r}");
    let after = peak_rss_kib();
    eprintln!(
        "sent {total_mib} MiB over a 1 MiB limit in {:?}: peak RSS {} MiB before, {} MiB after",
        t.elapsed(),
        before / 1024,
        after / 1024
    );
    assert!(
        after < before + 64 * 1024,
        "peak RSS grew by {} MiB while {total_mib} MiB were discarded",
        (after - before) / 1024
    );
    let obs = mock.wait_for_idle(STEP).await;
    assert_eq!(obs.smtp[0].end, SessionEnd::TooLarge);
    mock.shutdown().await;
}
