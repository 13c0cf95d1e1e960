//! Search Now, Sync Active Directory and the automatic run, each recorded as a run.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use roster_domain::plan::{
    Category, Change, ChangeAction, DeletionCheck, GroupFields, MemberChanges, Plan, SkipReason,
};
use roster_domain::run::{CategoryCount, Run, RunFailure, RunStatus, Trigger};
use roster_domain::{
    AccountEventKind, AccountId, ChangeId, DirectoryConnection, ExternalId, Group, PlanId, RunId,
};
use roster_graph::{ClientOptions, GraphClient, Priority};
use roster_plan::{Mirror as PlanMirror, MirrorRead, PlanInput};
use roster_store::{Applier, ChangeFailure, NewRun, Revision, Store};
use time::OffsetDateTime;

use crate::part::{PartOf, plan_part};
use crate::refresh::{DeltaChanges, ReadKind, refresh};
use crate::{Progress, SyncError};

/// Changes handed to the store at a time: the run's heartbeat and the progress bar advance
/// between chunks.
const APPLY_CHUNK: usize = 5_000;

/// How often a sync reading the directory tells the store it is alive. The store takes a run
/// silent for 15 minutes as abandoned, and a full read of a large, throttled tenant can take
/// longer than that.
const HEARTBEAT: Duration = Duration::from_secs(60);

/// Runs syncs against one store. Cheap to clone.
#[derive(Clone)]
pub struct SyncEngine {
    store: Store,
    graph_options: Arc<dyn Fn(Priority) -> ClientOptions + Send + Sync>,
    heartbeat: Duration,
}

/// A plan with the account revision it was computed at.
#[derive(Debug)]
struct RevisedPlan {
    plan: Plan,
    revision: Revision,
    planned: Planned,
}

/// What a plan was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Planned {
    /// The whole account and mirror.
    Whole,
    /// The part of the account a delta round reached: the account was in step with its mirror
    /// until the round.
    Part,
    /// Nothing: the delta round brought nothing and the account was still in step with its
    /// mirror, so the empty plan was known without planning.
    InStep,
}

/// What Search Now produced.
#[derive(Debug)]
pub struct PreviewOutcome {
    pub run: Run,
    pub plan: Plan,
    pub read: ReadKind,
    pub planned: Planned,
}

/// Which changes of a stored plan to apply.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    pub plan_id: PlanId,
    /// Changes left unchecked: not applied, and proposed again by the next plan.
    pub skip: HashSet<ChangeId>,
    /// Apply removals even when they exceed the deletion limit.
    pub confirm_removals: bool,
}

/// What applying produced.
#[derive(Debug)]
pub struct ApplyOutcome {
    pub run: Run,
    /// Removals not applied because they exceed the deletion limit and were not confirmed.
    pub held_removals: usize,
    /// Changes whose category the connection's *how to sync* switches leave out.
    pub not_allowed: usize,
}

impl SyncEngine {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            graph_options: Arc::new(ClientOptions::new),
            heartbeat: HEARTBEAT,
        }
    }

    /// Uses other Graph client options (tests shorten retries; benchmarks raise concurrency).
    pub fn with_graph_options(
        mut self,
        options: impl Fn(Priority) -> ClientOptions + Send + Sync + 'static,
    ) -> Self {
        self.graph_options = Arc::new(options);
        self
    }

    /// Beats at another interval while reading the directory (tests shorten it).
    pub fn with_heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A Graph client for the account's saved connection.
    pub async fn graph_client(
        &self,
        account_id: AccountId,
        priority: Priority,
    ) -> Result<(DirectoryConnection, GraphClient), SyncError> {
        let connection = self
            .store
            .connection(account_id)
            .await?
            .ok_or(SyncError::NoConnection(account_id))?;
        let secret = self.store.connection_secret(account_id).await?;
        let client =
            GraphClient::new(&connection.settings, secret, (self.graph_options)(priority))?;
        Ok((connection, client))
    }

    /// Search Now: refreshes the mirror, builds the plan and stores it. Nothing is applied.
    pub async fn preview(
        &self,
        account_id: AccountId,
        full: bool,
        actor: &str,
        progress: &dyn Progress,
    ) -> Result<PreviewOutcome, SyncError> {
        let mut run = self.start(account_id, Trigger::Preview, actor).await?;
        progress.started(run.id);
        let result = self
            .refresh_and_plan(&mut run, full, Priority::High, progress)
            .await;
        match result {
            Ok((RevisedPlan { plan, planned, .. }, read)) => {
                run.status = RunStatus::Succeeded;
                let run = self.finish(run).await?;
                Ok(PreviewOutcome {
                    run,
                    plan,
                    read,
                    planned,
                })
            }
            Err(e) => Err(self.fail(run, e).await),
        }
    }

    /// Sync Active Directory: applies the checked changes of a stored plan, once.
    pub async fn apply(
        &self,
        account_id: AccountId,
        request: &ApplyRequest,
        actor: &str,
        progress: &dyn Progress,
    ) -> Result<ApplyOutcome, SyncError> {
        let plan_id = request.plan_id;
        let stored = self.store.plan(plan_id).await?;
        if stored.plan.account_id != account_id {
            return Err(SyncError::PlanOfAnotherAccount { plan_id });
        }
        let known: HashSet<ChangeId> = stored.plan.changes.iter().map(|c| c.id).collect();
        if let Some(unknown) = request.skip.iter().find(|id| !known.contains(id)) {
            return Err(SyncError::UnknownChange {
                plan_id,
                change_id: unknown.to_string(),
            });
        }
        let mut run = self.start(account_id, Trigger::Apply, actor).await?;
        progress.started(run.id);
        run.plan_id = Some(plan_id);
        let result = async {
            self.store.mark_plan_applied(plan_id).await?;
            let hold_removals = stored.plan.deletion_check.exceeded && !request.confirm_removals;
            let selected = |c: &Change| !request.skip.contains(&c.id);
            self.apply_plan(
                &mut run,
                &stored.plan,
                stored.planned_at,
                selected,
                hold_removals,
                progress,
            )
            .await
        }
        .await;
        match result {
            Ok((held_removals, not_allowed)) => {
                let run = self.finish(run).await?;
                Ok(ApplyOutcome {
                    run,
                    held_removals,
                    not_allowed,
                })
            }
            Err(e) => Err(self.fail(run, e).await),
        }
    }

    /// The automatic path: refresh, plan and apply every change the settings allow, holding
    /// all removals when they exceed the deletion limit (the run is then marked held).
    pub async fn run_automatic(
        &self,
        account_id: AccountId,
        actor: &str,
        progress: &dyn Progress,
    ) -> Result<ApplyOutcome, SyncError> {
        let mut run = self.start(account_id, Trigger::Automatic, actor).await?;
        progress.started(run.id);
        let result = async {
            let (RevisedPlan { plan, revision, .. }, _) = self
                .refresh_and_plan(&mut run, false, Priority::Low, progress)
                .await?;
            self.store.mark_plan_applied(plan.id).await?;
            let hold_removals = plan.deletion_check.exceeded;
            self.apply_plan(
                &mut run,
                &plan,
                Some(revision),
                |_| true,
                hold_removals,
                progress,
            )
            .await
        }
        .await;
        let run_id = run.id;
        match result {
            Ok((held_removals, not_allowed)) => {
                let run = self.finish(run).await?;
                if held_removals > 0 {
                    let message = format!(
                        "Automatic sync held {held_removals} removal(s) because they exceed the deletion limit; the other \
                         changes were applied. Review the removals with Search Now and confirm them to apply."
                    );
                    self.tell(
                        account_id,
                        AccountEventKind::AutomaticRunHeld,
                        &message,
                        run_id,
                    )
                    .await;
                }
                if run.status == RunStatus::Partial {
                    let message = format!(
                        "Automatic sync could not apply {} change(s); the others were applied. The run's report names each \
                         object and why.",
                        run.failures.len()
                    );
                    self.tell(
                        account_id,
                        AccountEventKind::AutomaticRunFailed,
                        &message,
                        run_id,
                    )
                    .await;
                }
                Ok(ApplyOutcome {
                    run,
                    held_removals,
                    not_allowed,
                })
            }
            Err(e) => {
                let error = self.fail(run, e).await;
                let message = format!("Automatic sync failed: {error}");
                self.tell(
                    account_id,
                    AccountEventKind::AutomaticRunFailed,
                    &message,
                    run_id,
                )
                .await;
                Err(error)
            }
        }
    }

    /// Records an event for the tech contact. A failure to record it is logged, not raised: the
    /// run's own outcome is what the caller needs.
    async fn tell(
        &self,
        account_id: AccountId,
        kind: AccountEventKind,
        message: &str,
        run_id: RunId,
    ) {
        if let Err(e) = self
            .store
            .record_event(account_id, kind, message, Some(run_id))
            .await
        {
            tracing::error!(%account_id, %run_id, error = %e, "could not record an account event");
        }
    }

    async fn start(
        &self,
        account_id: AccountId,
        trigger: Trigger,
        actor: &str,
    ) -> Result<Run, SyncError> {
        Ok(self
            .store
            .start_run(NewRun {
                account_id,
                trigger,
                actor: actor.to_owned(),
            })
            .await?)
    }

    async fn finish(&self, mut run: Run) -> Result<Run, SyncError> {
        run.finished_at = Some(OffsetDateTime::now_utc());
        Ok(self.store.update_run(&run).await?)
    }

    /// Records the run as failed and hands back the error. If even that write fails, the run
    /// stays "running" until the store takes it as abandoned; the original error matters more.
    async fn fail(&self, mut run: Run, error: SyncError) -> SyncError {
        run.status = RunStatus::Failed;
        run.error = Some(error.to_string());
        run.finished_at = Some(OffsetDateTime::now_utc());
        if let Err(e) = self.store.update_run(&run).await {
            tracing::error!(run = %run.id, error = %e, "could not record a failed run");
        }
        error
    }

    async fn refresh_and_plan(
        &self,
        run: &mut Run,
        full: bool,
        priority: Priority,
        progress: &dyn Progress,
    ) -> Result<(RevisedPlan, ReadKind), SyncError> {
        let account_id = run.account_id;
        let (connection, client) = self.graph_client(account_id, priority).await?;
        let started = std::time::Instant::now();
        let refreshed = self
            .beating(
                run,
                refresh(&self.store, account_id, &client, full, progress),
            )
            .await;
        run.graph_requests = client.stats().graph_requests + client.stats().token_requests;
        let refreshed = refreshed?;
        tracing::info!(run = %run.id, read = ?refreshed.kind, objects = refreshed.objects_read, elapsed = ?started.elapsed(), "directory refreshed");
        let started = std::time::Instant::now();
        let plan = self
            .plan(
                run.id,
                account_id,
                &connection,
                refreshed.mirror,
                refreshed.delta,
            )
            .await?;
        tracing::info!(run = %run.id, changes = plan.plan.changes.len(), planned = ?plan.planned, elapsed = ?started.elapsed(), "planned");
        let started = std::time::Instant::now();
        self.store.save_plan(&plan.plan, plan.revision).await?;
        tracing::info!(run = %run.id, elapsed = ?started.elapsed(), "plan saved");
        run.plan_id = Some(plan.plan.id);
        run.skipped = plan.plan.skipped.len();
        run.counts = planned_counts(&plan.plan);
        *run = self.store.update_run(run).await?;
        Ok((plan, refreshed.kind))
    }

    /// Runs `work`, saving the run at every heartbeat so that a long directory read is not
    /// taken for an abandoned run. The run must not change while `work` runs.
    async fn beating<T>(&self, run: &Run, work: impl Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        let mut beats =
            tokio::time::interval_at(tokio::time::Instant::now() + self.heartbeat, self.heartbeat);
        beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = beats.tick() => {
                    if let Err(e) = self.store.update_run(run).await {
                        tracing::warn!(run = %run.id, error = %e, "could not record that the run is alive");
                    }
                }
            }
        }
    }

    /// Plans from the mirror a full read returned, or after a delta round (`mirror` is `None`)
    /// from the stored one. An account still in step with its mirror (the round brought nothing
    /// and nothing else changed it) needs no planning: its plan is empty, and skips and counts
    /// what the plan that brought it in step did. One that was in step until the round is
    /// planned from the part of it the round reached, when that part can stand for the whole.
    async fn plan(
        &self,
        run_id: RunId,
        account_id: AccountId,
        connection: &DirectoryConnection,
        mirror: Option<roster_store::Mirror>,
        delta: Option<DeltaChanges>,
    ) -> Result<RevisedPlan, SyncError> {
        let revision = self.store.revision(account_id).await?;
        if mirror.is_none()
            && let Some(in_step) = self.store.in_step_plan(account_id).await?
        {
            let plan = self.plan_in_step(run_id, account_id, in_step).await?;
            return Ok(RevisedPlan {
                plan,
                revision,
                planned: Planned::InStep,
            });
        }
        // Only the round may have moved the account since it was in step.
        if let Some(delta) = delta.filter(|d| d.committed.revision == revision)
            && let Some(in_step) = delta.committed.in_step_before
        {
            let account = self
                .store
                .account(&roster_store::AccountRef::Id(account_id))
                .await?;
            let of = PartOf {
                run_id,
                account: &account,
                settings: &connection.settings,
                in_step,
            };
            let started = std::time::Instant::now();
            match plan_part(&self.store, of, &delta).await? {
                Ok(plan) => {
                    return Ok(RevisedPlan {
                        plan,
                        revision,
                        planned: Planned::Part,
                    });
                }
                Err(why) => {
                    tracing::info!(%run_id, %why, elapsed = ?started.elapsed(), "planning the whole account")
                }
            }
        }
        // One load after another: run side by side, on this machine's two cores, they took longer
        // (7.4 s against 6.6 s for the whole 1% delta sync of 100,000 users, averaged over four
        // or five runs each) and held more memory at once (500 MB against 420 MB), their rows contending
        // for the one allocator arena (see `use_one_allocator_arena`).
        let loading = std::time::Instant::now();
        let store = &self.store;
        let mirror = match mirror {
            Some(mirror) => mirror,
            None => store.load_mirror(account_id).await?,
        };
        let account = store
            .account(&roster_store::AccountRef::Id(account_id))
            .await?;
        let users = store.list_users(account_id).await?;
        let groups = store.list_groups(account_id).await?;
        let exemptions = store
            .list_exemptions(account_id)
            .await?
            .into_iter()
            .map(|e| e.external_id)
            .collect();
        let candidates: Vec<_> =
            roster_plan::candidate_addresses(&account, &mirror.users, &mirror.groups)
                .into_iter()
                .collect();
        let held: HashMap<_, _> = store
            .addresses_owned_elsewhere(account_id, &candidates)
            .await?
            .into_iter()
            .collect();
        tracing::debug!(%run_id, users = users.len(), groups = groups.len(), elapsed = ?loading.elapsed(), "account loaded for planning");
        let input = PlanInput {
            plan_id: PlanId::new(),
            run_id,
            created_at: OffsetDateTime::now_utc(),
            account: &account,
            users: &users,
            groups: &groups,
            mirror: PlanMirror {
                users: &mirror.users,
                groups: &mirror.groups,
                read: MirrorRead::Complete,
            },
            settings: &connection.settings,
            exemptions: &exemptions,
            held_by_other_accounts: &held,
        };
        Ok(RevisedPlan {
            plan: roster_plan::plan(&input)?,
            revision,
            planned: Planned::Whole,
        })
    }

    /// The plan of an account in step with its mirror: no change, and what the plan that
    /// brought it in step skipped and left out.
    async fn plan_in_step(
        &self,
        run_id: RunId,
        account_id: AccountId,
        in_step: PlanId,
    ) -> Result<Plan, SyncError> {
        let previous = self.store.plan_without_changes(in_step).await?;
        let (synced_users, synced_groups) = self.store.synced_counts(account_id).await?;
        Ok(Plan {
            id: PlanId::new(),
            account_id,
            run_id,
            created_at: OffsetDateTime::now_utc(),
            changes: Vec::new(),
            skipped: previous.skipped,
            deletion_check: DeletionCheck {
                user_removals: 0,
                synced_users,
                group_removals: 0,
                synced_groups,
                exceeded: false,
            },
            inactive_not_imported: previous.inactive_not_imported,
        })
    }

    /// Applies the plan's changes that `selected` keeps, within the settings and the deletion
    /// limit. Returns (held removals, changes the settings leave out).
    ///
    /// A plan computed at revision `planned_at` and applied whole, with nothing else writing the
    /// account meanwhile, leaves the account in step with its mirror; that is recorded, so that
    /// the next sync whose delta round brings nothing knows its plan is empty.
    async fn apply_plan(
        &self,
        run: &mut Run,
        plan: &Plan,
        planned_at: Option<Revision>,
        selected: impl Fn(&Change) -> bool,
        hold_removals: bool,
        progress: &dyn Progress,
    ) -> Result<(usize, usize), SyncError> {
        let mut held = 0;
        let mut not_allowed = 0;
        let mut to_apply = Vec::new();
        for change in plan.changes.iter().filter(|c| selected(c)) {
            if !change.allowed_by_settings {
                not_allowed += 1;
            } else if hold_removals && change.category.is_removal() {
                held += 1;
            } else {
                to_apply.push(change);
            }
        }
        run.plan_id = Some(plan.id);
        run.counts = planned_counts(plan);
        progress.applying(to_apply.len() as u64);
        let started = std::time::Instant::now();
        let whole_plan = to_apply.len() == plan.changes.len();
        let mut applier = self.store.applier(run.account_id, planned_at).await?;
        let applied = self
            .apply_in_passes(&mut applier, run, to_apply, progress)
            .await?;
        self.settle_nested_groups(&mut applier, run, &applied)
            .await?;
        tracing::info!(run = %run.id, applied = applied.len(), elapsed = ?started.elapsed(), "applied");
        let in_step = whole_plan && run.failures.is_empty() && !depends_on_other_accounts(plan);
        if let Some(revision) = applier.undisturbed_revision().filter(|_| in_step) {
            self.store
                .record_in_step(run.account_id, revision, plan.id)
                .await?;
        }
        run.status = if !run.failures.is_empty() {
            RunStatus::Partial
        } else if held > 0 {
            RunStatus::Held
        } else {
            RunStatus::Succeeded
        };
        if held > 0 {
            run.error = Some(format!(
                "{held} removal(s) held: they exceed the deletion limit; review them with Search Now and confirm to apply"
            ));
        }
        Ok((held, not_allowed))
    }

    /// Applies `changes` in chunks, recording each outcome in the run. A change may claim an
    /// address that a later change of the plan releases (an alias moving between users): such a
    /// change is tried again after the others, for as long as a pass applies something.
    async fn apply_in_passes<'p>(
        &self,
        applier: &mut Applier<'_>,
        run: &mut Run,
        changes: Vec<&'p Change>,
        progress: &dyn Progress,
    ) -> Result<Vec<&'p Change>, SyncError> {
        let mut pending = changes;
        let mut applied_changes = Vec::new();
        loop {
            let mut address_taken = Vec::new();
            let mut applied = false;
            for chunk in pending.chunks(APPLY_CHUNK) {
                let actions: Vec<_> = chunk.iter().map(|c| c.action.clone()).collect();
                let outcomes = applier.apply(&actions).await?;
                let mut settled = 0;
                for (&change, outcome) in chunk.iter().zip(outcomes) {
                    match outcome {
                        Ok(()) => {
                            run.counts.entry(change.category).or_default().applied += 1;
                            applied = true;
                            settled += 1;
                            applied_changes.push(change);
                        }
                        Err(failure @ ChangeFailure::AddressTaken { .. }) => {
                            address_taken.push((change, failure))
                        }
                        Err(failure) => {
                            run.failures.push(failed(change, &failure));
                            settled += 1;
                        }
                    }
                }
                progress.changes_applied(settled);
                *run = self.store.update_run(run).await?;
            }
            if address_taken.is_empty() {
                break;
            }
            if !applied {
                progress.changes_applied(address_taken.len() as u64);
                run.failures.extend(
                    address_taken
                        .iter()
                        .map(|(change, failure)| failed(change, failure)),
                );
                *run = self.store.update_run(run).await?;
                break;
            }
            pending = address_taken
                .into_iter()
                .map(|(change, _)| change)
                .collect();
        }
        Ok(applied_changes)
    }

    /// A group's member groups are resolved when the group is written, so a member group that
    /// the same apply adds later (groups nest in any order, cycles included) is missing from it.
    /// This pass writes such groups once more, now that every group of the apply exists, so one
    /// apply converges instead of leaving the difference to the next sync.
    async fn settle_nested_groups(
        &self,
        applier: &mut Applier<'_>,
        run: &mut Run,
        applied: &[&Change],
    ) -> Result<(), SyncError> {
        let nested: Vec<(&Change, &GroupFields, &[ExternalId])> = applied
            .iter()
            .filter_map(|change| match &change.action {
                ChangeAction::AddGroup {
                    fields, members, ..
                }
                | ChangeAction::LinkGroup {
                    fields, members, ..
                } if !members.groups.is_empty() => {
                    Some((*change, fields, members.groups.as_slice()))
                }
                ChangeAction::UpdateGroup {
                    fields, members, ..
                } if !members.joining_groups.is_empty() => {
                    Some((*change, fields, members.joining_groups.as_slice()))
                }
                _ => None,
            })
            .collect();
        if nested.is_empty() {
            return Ok(());
        }
        // Only the nested groups and their member groups are read back, not the whole account.
        let involved: Vec<ExternalId> = nested
            .iter()
            .flat_map(|(change, _, member_groups)| {
                std::iter::once(&change.external_id).chain(member_groups.iter())
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        let groups = self
            .store
            .groups_by_external_id(run.account_id, &involved)
            .await?;
        let by_external_id: HashMap<&ExternalId, &Group> = groups
            .iter()
            .filter_map(|g| Some((g.external_id.as_ref()?, g)))
            .collect();
        let mut rewrites = Vec::new();
        for (change, fields, member_groups) in nested {
            let Some(group) = by_external_id.get(&change.external_id) else {
                continue;
            };
            let missing: Vec<ExternalId> = member_groups
                .iter()
                .filter(|id| {
                    by_external_id
                        .get(id)
                        .is_some_and(|member| !group.member_groups.contains(&member.id))
                })
                .cloned()
                .collect();
            if !missing.is_empty() {
                let members = MemberChanges {
                    joining_groups: missing,
                    ..MemberChanges::default()
                };
                let action = ChangeAction::UpdateGroup {
                    group_id: group.id,
                    expected_version: group.version,
                    fields: fields.clone(),
                    members,
                };
                rewrites.push((change, action));
            }
        }
        if rewrites.is_empty() {
            return Ok(());
        }
        let actions: Vec<ChangeAction> =
            rewrites.iter().map(|(_, action)| action.clone()).collect();
        let outcomes = applier.apply(&actions).await?;
        for ((change, _), outcome) in rewrites.iter().zip(outcomes) {
            if let Err(failure) = outcome {
                run.failures.push(failed(change, &failure));
            }
        }
        *run = self.store.update_run(run).await?;
        Ok(())
    }
}

/// Whether the plan left something out because another account holds an address: that account
/// may let it go at any time, without this account's revision moving.
fn depends_on_other_accounts(plan: &Plan) -> bool {
    plan.skipped
        .iter()
        .any(|skipped| skipped.reason == SkipReason::OwnedByAnotherAccount)
}

fn failed(change: &Change, failure: &ChangeFailure) -> RunFailure {
    RunFailure {
        external_id: Some(change.external_id.clone()),
        object: change.summary.clone(),
        reason: failure.to_string(),
    }
}

fn planned_counts(plan: &Plan) -> std::collections::BTreeMap<Category, CategoryCount> {
    let mut counts = std::collections::BTreeMap::new();
    for change in &plan.changes {
        counts
            .entry(change.category)
            .or_insert_with(CategoryCount::default)
            .planned += 1;
    }
    counts
}
