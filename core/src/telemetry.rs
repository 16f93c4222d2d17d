//! Logs and traces for both processes: structured logs to stderr, and spans exported over OTLP
//! when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (nothing is exported, and nothing fails, when not).

use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{var_opt, var_or};

/// Flushes and stops span export when dropped (at the end of `main`).
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("telemetry: flushing spans failed: {e}");
        }
    }
}

/// Installs the global subscriber. `service` names the process in traces (`OTEL_SERVICE_NAME`
/// overrides it). Reads `RUST_LOG`, `LOG_FORMAT` (`json` or text) and the standard `OTEL_*`
/// variables.
pub fn init(service: &str) -> anyhow::Result<TelemetryGuard> {
    let json = match var_or("LOG_FORMAT", "text").as_str() {
        "json" => true,
        "text" => false,
        other => anyhow::bail!("LOG_FORMAT={other:?} must be `json` or `text`"),
    };
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new("info"))?;
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json { fmt.json().flatten_event(true).boxed() } else { fmt.boxed() };

    let provider = match var_opt("OTEL_EXPORTER_OTLP_ENDPOINT") {
        None => None,
        Some(endpoint) => {
            if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
                anyhow::bail!("OTEL_EXPORTER_OTLP_ENDPOINT={endpoint:?} must be an http(s) URL");
            }
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .build()
                .map_err(|e| anyhow::anyhow!("OTEL_EXPORTER_OTLP_ENDPOINT: cannot build the OTLP exporter: {e}"))?;
            let name = var_or("OTEL_SERVICE_NAME", service);
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(Resource::builder().with_service_name(name).build())
                    .build(),
            )
        }
    };
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let otel = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service.to_owned())));
    tracing_subscriber::registry().with(filter).with(fmt).with(otel).try_init()?;
    Ok(TelemetryGuard { provider })
}

/// The W3C trace context of the current span, to carry into work done elsewhere (a queued job).
pub fn current_trace_context() -> std::collections::HashMap<String, String> {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let mut carrier = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut MapInjector(&mut carrier));
    carrier
}

struct MapInjector<'a>(&'a mut std::collections::HashMap<String, String>);

impl Injector for MapInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

/// Makes `span` a child of the W3C trace context in `carrier` (`traceparent`, `tracestate`), as
/// read from an incoming request or a queued job.
pub fn set_parent_from(span: &tracing::Span, carrier: &std::collections::HashMap<String, String>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = TraceContextPropagator::new().extract(carrier);
    let _ = span.set_parent(cx);
}
