use observe_runtime::observe;

#[observe(server, span = "Api.GetOrder", request = id)]
fn get_order(id: u64) -> u64 {
    id
}

fn main() {}
