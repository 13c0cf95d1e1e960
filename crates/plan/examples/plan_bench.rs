//! Times the planner on a large tenant: 100,000 users, 10,000 groups and 1,000,000 memberships.
//! First the initial sync of an empty account, then a re-sync after 1% of the directory changed.
//!
//! Run with `cargo run --release -p roster-plan --example plan_bench`.
//!
//! `PLAN_BENCH_USERS` sets a smaller tenant (groups stay a tenth of the users, with a hundred
//! members each), for runs under a profiler that would take minutes at full size:
//! `PLAN_BENCH_USERS=20000 valgrind --tool=callgrind --toggle-collect='roster_plan::planner::plan'
//! target/release/examples/plan_bench` counts the instructions of the planner alone.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use roster_domain::plan::{Category, Plan};
use roster_domain::{
    Account, AccountId, Cloud, ConnectionSettings, DeletionLimit, DirectoryGroup, DirectoryMember,
    DirectoryUser, Frequency, MemberType, NewUserRole, PlanId, RunId, SyncActions, SyncScope,
};
use roster_plan::{
    AccountSnapshot, Mirror, MirrorRead, PlanError, PlanInput, apply_to_snapshot, plan,
};
use time::OffsetDateTime;
use uuid::Uuid;

const DEFAULT_USERS: usize = 100_000;
const MEMBERS_PER_GROUP: usize = 100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let users = match std::env::var("PLAN_BENCH_USERS") {
        Ok(count) => count.parse()?,
        Err(_) => DEFAULT_USERS,
    };
    let size = Size {
        users,
        groups: users / 10,
    };
    let account = Account {
        id: AccountId::from_uuid(Uuid::from_u128(1)),
        name: "Contoso".to_owned(),
        domains: vec!["contoso.com".parse()?, "contoso.org".parse()?],
        tech_contact: None,
        created_at: OffsetDateTime::UNIX_EPOCH,
    };
    let settings = ConnectionSettings {
        tenant: "contoso.com".parse()?,
        client_id: "8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d".parse()?,
        cloud: Cloud::Global,
        default_role: NewUserRole::EndUser,
        scope: SyncScope::default(),
        actions: SyncActions::default(),
        frequency: Frequency::Never,
        deletion_limit: DeletionLimit::default(),
        include_sign_in_blocked: false,
        key_expires_on: None,
    };
    let mut directory_users: Vec<DirectoryUser> = (0..size.users)
        .map(directory_user)
        .collect::<Result<_, _>>()?;
    let directory_groups: Vec<DirectoryGroup> = (0..size.groups)
        .map(|n| directory_group(size, n))
        .collect::<Result<_, _>>()?;
    let memberships: usize = directory_groups.iter().map(|g| g.members.len()).sum();
    println!(
        "directory: {} users, {} groups, {memberships} memberships",
        size.users, size.groups
    );

    let mut snapshot = AccountSnapshot {
        account_id: account.id,
        users: Vec::new(),
        groups: Vec::new(),
    };
    let bench = Bench {
        account: &account,
        settings: &settings,
        exemptions: HashSet::new(),
        others: HashMap::new(),
    };
    let first = bench.time(
        "initial sync",
        &snapshot,
        &directory_users,
        &directory_groups,
    )?;
    let failures = apply_to_snapshot(&mut snapshot, &first.changes);
    if !failures.is_empty() {
        return Err(format!(
            "{} changes of the initial plan did not apply: {:?}",
            failures.len(),
            failures[0]
        )
        .into());
    }

    // One user in a hundred renamed, one in a hundred gone.
    for (n, user) in directory_users
        .iter_mut()
        .enumerate()
        .filter(|(n, _)| n % 100 == 1)
    {
        user.display_name = Some(format!("Renamed {n}"));
    }
    directory_users.retain(|user| !user.id.as_str().ends_with("02"));
    bench.time(
        "re-sync after 1% changed",
        &snapshot,
        &directory_users,
        &directory_groups,
    )?;
    Ok(())
}

/// How many users and groups the simulated directory holds.
#[derive(Clone, Copy)]
struct Size {
    users: usize,
    groups: usize,
}

struct Bench<'a> {
    account: &'a Account,
    settings: &'a ConnectionSettings,
    exemptions: HashSet<roster_domain::ExternalId>,
    others: HashMap<roster_domain::EmailAddress, String>,
}

impl Bench<'_> {
    fn time(
        &self,
        title: &str,
        snapshot: &AccountSnapshot,
        users: &[DirectoryUser],
        groups: &[DirectoryGroup],
    ) -> Result<Plan, PlanError> {
        let input = PlanInput {
            plan_id: PlanId::from_uuid(Uuid::from_u128(2)),
            run_id: RunId::from_uuid(Uuid::from_u128(3)),
            created_at: OffsetDateTime::UNIX_EPOCH,
            account: self.account,
            users: &snapshot.users,
            groups: &snapshot.groups,
            mirror: Mirror {
                users,
                groups,
                read: MirrorRead::Complete,
            },
            settings: self.settings,
            exemptions: &self.exemptions,
            held_by_other_accounts: &self.others,
        };
        let started = Instant::now();
        let plan = plan(&input)?;
        let elapsed = started.elapsed();
        let counts: Vec<String> = Category::ALL
            .iter()
            .map(|&category| {
                format!(
                    "{} {}",
                    category.as_str(),
                    plan.in_category(category).count()
                )
            })
            .collect();
        println!(
            "{title}: planned in {:.0} ms ({})",
            elapsed.as_secs_f64() * 1000.0,
            counts.join(", ")
        );
        Ok(plan)
    }
}

fn directory_user(n: usize) -> Result<DirectoryUser, roster_domain::ParseError> {
    Ok(DirectoryUser {
        id: format!("user-{n:06}").parse()?,
        user_principal_name: Some(format!("user{n}@contoso.com")),
        mail: Some(format!("user{n}@contoso.com")),
        proxy_addresses: vec![
            format!("SMTP:user{n}@contoso.com"),
            format!("smtp:u{n}@contoso.org"),
            format!("X500:/o=Contoso/cn=user{n}"),
        ],
        account_enabled: Some(!n.is_multiple_of(50)),
        user_type: Some(
            if n.is_multiple_of(40) {
                "Guest"
            } else {
                "Member"
            }
            .to_owned(),
        ),
        display_name: Some(format!("User {n}")),
        given_name: Some("User".to_owned()),
        surname: Some(n.to_string()),
    })
}

/// Group `n` holds a hundred users spread over the tenant; every tenth group also nests the next.
fn directory_group(size: Size, n: usize) -> Result<DirectoryGroup, roster_domain::ParseError> {
    let users = (0..MEMBERS_PER_GROUP)
        .map(|k| (n * 7 + k * 997) % size.users)
        .map(|u| {
            Ok(DirectoryMember {
                id: format!("user-{u:06}").parse()?,
                kind: MemberType::User,
            })
        });
    let nested = n.is_multiple_of(10).then(|| {
        Ok(DirectoryMember {
            id: format!("group-{:05}", (n + 1) % size.groups).parse()?,
            kind: MemberType::Group,
        })
    });
    let (mail_enabled, security_enabled) = [(true, false), (true, true), (false, true)][n % 3];
    Ok(DirectoryGroup {
        id: format!("group-{n:05}").parse()?,
        display_name: Some(format!("Group {n}")),
        mail: mail_enabled.then(|| format!("group{n}@contoso.com")),
        mail_enabled: Some(mail_enabled),
        security_enabled: Some(security_enabled),
        group_types: Vec::new(),
        proxy_addresses: if mail_enabled {
            vec![format!("SMTP:group{n}@contoso.com")]
        } else {
            Vec::new()
        },
        members: users.chain(nested).collect::<Result<_, _>>()?,
    })
}
