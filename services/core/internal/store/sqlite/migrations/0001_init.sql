-- The core's tables: better-auth's SQLite schema (same table and column
-- names and types: text, integer 0/1 for booleans, "date" holding ISO 8601
-- UTC text such as 2026-01-02T03:04:05.678Z, as better-auth's Kysely adapter
-- writes them), plus the admin plugin's user fields, a JSON column for
-- per-session plugin fields, and the event outbox.

CREATE TABLE "user" (
    "id"            text    NOT NULL PRIMARY KEY,
    "name"          text    NOT NULL,
    "email"         text    NOT NULL UNIQUE, -- lower-cased
    "emailVerified" integer NOT NULL DEFAULT 0,
    "image"         text,
    "createdAt"     date    NOT NULL,
    "updatedAt"     date    NOT NULL,
    -- better-auth admin plugin
    "role"          text    NOT NULL DEFAULT 'user',
    "banned"        integer NOT NULL DEFAULT 0,
    "banReason"     text,
    "banExpires"    date
);

CREATE TABLE "session" (
    "id"                   text NOT NULL PRIMARY KEY,
    "expiresAt"            date NOT NULL,
    "token"                text NOT NULL UNIQUE, -- SHA-256 (hex) of the session token, never the token
    "createdAt"            date NOT NULL,
    "updatedAt"            date NOT NULL,
    "ipAddress"            text,
    "userAgent"            text,
    "userId"               text NOT NULL REFERENCES "user" ("id") ON DELETE CASCADE,
    "activeOrganizationId" text,                     -- organization plugin
    "data"                 text NOT NULL DEFAULT '{}' -- other plugins' per-session fields (JSON object)
);
CREATE INDEX "session_userId_idx" ON "session" ("userId");
CREATE INDEX "session_expiresAt_idx" ON "session" ("expiresAt");

CREATE TABLE "account" (
    "id"                    text NOT NULL PRIMARY KEY,
    "accountId"             text NOT NULL,
    "providerId"            text NOT NULL,
    "userId"                text NOT NULL REFERENCES "user" ("id") ON DELETE CASCADE,
    "accessToken"           text,
    "refreshToken"          text,
    "idToken"               text,
    "accessTokenExpiresAt"  date,
    "refreshTokenExpiresAt" date,
    "scope"                 text,
    "password"              text,
    "createdAt"             date NOT NULL,
    "updatedAt"             date NOT NULL
);
CREATE INDEX "account_userId_idx" ON "account" ("userId");
CREATE UNIQUE INDEX "account_providerId_accountId_idx" ON "account" ("providerId", "accountId");

CREATE TABLE "verification" (
    "id"         text NOT NULL PRIMARY KEY,
    "identifier" text NOT NULL,
    "value"      text NOT NULL,
    "expiresAt"  date NOT NULL,
    "createdAt"  date NOT NULL,
    "updatedAt"  date NOT NULL
);
CREATE INDEX "verification_identifier_idx" ON "verification" ("identifier");
CREATE INDEX "verification_expiresAt_idx" ON "verification" ("expiresAt");

-- Events written in the same transaction as the change they announce. One
-- writer at a time: "seq" order is commit order.
CREATE TABLE "outbox" (
    "seq"         integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "eventId"     text    NOT NULL UNIQUE, -- CloudEvents id = Nats-Msg-Id
    "type"        text    NOT NULL,
    "subject"     text    NOT NULL DEFAULT '',
    "event"       text    NOT NULL,        -- the whole envelope (JSON)
    "createdAt"   date    NOT NULL,
    "publishedAt" date
);
CREATE INDEX "outbox_unpublished_idx" ON "outbox" ("seq") WHERE "publishedAt" IS NULL;
CREATE INDEX "outbox_publishedAt_idx" ON "outbox" ("publishedAt") WHERE "publishedAt" IS NOT NULL;
