//! The command line: every command, flag and environment variable `roster` accepts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "roster",
    version,
    about = "Roster: the user directory of an email-security service, kept in step with Microsoft Entra ID.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Database URL: a SQLite file (sqlite:PATH) or PostgreSQL (postgres://…). Default: the
    /// SQLite file roster.db in the data directory.
    #[arg(long, global = true, env = "ROSTER_DATABASE_URL", value_name = "URL")]
    pub database: Option<String>,
    /// Where Roster keeps its SQLite database and master key file. Default:
    /// $XDG_DATA_HOME/roster, or ~/.local/share/roster.
    #[arg(long, global = true, env = "ROSTER_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Seconds a running sync's lease lasts; the process renews it three times as often. A
    /// sync whose process stopped is taken over once its lease has run out.
    #[arg(long, global = true, env = "ROSTER_RUN_LEASE_SECONDS", value_name = "SECONDS",
          default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub run_lease_seconds: u64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade the database schema.
    Migrate,
    /// Run the demo on a fresh data directory (--data-dir, or a new temporary one) and a
    /// simulated tenant: the console on localhost, or with --walkthrough a scripted CLI session.
    Demo(DemoArgs),
    /// Accounts: customer organisations and their domains.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Users of an account.
    #[command(subcommand)]
    User(UserCommand),
    /// Groups of an account.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Organization admin logins.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The account's directory connection (Entra ID app registration and sync settings).
    #[command(subcommand)]
    Connection(ConnectionCommand),
    /// Search Now, Sync Active Directory, automatic runs and their history.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// Exempt a directory object from sync: no plan proposes any change to it.
    Exempt(ExemptArgs),
    /// Lift an exemption.
    Unexempt(ExemptArgs),
    /// Run automatic syncs on their schedule (several workers may share one database).
    Worker(WorkerArgs),
    /// Mail-flow lookups for Postfix (socketmap) and other MTAs (HTTP JSON).
    #[command(subcommand)]
    Lookup(LookupCommand),
    /// Mail to tech contacts and admins: the outbox and its sender.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Serve the REST API (and the scheduler, unless --no-scheduler).
    Serve(ServeArgs),
    /// Platform operator logins: the service's own staff, above every account.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// An account's API tokens, sent as `Authorization: Bearer …`.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Serve a simulated Entra ID tenant (token endpoint, Graph and a control API).
    Sim(roster_sim::cli::SimArgs),
    /// The master key that encrypts client secrets and certificates' private keys.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Re-encrypt every stored secret and private key under a new master key, in one
    /// transaction. Stop every other Roster process first: after the rotation only the new key
    /// opens the secrets. The current key comes from the usual place (ROSTER_MASTER_KEY, or
    /// ROSTER_MASTER_KEY_FILE, or the data directory's master.key).
    Rotate {
        /// The new key's file: read if it exists (base64 of 32 random bytes), otherwise
        /// created with a new random key, readable by its owner only.
        #[arg(long, value_name = "PATH")]
        new_key_file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run the scripted command-line walkthrough (Search Now, apply, directory changes, a
    /// second sync) instead of serving the console.
    #[arg(long, conflicts_with_all = ["listen", "json"])]
    pub walkthrough: bool,
    /// Where the console listens: a loopback address (the demo serves only this machine);
    /// port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Print one JSON line (url, account, login, password, primary_domain, client_id, key,
    /// data_dir) once the console listens, instead of the instructions.
    #[arg(long)]
    pub json: bool,
    /// Users in the simulated tenant.
    #[arg(long, default_value_t = 300)]
    pub users: u32,
    /// Groups in the simulated tenant.
    #[arg(long, default_value_t = 30)]
    pub groups: u32,
    /// Seed of the simulated tenant: the same seed gives the same tenant.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Debug, Subcommand)]
pub enum LookupCommand {
    /// Answer lookups from an in-memory view of the directory, kept current by polling (and, on
    /// PostgreSQL, at once on each change's NOTIFY); prints one JSON line with the bound
    /// addresses (port 0 picks a free port).
    Serve(LookupServeArgs),
}

#[derive(Debug, Args)]
pub struct LookupServeArgs {
    /// Serve socketmap on this TCP address, e.g. 127.0.0.1:7000.
    #[arg(long, value_name = "ADDR")]
    pub socketmap: Option<std::net::SocketAddr>,
    /// Serve socketmap on a Unix socket at this path.
    #[arg(long, value_name = "PATH")]
    pub socketmap_unix: Option<PathBuf>,
    /// Serve the HTTP JSON lookups on this address, e.g. 127.0.0.1:7080.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// The characters that start an address extension: the same as Postfix's
    /// recipient_delimiter in main.cf ("" when it is unset).
    #[arg(long, default_value = "+", value_name = "CHARS")]
    pub recipient_delimiter: String,
    /// Milliseconds between looks for changed accounts.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub poll_interval_ms: u64,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Seconds between looks for due syncs.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub tick_seconds: u64,
    /// Look once, run what is due, and exit (for cron, and for tests).
    #[arg(long)]
    pub once: bool,
    /// Accounts synced at the same time by this worker.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Days an account may go without a tech contact before its automatic sync is set to never.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub tech_contact_grace_days: u32,
    /// On SIGTERM or Ctrl-C: seconds the running syncs may take to finish before they are
    /// stopped and handed back for another worker to run at once.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub grace_seconds: u64,
    /// The configuration file whose mail settings the outbox sender uses (the keys smtp_url …
    /// mail_from and public_url of crates/server/roster.example.toml); ROSTER_* variables
    /// override them.
    #[arg(long, env = "ROSTER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Mail what the outbox holds that is due, and queue due key-expiry warnings (needs
    /// ROSTER_SMTP_URL, ROSTER_MAIL_FROM and ROSTER_PUBLIC_URL, or their keys in the
    /// configuration file). `roster worker` and `roster serve` do the same.
    Send {
        /// One pass, then exit (for cron, and for tests).
        #[arg(long)]
        once: bool,
        /// Seconds between passes.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
        every_seconds: u64,
        /// The configuration file with the mail settings (see crates/server/roster.example.toml);
        /// ROSTER_* variables override its keys.
        #[arg(long, env = "ROSTER_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// The account's messages, newest first: sent, pending and failed.
    List {
        account: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        output: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on; port 0 picks a free one. Once listening, one JSON line
    /// `{"url": "http://…"}` is printed.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// A TOML configuration file (see crates/server/roster.example.toml); ROSTER_* environment
    /// variables override its keys.
    #[arg(long, env = "ROSTER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Leave automatic syncs to separate `roster worker` processes.
    #[arg(long)]
    pub no_scheduler: bool,
    /// Also serve the mail-flow lookups over socketmap on this TCP address (for Postfix).
    #[arg(long, value_name = "ADDR")]
    pub lookup_socketmap: Option<std::net::SocketAddr>,
    /// Also serve socketmap on a Unix socket at this path.
    #[arg(long, value_name = "PATH")]
    pub lookup_socketmap_unix: Option<PathBuf>,
    /// Also serve the HTTP JSON lookups, on an address of their own: they answer without
    /// signing in, so keep them off the public listener.
    #[arg(long, value_name = "ADDR")]
    pub lookup_http: Option<std::net::SocketAddr>,
    /// The characters that start an address extension, as Postfix's recipient_delimiter.
    #[arg(long, default_value = "+", value_name = "CHARS")]
    pub recipient_delimiter: String,
}

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Create a platform operator login; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; its secret is printed once and never again.
    Create {
        /// The account's id or unique name.
        account: String,
        /// What the token is for.
        #[arg(long)]
        name: String,
        /// The token may only read.
        #[arg(long)]
        read_only: bool,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// List the account's tokens (never their secrets).
    List {
        account: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        account: String,
        /// The token's id.
        token: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account with its domains.
    Create {
        #[arg(long)]
        name: String,
        /// A domain the account owns (repeat for several).
        #[arg(long = "domain", value_name = "DOMAIN", required = true)]
        domains: Vec<String>,
        #[arg(long, requires = "tech_contact_email")]
        tech_contact_name: Option<String>,
        #[arg(long, requires = "tech_contact_name")]
        tech_contact_email: Option<String>,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// List accounts.
    List {
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Show one account: domains, tech contact, connection summary.
    Show {
        /// The account's id or unique name.
        account: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Set or clear the tech contact, who is told when automatic sync fails or is held.
    SetTechContact {
        account: String,
        #[arg(long, required_unless_present = "clear", requires = "email")]
        name: Option<String>,
        #[arg(long, required_unless_present = "clear", requires = "name")]
        email: Option<String>,
        /// Remove the tech contact.
        #[arg(long, conflicts_with_all = ["name", "email"])]
        clear: bool,
    },
    /// Add a domain to an account.
    AddDomain { account: String, domain: String },
    /// Remove a domain from an account (refused while addresses in it exist).
    RemoveDomain { account: String, domain: String },
    /// What the tech contact is told: failed or held automatic runs, automatic sync turned off.
    Events {
        account: String,
        #[command(flatten)]
        output: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user by hand (source: manual).
    Add {
        #[arg(long)]
        account: String,
        #[arg(long)]
        email: String,
        /// Another address of the user (repeat for several).
        #[arg(long = "alias", value_name = "ADDRESS")]
        aliases: Vec<String>,
        #[arg(
            long,
            default_value = "end-user",
            value_name = "end-user|silent-user|organization-admin"
        )]
        role: String,
        #[arg(long)]
        first_name: Option<String>,
        #[arg(long)]
        last_name: Option<String>,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// List the account's users.
    List {
        #[arg(long)]
        account: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Remove a user, by id or primary address.
    Remove {
        #[arg(long)]
        account: String,
        /// The user's id or primary address.
        user: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List the account's groups with their members.
    List {
        #[arg(long)]
        account: String,
        #[command(flatten)]
        output: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an organization admin login; the password is read from standard input.
    Create {
        #[arg(long)]
        account: String,
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConnectionCommand {
    /// Create or change the directory connection. Flags left out keep their saved value.
    Set(Box<ConnectionSetArgs>),
    /// Show the connection's settings (the secret only as "set on <date>").
    Show {
        account: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Delete the connection and its directory mirror (synced users and groups stay).
    Delete { account: String },
    /// Test the connection step by step; exits non-zero when a step fails.
    Test {
        account: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Certificates for signing in with a client assertion instead of the client secret.
    #[command(subcommand)]
    Certificate(CertificateCommand),
}

#[derive(Debug, Subcommand)]
pub enum CertificateCommand {
    /// Create a key pair and a self-signed certificate, keep the private key encrypted, and
    /// write the public certificate (.cer and .pem) to upload to the app registration.
    Generate {
        account: String,
        /// Where to write the certificate files.
        #[arg(long, value_name = "DIR", default_value = ".")]
        out_dir: PathBuf,
        /// How long the certificate is valid, in days.
        #[arg(long, value_name = "DAYS", default_value_t = roster_sync::CERTIFICATE_VALID_DAYS)]
        valid_days: std::num::NonZeroU16,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// The connection's certificates, and which one signs in.
    List {
        account: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Forget a certificate (by the thumbprint the list shows), e.g. after removing it from
    /// the app registration.
    Remove { account: String, thumbprint: String },
}

#[derive(Debug, Args)]
pub struct ConnectionSetArgs {
    pub account: String,
    /// The tenant: its GUID or a verified domain ("Primary Domain" in the guide).
    #[arg(long)]
    pub tenant: Option<String>,
    /// The app registration's Application (client) ID.
    #[arg(long)]
    pub client_id: Option<String>,
    /// A file holding the client secret's value, or - for standard input. The secret never
    /// travels as a command-line argument.
    #[arg(long, value_name = "PATH|-")]
    pub client_secret_file: Option<PathBuf>,
    /// The Microsoft cloud.
    #[arg(long, value_name = "global|usgov|usgov-dod|china", conflicts_with_all = ["login_url", "graph_url"])]
    pub cloud: Option<String>,
    /// Custom login endpoint (with --graph-url), e.g. a simulated tenant.
    #[arg(long, requires = "graph_url")]
    pub login_url: Option<String>,
    /// Custom Graph endpoint (with --login-url).
    #[arg(long, requires = "login_url")]
    pub graph_url: Option<String>,
    /// The role new users get.
    #[arg(long, value_name = "end-user|silent-user")]
    pub default_role: Option<String>,
    /// What to sync: users,distribution-groups,security-groups,m365-groups.
    #[arg(long, value_name = "LIST")]
    pub sync: Option<String>,
    /// How to sync: add-users,update-users,remove-users,add-groups,update-groups,remove-groups.
    #[arg(long, value_name = "LIST")]
    pub actions: Option<String>,
    /// When to sync: never, 1h, 3h, 6h, 12h or 24h.
    #[arg(long)]
    pub frequency: Option<String>,
    /// Hold removals over this share of synced users or groups (with --deletion-limit-min).
    #[arg(long, value_name = "P")]
    pub deletion_limit_percent: Option<u8>,
    /// ... when at least this many objects would be removed.
    #[arg(long, value_name = "N")]
    pub deletion_limit_min: Option<u32>,
    /// Treat sign-in-blocked accounts that still have a mailbox (shared, room) as active.
    #[arg(long, value_name = "true|false")]
    pub include_sign_in_blocked: Option<bool>,
    /// Sign in with the client secret or a certificate (`roster connection certificate
    /// generate` makes one).
    #[arg(long, value_name = "secret|certificate")]
    pub credential: Option<String>,
    /// The client secret's expiry date, as the Entra admin center showed it when the secret
    /// was created (YYYY-MM-DD), or "none".
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub key_expires_on: Option<String>,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Search Now: refresh the mirror and store a plan; nothing is applied.
    Preview {
        account: String,
        /// Read the whole directory instead of the changes since the last round.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Sync Active Directory: apply a stored plan's changes.
    Apply {
        account: String,
        #[arg(long, value_name = "PLAN_ID")]
        plan: String,
        /// Leave this change out (repeat for several); without it, the changes checked in the
        /// console (every change, unless some were unchecked there).
        #[arg(long = "skip", value_name = "CHANGE_ID")]
        skip: Vec<String>,
        /// Apply removals over the deletion limit.
        #[arg(long)]
        confirm_removals: bool,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// The automatic path: refresh, plan and apply what the settings allow.
    Run {
        account: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// The account's runs, newest first.
    History {
        account: String,
        #[command(flatten)]
        output: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub struct ExemptArgs {
    pub account: String,
    /// The directory object's id (Entra object id).
    pub external_id: String,
}
