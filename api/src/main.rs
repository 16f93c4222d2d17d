//! `renkei-api`: the HTTP server and its admin commands.

use std::time::Duration;

use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use renkei_api::{ApiConfig, AppState};
use renkei_core::auth::Minter;
use renkei_core::config::{DatabaseConfig, migration_url};
use renkei_core::db::Db;
use renkei_core::{Principal, Role};
use uuid::Uuid;

#[derive(Parser)]
#[command(name = "renkei-api", version, about = "Renkei GraphQL API and admin commands")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve GraphQL over HTTP (the default).
    Serve,
    /// Apply pending database migrations (as MIGRATION_DATABASE_URL).
    Migrate,
    /// Load data.
    Seed {
        #[command(subcommand)]
        what: SeedKind,
    },
    /// Mint a signed development token and print it alone on stdout.
    Token(TokenArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Checklist catalogs.
    Catalog {
        #[command(subcommand)]
        what: CatalogCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        what: AuditCommand,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Load a catalog from a JSON file: {"fiscal_year", "form", "title", "items": [{"code",
    /// "section_ja", "section_en", "text_ja", "text_en", "answer_type", "choices", "status",
    /// "note", "kpi"}]}.
    Import { file: std::path::PathBuf },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain (as MIGRATION_DATABASE_URL); exits 1 when a row was changed or removed.
    Verify,
}

#[derive(Subcommand)]
enum SeedKind {
    /// The demo registry: 47 prefectures, health centres, hospitals, vendors, a user per role.
    Demo,
    /// The national-scale dataset for KPIs and benchmarks (as MIGRATION_DATABASE_URL): 8,205
    /// hospitals, clinics, three fiscal years of checklists and surveys, incidents.
    National {
        #[arg(long, default_value_t = 100_000)]
        clinics: u32,
        #[arg(long, default_value_t = 3_000)]
        incidents: u32,
    },
}

#[derive(clap::Args)]
struct TokenArgs {
    /// Mint for a registered user, by subject (e.g. demo-prefecture-13); takes role and
    /// organisation from the registry.
    #[arg(long, conflicts_with_all = ["role", "org", "prefecture"])]
    user: Option<String>,
    /// Role: national, prefecture, health_centre, hospital_admin, hospital_staff, vendor, dashboard.
    #[arg(long, required_unless_present = "user")]
    role: Option<String>,
    /// Organisation id the token acts for.
    #[arg(long)]
    org: Option<Uuid>,
    /// JIS prefecture code, for the prefecture role.
    #[arg(long)]
    prefecture: Option<i16>,
    /// Subject (`sub`); defaults to dev-<role>.
    #[arg(long)]
    subject: Option<String>,
    /// Lifetime in minutes.
    #[arg(long, default_value_t = 480)]
    ttl_minutes: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = renkei_core::telemetry::init("renkei-api")?;
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Migrate => {
            let applied = renkei_migrations::run(&migration_url()?).await?;
            tracing::info!(count = applied.len(), versions = ?applied, "migrations applied");
            Ok(())
        }
        Command::Seed { what: SeedKind::Demo } => {
            let db = Db::connect(&DatabaseConfig::from_env()?)?;
            let summary = renkei_core::seed::demo(&db).await.map_err(anyhow::Error::from)?;
            if summary.already_present {
                tracing::info!("demo data already present; nothing changed");
            } else {
                tracing::info!(
                    organisations = summary.organisations,
                    hospitals = summary.hospitals,
                    users = summary.users,
                    incidents = summary.incidents,
                    submissions = summary.submissions,
                    "demo data loaded"
                );
            }
            Ok(())
        }
        Command::Seed { what: SeedKind::National { clinics, incidents } } => {
            let size = renkei_core::seed::national::Size { clinics, incidents };
            let s = renkei_core::seed::national::national(&migration_url()?, size).await?;
            if s.already_present {
                tracing::info!("national data already present; nothing changed");
            } else {
                tracing::info!(
                    hospitals = s.hospitals,
                    clinics = s.clinics,
                    submissions = s.submissions,
                    incidents = s.incidents,
                    kpi_facts = s.kpi_facts,
                    seconds = format!("{:.1}", s.seconds),
                    "national data loaded"
                );
            }
            Ok(())
        }
        Command::Token(args) => token(args).await,
        Command::Catalog { what: CatalogCommand::Import { file } } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let new: renkei_core::checklists::catalog::NewCatalog =
                serde_json::from_str(&text).with_context(|| format!("{} is not a catalog", file.display()))?;
            let db = Db::connect(&DatabaseConfig::from_env()?)?;
            let catalog = db
                .run(&Principal::system(), move |c| {
                    Box::pin(
                        async move { renkei_core::checklists::catalog::import(c, &Principal::system(), new).await },
                    )
                })
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            tracing::info!(fiscal_year = catalog.fiscal_year, form = %catalog.form, "catalog loaded");
            Ok(())
        }
        Command::Audit { what: AuditCommand::Verify } => match renkei_core::audit::verify(&migration_url()?).await? {
            renkei_core::audit::Verdict::Intact { rows, head } => {
                println!("audit chain intact: {rows} rows, head {head}");
                Ok(())
            }
            renkei_core::audit::Verdict::Broken { id, reason } => {
                println!("audit chain broken at row {id}: {reason}");
                std::process::exit(1);
            }
        },
        Command::Schema => {
            print!("{}", renkei_graphql::sdl());
            Ok(())
        }
    }
}

async fn token(args: TokenArgs) -> anyhow::Result<()> {
    let minter = Minter::from_env()?;
    let principal = match args.user {
        Some(subject) => {
            let db = Db::connect(&DatabaseConfig::from_env()?)?;
            let lookup = subject.clone();
            let found = db
                .run(&Principal::system(), move |c| {
                    Box::pin(async move {
                        let Some(user) = renkei_core::registry::users::by_subject(c, &lookup).await? else {
                            return Ok(None);
                        };
                        let org =
                            renkei_core::registry::organisations::get(c, &Principal::system(), user.organisation_id)
                                .await?;
                        Ok(Some((user, org)))
                    })
                })
                .await
                .map_err(anyhow::Error::from)?;
            let (user, org) = found.with_context(|| format!("no user with subject {subject:?} (run `seed demo`?)"))?;
            let role = user.role().map_err(|e| anyhow::anyhow!("{e}"))?;
            let prefecture = (role == Role::Prefecture).then_some(org.prefecture_code);
            Principal::new(user.subject, role, Some(org.id), prefecture).map_err(|e| anyhow::anyhow!("{e}"))?
        }
        None => {
            let role: Role = args.role.unwrap_or_default().parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let subject = args.subject.unwrap_or_else(|| format!("dev-{role}"));
            Principal::new(subject, role, args.org, args.prefecture).map_err(|e| anyhow::anyhow!("{e}"))?
        }
    };
    println!("{}", minter.mint(&principal, Duration::from_secs(args.ttl_minutes * 60))?);
    Ok(())
}

async fn serve() -> anyhow::Result<()> {
    let config = ApiConfig::from_env()?;
    let state = AppState::new(&config).await?;
    tracing::info!(bind = %config.bind, metrics = %config.metrics_bind, workers = config.workers, "renkei-api listening");
    let data = web::Data::new(state);
    let http = renkei_api::HttpConfig { cors_origins: config.cors_origins.clone() };
    let api_data = data.clone();
    let api =
        HttpServer::new(move || App::new().app_data(api_data.clone()).configure(|cfg| renkei_api::routes(cfg, &http)))
            .client_request_timeout(Duration::from_secs(10))
            .keep_alive(Duration::from_secs(75))
            .workers(config.workers)
            .shutdown_timeout(30)
            .bind(&config.bind)
            .with_context(|| format!("BIND_ADDRESS={} cannot be bound", config.bind))?
            .run();
    // Prometheus alone reaches this address; one worker is plenty for a scrape every few seconds.
    let metrics = HttpServer::new(move || App::new().app_data(data.clone()).configure(renkei_api::metrics_routes))
        .workers(1)
        .shutdown_timeout(5)
        .bind(&config.metrics_bind)
        .with_context(|| format!("METRICS_BIND_ADDRESS={} cannot be bound", config.metrics_bind))?
        .run();
    futures::try_join!(api, metrics)?;
    Ok(())
}
