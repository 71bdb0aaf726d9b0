//! Just enough of the W3C WebDriver protocol to drive Debian's headless
//! Chromium through chromedriver, over reqwest (no extra dependency).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
    _profile: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn binary(names: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .chain(names.iter().map(|name| PathBuf::from("/usr/lib/chromium").join(name)))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{names:?} not found: install Debian's chromium and chromium-driver (.ci/run does)")
        })
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile.
    pub async fn start() -> Self {
        let port = free_port();
        let driver = Command::new(binary(&["chromedriver"]))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile =
            TempDir(std::env::temp_dir().join(format!("lh-chromium-{}-{port}", std::process::id())));
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while browser.http.get(format!("{}/status", browser.base)).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!("--user-data-dir={}", browser._profile.0.display())])
        .collect::<Vec<_>>();
        let chromium = binary(&["chromium", "chromium-browser"]);
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args}
        }}});
        let session = browser.post("/session", capabilities).await;
        let id = session["sessionId"].as_str().expect("a WebDriver session").to_owned();
        browser.base = format!("{}/session/{id}", browser.base);
        browser
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self.http.post(format!("{}{path}", self.base)).json(&body).send().await.unwrap();
        let value: Value = response.json().await.unwrap();
        assert!(value["value"]["error"].is_null(), "WebDriver {path}: {value}");
        value["value"].clone()
    }

    async fn get(&self, path: &str) -> Value {
        let value: Value =
            self.http.get(format!("{}{path}", self.base)).send().await.unwrap().json().await.unwrap();
        assert!(value["value"]["error"].is_null(), "WebDriver {path}: {value}");
        value["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap().to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let found = self.post("/element", json!({"using": "css selector", "value": css})).await;
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_owned()
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.post(&format!("/element/{element}/value"), json!({ "text": text })).await;
    }

    /// Clicks a link or button that leads to another page, and returns once
    /// that page has loaded. chromedriver's click may return while a form's
    /// POST and its redirect are still in flight, so the old document is
    /// marked and the new one awaited.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.script("window.__leaseholdOldPage = true").await;
        self.post(&format!("/element/{element}/click"), json!({})).await;
        let loaded = "return window.__leaseholdOldPage === undefined && document.readyState === 'complete'";
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.script_answers_true(loaded).await {
            assert!(Instant::now() < deadline, "clicking {css} led to no new page");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn script(&self, body: &str) -> Value {
        self.post("/execute/sync", json!({"script": body, "args": []})).await
    }

    /// Like `script`, but an error (the page is between documents) is a no.
    async fn script_answers_true(&self, body: &str) -> bool {
        let request = self.http.post(format!("{}/execute/sync", self.base));
        let Ok(response) = request.json(&json!({"script": body, "args": []})).send().await else {
            return false;
        };
        response.json::<Value>().await.is_ok_and(|v| v["value"] == Value::Bool(true))
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.get(&format!("/element/{element}/text")).await.as_str().unwrap().to_owned()
    }

    /// The page's whole visible text.
    pub async fn page_text(&self) -> String {
        self.text("body").await
    }

    /// Saves a PNG of the page under target/console-screenshots/.
    pub async fn screenshot(&self, name: &str) {
        let png = self.get("/screenshot").await;
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }

    /// Ends the session and chromedriver (what dropping does, off the executor).
    pub async fn quit(self) {
        tokio::task::spawn_blocking(move || drop(self)).await.unwrap();
    }
}

impl Drop for Browser {
    /// Ends the session (so Chromium exits) even when a test panics, then
    /// stops chromedriver.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let rest = self.base.trim_start_matches("http://");
        let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        if let Ok(mut stream) = std::net::TcpStream::connect(host) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!("DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
