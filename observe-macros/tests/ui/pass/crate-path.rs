//! `crate = path`: the expansion only needs the path's `__private` module, so
//! a facade can re-export just that.
#![deny(warnings)]

mod facade {
    pub mod observe {
        #[doc(hidden)]
        pub use observe_runtime::__private;
        pub use observe_runtime::observe;
    }
}

use facade::observe::observe;

#[observe(span = "Facade.Absolute", crate = ::observe_runtime)]
fn absolute() -> Result<u8, std::io::Error> {
    Ok(1)
}

#[observe(span = "Facade.Relative", crate = crate::facade::observe, fields(id = 1))]
fn relative() -> u8 {
    2
}

#[observe(span = "Facade.Async", crate = crate::facade::observe)]
async fn in_async() -> u8 {
    3
}

fn main() {
    assert_eq!(absolute().unwrap(), 1);
    assert_eq!(relative(), 2);
    assert_eq!(futures::executor::block_on(in_async()), 3);
}
