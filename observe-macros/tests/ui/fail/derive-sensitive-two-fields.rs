use observe_runtime::Sensitive;

#[derive(Sensitive)]
struct Contact {
    email: String,
    phone: String,
}

fn main() {}
