//! Outgoing e-mail through lettre: SMTP when `SMTP_URL` is set, otherwise `.eml` files in
//! `MAIL_DIR` (local runs). Japanese subjects and bodies go out as UTF-8 with encoded headers and
//! a plain-text part.

use std::path::PathBuf;

use anyhow::{Context, bail};
use lettre::message::{Mailbox, header::ContentType};
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

impl Mailer {
    /// `SMTP_URL` (e.g. `smtp://user:pass@mail.example.jp:587?tls=required`, `smtps://…` or
    /// `smtp://127.0.0.1:2525` without TLS), else `.eml` files in `MAIL_DIR`; `MAIL_FROM`.
    pub fn from_env() -> anyhow::Result<Self> {
        let from = var_or("MAIL_FROM", "Renkei <noreply@renkei.example>");
        match var_opt("SMTP_URL") {
            Some(url) => Self::smtp(&url, &from),
            None => Self::files(PathBuf::from(var_or("MAIL_DIR", ".dev/mail")), &from),
        }
    }

    pub fn smtp(url: &str, from: &str) -> anyhow::Result<Self> {
        if !url.starts_with("smtp://") && !url.starts_with("smtps://") {
            bail!("SMTP_URL must start with smtp:// or smtps://");
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .context("SMTP_URL is not a valid SMTP URL")?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
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
