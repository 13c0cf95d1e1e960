//! Mail through a real SMTP server (aiosmtpd, started by the tests): what each notice says and
//! to whom, delivery after an outage without a duplicate, several senders on one outbox, the
//! expiry warnings on a controllable clock, and signing in over STARTTLS and smtps. These tests
//! run when `ROSTER_TEST_SMTP=1` (set by .ci/run, which installs aiosmtpd); otherwise each says
//! it was not run.

mod notify {
    pub mod support;

    mod delivery;
    mod expiry;
    mod tls;
}
