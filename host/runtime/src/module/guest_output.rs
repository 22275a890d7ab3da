//! Guest stdout and stderr as log lines: each complete line goes to the guest's [`GuestLog`] (the
//! host's log and the store), and nothing is written while an orchestrator replays, so each line
//! appears once however often a turn is re-executed.
//!
//! A write is handled while the guest makes it (not by a task behind it), so that a turn's lines
//! are all in its log when the turn ends and a line written during a replay is never taken for a
//! live one. It never blocks the guest and never fails a write: output beyond a line's limit is
//! cut. An activity's secret values are masked before a line is written.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use tracing::Level;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

use crate::capability::redact::Redactor;
use crate::guest_log::GuestLog;

/// Where a guest's stdout or stderr goes.
#[derive(Clone)]
pub struct GuestOutput {
    label: Arc<str>,
    stream: &'static str,
    muted: Arc<AtomicBool>,
    redactor: Option<Arc<Redactor>>,
    log: Arc<GuestLog>,
}

impl GuestOutput {
    /// Output labelled with `label` (instance or activity), dropped while `muted` is set, within
    /// the lines and line length of `log`.
    pub fn new(
        label: impl Into<Arc<str>>,
        stream: &'static str,
        muted: Arc<AtomicBool>,
        log: Arc<GuestLog>,
    ) -> Self {
        Self {
            label: label.into(),
            stream,
            muted,
            redactor: None,
            log,
        }
    }

    /// The same output with the attempt's secret values masked in every line.
    pub fn redacting(mut self, redactor: Arc<Redactor>) -> Self {
        if !redactor.is_empty() {
            self.redactor = Some(redactor);
        }
        self
    }

    fn writer(&self) -> LineWriter {
        LineWriter {
            out: self.clone(),
            line: Vec::new(),
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.writer())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.writer())
    }
}

/// Splits what the guest writes into lines.
struct LineWriter {
    out: GuestOutput,
    line: Vec<u8>,
}

impl LineWriter {
    fn take(&mut self, buf: &[u8]) {
        for &b in buf {
            if b == b'\n' {
                self.emit();
            } else if self.line.len() < self.out.log.line_bytes() {
                self.line.push(b);
            }
        }
    }

    fn emit(&mut self) {
        if !self.out.muted.load(Ordering::SeqCst) && !self.line.is_empty() {
            let text = String::from_utf8_lossy(&self.line);
            let text = match &self.out.redactor {
                Some(r) => std::borrow::Cow::Owned(r.text(&text).into_owned()),
                None => text,
            };
            self.out.log.write(
                &self.out.label,
                Level::INFO,
                self.out.stream,
                text.trim_end(),
            );
        }
        self.line.clear();
    }
}

impl Drop for LineWriter {
    /// A last line without its newline.
    fn drop(&mut self) {
        self.emit();
    }
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.take(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

impl Pollable for LineWriter {
    /// Always ready: a write never waits.
    fn ready<'a, 'b>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(std::future::ready(()))
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.take(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.emit();
        Poll::Ready(Ok(()))
    }
}
