//! Signing in and acting: platform operators, console sessions, API tokens and invitations.
//!
//! Every secret handed out here (a session token, an API token, an invitation token) is 32
//! random bytes, shown to its holder once and stored only as its SHA-256 digest: a stolen
//! database yields no usable token, and a lookup is one index probe (a slow password hash is
//! for low-entropy secrets, which these are not).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use rand::RngCore;
use roster_domain::access::parse_token_name;
use roster_domain::{
    AccountId, ApiToken, ApiTokenId, EmailAddress, Operator, OperatorId, Principal, Role, Session,
    UserId,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::accounts::Count;
use crate::db::sql;
use crate::rows::{now, stored};
use crate::users::{MIN_PASSWORD_LEN, hash_password, verify_password};
use crate::{Store, StoreError};

/// How long an invitation to set a password stays valid.
pub const INVITATION_VALID_FOR: Duration = Duration::days(7);

/// Seen-times closer together than this are not written again: a session or token used by
/// every request would otherwise cost a write per request.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// API tokens start with this, so a leaked one is recognisable (and greppable) as Roster's.
const API_TOKEN_PREFIX: &str = "roster_";

/// A new operator login.
pub struct NewOperator {
    pub email: EmailAddress,
    pub password: SecretString,
}

impl fmt::Debug for NewOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewOperator")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// A new session: its token (for the cookie, shown once) and what the store keeps.
pub struct NewSession {
    pub token: SecretString,
    pub session: Session,
}

/// How long sessions last: since the last request, and at most since sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetime {
    pub idle: Duration,
    pub absolute: Duration,
}

/// A new API token: its secret (shown once) and its listing.
pub struct NewApiToken {
    pub secret: SecretString,
    pub token: ApiToken,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    BASE64URL.encode(bytes)
}

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn password_long_enough(password: &SecretString) -> Result<(), StoreError> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_LEN {
        return Err(StoreError::PasswordTooShort {
            min: MIN_PASSWORD_LEN,
        });
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct OperatorRow {
    id: Uuid,
    email: String,
    created_at: OffsetDateTime,
}

impl OperatorRow {
    fn into_operator(self) -> Result<Operator, StoreError> {
        Ok(Operator {
            id: OperatorId::from_uuid(self.id),
            email: stored("operator address", &self.email)?,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    operator_id: Option<Uuid>,
    user_id: Option<Uuid>,
    account_id: Option<Uuid>,
    role: Option<String>,
    csrf_token: String,
    created_at: OffsetDateTime,
    last_seen_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: Uuid,
    account_id: Uuid,
    name: String,
    read_only: bool,
    created_at: OffsetDateTime,
    last_used_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
}

impl TokenRow {
    fn into_token(self) -> ApiToken {
        ApiToken {
            id: ApiTokenId::from_uuid(self.id),
            account_id: AccountId::from_uuid(self.account_id),
            name: self.name,
            read_only: self.read_only,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
        }
    }
}

const TOKEN_COLUMNS: &str =
    "id, account_id, name, read_only, created_at, last_used_at, revoked_at FROM api_tokens";

impl Store {
    /// Creates a platform operator who signs in with `password`.
    pub async fn create_operator(&self, new: NewOperator) -> Result<Operator, StoreError> {
        password_long_enough(&new.password)?;
        let hash = hash_password(new.password).await?;
        let operator = Operator {
            id: OperatorId::new(),
            email: new.email,
            created_at: now(),
        };
        let mut tx = self.db.begin_write().await?;
        let taken: Option<Count> = sql("SELECT COUNT(*) AS count FROM operators WHERE email = $1")
            .bind(operator.email.as_str())
            .fetch_optional(&mut tx.conn())
            .await?;
        if taken.is_some_and(|c| c.count > 0) {
            return Err(StoreError::OperatorExists(operator.email));
        }
        sql("INSERT INTO operators (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)")
            .bind(operator.id.as_uuid())
            .bind(operator.email.as_str())
            .bind(hash)
            .bind(operator.created_at)
            .execute(&mut tx.conn())
            .await?;
        tx.commit().await?;
        Ok(operator)
    }

    /// Who `address` and `password` sign in as: an operator, an organization admin or an end
    /// user with a password. Silent users never sign in. Unknown addresses take as long as
    /// wrong passwords.
    pub async fn verify_password_login(
        &self,
        address: &EmailAddress,
        password: SecretString,
    ) -> Result<Option<Principal>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Login {
            operator_id: Option<Uuid>,
            user_id: Option<Uuid>,
            account_id: Option<Uuid>,
            role: Option<String>,
            password_hash: String,
        }
        let mut tx = self.db.begin_read().await?;
        let login: Option<Login> = sql(
            "SELECT id AS operator_id, NULL AS user_id, NULL AS account_id, NULL AS role, password_hash \
             FROM operators WHERE email = $1 \
             UNION ALL \
             SELECT NULL, u.id, u.account_id, u.role, u.password_hash FROM users u \
             JOIN addresses a ON a.user_id = u.id \
             WHERE a.address = $1 AND a.is_primary = $2 AND u.role <> $3 AND u.password_hash IS NOT NULL",
        )
        .bind(address.as_str())
        .bind(true)
        .bind(Role::SilentUser.as_str())
        .fetch_optional(&mut tx.conn())
        .await?;
        drop(tx);
        let hash = login.as_ref().map(|l| l.password_hash.clone());
        if !verify_password(password, hash).await? {
            return Ok(None);
        }
        let Some(login) = login else { return Ok(None) };
        match (
            login.operator_id,
            login.user_id,
            login.account_id,
            login.role,
        ) {
            (Some(id), ..) => Ok(Some(Principal::Operator(OperatorId::from_uuid(id)))),
            (None, Some(user_id), Some(account_id), Some(role)) => Ok(Some(Principal::User {
                user_id: UserId::from_uuid(user_id),
                account_id: AccountId::from_uuid(account_id),
                role: stored("user role", &role)?,
            })),
            _ => Err(StoreError::Corrupt {
                what: "login",
                reason: "a login row names neither an operator nor a user".to_owned(),
            }),
        }
    }

    pub async fn operator(&self, id: OperatorId) -> Result<Operator, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let row: Option<OperatorRow> =
            sql("SELECT id, email, created_at FROM operators WHERE id = $1")
                .bind(id.as_uuid())
                .fetch_optional(&mut tx.conn())
                .await?;
        row.ok_or(StoreError::OperatorNotFound(id))?.into_operator()
    }

    /// Starts a session for a principal that signed in. Tokens act through their own secret
    /// and have no session.
    pub async fn create_session(
        &self,
        principal: Principal,
        lifetime: SessionLifetime,
    ) -> Result<NewSession, StoreError> {
        let (operator_id, user_id) = match principal {
            Principal::Operator(id) => (Some(id.as_uuid()), None),
            Principal::User { user_id, .. } => (None, Some(user_id.as_uuid())),
            Principal::Token { .. } => {
                return Err(StoreError::Integrity {
                    rule: "a session belongs to an operator or a user, not a token".to_owned(),
                });
            }
        };
        let token = random_token();
        let created_at = now();
        let session = Session {
            principal,
            csrf_token: random_token(),
            created_at,
            expires_at: created_at + lifetime.absolute,
        };
        let mut tx = self.db.begin_write().await?;
        // Sessions past their absolute expiry are useless; sign-ins sweep them.
        sql("DELETE FROM sessions WHERE expires_at < $1")
            .bind(created_at)
            .execute(&mut tx.conn())
            .await?;
        sql("INSERT INTO sessions (token_digest, operator_id, user_id, csrf_token, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $5, $6)")
        .bind(digest(&token))
        .bind(operator_id)
        .bind(user_id)
        .bind(session.csrf_token.as_str())
        .bind(created_at)
        .bind(session.expires_at)
        .execute(&mut tx.conn())
        .await?;
        tx.commit().await?;
        Ok(NewSession {
            token: SecretString::from(token),
            session,
        })
    }

    /// The live session whose token is `token`, or `None` when it is unknown, ended, idle
    /// longer than `lifetime.idle` or past its absolute expiry.
    pub async fn session(
        &self,
        token: &str,
        lifetime: SessionLifetime,
    ) -> Result<Option<Session>, StoreError> {
        let token_digest = digest(token);
        let mut tx = self.db.begin_read().await?;
        let row: Option<SessionRow> = sql(
            "SELECT s.operator_id, s.user_id, u.account_id, u.role, s.csrf_token, s.created_at, \
             s.last_seen_at, s.expires_at FROM sessions s LEFT JOIN users u ON u.id = s.user_id \
             WHERE s.token_digest = $1",
        )
        .bind(token_digest.as_str())
        .fetch_optional(&mut tx.conn())
        .await?;
        drop(tx);
        let Some(row) = row else { return Ok(None) };
        let now = now();
        if now >= row.expires_at || now - row.last_seen_at >= lifetime.idle {
            self.end_session(token).await?;
            return Ok(None);
        }
        let principal = match (row.operator_id, row.user_id, row.account_id, row.role) {
            (Some(id), ..) => Principal::Operator(OperatorId::from_uuid(id)),
            (None, Some(user_id), Some(account_id), Some(role)) => {
                let role: Role = stored("user role", &role)?;
                // A user demoted to silent since signing in may no longer act.
                if role == Role::SilentUser {
                    self.end_session(token).await?;
                    return Ok(None);
                }
                Principal::User {
                    user_id: UserId::from_uuid(user_id),
                    account_id: AccountId::from_uuid(account_id),
                    role,
                }
            }
            _ => return Ok(None),
        };
        if now - row.last_seen_at >= TOUCH_EVERY {
            let mut tx = self.db.begin_write().await?;
            sql("UPDATE sessions SET last_seen_at = $2 WHERE token_digest = $1")
                .bind(token_digest)
                .bind(now)
                .execute(&mut tx.conn())
                .await?;
            tx.commit().await?;
        }
        Ok(Some(Session {
            principal,
            csrf_token: row.csrf_token,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }))
    }

    /// Ends a session (sign-out). Ending an unknown or ended session does nothing.
    pub async fn end_session(&self, token: &str) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        sql("DELETE FROM sessions WHERE token_digest = $1")
            .bind(digest(token))
            .execute(&mut tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates an API token for the account; its secret is in the result and nowhere else.
    pub async fn create_api_token(
        &self,
        account_id: AccountId,
        name: &str,
        read_only: bool,
    ) -> Result<NewApiToken, StoreError> {
        let name = parse_token_name(name)?;
        let secret = format!("{API_TOKEN_PREFIX}{}", random_token());
        let token = ApiToken {
            id: ApiTokenId::new(),
            account_id,
            name,
            read_only,
            created_at: now(),
            last_used_at: None,
            revoked_at: None,
        };
        let mut tx = self.db.begin_write().await?;
        crate::accounts::require_account(&mut tx.conn(), account_id).await?;
        sql(
            "INSERT INTO api_tokens (id, account_id, name, token_digest, read_only, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token.id.as_uuid())
        .bind(account_id.as_uuid())
        .bind(token.name.as_str())
        .bind(digest(&secret))
        .bind(read_only)
        .bind(token.created_at)
        .execute(&mut tx.conn())
        .await?;
        tx.commit().await?;
        Ok(NewApiToken {
            secret: SecretString::from(secret),
            token,
        })
    }

    /// The account's API tokens, oldest first, revoked ones included.
    pub async fn list_api_tokens(
        &self,
        account_id: AccountId,
    ) -> Result<Vec<ApiToken>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows: Vec<TokenRow> = crate::db::built_sql(
            format!("SELECT {TOKEN_COLUMNS} WHERE account_id = $1 ORDER BY created_at, id"),
            vec![account_id.as_uuid().into()],
        )
        .fetch_all(&mut tx.conn())
        .await?;
        Ok(rows.into_iter().map(TokenRow::into_token).collect())
    }

    /// Revokes one of the account's tokens; it stops working at once. Revoking twice is
    /// harmless.
    pub async fn revoke_api_token(
        &self,
        account_id: AccountId,
        token_id: ApiTokenId,
    ) -> Result<ApiToken, StoreError> {
        let mut tx = self.db.begin_write().await?;
        sql("UPDATE api_tokens SET revoked_at = $3 WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL")
            .bind(account_id.as_uuid())
            .bind(token_id.as_uuid())
            .bind(now())
            .execute(&mut tx.conn())
            .await?;
        let row: Option<TokenRow> = crate::db::built_sql(
            format!("SELECT {TOKEN_COLUMNS} WHERE account_id = $1 AND id = $2"),
            vec![account_id.as_uuid().into(), token_id.as_uuid().into()],
        )
        .fetch_optional(&mut tx.conn())
        .await?;
        let row = row.ok_or(StoreError::ApiTokenNotFound(token_id))?;
        tx.commit().await?;
        Ok(row.into_token())
    }

    /// The live token whose secret is `secret`, recording that it was used; `None` for an
    /// unknown or revoked token.
    pub async fn use_api_token(&self, secret: &str) -> Result<Option<ApiToken>, StoreError> {
        if !secret.starts_with(API_TOKEN_PREFIX) {
            return Ok(None);
        }
        let token_digest = digest(secret);
        let mut tx = self.db.begin_read().await?;
        let row: Option<TokenRow> = crate::db::built_sql(
            format!("SELECT {TOKEN_COLUMNS} WHERE token_digest = $1 AND revoked_at IS NULL"),
            vec![token_digest.as_str().into()],
        )
        .fetch_optional(&mut tx.conn())
        .await?;
        drop(tx);
        let Some(row) = row else { return Ok(None) };
        let mut token = row.into_token();
        let now = now();
        if token
            .last_used_at
            .is_none_or(|used| now - used >= TOUCH_EVERY)
        {
            let mut tx = self.db.begin_write().await?;
            sql("UPDATE api_tokens SET last_used_at = $2 WHERE token_digest = $1")
                .bind(token_digest)
                .bind(now)
                .execute(&mut tx.conn())
                .await?;
            tx.commit().await?;
            token.last_used_at = Some(now);
        }
        Ok(Some(token))
    }

    /// Invites one of the account's end users to set a password: the returned token is the
    /// one-time link's secret, valid for [`INVITATION_VALID_FOR`]. A new invitation replaces
    /// an earlier one.
    pub async fn invite_user(
        &self,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<SecretString, StoreError> {
        let user = self.user(account_id, user_id).await?;
        if user.role != Role::EndUser {
            return Err(StoreError::NotInvitable {
                user_id,
                role: user.role,
            });
        }
        let token = random_token();
        let mut tx = self.db.begin_write().await?;
        sql("DELETE FROM invitations WHERE user_id = $1")
            .bind(user_id.as_uuid())
            .execute(&mut tx.conn())
            .await?;
        sql("INSERT INTO invitations (token_digest, user_id, expires_at) VALUES ($1, $2, $3)")
            .bind(digest(&token))
            .bind(user_id.as_uuid())
            .bind(now() + INVITATION_VALID_FOR)
            .execute(&mut tx.conn())
            .await?;
        tx.commit().await?;
        Ok(SecretString::from(token))
    }

    /// Sets the invited user's password and uses the invitation up.
    pub async fn accept_invitation(
        &self,
        token: &str,
        password: SecretString,
    ) -> Result<UserId, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Invitation {
            user_id: Uuid,
            expires_at: OffsetDateTime,
        }
        password_long_enough(&password)?;
        let hash = hash_password(password).await?;
        let mut tx = self.db.begin_write().await?;
        let invitation: Option<Invitation> =
            sql("DELETE FROM invitations WHERE token_digest = $1 RETURNING user_id, expires_at")
                .bind(digest(token))
                .fetch_optional(&mut tx.conn())
                .await?;
        let invitation = invitation
            .filter(|i| i.expires_at > now())
            .ok_or(StoreError::InvitationInvalid)?;
        sql("UPDATE users SET password_hash = $2 WHERE id = $1 AND role = $3")
            .bind(invitation.user_id)
            .bind(hash)
            .bind(Role::EndUser.as_str())
            .execute(&mut tx.conn())
            .await?;
        tx.commit().await?;
        Ok(UserId::from_uuid(invitation.user_id))
    }
}
