use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use cognito_sms_operator::aws::{Aws, AwsSettings};
use cognito_sms_operator::controller::{self, Runtime, Settings};
use cognito_sms_operator::leader::LeaseSettings;
use cognito_sms_operator::reconcile::Mode;
use cognito_sms_operator::telemetry::{self, LogFormat};
use cognito_sms_operator::{crd, oneshot};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// The resources whose CRDs `crd` prints.
#[derive(Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "verbatim")]
enum CrdKind {
    CognitoSmsConfig,
    CognitoSmsAccount,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller.
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinition as YAML.
    Crd {
        /// Which resource's CRD to print.
        #[arg(long, value_enum, default_value_t = CrdKind::CognitoSmsConfig)]
        kind: CrdKind,
        /// Print the Helm chart's template of every CRD instead.
        #[arg(long)]
        helm_template: bool,
    },
    /// Print, as JSON, the Kubernetes API access this build needs (the Helm chart's RBAC rules
    /// are checked against it).
    Permissions,
    /// Reconcile the resources in a file once against AWS, without Kubernetes, and print them
    /// with their status.
    Reconcile {
        /// YAML file with CognitoSmsConfig resources, the Secrets they reference, and the
        /// CognitoSmsAccounts and Namespaces that choose their AWS account; - for stdin.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        /// Print the AWS changes that would be made, and make none.
        #[arg(long)]
        dry_run: bool,
        /// The longest one resource's reconcile may take; past it the resource reports
        /// `ReconcileTimedOut`.
        #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = humantime::parse_duration, env = "RECONCILE_TIMEOUT")]
        reconcile_timeout: std::time::Duration,
        /// The installation this run acts as: it records this name on the user pools it manages
        /// and leaves alone the pools another installation (such as a cluster's operator)
        /// manages.
        #[arg(long, value_name = "NAME", default_value = oneshot::INSTALLATION, env = "INSTALLATION", value_parser = clap::builder::NonEmptyStringValueParser::new())]
        installation: String,
        /// Whether resources of a namespace no CognitoSmsAccount of the file selects act with
        /// this run's own AWS credentials; when false they report `NoAccount` and make no call.
        #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, env = "ALLOW_OPERATOR_IDENTITY")]
        allow_operator_identity: bool,
        /// The namespace whose Secrets, in the file, hold the external IDs the file's
        /// CognitoSmsAccounts name: the operator's namespace of a cluster.
        #[arg(long, value_name = "NAMESPACE", default_value = "default", env = "POD_NAMESPACE")]
        operator_namespace: String,
        #[command(flatten)]
        aws: AwsSettings,
    },
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    settings: Settings,
    #[command(flatten)]
    aws: AwsSettings,
    /// Address serving /healthz, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:8080", env = "HTTP_ADDR")]
    http_addr: SocketAddr,
    /// Elect a leader through a coordination.k8s.io Lease, so that several replicas can run and
    /// only one reconciles.
    #[arg(long, env = "LEADER_ELECTION")]
    leader_election: bool,
    #[command(flatten)]
    lease: LeaseSettings,
}

// One thread: the operator waits on the network almost all the time, and a second worker thread
// only adds wake-ups, CPU and memory (a thread stack and an allocator arena).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format, &cli.log_level);
    match cli.command {
        Command::Crd { kind, helm_template } => {
            use kube::CustomResourceExt;
            print!(
                "{}",
                match (helm_template, kind) {
                    (true, _) => crd::crd_helm_template(),
                    (false, CrdKind::CognitoSmsConfig) => crd::crd_yaml(),
                    (false, CrdKind::CognitoSmsAccount) => crd::crd_yaml_of(&crd::CognitoSmsAccount::crd()),
                }
            );
            ExitCode::SUCCESS
        }
        Command::Permissions => {
            println!("{}", controller::permissions());
            ExitCode::SUCCESS
        }
        Command::Reconcile {
            file,
            dry_run,
            reconcile_timeout,
            installation,
            allow_operator_identity,
            operator_namespace,
            aws,
        } => {
            let run = oneshot::Run {
                mode: if dry_run { Mode::DryRun } else { Mode::Apply },
                deadline: reconcile_timeout,
                installation,
                allow_operator_identity,
                operator_namespace,
            };
            // Both drivers' futures are boxed: they are deep, and main's own would nest them.
            Box::pin(reconcile_file(file, &run, &aws)).await
        }
        Command::Run(args) => Box::pin(run(*args)).await,
    }
}

async fn reconcile_file(file: PathBuf, run: &oneshot::Run, settings: &AwsSettings) -> ExitCode {
    use std::io::Read as _;
    // One byte past the limit, so that parsing can tell a file at the limit from a larger one,
    // without ever holding more of a large file or an endless stdin.
    let limit = cognito_sms_operator::admission::MAX_INPUT_BYTES as u64 + 1;
    let mut text = vec![];
    let read = if file.as_os_str() == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut text)
    } else {
        std::fs::File::open(&file).and_then(|f| f.take(limit).read_to_end(&mut text))
    };
    if let Err(e) = read {
        eprintln!("error: cannot read {}: {e}", file.display());
        return ExitCode::from(2);
    }
    let input = match oneshot::parse(&text) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    for note in &input.notes {
        eprintln!("note: {}: {note}", file.display());
    }
    let aws = Aws::from_env_with(settings).await;
    let output = oneshot::reconcile_all(&aws, input, run).await;
    print!("{}", oneshot::render(&output, run.mode));
    ExitCode::SUCCESS
}

async fn run(args: RunArgs) -> ExitCode {
    if !args.lease.is_consistent() {
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
    let settings = args.settings;
    let lease = args.leader_election.then_some(args.lease);
    tracing::info!(namespaces = ?settings.namespaces, resync = ?settings.resync, "starting controller");
    let http = args.http_addr;
    let aws = Aws::from_env_with(&args.aws).await;
    match controller::run(client, aws, settings, Runtime { http, lease }).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot serve on {http}: {e}");
            ExitCode::from(1)
        }
    }
}
