//! Guest stdout and stderr as log lines: complete lines go to `tracing`, and nothing is written while
//! an orchestrator replays, so each line appears once however often a turn is re-executed.
//!
//! It never blocks the guest and never fails a write: output beyond a line's limit is cut. An
//! activity's secret values are masked before a line is written.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use crate::capability::redact::Redactor;
use crate::log_budget::LogBudget;

/// Where a guest's stdout or stderr goes.
#[derive(Clone)]
pub struct GuestOutput {
    label: Arc<str>,
    stream: &'static str,
    muted: Arc<AtomicBool>,
    redactor: Option<Arc<Redactor>>,
    budget: Arc<LogBudget>,
}

impl GuestOutput {
    /// Output labelled with `label` (instance or activity), dropped while `muted` is set, within
    /// the lines and line length of `budget`.
    pub fn new(
        label: impl Into<Arc<str>>,
        stream: &'static str,
        muted: Arc<AtomicBool>,
        budget: Arc<LogBudget>,
    ) -> Self {
        Self {
            label: label.into(),
            stream,
            muted,
            redactor: None,
            budget,
        }
    }

    /// The same output with the attempt's secret values masked in every line.
    pub fn redacting(mut self, redactor: Arc<Redactor>) -> Self {
        if !redactor.is_empty() {
            self.redactor = Some(redactor);
        }
        self
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            out: self.clone(),
            line: Vec::new(),
        })
    }
}

struct LineWriter {
    out: GuestOutput,
    line: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self) {
        if !self.out.muted.load(Ordering::Relaxed)
            && !self.line.is_empty()
            && self.out.budget.take(&self.out.label)
        {
            let text = String::from_utf8_lossy(&self.line);
            let text = match &self.out.redactor {
                Some(r) => std::borrow::Cow::Owned(r.text(&text).into_owned()),
                None => text,
            };
            tracing::info!(target: "keel::guest", source = %self.out.label, stream = self.out.stream, "{}", text.trim_end());
        }
        self.line.clear();
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        for &b in buf {
            if b == b'\n' {
                self.emit();
            } else if self.line.len() < self.out.budget.line_bytes() {
                self.line.push(b);
            }
        }
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
