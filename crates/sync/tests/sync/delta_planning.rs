//! Planning after a delta round from the part of the account the round reached. Whatever the
//! round brought, the plan must be the one a full read and a plan of the whole account give.

use roster_domain::plan::Plan;
use roster_domain::{DeletionLimit, DirectoryGroup, DirectoryUser, MemberType};
use roster_sim::{MembershipChange, SimConfig};
use roster_store::NewUser;
use roster_sync::{NoProgress, Planned};
use serde_json::{Value as Json, json};

use crate::support::{ACTOR, TestApp, described};

/// A plan without what differs between two plans of the same state: its id, run and time, and
/// the change ids derived from its id.
fn comparable(plan: &Plan) -> Json {
    let mut plan = serde_json::to_value(plan).unwrap();
    let object = plan.as_object_mut().unwrap();
    for field in ["id", "run_id", "created_at"] {
        object.remove(field);
    }
    for change in object["changes"].as_array_mut().unwrap() {
        change.as_object_mut().unwrap().remove("id");
    }
    plan
}

/// A small deterministic generator: the same seed makes the same directory changes.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

/// One change an admin could make, drawn from the directory as mirrored.
async fn change_the_directory(
    app: &TestApp,
    dice: &mut Dice,
    users: &[DirectoryUser],
    groups: &[DirectoryGroup],
    n: usize,
) {
    let control = &app.control;
    let (Some(user), Some(other), Some(group)) =
        (dice.pick(users), dice.pick(users), dice.pick(groups))
    else {
        return;
    };
    let (id, group_id) = (user.id.as_str(), group.id.as_str());
    let proxies = |extra: &[String]| -> Vec<String> {
        user.proxy_addresses
            .iter()
            .cloned()
            .chain(extra.iter().cloned())
            .collect()
    };
    let set_proxies = |proxies: Vec<String>| async move {
        control
            .update_user(id, json!({ "proxyAddresses": proxies }))
            .await
            .map(|_| ())
    };
    let done = match dice.below(18) {
        0 | 1 => control
            .rename_user(id, &format!("Renamed {n}"))
            .await
            .map(|_| ()),
        2 => set_proxies(proxies(&[format!("smtp:alias{n}@contoso.com")])).await,
        3 => set_proxies(proxies(&[format!("smtp:alias{n}@fabrikam.com")])).await,
        4 => control.disable_user(id).await.map(|_| ()),
        5 => control.hard_delete_user(id).await.map(|_| ()),
        6 => control.soft_delete_user(id).await.map(|_| ()),
        7 => control
            .update_group(group_id, json!({ "displayName": format!("Group {n}") }))
            .await
            .map(|_| ()),
        8 => {
            let change = MembershipChange {
                add: vec![other.id.to_string()],
                remove: group
                    .members
                    .iter()
                    .filter(|m| m.kind == MemberType::User)
                    .take(1)
                    .map(|m| m.id.to_string())
                    .collect(),
            };
            control.change_members(group_id, &change).await.map(|_| ())
        }
        9 => match dice.pick(groups).filter(|nested| nested.id != group.id) {
            Some(nested) => control
                .add_members(group_id, &[nested.id.as_str()])
                .await
                .map(|_| ()),
            None => Ok(()),
        },
        10 => control.hard_delete_group(group_id).await.map(|_| ()),
        11 => control
            .update_user(id, json!({ "mail": null, "proxyAddresses": [] }))
            .await
            .map(|_| ()),
        // An alias moves from one user to another in the same round.
        12 => match user.proxy_addresses.iter().find(|p| p.starts_with("smtp:")) {
            Some(alias) if other.id != user.id => {
                let kept: Vec<String> = user
                    .proxy_addresses
                    .iter()
                    .filter(|p| *p != alias)
                    .cloned()
                    .collect();
                let gained: Vec<String> = other
                    .proxy_addresses
                    .iter()
                    .cloned()
                    .chain([alias.clone()])
                    .collect();
                match control
                    .update_user(id, json!({ "proxyAddresses": kept }))
                    .await
                {
                    Ok(_) => control
                        .update_user(other.id.as_str(), json!({ "proxyAddresses": gained }))
                        .await
                        .map(|_| ()),
                    Err(refused) => Err(refused),
                }
            }
            _ => Ok(()),
        },
        // Two users claim one address: the plan settles it, and later plans see the conflict.
        13 => match other
            .proxy_addresses
            .iter()
            .find(|p| p.starts_with("SMTP:"))
        {
            Some(primary) if other.id != user.id => {
                set_proxies(proxies(&[primary.to_lowercase()])).await
            }
            _ => Ok(()),
        },
        14 => control.enable_user(id).await.map(|_| ()),
        15 => control
            .create_user(
                json!({ "displayName": format!("New {n}"), "mailNickname": format!("new{n}") }),
            )
            .await
            .map(|_| ()),
        // A new hire joins an existing group in the same round.
        16 => match control
            .create_user(
                json!({ "displayName": format!("Hire {n}"), "mailNickname": format!("hire{n}") }),
            )
            .await
        {
            Ok(hire) => control
                .add_members(group_id, &[hire.id.as_str()])
                .await
                .map(|_| ()),
            Err(refused) => Err(refused),
        },
        // A new group of existing users, nesting an existing group.
        _ => control
            .create_group(json!({
                "displayName": format!("Team {n}"), "mailNickname": format!("team{n}"),
                "members": [user.id.as_str(), other.id.as_str(), group.id.as_str()],
            }))
            .await
            .map(|_| ()),
    };
    // A change the directory refuses (the object is already gone, say) is no change.
    let _ = done;
}

/// Rounds of random directory changes on a generated tenant. After each round, the delta plan
/// is compared with the plan of a full read, and the latter is applied. Returns how many rounds
/// were planned from their part.
async fn compare_rounds(users: usize, tenant_seed: u64, dice_seed: u64, rounds: usize) -> usize {
    let app = TestApp::start(SimConfig {
        users,
        groups: 6,
        seed: tenant_seed,
        ..SimConfig::default()
    })
    .await;
    // Removals are never held here: a held removal would leave the account out of step.
    app.change_settings(|settings| {
        settings.deletion_limit = DeletionLimit {
            percent: 100,
            min_objects: 1_000,
        }
    })
    .await;
    app.sync().await;
    let mut dice = Dice(dice_seed);
    let mut planned_from_parts = 0;
    for round in 0..rounds {
        let mirror = app.mirror().await;
        for n in 0..1 + dice.below(3) {
            change_the_directory(
                &app,
                &mut dice,
                &mirror.users,
                &mirror.groups,
                round * 10 + n,
            )
            .await;
        }
        let delta = app.try_preview().await.expect("the delta round is planned");
        let whole = app
            .engine
            .preview(app.account.id, true, ACTOR, &NoProgress)
            .await
            .expect("the full read is planned");
        assert_eq!(whole.planned, Planned::Whole);
        assert_eq!(
            comparable(&delta.plan),
            comparable(&whole.plan),
            "tenant {tenant_seed}, round {round}, planned {:?}:\n{:#?}\nagainst the whole account's\n{:#?}",
            delta.planned,
            described(&delta.plan),
            described(&whole.plan)
        );
        planned_from_parts += usize::from(delta.planned == Planned::Part);
        app.apply(&whole.plan).await;
    }
    planned_from_parts
}

#[tokio::test]
async fn a_delta_round_planned_from_the_part_it_reached_gives_the_plan_of_the_whole_account() {
    // On the larger tenant the part's groups name few of its users, which are then looked up
    // by key; on the smaller ones, all synced users are read at once.
    for (users, tenant_seed, dice_seed) in [
        (40, 21, 0x5eed_1234_abcd_ef01),
        (400, 22, 0x0dd_ba11),
        (40, 23, 0xfee1_900d),
    ] {
        let from_parts = compare_rounds(users, tenant_seed, dice_seed, 30).await;
        // A round that brings nothing is known in step without planning; most of the others
        // must have been planned from their part, or this test would check nothing.
        assert!(
            from_parts >= 20,
            "tenant {tenant_seed}: only {from_parts} of 30 rounds were planned from their part"
        );
    }
}

#[tokio::test]
async fn a_directory_user_taking_a_manual_users_address_is_linked_by_a_plan_of_the_part() {
    let app = TestApp::synced().await;
    let lin = NewUser {
        primary_address: "lin@contoso.com".parse().unwrap(),
        aliases: Vec::new(),
        first_name: None,
        last_name: None,
        display_name: Some("Lin (by hand)".to_owned()),
        role: roster_domain::Role::EndUser,
        digests: None,
    };
    app.store
        .add_user(app.account.id, lin)
        .await
        .expect("the manual user is added");
    app.sync().await;

    let lin = app
        .create_user(json!({ "displayName": "Lin", "mailNickname": "lin" }))
        .await;
    app.control
        .add_members(&app.directory.engineering, &[lin.as_str()])
        .await
        .unwrap();
    let delta = app.try_preview().await.expect("the delta round is planned");
    let whole = app
        .engine
        .preview(app.account.id, true, ACTOR, &NoProgress)
        .await
        .expect("the full read is planned");
    assert_eq!(delta.planned, Planned::Part);
    assert_eq!(comparable(&delta.plan), comparable(&whole.plan));
    assert_eq!(
        described(&delta.plan),
        [
            format!(
                "users_to_update {lin}: a manual object of the account holds this address; it is linked to the directory object \
                 rather than duplicated [display_name: Lin (by hand) → Lin; source: manual → directory]"
            ),
            format!(
                "groups_to_update {}: changed in the directory: members_added [members_added: — → [lin@contoso.com]]",
                app.directory.engineering
            ),
        ]
    );
}
