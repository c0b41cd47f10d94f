//! `--config FILE` (or `DOCENT_CONFIG`): a TOML file of option values keyed by the options' long
//! names, e.g. `store = "/srv/docent/store"`, `addr = "0.0.0.0:8080"`, `api-key = ["…"]`,
//! `max-generations = 2`. Precedence: command-line flags, then `DOCENT_*` environment variables,
//! then the file, then built-in defaults. A key no command knows is an error (a typo would
//! otherwise be silently ignored); a key of another subcommand is ignored for this one.
//!
//! It works on the arguments themselves: the file's values for options this run did not set are
//! appended as flags and the command line is parsed again, so clap validates them like any flag.

use std::ffi::OsString;
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::cli::Args;

pub fn parse() -> Result<Args> {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let mut command = Args::command();
    // Built, so that global options are listed under every subcommand too.
    command.build();
    let matches = command.clone().get_matches_from(&argv);
    let Some(path) = matches.get_one::<std::path::PathBuf>("config") else {
        return Ok(Args::from_arg_matches(&matches)?);
    };
    let extra = flags_from_file(path, &command, &matches)?;
    if extra.is_empty() {
        return Ok(Args::from_arg_matches(&matches)?);
    }
    let matches = command.get_matches_from(argv.into_iter().chain(extra));
    Ok(Args::from_arg_matches(&matches)?)
}

/// The flags that carry the file's values for options this run left at their defaults.
fn flags_from_file(
    path: &Path,
    command: &clap::Command,
    matches: &ArgMatches,
) -> Result<Vec<OsString>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    let (sub, sub_matches) = match matches.subcommand() {
        Some((name, sub_matches)) => (
            command.find_subcommand(name).expect("clap matched it"),
            sub_matches,
        ),
        None => (command, matches),
    };
    let known =
        |cmd: &clap::Command, key: &str| cmd.get_arguments().any(|a| a.get_long() == Some(key));
    let mut flags = Vec::new();
    for (key, value) in &table {
        if key == "config"
            || !(known(command, key) || command.get_subcommands().any(|c| known(c, key)))
        {
            bail!(
                "{}: unknown option `{key}` (keys are the long option names, as in `docent --help`)",
                path.display()
            );
        }
        let Some(arg) = sub
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()))
        else {
            continue; // another subcommand's option
        };
        let set_here = matches!(
            sub_matches.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if set_here {
            continue;
        }
        let values = match value {
            toml::Value::Array(items) => items
                .iter()
                .map(|v| scalar(path, key, v))
                .collect::<Result<Vec<_>>>()?,
            other => vec![scalar(path, key, other)?],
        };
        for value in values.into_iter().flatten() {
            flags.push(OsString::from(match value {
                Scalar::Flag => format!("--{key}"),
                Scalar::Value(value) => format!("--{key}={value}"),
            }));
        }
    }
    Ok(flags)
}

enum Scalar {
    /// `key = true` for a switch such as `json`.
    Flag,
    Value(String),
}

fn scalar(path: &Path, key: &str, value: &toml::Value) -> Result<Option<Scalar>> {
    Ok(match value {
        toml::Value::String(s) => Some(Scalar::Value(s.clone())),
        toml::Value::Integer(i) => Some(Scalar::Value(i.to_string())),
        toml::Value::Float(f) => Some(Scalar::Value(f.to_string())),
        toml::Value::Boolean(true) => Some(Scalar::Flag),
        toml::Value::Boolean(false) => None,
        _ => bail!(
            "{}: `{key}` must be a string, number, boolean or a list of them",
            path.display()
        ),
    })
}
