//! The lookup service as mail flow uses it: the maps over a real store, the socketmap protocol
//! over TCP and Unix sockets, and the view kept current while the store changes.

mod lookup {
    pub mod support;

    mod maps;
    mod refresh;
    mod socketmap;
}
