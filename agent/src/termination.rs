//! Spot termination notices: an agent on a spot instance polls the URL where its cloud
//! announces the reclaim (AWS: `http://169.254.169.254/latest/meta-data/spot/instance-action`,
//! about two minutes ahead) and, on a notice, starts the same drain as on SIGTERM: no new
//! job, in-flight jobs finish within the drain deadline, the rest are handed back.
//!
//! HTTP 200 is a notice (its body is logged); 404 means none. AWS instances that require
//! IMDSv2 answer 401 without a session token: the poller then gets one (`PUT
//! /latest/api/token` on the same host) and asks again with it. Anything else — no answer,
//! another status — is logged once per outage and never stops the agent: a broken notice
//! URL must not take capacity away; SIGTERM still drains it.

use crate::config::TerminationNotice;
use provemesh_common::AgentId;
use reqwest::{header::HeaderValue, StatusCode};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// IMDSv2 session token request and header names.
const TOKEN_PATH: &str = "/latest/api/token";
const TOKEN_TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";
/// Six hours, the longest IMDSv2 allows; a 401 later fetches a fresh one.
const TOKEN_TTL_SECS: &str = "21600";
/// Longest wait for one answer (the metadata service answers in milliseconds; an
/// unreachable link-local address never answers at all).
const MAX_REQUEST_TIME: Duration = Duration::from_secs(2);
/// The part of a notice's body that is logged.
const MAX_LOGGED_BODY: usize = 200;

/// Polls `notice.url` every `notice.poll` until a notice arrives, then cancels `drain`;
/// returns when `drain` is cancelled (by the notice, a signal, or the agent stopping).
pub(crate) async fn watch(notice: TerminationNotice, agent: AgentId, drain: CancellationToken) {
    let mut poller = match Poller::new(&notice) {
        Ok(p) => p,
        Err(e) => {
            warn!(agent = %agent, error = %e, "cannot poll for spot termination notices; only SIGTERM will drain this agent");
            return;
        }
    };
    info!(agent = %agent, url = %notice.url, every = ?notice.poll, "watching for spot termination notices");
    let mut failing = false;
    loop {
        tokio::select! {
            _ = drain.cancelled() => return,
            checked = poller.check() => match checked {
                Ok(Some(body)) => {
                    warn!(agent = %agent, notice = %body, "spot termination notice: stopping intake and draining in-flight jobs");
                    drain.cancel();
                    return;
                }
                Ok(None) => {
                    if failing {
                        info!(agent = %agent, url = %notice.url, "termination notice URL answers again");
                        failing = false;
                    }
                }
                Err(e) if !failing => {
                    warn!(agent = %agent, url = %notice.url, error = %e,
                        "cannot read spot termination notices (the agent keeps proving; SIGTERM still drains it)");
                    failing = true;
                }
                Err(e) => debug!(agent = %agent, error = %e, "termination notice URL still failing"),
            },
        }
        tokio::select! {
            _ = drain.cancelled() => return,
            _ = tokio::time::sleep(notice.poll) => {}
        }
    }
}

/// One termination-notice URL and, on AWS with IMDSv2, the session token it needs.
struct Poller {
    client: reqwest::Client,
    url: reqwest::Url,
    token: Option<HeaderValue>,
}

impl Poller {
    fn new(notice: &TerminationNotice) -> Result<Self, reqwest::Error> {
        // https URLs need a TLS provider; the binaries install it, in-process users may not.
        provemesh_store::install_crypto_provider();
        let client = reqwest::Client::builder()
            // The metadata service is link-local: never through a proxy from the environment.
            .no_proxy()
            .timeout(notice.poll.min(MAX_REQUEST_TIME))
            .build()?;
        Ok(Poller {
            client,
            url: notice.url.clone(),
            token: None,
        })
    }

    /// `Some(body)` on a notice, `None` when there is none.
    async fn check(&mut self) -> Result<Option<String>, String> {
        let mut status = self.get().await?;
        if status.0 == StatusCode::UNAUTHORIZED {
            // IMDSv2: a missing or expired session token. Get one and ask once more.
            self.token = Some(self.fetch_token().await?);
            status = self.get().await?;
        }
        match status {
            (StatusCode::OK, body) => Ok(Some(body)),
            (StatusCode::NOT_FOUND, _) => Ok(None),
            (s, _) => Err(format!(
                "unexpected answer HTTP {s} (200 is a notice, 404 none)"
            )),
        }
    }

    async fn get(&self) -> Result<(StatusCode, String), String> {
        let mut req = self.client.get(self.url.clone());
        if let Some(t) = &self.token {
            req = req.header(TOKEN_HEADER, t.clone());
        }
        let resp = req.send().await.map_err(|e| describe(&e))?;
        let status = resp.status();
        let body = if status == StatusCode::OK {
            resp.text().await.map_err(|e| describe(&e))?
        } else {
            String::new()
        };
        Ok((status, loggable(&body)))
    }

    async fn fetch_token(&self) -> Result<HeaderValue, String> {
        let mut url = self.url.clone();
        url.set_path(TOKEN_PATH);
        url.set_query(None);
        let resp = self
            .client
            .put(url)
            .header(TOKEN_TTL_HEADER, TOKEN_TTL_SECS)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        if !resp.status().is_success() {
            return Err(format!(
                "HTTP 401, and no IMDSv2 session token from PUT {TOKEN_PATH} (HTTP {})",
                resp.status()
            ));
        }
        let token = resp.text().await.map_err(|e| describe(&e))?;
        HeaderValue::from_str(token.trim())
            .map_err(|_| "the IMDSv2 session token is not a valid header value".to_string())
    }
}

/// A request error with its cause (reqwest's own text omits it).
fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "no answer in time".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// One short line: control characters replaced, at most [`MAX_LOGGED_BODY`] characters.
fn loggable(body: &str) -> String {
    let mut out: String = body
        .trim()
        .chars()
        .take(MAX_LOGGED_BODY)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.trim().chars().count() > MAX_LOGGED_BODY {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A metadata service on 127.0.0.1 that answers each request with `answer(method, path,
    /// token header)`; returns its notice URL and a request counter.
    async fn metadata_service(
        answer: fn(&str, &str, Option<&str>) -> (u16, &'static str),
    ) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let mut words = req.split_whitespace();
                let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                let token = req.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(TOKEN_HEADER)
                        .then(|| v.trim().to_string())
                });
                let (code, body) = answer(method, path, token.as_deref());
                let resp = format!(
                    "HTTP/1.1 {code} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            }
        });
        (
            format!("http://127.0.0.1:{port}/latest/meta-data/spot/instance-action"),
            count,
        )
    }

    fn poller(url: &str) -> Poller {
        Poller::new(&TerminationNotice {
            url: url.parse().unwrap(),
            poll: Duration::from_millis(500),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn answers_mean_notice_none_or_trouble() {
        let (url, _) = metadata_service(|_, _, _| (404, "")).await;
        assert_eq!(poller(&url).check().await, Ok(None));
        let (url, _) =
            metadata_service(|_, _, _| (200, "{\"action\": \"terminate\", \"time\": \"x\"}")).await;
        assert_eq!(
            poller(&url).check().await,
            Ok(Some("{\"action\": \"terminate\", \"time\": \"x\"}".into()))
        );
        let (url, _) = metadata_service(|_, _, _| (500, "")).await;
        assert!(poller(&url).check().await.unwrap_err().contains("HTTP 500"));
    }

    #[tokio::test]
    async fn imdsv2_token_is_fetched_on_401_and_reused() {
        let (url, count) = metadata_service(|method, path, token| match (method, path) {
            ("PUT", TOKEN_PATH) => (200, "tok-1"),
            (_, _) if token == Some("tok-1") => (404, ""),
            _ => (401, ""),
        })
        .await;
        let mut p = poller(&url);
        assert_eq!(p.check().await, Ok(None));
        assert_eq!(
            count.load(Ordering::SeqCst),
            3,
            "GET 401, PUT token, GET 404"
        );
        assert_eq!(p.check().await, Ok(None));
        assert_eq!(count.load(Ordering::SeqCst), 4, "the token is reused");
    }

    #[tokio::test]
    async fn unreachable_url_is_an_error_not_a_notice() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = poller(&format!("http://127.0.0.1:{port}/n"))
            .check()
            .await
            .unwrap_err();
        assert!(e.contains("cannot connect"), "{e}");
    }

    #[tokio::test]
    async fn watch_cancels_the_drain_token_on_a_notice() {
        let (url, _) = metadata_service(|_, _, _| (200, "{\"action\": \"stop\"}")).await;
        let drain = CancellationToken::new();
        let notice = TerminationNotice {
            url: url.parse().unwrap(),
            poll: Duration::from_millis(100),
        };
        tokio::time::timeout(
            Duration::from_secs(5),
            watch(notice, AgentId("a".into()), drain.clone()),
        )
        .await
        .unwrap();
        assert!(drain.is_cancelled());
    }

    #[test]
    fn logged_bodies_are_one_short_line() {
        assert_eq!(loggable(" a\nb "), "a b");
        assert_eq!(
            loggable(&"x".repeat(500)).chars().count(),
            MAX_LOGGED_BODY + 1
        );
    }
}
