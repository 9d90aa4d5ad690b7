//! Methods of `#[async_trait]` impls: `#[async_trait]` on the block runs first,
//! `#[observe]` then wraps the boxed future it produced.
#![deny(warnings)]

use async_trait::async_trait;
use observe_runtime::observe;

#[async_trait]
trait Repository {
    async fn load(&self, id: u64) -> anyhow::Result<String>;
    async fn store(&mut self, value: String);
    async fn count(&self) -> usize;

    #[observe(span = "Repository.Describe")]
    async fn describe(&self) -> String {
        format!("{} rows", self.count().await)
    }
}

struct Memory {
    table: String,
    rows: Vec<String>,
}

#[async_trait]
impl Repository for Memory {
    #[observe(span = "Memory.Load", kind = client, metric = "latency", fields(db.table = self.table.as_str(), row = id))]
    async fn load(&self, id: u64) -> anyhow::Result<String> {
        let index = usize::try_from(id)?;
        let Some(row) = self.rows.get(index) else {
            anyhow::bail!("no row {id}");
        };
        Ok(row.clone())
    }

    #[observe(span = "Memory.Store", fields(db.table = %self.table, value = ?value))]
    async fn store(&mut self, value: String) {
        self.rows.push(value);
    }

    #[observe(span = "Memory.Count")]
    async fn count(&self) -> usize {
        self.rows.len()
    }
}

#[async_trait(?Send)]
trait Local {
    async fn local(&self) -> std::rc::Rc<u8>;
}

#[async_trait(?Send)]
impl Local for Memory {
    #[observe(span = "Memory.Local", fields(rows = self.rows.len()))]
    async fn local(&self) -> std::rc::Rc<u8> {
        std::rc::Rc::new(1)
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut memory = Memory {
            table: "orders".into(),
            rows: Vec::new(),
        };
        memory.store("a".into()).await;
        assert_eq!(memory.load(0).await.unwrap(), "a");
        assert!(memory.load(5).await.is_err());
        assert_eq!(memory.describe().await, "1 rows");
        assert_eq!(*memory.local().await, 1);
        // `#[async_trait]` futures are `Send`: still true with the span inside.
        let handle = tokio::spawn(async move { memory.count().await });
        assert_eq!(handle.await.unwrap(), 1);
    });
}
