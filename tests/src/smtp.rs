//! SMTP servers on loopback for the tests.
//!
//! [`SmtpSink`] speaks the basic protocol (EHLO, MAIL, RCPT, DATA, QUIT) in process, keeps what it
//! accepted, and can refuse or stall on demand, like a mail relay that is down or slow. It knows
//! no STARTTLS and no AUTH.
//!
//! [`Relay`] is a real SMTP server implementation (aiosmtpd, `tests/smtp/relay.py`, from the
//! project's Python venv) with STARTTLS, implicit TLS (`smtps://`) and AUTH, its certificate
//! signed by a certificate authority made for the test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Accept,
    /// Answer every new connection, and every message on an open one, with 421 (service not
    /// available).
    Refuse,
    /// Wait this long before confirming a message; a client that drops the connection in
    /// the meantime has delivered nothing.
    Stall(Duration),
}

#[derive(Clone, Debug)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
    /// Whether the message came over TLS (STARTTLS or implicit); the sink knows none.
    pub tls: bool,
    /// Who logged in to send it (AUTH); the sink knows no AUTH.
    pub user: Option<String>,
}

fn header(data: &str, name: &str) -> Option<String> {
    let head = data.split("\r\n\r\n").next()?;
    let mut value: Option<String> = None;
    for line in head.split("\r\n") {
        if let Some(v) = &mut value {
            if line.starts_with(' ') || line.starts_with('\t') {
                v.push_str(line.trim_start());
                continue;
            }
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_owned());
        }
    }
    value
}

fn quoted_printable(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\r') => i += 3,
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`).
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("=?") {
        let (before, word) = rest.split_at(start);
        if !before.trim().is_empty() || out.is_empty() {
            out.push_str(before);
        }
        let parts: Vec<&str> = word[2..].splitn(3, '?').collect();
        let Some(end) = parts.get(2).and_then(|p| p.find("?=")) else {
            out.push_str(word);
            return out;
        };
        let text = &parts[2][..end];
        let bytes = if parts[1].eq_ignore_ascii_case("b") {
            STANDARD.decode(text).unwrap_or_default()
        } else {
            quoted_printable(&text.replace('_', " "))
        };
        out.push_str(&String::from_utf8_lossy(&bytes));
        rest = &parts[2][end + 2..];
    }
    out.push_str(rest);
    out
}

impl Received {
    /// A header's value, encoded words decoded; empty when absent.
    pub fn header(&self, name: &str) -> String {
        header(&self.data, name).map(|s| decode_words(&s)).unwrap_or_default()
    }

    pub fn subject(&self) -> String {
        header(&self.data, "Subject").map(|s| decode_words(&s)).unwrap_or_default()
    }

    pub fn message_id(&self) -> String {
        header(&self.data, "Message-ID").unwrap_or_default()
    }

    pub fn body(&self) -> String {
        let raw = self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        match header(&self.data, "Content-Transfer-Encoding").map(|e| e.to_ascii_lowercase()).as_deref() {
            Some("base64") => {
                String::from_utf8_lossy(&STANDARD.decode(raw.replace("\r\n", "")).unwrap_or_default()).into_owned()
            }
            Some("quoted-printable") => String::from_utf8_lossy(&quoted_printable(raw)).into_owned(),
            _ => raw.to_owned(),
        }
    }
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    mode: Arc<Mutex<Mode>>,
    /// Messages whose data came in and whose answer is held back (`Mode::Stall`).
    stalled: Arc<AtomicUsize>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind SMTP sink");
        let port = listener.local_addr().expect("addr").port();
        let sink =
            Self { port, received: Arc::default(), mode: Arc::new(Mutex::new(Mode::Accept)), stalled: Arc::default() };
        let server = sink.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move {
                    let _ = server.session(socket).await;
                });
            }
        });
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap_or_else(|p| p.into_inner()) = mode;
    }

    fn mode(&self) -> Mode {
        self.mode.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many messages are in, but not yet answered, while stalling: a client is mid-send.
    pub fn stalled(&self) -> usize {
        self.stalled.load(Ordering::SeqCst)
    }

    async fn session(&self, socket: tokio::net::TcpStream) -> std::io::Result<()> {
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read);
        if self.mode() == Mode::Refuse {
            write.write_all(b"421 sink not available\r\n").await?;
            return Ok(());
        }
        write.write_all(b"220 renkei-test-sink ESMTP\r\n").await?;
        let mut to = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_ascii_uppercase();
            if command.starts_with("EHLO") {
                write.write_all(b"250-renkei-test-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n").await?;
            } else if command.starts_with("MAIL FROM") && self.mode() == Mode::Refuse {
                // A relay going down drops the connections it already had, pooled ones too.
                write.write_all(b"421 sink not available\r\n").await?;
                return Ok(());
            } else if command.starts_with("HELO") || command.starts_with("MAIL FROM") || command.starts_with("NOOP") {
                write.write_all(b"250 ok\r\n").await?;
            } else if command.starts_with("RSET") {
                to.clear();
                write.write_all(b"250 ok\r\n").await?;
            } else if command.starts_with("RCPT TO") {
                let addr = line.trim_end()[8..].trim().trim_start_matches('<').trim_end_matches('>').to_owned();
                to.push(addr);
                write.write_all(b"250 ok\r\n").await?;
            } else if command == "DATA" {
                write.write_all(b"354 go ahead\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').filter(|_| line.starts_with("..")).unwrap_or(&line));
                }
                if let Mode::Stall(wait) = self.mode() {
                    // Nothing is accepted until the reply goes out; a client that goes away
                    // while we wait has sent nothing.
                    let mut probe = String::new();
                    self.stalled.fetch_add(1, Ordering::SeqCst);
                    let gone = tokio::select! {
                        _ = tokio::time::sleep(wait) => false,
                        _ = lines.read_line(&mut probe) => true,
                    };
                    self.stalled.fetch_sub(1, Ordering::SeqCst);
                    if gone {
                        return Ok(());
                    }
                }
                write.write_all(b"250 queued\r\n").await?;
                write.flush().await?;
                self.received.lock().unwrap_or_else(|p| p.into_inner()).push(Received {
                    to: std::mem::take(&mut to),
                    data,
                    tls: false,
                    user: None,
                });
            } else if command.starts_with("QUIT") {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else {
                write.write_all(b"502 not implemented\r\n").await?;
            }
        }
    }
}

/// The Python of the project's venv (`RENKEI_VENV`, default `~/.cache/renkei/venv`), with the
/// packages of `tests/smtp/requirements.txt`; stops the test with what to do when it is absent.
pub fn python() -> PathBuf {
    let venv = std::env::var_os("RENKEI_VENV").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is not set")).join(".cache/renkei/venv")
    });
    let python = venv.join("bin/python");
    let ok = std::process::Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no aiosmtpd in the Python venv {} (RENKEI_VENV): `make test` prepares it, or by hand \
         `bash -c 'source scripts/lib.sh && python_venv tests/smtp/requirements.txt'`",
        venv.display()
    );
    python
}

/// How a [`Relay`] protects its sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Plain text, no STARTTLS offered.
    Plain,
    /// STARTTLS offered and required before anything else (and before AUTH).
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// A certificate authority made for one test, and the relay's certificate for 127.0.0.1 and
/// localhost signed by it (by the `openssl` command).
pub struct Certificates {
    pub dir: PathBuf,
    /// The authority (what a client is told to trust).
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is needed to make the test's certificates");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Certificates {
    pub fn make() -> Self {
        let dir = std::env::temp_dir().join(format!("renkei-relay-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Renkei test CA"]);
        openssl(&dir, &ca);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend(["-keyout", "relay.key", "-out", "relay.csr", "-subj", "/CN=127.0.0.1"]);
        openssl(&dir, &csr);
        std::fs::write(
            dir.join("relay.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("extensions");
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "relay.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "relay.pem",
                "-days",
                "2",
                "-extfile",
                "relay.ext",
            ],
        );
        Self { ca: dir.join("ca.pem"), cert: dir.join("relay.pem"), key: dir.join("relay.key"), dir }
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// aiosmtpd on 127.0.0.1, stopped when dropped.
pub struct Relay {
    pub port: u16,
    pub security: Security,
    pub certificates: Certificates,
    events: Arc<Mutex<Vec<serde_json::Value>>>,
    _process: tokio::process::Child,
}

impl Relay {
    /// Starts the relay; with `login`, it accepts mail only from a session logged in as that
    /// user with that password (AUTH PLAIN or LOGIN), and refuses other credentials.
    pub async fn start(security: Security, login: Option<(&str, &str)>) -> Self {
        Self::start_with(security, login, true).await
    }

    /// As [`Relay::start`]; `smtputf8: false` makes a relay that refuses non-ASCII addresses.
    pub async fn start_with(security: Security, login: Option<(&str, &str)>, smtputf8: bool) -> Self {
        let certificates = Certificates::make();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("smtp/relay.py");
        let mut command = tokio::process::Command::new(python());
        command
            .arg(&script)
            .arg("--tls")
            .arg(match security {
                Security::Plain => "none",
                Security::StartTls => "starttls",
                Security::Implicit => "implicit",
            })
            .arg("--cert")
            .arg(&certificates.cert)
            .arg("--key")
            .arg(&certificates.key);
        if let Some((user, password)) = login {
            command.args(["--user", user, "--password", password]);
        }
        if !smtputf8 {
            command.arg("--no-smtputf8");
        }
        // Its standard input is ours: when the test ends, however it ends, the relay goes too.
        let mut process = command
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONWARNINGS", "ignore")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start tests/smtp/relay.py");
        let stdout = process.stdout.take().expect("stdout");
        let events: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let kept = events.clone();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
                if event["event"] == "ready" {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(event["port"].as_u64().unwrap_or_default());
                    }
                } else {
                    kept.lock().unwrap_or_else(|p| p.into_inner()).push(event);
                }
            }
        });
        let port = tokio::time::timeout(Duration::from_secs(30), ready_rx)
            .await
            .expect("the relay did not start within 30 s")
            .expect("the relay stopped before listening (see its output above)");
        Self { port: u16::try_from(port).expect("port"), security, certificates, events, _process: process }
    }

    /// The `SMTP_URL` for this relay, with `login` as the URL's credentials.
    pub fn url(&self, login: Option<(&str, &str)>) -> String {
        let credentials = login.map(|(u, p)| format!("{u}:{p}@")).unwrap_or_default();
        match self.security {
            Security::Plain => format!("smtp://{credentials}127.0.0.1:{}", self.port),
            Security::StartTls => format!("smtp://{credentials}127.0.0.1:{}?tls=required", self.port),
            Security::Implicit => format!("smtps://{credentials}127.0.0.1:{}", self.port),
        }
    }

    fn events(&self, kind: &str) -> Vec<serde_json::Value> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|e| e["event"] == kind).cloned().collect()
    }

    /// What the relay accepted.
    pub fn received(&self) -> Vec<Received> {
        self.events("message")
            .into_iter()
            .map(|e| Received {
                to: e["rcpt_tos"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect(),
                data: e["data"].as_str().unwrap_or_default().to_owned(),
                tls: e["tls"].as_bool().unwrap_or_default(),
                user: e["user"].as_str().map(str::to_owned),
            })
            .collect()
    }

    /// Every AUTH attempt: the user and whether the relay accepted it.
    pub fn logins(&self) -> Vec<(String, bool)> {
        self.events("auth")
            .into_iter()
            .map(|e| (e["user"].as_str().unwrap_or_default().to_owned(), e["ok"].as_bool().unwrap_or_default()))
            .collect()
    }
}
