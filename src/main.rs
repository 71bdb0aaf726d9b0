use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = leasehold::cli::Cli::parse();
    match leasehold::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("leasehold: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
