use observe_runtime::observe;

#[observe(span = "Process.Handle-{id}")]
fn handle(id: u64) -> u64 {
    id
}

fn main() {}
