//! The storage contract: every test runs on SQLite (a fresh temporary file) and, when
//! `ROSTER_TEST_POSTGRES_URL` is set, on PostgreSQL (a fresh database, dropped afterwards).

mod contract {
    pub mod harness;

    mod accounts;
    mod apply;
    mod certificates;
    mod connections;
    mod lookup;
    mod memberships;
    mod mirror;
    mod outbox;
    mod ownership;
    pub mod plans_and_runs;
    mod revisions;
    mod schedule;
    mod scope;
    mod selection;
    mod stale_plans;
    mod users;
    mod views;
}
