//! report.html opened in a real browser (headless Chromium, Debian package `chromium`; `.ci/run`
//! installs it): the DOM after the page's script ran shows the verdict banner naming the failing
//! requirement, the failing case first and expanded, and no script error; printed to PDF it
//! holds every section (as many pages as with all sections open). A page with a deliberate
//! script error proves the error marker is seen.
//!
//! Without Chromium the test fails (install it); only `KVC_SKIP_BROWSER=1` skips it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn browser() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("KVC_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(PathBuf::from)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs the headless browser on `page` with `action` (`--dump-dom`, `--print-to-pdf=FILE`);
/// returns its stdout.
fn headless(browser: &Path, page: &Path, profile: &Path, action: &str) -> String {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--no-pdf-header-footer",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    if running_as_root() {
        cmd.arg("--no-sandbox");
    }
    let mut child = cmd
        .arg(action)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).map(|_| s)
    });
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().expect("reader").expect("browser output")
}

/// The DOM of `page` after its scripts ran.
fn dump_dom(browser: &Path, page: &Path, profile: &Path) -> String {
    headless(browser, page, profile, "--dump-dom")
}

/// The number of pages `page` prints to (PDF page objects, `/Type /Page` but not `/Pages`).
fn printed_pages(browser: &Path, page: &Path, profile: &Path) -> usize {
    let pdf = page.with_extension("pdf");
    headless(
        browser,
        page,
        profile,
        &format!("--print-to-pdf={}", pdf.display()),
    );
    let bytes = std::fs::read(&pdf).expect("PDF written");
    let needle = b"/Type /Page";
    bytes
        .windows(needle.len() + 1)
        .filter(|w| w.starts_with(needle) && w[needle.len()] != b's')
        .count()
}

/// The start tag of the first element whose start tag contains `needle`.
fn start_tag<'a>(dom: &'a str, needle: &str) -> &'a str {
    let at = dom
        .find(needle)
        .unwrap_or_else(|| panic!("no `{needle}` in the DOM"));
    let start = dom[..at].rfind('<').expect("tag start");
    let end = at + dom[at..].find('>').expect("tag end");
    &dom[start..=end]
}

#[test]
fn the_rendered_report_leads_to_the_failure() {
    let Some(browser) = browser() else {
        if std::env::var("KVC_SKIP_BROWSER").as_deref() == Ok("1") {
            eprintln!("KVC_SKIP_BROWSER=1: the headless-browser test of report.html is skipped");
            return;
        }
        panic!(
            "Chromium is needed to test report.html in a browser: install it (Debian: apt-get install chromium; .ci/run does) or set KVC_CHROMIUM=/path/to/chromium; KVC_SKIP_BROWSER=1 skips this test explicitly"
        );
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r");
    let o = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "--fault",
            "KVC-Anb170",
            "--case",
            "kvc-pvs/anb170-no-bcc",
            "--case",
            "kvc-pvs/anb010-transport",
            "--case",
            "kvc-pvs/anb030-attest",
            "--case",
            "kvc-pvs/anb021-expired",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let page = out.join("report.html");
    let dom = dump_dom(&browser, &page, &dir.path().join("profile"));

    let html = start_tag(&dom, "<html");
    assert!(
        html.contains("data-report-ready=\"1\""),
        "the page's script did not finish: {html}"
    );
    assert!(
        !html.contains("data-report-error"),
        "script error in report.html: {html}"
    );

    // The banner comes first and names the failing requirement, linked.
    let banner_at = dom.find("id=\"verdict-banner\"").expect("banner");
    assert!(
        banner_at < dom.find("Requirement matrix").expect("matrix"),
        "banner above the matrix"
    );
    let banner_end = banner_at
        + dom[banner_at..]
            .find("<table")
            .expect("table after the banner");
    let banner = &dom[banner_at..banner_end];
    assert!(banner.contains("data-verdict=\"fail\""), "{banner}");
    assert!(
        banner.contains("href=\"#req-KVC-Anb170\"") && banner.contains("KVC-Anb170"),
        "banner names the failing requirement: {banner}"
    );
    assert!(
        !banner.contains("KVC-Anb010"),
        "only failing ones: {banner}"
    );

    // The failing case is the first case and open; the attest case comes before passing ones.
    let first = start_tag(&dom, "<details class=\"case");
    assert!(
        first.contains("id=\"case-kvc-pvs/anb170-no-bcc\""),
        "failing case first: {first}"
    );
    assert!(first.contains(" open"), "failing case expanded: {first}");
    let pos = |id: &str| {
        dom.find(&format!("id=\"case-{id}\""))
            .unwrap_or_else(|| panic!("case {id} in the DOM"))
    };
    assert!(pos("kvc-pvs/anb030-attest") < pos("kvc-pvs/anb010-transport"));
    let passing = start_tag(&dom, "id=\"case-kvc-pvs/anb010-transport\"");
    assert!(!passing.contains(" open"), "passing case closed: {passing}");
    assert!(dom.contains("id=\"expand-all\"") && dom.contains("id=\"collapse-all\""));
    // How to reproduce, with paths from the folder the run was started in.
    assert!(dom.contains("how to reproduce"));
    assert!(dom.contains("--case kvc-pvs/anb170-no-bcc"));

    // Printing includes what closed sections hide: the page prints to as many pages as the
    // same page with every section open, and to more than it would without the print rule
    // and the beforeprint handler (which shows that the comparison can fail).
    let text = std::fs::read_to_string(&page).expect("report.html");
    let all_open = dir.path().join("all-open.html");
    std::fs::write(&all_open, text.replace("<details", "<details open")).expect("write");
    let no_print = dir.path().join("no-print.html");
    let stripped = text
        .replace("details::details-content", "details::no-such-pseudo")
        .replace("'beforeprint'", "'no-such-event'");
    assert_ne!(stripped, text);
    std::fs::write(&no_print, stripped).expect("write");
    let pages = printed_pages(&browser, &page, &dir.path().join("profile3"));
    assert_eq!(
        pages,
        printed_pages(&browser, &all_open, &dir.path().join("profile4")),
        "printing shows every section"
    );
    let closed = printed_pages(&browser, &no_print, &dir.path().join("profile5"));
    assert!(
        pages > closed,
        "{pages} pages vs. {closed} without the print rules"
    );

    // The error marker works: the same page with a failing script shows it.
    let broken = dir.path().join("broken.html");
    std::fs::write(
        &broken,
        text.replace("</body>", "<script>noSuchFunction();</script></body>"),
    )
    .expect("write");
    let dom = dump_dom(&browser, &broken, &dir.path().join("profile2"));
    assert!(
        start_tag(&dom, "<html").contains("data-report-error"),
        "a script error must be visible in the DOM"
    );
}
