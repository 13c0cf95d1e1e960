//! Search Now, Sync Active Directory and the automatic run, each recorded as a run.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use roster_domain::plan::{
    Category, Change, ChangeAction, ChangeChoice, DeletionCheck, GroupFields, MemberChanges, Plan,
    Selection, SkipReason,
};
use roster_domain::run::{CategoryCount, Run, RunFailure, RunStatus, Trigger};
use roster_domain::{
    AccountEventKind, AccountId, ChangeId, CredentialKind, DirectoryConnection, ExternalId, Group,
    PlanId, RunId,
};
use roster_graph::{
    ClientCertificate, ClientCredential, ClientOptions, GraphClient, GraphError, Priority,
};
use roster_plan::{Mirror as PlanMirror, MirrorRead, PlanInput};
use roster_store::{Applier, ChangeFailure, MirrorVersion, NewRun, Revision, Store, StoreError};
use time::OffsetDateTime;

use crate::part::{PartOf, plan_part};
use crate::refresh::{DeltaChanges, ReadKind, refresh};
use crate::{Progress, SyncError};

/// Changes handed to the store at a time: the run's heartbeat and the progress bar advance
/// between chunks.
const APPLY_CHUNK: usize = 5_000;

/// How many times a run renews its lease within one lease: a renewal or two may fail (a
/// database blip) without the lease lapsing.
const BEATS_PER_LEASE: u32 = 3;

/// Runs syncs against one store. Cheap to clone.
#[derive(Clone)]
pub struct SyncEngine {
    store: Store,
    graph_options: Arc<dyn Fn(Priority) -> ClientOptions + Send + Sync>,
    heartbeat: Duration,
}

/// A plan with the account revision and mirror version it was computed at.
#[derive(Debug)]
struct RevisedPlan {
    plan: Plan,
    revision: Revision,
    mirror_version: MirrorVersion,
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
    pub chosen: Chosen,
    /// Apply removals even when they exceed the deletion limit.
    pub confirm_removals: bool,
}

/// Which of a plan's changes an apply carries out. Those left out are not applied, and the next
/// plan proposes them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chosen {
    /// The changes checked on the plan: the choices recorded with
    /// [`Store::record_selection`], every change when none were.
    Recorded,
    /// Every change but these.
    AllBut(HashSet<ChangeId>),
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
            heartbeat: store.run_lease() / BEATS_PER_LEASE,
            store,
            graph_options: Arc::new(ClientOptions::new),
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

    /// Leases its runs for `lease`, renewing them a few times within it.
    pub fn with_run_lease(mut self, lease: Duration) -> Self {
        self.store = self.store.with_run_lease(lease);
        self.heartbeat = lease / BEATS_PER_LEASE;
        self
    }

    /// Renews a running run's lease at another interval (tests change it).
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
        let credential = match connection.settings.credential {
            CredentialKind::Secret => {
                ClientCredential::Secret(self.store.connection_secret(account_id).await?)
            }
            CredentialKind::Certificate => self.certificates(&connection).await?,
        };
        let client = GraphClient::with_credential(
            &connection.settings,
            credential,
            (self.graph_options)(priority),
        )?;
        Ok((connection, client))
    }

    /// The connection's certificates that are valid now, newest first, with their keys.
    async fn certificates(
        &self,
        connection: &DirectoryConnection,
    ) -> Result<ClientCredential, SyncError> {
        let now = OffsetDateTime::now_utc();
        let mut usable = Vec::new();
        for certificate in self
            .store
            .signing_certificates(connection.account_id)
            .await?
        {
            if certificate.info.valid_at(now) {
                usable.push(ClientCertificate::new(
                    &certificate.certificate_der,
                    &certificate.private_key_pem,
                    certificate.info.not_after,
                )?);
            }
        }
        if usable.is_empty() {
            return Err(GraphError::NoValidCertificate {
                expired_on: connection
                    .certificates
                    .iter()
                    .map(|c| c.not_after.date())
                    .max(),
            }
            .into());
        }
        Ok(ClientCredential::Certificates(usable))
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
        let (run_id, account_id) = (run.id, run.account_id);
        progress.started(run.id);
        let result = self
            .owned(
                run_id,
                account_id,
                self.refresh_and_plan(&mut run, full, Priority::High, progress),
            )
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

    /// Sync Active Directory: applies the checked changes of a stored plan, once, and only while
    /// it is current (the account's newest plan, its mirror unchanged since); otherwise nothing
    /// is applied and the error says why.
    pub async fn apply(
        &self,
        account_id: AccountId,
        request: &ApplyRequest,
        actor: &str,
        progress: &dyn Progress,
    ) -> Result<ApplyOutcome, SyncError> {
        let plan_id = request.plan_id;
        let stored = self.store.plan(account_id, plan_id).await?;
        let selection = match &request.chosen {
            Chosen::Recorded => self.store.selection(account_id, plan_id).await?,
            Chosen::AllBut(skip) => {
                let categories: HashMap<ChangeId, Category> = (stored.plan.changes.iter())
                    .map(|c| (c.id, c.category))
                    .collect();
                let mut changes = HashMap::with_capacity(skip.len());
                for id in skip {
                    let category = *categories.get(id).ok_or_else(|| SyncError::UnknownChange {
                        plan_id,
                        change_id: id.to_string(),
                    })?;
                    let unchecked = ChangeChoice {
                        category,
                        checked: false,
                    };
                    changes.insert(*id, unchecked);
                }
                Selection {
                    categories: Default::default(),
                    changes,
                }
            }
        };
        // A plan that cannot be applied is refused before a run starts, so an API caller hears
        // why at once rather than from a failed run.
        self.store.check_plan_current(account_id, plan_id).await?;
        let mut run = self.start(account_id, Trigger::Apply, actor).await?;
        progress.started(run.id);
        run.plan_id = Some(plan_id);
        let run_id = run.id;
        let result = self
            .owned(run_id, account_id, async {
                self.store.mark_plan_applied(account_id, plan_id).await?;
                let hold_removals =
                    stored.plan.deletion_check.exceeded && !request.confirm_removals;
                let selected = |c: &Change| selection.is_checked(c);
                self.apply_plan(
                    &mut run,
                    &stored.plan,
                    stored.planned_at,
                    selected,
                    hold_removals,
                    progress,
                )
                .await
            })
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
        let run = self.start(account_id, Trigger::Automatic, actor).await?;
        self.automatic(run, progress).await
    }

    /// Claims the schedule slot that began at `slot` for the account and starts its automatic
    /// run; another worker that claimed it first makes this fail with
    /// [`roster_store::StoreError::SlotAlreadyClaimed`]. Continue with [`SyncEngine::automatic`].
    pub async fn start_scheduled(
        &self,
        account_id: AccountId,
        actor: &str,
        slot: OffsetDateTime,
    ) -> Result<Run, SyncError> {
        Ok(self
            .store
            .start_scheduled_run(account_id, actor, slot)
            .await?)
    }

    /// The automatic path of a started run: see [`SyncEngine::run_automatic`].
    pub async fn automatic(
        &self,
        mut run: Run,
        progress: &dyn Progress,
    ) -> Result<ApplyOutcome, SyncError> {
        progress.started(run.id);
        let (run_id, account_id) = (run.id, run.account_id);
        let result = self
            .owned(run_id, account_id, async {
                let (RevisedPlan { plan, revision, .. }, _) = self
                    .refresh_and_plan(&mut run, false, Priority::Low, progress)
                    .await?;
                self.store.mark_plan_applied(account_id, plan.id).await?;
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
            })
            .await;
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
            // Whoever took the run over runs the account again and reports that run.
            Err(e @ SyncError::Store(StoreError::RunTakenOver(_))) => Err(self.fail(run, e).await),
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
        let run = self.store.update_run(&run).await?;
        count_finished(&run);
        Ok(run)
    }

    /// Records the run as failed and hands back the error. If even that write fails, the run
    /// stays "running" until its lease lapses and it is taken as abandoned; the original error
    /// matters more. A run taken over is no longer this process's to record.
    async fn fail(&self, mut run: Run, error: SyncError) -> SyncError {
        if matches!(error, SyncError::Store(StoreError::RunTakenOver(_))) {
            tracing::warn!(run = %run.id, "the run was taken over; it stops without writing");
            return error;
        }
        run.status = RunStatus::Failed;
        run.error = Some(error.to_string());
        run.finished_at = Some(OffsetDateTime::now_utc());
        if let Err(e) = self.store.update_run(&run).await {
            tracing::error!(run = %run.id, error = %e, "could not record a failed run");
        }
        count_finished(&run);
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
        let refreshed = refresh(&self.store, run.id, account_id, &client, full, progress).await;
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
        self.store
            .save_plan(&plan.plan, plan.revision, plan.mirror_version)
            .await?;
        tracing::info!(run = %run.id, elapsed = ?started.elapsed(), "plan saved");
        run.plan_id = Some(plan.plan.id);
        run.skipped = plan.plan.skipped.len();
        run.counts = planned_counts(&plan.plan);
        *run = self.store.update_run(run).await?;
        Ok((plan, refreshed.kind))
    }

    /// Runs `work` for the run `run_id`, renewing the run's lease at every heartbeat. The run
    /// stops — `work` is dropped, its open transaction rolled back — as soon as a renewal finds
    /// that the run was taken over, or when renewals kept failing until the lease lapsed.
    async fn owned<T>(
        &self,
        run_id: RunId,
        account_id: AccountId,
        work: impl Future<Output = Result<T, SyncError>>,
    ) -> Result<T, SyncError> {
        // The heartbeat runs beside `work`, not between its steps: a renewal waits for the run's
        // row while a transaction of `work` holds it, and that transaction must go on meanwhile.
        let heartbeat = async {
            let mut renewed = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(self.heartbeat).await;
                match self.store.renew_run_lease(run_id, account_id).await {
                    Ok(()) => renewed = tokio::time::Instant::now(),
                    Err(
                        e @ (StoreError::RunTakenOver(_)
                        | StoreError::RunFinished(_)
                        | StoreError::RunNotFound(_)),
                    ) => {
                        tracing::warn!(run = %run_id, error = %e, "the run lost its lease; it stops");
                        return SyncError::from(StoreError::RunTakenOver(run_id));
                    }
                    Err(e) if renewed.elapsed() >= self.store.run_lease() => {
                        tracing::error!(run = %run_id, error = %e, "the run's lease lapsed unrenewed; it stops");
                        return e.into();
                    }
                    Err(e) => {
                        tracing::warn!(run = %run_id, error = %e, "could not renew the run's lease; trying again");
                    }
                }
            }
        };
        tokio::select! {
            done = work => done,
            lost = heartbeat => Err(lost),
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
        // Read before what the plan is built from: a change after it ages the plan, never one
        // before it.
        let mirror_version = self.store.mirror_version(account_id).await?;
        let revision = self.store.revision(account_id).await?;
        if mirror.is_none()
            && let Some(in_step) = self.store.in_step_plan(account_id).await?
        {
            let plan = self.plan_in_step(run_id, account_id, in_step).await?;
            return Ok(RevisedPlan {
                plan,
                revision,
                mirror_version,
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
                        mirror_version,
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
            mirror_version,
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
        let previous = self.store.plan_without_changes(account_id, in_step).await?;
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
        run.skipped = plan.skipped.len();
        run.counts = planned_counts(plan);
        progress.applying(to_apply.len() as u64);
        let started = std::time::Instant::now();
        let whole_plan = to_apply.len() == plan.changes.len();
        let mut applier = self
            .store
            .applier(run.account_id, planned_at)
            .await?
            .for_run(run.id);
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

/// Counts a run this process finished by trigger and status, and records how long it took
/// (`/metrics`). Runs handed back or taken over did not finish here and are not counted.
fn count_finished(run: &Run) {
    let (trigger, status) = (run.trigger.as_str(), run.status.as_str());
    metrics::counter!("roster_runs_total", "trigger" => trigger, "status" => status).increment(1);
    if let Some(finished_at) = run.finished_at {
        metrics::histogram!("roster_run_duration_seconds", "trigger" => trigger, "status" => status)
            .record((finished_at - run.started_at).as_seconds_f64());
    }
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
