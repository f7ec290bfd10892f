-- The core's tables: better-auth's schema (same table and column names) in
-- schema "core", plus the admin plugin's user fields, a JSON column for
-- per-session plugin fields, and the event outbox.

CREATE TABLE core."user" (
    "id"            text        NOT NULL PRIMARY KEY,
    "name"          text        NOT NULL,
    "email"         text        NOT NULL UNIQUE, -- lower-cased
    "emailVerified" boolean     NOT NULL DEFAULT false,
    "image"         text,
    "createdAt"     timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"     timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    -- better-auth admin plugin
    "role"          text        NOT NULL DEFAULT 'user',
    "banned"        boolean     NOT NULL DEFAULT false,
    "banReason"     text,
    "banExpires"    timestamptz
);

CREATE TABLE core."session" (
    "id"                   text        NOT NULL PRIMARY KEY,
    "expiresAt"            timestamptz NOT NULL,
    "token"                text        NOT NULL UNIQUE, -- SHA-256 (hex) of the session token, never the token
    "createdAt"            timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"            timestamptz NOT NULL,
    "ipAddress"            text,
    "userAgent"            text,
    "userId"               text        NOT NULL REFERENCES core."user" ("id") ON DELETE CASCADE,
    "activeOrganizationId" text,                          -- organization plugin
    "data"                 jsonb       NOT NULL DEFAULT '{}' -- other plugins' per-session fields
);
CREATE INDEX "session_userId_idx" ON core."session" ("userId");
CREATE INDEX "session_expiresAt_idx" ON core."session" ("expiresAt");

CREATE TABLE core."account" (
    "id"                    text        NOT NULL PRIMARY KEY,
    "accountId"             text        NOT NULL,
    "providerId"            text        NOT NULL,
    "userId"                text        NOT NULL REFERENCES core."user" ("id") ON DELETE CASCADE,
    "accessToken"           text,
    "refreshToken"          text,
    "idToken"               text,
    "accessTokenExpiresAt"  timestamptz,
    "refreshTokenExpiresAt" timestamptz,
    "scope"                 text,
    "password"              text,
    "createdAt"             timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"             timestamptz NOT NULL
);
CREATE INDEX "account_userId_idx" ON core."account" ("userId");
CREATE UNIQUE INDEX "account_providerId_accountId_idx" ON core."account" ("providerId", "accountId");

CREATE TABLE core."verification" (
    "id"         text        NOT NULL PRIMARY KEY,
    "identifier" text        NOT NULL,
    "value"      text        NOT NULL,
    "expiresAt"  timestamptz NOT NULL,
    "createdAt"  timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"  timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX "verification_identifier_idx" ON core."verification" ("identifier");
CREATE INDEX "verification_expiresAt_idx" ON core."verification" ("expiresAt");

-- Events written in the same transaction as the change they announce. The
-- relay publishes unpublished rows in ("xid", "seq") order, only below
-- pg_snapshot_xmin(pg_current_snapshot()), so that a transaction that began
-- earlier but commits later is never skipped.
CREATE TABLE core."outbox" (
    "seq"         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "xid"         xid8        NOT NULL DEFAULT pg_current_xact_id(),
    "eventId"     text        NOT NULL UNIQUE, -- CloudEvents id = Nats-Msg-Id
    "type"        text        NOT NULL,
    "subject"     text        NOT NULL DEFAULT '',
    "event"       jsonb       NOT NULL,        -- the whole envelope
    "createdAt"   timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "publishedAt" timestamptz
);
CREATE INDEX "outbox_unpublished_idx" ON core."outbox" ("xid", "seq") WHERE "publishedAt" IS NULL;
CREATE INDEX "outbox_publishedAt_idx" ON core."outbox" ("publishedAt") WHERE "publishedAt" IS NOT NULL;
