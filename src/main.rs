use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use cognito_sms_operator::aws::Aws;
use cognito_sms_operator::controller::{self, Backoff, Runtime, Settings};
use cognito_sms_operator::leader::LeaseSettings;
use cognito_sms_operator::reconcile::Mode;
use cognito_sms_operator::telemetry::{self, LogFormat};
use cognito_sms_operator::{crd, oneshot};

/// Keeps the IAM role, SNS region and SMS configuration of Amazon Cognito user pools in the
/// shape CognitoSmsConfig resources ask for, and reports the account's SNS SMS state.
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
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinition as YAML.
    Crd {
        /// Print the Helm chart's template of the CRD instead.
        #[arg(long)]
        helm_template: bool,
    },
    /// Print, as JSON, the Kubernetes API access this build needs (the Helm chart's RBAC rules
    /// are checked against it).
    Permissions,
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

#[derive(Args)]
struct RunArgs {
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
    /// Longest retry delay after recoverable failures.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    backoff_max: Duration,
    /// How long the account's SNS state in a region (sandbox, spend limit, origination and
    /// sandbox numbers) is shared by all resources before SNS is asked again.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, env = "SNS_CACHE_TTL")]
    sns_cache_ttl: Duration,
    /// Address serving /healthz, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:8080", env = "HTTP_ADDR")]
    http_addr: SocketAddr,
    /// Elect a leader through a coordination.k8s.io Lease, so that several replicas can run and
    /// only one reconciles.
    #[arg(long, env = "LEADER_ELECTION")]
    leader_election: bool,
    /// Name of the Lease.
    #[arg(long, default_value = "cognito-sms-operator")]
    lease_name: String,
    /// Namespace of the Lease: the operator's own.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// This replica's identity in the Lease; defaults to the Pod name.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// How long a Lease stays valid without renewal before a standby takes over.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    lease_duration: Duration,
    /// How long the leader keeps trying to renew before it stops reconciling.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    renew_deadline: Duration,
    /// How often the Lease is renewed or, by a standby, checked.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    retry_period: Duration,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format, &cli.log_level);
    match cli.command {
        Command::Crd { helm_template } => {
            print!(
                "{}",
                if helm_template {
                    crd::crd_helm_template()
                } else {
                    crd::crd_yaml()
                }
            );
            ExitCode::SUCCESS
        }
        Command::Permissions => {
            let rules: Vec<_> = controller::KUBE_PERMISSIONS
                .iter()
                .map(|(group, resource, verbs)| serde_json::json!({"apiGroup": group, "resource": resource, "verbs": verbs}))
                .collect();
            println!("{}", serde_json::json!({ "kubernetes": rules }));
            ExitCode::SUCCESS
        }
        Command::Reconcile { file, dry_run } => reconcile_file(file, dry_run).await,
        Command::Run(args) => run(*args).await,
    }
}

async fn reconcile_file(file: PathBuf, dry_run: bool) -> ExitCode {
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

async fn run(args: RunArgs) -> ExitCode {
    if !(args.retry_period < args.renew_deadline && args.renew_deadline < args.lease_duration) {
        eprintln!("error: need --retry-period < --renew-deadline < --lease-duration");
        return ExitCode::from(2);
    }
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot reach the Kubernetes API: {e}");
            return ExitCode::from(1);
        }
    };
    let settings = Settings {
        namespaces: args.namespaces,
        resync: args.resync_period,
        backoff: Backoff {
            base: args.backoff_base,
            max: args.backoff_max,
        },
        sns_cache_ttl: args.sns_cache_ttl,
    };
    let lease = args.leader_election.then(|| LeaseSettings {
        name: args.lease_name,
        namespace: args.lease_namespace,
        identity: args
            .identity
            .unwrap_or_else(|| format!("cognito-sms-operator-{:08x}", rand::random::<u32>())),
        lease_duration: args.lease_duration,
        renew_deadline: args.renew_deadline,
        retry_period: args.retry_period,
    });
    tracing::info!(namespaces = ?settings.namespaces, resync = ?settings.resync, "starting controller");
    let http = args.http_addr;
    match controller::run(client, Aws::from_env().await, settings, Runtime { http, lease }).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot serve on {http}: {e}");
            ExitCode::from(1)
        }
    }
}
