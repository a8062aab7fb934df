//! The campaign behind `syncbatch run`: a state machine with no I/O
//! ([`core`]) and the journal that is its memory ([`journal`]). The driver
//! that runs it over the client and the file stages ([`driver`], feature
//! `client`).

pub mod core;
#[cfg(feature = "client")]
pub mod driver;
pub mod journal;

pub use self::core::{
    Action, Core, Counts, Event, FileEntry, FileView, Finished, Millis, Seen, Stop,
};
#[cfg(feature = "client")]
pub use self::driver::{
    Campaign, CampaignError, Note, Outcome, Progress, Row, RunOptions, Settings, Watch,
};
pub use self::journal::{replay, Header, Journal};
