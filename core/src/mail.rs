//! Outgoing e-mail through lettre: SMTP when `SMTP_URL` is set, otherwise `.eml` files in
//! `MAIL_DIR` (local runs). Japanese subjects and bodies go out as UTF-8 with encoded headers and
//! a plain-text part.

use std::path::PathBuf;

use anyhow::{Context, bail};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{var_opt, var_or};

/// A message to one person.
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// Also the Message-ID's local part, so that a message can be traced to its key.
    pub key: String,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

/// The TLS `url` asks for (as lettre reads it), with the authorities in `pem` trusted too.
fn tls_trusting(url: &str, pem: &[u8]) -> anyhow::Result<Tls> {
    // lettre reads a file without any certificate as an empty list.
    if !String::from_utf8_lossy(pem).contains("-----BEGIN CERTIFICATE-----") {
        bail!("SMTP_CA_FILE holds no PEM certificate");
    }
    let certificate = Certificate::from_pem(pem).context("SMTP_CA_FILE holds an invalid PEM certificate")?;
    let parsed = reqwest::Url::parse(url).context("SMTP_URL is not a valid SMTP URL")?;
    let host = parsed.host_str().context("SMTP_URL has no host")?.to_owned();
    let tls = parsed.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
    let parameters = || {
        TlsParameters::builder(host.clone()).add_root_certificate(certificate.clone()).build().context("SMTP_CA_FILE")
    };
    Ok(match (parsed.scheme(), tls.as_deref()) {
        ("smtps", _) => Tls::Wrapper(parameters()?),
        ("smtp", Some("required")) => Tls::Required(parameters()?),
        ("smtp", Some("opportunistic")) => Tls::Opportunistic(parameters()?),
        _ => bail!("SMTP_CA_FILE is set but SMTP_URL asks for no TLS (smtps://… or ?tls=required)"),
    })
}

impl Mailer {
    /// `SMTP_URL` (e.g. `smtp://user:pass@mail.example.jp:587?tls=required`, `smtps://…` or
    /// `smtp://127.0.0.1:2525` without TLS), else `.eml` files in `MAIL_DIR`; `MAIL_FROM`;
    /// `SMTP_CA_FILE`, PEM certificates of authorities trusted for the relay besides the public ones.
    pub fn from_env() -> anyhow::Result<Self> {
        let from = var_or("MAIL_FROM", "Renkei <noreply@renkei.example>");
        let ca = match var_opt("SMTP_CA_FILE") {
            Some(path) => Some(std::fs::read(&path).with_context(|| format!("SMTP_CA_FILE: cannot read {path}"))?),
            None => None,
        };
        match var_opt("SMTP_URL") {
            Some(url) => Self::smtp_with_ca(&url, &from, ca.as_deref()),
            None if ca.is_some() => bail!("SMTP_CA_FILE is set without SMTP_URL"),
            None => Self::files(PathBuf::from(var_or("MAIL_DIR", ".dev/mail")), &from),
        }
    }

    pub fn smtp(url: &str, from: &str) -> anyhow::Result<Self> {
        Self::smtp_with_ca(url, from, None)
    }

    /// SMTP trusting, besides the public roots, the authorities in `ca_pem` (for a relay whose
    /// certificate a private authority signed).
    pub fn smtp_with_ca(url: &str, from: &str, ca_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        if !url.starts_with("smtp://") && !url.starts_with("smtps://") {
            bail!("SMTP_URL must start with smtp:// or smtps://");
        }
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url).context("SMTP_URL is not a valid SMTP URL")?;
        if let Some(pem) = ca_pem {
            builder = builder.tls(tls_trusting(url, pem)?);
        }
        let transport = builder.timeout(Some(std::time::Duration::from_secs(20))).build();
        Ok(Self { from: from.parse().context("MAIL_FROM is not a mailbox")?, transport: Transport::Smtp(transport) })
    }

    pub fn files(dir: PathBuf, from: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir).with_context(|| format!("MAIL_DIR: cannot create {}", dir.display()))?;
        let transport = AsyncFileTransport::<Tokio1Executor>::new(&dir);
        Ok(Self {
            from: from.parse().context("MAIL_FROM is not a mailbox")?,
            transport: Transport::Files(transport, dir),
        })
    }

    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp(_) => "smtp".into(),
            Transport::Files(_, dir) => format!("files in {}", dir.display()),
        }
    }

    fn build(&self, mail: &Mail) -> anyhow::Result<Message> {
        let domain = self.from.email.domain().to_owned();
        Message::builder()
            .from(self.from.clone())
            .to(mail.to.parse().with_context(|| format!("recipient {:?} is not an address", mail.to))?)
            .subject(&mail.subject)
            .message_id(Some(format!(
                "<{}@{domain}>",
                mail.key.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '.', "-")
            )))
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .context("building the message")
    }

    /// Sends one message; an error leaves it for the job's retry.
    pub async fn send(&self, mail: &Mail) -> anyhow::Result<()> {
        let message = self.build(mail)?;
        match &self.transport {
            Transport::Smtp(t) => {
                t.send(message).await.context("SMTP refused the message")?;
            }
            Transport::Files(t, _) => {
                t.send(message).await.context("writing the .eml file")?;
            }
        }
        Ok(())
    }
}
