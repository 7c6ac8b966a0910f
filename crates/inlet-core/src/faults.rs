//! A fault-injecting [`ObjectStore`] wrapper, for showing what the engine
//! does when a backend fails: a 503 on one read, an access denied on another,
//! or an object moved on by a concurrent delivery between two calls.
//! Tests of the engine and of each backend use it; it has no other purpose.

use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::error::ErrorClass;
use crate::storage::{ObjectBody, ObjectLocation, ObjectMeta, ObjectStore, StoreError};

/// The store operations a fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Head,
    Get,
    Put,
    Rename,
    Delete,
    List,
}

#[derive(Debug)]
struct Fault {
    op: Op,
    key_contains: String,
    class: ErrorClass,
    remaining: usize,
}

/// An object moved to another key just before an operation on it.
#[derive(Debug)]
struct Race {
    op: Op,
    key: String,
    moved_to: String,
}

/// Wraps a store; chosen operations on chosen keys fail a given number of times.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    faults: Mutex<Vec<Fault>>,
    races: Mutex<Vec<Race>>,
    calls: Mutex<Vec<(Op, String)>>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner, faults: Mutex::new(Vec::new()), races: Mutex::new(Vec::new()), calls: Mutex::new(Vec::new()) }
    }

    /// The next `op` on exactly `key` finds it already moved to `moved_to`,
    /// as when a duplicate delivery of its event finished first.
    pub fn move_before(&self, op: Op, key: &str, moved_to: &str) {
        let race = Race { op, key: key.to_owned(), moved_to: moved_to.to_owned() };
        self.races.lock().expect("never poisoned").push(race);
    }

    /// The next `times` calls of `op` on a key containing `key_contains`
    /// fail: as a `SlowDown` when transient, an `AccessDenied` when permanent.
    pub fn fail(&self, op: Op, key_contains: &str, class: ErrorClass, times: usize) {
        self.faults.lock().expect("never poisoned").push(Fault { op, key_contains: key_contains.to_owned(), class, remaining: times });
    }

    /// The keys `op` was called on, in order.
    pub fn calls(&self, op: Op) -> Vec<String> {
        self.calls.lock().expect("never poisoned").iter().filter(|(o, _)| *o == op).map(|(_, k)| k.clone()).collect()
    }

    /// What happens before `op` reaches the wrapped store: an armed race
    /// moves the object away, then an armed fault fails the call.
    async fn before(&self, op: Op, location: &ObjectLocation) -> Result<(), StoreError> {
        let race = {
            let mut races = self.races.lock().expect("never poisoned");
            let index = races.iter().position(|r| r.op == op && r.key == location.key);
            index.map(|i| races.remove(i))
        };
        if let Some(race) = race {
            self.inner.rename(location, &location.with_key(&race.moved_to), None).await?;
        }
        self.check(op, location)
    }

    fn check(&self, op: Op, location: &ObjectLocation) -> Result<(), StoreError> {
        self.calls.lock().expect("never poisoned").push((op, location.key.clone()));
        let mut faults = self.faults.lock().expect("never poisoned");
        let Some(fault) = faults.iter_mut().find(|f| f.op == op && f.remaining > 0 && location.key.contains(&f.key_contains)) else {
            return Ok(());
        };
        fault.remaining -= 1;
        let message = match fault.class {
            ErrorClass::Transient => "SlowDown: injected: please reduce your request rate (503)",
            ErrorClass::Permanent => "AccessDenied: injected: access denied (403)",
        };
        Err(StoreError::backend(operation_name(op), location, fault.class, message))
    }
}

fn operation_name(op: Op) -> &'static str {
    match op {
        Op::Head => "head",
        Op::Get => "get",
        Op::Put => "put",
        Op::Rename => "rename",
        Op::Delete => "delete",
        Op::List => "list",
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn head(&self, location: &ObjectLocation) -> Result<ObjectMeta, StoreError> {
        self.before(Op::Head, location).await?;
        self.inner.head(location).await
    }

    async fn get(&self, location: &ObjectLocation) -> Result<(ObjectMeta, ObjectBody), StoreError> {
        self.before(Op::Get, location).await?;
        self.inner.get(location).await
    }

    async fn get_range(&self, location: &ObjectLocation, range: Range<u64>) -> Result<Vec<u8>, StoreError> {
        self.before(Op::Get, location).await?;
        self.inner.get_range(location, range).await
    }

    async fn put_file(&self, location: &ObjectLocation, path: &Path) -> Result<ObjectMeta, StoreError> {
        self.before(Op::Put, location).await?;
        self.inner.put_file(location, path).await
    }

    async fn put_scratch_file(&self, location: &ObjectLocation, path: &Path) -> Result<ObjectMeta, StoreError> {
        self.before(Op::Put, location).await?;
        self.inner.put_scratch_file(location, path).await
    }

    async fn put_bytes(&self, location: &ObjectLocation, bytes: Vec<u8>) -> Result<ObjectMeta, StoreError> {
        self.before(Op::Put, location).await?;
        self.inner.put_bytes(location, bytes).await
    }

    async fn put_stream(&self, location: &ObjectLocation, body: ObjectBody) -> Result<ObjectMeta, StoreError> {
        self.before(Op::Put, location).await?;
        self.inner.put_stream(location, body).await
    }

    async fn put_bytes_if_absent(&self, location: &ObjectLocation, bytes: Vec<u8>) -> Result<ObjectMeta, StoreError> {
        self.before(Op::Put, location).await?;
        self.inner.put_bytes_if_absent(location, bytes).await
    }

    async fn rename(&self, from: &ObjectLocation, to: &ObjectLocation, if_match: Option<&str>) -> Result<(), StoreError> {
        self.before(Op::Rename, from).await?;
        self.inner.rename(from, to, if_match).await
    }

    async fn delete(&self, location: &ObjectLocation) -> Result<(), StoreError> {
        self.before(Op::Delete, location).await?;
        self.inner.delete(location).await
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        self.before(Op::List, &ObjectLocation::new(bucket, prefix)).await?;
        self.inner.list(bucket, prefix).await
    }
}
