//! The HTTP surfaces, driven in process with `tower::ServiceExt::oneshot`.

mod server {
    mod lookup;
}
