use observe_runtime::observe;

#[observe(span = "Commande.Créer")]
fn create() {}

fn main() {}
