//! `chorus --print-config`: the sample configuration file, made from the flags.

use crate::{Cli, FileConfig};

/// A commented configuration file with every key, its help and its default, made from
/// the flags themselves so it cannot drift from them. Every `# key = value` line, once
/// uncommented, is valid as it stands.
pub fn sample_config() -> String {
    use clap::CommandFactory;
    let mut out = String::from(
        "# Chorus configuration (`chorus --config FILE`). Every key is also a flag: key_name is\n\
         # --key-name, and flags win over this file. Commented keys show their defaults.\n\n",
    );
    for arg in Cli::command().get_arguments() {
        let key = arg.get_id().as_str();
        if matches!(key, "config" | "print_config" | "help" | "version") {
            continue;
        }
        let help = arg
            .get_long_help()
            .or_else(|| arg.get_help())
            .map(ToString::to_string)
            .unwrap_or_default();
        // "… [default: X] …": the default comes out, the words around it stay.
        let (text, default) = match help.split_once("[default: ") {
            Some((before, rest)) => match rest.split_once(']') {
                Some((default, after)) => (
                    format!("{}{}", before.trim_end(), after),
                    Some(default.to_owned()),
                ),
                None => (help.clone(), None),
            },
            None => (help.clone(), None),
        };
        let text = text.trim();
        let value = default.as_deref().and_then(|d| toml_value(key, d));
        // A default that is a description, not a value, joins the help text.
        let described = match (&value, &default) {
            (None, Some(d)) => format!("{text} (default: {d})"),
            _ => text.to_owned(),
        };
        let mut line = String::from("#");
        for word in described.split_whitespace() {
            if line.len() + 1 + word.len() > 88 {
                out.push_str(&line);
                out.push('\n');
                line = String::from("#");
            }
            line.push(' ');
            line.push_str(word);
        }
        out.push_str(&line);
        out.push('\n');
        match value {
            Some(value) => out.push_str(&format!("# {key} = {value}\n\n")),
            None => out.push_str(&format!("# {key} =\n\n")),
        }
    }
    out.push_str(
        "# ---- conference extensions: one table each, with the REST API's property names.\n\
         # Seeded into the store when the store has never had them; REST changes win after.\n\
         #[extension.500]\n\
         #pin = \"1234\"\n\
         #moderator_pin = \"9999\"\n\
         #max_members = 20\n\
         #mute_non_moderator = false\n\
         #announce_caller_name = false\n\
         #record_enabled = false\n\
         #auto_gain = true         # unset: the bridge's auto_gain\n\
         #noise_suppression = false\n\
         #enter_sound = 3          # a sound id from POST /sound/\n\
         #music_on_hold_sound = 4\n",
    );
    out
}

/// `default` written as the TOML value the config file takes for `key`, if it is a value
/// (not a description like "the number of cores").
fn toml_value(key: &str, default: &str) -> Option<String> {
    let accepts = |value: &str| toml::from_str::<FileConfig>(&format!("{key} = {value}")).is_ok();
    [default.to_owned(), format!("{default:?}")]
        .into_iter()
        .find(|value| {
            !default.contains(' ') && !matches!(default, "none" | "any") && accepts(value)
        })
}
