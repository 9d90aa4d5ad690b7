use observe_runtime::observe;

#[observe(span = "User.Notify", fields(e_mail = address_of_record))]
fn notify(address_of_record: &str) -> usize {
    address_of_record.len()
}

fn main() {}
