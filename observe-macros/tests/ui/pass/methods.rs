//! Methods with every receiver, including ones returning borrows of `self`.
#![deny(warnings)]

use std::cell::{Ref, RefCell};

use observe_runtime::observe;

struct Cart {
    items: Vec<String>,
    note: RefCell<String>,
}

impl Cart {
    #[observe(span = "Cart.New")]
    fn new() -> Self {
        Cart {
            items: Vec::new(),
            note: RefCell::new(String::new()),
        }
    }

    #[observe(span = "Cart.Len")]
    fn len(&self) -> usize {
        self.items.len()
    }

    #[observe(span = "Cart.Add")]
    fn add(&mut self, item: &str) {
        self.items.push(item.to_owned());
    }

    #[observe(span = "Cart.Into")]
    fn into_items(self) -> Vec<String> {
        self.items
    }

    #[observe(span = "Cart.First")]
    fn first(&self) -> Option<&str> {
        self.items.first().map(String::as_str)
    }

    #[observe(span = "Cart.Items")]
    fn items_mut(&mut self) -> &mut Vec<String> {
        &mut self.items
    }

    #[observe(span = "Cart.LastMut")]
    fn last_mut<'a>(&'a mut self, fallback: &'a mut String) -> &'a mut String {
        match self.items.last_mut() {
            Some(last) => last,
            None => fallback,
        }
    }

    #[observe(span = "Cart.Note")]
    fn note(&self) -> Ref<'_, String> {
        self.note.borrow()
    }

    #[observe(span = "Cart.Rename")]
    fn rename(mut self: Box<Self>, first: &str) -> Box<Self> {
        self.items.insert(0, first.to_owned());
        self
    }
}

trait Priced {
    fn price(&self) -> u64;

    #[observe(span = "Priced.Total")]
    fn total(&self, count: u64) -> u64 {
        self.price() * count
    }
}

impl Priced for Cart {
    #[observe(span = "Cart.Price")]
    fn price(&self) -> u64 {
        self.items.len() as u64 * 10
    }
}

fn main() {
    let mut cart = Cart::new();
    cart.add("apple");
    assert_eq!(cart.len(), 1);
    assert_eq!(cart.first(), Some("apple"));
    cart.items_mut().push("pear".into());
    let mut fallback = String::new();
    cart.last_mut(&mut fallback).push('s');
    assert!(cart.note().is_empty());
    assert_eq!(cart.total(2), 40);
    let cart = Box::new(cart).rename("fig");
    assert_eq!(cart.into_items(), ["fig", "apple", "pears"]);
}
