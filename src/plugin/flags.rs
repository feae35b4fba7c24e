//! Command-line conventions of kubefedctl (Go pflag), so that its command lines work unchanged:
//!
//! - boolean flags take `--flag`, `--flag=true` and `--flag=false` (any spelling Go's
//!   `strconv.ParseBool` accepts: `1`, `t`, `T`, `TRUE`, `true`, `True` and their false
//!   counterparts). As in pflag, `--flag false` is `--flag` followed by the argument `false`;
//! - a flag given twice keeps its last value;
//! - `_` and `-` are the same in long flag names (`--host_cluster_context`), as kubefedctl's
//!   word-separator normalization made them.
//!
//! Boolean flags are declared as ordinary clap switches; [`go_style`] rewrites every switch of
//! the command tree once, so no flag can be left behind.

use std::ffi::OsString;

use clap::builder::{BoolValueParser, PossibleValue, TypedValueParser};
use clap::{Arg, ArgAction, Command};

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(format!(
            "invalid boolean {other:?}: use true or false (as --flag=true / --flag=false)"
        )),
    }
}

/// Parser of a Go boolean flag value, shown as `true|false` in `--help`.
#[derive(Clone, Copy, Debug)]
struct GoBool;

impl TypedValueParser for GoBool {
    type Value = bool;

    fn parse_ref(
        &self,
        cmd: &Command,
        arg: Option<&Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<bool, clap::Error> {
        let text = value.to_str().unwrap_or_default();
        parse_go_bool(text).map_err(|_| {
            // Reuse clap's own "invalid value" error, which names the flag and the choices.
            BoolValueParser::new()
                .parse_ref(cmd, arg, value)
                .err()
                .unwrap_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidValue))
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            [PossibleValue::new("true"), PossibleValue::new("false")].into_iter(),
        ))
    }
}

/// Makes a clap switch a pflag boolean: optional value after `=`, `true` when bare, `false`
/// when absent.
fn go_bool(arg: Arg) -> Arg {
    arg.action(ArgAction::Set)
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
        .default_value("false")
        .value_parser(GoBool)
        .hide_possible_values(true)
        .value_name("true|false")
}

/// Applies kubefedctl's flag conventions to `cmd` and every subcommand.
pub fn go_style(cmd: Command) -> Command {
    let mut cmd = cmd.args_override_self(true).mut_args(|arg| {
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            go_bool(arg)
        } else {
            arg
        }
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, go_style);
    }
    cmd
}

/// Turns clap's "unexpected argument 'false'" after a boolean flag (`--force false`) into
/// what to write instead (`--force=false`); other errors are returned as they are.
pub fn explain_separate_bool(
    err: clap::Error,
    args: &[OsString],
    cmd: &mut Command,
) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() != ErrorKind::UnknownArgument {
        return err;
    }
    let Some(ContextValue::String(unexpected)) = err.get(ContextKind::InvalidArg) else {
        return err;
    };
    let separate = args.windows(2).find_map(|pair| {
        let flag = pair[0].to_str()?;
        let value = pair[1].to_str()?;
        let spelled_out = value.len() > 1 && parse_go_bool(value).is_ok();
        (value == unexpected && flag.starts_with('-') && !flag.contains('=') && spelled_out)
            .then(|| (flag.to_string(), value.to_string()))
    });
    match separate {
        Some((flag, value)) => clap::Error::raw(
            ErrorKind::UnknownArgument,
            format!(
                "unexpected argument '{value}' after {flag}: a boolean flag takes its value after '=', as in {flag}={value}\n"
            ),
        )
        .with_cmd(cmd),
        None => err,
    }
}

/// `--host_cluster_context=x` → `--host-cluster-context=x`: underscores in long flag names
/// become dashes (values are left alone). Arguments after `--` are not flags.
pub fn normalize_word_separators<I, T>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut after_terminator = false;
    args.into_iter()
        .map(Into::into)
        .map(|arg| {
            if after_terminator {
                return arg;
            }
            let Some(text) = arg.to_str() else {
                return arg;
            };
            if text == "--" {
                after_terminator = true;
                return arg;
            }
            match text.strip_prefix("--") {
                Some(rest) if rest.contains('_') => {
                    let (name, value) = match rest.split_once('=') {
                        Some((name, value)) => (name, Some(value)),
                        None => (rest, None),
                    };
                    let mut fixed = format!("--{}", name.replace('_', "-"));
                    if let Some(value) = value {
                        fixed.push('=');
                        fixed.push_str(value);
                    }
                    OsString::from(fixed)
                }
                _ => arg,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_booleans() {
        for yes in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(yes), Ok(true), "{yes}");
        }
        for no in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(no), Ok(false), "{no}");
        }
        for bad in ["", "yes", "no", "tRuE", "2"] {
            assert!(parse_go_bool(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn underscores_in_flag_names_only() {
        let args = normalize_word_separators([
            "kubectl-fed",
            "join",
            "my_cluster",
            "--host_cluster_context=ctx_1",
            "--cluster_context",
            "ctx_2",
            "-n",
            "a_b",
            "--",
            "--not_a_flag",
        ]);
        let args: Vec<&str> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "kubectl-fed",
                "join",
                "my_cluster",
                "--host-cluster-context=ctx_1",
                "--cluster-context",
                "ctx_2",
                "-n",
                "a_b",
                "--",
                "--not_a_flag",
            ]
        );
    }

    fn sample() -> Command {
        Command::new("t")
            .arg(Arg::new("force").long("force").action(ArgAction::SetTrue))
            .arg(
                Arg::new("contents")
                    .short('c')
                    .long("contents")
                    .action(ArgAction::SetTrue),
            )
            .arg(Arg::new("name").num_args(0..=1))
    }

    fn parse(args: &[&str]) -> Result<(bool, bool, Option<String>), clap::Error> {
        let matches = go_style(sample()).try_get_matches_from(args)?;
        Ok((
            matches
                .get_one::<bool>("force")
                .copied()
                .unwrap_or_default(),
            matches
                .get_one::<bool>("contents")
                .copied()
                .unwrap_or_default(),
            matches.get_one::<String>("name").cloned(),
        ))
    }

    #[test]
    fn switches_take_pflag_forms() {
        assert_eq!(parse(&["t"]).unwrap(), (false, false, None));
        assert_eq!(parse(&["t", "--force"]).unwrap(), (true, false, None));
        assert_eq!(parse(&["t", "--force=true"]).unwrap(), (true, false, None));
        assert_eq!(
            parse(&["t", "--force=false"]).unwrap(),
            (false, false, None)
        );
        assert_eq!(parse(&["t", "--force=F"]).unwrap(), (false, false, None));
        assert_eq!(parse(&["t", "--force=1"]).unwrap(), (true, false, None));
        assert_eq!(parse(&["t", "-c"]).unwrap(), (false, true, None));
        assert_eq!(parse(&["t", "-c=false"]).unwrap(), (false, false, None));
        // The last occurrence wins, as in pflag.
        assert_eq!(
            parse(&["t", "--force", "--force=false"]).unwrap(),
            (false, false, None)
        );
        // `--flag false` is the flag plus an argument.
        assert_eq!(
            parse(&["t", "--force", "false"]).unwrap(),
            (true, false, Some("false".into()))
        );
        let err = parse(&["t", "--force=maybe"]).unwrap_err().to_string();
        assert!(err.contains("--force"), "{err}");
        assert!(err.contains("maybe"), "{err}");
    }
}
