use observe_runtime::observe;

#[observe(span = "Cache.Get", log_errors = "no")]
fn get() {}

#[observe(span = "Cache.Put", log_errors)]
fn put() {}

fn main() {}
