//! Spans of the current thread, caught by an in-memory OpenTelemetry exporter.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;

/// Catches every span of this thread while it lives.
pub struct Capture {
    provider: SdkTracerProvider,
    exporter: InMemorySpanExporter,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Capture {
    pub fn start() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::INFO)
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        Self { _guard: tracing::subscriber::set_default(subscriber), provider, exporter }
    }

    /// The spans finished so far.
    pub fn spans(&self) -> Vec<SpanData> {
        self.provider.force_flush().expect("flush spans");
        self.exporter.get_finished_spans().expect("spans")
    }
}

/// The value of `key` among a span's attributes.
pub fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
}
