//! `log_errors = false` on a function, and as a default on an `impl` block
//! that a method overrides.
#![deny(warnings)]

use observe_runtime::observe;

#[observe(span = "Cache.Get", log_errors = false)]
fn get(key: u32) -> Result<u32, std::io::Error> {
    Err(std::io::Error::other(format!("miss {key}")))
}

#[observe(span = "Cache.Put", log_errors = true)]
async fn put(key: u32) -> Result<(), std::io::Error> {
    let _ = key;
    Ok(())
}

pub struct Store;

#[observe(span = "Storage", log_errors = false)]
impl Store {
    pub fn read(&self) -> Result<u8, std::io::Error> {
        Ok(1)
    }

    #[observe(log_errors = true)]
    pub fn write(&self) -> Result<(), std::io::Error> {
        Ok(())
    }
}

fn main() {
    let _ = get(1);
    let _ = put(1);
    let _ = Store.read();
    let _ = Store.write();
}
