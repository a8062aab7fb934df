//! The campaign behind `syncbatch run`: a state machine with no I/O
//! ([`core`]) and the journal that is its memory ([`journal`]). The driver
//! that runs it over the client and the file stages comes next.

pub mod core;
pub mod journal;

pub use self::core::{Action, Core, Event, FileEntry, Finished, Millis, Seen, Stop};
pub use self::journal::{replay, Header, Journal};
