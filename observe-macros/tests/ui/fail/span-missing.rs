use observe_runtime::observe;

#[observe]
fn no_arguments() {}

#[observe(metric = "latency", kind = server)]
fn other_arguments_only() {}

fn main() {}
