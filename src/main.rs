use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use cognito_sms_operator::aws::Aws;
use cognito_sms_operator::controller::{self, Backoff, Settings};
use cognito_sms_operator::reconcile::Mode;
use cognito_sms_operator::telemetry::{self, LogFormat};
use cognito_sms_operator::{crd, oneshot};

/// Keeps the IAM role, SNS region and SMS configuration of Amazon Cognito user pools in the
/// shape CognitoSmsConfig resources ask for.
#[derive(Parser)]
#[command(name = "cognito-sms-operator", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "text", env = "LOG_FORMAT")]
    log_format: LogFormat,
    /// Log level or filter (RUST_LOG syntax); RUST_LOG wins when set.
    #[arg(long, global = true, default_value = "info", env = "LOG_LEVEL")]
    log_level: String,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller.
    Run {
        /// Namespace to watch; repeat for several. All namespaces when absent.
        #[arg(
            long = "namespace",
            value_name = "NAMESPACE",
            env = "WATCH_NAMESPACES",
            value_delimiter = ','
        )]
        namespaces: Vec<String>,
        /// How often each resource is compared with AWS when nothing changes, to repair drift.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration, env = "RESYNC_PERIOD")]
        resync_period: Duration,
        /// First retry delay after a recoverable failure; doubles per attempt, with jitter.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        backoff_base: Duration,
        /// How long the account's SNS state in a region (sandbox, spend limit, origination and
        /// sandbox numbers) is shared by all resources before SNS is asked again.
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, env = "SNS_CACHE_TTL")]
        sns_cache_ttl: Duration,
        /// Longest retry delay after recoverable failures.
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        backoff_max: Duration,
    },
    /// Print the CustomResourceDefinition as YAML.
    Crd,
    /// Reconcile the resources in a file once against AWS, without Kubernetes, and print them
    /// with their status.
    Reconcile {
        /// YAML file with CognitoSmsConfig resources and the Secrets they reference; - for stdin.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        /// Print the AWS changes that would be made, and make none.
        #[arg(long)]
        dry_run: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format, &cli.log_level);
    match cli.command {
        Command::Crd => {
            print!("{}", crd::crd_yaml());
            ExitCode::SUCCESS
        }
        Command::Reconcile { file, dry_run } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(&file)
            };
            let text = match text {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            let input = match oneshot::parse(&text) {
                Ok(i) => i,
                Err(e) => {
                    eprintln!("error: {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            let mode = if dry_run { Mode::DryRun } else { Mode::Apply };
            let aws = Aws::from_env().await;
            let results = oneshot::run(&aws, input, mode).await;
            print!("{}", oneshot::render(&results, mode));
            ExitCode::SUCCESS
        }
        Command::Run {
            namespaces,
            resync_period,
            backoff_base,
            backoff_max,
            sns_cache_ttl,
        } => {
            let client = match kube::Client::try_default().await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: cannot reach the Kubernetes API: {e}");
                    return ExitCode::from(1);
                }
            };
            let settings = Settings {
                namespaces,
                resync: resync_period,
                backoff: Backoff {
                    base: backoff_base,
                    max: backoff_max,
                },
                sns_cache_ttl,
            };
            tracing::info!(namespaces = ?settings.namespaces, resync = ?settings.resync, "starting controller");
            controller::run(client, Aws::from_env().await, settings).await;
            tracing::info!("controller stopped");
            ExitCode::SUCCESS
        }
    }
}
