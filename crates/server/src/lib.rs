mod lookup;
pub use lookup::lookup_router;
