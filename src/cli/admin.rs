use clap::{Args, Subcommand};
use serde::Serialize;

use crate::admin::actions::{self, Actor, Bootstrapped};
use crate::config::Settings;
use crate::domain::{Plan, Role};
use crate::startup;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    #[command(subcommand)]
    Account(AccountCommand),
    #[command(subcommand)]
    Namespace(NamespaceCommand),
    #[command(subcommand)]
    Key(KeyCommand),
    /// Make sure an operator account with an active admin key exists (for
    /// the console's first sign-in); mints that key only if there is none.
    Bootstrap {
        #[arg(long, default_value = "operator")]
        account: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account; a business account also gets a namespace of its name.
    Create {
        name: String,
        #[arg(long, value_parser = parse_plan)]
        plan: Plan,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum NamespaceCommand {
    /// Create a private namespace for a business account.
    Create {
        name: String,
        #[arg(long)]
        account: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key; the clear key is printed once and never stored.
    Create {
        #[arg(long)]
        account: String,
        #[arg(long, default_value = "client", value_parser = parse_role)]
        role: Role,
        /// The key's default namespace [default: the account's own, or public].
        #[arg(long)]
        namespace: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Revoke a key; every replica refuses it within seconds.
    Revoke { key_id: String },
}

#[derive(Debug, Args)]
pub struct Output {
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_plan(s: &str) -> Result<Plan, String> {
    s.parse().map_err(|e: crate::domain::InvalidInput| e.message)
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse().map_err(|e: crate::domain::InvalidInput| e.message)
}

pub async fn run(settings: &Settings, command: AdminCommand) -> anyhow::Result<()> {
    let pool = startup::connect(settings).await?.pool;
    startup::ensure_schema(&pool, false).await?;
    // Changes made here are logged like the admin API's, as the OS user.
    let actor = Actor::command_line();
    match command {
        AdminCommand::Account(AccountCommand::Create { name, plan, output }) => {
            let created = actions::create_account(&pool, &actor, &name, plan).await?;
            let namespace = created.namespace.as_deref().unwrap_or("public");
            print(&output, &created, || {
                format!("account {} ({}) created; namespace {namespace}", created.name, created.plan)
            });
        }
        AdminCommand::Namespace(NamespaceCommand::Create { name, account, output }) => {
            let created = actions::create_namespace(&pool, &settings.plans, &actor, &name, &account).await?;
            print(&output, &created, || {
                format!("namespace {} created for {}", created.namespace, created.account)
            });
        }
        AdminCommand::Key(KeyCommand::Create { account, role, namespace, output }) => {
            let created = actions::create_key(&pool, &actor, &account, role, namespace.as_deref()).await?;
            print(&output, &created, || {
                format!(
                    "key {} ({}, namespace {}) for {}:\n{}\nStore it now: it is not shown again.",
                    created.key_id, created.role, created.namespace, created.account, created.key
                )
            });
        }
        AdminCommand::Bootstrap { account, output } => {
            let done = actions::bootstrap(&pool, &actor, &account).await?;
            print(&output, &done, || {
                match &done {
                Bootstrapped::Minted(key) => format!(
                    "admin key {} for {} (sign in to the console with it):\n{}\nStore it now: it is not shown again.",
                    key.key_id, key.account, key.key
                ),
                Bootstrapped::AdminKeyExists { account, key_id } => format!(
                    "{account} has an active admin key already ({key_id}); none minted. Another: \
                     leasehold admin key create --account {account} --role admin"
                ),
            }
            });
        }
        AdminCommand::Key(KeyCommand::Revoke { key_id }) => {
            actions::revoke_key(&pool, &actor, &key_id).await?;
            println!("key {key_id} revoked");
        }
    }
    Ok(())
}

fn print<T: Serialize>(output: &Output, value: &T, text: impl FnOnce() -> String) {
    if output.json {
        println!("{}", serde_json::to_string(value).expect("serializable"));
    } else {
        println!("{}", text());
    }
}
