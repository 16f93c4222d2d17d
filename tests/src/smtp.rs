//! A real SMTP server on loopback for the tests: it speaks the protocol (EHLO, MAIL, RCPT, DATA,
//! QUIT), keeps what it accepted, and can refuse or stall on demand, like a mail relay that is
//! down or slow.

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
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind SMTP sink");
        let port = listener.local_addr().expect("addr").port();
        let sink = Self { port, received: Arc::default(), mode: Arc::new(Mutex::new(Mode::Accept)) };
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
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = lines.read_line(&mut probe) => return Ok(()),
                    }
                }
                write.write_all(b"250 queued\r\n").await?;
                write.flush().await?;
                self.received
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Received { to: std::mem::take(&mut to), data });
            } else if command.starts_with("QUIT") {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else {
                write.write_all(b"502 not implemented\r\n").await?;
            }
        }
    }
}
