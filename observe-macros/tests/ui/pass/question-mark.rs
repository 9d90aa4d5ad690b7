//! `?` and early `return` through `Result` aliases.
#![deny(warnings)]

use std::io;

use observe_runtime::observe;

#[observe(span = "Config.Read")]
fn io_alias(path: &str) -> io::Result<String> {
    if path.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "empty path"));
    }
    let number: u32 = path.parse().map_err(io::Error::other)?;
    Ok(number.to_string())
}

#[observe(span = "Config.Parse")]
fn anyhow_result(text: &str) -> anyhow::Result<u32> {
    let value: u32 = text.parse()?;
    anyhow::ensure!(value > 0, "zero");
    Ok(value)
}

#[derive(Debug)]
enum ConfigError {
    Missing,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("missing")
    }
}

impl From<std::num::ParseIntError> for ConfigError {
    fn from(_: std::num::ParseIntError) -> Self {
        ConfigError::Missing
    }
}

type Result<T> = std::result::Result<T, ConfigError>;

#[observe(span = "Config.Custom")]
fn custom_alias(text: &str) -> Result<u8> {
    // `?` converts with `From`, so the closure needs the declared return type.
    Ok(text.parse::<u8>()?)
}

#[observe(span = "Config.Option")]
fn option(values: &[u8]) -> Option<u8> {
    let first = values.first()?;
    Some(first + 1)
}

#[observe(span = "Config.Main")]
fn main() -> anyhow::Result<()> {
    assert!(io_alias("").is_err());
    assert_eq!(io_alias("12")?, "12");
    assert!(io_alias("x").is_err());
    assert_eq!(anyhow_result("3")?, 3);
    assert!(anyhow_result("0").is_err());
    assert!(matches!(custom_alias("x"), Err(ConfigError::Missing)));
    assert_eq!(option(&[1]), Some(2));
    assert_eq!(option(&[]), None);
    Ok(())
}
