//! Mail-flow lookups (product.md §11): who is a recipient, where an alias or a group's address
//! goes, and which account owns a domain, answered from an in-memory view of the store.
//!
//! - [`view`]: the view, one immutable index per account behind one swappable pointer.
//! - [`maps`]: the maps (`recipient`, `alias`, `expand`, `domain`) and how keys match, address
//!   extensions and groups too large for one reply included.
//! - [`refresh`]: the first load, and what keeps it current: polling account revisions, and on
//!   PostgreSQL their announcements (LISTEN/NOTIFY).
//! - [`socketmap`] and [`netstring`]: Postfix's socketmap protocol on TCP and Unix sockets.
//!
//! A lookup never touches the database: it reads the view, which a refresher replaces one
//! account at a time.

pub mod maps;
pub mod netstring;
pub mod refresh;
pub mod socketmap;
pub mod view;

pub use maps::{Answer, MapName, RecipientDelimiter, ReplyLimit, UnknownMap};
pub use socketmap::{Socketmap, SocketmapLimits};
pub use view::{AccountView, LookupView};
