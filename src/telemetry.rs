//! Logging setup: JSON for clusters, text for people.

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// Targets whose debug and trace output includes raw HTTP requests and responses, which can
/// carry verification codes. They never log below `info`, whatever the level asked for.
const WIRE_LEVEL_TARGETS: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "aws_smithy_runtime_api",
    "hyper",
    "hyper_util",
    "h2",
    "kube_client",
];

/// The filter for `level` (or `RUST_LOG`, when set), with the wire-level targets capped.
pub fn filter(level: &str) -> EnvFilter {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    for target in WIRE_LEVEL_TARGETS {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Install the global subscriber. Logs go to stderr so that the one-shot command's stdout stays
/// clean YAML.
pub fn init(format: LogFormat, level: &str) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(level))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
