//! `nemotron-service --socket PATH [--listen ADDR] [--config FILE]`: the policy service daemon.
//!
//! `nemotron-service compile-nl FILE [--format text|json] [--config FILE]`: compiles the
//! `NaturalLanguagePolicy` documents of a policy file and prints the rules and the Cedar
//! policies (what `openshell policy compile-nl` runs); exits 1 if a sentence is not understood.
//!
//! `nemotron-service replay POLICY --trail FILE [--container ID] [--format text|json]`: decides
//! the actions of a recorded audit trail again under a candidate policy and prints what would
//! change, with the rules responsible (what `openshell policy replay` runs).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use nemotron_service::destination::DestinationAnalyzer;
use nemotron_service::http::{Bound, ServerConfig};
use nemotron_service::nl::{GrammarCompiler, ModelNlCompiler, NlCompiler, NlReport};
use nemotron_service::replay::compile_candidate;
use nemotron_service::{PolicyService, ServiceSettings};
use openshell_audit::{TrailQuery, read_trail};
use openshell_policy::PolicySet;
use openshell_policy::node_config::{DEFAULT_NEMOTRON_SOCKET, NodeConfig};

/// jemalloc: decisions allocate on the request threads and the audit writer frees on its own,
/// which glibc's allocator pays for in consolidations and trims inside the decisions' tail.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The openshell policy service: admission and action decisions, intent classification,
/// natural-language policies, audit.
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    tool: Option<Tool>,
    /// Unix socket to serve on.
    #[arg(long, default_value = DEFAULT_NEMOTRON_SOCKET)]
    socket: PathBuf,
    /// Also serve on this TCP address (e.g. 127.0.0.1:8700).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Node configuration file (default: $OPENSHELL_CONFIG, else /etc/openshell/config.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Longest time a client may take to send request headers, milliseconds.
    #[arg(long, default_value_t = 5000)]
    header_timeout_ms: u64,
    /// Longest time a client may take to send a request body, milliseconds.
    #[arg(long, default_value_t = 5000)]
    body_timeout_ms: u64,
    /// Largest request body accepted, bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Worker threads (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Subcommand, Debug)]
enum Tool {
    /// Compile the NaturalLanguagePolicy documents of a policy file and print the rules and
    /// the Cedar policies; exits 1 if a sentence is not understood.
    CompileNl {
        /// The policy file (YAML, one or more documents).
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Node configuration file (default: $OPENSHELL_CONFIG, else /etc/openshell/config.toml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Decide the actions of a recorded audit trail again under a candidate policy and print
    /// what would change (allow -> deny, deny -> escalate ...) with the rules responsible.
    Replay {
        /// The candidate policy file (YAML, one or more documents).
        policy: PathBuf,
        /// The audit trail (JSON lines).
        #[arg(long)]
        trail: PathBuf,
        /// Only this container's events.
        #[arg(long)]
        container: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Node configuration file (default: $OPENSHELL_CONFIG, else /etc/openshell/config.toml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn load_node(config: Option<&PathBuf>) -> anyhow::Result<NodeConfig> {
    Ok(match config {
        Some(path) => NodeConfig::load_from(path)?,
        None => NodeConfig::load()?,
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match &args.tool {
        Some(Tool::CompileNl {
            file,
            format,
            config,
        }) => compile_nl(file, *format, config.as_ref()),
        Some(Tool::Replay {
            policy,
            trail,
            container,
            format,
            config,
        }) => replay(policy, trail, container.clone(), *format, config.as_ref()),
        None => serve(args).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|err| {
        eprintln!("nemotron-service: {err:#}");
        ExitCode::FAILURE
    })
}

/// `compile-nl`: the grammar, or the model when the node asks for it to compile policies.
fn compile_nl(file: &Path, format: Format, config: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
    let node = load_node(config)?;
    let policy = PolicySet::load(file)?;
    if policy.natural_language().is_empty() {
        anyhow::bail!(
            "{}: no NaturalLanguagePolicy document to compile",
            file.display()
        );
    }
    let model = ModelNlCompiler::for_node(&node);
    let compiler: &dyn NlCompiler = match &model {
        Some(model) => model,
        None => &GrammarCompiler,
    };
    let report = NlReport::compile(&policy, compiler).with_context(|| {
        format!(
            "compiling the natural-language policies of {}",
            file.display()
        )
    })?;
    match format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    let problems = report.problems();
    for problem in &problems {
        eprintln!("{problem}");
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `replay`: the trail's actions decided again under the candidate policy.
fn replay(
    policy: &Path,
    trail: &Path,
    container: Option<String>,
    format: Format,
    config: Option<&PathBuf>,
) -> anyhow::Result<ExitCode> {
    let node = load_node(config)?;
    let text =
        std::fs::read_to_string(policy).with_context(|| format!("reading {}", policy.display()))?;
    let record = openshell_policy::compile_default(&policy.display().to_string(), &text)?;
    let candidate =
        compile_candidate(&record).with_context(|| format!("compiling {}", policy.display()))?;
    let query = TrailQuery {
        container_id: container,
        ..TrailQuery::default()
    };
    let events =
        read_trail(trail, &query).with_context(|| format!("reading {}", trail.display()))?;
    for line in &events.malformed_lines {
        eprintln!("{}:{line}: not an audit event, skipped", trail.display());
    }
    let destinations = DestinationAnalyzer::new(&node.classifier.internal_domains)
        .with_home_countries(&node.classifier.home_countries);
    let report = nemotron_service::replay::replay(&candidate, &events.events, &destinations);
    match format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(args: Args) -> anyhow::Result<()> {
    let node = load_node(args.config.as_ref())?;
    let registry_dir = node.registry_dir.clone();
    let service = Arc::new(
        PolicyService::new(ServiceSettings::new(node)).context("starting the policy service")?,
    );
    if service.has_semantic_signal() {
        eprintln!("nemotron-service: intent classification: detectors and the embedding model");
    } else {
        eprintln!(
            "nemotron-service: intent classification: detectors only (no [classifier] embedding_model, or a build without the embeddings feature)"
        );
    }
    let (loaded, problems) = service.load_registry(&registry_dir);
    for problem in &problems {
        eprintln!("nemotron-service: registration not loaded: {problem}");
    }
    let mut config = ServerConfig::new(args.socket.clone());
    config.listen = args.listen;
    config.header_timeout = Duration::from_millis(args.header_timeout_ms);
    config.limits.timeout = Duration::from_millis(args.body_timeout_ms);
    config.limits.max_bytes = args.max_body_bytes;

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let bound = Bound::bind(config)
            .await
            .with_context(|| format!("binding {}", args.socket.display()))?;
        let tcp = bound
            .tcp_addr()
            .map(|a| format!(" and {a}"))
            .unwrap_or_default();
        eprintln!(
            "nemotron-service: serving on {}{tcp} ({loaded} containers re-registered)",
            args.socket.display()
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = stop.send(true);
        });
        // Served from a worker thread, not from this one: a connection it accepts is spawned
        // onto that worker's own queue and served there, without waking another thread.
        tokio::spawn(bound.serve(Arc::clone(&service), stopped))
            .await
            .context("the server's task")?;
        anyhow::Ok(())
    })?;
    service
        .flush_audit(Duration::from_secs(5))
        .context("flushing the audit trail")?;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
