//! `renkei-api`: the HTTP server and its admin commands.

use std::time::Duration;

use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use renkei_api::{ApiConfig, AppState};
use renkei_core::auth::Minter;
use renkei_core::config::{DatabaseConfig, migration_url};
use renkei_core::db::Db;
use renkei_core::registry::users;
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
    /// Registered people and service accounts.
    User {
        #[command(subcommand)]
        what: UserCommand,
    },
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
enum UserCommand {
    /// Register a membership with a known subject and print its id: the first ministry user, or
    /// a service account (a dashboard's client id from the identity provider's
    /// client-credentials flow). Everyone else is invited by e-mail (`inviteUser`).
    Create(UserArgs),
}

#[derive(clap::Args)]
struct UserArgs {
    /// The identity provider's `sub` (a service account's client id).
    #[arg(long)]
    subject: String,
    /// national, prefecture, health_centre, hospital_admin, hospital_staff, vendor or dashboard.
    #[arg(long)]
    role: String,
    #[arg(long)]
    email: String,
    /// Display name (1 to 100 characters).
    #[arg(long)]
    name: String,
    /// The organisation; national and dashboard users default to the ministry, registered first
    /// if need be.
    #[arg(long)]
    org: Option<Uuid>,
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
    /// The subject (`sub`), e.g. demo-prefecture-13. Whether it may do anything, and what, is the
    /// registry's answer when the token is used.
    #[arg(long)]
    user: String,
    /// An `org` claim: which of the person's memberships the token acts for.
    #[arg(long)]
    org: Option<Uuid>,
    /// A `role` claim (it must agree with the registry).
    #[arg(long)]
    role: Option<String>,
    /// A `pref` claim (it must agree with the registry).
    #[arg(long)]
    prefecture: Option<i16>,
    /// A verified `email` claim, which binds the pending invitations for that address.
    #[arg(long)]
    email: Option<String>,
    /// Lifetime in minutes (at most JWT_MAX_LIFETIME_SECONDS).
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
            tracing::info!(count = applied.len(), versions = ?applied, "migrations.applied");
            Ok(())
        }
        Command::Seed { what: SeedKind::Demo } => {
            let db = Db::connect(&DatabaseConfig::from_env()?)?;
            let summary = renkei_core::seed::demo(&db).await.map_err(anyhow::Error::from)?;
            if summary.already_present {
                tracing::info!(data = "demo", "seed.already_present");
            } else {
                tracing::info!(
                    organisations = summary.organisations,
                    hospitals = summary.hospitals,
                    users = summary.users,
                    incidents = summary.incidents,
                    submissions = summary.submissions,
                    data = "demo",
                    "seed.loaded"
                );
            }
            Ok(())
        }
        Command::Seed { what: SeedKind::National { clinics, incidents } } => {
            let size = renkei_core::seed::national::Size { clinics, incidents };
            let s = renkei_core::seed::national::national(&migration_url()?, size).await?;
            if s.already_present {
                tracing::info!(data = "national", "seed.already_present");
            } else {
                tracing::info!(
                    hospitals = s.hospitals,
                    clinics = s.clinics,
                    submissions = s.submissions,
                    incidents = s.incidents,
                    kpi_facts = s.kpi_facts,
                    seconds = format!("{:.1}", s.seconds),
                    data = "national",
                    "seed.loaded"
                );
            }
            Ok(())
        }
        Command::Token(args) => token(args).await,
        Command::User { what: UserCommand::Create(args) } => create_user(args).await,
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
            tracing::info!(fiscal_year = catalog.fiscal_year, form = %catalog.form, "catalog.loaded");
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
    let mut claims = minter.subject_claims(&args.user, Duration::from_secs(args.ttl_minutes * 60));
    if let Some(role) = &args.role {
        let role: Role = role.parse().map_err(|e: renkei_core::Error| anyhow::anyhow!("{e}"))?;
        claims.role = Some(role.as_str().to_owned());
    }
    claims.org = args.org;
    claims.pref = args.prefecture;
    claims.email_verified = args.email.as_ref().map(|_| true);
    claims.email = args.email;
    println!("{}", minter.sign(&claims)?);
    Ok(())
}

async fn create_user(args: UserArgs) -> anyhow::Result<()> {
    let role: Role = args.role.parse().map_err(|e: renkei_core::Error| anyhow::anyhow!("{e}"))?;
    let db = Db::connect(&DatabaseConfig::from_env()?)?;
    let system = Principal::system();
    let user = db
        .run(&system, move |c| {
            Box::pin(async move {
                let organisation_id = match (args.org, role) {
                    (Some(org), _) => org,
                    (None, Role::National | Role::Dashboard) => users::ministry(c).await?,
                    (None, _) => return Err(renkei_core::Error::bad_input(format!("--org: a {role} user needs one"))),
                };
                let new = users::NewUser {
                    organisation_id,
                    email: args.email,
                    display_name: args.name,
                    role,
                    subject: Some(args.subject),
                };
                users::invite(c, &Principal::system(), new).await
            })
        })
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    println!("{}", user.id);
    Ok(())
}

async fn serve() -> anyhow::Result<()> {
    let config = ApiConfig::from_env()?;
    let state = AppState::new(&config).await?;
    tracing::info!(bind = %config.bind, metrics = %config.metrics_bind, workers = config.workers, "api.listening");
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
