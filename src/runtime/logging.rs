//! Bridges `tracing` events of one engine to the node's log callback. Each engine has its
//! own subscriber (no global state), attached to its tasks; records travel over the event
//! queue so the callback runs on the dispatcher thread like every other callback.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use super::queue::EventSender;
use crate::events::LogLevel;
use crate::node::NodeEvent as Event;

/// The level filter, shared between the API (which sets it) and the layer (which reads it).
/// 0 means off.
#[derive(Default)]
pub(crate) struct LogFilter {
    max_level: AtomicU8,
    dropped: AtomicU64,
}

impl LogFilter {
    pub fn set(&self, level: Option<LogLevel>) {
        self.max_level
            .store(level.map_or(0, |l| l as u8), Ordering::Release);
    }

    fn allows(&self, level: LogLevel) -> bool {
        (level as u8) <= self.max_level.load(Ordering::Acquire)
    }

    /// Records dropped because the event queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn to_log_level(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        _ => LogLevel::Trace,
    }
}

struct CallbackLayer {
    filter: Arc<LogFilter>,
    events: EventSender,
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl MessageVisitor {
    /// Appends ` key=value`, logfmt style: a value with spaces, quotes, `=` or nothing
    /// at all is quoted, so a host's log parser splits fields the same way.
    fn push_field(&mut self, name: &str, value: &str) {
        let plain = !value.is_empty()
            && !value
                .chars()
                .any(|c| c.is_whitespace() || c == '"' || c == '=' || c.is_control());
        if plain {
            let _ = write!(self.fields, " {name}={value}");
        } else {
            let _ = write!(self.fields, " {name}={value:?}");
        }
    }
}

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            // Fields are logged with `%` (Display), whose Debug form is the Display text.
            self.push_field(field.name(), &format!("{value:?}"));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.push_field(field.name(), value);
        }
    }
}

impl<S: Subscriber> Layer<S> for CallbackLayer {
    /// The level can change at run time, so callsites must never be cached as disabled.
    fn register_callsite(
        &self,
        _metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.filter.allows(to_log_level(metadata.level()))
    }

    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let level = to_log_level(event.metadata().level());
        if !self.filter.allows(level) {
            return;
        }
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        visitor.message.push_str(&visitor.fields);
        let record = Event::Log {
            level,
            target: event.metadata().target().to_owned(),
            message: visitor.message,
        };
        // Logging never waits: when the node is behind, records are dropped and counted.
        if self.events.try_send(record).is_some() {
            self.filter.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Builds the engine's private subscriber.
pub(crate) fn dispatch(filter: Arc<LogFilter>, events: EventSender) -> tracing::Dispatch {
    let subscriber = tracing_subscriber::registry().with(CallbackLayer { filter, events });
    tracing::Dispatch::new(subscriber)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_records_at_or_above_the_level() {
        let filter = Arc::new(LogFilter::default());
        let (tx, mut rx) = EventSender::channel(16, 1 << 20);
        let d = dispatch(filter.clone(), tx);
        filter.set(Some(LogLevel::Info));
        tracing::dispatcher::with_default(&d, || {
            tracing::info!(peer = 3, "hello");
            tracing::info!(detail = "closed by peer", addr = %"127.0.0.1:8333", "bye");
            tracing::debug!("hidden");
            tracing::warn!("careful");
        });
        let mut got = Vec::new();
        while let Ok(Event::Log { level, message, .. }) = rx.try_recv().map(|q| q.into_parts().0) {
            got.push((level, message));
        }
        assert_eq!(
            got,
            vec![
                (LogLevel::Info, "hello peer=3".to_string()),
                (
                    LogLevel::Info,
                    r#"bye detail="closed by peer" addr=127.0.0.1:8333"#.to_string()
                ),
                (LogLevel::Warn, "careful".to_string())
            ]
        );
        filter.set(None);
        tracing::dispatcher::with_default(&d, || tracing::error!("off"));
        assert!(rx.try_recv().is_err());
    }
}
