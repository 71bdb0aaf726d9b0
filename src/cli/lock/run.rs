//! `leasehold lock run NAME... -- COMMAND...`: runs the command while
//! holding the lock (exclusive, or shared with `--shared`), or, given several
//! names, every one of them at once as a lock set.

use clap::Args;
use leasehold_client::Error;

use super::LeaseArgs;
use crate::cli::remote::{fail, Server, USAGE};
use crate::cli::supervise::{run_while_held, CommandArgs, Held};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The lock, or the locks to hold together (2 to 64).
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
    #[command(flatten)]
    lease: LeaseArgs,
    #[command(flatten)]
    command: CommandArgs,
    #[command(flatten)]
    server: Server,
}

pub async fn run(args: RunArgs) -> u8 {
    if args.lease.shared && args.names.len() > 1 {
        eprintln!("leasehold: --shared holds one lock; a set of several is exclusive");
        return USAGE;
    }
    match acquire(&args).await {
        Ok(held) => run_while_held(held, &args.command).await,
        Err(e) => fail(&e),
    }
}

async fn acquire(args: &RunArgs) -> Result<Held, Error> {
    let client = args.server.client()?;
    Ok(match args.names.as_slice() {
        [name] => {
            let guard = args.lease.request(&client, name).acquire().await?;
            Held::Lock { name: name.clone(), guard }
        }
        names => Held::Set { guard: args.lease.lock_set(&client, names).acquire().await? },
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::Cli;

    #[test]
    fn every_name_before_the_command_is_a_lock_of_the_set() {
        let args = ["leasehold", "lock", "run", "a", "b", "c", "--key", "k", "--", "echo", "b"];
        let cli = format!("{:?}", Cli::try_parse_from(args).expect("a set's run parses"));
        assert!(cli.contains(r#"names: ["a", "b", "c"]"#), "{cli}");
        assert!(cli.contains(r#"command: ["echo", "b"]"#), "{cli}");
    }
}
